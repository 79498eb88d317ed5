"""Benchmark: fitting, scoring and explaining a million accounts, per detector (issue 8).

The detector's cost grows with the number of accounts, not of transactions, and a ledger with a
million accounts is tens of millions of rows. So the matrix is built from a real scan and
resampled: the feature table of a ledger (by default the 1M-row generated ledger, 13,709
accounts, :func:`benchmarks.kernels.ledger_path`) goes through the documented transforms
(:class:`flowscan.score.Transform`), and its rows are drawn with replacement to ``--accounts``
rows, with a seeded Gaussian jitter (standard deviation 0.01 in robust-scaled units) so that no
two accounts are identical. Each detector then runs in a fresh process (its own peak memory):

- ``fit``: :meth:`FittedDetector.fit` on every account (PyOD's ``fit``, its decision scores);
- ``percentile``: every account's mid-rank percentile (what the fusion reads);
- ``explain``: the per-feature contributions of the ``--explain`` top-scoring accounts (what an
  alert's ``top_features`` comes from: PyOD's per-feature scores for ECOD and COPOD, the
  perturbation method for the others), and the rate per account.

Peak memory is the child's ``VmHWM``, the matrix included (``accounts x features x 8`` bytes).
PyOD's import is timed apart. The seed and sizes are recorded in the JSON::

    python -m benchmarks.scoring --accounts 1000000 --json benchmarks/results/scoring-1m.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

DETECTOR_NAMES = ("hbos", "iforest", "ecod", "copod", "ensemble")
SEED = 20261129
JITTER = 0.01


def matrix(accounts: int, ledger: Path, seed: int = SEED) -> tuple[np.ndarray, list[str], int]:
    """The resampled matrix, its columns, and the number of real accounts it was drawn from."""
    import flowscan
    from flowscan.score.table import Transform, feature_table

    path = Path(ledger)
    reference = path.parent / "reference"
    run = flowscan.scan(path, reference=reference if reference.is_dir() else None)
    table = feature_table(run.read.ledger, flowscan.build_index(run.read.ledger), results=run.results)
    transform = Transform.fit(table)
    X = transform.apply(table)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, X.shape[0], accounts)
    big = X[rows] + rng.normal(0.0, JITTER, (accounts, X.shape[1]))
    return np.ascontiguousarray(big), list(transform.columns), X.shape[0]


def child(name: str, path: str, explain: int) -> dict:
    start = time.perf_counter()
    importlib.import_module("pyod")  # timed apart
    from flowscan.score.detectors import Detector, FittedDetector

    from .kernels import _status

    import_s = time.perf_counter() - start
    X = np.load(path)
    t = time.perf_counter()
    fitted = FittedDetector(Detector(name)).fit(X)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    fitted.percentile(fitted.decision_scores_)
    percentile_s = time.perf_counter() - t
    top = np.argsort(-fitted.decision_scores_, kind="stable")[:explain]
    t = time.perf_counter()
    contributions = fitted.contributions(X, top)
    explain_s = time.perf_counter() - t
    assert contributions.shape == (len(top), X.shape[1])
    return {"detector": name, "import_s": import_s, "fit_s": fit_s, "percentile_s": percentile_s,
            "explain_s": explain_s, "explained": int(len(top)), "peak_bytes": _status("VmHWM")}


def measure(accounts: int, explain: int, runs: int, ledger: Path) -> dict:
    X, columns, real = matrix(accounts, ledger)
    results = []
    with tempfile.TemporaryDirectory(prefix="flowscan-scoring-") as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        for name in DETECTOR_NAMES:
            samples = []
            for _ in range(runs):
                done = subprocess.run([sys.executable, "-m", "benchmarks.scoring", "--child", name, "--matrix", path,
                                       "--explain", str(explain)], capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{name}: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}")
                samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
            row = {"detector": name, "runs": runs, "explained": samples[0]["explained"]}
            for key in ("import_s", "fit_s", "percentile_s", "explain_s", "peak_bytes"):
                values = [s[key] for s in samples]
                row[key] = statistics.median(values)
                row[key.replace("_s", "") + "_range" if key.endswith("_s") else "peak_range"] = [min(values), max(values)]
            results.append(row)
            print(f"{name:9s} fit {row['fit_s']:.2f} s, percentile {row['percentile_s']:.3f} s, explain "
                  f"{row['explained']:,} accounts {row['explain_s']:.2f} s, peak {row['peak_bytes'] / 2**30:.2f} GiB",
                  flush=True)
    return {"accounts": accounts, "ledger": str(ledger), "features": len(columns), "columns": columns,
            "drawn_from_accounts": real,
            "seed": SEED, "jitter": JITTER, "explain": explain, "results": results}


def markdown(found: dict, command: str) -> str:
    import numba
    import pyod

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    lines = [
        f"Measured {datetime.now(timezone.utc).isoformat(timespec='seconds')} at commit `{commit}` with `{command}`.",
        f"Python {platform.python_version()}, PyOD {pyod.__version__}, numba {numba.__version__}, "
        f"{os.cpu_count()} CPUs; load average after {', '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        f"{found['accounts']:,} accounts x {found['features']} features, drawn from the {found['drawn_from_accounts']:,} "
        f"accounts of `{found['ledger']}` (seed {found['seed']}, jitter {found['jitter']}); median of "
        f"{found['results'][0]['runs']} "
        "fresh processes per detector (range).",
        "",
        f"| detector | fit (s) | accounts/s | percentiles (s) | explain top {found['explain']:,} (s) | "
        "explained accounts/s | peak memory (GiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in found["results"]:
        lines.append(
            f"| {r['detector']} | {r['fit_s']:.2f} ({r['fit_range'][0]:.2f}-{r['fit_range'][1]:.2f}) | "
            f"{found['accounts'] / r['fit_s']:,.0f} | {r['percentile_s']:.3f} | "
            f"{r['explain_s']:.3f} ({r['explain_range'][0]:.3f}-{r['explain_range'][1]:.3f}) | "
            f"{r['explained'] / r['explain_s']:,.0f} | {r['peak_bytes'] / 2**30:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--explain", type=int, default=1000, help="top-scoring accounts explained")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ledger", type=Path, help="ledger whose accounts are resampled (default: the 1M-row "
                        "generated ledger, made when missing)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--matrix", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.matrix, args.explain)))
        return
    command = "python -m benchmarks.scoring " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.ledger is None:
        from .kernels import ledger_path

        args.ledger = ledger_path(1_000_000)
    found = measure(args.accounts, args.explain, args.runs, args.ledger)
    if args.json:
        args.json.write_text(json.dumps(found, indent=1) + "\n")
    text = markdown(found, command.strip())
    if args.markdown:
        args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
