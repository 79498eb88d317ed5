"""Pattern rules: one module per red flag, each an options dataclass and a wrapper around
its Numba kernel (in ``flowscan.kernels``). Every rule returns a :class:`RuleResult`: the
pattern instances it found, the evidence transactions of each, and per-account features.
:func:`~flowscan.rules.features.account_features` gives the behavioural features for scoring.
"""

from .cycles import Cycles, cycles
from .fan import FanIn, FanOut, Funnel, fan_in, fan_out, funnel
from .flows import GatherScatter, ScatterGather, gather_scatter, scatter_gather
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
    "scatter_gather": scatter_gather,
    "gather_scatter": gather_scatter,
    "cycles": cycles,
}
"""Every rule by name: ``rule(ledger, index, /, *, options=None) -> RuleResult``."""

__all__ = [
    "EVIDENCE_SCHEMA", "INSTANCE_SCHEMA", "RULES", "Cycles", "FanIn", "FanOut", "Features", "Found", "Funnel",
    "GatherScatter", "RapidMovement", "Reason", "RuleResult", "ScatterGather", "Structuring", "account_features",
    "cycles", "fan_in", "fan_out", "funnel", "gather_scatter", "rapid_movement", "scatter_gather", "structuring",
]
