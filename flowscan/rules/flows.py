"""Scatter-gather and gather-scatter: money spread through several accounts and gathered again.

Implements the two-hop patterns of the graph vocabulary of IBM AMLSim and AMLworld (see
../shared/TYPOLOGIES.md, "scatter-gather (one source spreads to many, which gather into one
sink), gather-scatter (many into one hub, which spreads out)"), the layering of funds through
intermediaries described in FATF/APG "Financial Flows from Human Trafficking" (2018).

Definitions
-----------
*Edges.* Only transfers between two known, different accounts are edges: a row with a null
sender or receiver (cash, or an account outside the bank) and a self-transfer take no part,
nor does a payment to a merchant (a row with a merchant category code) unless
``merchant_payments`` (:mod:`flowscan.rules.transfers`).
Each currency is scanned on its own (amounts in different minor units cannot be added
exactly): every transfer of an instance has the same currency, and the rule runs once per
currency present among the edges, with the same rule code.

*Conservation.* Amounts ``in`` and ``out`` are conserved within ``tolerance`` when
``|out - in| <= tolerance * in``, decided in integers: the tolerance is taken in whole parts
per million (rounded to the nearest), ``|out - in| * 10**6 <= tolerance_ppm * in``.

*Windows* are half-open, ``[t, t + W)``, anchored at a row at time ``t``; a window holds the
rows of the account's list at positions >= the anchor with a time before ``t + W`` (rows are
ordered by (timestamp, txn_id), so a row with the anchor's time but an earlier txn_id is not
in it). The scans are greedy, as in structuring: after an instance the next anchor is the
first row after the instance's last anchoring-side row; otherwise the next row.

Scatter-gather (rule code ``scatter_gather.<W>``). For a source ``s``: its outgoing edges in
time order. At an anchor (a first hop ``s -> m0`` at time ``t``):

1. *Intermediaries*: the distinct receivers ``m`` of ``s``'s rows in the window, in order of
   their first row; only the first ``max_fanout`` are followed. The first row ``s -> m`` in
   the window is ``m``'s first hop (time ``t1``); ``m0``'s is the anchor itself. With fewer
   than ``min_intermediaries``, the anchor is passed over.
2. *Sinks*: the distinct receivers ``k != s`` that ``m0`` pays with ``t < time < t + W``, in
   the order ``m0`` first pays them; only the first ``max_fanout`` are considered. With none,
   the anchor is passed over.
3. ``m`` serves sink ``k`` when it pays ``k`` with ``t1 < t2 < t + W``; the earliest such row
   is its second hop. (``m != s`` and ``m != k`` hold since edges join different accounts.)
4. A sink fires when at least ``min_intermediaries`` intermediaries serve it and the sum of
   their second hops is conserved within ``tolerance`` of the sum of their first hops. Among
   the sinks that fire, the one with the most intermediaries is reported (ties: the one
   ``m0`` paid first). ``m0`` serves every sink, so the earliest first hop of an instance is
   its anchor and every hop lies in ``[t1_first, t1_first + W)``.
5. The scan resumes after the instance's last first hop; with no sink firing, at the next row.

An anchor that is not passed over (it has at least ``min_intermediaries`` intermediaries and
at least one sink) counts as *truncated* when its intermediary or sink list was cut by
``max_fanout``; the instance, if any, is still reported from the followed accounts. Reasons:
``intermediaries`` (``>=``, ``min_intermediaries``, count), ``conservation`` (``<=``,
``tolerance``, share: ``|out - in| / in``, 0 when ``in`` is 0), ``first_hop_total`` and
``second_hop_total`` (info, minor). Evidence: the first hops, then the second hops, each in
time order; the first ``evidence_cap`` listed, all ``2 * intermediaries`` counted. The
instance is reported under the source; ``window_start`` is the anchor's time and
``window_end`` the time of the last second hop. The sink is the receiver of the second hops.

Gather-scatter (rule code ``gather_scatter.<W>``). For a hub ``h``: its incoming edges in
time order. Anchored at an incoming row at time ``t``, the window's *inflows* are the hub's
incoming edges in the window (positions >= the anchor, time < ``t + W``) and its *outflows*
are its outgoing edges with ``t < time < t + W`` (after the first inflow). An instance fires
when the inflows come from at least ``min_sources`` distinct senders, the outflows go to at
least ``min_destinations`` distinct receivers, and the outflow total is conserved within
``tolerance`` of the inflow total. A receiver may also be a sender. When the window has more
than ``max_degree`` distinct senders, or more than ``max_degree`` distinct receivers, it is
not evaluated (no instance) and counts as *truncated*. After an instance the scan resumes at
the first incoming row after the window. Reasons: ``sources`` (``>=``, ``min_sources``,
count), ``destinations`` (``>=``, ``min_destinations``, count), ``conservation`` (``<=``,
``tolerance``, share), ``inflow_total`` and ``outflow_total`` (info, minor). Evidence: the
inflows, then the outflows, each in time order, capped. ``window_start`` is the anchor's time,
``window_end`` the time of the window's last inflow or outflow.

Features (``RuleResult.features``): one row per account of the index, in account-code order,
with ``account`` and ``truncated_scatter_gather_<W>`` (``truncated_gather_scatter_<W>``), the
number of the account's anchors (windows) that a cap cut, summed over currencies.

Work and memory. Scatter-gather reads the by-sender view through arrays laid out in its
order (sequential scans) and finds a second hop by binary search in an index of the edges
grouped by (sender, receiver): one anchor costs O(rows of ``s`` and of ``m0`` in the window
+ I * min(K, receivers of m) * log n) for I intermediaries and K sinks (both at most
``max_fanout``), with O(``max_fanout``) scratch per source; a row's first-ness within a window
is read from the previous row of its (sender, receiver) pair, so no set is kept. Gather-scatter
slides both windows with per-counterparty counts in O(rows of the hub), with O(rows of the
hub) scratch. Evidence is capped per instance.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pyarrow as pa

from .. import params
from ..currency import CURRENCIES
from ..index import AccountIndex, dictionary_codes
from ..kernels import flows as kernel
from . import transfers
from .instances import Found, Reason, RuleResult, offsets_from_counts

SOURCE = ("IBM AMLSim / AMLworld typologies (scatter-gather, gather-scatter); "
          "FATF/APG Financial Flows from Human Trafficking (2018), layering through intermediaries")
TYPOLOGY_SCATTER = "scatter_gather"
TYPOLOGY_GATHER = "gather_scatter"


def tolerance_ppm(tolerance: float) -> int:
    """A tolerance share as whole parts per million (0.2 -> 200000), rounded to the nearest."""
    return int((Decimal(str(tolerance)) * 1_000_000).to_integral_value(rounding=ROUND_HALF_EVEN))


def _at_least(owner: str, name: str, value, floor: int, floor_text: str) -> int:
    params.positive_int(owner, name, value)
    if value < floor:
        raise params.ConfigError(params._message(owner, name, f"an integer of at least {floor_text}", value))
    return value


@dataclasses.dataclass(frozen=True)
class ScatterGather:
    """Options of the scatter-gather rule.

    Parameters
    ----------
    window : duration, default "30d"
        Every hop of an instance lies in ``[t, t + window)`` of its first hop.
    min_intermediaries : int, default 3
        Distinct intermediaries that must pass the money from the source to one sink.
    tolerance : float in [0, 1], default 0.2
        Second hops must total the first hops within this share of the first hops.
    max_fanout : int, default 200
        Intermediaries followed (and sinks considered) per anchor; when more exist the anchor
        counts as truncated. At least ``min_intermediaries``.
    evidence_cap : int, default 50
        Transfers listed per instance; the rest are counted in ``n_evidence_total``.
    merchant_payments : bool, default False
        Count payments to merchants (rows with a merchant category code) as edges; by default
        a purchase ends a chain of transfers and is left out (:mod:`flowscan.rules.transfers`).
    """

    window: str | int = "30d"
    min_intermediaries: int = 3
    tolerance: float = 0.2
    max_fanout: int = 200
    evidence_cap: int = 50
    merchant_payments: bool = False

    def __post_init__(self):
        owner = "ScatterGather"
        params.duration_seconds(owner, "window", self.window)
        params.positive_int(owner, "min_intermediaries", self.min_intermediaries)
        params.share(owner, "tolerance", self.tolerance)
        _at_least(owner, "max_fanout", self.max_fanout, self.min_intermediaries,
                  f"min_intermediaries ({self.min_intermediaries})")
        params.positive_int(owner, "evidence_cap", self.evidence_cap)
        transfers.check(owner, self.merchant_payments)

    @property
    def window_seconds(self) -> int:
        return params.duration_seconds("ScatterGather", "window", self.window)

    @property
    def rule(self) -> str:
        return f"scatter_gather.{params.format_duration(self.window_seconds)}"


@dataclasses.dataclass(frozen=True)
class GatherScatter:
    """Options of the gather-scatter rule.

    Parameters
    ----------
    window : duration, default "30d"
        Inflows and outflows of an instance lie in ``[t, t + window)`` of its first inflow.
    min_sources : int, default 3
        Distinct senders paying the hub in the window.
    min_destinations : int, default 3
        Distinct receivers the hub pays after the first inflow.
    tolerance : float in [0, 1], default 0.2
        The outflow must total the inflow within this share of the inflow.
    max_degree : int, default 500
        A window with more distinct senders or receivers is not evaluated and counts as
        truncated. At least ``min_sources`` and ``min_destinations``.
    evidence_cap : int, default 50
        Transfers listed per instance; the rest are counted in ``n_evidence_total``.
    merchant_payments : bool, default False
        Count payments to merchants (rows with a merchant category code) as edges; by default
        a purchase ends a chain of transfers and is left out (:mod:`flowscan.rules.transfers`).
    """

    window: str | int = "30d"
    min_sources: int = 3
    min_destinations: int = 3
    tolerance: float = 0.2
    max_degree: int = 500
    evidence_cap: int = 50
    merchant_payments: bool = False

    def __post_init__(self):
        owner = "GatherScatter"
        params.duration_seconds(owner, "window", self.window)
        params.positive_int(owner, "min_sources", self.min_sources)
        params.positive_int(owner, "min_destinations", self.min_destinations)
        params.share(owner, "tolerance", self.tolerance)
        floor = max(self.min_sources, self.min_destinations)
        _at_least(owner, "max_degree", self.max_degree, floor,
                  f"min_sources and min_destinations ({floor})")
        params.positive_int(owner, "evidence_cap", self.evidence_cap)
        transfers.check(owner, self.merchant_payments)

    @property
    def window_seconds(self) -> int:
        return params.duration_seconds("GatherScatter", "window", self.window)

    @property
    def rule(self) -> str:
        return f"gather_scatter.{params.format_duration(self.window_seconds)}"


def _edges(ledger: pa.Table, index: AccountIndex, merchant_payments: bool = False):
    """Timestamps, amounts, currency codes and the edge mask of a canonical ledger."""
    ts = ledger.column("timestamp").cast(pa.int64()).to_numpy()
    amount = ledger.column("amount").to_numpy()
    currency = dictionary_codes(ledger.column("currency"), CURRENCIES)
    edge = ((index.sender >= 0) & (index.receiver >= 0) & (index.sender != index.receiver)
            & transfers.transfer_rows(ledger, merchant_payments))
    return ts, amount, currency, edge


def _pair_index(index: AccountIndex, eligible: np.ndarray):
    """The rows of ``eligible`` grouped by (sender, receiver), time-ordered within a pair.

    Returns ``pair_offsets`` (n_accounts + 1: the pairs of each sender), ``pair_receiver``
    (sorted within a sender), ``pair_row_offsets`` (n_pairs + 1), ``pair_rows`` and
    ``previous`` (n_txn: the eligible row before each eligible row in its pair, -1 none).
    """
    picked = np.flatnonzero(eligible)
    sender = index.sender[picked].astype(np.int64)
    receiver = index.receiver[picked].astype(np.int64)
    # ledger rows are in (timestamp, txn_id) order, so the row number orders a pair in time
    order = np.lexsort((picked, receiver, sender))
    pair_rows = picked[order].astype(np.int64)
    sender = sender[order]
    receiver = receiver[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (sender[1:] != sender[:-1]) | (receiver[1:] != receiver[:-1])
    starts = np.flatnonzero(new)
    pair_row_offsets = np.append(starts, len(order)).astype(np.int64)
    pair_offsets = np.searchsorted(sender[starts], np.arange(index.n_accounts + 1)).astype(np.int64)
    previous = np.full(len(eligible), -1, dtype=np.int64)
    previous[pair_rows[1:]] = np.where(new[1:], -1, pair_rows[:-1])
    return pair_offsets, receiver[starts].copy(), pair_row_offsets, pair_rows, previous


def _scatter_arrays(index: AccountIndex, ts: np.ndarray, eligible: np.ndarray):
    """The arrays of the scatter-gather kernel for one currency's edges ``eligible``: per
    position of the by-sender view (so that scans read memory in sequence) the time,
    receiver, eligibility and previous row of the same pair; then the pair index and the
    times of its rows."""
    pair_offsets, pair_receiver, pair_row_offsets, pair_rows, previous = _pair_index(index, eligible)
    rows = index.by_sender.rows
    return (index.by_sender.offsets, rows, np.ascontiguousarray(ts[rows]),
            np.ascontiguousarray(index.receiver[rows]), np.ascontiguousarray(eligible[rows]),
            np.ascontiguousarray(previous[rows]), pair_offsets, pair_receiver, pair_row_offsets, pair_rows,
            np.ascontiguousarray(ts[pair_rows]))


def _share(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` as float, 0 where the denominator is 0."""
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def scatter_gather(ledger: pa.Table, index: AccountIndex, /, *, options: ScatterGather | None = None) -> RuleResult:
    """Find scatter-gather instances: one source, several intermediaries, one sink.

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (:func:`flowscan.read_ledger`).
    index : AccountIndex
        Its index (:func:`flowscan.build_index`).
    options : ScatterGather, optional

    Returns
    -------
    RuleResult
        Instances with rule code ``scatter_gather.<window>`` under the source account (see
        the module docstring); evidence lists the first hops then the second hops; features
        ``account`` and ``truncated_scatter_gather_<window>``. Rows with a null sender or
        receiver, and self-transfers, are not edges and are never part of an instance.
    """
    options = options or ScatterGather()
    ts, amount, currency, edge = _edges(ledger, index, options.merchant_payments)
    rule = options.rule
    window_us = options.window_seconds * 1_000_000
    tol = tolerance_ppm(options.tolerance)
    truncated = np.zeros(index.n_accounts, dtype=np.int64)
    found = []
    for code in np.unique(currency[edge]):
        eligible = edge & (currency == code)
        offsets, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, *pairs = _scatter_arrays(index, ts, eligible)
        arrays = (offsets, rows, pos_ts, pos_receiver, pos_eligible, pos_previous, amount, *pairs, window_us)
        anchor_sink = np.full(len(rows), -1, dtype=np.int64)
        n_inst, n_ev, n_trunc = kernel.scatter_gather_count(
            *arrays, options.min_intermediaries, tol, options.max_fanout, options.evidence_cap, anchor_sink)
        truncated += n_trunc
        if not n_inst.any():
            continue
        account, start, end, count, first_total, second_total, ev_rows = kernel.scatter_gather_fill(
            *arrays, options.max_fanout, options.evidence_cap, anchor_sink, offsets_from_counts(n_inst),
            offsets_from_counts(n_ev))
        found.append(Found(
            rule=rule,
            typology=TYPOLOGY_SCATTER,
            source=SOURCE,
            account=account.astype(np.int32),
            start_us=start,
            end_us=end,
            reasons=[
                Reason("intermediaries", ">=", count, options.min_intermediaries, "count"),
                Reason("conservation", "<=", _share(np.abs(second_total - first_total), first_total),
                       options.tolerance, "share"),
                Reason("first_hop_total", "info", first_total, None, "minor"),
                Reason("second_hop_total", "info", second_total, None, "minor"),
            ],
            evidence_offsets=offsets_from_counts(np.minimum(2 * count, options.evidence_cap)),
            evidence_rows=ev_rows,
            evidence_total=2 * count,
        ))
    features = pa.table({"account": index.accounts,
                         f"truncated_{rule.replace('.', '_')}": pa.array(truncated, pa.int64())})
    return RuleResult.from_found(ledger, index.accounts, found, features=features)


def gather_scatter(ledger: pa.Table, index: AccountIndex, /, *, options: GatherScatter | None = None) -> RuleResult:
    """Find gather-scatter instances: many senders into one hub, which pays many receivers.

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (:func:`flowscan.read_ledger`).
    index : AccountIndex
        Its index (:func:`flowscan.build_index`).
    options : GatherScatter, optional

    Returns
    -------
    RuleResult
        Instances with rule code ``gather_scatter.<window>`` under the hub (see the module
        docstring); evidence lists the inflows then the outflows; features ``account`` and
        ``truncated_gather_scatter_<window>``. Rows with a null sender or receiver, and
        self-transfers, are not edges and are never part of an instance.
    """
    options = options or GatherScatter()
    ts, amount, currency, edge = _edges(ledger, index, options.merchant_payments)
    rule = options.rule
    window_us = options.window_seconds * 1_000_000
    tol = tolerance_ppm(options.tolerance)
    truncated = np.zeros(index.n_accounts, dtype=np.int64)
    found = []
    for code in np.unique(currency[edge]):
        eligible = edge & (currency == code)
        args = (index.by_receiver.offsets, index.by_receiver.rows, index.by_sender.offsets, index.by_sender.rows,
                ts, amount, index.sender, index.receiver, eligible, window_us, options.min_sources,
                options.min_destinations, tol, options.max_degree, options.evidence_cap)
        n_inst, n_ev, n_trunc = kernel.gather_scatter_count(*args)
        truncated += n_trunc
        if not n_inst.any():
            continue
        (account, start, end, sources, destinations, inflow, outflow, listed_total,
         ev_rows) = kernel.gather_scatter_fill(*args, offsets_from_counts(n_inst), offsets_from_counts(n_ev))
        found.append(Found(
            rule=rule,
            typology=TYPOLOGY_GATHER,
            source=SOURCE,
            account=account.astype(np.int32),
            start_us=start,
            end_us=end,
            reasons=[
                Reason("sources", ">=", sources, options.min_sources, "count"),
                Reason("destinations", ">=", destinations, options.min_destinations, "count"),
                Reason("conservation", "<=", _share(np.abs(outflow - inflow), inflow), options.tolerance, "share"),
                Reason("inflow_total", "info", inflow, None, "minor"),
                Reason("outflow_total", "info", outflow, None, "minor"),
            ],
            evidence_offsets=offsets_from_counts(np.minimum(listed_total, options.evidence_cap)),
            evidence_rows=ev_rows,
            evidence_total=listed_total,
        ))
    features = pa.table({"account": index.accounts,
                         f"truncated_{rule.replace('.', '_')}": pa.array(truncated, pa.int64())})
    return RuleResult.from_found(ledger, index.accounts, found, features=features)
