"""flowscan explain: the evidence pack of an account, from the run directory alone."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flowscan.cli import app
from flowscan.errors import ConfigError, DataError
from flowscan.explain import DISCLAIMER, RunTables, explain, major, rule_source
from flowscan.scan import ScanOptions, scan, write_run
from flowscan.score import AlertPolicy, ScoreOptions
from ledgers import write_csv

runner = CliRunner()
KEY_TERM = "HUMAN TRAFFICKING FIN-2020-A008"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("explain") / "run"
    outcome = runner.invoke(app, ["scan", "--sample", "--out", str(out), "--show", "0", "--report-alerts", "0"])
    assert outcome.exit_code == 0, outcome.output
    return out


@pytest.fixture(scope="module")
def top(run):
    return pq.read_table(run / "alerts.parquet").to_pylist()[0]


def test_top_alert_pack_on_the_terminal(run, top):
    assert top["trafficking"] and top["key_term"] == KEY_TERM  # the sample's top alert is a planted profile
    outcome = runner.invoke(app, ["explain", str(run), top["account"], "--max-evidence", "5"])
    assert outcome.exit_code == 0, outcome.output
    text = outcome.stdout
    for heading in ("## Who", "## What", "## When", "## Where", "## Why", "## How", "## Evidence"):
        assert heading in text
    assert f"Suggested key term: {KEY_TERM}" in text
    assert "flowscan suggests; it never files" in text and "analyst must verify" in text
    assert f"rank 1 of {pq.read_metadata(run / 'accounts.parquet').num_rows:,}" in text
    assert top["alert_id"] in text
    # every tested reason is shown with its threshold
    pack = explain(run, top["account"])
    tested = [c for inst in pack.why for c in inst["conditions"] if c["tested"]]
    assert tested and all(c["text"] in text and f" {c['op']} " in c["text"] for c in tested)
    assert sum(len(inst["conditions"]) for inst in pack.why) == len(top["reasons"])
    # the evidence table: 5 rows listed, the rest counted
    rows = [line for line in text.splitlines() if line.startswith("| 20")]
    assert len(rows) == 5
    assert f"and {pack.evidence_total - 5:,} more transaction(s)" in text
    assert outcome.stderr == ""


def test_pack_content_matches_the_run(run, top):
    pack = explain(run, top["account"])
    evidence = [r for r in pq.read_table(run / "evidence.parquet").to_pylist() if r["alert_id"] == top["alert_id"]]
    txns = {r["txn_id"]: r for r in evidence}
    assert pack.evidence_total == len(txns) and len(pack.evidence) == min(50, len(txns))
    times = [t["timestamp"] for t in pack.evidence]
    assert times == sorted(times)
    assert pack.when["first_evidence"] == min(r["timestamp"] for r in evidence).isoformat()
    assert pack.when["window_start"] == top["window_start"].isoformat()
    received = sum(r["amount"] for r in txns.values() if r["receiver"] == top["account"] and r["currency"] == "USD")
    assert pack.what["totals"]["received"]["USD"] == major(received, "USD")
    assert [inst["instance_id"] for inst in pack.why] == top["instance_ids"]
    published = ("FinCEN", "FATF", "FINTRAC", "watch-list")  # advisories, reports, or the user's ad watch-list
    assert all(inst["source"] and any(p in inst["source"] for p in published) for inst in pack.why)
    assert {inst["role"] for inst in pack.why} <= {"anchored", "counterparty"}
    assert pack.key_term == KEY_TERM and pack.what["scenarios"] == top["scenarios"]
    data = json.loads(pack.to_json())
    assert data["disclaimer"] == DISCLAIMER and data["alert_id"] == top["alert_id"]


def test_non_alerted_account(run):
    accounts = pq.read_table(run / "accounts.parquet").to_pylist()
    quiet = next(a for a in accounts if not a["alerted"])
    outcome = runner.invoke(app, ["explain", str(run), quiet["account"]])
    assert outcome.exit_code == 0, outcome.output
    assert "Not alerted" in outcome.stdout and f"Rank {quiet['rank']:,} of {len(accounts):,}" in outcome.stdout
    assert KEY_TERM not in outcome.stdout and "## Evidence" not in outcome.stdout
    pack = explain(run, quiet["account"])
    assert not pack.alerted and pack.alert_id is None and pack.evidence == []
    assert pack.what["activity"]["n_in"]["value"] == quiet["n_in"]
    json.loads(pack.to_json())  # NaN features become null


def test_tables_read_once_give_the_same_packs(run, tmp_path):
    """Explaining many accounts from one RunTables reads each file once and gives, account by
    account, what a fresh read gives (alerted, counterparty-only and quiet accounts)."""
    accounts = pq.read_table(run / "accounts.parquet").to_pylist()
    evidence = pq.read_table(run / "evidence.parquet")
    alerted = [a["account"] for a in accounts if a["alerted"]][:5]
    named = sorted(set(evidence.column("sender").to_pylist()) - set(alerted) - {None})[:3]
    quiet = [a["account"] for a in accounts if not a["alerted"]][-3:]
    tables = RunTables(run)
    for account in alerted + named + quiet:
        assert explain(run, account, tables=tables).to_json() == explain(run, account).to_json()
    assert set(tables._tables) == {"accounts.parquet", "alerts.parquet", "evidence.parquet"}
    with pytest.raises(ConfigError, match="another run directory"):
        explain(run, alerted[0], tables=RunTables(tmp_path))


def test_unknown_account_is_one_line_without_the_id(run):
    secret = "ZZ-not-an-account-4711"
    outcome = runner.invoke(app, ["explain", str(run), secret])
    assert outcome.exit_code == 1
    assert outcome.stdout == ""
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flowscan: error:") and secret not in outcome.stderr
    with pytest.raises(DataError) as caught:
        explain(run, secret)
    assert secret not in str(caught.value)


def test_not_a_run_directory(tmp_path):
    outcome = runner.invoke(app, ["explain", str(tmp_path), "x"])
    assert outcome.exit_code == 1 and "not a flowscan run directory" in outcome.stderr


def test_out_writes_markdown_and_json(run, top, tmp_path):
    target = tmp_path / "cases" / "top"
    outcome = runner.invoke(app, ["explain", str(run), top["account"], "--out", str(target)])
    assert outcome.exit_code == 0, outcome.output
    markdown = (tmp_path / "cases" / "top.md").read_text(encoding="utf-8")
    data = json.loads((tmp_path / "cases" / "top.json").read_text(encoding="utf-8"))
    assert markdown == explain(run, top["account"]).to_markdown()
    assert markdown.strip() in outcome.stdout
    assert data["account"] == top["account"] and data["key_term"] == KEY_TERM and data["evidence"]
    assert sorted(p.name for p in (tmp_path / "cases").iterdir()) == ["top.json", "top.md"]
    # a suffix on --out is dropped
    runner.invoke(app, ["explain", str(run), top["account"], "--out", str(tmp_path / "cases" / "again.md")])
    assert (tmp_path / "cases" / "again.json").exists() and (tmp_path / "cases" / "again.md").exists()


def test_rule_sources():
    assert "FIN-2014-A008" in rule_source("structuring.cash.in.24h")
    assert "FIN-2014-A005" in rule_source("funnel.7d")
    assert "AMLSim" in rule_source("cycle.3.30d")
    assert rule_source("custom.rule") is None


def test_relationship_group_in_who(tmp_path):
    records = [(f"T{i:04d}", i * 2, f"S{i:03d}", "HUB", "500.00", "USD", "wire", "Branch 1") for i in range(12)]
    side = tmp_path / "kyc.csv"
    side.write_text("account,phone\nHUB,+15550100000\nS001,+15550100000\n")
    options = ScanOptions(score=ScoreOptions(policy=AlertPolicy(top_k=1, min_score=None)))
    result = scan(write_csv(tmp_path / "ledger.csv", records), options=options, relationships=side)
    run = write_run(result, tmp_path / "run", report_alerts=0)
    pack = explain(run, "HUB")
    assert pack.alerted and pack.who["group"]["group_size"] == 2
    assert pack.who["group"]["other_members"] == ["S001"] and pack.who["group"]["linked_by"] == ["phone"]
    text = pack.to_markdown()
    assert "Relationship group G:HUB" in text and "linked by phone" in text
    assert "Branch 1 (12)" in text and pack.how["distinct_senders"] == 12
