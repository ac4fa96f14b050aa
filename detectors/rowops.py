"""Fast row-wise building blocks over ``(n_windows, k)`` matrices with short rows.

Windows hold ~64 beats, so the per-row setup cost of NumPy's ``axis=1`` reductions and of
ufuncs over column slices (``a[:, 1:]``) dominates. These helpers keep every loop
contiguous: row sums and counts run through ``einsum`` (one tight loop per row), and
"this interval with the next one" is computed on the flat buffer in one 1-D pass.
Results per row depend only on that row (batch independence).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BLOCK_ELEMENTS",
    "count_per_row",
    "next_in_row",
    "row_blocks",
    "sum_per_row",
    "with_next",
]

BLOCK_ELEMENTS = 1 << 18
"""Matrix elements per block of rows (2 MiB of float64): a block's temporaries stay in the
CPU cache, which makes a large batch ~1.5x faster than one pass over the whole matrix.
Rows are independent, so the block size never changes a result."""

T = TypeVar("T", bound=np.generic)


def count_per_row(mask: NDArray[np.bool_]) -> NDArray[np.int32]:
    """Number of True values in each row of a 2-D boolean matrix (int32).

    Examples
    --------
    >>> count_per_row(np.array([[True, False, True], [False, False, False]])).tolist()
    [2, 0]
    """
    counts: NDArray[np.int32] = np.einsum("ij->i", mask.view(np.uint8), dtype=np.int32)
    return counts


def sum_per_row(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sum of each row of a 2-D float matrix.

    Examples
    --------
    >>> sum_per_row(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [3.0, 7.0]
    """
    sums: NDArray[np.float64] = np.einsum("ij->i", x)
    return sums


def with_next(a: NDArray[T], op: np.ufunc, last: object) -> NDArray[T]:
    """``op(a[:, j + 1], a[:, j])`` for every column, same shape as ``a``.

    The last column, which has no next value in its row, is set to ``last``. Keeping the
    full width (rather than ``k - 1`` columns) keeps this and every later step contiguous.

    Examples
    --------
    >>> with_next(np.array([[1.0, 4.0, 9.0], [2.0, 2.0, 5.0]]), np.subtract, 0.0).tolist()
    [[3.0, 5.0, 0.0], [0.0, 3.0, 0.0]]
    """
    a = np.ascontiguousarray(a)
    out = np.empty_like(a)
    if a.size:
        flat, flat_out = a.reshape(-1), out.reshape(-1)
        op(flat[1:], flat[:-1], out=flat_out[:-1])
        out[:, -1] = last
    return out


def next_in_row(a: NDArray[T], last: object) -> NDArray[T]:
    """``a[:, j + 1]`` in column j, same shape as ``a``; ``last`` in the last column.

    Examples
    --------
    >>> next_in_row(np.array([[1, 2, 3], [4, 5, 6]]), 0).tolist()
    [[2, 3, 0], [5, 6, 0]]
    """
    a = np.ascontiguousarray(a)
    out = np.empty_like(a)
    if a.size:
        out.reshape(-1)[:-1] = a.reshape(-1)[1:]
        out[:, -1] = last
    return out


def row_blocks(n_rows: int, row_length: int) -> Iterator[slice]:
    """Slices of consecutive rows holding about :data:`BLOCK_ELEMENTS` elements each.

    Examples
    --------
    >>> [(s.start, s.stop) for s in row_blocks(10, 1 << 17)]
    [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    """
    rows = max(BLOCK_ELEMENTS // max(row_length, 1), 1)
    for start in range(0, n_rows, rows):
        yield slice(start, min(start + rows, n_rows))
