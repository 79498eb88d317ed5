"""The compliance run: read, index, every rule, scoring, and the run directory.

:func:`scan` runs the whole pipeline in memory and returns a :class:`ScanResult`;
:func:`write_run` writes it to a directory **atomically**: everything goes to a temporary
directory beside the target, which is renamed into place at the end, so an interrupted run
leaves no directory that looks complete. The directory holds:

- ``accounts.parquet``, ``alerts.parquet``, ``evidence.parquet`` (see :mod:`flowscan.score.scorer`);
- ``rejects.parquet``: every input row not accepted, with its reason;
- ``groups.parquet``, when a relationships side table is given: accounts of one customer or
  linked by a shared identifier, scored together (:mod:`flowscan.score.rollup`); the accounts
  table then carries each account's ``group_id``, ``group_size`` and ``linked_by``;
- ``alerts.jsonl``/``.csv`` and ``evidence.jsonl``/``.csv`` when exports are asked for
  (:mod:`flowscan.exports`);
- with a pseudonymisation key, every account id above is a keyed pseudonym
  (:mod:`flowscan.pseudonymize`; the rejects' raw records are dropped);
- ``report.html``: one self-contained page for the analyst (:mod:`flowscan.report`);
- ``manifest.json``: flowscan's version, the resolved configuration and its SHA-256, each
  input file with its size, SHA-256 and row counts, the reconciliation, each output with its
  SHA-256, and stage timings (the only part that changes between identical runs).

The same inputs and configuration give byte-identical Parquet outputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import ConfigError, ConfigTypeError, DataError, OutOfMemoryError
from .index import build_index
from .ingest import LedgerRead, read_ledger
from .options import ReadOptions, load_toml
from .params import printable
from .reference import Reference, load_reference
from .rundir import RunLock, remove_stale_staging
from .rules import (ALL_RULES, PACK, PACK_OPTIONS, Cycles, FanIn, FanOut, Funnel, GatherScatter, RapidMovement,
                    RuleResult, ScatterGather, Structuring)
from .score import AlertPolicy, Detector, Fusion, ScoreOptions, Scores, score_accounts
from .score.profile import Profile
from .score.scorer import Model

RULE_OPTIONS = {
    "structuring": Structuring, "fan_in": FanIn, "fan_out": FanOut, "funnel": Funnel,
    "rapid_movement": RapidMovement, "scatter_gather": ScatterGather, "gather_scatter": GatherScatter,
    "cycles": Cycles,
    **PACK_OPTIONS,
}
"""The options class of each rule, as ``[rules.<name>]`` tables of the configuration build them."""


@dataclasses.dataclass(frozen=True)
class ScanOptions:
    """Options of a whole run.

    Parameters
    ----------
    read : ReadOptions
    rules : mapping of rule name to options object, optional
        Options per rule of :data:`flowscan.rules.ALL_RULES` (the core rules and the
        human-trafficking pack); a rule not listed runs with its defaults.
    skip : tuple of str, default=()
        Rules not to run.
    score : ScoreOptions
    reference : mapping of str to path, optional
        Where the reference tables are (:mod:`flowscan.reference`): ``dir`` (a folder of
        ``<table>.csv`` files) and/or one path per table name. In a TOML file, ``[reference]``;
        relative paths are taken from the file's folder.
    """

    read: ReadOptions = dataclasses.field(default_factory=ReadOptions)
    rules: Mapping = dataclasses.field(default_factory=dict)
    skip: tuple[str, ...] = ()
    score: ScoreOptions = dataclasses.field(default_factory=ScoreOptions)
    reference: Mapping = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.skip, str) or not isinstance(self.skip, (list, tuple)) or not all(
                isinstance(name, str) for name in self.skip):
            raise ConfigTypeError(f"The 'skip' option must be a list of rule names. Got {self.skip!r} instead.")
        unknown = sorted((set(self.rules) | set(self.skip)) - set(ALL_RULES))
        if unknown:
            raise ConfigError(f"unknown rule {unknown[0]!r}; the rules are: {', '.join(ALL_RULES)}")
        object.__setattr__(self, "skip", tuple(self.skip))
        from .reference import TABLES

        if not isinstance(self.reference, Mapping):
            raise ConfigError("The 'reference' option must be a table of 'dir' and reference table names to paths.")
        unknown = sorted(set(self.reference) - {"dir", *TABLES})
        if unknown:
            raise ConfigError(f"unknown reference key {unknown[0]!r}; known keys: dir, {', '.join(TABLES)}")
        object.__setattr__(self, "reference", {k: str(v) for k, v in sorted(self.reference.items())})

    def load_reference(self) -> Reference:
        """The reference tables this configuration names (shipped defaults for the rest)."""
        files = {k: v for k, v in self.reference.items() if k != "dir"}
        return load_reference(self.reference.get("dir"), **files)

    def to_dict(self) -> dict:
        """The resolved configuration: every rule that runs with all its parameters, defaults
        written out (so the hash of a file that spells the defaults out equals that of no file)."""
        rules = {}
        for name in ALL_RULES:
            if name in self.skip:
                continue
            options = self.rules.get(name)
            rules[name] = _jsonable(options if options is not None else RULE_OPTIONS[name]())
        return {"read": _jsonable(self.read), "rules": rules, "skip": list(self.skip),
                "score": self.score.to_dict()}

    @classmethod
    def from_toml(cls, path, /, *, read: ReadOptions | None = None) -> ScanOptions:
        """Options from a TOML file: ``[read]``, ``[rules]`` (``skip = [...]`` and one
        ``[rules.<name>]`` table per rule), ``[score]`` (``columns``, ``top_features``, ``max_instances_per_rule``) with
        ``[score.detector]``, ``[score.fusion]`` (and ``[score.fusion.weights]``) and
        ``[score.policy]``. Every key is checked; a message names the key and the file.

        ``read``, when given, replaces the ``[read]`` table (the command line builds it from
        the same file plus its flags).
        """
        path = Path(path)
        document = load_toml(path)
        _known(path, "", document, {"read", "rules", "score", "reference"})
        try:
            rules_table = _table(path, "rules", document.get("rules", {}))
            _known(path, "rules.", rules_table, {"skip", *ALL_RULES})
            rules = {name: _build(path, f"rules.{name}", RULE_OPTIONS[name], _table(path, f"rules.{name}", table))
                     for name, table in rules_table.items() if name != "skip"}
            score_table = _table(path, "score", document.get("score", {}))
            _known(path, "score.", score_table, {"detector", "fusion", "policy", "columns", "top_features",
                                                       "max_instances_per_rule", "profile"})
            score = ScoreOptions(
                detector=_build(path, "score.detector", Detector, _table(path, "score.detector",
                                                                          score_table.get("detector", {}))),
                fusion=_build(path, "score.fusion", Fusion, _table(path, "score.fusion", score_table.get("fusion", {}))),
                policy=_build(path, "score.policy", AlertPolicy, _table(path, "score.policy",
                                                                         score_table.get("policy", {}))),
                columns=score_table.get("columns"),
                top_features=score_table.get("top_features", 5),
                max_instances_per_rule=score_table.get("max_instances_per_rule", 20),
                profile=_build(path, "score.profile", Profile, _table(path, "score.profile",
                                                                       score_table.get("profile", {}))),
            )
            reference = _table(path, "reference", document.get("reference", {}))
            reference = {k: str((path.parent / str(v)) if not Path(str(v)).is_absolute() else v)
                         for k, v in reference.items()}
            return cls(read=read or ReadOptions.from_document(document, path), rules=rules,
                       skip=rules_table.get("skip", ()), score=score, reference=reference)
        except ConfigError as error:
            message = str(error)
            raise type(error)(message if message.startswith(str(path)) else f"{path}: {message}") from None

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def _table(path: Path, key: str, value) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table.")
    return value


def _known(path: Path, prefix: str, table: dict, known: set) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown key {prefix}{printable(unknown[0])}; known keys: "
                          f"{', '.join(sorted(known))}.")


def _build(path: Path, key: str, cls, table: dict):
    fields = {f.name for f in dataclasses.fields(cls)}
    _known(path, f"{key}.", table, fields)
    try:
        return cls(**table)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{path}: [{key}]: {error}") from None


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclasses.dataclass
class ScanResult:
    """Everything a run produced, in memory."""

    read: LedgerRead
    results: dict[str, RuleResult]
    scores: Scores
    options: ScanOptions
    timings: dict[str, float]
    groups: pa.Table | None = None
    reference: Reference | None = None
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    """Rules that did not run, with the reason (a reference table not given, or ``skip``)."""
    engine: str = "local"
    """Where the rules ran: ``local``, or ``spark`` (:mod:`flowscan.spark`)."""
    time_range: tuple[str, str] | None = None
    """First and last timestamp (ISO 8601) when :attr:`read` holds no ledger (the Spark engine)."""
    _run_dir: tempfile.TemporaryDirectory | None = dataclasses.field(default=None, init=False, repr=False,
                                                                      compare=False)
    _run_tables: object = dataclasses.field(default=None, init=False, repr=False, compare=False)

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
    def rejects(self) -> pa.Table:
        """Every input row not accepted, with its reason (:data:`flowscan.schema.REJECTS_SCHEMA`)."""
        return self.read.rejects

    def evidence_for(self, alert_id: str, /) -> pa.Table:
        """The transactions behind one alert: the rows of :attr:`evidence` with that ``alert_id``.

        Raises
        ------
        KeyError
            No alert of this run has that id.
        """
        if not pc.any(pc.equal(self.alerts.column("alert_id"), alert_id)).as_py():
            raise KeyError(f"no alert {alert_id!r} in this run; the ids are in the alerts table's alert_id column")
        return self.evidence.filter(pc.equal(self.evidence.column("alert_id"), alert_id))

    def explain(self, account: str, /, *, max_evidence: int = 50):
        """The evidence pack of one account (:func:`flowscan.explain.explain`): who, what,
        when, where, why and how, and the evidence table, exactly as ``flowscan explain``
        gives it for this run's directory.

        The run is written once to a private temporary directory (removed with the result)
        and read back, once, by :func:`flowscan.explain.explain`, so the library and the
        command cannot disagree; the explanation's ``run["run_dir"]`` is therefore None.

        Raises
        ------
        DataError
            The account is not among the run's accounts (the message does not quote it).
        """
        from .explain import RunTables, explain

        if self._run_dir is None:
            self._run_dir = tempfile.TemporaryDirectory(prefix="flowscan-explain-")
            write_run(self, Path(self._run_dir.name) / "run", report_alerts=0)  # explain reads no report
            self._run_tables = RunTables(Path(self._run_dir.name) / "run")
        found = explain(self._run_tables.run_dir, account, max_evidence=max_evidence, tables=self._run_tables)
        return dataclasses.replace(found, run={**found.run, "run_dir": None})


def scan(*data, config=None, options: ScanOptions | None = None, model: Model | None = None,
         relationships=None, reference=None,
         progress: Callable[[str, int, int], None] | None = None) -> ScanResult:
    """Read one or more ledgers and run every rule and the scoring on them.

    Parameters
    ----------
    *data : str, Path, list of them, or table
        Ledger files or directories, as :func:`flowscan.read_ledger` takes them (a list or
        tuple of paths is taken as its items), or tables in memory: a pyarrow Table, or any
        object with the Arrow PyCapsule stream interface (polars DataFrame, DuckDB relation),
        checked and canonicalised exactly as the same rows in a file.
    config : ScanOptions, str or Path, optional
        The options, or a TOML file for :meth:`ScanOptions.from_toml`; the defaults when omitted.
    options : ScanOptions, optional
        The same as ``config`` given as options (the older spelling); give one of the two.
    model : Model, optional
        A scoring model fitted on a reference period (:func:`flowscan.score.load_model`).
    relationships : str or Path, optional
        Side table of accounts to customers and shared identifiers
        (:func:`flowscan.score.rollup.read_relationships`); without it every account stands alone.
    reference : Reference, str or Path, optional
        The reference tables of the human-trafficking rule pack (:mod:`flowscan.reference`): a
        :class:`~flowscan.reference.Reference`, or a folder of them; over the configuration's
        ``[reference]``. A pack rule whose tables are missing is skipped, with the reason in
        :attr:`ScanResult.skipped`, the manifest and the report.
    progress : callable, optional
        Called as ``progress(stage, i, n)`` when stage ``i`` of ``n`` starts (``"read"``,
        ``"index"``, ``"rule.<name>"``, ``"score"``, ``"rollup"``); the command line draws its
        progress bar with it. Each stage's seconds are in :attr:`ScanResult.timings`.

    Returns
    -------
    ScanResult

    Raises
    ------
    ConfigError
        Both ``config`` and ``options``, or a ``config`` that is neither options nor a file.
    """
    options = _resolve_config(config, options)
    paths = [item for d in data for item in (d if isinstance(d, (list, tuple)) else (d,))]
    if reference is None:
        reference = options.load_reference()
    elif not isinstance(reference, Reference):
        reference = load_reference(reference)
    skipped, rules = plan_rules(options, reference, relationships is not None)
    stages = ["read", "index", *(f"rule.{name}" for name in rules), "score", *(["rollup"] if relationships else [])]
    timings: dict[str, float] = {}
    clock = {"stage": None, "start": 0.0}

    def stage(name: str) -> None:
        now = time.perf_counter()
        if clock["stage"] is not None:
            timings[clock["stage"]] = now - clock["start"]
        clock["stage"], clock["start"] = name, now
        if progress is not None and name is not None:
            progress(name, stages.index(name), len(stages))

    try:
        return _scan(paths, options, model, relationships, reference, skipped, rules, stage, clock, timings)
    except (MemoryError, SystemError, RuntimeError) as error:
        if isinstance(error, OutOfMemoryError) or not _out_of_memory(error):
            raise
        raise OutOfMemoryError(f"out of memory in the {(clock['stage'] or 'setup').replace('.', ' ')} stage; nothing was written. "
                               f"Give the run more memory, or scan a shorter period at a time") from None


def roll_up_relationships(scores: Scores, accounts: pa.Array, side: pa.Table, options: ScanOptions) -> pa.Table:
    """The relationship roll-up of a scan (both engines): ``scores.accounts`` gains each
    account's group (``group_id``, ``group_size``, ``linked_by``) and its group's trafficking
    profile; returns the groups table (:func:`flowscan.score.rollup.roll_up`).

    ``accounts`` are the scan's accounts in code order, ``side`` the customer side table
    (:func:`flowscan.score.rollup.read_relationships`).
    """
    from .score.profile import group_profiles
    from .score.rollup import relationship_groups, roll_up

    linked = relationship_groups(accounts, side)
    by_code = pc.index_in(scores.accounts.column("account"), value_set=accounts)
    for name in ("group_id", "group_size", "linked_by"):
        scores.accounts = scores.accounts.append_column(linked.schema.field(name), linked.column(name).take(by_code))
    groups = roll_up(scores.accounts.select(["account", "score"]), linked)
    # the relationship-level trafficking profile: the union of the group's indicators
    group_codes = pc.index_in(scores.accounts.column("group_id"),
                              value_set=pc.unique(scores.accounts.column("group_id"))).to_numpy()
    scores.accounts = scores.accounts.append_column(
        "group_trafficking_profile",
        pa.array(group_profiles(group_codes, scores.accounts.column("profile_indicators").to_pylist(),
                                options.score.profile)))
    return groups


def plan_rules(options: ScanOptions, reference: Reference, relationships: bool) -> tuple[dict[str, str], list[str]]:
    """Which rules a run skips, with the reason (``skip``, a reference table or the customer side
    table not given), and which it runs, in :data:`~flowscan.rules.ALL_RULES` order."""
    skipped = {name: "skipped by the configuration" for name in ALL_RULES if name in options.skip}
    for name in PACK:
        if name in skipped:
            continue
        needs = [n for n in PACK_OPTIONS[name].NEEDS if n != "relationships"]
        missing = reference.missing(needs)
        if missing:
            skipped[name] = f"needs the {missing[0]} reference table, which was not given"
        elif "relationships" in PACK_OPTIONS[name].NEEDS and not relationships:
            skipped[name] = "needs the customer side table (--relationships), which was not given"
    return skipped, [name for name in ALL_RULES if name not in skipped]


def _out_of_memory(error: BaseException) -> bool:
    """True for the ways running out of memory shows: MemoryError (numpy, pyarrow), numba's
    SystemError caused by one (a kernel's allocation), and a thread that cannot get its stack."""
    if isinstance(error, MemoryError):
        return True
    if isinstance(error, SystemError):
        return isinstance(error.__cause__ or error.__context__, MemoryError)
    return isinstance(error, RuntimeError) and "can't start new thread" in str(error)


def _scan(paths, options, model, relationships, reference, skipped, rules, stage, clock, timings) -> ScanResult:
    stage("read")
    read = read_ledger(*paths, options=options.read)
    if read.ledger.num_rows == 0:
        report = read.report
        names = ", ".join(str(f.path) for f in report.files if f.role == "ledger") or "the input"
        if report.rows_read == 0:
            raise DataError(f"{names}: no records (a header without rows, or an empty file)")
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(report.reasons.items(), key=lambda kv: (-kv[1], kv[0])))
        raise DataError(f"{names}: no transaction was accepted ({report.rows_read:,} rows read, all rejected: "
                        f"{reasons}); run `flowscan validate` to see the rejects")
    stage("index")
    index = build_index(read.ledger)
    side = None
    if relationships is not None:
        from .score.rollup import read_relationships

        side = read_relationships(relationships)
    results = {}
    for name in rules:
        stage(f"rule.{name}")
        extra = {}
        if name in PACK:
            extra["reference"] = reference
            if "relationships" in PACK_OPTIONS[name].NEEDS:
                extra["relationships"] = side
        results[name] = ALL_RULES[name](read.ledger, index, options=options.rules.get(name), **extra)
    stage("score")
    scores = score_accounts(read.ledger, index, results, options=options.score, model=model)
    groups = None
    if relationships is not None:
        stage("rollup")
        groups = roll_up_relationships(scores, index.accounts, side, options)
    stage(None)
    return ScanResult(read, results, scores, options, timings, groups, reference, skipped)


def _resolve_config(config, options) -> ScanOptions:
    if config is not None and options is not None:
        raise ConfigError("give config or options, not both")
    config = options if config is None else config
    if config is None:
        return ScanOptions()
    if isinstance(config, ScanOptions):
        return config
    if isinstance(config, (str, os.PathLike)):
        return ScanOptions.from_toml(config)
    raise ConfigTypeError(f"config must be a ScanOptions or the path of a TOML file. "
                          f"Got {type(config).__name__} instead.")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


OUTPUTS = ("accounts", "alerts", "evidence", "rejects")


def write_run(result: ScanResult, out, /, *, overwrite: bool = False, pseudonym_key: bytes | None = None,
              pseudonym_map: Path | None = None, exports=(), report_alerts: int = 25,
              report_workers: int = 1) -> Path:
    """Write a run directory atomically; returns its path.

    Parameters
    ----------
    result : ScanResult
    out : str or Path
    overwrite : bool, default=False
    pseudonym_key : bytes, optional
        Replace account ids in every output with keyed pseudonyms
        (:mod:`flowscan.pseudonymize`); the manifest records only the key's id.
    pseudonym_map : Path, optional
        With ``pseudonym_key``: also write the mapping ``(account, pseudonym)`` here (CSV when
        the name ends in ``.csv``, Parquet otherwise), outside the run directory, atomically.
    exports : iterable of {"jsonl", "csv"}, default=()
        Also write alerts and evidence in these case-manager formats (:mod:`flowscan.exports`).
    report_alerts : int, default=25
        Write ``report.html`` (:mod:`flowscan.report`) detailing this many top alerts (the
        table lists them all); 0 writes no report. The report is made from the files above,
        after the manifest, so it is not among the manifest's outputs.
    report_workers : int, default=1
        Processes drawing the report's images (:func:`flowscan.report.write_report`'s
        ``workers``); the report is the same for any value.

    Raises
    ------
    DataError
        ``out`` exists and ``overwrite`` is false, or it is not a directory.
        Another run holds ``out``'s lock (:class:`flowscan.rundir.RunLock`). The write failed
        (a full disk, a quota); nothing is left.
    ConfigError
        ``pseudonym_map`` without ``pseudonym_key``, or inside ``out``; a key too short; an
        unknown export format.
    """
    from .exports import check_formats

    out = Path(out)
    exports = check_formats(exports)
    if pseudonym_key is not None:
        from .pseudonymize import check_key

        pseudonym_key = check_key(pseudonym_key)
    if pseudonym_map is not None:
        pseudonym_map = Path(pseudonym_map)
        if pseudonym_key is None:
            raise ConfigError("--pseudonym-map needs --pseudonymize")
        if pseudonym_map.resolve().is_relative_to(out.resolve()):
            raise ConfigError(f"{pseudonym_map}: the pseudonym map must not be written inside the run directory")
    with RunLock(out):
        remove_stale_staging(out)
        if out.exists() and not overwrite:
            raise DataError(f"{out}: the output directory exists; remove it or pass --overwrite")
        if out.exists() and not out.is_dir():
            raise DataError(f"{out}: exists and is not a directory")
        try:
            return _write_locked(result, out, pseudonym_key, pseudonym_map, exports, report_alerts, report_workers)
        except OSError as error:  # a full disk, a quota: name the run, not the data; nothing is left
            raise DataError(f"{out}: cannot write the run directory ({error.strerror or type(error).__name__}); "
                            f"nothing was written") from None


def _write_locked(result, out, pseudonym_key, pseudonym_map, exports, report_alerts, report_workers) -> Path:
    from . import __version__
    from .exports import write_exports

    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    pseudonymized = mapping = map_staging = None
    try:
        start = time.perf_counter()
        tables = {"accounts": result.accounts, "alerts": result.alerts, "evidence": result.evidence,
                  "rejects": result.read.rejects}
        if result.groups is not None:
            tables["groups"] = result.groups
        if pseudonym_key is not None:
            from .pseudonymize import key_id, pseudonym_table, pseudonymize

            pseudonymized = {"key_id": key_id(pseudonym_key), "scheme": "P- + 16 hex of HMAC-SHA256(key, account)",
                             "rejects_raw": "dropped"}
            if pseudonym_map is not None:
                mapping = pseudonym_table(tables["accounts"].column("account"), pseudonym_key)
            tables = pseudonymize(tables, pseudonym_key)
        outputs = {}
        for name in tables:
            path = staging / f"{name}.parquet"
            pq.write_table(tables[name], path, compression="zstd", write_page_checksum=True, write_statistics=True)
            outputs[f"{name}.parquet"] = {"rows": tables[name].num_rows, "sha256": _sha256(path)}
        for file_name, path in write_exports(tables, staging, formats=exports).items():
            outputs[file_name] = {"rows": tables[path.stem].num_rows, "sha256": _sha256(path)}
        timings = dict(result.timings, write=time.perf_counter() - start)
        report = result.read.report
        inputs = []
        for f in report.files:
            path = Path(f.path)
            inputs.append({"path": str(path), "preset": f.preset, "role": f.role, "size_bytes": f.size_bytes,
                           "sha256": _sha256(path) if path.is_file() else None, "rows_read": f.rows_read,
                           "accepted": f.accepted, "rejected": f.rejected, "duplicates": f.duplicates,
                           "time_range": [f.time_min, f.time_max]})
        if result.time_range is not None:
            time_range = list(result.time_range)
        else:
            timestamps = result.read.ledger.column("timestamp")
            time_range = [timestamps[0].as_py().isoformat(), timestamps[-1].as_py().isoformat()]
        manifest = {
            "flowscan": __version__,
            "engine": result.engine,
            "config_sha256": result.options.config_hash(),
            "config": result.options.to_dict(),
            "inputs": inputs,
            "time_range": time_range,
            "reconciliation": {k: v for k, v in report.to_dict().items() if k != "files"},
            "accounts": result.accounts.num_rows,
            "alerts": result.alerts.num_rows,
            "instances": {name: r.instances.num_rows for name, r in sorted(result.results.items())},
            "skipped_rules": dict(sorted(result.skipped.items())),
            "reference": result.reference.manifest() if result.reference is not None else [],
            "model": result.scores.model.metadata() | {"transform": None},
            "pseudonymized": pseudonymized,
            "outputs": outputs,
            "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if report_alerts:
            from .report import write_report

            write_report(staging, out=staging / "report.html", max_alerts=report_alerts, workers=report_workers)
        if mapping is not None:  # beside its target, so the final rename is atomic
            pseudonym_map.parent.mkdir(parents=True, exist_ok=True)
            map_staging = pseudonym_map.with_name(f".{pseudonym_map.name}.{os.getpid()}.partial")
            if pseudonym_map.suffix.lower() == ".csv":
                import pyarrow.csv as pa_csv

                pa_csv.write_csv(mapping, map_staging)
            else:
                pq.write_table(mapping, map_staging, compression="zstd")
        if mapping is not None:  # the map first: a run is never published without its map
            os.replace(map_staging, pseudonym_map)
            map_staging = None
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if map_staging is not None:
            Path(map_staging).unlink(missing_ok=True)
        raise
    return out


def _publish(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``. An existing ``out`` is first renamed aside and deleted
    only once the new run is in place; if the rename fails it is put back, so a failed
    ``--overwrite`` keeps the old run whole."""
    if not out.exists():
        os.replace(staging, out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    aside.rmdir()
    os.replace(out, aside)
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)
