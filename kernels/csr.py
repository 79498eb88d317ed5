"""Compressed sparse rows: group the rows of a ledger by account in one linear pass."""

from __future__ import annotations

import numpy as np

from ._jit import jit


@jit
def group_rows(codes, n_groups):
    """Group row numbers by code with a stable counting sort.

    Parameters
    ----------
    codes : ndarray of int32 or int64, shape (n_rows,)
        Group code of each row in ``[0, n_groups)``; a negative code leaves the row out
        (a null account: cash, or outside the bank).
    n_groups : int
        Number of groups.

    Returns
    -------
    offsets : ndarray of int64, shape (n_groups + 1,)
        Rows of group ``g`` are ``rows[offsets[g]:offsets[g + 1]]``.
    rows : ndarray of int64, shape (offsets[-1],)
        Row numbers, in their original order inside each group (the sort is stable).
    """
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        if c >= 0:
            offsets[c + 1] += 1
    for g in range(n_groups):
        offsets[g + 1] += offsets[g]
    cursor = offsets[:-1].copy()
    rows = np.empty(offsets[n_groups], dtype=np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        if c >= 0:
            rows[cursor[c]] = i
            cursor[c] += 1
    return offsets, rows
