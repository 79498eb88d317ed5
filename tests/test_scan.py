"""The run: `flowscan scan` writes a complete, deterministic run directory or nothing."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flowscan.cli import app
from flowscan.errors import ConfigError, DataError
from flowscan.fixtures import SYNTHETIC_SAMPLE
from flowscan.scan import ScanOptions, scan, write_run

scan_module = importlib.import_module("flowscan.scan")  # flowscan.scan is the function (flowscan.__init__)

runner = CliRunner()
SAMPLE = SYNTHETIC_SAMPLE / "transactions.parquet"
LABELS = SYNTHETIC_SAMPLE / "accounts_labels.parquet"
OUTPUTS = ("accounts.parquet", "alerts.parquet", "evidence.parquet", "rejects.parquet")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "first"
    result = runner.invoke(app, ["scan", "--sample", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_scan_writes_the_run_directory(sample_run):
    out, output = sample_run
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, "manifest.json", "report.html"])
    manifest = json.loads((out / "manifest.json").read_text())
    for name in OUTPUTS:
        assert manifest["outputs"][name]["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
        assert manifest["outputs"][name]["rows"] == pq.read_metadata(out / name).num_rows
    assert manifest["reconciliation"]["reconciles"] is True
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert manifest["inputs"][0]["time_range"] == manifest["time_range"]  # one input file
    accounts = pq.read_table(out / "accounts.parquet")
    assert accounts.column("rank").to_pylist() == list(range(1, accounts.num_rows + 1))
    alerts = pq.read_table(out / "alerts.parquet")
    assert alerts.num_rows == manifest["alerts"] == sum(accounts.column("alerted").to_pylist())
    assert f"{alerts.num_rows:,} alerts" in output
    evidence = pq.read_table(out / "evidence.parquet")
    assert set(evidence.column("alert_id").to_pylist()) <= set(alerts.column("alert_id").to_pylist())


def test_scan_is_byte_identical_on_a_rerun(sample_run, tmp_path):
    out, _ = sample_run
    again = tmp_path / "again"
    result = runner.invoke(app, ["scan", "--sample", "--out", str(again)])
    assert result.exit_code == 0, result.output
    for name in (*OUTPUTS, "report.html"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    first, second = (json.loads((d / "manifest.json").read_text()) for d in (out, again))
    first.pop("timings_seconds"), second.pop("timings_seconds")
    assert first == second


def test_evaluate_reads_the_run_and_the_fixture_labels(sample_run, tmp_path):
    out, _ = sample_run
    target = tmp_path / "evaluation.json"
    result = runner.invoke(app, ["evaluate", str(out), "--labels", str(LABELS), "--k", "50", "--json", str(target)])
    assert result.exit_code == 0, result.output
    assert "average precision" in result.output and "structuring" in result.output
    figures = json.loads(target.read_text())
    assert figures["at_k"][0]["k"] == 50
    assert 0.0 < figures["average_precision"] <= 1.0


TOP_SHARE = 0.05
"""Issue 8's floor: the planted human-trafficking profiles that have a rule rank in the top 5 %."""

PLANTED_RULE = {"structuring": "structuring", "funnel": "funnel_account", "pass_through": "rapid_movement"}
"""Each planted type of issue 8's floor and the typology of the rule that must find it. (The
sample's two planted fan-ins have 4 and 6 payers, under the fan-in rule's default of 10 distinct
senders: the rule does not find them, a known gap of issue 8.)"""


def _outside_top_share(accounts: dict, labels: list, typologies) -> dict:
    cut = TOP_SHARE * len(accounts)
    low = {}
    for typology in typologies:
        planted = [r["account"] for r in labels if typology in r["typologies"] and r["account"] in accounts]
        assert planted, typology
        ranks = [accounts[a]["rank"] for a in planted if accounts[a]["rank"] > cut]
        if ranks:
            low[typology] = ranks
    return low


def test_planted_trafficking_profiles_rank_in_the_top_share(sample_run):
    """The default run (core rules and the human-trafficking pack): planted structuring and
    funnel accounts rank in the top 5 %; every planted structuring, funnel and pass-through
    account is found by its rule. The pack moves five more planted trafficking accounts
    (pooled wages, cash without payroll, late-night cash) and two look-alikes above the last
    pass-through member, which ranks just outside the top 5 % (benchmarks/RESULTS.md); the
    rank floor of the core rules alone is kept below."""
    out, _ = sample_run
    labels = pq.read_table(LABELS).to_pylist()
    accounts = {r["account"]: r for r in pq.read_table(out / "accounts.parquet").to_pylist()}
    assert _outside_top_share(accounts, labels, ("structuring", "funnel")) == {}
    instances = pq.read_table(SYNTHETIC_SAMPLE / "instances.parquet").to_pylist()
    for planted_type, typology in PLANTED_RULE.items():
        planted = [i for i in instances if i["typology"] == planted_type]
        assert planted, planted_type
        anchors = [a for i in planted for a in i["accounts"]]
        missed = [a for a in anchors if typology not in accounts[a]["typologies"]]
        assert not missed, f"{len(missed)} of {len(anchors)} planted {planted_type} accounts without a {typology} instance"


def test_core_rules_alone_keep_every_planted_profile_in_the_top_share():
    """Issue 8's floor as it was set, on the ranking of the core rules without the pack:
    planted structuring, funnel and pass-through accounts all rank in the top 5 %."""
    from flowscan.rules import PACK

    result = scan(SAMPLE, options=ScanOptions(skip=tuple(PACK)))
    labels = pq.read_table(LABELS).to_pylist()
    accounts = {r["account"]: r for r in result.accounts.to_pylist()}
    assert _outside_top_share(accounts, labels, ("structuring", "funnel", "pass_through")) == {}


def test_existing_output_is_refused_and_kept(sample_run):
    out, _ = sample_run
    before = (out / "accounts.parquet").read_bytes()
    result = runner.invoke(app, ["scan", "--sample", "--out", str(out)])
    assert result.exit_code == 2
    assert "exists" in result.output
    assert (out / "accounts.parquet").read_bytes() == before


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    result = scan(SAMPLE)
    calls = []
    real = scan_module.pq.write_table

    def failing(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(table, where, **kwargs)

    monkeypatch.setattr(scan_module.pq, "write_table", failing)
    with pytest.raises(DataError, match=r"run: cannot write the run directory \(No space left on device\); nothing"):
        write_run(result, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_input_fails_with_one_line_and_no_output(tmp_path):
    bad = tmp_path / "ledger.parquet"
    bad.write_bytes(SAMPLE.read_bytes()[:5000])
    out = tmp_path / "run"
    result = runner.invoke(app, ["scan", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and str(bad) in result.output
    assert not out.exists()


def test_config_file(tmp_path):
    config = tmp_path / "rules.toml"
    config.write_text(
        '[rules]\nskip = ["cycles"]\n[rules.fan_in]\nmin_counterparties = 12\n'
        '[score.detector]\nname = "iforest"\n[score.policy]\ntop_k = 20\nmin_score = 0.3\n'
    )
    options = ScanOptions.from_toml(config)
    assert options.skip == ("cycles",) and options.rules["fan_in"].min_counterparties == 12
    assert options.score.detector.name == "iforest" and options.score.policy.top_k == 20
    assert options.config_hash() != ScanOptions().config_hash()
    config.write_text("[score.policy]\ntop_kk = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key score.policy.top_kk"):
        ScanOptions.from_toml(config)
    config.write_text("[score.fusion]\nanomaly_weight = 3\n")
    with pytest.raises(ConfigError, match=r"rules.toml: The 'anomaly_weight' parameter of Fusion"):
        ScanOptions.from_toml(config)
    result = runner.invoke(app, ["scan", "--sample", "--config", str(config), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "anomaly_weight" in result.output
    assert not (tmp_path / "r").exists()


def test_relationships_group_linked_accounts(tmp_path):
    accounts = pq.read_table(SAMPLE, columns=["receiver"]).column("receiver").drop_null().unique().to_pylist()
    a, b = sorted(accounts)[:2]
    side = tmp_path / "kyc.csv"
    side.write_text(f"account,phone\n{a},+1 (555) 010-0000\n{b},+15550100000\n")
    result = scan(SAMPLE, relationships=side)
    rows = {r["account"]: r for r in result.accounts.to_pylist()}
    assert rows[a]["group_id"] == rows[b]["group_id"] == f"G:{a}" and rows[a]["group_size"] == 2
    assert rows[a]["linked_by"] == ["phone"]
    group = [g for g in result.groups.to_pylist() if g["group_id"] == f"G:{a}"][0]
    assert group["members"] == [a, b]
    assert group["group_score"] == max(rows[a]["score"], rows[b]["score"])
    write_run(result, tmp_path / "run", report_alerts=0)
    assert (tmp_path / "run" / "groups.parquet").exists() and not (tmp_path / "run" / "report.html").exists()


def test_progress_callback_sees_every_stage_in_order():
    seen = []
    result = scan(SAMPLE, progress=lambda stage, i, n: seen.append((stage, i, n)))
    stages = [s for s, _, _ in seen]
    assert stages[:2] == ["read", "index"] and stages[-1] == "score"
    assert [i for _, i, _ in seen] == list(range(len(seen))) and {n for _, _, n in seen} == {len(seen)}
    assert set(result.timings) == set(stages)


def test_quiet_prints_nothing_and_verbose_prints_stage_seconds(tmp_path):
    quiet = runner.invoke(app, ["scan", "--sample", "--out", str(tmp_path / "q"), "-q", "--report-alerts", "0"])
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert (tmp_path / "q" / "alerts.parquet").exists()
    loud = runner.invoke(app, ["scan", "--sample", "--out", str(tmp_path / "v"), "-v", "--report-alerts", "0"])
    assert loud.exit_code == 0
    assert "rule.structuring" in loud.stderr and "rule.structuring" not in loud.stdout
    both = runner.invoke(app, ["scan", "--sample", "--out", str(tmp_path / "b"), "-q", "-v"])
    assert both.exit_code == 2 and not (tmp_path / "b").exists()


def test_failed_overwrite_keeps_the_old_run_whole(sample_run, tmp_path, monkeypatch):
    out, _ = sample_run
    target = tmp_path / "kept"
    shutil.copytree(out, target)
    before = sorted(p.name for p in target.iterdir())
    result = scan(SAMPLE)
    real = os.replace
    calls = []

    def failing(src, dst):
        calls.append(dst)
        if Path(dst) == target and Path(src).name.endswith(".partial"):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(scan_module.os, "replace", failing)
    with pytest.raises(DataError, match="cannot write the run directory"):
        write_run(result, target, overwrite=True, report_alerts=0)
    assert sorted(p.name for p in target.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
