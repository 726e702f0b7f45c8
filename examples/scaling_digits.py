"""A chunked image set on disk through two convolutions and poolings, on a dask cluster of 1 and of 2 processes.

The 1797 handwritten digits of scikit-learn (8x8 pixels) are upscaled to
64x64 by convmat itself (a transposed convolution with a bilinear kernel: the
"deconvolution" upsampling of fully convolutional networks) and stored on disk
as a chunked array: one ``.npy`` file per chunk of images (dask's npy stack, no
extra package). A small feature extractor then runs on a ``LocalCluster``:

    conv 1 -> 16 (5x5) -> ReLU -> max-pool 2 -> conv 16 -> 32 (3x3) -> ReLU -> max-pool 2

with the very calls one writes for NumPy arrays: the workers read their chunks
from disk, and the features, ``(1797, 32, 16, 16)``, are written back to disk as
another npy stack. This is timed on 1 and on 2 worker processes (one thread
each), and a few images are checked against the same calls on NumPy arrays.

Run from the repository root (needs ``pip install "convmat[dask,train]"``)::

    python examples/scaling_digits.py

Options: ``--workers 1 2`` (the cluster sizes, in turn), ``--chunk 128``
(images per chunk), ``--copies 1`` (the digits repeated, for a larger set),
``--directory DIR`` (where the stacks go; a temporary directory by default,
removed at the end).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import convmat as cm
from convmat.nn.digits import load_digits

#: Upscaling factor: 8x8 digits become 64x64 images.
FACTOR = 8


def bilinear_kernel(factor: int) -> np.ndarray:
    """The ``(1, 1, k, k)`` kernel that makes ``conv_transpose(x, kernel, stride=factor)`` bilinear upsampling."""
    size = 2 * factor - factor % 2
    center = (size - 1) / 2
    tent = 1 - np.abs(np.arange(size) - center) / factor
    return np.outer(tent, tent)[None, None]


def upscaled_digits(copies: int) -> np.ndarray:
    """The 1797 digits, ``(N, 1, 64, 64)`` float32 in [0, 1], repeated ``copies`` times."""
    digits = load_digits()
    images = np.concatenate([digits.x_train, digits.x_test])
    kernel = bilinear_kernel(FACTOR).astype(np.float32)
    # output (8 - 1) * 8 - 2 * 4 + 16 = 64 pixels a side
    large = cm.conv_transpose(images, kernel, stride=FACTOR, padding=FACTOR // 2)
    return np.concatenate([large] * copies)


def filters() -> tuple[np.ndarray, np.ndarray]:
    """Seeded filters of the two convolutions, ``(16, 1, 5, 5)`` and ``(32, 16, 3, 3)``."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 1, 5, 5), dtype=np.float32) / 5
    w2 = rng.standard_normal((32, 16, 3, 3), dtype=np.float32) / 12
    return w1, w2


def features(x, w1: np.ndarray, w2: np.ndarray):
    """The feature extractor: the same code for a NumPy and a dask array."""
    h = cm.max_pool(np.maximum(cm.conv(x, w1, padding=2), 0), 2)
    return cm.max_pool(np.maximum(cm.conv(h, w2, padding=1), 0), 2)


def run(images_dir: Path, out_dir: Path, workers: int, w1: np.ndarray, w2: np.ndarray) -> float:
    """Seconds to read, compute and write the features on a cluster of ``workers`` processes (one thread each).

    Each worker first runs the feature extractor once on a few images (NumPy
    arrays, directly), so that the time is the work's, not that of importing
    convmat in a fresh process.
    """
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        client.run(features, np.asarray(da.from_npy_stack(images_dir)[:8]), w1, w2)
        start = time.perf_counter()
        x = da.from_npy_stack(images_dir)  # lazily: each worker reads its own chunks
        da.to_npy_stack(out_dir, features(x, w1, w2), axis=0)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--directory", type=Path, default=None)
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="convmat-digits-")) if args.directory is None else args.directory
    base.mkdir(parents=True, exist_ok=True)
    try:
        images = upscaled_digits(args.copies)
        images_dir = base / "images"
        da.to_npy_stack(images_dir, da.from_array(images, chunks=(args.chunk, 1, 64, 64)), axis=0)
        stored = da.from_npy_stack(images_dir)
        print(f"images on disk: {stored.shape} {stored.dtype}, {stored.numblocks[0]} chunks of {args.chunk}")

        w1, w2 = filters()
        times = {}
        for workers in args.workers:
            out_dir = base / f"features-{workers}"
            times[workers] = run(images_dir, out_dir, workers, w1, w2)
            written = da.from_npy_stack(out_dir)
            check = np.asarray(written[:5])
            assert np.allclose(check, features(images[:5], w1, w2), rtol=1e-5, atol=1e-5)
            plural = "es" if workers > 1 else ""
            print(
                f"{workers} worker process{plural}: {times[workers]:.2f} s "
                f"(features {written.shape} written, first images equal NumPy's)"
            )
        if 1 in times:
            for workers, seconds in times.items():
                if workers > 1:
                    print(f"speed-up on {workers} processes: {times[1] / seconds:.2f}x")
    finally:
        if args.directory is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
