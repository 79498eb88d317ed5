"""The analyst API: flowscan.scan on paths, pyarrow Tables and Arrow PyCapsule streams (polars, DuckDB)."""

from __future__ import annotations

import importlib

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import flowscan
from flowscan.errors import ConfigError, ConfigTypeError, DataError
from flowscan.fixtures import SYNTHETIC_SAMPLE
from flowscan.rules import FanIn

ROWS = 12_000


def bank_export() -> pa.Table:
    """The first rows of the bundled sample as a bank would export them: amounts as decimal
    text in major units, channels in lower case text, no flowscan metadata."""
    sample = pq.read_table(SYNTHETIC_SAMPLE / "transactions.parquet").slice(0, ROWS)
    amount = sample.column("amount").to_pylist()
    return pa.table({
        "txn_id": sample.column("txn_id"),
        "timestamp": sample.column("timestamp"),
        "sender": sample.column("sender"),
        "receiver": sample.column("receiver"),
        "amount": pa.array([f"{a // 100}.{a % 100:02d}" for a in amount]),
        "currency": sample.column("currency").cast(pa.string()),
        "channel": sample.column("channel").cast(pa.string()),
        "location": sample.column("location"),
    })


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    table = bank_export()
    path = tmp_path_factory.mktemp("api") / "export.parquet"
    pq.write_table(table, path)
    return table, path


@pytest.fixture(scope="module")
def from_file(export):
    return flowscan.scan([export[1]])  # a list of paths is taken as its items


def table_differences(a: pa.Table, b: pa.Table) -> list[str]:
    """Where two tables differ in schema or values, NaN equal to NaN (features such as shares
    are NaN where undefined); empty when they are equal."""
    if a.schema != b.schema:
        return ["schema"]
    differences = []
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_floating(x.type):
            nan_x, nan_y = pc.fill_null(pc.is_nan(x), False), pc.fill_null(pc.is_nan(y), False)
            if not nan_x.equals(nan_y):
                differences.append(f"{name}: NaN positions")
                continue
            x, y = pc.if_else(nan_x, 0.0, x), pc.if_else(nan_y, 0.0, y)
        if not x.equals(y):
            differences.append(name)
    return differences


def run_differences(a: flowscan.ScanResult, b: flowscan.ScanResult) -> list[str]:
    """Where two runs differ (accounts, alerts, evidence, canonical ledger); empty when equal."""
    differences = [f"{name}.{d}" for name in ("accounts", "alerts", "evidence")
                   for d in table_differences(getattr(a, name), getattr(b, name))]
    return differences + ([] if a.read.ledger.equals(b.read.ledger) else ["ledger"])


def test_a_pyarrow_table_gives_the_run_of_the_parquet_file(export, from_file):
    assert from_file.alerts.num_rows > 0
    assert run_differences(from_file, flowscan.scan(export[0])) == []


def test_a_polars_dataframe_gives_the_run_of_the_parquet_file(export, from_file):
    frame = pl.from_arrow(export[0])
    assert not isinstance(frame, pa.Table) and hasattr(frame, "__arrow_c_stream__")
    assert run_differences(from_file, flowscan.scan(frame)) == []


def test_a_duckdb_relation_gives_the_run_of_the_parquet_file(export, from_file):
    relation = duckdb.sql(f"select * from read_parquet('{export[1]}') order by txn_id")
    assert run_differences(from_file, flowscan.scan(relation)) == []


def test_chunking_and_row_order_change_nothing(export, from_file):
    table = export[0]
    reordered = pa.concat_tables([table.slice(7_000), table.slice(0, 7_000)])
    assert reordered.column("txn_id").num_chunks == 2
    assert run_differences(from_file, flowscan.scan(reordered)) == []


def test_a_bad_row_in_a_table_goes_to_the_rejects_with_its_reason():
    table = bank_export().slice(0, 3_000)
    amounts = table.column("amount").to_pylist()
    amounts[41] = "-12.00"
    bad = table.set_column(table.schema.get_field_index("amount"), "amount", pa.array(amounts))
    result = flowscan.scan(bad)
    rejects = result.rejects
    assert rejects.num_rows == 1
    row = rejects.to_pylist()[0]
    assert (row["source_file"], row["row_number"], row["reason"]) == ("<table 1>", 42, "negative_amount")
    report = result.read.report
    assert report.reconciles and (report.rows_read, report.accepted, report.rejected) == (3_000, 2_999, 1)
    assert report.files[0].kind == "table"
    # the same row in a file is rejected for the same reason at the same position
    assert flowscan.read_ledger(pl.from_arrow(bad)).rejects.column("reason").to_pylist() == ["negative_amount"]


def test_a_canonical_ledger_through_polars_stays_in_minor_units():
    path = SYNTHETIC_SAMPLE / "transactions.parquet"
    frame = pl.read_parquet(path)  # polars drops flowscan's schema metadata
    assert flowscan.read_ledger(frame).ledger.equals(flowscan.read_ledger(path).ledger)


def test_config_as_options_or_toml_file(export, tmp_path):
    options = flowscan.ScanOptions(rules={"fan_in": FanIn(min_counterparties=3)}, skip=("cycles",))
    path = tmp_path / "rules.toml"
    path.write_text('[rules]\nskip = ["cycles"]\n[rules.fan_in]\nmin_counterparties = 3\n')
    small = export[0].slice(0, 3_000)
    by_options = flowscan.scan(small, config=options)
    by_file = flowscan.scan(small, config=path)
    assert by_options.options.config_hash() == by_file.options.config_hash()
    assert "cycles" not in by_file.results
    assert by_options.alerts.equals(by_file.alerts)
    with pytest.raises(ConfigError, match="not both"):
        flowscan.scan(small, config=options, options=options)
    with pytest.raises(ConfigTypeError, match="config must be a ScanOptions"):
        flowscan.scan(small, config={"rules": {}})


def test_evidence_for_and_explain(from_file):
    alert = from_file.alerts.to_pylist()[0]
    evidence = from_file.evidence_for(alert["alert_id"])
    assert evidence.num_rows > 0
    assert set(evidence.column("alert_id").to_pylist()) == {alert["alert_id"]}
    assert evidence.num_rows == pc.sum(pc.equal(from_file.evidence.column("alert_id"), alert["alert_id"])).as_py()
    with pytest.raises(KeyError):
        from_file.evidence_for("A-0000000000000000")
    pack = from_file.explain(alert["account"])
    assert (pack.account, pack.alert_id, pack.alerted) == (alert["account"], alert["alert_id"], True)
    assert pack.run["run_dir"] is None
    with pytest.raises(DataError):
        from_file.explain("no such account")


def test_exports_and_the_scan_module():
    assert callable(flowscan.scan) and flowscan.ScanOptions is importlib.import_module("flowscan.scan").ScanOptions
    assert {"scan", "ScanOptions", "ScanResult"} <= set(flowscan.__all__)
    module = importlib.import_module("flowscan.scan")
    assert module.scan is flowscan.scan and hasattr(module, "write_run")


def test_the_worked_example_in_docs_runs(tmp_path, monkeypatch, capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "analyst.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/analyst.md", "exec"), {})
    assert (tmp_path / "runs" / "notebook" / "manifest.json").is_file()
    assert "HUMAN TRAFFICKING FIN-2020-A008" in capsys.readouterr().out
