"""Account-level evaluation: metrics worked out by hand, AP against scikit-learn, and the
labels of every supported source.

Expected labels were read off the hand-made CSV files in tests/data/presets (or counted with
Python's ``csv`` module for the shared archives), not taken from flowscan's output.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from flowscan.errors import ConfigError, ConfigTypeError, DataError
from flowscan.evaluate import (
    ACCOUNT_LABELS_SCHEMA,
    Evaluation,
    average_precision_from_ranks,
    evaluate,
    load_account_labels,
)

REPO = Path(__file__).resolve().parents[1]
PRESETS = Path(__file__).resolve().parent / "data" / "presets"
SYNTHETIC = REPO / "fixtures" / "sample" / "synthetic"


def labels_table(rows: list[tuple[str, bool, list[str]]]) -> pa.Table:
    return pa.table(
        {
            "account": [r[0] for r in rows],
            "is_positive": [r[1] for r in rows],
            "typologies": [r[2] for r in rows],
        },
        schema=ACCOUNT_LABELS_SCHEMA,
    )


def ranking(accounts: list[str], ranks: list[int] | None = None) -> pa.Table:
    ranks = ranks or list(range(1, len(accounts) + 1))
    return pa.table(
        {
            "account": pa.array(accounts, pa.string()),
            "score": pa.array([1.0 / r for r in ranks], pa.float64()),
            "rank": pa.array(ranks, pa.int64()),
        }
    )


def positives(table: pa.Table) -> dict[str, list[str]]:
    return {r["account"]: r["typologies"] for r in table.to_pylist() if r["is_positive"]}


# -- the hand-made ranking -------------------------------------------------------------------
#
# rank:     1  2  3  4  5  6  7  8  9  10
# account:  A  B  C  D  E  F  G  H  I  J       positives: A, C, D, H; Z is positive but not scored
#
# precision@1 = 1/1; precision@3 = 2/3; precision@5 = 3/5
# recall@5 = 3/4 (scored positives); recall over all labelled positives @5 = 3/5
# k = 20 > 10 accounts: clamped to 10 -> hits 4, precision 4/10, recall 4/4, recall_all 4/5
# AP = (1/1 + 2/3 + 3/4 + 4/8) / 4 = (12 + 8 + 9 + 6) / 12 / 4 = 35/48
# base rate = 4/10
# typologies: fan_in = {A (rank 1), C (rank 3)}; cycle = {C (3), D (4)} + Z absent; H untyped
#   fan_in recall @1 = 1/2, @3 = 2/2, @5 = 2/2, @20 = 2/2
#   cycle  recall @1 = 0/2, @3 = 1/2, @5 = 2/2, @20 = 2/2

HAND_ACCOUNTS = list("ABCDEFGHIJ")
HAND_LABELS = labels_table(
    [
        ("A", True, ["fan_in"]),
        ("B", False, []),
        ("C", True, ["cycle", "fan_in"]),
        ("D", True, ["cycle"]),
        ("H", True, []),
        ("Z", True, ["cycle"]),
    ]
)


def hand_evaluation(**kwargs) -> Evaluation:
    table = ranking(HAND_ACCOUNTS)
    reverse = table.take(pa.array(range(table.num_rows - 1, -1, -1)))  # rows out of rank order
    return evaluate(reverse, HAND_LABELS, ks=(1, 3, 5, 20), **kwargs)


def test_hand_ranking_precision_recall_ap():
    ev = hand_evaluation()
    assert (ev.n_accounts, ev.n_positives, ev.n_positives_absent, ev.n_positives_untyped) == (10, 4, 1, 1)
    assert ev.base_rate == pytest.approx(4 / 10)
    assert ev.average_precision == pytest.approx(35 / 48)
    assert [(a.k, a.k_used, a.hits) for a in ev.at_k] == [(1, 1, 1), (3, 3, 2), (5, 5, 3), (20, 10, 4)]
    assert [a.precision for a in ev.at_k] == pytest.approx([1.0, 2 / 3, 3 / 5, 4 / 10])
    assert [a.recall for a in ev.at_k] == pytest.approx([1 / 4, 2 / 4, 3 / 4, 4 / 4])
    assert [a.recall_all for a in ev.at_k] == pytest.approx([1 / 5, 2 / 5, 3 / 5, 4 / 5])


def test_hand_ranking_ap_equals_sklearn():
    y = [a in ("A", "C", "D", "H") for a in HAND_ACCOUNTS]
    score = -np.arange(1, 11, dtype=float)
    assert hand_evaluation().average_precision == pytest.approx(average_precision_score(y, score))


def test_hand_ranking_recall_per_typology():
    ev = hand_evaluation()
    got = {t.typology: (t.positives, t.absent, t.recall) for t in ev.typologies}
    assert got == {"cycle": (2, 1, (0.0, 0.5, 1.0, 1.0)), "fan_in": (2, 0, (0.5, 1.0, 1.0, 1.0))}  # exact halves
    assert [t.typology for t in ev.typologies] == ["cycle", "fan_in"]


def test_k_larger_than_the_run_is_clamped_and_said():
    ev = hand_evaluation()
    assert [a.clamped for a in ev.at_k] == [False, False, False, True]
    assert ev.to_dict()["at_k"][-1]["clamped"] is True
    assert any("k=20 is larger than the 10 scored accounts" in n for n in ev.notes)
    assert "10*" in ev.format()


def test_absent_positives_are_counted_and_missed_in_recall_all():
    ev = hand_evaluation()
    labels = ev.to_dict()["labels"]
    assert (labels["positives_scored"], labels["positives_absent"], labels["positives_total"]) == (4, 1, 5)
    assert "1 absent from the run" in ev.format()


def test_ks_are_sorted_and_deduplicated():
    ev = evaluate(ranking(HAND_ACCOUNTS), HAND_LABELS, ks=[5, 1, 5])
    assert [a.k for a in ev.at_k] == [1, 5]


def test_no_positive_scored_gives_undefined_recall_and_ap():
    ev = evaluate(ranking(["B", "E"]), HAND_LABELS, ks=(1,))
    assert ev.average_precision is None
    assert ev.at_k[0].recall is None and ev.at_k[0].precision == 0.0
    assert ev.at_k[0].recall_all == 0.0  # 5 labelled positives, none scored
    assert ev.n_positives_absent == 5
    assert any("undefined" in n for n in ev.notes)
    json.dumps(ev.to_dict(), allow_nan=False)  # None, not NaN


def test_scored_accounts_missing_from_labels_are_negatives():
    ev = evaluate(ranking(["X", "A", "Y"]), HAND_LABELS, ks=(2,))
    assert (ev.n_accounts, ev.n_positives, ev.at_k[0].hits) == (3, 1, 1)
    assert ev.average_precision == pytest.approx(1 / 2)  # the only positive sits at rank 2


# -- AP against scikit-learn on random rankings ----------------------------------------------


@st.composite
def random_rankings(draw):
    n = draw(st.integers(1, 120))
    y = draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
    ranks = draw(st.permutations(list(range(1, n + 1))))
    return y, ranks


@given(random_rankings())
def test_average_precision_equals_sklearn(case):
    y, ranks = case
    accounts = [f"acct{i}" for i in range(len(y))]
    labels = labels_table([(a, True, []) for a, p in zip(accounts, y) if p])
    ev = evaluate(ranking(accounts, ranks), labels, ks=(1,))
    expected = average_precision_score(np.array(y), -np.array(ranks, dtype=float))
    assert ev.average_precision == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_average_precision_kernel_equals_sklearn(y):
    got = average_precision_from_ranks(np.array(y))
    if not any(y):
        assert got is None
    else:
        assert got == pytest.approx(average_precision_score(y, -np.arange(len(y), dtype=float)))


@given(random_rankings(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(case, rnd):
    y, ranks = case
    accounts = [f"acct{i}" for i in range(len(y))]
    labels = labels_table([(a, True, ["t"]) for a, p in zip(accounts, y) if p])
    table = ranking(accounts, ranks)
    order = list(range(table.num_rows))
    rnd.shuffle(order)
    a = evaluate(table, labels, ks=(1, 7, 50)).to_dict()
    b = evaluate(table.take(pa.array(order, pa.int64())), labels, ks=(1, 7, 50)).to_dict()
    assert a == b


# -- output ----------------------------------------------------------------------------------


def test_to_json_is_atomic_and_round_trips(tmp_path):
    ev = hand_evaluation()
    out = ev.to_json(tmp_path / "evaluation.json")
    assert json.loads(out.read_text()) == ev.to_dict()
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation.json"]  # no temporary left behind
    assert list(ev.to_dict()) == ["accounts", "labels", "average_precision", "at_k", "typologies", "alerts", "rules",
                                  "notes"]


def test_format_shows_the_figures():
    text = hand_evaluation().format()
    assert "average precision: 0.7292" in text
    assert "recall per typology" in text
    lines = text.splitlines()
    cycle = next(line for line in lines if line.startswith("cycle"))
    assert cycle.split() == ["cycle", "2", "1", "0.0000", "0.5000", "1.0000", "1.0000"]
    assert "1 scored positives have no typology in the labels" in text


# -- rule and alert precision ----------------------------------------------------------------
#
# The hand ranking with the columns a flowscan run writes (positives A, C, D, H of 10):
#   typologies: A [fan_in], B [fan_in, cycle], C [cycle, cycle], D [], H [fan_in], J [cycle]
#   fan_in fired at A, B, H -> 2 hits of 3; cycle at B, C, J (C once) -> 1 hit of 3
#   lift = precision / base rate (4/10): fan_in (2/3) / (4/10) = 5/3, cycle (1/3) / (4/10) = 5/6
#   alerted: A, B, C -> 2 hits of 3 alerts; recall 2 of the 4 scored positives


def hand_run() -> pa.Table:
    kinds = {"A": ["fan_in"], "B": ["fan_in", "cycle"], "C": ["cycle", "cycle"], "H": ["fan_in"], "J": ["cycle"]}
    table = ranking(HAND_ACCOUNTS)
    table = table.append_column("typologies", pa.array([kinds.get(a, []) for a in HAND_ACCOUNTS],
                                                       pa.list_(pa.string())))
    return table.append_column("alerted", pa.array([a in "ABC" for a in HAND_ACCOUNTS]))


def test_rule_and_alert_precision_by_hand():
    ev = evaluate(hand_run(), HAND_LABELS, ks=(5,))
    got = {r.typology: (r.fired, r.hits) for r in ev.rules}
    assert got == {"cycle": (3, 1), "fan_in": (3, 2)}
    assert [r.typology for r in ev.rules] == ["cycle", "fan_in"]
    assert [r.precision for r in ev.rules] == pytest.approx([1 / 3, 2 / 3])
    assert [r.lift for r in ev.rules] == pytest.approx([5 / 6, 5 / 3])
    a = ev.alerts
    assert (a.alerts, a.hits) == (3, 2)
    assert (a.precision, a.recall) == pytest.approx((2 / 3, 2 / 4))


def test_rule_precision_matches_a_loop_over_rows(tmp_path):
    rng = np.random.default_rng(5)
    accounts = [f"acc{i:03d}" for i in range(200)]
    kinds = [sorted(rng.choice(["fan_in", "cycle", "structuring"], size=rng.integers(0, 3)).tolist())
             for _ in accounts]
    alerted = (rng.random(200) < 0.2).tolist()
    table = ranking(accounts)
    table = table.append_column("typologies", pa.array(kinds, pa.list_(pa.string())))
    table = table.append_column("alerted", pa.array(alerted))
    truth = {a: bool(rng.random() < 0.3) for a in accounts}
    labels = labels_table([(a, p, []) for a, p in truth.items()])
    ev = evaluate(write_run(tmp_path, table), labels, ks=(10,))  # through the file, as the CLI reads it
    expected = {}
    for account, ks in zip(accounts, kinds):
        for kind in set(ks):
            fired, hits = expected.get(kind, (0, 0))
            expected[kind] = (fired + 1, hits + truth[account])
    assert {r.typology: (r.fired, r.hits) for r in ev.rules} == expected
    hits = sum(1 for a, al in zip(accounts, alerted) if al and truth[a])
    assert (ev.alerts.alerts, ev.alerts.hits) == (sum(alerted), hits)


def test_without_the_run_columns_there_is_no_rule_or_alert_precision():
    ev = hand_evaluation()
    assert ev.rules == () and ev.alerts is None
    assert ev.to_dict()["alerts"] is None and ev.to_dict()["rules"] == []
    assert "precision per rule typology" not in ev.format()


def test_format_shows_rule_and_alert_precision():
    text = evaluate(hand_run(), HAND_LABELS, ks=(5,)).format()
    assert "alerts: 3, of which 2 labelled positive (precision 0.6667, recall 0.5000)" in text
    rules = text.split("precision per rule typology (accounts it fired at)")[1]
    line = next(x for x in rules.splitlines() if x.startswith("fan_in"))
    assert line.split() == ["fan_in", "3", "2", "0.6667", "1.67"]


def test_bad_typologies_or_alerted_column(tmp_path):
    table = ranking(HAND_ACCOUNTS).append_column("typologies", pa.array(["x"] * 10))
    with pytest.raises(DataError, match="column 'typologies' is string; expected a list of strings"):
        evaluate(table, HAND_LABELS)
    table = ranking(HAND_ACCOUNTS).append_column("alerted", pa.array([1] * 10))
    with pytest.raises(DataError, match="column 'alerted' is int64; expected bool"):
        evaluate(table, HAND_LABELS)


# -- bad input -------------------------------------------------------------------------------


def write_run(tmp_path: Path, table: pa.Table) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    pq.write_table(table, run / "accounts.parquet")
    return run


def test_missing_rank_column(tmp_path):
    run = write_run(tmp_path, ranking(HAND_ACCOUNTS).drop_columns(["rank"]))
    with pytest.raises(DataError) as info:
        evaluate(run, HAND_LABELS)
    message = str(info.value)
    assert str(run / "accounts.parquet") in message and "'rank'" in message
    assert "\n" not in message


def test_duplicate_accounts(tmp_path):
    run = write_run(tmp_path, ranking(["A", "B", "A"]))
    with pytest.raises(DataError) as info:
        evaluate(run / "accounts.parquet", HAND_LABELS)
    message = str(info.value)
    assert message.startswith(str(run / "accounts.parquet")) and "1 duplicate account" in message
    assert "\n" not in message


def test_repeated_ranks(tmp_path):
    run = write_run(tmp_path, ranking(["A", "B", "C"], [1, 2, 2]))
    with pytest.raises(DataError, match=r"repeated value\(s\) in column 'rank'"):
        evaluate(run, HAND_LABELS)


def test_run_folder_without_accounts(tmp_path):
    with pytest.raises(DataError, match="accounts.parquet: no such file"):
        evaluate(tmp_path, HAND_LABELS)


def test_empty_run_and_null_accounts():
    with pytest.raises(DataError, match="no scored accounts"):
        evaluate(ranking([]), HAND_LABELS)
    with pytest.raises(DataError, match="null"):
        evaluate(pa.table({"account": pa.array(["A", None]), "rank": pa.array([1, 2], pa.int64())}), HAND_LABELS)


def test_duplicate_label_accounts():
    doubled = pa.concat_tables([HAND_LABELS, HAND_LABELS])
    with pytest.raises(DataError, match="duplicate account"):
        evaluate(ranking(HAND_ACCOUNTS), doubled)


@pytest.mark.parametrize("ks, error", [((0,), ConfigError), ((), ConfigError), ("100", ConfigTypeError),
                                       ((1.5,), ConfigTypeError)])
def test_bad_ks(ks, error):
    with pytest.raises(error, match="The 'ks' parameter of evaluate must be"):
        evaluate(ranking(HAND_ACCOUNTS), HAND_LABELS, ks=ks)


# -- label sources ---------------------------------------------------------------------------


def test_fixtures_sample_labels():
    direct = pq.read_table(SYNTHETIC / "accounts_labels.parquet")
    for source in (SYNTHETIC, SYNTHETIC / "accounts_labels.parquet"):
        labels = load_account_labels(source)
        assert labels.schema.equals(ACCOUNT_LABELS_SCHEMA)
        assert labels.schema.metadata[b"flowscan.labels.source"] == b"fixtures"
        assert labels.num_rows == direct.num_rows
        want = {r["account"]: sorted(r["typologies"]) for r in direct.to_pylist() if r["is_suspicious"]}
        assert positives(labels) == want


def test_own_labels_round_trip(tmp_path):
    labels = load_account_labels(SYNTHETIC)
    pq.write_table(labels, tmp_path / "labels.parquet")
    again = load_account_labels(tmp_path / "labels.parquet")
    assert again.equals(labels)
    assert again.schema.metadata[b"flowscan.labels.source"] == b"flowscan-labels"


def test_amlsim_folder_labels():
    # transactions.csv: tran 1 2665->496 is_sar alert 4; tran 2 5123->651 is_sar alert 9.
    # alert_accounts.csv: alert 4 fan_in, alert 9 cycle; 0042 is a bipartite member (not SAR).
    # Accounts of the ledger: 2665, 496, 5123, 651, 0, 17, 0042 (cash sides are not accounts).
    labels = load_account_labels(PRESETS / "amlsim")
    assert positives(labels) == {"2665": ["fan_in"], "496": ["fan_in"], "5123": ["cycle"], "651": ["cycle"]}
    assert sorted(labels.column("account").to_pylist()) == sorted(["2665", "496", "5123", "651", "0", "17", "0042"])
    assert labels.schema.metadata[b"flowscan.labels.source"] == b"transactions:amlsim"


def test_amlsim_transactions_alone_have_no_typology():
    labels = load_account_labels(PRESETS / "amlsim" / "transactions.csv")
    assert positives(labels) == {"2665": [], "496": [], "5123": [], "651": []}


def test_amlsim_alert_accounts_alone_are_refused():
    with pytest.raises(DataError, match="alert_accounts.csv lists pattern members"):
        load_account_labels(PRESETS / "amlsim" / "alert_accounts.csv")


def test_amlsim_sar_accounts(tmp_path):
    (tmp_path / "sar_accounts.csv").write_text(
        "ALERT_ID,ACCOUNT_ID,CUSTOMER_ID,EVENT_DATE,ALERT_TYPE,ACCOUNT_TYPE,IS_SAR\n"
        "4,2665,C_2665,20170101,fan_in,INDIVIDUAL,YES\n"
        "4,0496,C_496,20170101,fan_in,INDIVIDUAL,YES\n"
        "7,0496,C_496,20170301,cycle,INDIVIDUAL,YES\n"
        "8,77,C_77,20170301,cycle,INDIVIDUAL,NO\n"
    )
    # alert_accounts.csv beside it is ignored: sar_accounts.csv is the account-level truth
    (tmp_path / "alert_accounts.csv").write_text((PRESETS / "amlsim" / "alert_accounts.csv").read_text())
    labels = load_account_labels(tmp_path)
    assert labels.to_pylist() == [
        {"account": "0496", "is_positive": True, "typologies": ["cycle", "fan_in"]},
        {"account": "2665", "is_positive": True, "typologies": ["fan_in"]},
        {"account": "77", "is_positive": False, "typologies": []},
    ]
    assert labels.schema.metadata[b"flowscan.labels.source"] == b"amlsim-sar-accounts"


def test_amlsim_alert_transactions(tmp_path):
    (tmp_path / "alert_transactions.csv").write_text(
        "alert_id,alert_type,is_sar,tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp\n"
        "4,fan_in,True,1,2665,496,TRANSFER,556.9,2017-01-01T00:00:00Z\n"
        "9,scatter_gather,True,2,5123,496,TRANSFER,914.09,2017-01-01T00:00:00Z\n"
    )
    labels = load_account_labels(tmp_path / "alert_transactions.csv")
    assert positives(labels) == {"2665": ["fan_in"], "496": ["fan_in", "scatter_gather"], "5123": ["scatter_gather"]}


def test_amlsim_legacy_nodes():
    # nodes.csv: isFraud = 1 for nodes 7 and 280; six nodes in all
    labels = load_account_labels(PRESETS / "amlsim-legacy")
    assert positives(labels) == {"7": [], "280": []}
    assert labels.num_rows == 6
    assert labels.schema.metadata[b"flowscan.labels.source"] == b"amlsim-nodes"


def test_samld_labels():
    # Is_laundering = 1: 5376652437 -> 9600420220 (Structuring), 4045854416 -> 9104426577
    # (Cash_Withdrawal, twice). The Normal_* types of the other rows never become typologies.
    labels = load_account_labels(PRESETS / "saml-d.csv")
    assert positives(labels) == {"5376652437": ["Structuring"], "9600420220": ["Structuring"],
                                 "4045854416": ["Cash_Withdrawal"], "9104426577": ["Cash_Withdrawal"]}
    assert labels.num_rows == 14  # seven distinct pairs of accounts
    assert "0417380001" in labels.column("account").to_pylist()  # leading zero kept


def test_paysim_counts_the_origin_account():
    # isFraud = 1: TRANSFER C1305486145 -> C553264065, CASH_OUT C840083671 -> C38997010,
    # TRANSFER C1116085130 -> C1234567890 (twice). Only nameOrig is positive.
    labels = load_account_labels(PRESETS / "paysim.csv")
    assert positives(labels) == {"C1305486145": [], "C840083671": [], "C1116085130": []}
    negatives = {r["account"] for r in labels.to_pylist() if not r["is_positive"]}
    assert {"C553264065", "C38997010", "C1234567890", "C1862994526"} <= negatives


def test_amlworld_labels():
    # Is Laundering = 1: 8100CC290 -> 81364BE70, 80BB31A70 -> 812ED62E0, 8000EBD30 -> 800D8A2E0
    labels = load_account_labels(PRESETS / "amlworld.csv")
    assert positives(labels) == {a: [] for a in ("8100CC290", "81364BE70", "80BB31A70", "812ED62E0",
                                                 "8000EBD30", "800D8A2E0")}


def test_unknown_files(tmp_path):
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="notes.csv: not a label source"):
        load_account_labels(tmp_path / "notes.csv")
    with pytest.raises(DataError, match="no label source found"):
        load_account_labels(tmp_path)  # skipped inside a folder, and nothing else is there
    (tmp_path / "nodes.csv").write_text((PRESETS / "amlsim-legacy" / "nodes.csv").read_text())
    assert load_account_labels(tmp_path).num_rows == 6


def test_labels_by_path_in_evaluate(tmp_path):
    run = write_run(tmp_path, ranking(["280", "0", "7"]))
    ev = evaluate(run, PRESETS / "amlsim-legacy", ks=(1, 2))
    assert ev.labels_source == "amlsim-nodes"
    assert [a.hits for a in ev.at_k] == [1, 1]
    assert ev.average_precision == pytest.approx((1 / 1 + 2 / 3) / 2)


# -- the third-party archives ----------------------------------------------------------------


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.shared_data
def test_amlsim_port_labels(shared_data):
    folder = shared_data / "amlsim-port-s202"
    sar = csv_rows(folder / "sar_accounts.csv")
    want = defaultdict(set)
    for row in sar:
        want[row["ACCOUNT_ID"]].add(row["ALERT_TYPE"])
    labels = load_account_labels(folder)
    got = positives(labels)
    assert got == {a: sorted(t) for a, t in want.items()}
    assert len(got) == 531  # README: the 531 laundering accounts
    counts = Counter(t for ts in got.values() for t in ts)
    assert set(counts) == {"fan_in", "fan_out", "cycle", "scatter_gather", "gather_scatter"}  # no bipartite, stack

    # the same positives from the transfers alone (is_sar), typed through alert_transactions.csv
    from_transfers = load_account_labels(folder / "transactions.csv", folder / "alert_transactions.csv")
    assert positives(from_transfers) == got

    # a perfect ranking: the positives first
    accounts = sorted(got) + sorted({r["acct_id"] for r in csv_rows(folder / "accounts.csv")} - set(got))
    ev = evaluate(ranking(accounts), labels, ks=(100, 531, 20_000))
    assert ev.average_precision == 1.0
    assert [a.precision for a in ev.at_k[:2]] == [1.0, 1.0]
    assert ev.at_k[2].k_used == len(accounts) == 12_043


@pytest.mark.shared_data
def test_ibm_amlsim_labels(shared_data):
    folder = shared_data / "20K_fanin200cycle200" / "20K_fanin200cycle200"
    fraud = {r["nodeid"] for r in csv_rows(folder / "nodes.csv") if r["isFraud"].strip() == "1"}
    labels = load_account_labels(folder)
    assert set(positives(labels)) == fraud
    assert len(fraud) == 1_804  # nodes.csv, not README's 1,803 (see tests/test_shared_data.py)
    assert labels.num_rows == 20_000
