"""Benchmark: two flowscan installs side by side, ``flowscan scan`` end to end, runs interleaved.

Speed measured in different sessions on this shared machine is not comparable (the same commit
took 122 s at 10M rows in one session and 77 s in another), so a change is measured against the
code before it in the same session: each install runs the command in fresh processes under
``/usr/bin/time -v`` (wall time, peak resident memory), one warm-up run each first (Numba cache,
page cache), then ``--runs`` rounds of before, after. Stage seconds come from each run's
manifest. The runs start in the temporary directory, so each Python imports its own install
(not the checkout's ``flowscan/``)::

    git worktree add /tmp/before COMMIT && python3 -m venv /tmp/venv-before
    /tmp/venv-before/bin/pip install /tmp/before
    python -m benchmarks.compare LEDGER --before /tmp/venv-before/bin/python \\
        --after .venv/bin/python --runs 3 --json result.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from .scan import run_once


def compare(ledger: str, pythons: dict[str, str], runs: int) -> dict:
    for python in pythons.values():
        run_once(ledger, python, cwd=tempfile.gettempdir())  # warm-up, not counted
    samples: dict[str, list[dict]] = {name: [] for name in pythons}
    for i in range(runs):
        for name, python in pythons.items():
            samples[name].append(run_once(ledger, python, cwd=tempfile.gettempdir()))
            print(f"{name} run {i + 1}: {samples[name][-1]['wall_s']:.1f} s", flush=True)
    summary = {}
    for name, found in samples.items():
        walls = [s["wall_s"] for s in found]
        summary[name] = {
            "wall_s": statistics.median(walls), "wall_range": [min(walls), max(walls)],
            "peak_rss_bytes": statistics.median(s["peak_rss_bytes"] for s in found),
            "stages": {k: statistics.median(s["stages"].get(k, 0.0) for s in found) for k in found[0]["stages"]},
        }
    return {"ledger": ledger, "runs": runs, "pythons": pythons, "summary": summary, "samples": samples}


def markdown(result: dict) -> str:
    before, after = result["summary"]["before"], result["summary"]["after"]
    lines = ["| | before | after |", "|---|---:|---:|",
             f"| wall (s), median (range) | {before['wall_s']:.1f} ({before['wall_range'][0]:.1f}-"
             f"{before['wall_range'][1]:.1f}) | {after['wall_s']:.1f} ({after['wall_range'][0]:.1f}-"
             f"{after['wall_range'][1]:.1f}) |",
             f"| peak RSS (GiB) | {before['peak_rss_bytes'] / 2**30:.2f} | {after['peak_rss_bytes'] / 2**30:.2f} |"]
    for stage in before["stages"]:
        lines.append(f"| {stage} | {before['stages'][stage]:.2f} | {after['stages'].get(stage, 0.0):.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ledger")
    parser.add_argument("--before", required=True, help="the Python of the install before the change")
    parser.add_argument("--after", required=True, help="the Python of the install after it")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    ledger = str(Path(args.ledger).resolve())  # the runs start in the temporary directory
    result = compare(ledger, {"before": args.before, "after": args.after}, args.runs)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
