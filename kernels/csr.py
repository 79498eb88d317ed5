"""Compressed sparse rows: group the rows of a ledger by account with a counting sort."""

from __future__ import annotations

import numba
import numpy as np

from ._jit import parallel_jit


@parallel_jit
def _group_rows_into(codes, n_groups, n_parts, offsets, rows):
    n = codes.shape[0]
    step = (n + n_parts - 1) // n_parts
    counts = np.zeros((n_parts, n_groups), dtype=np.int64)
    for p in numba.prange(n_parts):
        for i in range(p * step, min(n, (p + 1) * step)):
            c = codes[i]
            if c >= 0:
                counts[p, c] += 1
    # Fixed-order prefix sums: part p's rows of group g follow those of parts 0..p-1, so
    # the result is the stable order whatever the number of parts or threads.
    total = 0
    for g in range(n_groups):
        offsets[g] = total
        for p in range(n_parts):
            here = counts[p, g]
            counts[p, g] = total
            total += here
    offsets[n_groups] = total
    for p in numba.prange(n_parts):
        for i in range(p * step, min(n, (p + 1) * step)):
            c = codes[i]
            if c >= 0:
                rows[counts[p, c]] = i
                counts[p, c] += 1


def group_rows(codes: np.ndarray, n_groups: int, n_parts: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Group row numbers by code with a stable, parallel counting sort.

    Parameters
    ----------
    codes : ndarray of int32 or int64, shape (n_rows,)
        Group code of each row in ``[0, n_groups)``; a negative code leaves the row out
        (a null account: cash, or outside the bank).
    n_groups : int
        Number of groups.
    n_parts : int, optional
        Row ranges counted in parallel (default: Numba's thread count). The result does not
        depend on it.

    Returns
    -------
    offsets : ndarray of int64, shape (n_groups + 1,)
        Rows of group ``g`` are ``rows[offsets[g]:offsets[g + 1]]``.
    rows : ndarray of int32 (int64 past 2**31 - 1 rows), shape (offsets[-1],)
        Row numbers, in their original order inside each group (the sort is stable).
    """
    codes = np.ascontiguousarray(codes)
    if codes.size and (codes.max() >= n_groups):
        raise ValueError(f"codes must be below n_groups ({n_groups})")
    n_parts = max(1, n_parts or numba.get_num_threads())
    n_kept = int(np.count_nonzero(codes >= 0))
    offsets = np.empty(n_groups + 1, dtype=np.int64)
    rows = np.empty(n_kept, dtype=np.int32 if codes.shape[0] < 2**31 else np.int64)
    _group_rows_into(codes, n_groups, n_parts, offsets, rows)
    return offsets, rows
