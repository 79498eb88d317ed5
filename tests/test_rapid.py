"""Rapid movement: the kernel against its naive twin, planted cases, and properties."""

from __future__ import annotations

import csv
import math
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numba
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowscan
import naive_rapid
from flowscan.params import format_duration
from flowscan.rules.rapid import RapidMovement, rapid_movement

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
HEADER = ["txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel", "location"]
FEATURES = ["rapid_median_hold_seconds", "in_out_ratio", "balance_left_share", "rapid_truncated"]


def ledger_of(records):
    """A canonical ledger and its index from (txn_id, hours after T0, sender, receiver,
    amount text, currency, channel) records."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for txn, hours, sender, receiver, amount, currency, channel in records:
                when = (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
                writer.writerow([txn, when, sender or "", receiver or "", amount, currency, channel, ""])
        result = flowscan.read_ledger(path, max_reject_rate=0.0)
    return result.ledger, flowscan.build_index(result.ledger)


def twin_rows(ledger):
    return [
        {
            "ts": (r["timestamp"] - EPOCH) // timedelta(microseconds=1),
            "amount": r["amount"], "channel": r["channel"], "currency": r["currency"],
            "sender": r["sender"], "receiver": r["receiver"],
        }
        for r in ledger.to_pylist()
    ]


def flat(result):
    """Instances as comparable dicts, with their evidence txn ids."""
    evidence = {}
    for row in result.evidence.to_pylist():
        evidence.setdefault(row["instance_id"], []).append(row["txn_id"])
    out = []
    for row in result.instances.to_pylist():
        reasons = {r["name"]: r for r in row["reasons"]}
        # Two inflows of one account in the same second share an instance_id (it has second
        # resolution); their evidence follows the order of the instances.
        listed = evidence[row["instance_id"]][: row["n_evidence"]]
        del evidence[row["instance_id"]][: row["n_evidence"]]
        wire = reasons.get("wire_share_out_within")
        out.append({
            "rule": row["rule"], "account": row["account"], "start": row["window_start"], "end": row["window_end"],
            "share": reasons["share_out_within"]["observed"], "wire_share": wire and wire["observed"],
            "inflow": int(reasons["inflow"]["observed"]), "min_amount": int(reasons["inflow"]["threshold"]),
            "held": reasons["held_seconds"]["observed"], "evidence": listed, "total": row["n_evidence_total"],
        })
    assert all(not rest for rest in evidence.values())
    return out


def expected(ledger, options: RapidMovement):
    """The twin's instances, shaped like ``flat``."""
    txn = ledger.column("txn_id").to_pylist()
    found, _ = naive_rapid.rapid(
        twin_rows(ledger), horizons_us=[s * 1_000_000 for s in options.horizon_seconds],
        min_share=options.min_share, min_amount=options.min_amount_minor, cap=options.evidence_cap,
        max_lots=options.max_lots)
    out = []
    for f in found:
        horizon = format_duration(options.horizon_seconds[f["horizon"]])
        rule = f"rapid.{f['variant']}.{horizon}" if f["variant"] else f"rapid.{horizon}"
        out.append({
            "rule": rule, "account": f["account"],
            "start": EPOCH + timedelta(microseconds=f["start"]), "end": EPOCH + timedelta(microseconds=f["end"]),
            "share": f["share"], "wire_share": f["wire_share"] if f["variant"] else None,
            "inflow": f["inflow"], "min_amount": f["min_amount"], "held": f["held"],
            "evidence": [txn[i] for i in f["evidence"]], "total": f["total"],
        })
    return sorted(out, key=lambda x: (x["rule"], x["account"], x["start"]))


def features_of(result):
    """Feature rows with NaN as None (NaN != NaN would hide equal rows)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in result.features.to_pylist()]


def expected_features(ledger, index, options: RapidMovement):
    _, features = naive_rapid.rapid(
        twin_rows(ledger), horizons_us=[s * 1_000_000 for s in options.horizon_seconds],
        min_share=options.min_share, min_amount=options.min_amount_minor, cap=options.evidence_cap,
        max_lots=options.max_lots)
    out = []
    for account in index.accounts.to_pylist():
        f = features[account]
        row = {"account": account}
        for h, seconds in enumerate(options.horizon_seconds):
            row[f"rapid_share_{format_duration(seconds)}"] = f[f"share_{h}"]
        row.update({"rapid_median_hold_seconds": f["median_hold_seconds"], "in_out_ratio": f["in_out_ratio"],
                    "balance_left_share": f["balance_left_share"], "rapid_truncated": f["truncated"]})
        out.append(row)
    return out


def assert_equals_twin(records, options=RapidMovement()):
    """Run the rule, compare it with the twin (instances and features), return both views."""
    ledger, index = ledger_of(records)
    result = rapid_movement(ledger, index, options=options)
    found = flat(result)
    assert found == expected(ledger, options)
    features = {row["account"]: row for row in features_of(result)}
    assert list(features.values()) == expected_features(ledger, index, options)
    return found, features


def ipc_bytes(table):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def by_rule(found):
    return {f["rule"]: f for f in found}


def test_planted_pass_through_is_found_with_its_exact_evidence():
    records = [
        ("IN", 1, "EXT-A", "MULE", "10000.00", "USD", "wire"),
        ("OUT", 6, "MULE", "EXT-B", "9800.00", "USD", "wire"),
        ("PAY", 2, "EMPLOYER", "HONEST", "3000.00", "USD", "ach"),  # kept: a balance
        ("SPEND", 8, "HONEST", "SHOP", "100.00", "USD", "card"),
    ]
    found, features = assert_equals_twin(records)
    rules = by_rule(found)
    assert set(rules) == {"rapid.24h", "rapid.3d"}  # a wire inflow: no cash-to-wire variant
    f = rules["rapid.24h"]
    assert f["account"] == "MULE" and f["evidence"] == ["IN", "OUT"] and f["total"] == 2
    assert f["share"] == 0.98 and f["inflow"] == 1_000_000 and f["min_amount"] == 100_000
    assert f["held"] == 5 * 3600.0
    assert f["start"] == T0 + timedelta(hours=1) and f["end"] == T0 + timedelta(hours=6)
    assert features["MULE"] == {"account": "MULE", "rapid_share_24h": 0.98, "rapid_share_3d": 0.98,
                                "rapid_median_hold_seconds": 18000.0, "in_out_ratio": 0.98,
                                "balance_left_share": 0.02, "rapid_truncated": False}
    assert features["HONEST"]["rapid_share_24h"] == 10_000 / 300_000  # 100 of the 3000 left, 6 h later
    assert features["HONEST"]["balance_left_share"] == 290_000 / 300_000
    assert features["EXT-A"]["in_out_ratio"] is None  # no inflow
    ledger, index = ledger_of(records)
    row = rapid_movement(ledger, index).instances.to_pylist()[0]
    assert row["instance_id"] == "rapid.24h/MULE/IN"  # rule/account/first evidence txn_id
    assert row["source"].startswith("FinCEN FIN-2014-A008") and "FATF" in row["source"]
    assert row["typology"] == "rapid_movement"
    assert [(r["name"], r["op"], r["threshold"]) for r in row["reasons"]][:2] == [
        ("share_out_within", ">=", 0.9), ("inflow", ">=", 100_000.0)]


def test_outflow_30_hours_later_is_found_for_72h_only():
    records = [("IN", 1, "EXT-A", "MULE", "10000.00", "USD", "wire"),
               ("OUT", 31, "MULE", "EXT-B", "9800.00", "USD", "wire")]
    found, features = assert_equals_twin(records)
    assert set(by_rule(found)) == {"rapid.3d"}
    assert by_rule(found)["rapid.3d"]["held"] == 30 * 3600.0
    assert features["MULE"]["rapid_share_24h"] == 0.0 and features["MULE"]["rapid_share_3d"] == 0.98


def test_partial_consumption_across_two_lots():
    records = [
        ("IN1", 0, "EXT-A", "MULE", "6000.00", "USD", "ach"),
        ("IN2", 1, "EXT-B", "MULE", "4000.00", "USD", "ach"),
        ("OUT1", 2, "MULE", "EXT-C", "8000.00", "USD", "p2p"),  # 6000 of IN1 (2 h), 2000 of IN2 (1 h)
        ("OUT2", 3, "MULE", "EXT-D", "1700.00", "USD", "p2p"),  # 1700 of IN2 (2 h): 3700 / 4000 left
    ]
    options = RapidMovement(horizons=("24h",))
    found, features = assert_equals_twin(records, options)
    assert [(f["evidence"], f["share"], f["held"], f["end"]) for f in found] == [
        (["IN1", "OUT1"], 1.0, 7200.0, T0 + timedelta(hours=2)),
        (["IN2", "OUT1", "OUT2"], 0.925, 3600.0, T0 + timedelta(hours=3)),  # 2000 of 3700 held 1 h
    ]
    assert features["MULE"]["rapid_share_24h"] == 0.97
    assert features["MULE"]["rapid_median_hold_seconds"] == 7200.0  # 2000 at 1 h, then 7700 at 2 h
    assert features["MULE"]["in_out_ratio"] == 0.97 and features["MULE"]["balance_left_share"] == 0.03


@pytest.mark.parametrize(("second_out", "fires"), [("1600.00", True), ("1599.99", False)])
def test_share_exactly_at_min_share(second_out, fires):
    records = [
        ("IN1", 0, "EXT-A", "MULE", "6000.00", "USD", "ach"),
        ("IN2", 1, "EXT-B", "MULE", "4000.00", "USD", "ach"),
        ("OUT1", 2, "MULE", "EXT-C", "8000.00", "USD", "p2p"),
        ("OUT2", 3, "MULE", "EXT-D", second_out, "USD", "p2p"),  # 3600 / 4000 is exactly 0.9
    ]
    found, _ = assert_equals_twin(records, RapidMovement(horizons=("24h",)))
    assert any(f["evidence"][0] == "IN2" for f in found) is fires


@pytest.mark.parametrize(("inflow", "fires"), [("1000.00", True), ("999.99", False)])
def test_inflow_exactly_at_min_amount(inflow, fires):
    records = [("IN", 0, "EXT-A", "MULE", inflow, "USD", "wire"),
               ("OUT", 1, "MULE", "EXT-B", inflow, "USD", "wire")]
    found, _ = assert_equals_twin(records)
    assert bool(found) is fires


def test_outflow_before_any_inflow_consumes_nothing():
    records = [("OUT", 0, "MULE", "EXT-B", "9800.00", "USD", "wire"),
               ("IN", 1, "EXT-A", "MULE", "10000.00", "USD", "wire")]
    found, features = assert_equals_twin(records)
    assert found == []
    assert features["MULE"] == {"account": "MULE", "rapid_share_24h": 0.0, "rapid_share_3d": 0.0,
                                "rapid_median_hold_seconds": None, "in_out_ratio": 0.98,
                                "balance_left_share": 0.02, "rapid_truncated": False}
    # a later outflow consumes the lot; the earlier one never did
    found, features = assert_equals_twin(records + [("OUT2", 2, "MULE", "EXT-B", "5000.00", "USD", "wire")])
    assert found == [] and features["MULE"]["rapid_share_24h"] == 0.5
    assert features["MULE"]["balance_left_share"] == 0.0  # more out than in: clipped


def test_cash_to_wire_variant():
    records = [
        ("C-IN", 0, None, "CASHMULE", "10000.00", "USD", "cash"),
        ("C-OUT", 3, "CASHMULE", "EXT-A", "9500.00", "USD", "wire"),
        ("M-IN", 0, None, "MIXED", "10000.00", "USD", "cash"),
        ("M-OUT1", 3, "MIXED", "EXT-A", "5000.00", "USD", "wire"),
        ("M-OUT2", 4, "MIXED", None, "4500.00", "USD", "cash"),  # a cash withdrawal is an outflow
        ("W-IN", 0, "EXT-B", "WIREMULE", "10000.00", "USD", "wire"),
        ("W-OUT", 1, "WIREMULE", "EXT-A", "10000.00", "USD", "wire"),
    ]
    found, _ = assert_equals_twin(records)
    rules = {(f["account"], f["rule"]) for f in found}
    assert rules == {
        ("CASHMULE", "rapid.24h"), ("CASHMULE", "rapid.3d"),
        ("CASHMULE", "rapid.cash_to_wire.24h"), ("CASHMULE", "rapid.cash_to_wire.3d"),
        ("MIXED", "rapid.24h"), ("MIXED", "rapid.3d"),
        ("WIREMULE", "rapid.24h"), ("WIREMULE", "rapid.3d"),
    }
    variant = by_rule([f for f in found if f["account"] == "CASHMULE"])
    assert variant["rapid.cash_to_wire.24h"]["wire_share"] == 0.95
    assert variant["rapid.cash_to_wire.24h"]["evidence"] == variant["rapid.24h"]["evidence"] == ["C-IN", "C-OUT"]


def test_equal_timestamps_follow_txn_id():
    # the outflow sorts first: it finds no lot
    found, features = assert_equals_twin([("A-OUT", 1, "MULE", "EXT-B", "9800.00", "USD", "wire"),
                             ("B-IN", 1, "EXT-A", "MULE", "10000.00", "USD", "wire")])
    assert found == [] and features["MULE"]["rapid_share_24h"] == 0.0
    # the inflow sorts first: it is consumed at once, held 0 seconds
    found, features = assert_equals_twin([("A-IN", 1, "EXT-A", "MULE", "10000.00", "USD", "wire"),
                             ("B-OUT", 1, "MULE", "EXT-B", "9800.00", "USD", "wire")])
    f = by_rule(found)["rapid.24h"]
    assert f["held"] == 0.0 and f["start"] == f["end"] and f["evidence"] == ["A-IN", "B-OUT"]
    assert features["MULE"]["rapid_median_hold_seconds"] == 0.0


@pytest.mark.parametrize(("hours", "rules"), [(23.999, {"rapid.24h", "rapid.3d"}), (24, {"rapid.3d"}),
                                              (72, set())])
def test_piece_held_exactly_the_horizon_is_outside(hours, rules):
    records = [("IN", 0, "EXT-A", "MULE", "10000.00", "USD", "wire"),
               ("OUT", hours, "MULE", "EXT-B", "10000.00", "USD", "wire")]
    found, _ = assert_equals_twin(records)
    assert set(by_rule(found)) == rules


def test_currencies_are_kept_apart():
    records = [
        ("U-IN", 0, "EXT-A", "MULE", "10000.00", "USD", "wire"),
        ("E-OUT", 1, "MULE", "EXT-B", "10000.00", "EUR", "wire"),  # cannot pay out the USD lot
        ("E-IN", 0, "EXT-A", "EUROS", "10000.00", "EUR", "wire"),
        ("E-OUT2", 1, "EUROS", "EXT-B", "10000.00", "EUR", "wire"),  # EUR has no min_amount: no instance
    ]
    found, features = assert_equals_twin(records)
    assert found == []
    assert features["MULE"]["rapid_share_24h"] == 0.0 and features["MULE"]["in_out_ratio"] == 1.0
    assert features["EUROS"]["rapid_share_24h"] == 1.0
    found, _ = assert_equals_twin(records, RapidMovement(horizons=("24h",), min_amount={"USD": 1000, "EUR": "1000.00"}))
    assert [(f["account"], f["evidence"]) for f in found] == [("EUROS", ["E-IN", "E-OUT2"])]


def test_empty_ledger_and_one_account():
    ledger, index = ledger_of([])
    result = rapid_movement(ledger, index)
    assert result.instances.num_rows == 0 and result.evidence.num_rows == 0
    assert result.features.column_names == ["account", "rapid_share_24h", "rapid_share_3d", *FEATURES]
    assert result.features.num_rows == 0
    found, features = assert_equals_twin([("D1", 0, None, "ONLY", "500.00", "USD", "cash")])
    assert found == []
    assert features == {"ONLY": {"account": "ONLY", "rapid_share_24h": 0.0, "rapid_share_3d": 0.0,
                                 "rapid_median_hold_seconds": None, "in_out_ratio": 0.0,
                                 "balance_left_share": 1.0, "rapid_truncated": False}}


def test_evidence_cap_and_self_transfers():
    records = [("IN", 0, "EXT-A", "MULE", "10000.00", "USD", "wire"),
               ("SELF", 0.5, "MULE", "MULE", "10000.00", "USD", "wire")]  # neither inflow nor outflow
    records += [(f"O{i}", i, "MULE", f"EXT-{i}", "2000.00", "USD", "p2p") for i in range(1, 6)]
    options = RapidMovement(horizons=("24h",), evidence_cap=3)
    found, features = assert_equals_twin(records, options)
    (f,) = found
    assert f["evidence"] == ["IN", "O1", "O2"] and f["total"] == 6 and f["held"] == 3 * 3600.0
    assert features["MULE"]["in_out_ratio"] == 1.0


def test_two_inflows_in_the_same_second_are_two_instances():
    records = [("IN1", 1, "EXT-A", "MULE", "5000.00", "USD", "wire"),
               ("IN2", 1, "EXT-B", "MULE", "4000.00", "USD", "wire"),
               ("OUT", 2, "MULE", "EXT-C", "9000.00", "USD", "wire")]
    found, _ = assert_equals_twin(records, RapidMovement(horizons=("24h",)))
    assert [(f["evidence"], f["inflow"]) for f in found] == [(["IN1", "OUT"], 500_000), (["IN2", "OUT"], 400_000)]


def test_max_lots_drops_the_oldest_lot():
    records = [(f"IN{i}", i, "EXT-A", "MULE", "1000.00", "USD", "wire") for i in range(1, 4)]
    records.append(("OUT", 4, "MULE", "EXT-B", "2000.00", "USD", "wire"))
    found, features = assert_equals_twin(records, RapidMovement(horizons=("24h",), max_lots=2))
    assert [f["evidence"] for f in found] == [["IN2", "OUT"], ["IN3", "OUT"]]  # IN1 was dropped
    assert features["MULE"]["rapid_truncated"] is True and features["EXT-A"]["rapid_truncated"] is False
    found, features = assert_equals_twin(records, RapidMovement(horizons=("24h",)))
    assert [f["evidence"] for f in found] == [["IN1", "OUT"], ["IN2", "OUT"]]
    assert features["MULE"]["rapid_truncated"] is False


ACCOUNTS = ["A1", "A2", "A3", "0010", None]
HOURS = st.one_of(st.integers(min_value=0, max_value=100).map(float),
                  st.floats(min_value=0, max_value=100, allow_nan=False))
AMOUNTS = st.sampled_from(["10000.00", "9800.00", "5000.00", "4500.00", "1000.00", "999.99", "2500.00", "0.00"])
CURRENCIES = st.sampled_from(["USD", "USD", "CAD", "EUR"])
CHANNELS = st.sampled_from(["cash", "wire", "p2p"])
rows_strategy = st.lists(
    st.tuples(HOURS, st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), AMOUNTS, CURRENCIES, CHANNELS),
    max_size=30,
)
# Planted pass-throughs: an inflow into ``via`` and one or two outflows of the same currency
# after a delay, some exactly on a horizon, so that instances are common.
passes_strategy = st.lists(
    st.tuples(HOURS, st.sampled_from(["A1", "A2", "A3"]), st.sampled_from(ACCOUNTS), AMOUNTS, CURRENCIES,
              CHANNELS, st.lists(st.tuples(st.sampled_from([0, 0.5, 1, 23.999, 24, 30, 72]), AMOUNTS, CHANNELS),
                                 min_size=1, max_size=2)),
    max_size=5,
)
records_strategy = st.tuples(rows_strategy, passes_strategy)
options_strategy = st.builds(
    RapidMovement,
    horizons=st.sampled_from([("24h", "72h"), ("1h",), ("30min", "2d")]),
    min_share=st.sampled_from([0.5, 0.9, 1]),
    min_amount=st.just({"USD": 1000, "CAD": "2500.00"}),
    evidence_cap=st.sampled_from([1, 2, 50]),
    max_lots=st.sampled_from([1, 2, 100_000]),
)


def _records(draw):
    rows, passes = draw
    out = []
    for i, (hours, s, r, amount, currency, channel) in enumerate(rows):
        if s is None and r is None:
            r = "A1"
        out.append((f"T{i:03d}", round(hours, 3), s, r, amount, currency, channel))
    for i, (hours, via, other, amount, currency, channel, outs) in enumerate(passes):
        hours = round(hours, 3)
        out.append((f"P{i}-IN", hours, other, via, amount, currency, channel))
        for k, (delay, out_amount, out_channel) in enumerate(outs):
            out.append((f"P{i}-OUT{k}", hours + delay, via, other, out_amount, currency, out_channel))
    return out


@settings(max_examples=40, deadline=None)
@given(records_strategy, options_strategy)
def test_kernel_equals_twin_on_generated_ledgers(draw, options):
    assert_equals_twin(_records(draw), options)


@settings(max_examples=15, deadline=None)
@given(records_strategy)
def test_same_result_for_one_and_many_threads(draw):
    ledger, index = ledger_of(_records(draw))
    options = RapidMovement(max_lots=2)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = rapid_movement(ledger, index, options=options)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = rapid_movement(ledger, index, options=options)
    finally:
        numba.set_num_threads(before)
    # Byte-identical Arrow streams: Table.equals would call the NaN thresholds of the info
    # reasons (and NaN features) unequal even to themselves.
    assert one.instances.num_rows == many.instances.num_rows
    for part in ("instances", "evidence", "features"):
        assert ipc_bytes(getattr(one, part)) == ipc_bytes(getattr(many, part))


@settings(max_examples=15, deadline=None)
@given(records_strategy, st.integers(min_value=1, max_value=500))
def test_row_order_time_shift_and_unrelated_accounts_change_nothing(draw, shift_hours):
    records = _records(draw)
    ledger, index = ledger_of(records)
    result = rapid_movement(ledger, index)
    base, base_features = flat(result), features_of(result)
    # row order
    ledger2, index2 = ledger_of(list(reversed(records)))
    result2 = rapid_movement(ledger2, index2)
    assert flat(result2) == base and features_of(result2) == base_features
    # a constant time shift moves every window by the same amount and no feature
    shifted = [(t, h + shift_hours, *rest) for t, h, *rest in records]
    ledger3, index3 = ledger_of(shifted)
    result3 = rapid_movement(ledger3, index3)
    delta = timedelta(hours=shift_hours)
    assert [{**f, "start": f["start"] - delta, "end": f["end"] - delta} for f in flat(result3)] == base
    assert features_of(result3) == base_features
    # an unrelated pass-through account adds instances and a feature row only for itself
    extra = [("Z1", 2, None, "ZZ-UNRELATED", "10000.00", "USD", "cash"),
             ("Z2", 3, "ZZ-UNRELATED", None, "9900.00", "USD", "wire")]
    ledger4, index4 = ledger_of(records + extra)
    result4 = rapid_movement(ledger4, index4)
    assert [f for f in flat(result4) if f["account"] != "ZZ-UNRELATED"] == base
    assert {f["rule"] for f in flat(result4) if f["account"] == "ZZ-UNRELATED"} == {
        "rapid.24h", "rapid.3d", "rapid.cash_to_wire.24h", "rapid.cash_to_wire.3d"}
    assert [r for r in features_of(result4) if r["account"] != "ZZ-UNRELATED"] == base_features


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"min_share": 0}, ValueError,
         "The 'min_share' parameter of RapidMovement must be a number in (0, 1]. Got 0 instead."),
        ({"min_share": 1.5}, ValueError, "The 'min_share' parameter of RapidMovement must be a number in (0, 1]."),
        ({"min_share": "most"}, TypeError,
         "The 'min_share' parameter of RapidMovement must be a number between 0 and 1."),
        ({"min_share": 0.12345678}, ValueError,
         "The 'min_share' parameter of RapidMovement must be a number in (0, 1] with at most 6 decimals. "
         "Got 0.12345678 instead."),
        ({"horizons": ("-3h",)}, ValueError, "The 'horizons' parameter of RapidMovement must be a positive duration"),
        ({"horizons": ()}, ValueError, "The 'horizons' parameter of RapidMovement must be at least one duration"),
        ({"horizons": ("24h", "1d")}, ValueError,
         "The 'horizons' parameter of RapidMovement must be distinct durations."),
        ({"horizons": (1.5,)}, TypeError, "The 'horizons' parameter of RapidMovement must be a positive duration"),
        ({"min_amount": {"XYZ": 1000}}, ValueError, "The 'min_amount.XYZ' parameter of RapidMovement must be keyed"),
        ({"min_amount": {"USD": "999.999"}}, ValueError,
         "The 'min_amount.USD' parameter of RapidMovement must be a positive amount with at most 2 decimals."),
        ({"min_amount": 1000}, TypeError,
         "The 'min_amount' parameter of RapidMovement must be a non-empty mapping of ISO currency to amount."),
        ({"evidence_cap": 0}, ValueError,
         "The 'evidence_cap' parameter of RapidMovement must be a positive integer. Got 0 instead."),
        ({"max_lots": 2.0}, TypeError, "The 'max_lots' parameter of RapidMovement must be a positive integer."),
    ],
)
def test_options_are_validated_with_messages_that_name_the_parameter(kwargs, error, message):
    with pytest.raises(error) as caught:
        RapidMovement(**kwargs)
    assert str(caught.value).startswith(message)


def test_options_defaults_and_codes():
    options = RapidMovement()
    assert options.horizon_seconds == (86400, 259200) and options.min_share_ppm == 900_000
    assert options.min_amount_minor == {"USD": 100_000} and options.max_lots == 100_000
    assert options.evidence_cap == 50
    with pytest.raises(TypeError):
        options.min_amount["EUR"] = 1  # frozen, down to the mapping
