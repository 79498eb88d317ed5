"""Behavioural features per account, the input of scoring.

Each feature is a weak signal behind a published red flag; Polaris's "no single red flag" is
why they are scored together rather than alerted on one by one. Sources:

- channel mix, cash shares, many senders: FinCEN FIN-2014-A008 and FIN-2020-A008 (cash
  revenue with no payroll, funnel accounts, many unrelated senders), rows 1, 3 and 11 of
  ../shared/TYPOLOGIES.md;
- amounts just under a reporting threshold: FinCEN FIN-2014-A008 (structuring), row 2;
- late-night activity, 22:00 to 06:00 local time: FINTRAC operational alert 2016-OA003, row 8;
- burstiness: K.-I. Goh and A.-L. Barabasi, "Burstiness and memory in complex systems",
  EPL 81 (2008) 48002.

Definitions. An account's *incoming rows* are the rows it receives (``by_receiver``), its
*outgoing rows* the rows it sends (``by_sender``), and *its rows* the union of the two: a
self-transfer (sender = receiver) is one of its rows, counted once, and is both incoming and
outgoing. A null sender or receiver (cash, or an account outside the bank) is nobody's row on
that side and is never counted as a counterparty. Every account of the index has at least one
row. The ledger must be canonical (sorted by timestamp, txn_id; :func:`flowscan.read_ledger`):
"ledger order" below is that order. One output row per account, in code order (account ids
sorted), with these columns:

``account``
    The account id.
``n_in``, ``n_out`` (int64)
    Number of incoming, outgoing rows. A self-transfer counts in both.
``sum_in``, ``sum_out`` (int64)
    Exact sum of the amounts of the incoming, outgoing rows in minor units, **summed across
    currencies as they are** (100 USD cents and 100 JPY add up to 200): meaningful for a
    single-currency ledger or as a rough volume. A sum beyond the int64 range raises
    :class:`~flowscan.errors.DataError` rather than wrap.
``distinct_senders``, ``distinct_receivers`` (int64)
    Distinct non-null senders of the incoming rows, receivers of the outgoing rows. Nulls
    (cash) are not counted; a self-transfer counts the account itself.
``cash_in_share``, ``cash_out_share`` (float64)
    Share of the incoming (outgoing) rows whose channel is ``cash``; NaN when there are none.
``share_<channel>`` (float64), one per canonical channel in :data:`flowscan.CHANNELS` order
    Share of the account's rows (a self-transfer once) with that channel; they sum to 1.
``round_share`` (float64)
    Share of the account's rows whose amount is a whole multiple of ``round_unit`` major
    units of its own currency, checked exactly on minor units
    (``amount % (round_unit * 10**digits) == 0``); an amount of 0 is a multiple.
``just_under_count`` (int64)
    The account's rows in a watched class, currency and band: cash deposits (channel
    ``cash``, incoming) and wires sent (channel ``wire``, outgoing) whose currency has a
    threshold ``T`` in ``just_under`` and whose amount is in ``[band * T, T)``; ``band * T``
    is rounded up to a whole minor unit. A cash withdrawal, a wire received, or a currency
    without a threshold never counts; a row counts at most once.
``night_share`` (float64)
    Share of the account's rows whose local time of day is in ``[night_start, night_end)``
    (wrapping past midnight when ``night_start > night_end``: the default 22:00 is night,
    06:00 is not). Local time is UTC plus the offset of the row's ``location`` in
    ``utc_offsets`` (exact, case-sensitive match). Rows whose location is null or not in the
    table are left out of both numerator and denominator; NaN when none of the account's
    rows has a known offset: a local time is never guessed.
``burstiness`` (float64)
    ``(sigma - mu) / (sigma + mu)`` of the ``n - 1`` gaps between consecutive rows of the
    account's ``n`` rows in ledger order (equal timestamps give gaps of 0), with ``mu`` their
    mean and ``sigma`` their population standard deviation (dividing by ``n - 1``), computed
    in microseconds: -1 for perfectly regular activity, about 0 for a Poisson process,
    towards 1 for bursts. NaN when ``n < 3`` or ``sigma + mu == 0`` (all rows at one instant).
``active_days`` (int64)
    Number of distinct UTC calendar days with at least one of the account's rows.
``first_seen``, ``last_seen`` (timestamp[us, UTC])
    Timestamps of the account's first and last rows.

Work and memory per account are linear in its rows (plus a sort of its counterparty codes for
the distinct counts), with one scratch array of that size, so no cap is needed: a hub costs
what its rows cost. Floating features of an account are computed by one thread in ledger
order, so the table is bit-identical for any number of threads. This module finds no
instances, hence no evidence and no ``evidence_cap``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import params
from ..currency import CURRENCIES, MINOR_DIGITS
from ..errors import DataError
from ..index import AccountIndex, dictionary_codes, factorize
from ..kernels import features as kernel
from ..schema import CHANNELS, TIMESTAMP_TYPE

SOURCE = ("FinCEN FIN-2014-A008; FinCEN FIN-2020-A008; FINTRAC 2016-OA003 (late-night activity); "
          "Goh & Barabasi, EPL 81 (2008) 48002 (burstiness)")

JUST_UNDER_CLASSES: Mapping[str, tuple[str, str]] = MappingProxyType({"cash": ("cash", "in"), "wire": ("wire", "out")})
"""Channel classes of ``just_under``: name -> (channel, side counted): cash deposits, wires sent."""

DEFAULT_JUST_UNDER: Mapping[str, Mapping[str, int | str]] = MappingProxyType(
    {"cash": MappingProxyType({"USD": 10000}), "wire": MappingProxyType({"USD": 3000})})
"""The US currency transaction report threshold for cash deposits and the $3,000 funds-transfer
record-keeping threshold for wires (FinCEN FIN-2014-A008)."""

MAX_UTC_OFFSET_MINUTES = 18 * 60
_TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")
_DAY_US = 86_400_000_000
_INT64_MAX = 2**63 - 1


def _time_of_day(owner: str, name: str, value) -> int:
    """Seconds after midnight of a 24-hour "HH:MM" or "HH:MM:SS" text."""
    expected = "a time of day such as '22:00' or '05:30:00'"
    if not isinstance(value, str):
        raise params.ConfigTypeError(params._message(owner, name, expected, value))
    match = _TIME_OF_DAY.match(value)
    if not match:
        raise params.ConfigError(params._message(owner, name, expected, value))
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@dataclasses.dataclass(frozen=True)
class Features:
    """Options of :func:`account_features`.

    Parameters
    ----------
    round_unit : int, default 100
        ``round_share`` counts amounts that are whole multiples of this many major units of
        their currency.
    just_under : mapping of channel class to {currency: threshold}, default :data:`DEFAULT_JUST_UNDER`
        Classes from :data:`JUST_UNDER_CLASSES` (``cash``: deposits; ``wire``: wires sent);
        thresholds in major units (an int or a decimal text). An empty mapping counts nothing.
    band : float in (0, 1], default 0.9
        ``just_under_count`` counts amounts in ``[band * T, T)``.
    night_start, night_end : str, default "22:00" and "06:00"
        Local times of day ("HH:MM" or "HH:MM:SS") bounding the night, ``[night_start, night_end)``.
    utc_offsets : mapping of location to minutes, optional
        UTC offset of each ``location`` value, in minutes east of UTC (``{"NYC-5TH-AVE": -300}``),
        within +-18 hours. Locations not listed have no known local time.
    """

    round_unit: int = 100
    just_under: Mapping = dataclasses.field(default_factory=lambda: DEFAULT_JUST_UNDER)
    band: float = 0.9
    night_start: str = "22:00"
    night_end: str = "06:00"
    utc_offsets: Mapping | None = None

    def __post_init__(self):
        owner = "Features"
        params.positive_int(owner, "round_unit", self.round_unit)
        if self.round_unit * 10 ** max(MINOR_DIGITS.values()) > _INT64_MAX:
            raise params.ConfigError(params._message(
                owner, "round_unit", f"at most {_INT64_MAX // 10 ** max(MINOR_DIGITS.values())}", self.round_unit))
        if not isinstance(self.just_under, Mapping):
            raise params.ConfigTypeError(params._message(
                owner, "just_under", "a mapping of channel class to {currency: threshold}", self.just_under))
        classes = {}
        for name, thresholds in self.just_under.items():
            params.choice(owner, "just_under", name, tuple(JUST_UNDER_CLASSES))
            params.money_table(owner, f"just_under.{name}", thresholds)
            classes[name] = MappingProxyType(dict(thresholds))
        object.__setattr__(self, "just_under", MappingProxyType(classes))
        params.share(owner, "band", self.band, open_low=True)
        start = _time_of_day(owner, "night_start", self.night_start)
        if _time_of_day(owner, "night_end", self.night_end) == start:
            raise params.ConfigError(params._message(owner, "night_end", "a time other than night_start",
                                                     self.night_end))
        offsets = {} if self.utc_offsets is None else self.utc_offsets
        if not isinstance(offsets, Mapping):
            raise params.ConfigTypeError(params._message(
                owner, "utc_offsets", "a mapping of location to a UTC offset in minutes", self.utc_offsets))
        for location, minutes in offsets.items():
            if not isinstance(location, str):
                raise params.ConfigTypeError(params._message(owner, "utc_offsets", "keyed by location text",
                                                             location))
            expected = f"a UTC offset in whole minutes between -{MAX_UTC_OFFSET_MINUTES} and {MAX_UTC_OFFSET_MINUTES}"
            if isinstance(minutes, bool) or not isinstance(minutes, int):
                raise params.ConfigTypeError(params._message(owner, f"utc_offsets.{location}", expected, minutes))
            if abs(minutes) > MAX_UTC_OFFSET_MINUTES:
                raise params.ConfigError(params._message(owner, f"utc_offsets.{location}", expected, minutes))
        object.__setattr__(self, "utc_offsets", MappingProxyType(dict(offsets)))

    @property
    def night_seconds(self) -> tuple[int, int]:
        """(start, end) of the night in seconds after local midnight."""
        return (_time_of_day("Features", "night_start", self.night_start),
                _time_of_day("Features", "night_end", self.night_end))

    @property
    def just_under_minor(self) -> dict[str, dict[str, int]]:
        """Class -> currency -> threshold in minor units."""
        return {name: params.money_table("Features", f"just_under.{name}", thresholds)
                for name, thresholds in self.just_under.items()}


def _column(name: str, kind: pa.DataType, unit: str) -> pa.Field:
    return pa.field(name, kind, nullable=False, metadata={"unit": unit})


FEATURE_SCHEMA = pa.schema(
    [
        pa.field("account", pa.string(), nullable=False),
        _column("n_in", pa.int64(), "count"),
        _column("n_out", pa.int64(), "count"),
        _column("sum_in", pa.int64(), "minor units, all currencies summed"),
        _column("sum_out", pa.int64(), "minor units, all currencies summed"),
        _column("distinct_senders", pa.int64(), "count"),
        _column("distinct_receivers", pa.int64(), "count"),
        _column("cash_in_share", pa.float64(), "share"),
        _column("cash_out_share", pa.float64(), "share"),
        *[_column(f"share_{c}", pa.float64(), "share") for c in CHANNELS],
        _column("round_share", pa.float64(), "share"),
        _column("just_under_count", pa.int64(), "count"),
        _column("night_share", pa.float64(), "share"),
        _column("burstiness", pa.float64(), "coefficient in [-1, 1]"),
        _column("active_days", pa.int64(), "count"),
        _column("first_seen", TIMESTAMP_TYPE, "timestamp"),
        _column("last_seen", TIMESTAMP_TYPE, "timestamp"),
    ],
    metadata={"flowscan.source": SOURCE},
)
"""Columns of :func:`account_features`; NaN (not null) marks an undefined share or burstiness."""


def account_features(ledger: pa.Table, index: AccountIndex, /, *, options: Features | None = None) -> pa.Table:
    """Behavioural features of every account of a canonical ledger (module docstring).

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (:func:`flowscan.read_ledger`), sorted by (timestamp, txn_id).
    index : AccountIndex
        Its index (:func:`flowscan.build_index`).
    options : Features, optional

    Returns
    -------
    pyarrow.Table
        :data:`FEATURE_SCHEMA`: one row per account in code order. Null senders and
        receivers (cash) count as nobody; a row with no known local time is left out of
        ``night_share``.

    Raises
    ------
    DataError
        The ledger is not sorted by timestamp, or a sum leaves the int64 range.
    """
    if options is None:
        options = Features()
    if not isinstance(options, Features):
        raise params.ConfigTypeError(params._message("account_features", "options", "a Features instance", options))
    ts = np.ascontiguousarray(ledger.column("timestamp").cast(pa.int64()).to_numpy(), dtype=np.int64)
    if ts.shape[0] > 1 and bool(np.any(ts[1:] < ts[:-1])):
        raise DataError("the ledger is not sorted by timestamp; pass a canonical ledger (flowscan.read_ledger)")
    amount = np.ascontiguousarray(ledger.column("amount").to_numpy(), dtype=np.int64)
    channel = dictionary_codes(ledger.column("channel"), CHANNELS)
    currency = dictionary_codes(ledger.column("currency"), CURRENCIES)

    units = np.array([options.round_unit * 10 ** MINOR_DIGITS[c] for c in CURRENCIES], dtype=np.int64)
    is_round = amount % units[currency] == 0
    under_in = np.zeros(len(amount), dtype=bool)
    under_out = np.zeros(len(amount), dtype=bool)
    band = Decimal(str(options.band))
    for name, thresholds in sorted(options.just_under_minor.items()):
        channel_name, side = JUST_UNDER_CLASSES[name]
        low = np.zeros(len(CURRENCIES), dtype=np.int64)
        high = np.zeros(len(CURRENCIES), dtype=np.int64)  # 0: no threshold, nothing is under it
        for code, threshold in thresholds.items():
            high[CURRENCIES.index(code)] = threshold
            low[CURRENCIES.index(code)] = int((band * threshold).to_integral_value(rounding=ROUND_CEILING))
        hit = (channel == CHANNELS.index(channel_name)) & (amount >= low[currency]) & (amount < high[currency])
        if side == "in":
            under_in |= hit
        else:
            under_out |= hit

    night = np.full(len(amount), -1, dtype=np.int8)
    if options.utc_offsets and len(amount):
        places, (place,) = factorize(ledger.column("location"))
        names = list(options.utc_offsets)
        where = pc.fill_null(pc.index_in(places, value_set=pa.array(names, pa.string())), -1)
        where = np.append(where.to_numpy(zero_copy_only=False), -1)  # code -1 (null location) is unknown
        minutes = np.append(np.array([options.utc_offsets[n] for n in names], dtype=np.int64), 0)
        known = where[place] >= 0
        local_us = ts + minutes[where[place]] * 60_000_000
        time_of_day = local_us % _DAY_US
        start, end = (s * 1_000_000 for s in options.night_seconds)
        if start < end:
            is_night = (time_of_day >= start) & (time_of_day < end)
        else:
            is_night = (time_of_day >= start) | (time_of_day < end)
        night[known] = is_night[known]

    (n_in, n_out, sum_in, sum_out, overflow, distinct_senders, distinct_receivers, cash_in_share, cash_out_share,
     channel_share, round_share, just_under_count, night_share, burstiness, active_days, first_seen,
     last_seen) = kernel.account_features(
        index.by_sender.offsets, index.by_sender.rows, index.by_receiver.offsets, index.by_receiver.rows,
        index.sender, index.receiver, ts, amount, channel, len(CHANNELS), CHANNELS.index("cash"), is_round,
        under_in, under_out, night)
    if overflow.any():
        raise DataError(f"sum_in or sum_out of {int(overflow.sum())} account(s) leaves the int64 range of minor "
                        "units; such sums cannot be exact")
    columns = {
        "account": index.accounts,
        "n_in": n_in,
        "n_out": n_out,
        "sum_in": sum_in,
        "sum_out": sum_out,
        "distinct_senders": distinct_senders,
        "distinct_receivers": distinct_receivers,
        "cash_in_share": cash_in_share,
        "cash_out_share": cash_out_share,
        **{f"share_{c}": np.ascontiguousarray(channel_share[:, k]) for k, c in enumerate(CHANNELS)},
        "round_share": round_share,
        "just_under_count": just_under_count,
        "night_share": night_share,
        "burstiness": burstiness,
        "active_days": active_days,
        "first_seen": first_seen,
        "last_seen": last_seen,
    }
    columns["account"] = index.accounts.cast(pa.string())
    return pa.table([columns[f.name] if f.name == "account" else pa.array(columns[f.name], f.type)
                     for f in FEATURE_SCHEMA], schema=FEATURE_SCHEMA)
