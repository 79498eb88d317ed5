"""Rapid movement (pass-through): money in, then out again within hours or days.

Implements the red flag "rapid movement: money in, then out again within hours or days
(pass-through), little balance left" (FinCEN FIN-2014-A008; FATF/APG "Financial Flows from
Human Trafficking", 2018), row 4 of ../shared/TYPOLOGIES.md, and the fast outflow of row 12
("several wages paid into one account, then moved out quickly", FATF 2018).

Definition. Each account is matched per currency, separately: a lot in one currency never
pays an outflow in another.

- *Inflows* are the rows the account receives, cash deposits (null sender) included;
  *outflows* the rows it sends, cash withdrawals (null receiver) included; with
  ``merchant_payments`` False, rows with a merchant category code are neither
  (:mod:`flowscan.rules.transfers`). A self-transfer
  (sender equal to receiver) is neither. A null account (cash, or outside the bank) is
  never scanned itself.
- The inflows and outflows of one currency are walked in ledger order (timestamp, then
  txn_id), so an inflow and an outflow at the same timestamp follow their txn_ids. An inflow
  appends a *lot* (its time and its amount still unspent) to a first-in-first-out queue. An
  outflow consumes from the oldest lot first, then the next, possibly several lots and
  possibly a part of the last one. An outflow that finds no open lot, or the part of it
  beyond the open lots, consumes nothing: that money was on the account before the ledger
  starts. A row of amount 0 opens no lot and consumes nothing.
- Every consumed *piece* has an amount (minor units) and a holding time, the outflow time
  minus the lot time (microseconds; never negative).
- At most ``max_lots`` lots are open per account and currency. When an inflow would open one
  more, the oldest open lot is dropped: its unspent amount never counts as having left, and
  later outflows consume from the next lot. The account is then marked in the feature
  column ``rapid_truncated``.

Instance (rule ``rapid.<H>`` for each horizon ``H``): an inflow of at least ``min_amount``
(of its currency; a currency not listed in ``min_amount`` makes no instance) of which at
least ``min_share`` left within ``H``, that is through pieces with holding time ``< H``
(half-open: a piece held exactly ``H`` does not count). The comparison is exact on integers:
``left * 1_000_000 >= min_share_ppm * inflow`` with ``min_share`` in parts per million.
``window_start`` is the inflow time, ``window_end`` the time of the last outflow counted.
Reasons: ``share_out_within`` (share of the inflow that left within ``H``, ``>=``
``min_share``), ``inflow`` (minor units, ``>=`` ``min_amount``), ``held_seconds`` (info: the
amount-weighted median holding time of the counted pieces, in seconds: the smallest holding
time ``h`` such that the pieces held at most ``h`` carry at least half of the amount counted).
Evidence: the inflow row, then the rows of the outflows that consumed it within ``H`` in
ledger order, at most ``evidence_cap`` rows in all; ``n_evidence_total`` counts them all.

Variant ``rapid.cash_to_wire.<H>``: the same instance, with the same evidence, reported again
when the inflow's channel is cash and at least ``min_share`` of it left within ``H`` through
outflows whose channel is wire (reason ``wire_share_out_within``).

Features (``RuleResult.features``, one row per account in code order; amounts of all
currencies are summed in minor units; "no inflow" means the account's inflows sum to 0):

- ``rapid_share_<H>``: amount consumed by pieces held ``< H`` over the total inflow (NaN
  when no inflow);
- ``rapid_median_hold_seconds``: the amount-weighted median holding time (as above) over all
  consumed pieces, in seconds (NaN when nothing was consumed);
- ``in_out_ratio``: total outflow over total inflow (NaN when no inflow);
- ``balance_left_share``: (total inflow - total outflow) / total inflow clipped to [0, 1]
  (NaN when no inflow);
- ``rapid_truncated``: whether a lot of the account was dropped by ``max_lots``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import pyarrow as pa

from .. import params
from ..currency import CURRENCIES
from ..index import AccountIndex, dictionary_codes
from ..kernels import rapid as kernel
from ..schema import CHANNELS
from . import transfers
from .fan import _subset
from .instances import Found, Reason, RuleResult, offsets_from_counts

SOURCE = "FinCEN FIN-2014-A008; FATF/APG Financial Flows from Human Trafficking (2018)"
TYPOLOGY = "rapid_movement"
PPM = 1_000_000


@dataclasses.dataclass(frozen=True)
class RapidMovement:
    """Options of the rapid movement (pass-through) rule.

    Parameters
    ----------
    horizons : tuple of durations, default ("24h", "72h")
        How soon money must leave; each gives its own rule codes and feature column.
    min_share : float in (0, 1], default 0.9
        Share of an inflow that must leave within the horizon; at most 6 decimals, so the
        comparison is exact in parts per million.
    min_amount : mapping of currency to amount, default {"USD": 1000}
        Smallest inflow that can make an instance, per ISO currency, in major units.
        Currencies not listed make no instances (their rows still count in the features).
    evidence_cap : int, default 50
        Evidence rows listed per instance (the inflow first); the rest are counted in
        ``n_evidence_total``.
    max_lots : int, default 100_000
        Open lots kept per account and currency; beyond it the oldest is dropped and the
        account is marked ``rapid_truncated``.
    merchant_payments : bool, default True
        Count payments to merchants (rows with a merchant category code) like any transfer;
        False leaves them out (:mod:`flowscan.rules.transfers`).
    """

    horizons: tuple = ("24h", "72h")
    min_share: float = 0.9
    min_amount: Mapping[str, int | str] = dataclasses.field(default_factory=lambda: {"USD": 1000})
    evidence_cap: int = 50
    max_lots: int = 100_000
    merchant_payments: bool = True

    def __post_init__(self):
        owner = "RapidMovement"
        horizons = (self.horizons,) if isinstance(self.horizons, (str, int)) else tuple(self.horizons)
        if not horizons:
            raise params.ConfigError(params._message(owner, "horizons", "at least one duration", self.horizons))
        seconds = [params.duration_seconds(owner, "horizons", h) for h in horizons]
        if len(set(seconds)) != len(seconds):
            raise params.ConfigError(params._message(owner, "horizons", "distinct durations", self.horizons))
        object.__setattr__(self, "horizons", horizons)
        params.share(owner, "min_share", self.min_share, open_low=True)
        ppm = Decimal(str(self.min_share)) * PPM
        if ppm != ppm.to_integral_value():
            raise params.ConfigError(params._message(owner, "min_share", "a number in (0, 1] with at most 6 decimals",
                                                     self.min_share))
        params.money_table(owner, "min_amount", self.min_amount)
        object.__setattr__(self, "min_amount", MappingProxyType(dict(self.min_amount)))
        params.positive_int(owner, "evidence_cap", self.evidence_cap)
        params.positive_int(owner, "max_lots", self.max_lots)
        transfers.check(owner, self.merchant_payments)

    @property
    def horizon_seconds(self) -> tuple[int, ...]:
        return tuple(params.duration_seconds("RapidMovement", "horizons", h) for h in self.horizons)

    @property
    def min_share_ppm(self) -> int:
        return int(Decimal(str(self.min_share)) * PPM)

    @property
    def min_amount_minor(self) -> dict[str, int]:
        return params.money_table("RapidMovement", "min_amount", self.min_amount)


def rapid_movement(ledger: pa.Table, index: AccountIndex, /, *,
                   options: RapidMovement | None = None) -> RuleResult:
    """Find inflows that leave the account again within hours or days.

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (:func:`flowscan.read_ledger`).
    index : AccountIndex
        Its index (:func:`flowscan.build_index`).
    options : RapidMovement, optional

    Returns
    -------
    RuleResult
        Instances with rule codes ``rapid.<horizon>`` and ``rapid.cash_to_wire.<horizon>``;
        evidence lists the inflow and the outflows that consumed it within the horizon;
        features per account (see the module docstring). A null sender (cash deposit) or
        receiver (cash withdrawal) is an inflow or outflow like any other.
    """
    options = options or RapidMovement()
    ts = np.ascontiguousarray(ledger.column("timestamp").cast(pa.int64()).to_numpy(), dtype=np.int64)
    amount = np.ascontiguousarray(ledger.column("amount").to_numpy(), dtype=np.int64)
    channel = dictionary_codes(ledger.column("channel"), CHANNELS)
    currency = dictionary_codes(ledger.column("currency"), CURRENCIES)
    is_cash = channel == CHANNELS.index("cash")
    is_wire = channel == CHANNELS.index("wire")
    min_amount = np.zeros(len(CURRENCIES), dtype=np.int64)
    for code, minor in options.min_amount_minor.items():
        min_amount[CURRENCIES.index(code)] = minor
    seconds = options.horizon_seconds
    horizons_us = np.array([s * 1_000_000 for s in seconds], dtype=np.int64)
    keep = transfers.transfer_rows(ledger, options.merchant_payments)
    in_offsets, in_rows = _subset(index.by_receiver, keep)
    out_offsets, out_rows = _subset(index.by_sender, keep)
    args = (in_offsets, in_rows, out_offsets, out_rows,
            index.sender, index.receiver, ts, amount, currency, is_cash, is_wire, min_amount, horizons_us,
            options.min_share_ppm, options.evidence_cap, options.max_lots)
    n_inst, n_ev, share, hold, in_out, balance, truncated = kernel.rapid_count(*args)
    inst_pos, inst_bounds = _positions(n_inst)
    ev_pos, ev_bounds = _positions(n_ev)
    (account, start, end, share_out, wire_share, inflow, floor, held, total,
     ev_rows) = kernel.rapid_fill(*args, n_inst, inst_pos, ev_pos, int(inst_bounds[-1]), int(ev_bounds[-1]))

    found = []
    for h, s in enumerate(seconds):
        horizon = params.format_duration(s)
        for j, rule in ((2 * h, f"rapid.{horizon}"), (2 * h + 1, f"rapid.cash_to_wire.{horizon}")):
            k = slice(inst_bounds[j], inst_bounds[j + 1])
            reasons = [Reason("share_out_within", ">=", share_out[k], options.min_share, "share")]
            if j % 2:
                reasons.append(Reason("wire_share_out_within", ">=", wire_share[k], options.min_share, "share"))
            reasons += [
                Reason("inflow", ">=", inflow[k], floor[k], "minor"),
                Reason("held_seconds", "info", held[k], None, "seconds"),
            ]
            per_instance = np.minimum(total[k], options.evidence_cap)
            found.append(Found(
                rule=rule,
                typology=TYPOLOGY,
                source=SOURCE,
                account=account[k].astype(np.int32),
                start_us=start[k],
                end_us=end[k],
                reasons=reasons,
                evidence_offsets=offsets_from_counts(per_instance),
                evidence_rows=ev_rows[ev_bounds[j]:ev_bounds[j + 1]],
                evidence_total=total[k],
            ))
    columns = {"account": index.accounts}
    for h, s in enumerate(seconds):
        columns[f"rapid_share_{params.format_duration(s)}"] = pa.array(np.ascontiguousarray(share[:, h]), pa.float64())
    columns["rapid_median_hold_seconds"] = pa.array(hold, pa.float64())
    columns["in_out_ratio"] = pa.array(in_out, pa.float64())
    columns["balance_left_share"] = pa.array(balance, pa.float64())
    columns["rapid_truncated"] = pa.array(truncated, pa.bool_())
    return RuleResult.from_found(ledger, index.accounts, found, features=pa.table(columns))


def _positions(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start of each (account, rule) block when the output is laid out rule by rule, then
    account by account; and the bounds of each rule's block (shape (n_rules + 1,))."""
    n_accounts, n_rules = counts.shape
    starts = offsets_from_counts(counts.T.ravel())
    pos = np.ascontiguousarray(starts[:-1].reshape(n_rules, n_accounts).T)
    bounds = starts[np.arange(n_rules + 1) * n_accounts]
    return pos, bounds
