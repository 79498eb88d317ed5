"""Fan-in, fan-out and funnel accounts: many counterparties, or many places, meet in one account.

Implements two red flags of ../shared/TYPOLOGIES.md:

- row 3, "many apparently unrelated senders paying one beneficiary" (FinCEN FIN-2014-A008,
  FIN-2020-A008): :func:`fan_in`, and its mirror :func:`fan_out` (one account paying many
  receivers, the fan-out pattern of IBM AMLSim and AMLworld);
- row 1, "funnel account: cash deposits into one account at many different places, withdrawn
  elsewhere soon after" (FinCEN FIN-2014-A005, FIN-2014-A008, FIN-2020-A008): :func:`funnel`.

Definitions
-----------
All windows are half-open, ``[t, t + W)``, anchored at a row at time ``t``. A window holds the
rows of the account's list at positions >= the anchor with a time before ``t + W``; rows are
ordered by (timestamp, txn_id), so a row with the anchor's time but an earlier txn_id is not in
the window. The scan is greedy, as in structuring: when a window fires, the next anchor is the
first row after the window's last row, so the instances of one account and rule share no row;
when it does not fire, the next anchor is the next row.

Fan-in (rule code ``fan_in.<W>``, one per window length). For each receiving account, its
*incoming rows with a known sender*, in time order (with ``merchant_payments`` False, rows
with a merchant category code are left out; see :mod:`flowscan.rules.transfers`). A null sender (a cash deposit, or money
from outside the bank) is left out: it is neither a row of the window nor a sender. A
self-transfer counts the account itself as one sender. ``D`` is the number of distinct senders
among the window's rows. An instance fires when ``D >= min_counterparties``. Reasons:

- ``distinct_senders`` (``>=``, ``min_counterparties``, count): ``D``;
- ``total`` (info, minor): the sum of the window's amounts. It adds amounts as they are, in
  minor units, across currencies (a mixed-currency window sums cents and yen alike);
- ``top_sender_share`` (info, share): the largest sum paid by one sender divided by
  ``total`` (concentration; 0 when ``total`` is 0);
- ``rows`` (info, count): the window's rows.

Evidence: the window's rows in time order, the first ``evidence_cap`` listed, all counted in
``n_evidence_total``. ``window_start`` is the anchor's time, ``window_end`` the time of the
window's last row.

Fan-out (rule code ``fan_out.<W>``): the mirror. For each sending account, its *outgoing rows
with a known receiver* (a null receiver, a cash withdrawal or money leaving the bank, is left
out); ``D`` counts distinct receivers; reasons ``distinct_receivers``, ``total``,
``top_receiver_share``, ``rows``.

Fan features (``RuleResult.features``): one row per account of the index, in account-code
order, with ``account`` and ``fan_in_max_<W>`` (``fan_out_max_<W>``) per window length: the
largest ``D`` over the windows anchored at *every* row of the account (not only the windows the
greedy scan visits, and whether or not they fire); 0 for an account without such rows.

Funnel (rule code ``funnel.<W>``). For each receiving account, its *deposits*: incoming rows on
channel ``cash`` with a null sender and a known location. A cash row with a known sender, or
with a null location, is not a deposit. Its *withdrawals*: outgoing rows (the account is the
sender, whatever the receiver) on a channel of ``withdrawal_channels``. A window of deposits
anchored at a deposit fires when

1. its deposits come from at least ``min_locations`` distinct locations, and
2. the account makes a withdrawal at a time ``w`` with ``d_last <= w < d_last + lag``, where
   ``d_last`` is the time of the window's last deposit, whose location is known and is none of
   the window's deposit locations. A withdrawal with a null location never qualifies. The
   first qualifying withdrawal in (timestamp, txn_id) order is the one reported.

After an instance the scan resumes after the window's last deposit; a window with enough
locations but no qualifying withdrawal moves the anchor to the next deposit. Reasons:
``distinct_deposit_locations`` (``>=``, ``min_locations``, count), ``lag_seconds`` (``<``,
``lag`` in seconds, seconds: ``w - d_last``), ``withdrawal_location_new`` (``==``, 1, count:
always 1), ``deposited`` (info, minor: the window's deposits summed across currencies as
they are) and ``withdrawn`` (info, minor: the withdrawal's amount). ``window_start`` is the
anchor's time and ``window_end`` the withdrawal's time. Evidence: the window's deposits in time
order, then the withdrawal; the first ``evidence_cap`` of them listed, all counted.

Locations are compared as exact text (``"Branch 1"`` and ``"branch 1"`` are two places).

Work: each account's counterparties (locations) are sorted once and renumbered locally; the
windows then slide in O(rows) per account with a count array, and the funnel finds its first
qualifying withdrawal with a segment tree over the account's locations, O(rows log places).
Scratch memory is O(rows of the account); evidence is capped per instance.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from .. import params
from ..index import CSR, AccountIndex, dictionary_codes, factorize
from ..kernels import fan as kernel
from ..schema import CHANNELS
from . import transfers
from .instances import Found, Reason, RuleResult, offsets_from_counts

FAN_IN_SOURCE = "FinCEN FIN-2014-A008; FinCEN FIN-2020-A008 (many apparently unrelated senders paying one beneficiary)"
FAN_OUT_SOURCE = ("FinCEN FIN-2014-A008; FinCEN FIN-2020-A008 (mirror of many senders paying one beneficiary: "
                  "one account paying many receivers; fan-out pattern of IBM AMLSim / AMLworld)")
FUNNEL_SOURCE = ("FinCEN FIN-2014-A005; FinCEN FIN-2014-A008; FinCEN FIN-2020-A008 (funnel account: cash deposits "
                 "at many different places, withdrawn elsewhere soon after)")
SOURCE = {"fan_in": FAN_IN_SOURCE, "fan_out": FAN_OUT_SOURCE, "funnel": FUNNEL_SOURCE}
"""The published source of each rule of this module."""


def _windows(owner: str, value) -> tuple:
    windows = (value,) if isinstance(value, (str, int)) else tuple(value)
    if not windows:
        raise params.ConfigError(params._message(owner, "windows", "at least one duration", value))
    seconds = [params.duration_seconds(owner, "windows", w) for w in windows]
    if len(set(seconds)) != len(seconds):
        raise params.ConfigError(params._message(owner, "windows", "distinct durations", value))
    return windows


@dataclasses.dataclass(frozen=True)
class FanIn:
    """Options of the fan-in rule (many senders paying one account).

    Parameters
    ----------
    windows : tuple of durations, default ("7d", "30d")
        Window lengths; each gives its own rule code and feature column.
    min_counterparties : int, default 10
        Distinct senders needed in one window.
    evidence_cap : int, default 50
        Rows listed per instance; the rest are counted in ``n_evidence_total``.
    merchant_payments : bool, default True
        Count payments to merchants (rows with a merchant category code) like any transfer;
        False leaves them out (:mod:`flowscan.rules.transfers`).
    """

    windows: tuple = ("7d", "30d")
    min_counterparties: int = 10
    evidence_cap: int = 50
    merchant_payments: bool = True

    def __post_init__(self):
        owner = type(self).__name__
        object.__setattr__(self, "windows", _windows(owner, self.windows))
        params.positive_int(owner, "min_counterparties", self.min_counterparties)
        params.positive_int(owner, "evidence_cap", self.evidence_cap)
        transfers.check(owner, self.merchant_payments)

    @property
    def window_seconds(self) -> tuple[int, ...]:
        return tuple(params.duration_seconds(type(self).__name__, "windows", w) for w in self.windows)


@dataclasses.dataclass(frozen=True)
class FanOut(FanIn):
    """Options of the fan-out rule (one account paying many receivers); the fields of
    :class:`FanIn`, with ``min_counterparties`` counting distinct receivers."""


@dataclasses.dataclass(frozen=True)
class Funnel:
    """Options of the funnel-account rule.

    Parameters
    ----------
    window : duration, default "7d"
        Length of the deposit window.
    min_locations : int, default 3
        Distinct deposit locations needed in one window.
    lag : duration, default "72h"
        A withdrawal must follow the window's last deposit by less than this.
    withdrawal_channels : tuple of str, default ("cash", "check")
        Channels of the outgoing rows that count as withdrawals.
    evidence_cap : int, default 50
        Rows (deposits, then the withdrawal) listed per instance.
    """

    window: str | int = "7d"
    min_locations: int = 3
    lag: str | int = "72h"
    withdrawal_channels: tuple = ("cash", "check")
    evidence_cap: int = 50

    def __post_init__(self):
        owner = "Funnel"
        params.duration_seconds(owner, "window", self.window)
        params.positive_int(owner, "min_locations", self.min_locations)
        params.duration_seconds(owner, "lag", self.lag)
        channels = (self.withdrawal_channels,) if isinstance(self.withdrawal_channels, str) else tuple(
            self.withdrawal_channels)
        if not channels:
            raise params.ConfigError(params._message(owner, "withdrawal_channels", "at least one channel",
                                                     self.withdrawal_channels))
        for c in channels:
            params.choice(owner, "withdrawal_channels", c, CHANNELS)
        object.__setattr__(self, "withdrawal_channels", channels)
        params.positive_int(owner, "evidence_cap", self.evidence_cap)

    @property
    def window_seconds(self) -> int:
        return params.duration_seconds("Funnel", "window", self.window)

    @property
    def lag_seconds(self) -> int:
        return params.duration_seconds("Funnel", "lag", self.lag)


def _subset(view: CSR, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a CSR view for which ``keep`` (one bool per ledger row) holds, as a compact
    CSR (offsets int64, rows in the same order)."""
    kept = keep[view.rows]
    before = offsets_from_counts(kept)
    return before[view.offsets], np.ascontiguousarray(view.rows[kept])


def _timestamps(ledger: pa.Table) -> np.ndarray:
    return np.ascontiguousarray(ledger.column("timestamp").cast(pa.int64()).to_numpy(), dtype=np.int64)


def fan_in(ledger: pa.Table, index: AccountIndex, /, *, options: FanIn | None = None) -> RuleResult:
    """Find accounts paid by many distinct senders within a window (fan-in).

    Red flag: many apparently unrelated senders paying one beneficiary (FinCEN FIN-2014-A008,
    FIN-2020-A008). Definitions in the module docstring.

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (:func:`flowscan.read_ledger`).
    index : AccountIndex
        Its index (:func:`flowscan.build_index`).
    options : FanIn, optional

    Returns
    -------
    RuleResult
        Instances with rule codes ``fan_in.<window>``, their rows as evidence, and features
        ``account`` and ``fan_in_max_<window>``. Rows with a null sender (cash, outside the
        bank) are left out.
    """
    return _fan(ledger, index, options or FanIn(), "in")


def fan_out(ledger: pa.Table, index: AccountIndex, /, *, options: FanOut | None = None) -> RuleResult:
    """Find accounts paying many distinct receivers within a window (fan-out).

    The mirror of :func:`fan_in` (FinCEN FIN-2014-A008, FIN-2020-A008; the fan-out pattern of
    IBM AMLSim / AMLworld). Definitions in the module docstring.

    Returns
    -------
    RuleResult
        Instances with rule codes ``fan_out.<window>`` and features ``account`` and
        ``fan_out_max_<window>``. Rows with a null receiver (cash, outside the bank) are left out.
    """
    return _fan(ledger, index, options or FanOut(), "out")


def _fan(ledger, index, options, side) -> RuleResult:
    name = "fan_in" if side == "in" else "fan_out"
    ts = _timestamps(ledger)
    amount = np.ascontiguousarray(ledger.column("amount").to_numpy(), dtype=np.int64)
    view = index.by_receiver if side == "in" else index.by_sender
    counterparty = (index.sender if side == "in" else index.receiver).astype(np.int64)
    offsets, rows = _subset(view, (counterparty >= 0) & transfers.transfer_rows(ledger, options.merchant_payments))
    local, n_distinct = kernel.local_codes(offsets, np.ascontiguousarray(counterparty[rows]))
    found = []
    features = {"account": index.accounts}
    for seconds in options.window_seconds:
        window = params.format_duration(seconds)
        args = (offsets, rows, local, n_distinct, ts, amount, seconds * 1_000_000, options.min_counterparties,
                options.evidence_cap)
        n_inst, n_ev, max_distinct = kernel.fan_count(*args)
        features[f"{name}_max_{window}"] = pa.array(max_distinct, pa.int64())
        inst_offsets = offsets_from_counts(n_inst)
        ev_offsets = offsets_from_counts(n_ev)
        account, start, end, distinct, total, top, n_rows, ev_rows = kernel.fan_fill(*args, inst_offsets, ev_offsets)
        share = np.divide(top.astype(np.float64), total.astype(np.float64),
                          out=np.zeros(len(total), dtype=np.float64), where=total > 0)
        who = "senders" if side == "in" else "receivers"
        found.append(Found(
            rule=f"{name}.{window}",
            typology=name,
            source=SOURCE[name],
            account=account.astype(np.int32),
            start_us=start,
            end_us=end,
            reasons=[
                Reason(f"distinct_{who}", ">=", distinct, options.min_counterparties, "count"),
                Reason("total", "info", total, None, "minor"),
                Reason(f"top_{who[:-1]}_share", "info", share, None, "share"),
                Reason("rows", "info", n_rows, None, "count"),
            ],
            evidence_offsets=offsets_from_counts(np.minimum(n_rows, options.evidence_cap)),
            evidence_rows=ev_rows,
            evidence_total=n_rows,
        ))
    return RuleResult.from_found(ledger, index.accounts, found, features=pa.table(features))


def funnel(ledger: pa.Table, index: AccountIndex, /, *, options: Funnel | None = None) -> RuleResult:
    """Find funnel accounts: cash deposited at many places, withdrawn elsewhere soon after.

    Red flag: funnel account (FinCEN FIN-2014-A005, FIN-2014-A008, FIN-2020-A008).
    Definitions in the module docstring.

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (:func:`flowscan.read_ledger`).
    index : AccountIndex
        Its index (:func:`flowscan.build_index`).
    options : Funnel, optional

    Returns
    -------
    RuleResult
        Instances with rule code ``funnel.<window>``; evidence lists the window's deposits,
        then the withdrawal. A deposit is cash with a null sender and a known location; a row
        with a null location is never a deposit and never a qualifying withdrawal.
    """
    options = options or Funnel()
    ts = _timestamps(ledger)
    amount = np.ascontiguousarray(ledger.column("amount").to_numpy(), dtype=np.int64)
    channel = dictionary_codes(ledger.column("channel"), CHANNELS)
    _, (location,) = factorize(ledger.column("location"))
    location = location.astype(np.int64)
    deposit = (channel == CHANNELS.index("cash")) & (index.sender < 0) & (location >= 0)
    withdrawal = np.isin(channel, [CHANNELS.index(c) for c in options.withdrawal_channels]) & (location >= 0)
    dep_offsets, dep_rows = _subset(index.by_receiver, deposit)
    wd_offsets, wd_rows = _subset(index.by_sender, withdrawal)
    lag_seconds = options.lag_seconds
    args = (dep_offsets, dep_rows, wd_offsets, wd_rows, ts, amount, location, options.window_seconds * 1_000_000,
            lag_seconds * 1_000_000, options.min_locations, options.evidence_cap)
    n_inst, n_ev = kernel.funnel_count(*args)
    inst_offsets = offsets_from_counts(n_inst)
    ev_offsets = offsets_from_counts(n_ev)
    (account, start, end, places, deposited, deposits, withdrawn, lag,
     ev_rows) = kernel.funnel_fill(*args, inst_offsets, ev_offsets)
    listed_total = deposits + 1
    found = Found(
        rule=f"funnel.{params.format_duration(options.window_seconds)}",
        typology="funnel_account",
        source=FUNNEL_SOURCE,
        account=account.astype(np.int32),
        start_us=start,
        end_us=end,
        reasons=[
            Reason("distinct_deposit_locations", ">=", places, options.min_locations, "count"),
            Reason("lag_seconds", "<", lag / 1_000_000, lag_seconds, "seconds"),
            Reason("withdrawal_location_new", "==", np.ones(len(account), dtype=np.int64), 1, "count"),
            Reason("deposited", "info", deposited, None, "minor"),
            Reason("withdrawn", "info", withdrawn, None, "minor"),
        ],
        evidence_offsets=offsets_from_counts(np.minimum(listed_total, options.evidence_cap)),
        evidence_rows=ev_rows,
        evidence_total=listed_total,
    )
    return RuleResult.from_found(ledger, index.accounts, [found])
