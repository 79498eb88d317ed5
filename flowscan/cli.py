"""The ``flowscan`` command. The only module that imports Typer.

Exit codes: 0 done; 1 data error (one line on stderr, no partial output); 2 usage error;
3 ``scan --fail-on-alerts`` raised alerts (everything written).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .errors import ConfigError, FlowscanError
from .options import FORMATS, ReadOptions

app = typer.Typer(
    name="flowscan",
    help="Find the money behind human trafficking in bank transaction ledgers.",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Ledgers = Annotated[
    Optional[list[Path]],
    typer.Argument(help="Ledger files or directories (Parquet, Arrow IPC/Feather, CSV).", show_default=False),
]
Format = Annotated[str, typer.Option("--format", "-f", help=f"Source format: {', '.join(FORMATS)}.")]
Config = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="TOML file whose \\[read] table holds the read options.")
]
Tz = Annotated[Optional[str], typer.Option("--tz", help="IANA time zone of naive source timestamps, e.g. UTC.")]
TsFormat = Annotated[
    Optional[str], typer.Option("--timestamp-format", help="strptime format of text timestamps; ISO 8601 if not given.")
]
Currency = Annotated[Optional[str], typer.Option("--currency", help="ISO 4217 code for sources with no currency column.")]
Mapping = Annotated[
    Optional[list[str]],
    typer.Option("--map", help="Map a canonical column to a source column, CANONICAL=SOURCE; repeatable."),
]
Delimiter = Annotated[Optional[str], typer.Option("--delimiter", help="CSV field delimiter.")]
Encoding = Annotated[Optional[str], typer.Option("--encoding", help="Text encoding of CSV files.")]
OnBad = Annotated[
    Optional[str], typer.Option("--on-bad-rows", help="reject: write bad rows to the rejects file; fail: stop at the first.")
]
MaxRate = Annotated[
    Optional[float], typer.Option("--max-reject-rate", help="Fail when more than this share of rows is rejected.")
]
Negative = Annotated[
    Optional[str], typer.Option("--negative-amounts", help="reject, or reversal (swap sender and receiver).")
]
Rounding = Annotated[
    Optional[str], typer.Option("--amount-rounding", help="reject amounts with too many decimals, or half-even.")
]
Sample = Annotated[
    bool, typer.Option("--sample", help="Use the bundled labelled synthetic ledger (fixtures/sample/synthetic).")
]
SampleExport = Annotated[
    bool,
    typer.Option("--sample-export", help="Use the bundled bank-export CSV sample, with its column mapping and a "
                 "few deliberately bad rows."),
]
ReportOpt = Annotated[
    Optional[Path], typer.Option("--report", help="Also write the reconciliation as JSON to this file.")
]


def _version(value: bool) -> None:
    if value:
        from . import __version__

        out.print(f"flowscan {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Find the money behind human trafficking in bank transaction ledgers."""


def _error_line(text: str) -> None:
    """One line on stderr without rich: it must get out even when memory has run out."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _load_code(options, *, report: bool) -> None:
    """Import what the scan will import lazily (the detector, SciPy's BLAS that Numba loads on
    its first kernel, the report's plotting) before the ledger takes memory: under a memory
    cap a lazy import that fails is an ImportError, and OpenBLAS starting its threads can spin."""
    import importlib

    import numba.np.arraymath  # noqa: F401 - loads SciPy's BLAS through numba's check
    import scipy.linalg  # noqa: F401

    from .score.detectors import DETECTORS

    detector = options.score.detector
    for name in detector.members if detector.name == "ensemble" else (detector.name,):
        importlib.import_module(DETECTORS[name][0])
    if report:
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.dates  # noqa: F401
        import matplotlib.figure  # noqa: F401
        import PIL.Image  # noqa: F401


def _one_line_errors(command):
    """Turn flowscan's own errors into one line on stderr and exit code 1 (2 for usage)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except FlowscanError as error:
            _error_line(f"flowscan: error: {error}")
            raise typer.Exit(2 if isinstance(error, ConfigError) else 1) from None
        except OSError as error:  # an output that cannot be written: name the file, not the data
            where = f"{error.filename}: " if error.filename else ""
            _error_line(f"flowscan: error: {where}{error.strerror or type(error).__name__}")
            raise typer.Exit(1) from None

    return run


def _options(config, fmt, tz, ts_format, currency, mapping, delimiter, encoding, on_bad, max_rate, negative, rounding):
    changes = {}
    if fmt != "auto":
        changes["format"] = fmt
    for key, value in (
        ("timezone", tz), ("timestamp_format", ts_format), ("currency", currency), ("delimiter", delimiter),
        ("encoding", encoding), ("on_bad_rows", on_bad), ("max_reject_rate", max_rate),
        ("negative_amounts", negative), ("amount_rounding", rounding),
    ):
        if value is not None:
            changes[key] = value
    if mapping:
        columns = {}
        for item in mapping:
            if "=" not in item:
                raise ConfigError(f"--map expects CANONICAL=SOURCE. Got {item!r} instead.")
            key, value = item.split("=", 1)
            columns[key.strip()] = value.strip()
        changes["columns"] = columns
    if config is not None:
        return ReadOptions.from_toml(config, **changes)
    return ReadOptions(**changes)


@contextlib.contextmanager
def _progress(*, enabled: bool):
    """A stage progress bar on stderr, drawn only when stderr is a terminal; yields the
    ``progress(stage, i, n)`` callback :func:`flowscan.scan.scan` takes."""
    if not (enabled and err.is_terminal):
        yield lambda stage, i, n: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<24}"), BarColumn(), TimeElapsedColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(stage: str, i: int, n: int) -> None:
            bar.update(task, description=stage, completed=i, total=n)

        yield update


def _inputs(ledgers, sample, sample_export):
    if sample and sample_export:
        raise ConfigError("give --sample or --sample-export, not both")
    if sample:
        from .fixtures import SYNTHETIC_SAMPLE

        return [SYNTHETIC_SAMPLE / "transactions.parquet"], None
    if sample_export:
        from .fixtures import SAMPLE_CONFIG, SAMPLE_LEDGER

        return [SAMPLE_LEDGER], SAMPLE_CONFIG
    if not ledgers:
        raise ConfigError("give at least one ledger file or directory, or --sample")
    return ledgers, None


def _print_report(result, options) -> None:
    report = result.report
    files = Table(title="Files", title_justify="left")
    for col in ("file", "format", "role", "rows read", "accepted", "rejected", "duplicates"):
        files.add_column(col, justify="right" if col[0] in "rad" and col != "role" else "left")
    for f in report.files:
        files.add_row(f.path, f"{f.kind}/{f.preset}", f.role, f"{f.rows_read:,}", f"{f.accepted:,}", f"{f.rejected:,}",
                      f"{f.duplicates:,}")
    out.print(files)
    for f in report.files:
        if f.mapping:
            pairs = ", ".join(f"{k} <- {v}" for k, v in f.mapping.items())
            out.print(f"schema found in {f.path}: {pairs}")
    recon = "reconciles" if report.reconciles else "DOES NOT RECONCILE"
    out.print(
        f"\nrows read {report.rows_read:,} = accepted {report.accepted:,} + rejected {report.rejected:,} "
        f"+ duplicates dropped {report.duplicates:,}: {recon}"
    )
    if report.reasons:
        from .validate import REASONS

        reasons = Table(title="Reject reasons", title_justify="left")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        reasons.add_column("meaning")
        for name, count in sorted(report.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            reasons.add_row(name, f"{count:,}", REASONS[name])
        out.print(reasons)
    if result.ledger.num_rows:
        ts = result.ledger.column("timestamp")
        out.print(f"time range {ts[0].as_py().isoformat()} .. {ts[-1].as_py().isoformat()}")
    if result.labels is not None:
        out.print(f"labels split off: {result.labels.num_rows:,} transaction labels (never used by detection)")
    if result.account_labels is not None:
        out.print(f"labels split off: {result.account_labels.num_rows:,} account labels (never used by detection)")
    for note in report.notes:
        out.print(f"note: {note}")


@app.command()
@_one_line_errors
def validate(
    ledgers: Ledgers = None,
    fmt: Format = "auto",
    config: Config = None,
    tz: Tz = None,
    timestamp_format: TsFormat = None,
    currency: Currency = None,
    mapping: Mapping = None,
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    on_bad_rows: OnBad = None,
    max_reject_rate: MaxRate = None,
    negative_amounts: Negative = None,
    amount_rounding: Rounding = None,
    sample: Sample = False,
    sample_export: SampleExport = False,
    report: ReportOpt = None,
) -> None:
    """Check ledgers without writing them: the schema found, the reconciliation and the reject reasons.

    Exits 1 when more rows are rejected than --max-reject-rate allows.

    Example:

        flowscan validate transactions.csv cash_tx.csv

        flowscan validate HI-Small_Trans.csv --tz UTC
    """
    from .ingest import read_ledger

    paths, sample_config = _inputs(ledgers, sample, sample_export)
    options = _options(config or sample_config, fmt, tz, timestamp_format, currency, mapping, delimiter, encoding,
                       on_bad_rows, max_reject_rate, negative_amounts, amount_rounding)
    result = read_ledger(*paths, options=options.replace(max_reject_rate=1.0))
    _print_report(result, options)
    if report is not None:
        report.write_text(json.dumps(result.report.to_dict(), indent=2, sort_keys=True) + "\n")
    if result.report.reject_rate > options.max_reject_rate:
        err.print(
            f"flowscan: error: {result.report.rejected:,} of {result.report.rows_read:,} rows rejected "
            f"({result.report.reject_rate:.2%}), above --max-reject-rate {options.max_reject_rate:.2%}"
        )
        raise typer.Exit(1)


@app.command()
@_one_line_errors
def ingest(
    ledgers: Ledgers = None,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Canonical Parquet file to write.")] = ...,
    rejects: Annotated[
        Optional[Path], typer.Option("--rejects", help="Rejects file; default beside --out as NAME.rejects.parquet.")
    ] = None,
    fmt: Format = "auto",
    config: Config = None,
    tz: Tz = None,
    timestamp_format: TsFormat = None,
    currency: Currency = None,
    mapping: Mapping = None,
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    on_bad_rows: OnBad = None,
    max_reject_rate: MaxRate = None,
    negative_amounts: Negative = None,
    amount_rounding: Rounding = None,
    sample: Sample = False,
    sample_export: SampleExport = False,
    report: ReportOpt = None,
) -> None:
    """Read ledgers and write the canonical Parquet ledger (with page checksums) and its rejects.

    Nothing is written unless the whole read succeeds. Labels found in the source are written beside the ledger as NAME.labels.parquet.

    Example:

        flowscan ingest HI-Small_Trans.csv --tz UTC --out ledger.parquet
    """
    from .index import build_index
    from .ingest import read_ledger, write_ledger

    paths, sample_config = _inputs(ledgers, sample, sample_export)
    options = _options(config or sample_config, fmt, tz, timestamp_format, currency, mapping, delimiter, encoding,
                       on_bad_rows, max_reject_rate, negative_amounts, amount_rounding)
    result = read_ledger(*paths, options=options)
    index = build_index(result.ledger)
    written = write_ledger(result, out_path, rejects=rejects)
    if report is not None:
        report.write_text(json.dumps(result.report.to_dict(), indent=2, sort_keys=True) + "\n")
    r = result.report
    out.print(
        f"rows read {r.rows_read:,} = accepted {r.accepted:,} + rejected {r.rejected:,} "
        f"+ duplicates dropped {r.duplicates:,}; {index.n_accounts:,} accounts"
    )
    for role, path in written.items():
        out.print(f"wrote {role}: {path}")


@app.command()
@_one_line_errors
def generate(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the ledger and its labels into.")] = ...,
    spec: Annotated[
        str, typer.Option("--spec", help="A TOML spec file, or a shipped spec: small, default, large, trafficking.")
    ] = "small",
    seed: Annotated[
        Optional[int], typer.Option("--seed", help="Random seed; the same seed gives byte-identical files.")
    ] = None,
) -> None:
    """Write a seeded synthetic ledger with planted typologies, and its ground truth.

    The folder receives transactions.parquet (a canonical ledger), transactions_labels,
    accounts_labels and instances Parquet files, and reference/ (ad_merchants.csv, locations.csv,
    payroll_originators.csv: the reference tables of the human-trafficking rule pack for this
    population; give it to flowscan scan --reference). Read the ledger file itself, not the folder.

    Example:

        flowscan generate --spec small --seed 7 --out synthetic/
    """
    import pyarrow.parquet as pq

    from .fixtures.generate import write

    paths = write(spec, seed, out_dir)
    rows = pq.ParquetFile(paths["ledger"]).metadata.num_rows
    out.print(f"wrote {rows:,} transactions to {paths['ledger']}")
    for name in ("transactions_labels", "accounts_labels", "instances"):
        out.print(f"wrote {name}: {paths[name]}")
    out.print(f"wrote the reference tables: {Path(paths['locations']).parent}")


@app.command()
@_one_line_errors
def warmup() -> None:
    """Compile every kernel on the bundled sample ledger and report compile time apart from run time.

    Numba caches compiled code on disk (FLOWSCAN_NUMBA_CACHE=0 turns the cache off), so the
    second warm-up on a machine mostly loads from the cache.

    Example:

        flowscan warmup
    """
    from .warmup import warmup as run

    table = Table(title="Warm-up", title_justify="left")
    for col in ("stage", "first call (s)", "second call (s)", "compile (s)"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    timings = run()
    for t in timings:
        table.add_row(t.stage, f"{t.first_s:.3f}", f"{t.second_s:.3f}", f"{t.compile_s:.3f}")
    out.print(table)
    out.print(f"compile total {sum(t.compile_s for t in timings):.2f} s")


Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace the output directory if it exists.")]
ReportWorkers = Annotated[
    int, typer.Option("--report-workers", min=0, envvar="FLOWSCAN_REPORT_WORKERS",
                      help="Processes drawing the report's images, this one included; 0 = one per CPU available "
                      "(a worker is started for every 12 alerts with images at most). The report is the same for "
                      "any value.")
]


def _report_workers(value: int) -> int:
    from .report import available_cpus

    return value or available_cpus()


@app.command()
@_one_line_errors
def scan(
    ledgers: Ledgers = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write (atomically).")] = ...,
    overwrite: Overwrite = False,
    fmt: Format = "auto",
    config: Annotated[
        Optional[Path],
        typer.Option("--config", "-c", help="TOML file with \\[read], \\[rules.NAME] and \\[score.*] tables."),
    ] = None,
    tz: Tz = None,
    timestamp_format: TsFormat = None,
    currency: Currency = None,
    mapping: Mapping = None,
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    on_bad_rows: OnBad = None,
    max_reject_rate: MaxRate = None,
    negative_amounts: Negative = None,
    amount_rounding: Rounding = None,
    sample: Sample = False,
    sample_export: SampleExport = False,
    model: Annotated[
        Optional[Path], typer.Option("--model", help="Score with a model saved by an earlier run's --save-model.")
    ] = None,
    save_model: Annotated[
        Optional[Path], typer.Option("--save-model", help="Also save the fitted scoring model to this file.")
    ] = None,
    relationships: Annotated[
        Optional[Path],
        typer.Option("--relationships", help="Side table of accounts to customer ids and shared identifiers (phone, "
                     "e-mail, address, device): linked accounts are scored and shown together in groups.parquet."),
    ] = None,
    reference: Annotated[
        Optional[Path],
        typer.Option("--reference", help="Folder of reference tables for the human-trafficking rule pack "
                     "(mcc_groups.csv, ad_merchants.csv, locations.csv, payroll_originators.csv, "
                     "high_risk_countries.csv, ad_identifiers.csv; see docs/reference-tables.md). A pack rule whose "
                     "table is missing is skipped and the run says why. --sample uses the sample's own."),
    ] = None,
    show: Annotated[int, typer.Option("--show", help="Alerts to list on the terminal.")] = 10,
    report_alerts: Annotated[
        int, typer.Option("--report-alerts", min=0, help="Alerts detailed in report.html (plots, flow graph, "
                          "reasons); the alert table lists them all. 0 writes no report.")
    ] = 25,
    report_workers: ReportWorkers = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print each stage's seconds on stderr.")
    ] = False,
    pseudonymize: Annotated[
        bool,
        typer.Option("--pseudonymize", help="Replace every account id in every output (and on the terminal) with a "
                     "keyed HMAC-SHA256 pseudonym; the key is read from the environment variable "
                     "FLOWSCAN_PSEUDONYM_KEY (at least 32 bytes) and only its id goes into the manifest."),
    ] = False,
    pseudonym_map: Annotated[
        Optional[Path],
        typer.Option("--pseudonym-map", help="With --pseudonymize, also write the account-to-pseudonym mapping to "
                     "this file (CSV when it ends in .csv, Parquet otherwise), outside the run directory."),
    ] = None,
    export: Annotated[
        Optional[list[str]],
        typer.Option("--export", help="Also write alerts and evidence as jsonl or csv for case managers (CSV cells "
                     "that could run as spreadsheet formulas are escaped); repeatable."),
    ] = None,
    fail_on_alerts: Annotated[
        bool, typer.Option("--fail-on-alerts", help="Exit with code 3 when the run raised any alert (after writing "
                           "everything), for batch schedulers.")
    ] = False,
    engine: Annotated[
        str, typer.Option("--engine", help="local (this machine), or spark: the rules run on Spark in account "
                          "buckets (the spark extra; canonical Parquet ledgers, as flowscan ingest writes them; "
                          "see docs/spark.md).")
    ] = "local",
    master: Annotated[
        Optional[str], typer.Option("--master", help="With --engine spark: the Spark master URL (local[2], "
                                    "spark://host:7077, yarn); default the session spark-submit started, else local[*].")
    ] = None,
    buckets: Annotated[
        Optional[int], typer.Option("--buckets", min=1, help="With --engine spark: the number of account buckets "
                                    "(default one per 2 million rows); more buckets, less memory per task.")
    ] = None,
    staging: Annotated[
        Optional[str], typer.Option("--staging", help="With --engine spark on a cluster: a folder or URI (hdfs://, "
                                    "s3://) the executors and the driver both reach, for the buckets' findings.")
    ] = None,
) -> None:
    """Run every rule and the scoring on ledgers and write the run directory.

    The directory holds accounts.parquet (every account ranked), alerts.parquet, evidence.parquet,
    rejects.parquet and manifest.json (inputs with SHA-256, configuration and its hash, reconciliation,
    outputs with SHA-256, timings). It is written to a temporary directory first and renamed at the
    end, so an interrupted run leaves nothing that looks complete.

    With --fail-on-alerts the command exits 3 when there are alerts, after writing everything.

    Example:

        flowscan scan ledger.parquet --out runs/2026-11 --config rules.toml

        FLOWSCAN_PSEUDONYM_KEY=... flowscan scan ledger.parquet --out runs/p --pseudonymize --export csv
    """
    from .scan import ScanOptions, scan as run_scan, write_run
    from .score import load_model, save_model as save

    paths, sample_config = _inputs(ledgers, sample, sample_export)
    read_options = _options(sample_config if config is None else config, fmt, tz, timestamp_format, currency,
                            mapping, delimiter, encoding, on_bad_rows, max_reject_rate, negative_amounts,
                            amount_rounding)
    if config is not None:
        if sample_config is not None:
            read_options = _options(sample_config, fmt, tz, timestamp_format, currency, mapping, delimiter,
                                    encoding, on_bad_rows, max_reject_rate, negative_amounts, amount_rounding)
        options = ScanOptions.from_toml(config, read=read_options)
    else:
        options = ScanOptions(read=read_options)
    if out_dir.exists() and not overwrite:
        raise ConfigError(f"{out_dir}: the output directory exists; remove it or pass --overwrite")
    from .exports import check_formats
    from .rundir import RunLock, check_output
    from .pseudonymize import key_from_env

    exports = check_formats(export or ())
    if pseudonym_map is not None and not pseudonymize:
        raise ConfigError("--pseudonym-map needs --pseudonymize")
    key = key_from_env() if pseudonymize else None
    if quiet and verbose:
        raise ConfigError("give --quiet or --verbose, not both")
    if engine not in ("local", "spark"):
        raise ConfigError(f"--engine must be local or spark. Got {engine!r} instead.")
    if engine == "local" and (master is not None or buckets is not None or staging is not None):
        raise ConfigError("--master, --buckets and --staging go with --engine spark")
    if engine == "spark":
        _check_spark_inputs(paths, sample_export, read_options)
    fitted = load_model(model) if model is not None else None
    check_output(out_dir, overwrite=overwrite)  # a read-only or full disk, or a run already writing there
    _load_code(options, report=report_alerts > 0)
    with RunLock(out_dir), _progress(enabled=not quiet and engine == "local") as progress:
        if reference is None and sample:
            from .fixtures import SYNTHETIC_SAMPLE

            reference = SYNTHETIC_SAMPLE / "reference"
        if engine == "spark":
            result = _scan_on_spark(paths, options, fitted, reference, relationships, master, buckets, staging)
        else:
            result = run_scan(*paths, options=options, model=fitted, relationships=relationships,
                              reference=reference, progress=progress)
        progress("write", 1, 1)
        written = write_run(result, out_dir, overwrite=overwrite, pseudonym_key=key, pseudonym_map=pseudonym_map,
                            exports=exports, report_alerts=report_alerts,
                            report_workers=_report_workers(report_workers))
    if save_model is not None:
        save(result.scores.model, save_model)
    if verbose:
        manifest = json.loads((written / "manifest.json").read_text())
        for stage, seconds in manifest["timings_seconds"].items():
            err.print(f"{stage:<24} {seconds:9.3f} s", markup=False)
    if quiet:
        if fail_on_alerts and result.alerts.num_rows:
            raise typer.Exit(3)
        return
    r = result.read.report
    out.print(
        f"rows read {r.rows_read:,} = accepted {r.accepted:,} + rejected {r.rejected:,} "
        f"+ duplicates dropped {r.duplicates:,}; {result.accounts.num_rows:,} accounts; "
        f"{result.alerts.num_rows:,} alerts"
    )
    if show and result.alerts.num_rows:
        import pyarrow.parquet as pq

        shown = pq.read_table(written / "alerts.parquet") if key is not None else result.alerts  # pseudonyms
        table = Table(title=f"Top alerts (of {result.alerts.num_rows:,})", title_justify="left")
        for col in ("rank", "account", "score", "typologies", "trafficking"):
            table.add_column(col, justify="right" if col in ("rank", "score") else "left")
        for row in shown.slice(0, show).to_pylist():
            table.add_row(str(row["rank"]), Text(row["account"]), f"{row['score']:.3f}",
                          ", ".join(row["typologies"]) or "anomaly only", "yes" if row["trafficking"] else "")
        out.print(table)
    if result.skipped and verbose:
        for name, why in sorted(result.skipped.items()):
            err.print(f"rule {name} not run: {why}", markup=False)
    out.print(f"wrote {written}")
    if pseudonym_map is not None:
        out.print(f"wrote the pseudonym map: {pseudonym_map}")
    if fail_on_alerts and result.alerts.num_rows:
        err.print(f"flowscan: {result.alerts.num_rows:,} alerts; exit code 3 (--fail-on-alerts)")
        raise typer.Exit(3)


def _check_spark_inputs(paths, sample_export, read_options) -> None:
    """The Spark engine reads canonical Parquet ledgers only (module docstring of flowscan.spark)."""
    from .options import ReadOptions

    if sample_export:
        raise ConfigError("--engine spark reads canonical Parquet ledgers; the sample export is a CSV "
                          "(flowscan ingest turns it into one)")
    if read_options != ReadOptions():
        raise ConfigError("--engine spark reads canonical Parquet ledgers, so reading options (--format, --tz, "
                          "--mapping, ...) do not apply; run flowscan ingest first")
    for path in paths:
        if not (Path(path).is_dir() or str(path).endswith(".parquet")):
            raise ConfigError(f"{path}: --engine spark reads canonical Parquet ledgers (a .parquet file or a folder "
                              "of them); flowscan ingest writes one from any format flowscan reads")


def _scan_on_spark(paths, options, model, reference, relationships, master, buckets, staging):
    try:
        from . import spark as spark_engine
    except ImportError as error:
        raise ConfigError(str(error)) from None
    session = spark_engine.session(master or "local[*]", **{"spark.ui.showConsoleProgress": "false"})
    session.sparkContext.setLogLevel("ERROR")
    found = spark_engine.scan([str(p) for p in paths], options=options, reference=reference, relationships=relationships,
                              buckets=buckets, model=model, spark=session, staging=staging)
    return found.to_result()


@app.command()
@_one_line_errors
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by flowscan scan (or its accounts.parquet).")],
    labels: Annotated[
        list[Path],
        typer.Option("--labels", "-l", help="Ground truth: fixtures accounts_labels.parquet, AMLSim nodes.csv, "
                     "sar_accounts.csv, or a labelled ledger (AMLSim, AMLworld, SAML-D, PaySim); repeatable."),
    ],
    k: Annotated[
        Optional[list[int]], typer.Option("--k", help="Cut-offs for precision@k and recall@k; repeatable.")
    ] = None,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Write the figures as JSON here (default RUN_DIR/evaluation.json).")
    ] = None,
    tz: Tz = None,
) -> None:
    """Measure a run's ranking against labels: precision@k, recall@k, average precision, recall per typology.

    Labels are read only here; detection never sees them.

    Example:

        flowscan evaluate runs/r1 --labels data/amlsim/sar_accounts.csv --k 100 --k 500
    """
    from .evaluate import evaluate as run_evaluate, load_account_labels

    label_table = load_account_labels(*labels, options=ReadOptions(timezone=tz) if tz else None)
    result = run_evaluate(run_dir, label_table, ks=tuple(k) if k else (100, 500, 1000))
    out.print(result.format(), markup=False)
    target = json_path or ((run_dir if run_dir.is_dir() else run_dir.parent) / "evaluation.json")
    result.to_json(target)
    out.print(f"wrote {target}")


@app.command()
@_one_line_errors
def explain(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by flowscan scan.")],
    account: Annotated[str, typer.Argument(help="The account id (the pseudonym, if the run was pseudonymised).")],
    out_path: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Also write the pack as PATH.md and PATH.json (each written atomically)."),
    ] = None,
    max_evidence: Annotated[
        int, typer.Option("--max-evidence", min=0, help="Evidence transactions to list; the rest are counted.")
    ] = 50,
) -> None:
    """Print an account's evidence pack: the who/what/when/where/why/how skeleton of a suspicious-activity narrative.

    Reads the run directory only. Lists the reasons with their thresholds and published sources and the evidence
    transactions, and suggests the key term HUMAN TRAFFICKING FIN-2020-A008 when a human-trafficking typology fired.
    flowscan suggests; it never files: an analyst verifies every statement.

    Example:

        flowscan explain runs/2026-11 6954240694 --out cases/6954240694
    """
    from .explain import explain as run_explain, write_explanation

    pack = run_explain(run_dir, account, max_evidence=max_evidence)
    out.print(pack.to_markdown(), markup=False, highlight=False, emoji=False)
    if out_path is not None:
        for path in write_explanation(pack, out_path):
            err.print(f"wrote {path}", markup=False)


config_app = typer.Typer(help="Show the configuration a run uses.", no_args_is_help=True,
                          pretty_exceptions_show_locals=False)
app.add_typer(config_app, name="config")


@config_app.command("show")
@_one_line_errors
def config_show(
    config: Annotated[
        Optional[Path],
        typer.Option("--config", "-c", help="TOML file to resolve (its \\[read], \\[rules.NAME] and \\[score.*] "
                     "tables over the defaults); the defaults alone when omitted."),
    ] = None,
) -> None:
    """Print the full resolved configuration as TOML: every rule's parameters and every score setting.

    A comment above each rule table names the red flag it implements and its published source (FinCEN advisory, FATF report). Save the output, edit it and pass it back with --config: it gives the same configuration hash as the options it was printed from.

    Example:

        flowscan config show > rules.toml

        flowscan config show --config rules.toml
    """
    from .config import render_toml
    from .scan import ScanOptions

    options = ScanOptions.from_toml(config) if config is not None else ScanOptions()
    typer.echo(render_toml(options), nl=False)


@app.command()
@_one_line_errors
def sweep(
    ledgers: Ledgers = None,
    rule: Annotated[str, typer.Option("--rule", "-r", help="The rule to sweep: structuring, fan_in, fan_out, funnel, "
                                      "rapid_movement, scatter_gather, gather_scatter, cycles, or a rule of the "
                                      "human-trafficking pack (escort_ads, lodging, late_night, ...).")] = ...,
    param: Annotated[
        str,
        typer.Option("--param", "-p", help="NAME=START:STOP:STEP (both ends included), or NAME=V1,V2,...; numbers or "
                     "durations such as 12h:72h:12h. A tuple parameter (windows, horizons) takes each value alone."),
    ] = ...,
    labels: Annotated[
        Optional[list[Path]],
        typer.Option("--labels", "-l", help="Account labels (as flowscan evaluate takes them) for precision and recall "
                     "of the accounts the rule alerts; repeatable."),
    ] = None,
    out_dir: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Also write sweep.csv, sweep.json and a plot, sweep.png, into this folder."),
    ] = None,
    fmt: Format = "auto",
    config: Annotated[
        Optional[Path],
        typer.Option("--config", "-c", help="TOML file: its \\[read] table reads the ledger and its \\[rules.RULE] "
                     "table sets the parameters not swept."),
    ] = None,
    tz: Tz = None,
    sample: Sample = False,
    reference: Annotated[
        Optional[Path],
        typer.Option("--reference", help="Folder of reference tables, for a rule of the human-trafficking pack "
                     "(--sample uses the sample's own)."),
    ] = None,
) -> None:
    """Above/below-the-line testing: run one rule for each value of one parameter and count what it alerts.

    The ledger is read and indexed once. Per value: the rule's instances, the distinct accounts it alerts and, with --labels, how many of those are labelled positives, precision and recall.

    Example:

        flowscan sweep ledger.parquet --rule fan_in --param min_counterparties=5:20:5 --labels accounts_labels.parquet

        flowscan sweep --sample --rule structuring --param windows=12h:72h:12h --out sweeps/structuring
    """
    from .index import build_index
    from .ingest import read_ledger
    from .scan import ScanOptions
    from .sweep import parse_values, sweep as run_sweep, write_sweep

    if "=" not in param:
        raise ConfigError(f"--param expects NAME=START:STOP:STEP. Got {param!r} instead.")
    name, spec = (part.strip() for part in param.split("=", 1))
    values = parse_values(spec, name=name)
    paths, sample_config = _inputs(ledgers, sample, False)
    read_options = _options(config or sample_config, fmt, tz, None, None, None, None, None, None, None, None, None)
    base = ScanOptions.from_toml(config, read=read_options) if config is not None else None
    label_table = None
    if labels:
        from .evaluate import load_account_labels

        label_table = load_account_labels(*labels, options=ReadOptions(timezone=tz) if tz else None)
    elif sample:
        from .evaluate import load_account_labels
        from .fixtures import SYNTHETIC_SAMPLE

        label_table = load_account_labels(SYNTHETIC_SAMPLE / "accounts_labels.parquet")
    if reference is None and sample:
        from .fixtures import SYNTHETIC_SAMPLE

        reference = SYNTHETIC_SAMPLE / "reference"
    elif reference is None and base is not None:
        reference = base.load_reference()
    read = read_ledger(*paths, options=read_options)
    table = run_sweep(read.ledger, build_index(read.ledger), rule, name, values, labels=label_table,
                      base_options=base, reference=reference)
    with_labels = label_table is not None
    shown = Table(title=f"Sweep of {rule}.{name} on {read.ledger.num_rows:,} transactions", title_justify="left")
    columns = ["value", "instances", "accounts"] + (["true positives", "precision", "recall"] if with_labels else [])
    for col in columns:
        shown.add_column(col, justify="left" if col == "value" else "right")
    for row in table.to_pylist():
        cells = [row["value"], f"{row['instances']:,}", f"{row['accounts']:,}"]
        if with_labels:
            cells += [f"{row['true_positives']:,}"] + ["" if row[k] is None else f"{row[k]:.3f}"
                                                        for k in ("precision", "recall")]
        shown.add_row(*cells)
    out.print(shown)
    if out_dir is not None:
        for path in write_sweep(table, out_dir).values():
            out.print(f"wrote {path}")


@app.command()
@_one_line_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by flowscan scan.")],
    out_path: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Where to write the page (atomically); RUN_DIR/report.html by default."),
    ] = None,
    max_alerts: Annotated[
        int, typer.Option("--max-alerts", min=0, help="Top alerts detailed with reasons, features and images; "
                          "the ranked table lists every alert (up to 1,000) either way.")
    ] = 50,
    report_workers: ReportWorkers = 0,
) -> None:
    """Write the run's HTML report: one self-contained page that opens offline.

    It holds the run summary and reconciliation, the ranked alert table and, per top alert, its reasons, top
    features, a timeline of its evidence amounts and the flow graph around the account. The same run directory
    gives a byte-identical page.

    Example:

        flowscan report runs/2026-11

        flowscan report runs/2026-11 --out review/2026-11.html --max-alerts 20
    """
    from .report import write_report

    path = write_report(run_dir, out=out_path, max_alerts=max_alerts, workers=_report_workers(report_workers))
    out.print(f"wrote {path}", markup=False)


class _Stopped(BaseException):
    """Raised in the main thread by SIGTERM or SIGHUP, so every ``finally`` and cleanup runs
    (the run directory's staging is removed) before the process exits."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame):
    raise _Stopped(signum)


def _memory_ran_out(error: BaseException) -> bool:
    """Out of memory outside the scan's stages: a MemoryError, or a lazy import whose shared
    library could not be mapped."""
    from .scan import _out_of_memory

    if _out_of_memory(error):
        return True
    text = str(error)
    return isinstance(error, ImportError) and ("failed to map segment" in text or "Cannot allocate memory" in text)


def main() -> None:
    """Entry point. Usage errors exit 2 (Typer's own handling); an unexpected error prints
    its type only, never its message or traceback, since either may quote account data.
    SIGTERM and SIGHUP stop the run cleanly: exit code 128 + the signal's number, one line, and
    no output directory left behind."""
    import signal

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    try:
        app()
    except _Stopped as stopped:
        name = signal.Signals(stopped.signum).name
        _error_line(f"flowscan: stopped by {name}; no unfinished output was left in place")
        sys.exit(128 + stopped.signum)
    except Exception as error:
        if os.environ.get("FLOWSCAN_DEBUG"):
            raise
        if _memory_ran_out(error):
            _error_line("flowscan: error: out of memory; nothing was written. Give the run more memory, "
                        "or scan a shorter period at a time")
            sys.exit(1)
        _error_line(f"flowscan: internal error ({type(error).__name__}); set FLOWSCAN_DEBUG=1 to see the traceback")
        sys.exit(1)
