"""Naive reference implementations, written straight from the definitions.

Nothing here imports convmat: these loops are the independent ground truth that
the tests compare convmat against (and that ``test_torch_parity.py`` checks
against PyTorch). They favour obviousness over speed: plain Python loops over
output positions and kernel taps (``itertools.product``), accumulating in
float64 (or complex128 when any input is complex).

Layouts are PyTorch's: input ``(N, C_in, *spatial)``, weight
``(C_out, C_in // groups, *kernel)``, output ``(N, C_out, *out_spatial)``.
"""

from __future__ import annotations

import itertools
from math import prod

import numpy as np

PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


# ---------------------------------------------------------------------------
# argument normalisation (deliberately independent of convmat.geometry)
# ---------------------------------------------------------------------------


def as_tuple(value, n):
    """An int or a length-``n`` sequence as a tuple of ``n`` ints."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    assert len(value) == n, (value, n)
    return value


def resolve_padding(padding, kernel_size, dilation):
    """``padding`` (int, tuple, "valid", "same") as a list of ``(low, high)`` pairs.

    "same": total ``dilation * (k - 1)`` per dim, the odd extra on the high side.
    """
    n = len(kernel_size)
    if padding == "valid":
        return [(0, 0)] * n
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel_size, dilation, strict=True)]
        return [(t // 2, t - t // 2) for t in totals]
    return [(p, p) for p in as_tuple(padding, n)]


def output_spatial(spatial, kernel_size, stride, pads, dilation):
    """``floor((n + lo + hi - d*(k-1) - 1) / s) + 1`` per dim."""
    return tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, (lo, hi), d in zip(spatial, kernel_size, stride, pads, dilation, strict=True)
    )


def acc_dtype(*arrays):
    """complex128 if any array is complex, else float64."""
    if any(a is not None and np.iscomplexobj(a) for a in arrays):
        return np.complex128
    return np.float64


# ---------------------------------------------------------------------------
# padding (PyTorch F.pad semantics) and its adjoint
# ---------------------------------------------------------------------------


def source_index(p, n, low, mode):
    """Input index that padded position ``p`` reads (``None`` for a zero), one dim of size ``n``."""
    i = p - low
    if 0 <= i < n:
        return i
    if mode == "zeros":
        return None
    if mode == "circular":  # wraps around; torch allows pad <= n
        return i % n
    if mode == "replicate":  # the edge element repeats
        return 0 if i < 0 else n - 1
    if mode == "reflect":  # mirror about the edge element, edge not repeated; torch needs pad < n
        return -i if i < 0 else 2 * (n - 1) - i
    raise ValueError(mode)


def pad_reference(x, pads, mode):
    """``torch.nn.functional.pad`` of the spatial dims of ``x`` (N, C, *spatial).

    ``pads`` is a list of ``(low, high)`` per spatial dim (in dim order, unlike
    torch's reversed flat tuple); ``mode`` one of ``PADDING_MODES``.
    """
    x = np.asarray(x)
    spatial = x.shape[2:]
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads, strict=True))
    out = np.zeros(x.shape[:2] + padded, dtype=acc_dtype(x))
    for p in itertools.product(*(range(m) for m in padded)):
        src = tuple(source_index(pi, n, lo, mode) for pi, n, (lo, _) in zip(p, spatial, pads, strict=True))
        if None not in src:
            out[(..., *p)] = x[(..., *src)]
    return out


def pad_adjoint_reference(g, spatial, pads, mode):
    """Adjoint of :func:`pad_reference`: every padded position adds its value back to its source."""
    g = np.asarray(g)
    out = np.zeros(g.shape[:2] + tuple(spatial), dtype=acc_dtype(g))
    for p in itertools.product(*(range(m) for m in g.shape[2:])):
        src = tuple(source_index(pi, n, lo, mode) for pi, n, (lo, _) in zip(p, spatial, pads, strict=True))
        if None not in src:
            out[(..., *src)] += g[(..., *p)]
    return out


# ---------------------------------------------------------------------------
# convolution (cross-correlation, as in deep learning) and its two gradients
# ---------------------------------------------------------------------------


def _setup(spatial, kernel, stride, padding, dilation):
    n = len(kernel)
    stride = as_tuple(stride, n)
    dilation = as_tuple(dilation, n)
    pads = resolve_padding(padding, kernel, dilation)
    out = output_spatial(spatial, kernel, stride, pads, dilation)
    return stride, dilation, pads, out


def _taps(out, kernel, stride, dilation):
    """Every (output index, kernel index, padded-input index) triple."""
    for o in itertools.product(*(range(m) for m in out)):
        for k in itertools.product(*(range(m) for m in kernel)):
            i = tuple(oi * s + ki * d for oi, ki, s, d in zip(o, k, stride, dilation, strict=True))
            yield o, k, i


def conv_reference(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """``y[n, co, o] = bias[co] + sum_{ci in group(co), k} w[co, ci_local, k] * xpad[n, ci, o*s + k*d]``."""
    x, w = np.asarray(x), np.asarray(w)
    dtype = acc_dtype(x, w, bias)
    kernel = w.shape[2:]
    stride, dilation, pads, out = _setup(x.shape[2:], kernel, stride, padding, dilation)
    xpad = pad_reference(x, pads, padding_mode)
    c_out, cin_g = w.shape[:2]
    cout_g = c_out // groups
    y = np.zeros((x.shape[0], c_out, *out), dtype=dtype)
    for g in range(groups):
        co = slice(g * cout_g, (g + 1) * cout_g)
        ci = slice(g * cin_g, (g + 1) * cin_g)
        for o, k, i in _taps(out, kernel, stride, dilation):
            # [N, cin_g] @ [cin_g, cout_g]
            y[(slice(None), co, *o)] += xpad[(slice(None), ci, *i)] @ w[(co, slice(None), *k)].T
    if bias is not None:
        y += np.asarray(bias).reshape((1, c_out) + (1,) * len(kernel))
    return y


def conv_input_grad_reference(
    input_shape, w, grad_output, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """``Wᵀ dy`` in scatter form: every tap sends ``w * dy`` back to the padded input position it read,
    then the padding's adjoint folds the padded gradient back onto the input."""
    w, dy = np.asarray(w), np.asarray(grad_output)
    kernel = w.shape[2:]
    spatial = tuple(input_shape[2:])
    stride, dilation, pads, out = _setup(spatial, kernel, stride, padding, dilation)
    assert dy.shape == (input_shape[0], w.shape[0], *out), (dy.shape, out)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads, strict=True))
    gpad = np.zeros((input_shape[0], input_shape[1], *padded), dtype=acc_dtype(w, dy))
    c_out, cin_g = w.shape[:2]
    cout_g = c_out // groups
    for g in range(groups):
        co = slice(g * cout_g, (g + 1) * cout_g)
        ci = slice(g * cin_g, (g + 1) * cin_g)
        for o, k, i in _taps(out, kernel, stride, dilation):
            # [N, cout_g] @ [cout_g, cin_g]
            gpad[(slice(None), ci, *i)] += dy[(slice(None), co, *o)] @ w[(co, slice(None), *k)]
    return pad_adjoint_reference(gpad, spatial, pads, padding_mode)


def conv_weight_grad_reference(
    x, weight_shape, grad_output, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """``dw[co, ci_local, k] = sum_{n, o} dy[n, co, o] * xpad[n, ci, o*s + k*d]``, accumulated tap by tap."""
    x, dy = np.asarray(x), np.asarray(grad_output)
    kernel = tuple(weight_shape[2:])
    stride, dilation, pads, out = _setup(x.shape[2:], kernel, stride, padding, dilation)
    assert dy.shape == (x.shape[0], weight_shape[0], *out), (dy.shape, out)
    xpad = pad_reference(x, pads, padding_mode)
    gw = np.zeros(tuple(weight_shape), dtype=acc_dtype(x, dy))
    c_out, cin_g = weight_shape[:2]
    cout_g = c_out // groups
    for g in range(groups):
        co = slice(g * cout_g, (g + 1) * cout_g)
        ci = slice(g * cin_g, (g + 1) * cin_g)
        for o, k, i in _taps(out, kernel, stride, dilation):
            # [cout_g, N] @ [N, cin_g]
            gw[(co, slice(None), *k)] += dy[(slice(None), co, *o)].T @ xpad[(slice(None), ci, *i)]
    return gw


# ---------------------------------------------------------------------------
# im2col / col2im (torch.nn.functional.unfold / fold layout, zero padding)
# ---------------------------------------------------------------------------


def unfold_reference(x, kernel_size, stride=1, padding=0, dilation=1):
    """``cols[n, c*K + flat(k), flat(o)] = xpad[n, c, o*s + k*d]`` (zero padding), shape (N, C*K, L)."""
    x = np.asarray(x)
    n_sp = x.ndim - 2
    kernel = as_tuple(kernel_size, n_sp)
    stride, dilation, pads, out = _setup(x.shape[2:], kernel, stride, padding, dilation)
    xpad = pad_reference(x, pads, "zeros")
    batch, channels = x.shape[:2]
    big_k, big_l = prod(kernel), prod(out)
    cols = np.zeros((batch, channels * big_k, big_l), dtype=acc_dtype(x))
    for o, k, i in _taps(out, kernel, stride, dilation):
        l_flat = np.ravel_multi_index(o, out)
        k_flat = np.ravel_multi_index(k, kernel)
        for c in range(channels):
            cols[:, c * big_k + k_flat, l_flat] = xpad[(slice(None), c, *i)]
    return cols


def fold_reference(cols, output_size, kernel_size, stride=1, padding=0, dilation=1):
    """Scatter-add ``cols`` (N, C*K, L) back into an image (N, C, *output_size); overlaps add up."""
    cols = np.asarray(cols)
    output_size = tuple(output_size)
    n_sp = len(output_size)
    kernel = as_tuple(kernel_size, n_sp)
    stride, dilation, pads, out = _setup(output_size, kernel, stride, padding, dilation)
    big_k = prod(kernel)
    batch, channels = cols.shape[0], cols.shape[1] // big_k
    assert cols.shape == (batch, channels * big_k, prod(out)), (cols.shape, out)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(output_size, pads, strict=True))
    img = np.zeros((batch, channels, *padded), dtype=acc_dtype(cols))
    for o, k, i in _taps(out, kernel, stride, dilation):
        l_flat = np.ravel_multi_index(o, out)
        k_flat = np.ravel_multi_index(k, kernel)
        for c in range(channels):
            img[(slice(None), c, *i)] += cols[:, c * big_k + k_flat, l_flat]
    crop = tuple(slice(lo, lo + n) for n, (lo, _) in zip(output_size, pads, strict=True))
    return img[(slice(None), slice(None), *crop)]


# ---------------------------------------------------------------------------
# the dense convolution matrix, column by column
# ---------------------------------------------------------------------------


def conv_matrix_reference(w, input_shape, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Dense ``W`` with ``W[:, j] = conv(e_j)``: the Jacobian of the (bias-free) convolution of one sample.

    ``input_shape`` is ``(C_in, *spatial)``; the result has shape ``(C_out*prod(out), C_in*prod(spatial))``.
    """
    w = np.asarray(w)
    input_shape = tuple(input_shape)
    size = prod(input_shape)
    columns = []
    for j in range(size):
        e = np.zeros(size)
        e[j] = 1.0
        y = conv_reference(e.reshape((1, *input_shape)), w, None, stride, padding, dilation, groups, padding_mode)
        columns.append(y.ravel())
    return np.stack(columns, axis=1)
