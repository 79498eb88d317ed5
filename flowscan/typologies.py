"""The typologies flowscan's rules raise, and how each maps to the published red flags.

Every instance a rule finds carries a ``typology``; this catalogue says, for each, the red-flag
row of ../shared/TYPOLOGIES.md it implements (``red_flag``), the FinCEN FIN-2020-A008
human-trafficking typology it belongs to where there is one (``fincen_2020``: funnel
accounts, front companies, exploitative employment practices, alternative payment methods),
and whether it is a human-trafficking indicator at all (FIN-2014-A008, FIN-2020-A008,
FATF/APG 2018, FINTRAC Project PROTECT) or a laundering pattern in general (the graph
vocabulary of AMLSim and AMLworld: fan-out, scatter-gather, gather-scatter, cycles).

The alerts carry ``fincen_typologies`` and ``red_flags`` from here, the scorer weights the
human-trafficking indicators (:mod:`flowscan.score.fusion`) and combines them into the
trafficking-profile score (:mod:`flowscan.score.profile`), and the evidence pack suggests the
key term "HUMAN TRAFFICKING FIN-2020-A008" when one fired.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

FINCEN_2020 = ("funnel accounts", "front companies", "exploitative employment practices",
               "alternative payment methods")
"""The four typologies of FinCEN's 2020 human-trafficking supplement (FIN-2020-A008)."""


@dataclasses.dataclass(frozen=True)
class Typology:
    """One typology: its red-flag row, FinCEN 2020 typology and whether it is a trafficking indicator."""

    name: str
    indicator: str
    red_flag: int | None
    fincen_2020: str | None
    human_trafficking: bool
    counterparties: bool = True
    """Whether the counterparties in an instance's evidence take part in the pattern (and
    share its weight in the rule score, :mod:`flowscan.score.fusion`): true for the graph
    patterns, false for the rule pack's indicators of an account's own behaviour, whose
    counterparties are employers, merchants, hotels or ad sites."""


_ALL = (
    Typology("funnel_account", "cash deposits at many places, withdrawn elsewhere soon after", 1, "funnel accounts",
             True),
    Typology("structuring", "cash kept just under the reporting threshold", 2, None, True),
    Typology("fan_in", "many unrelated senders paying one beneficiary", 3, "funnel accounts", True),
    Typology("rapid_movement", "money in, then out again within hours or days", 4, None, True),
    Typology("domestic_to_foreign", "many domestic inflows, one foreign outflow", 5, None, True,
             counterparties=False),
    Typology("escort_advertising", "small fees in multiples to online escort or classified ad sites", 6, None, True,
             counterparties=False),
    Typology("lodging_travel", "hotels and motels in several cities within days", 7, None, True,
             counterparties=False),
    Typology("late_night_cash", "ATM cash between 22:00 and 06:00 local time, in several cities", 8, None, True,
             counterparties=False),
    Typology("travel_burst", "ride-share and travel bursts", 9, None, True, counterparties=False),
    Typology("living_costs", "purchases covering other people's living costs (fast food, pharmacy, beauty)", 9,
             None, True, counterparties=False),
    Typology("prepaid_virtual", "frequent prepaid-card and virtual-currency loads", 10,
             "alternative payment methods", True, counterparties=False),
    Typology("cash_no_payroll", "steady cash revenue with no payroll", 11, "front companies", True,
             counterparties=False),
    Typology("pooled_wages", "several wages paid into one account, moved out quickly", 12,
             "exploitative employment practices", True, counterparties=False),
    Typology("ad_identifier", "a customer identifier found in escort or classified ads", None, None, True,
             counterparties=False),
    Typology("fan_out", "one sender paying many receivers", None, None, False),
    Typology("scatter_gather", "money spread through intermediaries and gathered again", None, None, False),
    Typology("gather_scatter", "many senders into one hub that pays many receivers", None, None, False),
    Typology("cycle", "money returning to its origin", None, None, False),
)

TYPOLOGIES = MappingProxyType({t.name: t for t in _ALL})
"""Every typology flowscan's rules raise, by name."""

HUMAN_TRAFFICKING = tuple(t.name for t in _ALL if t.human_trafficking)
"""Typologies that are human-trafficking indicators."""

PACK_TYPOLOGIES = ("escort_advertising", "lodging_travel", "late_night_cash", "travel_burst", "living_costs",
                   "prepaid_virtual", "cash_no_payroll", "pooled_wages", "domestic_to_foreign", "ad_identifier")
"""Typologies of the human-trafficking rule pack (merchant, place and time indicators)."""


def fincen_typologies(names) -> list[str]:
    """The FIN-2020-A008 typologies of ``names``, sorted, without repeats."""
    return sorted({TYPOLOGIES[n].fincen_2020 for n in names if n in TYPOLOGIES and TYPOLOGIES[n].fincen_2020})


def red_flags(names) -> list[int]:
    """The red-flag rows of ``names`` (../shared/TYPOLOGIES.md), sorted, without repeats."""
    return sorted({TYPOLOGIES[n].red_flag for n in names if n in TYPOLOGIES and TYPOLOGIES[n].red_flag})
