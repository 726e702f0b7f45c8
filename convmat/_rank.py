"""The rank-specific variants of the generic operations (``conv2d``, ``max_pool3d``, …), made by one factory.

A variant is its generic function with a check on the rank: ``x`` must have
``n`` spatial dims, either as a batch ``(N, C, *spatial)`` or, as PyTorch's
``torch.nn.functional`` counterpart also accepts, as one sample without the
batch axis, ``(C, *spatial)``. An unbatched ``x`` gets its batch axis, the
generic function runs, and the axis is dropped again from the result (from
each array of a tuple result, such as the switches of ``return_indices``).
A dask array goes through the same steps as it is, so the generic function
hands it to :mod:`convmat.dask`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._arrays import as_array
from ._dask_dispatch import is_dask_array
from .geometry import check_channels

__all__ = ["pool_examples", "rank_specific", "spatial_names"]

_SPATIAL = ("L",), ("H", "W"), ("D", "H", "W")


def spatial_names(n: int, prefix: str = "") -> str:
    """The usual names of ``n`` spatial dims, comma-separated.

    Examples
    --------
    >>> spatial_names(3), spatial_names(2, prefix="k")
    ('D, H, W', 'kH, kW')
    """
    return ", ".join(prefix + d for d in _SPATIAL[n - 1])


def _without_batch_axis(result: Any) -> Any:
    """``result[0]``, or that of every array of a tuple result."""
    if isinstance(result, tuple):
        return tuple(part[0] for part in result)
    return result[0]


def rank_specific(
    function: Callable[..., Any],
    n: int,
    *,
    what: str,
    examples: Sequence[tuple[str, str]],
    weight_layout: str | None = None,
    allow_complex: bool = True,
    returns: str = "ndarray",
) -> Callable[..., Any]:
    """Make ``{function}{n}d``: ``function`` for an ``x`` of ``n`` spatial dims, batched or not.

    Parameters
    ----------
    function : callable
        The generic operation. Its first parameter is ``x``, read as
        ``(N, C, *spatial)``.
    n : int
        Number of spatial dims, 1 to 3.
    what : str
        What the operation is, for the docstring's summary ("max pooling").
    examples : sequence of (str, str)
        Doctest lines ``(source, expected output)`` for the docstring's Examples
        section (an empty output for a statement); ``np`` and ``cm``
        (``convmat``) are imported before them.
    weight_layout : str, optional
        The layout of a ``weight`` parameter whose rank (``n + 2``) is checked
        first, written with ``*kernel`` (``"(C_out, C_in // groups, *kernel)"``).
    allow_complex : bool
        Whether ``x`` may be complex (else ``TypeError``, as ``function`` raises).
    returns : str
        Type of the result, for the docstring.

    Returns
    -------
    callable
        A function with ``function``'s signature, the name ``{function}{n}d``
        and a numpydoc docstring.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> pool1d = rank_specific(cm.max_pool, 1, what="max pooling", examples=[], allow_complex=False)
    >>> pool1d.__name__, pool1d(np.ones((2, 3, 4)), 2).shape, pool1d(np.ones((3, 4)), 2).shape
    ('max_pool1d', (2, 3, 2), (3, 2))
    """
    generic = function.__name__
    name = f"{generic}{n}d"
    spatial = spatial_names(n)
    signature = inspect.signature(function)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        arguments = bound.arguments
        if weight_layout is not None:
            w = arguments["weight"]
            if not is_dask_array(w):  # a dask array keeps its chunks: the generic function hands it to convmat.dask
                w = arguments["weight"] = as_array(w, "weight")
            if w.ndim != n + 2:
                raise ValueError(
                    f"{name} needs weight of shape {weight_layout} with {n} spatial dim(s), got weight of shape "
                    f"{w.shape}"
                )
        x = arguments["x"]
        if not is_dask_array(x):
            x = as_array(x, "x", allow_complex=allow_complex)
        if x.ndim == n + 2:
            arguments["x"] = x
            return function(*bound.args, **bound.kwargs)
        if x.ndim != n + 1:
            raise ValueError(
                f"{name} needs x of shape (N, C, {spatial}) or, unbatched, (C, {spatial}), got x of shape {x.shape}"
            )
        check_channels(x.shape, "x", axis=0)
        arguments["x"] = x[np.newaxis]
        return _without_batch_axis(function(*bound.args, **bound.kwargs))

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__module__ = function.__module__  # where it is exported, and where doctest looks for its examples
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    weight_doc = ""
    if weight_layout is not None:
        layout = weight_layout.replace("*kernel", spatial_names(n, prefix="k"))
        weight_doc = f"""    weight : array_like, shape {layout}
        With {n} spatial dim(s).
"""
    lines = "\n".join(f"    >>> {source}" + (f"\n    {expected}" if expected else "") for source, expected in examples)
    checked = "``x`` and ``weight`` have" if weight_layout is not None else "``x`` has"
    others = ", ".join(p for p in signature.parameters if p not in ("x", "weight"))
    wrapper.__doc__ = f"""{n}-d {what}: :func:`{generic}` for x of shape (N, C, {spatial}) or unbatched (C, {spatial}).

    Same arguments and result as :func:`{generic}`, checked to have {n} spatial
    dim(s). Like PyTorch's ``torch.nn.functional.{name}``, it also takes one
    sample without the batch axis: ``{name}(x, ...)`` is then
    ``{name}(x[None], ...)`` with the batch axis dropped from the result.

    Parameters
    ----------
    x : array_like, shape (N, C, {spatial}) or (C, {spatial})
        A batch, or one sample (unbatched).
{weight_doc}    {others}
        As in :func:`{generic}`.

    Returns
    -------
    {returns}
        As :func:`{generic}`; without the batch axis for an unbatched ``x``.

    Raises
    ------
    ValueError
        Unless {checked} {n} spatial dim(s) (and as :func:`{generic}` raises).

    Examples
    --------
    >>> import numpy as np, convmat as cm
{lines}
    """
    return wrapper


def pool_examples(
    name: str,
    n: int,
    *,
    size: int,
    args: str,
    out: int,
    unbatched_args: str | None = None,
    unbatched_out: int | None = None,
    with_indices: bool = False,
) -> list[tuple[str, str]]:
    """Doctest lines of a rank-specific pooling ``name`` (``max_pool2d``, …): a batched call and an unbatched one.

    The input is ``np.arange`` of ``size`` per spatial dim; ``args`` follow the
    input in the call (``"2"``, ``"2, 2"``) and give ``out`` per spatial dim; the
    unbatched call takes ``unbatched_args`` (default ``args``) and, with
    ``with_indices``, returns the switches too.

    Examples
    --------
    >>> pool_examples("max_pool1d", 1, size=4, args="2", out=2)[1]
    ('cm.max_pool1d(x, 2).shape', '(1, 1, 2)')
    """
    unbatched_args = args if unbatched_args is None else unbatched_args
    unbatched_out = out if unbatched_out is None else unbatched_out
    comment = f"# unbatched (C, {spatial_names(n)})"
    examples = [
        (f"x = np.arange({size**n}.0).reshape({', '.join(['1', '1'] + [str(size)] * n)})", ""),
        (f"cm.{name}(x, {args}).shape", str((1, 1) + (out,) * n)),
    ]
    if with_indices:
        examples += [
            (f"y, idx = cm.{name}(x[0], {unbatched_args}, return_indices=True)  {comment}", ""),
            ("y.shape, idx.shape", str(((1,) + (unbatched_out,) * n,) * 2)),
        ]
    else:
        examples.append((f"cm.{name}(x[0], {unbatched_args}).shape  {comment}", str((1,) + (unbatched_out,) * n)))
    return examples
