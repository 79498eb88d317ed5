"""Pattern rules: one module per red flag, each an options dataclass and a wrapper around
its Numba kernel (in ``flowscan.kernels``). Every rule returns a :class:`RuleResult`: the
pattern instances it found, the evidence transactions of each, and per-account features.
"""

from .instances import INSTANCE_SCHEMA, EVIDENCE_SCHEMA, Found, RuleResult, Reason

__all__ = ["EVIDENCE_SCHEMA", "INSTANCE_SCHEMA", "Found", "Reason", "RuleResult"]
