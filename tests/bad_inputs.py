"""Helpers of test_bad_inputs.py: one tiny ordinary ledger, writers that damage it in the ways
a bank's own exports do, and checks of what ``flowscan scan`` made of it.

The ordinary ledger: 43 transfers among ten accounts over nine days, every one valid, with a
planted three-hop cycle ``C1 -> C2 -> C3 -> C1`` (1,000.00 USD each, an hour apart) that the
cycle rule reports, so the run has alerts and evidence to compare.
"""

from __future__ import annotations

import csv
import functools
import json
import random
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from flowscan.cli import app

UTC = timezone.utc
T0 = datetime(2024, 3, 1, tzinfo=UTC)
HEADER = ("txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel", "location")
CYCLE = ("C1", "C2", "C3")
RUN_FILES = ("accounts.parquet", "alerts.parquet", "evidence.parquet")
"""The scoring outputs compared byte for byte between two runs that must agree."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@functools.cache
def _ordinary() -> tuple[tuple[tuple[str, str], ...], ...]:
    rows = []
    channels = ("wire", "cash", "card", "p2p")
    for i in range(40):
        sender, receiver = f"A{i % 8:02d}", f"A{(i * 3 + 1) % 8:02d}"
        if sender == receiver:
            receiver = "B99"
        rows.append({
            "txn_id": f"T{i:04d}",
            "timestamp": iso(T0 + timedelta(hours=5 * i)),
            "sender": sender,
            "receiver": receiver,
            "amount": f"{(i * 37) % 500 + 10}.{i % 100:02d}",
            "currency": "USD",
            "channel": channels[i % 4],
            "location": "NYC",
        })
    for k, (sender, receiver) in enumerate(zip(CYCLE, CYCLE[1:] + CYCLE[:1])):
        rows.append({
            "txn_id": f"K{k}",
            "timestamp": iso(T0 + timedelta(hours=10, minutes=30 + 60 * k)),
            "sender": sender,
            "receiver": receiver,
            "amount": "1000.00",
            "currency": "USD",
            "channel": "wire",
            "location": "NYC",
        })
    return tuple(tuple(r.items()) for r in rows)


def ordinary_rows() -> list[dict[str, str]]:
    """A fresh copy of the ordinary ledger's rows, as source text by canonical column name,
    in (timestamp, txn_id) order."""
    rows = [dict(r) for r in _ordinary()]
    rows.sort(key=lambda r: (r["timestamp"], r["txn_id"]))
    return rows


def shuffled(rows: list, seed: int = 7) -> list:
    out = list(rows)
    random.Random(seed).shuffle(out)
    return out


# -- writers ---------------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict], header=None, *, delimiter: str = ",", encoding: str = "utf-8",
              bom: bool = False) -> Path:
    """Rows (dicts) as a CSV file with ``header`` (default: the keys of the first row); a value
    missing from a row is written empty."""
    header = list(header or rows[0].keys())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as handle:
        if bom:
            handle.write("\ufeff")
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(name, "") for name in header])
    return path


def parquet_table(rows: list[dict], *, amount_type=pa.float64()) -> pa.Table:
    """Rows as a Parquet-ready table with proper types: ``timestamp`` as timestamp[us, UTC]
    (text values parsed from ISO 8601 with ``Z``), ``amount`` as ``amount_type`` (float64 by
    default; pa.string() keeps the text), everything else text."""
    columns = {}
    for name in rows[0]:
        values = [r.get(name) for r in rows]
        if name == "timestamp":
            values = [None if v is None else datetime.fromisoformat(v.replace("Z", "+00:00")) for v in values]
            columns[name] = pa.array(values, pa.timestamp("us", tz="UTC"))
        elif name == "amount" and pa.types.is_floating(amount_type):
            columns[name] = pa.array([None if v in (None, "") else float(v) for v in values], amount_type)
        else:
            columns[name] = pa.array(values, pa.string())
    return pa.table(columns)


def write_parquet(path: Path, table: pa.Table, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **kwargs)
    return path


# -- running flowscan scan ---------------------------------------------------------------------------


def scan(inputs, out: Path, *extra: str):
    """``flowscan scan INPUTS --out OUT -q --show 0 --report-alerts 0 EXTRA...`` in-process."""
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    args = ["scan", *map(str, inputs), "--out", str(out), "-q", "--show", "0", "--report-alerts", "0", *extra]
    return CliRunner().invoke(app, args)


def crash_text(result) -> str:
    """The traceback of an exception that escaped the command, for assertion messages."""
    if result.exc_info is None or isinstance(result.exception, SystemExit):
        return ""
    return "".join(traceback.format_exception(*result.exc_info))


def assert_no_crash(result) -> None:
    """Only flowscan's own exits: no exception escaped the command (a traceback)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"exception escaped flowscan scan (exit {result.exit_code}):\n{crash_text(result)}"
    )
    assert "Traceback" not in result.output, result.output


def assert_run(result, out: Path) -> tuple[dict, list[dict]]:
    """A run that succeeded: exit 0, the run directory written, its manifest's reconciliation
    holds and agrees with rejects.parquet. Returns (reconciliation, rejects rows)."""
    assert_no_crash(result)
    assert result.exit_code == 0, result.output
    assert out.is_dir(), result.output
    manifest = json.loads((out / "manifest.json").read_text())
    recon = manifest["reconciliation"]
    assert recon["reconciles"] is True, recon
    assert recon["rows_read"] == recon["accepted"] + recon["rejected"] + recon["duplicates_dropped"], recon
    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    assert len(rejects) == recon["rejected"] + recon["duplicates_dropped"], (recon, rejects)
    counted: dict[str, int] = {}
    for row in rejects:
        counted[row["reason"]] = counted.get(row["reason"], 0) + 1
    assert counted == recon["reasons"], (counted, recon["reasons"])
    for name in ("rows_read", "accepted", "rejected", "duplicates"):
        assert sum(f[name] for f in manifest["inputs"]) == recon["duplicates_dropped" if name == "duplicates" else name]
    return recon, rejects


def rejected_as(rejects: list[dict]) -> list[tuple[str, int, str]]:
    """(file name, record number, reason) of each reject, in the rejects file's order."""
    return [(Path(r["source_file"]).name, r["row_number"], r["reason"]) for r in rejects]


def error_line(result, out: Path, *named) -> str:
    """A run refused: exit 1, exactly one line of output (on stderr) that names every path in
    ``named``, no traceback, and no run directory nor staging directory left behind.
    Returns the line."""
    assert_no_crash(result)
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.output}"
    lines = result.output.strip("\n").split("\n")
    assert len(lines) == 1, result.output
    (line,) = lines
    assert line.startswith("flowscan: error: "), line
    assert result.stderr.strip("\n") == line, (result.stdout, result.stderr)
    for path in named:
        assert str(path) in line, line
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    return line


def same_outputs(first: Path, second: Path, names=RUN_FILES) -> list[str]:
    """The output files that differ (byte for byte) between two run directories."""
    return [n for n in names if (first / n).read_bytes() != (second / n).read_bytes()]


def accounts(out: Path) -> list[str]:
    return pq.read_table(out / "accounts.parquet", columns=["account"]).column("account").to_pylist()


def account_rows(out: Path) -> dict[str, dict]:
    return {r["account"]: r for r in pq.read_table(out / "accounts.parquet").to_pylist()}


def evidence(out: Path) -> list[dict]:
    return pq.read_table(out / "evidence.parquet").to_pylist()
