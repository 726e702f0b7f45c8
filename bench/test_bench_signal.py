"""Single input channel (layer B's 28x28 digits): convmat against scipy.signal.

Group ``signal-B1-forward-<dtype>``: one output channel; ``signal-B-forward-<dtype>``:
B's 16 output channels. ``scipy.signal.correlate`` (``method="auto"``),
``fftconvolve`` and ``oaconvolve`` (batch broadcast against the output channels
through ``axes``), beside convmat's two routes, the textbook baseline and PyTorch.
"""

from __future__ import annotations

import cases
import pytest

IMPLS = (
    "convmat-im2col",
    "convmat-sparse",
    "scipy-correlate",
    "scipy-fftconvolve",
    "scipy-oaconvolve",
    "textbook",
    "torch",
)


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", cases.SIGNAL_CASES)
def test_single_channel(benchmark, bench_run, case, impl, dtype):
    if impl == "torch":
        pytest.importorskip("torch", exc_type=ImportError)
    function = cases.signal_ops(case, dtype)[impl]
    bench_run(benchmark, f"signal-{case}-forward-{dtype}", function)
