"""Selected-row windows and per-account group mixes: generic kernels of the human-trafficking
rule pack.

Red flags (FATF/APG "Financial Flows from Human Trafficking", 2018; FinCEN FIN-2014-A008;
FinCEN FIN-2020-A008): escort-advertisement payments to several sites, lodging in several
cities, bursts of transport purchases, late-night cash in several cities, prepaid-card
loads, wages of several workers pooled from several payroll senders; and an account's mix
of merchant categories. The wrappers choose the rows (``selected``), the key (site, city,
payroll sender, ...) and the second quantity (``part``); these kernels count.

Selected windows
----------------
For account ``a`` let ``L`` be its rows ``rows[offsets[a]:offsets[a + 1]]`` (time-ordered,
ties in ledger order) with ``selected[row]`` true, in that order. Anchored at ``L[i]`` (time
``t``), the window is every ``L[j]`` with ``j >= i`` and ``ts < t + window_us`` (half-open:
a row at exactly ``t + window_us`` is outside). Its ``count`` is the number of rows, its
``n_keys`` the number of distinct values ``key[row] >= 0`` (a negative key is unknown and
not counted, but the row still counts), ``total`` the sum of ``amount`` and ``part_total``
the sum of ``part``. The window *fires* when ``count >= min_count`` and
``n_keys >= min_keys`` and ``total >= min_total``: an instance is emitted with
``start = t``, ``end`` = the time of the window's last row, the four values and the
window's rows (in order) as evidence, of which only the first ``evidence_cap`` are written.
The scan is greedy and non-overlapping: after a firing window the next anchor is the first
row of ``L`` after that window; otherwise it is ``L[i + 1]``.

The window slides with two pointers; keys are remapped once per account to dense local ids
(one sort of the account's selected keys), so distinct keys are kept with a count array in
O(1) per row: O(n log n) per account of ``n`` selected rows, with memory O(n).

Group mixes
-----------
:func:`group_counts` and :func:`group_sums` count (sum the amount of) each account's rows
per group code in ``[0, n_groups)``; other codes (-1: none) are ignored.

Money is int64 minor units, summed exactly; every kernel is parallel over accounts and each
account writes only its own slots, so results do not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit, parallel_jit


@jit
def _search(values, n, value):
    """Position of ``value`` in the sorted, distinct ``values[:n]`` (it must be there)."""
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@jit
def _dense_ids(keys):
    """Dense local ids ``0..m-1`` of the non-negative ``keys`` (in value order; -1 for a
    negative key) and ``m``, the number of distinct non-negative keys."""
    n = keys.shape[0]
    ordered = np.sort(keys)
    distinct = np.empty(n, dtype=np.int64)
    m = 0
    for v in ordered:
        if v >= 0 and (m == 0 or v != distinct[m - 1]):
            distinct[m] = v
            m += 1
    ids = np.empty(n, dtype=np.int64)
    for k in range(n):
        v = keys[k]
        ids[k] = -1 if v < 0 else _search(distinct, m, v)
    return ids, m


@jit
def _windows(lo, hi, rows, ts, selected, key, amount, part, window_us, min_count, min_keys, min_total, cap, write,
             inst_pos, ev_pos, out_start, out_end, out_count, out_keys, out_total, out_part, ev_rows):
    """Scan one account's rows ``rows[lo:hi]``. Returns (instances, evidence rows).

    With ``write``, instance ``k`` of the account goes to ``out_*[inst_pos + k]`` and its
    evidence rows from ``ev_rows[ev_pos + ...]``.
    """
    n = 0
    for p in range(lo, hi):
        if selected[rows[p]]:
            n += 1
    if n == 0 or n < min_count:
        return 0, 0
    chosen = np.empty(n, dtype=np.int64)
    keys = np.empty(n, dtype=np.int64)
    k = 0
    for p in range(lo, hi):
        r = rows[p]
        if selected[r]:
            chosen[k] = r
            keys[k] = key[r]
            k += 1
    local, n_distinct = _dense_ids(keys)
    seen = np.zeros(n_distinct, dtype=np.int64)
    n_keys = 0
    total = 0
    part_total = 0
    n_inst = 0
    n_ev = 0
    i = 0
    j = 0  # the window is chosen[i:j]
    while i < n:
        t = ts[chosen[i]]
        while j < n and ts[chosen[j]] - t < window_us:
            r = chosen[j]
            c = local[j]
            if c >= 0:
                seen[c] += 1
                if seen[c] == 1:
                    n_keys += 1
            total += amount[r]
            part_total += part[r]
            j += 1
        count = j - i
        fired = count >= min_count and n_keys >= min_keys and total >= min_total
        if fired:
            listed = min(count, cap)
            if write:
                at = inst_pos + n_inst
                out_start[at] = t
                out_end[at] = ts[chosen[j - 1]]
                out_count[at] = count
                out_keys[at] = n_keys
                out_total[at] = total
                out_part[at] = part_total
                for s in range(listed):
                    ev_rows[ev_pos + n_ev + s] = chosen[i + s]
            n_inst += 1
            n_ev += listed
        following = j if fired else i + 1
        while i < following:  # drop the rows before the next anchor from the window
            r = chosen[i]
            c = local[i]
            if c >= 0:
                seen[c] -= 1
                if seen[c] == 0:
                    n_keys -= 1
            total -= amount[r]
            part_total -= part[r]
            i += 1
    return n_inst, n_ev


@parallel_jit
def selected_windows_count(offsets, rows, ts, selected, key, amount, part, window_us, min_count, min_keys, min_total,
                           evidence_cap):
    """Pass 1: instances and evidence rows per account (definition in the module docstring).

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_accounts + 1,)
    rows : ndarray of int32 or int64
        CSR view: the rows of account ``a`` are ``rows[offsets[a]:offsets[a + 1]]``,
        time-ordered (ties in ledger order).
    ts : ndarray of int64, shape (n_txn,)
        Microseconds since the epoch.
    selected : ndarray of bool, shape (n_txn,)
    key : ndarray of int64, shape (n_txn,)
        Key of the distinct count (any non-negative integer; negative = none, not counted).
    amount, part : ndarray of int64, shape (n_txn,)
        Summed into ``total`` and ``part_total``.
    window_us : int, >= 1
    min_count : int, >= 1
    min_keys, min_total : int, >= 0
    evidence_cap : int, >= 1

    Returns
    -------
    n_instances, n_evidence : ndarray of int64, shape (n_accounts,)
        Instances of each account and their written evidence rows (``min(count, cap)`` each).
    """
    n_accounts = offsets.shape[0] - 1
    n_instances = np.zeros(n_accounts, dtype=np.int64)
    n_evidence = np.zeros(n_accounts, dtype=np.int64)
    i64 = np.zeros(0, dtype=np.int64)
    for a in numba.prange(n_accounts):
        n_i, n_e = _windows(offsets[a], offsets[a + 1], rows, ts, selected, key, amount, part, window_us, min_count,
                            min_keys, min_total, evidence_cap, False, 0, 0, i64, i64, i64, i64, i64, i64, i64)
        n_instances[a] = n_i
        n_evidence[a] = n_e
    return n_instances, n_evidence


@parallel_jit
def selected_windows_fill(offsets, rows, ts, selected, key, amount, part, window_us, min_count, min_keys, min_total,
                          evidence_cap, inst_offsets, ev_offsets):
    """Pass 2: write every instance at the position pass 1 reserved for its account.

    ``inst_offsets`` and ``ev_offsets`` (int64, shape (n_accounts + 1,)) are the prefix sums
    of pass 1's counts, so the output order (account, then time) does not depend on the
    thread count.

    Returns
    -------
    account : ndarray of int32, shape (n_instances,)
    start, end, count, n_keys, total, part_total : ndarray of int64, shape (n_instances,)
    evidence_rows : ndarray of int64, shape (n_evidence,)
        Per instance, the first ``evidence_cap`` rows of its window, in time order.
    """
    n_accounts = offsets.shape[0] - 1
    n = inst_offsets[n_accounts]
    account = np.empty(n, dtype=np.int32)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    count = np.empty(n, dtype=np.int64)
    n_keys = np.empty(n, dtype=np.int64)
    total = np.empty(n, dtype=np.int64)
    part_total = np.empty(n, dtype=np.int64)
    ev_rows = np.empty(ev_offsets[n_accounts], dtype=np.int64)
    for a in numba.prange(n_accounts):
        if inst_offsets[a + 1] == inst_offsets[a]:
            continue
        _windows(offsets[a], offsets[a + 1], rows, ts, selected, key, amount, part, window_us, min_count, min_keys,
                 min_total, evidence_cap, True, inst_offsets[a], ev_offsets[a], start, end, count, n_keys, total,
                 part_total, ev_rows)
        for k in range(inst_offsets[a], inst_offsets[a + 1]):
            account[k] = a
    return account, start, end, count, n_keys, total, part_total, ev_rows


@parallel_jit
def group_counts(offsets, rows, group, n_groups):
    """Rows of each account per group code.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_accounts + 1,)
    rows : ndarray of int32 or int64
        CSR view (any order within an account).
    group : ndarray of int8, int32 or int64, shape (n_txn,)
        Group code of each row; codes outside ``[0, n_groups)`` (-1: none) are ignored.
    n_groups : int

    Returns
    -------
    counts : ndarray of int64, shape (n_accounts, n_groups)
    """
    n_accounts = offsets.shape[0] - 1
    out = np.zeros((n_accounts, n_groups), dtype=np.int64)
    for a in numba.prange(n_accounts):
        for p in range(offsets[a], offsets[a + 1]):
            g = group[rows[p]]
            if g >= 0 and g < n_groups:
                out[a, g] += 1
    return out


@parallel_jit
def group_sums(offsets, rows, group, amount, n_groups):
    """Sum of ``amount`` (int64 minor units) of each account's rows per group code; as
    :func:`group_counts` otherwise.

    Returns
    -------
    sums : ndarray of int64, shape (n_accounts, n_groups)
    """
    n_accounts = offsets.shape[0] - 1
    out = np.zeros((n_accounts, n_groups), dtype=np.int64)
    for a in numba.prange(n_accounts):
        for p in range(offsets[a], offsets[a + 1]):
            r = rows[p]
            g = group[r]
            if g >= 0 and g < n_groups:
                out[a, g] += amount[r]
    return out
