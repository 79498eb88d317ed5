"""Benchmark: ingest of a Parquet ledger to canonical form plus account index.

Each run is a fresh process (so peak memory is that run's own), reading a seeded synthetic
bank-export ledger (see :mod:`benchmarks.ledgers`). Reported per run: seconds for
``read_ledger`` (read, validate, ids, duplicates, sort) and ``build_index``, rows per second
end to end, peak resident memory and the size of the canonical columns. Numba compilation
is done before the clock starts (a warm-up on a tiny file) and reported apart. Medians over
``--runs``. A second input, the canonical Parquet written by ``flowscan ingest``, measures the
re-read of flowscan's own files.

    python -m benchmarks.ingest --rows 10000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CHANNELS = {"CASH DEP": "cash", "CASH WDL": "cash", "POS": "card"}

_CHILD = r"""
import json, resource, sys, time
import pyarrow.parquet as pq
t0 = time.perf_counter()
import flowscan
from flowscan.index import build_index
t_import = time.perf_counter() - t0
path, warm = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
flowscan.build_index(flowscan.read_ledger(warm, channel_map=%(channels)r).ledger)
t_compile = time.perf_counter() - t0
baseline = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
t0 = time.perf_counter()
result = flowscan.read_ledger(path, channel_map=%(channels)r)
t_read = time.perf_counter() - t0
t0 = time.perf_counter()
index = build_index(result.ledger)
t_index = time.perf_counter() - t0
print(json.dumps({
    "rows": result.report.rows_read, "accepted": result.report.accepted, "accounts": index.n_accounts,
    "import_s": t_import, "warmup_s": t_compile, "read_s": t_read, "index_s": t_index,
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would inherit the
    # parent's peak; VmHWM belongs to this process's own address space.
    "peak_rss_bytes": next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
                           if line.startswith("VmHWM:")),
    "baseline_rss_bytes": baseline,
    "canonical_bytes": result.ledger.nbytes,
    "input_bytes": __import__("os").path.getsize(path),
}))
""" % {"channels": CHANNELS}


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import numba
    import numpy
    import pyarrow

    import flowscan

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "pyarrow": pyarrow.__version__,
        "numba": numba.__version__,
        "numpy": numpy.__version__,
        "flowscan": flowscan.__version__,
        "load_average": os.getloadavg(),
    }


def run_once(path: Path, warm: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(warm)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarize(label: str, runs: list[dict]) -> dict:
    med = {k: statistics.median(r[k] for r in runs)
           for k in ("read_s", "index_s", "peak_rss_bytes", "baseline_rss_bytes", "warmup_s")}
    total = [r["read_s"] + r["index_s"] for r in runs]
    first = runs[0]
    return {
        "input": label,
        "rows": first["rows"],
        "accounts": first["accounts"],
        "runs": len(runs),
        "read_s": med["read_s"],
        "index_s": med["index_s"],
        "total_s": statistics.median(total),
        "total_s_min": min(total),
        "total_s_max": max(total),
        "rows_per_s": first["rows"] / statistics.median(total),
        "peak_rss_gib": med["peak_rss_bytes"] / 2**30,
        "canonical_gib": first["canonical_bytes"] / 2**30,
        "memory_ratio": med["peak_rss_bytes"] / first["canonical_bytes"],
        "baseline_gib": med["baseline_rss_bytes"] / 2**30,
        "memory_ratio_above_baseline": (med["peak_rss_bytes"] - med["baseline_rss_bytes"]) / first["canonical_bytes"],
        "warmup_s": med["warmup_s"],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the results as Markdown here (benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)

    from benchmarks.ledgers import write_ledger

    import flowscan

    DATA.mkdir(exist_ok=True)
    warm = write_ledger(DATA / "bank-export-1000.parquet", 1000)
    inputs = []
    for rows in args.rows:
        source = write_ledger(DATA / f"bank-export-{rows}.parquet", rows)
        canonical = DATA / f"canonical-{rows}.parquet"
        if not canonical.exists():
            flowscan.write_ledger(flowscan.read_ledger(source, channel_map=CHANNELS), canonical)
        inputs += [("bank export (decimal amounts, unsorted)", source), ("flowscan canonical (sorted)", canonical)]
    results = []
    for label, path in inputs:
        runs = [run_once(path, warm) for _ in range(args.runs)]
        summary = summarize(label, runs)
        results.append(summary)
        print(
            f"{label}: {summary['rows']:,} rows, median {summary['total_s']:.2f} s "
            f"(read {summary['read_s']:.2f} + index {summary['index_s']:.2f}; range {summary['total_s_min']:.2f}"
            f"-{summary['total_s_max']:.2f}), {summary['rows_per_s'] / 1e6:.2f} M rows/s, peak "
            f"{summary['peak_rss_gib']:.2f} GiB = {summary['memory_ratio']:.2f} x canonical columns "
            f"({summary['canonical_gib']:.2f} GiB), {summary['memory_ratio_above_baseline']:.2f} x above the "
            f"process baseline of {summary['baseline_gib']:.2f} GiB; warm-up incl. compile {summary['warmup_s']:.2f} s"
        )
    doc = {
        "benchmark": "ingest",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=HERE).stdout.strip(),
        "machine": machine(),
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(render(doc, argv if argv is not None else sys.argv[1:]))


def render(doc: dict, argv: list[str]) -> str:
    """The results as the Markdown section of benchmarks/RESULTS.md."""
    m = doc["machine"]
    lines = [
        "## Ingest: Parquet ledger to canonical form plus account index",
        "",
        f"Measured {doc['date']} at commit `{doc['commit']}` with "
        f"`python -m benchmarks.ingest {' '.join(argv)}`.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"pyarrow {m['pyarrow']}, numba {m['numba']}, numpy {m['numpy']}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average'])} (a shared machine).",
        "",
        "Each run is a fresh process; figures are medians of the runs, with the range of the end-to-end",
        "time. Compilation (Numba, cached on disk) happens in a warm-up before the clock starts.",
        "",
        "| input | rows | accounts | read + validate + sort (s) | index (s) | total (s), range | rows/s | peak RSS (GiB) | canonical columns (GiB) | peak / canonical | (peak - baseline) / canonical | warm-up (s) |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["results"]:
        lines.append(
            f"| {r['input']} | {r['rows']:,} | {r['accounts']:,} | {r['read_s']:.2f} | {r['index_s']:.2f} | "
            f"{r['total_s']:.2f} ({r['total_s_min']:.2f}-{r['total_s_max']:.2f}) | {r['rows_per_s'] / 1e6:.2f} M | "
            f"{r['peak_rss_gib']:.2f} | {r['canonical_gib']:.2f} | {r['memory_ratio']:.2f} | "
            f"{r['memory_ratio_above_baseline']:.2f} | {r['warmup_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
