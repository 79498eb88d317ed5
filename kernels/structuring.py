"""Structuring: parts kept just under a reporting threshold whose sum reaches it.

Red flag: FinCEN FIN-2014-A008 (cash deposits under the $10,000 currency transaction report
threshold; wires under the $3,000 record-keeping threshold); FFIEC BSA/AML Examination Manual.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit, parallel_jit


@jit
def _distinct(values):
    """Number of distinct non-negative values (negative = unknown, not counted)."""
    if values.shape[0] == 0:
        return 0
    ordered = np.sort(values)
    count = 0
    previous = -1
    for v in ordered:
        if v >= 0 and v != previous:
            count += 1
            previous = v
    return count


@jit
def _scan(lo, hi, rows, ts, amount, eligible, location, counterparty, threshold, window_us, min_count, cap,
          write, inst_pos, ev_pos, out_start, out_end, out_count, out_sum, out_max, out_locations,
          out_counterparties, out_total, ev_rows):
    """Scan one account's rows ``rows[lo:hi]`` (time-ordered). Returns (instances, evidence rows).

    Windows are half-open, ``[t, t + window)``, anchored at an eligible row ``t``. When the
    eligible rows in the window number at least ``min_count`` and sum to at least
    ``threshold``, an instance fires and the scan resumes after its last row, so instances
    of one account never share a row.
    """
    n_inst = 0
    n_ev = 0
    p = lo
    q = lo
    count = 0
    total = 0
    last = -1
    while p < hi:
        rp = rows[p]
        if not eligible[rp]:
            if q <= p:
                q = p + 1
            p += 1
            continue
        if q <= p:  # empty window: restart it at p
            q = p
            count = 0
            total = 0
            last = -1
        limit = ts[rp] + window_us
        while q < hi and ts[rows[q]] < limit:
            rq = rows[q]
            if eligible[rq]:
                count += 1
                total += amount[rq]
                last = q
            q += 1
        if count >= min_count and total >= threshold:
            if write:
                k = inst_pos + n_inst
                out_start[k] = ts[rp]
                out_end[k] = ts[rows[last]]
                out_count[k] = count
                out_sum[k] = total
                biggest = 0
                places = np.empty(count, dtype=np.int64)
                people = np.empty(count, dtype=np.int64)
                j = 0
                listed = 0
                for s in range(p, last + 1):
                    rs = rows[s]
                    if eligible[rs]:
                        if amount[rs] > biggest:
                            biggest = amount[rs]
                        places[j] = location[rs]
                        people[j] = counterparty[rs]
                        j += 1
                        if listed < cap:
                            ev_rows[ev_pos + n_ev + listed] = rs
                            listed += 1
                out_max[k] = biggest
                out_locations[k] = _distinct(places)
                out_counterparties[k] = _distinct(people)
                out_total[k] = count
            n_inst += 1
            n_ev += min(count, cap)
            p = last + 1
            q = p
            count = 0
            total = 0
            last = -1
        else:
            count -= 1
            total -= amount[rp]
            p += 1
    return n_inst, n_ev


@parallel_jit
def structuring_count(offsets, rows, ts, amount, eligible, location, counterparty, threshold, window_us,
                      min_count, cap):
    """Pass 1: instances and evidence rows per account.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_accounts + 1,)
    rows : ndarray of int32 or int64
        CSR view of the side scanned (by receiver for deposits, by sender for withdrawals
        and outgoing wires), time-ordered within each account.
    ts, amount : ndarray of int64, shape (n_txn,)
        Microseconds since the epoch (UTC); amounts in minor units.
    eligible : ndarray of bool, shape (n_txn,)
        Rows of the channel class and currency with ``band * threshold <= amount < threshold``.
    location, counterparty : ndarray of int64, shape (n_txn,)
        Codes for the distinct counts (-1 unknown).
    threshold, window_us, min_count, cap : int

    Returns
    -------
    n_instances, n_evidence : ndarray of int64, shape (n_accounts,)
    """
    n_accounts = offsets.shape[0] - 1
    n_instances = np.zeros(n_accounts, dtype=np.int64)
    n_evidence = np.zeros(n_accounts, dtype=np.int64)
    i64 = np.zeros(0, dtype=np.int64)
    for a in numba.prange(n_accounts):
        n_i, n_e = _scan(offsets[a], offsets[a + 1], rows, ts, amount, eligible, location, counterparty,
                         threshold, window_us, min_count, cap, False, 0, 0, i64, i64, i64, i64, i64, i64,
                         i64, i64, i64)
        n_instances[a] = n_i
        n_evidence[a] = n_e
    return n_instances, n_evidence


@parallel_jit
def structuring_fill(offsets, rows, ts, amount, eligible, location, counterparty, threshold, window_us,
                     min_count, cap, inst_offsets, ev_offsets):
    """Pass 2: write every instance at the position pass 1 reserved for its account.

    ``inst_offsets`` and ``ev_offsets`` (shape (n_accounts + 1,)) are the prefix sums of
    pass 1, so the output order (account, then time) does not depend on the thread count.

    Returns
    -------
    account, start, end, count, total, biggest, locations, counterparties, evidence_total :
        ndarrays of int64, shape (n_instances,)
    evidence_rows : ndarray of int64, shape (n_evidence,)
        The first ``cap`` rows of each instance, in time order.
    """
    n_accounts = offsets.shape[0] - 1
    n = inst_offsets[n_accounts]
    account = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    count = np.empty(n, dtype=np.int64)
    total = np.empty(n, dtype=np.int64)
    biggest = np.empty(n, dtype=np.int64)
    places = np.empty(n, dtype=np.int64)
    people = np.empty(n, dtype=np.int64)
    listed_total = np.empty(n, dtype=np.int64)
    ev_rows = np.empty(ev_offsets[n_accounts], dtype=np.int64)
    for a in numba.prange(n_accounts):
        if inst_offsets[a + 1] == inst_offsets[a]:
            continue
        _scan(offsets[a], offsets[a + 1], rows, ts, amount, eligible, location, counterparty, threshold,
              window_us, min_count, cap, True, inst_offsets[a], ev_offsets[a], start, end, count, total, biggest,
              places, people, listed_total, ev_rows)
        for k in range(inst_offsets[a], inst_offsets[a + 1]):
            account[k] = a
    return account, start, end, count, total, biggest, places, people, listed_total, ev_rows
