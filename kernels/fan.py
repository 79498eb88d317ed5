"""Fan-in, fan-out and funnel accounts: many counterparties or many places meet in one account.

Red flags: FinCEN FIN-2014-A008 and FIN-2020-A008 (many apparently unrelated senders paying one
beneficiary); FinCEN FIN-2014-A005, FIN-2014-A008, FIN-2020-A008 (funnel account: cash deposits
at many different places, withdrawn elsewhere soon after).

Every kernel works on a *compact* CSR view built by the wrapper: per account, only the rows
that take part (incoming rows with a known sender, cash deposits with a known location, ...),
time-ordered by (timestamp, txn_id). Distinct counts use per-account local codes (the
account's counterparty or location codes sorted once, then a count array of that size), so
the sliding windows cost O(rows) per account after one O(rows log rows) sort, and scratch
memory is O(rows of the account) whatever the size of the ledger.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit, parallel_jit

_NONE = np.iinfo(np.int64).max
"""Segment-tree value of a location with no qualifying withdrawal."""


@parallel_jit
def local_codes(offsets, codes):
    """Per-account local codes: each account's codes renumbered ``0 .. n_distinct - 1`` in
    sorted order.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_accounts + 1,)
        Compact CSR offsets.
    codes : ndarray of int64, shape (offsets[-1],)
        A non-negative code (counterparty account) per CSR position.

    Returns
    -------
    local : ndarray of int64, shape (offsets[-1],)
        ``local[k]`` is the rank of ``codes[k]`` among the distinct codes of its account.
    n_distinct : ndarray of int64, shape (n_accounts,)
    """
    n_accounts = offsets.shape[0] - 1
    local = np.empty(codes.shape[0], dtype=np.int64)
    n_distinct = np.zeros(n_accounts, dtype=np.int64)
    for a in numba.prange(n_accounts):
        lo = offsets[a]
        hi = offsets[a + 1]
        if hi == lo:
            continue
        values = np.unique(codes[lo:hi])
        n_distinct[a] = values.shape[0]
        local[lo:hi] = np.searchsorted(values, codes[lo:hi])
    return local, n_distinct


@jit
def _fan_max(lo, hi, rows, local, n_distinct, ts, window_us):
    """The largest number of distinct counterparties in any window ``[t, t + window)``
    anchored at a row of ``rows[lo:hi]`` (every anchor, not only greedy ones)."""
    counts = np.zeros(n_distinct, dtype=np.int64)
    distinct = 0
    best = 0
    q = lo
    for p in range(lo, hi):
        limit = ts[rows[p]] + window_us
        while q < hi and ts[rows[q]] < limit:
            c = local[q]
            if counts[c] == 0:
                distinct += 1
            counts[c] += 1
            q += 1
        if distinct > best:
            best = distinct
        c = local[p]
        counts[c] -= 1
        if counts[c] == 0:
            distinct -= 1
    return best


@jit
def _fan_scan(lo, hi, rows, local, n_distinct, ts, amount, window_us, min_count, cap, write, inst_pos, ev_pos,
              out_start, out_end, out_distinct, out_total, out_top, out_rows, ev_rows):
    """Scan one account's compact rows ``rows[lo:hi]`` (time-ordered, all with a known
    counterparty). Returns (instances, evidence rows).

    Windows are half-open, ``[t, t + window)``, anchored at a row ``t``; a window holds the
    rows at positions >= the anchor with a time before ``t + window``. When its distinct
    counterparties number at least ``min_count`` an instance fires and the scan resumes after
    its last row, so the instances of one account share no row.
    """
    counts = np.zeros(n_distinct, dtype=np.int64)
    sums = np.zeros(n_distinct if write else 0, dtype=np.int64)
    n_inst = 0
    n_ev = 0
    distinct = 0
    p = lo
    q = lo
    while p < hi:
        limit = ts[rows[p]] + window_us
        while q < hi and ts[rows[q]] < limit:
            c = local[q]
            if counts[c] == 0:
                distinct += 1
            counts[c] += 1
            q += 1
        if distinct >= min_count:
            n_rows = q - p
            if write:
                k = inst_pos + n_inst
                out_start[k] = ts[rows[p]]
                out_end[k] = ts[rows[q - 1]]
                out_distinct[k] = distinct
                out_rows[k] = n_rows
                total = 0
                for s in range(p, q):
                    sums[local[s]] += amount[rows[s]]
                    total += amount[rows[s]]
                top = 0
                for s in range(p, q):
                    if sums[local[s]] > top:
                        top = sums[local[s]]
                for s in range(p, q):
                    sums[local[s]] = 0
                out_total[k] = total
                out_top[k] = top
                for j in range(min(n_rows, cap)):
                    ev_rows[ev_pos + n_ev + j] = rows[p + j]
            n_inst += 1
            n_ev += min(n_rows, cap)
            for s in range(p, q):
                counts[local[s]] = 0
            distinct = 0
            p = q
        else:
            c = local[p]
            counts[c] -= 1
            if counts[c] == 0:
                distinct -= 1
            p += 1
    return n_inst, n_ev


@parallel_jit
def fan_count(offsets, rows, local, n_distinct, ts, amount, window_us, min_count, cap):
    """Pass 1: instances and evidence rows per account, and the fan feature.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_accounts + 1,)
    rows : ndarray of int32 or int64, shape (offsets[-1],)
        Compact CSR view of the side scanned (incoming rows with a known sender for fan-in,
        outgoing rows with a known receiver for fan-out), time-ordered within each account.
    local : ndarray of int64, shape (offsets[-1],)
        Local counterparty code per CSR position (:func:`local_codes`).
    n_distinct : ndarray of int64, shape (n_accounts,)
        Number of local codes of each account.
    ts, amount : ndarray of int64, shape (n_txn,)
        Microseconds since the epoch (UTC); amounts in minor units.
    window_us, min_count, cap : int

    Returns
    -------
    n_instances, n_evidence : ndarray of int64, shape (n_accounts,)
    max_distinct : ndarray of int64, shape (n_accounts,)
        Largest number of distinct counterparties in any anchored window (0 without rows).
    """
    n_accounts = offsets.shape[0] - 1
    n_instances = np.zeros(n_accounts, dtype=np.int64)
    n_evidence = np.zeros(n_accounts, dtype=np.int64)
    max_distinct = np.zeros(n_accounts, dtype=np.int64)
    i64 = np.zeros(0, dtype=np.int64)
    for a in numba.prange(n_accounts):
        lo = offsets[a]
        hi = offsets[a + 1]
        if hi == lo:
            continue
        max_distinct[a] = _fan_max(lo, hi, rows, local, n_distinct[a], ts, window_us)
        if max_distinct[a] < min_count:
            continue
        n_i, n_e = _fan_scan(lo, hi, rows, local, n_distinct[a], ts, amount, window_us, min_count, cap, False, 0,
                             0, i64, i64, i64, i64, i64, i64, i64)
        n_instances[a] = n_i
        n_evidence[a] = n_e
    return n_instances, n_evidence, max_distinct


@parallel_jit
def fan_fill(offsets, rows, local, n_distinct, ts, amount, window_us, min_count, cap, inst_offsets, ev_offsets):
    """Pass 2: write every instance at the position pass 1 reserved for its account.

    ``inst_offsets`` and ``ev_offsets`` (shape (n_accounts + 1,)) are the prefix sums of
    pass 1, so the output order (account, then time) does not depend on the thread count.

    Returns
    -------
    account, start, end, distinct, total, top, n_rows : ndarrays of int64, shape (n_instances,)
        ``top`` is the largest sum paid by (to) one counterparty in the window; ``n_rows``
        the window's rows (the uncapped evidence count).
    evidence_rows : ndarray of int64, shape (n_evidence,)
        The first ``cap`` rows of each instance, in time order.
    """
    n_accounts = offsets.shape[0] - 1
    n = inst_offsets[n_accounts]
    account = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    distinct = np.empty(n, dtype=np.int64)
    total = np.empty(n, dtype=np.int64)
    top = np.empty(n, dtype=np.int64)
    n_rows = np.empty(n, dtype=np.int64)
    ev_rows = np.empty(ev_offsets[n_accounts], dtype=np.int64)
    for a in numba.prange(n_accounts):
        if inst_offsets[a + 1] == inst_offsets[a]:
            continue
        _fan_scan(offsets[a], offsets[a + 1], rows, local, n_distinct[a], ts, amount, window_us, min_count, cap,
                  True, inst_offsets[a], ev_offsets[a], start, end, distinct, total, top, n_rows, ev_rows)
        for k in range(inst_offsets[a], inst_offsets[a + 1]):
            account[k] = a
    return account, start, end, distinct, total, top, n_rows, ev_rows


@jit
def _tree_set(tree, size, leaf, value):
    """Set a leaf of a min segment tree (``tree[1]`` is the minimum of all leaves)."""
    i = size + leaf
    tree[i] = value
    i //= 2
    while i >= 1:
        left = tree[2 * i]
        right = tree[2 * i + 1]
        tree[i] = left if left < right else right
        i //= 2


@jit
def _tree_refresh(tree, size, place, counts, head, w_start, w_list, w_hi):
    """Leaf ``place``: its first withdrawal in the lag range ``[w_lo, w_hi)`` (``head``
    already skips those before ``w_lo``) when the place is not a deposit place of the window;
    otherwise none."""
    value = _NONE
    h = head[place]
    if counts[place] == 0 and h < w_start[place + 1] and w_list[h] < w_hi:
        value = w_list[h]
    _tree_set(tree, size, place, value)


@jit
def _funnel_scan(d_lo, d_hi, dep_rows, w_lo_acc, w_hi_acc, wd_rows, ts, amount, location, window_us, lag_us,
                 min_locations, cap, write, inst_pos, ev_pos, out_start, out_end, out_locations, out_deposited,
                 out_deposits, out_withdrawn, out_lag, ev_rows):
    """Scan one account's deposits ``dep_rows[d_lo:d_hi]`` and withdrawals
    ``wd_rows[w_lo_acc:w_hi_acc]`` (both time-ordered, all with a known location). Returns
    (instances, evidence rows).

    A window ``[t, t + window)`` is anchored at a deposit. When its deposits come from at
    least ``min_locations`` distinct places, the first withdrawal at a time ``w`` with
    ``d_last <= w < d_last + lag`` (``d_last`` the window's last deposit) whose place is not
    one of the window's deposit places completes an instance; the scan then resumes after
    the window's last deposit. Otherwise the anchor moves to the next deposit.

    The first qualifying withdrawal is the minimum of a segment tree over the account's
    places: a place's leaf holds its first withdrawal inside the lag range when the window
    has no deposit there. Both ends of the lag range only move forward (``d_last`` never
    decreases), so the work is O((deposits + withdrawals) log places).
    """
    n_dep = d_hi - d_lo
    n_wd = w_hi_acc - w_lo_acc
    if n_dep < min_locations or n_wd == 0:
        return 0, 0
    # local place codes over the account's deposits and withdrawals
    codes = np.empty(n_dep + n_wd, dtype=np.int64)
    for j in range(n_dep):
        codes[j] = location[dep_rows[d_lo + j]]
    for j in range(n_wd):
        codes[n_dep + j] = location[wd_rows[w_lo_acc + j]]
    places = np.unique(codes)
    n_places = places.shape[0]
    dep_place = np.searchsorted(places, codes[:n_dep])
    wd_place = np.searchsorted(places, codes[n_dep:])
    # withdrawals grouped by place, in time order: w_list[w_start[c]:w_start[c + 1]]
    w_start = np.zeros(n_places + 1, dtype=np.int64)
    for j in range(n_wd):
        w_start[wd_place[j] + 1] += 1
    for c in range(n_places):
        w_start[c + 1] += w_start[c]
    head = w_start[:n_places].copy()
    w_list = np.empty(n_wd, dtype=np.int64)
    for j in range(n_wd):
        c = wd_place[j]
        w_list[head[c]] = j
        head[c] += 1
    head[:] = w_start[:n_places]
    size = 1
    while size < n_places:
        size *= 2
    tree = np.full(2 * size, _NONE, dtype=np.int64)
    counts = np.zeros(n_places, dtype=np.int64)

    n_inst = 0
    n_ev = 0
    distinct = 0
    w_lo = 0
    w_hi = 0
    p = 0
    q = 0
    while p < n_dep:
        limit = ts[dep_rows[d_lo + p]] + window_us
        while q < n_dep and ts[dep_rows[d_lo + q]] < limit:
            c = dep_place[q]
            counts[c] += 1
            if counts[c] == 1:
                distinct += 1
                _tree_refresh(tree, size, c, counts, head, w_start, w_list, w_hi)
            q += 1
        found = _NONE
        if distinct >= min_locations:
            d_last = ts[dep_rows[d_lo + q - 1]]
            while w_lo < n_wd and ts[wd_rows[w_lo_acc + w_lo]] < d_last:
                c = wd_place[w_lo]
                head[c] += 1
                w_lo += 1
                _tree_refresh(tree, size, c, counts, head, w_start, w_list, w_hi)
            while w_hi < n_wd and ts[wd_rows[w_lo_acc + w_hi]] < d_last + lag_us:
                c = wd_place[w_hi]
                w_hi += 1
                _tree_refresh(tree, size, c, counts, head, w_start, w_list, w_hi)
            found = tree[1]
        if found != _NONE:
            n_deposits = q - p
            if write:
                k = inst_pos + n_inst
                withdrawal = wd_rows[w_lo_acc + found]
                out_start[k] = ts[dep_rows[d_lo + p]]
                out_end[k] = ts[withdrawal]
                out_locations[k] = distinct
                deposited = 0
                for s in range(p, q):
                    deposited += amount[dep_rows[d_lo + s]]
                out_deposited[k] = deposited
                out_deposits[k] = n_deposits
                out_withdrawn[k] = amount[withdrawal]
                out_lag[k] = ts[withdrawal] - ts[dep_rows[d_lo + q - 1]]
                listed = min(n_deposits + 1, cap)
                for j in range(listed):
                    ev_rows[ev_pos + n_ev + j] = dep_rows[d_lo + p + j] if j < n_deposits else withdrawal
            n_inst += 1
            n_ev += min(n_deposits + 1, cap)
            for s in range(p, q):
                c = dep_place[s]
                counts[c] -= 1
                if counts[c] == 0:
                    _tree_refresh(tree, size, c, counts, head, w_start, w_list, w_hi)
            distinct = 0
            p = q
        else:
            c = dep_place[p]
            counts[c] -= 1
            if counts[c] == 0:
                distinct -= 1
                _tree_refresh(tree, size, c, counts, head, w_start, w_list, w_hi)
            p += 1
    return n_inst, n_ev


@parallel_jit
def funnel_count(dep_offsets, dep_rows, wd_offsets, wd_rows, ts, amount, location, window_us, lag_us,
                 min_locations, cap):
    """Pass 1: funnel instances and evidence rows per account.

    Parameters
    ----------
    dep_offsets : ndarray of int64, shape (n_accounts + 1,)
    dep_rows : ndarray of int32 or int64
        Compact CSR of each account's deposits (cash received from no sender, with a known
        location), time-ordered within each account.
    wd_offsets : ndarray of int64, shape (n_accounts + 1,)
    wd_rows : ndarray of int32 or int64
        Compact CSR of each account's withdrawals (rows it sends on a withdrawal channel,
        with a known location), time-ordered within each account.
    ts, amount : ndarray of int64, shape (n_txn,)
        Microseconds since the epoch (UTC); amounts in minor units.
    location : ndarray of int64, shape (n_txn,)
        Location codes (-1 unknown; the compact views hold known locations only).
    window_us, lag_us, min_locations, cap : int

    Returns
    -------
    n_instances, n_evidence : ndarray of int64, shape (n_accounts,)
    """
    n_accounts = dep_offsets.shape[0] - 1
    n_instances = np.zeros(n_accounts, dtype=np.int64)
    n_evidence = np.zeros(n_accounts, dtype=np.int64)
    i64 = np.zeros(0, dtype=np.int64)
    for a in numba.prange(n_accounts):
        n_i, n_e = _funnel_scan(dep_offsets[a], dep_offsets[a + 1], dep_rows, wd_offsets[a], wd_offsets[a + 1],
                                wd_rows, ts, amount, location, window_us, lag_us, min_locations, cap, False, 0, 0,
                                i64, i64, i64, i64, i64, i64, i64, i64)
        n_instances[a] = n_i
        n_evidence[a] = n_e
    return n_instances, n_evidence


@parallel_jit
def funnel_fill(dep_offsets, dep_rows, wd_offsets, wd_rows, ts, amount, location, window_us, lag_us,
                min_locations, cap, inst_offsets, ev_offsets):
    """Pass 2: write every funnel instance at the position pass 1 reserved for its account.

    Returns
    -------
    account, start, end, locations, deposited, deposits, withdrawn, lag :
        ndarrays of int64, shape (n_instances,). ``end`` is the withdrawal's time, ``lag``
        the microseconds from the window's last deposit to it, ``deposits`` the number of
        deposits in the window.
    evidence_rows : ndarray of int64, shape (n_evidence,)
        Per instance, the first ``cap`` of: the window's deposits in time order, then the
        withdrawal.
    """
    n_accounts = dep_offsets.shape[0] - 1
    n = inst_offsets[n_accounts]
    account = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    locations = np.empty(n, dtype=np.int64)
    deposited = np.empty(n, dtype=np.int64)
    deposits = np.empty(n, dtype=np.int64)
    withdrawn = np.empty(n, dtype=np.int64)
    lag = np.empty(n, dtype=np.int64)
    ev_rows = np.empty(ev_offsets[n_accounts], dtype=np.int64)
    for a in numba.prange(n_accounts):
        if inst_offsets[a + 1] == inst_offsets[a]:
            continue
        _funnel_scan(dep_offsets[a], dep_offsets[a + 1], dep_rows, wd_offsets[a], wd_offsets[a + 1], wd_rows, ts,
                     amount, location, window_us, lag_us, min_locations, cap, True, inst_offsets[a], ev_offsets[a],
                     start, end, locations, deposited, deposits, withdrawn, lag, ev_rows)
        for k in range(inst_offsets[a], inst_offsets[a + 1]):
            account[k] = a
    return account, start, end, locations, deposited, deposits, withdrawn, lag, ev_rows
