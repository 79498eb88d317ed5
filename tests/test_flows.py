"""Scatter-gather and gather-scatter: the kernels against their naive twins, planted cases,
caps and properties."""

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
from flowscan.rules.flows import GatherScatter, ScatterGather, gather_scatter, scatter_gather, tolerance_ppm

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


def to_dt(us):
    return EPOCH + timedelta(microseconds=us)


def flat(result):
    """Instances as comparable dicts (reasons by name, evidence txn ids), sorted."""
    evidence = {}
    for row in result.evidence.to_pylist():
        evidence.setdefault(row["instance_id"], []).append(row["txn_id"])
    out = []
    for row in result.instances.to_pylist():
        out.append({
            "id": row["instance_id"], "rule": row["rule"], "account": row["account"], "start": row["window_start"],
            "end": row["window_end"], "reasons": {r["name"]: r["observed"] for r in row["reasons"]},
            "evidence": evidence.get(row["instance_id"], []), "total": row["n_evidence_total"],
        })
    return sorted(out, key=lambda f: (f["rule"], f["account"], f["start"], f["id"]))


def truncated(result, column):
    return {a: n for a, n in zip(result.features.column("account").to_pylist(),
                                 result.features.column(column).to_pylist()) if n}


def expected_scatter(ledger, options: ScatterGather):
    txn = ledger.column("txn_id").to_pylist()
    found, cut = naive_flows.scatter_gather(
        twin_rows(ledger), window_us=options.window_seconds * 1_000_000,
        min_intermediaries=options.min_intermediaries, tol_ppm=tolerance_ppm(options.tolerance),
        max_fanout=options.max_fanout, cap=options.evidence_cap)
    out = []
    for f in found:
        first, second = f["first_total"], f["second_total"]
        evidence = [txn[i] for i in f["evidence"]]
        out.append({
            "id": f"{options.rule}/{f['account']}/{evidence[0]}", "rule": options.rule, "account": f["account"],
            "start": to_dt(f["start"]), "end": to_dt(f["end"]),
            "reasons": {"intermediaries": f["intermediaries"],
                        "conservation": abs(second - first) / first if first else 0.0,
                        "first_hop_total": first, "second_hop_total": second},
            "evidence": evidence, "total": f["total"],
        })
    return sorted(out, key=lambda f: (f["rule"], f["account"], f["start"], f["id"])), cut


def expected_gather(ledger, options: GatherScatter):
    txn = ledger.column("txn_id").to_pylist()
    found, cut = naive_flows.gather_scatter(
        twin_rows(ledger), window_us=options.window_seconds * 1_000_000, min_sources=options.min_sources,
        min_destinations=options.min_destinations, tol_ppm=tolerance_ppm(options.tolerance),
        max_degree=options.max_degree, cap=options.evidence_cap)
    out = []
    for f in found:
        inflow, outflow = f["inflow"], f["outflow"]
        evidence = [txn[i] for i in f["evidence"]]
        out.append({
            "id": f"{options.rule}/{f['account']}/{evidence[0]}", "rule": options.rule, "account": f["account"],
            "start": to_dt(f["start"]), "end": to_dt(f["end"]),
            "reasons": {"sources": f["sources"], "destinations": f["destinations"],
                        "conservation": abs(outflow - inflow) / inflow if inflow else 0.0,
                        "inflow_total": inflow, "outflow_total": outflow},
            "evidence": evidence, "total": f["total"],
        })
    return sorted(out, key=lambda f: (f["rule"], f["account"], f["start"], f["id"])), cut


def assert_scatter_equals_twin(ledger, index, options):
    """Run the rule, assert it equals its twin (instances and truncation), return flat()."""
    result = scatter_gather(ledger, index, options=options)
    want, cut = expected_scatter(ledger, options)
    assert flat(result) == want
    assert truncated(result, f"truncated_{options.rule.replace('.', '_')}") == cut
    return flat(result)


def assert_gather_equals_twin(ledger, index, options):
    result = gather_scatter(ledger, index, options=options)
    want, cut = expected_gather(ledger, options)
    assert flat(result) == want
    assert truncated(result, f"truncated_{options.rule.replace('.', '_')}") == cut
    return flat(result)


def planted_scatter(last_second_hop=timedelta(hours=51), second_amount="950.00"):
    """S pays four mules 1,000.00 each within hours; each mule pays SINK two days later."""
    records = [(f"F{i}", i, "S", f"M{i}", "1000.00") for i in range(4)]
    records += [(f"G{i}", 48 + i, f"M{i}", "SINK", "950.00") for i in range(3)]
    records.append(("G3", last_second_hop, "M3", "SINK", second_amount))
    records += [
        ("N1", 2, "S", "RENT", "1200.00"),  # an ordinary payment that goes nowhere
        ("N2", 5, None, "M1", "300.00"),  # cash into a mule: no edge
        ("N3", 6, "M2", "M2", "10.00"),  # self-transfer: no edge
        ("N4", 7, "M2", None, "10.00"),  # cash out: no edge
    ]
    return records


# -- scatter-gather --------------------------------------------------------------------------


def test_planted_scatter_gather_is_found_with_its_exact_evidence():
    ledger, index = ledger_of(planted_scatter())
    result = scatter_gather(ledger, index)
    (found,) = assert_scatter_equals_twin(ledger, index, ScatterGather())
    assert found["rule"] == "scatter_gather.30d" and found["account"] == "S"
    assert found["evidence"] == ["F0", "F1", "F2", "F3", "G0", "G1", "G2", "G3"]
    assert found["reasons"] == {"intermediaries": 4, "conservation": 0.05, "first_hop_total": 400_000,
                                "second_hop_total": 380_000}
    assert found["start"] == T0 and found["end"] == T0 + timedelta(hours=51)
    row = result.instances.to_pylist()[0]
    assert row["instance_id"] == "scatter_gather.30d/S/F0"
    assert "AMLSim" in row["source"] and "FATF" in row["source"]
    thresholds = {r["name"]: (r["op"], r["threshold"], r["unit"]) for r in row["reasons"]}
    assert thresholds == {"intermediaries": (">=", 3, "count"), "conservation": ("<=", 0.2, "share"),
                          "first_hop_total": ("info", None, "minor"), "second_hop_total": ("info", None, "minor")}
    assert result.features.column_names == ["account", "truncated_scatter_gather_30d"]
    assert result.features.num_rows == index.n_accounts


def test_a_mule_paying_the_sink_exactly_at_the_window_end_is_outside():
    options = ScatterGather(window="7d", min_intermediaries=4)
    late = planted_scatter(last_second_hop=timedelta(days=7))  # 7 days after the first hop F0
    ledger, index = ledger_of(late)
    assert assert_scatter_equals_twin(ledger, index, options) == []
    just_in = planted_scatter(last_second_hop=timedelta(days=7) - SECOND)
    ledger, index = ledger_of(just_in)
    (found,) = assert_scatter_equals_twin(ledger, index, options)
    assert found["reasons"]["intermediaries"] == 4
    # with three mules enough, the late mule is simply left out
    ledger, index = ledger_of(late)
    (found,) = assert_scatter_equals_twin(ledger, index, ScatterGather(window="7d", min_intermediaries=3))
    assert found["evidence"] == ["F0", "F1", "F2", "G0", "G1", "G2"]


@pytest.mark.parametrize(("amount", "fires"), [("350.00", True), ("349.99", False), ("1950.00", True),
                                               ("1950.01", False)])
def test_conservation_is_exact_at_the_tolerance(amount, fires):
    # first hops 4,000.00; second hops 3 * 950.00 + `amount` must lie in [3,200.00, 4,800.00]
    ledger, index = ledger_of(planted_scatter(second_amount=amount))
    found = assert_scatter_equals_twin(ledger, index, ScatterGather(min_intermediaries=4))
    assert (len(found) == 1) is fires


def test_a_second_hop_must_come_strictly_after_its_first_hop():
    records = [("F0", 0, "S", "M0", "100.00"), ("F1", 1, "S", "M1", "100.00"), ("F2", 2, "S", "M2", "100.00"),
               ("G0", 3, "M0", "SINK", "100.00"), ("G1", 3, "M1", "SINK", "100.00"),
               ("G2", 2, "M2", "SINK", "100.00")]  # same time as F2
    ledger, index = ledger_of(records)
    assert assert_scatter_equals_twin(ledger, index, ScatterGather()) == []
    (found,) = assert_scatter_equals_twin(ledger, index, ScatterGather(min_intermediaries=2))
    assert found["evidence"] == ["F0", "F1", "G0", "G1"]


def test_hops_in_another_currency_are_another_pattern():
    records = [("F0", 0, "S", "M0", "100.00"), ("F1", 1, "S", "M1", "100.00"), ("F2", 2, "S", "M2", "100.00"),
               ("G0", 3, "M0", "SINK", "100.00"), ("G1", 4, "M1", "SINK", "100.00"),
               ("G2", 5, "M2", "SINK", "100.00", "EUR")]
    ledger, index = ledger_of(records)
    assert assert_scatter_equals_twin(ledger, index, ScatterGather()) == []
    assert len(assert_scatter_equals_twin(ledger, index, ScatterGather(min_intermediaries=2))) == 1


def test_the_sink_with_most_intermediaries_wins_and_the_scan_resumes_after_the_last_first_hop():
    records = [("F0", 0, "S", "M0", "100.00"), ("F1", 1, "S", "M1", "100.00"), ("F2", 2, "S", "M2", "100.00"),
               ("G0", 3, "M0", "K1", "100.00"), ("H0", 4, "M0", "K2", "100.00"),
               ("H1", 5, "M1", "K2", "100.00"), ("G2", 6, "M2", "K1", "100.00"), ("H2", 7, "M2", "K2", "100.00"),
               ("F3", 8, "S", "M3", "100.00"), ("F4", 9, "S", "M4", "100.00"),
               ("G3", 10, "M3", "K1", "100.00"), ("G4", 11, "M4", "K1", "100.00")]
    ledger, index = ledger_of(records)
    first, second = assert_scatter_equals_twin(ledger, index, ScatterGather(window="8h", min_intermediaries=2))
    assert first["evidence"] == ["F0", "F1", "F2", "H0", "H1", "H2"]  # K2: three; K1 (paid first) only two
    assert second["start"] == T0 + timedelta(hours=8) and second["evidence"] == ["F3", "F4", "G3", "G4"]


def test_a_source_with_more_intermediaries_than_max_fanout_reports_truncation():
    records = []
    for i in range(300):
        records.append((f"F{i:03d}", timedelta(minutes=i), "HUB", f"M{i:03d}", "10.00"))
        records.append((f"G{i:03d}", timedelta(hours=24, minutes=i), f"M{i:03d}", "SINK", "10.00"))
    ledger, index = ledger_of(records)
    result = scatter_gather(ledger, index)
    first, second = assert_scatter_equals_twin(ledger, index, ScatterGather())
    assert first["reasons"]["intermediaries"] == 200 and first["total"] == 400 and len(first["evidence"]) == 50
    assert second["reasons"]["intermediaries"] == 100
    assert truncated(result, "truncated_scatter_gather_30d") == {"HUB": 1}
    # a small cap on ten mules: three followed at a time, so three instances; the anchors at
    # mules 0, 3 and 6 saw more than three, the one at mule 9 too few
    ledger, index = ledger_of(records[:20])
    small = ScatterGather(max_fanout=3, min_intermediaries=3)
    found = assert_scatter_equals_twin(ledger, index, small)
    assert [f["evidence"][:3] for f in found] == [["F000", "F001", "F002"], ["F003", "F004", "F005"],
                                                   ["F006", "F007", "F008"]]
    assert truncated(scatter_gather(ledger, index, options=small), "truncated_scatter_gather_30d") == {"HUB": 3}


def test_a_mule_that_pays_many_sinks_cuts_the_sink_list():
    records = [("F0", 0, "S", "M0", "100.00"), ("F1", 1, "S", "M1", "100.00"), ("F2", 2, "S", "M2", "100.00")]
    records += [(f"X{i}", 3 + i, "M0", f"K{i}", "100.00") for i in range(5)]
    records += [("G1", 10, "M1", "K4", "100.00"), ("G2", 11, "M2", "K4", "100.00")]
    ledger, index = ledger_of(records)
    result = scatter_gather(ledger, index, options=ScatterGather(max_fanout=4))
    assert assert_scatter_equals_twin(ledger, index, ScatterGather(max_fanout=4)) == []  # K4 is the fifth sink of M0
    assert truncated(result, "truncated_scatter_gather_30d") == {"S": 1}
    (found,) = assert_scatter_equals_twin(ledger, index, ScatterGather(max_fanout=5))
    assert found["evidence"] == ["F0", "F1", "F2", "X4", "G1", "G2"]


def test_empty_ledger_one_account_and_evidence_cap():
    empty, empty_index = ledger_of([])
    result = scatter_gather(empty, empty_index)
    assert result.instances.num_rows == 0 and result.features.num_rows == 0
    assert gather_scatter(empty, empty_index).instances.num_rows == 0
    alone, alone_index = ledger_of([("A1", 0, None, "ONE", "5.00"), ("A2", 1, "ONE", None, "5.00")])
    assert assert_scatter_equals_twin(alone, alone_index, ScatterGather(min_intermediaries=1)) == []
    ledger, index = ledger_of(planted_scatter())
    (found,) = assert_scatter_equals_twin(ledger, index, ScatterGather(evidence_cap=5))
    assert found["evidence"] == ["F0", "F1", "F2", "F3", "G0"] and found["total"] == 8


# -- gather-scatter --------------------------------------------------------------------------


def planted_gather(first_out=5, last_out_amount="99.00"):
    records = [(f"I{i}", i, f"X{i}", "HUB", "100.00") for i in range(3)]
    records += [("O0", first_out, "HUB", "Y0", "99.00"), ("O1", 6, "HUB", "Y1", "99.00"),
                ("O2", 7, "HUB", "Y2", last_out_amount)]
    records += [("N1", 1, None, "HUB", "500.00"), ("N2", 2, "HUB", None, "50.00")]  # cash: no edges
    return records


def test_planted_gather_scatter_is_found_with_its_exact_evidence():
    ledger, index = ledger_of(planted_gather())
    (found,) = assert_gather_equals_twin(ledger, index, GatherScatter())
    assert found["rule"] == "gather_scatter.30d" and found["account"] == "HUB"
    assert found["evidence"] == ["I0", "I1", "I2", "O0", "O1", "O2"]
    assert found["reasons"] == {"sources": 3, "destinations": 3, "conservation": 0.01, "inflow_total": 30_000,
                                "outflow_total": 29_700}
    assert found["start"] == T0 and found["end"] == T0 + timedelta(hours=7)


def test_gather_scatter_edges():
    # an outflow at the anchor's own time is not after the first inflow
    ledger, index = ledger_of(planted_gather(first_out=0))
    assert assert_gather_equals_twin(ledger, index, GatherScatter()) == []
    # not conserved: outflow 29,700.00 -> 25,000 + 19,800 needed; one cent short of -20 %
    ledger, index = ledger_of(planted_gather(last_out_amount="42.01"))
    assert len(assert_gather_equals_twin(ledger, index, GatherScatter())) == 1
    ledger, index = ledger_of(planted_gather(last_out_amount="41.99"))
    assert assert_gather_equals_twin(ledger, index, GatherScatter()) == []
    # an outflow exactly at the window end is outside
    ledger, index = ledger_of(planted_gather())
    assert assert_gather_equals_twin(ledger, index, GatherScatter(window="7h")) == []
    assert len(assert_gather_equals_twin(ledger, index, GatherScatter(window=7 * 3600 + 1))) == 1


def test_a_hub_with_more_senders_than_max_degree_is_truncated_not_evaluated():
    records = [(f"I{i:02d}", timedelta(minutes=i), f"X{i:02d}", "HUB", "10.00") for i in range(12)]
    records += [(f"O{i}", 1 + i, "HUB", f"Y{i}", "40.00") for i in range(3)]
    ledger, index = ledger_of(records)
    result = gather_scatter(ledger, index, options=GatherScatter(max_degree=10))
    # the windows anchored at I00 (12 senders) and I01 (11) are cut; the one at I02 has ten
    (found,) = assert_gather_equals_twin(ledger, index, GatherScatter(max_degree=10))
    assert found["start"] == T0 + timedelta(minutes=2) and found["reasons"]["sources"] == 10
    assert truncated(result, "truncated_gather_scatter_30d") == {"HUB": 2}
    (found,) = assert_gather_equals_twin(ledger, index, GatherScatter(max_degree=12))
    assert found["reasons"]["sources"] == 12 and found["total"] == 15


# -- planted fixture ------------------------------------------------------------------------

RECALL_FLOOR = 1.0
"""Share of the planted scatter-gathers and gather-scatters of the synthetic sample that must
be found: an instance under the planted source (hub) whose evidence holds every planted transfer."""


def test_planted_patterns_of_the_synthetic_sample_are_all_found():
    import pyarrow.parquet as pq
    from flowscan.fixtures import SYNTHETIC_SAMPLE

    ledger = flowscan.read_ledger(SYNTHETIC_SAMPLE / "transactions.parquet", max_reject_rate=0.0).ledger
    index = flowscan.build_index(ledger)
    planted = pq.read_table(SYNTHETIC_SAMPLE / "instances.parquet").to_pylist()
    for typology, result in (
        ("scatter_gather", scatter_gather(ledger, index, options=ScatterGather(evidence_cap=10_000))),
        ("gather_scatter", gather_scatter(ledger, index, options=GatherScatter(evidence_cap=10_000))),
    ):
        mine = [p for p in planted if p["typology"] == typology]
        found = [p for p in mine
                 if any(f["account"] == p["accounts"][0] and set(p["txn_ids"]) <= set(f["evidence"])
                        for f in flat(result))]
        assert mine and len(found) >= RECALL_FLOOR * len(mine), \
            f"{typology}: found {len(found)} of {len(mine)} planted, under the floor {RECALL_FLOOR:.0%}"


# -- generated ledgers -----------------------------------------------------------------------

ACCOUNTS = ["A", "B", "C", "D", "E", "F", "G", "H"]

AMOUNTS = ["100.00", "100.00", "95.00", "80.00", "125.00", "100.01", "0.00"]

noise_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=96),
        st.sampled_from(ACCOUNTS + [None]),
        st.sampled_from(ACCOUNTS + [None]),
        st.sampled_from(AMOUNTS),
        st.sampled_from(["USD"] * 6 + ["EUR"]),
    ),
    max_size=9,
)


@st.composite
def motif(draw):
    """A scatter-gather or a gather-scatter on random accounts, with jittered times (a second
    hop may come at the same time as its first hop, or late) and amounts, so that instances
    and near misses both occur."""
    accounts = draw(st.permutations(ACCOUNTS))
    base = draw(st.integers(min_value=0, max_value=48))
    step = st.integers(min_value=0, max_value=30)
    amount = st.sampled_from(["100.00"] * 4 + AMOUNTS)
    out = []
    if draw(st.booleans()):  # scatter-gather: accounts[0] -> mules -> accounts[-1]
        for mule in accounts[1 : 1 + draw(st.integers(min_value=1, max_value=4))]:
            first = base + draw(st.integers(min_value=0, max_value=6))
            out.append((first, accounts[0], mule, draw(amount), "USD"))
            out.append((first + draw(step), mule, accounts[-1], draw(amount), "USD"))
    else:  # gather-scatter: senders -> accounts[0] -> receivers (one may also be a sender)
        n_in = draw(st.integers(min_value=1, max_value=3))
        n_out = max(1, n_in + draw(st.integers(min_value=-1, max_value=1)))
        overlap = draw(st.integers(min_value=0, max_value=1))
        for sender in accounts[1 : 1 + n_in]:
            out.append((base + draw(st.integers(min_value=0, max_value=6)), sender, accounts[0], draw(amount), "USD"))
        for receiver in accounts[1 + n_in - overlap : 1 + n_in - overlap + n_out]:
            out.append((base + draw(step), accounts[0], receiver, draw(amount), "USD"))
    return out


@st.composite
def records_strategy(draw):
    """Tiny graphs: <= 8 accounts, <= 25 transfers over a few days; up to two motifs plus
    noise with null parties, self-transfers and another currency."""
    rows = [row for m in draw(st.lists(motif(), min_size=1, max_size=2)) for row in m] + draw(noise_strategy)
    return draw(st.permutations(rows))[:25]


def _records(draw):
    out = []
    for i, (hours, sender, receiver, amount, currency) in enumerate(draw):
        if sender is None and receiver is None:
            receiver = "A"
        out.append((f"T{i:03d}", hours, sender, receiver, amount, currency))
    return out


@st.composite
def scatter_options(draw):
    minimum = draw(st.integers(min_value=1, max_value=3))
    return ScatterGather(window=draw(st.sampled_from(["24h", "72h"])), min_intermediaries=minimum,
                         tolerance=draw(st.sampled_from([0.0, 0.05, 0.2, 1.0])),
                         max_fanout=draw(st.sampled_from([minimum, minimum + 1, 200])),
                         evidence_cap=draw(st.sampled_from([1, 3, 50])))


@st.composite
def gather_options(draw):
    sources = draw(st.integers(min_value=1, max_value=3))
    destinations = draw(st.integers(min_value=1, max_value=3))
    floor = max(sources, destinations)
    return GatherScatter(window=draw(st.sampled_from(["24h", "72h"])), min_sources=sources,
                         min_destinations=destinations, tolerance=draw(st.sampled_from([0.0, 0.05, 0.2, 1.0])),
                         max_degree=draw(st.sampled_from([floor, floor + 1, 500])),
                         evidence_cap=draw(st.sampled_from([1, 3, 50])))


@settings(max_examples=40, deadline=None)
@given(records_strategy(), scatter_options(), gather_options())
def test_kernels_equal_twins_on_generated_ledgers(draw, scatter, gather):
    ledger, index = ledger_of(_records(draw))
    assert_scatter_equals_twin(ledger, index, scatter)
    assert_gather_equals_twin(ledger, index, gather)


LOOSE_SCATTER = ScatterGather(window="72h", min_intermediaries=1, max_fanout=2)
LOOSE_GATHER = GatherScatter(window="72h", min_sources=1, min_destinations=1, max_degree=2)


def _both(ledger, index):
    return (scatter_gather(ledger, index, options=LOOSE_SCATTER), gather_scatter(ledger, index, options=LOOSE_GATHER))


@settings(max_examples=15, deadline=None)
@given(records_strategy())
def test_same_result_for_one_and_many_threads(draw):
    ledger, index = ledger_of(_records(draw))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _both(ledger, index)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = _both(ledger, index)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many):
        assert a.instances.equals(b.instances) and a.evidence.equals(b.evidence) and a.features.equals(b.features)


def _summary(ledger, index):
    scatter, gather = _both(ledger, index)
    return (flat(scatter), truncated(scatter, "truncated_scatter_gather_3d"),
            flat(gather), truncated(gather, "truncated_gather_scatter_3d"))


@settings(max_examples=15, deadline=None)
@given(records_strategy(), st.integers(min_value=1, max_value=500))
def test_row_order_time_shift_and_unrelated_accounts_change_nothing(draw, shift_hours):
    records = _records(draw)
    ledger, index = ledger_of(records)
    base = _summary(ledger, index)
    # row order
    assert _summary(*ledger_of(list(reversed(records)))) == base
    # a constant time shift moves every window by the same amount
    delta = timedelta(hours=shift_hours)
    moved = _summary(*ledger_of([(t, h + shift_hours, *rest) for t, h, *rest in records]))
    unshift = lambda found: [{**f, "start": f["start"] - delta, "end": f["end"] - delta} for f in found]
    assert (unshift(moved[0]), moved[1], unshift(moved[2]), moved[3]) == base
    # unrelated accounts with their own patterns add instances only for themselves
    extra = [("Z1", 1, "ZS", "ZM1", "10.00"), ("Z2", 2, "ZM1", "ZK", "10.00"),
             ("Z3", 3, "ZK", "ZH", "10.00"), ("Z4", 4, "ZH", "ZM1", "10.00")]
    with_extra = _summary(*ledger_of(records + extra))
    mine = lambda found: [f for f in found if not f["account"].startswith("Z")]
    assert mine(with_extra[0]) == base[0] and mine(with_extra[2]) == base[2]
    assert {a: n for a, n in with_extra[1].items() if not a.startswith("Z")} == base[1]
    assert {a: n for a, n in with_extra[3].items() if not a.startswith("Z")} == base[3]
    assert any(f["account"] == "ZS" for f in with_extra[0]) and any(f["account"] == "ZK" for f in with_extra[2])


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "kwargs", "error", "message"),
    [
        (ScatterGather, {"window": "-3h"}, ValueError,
         "The 'window' parameter of ScatterGather must be a positive duration"),
        (ScatterGather, {"min_intermediaries": 0}, ValueError,
         "The 'min_intermediaries' parameter of ScatterGather must be a positive integer. Got 0 instead."),
        (ScatterGather, {"tolerance": 1.5}, ValueError,
         "The 'tolerance' parameter of ScatterGather must be a number in [0, 1]. Got 1.5 instead."),
        (ScatterGather, {"tolerance": "low"}, TypeError,
         "The 'tolerance' parameter of ScatterGather must be a number between 0 and 1."),
        (ScatterGather, {"max_fanout": 2}, ValueError,
         "The 'max_fanout' parameter of ScatterGather must be an integer of at least min_intermediaries (3). "
         "Got 2 instead."),
        (ScatterGather, {"evidence_cap": 0}, ValueError,
         "The 'evidence_cap' parameter of ScatterGather must be a positive integer."),
        (GatherScatter, {"min_sources": True}, TypeError,
         "The 'min_sources' parameter of GatherScatter must be a positive integer. Got True instead."),
        (GatherScatter, {"min_destinations": 600}, ValueError,
         "The 'max_degree' parameter of GatherScatter must be an integer of at least min_sources and "
         "min_destinations (600). Got 500 instead."),
        (GatherScatter, {"window": 0}, ValueError, "The 'window' parameter of GatherScatter must be a positive"),
    ],
)
def test_options_are_validated_with_messages_that_name_the_parameter(owner, kwargs, error, message):
    with pytest.raises(error) as caught:
        owner(**kwargs)
    assert str(caught.value).startswith(message)


def test_rule_codes_and_tolerance_in_ppm():
    assert ScatterGather(window="90min").rule == "scatter_gather.90min"
    assert GatherScatter(window=3 * 86400).rule == "gather_scatter.3d"
    assert tolerance_ppm(0.2) == 200_000 and tolerance_ppm(0.0000005) == 0 and tolerance_ppm(1) == 1_000_000
