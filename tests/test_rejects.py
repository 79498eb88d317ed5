"""Every reject reason of ``flowscan.validate.REASONS``, one small CSV each.

Each case reads a three-record CSV (good, bad, good) with the generic mapping and checks the
rejects table row (source file, record number, reason, raw values) and the reconciliation
``rows_read == accepted + rejected + duplicates``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

import flowscan
from flowscan.validate import REASONS

HEADER = ("txn_id", "timestamp", "sender", "receiver", "amount", "currency")
GOOD_FIRST = ("G1", "2024-01-01T09:00:00Z", "ACC1", "ACC2", "10.00", "USD")
GOOD_LAST = ("G3", "2024-01-01T11:00:00Z", "ACC2", "ACC3", "20.00", "USD")


def write_csv(path, records, header=HEADER):
    """A CSV with ``header`` and one line per record (fields joined by commas)."""
    lines = [",".join(header)] + [",".join(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read(path, **options):
    options.setdefault("max_reject_rate", 1.0)
    return flowscan.read_ledger(path, **options)


def assert_reconciles(report):
    assert report.reconciles
    assert report.rows_read == report.accepted + report.rejected + report.duplicates


def as_source(record, header=HEADER):
    """The raw JSON object the rejects file should hold for ``record``."""
    return dict(zip(header, record))


# -- one reject per reason: rows whose raw values are the source record ------------------------

T = "2024-01-01T10:00:00Z"

# (case id, bad record, read options, expected reason, expected detail or None)
VALUE_CASES = [
    ("missing_field-timestamp", ("B2", "", "ACC1", "ACC2", "1.00", "USD"), {}, "missing_field", "timestamp"),
    ("missing_field-amount", ("B2", T, "ACC1", "ACC2", "", "USD"), {}, "missing_field", "amount"),
    ("missing_field-currency", ("B2", T, "ACC1", "ACC2", "1.00", ""), {}, "missing_field", "currency"),
    ("missing_field-both-sides", ("B2", T, "", "", "1.00", "USD"), {}, "missing_field", "sender and receiver"),
    ("empty_id", ("", T, "ACC1", "ACC2", "1.00", "USD"), {}, "empty_id", "txn_id"),
    ("empty_id-blank", ("   ", T, "ACC1", "ACC2", "1.00", "USD"), {}, "empty_id", "txn_id"),
    ("overlong_id-txn_id", ("X" * 129, T, "ACC1", "ACC2", "1.00", "USD"), {}, "overlong_id", "txn_id"),
    ("overlong_id-sender", ("B2", T, "S" * 129, "ACC2", "1.00", "USD"), {}, "overlong_id", "sender"),
    ("overlong_id-receiver", ("B2", T, "ACC1", "R" * 129, "1.00", "USD"), {}, "overlong_id", "receiver"),
    ("bad_timestamp-text", ("B2", "yesterday", "ACC1", "ACC2", "1.00", "USD"), {}, "bad_timestamp", None),
    ("bad_timestamp-impossible-iso", ("B2", "2024-02-30T10:00:00Z", "ACC1", "ACC2", "1.00", "USD"), {},
     "bad_timestamp", None),
    ("timestamp_out_of_range-before", ("B2", "1969-12-31T23:59:59Z", "ACC1", "ACC2", "1.00", "USD"), {},
     "timestamp_out_of_range", None),
    ("timestamp_out_of_range-at-valid_until", ("B2", "2100-01-01T00:00:00Z", "ACC1", "ACC2", "1.00", "USD"), {},
     "timestamp_out_of_range", None),
    ("timestamp_out_of_range-custom", ("B2", "2023-12-31T23:59:59Z", "ACC1", "ACC2", "1.00", "USD"),
     {"valid_from": "2024-01-01T00:00:00Z"}, "timestamp_out_of_range", None),
    ("unknown_currency-made-up", ("B2", T, "ACC1", "ACC2", "1.00", "ABC"), {}, "unknown_currency", None),
    ("unknown_currency-no-minor-units", ("B2", T, "ACC1", "ACC2", "1.00", "XXX"), {}, "unknown_currency", None),
    ("bad_amount-text", ("B2", T, "ACC1", "ACC2", "ten", "USD"), {}, "bad_amount", None),
    ("bad_amount-nan", ("B2", T, "ACC1", "ACC2", "NaN", "USD"), {}, "bad_amount", None),
    ("bad_amount-inf", ("B2", T, "ACC1", "ACC2", "inf", "USD"), {}, "bad_amount", None),
    ("amount_precision-usd", ("B2", T, "ACC1", "ACC2", "12.345", "USD"), {}, "amount_precision", None),
    ("amount_precision-jpy", ("B2", T, "ACC1", "ACC2", "100.5", "JPY"), {}, "amount_precision", None),
    ("absurd_amount", ("B2", T, "ACC1", "ACC2", "1000000000001", "USD"), {}, "absurd_amount", None),
    ("absurd_amount-custom-max", ("B2", T, "ACC1", "ACC2", "5000.01", "USD"), {"max_amount": 5000},
     "absurd_amount", None),
    ("negative_amount", ("B2", T, "ACC1", "ACC2", "-5.00", "USD"), {}, "negative_amount", None),
]


@pytest.mark.parametrize(
    ("bad", "options", "reason", "detail"),
    [c[1:] for c in VALUE_CASES],
    ids=[c[0] for c in VALUE_CASES],
)
def test_value_reject(tmp_path, bad, options, reason, detail):
    path = write_csv(tmp_path / "ledger.csv", [GOOD_FIRST, bad, GOOD_LAST])
    result = read(path, **options)
    report = result.report

    assert_reconciles(report)
    assert (report.rows_read, report.accepted, report.rejected, report.duplicates) == (3, 2, 1, 0)
    assert report.reasons == {reason: 1}
    assert result.ledger.column("txn_id").to_pylist() == ["G1", "G3"]

    (row,) = result.rejects.to_pylist()
    assert row["source_file"] == str(path)
    assert row["row_number"] == 2
    assert row["reason"] == reason
    if detail is not None:
        assert row["detail"] == detail
    assert json.loads(row["raw"]) == as_source(bad)


def test_every_reason_has_a_test():
    covered = {c[3] for c in VALUE_CASES} | {
        "malformed_row",  # test_malformed_row_*
        "bad_timestamp",  # test_bad_timestamp_with_timestamp_format
        "naive_timestamp",  # test_naive_timestamp_*
        "ambiguous_local_time",  # test_ambiguous_local_time_*
        "conflicting_duplicate_id",  # test_conflicting_duplicate_id_*
        "duplicate",  # test_exact_duplicate_*
    }
    assert covered == set(REASONS)


def test_overlong_id_at_the_limit_is_accepted(tmp_path):
    record = ("X" * 128, T, "S" * 128, "R" * 128, "1.00", "USD")
    result = read(write_csv(tmp_path / "ledger.csv", [record]))
    assert result.report.accepted == 1
    assert result.ledger.column("txn_id").to_pylist() == ["X" * 128]


def test_amount_at_max_amount_is_accepted(tmp_path):
    record = ("B1", T, "ACC1", "ACC2", "1000000000000", "USD")
    result = read(write_csv(tmp_path / "ledger.csv", [record]))
    assert result.report.reasons == {}
    assert result.ledger.column("amount").to_pylist() == [10**12 * 100]


def test_timestamps_at_valid_from_and_just_before_valid_until_are_accepted(tmp_path):
    records = [
        ("B1", "1970-01-01T00:00:00Z", "ACC1", "ACC2", "1.00", "USD"),
        ("B2", "2099-12-31T23:59:59Z", "ACC1", "ACC2", "1.00", "USD"),
    ]
    result = read(write_csv(tmp_path / "ledger.csv", records))
    assert result.report.reasons == {}
    assert result.report.accepted == 2


# -- timestamps ----------------------------------------------------------------------------------


def test_bad_timestamp_with_timestamp_format(tmp_path):
    records = [
        ("B1", "2024-02-29 10:00", "ACC1", "ACC2", "1.00", "USD"),
        ("B2", "2024-02-30 10:00", "ACC1", "ACC2", "1.00", "USD"),  # no 30 February: not 1 March
        ("B3", "2024-03-01 10:00", "ACC1", "ACC2", "1.00", "USD"),
    ]
    path = write_csv(tmp_path / "ledger.csv", records)
    result = read(path, timestamp_format="%Y-%m-%d %H:%M", timezone="UTC")

    assert_reconciles(result.report)
    assert result.report.reasons == {"bad_timestamp": 1}
    (row,) = result.rejects.to_pylist()
    assert (row["source_file"], row["row_number"], row["reason"]) == (str(path), 2, "bad_timestamp")
    assert json.loads(row["raw"]) == as_source(records[1])
    assert result.ledger.column("timestamp").to_pylist() == [
        datetime(2024, 2, 29, 10, tzinfo=timezone.utc),
        datetime(2024, 3, 1, 10, tzinfo=timezone.utc),
    ]


def test_naive_timestamp_in_a_file_mixing_zoned_and_naive_rows(tmp_path):
    records = [
        ("B1", "2024-01-01T10:00:00Z", "ACC1", "ACC2", "1.00", "USD"),
        ("B2", "2024-01-01T10:00:00", "ACC1", "ACC2", "1.00", "USD"),
        ("B3", "2024-01-01T12:00:00+02:00", "ACC1", "ACC2", "1.00", "USD"),
        ("B4", "2024-01-01 11:00:00", "ACC1", "ACC2", "1.00", "USD"),
    ]
    path = write_csv(tmp_path / "ledger.csv", records)
    result = read(path)

    assert_reconciles(result.report)
    assert result.report.reasons == {"naive_timestamp": 2}
    rows = result.rejects.to_pylist()
    assert [(r["source_file"], r["row_number"], r["reason"]) for r in rows] == [
        (str(path), 2, "naive_timestamp"),
        (str(path), 4, "naive_timestamp"),
    ]
    assert [json.loads(r["raw"]) for r in rows] == [as_source(records[1]), as_source(records[3])]
    assert result.ledger.column("timestamp").to_pylist() == [datetime(2024, 1, 1, 10, tzinfo=timezone.utc)] * 2


def test_naive_timestamps_only_need_a_declared_zone(tmp_path):
    records = [("B1", "2024-01-01T10:00:00", "ACC1", "ACC2", "1.00", "USD")]
    path = write_csv(tmp_path / "ledger.csv", records)
    with pytest.raises(flowscan.DataError, match="--tz"):
        read(path)
    result = read(path, timezone="Europe/Berlin")
    assert result.ledger.column("timestamp").to_pylist() == [datetime(2024, 1, 1, 9, tzinfo=timezone.utc)]


def test_ambiguous_local_time_repeated_and_skipped_hours(tmp_path):
    records = [
        ("B1", "2024-11-03T00:30:00", "ACC1", "ACC2", "1.00", "USD"),
        ("B2", "2024-11-03T01:30:00", "ACC1", "ACC2", "1.00", "USD"),  # happens twice in New York
        ("B3", "2024-03-10T02:30:00", "ACC1", "ACC2", "1.00", "USD"),  # never happens in New York
        ("B4", "2024-03-10T03:30:00", "ACC1", "ACC2", "1.00", "USD"),
    ]
    path = write_csv(tmp_path / "ledger.csv", records)
    result = read(path, timezone="America/New_York")

    assert_reconciles(result.report)
    assert result.report.reasons == {"ambiguous_local_time": 2}
    rows = result.rejects.to_pylist()
    assert [(r["source_file"], r["row_number"], r["reason"]) for r in rows] == [
        (str(path), 2, "ambiguous_local_time"),
        (str(path), 3, "ambiguous_local_time"),
    ]
    assert [json.loads(r["raw"]) for r in rows] == [as_source(records[1]), as_source(records[2])]
    assert result.ledger.column("timestamp").to_pylist() == [
        datetime(2024, 3, 10, 7, 30, tzinfo=timezone.utc),  # 03:30 EDT
        datetime(2024, 11, 3, 4, 30, tzinfo=timezone.utc),  # 00:30 EDT
    ]


# -- amounts -------------------------------------------------------------------------------------


def test_amount_rounding_half_even_accepts_and_rounds(tmp_path):
    records = [
        ("B1", T, "ACC1", "ACC2", "12.345", "USD"),
        ("B2", T, "ACC1", "ACC2", "12.355", "USD"),
        ("B3", T, "ACC1", "ACC2", "12.3451", "USD"),
        ("B4", T, "ACC1", "ACC2", "100.5", "JPY"),
    ]
    result = read(write_csv(tmp_path / "ledger.csv", records), amount_rounding="half-even")
    assert result.report.reasons == {}
    amounts = dict(zip(result.ledger.column("txn_id").to_pylist(), result.ledger.column("amount").to_pylist()))
    assert amounts == {"B1": 1234, "B2": 1236, "B3": 1235, "B4": 100}


def test_negative_amounts_as_reversals(tmp_path):
    records = [
        ("B1", T, "ACC1", "ACC2", "-5.25", "USD"),
        ("B2", "2024-01-01T11:00:00Z", "ACC1", "ACC2", "5.25", "USD"),
    ]
    result = read(write_csv(tmp_path / "ledger.csv", records), negative_amounts="reversal")
    assert result.report.reasons == {}
    reversal, normal = result.ledger.to_pylist()
    assert (reversal["sender"], reversal["receiver"], reversal["amount"]) == ("ACC2", "ACC1", 525)
    assert reversal["is_reversal"] is True
    assert (normal["sender"], normal["receiver"], normal["amount"]) == ("ACC1", "ACC2", 525)
    assert normal["is_reversal"] is False


# -- malformed records ---------------------------------------------------------------------------


def test_malformed_row_is_rejected_with_its_text(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text(
        "txn_id,timestamp,sender,receiver,amount,currency\n"
        "G1,2024-01-01T09:00:00Z,ACC1,ACC2,10.00,USD\n"
        "B2,2024-01-01T10:00:00Z,ACC1,ACC2,1.00,USD,extra\n"
        "G3,2024-01-01T11:00:00Z,ACC2,ACC3,20.00,USD\n"
    )
    result = read(path)
    assert_reconciles(result.report)
    assert (result.report.rows_read, result.report.accepted, result.report.rejected) == (3, 2, 1)
    assert result.report.reasons == {"malformed_row": 1}
    (row,) = result.rejects.to_pylist()
    assert (row["source_file"], row["reason"]) == (str(path), "malformed_row")
    assert json.loads(row["raw"]) == {"text": "B2,2024-01-01T10:00:00Z,ACC1,ACC2,1.00,USD,extra"}


def test_malformed_row_number_is_its_record_number_and_detail_gives_the_line(tmp_path):
    # A malformed record gets its record number like every other reject (the header is not a
    # record), and the detail names its physical line. The quoted newline in record 2 makes
    # the two differ: the bad record 3 starts on line 5.
    path = tmp_path / "ledger.csv"
    path.write_text(
        "txn_id,timestamp,sender,receiver,amount,currency\n"
        "G1,2024-01-01T09:00:00Z,ACC1,ACC2,10.00,USD\n"
        'G2,2024-01-01T09:30:00Z,"ACC\n1",ACC2,10.00,USD\n'
        "B3,2024-01-01T10:00:00Z,ACC1,ACC2,1.00\n"
    )
    (row,) = read(path).rejects.to_pylist()
    assert row["reason"] == "malformed_row"
    assert row["row_number"] == 3
    assert row["detail"].startswith("line 5;")


def test_row_numbers_after_a_malformed_row_still_count_it(tmp_path):
    # schema.REJECTS_SCHEMA: "row_number counts data records from 1 in their file". The bad
    # timestamp is data record 3. The skipped malformed record
    # counts, so later row numbers still point at their records.
    path = tmp_path / "ledger.csv"
    path.write_text(
        "txn_id,timestamp,sender,receiver,amount,currency\n"
        "G1,2024-01-01T09:00:00Z,ACC1,ACC2,10.00,USD\n"
        "B2,2024-01-01T10:00:00Z,ACC1,ACC2,1.00,USD,extra\n"
        "B3,yesterday,ACC1,ACC2,1.00,USD\n"
    )
    rows = read(path).rejects.to_pylist()
    (bad_ts,) = [r for r in rows if r["reason"] == "bad_timestamp"]
    assert json.loads(bad_ts["raw"])["txn_id"] == "B3"
    assert bad_ts["row_number"] == 3


# -- duplicates ----------------------------------------------------------------------------------


def test_conflicting_duplicate_id_rejects_every_row_with_the_id(tmp_path):
    records = [
        ("D1", T, "ACC1", "ACC2", "1.00", "USD"),
        ("G2", T, "ACC1", "ACC2", "1.00", "USD"),
        ("D1", T, "ACC1", "ACC2", "2.00", "USD"),
        ("D1", T, "ACC1", "ACC2", "1.00", "USD"),  # same as record 1, but the id is in conflict
    ]
    path = write_csv(tmp_path / "ledger.csv", records)
    result = read(path)

    assert_reconciles(result.report)
    assert (result.report.rows_read, result.report.accepted, result.report.rejected, result.report.duplicates) == (
        4, 1, 3, 0,
    )
    assert result.report.reasons == {"conflicting_duplicate_id": 3}
    assert result.ledger.column("txn_id").to_pylist() == ["G2"]
    rows = result.rejects.to_pylist()
    assert [(r["source_file"], r["row_number"], r["reason"]) for r in rows] == [
        (str(path), 1, "conflicting_duplicate_id"),
        (str(path), 3, "conflicting_duplicate_id"),
        (str(path), 4, "conflicting_duplicate_id"),
    ]
    assert [json.loads(r["raw"])["txn_id"] for r in rows] == ["D1", "D1", "D1"]


def test_conflicting_duplicate_id_across_two_files(tmp_path):
    first = write_csv(tmp_path / "a.csv", [("G1", T, "ACC1", "ACC2", "1.00", "USD"), ("D1", T, "ACC1", "ACC2", "1.00", "USD")])
    second = write_csv(tmp_path / "b.csv", [("D1", T, "ACC1", "ACC9", "1.00", "USD"), ("G2", T, "ACC1", "ACC2", "3.00", "USD")])
    result = flowscan.read_ledger(first, second, max_reject_rate=1.0)

    assert_reconciles(result.report)
    assert result.report.reasons == {"conflicting_duplicate_id": 2}
    assert result.ledger.column("txn_id").to_pylist() == ["G1", "G2"]
    rows = result.rejects.to_pylist()
    assert [(r["source_file"], r["row_number"], r["reason"]) for r in rows] == [
        (str(first), 2, "conflicting_duplicate_id"),
        (str(second), 1, "conflicting_duplicate_id"),
    ]
    per_file = {f.path: (f.rows_read, f.accepted, f.rejected, f.duplicates) for f in result.report.files}
    assert per_file == {str(first): (2, 1, 1, 0), str(second): (2, 1, 1, 0)}


def test_exact_duplicate_is_dropped_and_listed(tmp_path):
    records = [
        ("D1", T, "ACC1", "ACC2", "1.00", "USD"),
        ("G2", T, "ACC1", "ACC2", "1.00", "USD"),
        ("D1", T, " ACC1 ", "ACC2", "1.00", "USD"),  # same content once trimmed
    ]
    path = write_csv(tmp_path / "ledger.csv", records)
    result = read(path)

    report = result.report
    assert_reconciles(report)
    assert (report.rows_read, report.accepted, report.rejected, report.duplicates) == (3, 2, 0, 1)
    assert report.reasons == {"duplicate": 1}
    assert sorted(result.ledger.column("txn_id").to_pylist()) == ["D1", "G2"]
    (row,) = result.rejects.to_pylist()
    assert (row["source_file"], row["row_number"], row["reason"]) == (str(path), 3, "duplicate")
    assert json.loads(row["raw"])["txn_id"] == "D1"
    assert result.rejects.num_rows == report.rejected + report.duplicates


def test_duplicate_rejects_raw_holds_the_source_record(tmp_path):
    # schema.REJECTS_SCHEMA: "raw is the source record as a JSON object of text values";
    # README: rejected and dropped rows go to the rejects file with their "raw values".
    # For duplicate and conflicting_duplicate_id rows too, raw is the source record
    # ("1.00", "...Z"), not the canonical row.
    records = [
        ("D1", T, "ACC1", "ACC2", "1.00", "USD"),
        ("D1", T, "ACC1", "ACC2", "1.00", "USD"),
        ("C1", T, "ACC1", "ACC2", "1.00", "USD"),
        ("C1", T, "ACC1", "ACC2", "2.00", "USD"),
    ]
    result = read(write_csv(tmp_path / "ledger.csv", records))
    rows = result.rejects.to_pylist()
    assert [r["reason"] for r in rows] == ["duplicate", "conflicting_duplicate_id", "conflicting_duplicate_id"]
    assert [json.loads(r["raw"]) for r in rows] == [as_source(records[1]), as_source(records[2]), as_source(records[3])]


# -- accepted oddities ---------------------------------------------------------------------------


def test_self_transfer_is_accepted_and_flagged(tmp_path):
    records = [("S1", T, "ACC1", "ACC1", "1.00", "USD"), ("S2", "2024-01-01T11:00:00Z", "ACC1", "ACC2", "1.00", "USD")]
    result = read(write_csv(tmp_path / "ledger.csv", records))
    assert result.report.reasons == {}
    flags = dict(zip(result.ledger.column("txn_id").to_pylist(), result.ledger.column("is_self_transfer").to_pylist()))
    assert flags == {"S1": True, "S2": False}


def test_ids_are_trimmed_and_keep_leading_zeros(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text(
        "txn_id,timestamp,sender,receiver,amount,currency\n"
        "  007 ,2024-01-01T10:00:00Z, 0000077001 ,\t00420\t,1.00,USD\n"
    )
    result = read(path)
    assert result.report.reasons == {}
    row = result.ledger.to_pylist()[0]
    assert (row["txn_id"], row["sender"], row["receiver"]) == ("007", "0000077001", "00420")


# -- stopping ------------------------------------------------------------------------------------


def test_on_bad_rows_fail_stops_at_a_malformed_record(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text(
        "txn_id,timestamp,sender,receiver,amount,currency\n"
        "G1,2024-01-01T09:00:00Z,ACC1,ACC2,10.00,USD\n"
        "B2,2024-01-01T10:00:00Z,ACC1,ACC2,1.00,USD,extra\n"
    )
    with pytest.raises(flowscan.RejectLimitError, match="malformed") as caught:
        read(path, on_bad_rows="fail")
    assert str(path) in str(caught.value)


def test_on_bad_rows_fail_stops_at_the_first_bad_value_row(tmp_path):
    # flowscan.read_ledger's docstring: "RejectLimitError: More than max_reject_rate of the rows
    # were rejected, or on_bad_rows="fail"" (errors.RejectLimitError says the same).
    # A bad value row raises RejectLimitError (a DataError), naming the record.
    records = [
        GOOD_FIRST,
        ("B2", "yesterday", "ACC1", "ACC2", "1.00", "USD"),
        ("B3", T, "ACC1", "ACC2", "ten", "USD"),
    ]
    path = write_csv(tmp_path / "ledger.csv", records)
    with pytest.raises(flowscan.DataError, match=r"record 2 rejected \(bad_timestamp\)") as caught:
        read(path, on_bad_rows="fail")
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, flowscan.RejectLimitError)


def test_max_reject_rate_exceeded_raises(tmp_path):
    records = [GOOD_FIRST, ("B2", "yesterday", "ACC1", "ACC2", "1.00", "USD"), GOOD_LAST]
    path = write_csv(tmp_path / "ledger.csv", records)
    with pytest.raises(flowscan.RejectLimitError, match="bad_timestamp"):
        flowscan.read_ledger(path, max_reject_rate=0.3)
    # 1 of 3 is exactly at a limit of 1/3: not above it
    assert flowscan.read_ledger(path, max_reject_rate=1 / 3).report.rejected == 1


def test_default_max_reject_rate_is_one_percent(tmp_path):
    good = [(f"G{i}", T, "ACC1", "ACC2", "1.00", "USD") for i in range(99)]
    bad = ("B1", "yesterday", "ACC1", "ACC2", "1.00", "USD")
    assert flowscan.read_ledger(write_csv(tmp_path / "ok.csv", good + [bad])).report.rejected == 1
    with pytest.raises(flowscan.RejectLimitError):
        flowscan.read_ledger(write_csv(tmp_path / "too_many.csv", good[:98] + [bad, ("B2",) + bad[1:]]))


# -- which reason wins ---------------------------------------------------------------------------

# Rows failing two checks; validate.py: "A row gets the first reason that applies, in the
# order of REASONS."
PRECEDENCE_CASES = [
    # (case id, record, the reason expected, the later reason that also applies)
    ("bad_timestamp-over-bad_amount", ("B2", "yesterday", "ACC1", "ACC2", "ten", "USD"),
     "bad_timestamp", "bad_amount"),
    ("naive_timestamp-over-timestamp_out_of_range", ("B2", "1960-01-01T10:00:00", "ACC1", "ACC2", "1.00", "USD"),
     "naive_timestamp", "timestamp_out_of_range"),
    ("timestamp_out_of_range-over-unknown_currency", ("B2", "1960-01-01T10:00:00Z", "ACC1", "ACC2", "1.00", "ABC"),
     "timestamp_out_of_range", "unknown_currency"),
    ("unknown_currency-over-bad_amount", ("B2", T, "ACC1", "ACC2", "ten", "ABC"), "unknown_currency", "bad_amount"),
    ("amount_precision-over-negative_amount", ("B2", T, "ACC1", "ACC2", "-1.001", "USD"),
     "amount_precision", "negative_amount"),
    ("absurd_amount-over-negative_amount", ("B2", T, "ACC1", "ACC2", "-10000000000000", "USD"),
     "absurd_amount", "negative_amount"),
    ("empty_id-over-bad_timestamp", ("", "yesterday", "ACC1", "ACC2", "1.00", "USD"), "empty_id", "bad_timestamp"),
    ("missing_field-over-bad_amount", ("B2", T, "ACC1", "ACC2", "ten", ""), "missing_field", "bad_amount"),
    # The four below put missing_field (first in REASONS) against a later reason.
    # The earlier reason in REASONS wins, whatever order the checks run in.
    ("missing_field-over-empty_id", ("", "", "ACC1", "ACC2", "1.00", "USD"), "missing_field", "empty_id"),
    ("missing_field-over-overlong_id", ("X" * 129, T, "", "", "1.00", "USD"), "missing_field", "overlong_id"),
    ("missing_field-over-bad_timestamp", ("B2", "yesterday", "", "", "1.00", "USD"), "missing_field", "bad_timestamp"),
    ("missing_field-over-unknown_currency", ("B2", T, "ACC1", "ACC2", "", "ABC"), "missing_field", "unknown_currency"),
]


@pytest.mark.parametrize(
    ("bad", "expected", "later"), [c[1:] for c in PRECEDENCE_CASES], ids=[c[0] for c in PRECEDENCE_CASES]
)
def test_first_applicable_reason_in_reasons_order(tmp_path, bad, expected, later):
    assert list(REASONS).index(expected) < list(REASONS).index(later)
    result = read(write_csv(tmp_path / "ledger.csv", [GOOD_FIRST, bad]))
    assert_reconciles(result.report)
    (row,) = result.rejects.to_pylist()
    assert row["row_number"] == 2
    assert row["reason"] == expected
