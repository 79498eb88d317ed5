"""The trafficking-profile score: several weak human-trafficking indicators on one account (or
one relationship) together.

Anti-trafficking practice is that no single red flag suffices (Polaris Project; FinCEN asks to
look at the customer relationship): a traveller pays hotels in many cities, a late-shift
worker uses the ATM at night, an honest business advertises, and each alone is ordinary. A
victim's or a controller's account tends to show several at once: ad fees, motels in several
cities, late-night cash, prepaid loads.

Definition. The *indicators* of an account are the distinct typologies of :attr:`Profile.indicators`
anchored at it (by default the rule pack's merchant, place and time indicators plus funnel
accounts and structuring, see :mod:`flowscan.typologies`). With ``k`` indicators of weights
``w_i`` (:attr:`Profile.weights`, ``default_weight`` for an indicator not listed; apart from
the fusion weights, which price a flag *alone* and are low for the weak pack indicators)::

    profile = 1 - prod_i (1 - w_i)    when k >= min_indicators, else 0

Each indicator's contribution is its weight ``w_i``; the alert lists them. The risk score takes
the profile as one more independent piece of evidence,
``risk = 1 - (1 - risk_without) * (1 - weight * profile)``, so a combination lifts an account
above any single flag while one flag alone is left to the rule score. When a relationship side
table links accounts, :func:`group_profiles` computes the same score over the union of the
indicators of each group's accounts (the relationship-level view).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from .. import params
from ..errors import ConfigError
from ..typologies import PACK_TYPOLOGIES, TYPOLOGIES

PROFILE_INDICATORS = (*PACK_TYPOLOGIES, "funnel_account", "structuring")
"""Typologies that count towards the profile by default."""


@dataclasses.dataclass(frozen=True)
class Profile:
    """How the trafficking-profile score is formed (see the module docstring).

    Parameters
    ----------
    indicators : tuple of str, default=PROFILE_INDICATORS
    min_indicators : int, default=2
        Distinct indicators an account needs for a non-zero profile.
    weight : float in [0, 1], default=0.6
        Weight of the profile in the risk score; 0 leaves the risk as the rules and the
        anomaly score make it.
    weights : mapping of typology to float in [0, 1], optional
        Weight of each indicator inside the profile.
    default_weight : float in [0, 1], default=0.5
        Weight of an indicator not in ``weights``.
    """

    indicators: tuple = PROFILE_INDICATORS
    min_indicators: int = 2
    weight: float = 0.6
    weights: Mapping = dataclasses.field(default_factory=dict)
    default_weight: float = 0.5

    def __post_init__(self):
        indicators = (self.indicators,) if isinstance(self.indicators, str) else tuple(self.indicators)
        unknown = [i for i in indicators if i not in TYPOLOGIES]
        if unknown:
            raise ConfigError(f"The 'indicators' parameter of Profile names an unknown typology {unknown[0]!r}; "
                              f"the typologies are: {', '.join(TYPOLOGIES)}")
        object.__setattr__(self, "indicators", tuple(sorted(set(indicators))))
        params.positive_int("Profile", "min_indicators", self.min_indicators)
        object.__setattr__(self, "weight", params.share("Profile", "weight", self.weight))
        object.__setattr__(self, "default_weight", params.share("Profile", "default_weight", self.default_weight))
        if not isinstance(self.weights, Mapping):
            raise ConfigError(f"The 'weights' parameter of Profile must be a table of typology to weight. "
                              f"Got {type(self.weights).__name__} instead.")
        weights = {}
        for name, value in self.weights.items():
            if name not in TYPOLOGIES:
                raise ConfigError(f"The 'weights' parameter of Profile names an unknown typology {name!r}")
            weights[str(name)] = params.share("Profile", f"weights.{name}", value)
        object.__setattr__(self, "weights", MappingProxyType(dict(sorted(weights.items()))))

    def weight_of(self, typology: str) -> float:
        return float(self.weights.get(typology, self.default_weight))

    def to_dict(self) -> dict:
        return {"indicators": list(self.indicators), "min_indicators": self.min_indicators, "weight": self.weight,
                "weights": dict(self.weights), "default_weight": self.default_weight}


def profiles(n: int, anchored: Mapping[str, np.ndarray], profile: Profile):
    """The profile score of each account code and its indicators.

    Parameters
    ----------
    anchored : mapping of typology to ndarray of bool, shape (n,)
        Whether each account anchors an instance of the typology.

    Returns
    -------
    score : ndarray of float64, shape (n,)
    indicators : list of list of str
        Per account, its indicators (sorted), whatever their number.
    """
    keep = np.ones(n, dtype=np.float64)
    count = np.zeros(n, dtype=np.int64)
    lists: list[list[str]] = [[] for _ in range(n)]
    for typology in profile.indicators:
        mask = anchored.get(typology)
        if mask is None or not mask.any():
            continue
        keep[mask] *= 1.0 - profile.weight_of(typology)
        count[mask] += 1
        for code in np.flatnonzero(mask):
            lists[code].append(typology)
    score = np.where(count >= profile.min_indicators, 1.0 - keep, 0.0)
    return score, lists


def group_profiles(group_codes: np.ndarray, indicators: list[list[str]], profile: Profile) -> np.ndarray:
    """The profile score of each account's relationship group: the union of the indicators of
    the group's accounts (``group_codes``: one integer per account, equal within a group)."""
    union: dict[int, set[str]] = {}
    for g, names in zip(group_codes.tolist(), indicators):
        union.setdefault(g, set()).update(names)
    score_of = {}
    for g, names in union.items():
        keep = 1.0
        for name in sorted(names):
            keep *= 1.0 - profile.weight_of(name)
        score_of[g] = 1.0 - keep if len(names) >= profile.min_indicators else 0.0
    return np.array([score_of[g] for g in group_codes.tolist()], dtype=np.float64)
