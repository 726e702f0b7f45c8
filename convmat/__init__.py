"""convmat: the linear algebra of convolutional networks, explicit and fast."""

__version__ = "0.1.0"

from .config import (
    get_num_threads,
    get_workspace_limit,
    num_threads,
    set_num_threads,
    set_workspace_limit,
    workspace_limit,
)
from .conv import (
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
from .inspect import format_matrix, symbolic_conv_matrix
from .linalg import conv_operator, conv_singular_values, conv_spectral_norm
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

__all__ = [
    "avg_pool",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "avg_pool_backward",
    "avg_pool_matrix",
    "col2im",
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_input_grad",
    "conv_matrix",
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
    "get_num_threads",
    "get_workspace_limit",
    "im2col",
    "max_pool",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool_backward",
    "max_pool_matrix",
    "max_unpool",
    "num_threads",
    "pool_output_shape",
    "set_num_threads",
    "set_workspace_limit",
    "symbolic_conv_matrix",
    "workspace_limit",
]
