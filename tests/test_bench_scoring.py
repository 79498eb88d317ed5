"""benchmarks/scoring.py (fitting, scoring and explaining many accounts per detector) runs end to
end on a small resample of the bundled sample. Nothing here asserts a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from flowscan.fixtures import SYNTHETIC_SAMPLE

REPO = Path(__file__).resolve().parents[1]


def test_every_detector_is_fitted_and_explained_on_the_resampled_accounts(tmp_path):
    out = tmp_path / "scoring.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.scoring", "--ledger",
                           str(SYNTHETIC_SAMPLE / "transactions.parquet"), "--accounts", "2500", "--runs", "1",
                           "--explain", "40", "--json", str(out)], capture_output=True, text=True, cwd=REPO,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(out.read_text())
    assert found["accounts"] == 2500 and found["drawn_from_accounts"] == 1235  # the sample's accounts
    assert found["features"] == len(found["columns"]) > 10
    assert [r["detector"] for r in found["results"]] == ["hbos", "iforest", "ecod", "copod", "ensemble"]
    for r in found["results"]:
        assert r["explained"] == 40 and r["fit_s"] > 0 and r["explain_s"] > 0 and r["peak_bytes"] > 0, r
    assert "| ensemble |" in done.stdout


def test_the_resample_is_seeded_and_has_no_identical_accounts():
    from benchmarks.scoring import matrix

    ledger = SYNTHETIC_SAMPLE / "transactions.parquet"
    first, columns, real = matrix(2000, ledger)
    again, _, _ = matrix(2000, ledger)
    assert first.shape == (2000, len(columns)) and real == 1235
    assert np.array_equal(first, again)  # the same seed, the same matrix
    assert len(np.unique(first, axis=0)) == 2000  # the jitter separates accounts drawn twice
