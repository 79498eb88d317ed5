"""flowscan: find the money behind human trafficking in bank transaction ledgers.

The public API::

    import flowscan
    result = flowscan.read_ledger("ledger.csv", timezone="UTC")   # canonical Arrow table + rejects
    index = flowscan.build_index(result.ledger)                   # account codes, CSR views
    run = flowscan.scan(df, config="rules.toml")                   # a path, a pyarrow Table, polars, DuckDB
    run.alerts, run.evidence_for(alert_id), run.explain(account)
    flowscan.write_run(run, "runs/today")                          # the directory `flowscan scan --out` writes

``flowscan.scan`` is the function; the module of that name is reached with
``importlib.import_module("flowscan.scan")`` (``import flowscan.scan as m`` binds the function,
since Python looks the attribute up first).
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import ConfigError, CorruptFileError, DataError, FlowscanError, RejectLimitError, SchemaMismatchError
from .index import AccountIndex, build_index
from .ingest import LedgerRead, ReadReport, read_ledger, write_ledger
from .options import ReadOptions
from .schema import CANONICAL_SCHEMA, CHANNELS, REJECTS_SCHEMA
from .scan import ScanOptions, ScanResult, scan, write_run  # the function replaces the submodule as flowscan.scan

try:
    __version__ = version("flowscan")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "AccountIndex",
    "CANONICAL_SCHEMA",
    "CHANNELS",
    "ConfigError",
    "CorruptFileError",
    "DataError",
    "FlowscanError",
    "LedgerRead",
    "REJECTS_SCHEMA",
    "ReadOptions",
    "ReadReport",
    "RejectLimitError",
    "ScanOptions",
    "ScanResult",
    "SchemaMismatchError",
    "build_index",
    "read_ledger",
    "scan",
    "write_ledger",
    "write_run",
    "__version__",
]
