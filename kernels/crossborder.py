"""Many domestic inflows, one foreign outflow.

Red flag: FATF/APG "Financial Flows from Human Trafficking" (2018): an account collects
deposits or transfers from many payers (or cash deposited in many places) and sends most of
the money abroad to one or a few receivers soon after. The wrapper marks the rows and gives
the keys; this kernel finds the windows.

For account ``a`` let ``I`` be its received rows ``in_rows[in_offsets[a]:in_offsets[a + 1]]``
with ``inflow[row]`` true and ``O`` its sent rows ``out_rows[out_offsets[a]:out_offsets[a + 1]]``
with ``foreign[row]`` true, both in list order (time-ordered, ties in ledger order). Anchored
at the inflow ``I[i]`` (time ``t``), the window holds

- the inflows ``I[j]`` with ``j >= i`` and ``ts < t + window_us``, and
- the outflows of ``O`` with ``t < ts < t + window_us`` (strictly after the anchor's time).

Its ``n_senders`` is the number of distinct ``sender_key >= 0`` among its inflows, its
``n_destinations`` the number of distinct ``receiver_key >= 0`` among its outflows (a
negative key is unknown and not counted, but the row still counts), ``inflow_total`` and
``outflow_total`` the sums of their amounts. The window *fires* when ``n_senders >=
min_senders``, it holds at least one outflow, ``n_destinations <= max_destinations`` and
``outflow_total * 1_000_000 >= min_share_ppm * inflow_total`` (decided exactly, without
overflow). An instance has ``start = t``, ``end`` = the largest time of its inflows and
outflows, the four values, and as evidence its inflows in order then its outflows in order,
of which only the first ``evidence_cap`` are written (``ev_total`` counts them all). The scan
is greedy: after a firing window the next anchor is the first inflow after the window's
inflows (its outflows may serve the next window again); otherwise it is ``I[i + 1]``.

Both windows slide forward with two pointers each, and the keys are remapped once per account
to dense local ids, so distinct counts are kept with count arrays in O(1) per row:
O(n log n) per account of ``n`` rows, with memory O(n). Parallel over accounts; results do
not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit, parallel_jit
from .rapid import _share_reached
from .windows import _dense_ids


@jit
def _marked(lo, hi, rows, mark, key):
    """The rows at positions ``[lo, hi)`` with ``mark`` true, in order, and their dense key ids."""
    n = 0
    for p in range(lo, hi):
        if mark[rows[p]]:
            n += 1
    chosen = np.empty(n, dtype=np.int64)
    keys = np.empty(n, dtype=np.int64)
    k = 0
    for p in range(lo, hi):
        r = rows[p]
        if mark[r]:
            chosen[k] = r
            keys[k] = key[r]
            k += 1
    ids, m = _dense_ids(keys)
    return chosen, ids, m


@jit
def _foreign(a, in_offsets, in_rows, out_offsets, out_rows, ts, amount, inflow, sender_key, foreign, receiver_key,
             window_us, min_senders, min_share_ppm, max_destinations, cap, write, inst_pos, ev_pos, out_start, out_end,
             out_senders, out_inflow, out_outflow, out_destinations, out_total, ev_rows):
    """Scan account ``a``. Returns (instances, evidence rows)."""
    n_out_marked = 0
    for p in range(out_offsets[a], out_offsets[a + 1]):
        if foreign[out_rows[p]]:
            n_out_marked += 1
    if n_out_marked == 0:
        return 0, 0
    ins, in_ids, n_in_keys = _marked(in_offsets[a], in_offsets[a + 1], in_rows, inflow, sender_key)
    n_in = ins.shape[0]
    if n_in == 0:
        return 0, 0
    outs, out_ids, n_out_keys = _marked(out_offsets[a], out_offsets[a + 1], out_rows, foreign, receiver_key)
    n_out = outs.shape[0]
    senders = np.zeros(n_in_keys, dtype=np.int64)
    receivers = np.zeros(n_out_keys, dtype=np.int64)
    n_senders = 0
    n_destinations = 0
    in_total = 0
    out_total_amount = 0
    n_inst = 0
    n_ev = 0
    i = 0
    j = 0  # inflows ins[i:j] are counted
    ol = 0  # outflows outs[ol:oh] are counted
    oh = 0
    while i < n_in:
        t = ts[ins[i]]
        while j < n_in and ts[ins[j]] - t < window_us:
            c = in_ids[j]
            if c >= 0:
                senders[c] += 1
                if senders[c] == 1:
                    n_senders += 1
            in_total += amount[ins[j]]
            j += 1
        while oh < n_out and ts[outs[oh]] - t < window_us:
            c = out_ids[oh]
            if c >= 0:
                receivers[c] += 1
                if receivers[c] == 1:
                    n_destinations += 1
            out_total_amount += amount[outs[oh]]
            oh += 1
        while ol < oh and ts[outs[ol]] <= t:
            c = out_ids[ol]
            if c >= 0:
                receivers[c] -= 1
                if receivers[c] == 0:
                    n_destinations -= 1
            out_total_amount -= amount[outs[ol]]
            ol += 1
        fired = False
        if n_senders >= min_senders and oh > ol and n_destinations <= max_destinations:
            if out_total_amount >= in_total:
                fired = True
            else:
                fired = _share_reached(out_total_amount, in_total, min_share_ppm)
        if fired:
            n_rows = (j - i) + (oh - ol)
            listed = min(n_rows, cap)
            if write:
                at = inst_pos + n_inst
                end = ts[ins[j - 1]]
                if ts[outs[oh - 1]] > end:
                    end = ts[outs[oh - 1]]
                out_start[at] = t
                out_end[at] = end
                out_senders[at] = n_senders
                out_inflow[at] = in_total
                out_outflow[at] = out_total_amount
                out_destinations[at] = n_destinations
                out_total[at] = n_rows
                k = 0
                for s in range(i, j):
                    if k == listed:
                        break
                    ev_rows[ev_pos + n_ev + k] = ins[s]
                    k += 1
                for s in range(ol, oh):
                    if k == listed:
                        break
                    ev_rows[ev_pos + n_ev + k] = outs[s]
                    k += 1
            n_inst += 1
            n_ev += listed
        following = j if fired else i + 1
        while i < following:  # drop the inflows before the next anchor from the window
            c = in_ids[i]
            if c >= 0:
                senders[c] -= 1
                if senders[c] == 0:
                    n_senders -= 1
            in_total -= amount[ins[i]]
            i += 1
    return n_inst, n_ev


@parallel_jit
def foreign_outflow_count(in_offsets, in_rows, out_offsets, out_rows, ts, amount, inflow, sender_key, foreign,
                          receiver_key, window_us, min_senders, min_share_ppm, max_destinations, evidence_cap):
    """Pass 1: instances and evidence rows per account (definition in the module docstring).

    Parameters
    ----------
    in_offsets, out_offsets : ndarray of int64, shape (n_accounts + 1,)
    in_rows, out_rows : ndarray of int32 or int64
        The by-receiver and by-sender CSR views, time-ordered within each account (ties in
        ledger order).
    ts, amount : ndarray of int64, shape (n_txn,)
        Microseconds since the epoch; amounts (>= 0) in minor units.
    inflow, foreign : ndarray of bool, shape (n_txn,)
        Inflows that count; outflows to a foreign receiver.
    sender_key, receiver_key : ndarray of int64, shape (n_txn,)
        Identity of the payer (account, or place of a cash deposit) and of the foreign
        receiver; any non-negative integer, negative = unknown (not counted).
    window_us : int, >= 1
    min_senders : int, >= 0
    min_share_ppm : int, in [1, 1_000_000]
    max_destinations : int, >= 0
    evidence_cap : int, >= 1

    Returns
    -------
    n_instances, n_evidence : ndarray of int64, shape (n_accounts,)
    """
    n_accounts = in_offsets.shape[0] - 1
    n_instances = np.zeros(n_accounts, dtype=np.int64)
    n_evidence = np.zeros(n_accounts, dtype=np.int64)
    i64 = np.zeros(0, dtype=np.int64)
    for a in numba.prange(n_accounts):
        n_i, n_e = _foreign(a, in_offsets, in_rows, out_offsets, out_rows, ts, amount, inflow, sender_key, foreign,
                            receiver_key, window_us, min_senders, min_share_ppm, max_destinations, evidence_cap, False,
                            0, 0, i64, i64, i64, i64, i64, i64, i64, i64)
        n_instances[a] = n_i
        n_evidence[a] = n_e
    return n_instances, n_evidence


@parallel_jit
def foreign_outflow_fill(in_offsets, in_rows, out_offsets, out_rows, ts, amount, inflow, sender_key, foreign,
                         receiver_key, window_us, min_senders, min_share_ppm, max_destinations, evidence_cap,
                         inst_offsets, ev_offsets):
    """Pass 2: write every instance at the position pass 1 reserved for its account.

    ``inst_offsets`` and ``ev_offsets`` (int64, shape (n_accounts + 1,)) are the prefix sums
    of pass 1's counts, so the output order (account, then time) does not depend on the
    thread count.

    Returns
    -------
    account : ndarray of int32, shape (n_instances,)
    start, end, n_senders, inflow_total, outflow_total, n_destinations, ev_total :
        ndarray of int64, shape (n_instances,)
    evidence_rows : ndarray of int64, shape (n_evidence,)
        Per instance, its inflows then its outflows (each in time order), the first
        ``evidence_cap`` of them.
    """
    n_accounts = in_offsets.shape[0] - 1
    n = inst_offsets[n_accounts]
    account = np.empty(n, dtype=np.int32)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    n_senders = np.empty(n, dtype=np.int64)
    inflow_total = np.empty(n, dtype=np.int64)
    outflow_total = np.empty(n, dtype=np.int64)
    n_destinations = np.empty(n, dtype=np.int64)
    ev_total = np.empty(n, dtype=np.int64)
    ev_rows = np.empty(ev_offsets[n_accounts], dtype=np.int64)
    for a in numba.prange(n_accounts):
        if inst_offsets[a + 1] == inst_offsets[a]:
            continue
        _foreign(a, in_offsets, in_rows, out_offsets, out_rows, ts, amount, inflow, sender_key, foreign, receiver_key,
                 window_us, min_senders, min_share_ppm, max_destinations, evidence_cap, True, inst_offsets[a],
                 ev_offsets[a], start, end, n_senders, inflow_total, outflow_total, n_destinations, ev_total, ev_rows)
        for k in range(inst_offsets[a], inst_offsets[a + 1]):
            account[k] = a
    return account, start, end, n_senders, inflow_total, outflow_total, n_destinations, ev_total, ev_rows
