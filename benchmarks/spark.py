"""The local engine against the Spark engine on Spark local[2], on the same generated ledger (issue 7).

For each size, two child processes scan the generated ledger (``benchmarks.kernels.ledger_path``)
with the default configuration (every rule; ``ad_identifiers`` is skipped in both, as there is no
customer side table) and write a run directory:

- ``local``: ``flowscan.scan`` then ``flowscan.write_run``;
- ``spark``: a SparkSession on ``local[2]`` is started and runs one trivial job (the start-up
  cost, timed apart), then ``flowscan.spark.scan`` and ``write_run``.

Both warm Numba's cache on the bundled sample first (not timed). Reported per engine: wall time
of the scan, rows per second, the driver's peak RSS (Spark's Python workers are other processes,
not counted), and Spark's own stages (place, rules, peer rules, score). The run directories'
accounts, alerts and evidence files must be byte-identical. From the Spark run's rule stage,
a paper estimate of a 10-billion-row year on N executor cores.

    python -m benchmarks.spark --rows 1000000 10000000 --json benchmarks/results/spark.json \\
        --markdown /tmp/spark.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

YEAR_ROWS = 10_000_000_000


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _child(job: dict) -> dict:
    import flowscan
    from flowscan import spark as engine
    from flowscan.fixtures import SYNTHETIC_SAMPLE
    from flowscan.scan import ScanOptions, write_run

    options = ScanOptions()
    flowscan.scan(SYNTHETIC_SAMPLE / "transactions.parquet", options=options)  # Numba's cache, not timed
    out = Path(job["out"])
    doc: dict = {}
    if job["engine"] == "local":
        start = time.perf_counter()
        result = flowscan.scan(job["ledger"], options=options)
        doc["scan_s"] = time.perf_counter() - start
        doc["stages"] = dict(result.timings)
    else:
        start = time.perf_counter()
        session = engine.session("local[2]", **{"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                                                "spark.driver.memory": "6g"})
        session.sparkContext.setLogLevel("ERROR")
        session.range(1).count()
        doc["startup_s"] = time.perf_counter() - start
        start = time.perf_counter()
        found = engine.scan(job["ledger"], options=options, buckets=job.get("buckets"), spark=session)
        doc["scan_s"] = time.perf_counter() - start
        doc["stages"] = dict(found.timings)
        doc["buckets"], doc["bucket_rows"], doc["rows"] = found.buckets, found.bucket_rows, found.rows
        doc["placed_rows"] = found.placed_rows
        doc["placements"] = dict(found.placements)
        result = found.to_result()
    write_run(result, out, report_alerts=0)
    doc["peak_bytes"] = _peak_rss()
    doc["sha256"] = {name: hashlib.sha256((out / f"{name}.parquet").read_bytes()).hexdigest()
                     for name in ("accounts", "alerts", "evidence")}
    doc["alerts"] = result.alerts.num_rows
    return doc


def _run(engine_name: str, ledger: Path, buckets: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="flowscan-spark-bench-") as folder:
        job = {"engine": engine_name, "ledger": str(ledger), "out": str(Path(folder) / "run"), "buckets": buckets}
        env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
        done = subprocess.run([sys.executable, "-m", "benchmarks.spark", "--child", json.dumps(job)],
                              capture_output=True, text=True, env=env)
        if done.returncode:
            raise RuntimeError(f"{engine_name} run failed: {done.stderr.strip().splitlines()[-1:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def measure(sizes: list[int], runs: int, buckets: int | None) -> dict:
    from .kernels import ledger_path
    from .suite import _commit

    started = datetime.now(timezone.utc)
    commit = _commit()  # the code measured: taken before the runs, not after
    out = []
    for rows in sizes:
        ledger = ledger_path(rows)
        local = [_run("local", ledger, None) for _ in range(runs)]
        spark = [_run("spark", ledger, buckets) for _ in range(runs)]
        same = all(s["sha256"] == local[0]["sha256"] for s in local + spark)
        entry = {"rows_requested": rows, "ledger": str(ledger), "rows": spark[0]["rows"], "runs": runs,
                 "buckets": spark[0]["buckets"], "largest_bucket_rows": spark[0]["bucket_rows"],
                 "outputs_identical": same, "alerts": local[0]["alerts"],
                 "local": _summary(local), "spark": _summary(spark)}
        entry["spark"]["startup_s"] = statistics.median(r["startup_s"] for r in spark)
        entry["ratio_spark_over_local"] = entry["spark"]["scan_s"] / entry["local"]["scan_s"]
        # bucket work: the passes over the buckets (rules, peer rules, scatter-gather and cycles; "two_hop" was
        # scatter-gather's pass before cycles had one); local[2] runs at most two
        # buckets at once, so it is counted in core-seconds per ledger row
        bucket_s = sum(entry["spark"]["stages"].get(k, 0) for k in ("rules", "peer_rules", "two_hop",
                                                                           "scatter_gather", "cycles"))
        entry["placed_rows"] = spark[0]["placed_rows"]
        entry["placements"] = spark[0].get("placements", {})
        entry["bucket_core_s_per_row"] = bucket_s * min(2, entry["buckets"]) / entry["rows"]
        out.append(entry)
    return {"date": started.isoformat(timespec="seconds"), "commit": commit, "command": " ".join(sys.argv),
            "load_average_after": os.getloadavg(), "sizes": out}


def _summary(runs: list[dict]) -> dict:
    scan = [r["scan_s"] for r in runs]
    stages = {name: statistics.median(r["stages"][name] for r in runs) for name in runs[0]["stages"]}
    return {"scan_s": statistics.median(scan), "min_s": min(scan), "max_s": max(scan),
            "peak_bytes": statistics.median(r["peak_bytes"] for r in runs), "stages": stages}


def markdown(doc: dict) -> str:
    lines = [f"Measured {doc['date']} at commit `{doc['commit']}` with `{doc['command']}`; load average after "
             f"{', '.join(f'{x:.2f}' for x in doc['load_average_after'])}.", "",
             "| rows | engine | scan (s), median (range) | rows/s | driver peak RSS (GiB) | start-up (s) | stages (s) | "
             "outputs identical |", "|---:|---|---|---:|---:|---:|---|---|"]
    for s in doc["sizes"]:
        for name in ("local", "spark"):
            e = s[name]
            stages = ", ".join(f"{k} {v:.1f}" for k, v in e["stages"].items()) if name == "spark" else (
                f"rules {sum(v for k, v in e['stages'].items() if k.startswith('rule.')):.1f}, "
                f"score {e['stages'].get('score', 0):.1f}")
            lines.append(f"| {s['rows']:,} | {name}{' (local[2], %d buckets)' % s['buckets'] if name == 'spark' else ''} | "
                         f"{e['scan_s']:.1f} ({e['min_s']:.1f}-{e['max_s']:.1f}) | {s['rows'] / e['scan_s']:,.0f} | "
                         f"{e['peak_bytes'] / 2**30:.2f} | {e.get('startup_s', 0):.1f} | {stages} | "
                         f"{'yes' if s['outputs_identical'] else 'NO'} |")
    lines.append("")
    for s in doc["sizes"]:
        cost = s["bucket_core_s_per_row"]
        lines.append(f"- {s['rows']:,} rows: Spark / local = {s['ratio_spark_over_local']:.2f} (start-up apart). "
                     f"The buckets held {s['placed_rows'] / s['rows']:.2f} rows per ledger row; the passes over them "
                     f"cost {cost * 1e6:,.0f} core-microseconds per ledger row.")
        for rule, placement in s.get("placements", {}).items():
            lines.append(f"  - {rule}'s pass: {placement}.")
        for cores in (64, 256, 1024):
            hours = cost * YEAR_ROWS / cores / 3600
            lines.append(f"  - Paper estimate, a 10-billion-row year on {cores} executor cores: {hours:.1f} h of "
                         f"bucket work, if that cost per row holds (placement, shuffles and the driver apart).")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--buckets", type=int, default=None)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    doc = measure(args.rows, args.runs, args.buckets)
    text = markdown(doc)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
