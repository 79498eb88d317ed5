"""Alerts' instances and evidence: the vectorised selection against a naive twin, and rule
evidence built on demand against the full tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import flowscan
from flowscan.fixtures import SYNTHETIC_SAMPLE
from flowscan.index import build_index
from flowscan.rules import EVIDENCE_SCHEMA, RULES, RuleResult
from flowscan.score import AlertPolicy, ScoreOptions, score_accounts


@pytest.fixture(scope="module")
def sample():
    """The bundled sample scanned with every rule, and more alerts than the default policy."""
    options = flowscan.ScanOptions(score=ScoreOptions(policy=AlertPolicy(top_k=120, min_score=None),
                                                      max_instances_per_rule=2))
    result = flowscan.scan(SYNTHETIC_SAMPLE / "transactions.parquet", reference=SYNTHETIC_SAMPLE / "reference",
                           options=options)
    return result, options


def _ipc(table: pa.Table) -> bytes:
    """The table's Arrow IPC bytes: equal tables give equal bytes, NaN included."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _materialized(results):
    """The same results with every evidence table built up front (as the Spark engine gives them)."""
    return {name: RuleResult(r.instances, r.evidence, r.features) for name, r in results.items()}


def _naive_alert_instances(results, accounts: list[str], cap: int):
    """The most obvious loop: per account, the instances anchored at it, then those whose
    evidence names it as sender or receiver, each once, ordered by (not anchored, instance id),
    at most ``cap`` per rule code; and the count before the cap."""
    instances = [row for _, r in sorted(results.items()) for row in r.instances.to_pylist()]
    evidence = [row for _, r in sorted(results.items()) for row in r.evidence.to_pylist()]
    owner = {row["instance_id"]: row["account"] for row in instances}
    rule = {row["instance_id"]: row["rule"] for row in instances}
    out = {}
    for account in accounts:
        found = {row["instance_id"]: True for row in instances if row["account"] == account}
        for row in evidence:
            if account in (row["sender"], row["receiver"]) and owner[row["instance_id"]] != account:
                found.setdefault(row["instance_id"], False)
        ordered = sorted(found, key=lambda i: (not found[i], i))
        kept, per_rule = [], {}
        for instance_id in ordered:
            if per_rule.get(rule[instance_id], 0) < cap:
                kept.append(instance_id)
                per_rule[rule[instance_id]] = per_rule.get(rule[instance_id], 0) + 1
        out[account] = (kept, len(ordered))
    return out


def test_alert_instances_match_the_naive_twin(sample):
    result, options = sample
    alerts = result.alerts.to_pylist()
    assert len(alerts) == 120
    naive = _naive_alert_instances(result.results, [a["account"] for a in alerts], cap=2)
    owner = {row["instance_id"]: row["account"] for r in result.results.values()
             for row in r.instances.select(["instance_id", "account"]).to_pylist()}
    capped = named = 0
    for alert in alerts:
        kept, total = naive[alert["account"]]
        assert alert["instance_ids"] == kept
        assert alert["n_instances_total"] == total
        capped += total > len(kept)
        named += any(owner[i] != alert["account"] for i in kept)
    assert capped > 0 and named > 0  # the cap and the counterparty instances were exercised


@pytest.fixture(scope="module")
def core(sample):
    """The sample's canonical ledger, its index, and the scan options (120 alerts, cap 2)."""
    result, options = sample
    ledger = result.read.ledger
    index = build_index(ledger)
    return ledger, index, options


def _core_results(ledger, index):
    return {name: rule(ledger, index) for name, rule in RULES.items()}


def test_built_and_pending_evidence_score_alike(core):
    """Scoring results whose evidence is built on demand gives, byte for byte, what scoring the
    same results with their evidence tables built up front gives, and builds no rule's table."""
    ledger, index, options = core
    pending = _core_results(ledger, index)
    assert all(r._evidence is None for r in pending.values())
    lazy = score_accounts(ledger, index, pending, options=options.score)
    assert all(r._evidence is None for r in pending.values())  # only the alerts' rows were built
    eager = score_accounts(ledger, index, _materialized(pending), options=options.score)
    assert _ipc(lazy.accounts) == _ipc(eager.accounts)
    assert _ipc(lazy.alerts) == _ipc(eager.alerts) and lazy.alerts.num_rows == 120
    assert _ipc(lazy.evidence) == _ipc(eager.evidence) and lazy.evidence.num_rows > 0


def test_rule_evidence_rows_and_links_equal_the_full_table(core):
    ledger, index, _ = core
    rng = np.random.default_rng(5)
    checked = 0
    for name, r in _core_results(ledger, index).items():
        if r.instances.num_rows == 0:
            continue
        assert r.evidence_links(pa.array(index.accounts.to_pylist()), ledger.num_rows) is None  # another index
        links = r.evidence_links(index.accounts, ledger.num_rows)
        assert links is not None and r.n_evidence == len(links[0])
        n = r.n_evidence
        positions = np.unique(rng.integers(0, n, size=min(n, 40)))
        part = r.evidence_rows(positions)  # built alone, before the table
        table = r.evidence
        assert table.schema.equals(EVIDENCE_SCHEMA) and table.num_rows == n
        assert part.equals(table.take(pa.array(positions)))
        assert r.evidence_rows(positions).equals(part)  # from the built table now
        owner, rows = links
        assert table.column("instance_id").to_pylist() == r.instances.column("instance_id").take(
            pa.array(owner)).to_pylist()
        assert table.column("txn_id").to_pylist() == ledger.column("txn_id").take(pa.array(rows)).to_pylist()
        assert r.evidence_links(index.accounts, ledger.num_rows) is None  # built: the table is the source
        checked += 1
    assert checked >= 5, name
