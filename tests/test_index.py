"""flowscan.build_index against the naive dict-based index in tests/naive.py."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowscan
import naive

EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
HEADER = "txn_id,timestamp,sender,receiver,amount,currency\n"


# -- helpers ---------------------------------------------------------------------------------


def canonical_table(rows) -> pa.Table:
    """A canonical ledger from rows (txn_id, seconds after EPOCH, sender, receiver, cents),
    sorted by (timestamp, txn_id) as read_ledger leaves it."""
    n = len(rows)
    senders = [r[2] for r in rows]
    receivers = [r[3] for r in rows]
    columns = {
        "txn_id": [r[0] for r in rows],
        "timestamp": [EPOCH + timedelta(seconds=r[1]) for r in rows],
        "sender": senders,
        "receiver": receivers,
        "amount": [r[4] for r in rows],
        "currency": ["USD"] * n,
        "channel": ["wire"] * n,
        "channel_raw": [None] * n,
        "location": [None] * n,
        "country": [None] * n,
        "mcc": [None] * n,
        "sender_bank": [None] * n,
        "receiver_bank": [None] * n,
        "is_self_transfer": [s is not None and s == r for s, r in zip(senders, receivers)],
        "is_reversal": [False] * n,
        "txn_id_generated": [False] * n,
    }
    table = pa.Table.from_pydict(columns, schema=flowscan.CANONICAL_SCHEMA)
    return table.sort_by([("timestamp", "ascending"), ("txn_id", "ascending")])


def read_csv_ledger(lines: list[str]) -> pa.Table:
    """Write a canonical-named CSV and read it with flowscan.read_ledger."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.csv"
        path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
        result = flowscan.read_ledger(path)
    assert result.report.rejected == 0 and result.report.duplicates == 0, result.report.reasons
    return result.ledger


def assert_index_matches_twin(ledger: pa.Table) -> flowscan.AccountIndex:
    index = flowscan.build_index(ledger)
    senders = ledger.column("sender").to_pylist()
    receivers = ledger.column("receiver").to_pylist()
    twin = naive.account_index(senders, receivers)

    assert index.accounts.to_pylist() == twin.accounts
    assert index.n_accounts == len(twin.accounts)
    assert index.sender.dtype == np.int32 and index.receiver.dtype == np.int32
    assert index.sender.tolist() == twin.sender
    assert index.receiver.tolist() == twin.receiver
    for csr, expected in ((index.by_sender, twin.by_sender), (index.by_receiver, twin.by_receiver)):
        assert len(csr.offsets) == index.n_accounts + 1
        assert csr.offsets[0] == 0
        assert [csr.rows_of(code).tolist() for code in range(index.n_accounts)] == expected
        assert csr.counts.tolist() == [len(rows) for rows in expected]
    assert index.by_sender.offsets[-1] == sum(s is not None for s in senders)
    assert index.by_receiver.offsets[-1] == sum(r is not None for r in receivers)

    # codes follow the sorted order of the ids, and accounts[code] round-trips
    accounts = index.accounts.to_pylist()
    assert accounts == sorted(set(accounts))
    for code, account in enumerate(accounts):
        assert index.code_of(account) == code
        assert index.accounts[code].as_py() == account
    for row, (s, r) in enumerate(zip(senders, receivers)):
        assert (None if index.sender[row] < 0 else accounts[index.sender[row]]) == s
        assert (None if index.receiver[row] < 0 else accounts[index.receiver[row]]) == r

    # rows inside each account are in ledger order: (timestamp, txn_id)
    keys = list(zip(ledger.column("timestamp").to_pylist(), ledger.column("txn_id").to_pylist()))
    for csr in (index.by_sender, index.by_receiver):
        for code in range(index.n_accounts):
            rows = csr.rows_of(code).tolist()
            assert rows == sorted(rows)
            assert [keys[i] for i in rows] == sorted(keys[i] for i in rows)
    return index


def assert_same_index(a: flowscan.AccountIndex, b: flowscan.AccountIndex) -> None:
    assert a.accounts.to_pylist() == b.accounts.to_pylist()
    assert a.sender.tolist() == b.sender.tolist()
    assert a.receiver.tolist() == b.receiver.tolist()
    for x, y in ((a.by_sender, b.by_sender), (a.by_receiver, b.by_receiver)):
        assert x.offsets.tolist() == y.offsets.tolist()
        assert x.rows.tolist() == y.rows.tolist()


# -- hand-made ledgers -----------------------------------------------------------------------


def test_empty_ledger_from_csv():
    ledger = read_csv_ledger([])
    assert ledger.num_rows == 0
    index = assert_index_matches_twin(ledger)
    assert index.n_accounts == 0
    assert index.by_sender.offsets.tolist() == [0]
    assert index.by_receiver.rows.tolist() == []


def test_empty_ledger_with_no_chunks():
    ledger = pa.Table.from_batches([], schema=flowscan.CANONICAL_SCHEMA)
    assert ledger.column("sender").num_chunks == 0
    index = assert_index_matches_twin(ledger)
    assert index.n_accounts == 0
    assert index.sender.tolist() == [] and index.by_sender.offsets.tolist() == [0]


def test_one_account():
    ledger = read_csv_ledger(
        [
            "t1,2024-01-01T00:00:00Z,A1,,5.00,USD",
            "t2,2024-01-01T00:00:01Z,,A1,7.00,USD",
            "t3,2024-01-01T00:00:02Z,A1,A1,1.00,USD",
        ]
    )
    index = assert_index_matches_twin(ledger)
    assert index.accounts.to_pylist() == ["A1"]
    assert index.sender.tolist() == [0, -1, 0]
    assert index.receiver.tolist() == [-1, 0, 0]
    assert index.by_sender.rows_of(0).tolist() == [0, 2]
    assert index.by_receiver.rows_of(0).tolist() == [1, 2]
    with pytest.raises(KeyError):
        index.code_of("A2")


def test_cash_rows_and_equal_timestamps_and_leading_zeros():
    ledger = read_csv_ledger(
        [
            "t3,2024-01-01T00:00:00Z,010,10,5.00,USD",
            "t1,2024-01-01T00:00:00Z,,10,5.00,USD",
            "t2,2024-01-01T00:00:00Z,10,,1.00,USD",
            "t0,2024-01-01T00:00:05Z,0010,010,2.00,USD",
            "t9,2023-12-31T23:59:59Z,10,0010,3.00,USD",
        ]
    )
    assert ledger.column("txn_id").to_pylist() == ["t9", "t1", "t2", "t3", "t0"]
    index = assert_index_matches_twin(ledger)
    # ids are text: "0010", "010" and "10" are three accounts, in byte order
    assert index.accounts.to_pylist() == ["0010", "010", "10"]
    assert index.sender.tolist() == [2, -1, 2, 1, 0]
    assert index.receiver.tolist() == [0, 2, -1, 2, 1]
    assert index.by_sender.rows_of(index.code_of("10")).tolist() == [0, 2]
    assert index.by_receiver.rows_of(index.code_of("10")).tolist() == [1, 3]
    assert index.by_sender.offsets[-1] == 4  # the cash deposit t1 has no sender


def test_codes_do_not_depend_on_row_order():
    rows = [("t1", 0, "b", "a", 1), ("t2", 1, "c", None, 2), ("t3", 2, None, "a", 3), ("t4", 2, "a", "d", 4)]
    ledger = canonical_table(rows)
    shuffled = canonical_table(rows[::-1])
    assert_same_index(assert_index_matches_twin(ledger), assert_index_matches_twin(shuffled))
    index = flowscan.build_index(ledger.take([3, 1, 0, 2]))
    assert index.accounts.to_pylist() == ["a", "b", "c", "d"]


def test_multi_chunk_with_empty_and_all_null_chunks():
    rows = [
        ("t1", 0, "x", None, 1),
        ("t2", 1, None, None, 2),  # not canonical (no account at all), still indexable
        ("t3", 2, "b", "x", 3),
        ("t4", 3, "a", "zz", 4),
        ("t5", 4, "zz", "b", 5),
    ]
    ledger = canonical_table(rows)
    chunked = pa.concat_tables([ledger.slice(0, 1), ledger.slice(1, 0), ledger.slice(1, 1), ledger.slice(2, 3)])
    assert chunked.column("sender").num_chunks == 4
    assert_same_index(assert_index_matches_twin(chunked), flowscan.build_index(ledger))


# -- generated ledgers -----------------------------------------------------------------------

account_ids = st.one_of(
    st.none(),
    st.sampled_from(["0", "00", "010", "10", "0010", "A", "a", "B1", "\u00e9", "z9"]),
    st.text(alphabet="0123ab\u00e9", min_size=1, max_size=4),
)


@st.composite
def ledgers(draw, max_rows=25):
    n = draw(st.integers(0, max_rows))
    rows = []
    for i in range(n):
        sender = draw(account_ids)
        receiver = draw(account_ids)
        if sender is None and receiver is None:  # canonical rows have at least one account
            receiver = draw(account_ids.filter(lambda a: a is not None))
        rows.append((f"t{draw(st.integers(0, 999)):03d}-{i}", draw(st.integers(0, 5)), sender, receiver, draw(st.integers(1, 10**6))))
    return canonical_table(rows)


@st.composite
def cuts(draw, n):
    return sorted(draw(st.lists(st.integers(0, n), max_size=4)))


@given(ledger=ledgers())
def test_index_matches_twin(ledger):
    assert_index_matches_twin(ledger)


@given(data=st.data())
def test_chunking_changes_nothing(data):
    ledger = data.draw(ledgers())
    points = [0] + data.draw(cuts(ledger.num_rows)) + [ledger.num_rows]
    chunked = pa.concat_tables([ledger.slice(a, b - a) for a, b in zip(points, points[1:])])
    assert chunked.equals(ledger)
    assert_same_index(assert_index_matches_twin(chunked), flowscan.build_index(ledger))


@settings(max_examples=15)
@given(ledger=ledgers(max_rows=12))
def test_index_of_csv_read_with_read_ledger(ledger):
    """The same ledger written as CSV and read back by read_ledger indexes the same way."""
    lines = []
    for row in ledger.to_pylist():
        stamp = row["timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ")
        cents = row["amount"]
        lines.append(f"{row['txn_id']},{stamp},{row['sender'] or ''},{row['receiver'] or ''},{cents // 100}.{cents % 100:02d},USD")
    read = read_csv_ledger(lines)
    assert read.column("txn_id").to_pylist() == ledger.column("txn_id").to_pylist()
    assert read.column("amount").to_pylist() == ledger.column("amount").to_pylist()
    assert_same_index(assert_index_matches_twin(read), flowscan.build_index(ledger))
