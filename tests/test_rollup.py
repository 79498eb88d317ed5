"""Relationship roll-up: side-table reading and normalisation, groups, roll-up, determinism."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowscan.errors import ConfigError, CorruptFileError, DataError
from flowscan.score.rollup import (
    RELATIONSHIPS_SCHEMA,
    TOO_COMMON_KEY,
    normalise_relationships,
    normalise_value,
    read_relationships,
    relationship_groups,
    roll_up,
    too_common_identifiers,
)

SECRET_PHONE = "+1 (555) 010-9999"
SECRET_ACCOUNT = "ACCT-SECRET-77"


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _groups(accounts, relationships=None, **options):
    return relationship_groups(pa.array(accounts, pa.string()), relationships, **options)


def _by_account(groups: pa.Table) -> dict[str, dict]:
    return {row["account"]: row for row in groups.to_pylist()}


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def naive_groups(accounts: list[str], rows: list[tuple[str, str, str]], max_group_size: int) -> dict[str, str]:
    """The obvious twin: merge sets of accounts until no identifier value joins two of them."""
    users: dict[tuple[str, str], set[str]] = {}
    for account, kind, value in set(rows):
        users.setdefault((kind, value), set()).add(account)
    sets = [{a} for a in set(accounts) | {r[0] for r in rows}]
    changed = True
    while changed:
        changed = False
        for shared in users.values():
            if len(shared) > max_group_size:
                continue
            touching = [s for s in sets if s & shared]
            if len(touching) > 1:
                merged = set().union(*touching)
                sets = [s for s in sets if not s & shared] + [merged]
                changed = True
    scored = set(accounts)
    out = {}
    for s in sets:
        members = s & scored
        for a in members:
            out[a] = "G:" + min(members)
    return out


# -- grouping by hand ------------------------------------------------------------------------


def test_accounts_of_one_customer_are_one_group():
    side = pa.table({"account": ["A1", "A2", "B1"], "customer_id": ["C-7", "C-7", "C-8"]})
    rows = _by_account(_groups(["A1", "A2", "B1", "Z"], side))
    assert rows["A1"]["group_id"] == rows["A2"]["group_id"] == "G:A1"
    assert rows["A1"]["group_size"] == rows["A2"]["group_size"] == 2
    assert rows["A1"]["linked_by"] == rows["A2"]["linked_by"] == ["customer_id"]
    assert rows["B1"] == {"account": "B1", "group_id": "G:B1", "group_size": 1, "linked_by": []}
    assert rows["Z"] == {"account": "Z", "group_id": "G:Z", "group_size": 1, "linked_by": []}


def test_a_chain_of_identifiers_makes_one_group_of_three():
    side = pa.table({
        "account": ["C", "A", "B", "B"],
        "phone": ["", "555 0100", "5550100", None],
        "address": ["9 Elm Rd", None, "", "9 ELM  RD"],
    })
    groups = _groups(["A", "B", "C", "D"], side)
    assert groups["account"].to_pylist() == ["A", "B", "C", "D"]
    assert groups["group_id"].to_pylist() == ["G:A", "G:A", "G:A", "G:D"]
    assert groups["group_size"].to_pylist() == [3, 3, 3, 1]
    assert groups["linked_by"].to_pylist() == [["phone"], ["address", "phone"], ["address"], []]


def test_result_keeps_the_order_of_accounts_given():
    side = pa.table({"account": ["b", "c"], "device": ["d1", "d1"]})
    groups = _groups(["c", "a", "b"], side)
    assert groups["account"].to_pylist() == ["c", "a", "b"]
    assert groups["group_id"].to_pylist() == ["G:b", "G:a", "G:b"]


def test_unscored_side_accounts_bridge_but_do_not_appear():
    # DORMANT is not scored; it shares a phone with A and an address with B.
    side = pa.table({
        "account": ["A", "DORMANT", "DORMANT", "B"],
        "kind": ["phone", "phone", "address", "address"],
        "value": ["111", "111", "1 Main", "1 main"],
    })
    groups = _groups(["A", "B"], side)
    assert groups["account"].to_pylist() == ["A", "B"]
    assert groups["group_id"].to_pylist() == ["G:A", "G:A"]
    assert groups["group_size"].to_pylist() == [2, 2]
    # a scored account tied only to an unscored one is still a singleton with nothing to show
    alone = _by_account(_groups(["A", "C"], side))
    assert alone["A"] == {"account": "A", "group_id": "G:A", "group_size": 1, "linked_by": []}


def test_a_value_shared_by_too_many_accounts_does_not_link():
    accounts = [f"acct{i:03d}" for i in range(60)]
    side = pa.table({
        "account": accounts + ["acct000", "acct001"],
        "phone": ["+1 800 555 0000"] * 60 + [None, None],  # a branch's number: 60 accounts
        "email": [None] * 60 + ["x@bank.example", "X@Bank.Example"],
    })
    groups = _groups(accounts, side)
    rows = _by_account(groups)
    assert rows["acct000"]["group_id"] == rows["acct001"]["group_id"] == "G:acct000"
    assert rows["acct000"]["linked_by"] == ["email"]
    assert all(rows[a]["group_size"] == 1 for a in accounts[2:])
    assert json.loads(groups.schema.metadata[TOO_COMMON_KEY]) == {"phone": 1}
    common = too_common_identifiers(side)
    assert common.to_pylist() == [{"kind": "phone", "value": "+18005550000", "accounts": 60}]
    # the same value links when the cap allows it, and exactly at the cap
    assert _groups(accounts, side, max_group_size=60)["group_size"].to_pylist() == [60] * 60
    assert json.loads(_groups(accounts, side, max_group_size=60).schema.metadata[TOO_COMMON_KEY]) == {}


def test_the_cap_counts_unscored_accounts_too():
    side = pa.table({"account": ["A", "B", "X"], "address": ["hq", "hq", "hq"]})
    assert _groups(["A", "B"], side, max_group_size=2)["group_size"].to_pylist() == [1, 1]
    assert _groups(["A", "B"], side, max_group_size=3)["group_size"].to_pylist() == [2, 2]


def test_no_table_or_no_rows_means_singletons():
    accounts = ["a", "b", "c"]
    for side in (None, pa.table({"account": pa.array([], pa.string()), "phone": pa.array([], pa.string())}),
                 pa.table({"account": ["x", "y"], "phone": ["1", "1"]})):
        groups = _groups(accounts, side)
        assert groups.to_pylist() == [
            {"account": a, "group_id": f"G:{a}", "group_size": 1, "linked_by": []} for a in accounts
        ]
        assert json.loads(groups.schema.metadata[TOO_COMMON_KEY]) == {}
    assert _groups([], None).num_rows == 0


def test_bad_options_and_arguments():
    with pytest.raises(ConfigError, match=r"The 'max_group_size' parameter of relationship_groups must be a "
                                          r"positive integer\. Got 0 instead\."):
        _groups(["a"], None, max_group_size=0)
    with pytest.raises(TypeError, match="accounts must be a pyarrow string array"):
        relationship_groups(["a", "b"])
    with pytest.raises(DataError, match="repeated ids"):
        _groups(["a", "a"])
    with pytest.raises(DataError, match="no 'account' column"):
        _groups(["a"], pa.table({"acct": ["a"], "phone": ["1"]}))


# -- reading and normalisation ---------------------------------------------------------------


def test_normalisation_of_phone_email_and_other_kinds(tmp_path):
    path = _write_csv(tmp_path / "rel.csv", (
        "Account,Phone,EMAIL,address,device\n"
        "A,+1 (555) 010-0000,Ana@Example.ORG ,  1  Main   St ,DEV-1\n"
        "B,+15550100000,ana@example.org,1 main st,dev-1\n"
        " C ,,   ,  , \n"
        "D,(555) 010-0000,,Straße 5,\n"
        ",+15550100000,,,\n"
    ))
    table = read_relationships(path)
    assert table.schema.equals(RELATIONSHIPS_SCHEMA, check_metadata=True)
    assert table.to_pylist() == [
        {"account": "A", "kind": "address", "value": "1 main st"},
        {"account": "A", "kind": "device", "value": "dev-1"},
        {"account": "A", "kind": "email", "value": "ana@example.org"},
        {"account": "A", "kind": "phone", "value": "+15550100000"},
        {"account": "B", "kind": "address", "value": "1 main st"},
        {"account": "B", "kind": "device", "value": "dev-1"},
        {"account": "B", "kind": "email", "value": "ana@example.org"},
        {"account": "B", "kind": "phone", "value": "+15550100000"},
        {"account": "D", "kind": "address", "value": "strasse 5"},
        {"account": "D", "kind": "phone", "value": "5550100000"},  # no country code is guessed
    ]
    groups = relationship_groups(pa.array(["A", "B", "C", "D"]), table)
    assert groups["group_id"].to_pylist() == ["G:A", "G:A", "G:C", "G:D"]
    assert groups["linked_by"].to_pylist()[0] == ["address", "device", "email", "phone"]


def test_long_format_equals_wide_format(tmp_path):
    wide = _write_csv(tmp_path / "wide.csv", (
        "account,customer_id,phone,address\n"
        "A,c1,555-0100,1 Main St\n"
        "B,c1,,\n"
        "C,,5550100,\n"
        "D,,,1 MAIN ST\n"
        "E,c2,,\n"
    ))
    long = pa.table({
        "account": ["E", "A", "A", "A", "B", "C", "D"],
        "kind": ["customer_id", "Customer_ID", "phone", "address", "customer_id", "phone", "address"],
        "value": ["c2", "C1", "555 0100", "1 main st", "c1", "5550100", " 1 Main St"],
    })
    pq.write_table(long, tmp_path / "long.parquet")
    from_wide = read_relationships(wide)
    from_long = read_relationships(tmp_path / "long.parquet")
    assert from_wide.equals(from_long, check_metadata=True)
    accounts = pa.array(["A", "B", "C", "D", "E"])
    assert _ipc_bytes(relationship_groups(accounts, from_wide)) == _ipc_bytes(relationship_groups(accounts, long))


def test_integer_identifier_columns_in_parquet(tmp_path):
    pq.write_table(pa.table({"account": ["A", "B"], "phone": pa.array([15550100000, 15550100000], pa.int64())}),
                   tmp_path / "rel.parquet")
    table = read_relationships(tmp_path / "rel.parquet")
    assert table["value"].to_pylist() == ["15550100000", "15550100000"]


def test_missing_account_column_names_file_and_column_not_values(tmp_path):
    path = _write_csv(tmp_path / "rel.csv", f"acct,phone\n{SECRET_ACCOUNT},{SECRET_PHONE}\n")
    with pytest.raises(DataError) as caught:
        read_relationships(path)
    message = str(caught.value)
    assert str(path) in message and "'account'" in message
    assert "\n" not in message
    assert SECRET_ACCOUNT not in message and SECRET_PHONE not in message and "5550109999" not in message


def test_corrupt_parquet_is_one_line_naming_the_file(tmp_path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"account": [SECRET_ACCOUNT] * 50, "phone": [SECRET_PHONE] * 50}), good)
    data = good.read_bytes()
    bad = tmp_path / "rel.parquet"
    bad.write_bytes(data[: len(data) // 2] + b"\x00" * 16 + data[-200:])  # torn in the middle
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1" + b"\x13" * 64)
    for path in (bad, junk):
        with pytest.raises(CorruptFileError) as caught:
            read_relationships(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and "\n" not in message
        assert SECRET_ACCOUNT not in message and SECRET_PHONE not in message


def test_other_unreadable_inputs(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_relationships(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_relationships(tmp_path)
    empty = _write_csv(tmp_path / "empty.csv", "")
    with pytest.raises(CorruptFileError, match="empty file"):
        read_relationships(empty)
    ragged = _write_csv(tmp_path / "ragged.csv", f"account,phone\nA,1\n{SECRET_ACCOUNT},{SECRET_PHONE},extra\n")
    with pytest.raises(DataError) as caught:
        read_relationships(ragged)
    assert "line 3" in str(caught.value) and SECRET_ACCOUNT not in str(caught.value)
    pq.write_table(pa.table({"account": pa.array([1, 2], pa.int64()), "phone": ["1", "1"]}), tmp_path / "i.parquet")
    with pytest.raises(DataError, match="column 'account' must hold text; found int64"):
        read_relationships(tmp_path / "i.parquet")


@given(texts=st.lists(st.text(alphabet=st.sampled_from(list("aZß+ (0)9-\t\x0b\x1c\u00a0\u2003İ@.Σ٣")), max_size=12),
                      min_size=1, max_size=12),
       kind=st.sampled_from(["phone", "mobile", "email", "address", "device", "customer_id"]))
def test_vectorised_normalisation_equals_the_python_twin(texts, kind):
    table = pa.table({"account": [f"a{i}" for i in range(len(texts))], "kind": [kind] * len(texts), "value": texts})
    expected = sorted({(f"a{i}", kind, normalise_value(kind, t)) for i, t in enumerate(texts)} - {
        (f"a{i}", kind, "") for i in range(len(texts))})
    got = [(r["account"], r["kind"], r["value"]) for r in normalise_relationships(table).to_pylist()]
    assert got == expected


# -- roll-up ---------------------------------------------------------------------------------


def test_roll_up_takes_the_max_score_and_breaks_ties_by_smallest_id():
    side = pa.table({"account": ["b", "c", "a", "d", "e"], "customer_id": ["k1", "k1", "k1", "k2", "k2"],
                     "device": [None, None, None, "z", None]})
    groups = _groups(["a", "b", "c", "d", "e", "f"], side)
    scores = pa.table({"account": ["f", "e", "d", "c", "b", "a"], "score": [0.95, 0.7, 0.7, 0.9, 0.9, 0.1]})
    assert roll_up(scores, groups).to_pylist() == [
        {"group_id": "G:f", "members": ["f"], "group_size": 1, "group_score": 0.95, "top_account": "f",
         "linked_by": []},
        {"group_id": "G:a", "members": ["a", "b", "c"], "group_size": 3, "group_score": 0.9, "top_account": "b",
         "linked_by": ["customer_id"]},
        {"group_id": "G:d", "members": ["d", "e"], "group_size": 2, "group_score": 0.7, "top_account": "d",
         "linked_by": ["customer_id"]},
    ]


def test_roll_up_orders_equal_group_scores_by_group_id():
    groups = _groups(["c", "a", "b"])
    scores = pa.table({"account": ["a", "b", "c"], "score": [1.0, 1.0, 1.0]})
    rolled = roll_up(scores, groups)
    assert rolled["group_id"].to_pylist() == ["G:a", "G:b", "G:c"]
    assert rolled.schema.field("group_size").type == pa.int64()


def test_roll_up_refuses_mismatched_or_missing_scores():
    groups = _groups(["a", "b"])
    with pytest.raises(DataError, match="1 grouped account\\(s\\) have no score"):
        roll_up(pa.table({"account": ["a"], "score": [1.0]}), groups)
    with pytest.raises(DataError, match="NaN"):
        roll_up(pa.table({"account": ["a", "b"], "score": [1.0, math.nan]}), groups)
    with pytest.raises(DataError, match="null score"):
        roll_up(pa.table({"account": ["a", "b"], "score": pa.array([1.0, None])}), groups)
    with pytest.raises(DataError, match="no 'score' column"):
        roll_up(pa.table({"account": ["a", "b"]}), groups)


# -- determinism -----------------------------------------------------------------------------

ACCOUNTS = [f"a{i}" for i in range(8)]
PHONES = [None, "", "+1 555 0100", "+15550100", "555-0199", "5550199"]
ADDRESSES = [None, "1 Main St", "1  MAIN st", "2 Elm", "3 Oak"]

side_rows = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS + ["x1", "x2"]), st.sampled_from(PHONES), st.sampled_from(ADDRESSES),
              st.sampled_from([None, "c1", "c2", "c3"])),
    min_size=1, max_size=14,
)


def _wide(rows) -> pa.Table:
    account, phone, address, customer = zip(*rows)
    return pa.table({"account": list(account), "phone": pa.array(phone, pa.string()),
                     "address": pa.array(address, pa.string()), "customer_id": pa.array(customer, pa.string())})


@given(rows=side_rows, data=st.data(), cap=st.integers(1, 5))
def test_row_order_and_duplicates_change_nothing(rows, data, cap):
    order = data.draw(st.permutations(range(len(rows))))
    repeat = data.draw(st.lists(st.integers(0, len(rows) - 1), max_size=3))
    shuffled = [rows[i] for i in order] + [rows[i] for i in repeat]
    accounts = pa.array(ACCOUNTS)
    scores = pa.table({"account": ACCOUNTS, "score": [0.5, 0.1, 0.5, 0.9, 0.0, 0.9, 0.3, 0.5]})

    first = relationship_groups(accounts, _wide(rows), max_group_size=cap)
    again = relationship_groups(accounts, _wide(shuffled), max_group_size=cap)
    assert _ipc_bytes(first) == _ipc_bytes(again)
    assert _ipc_bytes(roll_up(scores, first)) == _ipc_bytes(roll_up(scores, again))

    triples = [(account, kind, normalise_value(kind, value))
               for account, *values in rows
               for kind, value in zip(("phone", "address", "customer_id"), values)
               if value is not None and normalise_value(kind, value)]
    expected = naive_groups(ACCOUNTS, triples, cap)
    assert dict(zip(first["account"].to_pylist(), first["group_id"].to_pylist())) == expected
    sizes = dict(zip(first["account"].to_pylist(), first["group_size"].to_pylist()))
    assert all(sizes[a] == list(expected.values()).count(expected[a]) for a in ACCOUNTS)
    assert all((size == 1) == (not linked) for size, linked in zip(first["group_size"].to_pylist(),
                                                                      first["linked_by"].to_pylist()))


@given(rows=side_rows, data=st.data())
def test_files_with_rows_permuted_read_byte_identical(rows, data):
    order = data.draw(st.permutations(range(len(rows))))
    with tempfile.TemporaryDirectory() as folder:
        pq.write_table(_wide(rows), Path(folder) / "a.parquet")
        pq.write_table(_wide([rows[i] for i in order]), Path(folder) / "b.parquet")
        first = read_relationships(Path(folder) / "a.parquet")
        second = read_relationships(Path(folder) / "b.parquet")
    assert _ipc_bytes(first) == _ipc_bytes(second)
