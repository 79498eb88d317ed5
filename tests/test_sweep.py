"""Threshold sweeps (flowscan.sweep and `flowscan sweep`) on a hand-made ledger with known counts."""

from __future__ import annotations

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from flowscan.cli import app
from flowscan.errors import ConfigError
from flowscan.rules import FanIn, fan_in
from flowscan.sweep import SWEEP_SCHEMA, parse_values, sweep, write_sweep
from ledgers import ledger_of, write_csv

runner = CliRunner()


def records():
    """R3, R5, R7 receive from 3, 5, 7 distinct senders within a day (one fan-in window each);
    R9 from 6 senders, one every 10 hours (all six within a window only when it is over 50h)."""
    rows = []
    for receiver, n in (("R3", 3), ("R5", 5), ("R7", 7)):
        for i in range(n):
            rows.append((f"{receiver}-{i}", 1 + i, f"S{receiver}{i}", receiver, "100.00", "USD", "wire", None))
    for i in range(6):
        rows.append((f"R9-{i}", 200 + 10 * i, f"SR9{i}", "R9", "100.00", "USD", "wire", None))
    return rows


@pytest.fixture(scope="module")
def ledger():
    return ledger_of(records())


LABELS = pa.table({"account": ["R3", "R5", "R7", "GONE"], "is_positive": [False, True, True, True],
                   "typologies": [[], ["fan_in"], ["fan_in"], ["fan_in"]]})

# distinct senders per receiver within 7 days: R3 3, R5 5, R7 7, R9 6
EXPECTED_ACCOUNTS = {2: 4, 3: 4, 4: 3, 5: 3, 6: 2, 7: 1, 8: 0}


def test_counts_fall_with_the_threshold_as_counted_by_hand(ledger):
    table = sweep(*ledger, "fan_in", "min_counterparties", list(EXPECTED_ACCOUNTS),
                  base_options=FanIn(windows=("7d",)))
    assert table.schema == SWEEP_SCHEMA
    assert table.column("value").to_pylist() == [str(k) for k in EXPECTED_ACCOUNTS]
    assert table.column("accounts").to_pylist() == list(EXPECTED_ACCOUNTS.values())
    assert table.column("instances").to_pylist() == list(EXPECTED_ACCOUNTS.values())  # one window each
    counts = table.column("accounts").to_pylist()
    assert counts == sorted(counts, reverse=True)
    assert table.column("true_positives").null_count == table.num_rows  # no labels, no figures


def test_precision_and_recall_against_hand_labels(ledger):
    table = sweep(*ledger, "fan_in", "min_counterparties", [3, 6, 8], labels=LABELS,
                  base_options=FanIn(windows=("7d",)))
    # GONE is a positive absent from the ledger: not in the recall's denominator (as in evaluate)
    assert table.column("true_positives").to_pylist() == [2, 1, 0]
    assert table.column("precision").to_pylist() == [2 / 4, 1 / 2, None]  # R3, R9 alerted at 3; R9 at 6
    assert table.column("recall").to_pylist() == [1.0, 0.5, 0.0]


def test_a_duration_sweep(ledger):
    values = parse_values("12h:72h:12h", name="windows")
    assert values == ["12h", "24h", "36h", "48h", "60h", "3d"]
    table = sweep(*ledger, "fan_in", "windows", values, base_options=FanIn(min_counterparties=6))
    # R7 (7 senders in 7 hours) fires from 12h on; R9's six senders span 50 hours
    assert table.column("accounts").to_pylist() == [1, 1, 1, 1, 2, 2]
    assert table.column("value_number").to_pylist() == [12 * 3600.0 * k for k in range(1, 7)]


def test_each_row_equals_running_the_rule_alone(ledger):
    table = sweep(*ledger, "fan_in", "min_counterparties", [4, 6])
    for value, instances in zip((4, 6), table.column("instances").to_pylist()):
        assert fan_in(*ledger, options=FanIn(min_counterparties=value)).instances.num_rows == instances


def test_parse_values():
    assert parse_values("2:10:2") == [2, 4, 6, 8, 10]
    assert parse_values("2:9:2") == [2, 4, 6, 8]
    assert parse_values("0.5:0.9:0.1") == [0.5, 0.6, 0.7, 0.8, 0.9]
    assert parse_values("3,5,8") == [3, 5, 8]
    assert parse_values("1d:3d:1d") == ["24h", "48h", "3d"]
    for bad, message in (("5:1:1", "STOP"), ("1:5:0", "STEP"), ("1:5", "START:STOP:STEP"), ("a:b:c", "numbers"),
                         ("1:100000:1", "more than")):
        with pytest.raises(ConfigError, match=message):
            parse_values(bad)


def test_unknown_rule_param_and_refused_values(ledger):
    with pytest.raises(ConfigError, match="unknown rule 'fanin'"):
        sweep(*ledger, "fanin", "min_counterparties", [3])
    with pytest.raises(ConfigError, match="unknown parameter 'min_senders' of rule 'fan_in'"):
        sweep(*ledger, "fan_in", "min_senders", [3])
    with pytest.raises(ConfigError, match=r"The 'min_counterparties' parameter of FanIn must be a positive integer\. "
                                          r"Got 0 instead\."):
        sweep(*ledger, "fan_in", "min_counterparties", [3, 0])
    with pytest.raises(ConfigError, match="at least one value"):
        sweep(*ledger, "fan_in", "min_counterparties", [])


def test_outputs_are_deterministic(ledger, tmp_path):
    table = sweep(*ledger, "fan_in", "min_counterparties", [3, 6, 8], labels=LABELS)
    first, second = write_sweep(table, tmp_path / "a"), write_sweep(table, tmp_path / "b")
    for kind in ("csv", "json", "png"):
        assert first[kind].read_bytes() == second[kind].read_bytes(), kind
    assert first["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"Software" not in first["png"].read_bytes()
    assert first["csv"].read_text().splitlines()[0].split(",")[:3] == ['"rule"', '"param"', '"value"']


def test_cli_sweep(tmp_path):
    ledger_path = write_csv(tmp_path / "ledger.csv", records())
    labels_path = tmp_path / "labels.parquet"
    import pyarrow.parquet as pq

    from flowscan.evaluate import ACCOUNT_LABELS_SCHEMA

    pq.write_table(LABELS.cast(ACCOUNT_LABELS_SCHEMA), labels_path)
    config = tmp_path / "rules.toml"
    config.write_text('[rules.fan_in]\nwindows = ["7d"]\n')
    result = runner.invoke(app, ["sweep", str(ledger_path), "--rule", "fan_in", "--param", "min_counterparties=3:8:5",
                                 "--labels", str(labels_path), "--config", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("│")]
    assert [line.split("│")[1].strip() for line in lines] == ["3", "8"]
    assert [c.strip() for c in lines[0].split("│")[2:7]] == ["4", "4", "2", "0.500", "1.000"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sweep.csv", "sweep.json", "sweep.png"]

    bad = runner.invoke(app, ["sweep", str(ledger_path), "--rule", "fan_in", "--param", "min_senders=1:2:1"])
    assert bad.exit_code == 2
    assert bad.output.count("flowscan: error:") == 1 and "min_senders" in bad.output
    assert "Traceback" not in bad.output
