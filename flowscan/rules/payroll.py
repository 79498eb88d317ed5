"""Wages and cash revenue: pooled wages moved out fast, and cash revenue with no payroll.
Rules of the human-trafficking pack (labour trafficking and front companies).

*Wages.* A wage credit is a transaction an account receives whose source channel names
payroll (``channel_raw`` contains ``payroll_marker``, "PAYROLL" by default, as an ACH company
entry does) or whose sender is in the ``payroll_originators`` reference table.
*Payroll outflows* are the same seen from the payer: rows an account sends with the marker,
or sent to a listed payroll originator (a business paying through a processor).

pooled_wages (typology ``pooled_wages``; red flag 12; FATF/APG 2018, FinCEN FIN-2020-A008)
    A wage credit of amount ``x`` at time ``t`` is *moved out* when the account sends at least
    ``min_moved`` of ``x`` (in the credit's currency, any channel) in ``(t, t + horizon]``.
    Windows ``[t, t + W)`` over the account's moved-out wage credits (the shared scan of
    :mod:`flowscan.rules.windows`) fire with at least ``min_count`` credits from at least
    ``min_senders`` distinct payers: several people's wages landing in one account and leaving
    it at once. Reasons: ``wages`` and ``payers`` (>=), ``total`` (info). Evidence: the credits.
cash_no_payroll (typology ``cash_no_payroll``; red flag 11; FinCEN FIN-2020-A008 front
companies, FATF/APG 2018)
    Per account (kernel :func:`flowscan.kernels.cash_business.cash_payroll_profile`): its cash
    deposits (cash-channel credits with no sender) and its payroll outflows. An account fires
    when it has at least ``min_deposits`` cash deposits, deposits in at least ``min_weeks``
    distinct weeks and in at least ``min_week_share`` of the weeks from its first to its last
    deposit (steady revenue), no payroll outflow at all, and cash revenue at business scale:
    at least the ``peer_quantile`` quantile of the cash revenue of its *peers*, the accounts
    with as many deposits that do pay payroll (all accounts with as many deposits when fewer
    than ``min_peers`` of them pay payroll). One instance per account, from its first to its
    last deposit; evidence: its deposits. Reasons: ``cash_deposits``, ``weeks``,
    ``week_share``, ``payroll_outflows`` (``<=`` 0) and ``cash_total`` (``>=`` the peer value).
    Cash revenue adds the deposits' minor units as they are, across currencies (as fan-in's
    ``total`` does): a ledger of several currencies should be scanned one currency at a time
    for this rule.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from .. import params
from ..index import AccountIndex, dictionary_codes
from ..kernels import cash_business as cash_kernel
from ..reference import Reference
from ..schema import CHANNELS
from .instances import Found, Reason, RuleResult, offsets_from_counts
from .windows import (account_evidence, count_reason, currency_codes, info, reference_for, text_contains, timestamps,
                      windowed)

SOURCE_POOLED = ("FATF/APG Financial Flows from Human Trafficking (2018) (several wages paid into one account, then "
                 "moved out quickly); FinCEN FIN-2020-A008 (exploitative employment practices)")
SOURCE_CASH = ("FinCEN FIN-2020-A008 (front companies: consistent cash revenue, no payroll or payroll-tax "
               "payments); FATF/APG Financial Flows from Human Trafficking (2018)")
SOURCE = {"pooled_wages": SOURCE_POOLED, "cash_no_payroll": SOURCE_CASH}
"""The published source of each rule of this module."""
PPM = 1_000_000
WEEK_US = 7 * 86_400 * 1_000_000


def _ceil_share(amount: np.ndarray, ppm: int) -> np.ndarray:
    """``ceil(amount * ppm / 10**6)`` exactly for ``amount >= 0``, ``0 <= ppm <= 10**6``."""
    q, r = np.divmod(amount, PPM)
    return ppm * q + (ppm * r + PPM - 1) // PPM


def _ppm(share: float) -> int:
    return int(round(share * PPM))


def _check_marker(owner: str, value) -> None:
    if not isinstance(value, str) or not value.strip():
        raise params.ConfigError(params._message(owner, "payroll_marker", "a non-empty text", value))


def wage_rows(ledger: pa.Table, index: AccountIndex, reference: Reference, marker: str) -> np.ndarray:
    """Rows that are wage credits to a bank account (see the module docstring)."""
    marked = text_contains(ledger.column("channel_raw"), marker)
    listed = reference.listed("payroll_originators", ledger.column("sender"))
    return (index.receiver >= 0) & (marked | listed)


def payroll_out_rows(ledger: pa.Table, index: AccountIndex, reference: Reference, marker: str) -> np.ndarray:
    """Rows that are payroll paid by a bank account (see the module docstring)."""
    marked = text_contains(ledger.column("channel_raw"), marker)
    listed = reference.listed("payroll_originators", ledger.column("receiver"))
    return (index.sender >= 0) & (marked | listed)


@dataclasses.dataclass(frozen=True)
class PooledWages:
    """Options of the pooled-wages rule (see the module docstring).

    Parameters
    ----------
    window : duration, default "30d"
    min_count : int, default 3
        Moved-out wage credits in one window.
    min_senders : int, default 3
        Distinct payers among them.
    horizon : duration, default "48h"
        A credit is moved out when ``min_moved`` of it leaves within this time.
    min_moved : float in (0, 1], default 0.5
    payroll_marker : str, default "PAYROLL"
        Text in ``channel_raw`` that marks a payroll credit (case-insensitive).
    evidence_cap : int, default 50
    """

    window: str | int = "30d"
    min_count: int = 3
    min_senders: int = 3
    horizon: str | int = "48h"
    min_moved: float = 0.5
    payroll_marker: str = "PAYROLL"
    evidence_cap: int = 50

    NEEDS = ()

    def __post_init__(self):
        owner = "PooledWages"
        params.duration_seconds(owner, "window", self.window)
        params.duration_seconds(owner, "horizon", self.horizon)
        params.positive_int(owner, "min_count", self.min_count)
        params.positive_int(owner, "min_senders", self.min_senders)
        params.share(owner, "min_moved", self.min_moved, open_low=True)
        _check_marker(owner, self.payroll_marker)
        params.positive_int(owner, "evidence_cap", self.evidence_cap)

    @property
    def rule(self) -> str:
        return f"pooled_wages.{params.format_duration(params.duration_seconds('PooledWages', 'window', self.window))}"


def moved_out(index: AccountIndex, ts: np.ndarray, amount: np.ndarray, currency: np.ndarray, credits: np.ndarray,
              horizon_us: int) -> np.ndarray:
    """For each row of ``credits`` (by row number), what its receiver sends in the same
    currency in ``(t, t + horizon]`` after it: exact integer sums, from prefix sums over the
    by-sender view. The ledger's row order is its time order, so a time bound is a row bound."""
    n = len(ts)
    out = np.zeros(len(credits), dtype=np.int64)
    if not len(credits):
        return out
    rows = index.by_sender.rows.astype(np.int64)
    owner = index.sender[rows].astype(np.int64)
    key = owner * n + rows  # ascending: grouped by sender, rows ascending within
    account = index.receiver[credits].astype(np.int64)
    lo_row = np.searchsorted(ts, ts[credits], side="right")  # first row after t
    hi_row = np.searchsorted(ts, ts[credits] + horizon_us, side="right")  # first row after t + horizon
    lo = np.searchsorted(key, account * n + lo_row)
    hi = np.searchsorted(key, account * n + hi_row)
    for code in np.unique(currency[credits]):
        sums = np.concatenate([[0], np.cumsum(np.where(currency[rows] == code, amount[rows], 0))])
        mine = currency[credits] == code
        out[mine] = sums[hi[mine]] - sums[lo[mine]]
    return out


def pooled_wages(ledger: pa.Table, index: AccountIndex, /, *, options: PooledWages | None = None,
                 reference: Reference | None = None) -> RuleResult:
    """Find several payers' wages pooled in one account and moved out at once (module docstring).

    Returns
    -------
    RuleResult
        Instances under the receiving account; evidence: the moved-out wage credits.
    """
    options = options or PooledWages()
    reference = reference_for("pooled_wages", reference, PooledWages.NEEDS)
    ts, currency = timestamps(ledger), currency_codes(ledger)
    amount = ledger.column("amount").to_numpy()
    wages = wage_rows(ledger, index, reference, options.payroll_marker)
    credits = np.flatnonzero(wages)
    horizon_us = params.duration_seconds("PooledWages", "horizon", options.horizon) * 1_000_000
    moved = moved_out(index, ts, amount, currency, credits, horizon_us)
    selected = np.zeros(len(ts), dtype=bool)
    selected[credits] = (moved >= _ceil_share(amount[credits], _ppm(options.min_moved))) & (amount[credits] > 0)
    found = windowed(
        index.by_receiver.offsets, index.by_receiver.rows, ts, selected, index.sender, amount,
        currency, rule=options.rule, typology="pooled_wages", source=SOURCE_POOLED,
        window_us=params.duration_seconds("PooledWages", "window", options.window) * 1_000_000,
        min_count=options.min_count, min_keys=options.min_senders, min_total=0, evidence_cap=options.evidence_cap,
        reasons=lambda count, keys, total, _: [count_reason("wages", count, options.min_count),
                                               count_reason("payers", keys, options.min_senders),
                                               info("total", total, "minor")])
    return RuleResult.from_found(ledger, index.accounts, found)


@dataclasses.dataclass(frozen=True)
class CashNoPayroll:
    """Options of the cash-revenue-without-payroll rule (see the module docstring).

    Parameters
    ----------
    min_deposits : int, default 8
    min_weeks : int, default 4
    min_week_share : float in (0, 1], default 0.6
        Share of the weeks from the first to the last deposit that have a deposit.
    peer_quantile : float in [0, 1], default 0.25
        Cash revenue must reach this quantile of the peers' (payroll-paying depositors).
    min_peers : int, default 10
    payroll_marker : str, default "PAYROLL"
    evidence_cap : int, default 50
    """

    min_deposits: int = 8
    min_weeks: int = 4
    min_week_share: float = 0.6
    peer_quantile: float = 0.25
    min_peers: int = 10
    payroll_marker: str = "PAYROLL"
    evidence_cap: int = 50

    NEEDS = ()

    def __post_init__(self):
        owner = "CashNoPayroll"
        params.positive_int(owner, "min_deposits", self.min_deposits)
        params.positive_int(owner, "min_weeks", self.min_weeks)
        params.share(owner, "min_week_share", self.min_week_share, open_low=True)
        params.share(owner, "peer_quantile", self.peer_quantile)
        params.positive_int(owner, "min_peers", self.min_peers)
        _check_marker(owner, self.payroll_marker)
        params.positive_int(owner, "evidence_cap", self.evidence_cap)

    rule = "cash_no_payroll"


def cash_profile(ledger: pa.Table, index: AccountIndex, /, *, options: CashNoPayroll | None = None,
                 reference: Reference | None = None, origin_us: int | None = None) -> dict[str, np.ndarray]:
    """Per account (code order) what :func:`cash_no_payroll` decides on: ``n_cash``,
    ``cash_total``, ``n_weeks``, ``first``, ``last``, ``n_payroll`` and ``span`` (weeks from the
    first to the last deposit), plus the ``deposit`` mask over rows. Weeks are counted from
    ``origin_us``, the ledger's first timestamp by default."""
    options = options or CashNoPayroll()
    reference = reference_for("cash_no_payroll", reference, CashNoPayroll.NEEDS)
    ts = timestamps(ledger)
    amount = ledger.column("amount").to_numpy()
    cash = dictionary_codes(ledger.column("channel"), CHANNELS) == CHANNELS.index("cash")
    deposit = cash & (index.sender < 0) & (index.receiver >= 0)
    payroll = payroll_out_rows(ledger, index, reference, options.payroll_marker)
    origin = origin_us if origin_us is not None else (int(ts[0]) if len(ts) else 0)
    n_cash, cash_total, n_weeks, first, last, n_payroll, _ = cash_kernel.cash_payroll_profile(
        index.by_receiver.offsets, index.by_receiver.rows, index.by_sender.offsets, index.by_sender.rows, ts, amount,
        deposit, payroll, origin, WEEK_US)
    span = (last - origin) // WEEK_US - (first - origin) // WEEK_US + 1
    return {"n_cash": n_cash, "cash_total": cash_total, "n_weeks": n_weeks, "first": first, "last": last,
            "n_payroll": n_payroll, "span": span, "deposit": deposit}


def peer_bar(n_cash: np.ndarray, cash_total: np.ndarray, n_payroll: np.ndarray, options: CashNoPayroll) -> int:
    """The peers' cash revenue a cash business must reach (module docstring), from every
    account's ``n_cash``, ``cash_total`` and ``n_payroll``."""
    depositors = n_cash >= options.min_deposits
    peers = depositors & (n_payroll > 0)
    if peers.sum() < options.min_peers:
        peers = depositors
    # the peer value: an exact order statistic (the lower of two neighbours), never interpolated
    values = np.sort(cash_total[peers])
    return int(values[int(np.floor(options.peer_quantile * (len(values) - 1)))]) if len(values) else 0


def cash_no_payroll(ledger: pa.Table, index: AccountIndex, /, *, options: CashNoPayroll | None = None,
                    reference: Reference | None = None, origin_us: int | None = None,
                    bar: int | None = None) -> RuleResult:
    """Find steady cash revenue with no payroll, against payroll-paying peers (module docstring).

    ``origin_us`` and ``bar``, when given, replace the ledger's first timestamp and its peer
    value: the Spark engine runs the rule on part of a ledger with the whole ledger's.

    Returns
    -------
    RuleResult
        One instance per firing account; evidence: its cash deposits.
    """
    options = options or CashNoPayroll()
    reference = reference_for("cash_no_payroll", reference, CashNoPayroll.NEEDS)
    profile = cash_profile(ledger, index, options=options, reference=reference, origin_us=origin_us)
    n_cash, cash_total, n_weeks, first, last, n_payroll, span, deposit = (
        profile[k] for k in ("n_cash", "cash_total", "n_weeks", "first", "last", "n_payroll", "span", "deposit"))
    depositors = n_cash >= options.min_deposits
    if bar is None:
        bar = peer_bar(n_cash, cash_total, n_payroll, options)
    share_ok = n_weeks * PPM >= _ppm(options.min_week_share) * span
    fire = (depositors & (n_weeks >= options.min_weeks) & share_ok & (n_payroll == 0) & (cash_total >= bar)
            & (cash_total > 0))
    accounts = np.flatnonzero(fire)
    evidence, counts = account_evidence(index.by_receiver.offsets, index.by_receiver.rows, deposit, accounts,
                                        options.evidence_cap)
    found = []
    if len(accounts):
        week_share = n_weeks[accounts] / span[accounts]
        found.append(Found(
            rule=options.rule, typology="cash_no_payroll", source=SOURCE_CASH, account=accounts.astype(np.int32),
            start_us=first[accounts], end_us=last[accounts],
            reasons=[count_reason("cash_deposits", n_cash[accounts], options.min_deposits),
                     count_reason("weeks", n_weeks[accounts], options.min_weeks),
                     Reason("week_share", ">=", week_share, options.min_week_share, "share"),
                     Reason("payroll_outflows", "<=", n_payroll[accounts], 0, "count"),
                     Reason("cash_total", ">=", cash_total[accounts], float(bar), "minor")],
            evidence_offsets=offsets_from_counts(np.minimum(counts, options.evidence_cap)),
            evidence_rows=evidence, evidence_total=counts,
        ))
    return RuleResult.from_found(ledger, index.accounts, found)
