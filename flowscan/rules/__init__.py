"""Pattern rules: one module per red flag, each an options dataclass and a wrapper around
its Numba kernel (in ``flowscan.kernels``). Every rule returns a :class:`RuleResult`: the
pattern instances it found, the evidence transactions of each, and per-account features.
"""

from .instances import EVIDENCE_SCHEMA, INSTANCE_SCHEMA, Found, Reason, RuleResult
from .structuring import Structuring, structuring

RULES = {
    "structuring": structuring,
}
"""Every rule by name: ``rule(ledger, index, /, *, options=None) -> RuleResult``."""

__all__ = ["EVIDENCE_SCHEMA", "INSTANCE_SCHEMA", "RULES", "Found", "Reason", "RuleResult", "Structuring",
           "structuring"]
