"""Golden files for the public-format presets.

Each file in ``tests/data/presets/`` is hand-written after the published header of its
format, and the expected canonical rows below are worked out by hand from those files
(the arithmetic is in the comments). Sources with no transaction id get content ids, so
for them the rows are compared without ``txn_id`` and the ids are checked on their own.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

import flowscan

PRESETS = Path(__file__).resolve().parent / "data" / "presets"
AMLWORLD = PRESETS / "amlworld.csv"
AMLSIM = PRESETS / "amlsim"
LEGACY = PRESETS / "amlsim-legacy"
SAMLD = PRESETS / "saml-d.csv"
PAYSIM = PRESETS / "paysim.csv"
MAPPED = PRESETS / "mapped.csv"
MAPPED_CONFIG = PRESETS / "mapped.toml"

GENERATED_ID = re.compile(r"^g[0-9a-f]{32}$")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def row(txn_id, timestamp, sender, receiver, amount, currency, channel, channel_raw, *, location=None, country=None,
        mcc=None, sender_bank=None, receiver_bank=None, is_self_transfer=False, is_reversal=False,
        txn_id_generated=False) -> dict:
    """One canonical row, every column spelled out."""
    return {
        "txn_id": txn_id,
        "timestamp": timestamp,
        "sender": sender,
        "receiver": receiver,
        "amount": amount,
        "currency": currency,
        "channel": channel,
        "channel_raw": channel_raw,
        "location": location,
        "country": country,
        "mcc": mcc,
        "sender_bank": sender_bank,
        "receiver_bank": receiver_bank,
        "is_self_transfer": is_self_transfer,
        "is_reversal": is_reversal,
        "txn_id_generated": txn_id_generated,
    }


def content(r: dict) -> tuple:
    """A row without its txn_id (hashable; timestamps compare as instants)."""
    return tuple((k, v) for k, v in r.items() if k != "txn_id")


def rows_without_ids(rows) -> Counter:
    """The rows of a ledger (or a list of row dicts) without their ids, as a multiset."""
    if not isinstance(rows, list):
        rows = rows.to_pylist()
    return Counter(content(r) for r in rows)


def assert_sorted(ledger) -> None:
    keys = [(r["timestamp"], r["txn_id"]) for r in ledger.select(["timestamp", "txn_id"]).to_pylist()]
    assert keys == sorted(keys)


def labelled_content(result) -> list[tuple]:
    """(row content, is_laundering, typology, alert_id) of each label, joined by txn_id, as a multiset."""
    by_id = {r["txn_id"]: r for r in result.ledger.to_pylist()}
    assert result.labels.num_rows == result.ledger.num_rows
    assert set(result.labels.column("txn_id").to_pylist()) == set(by_id)
    return Counter(
        (content(by_id[lab["txn_id"]]), lab["is_laundering"], lab["typology"], lab["alert_id"])
        for lab in result.labels.to_pylist()
    )


def id_to_content(result) -> dict:
    return {r["txn_id"]: content(r) for r in result.ledger.to_pylist()}


def shuffled_copy(path: Path, out: Path, seed: int) -> Path:
    """The header of ``path`` then its data lines in another order (line endings kept)."""
    header, *data = path.read_bytes().splitlines(keepends=True)
    if not data[-1].endswith(b"\n"):
        data[-1] += header[len(header.rstrip(b"\r\n")):]
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    assert order != sorted(order)  # the copy really is in another order
    out.write_bytes(header + b"".join(data[i] for i in order))
    return out


def assert_generated_ids(result, n_rows: int, repeated: int) -> None:
    """Content ids: ``g`` + 32 hex digits, one ``-1`` suffix for the repeat of an identical row."""
    ledger = result.ledger
    ids = ledger.column("txn_id").to_pylist()
    assert len(ids) == n_rows
    assert len(set(ids)) == n_rows
    assert ledger.column("txn_id_generated").to_pylist() == [True] * n_rows
    assert all(i.startswith("g") for i in ids)
    plain = [i for i in ids if len(i) == 33]
    suffixed = [i for i in ids if len(i) != 33]
    assert all(GENERATED_ID.match(i) for i in plain)
    assert len(suffixed) == repeated
    by_id = {r["txn_id"]: content(r) for r in ledger.to_pylist()}
    for made in suffixed:
        base, suffix = made.rsplit("-", 1)
        assert suffix == "1"
        assert GENERATED_ID.match(base)
        assert base in by_id
        assert by_id[base] == by_id[made]  # the repeat carries the same content as its twin


# -- AMLworld ---------------------------------------------------------------------------------

# Amount and currency are the paid side (columns 8 and 9); bank ids keep their zeros.
AMLWORLD_ROWS = [
    # 3697.34 US Dollar, to itself
    row(None, utc(2022, 9, 1, 0, 20), "8000EBD30", "8000EBD30", 369734, "USD", "other", "Reinvestment",
        sender_bank="010", receiver_bank="010", is_self_transfer=True, txn_id_generated=True),
    # 0.01 US Dollar = 1 cent
    row(None, utc(2022, 9, 1, 0, 0), "8000F4580", "8000F5340", 1, "USD", "check", "Cheque",
        sender_bank="3208", receiver_bank="1", txn_id_generated=True),
    row(None, utc(2022, 9, 1, 0, 2), "800E36EF0", "800E36EF0", 1467557, "EUR", "cash", "Cash",
        sender_bank="00070", receiver_bank="00070", is_self_transfer=True, txn_id_generated=True),
    # 0.00012345 bitcoin = 12345 satoshi
    row(None, utc(2022, 9, 1, 0, 17), "8100CC290", "81364BE70", 12345, "XBT", "crypto", "Bitcoin",
        sender_bank="0214250", receiver_bank="0214250", txn_id_generated=True),
    # 1500 Yen: JPY has no minor unit
    row(None, utc(2022, 9, 2, 23, 59), "80C5A1ED0", "8010C6D10", 1500, "JPY", "card", "Credit Card",
        sender_bank="1362", receiver_bank="001120", txn_id_generated=True),
    # received 1000.00 Euro, paid 1174.32 US Dollar: the paid side is kept
    row(None, utc(2022, 9, 1, 1, 15), "80BB31A70", "812ED62E0", 117432, "USD", "wire", "Wire",
        sender_bank="0211", receiver_bank="021174", txn_id_generated=True),
    row(None, utc(2022, 9, 1, 5, 14), "80020C5B0", "8000A2D80", 773929, "GBP", "ach", "ACH",
        sender_bank="020", receiver_bank="0220", txn_id_generated=True),
    # two identical rows: both kept
    row(None, utc(2022, 9, 3, 12, 0), "8000EBD30", "800D8A2E0", 25000, "USD", "wire", "Wire",
        sender_bank="00070", receiver_bank="010", txn_id_generated=True),
    row(None, utc(2022, 9, 3, 12, 0), "8000EBD30", "800D8A2E0", 25000, "USD", "wire", "Wire",
        sender_bank="00070", receiver_bank="010", txn_id_generated=True),
]
AMLWORLD_LAUNDERING = [False, False, False, True, False, True, False, True, True]


def test_amlworld_rows():
    result = flowscan.read_ledger(AMLWORLD, timezone="UTC")
    assert [f.preset for f in result.report.files] == ["amlworld"]
    assert result.report.files[0].role == "ledger"
    assert (result.report.rows_read, result.report.accepted, result.report.rejected) == (9, 9, 0)
    assert result.report.duplicates == 0
    assert result.rejects.num_rows == 0
    assert rows_without_ids(result.ledger) == rows_without_ids(AMLWORLD_ROWS)
    assert_sorted(result.ledger)
    assert result.account_labels is None


def test_amlworld_labels():
    result = flowscan.read_ledger(AMLWORLD, timezone="UTC")
    expected = Counter((content(r), flag, None, None) for r, flag in zip(AMLWORLD_ROWS, AMLWORLD_LAUNDERING))
    assert labelled_content(result) == expected


def test_amlworld_bank_ids_keep_leading_zeros():
    result = flowscan.read_ledger(AMLWORLD, timezone="UTC")
    banks = set(result.ledger.column("sender_bank").to_pylist()) | set(result.ledger.column("receiver_bank").to_pylist())
    assert banks == {"010", "3208", "1", "00070", "0214250", "1362", "001120", "0211", "021174", "020", "0220"}


def test_amlworld_needs_a_time_zone():
    with pytest.raises(flowscan.DataError) as caught:
        flowscan.read_ledger(AMLWORLD)
    assert str(AMLWORLD) in str(caught.value)
    assert "--tz" in str(caught.value)


def test_amlworld_time_zone_is_applied():
    # 2022/09/01 00:00 in New York is EDT (UTC-4): 04:00 UTC; 2022/09/03 12:00 is 16:00 UTC
    result = flowscan.read_ledger(AMLWORLD, timezone="America/New_York")
    stamps = result.ledger.column("timestamp").to_pylist()
    assert stamps[0] == utc(2022, 9, 1, 4, 0)
    assert stamps[-1] == utc(2022, 9, 3, 16, 0)


def test_amlworld_ids(tmp_path):
    first = flowscan.read_ledger(AMLWORLD, timezone="UTC")
    assert_generated_ids(first, 9, repeated=1)
    again = flowscan.read_ledger(AMLWORLD, timezone="UTC")
    assert again.ledger.column("txn_id").to_pylist() == first.ledger.column("txn_id").to_pylist()
    shuffled = flowscan.read_ledger(shuffled_copy(AMLWORLD, tmp_path / "elsewhere.csv", 3), timezone="UTC")
    assert id_to_content(shuffled) == id_to_content(first)


def test_amlworld_ids_do_not_depend_on_splitting_the_file(tmp_path):
    # the two identical rows (the last two lines) end up in different files
    header, *data = AMLWORLD.read_bytes().splitlines(keepends=True)
    (tmp_path / "part-a.csv").write_bytes(header + b"".join(data[:5]) + data[-1])
    (tmp_path / "part-b.csv").write_bytes(header + b"".join(data[5:-1]))
    split = flowscan.read_ledger(tmp_path, timezone="UTC")
    assert [f.rows_read for f in split.report.files] == [6, 3]
    assert id_to_content(split) == id_to_content(flowscan.read_ledger(AMLWORLD, timezone="UTC"))


def test_amlworld_forced_format_matches_detection():
    detected = flowscan.read_ledger(AMLWORLD, timezone="UTC")
    forced = flowscan.read_ledger(AMLWORLD, timezone="UTC", format="amlworld")
    assert forced.report.files[0].preset == "amlworld"
    assert forced.ledger.equals(detected.ledger)


# -- AMLSim (newer output) --------------------------------------------------------------------

# Sorted by (timestamp, txn_id); ids are text, so "2" < "316" < "317" and "3" < "318".
AMLSIM_ROWS = [
    row("1", utc(2017, 1, 1), "2665", "496", 55690, "USD", "wire", "TRANSFER"),
    row("2", utc(2017, 1, 1), "5123", "651", 91409, "USD", "wire", "TRANSFER"),
    # CASH-IN, orig_acct=0, bene_acct=-: a deposit into 0
    row("316", utc(2017, 1, 1), None, "0", 5657, "USD", "cash", "CASH-IN"),
    # CASH-OUT, orig_acct=-, bene_acct=0: a withdrawal from 0
    row("317", utc(2017, 1, 1), "0", None, 2505, "USD", "cash", "CASH-OUT"),
    row("3", utc(2017, 1, 2), "0", "17", 10000, "USD", "wire", "TRANSFER"),
    row("318", utc(2017, 1, 2), None, "496", 100000, "USD", "cash", "CASH-IN"),
    row("4", utc(2017, 1, 3), "0042", "0042", 1230, "USD", "wire", "TRANSFER", is_self_transfer=True),
    row("319", utc(2017, 1, 4), "651", None, 99999, "USD", "cash", "CASH-OUT"),
    row("5", utc(2017, 3, 15, 12, 30), "17", "0", 7550, "USD", "wire", "TRANSFER"),
]


def test_amlsim_rows():
    result = flowscan.read_ledger(AMLSIM)
    assert [(Path(f.path).name, f.preset, f.role) for f in result.report.files] == [
        ("alert_accounts.csv", "amlsim-alert-accounts", "account_labels"),
        ("cash_tx.csv", "amlsim", "ledger"),
        ("transactions.csv", "amlsim", "ledger"),
    ]
    assert (result.report.rows_read, result.report.accepted, result.report.rejected) == (9, 9, 0)
    assert result.rejects.num_rows == 0
    assert result.ledger.to_pylist() == AMLSIM_ROWS


def test_amlsim_labels():
    result = flowscan.read_ledger(AMLSIM)
    assert result.labels.to_pylist() == [
        {"txn_id": "1", "is_laundering": True, "typology": None, "alert_id": "4"},
        {"txn_id": "2", "is_laundering": True, "typology": None, "alert_id": "9"},
        {"txn_id": "316", "is_laundering": False, "typology": None, "alert_id": None},
        {"txn_id": "317", "is_laundering": False, "typology": None, "alert_id": None},
        {"txn_id": "3", "is_laundering": False, "typology": None, "alert_id": None},
        {"txn_id": "318", "is_laundering": False, "typology": None, "alert_id": None},
        {"txn_id": "4", "is_laundering": False, "typology": None, "alert_id": None},
        {"txn_id": "319", "is_laundering": False, "typology": None, "alert_id": None},
        {"txn_id": "5", "is_laundering": False, "typology": None, "alert_id": None},
    ]


def test_amlsim_account_labels():
    result = flowscan.read_ledger(AMLSIM)
    assert result.account_labels.to_pylist() == [
        {"account": "2665", "is_laundering": True, "typology": "fan_in", "alert_id": "4"},
        {"account": "496", "is_laundering": True, "typology": "fan_in", "alert_id": "4"},
        {"account": "5123", "is_laundering": True, "typology": "cycle", "alert_id": "9"},
        {"account": "651", "is_laundering": True, "typology": "cycle", "alert_id": "9"},
        {"account": "0042", "is_laundering": False, "typology": "bipartite", "alert_id": "12"},
    ]


def test_amlsim_cash_file_alone():
    result = flowscan.read_ledger(AMLSIM / "cash_tx.csv")
    assert result.report.files[0].preset == "amlsim"
    assert result.ledger.to_pylist() == [r for r in AMLSIM_ROWS if r["channel"] == "cash"]
    assert result.account_labels is None


def test_amlsim_forced_format():
    result = flowscan.read_ledger(AMLSIM / "transactions.csv", format="amlsim")
    assert result.report.files[0].preset == "amlsim"
    assert result.ledger.to_pylist() == [r for r in AMLSIM_ROWS if r["channel"] == "wire"]


def test_forcing_a_preset_the_header_lacks_names_the_file():
    with pytest.raises(flowscan.DataError) as caught:
        flowscan.read_ledger(AMLSIM / "transactions.csv", format="paysim")
    message = str(caught.value)
    assert str(AMLSIM / "transactions.csv") in message
    assert "paysim" in message
    assert "--format" in message


# -- AMLSim (original output) -----------------------------------------------------------------

# time is a day step from 2017-01-01 UTC: step 1 = 2017-01-02, step 149 = 2017-05-30
# (31 + 28 + 31 + 30 = 120 days to 1 May, + 29). Both files use CRLF line ends, like IBM's.
LEGACY_ROWS = [
    row(None, utc(2017, 1, 2), "280", "15349", 14780, "USD", "wire", None, txn_id_generated=True),
    row(None, utc(2017, 1, 2), "249", "9015", 10406, "USD", "wire", None, txn_id_generated=True),
    row(None, utc(2017, 1, 1), "0", "7", 500, "USD", "wire", None, txn_id_generated=True),
    row(None, utc(2017, 5, 30), "7", "0", 100000, "USD", "wire", None, txn_id_generated=True),
    row(None, utc(2017, 1, 4), "280", "280", 1250, "USD", "wire", None, is_self_transfer=True, txn_id_generated=True),
    row(None, utc(2017, 1, 2), "249", "9015", 10406, "USD", "wire", None, txn_id_generated=True),
]


def test_legacy_files_use_crlf():
    for name in ("transactions.csv", "nodes.csv"):
        data = (LEGACY / name).read_bytes()
        assert data.count(b"\r\n") == data.count(b"\n")


def test_amlsim_legacy_rows():
    result = flowscan.read_ledger(LEGACY)
    assert [(Path(f.path).name, f.preset, f.role) for f in result.report.files] == [
        ("nodes.csv", "amlsim-nodes", "account_labels"),
        ("transactions.csv", "amlsim-legacy", "ledger"),
    ]
    assert (result.report.rows_read, result.report.accepted, result.report.rejected) == (6, 6, 0)
    assert result.rejects.num_rows == 0
    assert rows_without_ids(result.ledger) == rows_without_ids(LEGACY_ROWS)
    assert_sorted(result.ledger)
    assert result.labels is None  # transactions.csv carries no label; nodes.csv does


def test_amlsim_legacy_account_labels():
    result = flowscan.read_ledger(LEGACY)
    assert result.account_labels.to_pylist() == [
        {"account": "0", "is_laundering": False, "typology": None, "alert_id": None},
        {"account": "7", "is_laundering": True, "typology": None, "alert_id": None},
        {"account": "249", "is_laundering": False, "typology": None, "alert_id": None},
        {"account": "280", "is_laundering": True, "typology": None, "alert_id": None},
        {"account": "9015", "is_laundering": False, "typology": None, "alert_id": None},
        {"account": "15349", "is_laundering": False, "typology": None, "alert_id": None},
    ]


def test_amlsim_legacy_step_origin_option():
    # step 0 at 2020-06-01: step 1 = 2020-06-02, step 149 = 2020-06-01 + 149 days = 2020-10-28
    result = flowscan.read_ledger(LEGACY / "transactions.csv", step_origin="2020-06-01T00:00:00Z")
    stamps = result.ledger.column("timestamp").to_pylist()
    assert (stamps[0], stamps[-1]) == (utc(2020, 6, 1), utc(2020, 10, 28))


def test_amlsim_legacy_ids(tmp_path):
    first = flowscan.read_ledger(LEGACY)
    assert_generated_ids(first, 6, repeated=1)
    again = flowscan.read_ledger(LEGACY / "transactions.csv")
    assert again.ledger.column("txn_id").to_pylist() == first.ledger.column("txn_id").to_pylist()
    shuffled = flowscan.read_ledger(shuffled_copy(LEGACY / "transactions.csv", tmp_path / "t.csv", 5))
    assert id_to_content(shuffled) == id_to_content(first)


def test_amlsim_legacy_forced_format():
    result = flowscan.read_ledger(LEGACY / "transactions.csv", format="amlsim-legacy")
    assert result.report.files[0].preset == "amlsim-legacy"
    assert rows_without_ids(result.ledger) == rows_without_ids(LEGACY_ROWS)


# -- SAML-D -----------------------------------------------------------------------------------

# Payment_currency is the currency; Sender_bank_location -> location, Receiver_bank_location -> country.
SAMLD_ROWS = [
    row(None, utc(2022, 10, 7, 10, 35, 19), "8724731955", "2769355426", 145915, "GBP", "cash", "Cash Deposit",
        location="UK", country="UK", txn_id_generated=True),
    # paid in UK pounds, received in Dirham: the paid side
    row(None, utc(2022, 10, 7, 10, 35, 20), "1491989064", "8401255335", 601964, "GBP", "wire", "Cross-border",
        location="UK", country="UAE", txn_id_generated=True),
    row(None, utc(2022, 10, 7, 10, 35, 20), "287305149", "4404767002", 1432844, "GBP", "check", "Cheque",
        location="UK", country="UK", txn_id_generated=True),
    # 11895.0 Euro = 1189500 cents
    row(None, utc(2022, 10, 8, 0, 0, 0), "5376652437", "9600420220", 1189500, "EUR", "ach", "ACH",
        location="UK", country="Spain", txn_id_generated=True),
    # 16.6 UK pounds = 1660 pence
    row(None, utc(2022, 10, 8, 23, 59, 59), "9614186178", "3803336972", 1660, "GBP", "card", "Debit card",
        location="UK", country="UK", txn_id_generated=True),
    # receiver keeps its leading zero
    row(None, utc(2022, 10, 9, 12, 0, 0), "6210202089", "0417380001", 25000, "USD", "card", "Credit card",
        location="USA", country="USA", txn_id_generated=True),
    row(None, utc(2022, 10, 9, 8, 15, 0), "4045854416", "9104426577", 7000, "JPY", "cash", "Cash Withdrawal",
        location="Japan", country="Japan", txn_id_generated=True),
    row(None, utc(2022, 10, 9, 8, 15, 0), "4045854416", "9104426577", 7000, "JPY", "cash", "Cash Withdrawal",
        location="Japan", country="Japan", txn_id_generated=True),
]
SAMLD_LABELS = [
    (False, "Normal_Cash_Deposits"), (False, "Normal_Foward"), (False, "Normal_Small_Fan_Out"), (True, "Structuring"),
    (False, "Normal_Group"), (False, "Normal_single_large"), (True, "Cash_Withdrawal"), (True, "Cash_Withdrawal"),
]


def test_samld_rows():
    result = flowscan.read_ledger(SAMLD, timezone="UTC")
    assert [f.preset for f in result.report.files] == ["saml-d"]
    assert (result.report.rows_read, result.report.accepted, result.report.rejected) == (8, 8, 0)
    assert result.rejects.num_rows == 0
    assert rows_without_ids(result.ledger) == rows_without_ids(SAMLD_ROWS)
    assert_sorted(result.ledger)


def test_samld_labels():
    result = flowscan.read_ledger(SAMLD, timezone="UTC")
    expected = Counter((content(r), flag, typology, None) for r, (flag, typology) in zip(SAMLD_ROWS, SAMLD_LABELS))
    assert labelled_content(result) == expected


def test_samld_needs_a_time_zone():
    with pytest.raises(flowscan.DataError) as caught:
        flowscan.read_ledger(SAMLD)
    assert str(SAMLD) in str(caught.value)
    assert "--tz" in str(caught.value)


def test_samld_ids(tmp_path):
    first = flowscan.read_ledger(SAMLD, timezone="UTC")
    assert_generated_ids(first, 8, repeated=1)
    again = flowscan.read_ledger(SAMLD, timezone="UTC")
    assert again.ledger.column("txn_id").to_pylist() == first.ledger.column("txn_id").to_pylist()
    shuffled = flowscan.read_ledger(shuffled_copy(SAMLD, tmp_path / "saml.csv", 11), timezone="UTC")
    assert id_to_content(shuffled) == id_to_content(first)


def test_samld_forced_format():
    result = flowscan.read_ledger(SAMLD, timezone="UTC", format="saml-d")
    assert result.report.files[0].preset == "saml-d"
    assert rows_without_ids(result.ledger) == rows_without_ids(SAMLD_ROWS)


# -- PaySim -----------------------------------------------------------------------------------

# step is an hour from 2017-01-01 UTC: step 743 = 30 days 23 hours = 2017-01-31 23:00.
# CASH_IN flows agent (nameDest) -> customer (nameOrig); everything else nameOrig -> nameDest.
PAYSIM_ROWS = [
    row(None, utc(2017, 1, 1, 1), "C1231006815", "M1979787155", 983964, "USD", "other", "PAYMENT",
        txn_id_generated=True),
    row(None, utc(2017, 1, 1, 1), "C1305486145", "C553264065", 18100, "USD", "p2p", "TRANSFER", txn_id_generated=True),
    row(None, utc(2017, 1, 1, 1), "C840083671", "C38997010", 18100, "USD", "cash", "CASH_OUT", txn_id_generated=True),
    row(None, utc(2017, 1, 1, 1), "C712410124", "C195600860", 533777, "USD", "ach", "DEBIT", txn_id_generated=True),
    row(None, utc(2017, 1, 1, 2), "C1353112838", "C1862994526", 100000, "USD", "cash", "CASH_IN",
        txn_id_generated=True),
    row(None, utc(2017, 1, 31, 23), "C1116085130", "C1234567890", 1_000_000_000, "USD", "p2p", "TRANSFER",
        txn_id_generated=True),
    row(None, utc(2017, 1, 31, 23), "C1116085130", "C1234567890", 1_000_000_000, "USD", "p2p", "TRANSFER",
        txn_id_generated=True),
    row(None, utc(2017, 1, 1, 0), "C1000000001", "M1000000002", 50, "USD", "other", "PAYMENT", txn_id_generated=True),
]
PAYSIM_FRAUD = [False, True, True, False, False, True, True, False]


def test_paysim_rows():
    result = flowscan.read_ledger(PAYSIM)
    assert [f.preset for f in result.report.files] == ["paysim"]
    assert (result.report.rows_read, result.report.accepted, result.report.rejected) == (8, 8, 0)
    assert result.rejects.num_rows == 0
    assert rows_without_ids(result.ledger) == rows_without_ids(PAYSIM_ROWS)
    assert_sorted(result.ledger)


def test_paysim_labels():
    result = flowscan.read_ledger(PAYSIM)
    expected = Counter((content(r), flag, None, None) for r, flag in zip(PAYSIM_ROWS, PAYSIM_FRAUD))
    assert labelled_content(result) == expected


def test_paysim_currency_override():
    result = flowscan.read_ledger(PAYSIM, currency="EUR")
    assert set(result.ledger.column("currency").to_pylist()) == {"EUR"}
    assert sorted(result.ledger.column("amount").to_pylist()) == sorted(r["amount"] for r in PAYSIM_ROWS)


def test_paysim_ids(tmp_path):
    first = flowscan.read_ledger(PAYSIM)
    assert_generated_ids(first, 8, repeated=1)
    again = flowscan.read_ledger(PAYSIM)
    assert again.ledger.column("txn_id").to_pylist() == first.ledger.column("txn_id").to_pylist()
    shuffled = flowscan.read_ledger(shuffled_copy(PAYSIM, tmp_path / "ps.csv", 2))
    assert id_to_content(shuffled) == id_to_content(first)


def test_paysim_forced_format():
    result = flowscan.read_ledger(PAYSIM, format="paysim")
    assert result.report.files[0].preset == "paysim"
    assert rows_without_ids(result.ledger) == rows_without_ids(PAYSIM_ROWS)


def test_ids_differ_between_sources():
    ids = set()
    for path, zone in ((AMLWORLD, "UTC"), (SAMLD, "UTC"), (PAYSIM, None), (LEGACY, None)):
        ids |= set(flowscan.read_ledger(path, timezone=zone).ledger.column("txn_id").to_pylist())
    assert len(ids) == 9 + 8 + 8 + 6


# -- a mapped bank export ---------------------------------------------------------------------

# New York wall-clock times: EST (UTC-5) before 2024-03-10 02:00, EDT (UTC-4) after.
# R-005 is -25.00: a reversal, sender and receiver swapped. R-007 (2024-11-03 01:30) falls in
# the hour repeated when EDT ends: rejected.
MAPPED_ROWS = [
    row("R-001", utc(2024, 3, 1, 14, 15), "0000001042", "0000077001", 10000, "USD", "wire", "WIRE OUT",
        location="STAMFORD", country="US"),
    row("R-002", utc(2024, 3, 1, 17, 30), "0000001042", None, 950000, "USD", "cash", "CASH WDL",
        location="YONKERS", country="US"),
    # "12,500.00" with thousands_mark ","
    row("R-003", utc(2024, 3, 2, 23, 5), None, "0000001042", 1250000, "USD", "cash", "CASH DEP",
        location="STAMFORD", country="US"),
    # " 0000001049 " is trimmed; MCC 0742 keeps its zero
    row("R-004", utc(2024, 3, 10, 4, 59, 59), "0000001049", "0000099123", 4357, "USD", "card", "POS",
        location="STAMFORD", country="US", mcc="0742"),
    row("R-005", utc(2024, 3, 10, 7, 30), "0000001042", "0000077001", 2500, "USD", "wire", "WIRE OUT",
        location="STAMFORD", country="US", is_reversal=True),
    # FEE is in no channel map: other
    row("R-006", utc(2024, 3, 11, 12, 0), "0000001042", "0000001042", 5000, "JPY", "other", "FEE",
        location="TOKYO", country="JP", is_self_transfer=True),
]


def mapped_read():
    return flowscan.read_ledger(MAPPED, options=flowscan.ReadOptions.from_toml(MAPPED_CONFIG))


def test_mapped_rows():
    result = mapped_read()
    assert [f.preset for f in result.report.files] == ["mapped"]
    assert result.ledger.to_pylist() == MAPPED_ROWS
    assert result.labels is None
    assert result.account_labels is None


def test_mapped_reconciliation_and_rejects():
    result = mapped_read()
    report = result.report
    assert (report.rows_read, report.accepted, report.rejected, report.duplicates) == (7, 6, 1, 0)
    assert report.reconciles
    assert report.reasons == {"ambiguous_local_time": 1}
    rejects = result.rejects.to_pylist()
    assert [(r["source_file"], r["row_number"], r["reason"]) for r in rejects] == [
        (str(MAPPED), 7, "ambiguous_local_time")
    ]


def test_mapped_schema_found():
    result = mapped_read()
    assert result.report.files[0].mapping == {
        "txn_id": "Ref", "timestamp": "BookedAt", "sender": "FromAcct", "receiver": "ToAcct", "amount": "Value",
        "currency": "Cur", "channel_raw": "Type", "location": "Branch", "country": "Country", "mcc": "Merchant",
    }


def test_mapped_without_config_cannot_tell_the_format():
    with pytest.raises(flowscan.DataError) as caught:
        flowscan.read_ledger(MAPPED)
    assert str(MAPPED) in str(caught.value)
    assert "--map" in str(caught.value)


# -- every golden file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda: flowscan.read_ledger(AMLWORLD, timezone="UTC"), id="amlworld"),
        pytest.param(lambda: flowscan.read_ledger(AMLSIM), id="amlsim"),
        pytest.param(lambda: flowscan.read_ledger(LEGACY), id="amlsim-legacy"),
        pytest.param(lambda: flowscan.read_ledger(SAMLD, timezone="UTC"), id="saml-d"),
        pytest.param(lambda: flowscan.read_ledger(PAYSIM), id="paysim"),
        pytest.param(mapped_read, id="mapped"),
    ],
)
def test_golden_files_give_the_canonical_schema(read):
    result = read()
    assert result.ledger.schema.equals(flowscan.CANONICAL_SCHEMA)
    assert result.report.reconciles
    assert result.ledger.num_rows == result.report.accepted


# -- found by fuzzing (issue 9, part 2: tests/fuzz/fuzz_csv.py, fuzz_presets.py, fuzz_timestamps.py) --


def without_columns(source: Path, target: Path, *dropped: str) -> Path:
    """``source`` with the columns named ``dropped`` (every one of that name) left out."""
    import csv

    with source.open(newline="") as handle:
        records = list(csv.reader(handle))
    keep = [i for i, name in enumerate(records[0]) if name not in dropped]
    with target.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([[r[i] for i in keep] for r in records])
    return target


def test_paysim_without_its_label_columns_is_read(tmp_path):
    """The PaySim header is recognised without isFraud (was: KeyError staging the labels)."""
    path = without_columns(PAYSIM, tmp_path / "paysim.csv", "isFraud", "isFlaggedFraud")
    result = flowscan.read_ledger(path)
    assert [f.preset for f in result.report.files] == ["paysim"]
    assert rows_without_ids(result.ledger) == rows_without_ids(PAYSIM_ROWS)
    assert result.labels is None


def test_samld_without_its_label_and_location_columns_is_read(tmp_path):
    """The SAML-D header is recognised without the labels and bank locations (was: KeyError)."""
    path = without_columns(SAMLD, tmp_path / "saml-d.csv", "Is_laundering", "Laundering_type",
                           "Sender_bank_location", "Receiver_bank_location")
    result = flowscan.read_ledger(path, timezone="UTC")
    assert [f.preset for f in result.report.files] == ["saml-d"]
    expected = [{**r, "location": None, "country": None} for r in SAMLD_ROWS]
    assert rows_without_ids(result.ledger) == rows_without_ids(expected)
    assert result.labels is None


def test_amlworld_columns_out_of_their_published_order_are_refused_naming_the_file(tmp_path):
    """AMLworld is mapped by position (its header repeats Account): a file with one Account
    column, or columns moved, is refused (was: IndexError, or amounts read from the wrong
    column)."""
    path = without_columns(AMLWORLD, tmp_path / "amlworld.csv", "Is Laundering")
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    header[4], header[5] = header[5], header[4]
    path.write_text("\n".join([",".join(header), *lines[1:]]) + "\n")
    with pytest.raises(flowscan.DataError) as caught:
        flowscan.read_ledger(path, timezone="UTC")
    assert str(caught.value).startswith(f"{path}: the AMLworld columns are not in their published order")


def test_amlsim_legacy_step_past_the_year_9999_is_out_of_range(tmp_path):
    """213,505,078 daily steps after 2017 wrap around 64 bits of microseconds into 2020: the
    row was accepted at 2020-01-01T15:58Z; it is now rejected as out of range."""
    path = tmp_path / "transactions.csv"
    path.write_text("sourceNodeId,targetNodeId,value,time\n1,2,10.0,1\n1,2,20.0,213505078\n")
    result = flowscan.read_ledger(path, max_reject_rate=1.0)
    assert result.ledger.column("amount").to_pylist() == [1000]
    assert result.rejects.column("reason").to_pylist() == ["timestamp_out_of_range"]
