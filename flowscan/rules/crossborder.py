"""Many domestic inflows, one foreign outflow. A rule of the human-trafficking pack (red flag 5
of ../shared/TYPOLOGIES.md; FATF/APG "Financial Flows from Human Trafficking", 2018; FinCEN's
2023 alert on human smuggling along the south-west border).

Definition (kernel :func:`flowscan.kernels.crossborder.foreign_outflow_count`). An account's
*inflows* are the transfers it receives on ``inflow_channels`` (cash deposits, wires, ACH, P2P
and cheques by default: card purchases are a merchant's sales, not money sent to it;
self-transfers aside); the *payer* of an inflow is
its sender, or for a cash deposit (no sender) the city it was made in, so deposits at several
places count as several payers. Its *foreign outflows* are the transactions it sends whose
``country`` (the receiving side's) is known and is not ``home_country``; the destination of one
is its receiver (or its country when the receiver is outside the bank's books).

Windows ``[t, t + W)`` are anchored at an inflow at time ``t``. The window's inflows are the
account's inflows from the anchor on with a time before ``t + W``; its outflows the foreign
outflows with ``t < time < t + W``. A window fires when its inflows come from at least
``min_payers`` distinct payers, it has a foreign outflow, at most ``max_destinations`` distinct
destinations, and the outflows total at least ``min_share`` of the inflows (decided in
integers). After an instance the scan resumes at the first inflow after it. Amounts of different
currencies are never added: each currency is scanned on its own.

With a ``high_risk_countries`` reference table, the scan runs a second time with only the
outflows to a listed country as foreign outflows, under the rule code
``domestic_to_foreign.high_risk.<W>``: the same pattern, towards a listed jurisdiction.

Reasons: ``payers`` (>= ``min_payers``), ``destinations`` (<= ``max_destinations``),
``outflow_share`` (>= ``min_share``), ``inflow_total`` and ``outflow_total`` (info).
Evidence: the inflows, then the outflows, capped.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import params
from ..index import AccountIndex, dictionary_codes
from ..kernels import crossborder as kernel
from ..reference import Reference
from ..schema import CHANNELS
from .instances import Found, Reason, RuleResult, offsets_from_counts
from .windows import currency_codes, reference_for, timestamps

SOURCE = ("FATF/APG Financial Flows from Human Trafficking (2018) (many domestic inflows, one foreign outflow); "
          "FinCEN FIN-2023-Alert001 (human smuggling along the south-west border)")
TYPOLOGY = "domestic_to_foreign"


@dataclasses.dataclass(frozen=True)
class DomesticToForeign:
    """Options of the many-domestic-inflows, one-foreign-outflow rule (see the module docstring).

    Parameters
    ----------
    window : duration, default "30d"
    min_payers : int, default 5
    max_destinations : int, default 1
    min_share : float in (0, 1], default 0.5
        The foreign outflows must total at least this share of the window's inflows.
    home_country : str, optional
        The bank's country (ISO 3166); by default the most frequent ``country`` of the ledger.
    inflow_channels : tuple of str, default ("cash", "wire", "ach", "p2p", "check")
        Channels of the inflows that count.
    evidence_cap : int, default 50
    """

    window: str | int = "30d"
    min_payers: int = 5
    max_destinations: int = 1
    min_share: float = 0.5
    home_country: str | None = None
    inflow_channels: tuple = ("cash", "wire", "ach", "p2p", "check")
    evidence_cap: int = 50

    NEEDS = ()

    def __post_init__(self):
        owner = "DomesticToForeign"
        params.duration_seconds(owner, "window", self.window)
        params.positive_int(owner, "min_payers", self.min_payers)
        params.positive_int(owner, "max_destinations", self.max_destinations)
        params.share(owner, "min_share", self.min_share, open_low=True)
        if self.home_country is not None and (not isinstance(self.home_country, str)
                                              or len(self.home_country) != 2 or not self.home_country.isupper()):
            raise params.ConfigError(params._message(owner, "home_country", "an ISO 3166 two-letter code such as "
                                                     "'US'", self.home_country))
        channels = (self.inflow_channels,) if isinstance(self.inflow_channels, str) else tuple(self.inflow_channels)
        if not channels:
            raise params.ConfigError(params._message(owner, "inflow_channels", "at least one channel", channels))
        for c in channels:
            params.choice(owner, "inflow_channels", c, CHANNELS)
        object.__setattr__(self, "inflow_channels", channels)
        params.positive_int(owner, "evidence_cap", self.evidence_cap)

    @property
    def rule(self) -> str:
        seconds = params.duration_seconds("DomesticToForeign", "window", self.window)
        return f"domestic_to_foreign.{params.format_duration(seconds)}"


def home_country(ledger: pa.Table) -> str | None:
    """The most frequent non-null ``country`` of the ledger (ties: the first in byte order)."""
    counts = pc.value_counts(ledger.column("country").combine_chunks().cast(pa.string()).drop_null())
    if len(counts) == 0:
        return None
    values = counts.field("values").to_pylist()
    n = counts.field("counts").to_numpy()
    best = n.max()
    return min(v for v, c in zip(values, n) if c == best)


def domestic_to_foreign(ledger: pa.Table, index: AccountIndex, /, *, options: DomesticToForeign | None = None,
                        reference: Reference | None = None) -> RuleResult:
    """Find accounts fed by many payers at home that send the money abroad (module docstring).

    Returns
    -------
    RuleResult
        Instances under the account; evidence: the inflows, then the foreign outflows.
    """
    options = options or DomesticToForeign()
    reference = reference_for("domestic_to_foreign", reference, DomesticToForeign.NEEDS)
    ts, currency = timestamps(ledger), currency_codes(ledger)
    amount = ledger.column("amount").to_numpy()
    home = options.home_country or home_country(ledger)
    country = ledger.column("country").combine_chunks().cast(pa.string())
    if home is None:
        return RuleResult.from_found(ledger, index.accounts, [])
    abroad = pc.fill_null(pc.not_equal(country, pa.scalar(home)), False).to_numpy(zero_copy_only=False)
    n = index.n_accounts
    city, _ = reference.places(ledger.column("location"))
    payer = np.where(index.sender >= 0, index.sender.astype(np.int64), np.where(city >= 0, n + city, -1))
    country_code = pc.fill_null(pc.index_in(country, value_set=pc.unique(country.drop_null())), -1).to_numpy(
        zero_copy_only=False).astype(np.int64)
    destination = np.where(index.receiver >= 0, index.receiver.astype(np.int64),
                           np.where(country_code >= 0, n + country_code, -1))
    not_self = index.sender != index.receiver
    channel = dictionary_codes(ledger.column("channel"), CHANNELS)
    counted = np.isin(channel, [CHANNELS.index(c) for c in options.inflow_channels])
    scans = [(options.rule, abroad)]
    if reference.has("high_risk_countries"):
        listed = reference.listed("high_risk_countries", country)
        scans.append((options.rule.replace(".", ".high_risk.", 1), abroad & listed))
    found = []
    for (rule, outward), code in ((s, c) for s in scans for c in np.unique(currency)):
        inflow = np.ascontiguousarray((index.receiver >= 0) & not_self & counted & (currency == code))
        foreign = np.ascontiguousarray((index.sender >= 0) & not_self & outward & (currency == code))
        if not inflow.any() or not foreign.any():
            continue
        args = (index.by_receiver.offsets, index.by_receiver.rows, index.by_sender.offsets, index.by_sender.rows,
                ts, amount, inflow, payer, foreign, destination,
                params.duration_seconds("DomesticToForeign", "window", options.window) * 1_000_000,
                options.min_payers, int(round(options.min_share * 1_000_000)), options.max_destinations,
                options.evidence_cap)
        n_inst, n_ev = kernel.foreign_outflow_count(*args)
        if not n_inst.any():
            continue
        account, start, end, payers, inflow_total, outflow_total, destinations, ev_total, ev_rows = \
            kernel.foreign_outflow_fill(*args, offsets_from_counts(n_inst), offsets_from_counts(n_ev))
        share = np.zeros(len(account))
        np.divide(outflow_total, inflow_total, out=share, where=inflow_total > 0)
        found.append(Found(
            rule=rule, typology=TYPOLOGY, source=SOURCE, account=account.astype(np.int32), start_us=start,
            end_us=end,
            reasons=[Reason("payers", ">=", payers, options.min_payers, "count"),
                     Reason("destinations", "<=", destinations, options.max_destinations, "count"),
                     Reason("outflow_share", ">=", share, options.min_share, "share"),
                     Reason("inflow_total", "info", inflow_total, None, "minor"),
                     Reason("outflow_total", "info", outflow_total, None, "minor")],
            evidence_offsets=offsets_from_counts(np.minimum(ev_total, options.evidence_cap)),
            evidence_rows=ev_rows, evidence_total=ev_total,
        ))
    return RuleResult.from_found(ledger, index.accounts, found)
