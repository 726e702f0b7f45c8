"""Every route on the layers beside B-F: pointwise, dilated, 3-D, 1-D, grouped, depthwise, transposed.

The layers are ``cases.NEW_LAYERS`` (PW, DIL, C3D, C1D, G32, DW3, DW3s2, DW7, DW31,
UP); each has forward, input gradient and kernel gradient (UP, a transposed
convolution: forward only) in float32 and float64. Group ``"<layer>-<op>-<dtype>"``
holds, side by side:

* ``convmat-im2col``, ``convmat-fft``, ``convmat-auto`` -- ``backend=`` of ``cm.conv``
  and its gradients (``cm.conv_transpose`` for UP); ``fft`` and ``auto`` skip where
  this convmat has no such route (``extra_info["route"]``: the route ``auto`` takes);
* ``convmat-sparse`` -- the explicit ``W``, rebuilt every call, where ``W`` has at most
  :data:`cases.MAX_SPARSE_NNZ` entries (``cm.conv_matrix_size`` counts them first);
* ``torch`` -- ``F.conv1d/2d/3d`` (groups, dilation), ``torch.nn.grad.conv1d/2d/3d_input``
  / ``_weight``, ``F.conv_transpose2d`` (skipped without torch);
* ``textbook``, ``textbook-columns`` -- :mod:`textbook`, where it applies (2-D,
  ungrouped, undilated, not transposed: PW);
* ``scipy-fftconvolve``, ``scipy-oaconvolve`` -- the large-kernel depthwise layers
  (DW7, DW31), forward and input gradient: one ``mode="same"`` convolution of every
  sample and channel along the last two axes.

With ``--benchmark-disable`` (the smoke test) every call runs once on the layer's
small version (:meth:`cases.Layer.tiny`: same kernel, stride, padding, dilation and
grouping), so that the smoke test stays fast; timed runs use the full layers.
"""

from __future__ import annotations

import cases
import pytest

import convmat as cm

IMPLS = (
    "convmat-im2col",
    "convmat-fft",
    "convmat-auto",
    "convmat-sparse",
    "torch",
    "textbook",
    "textbook-columns",
    "scipy-fftconvolve",
    "scipy-oaconvolve",
)
# Layer outermost, so that the sparse patterns of one layer can be dropped before the next is built.
CASES = [
    pytest.param(name, op, dt, impl, id=f"{name}-{op}-{dt}-{impl}")
    for name, layer in cases.NEW_LAYERS.items()
    for op in layer.ops
    for dt in cases.DTYPES
    for impl in IMPLS
]


@pytest.fixture(scope="module")
def pattern_cache():
    """Drop convmat's cached patterns of one layer before the next layer's are built (bounded memory)."""
    current = {"layer": None}

    def enter(layer: str) -> None:
        if current["layer"] not in (None, layer):
            cm.clear_cache()
        current["layer"] = layer

    yield enter
    cm.clear_cache()


def function_of(impl: str, layer: cases.Layer, op: str, data: cases.Data):
    """The call ``impl`` times, or ``pytest.skip`` with the reason it does not apply."""
    if impl.startswith("convmat-"):
        backend = impl.removeprefix("convmat-")
        if backend not in cases.convmat_backends():
            pytest.skip(f'this convmat has no backend="{backend}" (it has {", ".join(cases.convmat_backends())})')
        if backend == "sparse" and not layer.sparse_fits:
            pytest.skip(f"W of {layer.name} has {layer.sparse_nnz:,} entries (> {cases.MAX_SPARSE_NNZ:,})")
        if backend == "sparse" and layer.sparse_size(data.x.dtype.name).nbytes > cm.get_matrix_limit():
            pytest.skip(f"W of {layer.name} is over convmat's matrix limit ({cm.get_matrix_limit() / 2**30:g} GiB)")
        return cases.layer_op(layer, op, data, backend=backend)
    if impl == "torch":
        pytest.importorskip("torch", exc_type=ImportError)
        return cases.layer_torch_op(layer, op, data)
    if impl.startswith("textbook"):
        if not layer.textbook_applies:
            pytest.skip("the textbook baseline is 2-D, ungrouped, undilated and not transposed")
        return cases.layer_textbook_op(layer, op, data, "columns" if impl.endswith("columns") else "rows")
    method = impl.removeprefix("scipy-")
    if layer.name not in cases.LARGE_KERNEL_LAYERS or not layer.scipy_applies(op):
        pytest.skip(f"scipy.signal baselines: forward and input gradient of {', '.join(cases.LARGE_KERNEL_LAYERS)}")
    return cases.layer_scipy_op(layer, op, data, method)


@pytest.mark.parametrize(("name", "op", "dtype", "impl"), CASES)
def test_layer(benchmark, bench_run, pattern_cache, name, op, dtype, impl):
    tiny = benchmark.disabled
    layer = cases.layer_spec(name, tiny)
    data = cases.make_layer_data(name, dtype, tiny)
    pattern_cache(name)
    function = function_of(impl, layer, op, data)
    benchmark.extra_info.update(layer=layer.describe(), gflop=layer.flops / 1e9)
    if impl == "convmat-auto":
        benchmark.extra_info["route"] = cases.chosen_route(layer, op, dtype)
    try:
        result = bench_run(benchmark, f"{name}-{op}-{dtype}", function)
    except cm.MatrixTooLargeError as exc:  # the sparse route's W over convmat's matrix limit
        pytest.skip(str(exc).split("\n")[0])
    expected = {"forward": layer.y_shape, "input_grad": layer.x_shape, "weight_grad": layer.w_shape}[op]
    assert tuple(result.shape) == expected
