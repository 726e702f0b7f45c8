"""Pooling parity with PyTorch (skipped when torch is not installed).

First the naive references of ``pool_reference.py`` are checked against torch
(that is what makes them trustworthy for ``test_pooling.py``), then convmat
itself: ``F.max_pool{1,2,3}d`` values and indices (with and without
``return_indices``), autograd gradients, max unpooling, ``F.avg_pool{1,2,3}d``
with ``count_include_pad`` and ``ceil_mode`` and its gradients, NaN/inf/tie
handling and the errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close
from pool_reference import (
    AVG_GRID,
    AVG_IDS,
    GRID,
    GRID_IDS,
    as_tuple,
    avg_pool_reference,
    case_data,
    max_pool_reference,
    max_unpool_reference,
)

import convmat as cm

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = (np.float64, np.float32)


def _max_pool_torch(x, case, return_indices=True):
    pool = getattr(F, f"max_pool{case.ndim}d")
    return pool(
        torch.from_numpy(x), case.kernel_size, case.stride, case.padding, case.dilation, case.ceil_mode, return_indices
    )


def _avg_pool_torch(xt, case, count_include_pad):
    pool = getattr(F, f"avg_pool{case.ndim}d")
    return pool(xt, case.kernel_size, case.stride, case.padding, case.ceil_mode, count_include_pad)


def _max_unpool_torch(values, indices, output_spatial):
    """torch's unpooling kernel itself (F.max_unpoolNd would also re-check the size against a kernel and stride)."""
    v, i = torch.from_numpy(np.ascontiguousarray(values)), torch.from_numpy(indices)
    n = len(output_spatial)
    if n == 1:
        return torch.ops.aten.max_unpool2d(v[..., None], i[..., None], [output_spatial[0], 1])[..., 0]
    if n == 2:
        return torch.ops.aten.max_unpool2d(v, i, list(output_spatial))
    return torch.ops.aten.max_unpool3d(v, i, list(output_spatial), [1, 1, 1], [0, 0, 0])


def _torch_accepts_avg(case):
    """torch's avg_pool3d (not 1d/2d) refuses an input smaller than the kernel, even when padding makes room."""
    kernel = as_tuple(case.kernel_size, case.ndim)
    return case.ndim < 3 or all(size >= k for size, k in zip(case.x_shape[2:], kernel, strict=True))


AVG_TORCH = [pytest.param(c, id=i) for c, i in zip(AVG_GRID, AVG_IDS, strict=True) if _torch_accepts_avg(c)]


def _special_data(case, seed):
    """Small integers (many ties) with NaN, -inf and inf sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=case.x_shape).astype(np.float64)
    x[rng.random(case.x_shape) < 0.1] = np.nan
    x[rng.random(case.x_shape) < 0.2] = -np.inf
    x[rng.random(case.x_shape) < 0.05] = np.inf
    return x


# ---------------------------------------------------------------------------
# the references are torch's semantics
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_max_pool_reference_matches_torch(case):
    for x in (case_data(case)[0], _special_data(case, GRID.index(case))):
        y_t, idx_t = _max_pool_torch(x, case)
        y_ref, idx_ref = max_pool_reference(x, **case.kwargs)
        np.testing.assert_array_equal(y_ref, y_t.numpy())
        np.testing.assert_array_equal(idx_ref, idx_t.numpy())


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", AVG_TORCH)
def test_avg_pool_reference_matches_torch(case, count_include_pad):
    x, _ = case_data(case)
    y_ref = avg_pool_reference(x, count_include_pad=count_include_pad, **case.avg_kwargs)
    assert_close(y_ref, _avg_pool_torch(torch.from_numpy(x), case, count_include_pad).numpy())


def test_max_unpool_reference_matches_torch_without_shared_switches():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    y, idx = cm.max_pool(x, 3, stride=(3, 2), padding=1, return_indices=True)
    expected = _max_unpool_torch(y, idx, (7, 6)).numpy()
    np.testing.assert_array_equal(max_unpool_reference(y, idx, (7, 6)), expected)


# ---------------------------------------------------------------------------
# max pooling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_max_pool_matches_torch(case, dtype):
    x, _ = case_data(case, dtype)
    y, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    y_t, idx_t = _max_pool_torch(x, case)
    np.testing.assert_array_equal(y, y_t.numpy())
    np.testing.assert_array_equal(idx, idx_t.numpy())
    np.testing.assert_array_equal(cm.max_pool(x, **case.kwargs), _max_pool_torch(x, case, False).numpy())


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_max_pool_nan_inf_and_ties_match_torch(case):
    x = _special_data(case, 100 + GRID.index(case))
    y, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    y_t, idx_t = _max_pool_torch(x, case)
    np.testing.assert_array_equal(y, y_t.numpy())
    np.testing.assert_array_equal(idx, idx_t.numpy())
    np.testing.assert_array_equal(cm.max_pool(x, **case.kwargs), _max_pool_torch(x, case, False).numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_max_pool_gradient_matches_autograd(case, dtype):
    x, dy = case_data(case, dtype)
    xt = torch.from_numpy(x).requires_grad_(True)
    pool = getattr(F, f"max_pool{case.ndim}d")
    pool(xt, case.kernel_size, case.stride, case.padding, case.dilation, case.ceil_mode).backward(torch.from_numpy(dy))
    _, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    assert_close(cm.max_pool_backward(dy, idx, x.shape), xt.grad.numpy())
    S = cm.max_pool_matrix(x, **case.kwargs)
    assert_close((S.T @ dy.ravel()).reshape(x.shape), xt.grad.numpy())


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_max_unpool_matches_torch(case):
    x, dy = case_data(case)
    y, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    spatial = x.shape[2:]
    # the pooled values: windows sharing a switch carry the same value, so the write order cannot matter
    np.testing.assert_array_equal(cm.max_unpool(y, idx, spatial), _max_unpool_torch(y, idx, spatial).numpy())
    planes = idx.reshape(idx.shape[0] * idx.shape[1], -1) if idx.size else idx.reshape(0, 1)
    if all(np.unique(p).size == p.size for p in planes):
        # any other values only where no switch is shared (torch's CPU kernel writes those from several threads)
        np.testing.assert_array_equal(cm.max_unpool(dy, idx, spatial), _max_unpool_torch(dy, idx, spatial).numpy())


def test_max_unpool_output_size_forms_match_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 5, 5))
    y, idx = cm.max_pool(x, 2, return_indices=True)
    for size in ((5, 5), (1, 2, 5, 5), (4, 4)):
        expected = F.max_unpool2d(torch.from_numpy(y), torch.from_numpy(idx), 2, output_size=size)
        np.testing.assert_array_equal(cm.max_unpool(y, idx, size), expected.numpy())


# ---------------------------------------------------------------------------
# average pooling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", AVG_TORCH)
def test_avg_pool_and_gradient_match_torch(case, count_include_pad, dtype):
    x, dy = case_data(case, dtype)
    kwargs = {**case.avg_kwargs, "count_include_pad": count_include_pad}
    xt = torch.from_numpy(x).requires_grad_(True)
    y_t = _avg_pool_torch(xt, case, count_include_pad)
    y_t.backward(torch.from_numpy(dy))
    assert_close(cm.avg_pool(x, **kwargs), y_t.detach().numpy())
    assert_close(cm.avg_pool_backward(dy, x.shape, **kwargs), xt.grad.numpy())


def test_avg_pool3d_with_an_input_smaller_than_the_kernel():
    # torch's avg_pool3d refuses this (its avg_pool1d/2d accept the same situation); convmat
    # applies the 1-d/2-d rule in every rank, so the padded window is averaged as usual.
    x = np.random.default_rng(2).standard_normal((1, 1, 1, 4, 4))
    with pytest.raises(RuntimeError, match="smaller than kernel size"):
        F.avg_pool3d(torch.from_numpy(x), (2, 2, 2), 1, (1, 0, 0))
    assert_close(cm.avg_pool(x, (2, 2, 2), 1, (1, 0, 0)), avg_pool_reference(x, (2, 2, 2), 1, (1, 0, 0)))
    x2 = x[:, :, 0]  # the same situation in 2-d: torch agrees
    expected = F.avg_pool2d(torch.from_numpy(x2), (2, 2), 1, (1, 0)).numpy()
    assert_close(cm.avg_pool(x2, (2, 2), 1, (1, 0)), expected)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        ((1, 1, 6, 6), {"kernel_size": 3, "padding": 2}),  # padding over half the kernel
        ((1, 1, 4, 4), {"kernel_size": 7, "padding": 1}),  # kernel larger than the padded input
        ((1, 1, 4, 4), {"kernel_size": 3, "dilation": 2}),  # dilated kernel larger than the input
        ((1, 1, 4, 4), {"kernel_size": 2, "stride": 0}),
    ],
)
def test_geometries_torch_rejects_are_rejected(shape, kwargs):
    x = np.ones(shape)
    with pytest.raises(RuntimeError):
        F.max_pool2d(torch.from_numpy(x), **kwargs)
    with pytest.raises(ValueError, match=r"padding|kernel|stride"):
        cm.max_pool(x, **kwargs)


def test_window_of_padding_only_is_rejected_where_torch_gives_an_index_outside_the_plane():
    x = np.ones((1, 1, 1))
    y_t, idx_t = F.max_pool1d(torch.from_numpy(x), 2, 1, 1, 2, return_indices=True)
    assert y_t.item() == -np.inf
    assert idx_t.item() >= x.shape[-1]  # not a position of the input: no switch to select or to unpool
    with pytest.raises(ValueError, match="window reads only padding"):
        cm.max_pool(x, 2, stride=1, padding=1, dilation=2)
