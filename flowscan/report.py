"""The run report: one self-contained HTML page for a run directory, for reviewers and auditors.

:func:`write_report` reads a run directory written by :func:`flowscan.scan.write_run`
(``manifest.json``, ``alerts.parquet``, ``evidence.parquet``; ``accounts.parquet`` for the
units of the features) and writes ``report.html``:

- the run summary: flowscan version, configuration hash (and the resolved configuration),
  inputs with size and SHA-256, time range, the reconciliation (rows read = accepted +
  rejected + duplicates dropped) with the reject reasons and the outputs (stage timings stay
  in manifest.json, so that identical runs give identical reports);
- the ranked alert table: rank, alert id, account, score, typologies, trafficking tag and
  window (the first :data:`MAX_TABLE_ROWS` alerts; the page says when there are more);
- for each of the top ``max_alerts`` alerts: its reasons (money in major units of the
  evidence's currency), its top features, a timeline of the amounts of its evidence
  transactions and the flow graph around the account (both static PNG images). The page says
  how many alerts are not detailed.

The page opens offline: no script, no font, no style sheet or image outside the file (images
are ``data:`` URIs) and a Content-Security-Policy that forbids every fetch. Every value that
comes from the data (account ids, locations, paths) is HTML-escaped, and drawn as plain text in
the images (no mathtext). The same run directory gives a byte-identical page: the images
have fixed sizes, a fixed style and no timestamp, the layouts have no randomness, and the page
holds no time of writing and not the run directory's own path (the run may be written in a
temporary directory renamed at the end).

Drawing the images is most of the report's time (about a quarter of a second per alert). With
``workers`` above 1 they are drawn by this process and ``workers - 1`` worker processes
started with ``spawn`` (a fresh interpreter, never a fork of a process whose Numba threads are
running); each image depends on its own inputs only, so the page is byte-identical for any
number of workers. The library's default is 1: a process started with ``spawn`` imports the
caller's main script, which a notebook or an unguarded script cannot allow. ``flowscan scan``
and ``flowscan report`` use the CPUs available (``--report-workers``), one worker per
:data:`ALERTS_PER_WORKER` alerts at most, since a worker takes seconds to start. If a worker
cannot be started or dies, its images are drawn in this process instead.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import math
import multiprocessing
import os
import tempfile
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .currency import MINOR_DIGITS
from .errors import ConfigError, ConfigTypeError, CorruptFileError, DataError

ALERTS_PER_WORKER = 12
"""Alerts with images each worker process must have to be started: a worker's start-up (2-3 s,
importing flowscan and matplotlib) costs about as much as drawing the images of twelve alerts,
so fewer alerts than this are drawn in this process alone whatever ``workers`` says."""

MAX_TABLE_ROWS = 1000
"""Alerts listed in the ranked table; the full list is alerts.parquet."""
MAX_REASON_ROWS = 120
"""Reason rows listed per alert (whole instances first); the full list is alerts.parquet."""
MAX_PLOTTED_TXNS = 400
"""Evidence transactions drawn per alert in the timeline (the largest amounts first)."""
MAX_GRAPH_NODES = 40
"""Counterparties drawn per alert in the flow graph (the largest flows first)."""
DPI = 80
TIMELINE_SIZE = (7.5, 2.8)
GRAPH_SIZE = (6.4, 6.4)

_COLORS = {"in": "#1f77b4", "out": "#d62728", "other": "#7f7f7f"}
_DIRECTION_LABEL = {"in": "into the account", "out": "out of the account", "other": "between counterparties"}
_NO_SENDER = "\x00no sender"
_NO_RECEIVER = "\x00no receiver"
_NODE_LABEL = {_NO_SENDER: "(no sender: cash in)", _NO_RECEIVER: "(no receiver: cash out)"}
_RC = {"font.family": "DejaVu Sans", "font.size": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
       "ytick.labelsize": 7, "legend.fontsize": 7, "text.usetex": False}
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:1.5rem auto;
max-width:72rem;padding:0 1rem;color:#1a1a1a;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
h3{margin-top:1.6rem}h4{margin:1rem 0 .3rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #d0d0d0;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.85em;word-break:break-all}
.tag{display:inline-block;background:#b00020;color:#fff;border-radius:3px;padding:0 .35rem;font-size:.8rem}
.ok{color:#1b5e20;font-weight:bold}.bad{color:#b00020;font-weight:bold}
.note{color:#555;font-size:.9rem}.alert{border-top:1px solid #ddd;margin-top:1.5rem}
.figs{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}img{max-width:100%;height:auto}
details pre{background:#f7f7f7;padding:.5rem;overflow-x:auto;font-size:.8rem}
"""


def write_report(run_dir, /, *, out=None, max_alerts: int = 50, workers: int = 1) -> Path:
    """Write the HTML report of a run directory; returns its path.

    Parameters
    ----------
    run_dir : str or Path
        A run directory written by :func:`flowscan.scan.write_run`.
    out : str or Path, optional
        Where to write the page; ``run_dir/report.html`` by default. It is written to a
        temporary file beside it and renamed into place, so a reader never sees half a page.
    max_alerts : int, default=50
        Alerts detailed with reasons, features and images (the top of the ranking). Every
        alert up to :data:`MAX_TABLE_ROWS` is listed in the ranked table.
    workers : int, default=1
        Processes drawing the images, this one included (see the module docstring); the
        page is the same for any value. :func:`available_cpus` is what the CLI passes.

    Returns
    -------
    Path
        The page written.

    Raises
    ------
    DataError
        ``run_dir`` is not a run directory (a file is missing, or a file is not readable).
    ConfigError
        ``max_alerts`` is negative or ``workers`` below 1 (a ``ConfigTypeError`` when one is
        not an int).

    Notes
    -----
    Nulls: an alert raised by the anomaly score alone has no window (shown as a dash); an
    evidence transaction with no sender or no receiver (cash) has the node "(no sender: cash
    in)" or "(no receiver: cash out)" in the flow graph; a null location is left blank.
    """
    if isinstance(max_alerts, bool) or not isinstance(max_alerts, int):
        raise ConfigTypeError(f"The 'max_alerts' parameter of write_report must be an int. "
                              f"Got {type(max_alerts).__name__} instead.")
    if max_alerts < 0:
        raise ConfigError(f"The 'max_alerts' parameter of write_report must be a non-negative int. "
                          f"Got {max_alerts} instead.")
    _check_workers("write_report", workers)
    run_dir = Path(run_dir)
    target = Path(out) if out is not None else run_dir / "report.html"
    page = render_report(run_dir, max_alerts=max_alerts, workers=workers)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(page.encode("utf-8"))
        os.chmod(staging, 0o644)
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return target


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _check_workers(function: str, workers) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise ConfigTypeError(f"The 'workers' parameter of {function} must be an int. "
                              f"Got {type(workers).__name__} instead.")
    if workers < 1:
        raise ConfigError(f"The 'workers' parameter of {function} must be at least 1. Got {workers} instead.")


def render_report(run_dir, /, *, max_alerts: int = 50, workers: int = 1) -> str:
    """The HTML page of :func:`write_report`, as a string."""
    _check_workers("render_report", workers)
    run = _Run(Path(run_dir), max_alerts)
    run.txns = [_unique_transactions(run.evidence.get(alert["alert_id"], [])) for alert in run.detailed]
    run.figures = _figures([_figure_job(alert, txns) for alert, txns in zip(run.detailed, run.txns)], workers)
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_e(_CSP)}\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<link rel=\"icon\" href=\"data:,\">\n",
        "<title>flowscan run report</title>\n",
        f"<style>{_CSS}</style>\n</head>\n<body>\n",
        _header(run),
        _summary(run),
        _alert_table(run),
        _details(run),
        "</body>\n</html>\n",
    ]
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# reading the run directory


class _Run:
    def __init__(self, run_dir: Path, max_alerts: int):
        if not run_dir.is_dir():
            raise DataError(f"{run_dir}: not a directory; give a run directory written by flowscan scan")
        manifest_path = run_dir / "manifest.json"
        if not manifest_path.is_file():
            raise DataError(f"{run_dir}: not a run directory (no manifest.json); run flowscan scan first")
        try:
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CorruptFileError(manifest_path, f"not valid JSON ({type(error).__name__})") from None
        if not isinstance(self.manifest, dict):
            raise CorruptFileError(manifest_path, "not a JSON object")
        self.alerts = _read_parquet(run_dir / "alerts.parquet")
        for column in ("alert_id", "account", "rank", "score", "typologies", "trafficking", "window_start",
                       "window_end", "reasons", "top_features"):
            if column not in self.alerts.column_names:
                raise DataError(f"{run_dir / 'alerts.parquet'}: column {column!r} is missing; "
                                "write the run again with this flowscan version")
        self.alerts = self.alerts.sort_by([("rank", "ascending"), ("alert_id", "ascending")])
        self.n_alerts = self.alerts.num_rows
        self.table_rows = self.alerts.slice(0, MAX_TABLE_ROWS).to_pylist()
        self.detailed = self.alerts.slice(0, max_alerts).to_pylist()
        ids = pa.array([a["alert_id"] for a in self.detailed], pa.string())
        evidence = _read_parquet(run_dir / "evidence.parquet", filters=pc.field("alert_id").isin(ids))
        self.evidence = defaultdict(list)
        for row in evidence.sort_by([("alert_id", "ascending"), ("timestamp", "ascending"),
                                     ("txn_id", "ascending"), ("instance_id", "ascending")]).to_pylist():
            self.evidence[row["alert_id"]].append(row)
        self.feature_units = {}
        accounts = run_dir / "accounts.parquet"
        if accounts.is_file():
            try:
                schema = pq.read_schema(accounts)
            except (pa.ArrowException, OSError):
                schema = None
            for field in schema or ():
                unit = (field.metadata or {}).get(b"unit")
                if unit:
                    self.feature_units[field.name] = unit.decode("utf-8", "replace")


def _read_parquet(path: Path, filters=None) -> pa.Table:
    if not path.is_file():
        raise DataError(f"{path.parent}: not a run directory ({path.name} is missing); run flowscan scan first")
    try:
        return pq.read_table(path, filters=filters)
    except (pa.ArrowException, OSError) as error:
        raise CorruptFileError(path, f"not a readable Parquet file ({type(error).__name__})") from None


# ---------------------------------------------------------------------------------------------
# HTML parts


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(header, rows, *, numeric=(), attrs="") -> str:
    """An HTML table; cells are already-escaped HTML; ``numeric`` names right-aligned columns."""
    head = "".join(f"<th class=\"n\">{h}</th>" if h in numeric else f"<th>{h}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(f"<td class=\"n\">{c}</td>" if h in numeric else f"<td>{c}</td>"
                        for h, c in zip(header, row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table{attrs}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n"


def _int(value) -> str:
    return "" if value is None else f"{int(value):,}"


def _when(value) -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc) if value.tzinfo else value
        return _e(value.strftime("%Y-%m-%d %H:%M:%S") + " UTC")
    return _e(value)


def _header(run: _Run) -> str:
    m = run.manifest
    recon = m.get("reconciliation", {})
    return (
        "<header>\n<h1>flowscan run report</h1>\n"
        f"<p>{_int(recon.get('rows_read'))} transactions read, {_int(m.get('accounts'))} accounts scored, "
        f"<strong>{run.n_alerts:,} alerts</strong>. flowscan suggests; it never files: every alert needs an "
        "analyst's review before any report to a regulator.</p>\n"
        "<nav><a href=\"#summary\">Run summary</a> &middot; <a href=\"#alerts\">Ranked alerts</a> &middot; "
        "<a href=\"#details\">Alert details</a></nav>\n</header>\n"
    )


def _summary(run: _Run) -> str:
    m = run.manifest
    out = ["<section id=\"summary\">\n<h2>Run summary</h2>\n"]
    time_range = m.get("time_range") or [None, None]
    model = m.get("model") or {}
    detector = (model.get("detector") or {}).get("name")
    rows = [
        ("flowscan version", _e(m.get("flowscan"))),
        ("configuration SHA-256", f"<code>{_e(m.get('config_sha256'))}</code>"),
        ("time range", f"{_e(time_range[0])} &ndash; {_e(time_range[1])}"),
        ("accounts scored", _int(m.get("accounts"))),
        ("alerts", _int(m.get("alerts", run.n_alerts))),
        ("anomaly detector", _e(detector)),
    ]
    out.append(_table(("item", "value"), rows))

    out.append("<h3>Inputs</h3>\n")
    header = ("path", "preset", "role", "size (bytes)", "SHA-256", "rows read", "accepted", "rejected", "duplicates")
    rows = [(f"<span class=\"mono\">{_e(f.get('path'))}</span>", _e(f.get("preset")), _e(f.get("role")),
             _int(f.get("size_bytes")), f"<code>{_e(f.get('sha256') or 'n/a')}</code>", _int(f.get("rows_read")),
             _int(f.get("accepted")), _int(f.get("rejected")), _int(f.get("duplicates")))
            for f in m.get("inputs", [])]
    out.append(_table(header, rows, numeric={"size (bytes)", "rows read", "accepted", "rejected", "duplicates"}))

    recon = m.get("reconciliation", {})
    out.append("<h3>Reconciliation</h3>\n")
    ok = recon.get("reconciles")
    verdict = "<span class=\"ok\">reconciles</span>" if ok else "<span class=\"bad\">DOES NOT RECONCILE</span>"
    out.append(
        f"<p id=\"reconciliation\">rows read <strong>{_int(recon.get('rows_read'))}</strong> = accepted "
        f"<strong>{_int(recon.get('accepted'))}</strong> + rejected <strong>{_int(recon.get('rejected'))}</strong>"
        f" + duplicates dropped <strong>{_int(recon.get('duplicates_dropped'))}</strong>: {verdict}</p>\n"
    )
    reasons = recon.get("reasons") or {}
    if reasons:
        from .validate import REASONS

        rows = [(f"<code>{_e(name)}</code>", _int(count), _e(REASONS.get(name, "")))
                for name, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
        out.append("<h4>Reject reasons</h4>\n" + _table(("reason", "rows", "meaning"), rows, numeric={"rows"}))
    else:
        out.append("<p class=\"note\">No row was rejected.</p>\n")
    for note in recon.get("notes") or []:
        out.append(f"<p class=\"note\">note: {_e(note)}</p>\n")

    instances = m.get("instances") or {}
    if instances:
        out.append("<h3>Rule instances</h3>\n")
        out.append(_table(("rule", "instances"), [(_e(k), _int(v)) for k, v in instances.items()],
                          numeric={"instances"}))
    skipped = m.get("skipped_rules") or {}
    if skipped:
        out.append("<h3 id=\"skipped-rules\">Rules not run</h3>\n")
        out.append(_table(("rule", "why"), [(_e(k), _e(v)) for k, v in skipped.items()]))
    reference = m.get("reference") or []
    if reference:
        out.append("<h3>Reference tables</h3>\n")
        rows = [(_e(t.get("name")), _e(t.get("file") or "shipped default"), _int(t.get("rows")),
                 f"<code>{_e(t.get('sha256'))}</code>") for t in reference]
        out.append(_table(("table", "file", "rows", "SHA-256"), rows, numeric={"rows"}))
    outputs = m.get("outputs") or {}
    if outputs:
        out.append("<h3>Outputs</h3>\n")
        rows = [(_e(name), _int(o.get("rows")), f"<code>{_e(o.get('sha256'))}</code>") for name, o in outputs.items()]
        out.append(_table(("file", "rows", "SHA-256"), rows, numeric={"rows"}))
    # Stage timings stay in manifest.json: they change from run to run, the report must not.
    config = m.get("config")
    if config is not None:
        out.append("<details><summary>Resolved configuration (its SHA-256 is above)</summary>\n<pre>"
                   + _e(json.dumps(config, indent=2, sort_keys=True)) + "</pre></details>\n")
    out.append("</section>\n")
    return "".join(out)


def _trafficking(alert) -> str:
    if not alert.get("trafficking"):
        return ""
    term = alert.get("key_term") or "human trafficking"
    typologies = ", ".join(alert.get("trafficking_typologies") or [])
    title = f" title=\"{_e(typologies)}\"" if typologies else ""
    return f"<span class=\"tag\"{title}>{_e(term)}</span>"


def _alert_table(run: _Run) -> str:
    out = ["<section id=\"alerts\">\n<h2>Ranked alerts</h2>\n"]
    if not run.n_alerts:
        out.append("<p>No alert was raised.</p>\n</section>\n")
        return "".join(out)
    if run.n_alerts > MAX_TABLE_ROWS:
        out.append(f"<p class=\"note\">The first {MAX_TABLE_ROWS:,} of {run.n_alerts:,} alerts; the full list is "
                   "alerts.parquet.</p>\n")
    detailed = {a["alert_id"] for a in run.detailed}
    rows = []
    for a in run.table_rows:
        alert_id = _e(a["alert_id"])
        link = f"<a href=\"#alert-{alert_id}\">{alert_id}</a>" if a["alert_id"] in detailed else alert_id
        window = f"{_when(a['window_start'])} &ndash; {_when(a['window_end'])}" if a["window_start"] else "&mdash;"
        rows.append((_int(a["rank"]), f"<span class=\"mono\">{link}</span>",
                     f"<span class=\"mono\">{_e(a['account'])}</span>", _e(f"{a['score']:.3f}"),
                     _e(", ".join(a["typologies"]) or "anomaly only"), _trafficking(a), window))
    out.append(_table(("rank", "alert", "account", "score", "typologies", "trafficking", "window"), rows,
                      numeric={"rank", "score"}, attrs=" id=\"alert-table\""))
    out.append("</section>\n")
    return "".join(out)


def _details(run: _Run) -> str:
    out = ["<section id=\"details\">\n<h2>Alert details</h2>\n"]
    shown = len(run.detailed)
    rest = run.n_alerts - shown
    if rest > 0:
        out.append(f"<p class=\"note\">The top {shown:,} alerts are detailed below; {rest:,} more "
                   f"{'is' if rest == 1 else 'are'} not detailed here (see alerts.parquet and evidence.parquet, "
                   "or <code>flowscan explain RUN_DIR ACCOUNT</code>).</p>\n")
    elif shown:
        out.append(f"<p class=\"note\">All {shown:,} alerts are detailed below.</p>\n")
    else:
        out.append("<p class=\"note\">No alert to detail.</p>\n")
    for alert, txns, figures in zip(run.detailed, run.txns, run.figures):
        out.append(_alert_section(run, alert, txns, figures))
    out.append("</section>\n")
    return "".join(out)


def _figure_job(alert, txns: list) -> tuple | None:
    """What the images of an alert are drawn from: its evidence transactions ``txns`` (the
    :data:`MAX_PLOTTED_TXNS` largest when there are more), account and window; None without
    evidence."""
    if not txns:
        return None
    if len(txns) > MAX_PLOTTED_TXNS:
        txns = sorted(txns, key=lambda t: (-_major(t), t["txn_id"]))[:MAX_PLOTTED_TXNS]
        txns.sort(key=lambda t: (t["timestamp"], t["txn_id"]))
    return txns, alert["account"], alert["window_start"], alert["window_end"]


def _draw(txns, account, window_start, window_end) -> tuple[bytes, bytes, str]:
    """The timeline PNG, the flow-graph PNG and the graph's note of one alert."""
    timeline = _timeline_png(txns, account, window_start, window_end)
    graph, note = _graph_png(txns, account)
    return timeline, graph, note


def _quiet_worker() -> None:
    """A worker ignores Ctrl-C (sent to the whole process group): the command handles it,
    cancels the jobs not started and stops the workers, and no worker prints a traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _figures(jobs: list, workers: int, *, draw_here: bool = True) -> list:
    """:func:`_draw` of every job (None stays None), in job order.

    Up to ``workers - 1`` spawned processes, one per :data:`ALERTS_PER_WORKER` jobs, take the
    jobs from the front while this one takes them from the back (a job not yet started is
    cancelled in the pool and drawn here; ``draw_here=False`` leaves every job to the pool, for
    tests), so neither waits for the other. Jobs of a pool that cannot start or breaks are drawn
    here."""
    results = [None] * len(jobs)
    todo = [i for i, job in enumerate(jobs) if job is not None]
    extra = min(workers - 1, len(todo) // ALERTS_PER_WORKER)
    if extra > 0:
        try:
            pool = ProcessPoolExecutor(max_workers=extra, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_quiet_worker)
        except (OSError, ValueError):
            pool = None
        if pool is not None:
            try:
                try:
                    futures = {i: pool.submit(_draw, *jobs[i]) for i in todo}
                except (BrokenProcessPool, OSError, RuntimeError):
                    futures = {}
                for i in reversed(todo) if draw_here else ():
                    if i in futures and futures[i].cancel():
                        results[i] = _draw(*jobs[i])
                for i, future in futures.items():
                    if results[i] is None:
                        try:
                            results[i] = future.result()
                        except (BrokenProcessPool, OSError):
                            pass  # drawn below
            finally:  # on an interrupt too: drop the jobs not started rather than wait for them
                pool.shutdown(wait=True, cancel_futures=True)
    for i in todo:
        if results[i] is None:
            results[i] = _draw(*jobs[i])
    return results


def _alert_section(run: _Run, alert, txns: list, figures) -> str:
    alert_id = alert["alert_id"]
    account = alert["account"]
    evidence = run.evidence.get(alert_id, [])
    out = [f"<article class=\"alert\" id=\"alert-{_e(alert_id)}\">\n",
           f"<h3>#{_int(alert['rank'])} <span class=\"mono\">{_e(account)}</span></h3>\n"]
    facts = [("alert id", f"<code>{_e(alert_id)}</code>"), ("score", _e(f"{alert['score']:.3f}"))]
    if alert.get("rule_score") is not None:
        facts.append(("rule score", _e(f"{alert['rule_score']:.3f}")))
    if alert.get("anomaly_pct") is not None:
        facts.append(("anomaly percentile", _e(f"{100 * alert['anomaly_pct']:.1f}")))
    facts.append(("typologies", _e(", ".join(alert["typologies"]) or "anomaly only")))
    if alert.get("scenarios"):
        facts.append(("scenarios", _e(", ".join(alert["scenarios"]))))
    if alert.get("trafficking"):
        facts.append(("trafficking", _trafficking(alert) + " " + _e(", ".join(alert.get("trafficking_typologies")
                                                                             or []))))
    window = (f"{_when(alert['window_start'])} &ndash; {_when(alert['window_end'])}" if alert["window_start"]
              else "&mdash; (raised by the anomaly score alone)")
    facts.append(("window", window))
    out.append(_table(("item", "value"), facts))

    out.append("<h4>Reasons</h4>\n")
    if alert["reasons"]:
        currencies = defaultdict(set)
        for row in evidence:
            currencies[row["instance_id"]].add(row["currency"])
        every = set().union(*currencies.values()) if currencies else set()
        groups: dict[tuple, list] = {}
        for r in alert["reasons"]:
            groups.setdefault((r.get("rule"), r.get("instance_id")), []).append(r)
        rows, total = [], 0
        for (rule, instance), reasons in groups.items():
            if total >= MAX_REASON_ROWS:
                break
            reasons = reasons[: MAX_REASON_ROWS - total]
            total += len(reasons)
            found = currencies.get(instance) or every
            currency = next(iter(found)) if len(found) == 1 else None
            for i, r in enumerate(reasons):
                cells = [f"<td>{_e(r.get('name'))}</td><td>{_e(r.get('op'))}</td>",
                         f"<td class=\"n\">{_e(_value(r.get('observed'), r.get('unit'), currency))}</td>",
                         f"<td class=\"n\">{_e(_value(r.get('threshold'), r.get('unit'), currency))}</td>",
                         f"<td>{_e(_unit(r.get('unit'), currency))}</td>"]
                if i == 0:
                    cells.insert(0, f"<td rowspan=\"{len(reasons)}\">{_e(rule)}<br>"
                                    f"<span class=\"mono\">{_e(instance)}</span></td>")
                rows.append("<tr>" + "".join(cells) + "</tr>")
        out.append("<table class=\"reasons\">\n<thead><tr><th>rule / instance</th><th>parameter</th><th>op</th>"
                   "<th class=\"n\">observed</th><th class=\"n\">threshold</th><th>unit</th></tr></thead>\n"
                   "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n")
        if len(alert["reasons"]) > total:
            out.append(f"<p class=\"note\">The first {total:,} of {len(alert['reasons']):,} reasons; the rest are in "
                       "alerts.parquet (column reasons).</p>\n")
    else:
        out.append("<p class=\"note\">No rule fired at this account: the alert comes from the anomaly score.</p>\n")

    features = alert.get("top_features") or []
    if features:
        out.append("<h4>Top features</h4>\n")
        rows = [(f"<code>{_e(f['name'])}</code>", _e(_number(f["value"])), _e(run.feature_units.get(f["name"], "")),
                 _e(_number(f["contribution"]))) for f in features]
        out.append(_table(("feature", "value", "unit", "contribution"), rows, numeric={"value", "contribution"}))

    out.append("<h4>Evidence</h4>\n")
    if not txns:
        out.append("<p class=\"note\">No evidence transaction is stored for this alert.</p>\n")
    else:
        if len(txns) > MAX_PLOTTED_TXNS:
            out.append(f"<p class=\"note\">{len(txns):,} evidence transactions; the timeline and the graph draw the "
                       f"{MAX_PLOTTED_TXNS:,} largest.</p>\n")
        else:
            out.append(f"<p class=\"note\">{len(txns):,} evidence transactions, all drawn.</p>\n")
        timeline, graph, graph_note = figures
        out.append("<div class=\"figs\">\n")
        out.append(_img(timeline, f"Timeline of the amounts of the evidence transactions of {account}",
                        TIMELINE_SIZE))
        out.append(_img(graph, f"Flow graph around {account}", GRAPH_SIZE))
        out.append("</div>\n")
        if graph_note:
            out.append(f"<p class=\"note\">{_e(graph_note)}</p>\n")
    out.append("</article>\n")
    return "".join(out)


def _img(png: bytes, alt: str, size) -> str:
    width, height = (round(v * DPI) for v in size)
    data = base64.b64encode(png).decode("ascii")
    return (f"<img src=\"data:image/png;base64,{data}\" width=\"{width}\" height=\"{height}\" "
            f"alt=\"{_e(alt)}\">\n")


# ---------------------------------------------------------------------------------------------
# values


def _number(value) -> str:
    if value is None:
        return ""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4g}" if abs(value) >= 1e6 else f"{value:.4g}"


def _money(minor, currency: str) -> str:
    digits = MINOR_DIGITS[currency]
    amount = Decimal(round(minor)).scaleb(-digits)
    return f"{amount:,.{digits}f}"


def _value(value, unit, currency) -> str:
    if value is None:
        return ""
    if unit == "minor":
        if currency in MINOR_DIGITS and math.isfinite(value):
            return _money(value, currency)
        return _number(value)
    if unit == "share":
        return f"{100 * value:.4g} %"
    if unit == "seconds":
        hours = value / 3600
        return f"{_number(value)} ({hours:.1f} h)" if value >= 3600 else _number(value)
    return _number(value)


def _unit(unit, currency) -> str:
    if unit == "minor":
        return currency if currency in MINOR_DIGITS else "minor units (mixed currencies)"
    return unit or ""


def _major(row) -> float:
    digits = MINOR_DIGITS.get(row["currency"], 0)
    return row["amount"] / 10**digits


# ---------------------------------------------------------------------------------------------
# images


def _unique_transactions(evidence):
    """Each evidence transaction once (a transaction may back several instances), by time."""
    seen = {}
    for row in evidence:
        seen.setdefault(row["txn_id"], row)
    return sorted(seen.values(), key=lambda t: (t["timestamp"], t["txn_id"]))


def _direction(row, account) -> str:
    if row["receiver"] == account:
        return "in"
    if row["sender"] == account:
        return "out"
    return "other"


@contextlib.contextmanager
def _style():
    """Matplotlib's default style (whatever the user's matplotlibrc says) with small fonts."""
    import matplotlib as mpl
    import matplotlib.style

    with matplotlib.style.context("default"), mpl.rc_context(_RC):
        yield


def _png(figure) -> bytes:
    """The figure as a PNG with a 64-colour palette (a third of the size of a true-colour PNG
    for these drawings) and no metadata chunk, so the bytes depend on the drawing only."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgb = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    palette = rgb.convert("RGB").quantize(colors=64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _timeline_png(txns, account, window_start, window_end) -> bytes:
    import matplotlib.dates as mdates
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullLocator

    with _style():
        figure = Figure(figsize=TIMELINE_SIZE, dpi=DPI)
        ax = figure.add_axes((0.1, 0.17, 0.88, 0.7))
        times = np.array([t["timestamp"].astimezone(timezone.utc).replace(tzinfo=None) for t in txns],
                         dtype="datetime64[us]")
        amounts = np.array([_major(t) for t in txns], dtype=np.float64)
        directions = np.array([_direction(t, account) for t in txns])
        if window_start is not None and window_end is not None:
            start, end = (np.datetime64(w.astimezone(timezone.utc).replace(tzinfo=None), "us")
                          for w in (window_start, window_end))
            ax.axvspan(mdates.date2num(start), mdates.date2num(end), color="#fff3c4", zorder=0,
                       label="alert window")
        for direction in ("in", "out", "other"):
            mask = directions == direction
            if mask.any():
                ax.scatter(mdates.date2num(times[mask]), amounts[mask], s=14, color=_COLORS[direction],
                           alpha=0.8, linewidths=0, label=_DIRECTION_LABEL[direction], zorder=2)
        positive = amounts[amounts > 0]
        if positive.size and positive.max() / positive.min() > 100:
            ax.set_yscale("log")
            ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(_compact))  # plain text: mathtext labels are slow
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        currencies = sorted({t["currency"] for t in txns})
        ax.set_ylabel(f"amount ({', '.join(currencies)})" if len(currencies) == 1
                      else f"amount (major units: {', '.join(currencies)})", parse_math=False)
        ax.set_xlabel("time (UTC)")
        ax.grid(True, color="#e0e0e0", linewidth=0.5)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4, frameon=False, borderaxespad=0.2)
        return _png(figure)


def _compact(value, _position=None) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _graph_png(txns, account):
    """The flow graph: the account in the centre, its counterparties on a circle (senders to
    it on the left, receivers on the right), one arrow per (sender, receiver) pair with a width
    growing with the amount. Returns the PNG and a note (or ``""``)."""
    import numpy as np
    from matplotlib.figure import Figure

    edges = defaultdict(lambda: [0, 0.0])
    for t in txns:
        key = (t["sender"] if t["sender"] is not None else _NO_SENDER,
               t["receiver"] if t["receiver"] is not None else _NO_RECEIVER)
        edges[key][0] += 1
        edges[key][1] += _major(t)
    flow = defaultdict(float)
    role = defaultdict(set)
    for (sender, receiver), (_, total) in edges.items():
        for node in (sender, receiver):
            if node != account:
                flow[node] += total
        if receiver == account and sender != account:
            role[sender].add("in")
        if sender == account and receiver != account:
            role[receiver].add("out")
    nodes = sorted(flow, key=lambda n: (-flow[n], n))
    note = ""
    if len(nodes) > MAX_GRAPH_NODES:
        note = (f"The flow graph draws the {MAX_GRAPH_NODES} counterparties with the largest flows of "
                f"{len(nodes):,}.")
        nodes = nodes[:MAX_GRAPH_NODES]

    def side(node):
        kinds = role.get(node, set())
        return 0 if kinds == {"in"} else 1 if kinds == {"in", "out"} else 2 if kinds == {"out"} else 3

    nodes.sort(key=lambda n: (side(n), n))
    n = len(nodes)
    position = {account: (0.0, 0.0)}
    for i, node in enumerate(nodes):
        angle = math.pi / 2 + 2 * math.pi * (i + 0.5) / max(n, 1)
        position[node] = (math.cos(angle), math.sin(angle))
    drawn = {(s, r): v for (s, r), v in edges.items() if s in position and r in position and s != r}
    largest = max((v[1] for v in drawn.values()), default=1.0) or 1.0

    with _style():
        figure = Figure(figsize=GRAPH_SIZE, dpi=DPI)
        ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_xlim(-1.55, 1.55)
        ax.set_ylim(-1.45, 1.45)
        ax.set_aspect("equal")
        ax.axis("off")
        for (sender, receiver), (count, total) in sorted(drawn.items()):
            direction = "in" if receiver == account else "out" if sender == account else "other"
            width = 0.6 + 3.0 * math.sqrt(max(total, 0.0) / largest)
            ax.annotate("", xy=position[receiver], xytext=position[sender], zorder=1,
                        arrowprops=dict(arrowstyle="-|>", color=_COLORS[direction], lw=width, alpha=0.7,
                                        shrinkA=7, shrinkB=7, mutation_scale=9,
                                        connectionstyle="arc3,rad=0.12"))
        xs = np.array([position[node][0] for node in nodes])
        ys = np.array([position[node][1] for node in nodes])
        colors = [("#1f77b4", "#9467bd", "#d62728", "#7f7f7f")[side(node)] for node in nodes]
        if n:
            ax.scatter(xs, ys, s=46, c=colors, edgecolors="white", linewidths=0.8, zorder=3)
        ax.scatter([0.0], [0.0], s=150, c="#000000", edgecolors="white", linewidths=1.0, zorder=4)
        ax.text(0.0, -0.13, _short(account, 24), ha="center", va="top", fontsize=8, fontweight="bold",
                zorder=5, parse_math=False,
                bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85))
        for node in nodes:
            x, y = position[node]
            label = _NODE_LABEL.get(node) or _short(node, 16)
            ax.text(1.08 * x, 1.08 * y, label, ha="left" if x > 0.05 else "right" if x < -0.05 else "center",
                    va="center", fontsize=6.5, zorder=5, parse_math=False)
        handles = [
            _legend_line("#1f77b4", "into the account"),
            _legend_line("#d62728", "out of the account"),
            _legend_line("#7f7f7f", "between counterparties"),
        ]
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.04), ncol=3, frameon=False)
        return _png(figure), note


def _legend_line(color, label):
    from matplotlib.lines import Line2D

    return Line2D([0], [0], color=color, lw=2, label=label)


def _short(text: str, limit: int) -> str:
    text = "".join(c if c.isprintable() else "?" for c in str(text))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
