"""Peer implementations of three rules in plain vectorised NumPy, for the kernel benchmark.

The third peer beside DuckDB and Polars (:mod:`benchmarks.peers`): what a NumPy user would
write for the same definitions, with sorts (``np.sort`` of packed keys, ``np.lexsort``),
binary searches (``np.searchsorted``), running sums and minima (``np.cumsum``,
``np.minimum.accumulate``) and segment reductions (``np.add.reduceat``,
``np.maximum.reduceat``, ``np.unique``, ``np.bincount``). No Numba, and no Python loop over
rows, accounts or instances. Each function takes a canonical ledger (a pyarrow Table) and the
rule's options (defaults when None) and returns the same *comparison tables* as the other
peers (``peers.tables_equal`` to flowscan's, built with ``peers.canonical``); the formulation
is the one of the :mod:`benchmarks.peers` docstring, which says why it is exact. Unlike the
other two peers, it also honours ``merchant_payments = False`` (fan-in, rapid movement).

Conversion from Arrow is part of the measured work, as for the other peers:

- numbers (timestamp as int64 µs, amount) with ``to_numpy``;
- the fixed-dictionary columns (``channel``, ``currency``) become their dictionary codes;
- the text columns that are compared (``sender`` and ``receiver``, in one code space, and
  ``location``) become int64 codes (-1 for null) with Arrow's hash, ``dictionary_encode``:
  NumPy has no string hashing, and its own route, ``np.unique`` over the object array that
  ``to_numpy`` gives, sorts Python strings (about 12x slower at 1M rows: 3.1 s against
  0.25 s for sender and receiver, measured once). Account ids go back to text for the output.

The Python loops are over a handful of items (the classes and currencies of structuring, the
window lengths and horizons, Arrow chunks) and over the steps of the greedy chain below.

Shared tools
------------
*Groups.* A rule's rows are sorted by group (account; also class and currency for
structuring, currency for rapid movement) and, within a group, by ledger position, which is
(timestamp, txn_id) order, so times are nondecreasing inside a group. The sort keys and the
row number are packed into one int64 and sorted with ``np.sort`` (several times faster than
``np.argsort`` here, measured), and the row number read back; ``np.lexsort`` when the packed
key would not fit in int64 (:data:`PACK_LIMIT`).

*Windows.* ``j(k)``, the last row of ``k``'s group with ``ts < ts_k + W``, is one
``searchsorted`` on the sorted key ``group * (U + 1) + rank(ts)``, with ``rank`` the dense
rank of the timestamp among the ledger's ``U`` distinct times (a running count over the
time-sorted ledger); the rank of the last time before ``ts + W`` is searched once per
distinct time, in order, and looked up by rank (for a small set of rows, searched directly).
Window sums are differences of one running sum.

*Greedy chain* (structuring, fan-in). Whether the window anchored at ``k`` fires depends on
``k`` alone. The next firing anchor at or after ``x`` is a reverse running minimum over the
whole sorted array (it is in ``x``'s group when it is before the group's end); the greedy
scan reports the group's first firing anchor ``f``, then the next firing anchor at or after
``j(f) + 1``, and so on. This walk is the one inherently sequential step, and the one Python
loop over data: each step advances *all groups at once* (a NumPy gather over the groups still
walking), and there are as many steps as the longest chain has instances, at most the
ledger's period over ``W`` plus 1 (75 for 24-hour windows over the generator's 74 days): never
one step per row, group or instance. The Polars peer's loop of joins is the same walk.

What each function mirrors
--------------------------
:func:`structuring_numpy` mirrors ``structuring_duckdb``/``_polars``: the parts of each class
and currency, ``j``, the window total from the running sum, the greedy chain; per instance the
largest part by ``np.maximum.reduceat`` over its rows, and the distinct (non-null) locations
and counterparties by ``np.unique`` of ``(instance, code)`` pairs.

:func:`fan_in_numpy` mirrors ``fan_in_polars``: the distinct senders of every anchored window
as one running sum of +1/-1 marks (row ``i`` is the first of its sender in the windows of the
anchors ``[max(prev(i) + 1, p_min(i)), i]``; ``prev`` from a sort by (receiver, sender),
``p_min`` by ``searchsorted``); the ``fan_in_max_<W>`` features by ``np.maximum.reduceat``;
the greedy chain; the top sender's sum of each instance by a sort of ``(instance, sender)``
pairs and two ``reduceat``.

:func:`rapid_numpy` mirrors ``rapid_polars``'s FIFO-as-money-intervals formulation: per
account and currency, ``I`` and ``S`` are running sums; the running minimum of ``S`` per group
is one global ``np.minimum.accumulate`` after each group is shifted above the ones after it
(exact in int64: the shifts sum to at most twice the ledger's total amount plus the number of
groups); ``C = I - (S - min(0, min S))``. Every as-of join is a ``searchsorted``: on time
through the ``group, rank(ts)`` key, and on money through a *global money axis*, ``C`` (or
``I``) plus the inflow of the groups sorted before, which is strictly increasing over the
consuming outflows (over the lots) of the whole ledger, so one search finds the first outflow
of the lot's own group with ``C_o >= target``. Accounts that truncate (``max_lots``) are found
the same way and left out of instances and features, as in the other peers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.peers import (
    FAN_IN_SCHEMA, RAPID_SCHEMA, STRUCTURING_SCHEMA, TRUNCATED_SCHEMA, US, _low, canonical,
    fan_in_feature_schema, rapid_feature_schema,
)
from flowscan import params
from flowscan.rules.fan import FanIn
from flowscan.rules.rapid import PPM, RapidMovement
from flowscan.rules.structuring import Structuring

I64 = np.int64
PACK_LIMIT = 2**62
"""Packed sort keys are used while the product of their spans stays below this."""


# -- conversion from Arrow -----------------------------------------------------------------------


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    """An int64 column (a timestamp as µs since the epoch) as a NumPy array."""
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy()
    return column.to_numpy()


def _dictionary_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Codes of a dictionary (or text) column into one list of its values (-1 for null)."""
    lookup: dict = {}
    parts = []
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        values = chunk.dictionary.to_pylist()
        remap = np.array([lookup.setdefault(v, len(lookup)) for v in values] + [-1], dtype=I64)
        indices = pc.fill_null(chunk.indices, len(values)).to_numpy()
        parts.append(remap[indices])
    codes = np.concatenate(parts) if parts else np.zeros(0, I64)
    return codes, list(lookup)


def _in(codes: np.ndarray, values: list, wanted) -> np.ndarray:
    """Rows whose code's value is one of ``wanted`` (a lookup table indexed by code)."""
    table = np.zeros(len(values) + 1, dtype=bool)  # the last entry is code -1, null
    table[[values.index(v) for v in wanted if v in values]] = True
    return table[codes]


def _text_codes(column: pa.ChunkedArray) -> np.ndarray:
    """int64 codes of a text column (Arrow's hash), -1 for null."""
    encoded = column.combine_chunks().dictionary_encode()
    return pc.fill_null(encoded.indices, -1).to_numpy().astype(I64)


def _accounts(ledger: pa.Table) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Sender and receiver codes in one code space (-1 for null), and the account ids."""
    sender, receiver = ledger.column("sender"), ledger.column("receiver")
    both = pa.chunked_array(sender.chunks + receiver.chunks, type=pa.string()).combine_chunks()
    encoded = both.dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy().astype(I64)
    n = ledger.num_rows
    return codes[:n], codes[n:], encoded.dictionary


def _transfer_rows(ledger: pa.Table, merchant_payments: bool) -> np.ndarray:
    if merchant_payments:
        return np.ones(ledger.num_rows, dtype=bool)
    return ledger.column("mcc").is_null().to_numpy(zero_copy_only=False)


def _time_ranks(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense rank of every row's timestamp, and the distinct timestamps (sorted), in one pass
    over the canonical ledger's nondecreasing times."""
    if np.any(ts[1:] < ts[:-1]):
        raise ValueError("the peers need a canonical ledger, in (timestamp, txn_id) order")
    new = np.empty(len(ts), dtype=bool)
    new[:1] = True
    np.not_equal(ts[1:], ts[:-1], out=new[1:])
    return np.cumsum(new) - 1, ts[new]


# -- shared tools --------------------------------------------------------------------------------


def _sorted_last(keys: list[tuple[np.ndarray, int]], last: np.ndarray, last_span: int) -> np.ndarray:
    """``last`` (distinct values in ``[0, last_span)``) reordered by ``(keys..., last)``, each
    key an array of values in ``[0, span)``. When the spans' product fits, the keys are packed
    into one int64 and sorted with ``np.sort`` (several times faster than ``np.argsort`` or
    ``np.lexsort`` here), and ``last`` is read back from the packed values; else ``np.lexsort``."""
    size = int(last_span)
    for _, span in keys:
        size *= max(int(span), 1)
    if size < PACK_LIMIT:
        packed = np.zeros(len(last), dtype=I64)
        for values, span in keys:
            packed *= I64(span)
            packed += values
        packed *= I64(last_span)
        packed += last
        packed.sort()
        return packed % I64(last_span)
    return last[np.lexsort([last] + [values for values, _ in reversed(keys)])]


def _order(keys: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """The stable sorting order of rows by ``keys`` (most significant first)."""
    m = len(keys[0][0])
    return _sorted_last(keys, np.arange(m, dtype=I64), m)


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a sorted key: group number per row, first row of each group, end (exclusive) per row."""
    m = len(key)
    new = np.empty(m, dtype=bool)
    if m:
        new[0] = True
        np.not_equal(key[1:], key[:-1], out=new[1:])
    gid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], m)
    return gid, starts, ends[gid] if m else np.zeros(0, I64)


class _Windows:
    """``j(k)`` and friends for rows sorted by (group, ledger position): ``gid`` their group
    numbers, ``ts`` their times, ``rank`` the dense rank of their times among ``uniq``, the
    ledger's distinct times (:func:`_time_ranks`)."""

    def __init__(self, gid: np.ndarray, ts: np.ndarray, rank: np.ndarray, uniq: np.ndarray):
        self.span = I64(len(uniq) + 1)
        self.gid = gid
        self.ts = ts
        self.rank = rank
        self.uniq = uniq
        self.key = gid * self.span + rank  # sorted: group, then time rank

    def _rank_of(self, rows: np.ndarray | None, delta_us: int, side: str) -> np.ndarray:
        """Rank of the last distinct time ``< ts + delta`` (side left) or ``<= ts + delta``
        (right) for the rows ``rows``. Many rows: searched once per distinct time, in order (a
        search in sorted order is several times faster), then looked up by rank."""
        ts = self.ts if rows is None else self.ts[rows]
        if len(ts) * 8 < len(self.uniq):
            return np.searchsorted(self.uniq, ts + delta_us, side=side) - 1
        per_time = np.searchsorted(self.uniq, self.uniq + delta_us, side=side) - 1
        return per_time[self.rank if rows is None else self.rank[rows]]

    def last_before(self, delta_us: int, at: np.ndarray | None = None) -> np.ndarray:
        """Per row ``k`` (of ``at``, default all), the last row of its group with
        ``ts < ts_k + delta`` (>= k when delta > 0)."""
        gid = self.gid if at is None else self.gid[at]
        r = self._rank_of(at, delta_us, "left")
        return np.searchsorted(self.key, gid * self.span + r, side="right") - 1

    def first_after(self, delta_us: int) -> np.ndarray:
        """Per row ``i``, the first row of its group with ``ts > ts_i - delta``."""
        r = self._rank_of(None, -delta_us, "right")
        return np.searchsorted(self.key, self.gid * self.span + r, side="right")


def _greedy(fires: np.ndarray, j: np.ndarray, starts: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The anchors the greedy scan reports (sorted indices; see the module docstring).

    One loop step per instance of the longest chain, each step a gather over all groups."""
    m = len(fires)
    candidate = np.where(fires, np.arange(m), m)
    next_firing = np.append(np.minimum.accumulate(candidate[::-1])[::-1], m)
    frontier = next_firing[starts]
    frontier = frontier[frontier < end[starts]] if m else frontier[:0]
    found = []
    while frontier.size:
        found.append(frontier)
        successor = next_firing[j[frontier] + 1]
        frontier = successor[successor < end[frontier]]
    return np.sort(np.concatenate(found)) if found else np.zeros(0, I64)


def _ranges(first: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The indices ``first[i] .. first[i] + lengths[i] - 1`` of every instance, concatenated,
    and the offsets of each instance in that list."""
    offsets = np.zeros(len(lengths) + 1, dtype=I64)
    np.cumsum(lengths, out=offsets[1:])
    rows = np.repeat(first - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=I64)
    return rows, offsets


def _distinct(label: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Distinct non-negative codes per label (``0 .. n-1``)."""
    keep = codes >= 0
    span = I64(codes.max() + 1) if keep.any() else I64(1)
    pairs = np.unique(label[keep] * span + codes[keep])
    return np.bincount(pairs // span, minlength=n).astype(I64)


def _share_reached(part: np.ndarray, whole: np.ndarray, ppm: int) -> np.ndarray:
    """``part * 1e6 >= ppm * whole`` exactly in int64 (the kernels' decomposition)."""
    q = whole // PPM
    r = whole - q * PPM
    d = part - ppm * q
    small = (d >= 0) & (d < PPM)
    return (d >= PPM) | (small & (np.where(small, d, 0) * PPM >= ppm * r))


def _empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


# -- structuring ---------------------------------------------------------------------------------


def structuring_numpy(ledger: pa.Table, options: Structuring | None = None) -> dict[str, pa.Table]:
    """Structuring instances with NumPy sorts, searches and running sums (module docstring)."""
    options = options or Structuring()
    ts = _numbers(ledger.column("timestamp"))
    amount = _numbers(ledger.column("amount"))
    channel, channels = _dictionary_codes(ledger.column("channel"))
    currency, currencies = _dictionary_codes(ledger.column("currency"))
    sender, receiver, names = _accounts(ledger)
    location = _text_codes(ledger.column("location"))
    n_codes = I64(len(names) + 1)

    labels, thresholds, rows, accts, cps, piece = [], [], [], [], [], []
    for cls in options.classes:
        acct, cp = (receiver, sender) if cls.side == "in" else (sender, receiver)
        in_class = _in(channel, channels, cls.channels) & (acct >= 0)
        for code, threshold in sorted(cls.thresholds_minor.items()):
            low = _low(options.band, threshold)
            chosen = np.flatnonzero(in_class & _in(currency, currencies, [code]) & (amount >= low)
                                    & (amount < threshold))
            piece.append(np.full(len(chosen), len(labels), dtype=I64))
            labels.append(f"{cls.name}.{cls.side}")
            thresholds.append(threshold)
            rows.append(chosen)
            accts.append(acct[chosen])
            cps.append(cp[chosen])
    if not labels or not sum(len(r) for r in rows):
        return {"instances": _empty(STRUCTURING_SCHEMA)}
    piece = np.concatenate(piece)
    order = _order([(piece, len(labels)), (np.concatenate(accts), n_codes)])  # ledger order within
    piece = piece[order]
    acct = np.concatenate(accts)[order]
    cp = np.concatenate(cps)[order]
    row = np.concatenate(rows)[order]
    part_ts, part_amount, part_location = ts[row], amount[row], location[row]
    threshold = np.asarray(thresholds, dtype=I64)[piece]
    m = len(row)

    gid, starts, end = _groups(piece * n_codes + acct)
    rank, uniq = _time_ranks(ts)
    windows = _Windows(gid, part_ts, rank[row], uniq)
    running = np.zeros(m + 1, dtype=I64)
    np.cumsum(part_amount, out=running[1:])
    k = np.arange(m, dtype=I64)
    rule_names = np.array(labels, dtype=object)
    results = []
    for seconds in options.window_seconds:
        j = windows.last_before(seconds * US)
        total = running[j + 1] - running[k]
        fires = (j - k + 1 >= options.min_count) & (total >= threshold)
        first = _greedy(fires, j, starts, end)
        if not len(first):
            continue
        last = j[first]
        inside, offsets = _ranges(first, last - first + 1)
        label = np.repeat(np.arange(len(first), dtype=I64), np.diff(offsets))
        suffix = f".{params.format_duration(seconds)}"
        results.append(pa.table({
            "rule": pa.array(["structuring." + name + suffix for name in rule_names[piece[first]]], pa.string()),
            "account": names.take(pa.array(acct[first])),
            "window_start": pa.array(part_ts[first]),
            "window_end": pa.array(part_ts[last]),
            "parts": pa.array(last - first + 1),
            "total": pa.array(total[first]),
            "largest_part": pa.array(np.maximum.reduceat(part_amount[inside], offsets[:-1])),
            "distinct_locations": pa.array(_distinct(label, part_location[inside], len(first))),
            "distinct_counterparties": pa.array(_distinct(label, cp[inside], len(first))),
        }))
    if not results:
        return {"instances": _empty(STRUCTURING_SCHEMA)}
    return {"instances": canonical(pa.concat_tables(results), STRUCTURING_SCHEMA)}


# -- fan-in --------------------------------------------------------------------------------------


def fan_in_numpy(ledger: pa.Table, options: FanIn | None = None) -> dict[str, pa.Table]:
    """Fan-in instances and ``fan_in_max_<W>`` features with NumPy (module docstring)."""
    options = options or FanIn()
    ts = _numbers(ledger.column("timestamp"))
    amount = _numbers(ledger.column("amount"))
    sender, receiver, names = _accounts(ledger)
    n_codes = I64(len(names) + 1)
    row = np.flatnonzero((receiver >= 0) & (sender >= 0) & _transfer_rows(ledger, options.merchant_payments))
    row = _sorted_last([(receiver[row], n_codes)], row, ledger.num_rows)  # by receiver, ledger order within
    acct, who, paid = receiver[row], sender[row], amount[row]
    m = len(row)
    feature_schema = fan_in_feature_schema(options)
    if m == 0:
        return {"instances": _empty(FAN_IN_SCHEMA), "features": _empty(feature_schema)}
    gid, starts, end = _groups(acct)
    rank, uniq = _time_ranks(ts)
    row_ts = ts[row]
    windows = _Windows(gid, row_ts, rank[row], uniq)
    k = np.arange(m, dtype=I64)
    # prev(i): the previous row of the same receiver and sender (-1 if none)
    by_pair = _order([(acct, n_codes), (who, n_codes)])
    pair = (acct * n_codes + who)[by_pair]
    prev = np.full(m, -1, dtype=I64)
    same = pair[1:] == pair[:-1]
    prev[by_pair[1:][same]] = by_pair[:-1][same]
    running = np.zeros(m + 1, dtype=I64)
    np.cumsum(paid, out=running[1:])

    features = {"account": names.take(pa.array(acct[starts]))}
    results = []
    for seconds in options.window_seconds:
        w = seconds * US
        window = params.format_duration(seconds)
        j = windows.last_before(w)
        lo = np.maximum(prev + 1, windows.first_after(w))
        distinct = np.cumsum(np.bincount(lo, minlength=m + 1) - np.bincount(k + 1, minlength=m + 1))[:m]
        features[f"fan_in_max_{window}"] = pa.array(np.maximum.reduceat(distinct, starts).astype(I64))
        total = running[j + 1] - running[k]
        first = _greedy(distinct >= options.min_counterparties, j, starts, end)
        if not len(first):
            continue
        last = j[first]
        inside, offsets = _ranges(first, last - first + 1)
        label = np.repeat(np.arange(len(first), dtype=I64), np.diff(offsets))
        key = label * n_codes + who[inside]
        by_key = _order([(label, len(first)), (who[inside], n_codes)])
        key = key[by_key]
        bounds = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        per_sender = np.add.reduceat(paid[inside][by_key], bounds)
        owner = key[bounds] // n_codes
        top = np.maximum.reduceat(per_sender, np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1]))))
        inst_total = total[first]
        share = np.divide(top.astype(np.float64), inst_total.astype(np.float64),
                          out=np.zeros(len(first), dtype=np.float64), where=inst_total > 0)
        results.append(pa.table({
            "rule": pa.array([f"fan_in.{window}"] * len(first), pa.string()),
            "account": names.take(pa.array(acct[first])),
            "window_start": pa.array(row_ts[first]),
            "window_end": pa.array(row_ts[last]),
            "distinct_senders": pa.array(distinct[first].astype(I64)),
            "total": pa.array(inst_total),
            "top_sender_share": pa.array(share),
            "rows": pa.array(last - first + 1),
        }))
    instances = canonical(pa.concat_tables(results), FAN_IN_SCHEMA) if results else _empty(FAN_IN_SCHEMA)
    return {"instances": instances, "features": canonical(pa.table(features), feature_schema)}


# -- rapid movement ------------------------------------------------------------------------------


def _by_group(values: np.ndarray, starts: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """Inclusive running sum of ``values`` restarted at every group (int64, exact)."""
    running = np.cumsum(values)
    before = running[starts] - values[starts]
    return running - before[gid]


def _running_min_by_group(values: np.ndarray, starts: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """Running minimum restarted at every group: each group is shifted to ``[0, range]`` and
    lifted above every group after it, so one global running minimum never reaches back."""
    low = np.minimum.reduceat(values, starts)
    width = np.maximum.reduceat(values, starts) - low + 1
    above = np.cumsum(width[::-1])[::-1] - width  # sum of the widths of the later groups
    lift = above - low
    return np.minimum.accumulate(values + lift[gid]) - lift[gid]


def _per_account(values: np.ndarray, acct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``values`` per account for rows sorted by account: (accounts, sums)."""
    if not len(acct):
        return acct, values
    starts = np.flatnonzero(np.concatenate(([True], acct[1:] != acct[:-1])))
    return acct[starts], np.add.reduceat(values, starts)


def rapid_numpy(ledger: pa.Table, options: RapidMovement | None = None) -> dict[str, pa.Table]:
    """Rapid-movement instances and features with NumPy sorts and searches (module docstring)."""
    options = options or RapidMovement()
    ppm = options.min_share_ppm
    ts = _numbers(ledger.column("timestamp"))
    amount = _numbers(ledger.column("amount"))
    channel, channels = _dictionary_codes(ledger.column("channel"))
    currency, currencies = _dictionary_codes(ledger.column("currency"))
    sender, receiver, names = _accounts(ledger)
    n = I64(ledger.num_rows)
    n_cur = I64(len(currencies) + 1)
    n_codes = I64(len(names) + 1)
    keep = _transfer_rows(ledger, options.merchant_payments)
    not_self = (sender < 0) | (receiver < 0) | (sender != receiver)
    ins = np.flatnonzero((receiver >= 0) & not_self & keep)
    outs = np.flatnonzero((sender >= 0) & not_self & keep)
    # events: one per (row, side), slot 2 * row (+1 for the sender's side), sorted by account,
    # currency, then ledger position
    slot = np.concatenate((2 * ins, 2 * outs + 1))
    acct = np.concatenate((receiver[ins], sender[outs]))
    slot = _sorted_last([(acct, n_codes), (currency[slot // 2], n_cur)], slot, 2 * n)
    pos = slot // 2
    is_in = (slot & 1) == 0
    del slot, ins, outs, not_self, keep
    acct = np.where(is_in, receiver[pos], sender[pos])
    cur = currency[pos]
    net = amount[pos]  # inflow minus outflow
    inflow = np.where(is_in, net, 0)
    np.negative(net, out=net, where=~is_in)
    del is_in
    feature_schema = rapid_feature_schema(options)
    if not len(pos):
        return {"instances": _empty(RAPID_SCHEMA), "features": _empty(feature_schema),
                "truncated": _empty(TRUNCATED_SCHEMA)}
    # features' totals, per account, all currencies summed as they are
    accounts, total_in = _per_account(inflow, acct)
    _, total_out = _per_account(inflow - net, acct)

    gid, starts, _ = _groups(acct * n_cur + cur)
    i_cum = _by_group(inflow, starts, gid)
    s_cum = _by_group(net, starts, gid)
    del net
    c_cum = i_cum - (s_cum - np.minimum(_running_min_by_group(s_cum, starts, gid), 0))
    del s_cum
    base = np.cumsum(inflow) - i_cum  # inflow of the groups before (constant per group): the money axis
    event_ts = ts[pos]
    # consuming outflows: C strictly increasing within a group, C + base over the whole ledger
    c_prev = np.concatenate(([0], c_cum[:-1]))
    c_prev[starts] = 0
    po = np.flatnonzero(c_cum > c_prev)
    po_c = c_cum[po]
    po_len = po_c - c_prev[po]
    del c_prev
    po_wire = channel[pos[po]] == channels.index("wire") if "wire" in channels else np.zeros(len(po), bool)
    po_axis = po_c + base[po]
    wc = np.cumsum(np.where(po_wire, po_len, 0))
    # lots
    lot = np.flatnonzero(inflow > 0)
    lot_in = inflow[lot]
    hi = i_cum[lot]
    lo = hi - lot_in
    lot_base = base[lot]
    lot_acct = acct[lot]
    lot_ts = event_ts[lot]
    # truncated accounts: open lots once lot n opened (without drops) = n - lots with hi <= C then
    group_first_lot = np.searchsorted(lot, starts)[gid[lot]]
    n_lot = np.arange(len(lot), dtype=I64) - group_first_lot + 1
    n_done = np.searchsorted(hi + lot_base, c_cum[lot] + lot_base, side="right") - group_first_lot
    truncated = np.unique(lot_acct[n_lot - n_done > options.max_lots])
    del n_lot, n_done, group_first_lot, inflow, i_cum, base

    listed = ~np.isin(lot_acct, truncated)
    floor = np.full(len(currencies) + 1, np.iinfo(I64).max)  # a currency not listed makes no instance
    for code, minor in options.min_amount_minor.items():
        if code in currencies:
            floor[currencies.index(code)] = minor
    listed &= lot_in >= floor[cur[lot]]
    cash = channel[pos[lot]] == (channels.index("cash") if "cash" in channels else -2)
    rank, uniq = _time_ranks(ts)
    windows = _Windows(gid, event_ts, rank[pos], uniq)
    instances, shares = [], []
    for seconds in options.horizon_seconds:
        horizon = params.format_duration(seconds)
        reached = windows.last_before(seconds * US, lot)  # last event at or before ts + H - 1
        consumed = np.maximum(np.minimum(c_cum[reached], hi) - lo, 0)
        shares.append(_per_account(consumed, lot_acct))
        pick = np.flatnonzero(listed & (consumed > 0))
        pick = pick[_share_reached(consumed[pick], lot_in[pick], ppm)]
        if not len(pick):
            continue
        got, inn, low, axis = consumed[pick], lot_in[pick], lo[pick], lot_base[pick]
        target = low + got
        last = np.searchsorted(po_axis, target + axis, side="left")
        first = np.searchsorted(po_axis, low + 1 + axis, side="left")
        middle = np.searchsorted(po_axis, low + (got + 1) // 2 + axis, side="left")
        wired = (wc[last] - (wc[first] - np.where(po_wire[first], po_len[first], 0))
                 - np.where(po_wire[first], low - (po_c[first] - po_len[first]), 0)
                 - np.where(po_wire[last], po_c[last] - target, 0))
        start = lot_ts[pick]
        common = {
            "account": names.take(pa.array(lot_acct[pick])),
            "window_start": pa.array(start),
            "window_end": pa.array(event_ts[po[last]]),
            "share_out_within": pa.array(got / inn),
        }
        tail = {"inflow": pa.array(inn), "held_seconds": pa.array((event_ts[po[middle]] - start) / 1e6),
                "n_evidence_total": pa.array(last - first + 2)}
        plain = pa.table({"rule": pa.array([f"rapid.{horizon}"] * len(pick), pa.string()), **common,
                          "wire_share_out_within": pa.nulls(len(pick), pa.float64()), **tail})
        wire = cash[pick] & _share_reached(wired, inn, ppm)
        to_wire = pa.table({"rule": pa.array([f"rapid.cash_to_wire.{horizon}"] * len(pick), pa.string()), **common,
                            "wire_share_out_within": pa.array(wired / inn), **tail}).filter(pa.array(wire))
        instances += [plain, to_wire]

    has_in = (total_in > 0) & ~np.isin(accounts, truncated)
    accounts, total_in, total_out = accounts[has_in], total_in[has_in], total_out[has_in]
    columns = {"account": names.take(pa.array(accounts))}
    for seconds, (with_lots, left) in zip(options.horizon_seconds, shares):
        left = left[np.searchsorted(with_lots, accounts)]  # every account with inflow > 0 has a lot
        columns[f"rapid_share_{params.format_duration(seconds)}"] = pa.array(left / total_in)
    columns["in_out_ratio"] = pa.array(total_out / total_in)
    columns["balance_left_share"] = pa.array(np.clip((total_in - total_out) / total_in, 0.0, 1.0))

    return {
        "instances": canonical(pa.concat_tables(instances), RAPID_SCHEMA) if instances else _empty(RAPID_SCHEMA),
        "features": canonical(pa.table(columns), feature_schema),
        "truncated": canonical(pa.table({"account": names.take(pa.array(truncated, pa.int64()))}), TRUNCATED_SCHEMA),
    }


PEERS = {"structuring": structuring_numpy, "fan_in": fan_in_numpy, "rapid_movement": rapid_numpy}
"""Per rule (a key of :data:`flowscan.rules.RULES`): its NumPy peer."""
