"""benchmarks/compare.py (two installs side by side) runs end to end on the bundled sample.
Nothing here asserts a speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowscan.fixtures import SYNTHETIC_SAMPLE

REPO = Path(__file__).resolve().parents[1]


def test_compare_measures_both_installs_in_interleaved_runs(tmp_path):
    out = tmp_path / "compare.json"
    scratch = tmp_path / "tmp"  # the runs' own temporary directories go here
    scratch.mkdir()
    ledger = SYNTHETIC_SAMPLE / "transactions.parquet"
    done = subprocess.run([sys.executable, "-m", "benchmarks.compare", str(ledger), "--before", sys.executable,
                           "--after", sys.executable, "--runs", "1", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=900,
                          env=dict(os.environ, TMPDIR=str(scratch)))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"before", "after"}
    for name, summary in result["summary"].items():
        (sample,) = result["samples"][name]
        assert summary["wall_s"] == sample["wall_s"] > 0 and summary["peak_rss_bytes"] > 0
        assert {"read", "index", "score", "write"} <= set(summary["stages"]), name
        assert sum(summary["stages"].values()) < summary["wall_s"]  # the stages happen inside the run
    assert "| wall (s), median (range) |" in done.stdout and "| score |" in done.stdout
    assert list(scratch.iterdir()) == []  # every run's directory removed


def test_a_failed_run_says_so_and_removes_its_directory(tmp_path, monkeypatch):
    import tempfile

    from benchmarks.scan import run_once

    made = []
    real = tempfile.mkdtemp

    def recording(*args, **kwargs):
        made.append(Path(real(*args, dir=tmp_path, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", recording)
    with pytest.raises(SystemExit, match="flowscan scan failed"):
        run_once(SYNTHETIC_SAMPLE / "transactions.parquet", python="/bin/false")
    assert len(made) == 1 and made[0].name.startswith("flowscan-bench-")
    assert not made[0].exists()
