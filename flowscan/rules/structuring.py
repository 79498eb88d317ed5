"""Structuring: transactions kept just under a reporting threshold.

Implements the red flag "cash deposits kept just under the $10,000 currency-transaction-report
threshold; wires under the $3,000 record-keeping threshold" (FinCEN FIN-2014-A008; FFIEC
BSA/AML Examination Manual, structuring), row 2 of ../shared/TYPOLOGIES.md.

Definition. For each account, channel class (cash deposits, cash withdrawals, outgoing
wires; configurable), currency with a threshold ``T`` and window length ``W``: the *parts*
are the account's transactions of that class and currency with ``band * T <= amount < T``.
Windows are half-open, ``[t, t + W)``, anchored at a part at time ``t``. A window whose parts
number at least ``min_count`` and sum to at least ``T`` is an instance; the scan then resumes
after the instance's last part, so the instances of one account and rule share no
transaction. Each instance reports its part count and sum beside their thresholds, its
largest part (below ``T``), and the distinct locations and counterparties among its parts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from types import MappingProxyType

import numpy as np
import pyarrow as pa

from .. import params
from ..currency import CURRENCIES
from ..index import AccountIndex, dictionary_codes, factorize
from ..kernels import structuring as kernel
from ..schema import CHANNELS
from .instances import Found, Reason, RuleResult, offsets_from_counts

SOURCE = "FinCEN FIN-2014-A008; FFIEC BSA/AML Examination Manual (structuring)"
TYPOLOGY = "structuring"


@dataclasses.dataclass(frozen=True)
class ChannelClass:
    """Transactions watched for structuring, and the thresholds that apply to them.

    Parameters
    ----------
    name : str
        Used in rule codes: ``structuring.<name>.<side>.<window>``.
    channels : tuple of str
        Canonical channels in the class.
    side : {"in", "out"}
        ``in`` scans what the account receives (deposits), ``out`` what it sends.
    thresholds : mapping of currency to amount
        The reporting threshold per ISO currency, in major units (``{"USD": 10000}``).
    """

    name: str
    channels: tuple[str, ...]
    side: str
    thresholds: Mapping[str, int | str]

    def __post_init__(self):
        owner = "ChannelClass"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise params.ConfigError(params._message(owner, "name", "a short identifier such as 'cash'", self.name))
        channels = tuple(self.channels) if not isinstance(self.channels, str) else (self.channels,)
        for c in channels:
            params.choice(owner, "channels", c, CHANNELS)
        object.__setattr__(self, "channels", channels)
        params.choice(owner, "side", self.side, ("in", "out"))
        object.__setattr__(self, "thresholds", MappingProxyType(dict(self.thresholds)))
        params.money_table(owner, "thresholds", self.thresholds)

    @property
    def thresholds_minor(self) -> dict[str, int]:
        return params.money_table("ChannelClass", "thresholds", self.thresholds)


DEFAULT_CLASSES = (
    ChannelClass("cash", ("cash",), "in", {"USD": 10000, "CAD": 10000}),
    ChannelClass("cash", ("cash",), "out", {"USD": 10000, "CAD": 10000}),
    ChannelClass("wire", ("wire",), "out", {"USD": 3000}),
)
"""Cash deposits and withdrawals under the US currency transaction report threshold (and
Canada's large cash transaction report, CAD 10,000); outgoing wires under the US $3,000
funds-transfer record-keeping threshold."""


@dataclasses.dataclass(frozen=True)
class Structuring:
    """Options of the structuring rule.

    Parameters
    ----------
    windows : tuple of durations, default ("24h", "72h", "30d")
        Window lengths; each gives its own rule code.
    band : float in (0, 1], default 0.8
        Parts are amounts in ``[band * T, T)``.
    min_count : int, default 2
        Parts needed in one window.
    classes : tuple of ChannelClass
        What is watched and its thresholds (:data:`DEFAULT_CLASSES`).
    evidence_cap : int, default 50
        Parts listed per instance; the rest are counted in ``n_evidence_total``.
    """

    windows: tuple = ("24h", "72h", "30d")
    band: float = 0.8
    min_count: int = 2
    classes: tuple = DEFAULT_CLASSES
    evidence_cap: int = 50

    def __post_init__(self):
        owner = "Structuring"
        windows = (self.windows,) if isinstance(self.windows, (str, int)) else tuple(self.windows)
        if not windows:
            raise params.ConfigError(params._message(owner, "windows", "at least one duration", self.windows))
        for w in windows:
            params.duration_seconds(owner, "windows", w)
        object.__setattr__(self, "windows", windows)
        params.share(owner, "band", self.band, open_low=True)
        params.positive_int(owner, "min_count", self.min_count)
        params.positive_int(owner, "evidence_cap", self.evidence_cap)
        classes = tuple(c if isinstance(c, ChannelClass) else ChannelClass(**c) for c in self.classes)
        object.__setattr__(self, "classes", classes)

    @property
    def window_seconds(self) -> tuple[int, ...]:
        return tuple(params.duration_seconds("Structuring", "windows", w) for w in self.windows)


def structuring(ledger: pa.Table, index: AccountIndex, /, *, options: Structuring | None = None) -> RuleResult:
    """Find structuring instances in a canonical ledger.

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (:func:`flowscan.read_ledger`).
    index : AccountIndex
        Its index (:func:`flowscan.build_index`).
    options : Structuring, optional

    Returns
    -------
    RuleResult
        Instances with rule codes ``structuring.<class>.<side>.<window>``; evidence lists
        the parts. A null location or counterparty is not counted as distinct.
    """
    options = options or Structuring()
    ts = ledger.column("timestamp").cast(pa.int64()).to_numpy()
    amount = ledger.column("amount").to_numpy()
    channel = dictionary_codes(ledger.column("channel"), CHANNELS)
    currency = dictionary_codes(ledger.column("currency"), CURRENCIES)
    _, (location,) = factorize(ledger.column("location"))
    location = location.astype(np.int64)
    found = []
    band = Decimal(str(options.band))
    for cls in options.classes:
        in_class = np.isin(channel, [CHANNELS.index(c) for c in cls.channels])
        view = index.by_receiver if cls.side == "in" else index.by_sender
        counterparty = (index.sender if cls.side == "in" else index.receiver).astype(np.int64)
        for code, threshold in sorted(cls.thresholds_minor.items()):
            low = int((band * threshold).to_integral_value(rounding=ROUND_CEILING))
            eligible = in_class & (currency == CURRENCIES.index(code)) & (amount >= low) & (amount < threshold)
            if not eligible.any():
                continue
            for seconds in options.window_seconds:
                rule = f"structuring.{cls.name}.{cls.side}.{params.format_duration(seconds)}"
                found.append(_run(rule, view, ts, amount, eligible, location, counterparty, threshold,
                                  seconds * 1_000_000, options))
    return RuleResult.from_found(ledger, index.accounts, found)


def _run(rule, view, ts, amount, eligible, location, counterparty, threshold, window_us, options) -> Found:
    args = (view.offsets, view.rows, ts, amount, eligible, location, counterparty, threshold, window_us,
            options.min_count, options.evidence_cap)
    n_inst, n_ev = kernel.structuring_count(*args)
    inst_offsets = offsets_from_counts(n_inst)
    ev_offsets = offsets_from_counts(n_ev)
    (account, start, end, count, total, biggest, places, people, listed_total,
     ev_rows) = kernel.structuring_fill(*args, inst_offsets, ev_offsets)
    per_instance = np.minimum(count, options.evidence_cap)
    return Found(
        rule=rule,
        typology=TYPOLOGY,
        source=SOURCE,
        account=account.astype(np.int32),
        start_us=start,
        end_us=end,
        reasons=[
            Reason("parts", ">=", count, options.min_count, "count"),
            Reason("sum", ">=", total, threshold, "minor"),
            Reason("largest_part", "<", biggest, threshold, "minor"),
            Reason("distinct_locations", "info", places, None, "count"),
            Reason("distinct_counterparties", "info", people, None, "count"),
        ],
        evidence_offsets=offsets_from_counts(per_instance),
        evidence_rows=ev_rows,
        evidence_total=listed_total,
    )
