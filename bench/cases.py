"""What the benchmarks time: the layers, seeded data, and one zero-argument callable per route and baseline.

Shared by the pytest-benchmark suite (``bench/test_bench_*.py``) and the ratio
report (``bench/report.py``), so both time exactly the same calls. How they are
timed is ``bench/harness.py``; the textbook numpy baseline is ``bench/textbook.py``.
Nothing here needs pytest; PyTorch is optional (its routes raise ``ImportError``
without it).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from math import prod

import numpy as np
import textbook
from harness import torch_module, traced_peak

import convmat as cm

SEED = 20240605
OPS = ("forward", "input_grad", "weight_grad")
DTYPES = ("float32", "float64")
#: ``W`` larger than this is not built by the benchmarks (int32 indices + data + cached gather index).
MAX_SPARSE_NNZ = 400_000_000


@dataclass(frozen=True)
class Config:
    """One 2-D convolution layer: ``x (n, c_in, h, w)``, ``weight (c_out, c_in, k, k)``, and the layer of a
    well-known network it has the shape of (``resembles``)."""

    name: str
    n: int
    c_in: int
    h: int
    w: int
    c_out: int
    k: int
    stride: int
    pad: int
    resembles: str = ""

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c_in, self.h, self.w)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.c_out, self.c_in, self.k, self.k)

    @property
    def out_spatial(self) -> tuple[int, int]:
        return tuple((s + 2 * self.pad - self.k) // self.stride + 1 for s in (self.h, self.w))

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c_out, *self.out_spatial)

    @property
    def kwargs(self) -> dict[str, int]:
        return {"stride": self.stride, "padding": self.pad}

    @property
    def flops(self) -> int:
        """Multiply-adds times two of one forward (each gradient costs the same)."""
        return 2 * self.n * self.c_out * prod(self.out_spatial) * self.c_in * self.k * self.k

    @property
    def sparse_nnz(self) -> int:
        """Stored entries of ``W`` (taps that read zero padding are not stored)."""
        plane = 1
        for size, out in zip((self.h, self.w), self.out_spatial, strict=True):
            pos = np.arange(out)[:, None] * self.stride + np.arange(self.k) - self.pad
            plane *= int(np.count_nonzero((pos >= 0) & (pos < size)))
        return self.c_out * self.c_in * plane

    @property
    def sparse_fits(self) -> bool:
        return self.sparse_nnz <= MAX_SPARSE_NNZ

    def describe(self) -> str:
        return (
            f"{self.name}: N={self.n} C_in={self.c_in} {self.h}x{self.w} C_out={self.c_out} "
            f"k={self.k} stride={self.stride} pad={self.pad}"
        )


#: The benchmarked layers: (N, C_in, H, W, C_out, k, stride, pad), from a small digit classifier to ResNet-18.
CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config("B", 64, 1, 28, 28, 16, 5, 1, 2, "LeNet-style conv on MNIST digits"),
        Config("C", 32, 64, 32, 32, 64, 3, 1, 1, "ResNet-18 on CIFAR-10, stage 1"),
        Config("D", 32, 64, 32, 32, 128, 3, 2, 1, "ResNet-18 on CIFAR-10, stride-2 conv"),
        Config("E", 8, 3, 224, 224, 64, 7, 2, 3, "ResNet stem on ImageNet (conv1)"),
        Config("F", 16, 256, 14, 14, 256, 3, 1, 1, "ResNet-18 on ImageNet, stage 3"),
    )
}


@dataclass(frozen=True)
class Data:
    x: np.ndarray
    w: np.ndarray
    dy: np.ndarray


@cache
def make_data(config: str, dtype: str) -> Data:
    """Seeded input, kernel and output gradient of a config (cached: the arrays are shared, do not modify)."""
    cfg = CONFIGS[config]
    rng = np.random.default_rng([SEED, ord(config)])
    x = rng.standard_normal(cfg.x_shape).astype(dtype)
    w = (rng.standard_normal(cfg.w_shape) / np.sqrt(cfg.c_in * cfg.k * cfg.k)).astype(dtype)
    dy = rng.standard_normal(cfg.y_shape).astype(dtype)
    for a in (x, w, dy):
        a.flags.writeable = False
    return Data(x, w, dy)


# ---------------------------------------------------------------------------
# The callables: each returns a zero-argument function running one operation
# ---------------------------------------------------------------------------


def convmat_op(cfg: Config, op: str, d: Data, backend: str = "im2col") -> Callable[[], np.ndarray]:
    kw = {**cfg.kwargs, "backend": backend}
    if op == "forward":
        return lambda: cm.conv(d.x, d.w, **kw)
    if op == "input_grad":
        return lambda: cm.conv_input_grad(d.x.shape, d.w, d.dy, **kw)
    if op == "weight_grad":
        return lambda: cm.conv_weight_grad(d.x, d.w.shape, d.dy, **kw)
    raise ValueError(op)


def textbook_op(cfg: Config, op: str, d: Data, layout: str = "rows") -> Callable[[], np.ndarray]:
    """The textbook baseline; ``layout="rows"`` (the book's, the reference) or ``"columns"`` (GEMM-friendly)."""
    suffix = {"rows": "", "columns": "_columns"}[layout]
    s, p = cfg.stride, cfg.pad
    if op == "forward":
        forward = getattr(textbook, f"conv2d_forward{suffix}")
        return lambda: forward(d.x, d.w, s, p)
    if op == "input_grad":
        input_grad = getattr(textbook, f"conv2d_input_grad{suffix}")
        return lambda: input_grad(d.x.shape, d.w, d.dy, s, p)
    if op == "weight_grad":
        weight_grad = getattr(textbook, f"conv2d_weight_grad{suffix}")
        return lambda: weight_grad(d.x, d.w.shape, d.dy, s, p)
    raise ValueError(op)


def torch_op(cfg: Config, op: str, d: Data) -> Callable:
    """PyTorch's CPU route for the same operation (``F.conv2d``, ``torch.nn.grad.conv2d_input/_weight``).

    The tensors share memory with the numpy arrays (``torch.from_numpy``). Raises
    ``ImportError`` without torch.
    """
    torch = torch_module()
    if torch is None:
        raise ImportError("torch not installed")
    x, w, dy = (torch.from_numpy(np.array(a)) for a in (d.x, d.w, d.dy))  # writeable copies, made once
    s, p = cfg.stride, cfg.pad
    if op == "forward":
        return lambda: torch.nn.functional.conv2d(x, w, stride=s, padding=p)
    if op == "input_grad":
        return lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride=s, padding=p)
    if op == "weight_grad":
        return lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=s, padding=p)
    raise ValueError(op)


# ---------------------------------------------------------------------------
# Layers of every kind: B-F beside pointwise, dilated, 3-D, 1-D, grouped, depthwise and transposed ones
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One convolution layer of any rank: the shapes of ``x`` and ``weight`` and the keywords of the call.

    With ``transpose`` the layer is ``conv_transpose(x, weight, ...)`` (PyTorch's
    ``F.conv_transpose{n}d``, ``weight`` laid out ``(C_in, C_out // groups, *kernel)``)
    and is timed forward only; otherwise it is ``conv`` and its two gradients.
    ``padding`` is the zero padding of every side (of the convolution ``W`` a
    transposed layer is the transpose of).
    """

    name: str
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    transpose: bool = False
    resembles: str = ""

    @classmethod
    def from_config(cls, cfg: Config) -> Layer:
        return cls(cfg.name, cfg.x_shape, cfg.w_shape, cfg.stride, cfg.pad, resembles=cfg.resembles)

    @property
    def ndim(self) -> int:
        return len(self.x_shape) - 2

    @property
    def kernel(self) -> tuple[int, ...]:
        return tuple(self.w_shape[2:])

    @property
    def ops(self) -> tuple[str, ...]:
        return ("forward",) if self.transpose else OPS

    @property
    def kwargs(self) -> dict[str, int]:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation, "groups": self.groups}

    @property
    def out_spatial(self) -> tuple[int, ...]:
        """Spatial shape of the layer's output."""
        args = (self.x_shape[2:], self.kernel, self.stride, self.padding)
        if self.transpose:
            return tuple(cm.conv_transpose_output_shape(*args, dilation=self.dilation))
        return tuple(cm.conv_output_shape(*args, dilation=self.dilation))

    @property
    def y_shape(self) -> tuple[int, ...]:
        c_out = self.w_shape[1] * self.groups if self.transpose else self.w_shape[0]
        return (self.x_shape[0], c_out, *self.out_spatial)

    @property
    def conv_x_shape(self) -> tuple[int, ...]:
        """Input shape of the layer's convolution ``W`` (a transposed layer's output is ``W``'s input)."""
        return self.y_shape if self.transpose else self.x_shape

    @property
    def conv_out_spatial(self) -> tuple[int, ...]:
        """Output spatial shape of ``W`` (a transposed layer's input is ``W``'s output)."""
        return tuple(self.x_shape[2:]) if self.transpose else self.out_spatial

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.w_shape[1] == 1 and self.w_shape[0] == self.groups

    @property
    def flops(self) -> int:
        """Multiply-adds times two of one product with ``W`` (each gradient costs the same)."""
        c_out, cin_g = self.w_shape[:2]
        return 2 * self.conv_x_shape[0] * c_out * prod(self.conv_out_spatial) * cin_g * prod(self.kernel)

    def sparse_size(self, dtype: str = "float64") -> cm.MatrixSize:
        """Shape, stored entries and bytes of ``W`` (``cm.conv_matrix_size``: counted, not built)."""
        return cm.conv_matrix_size(
            self.w_shape, self.conv_x_shape[1:], self.stride, self.padding, self.dilation, self.groups, dtype=dtype
        )

    @property
    def sparse_nnz(self) -> int:
        """Stored entries of ``W``."""
        return self.sparse_size().nnz

    @property
    def sparse_fits(self) -> bool:
        return self.sparse_nnz <= MAX_SPARSE_NNZ

    @property
    def textbook_applies(self) -> bool:
        """Whether :mod:`textbook` computes this layer (2-D, ungrouped, undilated, not transposed)."""
        return self.ndim == 2 and self.groups == 1 and self.dilation == 1 and not self.transpose

    def scipy_applies(self, op: str) -> bool:
        """Whether ``scipy.signal``'s "same" convolutions compute ``op``: a depthwise 2-D layer, stride 1, odd
        square kernel, "same" padding; its forward and input gradient (not its kernel gradient)."""
        k = self.kernel
        return (
            op in ("forward", "input_grad")
            and self.depthwise
            and not self.transpose
            and self.ndim == 2
            and self.stride == 1
            and self.dilation == 1
            and k[0] == k[1]
            and k[0] % 2 == 1
            and self.padding == k[0] // 2
        )

    def tiny(self) -> Layer:
        """The smoke test's version of the layer: the same kernel, stride, padding and dilation; at most 2
        samples, 4 groups and 16 channels per group on each side; each input axis at most 8 or the dilated
        kernel plus one, whichever is larger. A depthwise layer stays depthwise."""
        n, _, *spatial = self.x_shape
        groups = min(self.groups, 4)
        first, second = min(self.w_shape[0] // self.groups, 16), min(self.w_shape[1], 16)
        w_shape = (groups * first, second, *self.kernel)
        c_in = groups * (first if self.transpose else second)
        reach = [self.dilation * (k - 1) + 2 for k in self.kernel]
        small = tuple(min(s, max(8, r)) for s, r in zip(spatial, reach, strict=True))
        return replace(self, x_shape=(min(n, 2), c_in, *small), w_shape=w_shape, groups=groups)

    def describe(self) -> str:
        def shape(s: tuple[int, ...]) -> str:
            return "x".join(map(str, s))

        text = f"{self.name}: x {shape(self.x_shape)}, weight {shape(self.w_shape)}"
        for key, value, default in (
            ("stride", self.stride, 1),
            ("padding", self.padding, 0),
            ("dilation", self.dilation, 1),
            ("groups", self.groups, 1),
        ):
            if value != default:
                text += f", {key} {value}"
        return text + (", transposed" if self.transpose else "")


#: The layers beside B-F, from a pointwise convolution to a 31x31 depthwise one and a transposed convolution.
NEW_LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer("PW", (8, 256, 28, 28), (512, 256, 1, 1), resembles="ResNet-50 bottleneck 1x1 expansion"),
        Layer("DIL", (8, 64, 56, 56), (64, 64, 3, 3), padding=2, dilation=2, resembles="DeepLab dilated 3x3"),
        Layer("C3D", (2, 32, 16, 32, 32), (32, 32, 3, 3, 3), padding=1, resembles="3-D U-Net / video 3x3x3"),
        Layer("C1D", (16, 128, 4096), (128, 128, 9), padding=4, resembles="1-D conv on audio, kernel 9"),
        Layer("G32", (8, 256, 28, 28), (256, 8, 3, 3), padding=1, groups=32, resembles="ResNeXt-50 32x4d, stage 3"),
        Layer("DW3", (8, 32, 112, 112), (32, 1, 3, 3), padding=1, groups=32, resembles="MobileNetV2 depthwise 3x3"),
        Layer(
            "DW3s2", (8, 128, 28, 28), (128, 1, 3, 3), 2, 1, groups=128, resembles="MobileNet depthwise 3x3, stride 2"
        ),
        Layer("DW7", (8, 96, 56, 56), (96, 1, 7, 7), padding=3, groups=96, resembles="ConvNeXt-T depthwise 7x7"),
        Layer("DW31", (2, 64, 56, 56), (64, 1, 31, 31), padding=15, groups=64, resembles="RepLKNet depthwise 31x31"),
        Layer(
            "UP", (8, 128, 28, 28), (128, 64, 4, 4), 2, 1, transpose=True, resembles="U-Net/GAN 4x4 stride-2 upsampling"
        ),
    )
}
#: Every layer of the default-route part: B-F, then the new ones.
LAYERS: dict[str, Layer] = {**{name: Layer.from_config(c) for name, c in CONFIGS.items()}, **NEW_LAYERS}
#: Groups of layers in the report's summary: dense (one group), grouped or small-kernel depthwise, large kernel.
DENSE_LAYERS = tuple(name for name, layer in LAYERS.items() if layer.groups == 1)
GROUPED_LAYERS = ("G32", "DW3", "DW3s2", "DW7")
LARGE_KERNEL_LAYERS = ("DW7", "DW31")


def layer_spec(name: str, tiny: bool = False) -> Layer:
    return LAYERS[name].tiny() if tiny else LAYERS[name]


@cache
def make_layer_data(name: str, dtype: str, tiny: bool = False) -> Data:
    """Seeded ``x``, kernel and output gradient of a layer (B-F: :func:`make_data`'s arrays; cached, read-only)."""
    if name in CONFIGS and not tiny:
        return make_data(name, dtype)
    layer = layer_spec(name, tiny)
    rng = np.random.default_rng([SEED, *name.encode(), int(tiny)])
    x = rng.standard_normal(layer.x_shape).astype(dtype)
    w = (rng.standard_normal(layer.w_shape) / np.sqrt(layer.w_shape[1] * prod(layer.kernel))).astype(dtype)
    dy = rng.standard_normal(layer.y_shape).astype(dtype)
    for a in (x, w, dy):
        a.flags.writeable = False
    return Data(x, w, dy)


def convmat_backends() -> tuple[str, ...]:
    """The ``backend=`` values this convmat's convolutions accept."""
    backends = getattr(cm, "BACKENDS", None) or importlib.import_module("convmat.conv").BACKENDS
    return tuple(backends)


def default_backend() -> str:
    """The route ``cm.conv`` takes without ``backend=`` (``"auto"`` where convmat chooses per call)."""
    return inspect.signature(cm.conv).parameters["backend"].default


def chosen_route(layer: Layer, op: str, dtype: str) -> str:
    """The route the default backend takes for ``op`` of ``layer``: ``cm.choose_backend``'s answer under
    ``"auto"``. A transposed layer is asked as what it computes, the input gradient of its ``W``."""
    default = default_backend()
    if default != "auto":
        return default
    if layer.transpose:
        x_shape, op = layer.conv_x_shape, "input_grad"
    else:
        x_shape = layer.x_shape
    return cm.choose_backend(
        x_shape, layer.w_shape, layer.stride, layer.padding, layer.dilation, layer.groups, op=op, dtype=dtype
    )


def layer_op(layer: Layer, op: str, d: Data, backend: str | None = None) -> Callable[[], np.ndarray]:
    """convmat's call of ``op``: its default route (no ``backend=``), or ``backend``."""
    kw: dict[str, object] = {**layer.kwargs, **({} if backend is None else {"backend": backend})}
    if layer.transpose:
        if op != "forward":
            raise ValueError(f"{layer.name} is timed forward only, not {op}")
        return lambda: cm.conv_transpose(d.x, d.w, **kw)
    if op == "forward":
        return lambda: cm.conv(d.x, d.w, **kw)
    if op == "input_grad":
        return lambda: cm.conv_input_grad(d.x.shape, d.w, d.dy, **kw)
    if op == "weight_grad":
        return lambda: cm.conv_weight_grad(d.x, d.w.shape, d.dy, **kw)
    raise ValueError(op)


def layer_torch_op(layer: Layer, op: str, d: Data) -> Callable:
    """PyTorch's CPU call: ``F.conv{n}d`` / ``F.conv_transpose{n}d``, ``torch.nn.grad.conv{n}d_input/_weight``.

    Raises ``ImportError`` without torch.
    """
    torch = torch_module()
    if torch is None:
        raise ImportError("torch not installed")
    x, w, dy = (torch.from_numpy(np.array(a)) for a in (d.x, d.w, d.dy))  # writeable copies, made once
    functional, grad, nd, kw = torch.nn.functional, torch.nn.grad, layer.ndim, layer.kwargs
    if layer.transpose:
        if op != "forward":
            raise ValueError(f"{layer.name} is timed forward only, not {op}")
        transposed = getattr(functional, f"conv_transpose{nd}d")
        return lambda: transposed(x, w, **kw)
    if op == "forward":
        forward = getattr(functional, f"conv{nd}d")
        return lambda: forward(x, w, **kw)
    if op == "input_grad":
        input_grad = getattr(grad, f"conv{nd}d_input")
        return lambda: input_grad(x.shape, w, dy, **kw)
    if op == "weight_grad":
        weight_grad = getattr(grad, f"conv{nd}d_weight")
        return lambda: weight_grad(x, w.shape, dy, **kw)
    raise ValueError(op)


def layer_textbook_op(layer: Layer, op: str, d: Data, layout: str = "rows") -> Callable[[], np.ndarray]:
    """:func:`textbook_op` for a layer it applies to (:attr:`Layer.textbook_applies`), else ``ValueError``."""
    if not layer.textbook_applies:
        raise ValueError(f"the textbook baseline is 2-D, ungrouped, undilated and not transposed: {layer.name}")
    c_out, c_in, k = layer.w_shape[0], layer.w_shape[1], layer.kernel[0]
    if layer.kernel != (k, k):
        raise ValueError(f"the textbook baseline takes square kernels: {layer.name}")
    n, _, h, w = layer.x_shape
    cfg = Config(layer.name, n, c_in, h, w, c_out, k, layer.stride, layer.padding)
    return textbook_op(cfg, op, d, layout)


def layer_scipy_op(layer: Layer, op: str, d: Data, method: str = "fftconvolve") -> Callable[[], np.ndarray]:
    """A depthwise layer's ``op`` as one ``scipy.signal.fftconvolve`` / ``oaconvolve`` of every sample and channel.

    The input ``[N, C, H, W]`` against the kernels ``[1, C, k, k]`` (broadcast over the
    batch) along the last two axes, ``mode="same"``: the forward with each kernel
    flipped (scipy convolves, a layer correlates), the input gradient with the kernels
    as they are. ``ValueError`` where :meth:`Layer.scipy_applies` says no.
    """
    import scipy.signal

    if not layer.scipy_applies(op):
        raise ValueError(f"scipy.signal's 'same' convolutions do not compute {layer.name} {op}")
    function = getattr(scipy.signal, method)
    planes = d.w[None, :, 0]  # [1, C, k, k]
    if op == "forward":
        operand, kernels = d.x, np.ascontiguousarray(planes[..., ::-1, ::-1])
    else:
        operand, kernels = d.dy, np.ascontiguousarray(planes)
    return lambda: function(operand, kernels, mode="same", axes=(-2, -1))


# ---------------------------------------------------------------------------
# Pooling: 2x2 stride-2 max pooling of the conv outputs of B and C
# ---------------------------------------------------------------------------

POOL_SHAPES = {"B": CONFIGS["B"].y_shape, "C": CONFIGS["C"].y_shape}
POOL_KERNEL = 2


@dataclass(frozen=True)
class PoolData:
    x: np.ndarray
    dy: np.ndarray
    indices: np.ndarray


@cache
def make_pool_data(config: str, dtype: str) -> PoolData:
    shape = POOL_SHAPES[config]
    rng = np.random.default_rng([SEED, ord(config), 2])
    x = rng.standard_normal(shape).astype(dtype)
    _, indices = cm.max_pool(x, POOL_KERNEL, return_indices=True)
    dy = rng.standard_normal(indices.shape).astype(dtype)
    for a in (x, dy, indices):
        a.flags.writeable = False
    return PoolData(x, dy, indices)


def pool_ops_convmat(p: PoolData) -> dict[str, Callable]:
    return {
        "max_pool": lambda: cm.max_pool(p.x, POOL_KERNEL, return_indices=True),
        "max_pool_backward": lambda: cm.max_pool_backward(p.dy, p.indices, p.x.shape),
        "max_pool_matrix": lambda: cm.max_pool_matrix(p.x, POOL_KERNEL),
        "max_unpool": lambda: cm.max_unpool(p.dy, p.indices, p.x.shape[2:]),
    }


def pool_ops_torch(p: PoolData) -> dict[str, Callable]:
    """``F.max_pool2d(return_indices=True)``, aten's ``max_pool2d_with_indices_backward`` (what autograd runs)
    and ``F.max_unpool2d``."""
    torch = torch_module()
    if torch is None:
        raise ImportError("torch not installed")
    x, dy = torch.from_numpy(np.array(p.x)), torch.from_numpy(np.array(p.dy))
    _, idx = torch.nn.functional.max_pool2d(x, POOL_KERNEL, return_indices=True)
    k = [POOL_KERNEL, POOL_KERNEL]
    backward = torch.ops.aten.max_pool2d_with_indices_backward
    return {
        "max_pool": lambda: torch.nn.functional.max_pool2d(x, POOL_KERNEL, return_indices=True),
        "max_pool_backward": lambda: backward(dy, x, k, k, [0, 0], [1, 1], False, idx),
        "max_unpool": lambda: torch.nn.functional.max_unpool2d(dy, idx, POOL_KERNEL, output_size=x.shape[2:]),
    }


# ---------------------------------------------------------------------------
# The sparse route's parts: pattern, refill, bare gather, bare products
# ---------------------------------------------------------------------------

SPARSE_CONFIGS = ("C", "D", "F")


def clear_pattern_caches() -> None:
    """Forget every cached index pattern (the next ``W`` of any geometry rebuilds its indices)."""
    import convmat

    convmat.clear_cache()


def build_pattern(cfg: Config):
    """The (cached) ``ConvMatrixPattern`` of a config, through convmat's internals (``convmat.patterns``)."""
    from convmat.geometry import conv_problem
    from convmat.patterns import conv_matrix_pattern

    geom, groups = conv_problem(cfg.x_shape, cfg.w_shape, cfg.stride, cfg.pad)
    return conv_matrix_pattern(geom, cfg.c_in, cfg.c_out, groups)


def sparse_ops(cfg: Config, d: Data) -> dict[str, Callable]:
    """The sparse route against its bare parts, for one config and dtype.

    ``refill``: ``conv_matrix`` for a new kernel of a cached geometry; ``gather``:
    the bare ``np.take`` of its ``nnz`` values. ``forward``/``input_grad``: the
    route (``conv``/``conv_input_grad`` with ``backend="sparse"``, ``W`` rebuilt
    every call) on one thread, against scipy's own ``W @ X`` / ``W.T @ dY`` (one
    thread) on a prebuilt ``W``; ``forward threads``/``input_grad threads``: the
    same route on convmat's threads (``harness.THREADS``).
    """
    spatial = d.x.shape[1:]
    w_new = (d.w[::-1] * 0.5).copy()  # another kernel of the same geometry
    matrix = cm.conv_matrix(d.w, spatial, **cfg.kwargs)
    batch = d.x.shape[0]
    x_cols = d.x.reshape(batch, -1).T  # [C_in*S, N]
    dy_cols = d.dy.reshape(batch, -1).T  # [C_out*L, N]
    pattern = build_pattern(cfg)
    source = w_new.reshape(cfg.c_out, -1)
    return {
        "refill": lambda: cm.conv_matrix(w_new, spatial, **cfg.kwargs),
        "gather": lambda: np.take(source, pattern.data_index, axis=1),
        "forward": one_thread(convmat_op(cfg, "forward", d, backend="sparse")),
        "forward threads": convmat_op(cfg, "forward", d, backend="sparse"),
        "W @ X": lambda: matrix @ x_cols,
        "input_grad": one_thread(convmat_op(cfg, "input_grad", d, backend="sparse")),
        "input_grad threads": convmat_op(cfg, "input_grad", d, backend="sparse"),
        "W.T @ dY": lambda: matrix.T @ dy_cols,
    }


def one_thread(function: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """``function`` run with convmat's own threads set to one (BLAS and PyTorch keep theirs)."""

    def run() -> np.ndarray:
        with cm.num_threads(1):
            return function()

    return run


# ---------------------------------------------------------------------------
# Single input channel: scipy.signal's convolutions against convmat (layer B)
# ---------------------------------------------------------------------------

#: ``"B1"``: B's input with one output channel; ``"B"``: all 16 output channels.
SIGNAL_CASES = ("B1", "B")


def signal_ops(case: str, dtype: str) -> dict[str, Callable]:
    """The same correlation ("same" zero padding, odd kernel) by convmat, scipy.signal, the textbook and torch.

    scipy.signal convolves (flips the kernel) except in ``correlate``, so ``fftconvolve``
    and ``oaconvolve`` get the kernel flipped. ``correlate`` has no ``axes``: the batch
    is one more axis of length-1 kernel, and several output channels are a loop.
    ``fftconvolve``/``oaconvolve`` take the input broadcast to every output channel.
    """
    import scipy.signal

    cfg = CONFIGS["B"]
    d = make_data("B", dtype)
    w = d.w[:1] if case == "B1" else d.w  # [C_out, 1, k, k]
    x, p = d.x, cfg.pad
    planes = x[:, 0]  # [N, H, W]
    flipped = np.ascontiguousarray(w[None, :, 0, ::-1, ::-1])  # [1, C_out, k, k]
    kernels = [np.ascontiguousarray(w[o, 0][None]) for o in range(w.shape[0])]  # [1, k, k] each
    # "same" keeps in1's shape, so the input is broadcast to the output channels first (a view).
    x_wide = np.broadcast_to(x, (x.shape[0], w.shape[0], *x.shape[2:]))

    def correlate():
        maps = [scipy.signal.correlate(planes, k, mode="same") for k in kernels]
        return np.stack(maps, axis=1)

    ops = {
        "convmat-im2col": lambda: cm.conv(x, w, padding=p),
        "convmat-sparse": lambda: cm.conv(x, w, padding=p, backend="sparse"),
        "scipy-correlate": correlate,
        "scipy-fftconvolve": lambda: scipy.signal.fftconvolve(x_wide, flipped, mode="same", axes=(2, 3)),
        "scipy-oaconvolve": lambda: scipy.signal.oaconvolve(x_wide, flipped, mode="same", axes=(2, 3)),
        "textbook": lambda: textbook.conv2d_forward(x, w, 1, p),
    }
    torch = torch_module()
    if torch is not None:
        xt, wt = torch.from_numpy(np.array(x)), torch.from_numpy(np.array(w))
        ops["torch"] = lambda: torch.nn.functional.conv2d(xt, wt, padding=p)
    return ops


# ---------------------------------------------------------------------------
# Memory: peak of the im2col route on a large batch of layer C
# ---------------------------------------------------------------------------

MEMORY_BATCH = 256
MIB = 2**20


def workspace_api():
    """``(get_workspace_limit, workspace_limit)`` of convmat, or ``None`` where this convmat has none."""
    if hasattr(cm, "get_workspace_limit") and hasattr(cm, "workspace_limit"):
        return cm.get_workspace_limit, cm.workspace_limit
    return None


@cache
def make_memory_data(dtype: str = "float32") -> Data:
    """Layer C with a batch of :data:`MEMORY_BATCH` (64 MiB of float32 input)."""
    cfg = CONFIGS["C"]
    rng = np.random.default_rng([SEED, 5])
    x = rng.standard_normal((MEMORY_BATCH, *cfg.x_shape[1:]), dtype=np.float32).astype(dtype, copy=False)
    w = (rng.standard_normal(cfg.w_shape) / np.sqrt(cfg.c_in * cfg.k * cfg.k)).astype(dtype)
    dy = rng.standard_normal((MEMORY_BATCH, *cfg.y_shape[1:]), dtype=np.float32).astype(dtype, copy=False)
    return Data(x, w, dy)


def memory_case(op: str, limit: int | None) -> dict[str, object]:
    """Peak memory of one im2col-route call on :func:`make_memory_data`, under workspace ``limit`` (None: default).

    ``peak`` counts the operands (allocated before the call) plus the traced peak
    during the call; ``allowed`` is operands + result + 1.1 x the workspace bound.
    """
    api = workspace_api()
    if api is None:
        return {"available": False}
    get_limit, limit_context = api
    d = make_memory_data()
    cfg = CONFIGS["C"]
    x_shape = d.x.shape
    calls = {
        "forward": (lambda: cm.conv(d.x, d.w, **cfg.kwargs), (d.x, d.w)),
        "input_grad": (lambda: cm.conv_input_grad(x_shape, d.w, d.dy, **cfg.kwargs), (d.w, d.dy)),
        "weight_grad": (lambda: cm.conv_weight_grad(d.x, d.w.shape, d.dy, **cfg.kwargs), (d.x, d.dy)),
    }
    function, operands = calls[op]
    with contextlib.ExitStack() as stack:
        if limit is not None:
            stack.enter_context(limit_context(limit))
        bound = get_limit()
        function()  # warm-up: anything cached per geometry is not workspace
        traced, result = traced_peak(function)
    inputs = sum(a.nbytes for a in operands)
    output = np.asarray(result).nbytes
    return {
        "available": True,
        "op": op,
        "limit": bound,
        "inputs": inputs,
        "output": output,
        "traced_peak": traced,
        "peak": inputs + traced,
        "allowed": inputs + output + int(1.1 * bound),
        "workspace_used": traced - output,
    }
