"""Pattern rules: one module per red flag, each an options dataclass and a wrapper around
its Numba kernel (in ``flowscan.kernels``). Every rule returns a :class:`RuleResult`: the
pattern instances it found, the evidence transactions of each, and per-account features.
:func:`~flowscan.rules.features.account_features` gives the behavioural features for scoring.
"""

from .fan import FanIn, FanOut, Funnel, fan_in, fan_out, funnel
from .features import Features, account_features
from .instances import EVIDENCE_SCHEMA, INSTANCE_SCHEMA, Found, Reason, RuleResult
from .rapid import RapidMovement, rapid_movement
from .structuring import Structuring, structuring

RULES = {
    "structuring": structuring,
    "fan_in": fan_in,
    "fan_out": fan_out,
    "funnel": funnel,
    "rapid_movement": rapid_movement,
}
"""Every rule by name: ``rule(ledger, index, /, *, options=None) -> RuleResult``."""

__all__ = [
    "EVIDENCE_SCHEMA", "INSTANCE_SCHEMA", "RULES", "FanIn", "FanOut", "Features", "Found", "Funnel",
    "RapidMovement", "Reason", "RuleResult", "Structuring", "account_features", "fan_in", "fan_out", "funnel",
    "rapid_movement", "structuring",
]
