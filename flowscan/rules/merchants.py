"""Where and on what money is spent: escort-ad fees, hotel stays in several cities, travel
bursts, prepaid and virtual-currency loads. Rules of the human-trafficking pack.

Each rule selects some of an account's *sent* transactions, slides a window over them and
reports the windows that hold enough of them at enough distinct places or merchants (the
shared scan of :mod:`flowscan.rules.windows`: windows ``[t, t + W)`` anchored at a selected
row, greedy, so instances of one account and rule share no transaction; amounts of different
currencies are never added). The merchant side comes from the reference tables
(:mod:`flowscan.reference`): the merchant-category groups (shipped default: standard ISO 18245
codes) and, for the ad rule, the user's list of ad-site accounts.

escort_ads (typology ``escort_advertising``; red flag 6)
    Payments to a listed ad site, each at most ``max_amount`` and a whole multiple of one of
    the typical posting fees ``fee_bases`` (3, 12 and 24 units by default): at least
    ``min_count`` in ``window``, at ``min_sites`` or more distinct sites. Needs
    ``ad_merchants``. FinCEN FIN-2014-A008; FINTRAC Project PROTECT (2016).
lodging (typology ``lodging_travel``; red flag 7)
    Payments in the ``lodging`` MCC group (hotels, motels) in at least ``min_cities`` distinct
    cities within ``window`` (7 days), ``min_count`` stays or more. The city of a payment is
    its location (through the ``locations`` table when given). FINTRAC Project PROTECT (2016).
travel_burst (typology ``travel_burst``; red flag 9)
    At least ``min_count`` payments in the ``transport`` and ``ride_share`` groups within
    ``window`` (24 hours), in ``min_cities`` or more cities. FINTRAC Project PROTECT (2016).
prepaid_loads (typology ``prepaid_virtual``; red flag 10)
    At least ``min_count`` payments in the ``prepaid`` and ``virtual_currency`` groups within
    ``window`` (30 days), each at most ``max_amount``. FinCEN FIN-2020-A008 (alternative
    payment methods); FINTRAC Project PROTECT (2016).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pyarrow as pa

from .. import params
from ..currency import CURRENCIES
from ..index import AccountIndex
from ..reference import GROUPS, Reference
from .instances import RuleResult
from .windows import count_reason, currency_codes, info, reference_for, timestamps, windowed

SOURCE_ADS = ("FinCEN FIN-2014-A008; FINTRAC Project PROTECT operational alert 2016-OA003 (payments to online "
              "escort and classified advertising sites, small fees in multiples)")
SOURCE_LODGING = ("FINTRAC Project PROTECT operational alert 2016-OA003 (hotels and motels, several cities in a "
                  "short time)")
SOURCE_TRAVEL = "FINTRAC Project PROTECT operational alert 2016-OA003 (ride-share and travel bursts)"
SOURCE_PREPAID = ("FinCEN FIN-2020-A008 (alternative payment methods: prepaid cards, virtual currency); FINTRAC "
                  "Project PROTECT operational alert 2016-OA003")
SOURCE = {"escort_ads": SOURCE_ADS, "lodging": SOURCE_LODGING, "travel_burst": SOURCE_TRAVEL,
          "prepaid_loads": SOURCE_PREPAID}
"""The published source of each rule of this module."""


def _money(owner: str, name: str, value) -> Mapping:
    params.money_table(owner, name, value)
    return MappingProxyType(dict(value))


def _limit(ledger: pa.Table, currency: np.ndarray, table_minor: Mapping[str, int]) -> np.ndarray:
    """Per row, the cap of its currency in minor units; -1 for a currency without one."""
    lookup = np.full(len(CURRENCIES) + 1, -1, dtype=np.int64)
    for code, minor in table_minor.items():
        lookup[CURRENCIES.index(code)] = minor
    return lookup[currency]


def _group_rows(reference: Reference, ledger: pa.Table, groups) -> np.ndarray:
    codes = reference.mcc_groups(ledger.column("mcc"))
    wanted = np.array([GROUPS.index(g) for g in groups], dtype=np.int8)
    return np.isin(codes, wanted)


def _sent(index: AccountIndex) -> np.ndarray:
    return index.sender >= 0


def _windows(owner: str, value) -> int:
    return params.duration_seconds(owner, "window", value)


@dataclasses.dataclass(frozen=True)
class EscortAds:
    """Options of the escort-ad fees rule (see the module docstring).

    Parameters
    ----------
    window : duration, default "30d"
    min_count : int, default 3
        Fee payments in one window.
    min_sites : int, default 1
        Distinct ad sites among them.
    fee_bases : tuple of int, default (3, 12, 24)
        Typical posting fees, whole major units; a payment counts when it is a whole multiple of one.
    max_amount : mapping of currency to amount, default {"USD": 150, "CAD": 200}
        Larger payments (a business's ad campaign) do not count; currencies not listed do not count.
    evidence_cap : int, default 50
    """

    window: str | int = "30d"
    min_count: int = 3
    min_sites: int = 1
    fee_bases: tuple = (3, 12, 24)
    max_amount: Mapping = dataclasses.field(default_factory=lambda: {"USD": 150, "CAD": 200})
    evidence_cap: int = 50

    NEEDS = ("ad_merchants",)

    def __post_init__(self):
        owner = "EscortAds"
        _windows(owner, self.window)
        params.positive_int(owner, "min_count", self.min_count)
        params.positive_int(owner, "min_sites", self.min_sites)
        bases = (self.fee_bases,) if isinstance(self.fee_bases, int) else tuple(self.fee_bases)
        if not bases:
            raise params.ConfigError(params._message(owner, "fee_bases", "at least one positive integer", bases))
        for b in bases:
            params.positive_int(owner, "fee_bases", b)
        object.__setattr__(self, "fee_bases", bases)
        object.__setattr__(self, "max_amount", _money(owner, "max_amount", self.max_amount))
        params.positive_int(owner, "evidence_cap", self.evidence_cap)

    @property
    def rule(self) -> str:
        return f"escort_ads.{params.format_duration(_windows('EscortAds', self.window))}"


def escort_ads(ledger: pa.Table, index: AccountIndex, /, *, options: EscortAds | None = None,
               reference: Reference | None = None) -> RuleResult:
    """Find repeated small ad-site fees in multiples of the posting fees (see the module docstring).

    Returns
    -------
    RuleResult
        Instances under the paying account; reasons ``fee_payments`` (>= ``min_count``),
        ``sites`` (>= ``min_sites``) and ``total`` (info, minor); evidence: the payments.
    """
    options = options or EscortAds()
    reference = reference_for("escort_ads", reference, EscortAds.NEEDS)
    ts, currency = timestamps(ledger), currency_codes(ledger)
    amount = ledger.column("amount").to_numpy()
    from ..currency import MINOR_DIGITS

    digits = np.array([MINOR_DIGITS.get(c, 2) for c in CURRENCIES] + [2], dtype=np.int64)
    unit = 10 ** digits[currency]
    multiple = np.zeros(len(amount), dtype=bool)
    for base in options.fee_bases:
        multiple |= (amount % (base * unit) == 0) & (amount > 0)
    cap = _limit(ledger, currency, params.money_table("EscortAds", "max_amount", options.max_amount))
    selected = (_sent(index) & reference.listed("ad_merchants", ledger.column("receiver")) & multiple
                & (cap >= 0) & (amount <= cap))
    found = windowed(
        index.by_sender.offsets, index.by_sender.rows, ts, selected, index.receiver, amount,
        currency, rule=options.rule, typology="escort_advertising",
        source=SOURCE_ADS, window_us=_windows("EscortAds", options.window) * 1_000_000,
        min_count=options.min_count, min_keys=options.min_sites, min_total=0, evidence_cap=options.evidence_cap,
        reasons=lambda count, keys, total, _: [count_reason("fee_payments", count, options.min_count),
                                               count_reason("sites", keys, options.min_sites),
                                               info("total", total, "minor")])
    return RuleResult.from_found(ledger, index.accounts, found)


@dataclasses.dataclass(frozen=True)
class Lodging:
    """Options of the hotels-in-several-cities rule (see the module docstring).

    Parameters
    ----------
    window : duration, default "7d"
    min_count : int, default 3
        Lodging payments in one window.
    min_cities : int, default 3
        Distinct cities among them.
    groups : tuple of str, default ("lodging",)
        Merchant-category groups counted (:data:`flowscan.reference.GROUPS`).
    evidence_cap : int, default 50
    """

    window: str | int = "7d"
    min_count: int = 3
    min_cities: int = 3
    groups: tuple = ("lodging",)
    evidence_cap: int = 50

    NEEDS = ("mcc_groups",)

    def __post_init__(self):
        _check_groups("Lodging", self)
        params.positive_int("Lodging", "min_cities", self.min_cities)

    @property
    def rule(self) -> str:
        return f"lodging.{params.format_duration(_windows('Lodging', self.window))}"


@dataclasses.dataclass(frozen=True)
class TravelBurst:
    """Options of the travel-burst rule (see the module docstring).

    Parameters
    ----------
    window : duration, default "24h"
    min_count : int, default 5
        Transport and ride-share payments in one window.
    min_cities : int, default 2
        Distinct cities among them.
    groups : tuple of str, default ("transport", "ride_share")
    evidence_cap : int, default 50
    """

    window: str | int = "24h"
    min_count: int = 5
    min_cities: int = 2
    groups: tuple = ("transport", "ride_share")
    evidence_cap: int = 50

    NEEDS = ("mcc_groups",)

    def __post_init__(self):
        _check_groups("TravelBurst", self)
        params.positive_int("TravelBurst", "min_cities", self.min_cities)

    @property
    def rule(self) -> str:
        return f"travel_burst.{params.format_duration(_windows('TravelBurst', self.window))}"


def _check_groups(owner: str, options) -> None:
    _windows(owner, options.window)
    params.positive_int(owner, "min_count", options.min_count)
    groups = (options.groups,) if isinstance(options.groups, str) else tuple(options.groups)
    if not groups:
        raise params.ConfigError(params._message(owner, "groups", "at least one merchant-category group", groups))
    for g in groups:
        params.choice(owner, "groups", g, GROUPS)
    object.__setattr__(options, "groups", groups)
    params.positive_int(owner, "evidence_cap", options.evidence_cap)


def _cities(ledger: pa.Table, reference: Reference) -> np.ndarray:
    city, _ = reference.places(ledger.column("location"))
    return city


def lodging(ledger: pa.Table, index: AccountIndex, /, *, options: Lodging | None = None,
            reference: Reference | None = None) -> RuleResult:
    """Find hotel and motel stays in several cities within days (see the module docstring).

    Returns
    -------
    RuleResult
        Instances under the paying account; reasons ``stays`` (>= ``min_count``), ``cities``
        (>= ``min_cities``), ``total`` (info); evidence: the payments.
    """
    options = options or Lodging()
    reference = reference_for("lodging", reference, Lodging.NEEDS)
    return _city_rule(ledger, index, options, reference, typology="lodging_travel", source=SOURCE_LODGING,
                      count_name="stays", owner="Lodging")


def travel_burst(ledger: pa.Table, index: AccountIndex, /, *, options: TravelBurst | None = None,
                 reference: Reference | None = None) -> RuleResult:
    """Find bursts of transport and ride-share payments across cities (see the module docstring).

    Returns
    -------
    RuleResult
        Instances under the paying account; reasons ``trips`` (>= ``min_count``), ``cities``
        (>= ``min_cities``), ``total`` (info); evidence: the payments.
    """
    options = options or TravelBurst()
    reference = reference_for("travel_burst", reference, TravelBurst.NEEDS)
    return _city_rule(ledger, index, options, reference, typology="travel_burst", source=SOURCE_TRAVEL,
                      count_name="trips", owner="TravelBurst")


def _city_rule(ledger, index, options, reference, *, typology, source, count_name, owner) -> RuleResult:
    ts, currency = timestamps(ledger), currency_codes(ledger)
    amount = ledger.column("amount").to_numpy()
    selected = _sent(index) & _group_rows(reference, ledger, options.groups)
    found = windowed(
        index.by_sender.offsets, index.by_sender.rows, ts, selected, _cities(ledger, reference), amount,
        currency, rule=options.rule, typology=typology, source=source,
        window_us=_windows(owner, options.window) * 1_000_000, min_count=options.min_count,
        min_keys=options.min_cities, min_total=0, evidence_cap=options.evidence_cap,
        reasons=lambda count, keys, total, _: [count_reason(count_name, count, options.min_count),
                                               count_reason("cities", keys, options.min_cities),
                                               info("total", total, "minor")])
    return RuleResult.from_found(ledger, index.accounts, found)


@dataclasses.dataclass(frozen=True)
class PrepaidLoads:
    """Options of the prepaid and virtual-currency loads rule (see the module docstring).

    Parameters
    ----------
    window : duration, default "30d"
    min_count : int, default 4
        Loads in one window.
    groups : tuple of str, default ("prepaid", "virtual_currency")
    max_amount : mapping of currency to amount, default {"USD": 1000, "CAD": 1000}
        Larger payments do not count; currencies not listed do not count.
    evidence_cap : int, default 50
    """

    window: str | int = "30d"
    min_count: int = 4
    groups: tuple = ("prepaid", "virtual_currency")
    max_amount: Mapping = dataclasses.field(default_factory=lambda: {"USD": 1000, "CAD": 1000})
    evidence_cap: int = 50

    NEEDS = ("mcc_groups",)

    def __post_init__(self):
        _check_groups("PrepaidLoads", self)
        object.__setattr__(self, "max_amount", _money("PrepaidLoads", "max_amount", self.max_amount))

    @property
    def rule(self) -> str:
        return f"prepaid_loads.{params.format_duration(_windows('PrepaidLoads', self.window))}"


def prepaid_loads(ledger: pa.Table, index: AccountIndex, /, *, options: PrepaidLoads | None = None,
                  reference: Reference | None = None) -> RuleResult:
    """Find frequent prepaid-card and virtual-currency loads (see the module docstring).

    Returns
    -------
    RuleResult
        Instances under the paying account; reasons ``loads`` (>= ``min_count``), ``programs``
        (info: distinct receivers), ``total`` (info); evidence: the loads.
    """
    options = options or PrepaidLoads()
    reference = reference_for("prepaid_loads", reference, PrepaidLoads.NEEDS)
    ts, currency = timestamps(ledger), currency_codes(ledger)
    amount = ledger.column("amount").to_numpy()
    cap = _limit(ledger, currency, params.money_table("PrepaidLoads", "max_amount", options.max_amount))
    selected = _sent(index) & _group_rows(reference, ledger, options.groups) & (cap >= 0) & (amount <= cap)
    found = windowed(
        index.by_sender.offsets, index.by_sender.rows, ts, selected, index.receiver, amount,
        currency, rule=options.rule, typology="prepaid_virtual",
        source=SOURCE_PREPAID, window_us=_windows("PrepaidLoads", options.window) * 1_000_000,
        min_count=options.min_count, min_keys=0, min_total=0, evidence_cap=options.evidence_cap,
        reasons=lambda count, keys, total, _: [count_reason("loads", count, options.min_count),
                                               info("programs", keys, "count"), info("total", total, "minor")])
    return RuleResult.from_found(ledger, index.accounts, found)
