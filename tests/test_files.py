"""File formats and layouts: Parquet (file, directory, hive partitions), Arrow IPC file and
stream, Feather, gzip CSV; type handling across files; the canonical round trip; and the
ledger's independence of row order and chunking."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowscan

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


def source_table(n=4):
    """A small source table with canonical column names; amounts as text in major units."""
    return pa.table(
        {
            "txn_id": [f"T{i:03d}" for i in range(n)],
            "timestamp": pa.array([T0 + timedelta(hours=i) for i in range(n)], pa.timestamp("us", tz="UTC")),
            "sender": [f"00{i % 3}" for i in range(n)],
            "receiver": [f"0{i % 2 + 5}" for i in range(n)],
            "amount": [f"{i + 1}.50" for i in range(n)],
            "currency": ["USD"] * n,
        }
    )


def expected_rows(n=4):
    """(txn_id, timestamp, sender, receiver, amount in cents) of ``source_table(n)``."""
    return [
        (f"T{i:03d}", T0 + timedelta(hours=i), f"00{i % 3}", f"0{i % 2 + 5}", (i + 1) * 100 + 50) for i in range(n)
    ]


def rows_of(ledger):
    return list(
        zip(
            *(ledger.column(c).to_pylist() for c in ("txn_id", "timestamp", "sender", "receiver", "amount"))
        )
    )


def assert_clean(result, n):
    report = result.report
    assert report.reconciles
    assert (report.rows_read, report.accepted, report.rejected, report.duplicates) == (n, n, 0, 0)
    assert result.ledger.schema.equals(flowscan.CANONICAL_SCHEMA)


# -- formats -------------------------------------------------------------------------------------


def test_parquet_file(tmp_path):
    path = tmp_path / "ledger.parquet"
    pq.write_table(source_table(), path)
    result = flowscan.read_ledger(path)
    assert_clean(result, 4)
    assert rows_of(result.ledger) == expected_rows()
    assert [(f.kind, f.preset) for f in result.report.files] == [("parquet", "mapped")]


def test_parquet_directory_of_several_files(tmp_path):
    table = source_table(6)
    folder = tmp_path / "ledger"
    (folder / "sub").mkdir(parents=True)
    pq.write_table(table.slice(0, 2), folder / "part-0.parquet")
    pq.write_table(table.slice(2, 2), folder / "part-1.parquet")
    pq.write_table(table.slice(4, 2), folder / "sub" / "part-2.parquet")
    result = flowscan.read_ledger(folder)
    assert_clean(result, 6)
    assert rows_of(result.ledger) == expected_rows(6)
    assert len(result.report.files) == 3
    assert all(f.rows_read == 2 for f in result.report.files)


def test_hive_partition_value_stays_text(tmp_path):
    table = source_table(4)
    for bank, part in (("010", table.slice(0, 2)), ("0020", table.slice(2, 2))):
        folder = tmp_path / "dataset" / f"bank={bank}"
        folder.mkdir(parents=True)
        pq.write_table(part, folder / "part.parquet")
    result = flowscan.read_ledger(tmp_path / "dataset", columns={"sender_bank": "bank"})
    assert_clean(result, 4)
    banks = dict(zip(result.ledger.column("txn_id").to_pylist(), result.ledger.column("sender_bank").to_pylist()))
    assert banks == {"T000": "010", "T001": "010", "T002": "0020", "T003": "0020"}


def write_ipc_file(table, path):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=2):
            writer.write_batch(batch)


def write_ipc_stream(table, path):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=2):
            writer.write_batch(batch)


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("ledger.arrow", write_ipc_file),
        ("ledger.arrows", write_ipc_stream),
        ("ledger.feather", lambda t, p: feather.write_feather(t, p)),
    ],
    ids=["ipc-file", "ipc-stream", "feather"],
)
def test_arrow_ipc(tmp_path, name, write):
    path = tmp_path / name
    write(source_table(5), path)
    result = flowscan.read_ledger(path)
    assert_clean(result, 5)
    assert rows_of(result.ledger) == expected_rows(5)
    assert [f.kind for f in result.report.files] == ["ipc"]


def test_gzip_csv(tmp_path):
    path = tmp_path / "ledger.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("txn_id,timestamp,sender,receiver,amount,currency\n")
        for txn, ts, sender, receiver, cents in expected_rows(3):
            handle.write(f"{txn},{ts.isoformat()},{sender},{receiver},{cents // 100}.{cents % 100:02d},USD\n")
    result = flowscan.read_ledger(path)
    assert_clean(result, 3)
    assert rows_of(result.ledger) == expected_rows(3)


# -- types ---------------------------------------------------------------------------------------


def test_integer_id_columns_in_parquet_are_read_as_text_with_a_note(tmp_path):
    table = source_table(3)
    table = table.set_column(0, "txn_id", pa.array([101, 102, 103], pa.int64()))
    table = table.set_column(2, "sender", pa.array([7, 8, 9], pa.int32()))
    path = tmp_path / "ints.parquet"
    pq.write_table(table, path)
    result = flowscan.read_ledger(path)
    assert_clean(result, 3)
    assert result.ledger.column("txn_id").to_pylist() == ["101", "102", "103"]
    assert result.ledger.column("sender").to_pylist() == ["7", "8", "9"]
    notes = result.report.notes
    assert any("txn_id" in note and "integer" in note and "text" in note and str(path) in note for note in notes)
    assert any("sender" in note and "integer" in note and "text" in note for note in notes)


def test_naive_timestamp_column_in_parquet_needs_a_timezone(tmp_path):
    table = source_table(2).set_column(
        1, "timestamp", pa.array([datetime(2024, 7, 1, 12, 0), datetime(2024, 7, 1, 13, 0)], pa.timestamp("us"))
    )
    path = tmp_path / "naive.parquet"
    pq.write_table(table, path)
    with pytest.raises(flowscan.DataError, match="--tz") as caught:
        flowscan.read_ledger(path)
    assert str(path) in str(caught.value)
    result = flowscan.read_ledger(path, timezone="America/New_York")
    assert_clean(result, 2)
    assert result.ledger.column("timestamp").to_pylist() == [
        datetime(2024, 7, 1, 16, 0, tzinfo=UTC),
        datetime(2024, 7, 1, 17, 0, tzinfo=UTC),
    ]


def test_files_disagreeing_on_a_column_type_raise_schema_mismatch(tmp_path):
    table = source_table(4)
    folder = tmp_path / "dataset"
    folder.mkdir()
    first, second = folder / "a.parquet", folder / "b.parquet"
    pq.write_table(table.slice(0, 2), first)
    pq.write_table(table.slice(2, 2).set_column(4, "amount", pa.array([3.5, 4.5], pa.float64())), second)
    with pytest.raises(flowscan.SchemaMismatchError) as caught:
        flowscan.read_ledger(folder)
    message = str(caught.value)
    assert str(first) in message and str(second) in message
    assert "'amount'" in message


# -- canonical round trip ------------------------------------------------------------------------


def round_trip(tmp_path, source, **options):
    """Read ``source``, write it with write_ledger, read the canonical file back."""
    first = flowscan.read_ledger(source, **options)
    out = tmp_path / "ledger.parquet"
    written = flowscan.write_ledger(first, out)
    assert written["ledger"] == out and out.exists()
    again = flowscan.read_ledger(out, format="canonical")
    assert [f.preset for f in again.report.files] == ["canonical"]
    assert again.report.reasons == {}
    return first, again


def test_canonical_ledger_round_trip(tmp_path):
    source = tmp_path / "source.csv"
    source.write_text(
        "txn_id,timestamp,sender,receiver,amount,currency,channel,location,mcc\n"
        "T1,2024-01-01T10:00:00Z,0001,0002,12.34,USD,wire,NYC,0742\n"
        "T2,2024-01-01T09:00:00Z,0002,,7,JPY,cash,,\n"
        "T3,2024-01-01T11:00:00Z,0003,0003,1.234,BHD,p2p,,\n"
        "T4,2024-01-01T11:00:00Z,,0004,3.00,USD,POS,,\n",
    )
    first, again = round_trip(tmp_path, source)
    assert first.report.accepted == 4
    assert again.ledger.equals(first.ledger)
    assert again.ledger.schema.equals(flowscan.CANONICAL_SCHEMA, check_metadata=True)
    # detected without --format too
    assert flowscan.read_ledger(tmp_path / "ledger.parquet").ledger.equals(first.ledger)


def test_canonical_round_trip_keeps_is_reversal(tmp_path):
    # A reversal read with negative_amounts="reversal" keeps is_reversal when its own
    # canonical file is read back.
    source = tmp_path / "source.csv"
    source.write_text(
        "txn_id,timestamp,sender,receiver,amount,currency\n"
        "T1,2024-01-01T10:00:00Z,0001,0002,-3.00,USD\n"
    )
    first, again = round_trip(tmp_path, source, negative_amounts="reversal")
    assert first.ledger.column("is_reversal").to_pylist() == [True]
    assert again.ledger.column("is_reversal").to_pylist() == [True]
    assert again.ledger.equals(first.ledger)


def test_canonical_round_trip_keeps_txn_id_generated(tmp_path):
    # A ledger whose ids flowscan made (no txn_id column in the source) keeps
    # txn_id_generated when its own canonical file is read back.
    source = tmp_path / "source.csv"
    source.write_text(
        "timestamp,sender,receiver,amount,currency\n"
        "2024-01-01T10:00:00Z,0001,0002,12.34,USD\n"
    )
    first, again = round_trip(tmp_path, source)
    assert first.ledger.column("txn_id_generated").to_pylist() == [True]
    assert again.ledger.column("txn_id_generated").to_pylist() == [True]
    assert again.ledger.equals(first.ledger)


# -- order and chunking --------------------------------------------------------------------------

ACCOUNTS = st.sampled_from(["0001", "0002", "00003", "A-9", None])
ROW = st.tuples(
    st.integers(0, 12),  # txn id number: repeats make duplicates and conflicts
    st.integers(0, 4),  # minutes after T0: repeats make timestamp ties
    ACCOUNTS,
    ACCOUNTS,
    st.integers(0, 10**9),  # amount in cents
    st.sampled_from(["USD", "EUR"]),
)


def ledger_table(rows, with_ids):
    columns = {
        "timestamp": pa.array([T0 + timedelta(minutes=r[1]) for r in rows], pa.timestamp("us", tz="UTC")),
        "sender": pa.array([r[2] for r in rows], pa.string()),
        "receiver": pa.array([r[3] for r in rows], pa.string()),
        "amount": pa.array([f"{r[4] // 100}.{r[4] % 100:02d}" for r in rows], pa.string()),
        "currency": pa.array([r[5] for r in rows], pa.string()),
    }
    if with_ids:
        columns = {"txn_id": pa.array([f"T{r[0]:02d}" for r in rows], pa.string()), **columns}
    return pa.table(columns)


@pytest.fixture(scope="module")
def prop_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("order")


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(ROW, min_size=1, max_size=25),
    with_ids=st.booleans(),
    data=st.data(),
)
def test_row_order_and_chunking_do_not_change_the_ledger(prop_dir, rows, with_ids, data):
    n = len(rows)
    order = data.draw(st.permutations(range(n)), label="order")
    row_group_size = data.draw(st.integers(1, n), label="row_group_size")
    batch_size = data.draw(st.integers(1, n), label="batch_size")

    table = ledger_table(rows, with_ids)
    plain, shuffled = prop_dir / "plain.parquet", prop_dir / "shuffled.parquet"
    pq.write_table(table, plain)
    pq.write_table(table.take(pa.array(order, pa.int64())), shuffled, row_group_size=row_group_size)

    expected = flowscan.read_ledger(plain, max_reject_rate=1.0)
    got = flowscan.read_ledger(shuffled, max_reject_rate=1.0, batch_size=batch_size)

    assert expected.report.reconciles and got.report.reconciles
    assert got.report.reasons == expected.report.reasons
    assert got.ledger.equals(expected.ledger)
