"""The bad-input corpus (issue 9, part 1): exports a bank did not design, each run end to end
through ``flowscan scan LEDGER --out DIR``.

Every case checks what the command did: when the run succeeds (exit 0), the bad rows are in
the run directory's rejects.parquet with their reason code and record number, and the
manifest's reconciliation holds (``rows_read == accepted + rejected + duplicates_dropped``);
when the input is unusable, exit 1 with exactly one line naming the file, no traceback, and
no run directory (nor a ``.partial`` staging directory) left behind. Cases whose input must
not change the outcome compare the scoring outputs byte for byte with the run of the
ordinary ledger (see tests/bad_inputs.py).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flowscan

from bad_inputs import (
    CYCLE,
    T0,
    UTC,
    account_rows,
    accounts,
    assert_no_crash,
    assert_run,
    error_line,
    evidence,
    iso,
    ordinary_rows,
    parquet_table,
    rejected_as,
    same_outputs,
    scan,
    shuffled,
    write_csv,
    write_parquet,
)

N = len(ordinary_rows())  # 43
LENIENT = ("--max-reject-rate", "0.5")
"""One bad row in a ledger of 44 is above the default --max-reject-rate of 1 %."""


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The run of the ordinary ledger, as a clean CSV: what unharmful oddities must reproduce."""
    folder = tmp_path_factory.mktemp("baseline")
    path = write_csv(folder / "in" / "ledger.csv", ordinary_rows())
    out = folder / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["rows_read"], recon["accepted"], rejects) == (N, N, [])
    assert "cycle" in account_rows(out)["C1"]["typologies"]
    assert evidence(out), "the ordinary ledger should raise an alert with evidence"
    return out


def row(**changes) -> dict:
    """A valid row (A01 -> A02, 50.00 USD by wire, 7 h after T0) with ``changes``."""
    base = {
        "txn_id": "X1", "timestamp": iso(T0 + timedelta(hours=7)), "sender": "A01", "receiver": "A02",
        "amount": "50.00", "currency": "USD", "channel": "wire", "location": "NYC",
    }
    base.update(changes)
    return base


AT = 5
"""Bad rows go in after the fifth ordinary row: their record numbers start at 6."""


def with_rows(extra: list[dict], at: int = AT) -> list[dict]:
    rows = ordinary_rows()
    rows[at:at] = extra
    return rows


def run_bad_rows(tmp_path, extra, *options, kind="csv"):
    """Scan the ordinary ledger with ``extra`` rows inserted at record AT + 1; returns
    (reconciliation, rejects, path, out)."""
    rows = with_rows(extra)
    if kind == "csv":
        path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    else:
        path = write_parquet(tmp_path / "in" / "ledger.parquet", parquet_table(rows))
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out, *LENIENT, *options), out)
    return recon, rejects, path, out


def assert_rejected(recon, rejects, path, expected: list[tuple[int, str]], *, duplicates=0):
    """The rejects are exactly ``expected`` (record number, reason) of ``path``, the rest accepted."""
    assert rejected_as(rejects) == [(path.name, number, reason) for number, reason in expected]
    assert recon["duplicates_dropped"] == duplicates
    assert recon["rejected"] == len(expected) - duplicates
    assert recon["accepted"] == recon["rows_read"] - len(expected)


# -- amounts -----------------------------------------------------------------------------------------

AMOUNT_TEXT = [
    # (case, amount text in the CSV, reason)
    ("nan", "NaN", "bad_amount"),
    ("nan-lower", "nan", "bad_amount"),
    ("empty", "", "missing_field"),
    ("blank", "   ", "missing_field"),
    ("negative", "-5.00", "negative_amount"),
    ("inf", "inf", "bad_amount"),
    ("minus-infinity", "-Infinity", "bad_amount"),
    ("absurd-31-digits", "1" + "0" * 30, "absurd_amount"),
    ("absurd-just-above-max", "1000000000000.01", "absurd_amount"),
    ("exponent-1e30", "1e30", "bad_amount"),
    ("garbled", "12,34.5x", "bad_amount"),
]


@pytest.mark.parametrize(("amount", "reason"), [c[1:] for c in AMOUNT_TEXT], ids=[c[0] for c in AMOUNT_TEXT])
def test_bad_text_amount_is_rejected_with_its_reason(tmp_path, amount, reason):
    """A CSV amount that is NaN, infinite or garbled is ``bad_amount``; empty or blank is
    ``missing_field`` (detail ``amount``); negative is ``negative_amount`` (the default
    ``--negative-amounts reject``); above max_amount (10^12 units), even beyond int64, is
    ``absurd_amount``. Decision: text in exponent notation (``1e30``) is ``bad_amount``: text
    amounts are parsed digit by digit as decimals (README), and exponent notation is not one.
    The run goes on without the row."""
    recon, rejects, path, _ = run_bad_rows(tmp_path, [row(amount=amount)])
    assert_rejected(recon, rejects, path, [(AT + 1, reason)])
    if reason == "missing_field":
        assert rejects[0]["detail"] == "amount"


AMOUNT_FLOAT = [
    ("nan", math.nan, "bad_amount"),
    ("null", None, "missing_field"),
    ("negative", -5.0, "negative_amount"),
    ("inf", math.inf, "bad_amount"),
    ("minus-inf", -math.inf, "bad_amount"),
    ("absurd-1e30", 1e30, "absurd_amount"),
    ("above-max-2e12", 2e12, "absurd_amount"),
]


@pytest.mark.parametrize(("amount", "reason"), [c[1:] for c in AMOUNT_FLOAT], ids=[c[0] for c in AMOUNT_FLOAT])
def test_bad_float_amount_in_parquet_is_rejected_with_its_reason(tmp_path, amount, reason):
    """The same checks on a Parquet float64 amount column: NaN and ±inf are ``bad_amount``,
    null is ``missing_field``, negative is ``negative_amount``, 1e30 (beyond int64 once in
    cents) and 2e12 (above max_amount) are ``absurd_amount``; record numbers are positions
    in the file from 1."""
    recon, rejects, path, _ = run_bad_rows(tmp_path, [row(amount=amount)], kind="parquet")
    assert_rejected(recon, rejects, path, [(AT + 1, reason)])


def test_negative_amount_as_reversal_swaps_the_sides(tmp_path):
    """With ``--negative-amounts reversal`` a negative amount is accepted as a reversal: the
    sender and receiver swapped and the amount made positive, so the scores equal those of
    the same ledger with that row written the other way round."""
    reversed_rows = with_rows([row(sender="A01", receiver="A05", amount="-75.00")])
    turned_rows = with_rows([row(sender="A05", receiver="A01", amount="75.00")])
    first = tmp_path / "reversal"
    recon, rejects = assert_run(
        scan(write_csv(tmp_path / "in" / "reversal.csv", reversed_rows), first, "--negative-amounts", "reversal"),
        first)
    assert rejects == [] and recon["accepted"] == N + 1
    second = tmp_path / "turned"
    assert_run(scan(write_csv(tmp_path / "in" / "turned.csv", turned_rows), second), second)
    assert same_outputs(first, second) == []


def test_float_parquet_and_text_csv_in_one_dataset_are_read_alike(tmp_path, baseline):
    """A dataset of a Parquet file with float64 amounts and a CSV file with text amounts:
    accepted (the type check applies among columnar files; each file's amounts are parsed
    by their own type, float amounts with the same precision check). The rows are those of
    the ordinary ledger, so the run equals the baseline."""
    rows = ordinary_rows()
    part = write_parquet(tmp_path / "in" / "a.parquet", parquet_table(rows[:20]))
    text = write_csv(tmp_path / "in" / "b.csv", rows[20:])
    out = tmp_path / "run"
    recon, rejects = assert_run(scan([part, text], out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


def test_parquet_files_disagreeing_on_the_amount_type_are_refused(tmp_path):
    """Two Parquet files of one dataset, float64 amounts in one and text in the other: a
    schema mismatch (README/read_ledger: the files of a dataset must agree on every column's
    type; flowscan never casts silently): exit 1, one line naming both files and the column."""
    rows = ordinary_rows()
    first = write_parquet(tmp_path / "in" / "a.parquet", parquet_table(rows[:20]))
    second = write_parquet(tmp_path / "in" / "b.parquet", parquet_table(rows[20:], amount_type=pa.string()))
    out = tmp_path / "run"
    line = error_line(scan(tmp_path / "in", out), out, first, second)
    assert "'amount'" in line


# -- duplicate ids -----------------------------------------------------------------------------------


def test_identical_duplicate_row_is_dropped_and_counted(tmp_path, baseline):
    """A row repeated exactly (same txn_id, same content): the first is kept, the repeat is
    dropped and listed as ``duplicate``; the run equals the baseline."""
    rows = ordinary_rows()
    rows.append(dict(rows[AT]))
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert_rejected(recon, rejects, path, [(N + 1, "duplicate")], duplicates=1)
    assert same_outputs(baseline, out) == []


def test_identical_duplicate_across_two_files_is_dropped(tmp_path, baseline):
    """The same row in two files of one dataset: kept from the first file, dropped from the
    second as ``duplicate``."""
    rows = ordinary_rows()
    first = write_csv(tmp_path / "in" / "a.csv", rows)
    second = write_csv(tmp_path / "in" / "b.csv", [rows[AT]])
    out = tmp_path / "run"
    recon, rejects = assert_run(scan([first, second], out), out)
    assert_rejected(recon, rejects, second, [(1, "duplicate")], duplicates=1)
    assert same_outputs(baseline, out) == []


def test_conflicting_duplicate_ids_reject_every_row(tmp_path):
    """Rows sharing a txn_id with different content: all of them rejected as
    ``conflicting_duplicate_id`` (flowscan will not pick one)."""
    rows = ordinary_rows()
    rows.append(dict(rows[AT], amount="999.99"))
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out, *LENIENT), out)
    assert_rejected(recon, rejects, path, [(AT + 1, "conflicting_duplicate_id"),
                                           (N + 1, "conflicting_duplicate_id")])
    assert {r["detail"] for r in rejects} == {"txn_id"}


# -- generated ids -----------------------------------------------------------------------------------

GENERATED = re.compile(r"^g[0-9a-f]{32}(-[0-9]+)?$")


def test_missing_txn_id_column_gets_deterministic_ids(tmp_path):
    """No txn_id column: every row gets an id made from its content (``g`` + 32 hex digits,
    ``txn_id_generated`` set); identical rows are kept as distinct transactions (no
    duplicates); the ids do not depend on row order, so two runs (the second on shuffled
    rows) give the same ids and byte-identical outputs."""
    rows = [{k: v for k, v in r.items() if k != "txn_id"} for r in ordinary_rows()]
    rows.append(dict(rows[AT]))  # an identical row: a second transaction, not a duplicate
    runs = []
    for name, order in (("first", rows), ("second", shuffled(rows))):
        out = tmp_path / name
        recon, rejects = assert_run(scan(write_csv(tmp_path / "in" / f"{name}.csv", order), out), out)
        assert (recon["accepted"], recon["duplicates_dropped"], rejects) == (N + 1, 0, [])
        ids = [e["txn_id"] for e in evidence(out)]
        assert ids and all(GENERATED.match(i) for i in ids), ids
        runs.append(out)
    assert same_outputs(*runs) == []


# -- order and ties ----------------------------------------------------------------------------------


def test_unsorted_rows_give_the_same_run(tmp_path, baseline):
    """Rows in any order: the ledger is sorted by (timestamp, txn_id), so the outputs equal
    those of the sorted input."""
    path = write_csv(tmp_path / "in" / "ledger.csv", shuffled(ordinary_rows()))
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


def test_thousands_of_rows_at_one_instant(tmp_path):
    """3,000 transfers at the same microsecond among 60 accounts: all accepted, and ties
    broken by txn_id, so the input order (sorted or reversed) does not change the outputs."""
    at = iso(T0 + timedelta(hours=100))
    tied = [
        row(txn_id=f"Q{i:05d}", timestamp=at, sender=f"M{i % 60:02d}", receiver=f"M{(i * 7 + 1 + i // 60) % 60:02d}",
            amount=f"{10 + i % 90}.{i % 100:02d}", channel=("wire", "p2p", "ach")[i % 3])
        for i in range(3000)
    ]
    tied = [r for r in tied if r["sender"] != r["receiver"]]
    runs = []
    for name, rows in (("sorted", ordinary_rows() + tied), ("reversed", (ordinary_rows() + tied)[::-1])):
        out = tmp_path / name
        recon, rejects = assert_run(scan(write_csv(tmp_path / "in" / f"{name}.csv", rows), out), out)
        assert (recon["accepted"], rejects) == (len(rows), [])
        runs.append(out)
    assert same_outputs(*runs) == []
    assert {f"M{i:02d}" for i in range(60)} <= set(accounts(runs[0]))


# -- timestamps --------------------------------------------------------------------------------------


def naive(rows):
    return [dict(r, timestamp=r["timestamp"].removesuffix("Z")) for r in rows]


def test_naive_timestamps_without_tz_are_refused_naming_the_file(tmp_path):
    """Timestamps without a zone and no --tz: never guessed (README); the source is refused
    with one line naming the file and telling to declare --tz, exit 1, nothing written."""
    path = write_csv(tmp_path / "in" / "ledger.csv", naive(ordinary_rows()))
    out = tmp_path / "run"
    assert "--tz" in error_line(scan(path, out), out, path)


def test_naive_timestamps_with_one_blank_timestamp_are_refused_naming_the_file(tmp_path):
    """Decision: a naive export with one blank timestamp is still a source whose timestamps
    carry no zone: the same one line naming the file and --tz as without the blank row (not
    a reject-rate failure that names neither the file nor --tz), exit 1, nothing written."""
    rows = naive(ordinary_rows())
    rows[AT]["timestamp"] = ""
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    out = tmp_path / "run"
    assert "--tz" in error_line(scan(path, out), out, path)


def test_naive_parquet_timestamps_without_tz_are_refused_naming_the_file(tmp_path):
    """A Parquet timestamp column without a zone (timestamp[us]) and no --tz: refused, one
    line naming the file and --tz."""
    table = parquet_table(ordinary_rows())
    table = table.set_column(1, "timestamp", table.column("timestamp").cast(pa.timestamp("us")))
    path = write_parquet(tmp_path / "in" / "ledger.parquet", table)
    out = tmp_path / "run"
    assert "--tz" in error_line(scan(path, out), out, path)


def test_naive_timestamps_with_tz_utc_equal_the_zoned_ledger(tmp_path, baseline):
    """The same naive timestamps with ``--tz UTC`` are the baseline's instants."""
    path = write_csv(tmp_path / "in" / "ledger.csv", naive(ordinary_rows()))
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out, "--tz", "UTC"), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


def test_a_few_naive_rows_among_zoned_ones_are_rejected(tmp_path):
    """A zoned column with two naive rows and no --tz: those rows are ``naive_timestamp``
    rejects; the rest is read."""
    extra = [row(txn_id="X1", timestamp="2024-03-01T07:00:00"), row(txn_id="X2", timestamp="2024-03-01 08:00")]
    recon, rejects, path, _ = run_bad_rows(tmp_path, extra)
    assert_rejected(recon, rejects, path, [(AT + 1, "naive_timestamp"), (AT + 2, "naive_timestamp")])


OFFSETS = [timedelta(hours=2), timedelta(hours=-5), timedelta(hours=5, minutes=30), timedelta(0),
           timedelta(hours=1), timedelta(hours=-3), timedelta(hours=9, minutes=45)]


def with_offset(text: str, k: int) -> str:
    """The instant of ISO text ``text`` written in the k-th offset, in one of several spellings
    (``+02:00``, ``-0500``, ``-03`` as PostgreSQL prints it, ``Z``; ``T`` or a space)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    offset = OFFSETS[k % len(OFFSETS)]
    local = moment.astimezone(timezone(offset)).replace(tzinfo=None)
    sign, size = ("-" if offset < timedelta(0) else "+"), abs(offset)
    hh, mm = divmod(int(size.total_seconds()) // 60, 60)
    spelling = k % 4
    if offset == timedelta(0) and spelling == 0:
        suffix = "Z"
    elif spelling in (0, 1):
        suffix = f"{sign}{hh:02d}:{mm:02d}"
    elif spelling == 2:
        suffix = f"{sign}{hh:02d}{mm:02d}"
    else:
        suffix = f"{sign}{hh:02d}" if mm == 0 else f"{sign}{hh:02d}:{mm:02d}"
    separator = "T" if k % 3 else " "
    return local.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + suffix


def test_mixed_zone_offsets_in_one_column_are_instants(tmp_path, baseline):
    """One timestamp column whose rows carry different UTC offsets (+02:00, -0500, -03,
    +05:30, Z, ...; ``T`` or space): each is an instant, converted to UTC; the ledger holds
    the baseline's instants, so the run equals the baseline."""
    rows = [dict(r, timestamp=with_offset(r["timestamp"], k)) for k, r in enumerate(ordinary_rows())]
    assert len({r["timestamp"][19:] for r in rows}) >= 5
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


TIMESTAMP_TEXT = [
    ("year-0001", "0001-01-01T00:00:00Z", "timestamp_out_of_range"),
    ("year-9999", "9999-12-31T23:59:59Z", "timestamp_out_of_range"),
    ("year-0000", "0000-01-01T00:00:00Z", "timestamp_out_of_range"),
    ("year-10000", "10000-01-01T00:00:00Z", "bad_timestamp"),
    ("month-13", "2024-13-45T10:00:00Z", "bad_timestamp"),
    ("february-30", "2024-02-30T10:00:00Z", "bad_timestamp"),
    ("words", "yesterday at noon", "bad_timestamp"),
    ("blank", " ", "missing_field"),
]


@pytest.mark.parametrize(("text", "reason"), [c[1:] for c in TIMESTAMP_TEXT], ids=[c[0] for c in TIMESTAMP_TEXT])
def test_out_of_range_or_unparseable_timestamp_is_rejected(tmp_path, text, reason):
    """Years 0001 and 9999 parse but fall outside [valid_from, valid_until) (1970..2100):
    ``timestamp_out_of_range``; so does year 0000 (decision: a valid ISO 8601 year, 1 BC, as
    Arrow reads it, so out of range rather than unparseable); five-digit years, impossible
    dates and words do not parse: ``bad_timestamp``; a blank one is ``missing_field``."""
    recon, rejects, path, _ = run_bad_rows(tmp_path, [row(timestamp=text)])
    assert_rejected(recon, rejects, path, [(AT + 1, reason)])


@pytest.mark.parametrize("year", [1, 1969, 2100, 9999])
def test_out_of_range_parquet_timestamp_is_rejected(tmp_path, year):
    """A Parquet timestamp[us, UTC] outside [1970, 2100): ``timestamp_out_of_range``."""
    bad = row(timestamp=iso(datetime(year, 6, 1, tzinfo=UTC)))
    recon, rejects, path, _ = run_bad_rows(tmp_path, [bad], kind="parquet")
    assert_rejected(recon, rejects, path, [(AT + 1, "timestamp_out_of_range")])


# -- currencies --------------------------------------------------------------------------------------

CURRENCY_TEXT = [
    ("made-up", "ABC", "unknown_currency"),
    ("no-minor-units", "XXX", "unknown_currency"),
    ("gold", "XAU", "unknown_currency"),
    ("symbol", "US$", "unknown_currency"),
    ("euro-sign", "€", "unknown_currency"),
    ("name", "Dollar", "unknown_currency"),
    ("empty", "", "missing_field"),
]


@pytest.mark.parametrize(("currency", "reason"), [c[1:] for c in CURRENCY_TEXT], ids=[c[0] for c in CURRENCY_TEXT])
def test_unknown_currency_is_rejected(tmp_path, currency, reason):
    """A currency that is not an ISO 4217 code with minor units (made up, XXX, gold, a symbol,
    a name) is ``unknown_currency``; an empty one is ``missing_field``."""
    recon, rejects, path, _ = run_bad_rows(tmp_path, [row(currency=currency)])
    assert_rejected(recon, rejects, path, [(AT + 1, reason)])


def test_mixed_currencies_without_fx_are_kept_apart(tmp_path):
    """USD, EUR, JPY and BHD rows in one ledger with no exchange rates: all accepted (each
    amount in its own minor units, `` usd`` read as USD), never converted: the planted cycle
    C1 -> C2 -> C3 -> C1 is found in USD, and is no cycle once one hop is in EUR (every hop
    of a cycle has the first hop's currency)."""
    rows = ordinary_rows()
    for k, r in enumerate(rows):
        if r["txn_id"].startswith("T") and k % 4 == 1:
            r.update(currency="EUR")
        elif r["txn_id"].startswith("T") and k % 4 == 2:
            r.update(currency="JPY", amount=r["amount"].split(".")[0])
        elif r["txn_id"].startswith("T") and k % 4 == 3:
            r.update(currency=" usd", amount=r["amount"])
    rows.append(row(txn_id="X9", currency="BHD", amount="12.345"))
    out = tmp_path / "usd"
    recon, rejects = assert_run(scan(write_csv(tmp_path / "in" / "usd.csv", rows), out), out)
    assert (recon["accepted"], rejects) == (N + 1, [])
    assert "cycle" in account_rows(out)["C1"]["typologies"]

    for r in rows:
        if r["txn_id"] == "K1":
            r["currency"] = "EUR"
    out = tmp_path / "eur"
    recon, rejects = assert_run(scan(write_csv(tmp_path / "in" / "eur.csv", rows), out), out)
    assert (recon["accepted"], rejects) == (N + 1, [])
    found = account_rows(out)
    assert "cycle" not in found["C1"]["typologies"]
    assert not any("cycle" in found[a]["member_of"] for a in CYCLE)


# -- ids ---------------------------------------------------------------------------------------------


def test_self_transfers_are_kept(tmp_path):
    """Transfers from an account to itself are accepted and kept (flagged is_self_transfer in
    the ledger): the account is scored, and a self-transfer between two hops of the planted
    cycle is no hop of it: the cycle is still found."""
    extra = [row(txn_id="S1", sender="S7", receiver="S7", amount="300.00"),
             row(txn_id="S2", timestamp=iso(T0 + timedelta(hours=11)), sender="C2", receiver="C2", amount="1000.00")]
    recon, rejects, _, out = run_bad_rows(tmp_path, extra)
    assert (recon["accepted"], rejects) == (N + 2, [])
    found = account_rows(out)
    assert "S7" in found
    assert "cycle" in found["C1"]["typologies"]


def test_ids_with_leading_zeros_stay_text(tmp_path):
    """Account ids ``0007``, ``007`` and ``7`` are three accounts: CSV ids are text, their
    leading zeros kept."""
    extra = [row(txn_id="Z1", sender="0007", receiver="007"), row(txn_id="Z2", sender="007", receiver="7"),
             row(txn_id="Z3", sender="7", receiver="0007")]
    recon, rejects, _, out = run_bad_rows(tmp_path, extra)
    assert (recon["accepted"], rejects) == (N + 3, [])
    assert {"0007", "007", "7"} <= set(accounts(out))


def test_ids_with_surrounding_white_space_are_trimmed(tmp_path, baseline):
    """Spaces and tabs around txn, sender and receiver ids are removed: the run equals the
    baseline, and no account id keeps white space."""
    pads = [(" ", ""), ("", "  "), ("\t", " "), (" ", "\t")]
    rows = []
    for k, r in enumerate(ordinary_rows()):
        left, right = pads[k % len(pads)]
        rows.append(dict(r, txn_id=f"{left}{r['txn_id']}{right}", sender=f"{right}{r['sender']}{left}",
                         receiver=f"{left}{r['receiver']}{right}"))
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert all(a == a.strip() for a in accounts(out))
    assert same_outputs(baseline, out) == []


def test_ids_differing_in_case_are_distinct_accounts(tmp_path):
    """``ab1``, ``AB1`` and ``Ab1`` are three accounts: case is kept."""
    extra = [row(txn_id="Y1", sender="ab1", receiver="AB1"), row(txn_id="Y2", sender="AB1", receiver="Ab1")]
    recon, rejects, _, out = run_bad_rows(tmp_path, extra)
    assert (recon["accepted"], rejects) == (N + 2, [])
    assert {"ab1", "AB1", "Ab1"} <= set(accounts(out))


@pytest.mark.parametrize("field", ["txn_id", "sender", "receiver"])
def test_very_long_id_is_rejected(tmp_path, field):
    """An id of 10,000 characters is longer than max_id_length (128): ``overlong_id`` with
    the field as detail; the run goes on without it."""
    recon, rejects, path, out = run_bad_rows(tmp_path, [row(**{field: "L" * 10_000})])
    assert_rejected(recon, rejects, path, [(AT + 1, "overlong_id")])
    assert rejects[0]["detail"] == field
    assert max(len(a) for a in accounts(out)) < 128


# -- CSV dialect ---------------------------------------------------------------------------------------


def test_embedded_newlines_and_quotes_in_fields(tmp_path):
    """Quoted fields holding newlines, commas and doubled quotes are read as one value;
    records (not physical lines) are counted, so a bad row after them has its record number."""
    extra = [row(txn_id="E1", location='Main St\nBranch "7", lobby', sender='Q "X" Corp'),
             row(txn_id="E2", receiver="line one\nline two"),
             row(txn_id="E3", amount="NaN")]
    recon, rejects, path, out = run_bad_rows(tmp_path, extra)
    assert path.read_text().count("\n") == N + 3 + 1 + 2  # header, records, and two inside fields
    assert_rejected(recon, rejects, path, [(AT + 3, "bad_amount")])
    assert {'Q "X" Corp', "line one\nline two"} <= set(accounts(out))


def test_utf8_byte_order_mark_is_skipped(tmp_path, baseline):
    """A UTF-8 BOM before the header: the header is recognised and the run equals the baseline."""
    path = write_csv(tmp_path / "in" / "ledger.csv", ordinary_rows(), bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbftxn_id,")
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


def test_semicolon_file_read_with_a_comma_is_refused(tmp_path):
    """A ``;``-separated export read with the default ``,``: the header is one unknown column,
    so the format cannot be told: one line naming the file, exit 1, nothing written."""
    path = write_csv(tmp_path / "in" / "ledger.csv", ordinary_rows(), delimiter=";")
    out = tmp_path / "run"
    line = error_line(scan(path, out), out, path)
    assert "--delimiter" in line or "--map" in line


def test_semicolon_file_with_its_delimiter_equals_the_baseline(tmp_path, baseline):
    path = write_csv(tmp_path / "in" / "ledger.csv", ordinary_rows(), delimiter=";")
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out, "--delimiter", ";"), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


@pytest.mark.parametrize("cut", ["mid-field"])
def test_truncated_last_line_is_a_malformed_row(tmp_path, cut):
    """A file cut inside its last record (an export interrupted): ``mid-field``, the record
    has fewer fields than the header: ``malformed_row`` with its record number; the others
    accepted. (A cut inside a quoted last field, ``..., p2p,"Main`` with no closing quote, is
    still accepted with the cut value: a known gap listed in docs/reliability.md, not tested
    here until it is fixed.)"""
    rows = ordinary_rows()
    rows[-1]["location"] = "Main St, lobby"  # written quoted
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    text = path.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    keep = last.index(",", last.index(",") + 1) + 6 if cut == "mid-field" else last.index('"Main') + 5
    path.write_text(text[: len(text) - len(last) - 1 + keep])
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out, *LENIENT), out)
    assert_rejected(recon, rejects, path, [(N, "malformed_row")])


def test_latin1_file_is_refused_naming_the_file(tmp_path):
    """A file in latin-1 (``Müller`` as one byte 0xFC) read as UTF-8: not valid text, so the
    file cannot be read: one line naming it and suggesting --encoding, exit 1, nothing
    written; never a reject per row, never mangled ids."""
    rows = with_rows([row(txn_id="U1", sender="Müller", location="Zürich")])
    path = write_csv(tmp_path / "in" / "ledger.csv", rows, encoding="latin-1")
    out = tmp_path / "run"
    assert "--encoding" in error_line(scan(path, out), out, path)


def test_latin1_file_with_its_encoding_is_read(tmp_path):
    rows = with_rows([row(txn_id="U1", sender="Müller", location="Zürich")])
    path = write_csv(tmp_path / "in" / "ledger.csv", rows, encoding="latin-1")
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out, "--encoding", "latin-1"), out)
    assert (recon["accepted"], rejects) == (N + 1, [])
    assert "Müller" in accounts(out)


def test_header_only_csv_is_refused_naming_the_file(tmp_path):
    """Decision: an export with its header but no record has nothing to scan: one line naming
    the file, exit 1, nothing written."""
    path = tmp_path / "in" / "ledger.csv"
    path.parent.mkdir()
    path.write_text(",".join(ordinary_rows()[0]) + "\n")
    out = tmp_path / "run"
    assert error_line(scan(path, out), out, path).endswith("no records (a header without rows, or an empty file)")


def test_too_many_bad_rows_for_the_default_reject_rate(tmp_path):
    """One bad row in 44 is above the default --max-reject-rate (1 %): exit 1, one line that
    names the limit and the reason counts, nothing written. Decision: the line need not name
    a file (the rate is the dataset's)."""
    path = write_csv(tmp_path / "in" / "ledger.csv", with_rows([row(amount="NaN")]))
    out = tmp_path / "run"
    line = error_line(scan(path, out), out)
    assert "--max-reject-rate" in line and "bad_amount" in line


# -- damaged Parquet -----------------------------------------------------------------------------------


def write_plain_parquet(path):
    """The ordinary ledger as Parquet with page checksums, no compression, no dictionary, so
    every data page holds its values in plain bytes."""
    return write_parquet(path, parquet_table(ordinary_rows(), amount_type=pa.string()), write_page_checksum=True,
                         compression="none", use_dictionary=False)


def test_plain_parquet_builder_reads(tmp_path, baseline):
    """The damaged Parquet cases differ from this file only by the damage done to them."""
    path = write_plain_parquet(tmp_path / "in" / "ledger.parquet")
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


def test_truncated_parquet_is_refused(tmp_path):
    """A Parquet file cut in half (no footer): one line naming the file, exit 1, nothing written."""
    path = write_plain_parquet(tmp_path / "in" / "ledger.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    out = tmp_path / "run"
    line = error_line(scan(path, out), out, path)
    assert line.startswith(f"flowscan: error: {path}: ")


def test_flipped_bytes_in_a_parquet_data_page_fail_the_checksum(tmp_path):
    """Eight bytes flipped inside the receiver column's data page of a file written with page
    checksums: the checksum fails: one line naming the file and the checksum, exit 1,
    nothing written."""
    path = write_plain_parquet(tmp_path / "in" / "ledger.parquet")
    column = pq.ParquetFile(path).metadata.row_group(0).column(3)
    assert column.path_in_schema == "receiver" and column.dictionary_page_offset is None
    middle = column.data_page_offset + column.total_compressed_size // 2
    data = bytearray(path.read_bytes())
    for i in range(middle, middle + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    out = tmp_path / "run"
    line = error_line(scan(path, out), out, path)
    assert re.search("(?i)checksum|crc", line), line


# -- columns -------------------------------------------------------------------------------------------


def test_extra_columns_are_ignored(tmp_path, baseline):
    """Columns flowscan does not know (a memo, a balance, an officer's name) are ignored: the
    run equals the baseline."""
    rows = [dict(r, memo=f"rent {k}", balance_after=str(1000 - k), officer="J. Doe") for k, r in
            enumerate(ordinary_rows())]
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


MISSING = [
    ("timestamp", ("timestamp",), "timestamp"),
    ("amount", ("amount",), "amount"),
    ("sender-and-receiver", ("sender", "receiver"), "sender or receiver"),
    ("currency", ("currency",), "currency"),
]


@pytest.mark.parametrize(("dropped", "named"), [c[1:] for c in MISSING], ids=[c[0] for c in MISSING])
def test_missing_required_column_is_refused_naming_it(tmp_path, dropped, named):
    """A file without a required column (timestamp, amount, both sender and receiver, or
    currency without --currency): one line naming the file and the column, exit 1, nothing
    written."""
    rows = [{k: v for k, v in r.items() if k not in dropped} for r in ordinary_rows()]
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    out = tmp_path / "run"
    line = error_line(scan(path, out), out, path)
    assert named in line


BANK_NAMES = {"txn_id": "TxnRef", "timestamp": "PostedAt", "sender": "DebitAccount", "receiver": "CreditAccount",
              "amount": "Amount (USD)", "currency": "Ccy", "channel_raw": "Channel", "location": "Branch"}


def bank_config(path: Path, columns: dict) -> Path:
    lines = ["[read.columns]"] + [f'{key} = "{value}"' for key, value in columns.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_renamed_columns_through_a_config_mapping(tmp_path, baseline):
    """A bank's own column names mapped with a ``[read.columns]`` table in --config (as
    fixtures/sample/sample.toml does): the run equals the baseline."""
    source = dict(BANK_NAMES, channel="Channel")
    rows = [{source[k]: v for k, v in r.items()} for r in ordinary_rows()]
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    config = bank_config(tmp_path / "bank.toml", BANK_NAMES)
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out, "--config", str(config)), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


def test_mapping_to_a_column_the_file_lacks_is_refused(tmp_path):
    """A mapping naming a source column the file does not have (``amount = "Betrag"``): one
    line naming the file and the canonical column, exit 1, nothing written."""
    rows = [{BANK_NAMES.get(k, k): v for k, v in r.items()} for r in ordinary_rows()]
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    config = bank_config(tmp_path / "bank.toml", dict(BANK_NAMES, amount="Betrag"))
    out = tmp_path / "run"
    line = error_line(scan(path, out, "--config", str(config)), out, path)
    assert "amount" in line


# -- labels in production input ------------------------------------------------------------------------

LABEL_NAMES = ["is_laundering", "Is Laundering", "Is_laundering", "isFraud", "is_sar", "label"]


def label_values(rows):
    # the planted cycle and a few others are "laundering": a detector that read the column would move them
    return ["1" if r["txn_id"].startswith("K") or k % 5 == 0 else "0" for k, r in enumerate(rows)]


def assert_no_label_columns(out):
    names = {n.casefold().replace(" ", "_") for n in pq.read_schema(out / "accounts.parquet").names}
    assert not names & {"is_laundering", "isfraud", "is_sar", "label", "is_fraud", "laundering_type"}, names


@pytest.mark.parametrize("name", LABEL_NAMES)
def test_label_column_in_production_csv_is_never_a_feature(tmp_path, baseline, name):
    """A ground-truth column in a production export (``is_laundering``, ``Is Laundering``, ...):
    never used for detection: no label column among the accounts' columns, and the scores are
    those of the same ledger without it (the run equals the baseline)."""
    rows = ordinary_rows()
    rows = [dict(r, **{name: v}) for r, v in zip(rows, label_values(rows))]
    path = write_csv(tmp_path / "in" / "ledger.csv", rows)
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert_no_label_columns(out)
    assert same_outputs(baseline, out) == []


def test_label_column_in_production_parquet_is_never_a_feature(tmp_path, baseline):
    """The same with a boolean ``is_laundering`` column in a Parquet file."""
    rows = ordinary_rows()
    table = parquet_table(rows, amount_type=pa.string())
    table = table.append_column("is_laundering", pa.array([v == "1" for v in label_values(rows)]))
    path = write_parquet(tmp_path / "in" / "ledger.parquet", table)
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert_no_label_columns(out)
    assert same_outputs(baseline, out) == []


AMLWORLD_HEADER = ["Timestamp", "From Bank", "Account", "To Bank", "Account", "Amount Received",
                   "Receiving Currency", "Amount Paid", "Payment Currency", "Payment Format"]


def test_amlworld_is_laundering_label_never_changes_the_scores(tmp_path):
    """An AMLworld export (whose ``Is Laundering`` column the preset splits off as a label):
    the run with the label column equals the run without it, and the accounts carry no
    label column."""
    rows = ordinary_rows()
    labels = label_values(rows)
    records = []
    for r in rows:
        when = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).strftime("%Y/%m/%d %H:%M")
        records.append([when, "001", r["sender"], "002", r["receiver"], r["amount"], "US Dollar", r["amount"],
                        "US Dollar", r["channel"].capitalize()])
    runs = []
    for name, header, body in (("labelled", [*AMLWORLD_HEADER, "Is Laundering"],
                                [[*rec, v] for rec, v in zip(records, labels)]),
                               ("unlabelled", AMLWORLD_HEADER, records)):
        path = tmp_path / "in" / f"{name}.csv"
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(",".join(line) for line in [header, *body]) + "\n")
        out = tmp_path / name
        recon, rejects = assert_run(scan(path, out, "--tz", "UTC"), out)
        assert (recon["accepted"], rejects) == (N, [])
        assert_no_label_columns(out)
        runs.append(out)
    assert same_outputs(*runs) == []


# -- found by fuzzing (issue 9, part 2: tests/fuzz) ---------------------------------------------------
# Each of these let an exception other than flowscan's own escape (or read a value wrong) before.


@pytest.mark.parametrize(("flag", "value"), [("--encoding", "no-such-codec"), ("--encoding", "hex"),
                                             ("--delimiter", "é"), ("--tz", "Factory")])
def test_option_values_the_readers_cannot_use_are_refused_naming_the_option(tmp_path, flag, value):
    """An encoding that is no text codec (was: LookupError), a delimiter that is not one ASCII
    character (was: ValueError from Arrow's CSV parser), a zone Python knows but Arrow's zone
    database does not (was: ArrowInvalid): one line naming the option, nothing written."""
    path = write_csv(tmp_path / "in" / "ledger.csv", ordinary_rows())
    out = tmp_path / "run"
    result = scan(path, out, flag, value)
    assert_no_crash(result)
    assert result.exit_code == 2, result.output  # a usage error
    (line,) = result.output.strip("\n").split("\n")
    assert line.startswith("flowscan: error: The '" + {"--tz": "timezone"}.get(flag, flag[2:]) + "' option"), line
    assert not out.exists()


def test_old_mac_line_endings_equal_the_baseline(tmp_path, baseline):
    """Records ended by a bare CR (classic Mac OS exports): read as records (was: csv.Error
    escaping from the header line, which then held the whole file)."""
    path = write_csv(tmp_path / "in" / "ledger.csv", ordinary_rows())
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    out = tmp_path / "run"
    recon, rejects = assert_run(scan(path, out), out)
    assert (recon["accepted"], rejects) == (N, [])
    assert same_outputs(baseline, out) == []


def test_repeated_directive_or_zone_name_in_timestamp_format_reads_or_rejects_rows(tmp_path):
    """``%Y`` twice (was: re.error from Python's strptime) rejects the rows as ``bad_timestamp``;
    ``%Z`` (was: ArrowInvalid writing the parsed value back) reads ``UTC``."""
    rows = [row(txn_id=f"X{i}", timestamp=f"2024-03-0{i + 1} 10:00 UTC") for i in range(3)]
    path = write_csv(tmp_path / "ledger.csv", rows)
    read = flowscan.read_ledger(path, timestamp_format="%Y-%m-%d %H:%M %Z", timezone="UTC", threads=1)
    assert read.ledger.column("timestamp").to_pylist() == [datetime(2024, 3, d, 10, tzinfo=UTC) for d in (1, 2, 3)]
    read = flowscan.read_ledger(path, timestamp_format="%Y-%m-%d %H:%M %Y", timezone="UTC", max_reject_rate=1.0,
                                threads=1)
    assert read.rejects.column("reason").to_pylist() == ["bad_timestamp"] * 3


def test_parquet_timestamps_past_64_bits_of_microseconds_are_out_of_range(tmp_path):
    """A timestamp[s] whose microseconds do not fit in 64 bits (was: wrapped around to
    1970-01-01T00:00:00.448384Z and accepted) and a date32 timestamp column with a far-off day
    (was: ArrowInvalid from the cast) are rejected as ``timestamp_out_of_range``, their raw
    record keeping the value Arrow stores (was: OverflowError turning it into a datetime)."""
    wraps = 18_446_744_073_710  # seconds; times 10**6 is 2**64 + 448,384
    table = pa.table({"txn_id": ["A", "B"], "timestamp": pa.array([1_709_290_800, wraps], pa.timestamp("s", "UTC")),
                      "sender": ["S1", "S2"], "receiver": ["R1", "R2"], "amount": [1.0, 2.0],
                      "currency": ["USD", "USD"]})
    read = flowscan.read_ledger(write_parquet(tmp_path / "seconds.parquet", table), max_reject_rate=1.0, threads=1)
    assert read.ledger.column("txn_id").to_pylist() == ["A"]
    assert read.rejects.column("reason").to_pylist() == ["timestamp_out_of_range"]
    assert json.loads(read.rejects.column("raw")[0].as_py())["timestamp"] == wraps * 1000  # Parquet keeps ms
    table = table.set_column(1, "timestamp", pa.array([19_783, 2 ** 31 - 1], pa.date32()))
    read = flowscan.read_ledger(write_parquet(tmp_path / "days.parquet", table), timezone="UTC", max_reject_rate=1.0,
                                threads=1)
    assert read.ledger.column("timestamp").to_pylist() == [datetime(2024, 3, 1, tzinfo=UTC)]
    assert read.rejects.column("reason").to_pylist() == ["timestamp_out_of_range"]


def test_parquet_integer_amounts_in_three_and_eight_digit_currencies(tmp_path):
    """Whole major units in an integer column: 5 BHD is 5,000 fils and 1 XBT 100,000,000
    satoshi (was: the power of ten computed in int8, giving -120 fils and a division by zero);
    int64's minimum, whose magnitude a reversal cannot hold, is ``absurd_amount``."""
    table = pa.table({"txn_id": ["A", "B", "C", "D"], "timestamp": ["2024-03-01T10:00:00Z"] * 4,
                      "sender": ["S1", "S2", "S3", "S4"], "receiver": ["R1", "R2", "R3", "R4"],
                      "amount": pa.array([5, 1, 7, -2 ** 63], pa.int64()), "currency": ["BHD", "XBT", "USD", "USD"]})
    path = write_parquet(tmp_path / "ledger.parquet", table)
    read = flowscan.read_ledger(path, max_reject_rate=1.0, negative_amounts="reversal", threads=1)
    assert dict(zip(read.ledger.column("txn_id").to_pylist(), read.ledger.column("amount").to_pylist())) == {
        "A": 5_000, "B": 100_000_000, "C": 700}
    assert read.rejects.column("reason").to_pylist() == ["absurd_amount"]


def test_malformed_record_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    """A record with a field too many whose text is not UTF-8: Arrow cannot hand it to the
    malformed-row handler and fails the file, which is one line naming it (was: preceded by an
    'Exception ignored ... Traceback' from pyarrow on stderr)."""
    path = write_csv(tmp_path / "in" / "ledger.csv", ordinary_rows())
    path.write_bytes(path.read_bytes() + b"T9,2024-03-02T00:00:00Z,A01,A02,5.00,USD,wire,NYC,\xff\n")
    out = tmp_path / "run"
    error_line(scan(path, out), out, path)
    # pytest catches what pyarrow reports as ignored, so look at a real process's stderr too
    result = subprocess.run([sys.executable, "-m", "flowscan", "validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"flowscan: error: {path}: unreadable CSV"), result.stderr


def test_codec_that_fails_with_a_bare_unicode_error_is_refused_naming_the_file(tmp_path):
    """punycode raises UnicodeError, not UnicodeDecodeError, on text it cannot decode (was:
    escaping the header reader)."""
    path = write_csv(tmp_path / "in" / "ledger.csv", ordinary_rows())
    out = tmp_path / "run"
    assert "--encoding" in error_line(scan(path, out, "--encoding", "punycode"), out, path)
