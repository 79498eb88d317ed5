"""benchmarks/compare.py (two installs side by side) runs end to end on the bundled sample.
Nothing here asserts a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flowscan.fixtures import SYNTHETIC_SAMPLE

REPO = Path(__file__).resolve().parents[1]


def test_compare_measures_both_installs_in_interleaved_runs(tmp_path):
    out = tmp_path / "compare.json"
    ledger = SYNTHETIC_SAMPLE / "transactions.parquet"
    done = subprocess.run([sys.executable, "-m", "benchmarks.compare", str(ledger), "--before", sys.executable,
                           "--after", sys.executable, "--runs", "1", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"before", "after"}
    for name, summary in result["summary"].items():
        (sample,) = result["samples"][name]
        assert summary["wall_s"] == sample["wall_s"] > 0 and summary["peak_rss_bytes"] > 0
        assert {"read", "index", "score", "write"} <= set(summary["stages"]), name
        assert sum(summary["stages"].values()) < summary["wall_s"]  # the stages happen inside the run
    assert "| wall (s), median (range) |" in done.stdout and "| score |" in done.stdout
    assert not list(Path(tmp_path).glob("flowscan-compare-*"))
