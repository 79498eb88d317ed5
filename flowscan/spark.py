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
(:func:`flowscan.score.score_accounts`); with the detector's ``fit_sample`` it fits on a sample
of the accounts and the executors score them all.

``B`` is derived from the data size (``rows_per_bucket`` rows per bucket, two million by default, a
few hundred megabytes of Arrow per task) or given. Before any rule runs, the size of every bucket
is counted; a bucket above ``max_bucket_rows`` (an account holding a large share of the ledger, a
hub, lands whole in one bucket) stops the run with a message naming the cause, rather than
exhausting a worker.

Rules that compare an account with the whole ledger run in two passes: ``living_costs`` and
``cash_no_payroll`` (an account against its peers) return every account's profile in the first
pass, the driver computes the peers' baseline with the rule's own function, and a second pass
applies it. ``domestic_to_foreign``'s home country (the ledger's most frequent country) and
``cash_no_payroll``'s week origin (the ledger's first timestamp) are the whole ledger's, counted
by Spark.

Scatter-gather and cycles follow money through other accounts: a source's findings need its own
rows and rows of the accounts its money reaches. Each runs in a pass of its own, over buckets
that hold those rows as well. Scatter-gather's *two-hop* bucket receives the rows its accounts
send and, through a join on the (sender, receiver) pairs, every row sent by their receivers. A
cycle search examines the outgoing rows of the accounts on its path up to ``max_hops - 2`` hops
away, inside the first transfer's window and amount tolerance: an exchange round per hop (a join
of the paths so far with the transfers they can take) finds those accounts and time ranges, and
their rows are copied into the origin's bucket (:meth:`_Run.cycle_buckets`). When these copies
would exceed the ledger (searches that reach most of it), the pass runs instead on one bucket
holding every row the rule needs (``hop_placement``, :meth:`_Run.hop_buckets`). Gather-scatter
needs only the hub's own rows and runs in the first pass.

``ad_identifiers`` and the relationship roll-up read the customer side table: it is read on the
driver, sent to the buckets with the plan, and rolled up with the scores on the driver. Rows are
not validated here: the input must be a canonical ledger (what :func:`flowscan.read_ledger`
writes, unique ``txn_id``), which is checked.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import importlib.util
import math
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from . import params
from .currency import CURRENCIES
from .errors import ConfigError, DataError
from .index import AccountIndex, build_index, fixed_dictionary
from .ingest import FileReport, LedgerRead, ReadReport
from .reference import Reference, load_reference
from .rules import (ALL_RULES, EVIDENCE_SCHEMA, INSTANCE_SCHEMA, PACK, Cycles, DomesticToForeign, RuleResult,
                    ScatterGather)
from .rules.flows import tolerance_ppm
from .rules.payroll import cash_profile, peer_bar
from .rules.spending import care_counts, peer_scores
from .scan import RULE_OPTIONS, ScanOptions, ScanResult, _resolve_config, plan_rules, roll_up_relationships
from .schema import CANONICAL_SCHEMA, CHANNELS, REJECTS_SCHEMA, SORT_KEYS, TIMESTAMP_TYPE
from .score import Scores, score_accounts
from .score.scorer import _concat, fit_model
from .score.table import feature_table

if importlib.util.find_spec("pyspark") is None:  # pragma: no cover - depends on the environment
    raise ImportError("flowscan.spark needs pyspark 4.0 or later: pip install 'flowscan[spark]'")

HOP_RULES = ("scatter_gather", "cycles")
"""Rules whose search follows money through other accounts: each runs in a pass of its own."""

HOP_PLACEMENTS = ("auto", "exchange", "one_bucket")
"""How a hop rule's pass gets the rows its searches reach (:func:`scan`'s ``hop_placement``)."""

PEER_RULES = ("living_costs", "cash_no_payroll")
"""Rules that compare an account with its peers across the whole ledger: a first pass gathers
every account's profile, the driver computes the peers' baseline, a second pass applies it."""

REQUIRED = ("txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel")
"""Columns the input must have; the other canonical columns are null when absent."""

VOCABULARIES = {"channel": CHANNELS, "currency": CURRENCIES}
"""The canonical columns with a fixed dictionary (Spark sends them as text)."""
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ROWS_PER_BUCKET = 2_000_000
MAX_BUCKET_ROWS = 50_000_000


@dataclasses.dataclass
class SparkScan:
    """What :func:`scan` produced: the tables of :class:`flowscan.ScanResult` and how it ran."""

    scores: Scores
    results: dict[str, RuleResult]
    """Per rule, its instances and their evidence (no per-rule features: they are in the scores)."""
    options: ScanOptions
    reference: Reference
    skipped: dict[str, str]
    files: list[FileReport]
    """The Parquet files read, with rows and time range (none for a DataFrame)."""
    time_range: tuple[str, str]
    buckets: int
    rows: int
    bucket_rows: int
    """Rows of the largest bucket."""
    placed_rows: int
    """Rows of all buckets together: a row is in its sender's and its receiver's bucket."""
    timings: dict[str, float]
    groups: pa.Table | None = None
    """The relationship groups, when a customer side table was given."""
    placements: dict[str, str] = dataclasses.field(default_factory=dict)
    """Per hop rule that ran, how its pass got its rows (``exchange`` or ``one_bucket``, with the
    row counts that chose it under ``hop_placement="auto"``)."""

    @property
    def accounts(self) -> pa.Table:
        return self.scores.accounts

    @property
    def alerts(self) -> pa.Table:
        return self.scores.alerts

    @property
    def evidence(self) -> pa.Table:
        return self.scores.evidence

    @property
    def instances(self) -> pa.Table:
        """Every rule's instances, in rule order."""
        return _concat([r.instances for r in self.results.values()], INSTANCE_SCHEMA)

    def to_result(self) -> ScanResult:
        """A :class:`flowscan.ScanResult` for :func:`flowscan.write_run` and ``explain``: no
        ledger in memory, no rejects (the input was canonical), the time range and files kept."""
        notes = [f"scanned on Spark in {self.buckets} account buckets (largest {self.bucket_rows:,} rows); "
                 "the input was a canonical ledger, not validated again"]
        report = ReadReport(self.files, self.rows, self.rows, 0, 0, {}, notes)
        read = LedgerRead(CANONICAL_SCHEMA.empty_table(), REJECTS_SCHEMA.empty_table(), None, None, report)
        return ScanResult(read, self.results, self.scores, self.options, dict(self.timings), self.groups, self.reference,
                          dict(self.skipped), engine="spark", time_range=self.time_range)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What every bucket runs (pickled to the workers)."""

    rules: tuple[str, ...]
    options: ScanOptions
    reference: Reference
    before_bucket: object = None
    origin_us: int = 0
    """The ledger's first timestamp (cash_no_payroll counts weeks from it)."""
    home_country: str | None = None
    """The ledger's most frequent country, when domestic_to_foreign is not given one."""
    baselines: Mapping = dataclasses.field(default_factory=dict)
    """Second pass: the peer rules' whole-ledger baselines; empty in the first pass."""
    hop_rule: str | None = None
    """A pass of its own for a rule that follows money through other accounts (``scatter_gather``
    or ``cycles``), on buckets that hold the rows its owned accounts' searches reach."""
    staging: str = ""
    """Where the workers write their findings (:class:`_Staging`)."""
    relationships: pa.Table | None = None
    """The customer side table (ad_identifiers joins it)."""

    def rule_options(self, name: str):
        options = self.options.rules.get(name)
        if name == "domestic_to_foreign" and self.home_country is not None:
            options = copy.copy(options or DomesticToForeign())
            if options.home_country is None:  # the ledger's, not the bucket's, most frequent country
                object.__setattr__(options, "home_country", self.home_country)
        return options


def session(master: str | None = None, /, **conf):
    """A SparkSession for flowscan: the active one when there is one, else one started with the
    session time zone UTC and workers on this interpreter (unless ``PYSPARK_PYTHON`` says
    otherwise), on ``master``: by default ``spark-submit``'s ``--master`` when run by it, else
    ``local[2]``."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("flowscan").config("spark.sql.session.timeZone", "UTC")
    if master is not None:
        builder = builder.master(master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ:  # spark-submit starts the JVM, with its --master
        builder = builder.master("local[2]")
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def scan(data, /, *, config=None, options: ScanOptions | None = None, reference=None, relationships=None,
         buckets: int | None = None,
         rows_per_bucket: int = ROWS_PER_BUCKET, max_bucket_rows: int = MAX_BUCKET_ROWS,
         hop_placement: str = "auto", model=None, spark=None, staging: str | None = None,
         _before_bucket=None) -> SparkScan:
    """Scan a canonical ledger on Spark (module docstring).

    Parameters
    ----------
    data : pyspark.sql.DataFrame, str, or list of str
        A DataFrame with the canonical columns, or Parquet paths Spark reads.
    config, options : as :func:`flowscan.scan`
    reference : Reference, str or Path, optional
        The reference tables of the rule pack, as :func:`flowscan.scan` takes them.
    relationships : str or Path, optional
        The customer side table, as :func:`flowscan.scan` takes it: read on the driver, sent to
        every bucket for ``ad_identifiers``, and rolled up with the scores on the driver.
    buckets : int, optional
        Number of account buckets; by default ``ceil(rows / rows_per_bucket)``.
    rows_per_bucket : int, default 2,000,000
    max_bucket_rows : int, default 50,000,000
        A bucket with more rows stops the run (a hub account).
    hop_placement : {"auto", "exchange", "one_bucket"}, default "auto"
        How the passes of ``scatter_gather`` and ``cycles`` (:data:`HOP_RULES`) get the rows their
        searches reach, when there is more than one bucket. ``"exchange"``: each origin's bucket
        receives them (a join, or for cycles an exchange round per hop), and the buckets run in
        parallel. ``"one_bucket"``: every row the rule needs goes to one bucket, one task. ``"auto"``:
        the exchange, unless its copies would exceed the rows of that one bucket (searches that
        reach most of the ledger copy it into nearly every bucket) while the ledger fits
        ``max_bucket_rows``. Every choice gives the same findings; the choice made is in
        :attr:`SparkScan.placements`.
    model : Model, optional
        A scoring model fitted on a reference period.
    spark : SparkSession, optional
        The session to use; :func:`session` by default.
    staging : str, optional
        A folder the workers write each bucket's findings to (Arrow IPC files) and the driver
        reads them from: a path or URI (``hdfs://``, ``s3://``) both can reach, needed on a
        cluster; on a ``local`` master, a temporary folder by default. flowscan makes its own
        subfolder there and removes it at the end.
    _before_bucket : callable, optional
        Called on the worker as ``_before_bucket(bucket, attempt)`` before a bucket's work (the
        fault tests inject a task failure with it).

    Returns
    -------
    SparkScan

    Raises
    ------
    ConfigError
        ``buckets`` is not a positive whole number, or a cluster master has no ``staging``.
    DataError
        A required column is missing, a txn_id is not unique, the ledger is empty, or a bucket
        is too large.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    options = _resolve_config(config, options)
    if reference is None:
        reference = options.load_reference()
    elif not isinstance(reference, Reference):
        reference = load_reference(reference)
    skipped, rules = plan_rules(options, reference, relationships is not None)
    if buckets is not None and (not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 1):
        raise ConfigError(f"buckets must be a positive whole number. Got {buckets!r} instead.")
    if hop_placement not in HOP_PLACEMENTS:
        raise ConfigError(f"hop_placement must be one of {', '.join(map(repr, HOP_PLACEMENTS))}. "
                          f"Got {hop_placement!r} instead.")
    spark = spark or session()
    staged = _Staging(spark, staging)  # before any work: a cluster without a staging folder stops here
    side = None
    if relationships is not None:
        from .score.rollup import read_relationships

        side = read_relationships(relationships)
    run = _Run(spark, options, reference, tuple(rules), skipped, staged.uri, max_bucket_rows, _before_bucket, timings,
               side, hop_placement=hop_placement)
    try:
        return run.scan(data, buckets, rows_per_bucket, model, clock)
    finally:
        staged.remove()


def write_run(found: SparkScan, uri: str, /, *, overwrite: bool = False, **options) -> str:
    """Write a Spark scan's run directory where the cluster keeps its data; returns ``uri``.

    The files are those :func:`flowscan.write_run` writes, byte for byte (accounts, alerts,
    evidence, rejects, groups, exports, ``report.html``), made in a temporary folder on the
    driver and copied to ``uri`` with ``pyarrow.fs``: a local path, ``hdfs://`` or ``s3://``
    (pyarrow needs libhdfs, or credentials it finds, as for ``staging``). Object stores have no
    atomic rename, so ``manifest.json`` is copied last: a run directory without it is incomplete
    (an interrupted copy), and is never one to read. On a cluster in deploy mode ``cluster`` the
    driver's disk is not the analyst's; this is how the run reaches shared storage.

    Parameters
    ----------
    found : SparkScan
    uri : str
        The run directory to make. It must not exist, or be empty, unless ``overwrite``.
    overwrite : bool, default False
        Delete what is at ``uri`` first.
    **options
        Passed to :func:`flowscan.write_run` (``pseudonym_key``, ``exports``, ``report_alerts``).

    Raises
    ------
    ConfigError
        ``uri`` holds files and ``overwrite`` is not set, or ``pseudonym_map`` is given (write
        the mapping with :func:`flowscan.write_run` to a local file instead).
    """
    from .scan import write_run as write_local

    if options.get("pseudonym_map") is not None:
        raise ConfigError("pseudonym_map is written on the driver's disk only: use flowscan.write_run for it")
    filesystem, path = pafs.FileSystem.from_uri(str(uri))
    path = path.rstrip("/")
    info = filesystem.get_file_info(path)
    if info.type != pafs.FileType.NotFound:
        held = info.type == pafs.FileType.File or filesystem.get_file_info(pafs.FileSelector(path, recursive=False))
        if held and not overwrite:
            raise ConfigError(f"{uri} already holds files; give overwrite=True to replace them")
        if info.type == pafs.FileType.File:
            filesystem.delete_file(path)
        else:
            filesystem.delete_dir(path)
    with tempfile.TemporaryDirectory(prefix="flowscan-spark-run-") as folder:
        local = write_local(found.to_result(), Path(folder) / "run", **options)
        filesystem.create_dir(path, recursive=True)
        names = sorted(item.name for item in local.iterdir())
        for name in [n for n in names if n != "manifest.json"] + ["manifest.json"]:  # the manifest last
            with open(local / name, "rb") as source, filesystem.open_output_stream(f"{path}/{name}") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
    return str(uri)


DATASETS = ("accounts", "alerts", "evidence", "instances", "groups")
"""The tables :func:`write_datasets` writes (``groups`` only with a customer side table)."""


def write_datasets(found: SparkScan, uri: str, /, *, spark=None, mode: str = "errorifexists") -> dict[str, str]:
    """Write a Spark scan's tables as Spark Parquet datasets, one folder each under ``uri``:
    ``accounts``, ``alerts``, ``evidence``, ``instances`` (every rule's pattern instances) and,
    with a customer side table, ``groups``; returns each table's folder.

    These are for the estate's own tools (a table over each folder, ``spark.read.parquet``, SQL):
    the rows and columns of :attr:`SparkScan.accounts` and the other tables (those of the run
    directory's files, and the instances), timestamps as Parquet microseconds in UTC, written by
    Spark's Parquet writer (several part files, a ``_SUCCESS`` marker once a folder is
    complete; sort by ``rank``, not by file order). The run directory with its manifest and
    report is :func:`write_run`'s. The timestamp type is a session setting
    (``spark.sql.parquet.outputTimestampType``), set for the writes and restored after: do not
    write Parquet from another thread of the same session meanwhile.

    Parameters
    ----------
    found : SparkScan
    uri : str
        A folder Spark writes to (``hdfs://``, ``s3a://``, ``dbfs:/``, a path).
    spark : SparkSession, optional
        :func:`session` by default.
    mode : {"errorifexists", "overwrite"}, default "errorifexists"
        What to do when a table's folder exists: stop, or replace it.

    Raises
    ------
    ConfigError
        ``mode`` is another value.
    """
    if mode not in ("errorifexists", "overwrite"):
        raise ConfigError(f"mode must be 'errorifexists' or 'overwrite'. Got {mode!r} instead.")
    spark = spark or session()
    tables = {"accounts": found.accounts, "alerts": found.alerts, "evidence": found.evidence,
              "instances": found.instances, "groups": found.groups}
    written = {}
    key = "spark.sql.parquet.outputTimestampType"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "TIMESTAMP_MICROS")  # not INT96: the canonical timestamps, readable everywhere
    try:
        for name in DATASETS:
            if tables[name] is None:
                continue
            target = f"{str(uri).rstrip('/')}/{name}"
            spark.createDataFrame(tables[name]).write.mode(mode).parquet(target)
            written[name] = target
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)
    return written


@dataclasses.dataclass
class _Run:
    """One scan on the driver: its settings, and the seconds of each stage so far."""

    spark: object
    options: ScanOptions
    reference: Reference
    rules: tuple[str, ...]
    skipped: dict[str, str]
    staging: str
    max_bucket_rows: int
    before_bucket: object
    timings: dict[str, float]
    relationships: pa.Table | None = None
    n_buckets: int = 1
    hop_placement: str = "auto"
    rows: int = 0
    placements: dict[str, str] = dataclasses.field(default_factory=dict)
    """Per hop rule, how its buckets were made (:meth:`hop_buckets`)."""

    def scan(self, data, buckets, rows_per_bucket, model, clock) -> SparkScan:
        """Read and check the ledger, place its rows in buckets, run the passes, score."""
        from pyspark.sql import DataFrame
        from pyspark.sql import functions as F

        if isinstance(data, DataFrame):
            df = data
        else:
            df = self.spark.read.parquet(*[str(p) for p in ([data] if isinstance(data, (str, os.PathLike)) else data)])
        df = _select(df)
        files, time_range, origin_us = _files(df, from_files=not isinstance(data, DataFrame))
        rows = self.rows = sum(f.rows_read for f in files)
        if rows == 0:
            raise DataError("the ledger has no rows")
        if df.select("txn_id").distinct().count() != rows:
            raise DataError("a txn_id appears more than once: the Spark engine takes a canonical ledger "
                            "(flowscan.read_ledger resolves duplicates)")
        self.n_buckets = buckets or max(1, math.ceil(rows / rows_per_bucket))
        placed = (df.withColumn("_bs", self.bucket_of("sender")).withColumn("_br", self.bucket_of("receiver"))
                  .withColumn("_bucket", F.explode(F.array_distinct(F.array_compact(F.array("_bs", "_br"))))))
        placed = placed.persist(_disk())  # read more than once; on disk, so the JVM heap stays free
        try:
            sizes = placed.groupBy("_bucket").count().collect()
            largest = max(row["count"] for row in sizes)
            if largest > self.max_bucket_rows:
                raise DataError(f"one bucket of accounts holds {largest:,} rows, more than max_bucket_rows "
                                f"{self.max_bucket_rows:,} (of {rows:,} rows): an account (a hub) holds a large share "
                                "of the ledger; raise max_bucket_rows for workers with more memory")
            self.timings["place"] = time.perf_counter() - clock
            home = None
            if "domestic_to_foreign" in self.rules and getattr(self.options.rules.get("domestic_to_foreign"),
                                                               "home_country", None) is None:
                home = _home_country(df)
            plan = _Plan(self.rules, self.options, self.reference, self.before_bucket, origin_us=origin_us,
                         home_country=home, staging=self.staging, relationships=self.relationships)
            gathered = self.passes(df, placed, plan)
        finally:
            placed.unpersist()
        clock = time.perf_counter()
        scores, results, accounts = _score(gathered, self.rules, self.options, model, self.spark, self.n_buckets,
                                           self.timings)
        self.timings["score"] = time.perf_counter() - clock
        groups = None
        if self.relationships is not None:
            clock = time.perf_counter()
            groups = roll_up_relationships(scores, accounts, self.relationships, self.options)
            self.timings["rollup"] = time.perf_counter() - clock
        return SparkScan(scores, results, self.options, self.reference, self.skipped, files, time_range,
                         self.n_buckets, rows, largest, sum(row["count"] for row in sizes), self.timings, groups,
                         dict(self.placements))

    def bucket_of(self, column: str):
        """Spark's ``pmod(xxhash64(column), B)``; null for a null account."""
        from pyspark.sql import functions as F

        return F.when(F.col(column).isNotNull(), F.pmod(F.xxhash64(F.col(column)), F.lit(self.n_buckets)))

    def passes(self, df, placed, plan: _Plan) -> dict[str, list[pa.Table]]:
        """The passes over the buckets: every rule, then the peer rules' second pass, then the
        two-hop pass; their tables by kind."""
        clock = time.perf_counter()
        gathered = _run_buckets(placed, plan)
        self.timings["rules"] = time.perf_counter() - clock
        peer_rules = [name for name in self.rules if name in PEER_RULES]
        if peer_rules:
            clock = time.perf_counter()
            baselines = {name: _baseline(name, gathered.pop(f"profile:{name}"), plan.rule_options(name) or
                                         RULE_OPTIONS[name]()) for name in peer_rules}
            for kind, tables in _run_buckets(placed, dataclasses.replace(plan, baselines=baselines)).items():
                gathered.setdefault(kind, []).extend(tables)
            self.timings["peer_rules"] = time.perf_counter() - clock
        for name in HOP_RULES:
            if name not in self.rules:
                continue
            clock = time.perf_counter()
            hop_buckets = None
            try:
                hop_buckets = self.hop_buckets(name, df, placed, plan).persist(_disk())
                sizes = hop_buckets.groupBy("_bucket").count().collect()
                largest = max((row["count"] for row in sizes), default=0)
                if largest > self.max_bucket_rows and self.placements[name].startswith("one_bucket"):
                    raise DataError(f"the one bucket of {name} holds {largest:,} rows, more than max_bucket_rows "
                                    f"{self.max_bucket_rows:,}: use hop_placement 'exchange', raise max_bucket_rows, "
                                    f"or skip {name}")
                if largest > self.max_bucket_rows:
                    raise DataError(f"one bucket of {name} searches holds {largest:,} rows, more than max_bucket_rows "
                                    f"{self.max_bucket_rows:,}: accounts reached by many searches (hubs) are copied into "
                                    f"many buckets; raise max_bucket_rows, or skip {name}")
                for kind, tables in _run_buckets(hop_buckets, dataclasses.replace(plan, hop_rule=name)).items():
                    gathered.setdefault(kind, []).extend(tables)
            finally:
                if hop_buckets is not None:
                    hop_buckets.unpersist()
            self.timings[name] = time.perf_counter() - clock
        return gathered

    def hop_buckets(self, name: str, df, placed, plan: _Plan):
        """A hop rule's buckets: its exchange (each origin's bucket receives the rows its searches
        reach) or one bucket holding every row the rule needs, as ``hop_placement`` says; the
        choice is kept in :attr:`placements`.

        Under ``"auto"`` (and a ledger within ``max_bucket_rows``) the exchange is built with a
        budget: the rows of the one bucket. It stops, and one bucket is taken, as soon as an upper
        bound of the rows it would copy passes the budget (the bound only grows as the cycles
        rounds go deeper, so a partial bound over the budget settles it)."""
        from pyspark.sql import functions as F

        options = plan.rule_options(name) or RULE_OPTIONS[name]()
        needed = df.where(_edge(options.merchant_payments)) if name == "scatter_gather" else df
        if self.n_buckets > 1 and self.hop_placement != "one_bucket":
            auto = self.hop_placement == "auto" and self.rows <= self.max_bucket_rows
            build = self.two_hop_buckets if name == "scatter_gather" else self.cycle_buckets
            budget = (self.rows if name == "cycles" else needed.count()) if auto else None
            exchange, note = build(df, placed, options, budget=budget)
            self.placements[name] = f"{'one_bucket' if exchange is None else 'exchange'}{note}"
            if exchange is not None:
                return exchange
        else:
            self.placements[name] = "one_bucket"
        return (needed.select(*df.columns).withColumn("_bucket", F.lit(0).cast("long"))
                .withColumn("_bs", F.when(F.col("sender").isNotNull(), F.lit(0).cast("long")))
                .withColumn("_br", F.lit(None).cast("long")))

    def two_hop_buckets(self, df, placed, options: ScatterGather, budget: int | None = None):
        """Scatter-gather's exchange. Only the rule's edges matter (two known, different
        accounts; no merchant payment unless merchant_payments): a source's bucket receives its
        edges and, through the (source, receiver) pairs, every edge its receivers send.

        Returns the buckets and a note for :attr:`placements`; with a ``budget`` (rows), None
        instead of the buckets when the rows copied beyond each edge's own bucket (every edge a
        receiver sends, per bucket that reaches it) exceed it."""
        from pyspark.sql import functions as F

        edges = df.where(_edge(options.merchant_payments))
        pairs = edges.select(F.col("receiver").alias("_m"), self.bucket_of("sender").alias("_bucket")).distinct()
        note = ""
        if budget is not None:
            sent = edges.groupBy(F.col("sender").alias("_m")).count()
            bound = pairs.join(sent, on="_m").agg(F.sum("count")).first()[0] or 0
            note = f" (exchange copies at most {bound:,} rows; one bucket {budget:,})"
            if bound > budget:
                return None, note
        own = edges.withColumn("_bucket", self.bucket_of("sender"))
        forwarded = edges.join(pairs, edges["sender"] == pairs["_m"]).drop("_m")
        return (own.unionByName(forwarded).dropDuplicates(["_bucket", "txn_id"])
                .withColumn("_bs", self.bucket_of("sender")).withColumn("_br", F.lit(None).cast("long"))), note

    def cycle_buckets(self, df, placed, options: Cycles, budget: int | None = None):
        """The cycle search's exchange: an origin's bucket holds its own rows and every row its
        searches may examine, found in an exchange round per hop.

        The search from a starting transfer ``e1`` (:mod:`flowscan.rules.cycles`) examines the
        outgoing rows of the accounts on its path at depths 1 to ``max_hops - 2``, after the
        time the path reached them and before ``e1``'s window ends; deeper hops only close the
        cycle with a transfer into the origin, one of its own rows. The rounds follow the
        transfers a path can take (an edge in ``e1``'s currency, later than the hop before,
        inside the window, within the tolerance of ``e1``'s amount), with the path's state
        merged per (bucket, account, currency, window slice of ``e1``, amount band of ``e1``):
        the earliest arrival, the latest window end, the widest amount range. Merging only
        widens what is reached, so every row a search examines is in its origin's bucket.
        The rows copied are taken per (bucket, account, slice) the same way.

        Returns the buckets and a note for :attr:`placements`. With a ``budget`` (rows), after
        each round an upper bound of the rows copied so far (every row of a reached account in
        the two window slices its state spans) is counted: past the budget, None is returned
        instead of the buckets. Deeper rounds only add to the bound, so the rounds stop there.
        Nothing is persisted: each count runs the rounds so far again, a cost paid only while
        the bound stays within the budget.
        """
        from pyspark.sql import functions as F

        window = options.window_seconds * 1_000_000
        ppm = tolerance_ppm(options.tolerance)
        edge = _edge(options.merchant_payments)
        own = placed.select(*df.columns, "_bucket")
        # a path's state keeps e1's window slice s = floor(t1 / W): it spans [s W, (s + 2) W), so a
        # row at time t can only meet the states of slices floor(t / W) - 1 and floor(t / W); and a
        # state's amount range [lo, hi] covers a few amount bands (eight per doubling): the joins
        # below are equi-joins on (account, currency, slice, band), never on the account alone,
        # so a hub's transfers meet only the paths they can extend
        both_slices = F.explode(F.array(F.floor(F.col("_t") / window) - 1, F.floor(F.col("_t") / window)))

        def band(column):
            return F.floor(F.log2(F.greatest(column, F.lit(1))) * 8)

        edges = df.where(edge).select(F.col("sender").alias("_u"), "receiver", F.col("currency").alias("_cur"),
                                      "amount", F.unix_micros("timestamp").alias("_t"))
        # e1's allowance as the kernel computes it, in whole numbers: floor(amount * ppm / 1e6)
        allowed = F.expr(f"{ppm} * (amount div 1000000) + ({ppm} * (amount % 1000000)) div 1000000")
        keys = ["_bucket", "_u", "_cur", "_slice", "_band"]

        def merged(frame):
            return frame.groupBy(*keys).agg(F.min("_from").alias("_from"), F.max("_until").alias("_until"),
                                            F.min("_lo").alias("_lo"), F.max("_hi").alias("_hi"))

        states = merged(edges.select(
            self.bucket_of("_u").alias("_bucket"), F.col("receiver").alias("_u"), "_cur",
            F.floor(F.col("_t") / window).alias("_slice"),
            band(F.col("amount")).alias("_band"),
            F.col("_t").alias("_from"), (F.col("_t") + window).alias("_until"),
            (F.col("amount") - allowed).alias("_lo"), (F.col("amount") + allowed).alias("_hi")))
        candidates = edges.withColumn("_slice", both_slices).withColumn("_eband", band(F.col("amount")))
        rows = df.withColumn("_t", F.unix_micros("timestamp")).withColumn("_u", F.col("sender"))
        depths = max(options.max_hops - 2, 0)  # the depths whose accounts' rows a search examines
        note, reached, spanned = "", [], None
        if budget is not None:
            per_slice = rows.groupBy("_u", F.floor(F.col("_t") / window).alias("_slice")).count()
        for depth in range(1, depths + 1):
            if depth > 1:
                # the bands of [lo, hi], one wider on each side (floating-point logarithms)
                keyed = states.withColumn("_eband", F.explode(F.sequence(band(F.col("_lo")) - 1,
                                                                         band(F.col("_hi")) + 1)))
                hop = keyed.join(candidates, on=["_u", "_cur", "_slice", "_eband"]).where(
                    (F.col("_t") > F.col("_from")) & (F.col("_t") < F.col("_until"))
                    & (F.col("amount") >= F.col("_lo")) & (F.col("amount") <= F.col("_hi")))
                states = merged(hop.select("_bucket", F.col("receiver").alias("_u"), "_cur", "_slice", "_band",
                                           F.col("_t").alias("_from"), "_until", "_lo", "_hi"))
            if budget is not None:
                spans = states.select("_bucket", "_u", "_slice")  # not `keys`: merged() groups by those
                spanned = spans if spanned is None else spanned.unionByName(spans)
                bound = (spanned.distinct()
                         .select("_u", F.explode(F.array(F.col("_slice"), F.col("_slice") + 1)).alias("_slice"))
                         .join(per_slice, on=["_u", "_slice"]).agg(F.sum("count")).first()[0] or 0)
                note = f" (copy bound {bound:,} rows after depth {depth} of {depths}, one bucket {budget:,})"
                if bound > budget:
                    return None, note
            reached.append(states)
        examined = reached[0] if reached else states.limit(0)
        for states in reached[1:]:
            examined = examined.unionByName(states)
        examined = examined.groupBy("_bucket", "_u", "_slice").agg(F.min("_from").alias("_from"),
                                                                   F.max("_until").alias("_until"))
        # every outgoing row of a reached account in the range, edge or not: the search counts
        # each row it examines towards its cap
        copied = (rows.withColumn("_slice", both_slices).join(examined, on=["_u", "_slice"])
                  .where((F.col("_t") > F.col("_from")) & (F.col("_t") < F.col("_until")))
                  .select(*df.columns, "_bucket"))
        return (own.unionByName(copied).dropDuplicates(["_bucket", "txn_id"])
                .withColumn("_bs", self.bucket_of("sender")).withColumn("_br", F.lit(None).cast("long"))), note


def _edge(merchant_payments: bool):
    """The rows the hop rules follow, as Spark sees them (flowscan.rules.flows._edges): two known,
    different accounts, and no merchant payment unless ``merchant_payments``."""
    from pyspark.sql import functions as F

    edge = F.col("sender").isNotNull() & F.col("receiver").isNotNull() & (F.col("sender") != F.col("receiver"))
    return edge if merchant_payments else edge & F.col("mcc").isNull()


def _score(gathered: dict[str, list[pa.Table]], rules, options: ScanOptions, model, spark=None,
           slices: int = 1, timings: dict | None = None) -> tuple[Scores, dict, pa.Array]:
    """The local scorer on the gathered features and findings, in the local engine's order;
    also the accounts in code order.

    With a model fitted elsewhere, or one the driver fits on a sample of the accounts
    (``fit_sample``), the detector scores every account on the executors (:func:`_apply`) when
    its scores are row by row (the seconds it took in ``timings["score_apply"]``); the driver
    then fuses and ranks."""
    features = pa.concat_tables(gathered["features"])
    features = features.take(pc.sort_indices(features, [("account", "ascending")]))
    for kind in sorted(k for k in gathered if k.startswith("features:")):  # a hop pass's values over the zeros
        sources = pa.concat_tables(gathered[kind])
        where = pc.index_in(features.column("account"), value_set=sources.column("account"))
        for name in sources.column_names[1:]:
            values = pc.fill_null(sources.column(name).combine_chunks().take(where), 0)
            features = features.set_column(features.schema.get_field_index(name), features.schema.field(name), values)
    index = AccountIndex(features.column("account").combine_chunks(), np.zeros(0, np.int32), np.zeros(0, np.int32),
                         None, None)
    results = {}
    for name in rules:
        instances = _concat(gathered.get(f"instances:{name}", []), INSTANCE_SCHEMA).sort_by(
            [("rule", "ascending"), ("account", "ascending"), ("window_start", "ascending"), ("instance_id", "ascending")])
        # an instance's rows in the order its kernel listed them (its bucket's _seq), as locally
        parts = [t for t in gathered.get(f"evidence:{name}", []) if t.num_rows]
        evidence = (pa.concat_tables(parts).sort_by([("instance_id", "ascending"), ("_seq", "ascending")])
                    .select(EVIDENCE_SCHEMA.names).cast(EVIDENCE_SCHEMA).combine_chunks()
                    if parts else EVIDENCE_SCHEMA.empty_table())
        results[name] = RuleResult(instances, evidence)
    anomaly = None
    detector = options.score.detector
    sample = detector.sample(features.num_rows) if model is None else None
    if sample is not None:
        model = fit_model(features.take(sample), options=options.score)
    if model is not None and spark is not None and model.detector.detector.scores_row_by_row:
        clock = time.perf_counter()
        anomaly = _apply(spark, model, features, slices)
        if timings is not None:
            timings["score_apply"] = time.perf_counter() - clock
    scores = score_accounts(None, index, results, options=options.score, model=model, features=features,
                            anomaly=anomaly)
    return scores, results, index.accounts


def _apply(spark, model, features: pa.Table, slices: int) -> np.ndarray:
    """The fitted detector's score of every account, computed on the executors: the features
    go out in ``slices`` slices, each scored with ``mapInArrow``; the scores come back in order.
    Only for detectors whose scores are row by row, so slicing changes nothing."""
    columns = list(model.transform.columns)
    missing = [c for c in columns if c not in features.column_names]
    if missing:  # what Transform.apply says on the driver
        raise DataError(f"the feature table has no column {missing[0]!r} the model was fitted with")
    table = features.select(columns).append_column("_row", pa.array(np.arange(features.num_rows, dtype=np.int64)))

    def score(batches):  # a plain function: it is pickled to the executors with the model
        for batch in batches:
            part = pa.Table.from_batches([batch])
            values = model.detector.score(model.transform.apply(part))
            yield pa.RecordBatch.from_arrays([part.column("_row").combine_chunks(),
                                              pa.array(np.asarray(values, dtype=np.float64))], names=["_row", "_score"])

    frame = spark.createDataFrame(table).repartition(max(1, slices))
    out = frame.mapInArrow(score, "_row long, _score double").toArrow()
    rows = out.column("_row").to_numpy()
    if out.num_rows != features.num_rows or not np.array_equal(np.sort(rows), np.arange(features.num_rows)):
        raise RuntimeError(f"the executors scored {out.num_rows:,} rows of {features.num_rows:,} accounts")
    scores = np.empty(features.num_rows, dtype=np.float64)
    scores[rows] = out.column("_score").to_numpy()
    return scores


def _disk():
    from pyspark import StorageLevel

    return StorageLevel.DISK_ONLY


def _run_buckets(placed, plan: _Plan) -> dict[str, list[pa.Table]]:
    """One pass of :func:`_run_bucket` over every bucket; its tables by kind."""

    def run(key, table):  # a plain function: pyspark 4.3 cannot inspect a functools.partial
        return _run_bucket(plan, key, table)

    parts = placed.groupBy("_bucket").applyInArrow(run, "kind string, part int, path string").collect()
    # the findings travel as files, not through the driver's JVM: only their paths are collected,
    # those of the task attempts that succeeded (a failed attempt's files are never read)
    filesystem, _ = pafs.FileSystem.from_uri(plan.staging)
    gathered: dict[str, list[pa.Table]] = {}
    for row in sorted(parts, key=lambda r: (r["kind"], r["part"])):
        with filesystem.open_input_file(row["path"]) as source:
            gathered.setdefault(row["kind"], []).append(pa.ipc.open_file(source).read_all())
    return gathered


class _Staging:
    """The folder the workers write findings to: a new subfolder of ``staging``, or of a
    temporary folder on a local master; removed by :meth:`remove`."""

    def __init__(self, spark, staging: str | None):
        if staging is None:
            master = spark.sparkContext.master
            if not master.startswith("local"):
                raise ConfigError(f"on a cluster (master {master!r}), give staging: a folder or URI (hdfs://, s3://) "
                                  "that the executors and the driver both reach")
            self._temporary = tempfile.mkdtemp(prefix="flowscan-spark-")
            staging = self._temporary
        else:
            self._temporary = None
        self.filesystem, base = pafs.FileSystem.from_uri(str(staging))
        self.uri = str(staging).rstrip("/") + f"/flowscan-{uuid.uuid4().hex}"
        _, self.path = pafs.FileSystem.from_uri(self.uri)
        self.filesystem.create_dir(self.path, recursive=True)

    def remove(self) -> None:
        try:
            self.filesystem.delete_dir(self.path)
        except (OSError, FileNotFoundError):
            pass
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)


def _home_country(df) -> str | None:
    """:func:`flowscan.rules.crossborder.home_country` of the whole ledger, counted by Spark."""
    from pyspark.sql import functions as F

    counts = df.where(F.col("country").isNotNull()).groupBy("country").count().collect()
    if not counts:
        return None
    best = max(row["count"] for row in counts)
    return min(row["country"] for row in counts if row["count"] == best)


def _baseline(name: str, profiles: list[pa.Table], options):
    """The whole ledger's baseline of a peer rule from every account's profile (each account is
    owned by one bucket), computed by the rule's own function on arrays in account order."""
    table = pa.concat_tables(profiles)
    table = table.take(pc.sort_indices(table, [("account", "ascending")]))
    column = {field: table.column(field).to_numpy() for field in table.column_names if field != "account"}
    if name == "cash_no_payroll":
        return peer_bar(column["n_cash"], column["cash_total"], column["n_payroll"], options)
    z, median = peer_scores(column["n_all"], column["n_care"], options)
    may_fire = np.flatnonzero(z >= options.min_z)
    return table.column("account").combine_chunks().take(pa.array(may_fire)), z[may_fire], median[may_fire]


def _files(df, *, from_files: bool) -> tuple[list[FileReport], tuple[str, str], int]:
    """Rows and time range per input file (one pass, in Spark), and over all of them."""
    from pyspark.sql import functions as F

    name = F.input_file_name() if from_files else F.lit("")
    stats = (df.groupBy(name.alias("file"))
             .agg(F.count(F.lit(1)).alias("rows"), F.min(F.unix_micros("timestamp")).alias("low"),
                  F.max(F.unix_micros("timestamp")).alias("high"))
             .orderBy("file").collect())
    counted = [row for row in stats if row["rows"]]
    if not counted:
        return [], ("", ""), 0
    low, high = min(row["low"] for row in counted), max(row["high"] for row in counted)
    if not from_files:
        rows = sum(row["rows"] for row in counted)
        return ([FileReport("(a Spark DataFrame)", "dataframe", "canonical", "ledger", rows_read=rows, accepted=rows,
                            time_min=_iso(low), time_max=_iso(high))], (_iso(low), _iso(high)), int(low))
    files = []
    for row in counted:
        uri = urllib.parse.urlparse(row["file"])
        path = urllib.parse.unquote(uri.path) if uri.scheme == "file" else row["file"]
        files.append(FileReport(path, "parquet", "canonical", "ledger", rows_read=row["rows"], accepted=row["rows"],
                                size_bytes=os.path.getsize(path) if os.path.isfile(path) else 0,
                                time_min=_iso(row["low"]), time_max=_iso(row["high"])))
    return files, (_iso(low), _iso(high)), int(low)


def _iso(micros: int) -> str:
    """The local engine's spelling of a timestamp: ``datetime.isoformat`` in UTC."""
    return (EPOCH + datetime.timedelta(microseconds=int(micros))).isoformat()


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
        if field.name in VOCABULARIES:
            column = fixed_dictionary(column, VOCABULARIES[field.name], field.type.index_type)
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
    results, out = {}, []
    if plan.hop_rule:  # scatter_gather or cycles for the accounts the bucket owns, on the rows they reach
        result = ALL_RULES[plan.hop_rule](ledger, index, options=plan.rule_options(plan.hop_rule))
        results[plan.hop_rule] = result
        out.append((f"features:{plan.hop_rule}", result.features.filter(
            pc.is_in(result.features.column("account"), value_set=owned))))
    elif plan.baselines:  # the second pass: the peer rules with the whole ledger's baselines
        for name, baseline in plan.baselines.items():
            extra = {"bar": baseline, "origin_us": plan.origin_us} if name == "cash_no_payroll" else {"peers": baseline}
            results[name] = ALL_RULES[name](ledger, index, options=plan.rule_options(name), reference=plan.reference,
                                            **extra)
    else:
        for name in plan.rules:
            if name in PEER_RULES:
                out.append((f"profile:{name}", _profile(name, ledger, index, plan).filter(
                    pc.is_in(index.accounts, value_set=owned))))
                continue
            if name in HOP_RULES:  # its own pass; zeros keep its feature column in place
                column = _truncated_column(name, plan.rule_options(name))
                results[name] = RuleResult(INSTANCE_SCHEMA.empty_table(), EVIDENCE_SCHEMA.empty_table(), pa.table(
                    {"account": index.accounts, column: pa.array(np.zeros(index.n_accounts, np.int64))}))
                continue
            extra = {"reference": plan.reference} if name in PACK else {}
            if name == "ad_identifiers":
                extra["relationships"] = plan.relationships
            results[name] = ALL_RULES[name](ledger, index, options=plan.rule_options(name), **extra)
        features = feature_table(ledger, index, results=results)
        out.append(("features", features.filter(pc.is_in(features.column("account"), value_set=owned))))
    for name, result in results.items():
        keep = pc.is_in(result.instances.column("account"), value_set=owned)
        instances = result.instances.filter(keep)
        links = result.evidence_links(index.accounts, ledger.num_rows)
        if links is not None:  # only the kept instances' evidence rows are built
            kept = (keep.combine_chunks() if isinstance(keep, pa.ChunkedArray) else keep).to_numpy(zero_copy_only=False)
            evidence = result.evidence_rows(np.flatnonzero(kept[links[0]]))
        else:
            evidence = result.evidence.filter(pc.is_in(result.evidence.column("instance_id"),
                                                       value_set=instances.column("instance_id").combine_chunks()))
        evidence = evidence.append_column("_seq", pa.array(np.arange(evidence.num_rows, dtype=np.int64)))
        out += [(f"instances:{name}", instances), (f"evidence:{name}", evidence)]
    filesystem, folder = pafs.FileSystem.from_uri(plan.staging)
    paths = []
    for kind, found in out:  # a new name per attempt: a retried task never overwrites a file being read
        path = f"{folder}/{kind.replace(':', '-')}.{bucket}.{uuid.uuid4().hex}.arrow"
        with filesystem.open_output_stream(path) as sink, pa.ipc.new_file(sink, found.schema) as writer:
            writer.write_table(found)
        paths.append(path)
    return pa.table({"kind": [kind for kind, _ in out], "part": pa.array([bucket] * len(out), pa.int32()),
                     "path": pa.array(paths, pa.string())})


def _truncated_column(name: str, options) -> str:
    """The feature column of a hop rule (its searches that reached their cap)."""
    if name == "cycles":
        return f"truncated_cycle_{params.format_duration((options or Cycles()).window_seconds)}"
    return f"truncated_{(options or ScatterGather()).rule.replace('.', '_')}"


def _profile(name: str, ledger: pa.Table, index: AccountIndex, plan: _Plan) -> pa.Table:
    """What a peer rule's baseline is computed from, per account of the bucket (code order)."""
    options = plan.rule_options(name)
    if name == "cash_no_payroll":
        found = cash_profile(ledger, index, options=options, reference=plan.reference, origin_us=plan.origin_us)
        return pa.table({"account": index.accounts, "n_cash": found["n_cash"], "cash_total": found["cash_total"],
                         "n_payroll": found["n_payroll"]})
    _, n_all, n_care = care_counts(ledger, index, options=options, reference=plan.reference)
    return pa.table({"account": index.accounts, "n_all": n_all, "n_care": n_care})


__all__ = ["DATASETS", "HOP_PLACEMENTS", "HOP_RULES", "SparkScan", "canonical", "scan", "session", "write_datasets",
           "write_run"]
