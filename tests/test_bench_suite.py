"""The benchmark suite's smoke profile runs end to end (issue 6): every stage measured, the
quality figure beside the speed, the peers checked equal to flowscan, the plot written.
Nothing here asserts a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowscan.rules import ALL_RULES, PACK_OPTIONS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    pytest.importorskip("duckdb", reason="the peers need the test extra (duckdb, polars)")
    pytest.importorskip("polars", reason="the peers need the test extra (duckdb, polars)")
    out = tmp_path_factory.mktemp("suite")
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--profile", "smoke", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads((out / "smoke.json").read_text())


def test_every_stage_is_measured_with_time_and_memory(smoke):
    _, doc = smoke
    (size,) = doc["sizes"]
    # every rule runs but the watch-list join, which needs a customer side table the suite does not give
    rules = [name for name in ALL_RULES if "relationships" not in getattr(PACK_OPTIONS.get(name), "NEEDS", ())]
    expected = {"read", "index", *(f"rule.{name}" for name in rules), "score", "explain", "write", "report"}
    assert set(size["stages"]) == expected
    for name, stage in size["stages"].items():
        assert stage["seconds"] > 0 and stage["peak_bytes"] > 0, name
        assert stage["min_s"] <= stage["seconds"] <= stage["max_s"], name
    assert size["rows"] > 10_000 and size["total_s"] >= max(s["seconds"] for s in size["stages"].values())


def test_quality_is_in_the_same_results(smoke):
    _, doc = smoke
    (size,) = doc["sizes"]
    assert size["positives"] > 0
    assert 0 < size["precision_at_100"] <= 1 and 0 < size["average_precision"] <= 1
    assert size["quality_identical_across_runs"]


def test_peers_ran_and_equal_flowscan(smoke):
    _, doc = smoke
    (size,) = doc["sizes"]
    assert set(size["peers"]) == {"structuring", "fan_in", "rapid_movement"}
    for rule, engines in size["peers"].items():
        assert {"flowscan", "duckdb", "polars"} <= set(engines), rule
        for engine, result in engines.items():
            assert result["seconds"] is not None, (rule, engine, result["error"])
            if engine != "flowscan":
                assert result["equal"] is True, (rule, engine)


def test_floor_and_outputs(smoke):
    out, doc = smoke
    assert doc["memory_bandwidth"]["median"] > 1e8  # bytes per second; a measurement, not a speed claim
    (size,) = doc["sizes"]
    assert size["stages"]["index"]["floor_s"] > 0
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "smoke.md").read_text()
    assert "| **end to end** |" in text and "equal to flowscan" in text
