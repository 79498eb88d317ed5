"""Rapid movement (pass-through): money in, then out again within hours or days.

Red flag: FinCEN FIN-2014-A008 and FATF/APG "Financial Flows from Human Trafficking" (2018):
funds leave the account soon after they arrive and little balance is left; FATF 2018 on
wages paid into one account and moved out quickly.

Matching is first-in-first-out per account and currency: every inflow opens a *lot*, every
outflow consumes the oldest open lots first, and each consumed *piece* keeps its amount and
its holding time (outflow time minus lot time). The number of pieces of an account is at
most its inflows plus its outflows (each piece either empties a lot or ends an outflow), so
the work and memory per account are linear in its rows.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit, parallel_jit

PPM = 1_000_000


@jit
def _share_reached(part, whole, min_share_ppm):
    """``part * 1_000_000 >= min_share_ppm * whole``, exactly and without int64 overflow.

    ``0 <= part <= whole`` and ``0 < min_share_ppm <= 1_000_000``. With
    ``whole = q * 1_000_000 + r`` the test is ``(part - ppm * q) * 1_000_000 >= ppm * r``,
    where ``ppm * q <= whole`` and ``ppm * r < 10**12`` both fit in int64.
    """
    q = whole // PPM
    r = whole - q * PPM
    d = part - min_share_ppm * q
    if d < 0:
        return False
    if d >= PPM:
        return True
    return d * PPM >= min_share_ppm * r


@jit
def _scan(a, in_offsets, in_rows, out_offsets, out_rows, sender, receiver, ts, amount, currency, is_cash,
          is_wire, min_amount, horizons_us, min_share_ppm, cap, max_lots, write, n_inst, n_ev, inst_pos, ev_pos,
          f_share, f_hold, f_in_out, f_balance, f_truncated, o_account, o_start, o_end, o_share, o_wire_share,
          o_inflow, o_min_amount, o_held, o_total, ev_rows):
    """Match account ``a``'s inflows and outflows and evaluate its lots.

    Pass 1 (``write`` false) stores the instance and evidence counts per rule in
    ``n_inst[a]`` and ``n_ev[a]`` and the account's features in ``f_*[a]``. Pass 2
    (``write`` true) writes the instances of rule ``j`` from ``inst_pos[a, j]`` and their
    evidence rows from ``ev_pos[a, j]``. Rule ``2 * h`` is ``rapid`` at horizon ``h``, rule
    ``2 * h + 1`` its cash-to-wire variant.
    """
    n_rows = ts.shape[0]
    n_h = horizons_us.shape[0]
    i_lo = in_offsets[a]
    i_hi = in_offsets[a + 1]
    o_lo = out_offsets[a]
    o_hi = out_offsets[a + 1]
    # Events: the account's rows without self-transfers, ordered by (currency, ledger row).
    keys = np.empty((i_hi - i_lo) + (o_hi - o_lo), dtype=np.int64)
    m = 0
    total_in = 0
    total_out = 0
    for p in range(i_lo, i_hi):
        r = in_rows[p]
        if sender[r] != a:
            keys[m] = (currency[r] + 1) * n_rows + r
            total_in += amount[r]
            m += 1
    for p in range(o_lo, o_hi):
        r = out_rows[p]
        if receiver[r] != a:
            keys[m] = (currency[r] + 1) * n_rows + r
            total_out += amount[r]
            m += 1
    # keys are distinct, so any sort gives the same order; mergesort because the keys come as two
    # sorted runs (inflows, then outflows), on which Numba's quicksort degrades badly
    by_key = np.argsort(keys[:m], kind="mergesort")
    ev_row = np.empty(m, dtype=np.int64)
    ev_cur = np.empty(m, dtype=np.int64)
    for e in range(m):
        key = keys[by_key[e]]
        ev_row[e] = key % n_rows
        ev_cur[e] = key // n_rows
    # FIFO per currency. The open lots of the current currency are lot_ev[head:tail]
    # (event positions of inflows). Pieces are logged in time order; the pieces of one lot
    # are contiguous (only the oldest open lot is consumed): first_piece[e], n_pieces[e].
    lot_ev = np.empty(m, dtype=np.int64)
    remaining = np.zeros(m, dtype=np.int64)
    first_piece = np.zeros(m, dtype=np.int64)
    n_pieces = np.zeros(m, dtype=np.int64)
    p_row = np.empty(m, dtype=np.int64)
    p_amount = np.empty(m, dtype=np.int64)
    p_hold = np.empty(m, dtype=np.int64)
    n_p = 0
    truncated = False
    s = 0
    while s < m:
        run_end = s
        while run_end < m and ev_cur[run_end] == ev_cur[s]:
            run_end += 1
        head = 0
        tail = 0
        for e in range(s, run_end):
            r = ev_row[e]
            if receiver[r] == a:  # inflow: a new lot (a zero amount opens none)
                if amount[r] > 0:
                    lot_ev[tail] = e
                    remaining[e] = amount[r]
                    tail += 1
                    if tail - head > max_lots:  # drop the oldest open lot
                        head += 1
                        truncated = True
            else:  # outflow: consume the oldest lots first
                need = amount[r]
                while need > 0 and head < tail:
                    lot = lot_ev[head]
                    take = min(need, remaining[lot])
                    if n_pieces[lot] == 0:
                        first_piece[lot] = n_p
                    n_pieces[lot] += 1
                    p_row[n_p] = r
                    p_amount[n_p] = take
                    p_hold[n_p] = ts[r] - ts[ev_row[lot]]
                    n_p += 1
                    remaining[lot] -= take
                    need -= take
                    if remaining[lot] == 0:
                        head += 1
        s = run_end

    if not write:
        for h in range(n_h):
            left = 0
            for k in range(n_p):
                if p_hold[k] < horizons_us[h]:
                    left += p_amount[k]
            f_share[a, h] = left / total_in if total_in > 0 else np.nan
        f_hold[a] = np.nan
        if n_p > 0:
            order = np.argsort(p_hold[:n_p], kind="mergesort")  # the median's value does not depend on ties
            consumed = 0
            for k in range(n_p):
                consumed += p_amount[k]
            cum = 0
            for k in order:
                cum += p_amount[k]
                if cum >= consumed - cum:
                    f_hold[a] = p_hold[k] / 1e6
                    break
        if total_in > 0:
            f_in_out[a] = total_out / total_in
            f_balance[a] = min(1.0, max(0.0, (total_in - total_out) / total_in))
        else:
            f_in_out[a] = np.nan
            f_balance[a] = np.nan
        f_truncated[a] = truncated

    # Candidate lots in ledger order: inflows of a listed currency, at least min_amount,
    # with at least one piece.
    n_cand = 0
    cand_row = np.empty(m, dtype=np.int64)
    cand_ev = np.empty(m, dtype=np.int64)
    for e in range(m):
        r = ev_row[e]
        if receiver[r] == a and n_pieces[e] > 0:
            c = ev_cur[e] - 1
            if c >= 0 and min_amount[c] > 0 and amount[r] >= min_amount[c]:
                cand_row[n_cand] = r
                cand_ev[n_cand] = e
                n_cand += 1
    order = np.argsort(cand_row[:n_cand], kind="mergesort")
    n_listed = np.zeros(2 * n_h, dtype=np.int64)
    n_found = np.zeros(2 * n_h, dtype=np.int64)
    for i in order:
        e = cand_ev[i]
        r = ev_row[e]
        lo = first_piece[e]
        hi = lo + n_pieces[e]
        for h in range(n_h):
            counted = 0
            consumed = 0
            wired = 0
            for k in range(lo, hi):
                if p_hold[k] >= horizons_us[h]:  # holding times grow along a lot's pieces
                    break
                counted += 1
                consumed += p_amount[k]
                if is_wire[p_row[k]]:
                    wired += p_amount[k]
            if counted == 0 or not _share_reached(consumed, amount[r], min_share_ppm):
                continue
            listed = min(counted + 1, cap)
            variant = is_cash[r] and _share_reached(wired, amount[r], min_share_ppm)
            for j in range(2 * h, 2 * h + 2):
                if j == 2 * h + 1 and not variant:
                    continue
                if write:
                    k_out = inst_pos[a, j] + n_found[j]
                    o_account[k_out] = a
                    o_start[k_out] = ts[r]
                    o_end[k_out] = ts[p_row[lo + counted - 1]]
                    o_share[k_out] = consumed / amount[r]
                    o_wire_share[k_out] = wired / amount[r]
                    o_inflow[k_out] = amount[r]
                    o_min_amount[k_out] = min_amount[ev_cur[e] - 1]
                    cum = 0
                    for k in range(lo, lo + counted):  # amount-weighted (lower) median
                        cum += p_amount[k]
                        if cum >= consumed - cum:
                            o_held[k_out] = p_hold[k] / 1e6
                            break
                    o_total[k_out] = counted + 1
                    ev = ev_pos[a, j] + n_listed[j]
                    ev_rows[ev] = r
                    for k in range(listed - 1):
                        ev_rows[ev + 1 + k] = p_row[lo + k]
                n_found[j] += 1
                n_listed[j] += listed
    if not write:
        for j in range(2 * n_h):
            n_inst[a, j] = n_found[j]
            n_ev[a, j] = n_listed[j]


@parallel_jit
def rapid_count(in_offsets, in_rows, out_offsets, out_rows, sender, receiver, ts, amount, currency, is_cash,
                is_wire, min_amount, horizons_us, min_share_ppm, cap, max_lots):
    """Pass 1: instances and evidence rows per account and rule, and the account features.

    Parameters
    ----------
    in_offsets, out_offsets : ndarray of int64, shape (n_accounts + 1,)
    in_rows, out_rows : ndarray of int32 or int64
        CSR views by receiver and by sender, in ledger order within each account.
    sender, receiver : ndarray of int32, shape (n_txn,)
        Account codes, -1 for null (cash or outside the bank).
    ts, amount : ndarray of int64, shape (n_txn,)
        Microseconds since the epoch (UTC); amounts in minor units.
    currency : ndarray of int64, shape (n_txn,)
        Currency codes (index in the fixed dictionary; -1 unknown).
    is_cash, is_wire : ndarray of bool, shape (n_txn,)
        Channel of each row.
    min_amount : ndarray of int64, shape (n_currencies,)
        Smallest inflow (minor units) that can make an instance, per currency code; 0 where
        the currency is not listed (no instances).
    horizons_us : ndarray of int64, shape (n_horizons,)
    min_share_ppm, cap, max_lots : int

    Returns
    -------
    n_instances, n_evidence : ndarray of int64, shape (n_accounts, 2 * n_horizons)
    share : ndarray of float64, shape (n_accounts, n_horizons)
    median_hold_seconds, in_out_ratio, balance_left_share : ndarray of float64, shape (n_accounts,)
    truncated : ndarray of bool, shape (n_accounts,)
    """
    n_accounts = in_offsets.shape[0] - 1
    n_h = horizons_us.shape[0]
    n_instances = np.empty((n_accounts, 2 * n_h), dtype=np.int64)
    n_evidence = np.empty((n_accounts, 2 * n_h), dtype=np.int64)
    share = np.empty((n_accounts, n_h), dtype=np.float64)
    hold = np.empty(n_accounts, dtype=np.float64)
    in_out = np.empty(n_accounts, dtype=np.float64)
    balance = np.empty(n_accounts, dtype=np.float64)
    truncated = np.empty(n_accounts, dtype=np.bool_)
    no_pos = np.empty((0, 0), dtype=np.int64)
    i64 = np.empty(0, dtype=np.int64)
    f64 = np.empty(0, dtype=np.float64)
    write = n_accounts < 0  # False, as a runtime value: one compiled _scan for both passes
    for a in numba.prange(n_accounts):
        _scan(np.int64(a), in_offsets, in_rows, out_offsets, out_rows, sender, receiver, ts, amount, currency, is_cash,
              is_wire, min_amount, horizons_us, min_share_ppm, cap, max_lots, write, n_instances, n_evidence,
              no_pos, no_pos, share, hold, in_out, balance, truncated, i64, i64, i64, f64, f64, i64, i64, f64,
              i64, i64)
    return n_instances, n_evidence, share, hold, in_out, balance, truncated


@parallel_jit
def rapid_fill(in_offsets, in_rows, out_offsets, out_rows, sender, receiver, ts, amount, currency, is_cash,
               is_wire, min_amount, horizons_us, min_share_ppm, cap, max_lots, n_instances, inst_pos, ev_pos,
               n_total, n_evidence_total):
    """Pass 2: write every instance at the position pass 1 reserved for it.

    ``inst_pos[a, j]`` and ``ev_pos[a, j]`` (shape (n_accounts, 2 * n_horizons)) are the
    prefix sums of pass 1 taken rule by rule, then account by account, so the output order
    (rule, account, inflow) does not depend on the thread count.

    Returns
    -------
    account, start, end : ndarray of int64, shape (n_total,)
        Account code, inflow time, time of the last outflow counted within the horizon.
    share, wire_share : ndarray of float64, shape (n_total,)
        Share of the inflow that left within the horizon (through wires, for wire_share).
    inflow, min_amount : ndarray of int64, shape (n_total,)
        The inflow and the min_amount of its currency, in minor units.
    held_seconds : ndarray of float64, shape (n_total,)
        Amount-weighted (lower) median holding time of the counted pieces.
    evidence_total : ndarray of int64, shape (n_total,)
        Evidence rows before the cap (the inflow plus its counted outflows).
    evidence_rows : ndarray of int64, shape (n_evidence_total,)
        Per instance, the inflow row then the rows of the outflows that consumed it within
        the horizon, in ledger order, at most ``cap`` in all.
    """
    n_accounts = in_offsets.shape[0] - 1
    account = np.empty(n_total, dtype=np.int64)
    start = np.empty(n_total, dtype=np.int64)
    end = np.empty(n_total, dtype=np.int64)
    share = np.empty(n_total, dtype=np.float64)
    wire_share = np.empty(n_total, dtype=np.float64)
    inflow = np.empty(n_total, dtype=np.int64)
    floor = np.empty(n_total, dtype=np.int64)
    held = np.empty(n_total, dtype=np.float64)
    total = np.empty(n_total, dtype=np.int64)
    ev_rows = np.empty(n_evidence_total, dtype=np.int64)
    no_count = np.empty((0, 0), dtype=np.int64)
    f2 = np.empty((0, 0), dtype=np.float64)
    f64 = np.empty(0, dtype=np.float64)
    b = np.empty(0, dtype=np.bool_)
    write = n_accounts >= 0  # True, as a runtime value: one compiled _scan for both passes
    for a in numba.prange(n_accounts):
        found = 0
        for j in range(n_instances.shape[1]):
            found += n_instances[a, j]
        if found == 0:
            continue
        _scan(np.int64(a), in_offsets, in_rows, out_offsets, out_rows, sender, receiver, ts, amount, currency, is_cash,
              is_wire, min_amount, horizons_us, min_share_ppm, cap, max_lots, write, no_count, no_count, inst_pos,
              ev_pos, f2, f64, f64, f64, b, account, start, end, share, wire_share, inflow, floor, held, total,
              ev_rows)
    return account, start, end, share, wire_share, inflow, floor, held, total, ev_rows
