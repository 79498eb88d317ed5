"""Temporal cycles: the kernel against its naive twin, planted cycles, the search cap and
properties."""

from __future__ import annotations

import csv
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowscan
import naive_flows
from flowscan.rules.cycles import Cycles, cycles
from flowscan.rules.flows import tolerance_ppm

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
HEADER = ["txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel"]
SECOND = timedelta(seconds=1)


def ledger_of(records):
    """A canonical ledger and its index from (txn_id, time after T0 (hours or a timedelta),
    sender, receiver, amount text[, currency]) records."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for txn, when, sender, receiver, amount, *currency in records:
                offset = when if isinstance(when, timedelta) else timedelta(hours=when)
                stamp = (T0 + offset).isoformat().replace("+00:00", "Z")
                writer.writerow([txn, stamp, sender or "", receiver or "", amount, currency[0] if currency else "USD",
                                 "wire"])
        result = flowscan.read_ledger(path, max_reject_rate=0.0)
    return result.ledger, flowscan.build_index(result.ledger)


def twin_rows(ledger):
    return [{"ts": (r["timestamp"] - EPOCH) // timedelta(microseconds=1), "amount": r["amount"],
             "currency": r["currency"], "sender": r["sender"], "receiver": r["receiver"]}
            for r in ledger.to_pylist()]


def flat(result):
    """Instances as comparable dicts (reasons by name, evidence txn ids), sorted."""
    evidence = {}
    for row in result.evidence.to_pylist():
        evidence.setdefault(row["instance_id"], []).append(row["txn_id"])
    out = [{"id": row["instance_id"], "rule": row["rule"], "account": row["account"], "start": row["window_start"],
            "end": row["window_end"], "reasons": {r["name"]: r["observed"] for r in row["reasons"]},
            "evidence": evidence.get(row["instance_id"], []), "total": row["n_evidence_total"]}
           for row in result.instances.to_pylist()]
    return sorted(out, key=lambda f: (f["rule"], f["account"], f["start"], f["id"]))


def truncated(result, options: Cycles):
    column = f"truncated_cycle_{flowscan.params.format_duration(options.window_seconds)}"
    return {a: n for a, n in zip(result.features.column("account").to_pylist(),
                                 result.features.column(column).to_pylist()) if n}


def expected(ledger, options: Cycles):
    txn = ledger.column("txn_id").to_pylist()
    found, cut = naive_flows.cycles(twin_rows(ledger), window_us=options.window_seconds * 1_000_000,
                                    min_hops=options.min_hops, max_hops=options.max_hops,
                                    tol_ppm=tolerance_ppm(options.tolerance),
                                    max_paths=options.max_paths_per_start, cap=options.evidence_cap)
    window = flowscan.params.format_duration(options.window_seconds)
    out = []
    for f in found:
        rule = f"cycle.{f['hops']}.{window}"
        evidence = [txn[i] for i in f["evidence"]]
        out.append({"id": f"{rule}/{f['account']}/{evidence[0]}", "rule": rule, "account": f["account"],
                    "start": EPOCH + timedelta(microseconds=f["start"]),
                    "end": EPOCH + timedelta(microseconds=f["end"]),
                    "reasons": {"hops": f["hops"], "amount_drift": f["drift"] / f["base"] if f["base"] else 0.0,
                                "duration_seconds": (f["end"] - f["start"]) / 1_000_000},
                    "evidence": evidence, "total": f["total"]})
    return sorted(out, key=lambda f: (f["rule"], f["account"], f["start"], f["id"])), cut


def assert_equals_twin(ledger, index, options=None):
    """Run the rule, assert it equals its twin (instances and truncation), return flat()."""
    options = options or Cycles()
    result = cycles(ledger, index, options=options)
    want, cut = expected(ledger, options)
    assert flat(result) == want
    assert truncated(result, options) == cut
    return flat(result)


def ring(accounts, hours, amounts=None, prefix="C"):
    """Transfers accounts[0] -> accounts[1] -> ... -> accounts[0] at the given hours."""
    amounts = amounts or ["100.00"] * len(hours)
    return [(f"{prefix}{i}", hours[i], accounts[i], accounts[(i + 1) % len(accounts)], amounts[i])
            for i in range(len(accounts))]


# -- planted cycles --------------------------------------------------------------------------


def test_planted_three_hop_cycle_is_found_once_not_once_per_rotation():
    records = ring(["A", "B", "C"], [1, 5, 9], ["1000.00", "950.00", "900.00"])
    records += [("N1", 2, None, "B", "50.00"), ("N2", 3, "B", None, "50.00"), ("N3", 4, "C", "C", "900.00")]
    ledger, index = ledger_of(records)
    result = cycles(ledger, index)
    (found,) = assert_equals_twin(ledger, index)
    assert found["rule"] == "cycle.3.30d" and found["account"] == "A"
    assert found["evidence"] == ["C0", "C1", "C2"] and found["total"] == 3
    assert found["reasons"] == {"hops": 3, "amount_drift": 0.1, "duration_seconds": 8 * 3600}
    assert found["start"] == T0 + timedelta(hours=1) and found["end"] == T0 + timedelta(hours=9)
    row = result.instances.to_pylist()[0]
    assert row["instance_id"] == "cycle.3.30d/A/C0"
    assert "AMLSim" in row["source"] and "FATF" in row["source"]
    reasons = {r["name"]: (r["op"], r["threshold"], r["unit"]) for r in row["reasons"]}
    assert reasons["amount_drift"] == ("<=", 0.2, "share")
    assert reasons["duration_seconds"] == ("<", 30 * 86400, "seconds")
    assert reasons["hops"] == ("info", None, "count")
    assert result.features.column_names == ["account", "truncated_cycle_30d"]


def test_planted_five_hop_cycle_is_found_once():
    records = ring(["P", "Q", "R", "S", "T"], [0, 24, 48, 72, 96])
    records += ring(["X", "Y", "Z"], [10, 11, 12], prefix="D")  # a second, unrelated cycle
    ledger, index = ledger_of(records)
    found = assert_equals_twin(ledger, index)
    assert [(f["rule"], f["account"], f["evidence"]) for f in found] == [
        ("cycle.3.30d", "X", ["D0", "D1", "D2"]), ("cycle.5.30d", "P", ["C0", "C1", "C2", "C3", "C4"])]
    assert assert_equals_twin(ledger, index, Cycles(max_hops=4)) == [found[0]]  # five hops are more than four


def test_a_cycle_repeated_later_gives_new_transfer_sequences_each_reported_once():
    records = ring(["A", "B", "C"], [1, 2, 3]) + ring(["A", "B", "C"], [4, 5, 6], prefix="E")
    ledger, index = ledger_of(records)
    found = assert_equals_twin(ledger, index)
    # each sequence starts at its earliest transfer: the second lap and the sequences that
    # straddle the two laps are new cycles, none is reported twice
    assert [(f["account"], f["evidence"]) for f in found] == [
        ("A", ["C0", "C1", "C2"]), ("A", ["E0", "E1", "E2"]), ("B", ["C1", "C2", "E0"]), ("C", ["C2", "E0", "E1"])]


@pytest.mark.parametrize("hours", [[1, 5, 3], [1, 5, 5], [1, 1, 2]])
def test_time_going_backwards_or_standing_still_breaks_the_cycle(hours):
    ledger, index = ledger_of(ring(["A", "B", "C"], hours))
    assert assert_equals_twin(ledger, index) == []


def test_a_walk_that_repeats_an_account_is_not_a_cycle():
    # A -> B -> C -> B -> A repeats B: not reported as four hops; its two proper cycles are
    records = [("W1", 1, "A", "B", "100.00"), ("W2", 2, "B", "C", "100.00"), ("W3", 3, "C", "B", "100.00"),
               ("W4", 4, "B", "A", "100.00")]
    ledger, index = ledger_of(records)
    found = assert_equals_twin(ledger, index, Cycles(min_hops=2))
    assert [(f["rule"], f["account"], f["evidence"]) for f in found] == [
        ("cycle.2.30d", "A", ["W1", "W4"]), ("cycle.2.30d", "B", ["W2", "W3"])]
    assert assert_equals_twin(ledger, index) == []  # both proper cycles have two hops
    ledger, index = ledger_of(records[:3] + [("W4", 4, "B", "D", "100.00"), ("W5", 5, "D", "A", "100.00")])
    found = assert_equals_twin(ledger, index, Cycles(min_hops=2))
    # A -> B -> C -> B -> D -> A is not reported; the loop through C is cut out of A's cycle
    assert [(f["rule"], f["account"], f["evidence"]) for f in found] == [
        ("cycle.2.30d", "B", ["W2", "W3"]), ("cycle.3.30d", "A", ["W1", "W4", "W5"])]


@pytest.mark.parametrize(("amount", "fires"), [("80.00", True), ("79.99", False), ("120.00", True),
                                               ("120.01", False)])
def test_each_hop_is_within_the_tolerance_of_the_first(amount, fires):
    ledger, index = ledger_of(ring(["A", "B", "C"], [1, 2, 3], ["100.00", amount, "100.00"]))
    assert (len(assert_equals_twin(ledger, index)) == 1) is fires


def test_window_edge_currency_and_non_edges():
    # closing exactly at time(e1) + W is outside; one second earlier is inside
    ledger, index = ledger_of(ring(["A", "B", "C"], [0, 1, timedelta(hours=24)]))
    assert assert_equals_twin(ledger, index, Cycles(window="24h")) == []
    ledger, index = ledger_of(ring(["A", "B", "C"], [0, 1, timedelta(hours=24) - SECOND]))
    assert len(assert_equals_twin(ledger, index, Cycles(window="24h"))) == 1
    # a hop in another currency, a cash leg or a self-transfer breaks the cycle
    records = ring(["A", "B", "C"], [1, 2, 3])
    ledger, index = ledger_of(records[:2] + [("C2", 3, "C", "A", "100.00", "EUR")])
    assert assert_equals_twin(ledger, index) == []
    ledger, index = ledger_of([records[0], ("K1", 2, "B", None, "100.00"), ("K2", 3, None, "A", "100.00"),
                               ("K3", 4, "A", "A", "100.00")])
    assert assert_equals_twin(ledger, index) == []


def test_one_cycle_per_starting_transfer_the_first_in_dfs_order():
    # from A -> B, B pays C first (the path through C closes later) and D second
    records = [("S0", 1, "A", "B", "100.00"), ("S1", 2, "B", "C", "100.00"), ("S2", 3, "B", "D", "100.00"),
               ("S3", 4, "D", "A", "100.00"), ("S4", 5, "C", "A", "100.00")]
    ledger, index = ledger_of(records)
    (found,) = assert_equals_twin(ledger, index)
    assert found["evidence"] == ["S0", "S1", "S4"]


def test_a_hub_that_explodes_the_search_reports_truncation():
    # A pays HUB, HUB pays 40 mules that each pay 3 dead ends; only the last mule pays A back
    records = [("H0", 0, "A", "HUB", "100.00")]
    for i in range(40):
        records.append((f"M{i:02d}", timedelta(hours=1, minutes=i), "HUB", f"M{i:02d}", "100.00"))
        for j in range(3):
            records.append((f"L{i:02d}{j}", timedelta(hours=2, minutes=i * 3 + j), f"M{i:02d}", f"L{j}", "100.00"))
    records.append(("H9", 5, "M39", "A", "100.00"))
    ledger, index = ledger_of(records)
    options = Cycles(max_paths_per_start=10)
    result = cycles(ledger, index, options=options)
    assert assert_equals_twin(ledger, index, options) == []
    assert truncated(result, options) == {"A": 1}
    (found,) = assert_equals_twin(ledger, index)  # the default cap lets the search reach the last mule
    assert found["evidence"] == ["H0", "M39", "H9"]
    assert truncated(cycles(ledger, index), Cycles()) == {}


def test_empty_ledger_one_account_two_hop_cycle_and_evidence_cap():
    empty, empty_index = ledger_of([])
    result = cycles(empty, empty_index)
    assert result.instances.num_rows == 0 and result.features.num_rows == 0
    alone, alone_index = ledger_of([("A1", 0, None, "ONE", "5.00"), ("A2", 1, "ONE", "ONE", "5.00")])
    assert assert_equals_twin(alone, alone_index) == []
    ledger, index = ledger_of(ring(["A", "B"], [1, 2]))
    assert assert_equals_twin(ledger, index) == []  # two hops: a payment and its refund, not reported by default
    (found,) = assert_equals_twin(ledger, index, Cycles(min_hops=2, max_hops=2))
    assert found["rule"] == "cycle.2.30d"
    ledger, index = ledger_of(ring(["A", "B", "C", "D"], [1, 2, 3, 4]))
    (found,) = assert_equals_twin(ledger, index, Cycles(evidence_cap=2))
    assert found["evidence"] == ["C0", "C1"] and found["total"] == 4


def test_a_refund_does_not_hide_a_longer_cycle_from_the_same_start():
    # A -> B at hour 1; B refunds A at hour 2; B -> C at hour 3; C -> A at hour 4
    records = [("R1", 1, "A", "B", "100.00"), ("R2", 2, "B", "A", "100.00"), ("R3", 3, "B", "C", "100.00"),
               ("R4", 4, "C", "A", "100.00")]
    ledger, index = ledger_of(records)
    (found,) = [f for f in assert_equals_twin(ledger, index) if f["account"] == "A"]
    assert found["rule"] == "cycle.3.30d" and found["evidence"] == ["R1", "R3", "R4"]
    short = [f for f in assert_equals_twin(ledger, index, Cycles(min_hops=2)) if f["account"] == "A"]
    assert short[0]["rule"] == "cycle.2.30d" and short[0]["evidence"] == ["R1", "R2"]


# -- planted fixture ------------------------------------------------------------------------

RECALL_FLOOR = 1.0
"""Share of the planted cycles of the synthetic sample that must be found exactly: an instance
under the planted origin whose evidence is the planted transfers."""


def test_planted_cycles_of_the_synthetic_sample_are_all_found():
    import pyarrow.parquet as pq
    from flowscan.fixtures import SYNTHETIC_SAMPLE

    ledger = flowscan.read_ledger(SYNTHETIC_SAMPLE / "transactions.parquet", max_reject_rate=0.0).ledger
    index = flowscan.build_index(ledger)
    planted = [p for p in pq.read_table(SYNTHETIC_SAMPLE / "instances.parquet").to_pylist() if p["typology"] == "cycle"]
    result = flat(cycles(ledger, index))
    found = [p for p in planted
             if any(f["account"] == p["accounts"][0] and set(f["evidence"]) == set(p["txn_ids"]) for f in result)]
    assert planted and len(found) >= RECALL_FLOOR * len(planted), \
        f"found {len(found)} of {len(planted)} planted cycles, under the floor {RECALL_FLOOR:.0%}"


# -- generated ledgers -----------------------------------------------------------------------

ACCOUNTS = ["A", "B", "C", "D", "E", "F", "G", "H"]
AMOUNTS = ["100.00", "100.00", "100.00", "95.00", "80.00", "125.00", "100.01", "0.00"]

noise_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=72),
        st.sampled_from(ACCOUNTS[:5] + [None]),
        st.sampled_from(ACCOUNTS[:5] + [None]),
        st.sampled_from(AMOUNTS),
        st.sampled_from(["USD"] * 6 + ["EUR"]),
    ),
    max_size=10,
)


@st.composite
def walk(draw):
    """A closed walk on random accounts, clean (a temporal cycle) or with one defect: a step
    that goes backwards or stands still, a long pause, an account repeated, an amount off.
    Cycles and near misses both occur."""
    accounts = list(draw(st.permutations(ACCOUNTS)))[: draw(st.sampled_from([2, 3, 4, 5, 6]))]
    steps = [draw(st.sampled_from([1, 2, 3, 6])) for _ in accounts]
    amounts = ["100.00"] * len(accounts)
    defect = draw(st.sampled_from(["none", "none", "step", "account", "amount"]))
    at = draw(st.integers(min_value=0, max_value=len(accounts) - 1))
    if defect == "step":
        steps[at] = draw(st.sampled_from([-1, 0, 30]))
    elif defect == "account" and len(accounts) > 3:
        accounts[3] = accounts[1]
    elif defect == "amount":
        amounts[at] = draw(st.sampled_from(AMOUNTS))
    t = draw(st.integers(min_value=0, max_value=24))
    out = []
    for i, sender in enumerate(accounts):
        out.append((t, sender, accounts[(i + 1) % len(accounts)], amounts[i], "USD"))
        t += steps[i]
    return out


@st.composite
def records_strategy(draw):
    """Tiny graphs: <= 8 accounts, <= 25 transfers over a few days; one to three closed walks
    plus noise with null parties, self-transfers and another currency."""
    rows = [row for w in draw(st.lists(walk(), min_size=1, max_size=3)) for row in w] + draw(noise_strategy)
    return draw(st.permutations(rows))[:25]


def _records(draw):
    out = []
    for i, (hours, sender, receiver, amount, currency) in enumerate(draw):
        if sender is None and receiver is None:
            receiver = "A"
        out.append((f"T{i:03d}", max(hours, 0), sender, receiver, amount, currency))
    return out


HOPS = [(2, 2), (2, 3), (3, 3), (2, 4), (3, 4), (2, 6), (3, 6), (3, 6), (4, 6)]
options_strategy = st.sampled_from(HOPS).flatmap(lambda hops: st.builds(
    Cycles,
    min_hops=st.just(hops[0]),
    max_hops=st.just(hops[1]),
    window=st.sampled_from(["24h", "72h"]),
    tolerance=st.sampled_from([0.0, 0.05, 0.2, 1.0]),
    max_paths_per_start=st.sampled_from([1, 2, 5, 10_000]),
    evidence_cap=st.sampled_from([1, 3, 50]),
))


@settings(max_examples=40, deadline=None)
@given(records_strategy(), options_strategy)
def test_kernel_equals_twin_on_generated_ledgers(draw, options):
    ledger, index = ledger_of(_records(draw))
    assert_equals_twin(ledger, index, options)


LOOSE = Cycles(window="72h", max_paths_per_start=3)


@settings(max_examples=15, deadline=None)
@given(records_strategy())
def test_same_result_for_one_and_many_threads(draw):
    ledger, index = ledger_of(_records(draw))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = cycles(ledger, index, options=LOOSE)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = cycles(ledger, index, options=LOOSE)
    finally:
        numba.set_num_threads(before)
    assert one.instances.equals(many.instances) and one.evidence.equals(many.evidence)
    assert one.features.equals(many.features)


@settings(max_examples=15, deadline=None)
@given(records_strategy(), st.integers(min_value=1, max_value=500))
def test_row_order_time_shift_and_unrelated_accounts_change_nothing(draw, shift_hours):
    records = _records(draw)
    ledger, index = ledger_of(records)
    result = cycles(ledger, index, options=LOOSE)
    base = flat(result), truncated(result, LOOSE)
    # row order
    result = cycles(*ledger_of(list(reversed(records))), options=LOOSE)
    assert (flat(result), truncated(result, LOOSE)) == base
    # a constant time shift moves every cycle by the same amount
    delta = timedelta(hours=shift_hours)
    result = cycles(*ledger_of([(t, h + shift_hours, *rest) for t, h, *rest in records]), options=LOOSE)
    moved = [{**f, "start": f["start"] - delta, "end": f["end"] - delta} for f in flat(result)]
    assert (moved, truncated(result, LOOSE)) == base
    # unrelated accounts with their own cycle add instances only for themselves
    extra = ring(["ZA", "ZB", "ZC"], [1, 2, 3], prefix="Z")
    result = cycles(*ledger_of(records + extra), options=LOOSE)
    assert [f for f in flat(result) if not f["account"].startswith("Z")] == base[0]
    assert any(f["account"] == "ZA" for f in flat(result))
    assert {a: n for a, n in truncated(result, LOOSE).items() if not a.startswith("Z")} == base[1]


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_hops": 1}, ValueError, "The 'max_hops' parameter of Cycles must be an integer of at least 2. "
                                      "Got 1 instead."),
        ({"max_hops": 2.5}, TypeError, "The 'max_hops' parameter of Cycles must be a positive integer."),
        ({"min_hops": 1}, ValueError, "The 'min_hops' parameter of Cycles must be an integer of at least 2. "
                                      "Got 1 instead."),
        ({"min_hops": 4, "max_hops": 3}, ValueError,
         "The 'min_hops' parameter of Cycles must be at most max_hops (3). Got 4 instead."),
        ({"window": "soon"}, ValueError, "The 'window' parameter of Cycles must be a positive duration such as"),
        ({"tolerance": -0.1}, ValueError, "The 'tolerance' parameter of Cycles must be a number in [0, 1]."),
        ({"max_paths_per_start": 0}, ValueError,
         "The 'max_paths_per_start' parameter of Cycles must be a positive integer. Got 0 instead."),
        ({"evidence_cap": None}, TypeError, "The 'evidence_cap' parameter of Cycles must be a positive integer."),
    ],
)
def test_options_are_validated_with_messages_that_name_the_parameter(kwargs, error, message):
    with pytest.raises(error) as caught:
        Cycles(**kwargs)
    assert str(caught.value).startswith(message)
