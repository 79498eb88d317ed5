"""Structuring: the kernel against its naive twin, planted cases, and properties."""

from __future__ import annotations

import csv
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numba
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowscan
import naive
from flowscan.rules.structuring import ChannelClass, Structuring, structuring

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
HOUR = 3600 * 1_000_000
HEADER = ["txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel", "location"]


def ledger_of(records):
    """A canonical ledger and its index from (txn_id, hours after T0, sender, receiver,
    amount text, currency, channel, location) records."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for txn, hours, sender, receiver, amount, currency, channel, location in records:
                when = (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
                writer.writerow([txn, when, sender or "", receiver or "", amount, currency, channel, location or ""])
        result = flowscan.read_ledger(path, max_reject_rate=0.0)
    return result.ledger, flowscan.build_index(result.ledger)


def twin_rows(ledger):
    rows = []
    for r in ledger.to_pylist():
        rows.append({
            "ts": int((r["timestamp"] - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1)),
            "amount": r["amount"], "channel": r["channel"], "currency": r["currency"],
            "sender": r["sender"], "receiver": r["receiver"], "location": r["location"],
        })
    return rows


def flat(result):
    """Instances as comparable dicts, with their evidence txn ids."""
    evidence = {}
    for row in result.evidence.to_pylist():
        evidence.setdefault(row["instance_id"], []).append(row["txn_id"])
    out = []
    for row in result.instances.to_pylist():
        reasons = {r["name"]: r["observed"] for r in row["reasons"]}
        out.append({
            "rule": row["rule"], "account": row["account"], "start": row["window_start"], "end": row["window_end"],
            "count": int(reasons["parts"]), "sum": int(reasons["sum"]), "largest": int(reasons["largest_part"]),
            "locations": int(reasons["distinct_locations"]),
            "counterparties": int(reasons["distinct_counterparties"]),
            "evidence": evidence.get(row["instance_id"], []), "total": row["n_evidence_total"],
            "listed": row["n_evidence"],
        })
    return out


def expected(ledger, options: Structuring):
    """The twin's instances for every class, currency and window, shaped like ``flat``."""
    rows = twin_rows(ledger)
    txn = ledger.column("txn_id").to_pylist()
    out = []
    for cls in options.classes:
        for currency, threshold in cls.thresholds_minor.items():
            from decimal import ROUND_CEILING, Decimal

            low = int((Decimal(str(options.band)) * threshold).to_integral_value(rounding=ROUND_CEILING))
            for seconds in options.window_seconds:
                rule = f"structuring.{cls.name}.{cls.side}.{flowscan.params.format_duration(seconds)}"
                for f in naive.structuring(rows, side=cls.side, channels=set(cls.channels), currency=currency,
                                           threshold=threshold, low=low, window_us=seconds * 1_000_000,
                                           min_count=options.min_count, cap=options.evidence_cap):
                    to_dt = lambda us: datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)
                    out.append({
                        "rule": rule, "account": f["account"], "start": to_dt(f["start"]), "end": to_dt(f["end"]),
                        "count": f["count"], "sum": f["sum"], "largest": f["largest"],
                        "locations": f["locations"], "counterparties": f["counterparties"],
                        "evidence": [txn[i] for i in f["evidence"]], "total": f["total"],
                        "listed": len(f["evidence"]),
                    })
    return sorted(out, key=lambda x: (x["rule"], x["account"], x["start"]))


ONE_DAY = Structuring(windows=("24h",))


def test_planted_smurf_is_found_with_its_exact_parts():
    records = [
        ("D1", 1, None, "SMURF", "9500.00", "USD", "cash", "BRANCH-A"),
        ("D2", 5, None, "SMURF", "9100.00", "USD", "cash", "BRANCH-B"),
        ("D3", 9, None, "SMURF", "8800.00", "USD", "cash", "BRANCH-C"),
        ("X1", 2, None, "HONEST", "9500.00", "USD", "cash", "BRANCH-A"),  # one part alone
        ("X2", 3, "HONEST", "SHOP", "120.00", "USD", "card", None),
    ]
    ledger, index = ledger_of(records)
    result = structuring(ledger, index, options=ONE_DAY)
    (found,) = flat(result)
    assert found["rule"] == "structuring.cash.in.24h"
    assert found["account"] == "SMURF"
    assert found["evidence"] == ["D1", "D2", "D3"]
    assert found["count"] == 3 and found["sum"] == 2_740_000 and found["largest"] == 950_000
    assert found["locations"] == 3 and found["counterparties"] == 0
    row = result.instances.to_pylist()[0]
    assert row["source"].startswith("FinCEN FIN-2014-A008")
    assert row["instance_id"] == "structuring.cash.in.24h/SMURF/D1"
    assert flat(result) == expected(ledger, ONE_DAY)


@pytest.mark.parametrize(
    ("amounts", "fires"),
    [
        (["10000.00", "9000.00"], False),  # exactly at T is not a part (each part must be under T)
        (["8000.00", "8000.00"], True),  # exactly at band * T is a part
        (["7999.99", "9999.99"], False),  # below the band
        (["5000.00", "5000.00"], False),  # under the band; the sum alone does not make structuring
        (["9999.99", "0.01"], False),  # the small one is no part, one part is not enough
    ],
)
def test_threshold_edges(amounts, fires):
    records = [(f"D{i}", i, None, "ACC", a, "USD", "cash", None) for i, a in enumerate(amounts)]
    ledger, index = ledger_of(records)
    result = structuring(ledger, index, options=ONE_DAY)
    assert (result.instances.num_rows == 1) is fires
    assert flat(result) == expected(ledger, ONE_DAY)


def test_event_exactly_on_the_window_edge_is_outside():
    records = [("D1", 0, None, "ACC", "9000.00", "USD", "cash", None),
               ("D2", 24, None, "ACC", "9000.00", "USD", "cash", None)]  # exactly 24 h later
    ledger, index = ledger_of(records)
    assert structuring(ledger, index, options=ONE_DAY).instances.num_rows == 0
    records[1] = ("D2", 23.999, None, "ACC", "9000.00", "USD", "cash", None)
    ledger, index = ledger_of(records)
    assert structuring(ledger, index, options=ONE_DAY).instances.num_rows == 1


def test_equal_timestamps_and_empty_ledger_and_cap():
    records = [(f"D{i}", 1, None, "ACC", "9000.00", "USD", "cash", None) for i in range(5)]
    ledger, index = ledger_of(records)
    capped = Structuring(windows=("24h",), evidence_cap=2)
    (found,) = flat(structuring(ledger, index, options=capped))
    assert found["count"] == 5 and found["listed"] == 2 and found["total"] == 5
    assert found["evidence"] == ["D0", "D1"]
    assert flat(structuring(ledger, index, options=capped)) == expected(ledger, capped)
    empty, empty_index = ledger_of([])
    assert structuring(empty, empty_index).instances.num_rows == 0


def test_withdrawals_wires_and_unconfigured_currencies():
    records = [
        ("W1", 1, "ACC", None, "9500.00", "USD", "cash", "ATM-1"),
        ("W2", 2, "ACC", None, "9500.00", "USD", "cash", "ATM-2"),
        ("F1", 1, "ACC", "EXT1", "2900.00", "USD", "wire", None),
        ("F2", 3, "ACC", "EXT2", "2950.00", "USD", "wire", None),
        ("E1", 1, None, "EUROS", "9500.00", "EUR", "cash", None),  # no EUR threshold configured
        ("E2", 2, None, "EUROS", "9500.00", "EUR", "cash", None),
    ]
    ledger, index = ledger_of(records)
    rules = {f["rule"]: f for f in flat(structuring(ledger, index, options=ONE_DAY))}
    assert set(rules) == {"structuring.cash.out.24h", "structuring.wire.out.24h"}
    assert rules["structuring.wire.out.24h"]["counterparties"] == 2
    assert rules["structuring.cash.out.24h"]["locations"] == 2
    assert flat(structuring(ledger, index, options=ONE_DAY)) == expected(ledger, ONE_DAY)


records_strategy = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=24 * 40, allow_nan=False),
        st.sampled_from(["A1", "A2", "A3", "0010", None]),
        st.sampled_from(["A1", "A2", "A3", "0010", None]),
        st.sampled_from(["9999.99", "8000.00", "7999.99", "9000.00", "10000.00", "2999.99", "2500.00", "500.00"]),
        st.sampled_from(["USD", "USD", "CAD", "EUR"]),
        st.sampled_from(["cash", "wire", "p2p"]),
        st.sampled_from(["L1", "L2", None]),
    ),
    max_size=40,
)


def _records(draw):
    out = []
    for i, (hours, s, r, amount, currency, channel, location) in enumerate(draw):
        if s is None and r is None:
            r = "A1"
        out.append((f"T{i:03d}", round(hours, 3), s, r, amount, currency, channel, location))
    return out


@settings(max_examples=40, deadline=None)
@given(records_strategy, st.sampled_from([1, 2, 3]))
def test_kernel_equals_twin_on_generated_ledgers(draw, min_count):
    options = Structuring(windows=("24h", "72h"), min_count=min_count, evidence_cap=3)
    ledger, index = ledger_of(_records(draw))
    assert flat(structuring(ledger, index, options=options)) == expected(ledger, options)


@settings(max_examples=15, deadline=None)
@given(records_strategy)
def test_same_result_for_one_and_many_threads(draw):
    # A planted smurf makes sure the comparison always covers instances and evidence.
    planted = [(f"P{i}", 1 + i, None, "PLANTED", "9000.00", "USD", "cash", "L1") for i in range(3)]
    ledger, index = ledger_of(_records(draw) + planted)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = structuring(ledger, index)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = structuring(ledger, index)
    finally:
        numba.set_num_threads(before)
    assert one.instances.num_rows >= 1
    assert one.instances.equals(many.instances) and one.evidence.equals(many.evidence)


@settings(max_examples=15, deadline=None)
@given(records_strategy, st.integers(min_value=1, max_value=500))
def test_row_order_time_shift_and_unrelated_accounts_change_nothing(draw, shift_hours):
    records = _records(draw)
    ledger, index = ledger_of(records)
    base = flat(structuring(ledger, index))
    # row order
    ledger2, index2 = ledger_of(list(reversed(records)))
    assert flat(structuring(ledger2, index2)) == base
    # a constant time shift moves every window by the same amount
    shifted = [(t, h + shift_hours, *rest) for t, h, *rest in records]
    ledger3, index3 = ledger_of(shifted)
    moved = flat(structuring(ledger3, index3))
    delta = timedelta(hours=shift_hours)
    assert [{**f, "start": f["start"] - delta, "end": f["end"] - delta} for f in moved] == base
    # unrelated accounts with their own structuring add instances only for themselves
    extra = [(f"Z{i}", 2 + i, None, "ZZ-UNRELATED", "9000.00", "USD", "cash", None) for i in range(3)]
    ledger4, index4 = ledger_of(records + extra)
    with_extra = flat(structuring(ledger4, index4))
    assert [f for f in with_extra if f["account"] != "ZZ-UNRELATED"] == base
    assert any(f["account"] == "ZZ-UNRELATED" for f in with_extra)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"band": 0}, ValueError, "The 'band' parameter of Structuring must be a number in (0, 1]. Got 0 instead."),
        ({"band": "high"}, TypeError, "The 'band' parameter of Structuring must be a number between 0 and 1."),
        ({"min_count": 0}, ValueError, "The 'min_count' parameter of Structuring must be a positive integer."),
        ({"windows": ("-3h",)}, ValueError, "The 'windows' parameter of Structuring must be a positive duration"),
        ({"windows": ()}, ValueError, "The 'windows' parameter of Structuring must be at least one duration"),
    ],
)
def test_options_are_validated_with_messages_that_name_the_parameter(kwargs, error, message):
    with pytest.raises(error) as caught:
        Structuring(**kwargs)
    assert str(caught.value).startswith(message)


def test_channel_class_validation():
    with pytest.raises(ValueError, match="'side' parameter of ChannelClass"):
        ChannelClass("cash", ("cash",), "sideways", {"USD": 10000})
    with pytest.raises(ValueError, match="'thresholds.XYZ' parameter of ChannelClass"):
        ChannelClass("cash", ("cash",), "in", {"XYZ": 10000})
    with pytest.raises(ValueError, match="at most 2 decimals"):
        ChannelClass("cash", ("cash",), "in", {"USD": "9999.999"})
