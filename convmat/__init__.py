"""convmat: the linear algebra of convolutional networks, explicit and fast.

The submodules :mod:`convmat.identities`, :mod:`convmat.nn`,
:mod:`convmat.plot` and :mod:`convmat.dask` are reachable as attributes
(``cm.identities``) and are imported on first use, so ``import convmat`` never
imports matplotlib or dask.
"""

import importlib
from types import ModuleType

__version__ = "0.1.0"

from .adaptive_matrices import adaptive_avg_pool_matrix, adaptive_max_pool_matrix
from .adaptive_patterns import adaptive_avg_pool_matrix_size, adaptive_max_pool_matrix_size
from .adaptive_pooling import (
    adaptive_avg_pool,
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_avg_pool_backward,
    adaptive_max_pool,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
)
from .cache import CacheInfo, cache_info, clear_cache
from .config import (
    get_matrix_limit,
    get_num_threads,
    get_workspace_limit,
    matrix_limit,
    num_threads,
    set_matrix_limit,
    set_num_threads,
    set_workspace_limit,
    workspace_limit,
)
from .conv import (
    choose_backend,
    conv,
    conv1d,
    conv2d,
    conv3d,
    conv_input_grad,
    conv_transpose,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    conv_weight_grad,
)
from .conv_matrices import conv_matrix
from .geometry import conv_output_shape, conv_transpose_output_shape, pool_output_shape
from .im2col import col2im, im2col
from .linalg import LstsqResult, conv_lstsq, conv_operator, conv_singular_values, conv_spectral_norm
from .lp_pooling import lp_pool, lp_pool1d, lp_pool2d, lp_pool3d, lp_pool_backward
from .pad import pad, pad_adjoint, pad_matrix
from .pool_matrices import avg_pool_matrix, max_pool_matrix
from .pooling import (
    avg_pool,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    avg_pool_backward,
    max_pool,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_pool_backward,
    max_unpool,
)
from .sizes import (
    MatrixSize,
    MatrixTooLargeError,
    avg_pool_matrix_size,
    conv_matrix_size,
    max_pool_matrix_size,
)
from .symbolic import format_matrix, symbolic_conv_matrix

#: Submodules loaded on first attribute access (PEP 562).
_LAZY_SUBMODULES = ("dask", "identities", "nn", "plot")


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_SUBMODULES})


__all__ = [
    "CacheInfo",
    "LstsqResult",
    "MatrixSize",
    "MatrixTooLargeError",
    "adaptive_avg_pool",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_avg_pool_backward",
    "adaptive_avg_pool_matrix",
    "adaptive_avg_pool_matrix_size",
    "adaptive_max_pool",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "adaptive_max_pool_matrix",
    "adaptive_max_pool_matrix_size",
    "avg_pool",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "avg_pool_backward",
    "avg_pool_matrix",
    "avg_pool_matrix_size",
    "cache_info",
    "choose_backend",
    "clear_cache",
    "col2im",
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_input_grad",
    "conv_lstsq",
    "conv_matrix",
    "conv_matrix_size",
    "conv_operator",
    "conv_output_shape",
    "conv_singular_values",
    "conv_spectral_norm",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_output_shape",
    "conv_weight_grad",
    "format_matrix",
    "get_matrix_limit",
    "get_num_threads",
    "get_workspace_limit",
    "im2col",
    "lp_pool",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "lp_pool_backward",
    "matrix_limit",
    "max_pool",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool_backward",
    "max_pool_matrix",
    "max_pool_matrix_size",
    "max_unpool",
    "num_threads",
    "pad",
    "pad_adjoint",
    "pad_matrix",
    "pool_output_shape",
    "set_matrix_limit",
    "set_num_threads",
    "set_workspace_limit",
    "symbolic_conv_matrix",
    "workspace_limit",
]
