"""A naive reference for padding, written from the definition of ``F.pad``, and the padding case grid.

Everything here computes one output element at a time and its own shapes and
rules: it shares no code with convmat. The semantics are PyTorch's (checked
against torch in ``test_pad_torch.py``):

* ``pad`` is flat, last dim first: ``(left, right, top, bottom, ...)``; position
  ``j`` of a dim padded by ``(low, high)`` is position ``i = j - low`` of the input,
  so a negative pad crops.
* ``"constant"`` writes the value outside the input; ``"replicate"`` copies the
  nearest edge element; ``"reflect"`` mirrors about the edge element (not
  repeated); ``"circular"`` crops first and wraps around what is left.
"""

from __future__ import annotations

import itertools

import numpy as np

MODES = ("constant", "reflect", "replicate", "circular")


# ---------------------------------------------------------------------------
# the reference: F.pad from its definition, one output element at a time
# ---------------------------------------------------------------------------


def _source(j, size, low, high, mode):
    """Input index copied to position ``j`` of a padded dim (None: the constant)."""
    i = j - low  # the position in the input's coordinates
    if mode == "constant":
        return i if 0 <= i < size else None
    if mode == "replicate":
        return min(max(i, 0), size - 1)
    if mode == "reflect":  # mirror about the edge element, which is not repeated
        if i < 0:
            return -i
        return 2 * (size - 1) - i if i >= size else i
    # circular: crop first, then wrap around what is left
    start = max(-low, 0)
    kept = size + min(low, 0) + min(high, 0)
    return start + (j - max(low, 0)) % kept


def reference_valid(shape, pads_flat, mode):
    """Whether PyTorch's ``F.pad`` accepts the call with a well-defined result (its rules, written out)."""
    if len(pads_flat) % 2 or len(pads_flat) > 2 * len(shape):
        return False
    k = len(pads_flat) // 2
    lead = len(shape) - k
    if mode != "constant" and not (1 <= k <= 3 and lead in (1, 2)):
        return False
    if mode in ("reflect", "replicate") and 0 in shape[lead - 1 :]:
        return False
    lengths = []
    for d in range(k):
        low, high = pads_flat[2 * (k - 1 - d)], pads_flat[2 * (k - 1 - d) + 1]
        size = shape[lead + d]
        kept = size + min(low, 0) + min(high, 0)
        length = size + low + high
        if length < 0 or (mode == "constant" and kept < 0):
            return False
        if mode == "reflect" and max(low, high) >= size:
            return False
        if mode == "circular" and max(low, high) > (size if length == 0 else kept):
            return False
        lengths.append(length)
    return not (mode in ("reflect", "replicate") and k and not any(lengths))


def pad_reference(x, pads_flat, mode="constant", value=0.0):
    """``F.pad(x, pads_flat, mode, value)``, element by element."""
    x = np.asarray(x)
    k = len(pads_flat) // 2
    lead = x.ndim - k
    pairs = [(pads_flat[2 * (k - 1 - d)], pads_flat[2 * (k - 1 - d) + 1]) for d in range(k)]
    spatial = x.shape[lead:]
    out_spatial = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pairs, strict=True))
    out = np.empty(x.shape[:lead] + out_spatial, dtype=x.dtype)
    for position in itertools.product(*(range(m) for m in out_spatial)):
        src = [_source(j, n, lo, hi, mode) for j, n, (lo, hi) in zip(position, spatial, pairs, strict=True)]
        out[(..., *position)] = value if None in src else x[(..., *src)]
    return out


def pad_adjoint_reference(g, input_spatial, pads_flat, mode="constant"):
    """Every padded position adds its gradient to the element it copied."""
    g = np.asarray(g)
    k = len(pads_flat) // 2
    m = len(input_spatial)
    pairs = [(pads_flat[2 * (k - 1 - d)], pads_flat[2 * (k - 1 - d) + 1]) for d in range(k)]
    pairs = [(0, 0)] * (m - k) + pairs
    out = np.zeros(g.shape[: g.ndim - m] + tuple(input_spatial), dtype=g.dtype)
    for position in itertools.product(*(range(s) for s in g.shape[g.ndim - m :])):
        src = [_source(j, n, lo, hi, mode) for j, n, (lo, hi) in zip(position, input_spatial, pairs, strict=True)]
        if None not in src:
            out[(..., *src)] += g[(..., *position)]
    return out


# ---------------------------------------------------------------------------
# the grid
# ---------------------------------------------------------------------------


def _make_grid(seed=0, per_mode=40):
    """Valid cases per mode: 1 to 3 padded dims, leading dims, odd sizes, negative pads (the edges pinned below)."""
    rng = np.random.default_rng(seed)
    cases = []
    for mode in MODES:
        found = 0
        while found < per_mode:
            k = int(rng.integers(1, 4))
            lead = int(rng.integers(0, 4)) if mode == "constant" else int(rng.integers(1, 3))
            low = 0 if mode == "constant" else 1
            shape = tuple(int(s) for s in rng.integers(1, 3, lead)) + tuple(int(s) for s in rng.integers(low, 6, k))
            pads_flat = tuple(int(v) for v in rng.integers(-3, 5, 2 * k))
            if reference_valid(shape, pads_flat, mode) and np.prod(shape) > 0:
                cases.append((shape, pads_flat, mode))
                found += 1
    return cases


HAND_PICKED = [
    ((1, 1, 5), (1, 1), "reflect"),
    ((2, 3, 7, 5), (3, 3, 3, 3), "reflect"),  # pads one smaller than the smallest dim
    ((1, 2, 4, 4), (4, 4, 4, 4), "circular"),  # wraps around exactly once
    ((1, 1, 3, 4, 5), (1, 2, -1, 2, 2, -2), "replicate"),
    ((2, 3), (1, -3), "constant"),  # a crop of the whole dim
    ((1, 1, 3), (-3, 0), "circular"),  # crops everything: an empty result
    ((2, 1, 4, 3), (-3, 0, 0, 0), "reflect"),  # one padded dim empty, the other not
    ((3, 5), (-2, 2), "circular"),  # crop one side, wrap around the rest on the other
    ((3, 5), (2, -2), "reflect"),  # the reflection reads an element the crop removed
    ((1, 1, 5), (-7, 3), "replicate"),  # the crop passes the end: the last element repeats
    ((2, 2, 2, 2, 2), (1, 1, 1, 1, 1, 1, 1, 1), "constant"),  # four padded dims
    ((4, 5), (), "constant"),
]
GRID = _make_grid() + HAND_PICKED
GRID_IDS = [f"{i:02d}-{mode}-x{'x'.join(map(str, s))}-p{'_'.join(map(str, p))}" for i, (s, p, mode) in enumerate(GRID)]
