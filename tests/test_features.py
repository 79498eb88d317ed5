"""Account features: hand-computed cases, the kernel against its naive twin, and properties."""

from __future__ import annotations

import csv
import dataclasses
import math
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowscan
import naive_features
from flowscan.currency import MINOR_DIGITS
from flowscan.rules.features import FEATURE_SCHEMA, SOURCE, Features, account_features

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)  # a Friday, 00:00 UTC
US = timedelta(microseconds=1)
HEADER = ["txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel", "location"]
NAN = math.nan


def ledger_of(records):
    """A canonical ledger and its index from (txn_id, when, sender, receiver, amount text,
    currency, channel, location) records; ``when`` is hours after T0 or a timedelta."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for txn, when, sender, receiver, amount, currency, channel, location in records:
                delta = when if isinstance(when, timedelta) else timedelta(hours=when)
                stamp = (T0 + delta).isoformat().replace("+00:00", "Z")
                writer.writerow([txn, stamp, sender or "", receiver or "", amount, currency, channel, location or ""])
        result = flowscan.read_ledger(path, max_reject_rate=0.0)
    return result.ledger, flowscan.build_index(result.ledger)


def features_of(records, options=None):
    ledger, index = ledger_of(records)
    return {row["account"]: row for row in account_features(ledger, index, options=options).to_pylist()}


def twin(ledger, options: Features):
    rows = []
    for r in ledger.to_pylist():
        rows.append({**r, "ts": (r["timestamp"] - datetime(1970, 1, 1, tzinfo=timezone.utc)) // US})
    return naive_features.account_features(
        rows, channels=flowscan.CHANNELS, digits=MINOR_DIGITS, round_unit=options.round_unit,
        just_under={k: dict(v) for k, v in options.just_under.items()}, band=options.band,
        night_start=options.night_start, night_end=options.night_end, utc_offsets=dict(options.utc_offsets))


def same(a, b):
    """Equal values, NaN equal to NaN; floats compared exactly."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def assert_same_rows(got, want):
    assert [r["account"] for r in got] == [r["account"] for r in want]
    for g, w in zip(got, want):
        assert list(g) == list(w) == FEATURE_SCHEMA.names
        bad = {k: (g[k], w[k]) for k in g if not same(g[k], w[k])}
        assert not bad, (g["account"], bad)


def bits(table: pa.Table) -> dict:
    """Every column as raw bits, so that NaN payloads and -0.0 count too."""
    out = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_floating(column.type):
            out[name] = column.to_numpy().view(np.uint64).tolist()
        else:
            out[name] = column.to_pylist()
    return out


OFFSETS = Features(utc_offsets={"NYC": -300, "BER": 60})


# -- hand-made ledgers ---------------------------------------------------------------------------


def test_empty_ledger_gives_an_empty_table_with_every_column():
    ledger, index = ledger_of([])
    table = account_features(ledger, index)
    assert table.num_rows == 0
    assert table.schema.equals(FEATURE_SCHEMA)
    assert table.column_names[0] == "account"
    assert [f"share_{c}" for c in flowscan.CHANNELS] == [n for n in table.column_names if n.startswith("share_")]
    assert table.schema.metadata[b"flowscan.source"].decode() == SOURCE
    assert SOURCE.startswith("FinCEN FIN-2014-A008")


def test_one_account_with_one_cash_deposit():
    (row,) = features_of([("D1", 1.5, None, "ACC", "9500.00", "USD", "cash", "BRANCH-A")]).values()
    assert_same_rows([row], [{
        "account": "ACC", "n_in": 1, "n_out": 0, "sum_in": 950_000, "sum_out": 0,
        "distinct_senders": 0, "distinct_receivers": 0,  # the null sender (cash) is nobody
        "cash_in_share": 1.0, "cash_out_share": NAN,
        **{f"share_{c}": 1.0 if c == "cash" else 0.0 for c in flowscan.CHANNELS},
        "round_share": 1.0, "just_under_count": 1, "night_share": NAN, "burstiness": NAN, "active_days": 1,
        "first_seen": T0 + timedelta(hours=1.5), "last_seen": T0 + timedelta(hours=1.5),
    }])
    assert math.isnan(row["cash_out_share"]) and math.isnan(row["night_share"]) and math.isnan(row["burstiness"])


def test_self_transfer_is_in_and_out_but_one_row():
    rows = features_of([
        ("S1", 1, "ACC", "ACC", "2950.00", "USD", "wire", None),
        ("D1", 2, None, "ACC", "500.00", "USD", "cash", None),
    ])
    acc = rows["ACC"]
    assert (acc["n_in"], acc["n_out"]) == (2, 1)
    assert (acc["sum_in"], acc["sum_out"]) == (345_000, 295_000)
    assert (acc["distinct_senders"], acc["distinct_receivers"]) == (1, 1)  # itself; the cash sender is null
    assert acc["cash_in_share"] == 0.5 and acc["cash_out_share"] == 0.0
    assert acc["share_wire"] == 0.5 and acc["share_cash"] == 0.5  # 2 rows, not 3
    assert acc["round_share"] == 0.5  # 500.00 is 5 x 100; 2950.00 is not
    assert acc["just_under_count"] == 1  # the wire counted once, as sent
    assert math.isnan(acc["burstiness"])  # two rows only


def test_cash_rows_with_null_sender_and_distinct_counterparties():
    acc = features_of([
        ("C1", 1, None, "ACC", "50.00", "USD", "cash", None),
        ("C2", 2, None, "ACC", "60.00", "USD", "cash", None),
        ("P1", 3, "BOB", "ACC", "70.00", "USD", "p2p", None),
        ("P2", 4, "BOB", "ACC", "80.00", "USD", "p2p", None),
        ("P3", 5, "CAROL", "ACC", "90.00", "USD", "p2p", None),
        ("W1", 6, "ACC", None, "10.00", "USD", "cash", None),  # withdrawal: receiver null
        ("O1", 7, "ACC", "DAN", "20.00", "USD", "ach", None),
        ("O2", 8, "ACC", "DAN", "30.00", "USD", "ach", None),
    ])["ACC"]
    assert acc["distinct_senders"] == 2 and acc["distinct_receivers"] == 1
    assert acc["cash_in_share"] == 2 / 5 and acc["cash_out_share"] == 1 / 3
    assert acc["share_cash"] == 3 / 8 and acc["share_p2p"] == 3 / 8 and acc["share_ach"] == 2 / 8
    assert acc["sum_in"] == 35_000 and acc["sum_out"] == 6_000
    assert acc["burstiness"] == -1.0  # one row an hour: perfectly regular; (0 - mu) / (0 + mu) exactly


def test_sums_are_summed_across_currencies_in_minor_units():
    acc = features_of([("A", 1, None, "ACC", "1.00", "USD", "cash", None),
                       ("B", 2, None, "ACC", "100", "JPY", "cash", None),
                       ("C", 3, None, "ACC", "1.000", "BHD", "cash", None)])["ACC"]
    assert acc["sum_in"] == 100 + 100 + 1000


def test_equal_timestamps_burstiness_and_active_days():
    same_instant = features_of([(f"E{i}", 5, None, "ACC", "1.00", "USD", "cash", None) for i in range(4)])["ACC"]
    assert math.isnan(same_instant["burstiness"])  # sigma + mu == 0
    assert same_instant["active_days"] == 1 and same_instant["first_seen"] == same_instant["last_seen"]
    acc = features_of([
        ("E0", 0, None, "ACC", "1.00", "USD", "cash", None),
        ("E1", 0, None, "ACC", "1.00", "USD", "cash", None),
        ("E2", 0, None, "ACC", "1.00", "USD", "cash", None),
        ("E3", 3, None, "ACC", "1.00", "USD", "cash", None),
    ])["ACC"]
    # gaps 0, 0, 3 h: mu = 1 h, sigma = sqrt(2) h, so B = (sqrt 2 - 1) / (sqrt 2 + 1) = 3 - 2 sqrt 2.
    # isclose, not ==: the hand formula rounds in another order than the kernel's.
    assert math.isclose(acc["burstiness"], 3 - 2 * math.sqrt(2), rel_tol=1e-12)
    days = features_of([
        ("D0", timedelta(0), None, "ACC", "1.00", "USD", "cash", None),  # 00:00 UTC
        ("D1", timedelta(hours=24) - US, None, "ACC", "1.00", "USD", "cash", None),  # 23:59:59.999999, same day
        ("D2", timedelta(days=9), None, "ACC", "1.00", "USD", "cash", None),
        ("E1", timedelta(hours=24) - US, None, "EDGE", "1.00", "USD", "cash", None),
        ("E2", timedelta(hours=24), None, "EDGE", "1.00", "USD", "cash", None),  # 00:00 the next day
    ])
    assert days["ACC"]["active_days"] == 2 and days["EDGE"]["active_days"] == 2
    days = days["ACC"]
    assert days["first_seen"] == T0 and days["last_seen"] == T0 + timedelta(days=9)


def test_round_amounts_exactly_at_the_unit_and_per_currency():
    acc = features_of([
        ("R1", 1, None, "ACC", "100.00", "USD", "p2p", None),  # exactly one unit: round
        ("R2", 2, None, "ACC", "200.00", "USD", "p2p", None),
        ("R3", 3, None, "ACC", "99.99", "USD", "p2p", None),
        ("R4", 4, None, "ACC", "100.01", "USD", "p2p", None),
        ("R5", 5, None, "ACC", "100", "JPY", "p2p", None),  # 0 digits: 100 yen is round
        ("R6", 6, None, "ACC", "150", "JPY", "p2p", None),
        ("R7", 7, None, "ACC", "300.000", "BHD", "p2p", None),  # 3 digits
        ("R8", 8, None, "ACC", "0.00", "USD", "p2p", None),  # 0 = 0 x 100
    ])["ACC"]
    assert acc["round_share"] == 5 / 8
    fifty = features_of([("R1", 1, None, "ACC", "150.00", "USD", "p2p", None),
                         ("R2", 2, None, "ACC", "175.00", "USD", "p2p", None)], Features(round_unit=50))["ACC"]
    assert fifty["round_share"] == 0.5


def test_just_under_the_threshold_classes_sides_and_currencies():
    acc = features_of([
        ("C1", 1, None, "ACC", "9000.00", "USD", "cash", None),  # exactly 0.9 T: counts
        ("C2", 2, None, "ACC", "8999.99", "USD", "cash", None),  # under the band
        ("C3", 3, None, "ACC", "9999.99", "USD", "cash", None),  # counts
        ("C4", 4, None, "ACC", "10000.00", "USD", "cash", None),  # exactly T: not under
        ("C5", 5, "ACC", None, "9500.00", "USD", "cash", None),  # a withdrawal: not a deposit
        ("C6", 6, None, "ACC", "9500.00", "EUR", "cash", None),  # no EUR threshold
        ("C7", 7, None, "ACC", "9500.00", "USD", "p2p", None),  # not cash
        ("W1", 8, "ACC", "EXT", "2700.00", "USD", "wire", None),  # exactly 0.9 T: counts
        ("W2", 9, "ACC", "EXT", "2699.99", "USD", "wire", None),
        ("W3", 10, "ACC", "EXT", "3000.00", "USD", "wire", None),
        ("W4", 11, "ACC", "EXT", "2999.99", "USD", "wire", None),  # counts
        ("W5", 12, "EXT", "ACC", "2900.00", "USD", "wire", None),  # a wire received: not counted
    ])
    assert acc["ACC"]["just_under_count"] == 4
    assert acc["EXT"]["just_under_count"] == 1  # W5 was sent by EXT
    custom = Features(just_under={"cash": {"EUR": "9600.50"}}, band=0.5)
    mine = features_of([("C1", 1, None, "ACC", "4800.25", "EUR", "cash", None),  # exactly 0.5 T
                        ("C2", 2, None, "ACC", "4800.24", "EUR", "cash", None),
                        ("C3", 3, None, "ACC", "9600.49", "EUR", "cash", None),
                        ("W1", 4, "ACC", "EXT", "2950.00", "USD", "wire", None)], custom)["ACC"]
    assert mine["just_under_count"] == 2  # no wire class configured any more


def test_night_boundaries_are_half_open_in_local_time():
    # NYC is UTC-5 and BER UTC+1 here; T0 is midnight UTC.
    acc = features_of([
        ("N1", 3, None, "ACC", "1.00", "USD", "cash", "NYC"),  # 22:00 NYC exactly: night
        ("N2", 11, None, "ACC", "1.00", "USD", "cash", "NYC"),  # 06:00 NYC exactly: day
        ("N3", timedelta(hours=5) - US, None, "ACC", "1.00", "USD", "cash", "BER"),  # 05:59:59.999999: night
        ("N4", timedelta(hours=21) - US, None, "ACC", "1.00", "USD", "cash", "BER"),  # 21:59:59.999999: day
        ("N5", 23, None, "ACC", "1.00", "USD", "cash", "MARS"),  # not in the table: left out
        ("N6", 23.5, None, "ACC", "1.00", "USD", "cash", None),  # no location: left out
        ("N7", 23.7, None, "ACC", "1.00", "USD", "cash", "nyc"),  # matched exactly, case included
    ], OFFSETS)["ACC"]
    assert acc["night_share"] == 2 / 4
    unknown = features_of([("U1", 23, None, "ACC", "1.00", "USD", "cash", "MARS"),
                           ("U2", 2, None, "ACC", "1.00", "USD", "cash", None)], OFFSETS)["ACC"]
    assert math.isnan(unknown["night_share"])  # never guessed
    no_table = features_of([("N1", 3, None, "ACC", "1.00", "USD", "cash", "NYC")])["ACC"]
    assert math.isnan(no_table["night_share"])  # default: no offsets known


def test_night_that_does_not_wrap_and_minute_offsets():
    options = Features(night_start="01:00", night_end="05:00", utc_offsets={"DEL": 330})
    acc = features_of([
        ("N1", timedelta(hours=19, minutes=30), None, "ACC", "1.00", "USD", "cash", "DEL"),  # 01:00 local: in
        ("N2", timedelta(hours=23, minutes=30), None, "ACC", "1.00", "USD", "cash", "DEL"),  # 05:00 local: out
        ("N3", timedelta(hours=18, minutes=30), None, "ACC", "1.00", "USD", "cash", "DEL"),  # 00:00 local: out
    ], options)["ACC"]
    assert acc["night_share"] == 1 / 3


def test_sum_beyond_int64_is_an_error_not_a_wrap():
    ledger, index = ledger_of([("A", 1, None, "ACC", "1.00", "USD", "cash", None),
                               ("B", 2, None, "ACC", "1.00", "USD", "cash", None)])
    at_max = ledger.set_column(ledger.schema.get_field_index("amount"), ledger.schema.field("amount"),
                               pa.array([2**62, 2**62 - 1], pa.int64()))
    (row,) = account_features(at_max, index).to_pylist()
    assert row["sum_in"] == 2**63 - 1  # exactly at the int64 maximum is still exact
    over = at_max.set_column(at_max.schema.get_field_index("amount"), at_max.schema.field("amount"),
                             pa.array([2**62, 2**62], pa.int64()))
    with pytest.raises(flowscan.DataError, match="leaves the int64 range"):
        account_features(over, index)


def test_a_ledger_out_of_time_order_is_refused():
    ledger, _ = ledger_of([("A", 1, None, "ACC", "1.00", "USD", "cash", None),
                           ("B", 2, None, "ACC", "1.00", "USD", "cash", None)])
    backwards = ledger.take(pa.array([1, 0]))
    with pytest.raises(flowscan.DataError, match="not sorted by timestamp"):
        account_features(backwards, flowscan.build_index(backwards))


# -- generated ledgers ---------------------------------------------------------------------------

AMOUNTS = ["9000.00", "8999.99", "9999.99", "10000.00", "2700.00", "2699.99", "2999.99", "3000.00", "100.00",
           "150.00", "0.01", "0.00", "500.00"]

records_strategy = st.lists(
    st.tuples(
        st.one_of(st.integers(min_value=0, max_value=24 * 6).map(lambda h: timedelta(hours=h)),
                  st.integers(min_value=0, max_value=6 * 86_400_000_000).map(lambda us: timedelta(microseconds=us))),
        st.sampled_from(["A1", "A2", "A3", "0010", None]),
        st.sampled_from(["A1", "A2", "A3", "0010", None]),
        st.sampled_from(AMOUNTS),
        st.sampled_from(["USD", "USD", "CAD", "JPY", "EUR"]),
        st.sampled_from(["cash", "wire", "p2p", "card"]),
        st.sampled_from(["L1", "L2", "L3", "MARS", None]),
    ),
    max_size=40,
)

OPTIONS = [
    Features(utc_offsets={"L1": -300, "L2": 60, "L3": 330}),
    Features(round_unit=50, band=0.95, just_under={"cash": {"USD": 10000, "JPY": 1000000}, "wire": {"CAD": "2999.50"}},
             night_start="01:00", night_end="05:30:00", utc_offsets={"L1": 0, "L3": -570}),
    Features(),
]


def _records(draw, prefix="T"):
    out = []
    for i, (when, s, r, amount, currency, channel, location) in enumerate(draw):
        if s is None and r is None:
            r = "A1"
        if currency == "JPY":
            amount = amount.split(".")[0]  # yen have no minor digits
        out.append((f"{prefix}{i:03d}", when, s, r, amount, currency, channel, location))
    return out


@settings(max_examples=40, deadline=None)
@given(records_strategy, st.sampled_from(range(len(OPTIONS))))
def test_kernel_equals_twin_on_generated_ledgers(draw, which):
    # Every float is computed in the same order by the kernel and the twin (one division for a
    # share; mean, squared deviations summed in ledger order, sqrt for burstiness), so == holds.
    options = OPTIONS[which]
    ledger, index = ledger_of(_records(draw))
    got = account_features(ledger, index, options=options).to_pylist()
    assert_same_rows(got, twin(ledger, options))


@settings(max_examples=15, deadline=None)
@given(records_strategy)
def test_bit_identical_for_one_and_many_threads(draw):
    ledger, index = ledger_of(_records(draw))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = account_features(ledger, index, options=OPTIONS[0])
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = account_features(ledger, index, options=OPTIONS[0])
    finally:
        numba.set_num_threads(before)
    assert bits(one) == bits(many)


@settings(max_examples=15, deadline=None)
@given(records_strategy, st.integers(min_value=1, max_value=400))
def test_row_order_whole_day_shift_and_unrelated_accounts_change_nothing(draw, shift_days):
    records = _records(draw)
    options = OPTIONS[0]
    ledger, index = ledger_of(records)
    base = account_features(ledger, index, options=options)
    base_rows = {r["account"]: r for r in base.to_pylist()}
    # row order
    ledger2, index2 = ledger_of(list(reversed(records)))
    assert bits(account_features(ledger2, index2, options=options)) == bits(base)
    # a shift by whole days moves first_seen and last_seen only
    shift = timedelta(days=shift_days)
    ledger3, index3 = ledger_of([(t, w + shift, *rest) for t, w, *rest in records])
    moved = account_features(ledger3, index3, options=options)
    moved_rows = [{**r, "first_seen": r["first_seen"] - shift, "last_seen": r["last_seen"] - shift}
                  for r in moved.to_pylist()]
    assert_same_rows(moved_rows, list(base_rows.values()))
    # unrelated accounts (their own rows, cash, locations) leave every other account as it was
    extra = [(f"Z{i}", timedelta(hours=3 * i), s, r, "9000.00", "USD", channel, "L1")
             for i, (s, r, channel) in enumerate([(None, "ZZ1", "cash"), ("ZZ1", "ZZ2", "wire"),
                                                  ("ZZ2", "ZZ2", "p2p"), ("ZZ2", None, "cash")])]
    ledger4, index4 = ledger_of(records + extra)
    with_extra = account_features(ledger4, index4, options=options)
    kept = with_extra.filter(pa.compute.invert(pa.compute.starts_with(with_extra.column("account"), "ZZ")))
    assert bits(kept) == bits(base)
    zz = {r["account"]: r for r in with_extra.to_pylist() if r["account"].startswith("ZZ")}
    assert zz["ZZ1"]["n_in"] == 1 and zz["ZZ2"]["n_in"] == 2 and zz["ZZ2"]["n_out"] == 2


# -- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"round_unit": 0}, ValueError,
         "The 'round_unit' parameter of Features must be a positive integer. Got 0 instead."),
        ({"round_unit": "100"}, TypeError,
         "The 'round_unit' parameter of Features must be a positive integer. Got '100' instead."),
        ({"round_unit": 10**12}, ValueError, "The 'round_unit' parameter of Features must be at most 92233720368."),
        ({"band": 0}, ValueError, "The 'band' parameter of Features must be a number in (0, 1]. Got 0 instead."),
        ({"band": "high"}, TypeError, "The 'band' parameter of Features must be a number between 0 and 1."),
        ({"night_start": "25:00"}, ValueError,
         "The 'night_start' parameter of Features must be a time of day such as '22:00' or '05:30:00'. "
         "Got '25:00' instead."),
        ({"night_end": "6:00"}, ValueError, "The 'night_end' parameter of Features must be a time of day"),
        ({"night_start": 22}, TypeError, "The 'night_start' parameter of Features must be a time of day"),
        ({"night_start": "06:00"}, ValueError,
         "The 'night_end' parameter of Features must be a time other than night_start. Got '06:00' instead."),
        ({"utc_offsets": [("NYC", -300)]}, TypeError,
         "The 'utc_offsets' parameter of Features must be a mapping of location to a UTC offset in minutes."),
        ({"utc_offsets": {"NYC": 1200}}, ValueError,
         "The 'utc_offsets.NYC' parameter of Features must be a UTC offset in whole minutes between -1080 and "
         "1080. Got 1200 instead."),
        ({"utc_offsets": {"NYC": -5.5}}, TypeError, "The 'utc_offsets.NYC' parameter of Features must be a UTC"),
        ({"utc_offsets": {"NYC": True}}, TypeError, "The 'utc_offsets.NYC' parameter of Features must be a UTC"),
        ({"just_under": {"atm": {"USD": 10000}}}, ValueError,
         "The 'just_under' parameter of Features must be one of 'cash', 'wire'. Got 'atm' instead."),
        ({"just_under": {"cash": {"XYZ": 10000}}}, ValueError,
         "The 'just_under.cash.XYZ' parameter of Features must be keyed by an ISO 4217 code"),
        ({"just_under": {"wire": {"USD": "2999.999"}}}, ValueError, "at most 2 decimals"),
        ({"just_under": [("cash", {"USD": 1})]}, TypeError, "The 'just_under' parameter of Features must be a mapping"),
    ],
)
def test_options_are_validated_with_messages_that_name_the_parameter(kwargs, error, message):
    with pytest.raises(error) as caught:
        Features(**kwargs)
    if "at most 2" in message:
        assert message in str(caught.value)
    else:
        assert str(caught.value).startswith(message)


def test_options_defaults_and_the_wrapper_refuses_other_options():
    options = Features()
    assert dict(options.just_under_minor) == {"cash": {"USD": 1_000_000}, "wire": {"USD": 300_000}}
    assert options.night_seconds == (22 * 3600, 6 * 3600)
    assert dict(options.utc_offsets) == {} and options.band == 0.9 and options.round_unit == 100
    assert Features(round_unit=92233720368).round_unit == 92233720368  # 10**8 satoshi units still fit int64
    with pytest.raises(ValueError, match="at most 92233720368"):
        Features(round_unit=92233720369)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.band = 0.5
    ledger, index = ledger_of([("A", 1, None, "ACC", "1.00", "USD", "cash", None)])
    with pytest.raises(TypeError, match="The 'options' parameter of account_features must be a Features instance"):
        account_features(ledger, index, options={"round_unit": 100})
