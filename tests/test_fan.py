"""Fan-in, fan-out and funnel: the kernels against their naive twins, planted cases, and properties."""

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
import naive_fan
from flowscan.params import format_duration
from flowscan.rules.fan import FanIn, FanOut, Funnel, fan_in, fan_out, funnel

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
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
    return [
        {"ts": (r["timestamp"] - EPOCH) // timedelta(microseconds=1), "amount": r["amount"], "channel": r["channel"],
         "sender": r["sender"], "receiver": r["receiver"], "location": r["location"]}
        for r in ledger.to_pylist()
    ]


def to_dt(us):
    return EPOCH + timedelta(microseconds=us)


def flat(result):
    """Instances as comparable dicts (reasons by name), with their evidence txn ids."""
    evidence = {}
    for row in result.evidence.to_pylist():
        evidence.setdefault(row["instance_id"], []).append(row["txn_id"])
    out = []
    for row in result.instances.to_pylist():
        out.append({
            "rule": row["rule"], "account": row["account"], "start": row["window_start"], "end": row["window_end"],
            "reasons": {r["name"]: (r["op"], r["observed"], r["threshold"], r["unit"]) for r in row["reasons"]},
            "evidence": evidence.get(row["instance_id"], []), "total": row["n_evidence_total"],
            "listed": row["n_evidence"],
        })
    return out


def features(result):
    """{column: {account: value}} of a fan rule's features."""
    table = result.features.to_pydict()
    accounts = table.pop("account")
    return {name: dict(zip(accounts, values)) for name, values in table.items()}


def expected_fan(ledger, options, side):
    """The twin's instances and features for every window, shaped like ``flat`` and ``features``."""
    rows = twin_rows(ledger)
    txn = ledger.column("txn_id").to_pylist()
    name, who = ("fan_in", "senders") if side == "in" else ("fan_out", "receivers")
    nan = None  # info reasons carry no threshold (null in the table)
    out, feats = [], {}
    for seconds in options.window_seconds:
        found, maxima = naive_fan.fan(rows, side=side, window_us=seconds * 1_000_000,
                                      min_count=options.min_counterparties, cap=options.evidence_cap)
        feats[f"{name}_max_{format_duration(seconds)}"] = maxima
        for f in found:
            out.append({
                "rule": f"{name}.{format_duration(seconds)}", "account": f["account"], "start": to_dt(f["start"]),
                "end": to_dt(f["end"]),
                "reasons": {f"distinct_{who}": (">=", f["distinct"], options.min_counterparties, "count"),
                            "total": ("info", f["total"], nan, "minor"),
                            f"top_{who[:-1]}_share": ("info", f["share"], nan, "share"),
                            "rows": ("info", f["rows"], nan, "count")},
                "evidence": [txn[i] for i in f["evidence"]], "total": f["rows"], "listed": len(f["evidence"]),
            })
    return sorted(out, key=lambda x: (x["rule"], x["account"], x["start"])), feats


def expected_funnel(ledger, options):
    rows = twin_rows(ledger)
    txn = ledger.column("txn_id").to_pylist()
    nan = None  # info reasons carry no threshold (null in the table)
    out = []
    for f in naive_fan.funnel(rows, window_us=options.window_seconds * 1_000_000, min_locations=options.min_locations,
                              lag_us=options.lag_seconds * 1_000_000,
                              withdrawal_channels=set(options.withdrawal_channels), cap=options.evidence_cap):
        out.append({
            "rule": f"funnel.{format_duration(options.window_seconds)}", "account": f["account"],
            "start": to_dt(f["start"]), "end": to_dt(f["end"]),
            "reasons": {"distinct_deposit_locations": (">=", f["locations"], options.min_locations, "count"),
                        "lag_seconds": ("<", f["lag"], options.lag_seconds, "seconds"),
                        "withdrawal_location_new": ("==", 1, 1, "count"),
                        "deposited": ("info", f["deposited"], nan, "minor"),
                        "withdrawn": ("info", f["withdrawn"], nan, "minor")},
            "evidence": [txn[i] for i in f["evidence"]], "total": f["total"], "listed": len(f["evidence"]),
        })
    return out


def _no_nan(value):
    """``value`` with every float NaN (the threshold of an info reason) replaced by "nan", so
    that equal results compare equal (NaN != NaN, and Arrow's ``Table.equals`` says so too)."""
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_no_nan(v) for v in value)
    return "nan" if isinstance(value, float) and value != value else value


def same(got, want):
    """Equality of ``flat`` lists where NaN thresholds (info reasons) compare equal."""
    return _no_nan(got) == _no_nan(want)


def identical(a, b):
    """Two RuleResults hold the same tables, row for row (NaN thresholds compare equal)."""
    return a.instances.equals(b.instances) and a.evidence.equals(b.evidence) and a.features.equals(b.features)


def check_fan(ledger, index, options, side):
    result = (fan_in if side == "in" else fan_out)(ledger, index, options=options)
    want, want_features = expected_fan(ledger, options, side)
    assert same(flat(result), want)
    assert features(result) == want_features
    return result


def check_funnel(ledger, index, options):
    result = funnel(ledger, index, options=options)
    assert same(flat(result), expected_funnel(ledger, options))
    return result


ONE_DAY_IN = FanIn(windows=("24h",))
ONE_DAY_OUT = FanOut(windows=("24h",))


def senders(n, *, receiver="MULE", start=0.0, step=0.5, amount=lambda i: f"{100 + i}.00", prefix="P"):
    return [(f"{prefix}{i:02d}", start + i * step, f"S{i:02d}", receiver, amount(i), "USD", "p2p", None)
            for i in range(1, n + 1)]


# -- fan-in -------------------------------------------------------------------------------------


def test_planted_fan_in_is_found_with_its_exact_evidence():
    records = senders(12) + [
        ("C1", 1.2, None, "MULE", "5000.00", "USD", "cash", "BRANCH-A"),  # cash: no sender, left out
        ("H1", 2, "S01", "HONEST", "10.00", "USD", "card", None),
        ("H2", 3, "S02", "HONEST", "10.00", "USD", "card", None),
    ]
    ledger, index = ledger_of(records)
    result = check_fan(ledger, index, ONE_DAY_IN, "in")
    (found,) = flat(result)
    assert found["rule"] == "fan_in.24h" and found["account"] == "MULE"
    assert found["evidence"] == [f"P{i:02d}" for i in range(1, 13)]
    assert found["total"] == found["listed"] == 12
    assert found["start"] == T0 + timedelta(hours=0.5) and found["end"] == T0 + timedelta(hours=6)
    reasons = found["reasons"]
    assert reasons["distinct_senders"][:3] == (">=", 12, 10)
    assert reasons["total"][1] == sum(10_000 + 100 * i for i in range(1, 13))  # cents, the cash left out
    assert reasons["top_sender_share"][1] == pytest.approx(11_200 / 127_800)
    assert reasons["rows"][1] == 12
    row = result.instances.to_pylist()[0]
    assert row["instance_id"] == "fan_in.24h/MULE/P01"  # rule/account/first evidence txn_id
    assert row["source"].startswith("FinCEN FIN-2014-A008") and row["typology"] == "fan_in"
    assert features(result)["fan_in_max_24h"]["MULE"] == 12
    assert features(result)["fan_in_max_24h"]["HONEST"] == 2
    assert features(result)["fan_in_max_24h"]["S01"] == 0
    assert result.features.column_names == ["account", "fan_in_max_24h"]
    assert fan_out(ledger, index, options=ONE_DAY_OUT).instances.num_rows == 0


def test_nine_distinct_senders_are_not_enough():
    ledger, index = ledger_of(senders(9))
    result = check_fan(ledger, index, ONE_DAY_IN, "in")
    assert result.instances.num_rows == 0
    assert features(result)["fan_in_max_24h"]["MULE"] == 9
    nine = FanIn(windows=("24h",), min_counterparties=9)
    assert [f["account"] for f in flat(check_fan(ledger, index, nine, "in"))] == ["MULE"]


def test_a_repeated_sender_is_counted_once():
    records = senders(9) + [("R1", 5, "S01", "MULE", "900.00", "USD", "p2p", None)]
    ledger, index = ledger_of(records)
    result = check_fan(ledger, index, ONE_DAY_IN, "in")
    assert result.instances.num_rows == 0
    assert features(result)["fan_in_max_24h"]["MULE"] == 9
    records.append(("N1", 6, "NEW", "MULE", "1.00", "USD", "wire", None))
    ledger, index = ledger_of(records)
    (found,) = flat(check_fan(ledger, index, ONE_DAY_IN, "in"))
    assert found["reasons"]["distinct_senders"][1] == 10 and found["reasons"]["rows"][1] == 11
    # S01 paid 101.00 + 900.00 of the window's 2,045.00 + 1.00
    assert found["reasons"]["top_sender_share"][1] == pytest.approx(100_100 / (sum(10_000 + 100 * i for i in
                                                                                  range(1, 10)) + 90_000 + 100))


def test_cash_rows_are_ignored():
    cash = [(f"C{i}", 0.2 + i, None, "MULE", "9000.00", "USD", "cash", f"BRANCH-{i}") for i in range(5)]
    ledger, index = ledger_of(senders(9) + cash)
    assert check_fan(ledger, index, ONE_DAY_IN, "in").instances.num_rows == 0
    ledger, index = ledger_of(senders(10) + cash)
    (found,) = flat(check_fan(ledger, index, ONE_DAY_IN, "in"))
    assert found["evidence"] == [f"P{i:02d}" for i in range(1, 11)] and found["total"] == 10
    # cash withdrawals (no receiver) are left out of fan-out the same way
    out = [(f"W{i}", i, "HUB", None, "50.00", "USD", "cash", None) for i in range(12)]
    ledger, index = ledger_of(out)
    result = check_fan(ledger, index, ONE_DAY_OUT, "out")
    assert result.instances.num_rows == 0 and features(result)["fan_out_max_24h"] == {"HUB": 0}


def test_a_row_exactly_on_the_window_edge_is_outside():
    records = senders(9, step=1) + [("P10", 24 + 1, "S10", "MULE", "1.00", "USD", "p2p", None)]  # anchor at 1 h
    ledger, index = ledger_of(records)
    result = check_fan(ledger, index, ONE_DAY_IN, "in")
    assert result.instances.num_rows == 0 and features(result)["fan_in_max_24h"]["MULE"] == 9
    records[-1] = ("P10", 24.999, "S10", "MULE", "1.00", "USD", "p2p", None)
    ledger, index = ledger_of(records)
    (found,) = flat(check_fan(ledger, index, ONE_DAY_IN, "in"))
    assert found["end"] == T0 + timedelta(hours=24.999)


def test_greedy_scan_resumes_after_the_window_and_equal_timestamps():
    records = senders(10, step=0) + senders(10, start=48, step=0, prefix="Q")
    ledger, index = ledger_of(records)
    found = flat(check_fan(ledger, index, ONE_DAY_IN, "in"))
    assert [f["evidence"] for f in found] == [[f"P{i:02d}" for i in range(1, 11)],
                                              [f"Q{i:02d}" for i in range(1, 11)]]
    # 20 senders in one window make one instance of 20 rows, not two
    ledger, index = ledger_of(senders(20, step=0.1))
    (found,) = flat(check_fan(ledger, index, ONE_DAY_IN, "in"))
    assert found["total"] == 20


def test_evidence_cap_keeps_the_uncapped_count_and_empty_ledger():
    ledger, index = ledger_of(senders(12, step=0))
    capped = FanIn(windows=("24h",), evidence_cap=3)
    (found,) = flat(check_fan(ledger, index, capped, "in"))
    assert found["listed"] == 3 and found["total"] == 12 and found["evidence"] == ["P01", "P02", "P03"]
    empty, empty_index = ledger_of([])
    result = fan_in(empty, empty_index)
    assert result.instances.num_rows == 0 and result.evidence.num_rows == 0
    assert result.features.column_names == ["account", "fan_in_max_7d", "fan_in_max_30d"]
    assert result.features.num_rows == 0
    assert funnel(empty, empty_index).instances.num_rows == 0


def test_one_account_and_self_transfers():
    ledger, index = ledger_of([("A", 1, None, "SOLO", "10.00", "USD", "cash", "L1")])
    result = check_fan(ledger, index, FanIn(windows=("24h",), min_counterparties=1), "in")
    assert result.instances.num_rows == 0 and features(result) == {"fan_in_max_24h": {"SOLO": 0}}
    ledger, index = ledger_of([("A", 1, "SOLO", "SOLO", "10.00", "USD", "p2p", None)])
    (found,) = flat(check_fan(ledger, index, FanIn(windows=("24h",), min_counterparties=1), "in"))
    assert found["reasons"]["distinct_senders"][1] == 1  # the account itself, as documented


def test_planted_fan_out_is_the_mirror():
    records = [(f"P{i:02d}", i * 0.5, "HUB", f"R{i:02d}", "300.00", "USD", "wire", None) for i in range(1, 13)]
    records.append(("P13", 1, "HUB", "R01", "300.00", "USD", "wire", None))
    ledger, index = ledger_of(records)
    result = check_fan(ledger, index, ONE_DAY_OUT, "out")
    (found,) = flat(result)
    assert found["rule"] == "fan_out.24h" and found["account"] == "HUB" and found["total"] == 13
    assert found["reasons"]["distinct_receivers"][1] == 12
    assert found["reasons"]["top_receiver_share"][1] == pytest.approx(2 / 13)
    assert features(result)["fan_out_max_24h"]["HUB"] == 12
    assert result.instances.column("typology").to_pylist() == ["fan_out"]
    assert check_fan(ledger, index, ONE_DAY_IN, "in").instances.num_rows == 0


# -- funnel -------------------------------------------------------------------------------------


def funnel_records(withdrawal=("W1", 30, "MULE", None, "2500.00", "USD", "cash", "CITY-D")):
    return [
        ("D1", 0, None, "MULE", "1000.00", "USD", "cash", "CITY-A"),
        ("D2", 10, None, "MULE", "900.00", "USD", "cash", "CITY-B"),
        ("D3", 20, None, "MULE", "800.00", "USD", "cash", "CITY-C"),
        ("X1", 5, "MULE", "SHOP", "20.00", "USD", "card", "CITY-D"),  # not a withdrawal channel
        withdrawal,
    ]


def test_planted_funnel_is_found_with_its_exact_evidence():
    ledger, index = ledger_of(funnel_records())
    result = check_funnel(ledger, index, Funnel())
    (found,) = flat(result)
    assert found["rule"] == "funnel.7d" and found["account"] == "MULE"
    assert found["evidence"] == ["D1", "D2", "D3", "W1"] and found["total"] == 4
    assert found["start"] == T0 and found["end"] == T0 + timedelta(hours=30)
    r = found["reasons"]
    assert r["distinct_deposit_locations"][:3] == (">=", 3, 3)
    assert r["lag_seconds"][:3] == ("<", 36_000, 259_200)
    assert r["withdrawal_location_new"][:3] == ("==", 1, 1)
    assert r["deposited"][1] == 270_000 and r["withdrawn"][1] == 250_000
    row = result.instances.to_pylist()[0]
    assert row["source"].startswith("FinCEN FIN-2014-A005") and row["typology"] == "funnel_account"
    assert row["instance_id"] == "funnel.7d/MULE/D1"  # rule/account/first evidence txn_id
    capped = Funnel(evidence_cap=2)
    (found,) = flat(check_funnel(ledger, index, capped))
    assert found["evidence"] == ["D1", "D2"] and found["total"] == 4


@pytest.mark.parametrize(
    ("withdrawal", "fires"),
    [
        (("W1", 30, "MULE", None, "2500.00", "USD", "cash", "CITY-B"), False),  # at a deposit location
        (("W1", 20 + 72, "MULE", None, "2500.00", "USD", "cash", "CITY-D"), False),  # exactly at the lag
        (("W1", 20 + 71.999, "MULE", None, "2500.00", "USD", "cash", "CITY-D"), True),  # just inside it
        (("W1", 30, "MULE", None, "2500.00", "USD", "cash", None), False),  # unknown location
        (("W1", 19.999, "MULE", None, "2500.00", "USD", "cash", "CITY-D"), False),  # before the last deposit
        (("W1", 20, "MULE", None, "2500.00", "USD", "cash", "CITY-D"), True),  # at the last deposit's time
        (("W1", 30, "MULE", "PAYEE", "2500.00", "USD", "check", "CITY-D"), True),  # a check, with a receiver
        (("W1", 30, "MULE", "PAYEE", "2500.00", "USD", "wire", "CITY-D"), False),  # not a withdrawal channel
        (("W1", 30, None, "MULE", "2500.00", "USD", "cash", "CITY-D"), False),  # a fourth deposit, no withdrawal
    ],
)
def test_funnel_withdrawal_edges(withdrawal, fires):
    ledger, index = ledger_of(funnel_records(withdrawal))
    assert (check_funnel(ledger, index, Funnel()).instances.num_rows == 1) is fires


def test_funnel_deposit_edges():
    records = funnel_records()
    records[2] = ("D3", 20, "PAYER", "MULE", "800.00", "USD", "cash", "CITY-C")  # cash with a sender: no deposit
    ledger, index = ledger_of(records)
    assert check_funnel(ledger, index, Funnel()).instances.num_rows == 0
    records[2] = ("D3", 20, None, "MULE", "800.00", "USD", "cash", None)  # unknown place: no deposit
    ledger, index = ledger_of(records)
    assert check_funnel(ledger, index, Funnel()).instances.num_rows == 0
    records[2] = ("D3", 24 * 7, None, "MULE", "800.00", "USD", "cash", "CITY-C")  # exactly on the window edge
    records[4] = ("W1", 24 * 7 + 1, "MULE", None, "2500.00", "USD", "cash", "CITY-D")
    ledger, index = ledger_of(records)
    assert check_funnel(ledger, index, Funnel()).instances.num_rows == 0
    assert check_funnel(ledger, index, Funnel(min_locations=2)).instances.num_rows == 1


def test_funnel_anchor_advances_and_the_first_qualifying_withdrawal_is_reported():
    records = [
        ("D1", 0, None, "MULE", "100.00", "USD", "cash", "L1"),
        ("D2", 1, None, "MULE", "100.00", "USD", "cash", "L2"),
        ("D3", 2, None, "MULE", "100.00", "USD", "cash", "L3"),
        ("D4", 3, None, "MULE", "100.00", "USD", "cash", "L4"),
        ("W1", 4, "MULE", None, "50.00", "USD", "cash", "L2"),  # a deposit place of every window
        ("W2", 5, "MULE", None, "60.00", "USD", "cash", "L1"),  # new once the anchor leaves D1
    ]
    ledger, index = ledger_of(records)
    (found,) = flat(check_funnel(ledger, index, Funnel()))
    assert found["start"] == T0 + timedelta(hours=1) and found["evidence"] == ["D2", "D3", "D4", "W2"]
    assert found["reasons"]["distinct_deposit_locations"][1] == 3
    assert found["reasons"]["withdrawn"][1] == 6_000
    assert check_funnel(ledger, index, Funnel(min_locations=4)).instances.num_rows == 0
    # a withdrawal at a new place after W1 and W2: the window anchored at D1 takes it
    ledger, index = ledger_of(records + [("W3", 6, "MULE", None, "70.00", "USD", "cash", "L9")])
    (found,) = flat(check_funnel(ledger, index, Funnel(min_locations=4)))
    assert found["start"] == T0 and found["evidence"] == ["D1", "D2", "D3", "D4", "W3"]
    assert found["end"] == T0 + timedelta(hours=6) and found["reasons"]["lag_seconds"][1] == 3 * 3_600


# -- generated ledgers --------------------------------------------------------------------------

ACCOUNT = st.sampled_from(["A1", "A1", "A2", "A3", "0010"])  # A1 often, so patterns form
ACCOUNT_OR_NULL = st.sampled_from(["A1", "A2", "A3", "A4", "0010", None])
FUNNEL_ACCOUNT = st.sampled_from(["A1", "A1", "A1", "A2"])
HOURS = st.one_of(st.integers(min_value=0, max_value=48), st.floats(min_value=0, max_value=48, allow_nan=False))
AMOUNT = st.sampled_from(["100.00", "0.01", "9000.00", "0.00"])
CURRENCY = st.sampled_from(["USD", "USD", "EUR"])
LOCATION = st.sampled_from(["L1", "L2", "L3", "L4", None])
records_strategy = st.tuples(
    # deposits: mostly cash from no sender (a wire from outside, or cash with a sender, is no deposit)
    st.lists(st.tuples(HOURS, st.sampled_from([None, None, None, "A4"]), FUNNEL_ACCOUNT, AMOUNT, CURRENCY,
                       st.sampled_from(["cash", "cash", "cash", "wire"]), LOCATION), max_size=15),
    # withdrawals and payments out, to nobody or to an account
    st.lists(st.tuples(HOURS, FUNNEL_ACCOUNT, ACCOUNT_OR_NULL, AMOUNT, CURRENCY,
                       st.sampled_from(["cash", "check", "wire"]), LOCATION), max_size=10),
    # transfers between accounts, some from outside the bank
    st.lists(st.tuples(HOURS, ACCOUNT_OR_NULL, ACCOUNT_OR_NULL, AMOUNT, CURRENCY,
                       st.sampled_from(["p2p", "wire", "cash"]), LOCATION), max_size=15),
).map(lambda parts: [record for part in parts for record in part])


def _records(draw):
    out = []
    for i, (hours, s, r, amount, currency, channel, location) in enumerate(draw):
        if s is None and r is None:
            r = "A1"
        out.append((f"T{i:03d}", round(hours, 3), s, r, amount, currency, channel, location))
    return out


FUNNEL_SMALL = dict(window="24h", lag="24h", evidence_cap=3)


@settings(max_examples=40, deadline=None)
@given(records_strategy, st.sampled_from([1, 2, 3]))
def test_fan_kernels_equal_their_twin_on_generated_ledgers(draw, min_count):
    ledger, index = ledger_of(_records(draw))
    for side, options in (("in", FanIn(windows=("24h", "72h"), min_counterparties=min_count, evidence_cap=3)),
                          ("out", FanOut(windows=("24h", "72h"), min_counterparties=min_count, evidence_cap=3))):
        check_fan(ledger, index, options, side)


@settings(max_examples=40, deadline=None)
@given(records_strategy, st.sampled_from([1, 2, 3]))
def test_funnel_kernel_equals_its_twin_on_generated_ledgers(draw, min_locations):
    ledger, index = ledger_of(_records(draw))
    check_funnel(ledger, index, Funnel(min_locations=min_locations, **FUNNEL_SMALL))


# One account with many deposits and withdrawals over a day and a half: windows slide over
# several places while the lag range moves, which is where the funnel kernel's search works.
DENSE_HOURS = st.one_of(st.integers(min_value=0, max_value=36), st.floats(min_value=0, max_value=36, allow_nan=False))
dense_funnel_strategy = st.tuples(
    st.lists(st.tuples(DENSE_HOURS, st.none(), st.just("A1"), AMOUNT, CURRENCY, st.just("cash"),
                       st.sampled_from(["L1", "L2", "L3", "L4", "L5"])), min_size=4, max_size=25),
    st.lists(st.tuples(DENSE_HOURS, st.just("A1"), st.sampled_from([None, "A2"]), AMOUNT, CURRENCY,
                       st.sampled_from(["cash", "check"]),
                       st.sampled_from(["L1", "L2", "L3", "L6", "L7", None])),
             min_size=1, max_size=15),
).map(lambda parts: parts[0] + parts[1])


@settings(max_examples=30, deadline=None)
@given(dense_funnel_strategy, st.sampled_from([2, 3, 4]))
def test_funnel_kernel_equals_its_twin_on_dense_accounts(draw, min_locations):
    ledger, index = ledger_of(_records(draw))
    check_funnel(ledger, index, Funnel(window="12h", lag="6h", min_locations=min_locations, evidence_cap=4))


def run_all(ledger, index):
    small_in = FanIn(windows=("24h",), min_counterparties=2)
    small_out = FanOut(windows=("24h",), min_counterparties=2)
    return (fan_in(ledger, index, options=small_in), fan_out(ledger, index, options=small_out),
            funnel(ledger, index, options=Funnel(min_locations=2, **FUNNEL_SMALL)))


@settings(max_examples=15, deadline=None)
@given(records_strategy)
def test_same_result_for_one_and_many_threads(draw):
    ledger, index = ledger_of(_records(draw))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_all(ledger, index)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = run_all(ledger, index)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many):
        assert identical(a, b)


def _unrelated():
    """A fan-in, a fan-out and a funnel among accounts no generated record touches."""
    extra = [(f"Z{i:02d}", 2 + 0.1 * i, f"ZZ-S{i}", "ZZ-HUB", "10.00", "USD", "p2p", None) for i in range(3)]
    extra += [(f"Y{i:02d}", 2 + 0.1 * i, "ZZ-OUT", f"ZZ-R{i}", "10.00", "USD", "wire", None) for i in range(3)]
    extra += [(f"X{i:02d}", 2 + i, None, "ZZ-FUNNEL", "10.00", "USD", "cash", f"ZL{i}") for i in range(3)]
    extra.append(("X99", 6, "ZZ-FUNNEL", None, "30.00", "USD", "cash", "ZL9"))
    return extra


@settings(max_examples=15, deadline=None)
@given(records_strategy, st.integers(min_value=1, max_value=500))
def test_row_order_time_shift_and_unrelated_accounts_change_nothing(draw, shift_hours):
    records = _records(draw)
    ledger, index = ledger_of(records)
    results = run_all(ledger, index)
    base = [flat(r) for r in results]
    base_features = [features(r) for r in results[:2]]
    # row order
    ledger2, index2 = ledger_of(list(reversed(records)))
    assert same([flat(r) for r in run_all(ledger2, index2)], base)
    # a constant time shift moves every window by the same amount and changes no feature
    shifted = [(t, h + shift_hours, *rest) for t, h, *rest in records]
    ledger3, index3 = ledger_of(shifted)
    moved = run_all(ledger3, index3)
    delta = timedelta(hours=shift_hours)
    assert same([[{**f, "start": f["start"] - delta, "end": f["end"] - delta} for f in flat(r)] for r in moved], base)
    assert [features(r) for r in moved[:2]] == base_features
    # unrelated accounts with their own patterns add instances and features only for themselves
    ledger4, index4 = ledger_of(records + _unrelated())
    with_extra = run_all(ledger4, index4)
    for result, before in zip(with_extra, base):
        found = flat(result)
        assert same([f for f in found if not f["account"].startswith("ZZ-")], before)
        assert any(f["account"].startswith("ZZ-") for f in found)
    for result, before in zip(with_extra[:2], base_features):
        after = features(result)
        assert {k: {a: v for a, v in col.items() if not a.startswith("ZZ-")} for k, col in after.items()} == before


# -- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "kwargs", "error", "message"),
    [
        (FanIn, {"min_counterparties": 0}, ValueError,
         "The 'min_counterparties' parameter of FanIn must be a positive integer. Got 0 instead."),
        (FanOut, {"min_counterparties": 2.5}, TypeError,
         "The 'min_counterparties' parameter of FanOut must be a positive integer. Got 2.5 instead."),
        (FanIn, {"windows": ("-3h",)}, ValueError, "The 'windows' parameter of FanIn must be a positive duration"),
        (FanIn, {"windows": ()}, ValueError, "The 'windows' parameter of FanIn must be at least one duration"),
        (FanIn, {"windows": ("7d", "168h")}, ValueError,
         "The 'windows' parameter of FanIn must be distinct durations. Got ('7d', '168h') instead."),
        (FanIn, {"evidence_cap": True}, TypeError, "The 'evidence_cap' parameter of FanIn must be a positive integer"),
        (Funnel, {"window": 0}, ValueError, "The 'window' parameter of Funnel must be a positive duration. Got 0"),
        (Funnel, {"lag": "soon"}, ValueError, "The 'lag' parameter of Funnel must be a positive duration such as"),
        (Funnel, {"lag": 1.5}, TypeError, "The 'lag' parameter of Funnel must be a positive duration"),
        (Funnel, {"min_locations": -1}, ValueError, "The 'min_locations' parameter of Funnel must be a positive"),
        (Funnel, {"withdrawal_channels": ("cash", "atm")}, ValueError,
         "The 'withdrawal_channels' parameter of Funnel must be one of 'cash', 'wire'"),
        (Funnel, {"withdrawal_channels": ()}, ValueError,
         "The 'withdrawal_channels' parameter of Funnel must be at least one channel"),
        (Funnel, {"evidence_cap": 0}, ValueError, "The 'evidence_cap' parameter of Funnel must be a positive integer"),
    ],
)
def test_options_are_validated_with_messages_that_name_the_parameter(owner, kwargs, error, message):
    with pytest.raises(error) as caught:
        owner(**kwargs)
    assert str(caught.value).startswith(message)


def test_options_normalise_single_values():
    assert FanIn(windows="24h").windows == ("24h",) and FanIn(windows="24h").window_seconds == (86_400,)
    assert Funnel(withdrawal_channels="cash").withdrawal_channels == ("cash",)
    assert Funnel().window_seconds == 7 * 86_400 and Funnel().lag_seconds == 72 * 3_600
