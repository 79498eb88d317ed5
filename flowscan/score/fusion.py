"""Fusing rule hits with the anomaly score into one risk score, and the alert policy.

Risk score (in ``[0, 1]``, higher = riskier) of an account, as a noisy-OR of independent
pieces of evidence, each read as a probability-like weight:

``risk = 1 - (1 - rule_score) * (1 - anomaly_weight * anomaly_pct)``

``rule_score = 1 - prod over typologies t of (1 - w_t * rarity_t * role_t)``

- ``w_t`` is the weight of typology ``t`` (:data:`WEIGHTS`, configurable); a typology counts
  once per account however many instances it has;
- ``rarity_t = min(1, -log10(h_t / n) / rarity_decades)`` discounts a typology by the share
  ``h_t / n`` of the ledger's accounts it is anchored at (``n`` at least
  :data:`RARITY_MIN_ACCOUNTS`): with the default two decades, a red
  flag raised on 1 % of the accounts or fewer keeps its full weight, one raised on 10 % keeps
  half, one raised on every account none. A flag most accounts raise says little about any one
  of them (a payroll processor's fan-out, a busy merchant's fan-in), whatever the threshold
  that produced it; the discount is computed from the ledger alone, never from labels;
- ``role_t`` is 1 when an instance of ``t`` is anchored at the account (the funnel account, the
  structurer, the hub) and ``member_factor`` when the account only appears as a counterparty in
  the evidence transactions of another account's instance (a smurf paying into a funnel
  account): FinCEN asks to review the relationship, not only the anchor;
- ``anomaly_pct`` is the account's percentile rank of the detector's score among the scored
  accounts (0 to 1, mid-rank: a block of tied accounts sits at the middle of its block), so
  the detector's scale never matters; 0 when there is nothing to compare (one account).

An account with no rule hit therefore scores at most ``anomaly_weight``; a hit of weight ``w``
alone gives at least ``w``. Ties in risk are broken by the anomaly score, then by account id,
so ranks are a total, deterministic order.

Typologies tagged as human trafficking (:data:`TRAFFICKING`) are the red flags of FinCEN's
human-trafficking advisories (FIN-2014-A008, FIN-2020-A008), FATF/APG 2018 and FINTRAC's
Project PROTECT: structuring, funnel accounts, rapid pass-through, many unrelated senders, and
the merchant, place and time indicators of the rule pack (see :mod:`flowscan.typologies`).
The other graph typologies (cycles, scatter-gather, gather-scatter, fan-out) are laundering
layering patterns in general. Accounts showing several trafficking indicators at once get the
trafficking-profile term on top (:mod:`flowscan.score.profile`):

``risk = 1 - (1 - rule_score) * (1 - anomaly_weight * anomaly_pct) * (1 - profile_weight * profile)``

Alert policy (:class:`AlertPolicy`): accounts are alerted by rank (``top_k``) or by risk
(``min_score``), optionally capped at a share of the accounts (``contamination``); a share alone
is refused, because it alerts the same number of accounts whatever the ledger holds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from .. import params
from ..errors import ConfigError
from ..typologies import HUMAN_TRAFFICKING

WEIGHTS = MappingProxyType({
    "structuring": 0.6,
    "funnel_account": 0.7,
    "rapid_movement": 0.4,
    "fan_in": 0.4,
    "fan_out": 0.3,
    "scatter_gather": 0.5,
    "gather_scatter": 0.4,
    "cycle": 0.6,
    # the human-trafficking rule pack: weak signals alone (Polaris: "no single red flag"), strong
    # together through the trafficking-profile score (flowscan.score.profile)
    "escort_advertising": 0.3,
    "lodging_travel": 0.1,
    "late_night_cash": 0.1,
    "travel_burst": 0.1,
    "living_costs": 0.1,
    "prepaid_virtual": 0.15,
    "cash_no_payroll": 0.5,
    "pooled_wages": 0.6,
    "domestic_to_foreign": 0.5,
    "ad_identifier": 0.6,
})
"""Default weight of each typology in the rule score."""

TRAFFICKING = HUMAN_TRAFFICKING
"""Typologies tagged as human-trafficking indicators (FIN-2014-A008, FIN-2020-A008, FATF/APG 2018,
FINTRAC Project PROTECT): :data:`flowscan.typologies.HUMAN_TRAFFICKING`."""

FINCEN_KEY_TERM = "HUMAN TRAFFICKING FIN-2020-A008"
"""The key term FinCEN asks filers to put in a SAR narrative on this activity."""


@dataclasses.dataclass(frozen=True)
class Fusion:
    """How rule hits and the anomaly score combine into the risk score.

    Parameters
    ----------
    weights : mapping of typology to float in [0, 1], optional
        Over :data:`WEIGHTS`; a typology absent from both has weight ``default_weight``.
    default_weight : float in [0, 1], default=0.3
        Weight of a typology not listed (a rule added later, a user's own rule).
    member_factor : float in [0, 1], default=0.25
        Share of a typology's weight given to counterparties in an instance's evidence.
    rarity_decades : float, default=2.0
        Decades of rarity (see the module docstring) for a full weight; 0 turns the discount off.
    anomaly_weight : float in [0, 1], default=0.5
        Weight of the anomaly percentile.
    trafficking : tuple of str, default=TRAFFICKING
        Typologies tagged as human trafficking in the alerts.
    """

    weights: Mapping = dataclasses.field(default_factory=dict)
    default_weight: float = 0.3
    member_factor: float = 0.25
    rarity_decades: float = 2.0
    anomaly_weight: float = 0.5
    trafficking: tuple[str, ...] = TRAFFICKING

    def __post_init__(self):
        if not isinstance(self.weights, Mapping):
            raise ConfigError(f"The 'weights' parameter of Fusion must be a table of typology to weight. "
                              f"Got {type(self.weights).__name__} instead.")
        merged = dict(WEIGHTS)
        for typology, weight in self.weights.items():
            merged[str(typology)] = params.share("Fusion", f"weights.{typology}", weight)
        object.__setattr__(self, "weights", MappingProxyType(merged))
        for name in ("default_weight", "member_factor", "anomaly_weight"):
            object.__setattr__(self, name, params.share("Fusion", name, getattr(self, name)))
        decades = self.rarity_decades
        if isinstance(decades, bool) or not isinstance(decades, (int, float)) or not 0 <= decades < math.inf:
            raise ConfigError(f"The 'rarity_decades' parameter of Fusion must be a non-negative number. "
                              f"Got {decades!r} instead.")
        object.__setattr__(self, "rarity_decades", float(decades))
        if isinstance(self.trafficking, str):
            raise ConfigError("The 'trafficking' parameter of Fusion must be a list of typologies. "
                              f"Got {self.trafficking!r} instead.")
        object.__setattr__(self, "trafficking", tuple(str(t) for t in self.trafficking))

    def weight(self, typology: str) -> float:
        return float(self.weights.get(typology, self.default_weight))

    def to_dict(self) -> dict:
        return {"weights": dict(sorted(self.weights.items())), "default_weight": self.default_weight,
                "member_factor": self.member_factor, "rarity_decades": self.rarity_decades,
                "anomaly_weight": self.anomaly_weight,
                "trafficking": list(self.trafficking)}


@dataclasses.dataclass(frozen=True)
class AlertPolicy:
    """Which ranked accounts become alerts.

    Parameters
    ----------
    top_k : int, optional
        Alert the ``top_k`` riskiest accounts.
    min_score : float in [0, 1], optional, default=0.7
        Alert every account whose risk is at least ``min_score``. With ``top_k`` as well, an
        account must pass both. The default alerted 1.4 % to 3.4 % of the accounts on the
        labelled ledgers of ``benchmarks/quality.py`` (a queue an analyst team can work); it
        was set from those alert volumes, not from the labels.
    contamination : float in (0, 1], optional
        Cap the alerts at ``ceil(contamination * n_accounts)``, the riskiest first. Never alone.
    """

    top_k: int | None = None
    min_score: float | None = 0.7
    contamination: float | None = None

    def __post_init__(self):
        if self.top_k is not None:
            object.__setattr__(self, "top_k", params.positive_int("AlertPolicy", "top_k", self.top_k))
        if self.min_score is not None:
            object.__setattr__(self, "min_score", params.share("AlertPolicy", "min_score", self.min_score))
        if self.contamination is not None:
            object.__setattr__(self, "contamination",
                               params.share("AlertPolicy", "contamination", self.contamination, open_low=True))
        if self.top_k is None and self.min_score is None:
            raise ConfigError("The alert policy needs 'top_k' or 'min_score'; 'contamination' only caps them, "
                              "since a share alone alerts the same number of accounts whatever the ledger holds.")

    def select(self, ranks: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """Boolean mask of alerted accounts, given 1-based ranks and risk scores."""
        alerted = np.ones(len(ranks), dtype=bool)
        if self.top_k is not None:
            alerted &= ranks <= self.top_k
        if self.min_score is not None:
            alerted &= risk >= self.min_score
        if self.contamination is not None:
            alerted &= ranks <= math.ceil(self.contamination * len(ranks))
        return alerted

    def to_dict(self) -> dict:
        return {"top_k": self.top_k, "min_score": self.min_score, "contamination": self.contamination}


RARITY_MIN_ACCOUNTS = 100
"""The share of accounts a typology fires on is taken over at least this many accounts: in a
ledger of three accounts, one flag on all three says nothing about how common it is."""


def rarity(hits: int, n_accounts: int, decades: float) -> float:
    """``min(1, -log10(hits / max(n_accounts, RARITY_MIN_ACCOUNTS)) / decades)``; 1 when nothing
    is anchored or ``decades`` is 0."""
    if decades == 0 or hits == 0:
        return 1.0
    return min(1.0, -math.log10(hits / max(n_accounts, RARITY_MIN_ACCOUNTS)) / decades)


def rule_scores(n_accounts: int, anchored: Mapping[str, np.ndarray], members: Mapping[str, np.ndarray],
                fusion: Fusion) -> np.ndarray:
    """Noisy-OR rule score per account code.

    Parameters
    ----------
    anchored, members : mapping of typology to ndarray of bool, shape (n_accounts,)
        Whether the account anchors an instance of the typology, or appears as a counterparty
        in one's evidence.
    """
    keep = np.ones(n_accounts, dtype=np.float64)
    for typology in sorted(set(anchored) | set(members)):
        weight = fusion.weight(typology) * rarity(int(anchored[typology].sum()) if typology in anchored else 0,
                                                  n_accounts, fusion.rarity_decades)
        role = np.zeros(n_accounts, dtype=np.float64)
        if typology in members:
            role[members[typology]] = fusion.member_factor
        if typology in anchored:
            role[anchored[typology]] = 1.0
        keep *= 1.0 - weight * role
    return 1.0 - keep


def risk_scores(rule_score: np.ndarray, anomaly_pct: np.ndarray, fusion: Fusion) -> np.ndarray:
    """``1 - (1 - rule_score) * (1 - anomaly_weight * anomaly_pct)``."""
    return 1.0 - (1.0 - rule_score) * (1.0 - fusion.anomaly_weight * anomaly_pct)


def rank_order(risk: np.ndarray, anomaly: np.ndarray) -> np.ndarray:
    """Account codes from riskiest to least: risk, then anomaly score, then code (= account id order)."""
    codes = np.arange(len(risk))
    return np.lexsort((codes, -anomaly, -risk))
