"""Splitting and batching a labelled data set: seeded, stratified, no dependencies beyond numpy."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["minibatches", "stratified_split"]


def stratified_split(labels: ArrayLike, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a seeded train/test split that keeps each class's share in both parts.

    From each class, ``round(test_fraction * count)`` randomly chosen samples
    go to the test part, the rest to the training part.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    test_fraction : float
        In ``(0, 1)``.
    seed : int

    Returns
    -------
    train, test : ndarray of int64
        Sorted indices into ``labels``; together they cover every index once.

    Examples
    --------
    >>> from convmat.nn.data import stratified_split
    >>> train, test = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], 0.5, seed=0)
    >>> len(train), len(test), sorted(set(range(8)) - set(train)) == list(test)
    (4, 4, True)
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-d array of integer labels, got shape {y.shape} and dtype {y.dtype}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test.append(members[: round(test_fraction * members.size)])
    test_idx = np.sort(np.concatenate(test)).astype(np.int64)
    train_idx = np.setdiff1d(np.arange(y.size, dtype=np.int64), test_idx)
    return train_idx, test_idx


def minibatches(n: int, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """Index arrays of consecutive batches over ``range(n)``, shuffled by ``rng`` if given.

    The last batch is smaller when ``batch_size`` does not divide ``n``.

    Examples
    --------
    >>> from convmat.nn.data import minibatches
    >>> [b.tolist() for b in minibatches(5, 2)]
    [[0, 1], [2, 3], [4]]
    >>> sorted(np.concatenate(list(minibatches(5, 2, np.random.default_rng(0)))).tolist())
    [0, 1, 2, 3, 4]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = np.arange(n) if rng is None else rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
