"""Temporal cycles: money that returns to the account it left, hop by hop, forward in time.

Red flag: the graph vocabulary of IBM AMLSim / AMLworld (cycle) and layering through
intermediaries (FATF/APG "Financial Flows from Human Trafficking", 2018). The definition is
in :mod:`flowscan.rules.cycles`; this kernel implements it on arrays.

A depth-first search starts from every edge (the first transfer ``e1``) and follows the
outgoing rows of each account in time order, from the first row strictly after the current
time (binary search in the by-sender CSR view). The search is bounded by ``max_hops`` and by
``max_steps`` transfers examined per start, so a hub account cannot explode it.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit, parallel_jit
from .flows import _allowance, _first_after


@jit
def _closing(u, origin, after, limit, code, base, allowed, pair_offsets, pair_receiver, pair_row_offsets, pair_ts,
             pair_amount, pair_currency, steps, max_steps):
    """The first usable transfer ``u -> origin`` with ``after < ts < limit`` (usable: currency
    ``code``, amount within ``allowed`` of ``base``), found in the (sender, receiver) pair index.

    Each transfer examined is one step. Returns ``(j, steps, stopped)``: ``j`` indexes the
    pair arrays (-1 none); ``stopped`` when ``max_steps`` was reached first.
    """
    lo = pair_offsets[u]
    hi = pair_offsets[u + 1]
    end = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if pair_receiver[mid] < origin:
            lo = mid + 1
        else:
            hi = mid
    if lo == end or pair_receiver[lo] != origin:
        return -1, steps, False
    stop = pair_row_offsets[lo + 1]
    j = _first_after(pair_row_offsets[lo], stop, pair_ts, after)
    while j < stop and pair_ts[j] < limit:
        if steps == max_steps:
            return -1, steps, True
        steps += 1
        if pair_currency[j] == code and abs(pair_amount[j] - base) <= allowed:
            return j, steps, False
        j += 1
    return -1, steps, False


@jit
def _search(p1, offsets, rows, pos_ts, pos_receiver, pos_amount, pos_currency, pos_edge, last_in, window_us, tol_ppm,
            min_hops, max_hops, max_steps, pair_offsets, pair_receiver, pair_row_offsets, pair_rows, pair_ts, pair_amount,
            pair_currency, path_account, path_row, path_time, position):
    """Depth-first search for the first temporal cycle that starts with the transfer at
    by-sender position ``p1`` (of the origin ``path_account[0]``).

    Returns ``(k, truncated)``: the ``k`` transfers in ``path_row[:k]`` (ledger rows; 0 when
    none) and whether the search stopped at ``max_steps``. Every hop is an edge in the first
    transfer's currency, strictly later than the previous hop, before ``ts1 + window_us``,
    with an amount within ``tol_ppm`` of the first; no account repeats except the closing
    origin.

    From the current account the search examines its transfers in time order, from the first
    one after the current time; each transfer examined is one step. A hop at or after
    ``last_in`` (the origin's last incoming row before the window ends) is not followed. For
    a next-to-last hop only a transfer back to the origin can follow: it is looked up in the
    (sender, receiver) pair index (each pair transfer examined is a step too), and the cycle
    closes there or the hop is dropped.
    """
    origin = path_account[0]
    base = pos_amount[p1]
    allowed = _allowance(base, tol_ppm)
    code = pos_currency[p1]
    limit = pos_ts[p1] + window_us
    path_row[0] = rows[p1]
    path_time[0] = pos_ts[p1]
    path_account[1] = pos_receiver[p1]
    steps = 0
    if max_hops == 2:  # then min_hops is 2 too
        j, steps, stopped = _closing(path_account[1], origin, path_time[0], limit, code, base, allowed, pair_offsets,
                                     pair_receiver, pair_row_offsets, pair_ts, pair_amount, pair_currency, steps,
                                     max_steps)
        if j >= 0:
            path_row[1] = pair_rows[j]
            return 2, False
        return 0, stopped
    depth = 1  # transfers on the path
    position[1] = _first_after(offsets[path_account[1]], offsets[path_account[1] + 1], pos_ts, path_time[0])
    while depth >= 1:
        u = path_account[depth]
        hi = offsets[u + 1]
        p = position[depth]
        descended = False
        while p < hi:
            q = p
            if pos_ts[q] >= limit:
                p = hi
                break
            if steps == max_steps:
                return 0, True
            steps += 1
            p += 1
            if not pos_edge[q] or pos_currency[q] != code or abs(pos_amount[q] - base) > allowed:
                continue
            v = pos_receiver[q]
            if v == origin:
                if depth + 1 < min_hops:  # back too soon: the origin is never an intermediary
                    continue
                path_row[depth] = rows[q]
                return depth + 1, False
            if pos_ts[q] >= last_in:
                continue
            seen = False
            for j in range(1, depth + 1):
                if path_account[j] == v:
                    seen = True
                    break
            if seen:
                continue
            if depth + 1 == max_hops - 1:  # next-to-last hop: close now or drop it
                j, steps, stopped = _closing(v, origin, pos_ts[q], limit, code, base, allowed, pair_offsets,
                                             pair_receiver, pair_row_offsets, pair_ts, pair_amount, pair_currency,
                                             steps, max_steps)
                if stopped:
                    return 0, True
                if j >= 0:
                    path_row[depth] = rows[q]
                    path_row[depth + 1] = pair_rows[j]
                    return depth + 2, False
                continue
            position[depth] = p
            path_row[depth] = rows[q]
            path_time[depth] = pos_ts[q]
            depth += 1
            path_account[depth] = v
            position[depth] = _first_after(offsets[v], offsets[v + 1], pos_ts, pos_ts[q])
            descended = True
            break
        if not descended:
            depth -= 1
    return 0, False


@jit
def _cycles(a, offsets, rows, pos_ts, pos_receiver, pos_amount, pos_currency, pos_edge, in_offsets, in_pos_ts, ts,
            amount, window_us, tol_ppm, min_hops, max_hops, max_steps, pair_offsets, pair_receiver, pair_row_offsets, pair_rows,
            pair_ts, pair_amount, pair_currency, cap, write, inst_pos, ev_pos, out_hops, out_start, out_end,
            out_drift, out_base, ev_rows):
    """Search from every outgoing edge of account ``a`` (time order). Returns (instances,
    evidence rows, truncated searches). At most one cycle per starting transfer; a start
    after which the origin receives nothing before the window ends is not searched."""
    path_account = np.empty(max_hops + 1, dtype=np.int64)
    path_row = np.empty(max_hops, dtype=np.int64)
    path_time = np.empty(max_hops, dtype=np.int64)
    position = np.empty(max_hops + 1, dtype=np.int64)
    path_account[0] = a
    n_inst = 0
    n_ev = 0
    n_truncated = 0
    for p1 in range(offsets[a], offsets[a + 1]):
        if not pos_edge[p1]:
            continue
        t1 = pos_ts[p1]
        before = _first_after(in_offsets[a], in_offsets[a + 1], in_pos_ts, t1 + window_us - 1)
        if before == in_offsets[a] or in_pos_ts[before - 1] <= t1:
            continue
        k, truncated = _search(p1, offsets, rows, pos_ts, pos_receiver, pos_amount, pos_currency, pos_edge,
                               in_pos_ts[before - 1], window_us, tol_ppm, min_hops, max_hops, max_steps, pair_offsets,
                               pair_receiver, pair_row_offsets, pair_rows, pair_ts, pair_amount, pair_currency,
                               path_account, path_row, path_time, position)
        if truncated:
            n_truncated += 1
        if k == 0:
            continue
        if write:
            i = inst_pos + n_inst
            drift = 0
            for j in range(k):
                d = abs(amount[path_row[j]] - amount[path_row[0]])
                if d > drift:
                    drift = d
                if j < cap:
                    ev_rows[ev_pos + n_ev + j] = path_row[j]
            out_hops[i] = k
            out_start[i] = t1
            out_end[i] = ts[path_row[k - 1]]
            out_drift[i] = drift
            out_base[i] = amount[path_row[0]]
        n_inst += 1
        n_ev += min(k, cap)
    return n_inst, n_ev, n_truncated


@parallel_jit
def cycles_count(offsets, rows, pos_ts, pos_receiver, pos_amount, pos_currency, pos_edge, in_offsets, in_pos_ts, ts,
                 amount, window_us, tol_ppm, min_hops, max_hops, max_steps, pair_offsets, pair_receiver, pair_row_offsets,
                 pair_rows, pair_ts, pair_amount, pair_currency, cap):
    """Pass 1: cycles, evidence rows and truncated searches per starting account.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_accounts + 1,)
    rows : ndarray of int32 or int64, shape (n_txn,)
        The by-sender CSR view, time-ordered within each account.
    pos_ts, pos_receiver, pos_amount, pos_currency, pos_edge : ndarray, shape (n_txn,)
        Per by-sender position ``p`` (the row ``rows[p]``), in position order so that scans
        read memory in sequence: time (int64 microseconds), receiver code (-1 null), amount
        (int64 minor units), currency code (int64) and whether the row is an edge (bool).
    in_offsets : ndarray of int64, shape (n_accounts + 1,)
    in_pos_ts : ndarray of int64, shape (n_txn,)
        The by-receiver view's offsets and the time of each of its positions.
    ts, amount : ndarray of int64, shape (n_txn,)
        Time and amount by ledger row.
    window_us, tol_ppm, min_hops, max_hops, max_steps : int
    pair_offsets : ndarray of int64, shape (n_accounts + 1,)
    pair_receiver : ndarray of int64, shape (n_pairs,)
    pair_row_offsets : ndarray of int64, shape (n_pairs + 1,)
    pair_rows, pair_ts, pair_amount, pair_currency : ndarray of int64, shape (n_edges,)
        The edges grouped by (sender, receiver), time-ordered in each pair: rows, times,
        amounts and currency codes.
    cap : int

    Returns
    -------
    n_instances, n_evidence, n_truncated : ndarray of int64, shape (n_accounts,)
    """
    n_accounts = offsets.shape[0] - 1
    n_instances = np.zeros(n_accounts, dtype=np.int64)
    n_evidence = np.zeros(n_accounts, dtype=np.int64)
    n_truncated = np.zeros(n_accounts, dtype=np.int64)
    i64 = np.zeros(0, dtype=np.int64)
    for a in numba.prange(n_accounts):
        n_i, n_e, n_t = _cycles(a, offsets, rows, pos_ts, pos_receiver, pos_amount, pos_currency, pos_edge, in_offsets,
                                in_pos_ts, ts, amount, window_us, tol_ppm, min_hops, max_hops, max_steps, pair_offsets,
                                pair_receiver, pair_row_offsets, pair_rows, pair_ts, pair_amount, pair_currency, cap,
                                False, 0, 0, i64, i64, i64, i64, i64, i64)
        n_instances[a] = n_i
        n_evidence[a] = n_e
        n_truncated[a] = n_t
    return n_instances, n_evidence, n_truncated


@parallel_jit
def cycles_fill(offsets, rows, pos_ts, pos_receiver, pos_amount, pos_currency, pos_edge, in_offsets, in_pos_ts, ts,
                amount, window_us, tol_ppm, min_hops, max_hops, max_steps, pair_offsets, pair_receiver, pair_row_offsets,
                pair_rows, pair_ts, pair_amount, pair_currency, cap, inst_offsets, ev_offsets):
    """Pass 2: write every cycle at the position pass 1 reserved for its starting account.

    Returns
    -------
    account, hops, start, end, drift, base : ndarray of int64, shape (n_instances,)
        ``drift`` is the largest ``|a_i - a_1|`` over the hops, ``base`` the first amount ``a_1``.
    evidence_rows : ndarray of int64, shape (n_evidence,)
        The transfers of each cycle in order, capped.
    """
    n_accounts = offsets.shape[0] - 1
    n = inst_offsets[n_accounts]
    account = np.empty(n, dtype=np.int64)
    hops = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    drift = np.empty(n, dtype=np.int64)
    base = np.empty(n, dtype=np.int64)
    ev_rows = np.empty(ev_offsets[n_accounts], dtype=np.int64)
    for a in numba.prange(n_accounts):
        if inst_offsets[a + 1] == inst_offsets[a]:
            continue
        _cycles(a, offsets, rows, pos_ts, pos_receiver, pos_amount, pos_currency, pos_edge, in_offsets, in_pos_ts, ts,
                amount, window_us, tol_ppm, min_hops, max_hops, max_steps, pair_offsets, pair_receiver, pair_row_offsets,
                pair_rows, pair_ts, pair_amount, pair_currency, cap, True, inst_offsets[a], ev_offsets[a], hops, start,
                end, drift, base, ev_rows)
        for k in range(inst_offsets[a], inst_offsets[a + 1]):
            account[k] = a
    return account, hops, start, end, drift, base, ev_rows
