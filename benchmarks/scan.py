"""Benchmark: the whole compliance run, ``flowscan scan``, end to end on generated ledgers.

Each run is the command itself in a fresh process under ``/usr/bin/time -v`` (wall time and
peak resident memory), writing a full run directory (Parquet outputs, manifest, report of the
top 25 alerts). Stage seconds come from the run's own manifest (``timings_seconds``), plus the
report, which is written after the manifest. Numba compiles are cached on disk by a warm-up run
first; the first-run compile cost is in ``flowscan warmup`` and benchmarks/RESULTS.md.
Ledgers are the kernel benchmark's (:func:`benchmarks.kernels.ledger_path`: the fixtures
generator's ``large`` spec scaled to the size), cached in benchmarks/data/.

    python -m benchmarks.scan --rows 1000000 10000000 --runs 3 --markdown section.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from .kernels import ledger_path

HERE = Path(__file__).resolve().parent


def run_once(path: Path, python: str = sys.executable, cwd: str | None = None) -> dict:
    """One ``flowscan scan`` of ``path`` by ``python`` in a fresh process under ``/usr/bin/time -v``,
    started in ``cwd`` (this process's own by default)."""
    out = Path(tempfile.mkdtemp(prefix="flowscan-bench-")) / "run"
    try:
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-v", python, "-m", "flowscan", "scan", str(path), "--out",
                               str(out), "--quiet"], capture_output=True, text=True, cwd=cwd)
        wall = time.perf_counter() - start
        if done.returncode != 0:  # its own lines, not /usr/bin/time's report after them
            said = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("\t")
                    and not line.startswith("Command exited")]
            raise SystemExit(f"{python}: flowscan scan failed: {said[-1] if said else done.returncode}")
        peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
        manifest = json.loads((out / "manifest.json").read_text())
        return {"wall_s": wall, "peak_rss_bytes": peak_kib * 1024, "stages": manifest["timings_seconds"],
                "rows": manifest["reconciliation"]["rows_read"], "accounts": manifest["accounts"],
                "alerts": manifest["alerts"]}
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def measure(sizes: list[int], runs: int) -> list[dict]:
    results = []
    for rows in sizes:
        path = ledger_path(rows)
        run_once(path)  # warm the Numba cache and the page cache; not counted
        samples = [run_once(path) for _ in range(runs)]
        walls = [s["wall_s"] for s in samples]
        stages = {k: statistics.median(s["stages"].get(k, 0.0) for s in samples) for k in samples[0]["stages"]}
        results.append({
            "target_rows": rows, "rows": samples[0]["rows"], "accounts": samples[0]["accounts"],
            "alerts": samples[0]["alerts"], "wall_s": statistics.median(walls), "wall_range": [min(walls), max(walls)],
            "rows_per_s": samples[0]["rows"] / statistics.median(walls),
            "peak_rss_bytes": statistics.median(s["peak_rss_bytes"] for s in samples), "stages": stages,
        })
        print(json.dumps(results[-1]), flush=True)
    return results


def markdown(results: list[dict], command: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    lines = [
        f"Measured {datetime.now(timezone.utc).isoformat(timespec='seconds')} at commit `{commit}` with `{command}`; "
        f"Python {platform.python_version()}, {os.cpu_count()} cores, load average at the end "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        "",
        "| rows | accounts | alerts | wall (s), median (range) | rows/s | peak RSS (GiB) |",
        "|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['rows']:,} | {r['accounts']:,} | {r['alerts']:,} | {r['wall_s']:.1f} "
                     f"({r['wall_range'][0]:.1f}-{r['wall_range'][1]:.1f}) | {r['rows_per_s'] / 1e6:.2f} M | "
                     f"{r['peak_rss_bytes'] / 2**30:.2f} |")
    stages = list(results[0]["stages"])
    lines += ["", "Median seconds per stage (from each run's manifest; the report is written after it and "
              "is inside the wall time only):", "",
              "| stage | " + " | ".join(f"{r['rows']:,} rows" for r in results) + " |",
              "|---|" + "---:|" * len(results)]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{r['stages'].get(stage, 0.0):.2f}" for r in results) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    command = "python -m benchmarks.scan " + " ".join(sys.argv[1:] if argv is None else argv)
    results = measure(args.rows, args.runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results, command.strip())
    if args.markdown:
        args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
