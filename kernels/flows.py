"""Two-hop flows: scatter-gather (one source, many intermediaries, one sink) and
gather-scatter (many senders into one hub, which pays many receivers).

Red flag: the graph vocabulary of IBM AMLSim / AMLworld (scatter-gather, gather-scatter) and
layering through intermediaries (FATF/APG "Financial Flows from Human Trafficking", 2018).
The definitions are in :mod:`flowscan.rules.flows`; these kernels implement them on arrays.

Only rows marked ``eligible`` are edges (the wrapper marks transfers between two known,
different accounts in one currency). Amounts are int64 minor units; a tolerance is an integer
number of parts per million, so conservation is decided exactly.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit, parallel_jit

PPM = 1_000_000


@jit
def _allowance(base, tol_ppm):
    """``floor(base * tol_ppm / 1e6)`` without overflow, for ``base >= 0``, ``0 <= tol_ppm <= 1e6``."""
    return tol_ppm * (base // PPM) + (tol_ppm * (base % PPM)) // PPM


@jit
def _find(keys, n, value):
    """Position of ``value`` in the sorted ``keys[:n]``, or ``-(insertion point) - 1``."""
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    if lo < n and keys[lo] == value:
        return lo
    return -lo - 1


@jit
def _first_after(lo, hi, times, t):
    """First index ``p`` in ``[lo, hi)`` with ``times[p] > t`` (``times`` sorted there)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if times[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


@jit
def _distinct_receivers(p, hi, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, limit, exclude, max_n, codes,
                        positions):
    """The distinct receivers of the eligible rows at positions ``p, p+1, ... < hi`` with
    ``ts < limit`` (and receiver != ``exclude``), in order of first appearance.

    ``pos_previous[q]`` is the row before ``rows[q]`` with the same sender and receiver (-1
    none), so a row is its receiver's first one from ``p`` on when its previous row comes
    before ``rows[p]``: no set is needed. Writes ``codes[:n]`` (receiver codes) and
    ``positions[:n]`` (position of the first row to each). Stops at the ``max_n + 1``-th
    distinct receiver and returns ``(max_n, True)``; otherwise ``(n, False)``.
    """
    n = 0
    if p >= hi:
        return 0, False
    bound = rows[p]
    while p < hi:
        if pos_ts[p] >= limit:
            break
        if pos_eligible[p] and pos_previous[p] < bound and pos_receiver[p] != exclude:
            if n == max_n:
                return n, True
            codes[n] = pos_receiver[p]
            positions[n] = p
            n += 1
        p += 1
    return n, False


@jit
def _in_pair(pair, pair_row_offsets, pair_ts, after, limit):
    """Index (into the pair arrays) of the first row of pair ``pair`` with
    ``after < ts < limit``, or -1. Pair ``j`` holds indices
    ``pair_row_offsets[j]:pair_row_offsets[j + 1]``, in time order."""
    a = _first_after(pair_row_offsets[pair], pair_row_offsets[pair + 1], pair_ts, after)
    if a == pair_row_offsets[pair + 1] or pair_ts[a] >= limit:
        return -1
    return a


@jit
def _earliest(pair_offsets, pair_receiver, pair_row_offsets, pair_ts, m, k, after, limit):
    """Index (into the pair arrays) of the first row ``m -> k`` with ``after < ts < limit``,
    or -1. Pairs of sender ``m`` are ``pair_offsets[m]:pair_offsets[m + 1]``, sorted by
    receiver."""
    lo = pair_offsets[m]
    hi = pair_offsets[m + 1]
    end = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if pair_receiver[mid] < k:
            lo = mid + 1
        else:
            hi = mid
    if lo == end or pair_receiver[lo] != k:
        return -1
    return _in_pair(lo, pair_row_offsets, pair_ts, after, limit)


@jit
def _scatter(s, offsets, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, amount, pair_offsets,
             pair_receiver, pair_row_offsets, pair_rows, pair_ts, window_us, min_intermediaries, tol_ppm, max_fanout,
             cap, anchor_sink):
    """Scan the outgoing rows of source ``s`` (time-ordered). Returns (instances, evidence rows,
    truncated anchors), and sets ``anchor_sink[a]`` to the sink of the instance anchored at
    position ``a`` (:func:`_scatter_write` builds the instances from those alone).

    At each eligible outgoing row (the anchor: time ``t``, intermediary ``m0``), in the window
    ``[t, t + window)``: the candidate sinks are the first ``max_fanout`` distinct receivers
    (not ``s``) that ``m0`` pays after ``t``; the intermediaries are the first ``max_fanout``
    distinct receivers of ``s`` from the anchor on, each with its first row (the first hop).
    An intermediary serves sink ``k`` when it pays ``k`` after its first hop and before the
    window ends (the earliest such row is the second hop). The sink with the most
    intermediaries (at least ``min_intermediaries``, amounts conserved within ``tol_ppm``)
    wins, ties to the sink ``m0`` paid first; the scan then resumes after the last first hop
    used. An anchor with at least ``min_intermediaries`` intermediaries and at least one sink
    is evaluated; it counts as truncated when either list was cut by ``max_fanout``.
    """
    lo = offsets[s]
    hi = offsets[s + 1]
    sinks = np.empty(max_fanout, dtype=np.int64)
    sink_pos = np.empty(max_fanout, dtype=np.int64)
    sink_keys = np.empty(max_fanout, dtype=np.int64)
    middles = np.empty(max_fanout, dtype=np.int64)
    middle_pos = np.empty(max_fanout, dtype=np.int64)
    served = np.empty(max_fanout, dtype=np.int64)
    first_sums = np.empty(max_fanout, dtype=np.int64)
    second_sums = np.empty(max_fanout, dtype=np.int64)
    n_inst = 0
    n_ev = 0
    n_truncated = 0
    a = lo
    while a < hi:
        if not pos_eligible[a]:
            a += 1
            continue
        t = pos_ts[a]
        limit = t + window_us
        m0 = pos_receiver[a]
        n_mid, cut_mid = _distinct_receivers(a, hi, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, limit, -1,
                                             max_fanout, middles, middle_pos)
        if n_mid < min_intermediaries:
            a += 1
            continue
        start = _first_after(offsets[m0], offsets[m0 + 1], pos_ts, t)
        n_sinks, cut_sinks = _distinct_receivers(start, offsets[m0 + 1], rows, pos_ts, pos_receiver, pos_eligible,
                                                 pos_previous, limit, s, max_fanout, sinks, sink_pos)
        if n_sinks == 0:
            a += 1
            continue
        if cut_sinks or cut_mid:
            n_truncated += 1
        sink_slots = np.argsort(sinks[:n_sinks])
        for j in range(n_sinks):
            sink_keys[j] = sinks[sink_slots[j]]
        # for every (intermediary, sink): the second hop, if any. An intermediary with fewer
        # receivers than there are sinks is matched through its receivers, else through the sinks.
        served[:n_sinks] = 0
        first_sums[:n_sinks] = 0
        second_sums[:n_sinks] = 0
        for mi in range(n_mid):
            m = middles[mi]
            t1 = pos_ts[middle_pos[mi]]
            paid = amount[rows[middle_pos[mi]]]
            if pair_offsets[m + 1] - pair_offsets[m] <= n_sinks:
                for pair in range(pair_offsets[m], pair_offsets[m + 1]):
                    at = _find(sink_keys, n_sinks, pair_receiver[pair])
                    if at < 0:
                        continue
                    g = _in_pair(pair, pair_row_offsets, pair_ts, t1, limit)
                    if g >= 0:
                        ki = sink_slots[at]
                        served[ki] += 1
                        first_sums[ki] += paid
                        second_sums[ki] += amount[pair_rows[g]]
            else:
                for ki in range(n_sinks):
                    g = _earliest(pair_offsets, pair_receiver, pair_row_offsets, pair_ts, m, sinks[ki], t1, limit)
                    if g >= 0:
                        served[ki] += 1
                        first_sums[ki] += paid
                        second_sums[ki] += amount[pair_rows[g]]
        best = -1
        best_count = 0
        for ki in range(n_sinks):
            count = served[ki]
            if count < min_intermediaries or count <= best_count:
                continue
            if abs(second_sums[ki] - first_sums[ki]) <= _allowance(first_sums[ki], tol_ppm):
                best = ki
                best_count = count
        if best < 0:
            a += 1
            continue
        k = sinks[best]
        anchor_sink[a] = k
        count = 0
        last = a
        for mi in range(n_mid):
            g = _earliest(pair_offsets, pair_receiver, pair_row_offsets, pair_ts, middles[mi], k,
                          pos_ts[middle_pos[mi]], limit)
            if g >= 0:
                count += 1
                if middle_pos[mi] > last:
                    last = middle_pos[mi]
        n_inst += 1
        n_ev += min(2 * count, cap)
        a = last + 1
    return n_inst, n_ev, n_truncated


@jit
def _scatter_write(s, offsets, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, amount, pair_offsets,
                   pair_receiver, pair_row_offsets, pair_rows, pair_ts, window_us, max_fanout, cap, anchor_sink,
                   inst_pos, ev_pos, out_start, out_end, out_n, out_first, out_second, ev_rows):
    """Write the instances of source ``s`` that :func:`_scatter` anchored (``anchor_sink``), in
    anchor order, from ``inst_pos`` and ``ev_pos`` on: an instance is its anchor's
    intermediaries and the earliest second hop of each into the sink, as the scan found them,
    without scanning the anchors that made none."""
    lo = offsets[s]
    hi = offsets[s + 1]
    middles = np.empty(max_fanout, dtype=np.int64)
    middle_pos = np.empty(max_fanout, dtype=np.int64)
    firsts = np.empty(max_fanout, dtype=np.int64)
    seconds = np.empty(max_fanout, dtype=np.int64)
    i = inst_pos
    e = ev_pos
    for a in range(lo, hi):
        k = anchor_sink[a]
        if k < 0:
            continue
        t = pos_ts[a]
        limit = t + window_us
        n_mid, _ = _distinct_receivers(a, hi, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, limit, -1,
                                       max_fanout, middles, middle_pos)
        count = 0
        end = t
        for mi in range(n_mid):
            g = _earliest(pair_offsets, pair_receiver, pair_row_offsets, pair_ts, middles[mi], k,
                          pos_ts[middle_pos[mi]], limit)
            if g >= 0:
                firsts[count] = rows[middle_pos[mi]]
                seconds[count] = pair_rows[g]
                count += 1
                if pair_ts[g] > end:
                    end = pair_ts[g]
        first_hops = np.sort(firsts[:count])
        second_hops = np.sort(seconds[:count])
        first_total = 0
        second_total = 0
        for j in range(count):
            first_total += amount[first_hops[j]]
            second_total += amount[second_hops[j]]
        out_start[i] = t
        out_end[i] = end
        out_n[i] = count
        out_first[i] = first_total
        out_second[i] = second_total
        listed = 0
        for j in range(count):
            if listed < cap:
                ev_rows[e + listed] = first_hops[j]
                listed += 1
        for j in range(count):
            if listed < cap:
                ev_rows[e + listed] = second_hops[j]
                listed += 1
        i += 1
        e += listed


@parallel_jit
def scatter_gather_count(offsets, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, amount, pair_offsets,
                         pair_receiver, pair_row_offsets, pair_rows, pair_ts, window_us, min_intermediaries, tol_ppm,
                         max_fanout, cap, anchor_sink):
    """Pass 1: instances, evidence rows and truncated anchors per source account.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_accounts + 1,)
    rows : ndarray of int32 or int64, shape (n_txn,)
        The by-sender CSR view, time-ordered within each account.
    pos_ts, pos_receiver, pos_eligible, pos_previous : ndarray, shape (n_txn,)
        Per CSR position ``p`` (the row ``rows[p]``), in position order so that scans read
        memory in sequence: time (int64 microseconds), receiver code (-1 null), whether the
        row is an edge of the scanned currency (bool), and the eligible row before it with the
        same sender and receiver (int64, -1 none).
    amount : ndarray of int64, shape (n_txn,)
        Amounts in minor units, by row.
    pair_offsets : ndarray of int64, shape (n_accounts + 1,)
    pair_receiver : ndarray of int64, shape (n_pairs,)
    pair_row_offsets : ndarray of int64, shape (n_pairs + 1,)
    pair_rows, pair_ts : ndarray of int64, shape (n_eligible,)
        The eligible rows grouped by (sender, receiver), time-ordered in each pair, and their times.
    window_us, min_intermediaries, tol_ppm, max_fanout, cap : int
    anchor_sink : ndarray of int64, shape (n_txn,)
        All -1 on entry; set, per CSR position, to the sink of the instance anchored there
        (pass 2 reads it). The caller makes it: made here with ``np.full``, this kernel, loaded
        from Numba's cache in a process that had run other parallel kernels first, found one
        instance fewer on a 10M-row ledger than compiled afresh (cause not found; Numba has
        open issues on parallel kernels and its cache, e.g. numba#10128).

    Returns
    -------
    n_instances, n_evidence, n_truncated : ndarray of int64, shape (n_accounts,)
    """
    n_accounts = offsets.shape[0] - 1
    n_instances = np.zeros(n_accounts, dtype=np.int64)
    n_evidence = np.zeros(n_accounts, dtype=np.int64)
    n_truncated = np.zeros(n_accounts, dtype=np.int64)
    for s in numba.prange(n_accounts):
        n_i, n_e, n_t = _scatter(s, offsets, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, amount,
                                 pair_offsets, pair_receiver, pair_row_offsets, pair_rows, pair_ts, window_us,
                                 min_intermediaries, tol_ppm, max_fanout, cap, anchor_sink)
        n_instances[s] = n_i
        n_evidence[s] = n_e
        n_truncated[s] = n_t
    return n_instances, n_evidence, n_truncated


@parallel_jit
def scatter_gather_fill(offsets, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, amount, pair_offsets,
                        pair_receiver, pair_row_offsets, pair_rows, pair_ts, window_us, max_fanout, cap, anchor_sink,
                        inst_offsets, ev_offsets):
    """Pass 2: write every instance at the position pass 1 reserved for its source, from the
    anchors and sinks pass 1 found (``anchor_sink``); the sources' other anchors are not scanned again.

    Returns
    -------
    account, start, end, intermediaries, first_total, second_total : ndarray of int64, shape (n_instances,)
    evidence_rows : ndarray of int64, shape (n_evidence,)
        Per instance, its first hops then its second hops (each in time order), capped.
    """
    n_accounts = offsets.shape[0] - 1
    n = inst_offsets[n_accounts]
    account = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    count = np.empty(n, dtype=np.int64)
    first_total = np.empty(n, dtype=np.int64)
    second_total = np.empty(n, dtype=np.int64)
    ev_rows = np.empty(ev_offsets[n_accounts], dtype=np.int64)
    for s in numba.prange(n_accounts):
        if inst_offsets[s + 1] == inst_offsets[s]:
            continue
        _scatter_write(s, offsets, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, amount, pair_offsets,
                       pair_receiver, pair_row_offsets, pair_rows, pair_ts, window_us, max_fanout, cap, anchor_sink,
                       inst_offsets[s], ev_offsets[s], start, end, count, first_total, second_total, ev_rows)
        for k in range(inst_offsets[s], inst_offsets[s + 1]):
            account[k] = s
    return account, start, end, count, first_total, second_total, ev_rows


@jit
def _local_codes(lo, hi, rows, counterparty, eligible):
    """Local codes ``0..n_local-1`` of the counterparties of the eligible rows at positions
    ``[lo, hi)`` (-1 for other rows), and ``n_local``."""
    values = np.empty(hi - lo, dtype=np.int64)
    n = 0
    for p in range(lo, hi):
        r = rows[p]
        if eligible[r]:
            values[n] = counterparty[r]
            n += 1
    distinct = np.unique(values[:n])
    local = np.full(hi - lo, -1, dtype=np.int64)
    for p in range(lo, hi):
        r = rows[p]
        if eligible[r]:
            local[p - lo] = np.searchsorted(distinct, counterparty[r])
    return local, distinct.shape[0]


@jit
def _gather(h, in_offsets, in_rows, out_offsets, out_rows, ts, amount, sender, receiver, eligible, window_us,
            min_sources, min_destinations, tol_ppm, max_degree, cap, write, inst_pos, ev_pos, out_start, out_end,
            out_sources, out_destinations, out_in_total, out_out_total, out_total, ev_rows):
    """Scan hub ``h``. Returns (instances, evidence rows, truncated windows).

    Anchored at each eligible incoming row (time ``t``), the window holds the hub's eligible
    incoming rows from the anchor on with ``ts < t + window`` and its eligible outgoing rows
    with ``t < ts < t + window``; both slide with the anchor, with per-counterparty counts
    kept in local codes. A window with more than ``max_degree`` distinct senders or
    receivers is not evaluated and counts as truncated. An instance fires when the senders
    number at least ``min_sources``, the receivers at least ``min_destinations`` and the
    outflow is within ``tol_ppm`` of the inflow; the scan resumes after its last inflow.
    """
    in_lo = in_offsets[h]
    in_hi = in_offsets[h + 1]
    out_lo = out_offsets[h]
    out_hi = out_offsets[h + 1]
    in_local, n_in_local = _local_codes(in_lo, in_hi, in_rows, sender, eligible)
    out_local, n_out_local = _local_codes(out_lo, out_hi, out_rows, receiver, eligible)
    in_count = np.zeros(n_in_local, dtype=np.int64)
    out_count = np.zeros(n_out_local, dtype=np.int64)
    n_sources = 0
    n_destinations = 0
    in_total = 0
    out_total_amount = 0
    n_in_rows = 0
    n_out_rows = 0
    n_inst = 0
    n_ev = 0
    n_truncated = 0
    q = in_lo  # incoming rows [p, q) are counted
    ol = out_lo  # outgoing rows [ol, oh) are counted
    oh = out_lo
    p = in_lo
    while p < in_hi:
        r = in_rows[p]
        if not eligible[r]:
            if q == p:
                q = p + 1
            p += 1
            continue
        t = ts[r]
        limit = t + window_us
        while q < in_hi and ts[in_rows[q]] < limit:
            c = in_local[q - in_lo]
            if c >= 0:
                in_count[c] += 1
                if in_count[c] == 1:
                    n_sources += 1
                in_total += amount[in_rows[q]]
                n_in_rows += 1
            q += 1
        while oh < out_hi and ts[out_rows[oh]] < limit:
            c = out_local[oh - out_lo]
            if c >= 0:
                out_count[c] += 1
                if out_count[c] == 1:
                    n_destinations += 1
                out_total_amount += amount[out_rows[oh]]
                n_out_rows += 1
            oh += 1
        while ol < oh and ts[out_rows[ol]] <= t:
            c = out_local[ol - out_lo]
            if c >= 0:
                out_count[c] -= 1
                if out_count[c] == 0:
                    n_destinations -= 1
                out_total_amount -= amount[out_rows[ol]]
                n_out_rows -= 1
            ol += 1
        fired = False
        if n_sources > max_degree or n_destinations > max_degree:
            n_truncated += 1
        elif (n_sources >= min_sources and n_destinations >= min_destinations
              and abs(out_total_amount - in_total) <= _allowance(in_total, tol_ppm)):
            fired = True
            if write:
                i = inst_pos + n_inst
                end = t
                listed = 0
                for j in range(p, q):
                    rj = in_rows[j]
                    if eligible[rj]:
                        if ts[rj] > end:
                            end = ts[rj]
                        if listed < cap:
                            ev_rows[ev_pos + n_ev + listed] = rj
                            listed += 1
                for j in range(ol, oh):
                    rj = out_rows[j]
                    if eligible[rj]:
                        if ts[rj] > end:
                            end = ts[rj]
                        if listed < cap:
                            ev_rows[ev_pos + n_ev + listed] = rj
                            listed += 1
                out_start[i] = t
                out_end[i] = end
                out_sources[i] = n_sources
                out_destinations[i] = n_destinations
                out_in_total[i] = in_total
                out_out_total[i] = out_total_amount
                out_total[i] = n_in_rows + n_out_rows
            n_inst += 1
            n_ev += min(n_in_rows + n_out_rows, cap)
        following = q if fired else p + 1
        while p < following:  # drop the rows before the next anchor from the window
            c = in_local[p - in_lo]
            if c >= 0:
                in_count[c] -= 1
                if in_count[c] == 0:
                    n_sources -= 1
                in_total -= amount[in_rows[p]]
                n_in_rows -= 1
            p += 1
    return n_inst, n_ev, n_truncated


@parallel_jit
def gather_scatter_count(in_offsets, in_rows, out_offsets, out_rows, ts, amount, sender, receiver, eligible,
                         window_us, min_sources, min_destinations, tol_ppm, max_degree, cap):
    """Pass 1: instances, evidence rows and truncated windows per hub account.

    Parameters
    ----------
    in_offsets, out_offsets : ndarray of int64, shape (n_accounts + 1,)
    in_rows, out_rows : ndarray of int32 or int64, shape (n_txn,)
        The by-receiver and by-sender CSR views, time-ordered within each account.
    ts, amount : ndarray of int64, shape (n_txn,)
    sender, receiver : ndarray of int32, shape (n_txn,)
        Account codes (-1 null).
    eligible : ndarray of bool, shape (n_txn,)
        Edges: both parties known and different, one currency.
    window_us, min_sources, min_destinations, tol_ppm, max_degree, cap : int

    Returns
    -------
    n_instances, n_evidence, n_truncated : ndarray of int64, shape (n_accounts,)
    """
    n_accounts = in_offsets.shape[0] - 1
    n_instances = np.zeros(n_accounts, dtype=np.int64)
    n_evidence = np.zeros(n_accounts, dtype=np.int64)
    n_truncated = np.zeros(n_accounts, dtype=np.int64)
    i64 = np.zeros(0, dtype=np.int64)
    for h in numba.prange(n_accounts):
        n_i, n_e, n_t = _gather(h, in_offsets, in_rows, out_offsets, out_rows, ts, amount, sender, receiver,
                                eligible, window_us, min_sources, min_destinations, tol_ppm, max_degree, cap,
                                False, 0, 0, i64, i64, i64, i64, i64, i64, i64, i64)
        n_instances[h] = n_i
        n_evidence[h] = n_e
        n_truncated[h] = n_t
    return n_instances, n_evidence, n_truncated


@parallel_jit
def gather_scatter_fill(in_offsets, in_rows, out_offsets, out_rows, ts, amount, sender, receiver, eligible,
                        window_us, min_sources, min_destinations, tol_ppm, max_degree, cap, inst_offsets,
                        ev_offsets):
    """Pass 2: write every instance at the position pass 1 reserved for its hub.

    Returns
    -------
    account, start, end, sources, destinations, inflow, outflow, evidence_total :
        ndarray of int64, shape (n_instances,)
    evidence_rows : ndarray of int64, shape (n_evidence,)
        Per instance, its inflows then its outflows (each in time order), capped.
    """
    n_accounts = in_offsets.shape[0] - 1
    n = inst_offsets[n_accounts]
    account = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    sources = np.empty(n, dtype=np.int64)
    destinations = np.empty(n, dtype=np.int64)
    inflow = np.empty(n, dtype=np.int64)
    outflow = np.empty(n, dtype=np.int64)
    listed_total = np.empty(n, dtype=np.int64)
    ev_rows = np.empty(ev_offsets[n_accounts], dtype=np.int64)
    for h in numba.prange(n_accounts):
        if inst_offsets[h + 1] == inst_offsets[h]:
            continue
        _gather(h, in_offsets, in_rows, out_offsets, out_rows, ts, amount, sender, receiver, eligible, window_us,
                min_sources, min_destinations, tol_ppm, max_degree, cap, True, inst_offsets[h], ev_offsets[h], start,
                end, sources, destinations, inflow, outflow, listed_total, ev_rows)
        for k in range(inst_offsets[h], inst_offsets[h + 1]):
            account[k] = h
    return account, start, end, sources, destinations, inflow, outflow, listed_total, ev_rows
