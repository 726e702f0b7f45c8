"""One training step of ``python -m convmat train``'s network, route against route.

Group ``train-digits_cnn-step-<dtype>``: forward, softmax cross-entropy, backward
and an Adam update of :func:`convmat.nn.digits_cnn` (conv 1→32 → ReLU → pool →
conv 32→64 → ReLU → pool → linear 256→10) on a seeded batch of 32 8×8 images,

* ``convmat-im2col`` / ``convmat-sparse`` -- the layers with either backend;
* ``torch`` -- the same network and step in ``torch.nn`` (skipped without torch).

The data are random (the step costs the same on any images), so scikit-learn is
not needed.
"""

from __future__ import annotations

import cases
import numpy as np
import pytest

import convmat.nn as nn

BATCH = 32
IMPLS = ("convmat-im2col", "convmat-sparse", "torch")


def _batch(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([cases.SEED, 6])
    return rng.random((BATCH, 1, 8, 8)).astype(dtype), rng.integers(0, 10, size=BATCH)


def _convmat_step(backend: str, dtype: str):
    model = nn.digits_cnn(backend=backend, dtype=dtype)
    optimizer = nn.Adam(model, lr=1e-2)
    x, y = _batch(dtype)

    def step() -> float:
        loss, dlogits = nn.softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits)
        optimizer.step()
        return loss

    return step


def _torch_step(torch, dtype: str):
    tnn = torch.nn
    model = tnn.Sequential(
        tnn.Conv2d(1, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(256, 10),
    ).to(getattr(torch, dtype))  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = (torch.from_numpy(a) for a in _batch(dtype))

    def step() -> float:
        optimizer.zero_grad()
        loss = tnn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_train_step(benchmark, bench_run, request, dtype, impl):
    if impl == "torch":
        function = _torch_step(request.getfixturevalue("torch"), dtype)
    else:
        function = _convmat_step(impl.removeprefix("convmat-"), dtype)
    benchmark.extra_info.update(batch=BATCH, network="digits_cnn (32, 64)")
    loss = bench_run(benchmark, f"train-digits_cnn-step-{dtype}", function)
    assert np.isfinite(loss)
