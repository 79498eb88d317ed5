"""Behavioural features per account, for scoring.

One output row per account, so there is no two-pass pattern: every account writes its own
slot of preallocated arrays inside ``numba.prange``. Each account's values, floating ones
included, are computed by one thread in a fixed order (the ledger order of its rows), so the
result is bit-identical for any number of threads.

Red flags behind the features: FinCEN FIN-2014-A008 and FIN-2020-A008 (cash deposits, channel
mix, many senders, amounts just under reporting thresholds); FINTRAC 2016-OA003 (late-night
activity); burstiness after Goh & Barabasi, "Burstiness and memory in complex systems",
EPL 81 (2008) 48002.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._jit import jit, parallel_jit

DAY_US = 86_400_000_000
INT64_MAX = np.iinfo(np.int64).max


@jit
def _merged(rows_a, lo_a, hi_a, rows_b, lo_b, hi_b):
    """Union of two ascending row lists ``rows_a[lo_a:hi_a]`` and ``rows_b[lo_b:hi_b]``,
    ascending; a row in both (a self-transfer) appears once."""
    out = np.empty((hi_a - lo_a) + (hi_b - lo_b), dtype=np.int64)
    n = 0
    i = lo_a
    j = lo_b
    while i < hi_a or j < hi_b:
        if j >= hi_b or (i < hi_a and rows_a[i] < rows_b[j]):
            out[n] = rows_a[i]
            i += 1
        elif i >= hi_a or rows_b[j] < rows_a[i]:
            out[n] = rows_b[j]
            j += 1
        else:  # the same row on both sides
            out[n] = rows_a[i]
            i += 1
            j += 1
        n += 1
    return out[:n]


@jit
def _distinct(rows, lo, hi, codes):
    """Number of distinct non-negative ``codes[rows[lo:hi]]`` (negative = null, not counted)."""
    if hi == lo:
        return 0
    values = np.empty(hi - lo, dtype=np.int64)
    for k in range(lo, hi):
        values[k - lo] = codes[rows[k]]
    values.sort()
    count = 0
    previous = -1
    for v in values:
        if v >= 0 and v != previous:
            count += 1
            previous = v
    return count


@jit
def _side(rows, lo, hi, amount, channel, cash_code, under):
    """Exact sum (and whether it left the int64 range), cash rows and ``under`` rows of one side."""
    total = 0
    overflow = False
    cash = 0
    n_under = 0
    for k in range(lo, hi):
        r = rows[k]
        if amount[r] > INT64_MAX - total:
            overflow = True
        else:
            total += amount[r]
        if channel[r] == cash_code:
            cash += 1
        if under[r]:
            n_under += 1
    return total, overflow, cash, n_under


@jit
def _share(part, whole):
    return part / whole if whole > 0 else np.nan


@jit
def _account(a, out_offsets, out_rows, in_offsets, in_rows, sender, receiver, ts, amount, channel, cash_code,
             is_round, under_in, under_out, night, n_in, n_out, sum_in, sum_out, overflow, distinct_senders,
             distinct_receivers, cash_in_share, cash_out_share, channel_share, round_share, just_under_count,
             night_share, burstiness, active_days, first_seen, last_seen):
    """Every feature of account ``a``, written at position ``a`` of the output arrays."""
    lo_i, hi_i = in_offsets[a], in_offsets[a + 1]
    lo_o, hi_o = out_offsets[a], out_offsets[a + 1]
    count_in = hi_i - lo_i
    count_out = hi_o - lo_o
    total_in, over_in, cash_in, under_in_count = _side(in_rows, lo_i, hi_i, amount, channel, cash_code, under_in)
    total_out, over_out, cash_out, under_out_count = _side(out_rows, lo_o, hi_o, amount, channel, cash_code,
                                                           under_out)
    n_in[a] = count_in
    n_out[a] = count_out
    sum_in[a] = total_in
    sum_out[a] = total_out
    overflow[a] = over_in or over_out
    distinct_senders[a] = _distinct(in_rows, lo_i, hi_i, sender)
    distinct_receivers[a] = _distinct(out_rows, lo_o, hi_o, receiver)
    cash_in_share[a] = _share(cash_in, count_in)
    cash_out_share[a] = _share(cash_out, count_out)

    # all the account's rows, in ledger order, a self-transfer once
    rows = _merged(in_rows, lo_i, hi_i, out_rows, lo_o, hi_o)
    n_rows = rows.shape[0]
    n_channels = channel_share.shape[1]
    per_channel = np.zeros(n_channels, dtype=np.int64)
    n_round = 0
    n_night = 0
    n_known = 0
    days = 0
    last_day = 0
    for k in range(n_rows):
        r = rows[k]
        per_channel[channel[r]] += 1
        if is_round[r]:
            n_round += 1
        if night[r] >= 0:
            n_known += 1
            n_night += night[r]
        day = ts[r] // DAY_US
        if k == 0 or day != last_day:
            days += 1
            last_day = day
    for c in range(n_channels):
        channel_share[a, c] = _share(per_channel[c], n_rows)
    round_share[a] = _share(n_round, n_rows)
    # under_in and under_out never hold for one row (their channels differ), so a
    # self-transfer is not counted twice
    just_under_count[a] = under_in_count + under_out_count
    night_share[a] = _share(n_night, n_known)
    active_days[a] = days
    if n_rows > 0:
        first_seen[a] = ts[rows[0]]
        last_seen[a] = ts[rows[n_rows - 1]]
    else:
        first_seen[a] = 0
        last_seen[a] = 0

    # burstiness of the n_rows - 1 gaps between consecutive rows (population sigma)
    burstiness[a] = np.nan
    if n_rows >= 3:
        n_gaps = n_rows - 1
        mu = float(ts[rows[n_rows - 1]] - ts[rows[0]]) / float(n_gaps)
        squares = 0.0
        for k in range(1, n_rows):
            d = float(ts[rows[k]] - ts[rows[k - 1]]) - mu
            squares += d * d
        sigma = math.sqrt(squares / float(n_gaps))
        if sigma + mu != 0.0:
            burstiness[a] = (sigma - mu) / (sigma + mu)


@parallel_jit
def account_features(out_offsets, out_rows, in_offsets, in_rows, sender, receiver, ts, amount, channel, n_channels,
                     cash_code, is_round, under_in, under_out, night):
    """Behavioural features of every account.

    Parameters
    ----------
    out_offsets, in_offsets : ndarray of int64, shape (n_accounts + 1,)
    out_rows, in_rows : ndarray of int32 or int64
        CSR views by sender and by receiver; rows ascending (ledger order) within each account.
    sender, receiver : ndarray of int32, shape (n_txn,)
        Account codes, -1 for null (cash, or outside the bank).
    ts : ndarray of int64, shape (n_txn,)
        Microseconds since the epoch (UTC), non-decreasing in row order.
    amount : ndarray of int64, shape (n_txn,)
        Minor units.
    channel : ndarray of int64, shape (n_txn,)
        Channel codes in ``[0, n_channels)``.
    n_channels, cash_code : int
    is_round : ndarray of bool, shape (n_txn,)
        The amount is a whole multiple of the round unit of its currency.
    under_in, under_out : ndarray of bool, shape (n_txn,)
        Just under a threshold, counted for the receiver (cash deposits) or the sender (wires);
        never both for one row, so a self-transfer is not counted twice.
    night : ndarray of int8, shape (n_txn,)
        1 at night local time, 0 by day, -1 where the local time is unknown.

    Returns
    -------
    n_in, n_out, sum_in, sum_out : ndarray of int64, shape (n_accounts,)
    overflow : ndarray of bool, shape (n_accounts,)
        A sum left the int64 range (its value is then not exact).
    distinct_senders, distinct_receivers : ndarray of int64, shape (n_accounts,)
    cash_in_share, cash_out_share : ndarray of float64, shape (n_accounts,)
    channel_share : ndarray of float64, shape (n_accounts, n_channels)
    round_share : ndarray of float64, shape (n_accounts,)
    just_under_count : ndarray of int64, shape (n_accounts,)
    night_share, burstiness : ndarray of float64, shape (n_accounts,)
    active_days, first_seen, last_seen : ndarray of int64, shape (n_accounts,)
    """
    n_accounts = out_offsets.shape[0] - 1
    n_in = np.empty(n_accounts, dtype=np.int64)
    n_out = np.empty(n_accounts, dtype=np.int64)
    sum_in = np.empty(n_accounts, dtype=np.int64)
    sum_out = np.empty(n_accounts, dtype=np.int64)
    overflow = np.empty(n_accounts, dtype=np.bool_)
    distinct_senders = np.empty(n_accounts, dtype=np.int64)
    distinct_receivers = np.empty(n_accounts, dtype=np.int64)
    cash_in_share = np.empty(n_accounts, dtype=np.float64)
    cash_out_share = np.empty(n_accounts, dtype=np.float64)
    channel_share = np.empty((n_accounts, n_channels), dtype=np.float64)
    round_share = np.empty(n_accounts, dtype=np.float64)
    just_under_count = np.empty(n_accounts, dtype=np.int64)
    night_share = np.empty(n_accounts, dtype=np.float64)
    burstiness = np.empty(n_accounts, dtype=np.float64)
    active_days = np.empty(n_accounts, dtype=np.int64)
    first_seen = np.empty(n_accounts, dtype=np.int64)
    last_seen = np.empty(n_accounts, dtype=np.int64)
    for a in numba.prange(n_accounts):
        _account(a, out_offsets, out_rows, in_offsets, in_rows, sender, receiver, ts, amount, channel, cash_code,
                 is_round, under_in, under_out, night, n_in, n_out, sum_in, sum_out, overflow, distinct_senders,
                 distinct_receivers, cash_in_share, cash_out_share, channel_share, round_share, just_under_count,
                 night_share, burstiness, active_days, first_seen, last_seen)
    return (n_in, n_out, sum_in, sum_out, overflow, distinct_senders, distinct_receivers, cash_in_share,
            cash_out_share, channel_share, round_share, just_under_count, night_share, burstiness, active_days,
            first_seen, last_seen)
