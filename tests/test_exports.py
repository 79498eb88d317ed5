"""--export jsonl|csv: case-manager files that round-trip, escape formula cells, and are deterministic."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pyarrow.parquet as pq
import pytest

from flowscan.errors import ConfigError
from flowscan.exports import escape_cell, major_units, to_csv
from flowscan.options import ReadOptions
from flowscan.scan import ScanOptions, scan, write_run
from flowscan.score import AlertPolicy, ScoreOptions
from ledgers import write_csv

HOSTILE = ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(1)"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A fan-in into a formula-named account from formula-named senders, and its run with both exports."""
    base = tmp_path_factory.mktemp("exports")
    senders = HOSTILE + [f"S{i:03d}" for i in range(10)]
    records = [(f"T{i:04d}", i * 2, s, HOSTILE[0], "500.00", "USD", "wire", None) for i, s in enumerate(senders)]
    records += [(f"=U{i:03d}", 40 + i, HOSTILE[0], HOSTILE[1 + i % 3], "900.05", "USD", "wire", "=HYPERLINK(1)")
                for i in range(4)]
    options = ScanOptions(read=ReadOptions(max_reject_rate=0.0),
                          score=ScoreOptions(policy=AlertPolicy(top_k=3, min_score=None)))
    result = scan(write_csv(base / "ledger.csv", records), options=options)
    assert result.alerts.num_rows == 3 and result.evidence.num_rows
    run = write_run(result, base / "run", exports=("csv", "jsonl"), report_alerts=0)
    return result, run, base


def _csv_rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_escape_cell():
    for text in (*HOSTILE, "\tx", "\rx"):
        assert escape_cell(text) == "'" + text
    for text in ("T0001", "", "a=b", "'quoted", " =x"):
        assert escape_cell(text) == text


def test_csv_escapes_every_hostile_text_cell(hostile):
    _, run, _ = hostile
    for name in ("alerts.csv", "evidence.csv"):
        rows = _csv_rows(run / name)
        header, body = rows[0], rows[1:]
        assert body
        for row in body:
            assert len(row) == len(header)
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)
    header, *body = _csv_rows(run / "evidence.csv")
    evidence = [dict(zip(header, r)) for r in body]
    senders = {e["sender"] for e in evidence}
    assert {"'" + h for h in HOSTILE} <= senders | {e["receiver"] for e in evidence}
    assert "'=HYPERLINK(1)" in {e["location"] for e in evidence}
    assert any(e["txn_id"].startswith("'=U") for e in evidence)
    alerts = [dict(zip(_csv_rows(run / "alerts.csv")[0], r)) for r in _csv_rows(run / "alerts.csv")[1:]]
    assert "'" + HOSTILE[0] in {a["account"] for a in alerts}
    assert all(json.loads(a["reasons"]) is not None and isinstance(json.loads(a["typologies"]), list) for a in alerts)


def test_csv_quotes_every_cell_and_ends_lines_with_crlf(hostile):
    _, run, _ = hostile
    data = (run / "evidence.csv").read_bytes()
    assert data.endswith(b"\r\n") and not data.startswith(b"\xef\xbb\xbf")
    first = data.split(b"\r\n")[1].decode()
    assert first.startswith('"') and '","' in first


def test_jsonl_round_trips_to_the_parquet_rows(hostile):
    _, run, _ = hostile
    for name in ("alerts", "evidence"):
        table = pq.read_table(run / f"{name}.parquet").to_pylist()
        lines = (run / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(table)
        for line, row in zip(lines, table):
            got = json.loads(line)
            if name == "evidence":
                assert got.pop("amount_major") == major_units(row["amount"], row["currency"])
            expected = json.loads(json.dumps(row, default=lambda v: v.isoformat()))
            assert got == expected
            assert list(got) == list(row)  # column order kept


def test_amount_major_is_exact():
    assert major_units(90005, "USD") == "900.05"
    assert major_units(1500, "JPY") == "1500"
    assert major_units(1, "BHD") == "0.001"
    assert major_units(None, "USD") is None and major_units(1, None) is None


def test_exports_are_deterministic_and_listed_in_the_manifest(hostile):
    result, run, base = hostile
    again = write_run(result, base / "again", exports=("jsonl", "csv", "csv"), report_alerts=0)
    manifest = json.loads((run / "manifest.json").read_text())
    for name in ("alerts.csv", "alerts.jsonl", "evidence.csv", "evidence.jsonl"):
        assert (run / name).read_bytes() == (again / name).read_bytes(), name
        assert manifest["outputs"][name]["sha256"] == hashlib.sha256((run / name).read_bytes()).hexdigest()
    assert manifest["outputs"]["evidence.csv"]["rows"] == result.evidence.num_rows


def test_unknown_format_is_a_config_error(hostile, tmp_path):
    result, _, _ = hostile
    with pytest.raises(ConfigError, match="--export takes jsonl or csv"):
        write_run(result, tmp_path / "r", exports=("xlsx",))
    assert not any(tmp_path.iterdir())


def test_no_exports_unless_asked(hostile, tmp_path):
    result, _, _ = hostile
    run = write_run(result, tmp_path / "r", report_alerts=0)
    assert not list(run.glob("*.csv")) and not list(run.glob("*.jsonl"))


def test_empty_tables_give_a_header_only_csv(hostile):
    result, _, _ = hostile
    text = to_csv("evidence", result.evidence.slice(0, 0)).decode()
    assert list(csv.reader(io.StringIO(text))) == [[*result.evidence.column_names[:7], "amount_major",
                                                    *result.evidence.column_names[7:]]]
