"""The scan on Apache Spark, for ledgers beyond one machine (the ``spark`` extra).

The same kernels as the local engine run inside Spark's Arrow-native Python UDFs; flowscan starts
no cluster of its own. Only this module imports pyspark: ``import flowscan`` never does.

How a ledger is split
---------------------
Every account is hashed into one of ``B`` buckets, ``pmod(xxhash64(account), B)`` (Spark's own
hash, computed by Spark). A row goes to the bucket of its sender and to the bucket of its
receiver (once when both are the same bucket; a null side goes nowhere), so each bucket holds
*every* row of the accounts it owns: an account-complete ledger. ``groupBy(bucket).applyInArrow``
runs, on each bucket's Arrow table, exactly what the local engine runs on the whole ledger
(canonical order, :func:`flowscan.build_index`, the rules, :func:`~flowscan.score.feature_table`),
and keeps what it found for the accounts the bucket owns. A rule whose findings for an account
depend on that account's own rows only gives, for those accounts, what it gives on the whole
ledger: the same instances, evidence and features. The per-account features and the findings are
gathered on the driver, which fits the detector and ranks the accounts as the local engine does
(:func:`flowscan.score.score_accounts`).

``B`` is derived from the data size (``rows_per_bucket`` rows per bucket, two million by default, a
few hundred megabytes of Arrow per task) or given. Before any rule runs, the size of every bucket
is counted; a bucket above ``max_bucket_rows`` (an account holding a large share of the ledger, a
hub, lands whole in one bucket) stops the run with a message naming the cause, rather than
exhausting a worker.

What does not run here yet
--------------------------
Rules that look past an account's own rows: two-hop layering (``scatter_gather``,
``gather_scatter``) and ``cycles`` need a further exchange round; ``living_costs`` and
``cash_no_payroll`` compare an account with its peers across the ledger; ``ad_identifiers``
joins the customer side table. :func:`scan` refuses a configuration that runs any of them, naming
them (``skip`` them to run the rest); it never leaves a rule out silently. Rows are not
validated here: the input must be a canonical ledger (what :func:`flowscan.read_ledger` writes,
unique ``txn_id``), which is checked.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import math
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .currency import CURRENCIES
from .errors import ConfigError, DataError
from .index import AccountIndex, build_index
from .reference import Reference, load_reference
from .rules import ALL_RULES, EVIDENCE_SCHEMA, INSTANCE_SCHEMA, PACK, RuleResult
from .scan import ScanOptions, _resolve_config, plan_rules
from .schema import CANONICAL_SCHEMA, CHANNELS, SORT_KEYS, TIMESTAMP_TYPE
from .score import Scores, score_accounts
from .score.table import feature_table

if importlib.util.find_spec("pyspark") is None:  # pragma: no cover - depends on the environment
    raise ImportError("flowscan.spark needs pyspark 4.0 or later: pip install 'flowscan[spark]'")

NOT_ON_SPARK = {
    "scatter_gather": "a two-hop pattern: it needs the rows of the account's counterparties (a further exchange round)",
    "gather_scatter": "a two-hop pattern: it needs the rows of the account's counterparties (a further exchange round)",
    "cycles": "a cycle passes through several accounts' rows (a further exchange round)",
    "living_costs": "its baseline is the account's peer group across the whole ledger",
    "cash_no_payroll": "its baseline is the cash revenue of peers across the whole ledger",
    "ad_identifiers": "it joins the customer side table",
}
"""Rules the Spark engine does not run yet, with the reason (module docstring)."""

REQUIRED = ("txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel")
"""Columns the input must have; the other canonical columns are null when absent."""

ROWS_PER_BUCKET = 2_000_000
MAX_BUCKET_ROWS = 50_000_000


@dataclasses.dataclass
class SparkScan:
    """What :func:`scan` produced: the tables of :class:`flowscan.ScanResult` and how it ran."""

    scores: Scores
    instances: pa.Table
    rule_evidence: pa.Table
    options: ScanOptions
    skipped: dict[str, str]
    buckets: int
    rows: int
    bucket_rows: int
    """Rows of the largest bucket."""
    timings: dict[str, float]

    @property
    def accounts(self) -> pa.Table:
        return self.scores.accounts

    @property
    def alerts(self) -> pa.Table:
        return self.scores.alerts

    @property
    def evidence(self) -> pa.Table:
        return self.scores.evidence


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What every bucket runs (pickled to the workers)."""

    rules: tuple[str, ...]
    options: ScanOptions
    reference: Reference
    before_bucket: object = None


def session(master: str = "local[2]", /, **conf):
    """A SparkSession for flowscan: the active one when there is one, else one started on
    ``master`` with the session time zone UTC and workers on this interpreter."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("flowscan").config("spark.sql.session.timeZone", "UTC")
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def scan(data, /, *, config=None, options: ScanOptions | None = None, reference=None, buckets: int | None = None,
         rows_per_bucket: int = ROWS_PER_BUCKET, max_bucket_rows: int = MAX_BUCKET_ROWS, model=None,
         spark=None, _before_bucket=None) -> SparkScan:
    """Scan a canonical ledger on Spark (module docstring).

    Parameters
    ----------
    data : pyspark.sql.DataFrame, str, or list of str
        A DataFrame with the canonical columns, or Parquet paths Spark reads.
    config, options : as :func:`flowscan.scan`
    reference : Reference, str or Path, optional
        The reference tables of the rule pack, as :func:`flowscan.scan` takes them.
    buckets : int, optional
        Number of account buckets; by default ``ceil(rows / rows_per_bucket)``.
    rows_per_bucket : int, default 2,000,000
    max_bucket_rows : int, default 50,000,000
        A bucket with more rows stops the run (a hub account).
    model : Model, optional
        A scoring model fitted on a reference period.
    spark : SparkSession, optional
        The session to use; :func:`session` by default.
    _before_bucket : callable, optional
        Called on the worker as ``_before_bucket(bucket, attempt)`` before a bucket's work (the
        fault tests inject a task failure with it).

    Returns
    -------
    SparkScan

    Raises
    ------
    ConfigError
        The configuration runs a rule of :data:`NOT_ON_SPARK`.
    DataError
        A required column is missing, a txn_id is not unique, the ledger is empty, or a bucket
        is too large.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    options = _resolve_config(config, options)
    if reference is None:
        reference = options.load_reference()
    elif not isinstance(reference, Reference):
        reference = load_reference(reference)
    skipped, rules = plan_rules(options, reference, False)
    refused = [name for name in rules if name in NOT_ON_SPARK]
    if refused:
        raise ConfigError("the Spark engine does not run " + "; ".join(f"{name} ({NOT_ON_SPARK[name]})" for name in refused)
                          + " yet: add them to the configuration's skip list to run the other rules")
    if buckets is not None and (not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 1):
        raise ConfigError(f"buckets must be a positive whole number. Got {buckets!r} instead.")
    spark = spark or session()
    df = data if isinstance(data, DataFrame) else spark.read.parquet(*([data] if isinstance(data, (str, os.PathLike))
                                                                       else data))
    df = _select(df)
    rows = df.count()
    if rows == 0:
        raise DataError("the ledger has no rows")
    if df.select("txn_id").distinct().count() != rows:
        raise DataError("a txn_id appears more than once: the Spark engine takes a canonical ledger "
                        "(flowscan.read_ledger resolves duplicates)")
    n_buckets = buckets or max(1, math.ceil(rows / rows_per_bucket))

    def bucket_of(column):
        return F.when(F.col(column).isNotNull(), F.pmod(F.xxhash64(F.col(column)), F.lit(n_buckets)))

    placed = (df.withColumn("_bs", bucket_of("sender")).withColumn("_br", bucket_of("receiver"))
              .withColumn("_bucket", F.explode(F.array_distinct(F.array_compact(F.array("_bs", "_br"))))))
    placed = placed.persist()
    sizes = placed.groupBy("_bucket").count().collect()
    largest = max(row["count"] for row in sizes)
    if largest > max_bucket_rows:
        raise DataError(f"one bucket of accounts holds {largest:,} rows, more than max_bucket_rows "
                        f"{max_bucket_rows:,} (of {rows:,} rows): an account (a hub) holds a large share of the "
                        "ledger; raise max_bucket_rows for workers with more memory")
    timings["place"] = time.perf_counter() - clock

    clock = time.perf_counter()
    plan = _Plan(tuple(rules), options, reference, _before_bucket)

    def run(key, table):  # a plain function: pyspark 4.3 cannot inspect a functools.partial
        return _run_bucket(plan, key, table)

    parts = placed.groupBy("_bucket").applyInArrow(run, "kind string, part int, payload binary")
    gathered: dict[str, list[pa.Table]] = {}
    for row in parts.collect():
        gathered.setdefault(row["kind"], []).append(_from_ipc(row["payload"]))
    placed.unpersist()
    timings["rules"] = time.perf_counter() - clock

    clock = time.perf_counter()
    features = pa.concat_tables(gathered["features"], promote_options="none")
    features = features.take(pc.sort_indices(features, [("account", "ascending")]))
    index = AccountIndex(features.column("account").combine_chunks(), np.zeros(0, np.int32), np.zeros(0, np.int32),
                         None, None)
    results = {}
    for name in rules:
        instances = _concat(gathered.get(f"instances:{name}", []), INSTANCE_SCHEMA).sort_by(
            [("rule", "ascending"), ("account", "ascending"), ("window_start", "ascending"), ("instance_id", "ascending")])
        evidence = _concat(gathered.get(f"evidence:{name}", []), EVIDENCE_SCHEMA).sort_by(
            [("instance_id", "ascending"), ("timestamp", "ascending"), ("txn_id", "ascending")])
        results[name] = RuleResult(instances, evidence)
    scores = score_accounts(None, index, results, options=options.score, model=model, features=features)
    timings["score"] = time.perf_counter() - clock
    return SparkScan(scores, _concat([r.instances for r in results.values()], INSTANCE_SCHEMA),
                     _concat([r.evidence for r in results.values()], EVIDENCE_SCHEMA), options, skipped,
                     n_buckets, rows, largest, timings)


def _select(df):
    """The canonical columns of ``df`` (absent optional ones as nulls), checked."""
    from pyspark.sql import functions as F

    missing = [name for name in REQUIRED if name not in df.columns]
    if missing:
        raise DataError(f"the ledger has no {missing[0]!r} column; the Spark engine takes the canonical columns "
                        f"({', '.join(CANONICAL_SCHEMA.names)})")
    columns = []
    for field in CANONICAL_SCHEMA:
        if field.name in df.columns:
            columns.append(F.col(field.name))
        elif pa.types.is_boolean(field.type):
            columns.append(F.lit(False).alias(field.name))
        else:
            columns.append(F.lit(None).cast("string").alias(field.name))
    return df.select(*columns)


def canonical(table: pa.Table) -> pa.Table:
    """A bucket's rows as a canonical ledger: canonical types (channel and currency against their
    fixed dictionaries, timestamps in UTC) and canonical order."""
    columns = {}
    for field in CANONICAL_SCHEMA:
        column = table.column(field.name).combine_chunks()
        if field.name == "channel":
            values = pa.array(CHANNELS, pa.string())
            column = pa.DictionaryArray.from_arrays(pc.index_in(column.cast(pa.string()), value_set=values).cast(pa.int8()),
                                                    values)
        elif field.name == "currency":
            values = pa.array(CURRENCIES, pa.string())
            column = pa.DictionaryArray.from_arrays(pc.index_in(column.cast(pa.string()), value_set=values).cast(pa.int16()),
                                                    values)
        elif field.name == "timestamp":
            column = column.cast(TIMESTAMP_TYPE)
        else:
            column = column.cast(field.type)
        if not field.nullable and column.null_count:
            raise DataError(f"the {field.name} column has nulls or values outside the canonical vocabulary")
        columns[field.name] = column
    ledger = pa.table(columns, schema=CANONICAL_SCHEMA)
    return ledger.take(pc.sort_indices(ledger, SORT_KEYS))


def _run_bucket(plan: _Plan, key, table: pa.Table) -> pa.Table:
    """One bucket: the local engine's rules on its rows, kept for the accounts it owns."""
    bucket = key[0].as_py()
    if plan.before_bucket is not None:
        from pyspark import TaskContext

        context = TaskContext.get()
        plan.before_bucket(bucket, context.attemptNumber() if context is not None else 0)
    owned = pc.unique(pa.chunked_array([
        table.filter(pc.equal(table.column("_bs"), bucket)).column("sender"),
        table.filter(pc.equal(table.column("_br"), bucket)).column("receiver"),
    ]).combine_chunks())
    ledger = canonical(table)
    index = build_index(ledger)
    results = {}
    for name in plan.rules:
        extra = {"reference": plan.reference} if name in PACK else {}
        results[name] = ALL_RULES[name](ledger, index, options=plan.options.rules.get(name), **extra)
    features = feature_table(ledger, index, results=results)
    out = [("features", features.filter(pc.is_in(features.column("account"), value_set=owned)))]
    for name, result in results.items():
        instances = result.instances.filter(pc.is_in(result.instances.column("account"), value_set=owned))
        evidence = result.evidence.filter(pc.is_in(result.evidence.column("instance_id"),
                                                   value_set=instances.column("instance_id").combine_chunks()))
        out += [(f"instances:{name}", instances), (f"evidence:{name}", evidence)]
    return pa.table({"kind": [kind for kind, _ in out], "part": pa.array([bucket] * len(out), pa.int32()),
                     "payload": pa.array([_to_ipc(t) for _, t in out], pa.binary())})


def _to_ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _from_ipc(payload) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(bytes(payload))).read_all()


def _concat(tables, schema: pa.Schema) -> pa.Table:
    tables = [t for t in tables if t.num_rows]
    return pa.concat_tables([t.cast(schema) for t in tables]).combine_chunks() if tables else schema.empty_table()


__all__ = ["NOT_ON_SPARK", "SparkScan", "canonical", "scan", "session"]
