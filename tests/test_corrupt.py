"""Damaged and awkward files: what is fatal (one line naming the file, exit 1, nothing
written, no account data quoted) and what is merely a reject or accepted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import flowscan
from flowscan.cli import app

SECRET = "ACCT-SECRET-123"
HEADER = "txn_id,timestamp,sender,receiver,amount,currency\n"


def csv_rows(n, start=0):
    return "".join(f"T{i},2024-01-01T10:00:00Z,{SECRET},R{i},1.00,USD\n" for i in range(start, start + n))


def secret_table(n=2000):
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return pa.table(
        {
            "txn_id": [f"T{i}" for i in range(n)],
            "timestamp": pa.array([t0 + timedelta(minutes=i) for i in range(n)], pa.timestamp("us", tz="UTC")),
            "sender": [SECRET] * n,
            "receiver": [f"{SECRET}-{i}" for i in range(n)],
            "amount": [f"{i}.00" for i in range(n)],
            "currency": ["USD"] * n,
        }
    )


def write_good_parquet(path):
    pq.write_table(secret_table(), path, write_page_checksum=True, compression="none", use_dictionary=False)
    return path


# -- the fatal cases, each a builder of one file in a folder -------------------------------------


def truncated_parquet(folder):
    full = write_good_parquet(folder / "full.parquet.tmp-source")
    data = full.read_bytes()
    full.unlink()
    path = folder / "truncated.parquet"
    path.write_bytes(data[: len(data) // 2])
    return path


def flipped_parquet(folder):
    path = write_good_parquet(folder / "flipped.parquet")
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(0).column(3)  # receiver: one plain, uncompressed data page
    assert column.dictionary_page_offset is None
    middle = column.data_page_offset + column.total_compressed_size // 2
    data = bytearray(path.read_bytes())
    for i in range(middle, middle + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def not_parquet(folder):
    path = folder / "not_really.parquet"
    path.write_text(HEADER + csv_rows(3))
    return path


def empty_csv(folder):
    path = folder / "empty.csv"
    path.write_bytes(b"")
    return path


def invalid_utf8_csv(folder):
    path = folder / "latin1.csv"
    path.write_bytes((HEADER + csv_rows(2)).encode() + f"T9,2024-01-01T10:00:00Z,{SECRET}\xe9,R,1.00,USD\n".encode("latin-1"))
    return path


def invalid_utf8_csv_past_64k(folder):
    path = folder / "latin1_big.csv"
    body = (HEADER + csv_rows(2000)).encode()
    assert len(body) > 1 << 16
    path.write_bytes(body + f"T9,2024-01-01T10:00:00Z,{SECRET}\xe9,R,1.00,USD\n".encode("latin-1"))
    return path


FATAL = {
    "truncated-parquet": truncated_parquet,
    "flipped-bytes-parquet": flipped_parquet,
    "not-parquet": not_parquet,
    "empty-csv": empty_csv,
    "invalid-utf8-csv": invalid_utf8_csv,
    "invalid-utf8-csv-past-64k": invalid_utf8_csv_past_64k,
}


@pytest.mark.parametrize("build", FATAL.values(), ids=FATAL.keys())
def test_fatal_file_raises_corrupt_file_error_naming_it(tmp_path, build):
    path = build(tmp_path)
    with pytest.raises(flowscan.CorruptFileError) as caught:
        flowscan.read_ledger(path)
    error = caught.value
    assert error.path == str(path)
    assert str(error).startswith(f"{path}: ")
    assert "\n" not in str(error)
    assert SECRET not in str(error)


def test_flipped_bytes_fail_the_page_checksum(tmp_path):
    path = flipped_parquet(tmp_path)
    with pytest.raises(flowscan.CorruptFileError, match="(?i)checksum|crc"):
        flowscan.read_ledger(path)


def test_the_good_parquet_builder_reads(tmp_path):
    # the fatal Parquet cases differ from this file only by the damage done to them
    result = flowscan.read_ledger(write_good_parquet(tmp_path / "good.parquet"))
    assert result.report.accepted == 2000


# -- not fatal -----------------------------------------------------------------------------------


def test_truncated_last_line_is_a_malformed_row(tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text(HEADER + csv_rows(200) + "T200,2024-01-01T1")  # no newline, fields missing
    result = flowscan.read_ledger(path)
    report = result.report
    assert report.reconciles
    assert (report.rows_read, report.accepted, report.rejected) == (201, 200, 1)
    assert report.reasons == {"malformed_row": 1}
    (row,) = result.rejects.to_pylist()
    assert (row["source_file"], row["reason"]) == (str(path), "malformed_row")
    assert json.loads(row["raw"]) == {"text": "T200,2024-01-01T1"}


def test_embedded_newlines_and_quotes_in_quoted_fields(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text(
        "txn_id,timestamp,sender,receiver,amount,currency,location\n"
        'T1,2024-01-01T10:00:00Z,A,B,"1,234.50",USD,"Main St\nBranch ""7"", lobby"\n'
        'T2,2024-01-01T11:00:00Z,A,"B\nC",1.00,USD,x\n'
        "T3,yesterday,A,B,1.00,USD,y\n",
    )
    result = flowscan.read_ledger(path, thousands_mark=",", max_reject_rate=1.0)
    assert result.report.reconciles
    assert result.report.accepted == 2
    rows = {r["txn_id"]: r for r in result.ledger.to_pylist()}
    assert rows["T1"]["location"] == 'Main St\nBranch "7", lobby'
    assert rows["T1"]["amount"] == 123450
    assert rows["T2"]["receiver"] == "B\nC"
    # records, not physical lines, are counted: T3 is record 3 though it starts on line 6
    (reject,) = result.rejects.to_pylist()
    assert (reject["row_number"], reject["reason"]) == (3, "bad_timestamp")


def test_utf8_bom_is_skipped_and_header_recognised(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "T1,2024-01-01T10:00:00Z,A,B,1.00,USD\n").encode())
    result = flowscan.read_ledger(path)
    assert result.report.accepted == 1
    assert result.report.files[0].mapping["txn_id"] == "txn_id"
    assert result.ledger.column("txn_id").to_pylist() == ["T1"]


# -- through the command line ---------------------------------------------------------------------


def error_lines(result):
    return [line for line in result.output.splitlines() if line.startswith("flowscan: error:")]


def assert_one_clean_error(result, path):
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1, result.output
    assert str(path) in lines[0]
    assert "Traceback" not in result.output
    assert SECRET not in result.output


@pytest.mark.parametrize("build", FATAL.values(), ids=FATAL.keys())
def test_cli_validate_fatal_file(tmp_path, build):
    path = build(tmp_path)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert_one_clean_error(result, path)
    assert result.stderr.startswith("flowscan: error:")


@pytest.mark.parametrize("build", FATAL.values(), ids=FATAL.keys())
def test_cli_ingest_fatal_file_writes_nothing(tmp_path, build):
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = inputs / "a_good.csv"
    good.write_text(HEADER + csv_rows(5, start=100))
    path = build(inputs)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = CliRunner().invoke(app, ["ingest", str(good), str(path), "--out", str(out_dir / "ledger.parquet")])
    assert_one_clean_error(result, path)
    assert list(out_dir.iterdir()) == []


def test_cli_truncated_last_line_is_not_fatal(tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text(HEADER + csv_rows(200) + f"T200,2024-01-01T1,{SECRET}")
    out = tmp_path / "out" / "ledger.parquet"
    result = CliRunner().invoke(app, ["ingest", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert error_lines(result) == []
    assert "accepted 200" in result.output
    assert pq.read_table(out).num_rows == 200
    assert pq.read_table(out.with_name("ledger.rejects.parquet")).column("reason").to_pylist() == ["malformed_row"]
