"""The HTML run report: contents, escaping, determinism, no network, and a real headless browser."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flowscan.cli import app
from flowscan.errors import ConfigError, ConfigTypeError, DataError
from flowscan.options import ReadOptions
from flowscan.report import MAX_PLOTTED_TXNS, write_report
from flowscan.scan import ScanOptions, scan, write_run
from flowscan.score import AlertPolicy, ScoreOptions
from ledgers import write_csv

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_TIMEOUT_S = 900


def _find_chromium() -> str | None:
    explicit = os.environ.get("FLOWSCAN_CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a Chromium binary; installs Debian's ``chromium`` package when running as root
    with apt-get and none is found. Skips (with the reason) only where it cannot be installed."""
    found = _find_chromium()
    if found:
        return found
    if os.environ.get("FLOWSCAN_CHROMIUM"):
        pytest.skip(f"FLOWSCAN_CHROMIUM={os.environ['FLOWSCAN_CHROMIUM']} is not an executable")
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("chromium not found, and it cannot be installed here (needs root and apt-get): "
                    "apt-get install chromium, or set FLOWSCAN_CHROMIUM")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    start = time.monotonic()
    for command in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "chromium"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.skip(f"{' '.join(command)} took longer than {INSTALL_TIMEOUT_S} s")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            pytest.skip(f"{' '.join(command)} failed with exit code {done.returncode}: {' | '.join(tail)}")
    print(f"installed chromium in {time.monotonic() - start:.1f} s", file=sys.stderr)
    found = _find_chromium()
    if not found:
        pytest.skip("apt-get installed chromium but no chromium binary is on PATH")
    return found


def test_chromium_runs(chromium):
    done = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "Chromium" in done.stdout or "Chrome" in done.stdout


# ---------------------------------------------------------------------------------------------
# runs to report on

runner = CliRunner()
HUB = "<script>alert(1)</script>"
MATH = "$\\frac{a}{b}$"  # mathtext syntax: must be drawn as plain text, not parsed
QUOTED = 'Q"&\'x'
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAMPLE_DETAILED = 6


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "sample"
    outcome = runner.invoke(app, ["scan", "--sample", "--out", str(out), "--show", "0"])
    assert outcome.exit_code == 0, outcome.output
    return out


@pytest.fixture(scope="module")
def sample_report(sample_run):
    return write_report(sample_run, max_alerts=SAMPLE_DETAILED)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A hand-made run whose account ids carry HTML, mathtext and quotes: twelve senders pay
    the hub within a day (fan-in), the hub withdraws cash (no receiver); one row has a bad
    amount (rejected) and one is an exact duplicate (dropped)."""
    folder = tmp_path_factory.mktemp("hostile")
    senders = [MATH, QUOTED] + [f"S{i:02d}<b>" for i in range(10)]
    records = [(f"T{i:03d}", i, sender, HUB, f"{900 + i}.00", "USD", "wire", "<i>Branch</i>")
               for i, sender in enumerate(senders)]
    records += [(f"W{i:03d}", 14 + i, HUB, None, "4000.00", "USD", "cash", None) for i in range(3)]
    records += [("BAD001", 20, "S00<b>", HUB, "abc", "USD", "wire", None), records[0]]
    ledger = write_csv(folder / "ledger.csv", records)
    options = ScanOptions(read=ReadOptions(max_reject_rate=0.5),
                          score=ScoreOptions(policy=AlertPolicy(top_k=2, min_score=None)))
    return write_run(scan(ledger, options=options), folder / "run")


class _Page(HTMLParser):
    """The alert table's rows (cell texts), the <img> sources and the elements seen."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.rows, self.images, self.tags = [], [], []
        self._in_table = self._depth = 0
        self._row = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table" and attrs.get("id") == "alert-table":
            self._in_table = True
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._in_table and tag == "td":
            self._cell = []
        elif tag == "img":
            self.images.append(attrs)

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _png_size(src: str) -> tuple[int, int]:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    data = base64.b64decode(src[len(prefix):], validate=True)
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _expected_rows(run_dir):
    alerts = pq.read_table(run_dir / "alerts.parquet").to_pylist()
    return [[str(a["rank"]), a["alert_id"], a["account"], f"{a['score']:.3f}", ", ".join(a["typologies"]) or
             "anomaly only"] for a in alerts]


# ---------------------------------------------------------------------------------------------
# contents


def test_alert_table_lists_every_alert_in_rank_order(sample_run, sample_report):
    page = _Page(sample_report.read_text(encoding="utf-8"))
    expected = _expected_rows(sample_run)
    assert len(expected) > SAMPLE_DETAILED
    assert [row[:5] for row in page.rows] == expected
    alerts = pq.read_table(sample_run / "alerts.parquet").to_pylist()
    tags = [row[5] for row in page.rows]
    assert tags == [a["key_term"] if a["trafficking"] else "" for a in alerts]


def test_summary_carries_reconciliation_and_inputs_but_not_timings(sample_run, sample_report):
    text = sample_report.read_text(encoding="utf-8")
    manifest = json.loads((sample_run / "manifest.json").read_text())
    recon = manifest["reconciliation"]
    assert (f"rows read <strong>{recon['rows_read']:,}</strong> = accepted <strong>{recon['accepted']:,}</strong>"
            f" + rejected <strong>{recon['rejected']:,}</strong> + duplicates dropped "
            f"<strong>{recon['duplicates_dropped']:,}</strong>: <span class=\"ok\">reconciles</span>") in text
    assert manifest["config_sha256"] in text and manifest["inputs"][0]["sha256"] in text
    assert all(o["sha256"] in text for o in manifest["outputs"].values())
    assert f">{manifest['flowscan']}<" in text and manifest["time_range"][0] in text
    # timings vary between identical runs; the report of two identical runs must not
    assert "Timings" not in text and ">rule.structuring<" not in text


def test_top_alerts_are_detailed_and_the_rest_counted(sample_run, sample_report):
    text = sample_report.read_text(encoding="utf-8")
    alerts = pq.read_table(sample_run / "alerts.parquet").to_pylist()
    assert text.count("<article class=\"alert\"") == SAMPLE_DETAILED
    for alert in alerts[:SAMPLE_DETAILED]:
        assert f"<article class=\"alert\" id=\"alert-{alert['alert_id']}\">" in text
        assert f"<a href=\"#alert-{alert['alert_id']}\">" in text
    assert f"id=\"alert-{alerts[SAMPLE_DETAILED]['alert_id']}\"" not in text
    rest = len(alerts) - SAMPLE_DETAILED
    assert f"{rest:,} more are not detailed here" in text
    page = _Page(text)
    assert len(page.images) == 2 * SAMPLE_DETAILED
    for image in page.images:
        assert _png_size(image["src"]) == (int(image["width"]), int(image["height"]))


def test_money_reasons_are_in_major_units_of_the_evidence_currency(sample_run, sample_report):
    text = sample_report.read_text(encoding="utf-8")
    top = pq.read_table(sample_run / "alerts.parquet").to_pylist()[0]
    money = next(r for r in top["reasons"] if r["unit"] == "minor" and r["threshold"] is not None)
    observed, threshold = (f"{int(v) // 100:,}.{int(v) % 100:02d}" for v in (money["observed"], money["threshold"]))
    assert f"<td class=\"n\">{observed}</td><td class=\"n\">{threshold}</td><td>USD</td>" in text
    assert "<td>minor</td>" not in text


def test_report_is_offline_and_self_contained(sample_report, hostile_run):
    for path in (sample_report, write_report(hostile_run)):
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text
        assert "<script" not in text.lower() and "url(" not in text and "@import" not in text
        references = re.findall(r"\b(?:src|href)\s*=\s*\"([^\"]*)\"", text)
        assert references and all(r.startswith(("data:", "#")) for r in references)
        policy = re.search(r"<meta http-equiv=\"Content-Security-Policy\" content=\"([^\"]*)\">", text)
        assert "default-src 'none'" in html.unescape(policy.group(1))  # the page may fetch nothing at all


def test_hostile_ids_are_escaped_everywhere(hostile_run):
    text = write_report(hostile_run).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in text and "<b>" not in text and "<i>" not in text
    page = _Page(text)
    hub = next(row for row in page.rows if row[2] == HUB)  # the parser unescapes: the id round-trips
    assert hub[0] == "1"
    assert {"script", "b", "i"}.isdisjoint(page.tags)
    assert len(page.images) == 2 * len(page.rows)
    assert all(_png_size(image["src"]) for image in page.images)


def test_hostile_run_reconciles_with_a_reject_and_a_duplicate(hostile_run):
    text = write_report(hostile_run).read_text(encoding="utf-8")
    assert ("rows read <strong>17</strong> = accepted <strong>15</strong> + rejected <strong>1</strong> + "
            "duplicates dropped <strong>1</strong>") in text
    assert "<code>bad_amount</code>" in text


def test_same_run_directory_gives_byte_identical_report(hostile_run, tmp_path):
    first = write_report(hostile_run, out=tmp_path / "first.html").read_bytes()
    second = write_report(hostile_run, out=tmp_path / "second.html").read_bytes()
    assert first == second
    # a fresh process (matplotlib caches, font cache, import order) writes the same bytes
    done = subprocess.run([sys.executable, "-m", "flowscan", "report", str(hostile_run), "--out",
                           str(tmp_path / "third.html")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "third.html").read_bytes() == first


def test_max_alerts_and_default_target(hostile_run):
    target = write_report(hostile_run, max_alerts=1)
    assert target == hostile_run / "report.html"
    text = target.read_text(encoding="utf-8")
    assert text.count("<article class=\"alert\"") == 1 and "1 more is not detailed here" in text
    none = write_report(hostile_run, max_alerts=0).read_text(encoding="utf-8")
    assert "<article" not in none and "<img" not in none and len(_Page(none).rows) == 2
    assert not [p.name for p in hostile_run.iterdir() if p.name.endswith(".partial")]


def test_a_failed_render_keeps_the_old_report(hostile_run, monkeypatch):
    import flowscan.report as report_module

    target = write_report(hostile_run)
    before = target.read_bytes()

    def broken(run):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(report_module, "_details", broken)
    with pytest.raises(RuntimeError):
        write_report(hostile_run)
    assert target.read_bytes() == before
    assert not [p.name for p in hostile_run.iterdir() if p.name.endswith(".partial")]


def test_bad_arguments_and_not_a_run_directory(tmp_path, hostile_run):
    with pytest.raises(DataError, match="no manifest.json"):
        write_report(tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        write_report(tmp_path / "missing")
    with pytest.raises(ConfigError, match="'max_alerts' parameter of write_report must be a non-negative int"):
        write_report(hostile_run, max_alerts=-3)
    with pytest.raises(ConfigTypeError, match="must be an int. Got str instead"):
        write_report(hostile_run, max_alerts="5")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{}")
    (broken / "alerts.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="alerts.parquet: not a readable Parquet file"):
        write_report(broken)


def test_cli_report(hostile_run, tmp_path):
    target = tmp_path / "out" / "r.html"
    result = runner.invoke(app, ["report", str(hostile_run), "--out", str(target), "--max-alerts", "1"])
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.output and target.read_text().count("<article") == 1
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "flowscan: error:" in result.output and "no manifest.json" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["report", str(hostile_run), "--max-alerts", "-1"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["report", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_plotted_evidence_is_capped_and_said(sample_run, monkeypatch, tmp_path):
    import flowscan.report as report_module

    monkeypatch.setattr(report_module, "MAX_PLOTTED_TXNS", 5)
    text = write_report(sample_run, out=tmp_path / "capped.html", max_alerts=1).read_text(encoding="utf-8")
    assert "the timeline and the graph draw the 5 largest" in text
    assert MAX_PLOTTED_TXNS >= 100


# ---------------------------------------------------------------------------------------------
# a real headless browser

CONSOLE = re.compile(r":CONSOLE[:(]|Uncaught")


def _load(chromium: str, page: Path, profile: Path) -> tuple[str, list[str]]:
    """Open a page in headless Chromium; returns the DOM after load and the console lines."""
    done = subprocess.run(
        [chromium, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if CONSOLE.search(line)]


def test_console_check_catches_errors_and_blocked_fetches(chromium, tmp_path):
    """The browser check itself: a script error and a fetch blocked by the report's policy both show."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" "
                   "content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>"
                   "<img src=\"https://example.invalid/x.png\"><script>notDefined()</script></body></html>")
    _, console = _load(chromium, bad, tmp_path / "profile")
    assert any("Uncaught ReferenceError" in line for line in console)
    assert any("Content Security Policy" in line for line in console)


def test_report_renders_in_headless_chromium(chromium, sample_run, sample_report, tmp_path):
    dom, console = _load(chromium, sample_report, tmp_path / "profile")
    assert console == []
    page = _Page(dom)
    assert [row[:5] for row in page.rows] == _expected_rows(sample_run)
    assert len(page.images) == 2 * SAMPLE_DETAILED
    for image in page.images:
        assert _png_size(image["src"]) == (int(image["width"]), int(image["height"]))
    assert "reconciles" in dom


def test_hostile_report_runs_no_script_in_chromium(chromium, hostile_run, tmp_path):
    dom, console = _load(chromium, write_report(hostile_run), tmp_path / "profile")
    assert console == []
    page = _Page(dom)
    assert "script" not in page.tags and HUB in [row[2] for row in page.rows]
    assert all(_png_size(image["src"]) for image in page.images) and page.images


# ---------------------------------------------------------------------------------------------
# images drawn by worker processes


def _jobs(run_dir, n):
    import flowscan.report as report_module

    run = report_module._Run(Path(run_dir), n)
    unique = report_module._unique_transactions
    jobs = [report_module._figure_job(alert, unique(run.evidence.get(alert["alert_id"], ()))) for alert in run.detailed]
    assert sum(job is not None for job in jobs) >= 6
    return jobs


def test_images_drawn_by_worker_processes_are_the_same_bytes(sample_run, monkeypatch):
    import flowscan.report as report_module

    monkeypatch.setattr(report_module, "ALERTS_PER_WORKER", 3)  # two workers for seven alerts
    jobs = _jobs(sample_run, 7)
    here = report_module._figures(jobs, 1)
    assert report_module._figures(jobs, 3, draw_here=False) == here  # every image drawn by a spawned worker
    assert report_module._figures(jobs, 2) == here  # shared between this process and one worker


def test_a_pool_that_breaks_or_cannot_start_leaves_the_images_to_this_process(sample_run, monkeypatch):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    import flowscan.report as report_module

    monkeypatch.setattr(report_module, "ALERTS_PER_WORKER", 3)
    jobs = _jobs(sample_run, 7)
    here = report_module._figures(jobs, 1)
    shut = []

    class BrokenPool:
        def __init__(self, *args, **kwargs):
            pass

        def submit(self, fn, *args):
            future = Future()
            future.set_running_or_notify_cancel()
            future.set_exception(BrokenProcessPool("a worker died"))
            return future

        def shutdown(self, wait=True, cancel_futures=False):
            shut.append(cancel_futures)

    monkeypatch.setattr(report_module, "ProcessPoolExecutor", BrokenPool)
    assert report_module._figures(jobs, 2, draw_here=False) == here
    assert shut == [True]

    def cannot_start(*args, **kwargs):
        raise OSError("no more processes")

    monkeypatch.setattr(report_module, "ProcessPoolExecutor", cannot_start)
    assert report_module._figures(jobs, 2, draw_here=False) == here


def test_workers_are_started_for_enough_alerts_only(sample_run, monkeypatch):
    import flowscan.report as report_module

    started = []

    class CountingPool:
        def __init__(self, max_workers, mp_context, initializer=None):
            started.append(max_workers)
            raise OSError("not started in this test")

    monkeypatch.setattr(report_module, "ProcessPoolExecutor", CountingPool)
    monkeypatch.setattr(report_module, "ALERTS_PER_WORKER", 3)
    jobs = _jobs(sample_run, 7)[:6]
    assert len(report_module._figures(jobs[:2], 4)) == 2  # two alerts: no worker would pay for itself
    assert started == []
    report_module._figures(jobs, 8)  # six alerts, three per worker: two workers, not seven
    report_module._figures(jobs, 2)  # one CPU more: one worker
    assert started == [2, 1]


def test_report_workers_option_and_its_checks(sample_run, tmp_path, monkeypatch):
    one = tmp_path / "one.html"
    auto = tmp_path / "auto.html"
    result = runner.invoke(app, ["report", str(sample_run), "--out", str(one), "--max-alerts", "7",
                                 "--report-workers", "1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", str(sample_run), "--out", str(auto), "--max-alerts", "7",
                                 "--report-workers", "0"])  # 0: every CPU available
    assert result.exit_code == 0, result.output
    assert auto.read_bytes() == one.read_bytes()
    assert runner.invoke(app, ["report", str(sample_run), "--report-workers", "-1"]).exit_code == 2
    with pytest.raises(ConfigError, match="'workers' parameter of write_report must be at least 1"):
        write_report(sample_run, workers=0)
    with pytest.raises(ConfigTypeError, match="'workers' parameter of write_report must be an int"):
        write_report(sample_run, workers="2")


def _processes(*, parent: int | None = None, group: int | None = None) -> list[int]:
    """Live (not zombie) processes with this parent or in this process group, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if state != "Z" and (int(ppid) == parent or int(pgrp) == group):
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes in /proc (Linux)")
def test_sigterm_while_workers_draw_leaves_no_page_and_no_worker(sample_run, tmp_path):
    import signal

    target = tmp_path / "page.html"
    process = subprocess.Popen([sys.executable, "-m", "flowscan", "report", str(sample_run), "--out", str(target),
                                "--max-alerts", "40", "--report-workers", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    workers = []
    while not workers:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no worker process was started"
        workers = [pid for pid in _processes(parent=process.pid) if b"spawn_main" in _cmdline(pid)]
        time.sleep(0.01)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    stderr = process.stderr.read()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines() == [
        "flowscan: stopped by SIGTERM; no unfinished output was left in place"]
    assert list(tmp_path.iterdir()) == []  # no page, no temporary file
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # joined before the command ended
    # multiprocessing's resource tracker ends when the command's pipe to it closes (a zombie
    # until the system reaps it, which is not counted)
    deadline = time.monotonic() + 10
    while _processes(group=process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes(group=process.pid) == []
