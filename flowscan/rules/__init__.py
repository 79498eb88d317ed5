"""Pattern rules: one module per red flag, each an options dataclass and a wrapper around
its Numba kernel (in ``flowscan.kernels``). Every rule returns a :class:`RuleResult`: the
pattern instances it found, the evidence transactions of each, and per-account features.
:func:`~flowscan.rules.features.account_features` gives the behavioural features for scoring.
"""

from .crossborder import DomesticToForeign, domestic_to_foreign
from .cycles import Cycles, cycles
from .fan import FanIn, FanOut, Funnel, fan_in, fan_out, funnel
from .flows import GatherScatter, ScatterGather, gather_scatter, scatter_gather
from .features import Features, account_features
from .instances import EVIDENCE_SCHEMA, INSTANCE_SCHEMA, Found, Reason, RuleResult
from .late_night import LateNight, late_night
from .merchants import EscortAds, Lodging, PrepaidLoads, TravelBurst, escort_ads, lodging, prepaid_loads, travel_burst
from .payroll import CashNoPayroll, PooledWages, cash_no_payroll, pooled_wages
from .rapid import RapidMovement, rapid_movement
from .spending import LivingCosts, living_costs
from .structuring import Structuring, structuring
from .watchlist import AdIdentifiers, ad_identifiers

RULES = {
    "structuring": structuring,
    "fan_in": fan_in,
    "fan_out": fan_out,
    "funnel": funnel,
    "rapid_movement": rapid_movement,
    "scatter_gather": scatter_gather,
    "gather_scatter": gather_scatter,
    "cycles": cycles,
}
"""The core pattern rules by name: ``rule(ledger, index, /, *, options=None) -> RuleResult``."""

PACK = {
    "escort_ads": escort_ads,
    "lodging": lodging,
    "travel_burst": travel_burst,
    "late_night": late_night,
    "living_costs": living_costs,
    "prepaid_loads": prepaid_loads,
    "cash_no_payroll": cash_no_payroll,
    "pooled_wages": pooled_wages,
    "domestic_to_foreign": domestic_to_foreign,
    "ad_identifiers": ad_identifiers,
}
"""The human-trafficking rule pack: merchant, place and time indicators, by name:
``rule(ledger, index, /, *, options=None, reference=None) -> RuleResult`` (the watch-list
rule also takes ``relationships``). Each reads the reference tables of
:mod:`flowscan.reference` it names in its options' ``NEEDS``."""

PACK_OPTIONS = {
    "escort_ads": EscortAds, "lodging": Lodging, "travel_burst": TravelBurst, "late_night": LateNight,
    "living_costs": LivingCosts, "prepaid_loads": PrepaidLoads, "cash_no_payroll": CashNoPayroll,
    "pooled_wages": PooledWages, "domestic_to_foreign": DomesticToForeign, "ad_identifiers": AdIdentifiers,
}

ALL_RULES = {**RULES, **PACK}
"""Every rule a scan runs, core rules first."""

__all__ = [
    "ALL_RULES", "PACK", "PACK_OPTIONS", "AdIdentifiers", "CashNoPayroll", "DomesticToForeign", "EscortAds",
    "LateNight", "LivingCosts", "Lodging", "PooledWages", "PrepaidLoads", "TravelBurst", "ad_identifiers",
    "cash_no_payroll", "domestic_to_foreign", "escort_ads", "late_night", "living_costs", "lodging",
    "pooled_wages", "prepaid_loads", "travel_burst",
    "EVIDENCE_SCHEMA", "INSTANCE_SCHEMA", "RULES", "Cycles", "FanIn", "FanOut", "Features", "Found", "Funnel",
    "GatherScatter", "RapidMovement", "Reason", "RuleResult", "ScatterGather", "Structuring", "account_features",
    "cycles", "fan_in", "fan_out", "funnel", "gather_scatter", "rapid_movement", "scatter_gather", "structuring",
]
