"""The synthetic ledger generator (flowscan.fixtures): labels, determinism, planted typologies
as defined in flowscan/fixtures/typologies.py, background statistics as documented in
flowscan/fixtures/spec.py, and spec validation."""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections import Counter, defaultdict
from datetime import timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from flowscan.fixtures.generate import REFERENCE_FILES, REFERENCE_HEADERS, Plan, file_digest, generate, write
from flowscan.fixtures.population import LOOKALIKES
from flowscan.fixtures.spec import INDICATORS, SMALL_SPEC, TRAFFICKING_SPEC, TYPES, Spec, load_spec
from flowscan.fixtures.typologies import RANGED_LEGS, profile_size

import flowscan
from flowscan.errors import ConfigError, ConfigTypeError
from flowscan.schema import CANONICAL_SCHEMA, CHANNELS

SEED = 7
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec("small")


@pytest.fixture(scope="module")
def small(spec):
    return generate(spec, SEED)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    return {
        "a": write("small", SEED, root / "a", row_group_rows=4096),
        "a_again": write("small", SEED, root / "a_again", row_group_rows=4096, chunk_days=7),
        "b": write("small", SEED + 1, root / "b", row_group_rows=4096),
    }


@pytest.fixture(scope="module")
def zone_of_city(spec) -> dict[str, ZoneInfo]:
    return {c: ZoneInfo(r.zone) for r in spec.population.regions for c in r.cities}


@pytest.fixture(scope="module")
def planted(small):
    """Planted rows by instance id, as dicts with their label's leg, in time order."""
    ledger, labels = small
    mask = pc.is_valid(labels.transactions.column("instance_id"))
    rows = ledger.filter(mask).to_pylist()
    lab = labels.transactions.filter(mask).to_pylist()
    out = defaultdict(list)
    for row, label in zip(rows, lab):
        out[label["instance_id"]].append({**row, "leg": label["leg"], "typology": label["typology"]})
    return out


def _local_hour(row, zone_of_city) -> float:
    at = row["timestamp"].astimezone(zone_of_city[row["location"]])
    return at.hour + at.minute / 60


# -- output format and determinism -------------------------------------------------------------


def test_flowscan_reads_the_written_ledger_with_zero_rejects(written, small):
    result = flowscan.read_ledger(written["a"]["ledger"])
    assert result.report.rejected == 0
    assert result.report.duplicates == 0
    assert result.rejects.num_rows == 0
    assert result.report.accepted == result.report.rows_read == small[0].num_rows
    assert result.ledger.equals(small[0])  # the streamed file is the in-memory ledger


def test_ledger_is_canonical_and_sorted(small):
    ledger = small[0]
    assert ledger.schema.equals(CANONICAL_SCHEMA)
    assert ledger.column("channel").type.value_type == pa.string()
    assert ledger.column("channel").combine_chunks().dictionary.to_pylist() == list(CHANNELS)
    ts = ledger.column("timestamp").cast(pa.int64()).to_numpy()
    ids = np.array(ledger.column("txn_id").to_pylist())
    assert (np.diff(ts) >= 0).all()
    ties = np.flatnonzero(np.diff(ts) == 0)
    assert (ids[ties] < ids[ties + 1]).all()
    assert len(set(ids)) == len(ids)
    assert pc.min(ledger.column("amount")).as_py() > 0
    locations = set(pc.drop_null(ledger.column("location")).to_pylist())
    assert all(re.fullmatch(r"[A-Za-z .'-]+, [A-Z]{2}", x) for x in locations)
    assert all(re.fullmatch(r"[0-9]{4}", x) for x in set(pc.drop_null(ledger.column("mcc")).to_pylist()))
    assert set(ledger.column("currency").to_pylist()) == {"USD"}
    assert not pc.any(ledger.column("is_self_transfer")).as_py()
    cash = ledger.filter(pc.equal(ledger.column("channel"), "cash"))
    assert pc.all(pc.xor(pc.is_null(cash.column("sender")), pc.is_null(cash.column("receiver")))).as_py()


def test_same_seed_gives_byte_identical_files_whatever_the_chunking(written):
    a, again, b = written["a"], written["a_again"], written["b"]
    for name in a:
        assert file_digest(a[name]) == file_digest(again[name]), name
    for name in ("ledger", "transactions_labels", "accounts_labels", "instances"):
        assert file_digest(a[name]) != file_digest(b[name]), name


def test_files_have_page_checksums_and_fixed_row_groups(written):
    meta = pq.ParquetFile(written["a"]["ledger"]).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes[:-1] == [4096] * (len(sizes) - 1) and 0 < sizes[-1] <= 4096
    labels = pq.read_table(written["a"]["transactions_labels"])
    assert labels.column("txn_id").equals(pq.read_table(written["a"]["ledger"]).column("txn_id"))


def test_generate_takes_a_path_or_a_name_and_the_spec_seed(spec):
    a = generate(SMALL_SPEC)[0]
    b = generate("small", spec.population.seed)[0]
    assert a.equals(b)


# -- labels ------------------------------------------------------------------------------------


def test_labels_are_consistent(small):
    ledger, labels = small
    txn = labels.transactions
    assert txn.column("txn_id").equals(ledger.column("txn_id"))
    planted_ids = set(pc.filter(txn.column("txn_id"), pc.is_valid(txn.column("instance_id"))).to_pylist())
    inst = labels.instances.to_pylist()
    listed = [t for i in inst for t in i["txn_ids"]]
    assert len(listed) == len(set(listed))
    assert set(listed) == planted_ids  # every planted transaction is labelled, nothing else is
    assert pc.all(pc.equal(pc.is_valid(txn.column("typology")), pc.is_valid(txn.column("instance_id")))).as_py()

    acc = {r["account"]: r for r in labels.accounts.to_pylist()}
    members = defaultdict(set)
    for i in inst:
        assert len(set(i["accounts"])) == len(i["accounts"])
        for a in i["accounts"]:
            members[a].add(i["typology"])
    suspicious = {a for a, r in acc.items() if r["is_suspicious"]}
    assert suspicious == set(members)
    for a in suspicious:
        assert set(acc[a]["typologies"]) == members[a]

    by_id = {r["txn_id"]: r for r in ledger.filter(pc.is_in(ledger.column("txn_id"), pa.array(listed))).to_pylist()}
    for i in inst:
        own = set(i["accounts"])
        touched = set()
        for t in i["txn_ids"]:
            parties = {by_id[t]["sender"], by_id[t]["receiver"]}
            assert parties & own, f"{t} of {i['instance_id']} touches no member"
            touched |= parties
        assert own <= touched, f"a member of {i['instance_id']} takes part in none of its transactions"

    background = ledger.filter(pc.is_null(txn.column("instance_id")))
    planted_parties = {p for r in by_id.values() for p in (r["sender"], r["receiver"])}
    only_background = (set(background.column("sender").to_pylist()) | set(background.column("receiver").to_pylist())
                       ) - planted_parties - {None}
    assert not any(acc[a]["is_suspicious"] for a in only_background)


def test_lookalikes_are_present_and_never_labelled(small):
    accounts = small[1].accounts
    roles = Counter(pc.drop_null(accounts.column("lookalike")).to_pylist())
    assert set(roles) == set(LOOKALIKES)
    look = accounts.filter(pc.is_valid(accounts.column("lookalike")))
    assert not pc.any(look.column("is_suspicious")).as_py()


# -- planted typologies --------------------------------------------------------------------------


def _checks_common(spec, small, planted):
    ledger, labels = small
    instances = labels.instances.to_pylist()
    for table, t in enumerate(spec.typologies):
        mine = [i for i in instances if i["table"] == table]
        assert len(mine) == t.count, f"typology[{table}]"
        for i in mine:
            rows = planted[i["instance_id"]]
            assert i["typology"] == t.type and i["camouflage"] == t.camouflage
            assert t.accounts.min <= len(i["accounts"]) <= t.accounts.max, i["instance_id"]
            days = round((i["end"] - i["start"]) / DAY)  # local days: +-1 h over a DST change
            assert t.period.min <= days <= t.period.max, i["instance_id"]
            assert abs((i["end"] - i["start"]) - days * DAY) <= timedelta(hours=1)
            assert all(i["start"] <= r["timestamp"] < i["end"] for r in rows), i["instance_id"]
            assert [r["txn_id"] for r in rows] == i["txn_ids"]
            for r in rows:
                if r["leg"] in RANGED_LEGS[t.type]:
                    assert t.amount.min <= r["amount"] <= t.amount.max, (i["instance_id"], r["amount"])
            yield t, i, rows


def _per_member(rows, leg, side):
    out = Counter(r[side] for r in rows if r["leg"] == leg)
    return out


def test_every_typology_is_planted_with_its_parameters(spec, small, planted, zone_of_city):
    seen = Counter()
    for t, inst, rows in _checks_common(spec, small, planted):
        seen[t.type] += 1
        check = globals()[f"_check_{t.type}"]
        check(t, inst, rows, zone_of_city)
    assert set(seen) == set(TYPES)  # the small spec plants every type


def _events_ok(t, counts, members):
    assert set(counts) <= set(members)
    for n in counts.values():
        assert t.events.min <= n <= t.events.max, (t.type, n)


def _check_structuring(t, inst, rows, zone_of_city):
    assert all(r["leg"] == "deposit" and r["channel_raw"] == "BRANCH" and r["sender"] is None for r in rows)
    _events_ok(t, _per_member(rows, "deposit", "receiver"), inst["accounts"])
    assert all(9 <= _local_hour(r, zone_of_city) < 17 for r in rows)
    for a in inst["accounts"]:
        assert len({r["location"] for r in rows if r["receiver"] == a}) >= 2
    if t.camouflage == 0:
        top = t.amount.max - (t.amount.max - t.amount.min) // 4
        assert all(r["amount"] >= top and r["amount"] % 100 == 0 for r in rows)


def _check_funnel(t, inst, rows, zone_of_city):
    for a in inst["accounts"]:
        dep = [r for r in rows if r["leg"] == "deposit" and r["receiver"] == a]
        out = [r for r in rows if r["leg"] == "withdrawal" and r["sender"] == a]
        assert t.events.min <= len(dep) <= t.events.max and out
        assert len({r["location"] for r in dep}) >= 3
        assert not {r["location"] for r in out} & {r["location"] for r in dep}
        assert min(r["timestamp"] for r in out) > max(r["timestamp"] for r in dep)
        total_in, total_out = sum(r["amount"] for r in dep), sum(r["amount"] for r in out)
        assert (1 - 0.02 - 0.13 * t.camouflage) * total_in <= total_out <= total_in
        assert all(r["channel"] == "cash" for r in dep + out)


def _check_pass_through(t, inst, rows, zone_of_city):
    max_lag = timedelta(hours=4 + 32 * t.camouflage)
    _events_ok(t, _per_member(rows, "inflow", "receiver"), inst["accounts"])
    for o in (r for r in rows if r["leg"] == "outflow"):
        match = [i for i in rows if i["leg"] == "inflow" and i["receiver"] == o["sender"]
                 and timedelta(0) < o["timestamp"] - i["timestamp"] <= max_lag
                 and (1 - 0.02 - 0.08 * t.camouflage) * i["amount"] - 1 <= o["amount"] <= i["amount"]]
        assert match, o["txn_id"]
    assert len({r["receiver"] for r in rows if r["leg"] == "outflow"}) == 1


def _check_fan(t, inst, rows, inward):
    hub = {r["receiver"] if inward else r["sender"] for r in rows}
    spokes = _per_member(rows, "payment", "sender" if inward else "receiver")
    assert len(hub) == 1 and hub < set(inst["accounts"])
    assert set(spokes) == set(inst["accounts"]) - hub
    _events_ok(t, spokes, inst["accounts"])


def _check_fan_in(t, inst, rows, zone_of_city):
    _check_fan(t, inst, rows, inward=True)


def _check_fan_out(t, inst, rows, zone_of_city):
    _check_fan(t, inst, rows, inward=False)


def _check_scatter_gather(t, inst, rows, zone_of_city):
    scatter = [r for r in rows if r["leg"] == "scatter"]
    gather = [r for r in rows if r["leg"] == "gather"]
    assert len({r["sender"] for r in scatter}) == 1 and len({r["receiver"] for r in gather}) == 1
    middles = {r["receiver"] for r in scatter}
    assert len(middles) == len(scatter) == len(inst["accounts"]) - 2 == len(gather)
    for g in gather:
        s = next(r for r in scatter if r["receiver"] == g["sender"])
        assert s["timestamp"] < g["timestamp"] and g["amount"] <= s["amount"]


def _check_gather_scatter(t, inst, rows, zone_of_city):
    gather = [r for r in rows if r["leg"] == "gather"]
    scatter = [r for r in rows if r["leg"] == "scatter"]
    hub = {r["receiver"] for r in gather}
    assert len(hub) == 1 and hub == {r["sender"] for r in scatter}
    assert len(gather) + len(scatter) == len(inst["accounts"]) - 1
    assert max(r["timestamp"] for r in gather) < min(r["timestamp"] for r in scatter)
    assert sum(r["amount"] for r in scatter) <= sum(r["amount"] for r in gather)


def _check_cycle(t, inst, rows, zone_of_city):
    m = len(inst["accounts"])
    assert len(rows) % m == 0 and t.events.min <= len(rows) // m <= t.events.max
    for k in range(0, len(rows), m):
        ring = rows[k:k + m]
        assert all(ring[j]["receiver"] == ring[j + 1]["sender"] for j in range(m - 1))
        assert ring[-1]["receiver"] == ring[0]["sender"]
        assert all(ring[j + 1]["amount"] <= ring[j]["amount"] for j in range(m - 1))


def _check_escort_ads(t, inst, rows, zone_of_city):
    _events_ok(t, _per_member(rows, "ad", "sender"), inst["accounts"])
    assert all(r["mcc"] == "7311" and r["channel_raw"] == "ECOM" for r in rows)
    assert all(any(r["amount"] % (b * 100) == 0 for b in (3, 12, 24)) for r in rows)


def _check_motel_hopping(t, inst, rows, zone_of_city):
    counts = _per_member(rows, "stay", "sender")
    _events_ok(t, counts, inst["accounts"])
    assert all(r["mcc"] == "7011" and 7 <= _local_hour(r, zone_of_city) < 11 for r in rows)
    for a, n in counts.items():
        assert len({r["location"] for r in rows if r["sender"] == a}) >= min(3, n)


def _check_late_night_atm(t, inst, rows, zone_of_city):
    members = [r["sender"] or r["receiver"] for r in rows]
    _events_ok(t, Counter(members), inst["accounts"])
    for r in rows:
        hour = _local_hour(r, zone_of_city)
        assert r["channel_raw"] == "ATM" and (hour >= 22 or hour < 6), hour
        if r["sender"] is not None:
            assert r["amount"] % 2000 == 0
    for a in set(members):
        assert len({r["location"] for r, m in zip(rows, members) if m == a}) >= 2


def _check_prepaid_loads(t, inst, rows, zone_of_city):
    _events_ok(t, _per_member(rows, "load", "sender"), inst["accounts"])
    assert all(r["mcc"] == "6540" for r in rows)


def _check_cash_no_payroll(t, inst, rows, zone_of_city):
    _events_ok(t, _per_member(rows, "deposit", "receiver"), inst["accounts"])
    assert all(r["channel_raw"] == "BRANCH" and 15 <= _local_hour(r, zone_of_city) < 19 for r in rows)


def _check_pooled_wages(t, inst, rows, zone_of_city):
    for a in inst["accounts"]:
        wages = [r for r in rows if r["leg"] == "wage" and r["receiver"] == a]
        moved = [r for r in rows if r["leg"] == "move_out" and r["sender"] == a]
        assert all(r["channel_raw"] == "ACH PAYROLL" for r in wages)
        assert t.senders.min <= len({r["sender"] for r in wages}) <= t.senders.max
        assert t.events.min <= len(wages) <= max(t.events.max, t.senders.max)
        assert len(moved) == len(wages) and sum(r["amount"] for r in moved) <= sum(r["amount"] for r in wages)


def test_no_payroll_business_pays_no_payroll_and_deposits_only_planted_cash(small, spec):
    ledger, labels = small
    plan = Plan(spec, SEED)
    processors = {plan.account_ids[i].as_py() for i in range(plan.pop.processor0, plan.pop.merchant0)}
    inst = [i for i in labels.instances.to_pylist() if i["typology"] == "cash_no_payroll"]
    planted = set(pc.filter(labels.transactions.column("txn_id"),
                            pc.is_valid(labels.transactions.column("instance_id"))).to_pylist())
    for i in inst:
        (business,) = i["accounts"]
        sent = ledger.filter(pc.equal(ledger.column("sender"), business)).to_pylist()
        assert not [r for r in sent if r["channel_raw"] == "ACH PAYROLL" or r["receiver"] in processors]
        cash_in = ledger.filter(pc.and_(pc.equal(ledger.column("receiver"), business),
                                        pc.equal(ledger.column("channel"), "cash"))).to_pylist()
        assert cash_in and all(r["txn_id"] in planted for r in cash_in)


def test_camouflage_thins_or_keeps_the_members_background(spec):
    document = tomllib.loads(SMALL_SPEC.read_text())
    document["typology"] = [
        {"type": "structuring", "count": 3, "camouflage": 0.0},
        {"type": "structuring", "count": 3, "camouflage": 1.0},
    ]
    ledger, labels = generate(Spec.from_dict(document), SEED)
    background = ledger.filter(pc.is_null(labels.transactions.column("instance_id")))
    card = background.filter(pc.equal(background.column("channel"), "card"))
    per_table = {0: [], 1: []}
    spread = {0: [], 1: []}
    for i in labels.instances.to_pylist():
        for a in i["accounts"]:
            per_table[i["table"]].append(pc.sum(pc.equal(card.column("sender"), a)).as_py())
        amounts = ledger.filter(pc.is_in(ledger.column("txn_id"), pa.array(i["txn_ids"]))).column("amount")
        spread[i["table"]].extend(amounts.to_pylist())
    assert np.mean(per_table[0]) < 0.5 * np.mean(per_table[1])
    assert min(spread[0]) >= 990000 - (990000 - 800000) // 4  # textbook: top quarter of the band
    assert min(spread[1]) < 990000 - (990000 - 800000) // 4


# -- background ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def background(small):
    ledger, labels = small
    return ledger.filter(pc.is_null(labels.transactions.column("instance_id")))


@pytest.fixture(scope="module")
def roles(small):
    acc = small[1].accounts
    return {"kind": dict(zip(acc.column("account").to_pylist(), acc.column("kind").to_pylist())),
            "look": dict(zip(acc.column("account").to_pylist(), acc.column("lookalike").to_pylist()))}


def _persons(roles) -> list[str]:
    return [a for a, k in roles["kind"].items() if k == "person"]


def test_background_volume_and_channel_mix(background, roles, spec):
    persons = pa.array(_persons(roles))
    touching = pc.or_(pc.fill_null(pc.is_in(background.column("sender"), persons), False),
                      pc.fill_null(pc.is_in(background.column("receiver"), persons), False))
    per_day = pc.sum(touching).as_py() / len(persons) / spec.population.days
    assert 1.1 <= per_day <= 1.8
    n = background.num_rows
    share = {v["values"]: v["counts"] / n for v in pc.value_counts(background.column("channel")).to_pylist()}
    ranges = {"card": (0.55, 0.80), "cash": (0.04, 0.12), "ach": (0.06, 0.20), "p2p": (0.02, 0.10),
              "wire": (0.001, 0.03), "check": (0.001, 0.03)}
    for channel, (low, high) in ranges.items():
        assert low <= share.get(channel, 0) <= high, (channel, share.get(channel))
    assert "crypto" not in share and "other" not in share


def test_background_activity_is_heavy_tailed_and_card_amounts_plausible(background, roles):
    persons = _persons(roles)
    card = background.filter(pc.equal(background.column("channel"), "card"))
    mine = card.filter(pc.is_in(card.column("sender"), pa.array(persons)))
    counts = np.array([v["counts"] for v in pc.value_counts(mine.column("sender")).to_pylist()])
    counts = np.sort(np.concatenate([counts, np.zeros(len(persons) - len(counts))]))
    top = counts[-len(counts) // 10:].sum() / counts.sum()
    assert 0.25 <= top <= 0.45
    assert counts[-1] >= 5 * np.median(counts)
    dollars = card.column("amount").to_numpy() / 100
    assert 15 <= np.median(dollars) <= 60
    assert 150 <= np.percentile(dollars, 99) <= 1500


def test_background_follows_local_day_and_night_rhythms(background, roles, zone_of_city):
    card = background.filter(pc.and_(pc.equal(background.column("channel"), "card"),
                                     pc.is_in(background.column("sender"), pa.array(_persons(roles)))))
    night = {True: [], False: []}
    for r in card.select(["timestamp", "location", "sender"]).to_pylist():
        hour = _local_hour(r, zone_of_city)
        night[roles["look"][r["sender"]] == "late_shift"].append(hour >= 22 or hour < 6)
    assert 0.02 <= np.mean(night[False]) <= 0.08
    assert 0.40 <= np.mean(night[True]) <= 0.65


def test_payroll_reaches_every_employee_and_every_employer_pays(small, spec):
    ledger = small[0]
    plan = Plan(spec, SEED)
    pop, ids = plan.pop, plan.account_ids.to_pylist()
    payroll = ledger.filter(pc.equal(ledger.column("channel_raw"), "ACH PAYROLL"))
    paid = set(payroll.column("receiver").to_pylist())
    employees = np.flatnonzero(pop.employer >= 0)
    assert {ids[p] for p in employees} <= paid
    processors = {ids[i] for i in range(pop.processor0, pop.merchant0)}
    ach = ledger.filter(pc.equal(ledger.column("channel_raw"), "ACH")).select(["sender", "receiver"]).to_pylist()
    funders = {r["sender"] for r in ach if r["receiver"] in processors}
    payers = set(payroll.column("sender").to_pylist()) | funders
    assert {ids[pop.business0 + b] for b in np.unique(pop.employer[employees])} <= payers


def test_lookalikes_behave_like_the_patterns_they_resemble(background, roles, zone_of_city):
    look = roles["look"]
    of_role = defaultdict(set)
    for a, r in look.items():
        of_role[r].add(a)
    rows = background.select(["timestamp", "sender", "receiver", "amount", "channel_raw", "location", "mcc"])
    payroll = rows.filter(pc.equal(rows.column("channel_raw"), "ACH PAYROLL"))
    for p in of_role["payroll_processor"]:
        payees = pc.unique(payroll.filter(pc.equal(payroll.column("sender"), p)).column("receiver"))
        assert len(payees) >= 20
    persons = _persons(roles)
    for m in of_role["large_merchant"]:
        payers = pc.unique(rows.filter(pc.equal(rows.column("receiver"), m)).column("sender"))
        assert len(payers) >= 0.10 * len(persons)
    lodging = rows.filter(pc.equal(rows.column("mcc"), "7011"))
    for t in of_role["traveller"]:
        assert len(pc.unique(lodging.filter(pc.equal(lodging.column("sender"), t)).column("location"))) >= 3
    deposits = rows.filter(pc.equal(rows.column("channel_raw"), "BRANCH"))
    near = deposits.filter(pc.is_in(deposits.column("receiver"),
                                    pa.array(sorted(of_role["near_threshold_cash_business"]))))
    amount = near.column("amount")
    assert pc.sum(pc.and_(pc.greater_equal(amount, 800000), pc.less(amount, 1000000))).as_py() > 0
    atm = rows.filter(pc.equal(rows.column("channel_raw"), "ATM")).to_pylist()
    at_night = defaultdict(list)
    for r in atm:
        who = r["sender"] or r["receiver"]
        hour = _local_hour(r, zone_of_city)
        at_night[look.get(who) == "late_shift"].append(hour >= 22 or hour < 6)
    assert np.mean(at_night[True]) >= 5 * np.mean(at_night[False])


# -- spec validation ------------------------------------------------------------------------------


def _document() -> dict:
    return tomllib.loads(SMALL_SPEC.read_text())


def _broken(path: str, value):
    document = _document()
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return document


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "key", "error"),
    [
        ("population.accounts", -3, "population.accounts", ConfigError),
        ("population.accounts", "many", "population.accounts", ConfigTypeError),
        ("population.acounts", 10, "population.acounts", ConfigError),
        ("population.days", _DELETE, "population.days", ConfigError),
        ("population.start", "2024-01-01", "population.start", ConfigTypeError),
        ("population.currency", "ZZZ", "population.currency", ConfigError),
        ("population.merchants", 2, "population.merchants", ConfigError),
        ("population.regions.0.zone", "Mars/Olympus", "population.regions[0].zone", ConfigError),
        ("population.regions.1.cities", ["Houston TX"], "population.regions[1].cities", ConfigError),
        ("background.rhythm.day", [1.0] * 23, "background.rhythm.day", ConfigError),
        ("background.employed_share", 1.5, "background.employed_share", ConfigError),
        ("background.card.mcc.54x1", {"median": 5}, "background.card.mcc.54x1", ConfigError),
        ("background.salary", {"median": -5}, "background.salary.median", ConfigError),
        ("typology.0.type", "smurfing", "typology[0].type", ConfigError),
        ("typology.0.count", 0, "typology[0].count", ConfigError),
        ("typology.1.camouflage", 1.5, "typology[1].camouflage", ConfigError),
        ("typology.2.amount", {"min": 900, "max": 100}, "typology[2].amount.min", ConfigError),
        ("typology.2.amount", {"min": 9.999, "max": 100}, "typology[2].amount.min", ConfigError),
        ("typology.4.accounts", {"min": 1, "max": 5}, "typology[4].accounts.min", ConfigError),
        ("typology.4.period", 400, "typology[4].period", ConfigError),
        ("typology.9.amount", {"min": 4, "max": 5}, "typology[9].amount", ConfigError),
        ("typology.3.colour", "red", "typology[3].colour", ConfigError),
    ],
)
def test_spec_errors_name_the_key(path, value, key, error):
    with pytest.raises(error, match=re.escape(f"'{key}'")):
        Spec.from_dict(_broken(path, value))


def test_spec_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL_SPEC.read_text().replace("accounts = 900", "accounts = -1"))
    with pytest.raises(ConfigError, match=r"bad\.toml: The 'population\.accounts' key"):
        load_spec(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "missing.toml")


def test_too_many_instances_for_the_population_name_the_count():
    document = _document()
    document["typology"] = [{"type": "fan_in", "count": 200, "accounts": {"min": 10, "max": 10}}]
    with pytest.raises(ConfigError, match=re.escape("'typology[0].count'")):
        generate(Spec.from_dict(document), SEED)


def test_write_checks_its_options(tmp_path):
    with pytest.raises(ValueError, match="'chunk_days'"):
        write("small", SEED, tmp_path, chunk_days=0)
    assert not list(tmp_path.iterdir())


# -- reference tables ------------------------------------------------------------------------------


def _read_reference(path) -> tuple[list[str], list[list[str]]]:
    data = path.read_bytes()
    assert b"\r" not in data and data.endswith(b"\n")
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return header, rows


def test_reference_tables_are_written_sorted_and_deterministic(written):
    a, again, b = written["a"], written["a_again"], written["b"]
    for name, relative in REFERENCE_FILES.items():
        assert a[name] == a["ledger"].parent / relative and a[name].parent.name == "reference"
        header, rows = _read_reference(a[name])
        assert tuple(header) == REFERENCE_HEADERS[name]
        assert rows and all(len(r) == len(header) for r in rows)
        assert rows == sorted(rows) and len({r[0] for r in rows}) == len(rows)
        assert a[name].read_bytes() == again[name].read_bytes(), name
    assert a["locations"].read_bytes() == b["locations"].read_bytes()  # the places do not depend on the seed
    assert a["ad_merchants"].read_bytes() != b["ad_merchants"].read_bytes()  # account numbers do
    assert not [p for p in a["ledger"].parent.rglob("*.tmp")]


def test_reference_tables_describe_the_ledger(written, spec):
    ledger = pq.read_table(written["a"]["ledger"])
    _, locations = _read_reference(written["a"]["locations"])
    by_location = {r[0]: r for r in locations}
    assert set(pc.drop_null(ledger.column("location")).to_pylist()) <= set(by_location)
    assert set(by_location) == {c for r in spec.population.regions for c in r.cities}
    for region in spec.population.regions:
        for city in region.cities:
            assert by_location[city] == [city, region.zone, city, region.name, "US"]
    assert '"New York, NY",America/New_York,"New York, NY",northeast,US\n' in written["a"]["locations"].read_text()

    _, ads = _read_reference(written["a"]["ad_merchants"])
    ad_accounts = {r[0] for r in ads}
    assert len(ads) == spec.population.ad_sites and {r[1] for r in ads} == {
        f"ad site {i}" for i in range(1, spec.population.ad_sites + 1)}
    ad_rows = ledger.filter(pc.equal(ledger.column("mcc"), "7311"))
    assert set(ad_rows.column("receiver").to_pylist()) == ad_accounts  # every ad-site receiver, and only them

    _, payroll = _read_reference(written["a"]["payroll_originators"])
    plan = Plan(spec, SEED)
    processors = {plan.account_ids[i].as_py() for i in range(plan.pop.processor0, plan.pop.merchant0)}
    assert {r[0] for r in payroll} == processors
    wages = ledger.filter(pc.equal(ledger.column("channel_raw"), "ACH PAYROLL"))
    assert processors <= set(wages.column("sender").to_pylist())
    assert {k: v.read_bytes() for k, v in written["a"].items() if k in REFERENCE_FILES} == plan.reference_csv()


def test_lodging_merchants_are_labelled_lookalikes(small, spec):
    ledger, labels = small
    look = dict(zip(labels.accounts.column("account").to_pylist(), labels.accounts.column("lookalike").to_pylist()))
    hotels = set(ledger.filter(pc.equal(ledger.column("mcc"), "7011")).column("receiver").to_pylist())
    assert {look[h] for h in hotels} == {"hotel_chain", "motel"}
    n_cities = sum(len(r.cities) for r in spec.population.regions)
    roles = Counter(look.values())
    assert roles["hotel_chain"] == 1 and roles["motel"] == n_cities


# -- trafficking profiles ---------------------------------------------------------------------------

LEG_OF = {"escort_ads": "ad", "motel_hopping": "stay", "late_night_atm": "atm", "prepaid_loads": "load"}


def _profile_document(*tables) -> dict:
    document = _document()
    document["typology"] = [{"type": "trafficking_profile", **t} for t in tables]
    return document


PROFILE_TABLES = (
    {"count": 4},
    {"count": 6, "camouflage": 0.7, "accounts": {"min": 2, "max": 2}},
    {"count": 3, "camouflage": 1.0, "indicators": ["prepaid_loads", "escort_ads", "late_night_atm"]},
    {"count": 2, "camouflage": 0.5, "indicators": ["motel_hopping", "prepaid_loads"], "min_indicators": 1,
     "events": {"min": 3, "max": 4}, "amount": {"min": 50, "max": 150}},
)


@pytest.fixture(scope="module")
def profiles():
    profile_spec = Spec.from_dict(_profile_document(*PROFILE_TABLES))
    ledger, labels = generate(profile_spec, SEED)
    return profile_spec, ledger, labels


def test_profile_spec_keys_and_parts():
    spec = Spec.from_dict(_profile_document(*PROFILE_TABLES))
    default, camouflaged, three, two = spec.typologies
    assert default.indicators == INDICATORS and default.min_indicators == 2
    assert [p.type for p in default.parts] == list(INDICATORS)
    for part in default.parts:  # each indicator with its own type's default ranges
        alone = Spec.from_dict(_broken("typology", [{"type": part.type, "count": 1}])).typologies[0]
        assert (part.amount, part.events, part.camouflage, part.period) == (alone.amount, alone.events, 0.0,
                                                                            default.period)
    assert (default.amount.min, default.amount.max) == (300, 80000)  # the envelope, minor units
    assert three.indicators == ("escort_ads", "late_night_atm", "prepaid_loads")  # INDICATORS order
    assert [(p.amount.min, p.amount.max) for p in two.parts] == [(5000, 15000), (5000, 15000)]
    assert all((p.events.min, p.events.max) == (3, 4) for p in two.parts)
    assert all(p.camouflage == 0.7 for p in camouflaged.parts)


def test_profile_size_follows_its_definition():
    rng = np.random.default_rng(1)
    assert {profile_size(rng, 4, 2, 0.0) for _ in range(200)} == {4}
    for c in (0.3, 0.7, 1.0):
        draws = Counter(profile_size(rng, 4, 2, c) for _ in range(30000))
        assert set(draws) == {2, 3, 4}
        for k, expected in ((2, c / 3), (3, c / 3), (4, 1 - c + c / 3)):
            assert abs(draws[k] / 30000 - expected) < 0.015, (c, k, draws)


def test_trafficking_profiles_combine_single_indicators(profiles, zone_of_city):
    spec, ledger, labels = profiles
    instances = labels.instances.to_pylist()
    mask = pc.is_valid(labels.transactions.column("instance_id"))
    rows_of = defaultdict(list)
    for row, label in zip(ledger.filter(mask).to_pylist(), labels.transactions.filter(mask).to_pylist()):
        assert label["typology"] == "trafficking_profile"
        rows_of[label["instance_id"]].append({**row, "leg": label["leg"]})
    shown_sizes = defaultdict(list)
    for inst in instances:
        t = spec.typologies[inst["table"]]
        assert inst["typology"] == "trafficking_profile" and inst["camouflage"] == t.camouflage
        assert t.accounts.min <= len(inst["accounts"]) <= t.accounts.max
        rows = rows_of[inst["instance_id"]]
        assert [r["txn_id"] for r in rows] == inst["txn_ids"]
        assert all(inst["start"] <= r["timestamp"] < inst["end"] for r in rows)
        parts = {p.type: p for p in t.parts}
        for member in inst["accounts"]:
            mine = [r for r in rows if member in (r["sender"], r["receiver"])]
            shown = {ind for ind in t.indicators if any(r["leg"] == LEG_OF[ind] for r in mine)}
            assert {r["leg"] for r in mine} == {LEG_OF[ind] for ind in shown}  # legs keep their names
            assert t.min_indicators <= len(shown) <= len(t.indicators), (inst["instance_id"], shown)
            if t.camouflage == 0:
                assert shown == set(t.indicators)
            shown_sizes[inst["table"]].append(len(shown))
            member_inst = {**inst, "accounts": [member]}
            for ind in shown:
                part = parts[ind]
                legs = [r for r in mine if r["leg"] == LEG_OF[ind]]
                assert all(part.amount.min <= r["amount"] <= part.amount.max for r in legs), ind
                globals()[f"_check_{ind}"](part, member_inst, legs, zone_of_city)
            for r in mine:
                if r["leg"] == "stay":
                    assert r["mcc"] == "7011" and r["channel_raw"] == "POS"
                elif r["leg"] == "load":
                    assert r["mcc"] == "6540"
                elif r["leg"] == "ad":
                    assert r["mcc"] == "7311" and r["channel_raw"] == "ECOM"
            stays = [r for r in mine if r["leg"] == "stay"]
            if stays:  # distinct cities, none of them home
                assert len({r["location"] for r in stays}) >= min(3, len(stays))
    assert min(shown_sizes[1] + shown_sizes[2]) < max(shown_sizes[1] + shown_sizes[2])  # camouflage varies k

    accounts = {r["account"]: r for r in labels.accounts.to_pylist()}
    members = {a for i in instances for a in i["accounts"]}
    for a in members:
        assert accounts[a]["typologies"] == ["trafficking_profile"] and accounts[a]["kind"] == "person"
        assert accounts[a]["lookalike"] is None
    assert {a for a, r in accounts.items() if r["is_suspicious"]} == members


@pytest.mark.parametrize(
    ("table", "key", "error"),
    [
        ({"indicators": "escort_ads"}, "typology[0].indicators", ConfigTypeError),
        ({"indicators": ["escort_ads", 3]}, "typology[0].indicators", ConfigTypeError),
        ({"indicators": []}, "typology[0].indicators", ConfigError),
        ({"indicators": ["escort_ads", "smurfing"]}, "typology[0].indicators", ConfigError),
        ({"indicators": ["structuring", "escort_ads"]}, "typology[0].indicators", ConfigError),
        ({"indicators": ["escort_ads", "escort_ads"]}, "typology[0].indicators", ConfigError),
        ({"min_indicators": 0}, "typology[0].min_indicators", ConfigError),
        ({"min_indicators": 5}, "typology[0].min_indicators", ConfigError),
        ({"min_indicators": "two"}, "typology[0].min_indicators", ConfigTypeError),
        ({"min_indicators": True}, "typology[0].min_indicators", ConfigTypeError),
        ({"indicators": ["escort_ads", "prepaid_loads"], "min_indicators": 3}, "typology[0].min_indicators",
         ConfigError),
        ({"amount": {"min": 900, "max": 1000}}, "typology[0].amount", ConfigError),
        ({"amount": {"min": 4, "max": 5}, "indicators": ["escort_ads", "prepaid_loads"]}, "typology[0].amount",
         ConfigError),
        ({"period": {"min": 3, "max": 10}}, "typology[0].period.min", ConfigError),
        ({"period": {"min": 6, "max": 10}, "events": {"min": 3, "max": 9}}, "typology[0].events.max", ConfigError),
        ({"period": 40}, "typology[0].period", ConfigError),
        ({"senders": 3}, "typology[0].senders", ConfigError),
    ],
)
def test_profile_spec_errors_name_the_key(table, key, error):
    with pytest.raises(error, match=re.escape(f"'{key}'")):
        Spec.from_dict(_profile_document({"count": 1, **table}))


def test_indicator_keys_belong_to_trafficking_profile_only():
    with pytest.raises(ConfigError, match=re.escape("'typology[0].min_indicators'")):
        Spec.from_dict(_broken("typology", [{"type": "escort_ads", "count": 1, "min_indicators": 2}]))
    with pytest.raises(ConfigError, match=re.escape("'typology[0].indicators'")):
        Spec.from_dict(_broken("typology", [{"type": "motel_hopping", "count": 1, "indicators": ["escort_ads"]}]))


def test_trafficking_spec_parses_and_generates(tmp_path):
    spec = load_spec("trafficking")
    assert load_spec(TRAFFICKING_SPEC) == spec
    assert spec.population.accounts == 5000 and spec.population.days == 61
    paths = write(spec, 1, tmp_path)
    instances = pq.read_table(paths["instances"]).to_pylist()
    tables = Counter((i["typology"], i["camouflage"]) for i in instances)
    assert tables == {("trafficking_profile", 0.0): 8, ("trafficking_profile", 0.7): 8, ("pooled_wages", 0.0): 3,
                      ("cash_no_payroll", 0.0): 3, ("funnel", 0.0): 3, ("structuring", 0.0): 3}
    accounts = pq.read_table(paths["accounts_labels"])
    roles = Counter(pc.drop_null(accounts.column("lookalike")).to_pylist())
    persons = pc.sum(pc.equal(accounts.column("kind"), "person")).as_py()
    assert 0.02 <= roles["traveller"] / persons <= 0.04 and 0.065 <= roles["late_shift"] / persons <= 0.095
    assert roles["near_threshold_cash_business"] > 0
    ledger = pq.read_table(paths["ledger"], columns=["location", "receiver", "mcc"])
    assert 300_000 <= ledger.num_rows <= 600_000
    _, locations = _read_reference(paths["locations"])
    assert set(pc.unique(pc.drop_null(ledger.column("location"))).to_pylist()) <= {r[0] for r in locations}
    _, ads = _read_reference(paths["ad_merchants"])
    ad_rows = ledger.filter(pc.equal(ledger.column("mcc"), "7311"))
    assert set(pc.unique(ad_rows.column("receiver")).to_pylist()) == {r[0] for r in ads}
