"""Scoring: the feature transform, PyOD detectors, fusion with rule hits, alerts and evidence."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flowscan.errors import ConfigError, DataError
from flowscan.rules import RULES
from flowscan.score import (AlertPolicy, Detector, FittedDetector, Fusion, ScoreOptions, Transform, feature_table,
                            fit_model, load_model, save_model, score_accounts)
from flowscan.score.fusion import rank_order, rarity, risk_scores, rule_scores
from ledgers import ledger_of

DETECTOR_NAMES = ("hbos", "iforest", "ecod", "copod", "ensemble")
PLANTED_TOP = 3
"""Quality floor: a point far outside a Gaussian cloud of 300 on two of four features ranks in
the top 1 % (3 points) for every detector. HBOS, a sum of per-feature histogram scores with a
capped score per empty bin, does not always put it first; the others do."""


# --- fusion ------------------------------------------------------------------------------


def test_rule_scores_noisy_or_by_hand():
    fusion = Fusion(weights={"fan_in": 0.4, "cycle": 0.5}, member_factor=0.25, rarity_decades=0)
    anchored = {"fan_in": np.array([True, False, False, False]), "cycle": np.array([True, False, True, False])}
    members = {"fan_in": np.array([False, True, False, False])}
    got = rule_scores(4, anchored, members, fusion)
    # account 0: 1 - (1 - 0.4)(1 - 0.5) = 0.7; account 1: member of fan_in, 0.4 * 0.25 = 0.1;
    # account 2: cycle only, 0.5; account 3: nothing.
    np.testing.assert_allclose(got, [0.7, 0.1, 0.5, 0.0])


def test_rarity_discount_by_hand():
    assert rarity(1, 100, 2.0) == 1.0  # 1 % of the accounts: full weight
    assert rarity(10, 100, 2.0) == pytest.approx(0.5)  # 10 %: half
    assert rarity(100, 100, 2.0) == 0.0  # every account: nothing
    assert rarity(50, 100, 0.0) == 1.0  # discount off
    fusion = Fusion(weights={"fan_in": 0.4}, rarity_decades=2.0)
    anchored = {"fan_in": np.arange(100) < 10}
    got = rule_scores(100, anchored, {}, fusion)
    assert got[0] == pytest.approx(0.4 * 0.5) and got[99] == 0.0


def test_risk_and_rank_order():
    fusion = Fusion(anomaly_weight=0.5)
    risk = risk_scores(np.array([0.0, 0.6, 0.6, 0.0]), np.array([1.0, 0.5, 0.5, 0.2]), fusion)
    # 1 - (1 - 0)(1 - 0.5) = 0.5; 1 - 0.4 * 0.75 = 0.7; same; 1 - 0.9 = 0.1
    np.testing.assert_allclose(risk, [0.5, 0.7, 0.7, 0.1])
    order = rank_order(risk, np.array([3.0, 1.0, 2.0, 0.0]))
    # accounts 1 and 2 tie on risk; 2 has the higher anomaly score
    assert order.tolist() == [2, 1, 0, 3]
    tie = rank_order(np.array([0.5, 0.5]), np.array([1.0, 1.0]))
    assert tie.tolist() == [0, 1]  # full tie: account code (id order)


def test_alert_policy():
    ranks = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    risk = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1, 0.0])
    assert AlertPolicy().select(ranks, risk).sum() == 3  # default min_score 0.7
    assert AlertPolicy(top_k=3, min_score=None).select(ranks, risk).tolist() == [True] * 3 + [False] * 7
    assert AlertPolicy(top_k=3, min_score=0.85).select(ranks, risk).sum() == 1
    assert AlertPolicy(min_score=0.5, contamination=0.2).select(ranks, risk).sum() == 2
    with pytest.raises(ConfigError, match="contamination' only caps"):
        AlertPolicy(min_score=None, contamination=0.1)
    with pytest.raises(ConfigError, match="The 'top_k' parameter of AlertPolicy"):
        AlertPolicy(top_k=0)


def test_fusion_validation_names_the_key():
    with pytest.raises(ConfigError, match=r"The 'weights.fan_in' parameter of Fusion must be a number in \[0, 1\]"):
        Fusion(weights={"fan_in": 2})
    with pytest.raises(ConfigError, match="The 'anomaly_weight' parameter of Fusion"):
        Fusion(anomaly_weight=-0.1)
    with pytest.raises(ConfigError, match="The 'rarity_decades' parameter of Fusion"):
        Fusion(rarity_decades=-1)


# --- transform -----------------------------------------------------------------------------


def test_transform_by_hand():
    table = pa.table({
        "account": ["a", "b", "c", "d", "e"],
        "n_in": pa.array([0, 1, 3, 7, 15], pa.int64()),  # log1p: 0, ln2, ln4, ln8, ln16
        "cash_in_share": pa.array([0.0, 0.5, None, 1.0, 0.25]),
        "constant": pa.array([2.0] * 5),
        "first_seen": pa.array([0] * 5, pa.timestamp("us", tz="UTC")),
    })
    t = Transform.fit(table)
    assert t.columns == ("n_in", "cash_in_share") and t.dropped == ("constant",)
    X = t.apply(table)
    logs = np.log1p([0, 1, 3, 7, 15])
    q1, med, q3 = np.percentile(logs, [25, 50, 75])
    np.testing.assert_allclose(X[:, 0], (logs - med) / (q3 - q1))
    # the missing share becomes the median of the others (0, 0.25, 0.5, 1 -> 0.375), so 0 after scaling
    assert X[2, 1] == 0.0
    assert np.isfinite(X).all()
    assert Transform.from_dict(t.to_dict()) == t


def test_feature_table_joins_rule_features_without_labels():
    ledger, index = ledger_of(_records())
    results = {name: rule(ledger, index) for name, rule in RULES.items()}
    table = feature_table(ledger, index, results=results)
    assert table.column("account").to_pylist() == index.accounts.to_pylist()
    assert {"n_in", "fan_in_max_7d", "rapid_share_24h"} <= set(table.column_names)
    assert not any("label" in name or "laundering" in name for name in table.column_names)


# --- detectors -------------------------------------------------------------------------------


def _cloud(seed=0, n=300, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[17, 1] = 9.0  # the planted outlier, extreme on features 1 and 2
    X[17, 2] = 12.0
    return X


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_detector_ranks_planted_outlier_and_explains_it(name, seed):
    X = _cloud(seed)
    fitted = FittedDetector(Detector(name)).fit(X)
    order = np.argsort(-fitted.decision_scores_, kind="stable")
    assert 17 in order[:PLANTED_TOP], f"{name}: planted outlier not in the top {PLANTED_TOP}"
    again = FittedDetector(Detector(name)).fit(X)
    np.testing.assert_array_equal(fitted.decision_scores_, again.decision_scores_)
    contributions = fitted.contributions(X, np.array([17, 3]))
    assert contributions.shape == (2, 4)
    top_two = set(np.argsort(-contributions[0], kind="stable")[:2].tolist())
    assert top_two == {1, 2}, f"{name}: features 1 and 2 should explain the outlier"


def test_detector_validation():
    with pytest.raises(ConfigError, match="The 'name' parameter of Detector"):
        Detector("lof-typo")
    with pytest.raises(ConfigError, match="does not take"):
        FittedDetector(Detector("hbos", params={"no_such_option": 1})).fit(_cloud())
    one = FittedDetector(Detector()).fit(np.zeros((1, 3)))  # one account: nothing to compare
    assert one.degenerate_ and one.percentile(np.array([5.0])).tolist() == [0.0]
    assert one.contributions(np.zeros((1, 3)), np.array([0])).tolist() == [[0.0, 0.0, 0.0]]


def parquet_bytes(table: pa.Table) -> bytes:
    """The table as Parquet bytes: equal bytes mean equal tables, NaN included."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


# --- score_accounts on a hand-made ledger with a planted structurer -------------------------------


def _records():
    records = []
    people = [f"P{i:02d}" for i in range(30)]
    n = 0
    for day in range(20):
        for i, sender in enumerate(people):
            receiver = people[(i * 7 + day) % 30]
            if receiver == sender:
                continue
            n += 1
            amount = f"{20 + (i * 13 + day * 7) % 180}.{(i + day) % 100:02d}"
            records.append((f"B{n:05d}", day * 24 + i % 12, sender, receiver, amount, "USD", "p2p", None))
    # the structurer: three cash deposits of 9,500 within 24 hours at three branches, then a wire out
    for k, hours in enumerate((100, 105, 110)):
        records.append((f"S{k}", hours, None, "STRUCT", "9500.00", "USD", "cash", f"branch-{k}"))
    records.append(("S9", 113, "STRUCT", "P05", "28000.00", "USD", "wire", None))
    return records


@pytest.fixture(scope="module")
def planted():
    ledger, index = ledger_of(_records())
    results = {name: rule(ledger, index) for name, rule in RULES.items()}
    return ledger, index, results


def test_planted_structurer_is_alerted_with_reasons_and_exact_evidence(planted):
    ledger, index, results = planted
    scores = score_accounts(ledger, index, results)
    accounts = scores.accounts
    assert accounts.column("rank").to_pylist() == list(range(1, index.n_accounts + 1))
    assert sorted(accounts.column("account").to_pylist()) == index.accounts.to_pylist()
    alerts = {row["account"]: row for row in scores.alerts.to_pylist()}
    alert = alerts["STRUCT"]
    assert any(s.startswith("structuring.cash.in.") for s in alert["scenarios"])
    assert alert["trafficking"] and "structuring" in alert["trafficking_typologies"]
    assert alert["key_term"] == "HUMAN TRAFFICKING FIN-2020-A008"
    count = [r for r in alert["reasons"] if r["rule"] == "structuring.cash.in.24h" and r["name"] == "parts"]
    assert count and count[0]["observed"] == 3 and count[0]["threshold"] == 2
    evidence = scores.evidence.filter(pa.compute.equal(scores.evidence["alert_id"], alert["alert_id"]))
    structuring_rows = {r["txn_id"] for r in evidence.to_pylist()
                        if r["instance_id"].startswith("structuring.cash.in.24h/")}
    assert structuring_rows == {"S0", "S1", "S2"}
    # deterministic and stable alert ids
    again = score_accounts(ledger, index, results)
    for name in ("accounts", "alerts", "evidence"):
        assert parquet_bytes(getattr(again, name)) == parquet_bytes(getattr(scores, name)), name


def test_no_rules_ranks_by_anomaly_and_alerts_have_no_window(planted):
    ledger, index, _ = planted
    options = ScoreOptions(policy=AlertPolicy(top_k=3, min_score=None))
    scores = score_accounts(ledger, index, {}, options=options)
    assert scores.alerts.num_rows == 3
    assert scores.alerts.column("window_start").null_count == 3
    rows = scores.alerts.to_pylist()
    # the riskiest account is explained; an account whose score no single feature drives (every
    # perturbation to the median leaves it as high) lists nothing rather than noise
    assert rows[0]["account"] == "STRUCT" and rows[0]["top_features"]
    assert all(f["contribution"] > 0 for row in scores.alerts.to_pylist() for f in row["top_features"])


def test_model_fitted_on_one_period_scores_another(planted, tmp_path):
    ledger, index, results = planted
    table = feature_table(ledger, index, results=results)
    model = fit_model(table)
    save_model(model, tmp_path / "model.pkl")
    loaded = load_model(tmp_path / "model.pkl")
    X = loaded.transform.apply(table)
    np.testing.assert_array_equal(loaded.detector.score(X), model.detector.score(model.transform.apply(table)))
    scores = score_accounts(ledger, index, results, model=loaded)
    assert scores.accounts.num_rows == index.n_accounts
    (tmp_path / "junk.pkl").write_bytes(b"not a model")
    with pytest.raises(DataError, match="not a flowscan model file"):
        load_model(tmp_path / "junk.pkl")


def test_score_options_validation():
    with pytest.raises(ConfigError, match="The 'detector' parameter of ScoreOptions must be a Detector"):
        ScoreOptions(detector="hbos")
    with pytest.raises(ConfigError, match="top_features"):
        ScoreOptions(top_features=-1)
    assert math.isclose(ScoreOptions().fusion.weight("structuring"), 0.6)


def test_pyod_hbos_kernel_is_cached_like_flowscan_kernels():
    """PyOD compiles HBOS's Numba scorer without a disk cache; flowscan turns the cache on
    (unless FLOWSCAN_NUMBA_CACHE=0), so a run does not pay the compile again."""
    from pyod.models import hbos

    from flowscan.kernels._jit import CACHE

    FittedDetector(Detector("hbos")).fit(_cloud())
    assert getattr(hbos._calculate_outlier_scores, "_flowscan_cached", False) is CACHE


def test_one_account_is_ranked_by_its_rule_hits_alone():
    """One account: nothing to compare, so no anomaly score; its structuring hit still alerts."""
    records = [(f"C{k}", k, None, "ONLY", "9500.00", "USD", "cash", f"branch-{k}") for k in range(8)]
    ledger, index = ledger_of(records)
    results = {name: rule(ledger, index) for name, rule in RULES.items()}
    scores = score_accounts(ledger, index, results, options=ScoreOptions(policy=AlertPolicy(min_score=0.5)))
    (row,) = scores.accounts.to_pylist()
    # the structuring weight (0.6) at full rarity: a share of one account is not a share
    assert row["anomaly_pct"] == 0.0 and row["rule_score"] >= 0.6 and row["score"] == row["rule_score"]
    (alert,) = scores.alerts.to_pylist()
    assert alert["account"] == "ONLY" and "structuring" in alert["typologies"] and alert["top_features"] == []


def test_model_from_a_smaller_period_explains_the_new_accounts(planted):
    """top_features under a saved model come from the new period's own scores, not from the
    reference rows that happen to share an index."""
    ledger, index, results = planted
    small, small_index = ledger_of(_records()[:200])
    reference = fit_model(feature_table(small, small_index, results={n: r(small, small_index) for n, r in RULES.items()}))
    options = ScoreOptions(policy=AlertPolicy(top_k=5, min_score=None))
    scores = score_accounts(ledger, index, results, options=options, model=reference)
    X = reference.transform.apply(feature_table(ledger, index, results=results))
    for alert in scores.alerts.to_pylist():
        code = index.code_of(alert["account"])
        expected = reference.detector.contributions(X, np.array([code]), fitted=False)[0]
        got = {f["name"]: f["contribution"] for f in alert["top_features"]}
        for name, value in got.items():
            assert value == pytest.approx(expected[list(reference.transform.columns).index(name)])


def test_percentile_puts_ties_at_the_middle_of_their_block():
    fitted = FittedDetector(Detector("hbos")).fit(_cloud())
    fitted.reference_ = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    np.testing.assert_allclose(fitted.percentile(np.array([2.0, 3.0, 0.5, 9.0])), [0.5, 0.9, 0.0, 1.0])


@pytest.mark.parametrize("name", ["hbos", "ecod"])
def test_fit_sample_fits_on_a_seeded_sample_and_scores_every_account(planted, name):
    """``fit_sample``: the detector is fitted on that many accounts, drawn with its random_state
    (the rows a plain ``default_rng(seed).choice`` picks), and scores them all; at or above the
    number of accounts it is the plain fit."""
    ledger, index, results = planted
    n = index.n_accounts
    options = ScoreOptions(detector=Detector(name, fit_sample=12, random_state=3))
    scores = score_accounts(ledger, index, results, options=options)
    assert scores.model.detector.reference_.size == 12  # percentiles rank among the sampled accounts
    rows = sorted(np.random.default_rng(3).choice(n, 12, replace=False).tolist())
    table = feature_table(ledger, index, results=results)
    by_hand = fit_model(table.take(rows), options=options)
    expected = by_hand.detector.score(by_hand.transform.apply(table))
    got = dict(zip(scores.accounts.column("account").to_pylist(), scores.accounts.column("anomaly_score").to_pylist()))
    np.testing.assert_array_equal([got[a] for a in index.accounts.to_pylist()], expected)
    again = score_accounts(ledger, index, results, options=options)
    for part in ("accounts", "alerts", "evidence"):
        assert parquet_bytes(getattr(again, part)) == parquet_bytes(getattr(scores, part)), part
    whole = score_accounts(ledger, index, results, options=ScoreOptions(detector=Detector(name, random_state=3)))
    at_n = score_accounts(ledger, index, results, options=ScoreOptions(detector=Detector(name, fit_sample=n,
                                                                                          random_state=3)))
    assert parquet_bytes(at_n.accounts) == parquet_bytes(whole.accounts)
    assert parquet_bytes(scores.accounts) != parquet_bytes(whole.accounts)


def test_fit_sample_validation_and_row_by_row_detectors():
    for bad in (0, 1, -5):
        with pytest.raises(ConfigError, match="'fit_sample' parameter of Detector"):
            Detector(fit_sample=bad)
    with pytest.raises(ConfigError, match="'fit_sample' parameter of Detector"):
        Detector(fit_sample=2.5)
    assert Detector("hbos").scores_row_by_row and Detector("iforest").scores_row_by_row
    assert not Detector("ecod").scores_row_by_row and not Detector("ensemble").scores_row_by_row
    assert Detector("ensemble", members=("hbos", "iforest")).scores_row_by_row
