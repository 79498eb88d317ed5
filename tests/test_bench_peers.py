"""The benchmark's DuckDB, Polars and NumPy peers compute what flowscan computes.

Each peer of :mod:`benchmarks.peers` and :mod:`benchmarks.peers_numpy` must give the same
comparison tables as flowscan's rule on hand-made edge cases (amounts exactly at a threshold,
events exactly on a window edge, equal timestamps, an outflow before any inflow), on random
small ledgers and on a generated ledger; the NumPy peer also on a many-chunk ledger, through
its ``np.lexsort`` fallback, with ``merchant_payments`` off and with other options. A smoke
test runs the benchmark driver end to end on a tiny ledger. No timing is asserted.

Run from the repository root (``python -m pytest``), which puts ``benchmarks`` on the path.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import flowscan
from benchmarks import peers, peers_numpy
from flowscan.rules import RULES
from flowscan.rules.fan import FanIn
from flowscan.rules.rapid import RapidMovement

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
HEADER = ["txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel", "location"]
ENGINES = ("duckdb", "polars", "numpy")
CORE = ("structuring", "fan_in", "rapid_movement")


def ledger_of(records):
    """A canonical ledger and its index from (txn_id, hours after T0, sender, receiver, amount
    text, currency, channel, location) records."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for txn, hours, sender, receiver, amount, currency, channel, location in records:
                when = (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
                writer.writerow([txn, when, sender or "", receiver or "", amount, currency, channel, location or ""])
        ledger = flowscan.read_ledger(path, max_reject_rate=0.0).ledger
    return ledger, flowscan.build_index(ledger)


def peer(rule, engine):
    """The peer function of ``engine`` for ``rule``."""
    return peers_numpy.PEERS[rule] if engine == "numpy" else peers.PEERS[rule][engine]


def compare(rule, ledger, index, *, options=None):
    """flowscan's comparison tables for ``rule``, and every way a peer's differ from them."""
    reference = peers.PEERS[rule]["flowscan"](RULES[rule](ledger, index, options=options), options)
    differences = []
    for engine in ENGINES:
        got = peer(rule, engine)(ledger, options)
        if got.keys() != reference.keys():
            differences.append(f"{engine} {rule}: tables {sorted(got)} instead of {sorted(reference)}")
            continue
        differences += [f"{engine} {rule} {name} differs from flowscan:\n"
                        f"{peers.first_difference(reference[name], got[name])}"
                        for name in reference if not got[name].equals(reference[name])]
    return reference, differences


def check(rule, ledger, index, *, options=None, expect_instances=None):
    """Every peer equals flowscan for ``rule``; returns flowscan's comparison tables."""
    reference, differences = compare(rule, ledger, index, options=options)
    assert differences == []
    if expect_instances is not None:
        assert reference["instances"].num_rows == expect_instances
    return reference


# -- structuring ---------------------------------------------------------------------------------


def test_structuring_threshold_band_and_window_edges():
    records = [
        # A: exactly at T (10,000.00) is not a part; 8,000.00 (band * T) is; the two parts sum to T.
        ("T01", 0, None, "A", "10000.00", "USD", "cash", "Branch 1"),
        ("T02", 1, None, "A", "8000.00", "USD", "cash", "Branch 1"),
        ("T03", 2, None, "A", "2000.00", "USD", "cash", "Branch 2"),  # under the band
        ("T04", 3, None, "A", "9999.99", "USD", "cash", None),
        # B: the second part exactly 24 h after the first is outside the 24h window, inside 72h.
        ("T05", 10, None, "B", "9000.00", "USD", "cash", "Branch 1"),
        ("T06", 34, None, "B", "9000.00", "USD", "cash", "Branch 2"),
        # C: equal timestamps; ledger order (txn_id) decides which part anchors.
        ("T07", 50, None, "C", "9500.00", "USD", "cash", "Branch 3"),
        ("T08", 50, None, "C", "9600.00", "USD", "cash", "Branch 3"),
        ("T09", 50, None, "C", "9700.00", "USD", "cash", "Branch 4"),
        # D: greedy non-overlap: three parts in a row make one instance of two, then a lone one.
        ("T10", 60, "D", "X1", "2500.00", "USD", "wire", None),
        ("T11", 61, "D", "X2", "2600.00", "USD", "wire", None),
        ("T12", 62, "D", "X1", "2700.00", "USD", "wire", None),
        ("T13", 63, "D", "X3", "2800.00", "USD", "wire", None),
        # CAD threshold for cash; a CAD wire is not watched.
        ("T14", 70, "E", None, "9000.00", "CAD", "cash", "Toronto"),
        ("T15", 71, "E", None, "9100.00", "CAD", "cash", "Ottawa"),
        ("T16", 72, "E", "X4", "2900.00", "CAD", "wire", None),
    ]
    ledger, index = ledger_of(records)
    reference = check("structuring", ledger, index)
    rules = set(reference["instances"].column("rule").to_pylist())
    assert "structuring.cash.in.24h" in rules and "structuring.wire.out.24h" in rules
    accounts_24h = {a for a, r in zip(reference["instances"].column("account").to_pylist(),
                                       reference["instances"].column("rule").to_pylist()) if r.endswith(".24h")}
    assert "B" not in accounts_24h  # the edge: 24 h apart is not within 24h


def test_structuring_empty_and_no_parts():
    ledger, index = ledger_of([("T1", 0, "A", "B", "12.00", "USD", "card", None)])
    check("structuring", ledger, index, expect_instances=0)


# -- fan-in --------------------------------------------------------------------------------------


def test_fan_in_window_edge_ties_nulls_and_self():
    records = []
    # H: ten distinct senders inside 7 days, the tenth exactly at t + 7d (outside the 7d window).
    for i in range(9):
        records.append((f"A{i:02d}", 12 * i, f"S{i}", "H", "100.00", "USD", "p2p", None))
    records.append(("A09", 7 * 24, "S9", "H", "100.00", "USD", "p2p", None))
    records.append(("A10", 7 * 24 + 1, "S0", "H", "50.00", "USD", "p2p", None))  # repeated sender
    records.append(("A11", 5, None, "H", "900.00", "USD", "cash", None))  # null sender: left out
    records.append(("A12", 6, "H", "H", "10.00", "USD", "ach", None))  # self-transfer: H counts once
    # G: ten senders at one timestamp; the anchor's earlier ties (by txn_id) are not in its window.
    for i in range(10):
        records.append((f"B{i:02d}", 300, f"R{i}", "G", f"{10 + i}.00", "USD", "ach", None))
    records.append(("B10", 301, "R0", "G", "5.00", "USD", "ach", None))
    for i in range(12):
        records.append((f"C{i:02d}", 400 + 0.5 * i, f"Q{i % 11}", "G", "1.00", "USD", "ach", None))
    ledger, index = ledger_of(records)
    reference = check("fan_in", ledger, index)
    assert reference["instances"].num_rows >= 2
    assert reference["features"].num_rows == 2  # H and G: the only accounts with incoming known senders


def test_fan_in_nothing():
    ledger, index = ledger_of([("T1", 0, None, "A", "12.00", "USD", "cash", None)])
    check("fan_in", ledger, index, expect_instances=0)


# -- rapid movement ------------------------------------------------------------------------------


def test_rapid_fifo_edges():
    records = [
        # P: an outflow before any inflow consumes nothing; then FIFO over two lots.
        ("T01", 0, "P", "Z", "500.00", "USD", "wire", None),
        ("T02", 1, "Y", "P", "1000.00", "USD", "ach", None),
        ("T03", 2, None, "P", "2000.00", "USD", "cash", "Branch 1"),
        ("T04", 3, "P", "Z", "1500.00", "USD", "wire", None),  # empties lot T02, half of T03
        ("T05", 26, "P", "Z", "1000.00", "USD", "wire", None),  # 23 h after T03: within 24h
        # Q: the outflow exactly 24 h after the inflow is outside 24h, inside 72h.
        ("T06", 100, "Y", "Q", "3000.00", "USD", "ach", None),
        ("T07", 124, "Q", None, "3000.00", "USD", "cash", "Branch 2"),
        # R: inflow and outflow at one timestamp, ordered by txn_id: the outflow first consumes nothing.
        ("T08", 200, "R", "Z", "1200.00", "USD", "wire", None),
        ("T09", 200, "Y", "R", "1200.00", "USD", "ach", None),
        ("T10", 201, "R", "Z", "1200.00", "USD", "wire", None),
        # S: cash in, wired out (the cash_to_wire variant); a zero amount row; a self-transfer.
        ("T11", 300, None, "S", "5000.00", "USD", "cash", "Branch 3"),
        ("T12", 300.5, "S", "S", "100.00", "USD", "ach", None),
        ("T13", 301, "Y", "S", "0.00", "USD", "ach", None),
        ("T14", 302, "S", "Z", "4800.00", "USD", "wire", None),
        ("T15", 303, "S", "Z", "200.00", "USD", "p2p", None),
        # U: CAD is not listed in min_amount: no instance, but it counts in the features.
        ("T16", 400, "Y", "U", "5000.00", "CAD", "ach", None),
        ("T17", 401, "U", "Z", "5000.00", "CAD", "wire", None),
        ("T18", 402, "Y", "U", "1000.00", "USD", "ach", None),
    ]
    ledger, index = ledger_of(records)
    reference = check("rapid_movement", ledger, index)
    rules = reference["instances"].column("rule").to_pylist()
    assert "rapid.cash_to_wire.24h" in rules
    accounts_24h = {a for a, r in zip(reference["instances"].column("account").to_pylist(), rules)
                    if r == "rapid.24h"}
    assert "Q" not in accounts_24h and "U" not in accounts_24h


def test_rapid_truncated_accounts_are_found_and_left_out():
    """With max_lots 2, an account with three open lots truncates: the peers find it exactly
    (table ``truncated``) and both sides leave it out of instances and features."""
    records = [
        ("T01", 0, "Y", "P", "1000.00", "USD", "ach", None),
        ("T02", 1, "Y", "P", "1000.00", "USD", "ach", None),
        ("T03", 2, "P", "Z", "1000.00", "USD", "wire", None),  # empties lot T01: two never open at once
        ("T04", 3, "Y", "P", "1000.00", "USD", "ach", None),
        ("T05", 4, "P", "Z", "2000.00", "USD", "wire", None),
        ("T06", 10, "Y", "Q", "1000.00", "USD", "ach", None),
        ("T07", 11, "Y", "Q", "1000.00", "USD", "ach", None),
        ("T08", 12, "Y", "Q", "1000.00", "USD", "ach", None),  # a third open lot: the first is dropped
        ("T09", 13, "Q", "Z", "3000.00", "USD", "wire", None),
    ]
    ledger, index = ledger_of(records)
    reference = check("rapid_movement", ledger, index, options=RapidMovement(max_lots=2))
    # Q, and Z, which receives four wires and never pays out
    assert reference["truncated"].column("account").to_pylist() == ["Q", "Z"]
    assert "P" in reference["instances"].column("account").to_pylist()


# -- random and generated ledgers ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_random_ledgers(seed):
    """Few accounts, amounts bunched around the thresholds, times on a coarse grid (many ties and
    events exactly on window edges)."""
    rng = np.random.default_rng(seed)
    accounts = [f"A{i}" for i in range(6)]
    records = []
    for i in range(400):
        sender = None if rng.random() < 0.15 else accounts[rng.integers(len(accounts))]
        receiver = None if sender is not None and rng.random() < 0.1 else accounts[rng.integers(len(accounts))]
        channel = "cash" if sender is None or receiver is None else str(rng.choice(["wire", "ach", "cash", "p2p"]))
        cents = int(rng.choice([1_000_000, 800_000, 799_999, 999_999, 300_000, 240_000, 150_000, 5_000]))
        cents += int(rng.integers(0, 3)) * int(rng.random() < 0.3)
        hours = int(rng.integers(0, 40)) * 12  # multiples of 12 h: 24h and 72h edges are hit often
        currency = "CAD" if rng.random() < 0.1 else "USD"
        records.append((f"T{i:04d}", hours, sender, receiver, f"{cents // 100}.{cents % 100:02d}", currency, channel,
                        str(rng.choice(["L1", "L2", "L3", ""]))))
    ledger, index = ledger_of(records)
    differences = [d for rule in CORE for d in compare(rule, ledger, index)[1]]
    differences += compare("rapid_movement", ledger, index, options=RapidMovement(max_lots=3))[1]
    assert differences == []


@pytest.fixture(scope="module")
def generated():
    from benchmarks.kernels import spec_for
    from flowscan.fixtures.generate import generate

    ledger, _ = generate(spec_for(2000), 3)
    return ledger, flowscan.build_index(ledger)


@pytest.mark.parametrize("rule", CORE)
def test_generated_ledger(generated, rule):
    ledger, index = generated
    reference = check(rule, ledger, index)
    assert reference["instances"].num_rows > 0  # planted patterns fire


# -- the NumPy peer's own paths ------------------------------------------------------------------


def numpy_differences(rule, ledger, index, *, options=None):
    """How the NumPy peer's tables differ from flowscan's (an empty list when equal)."""
    reference = peers.PEERS[rule]["flowscan"](RULES[rule](ledger, index, options=options), options)
    got = peers_numpy.PEERS[rule](ledger, options)
    if got.keys() != reference.keys():
        return [f"numpy {rule}: tables {sorted(got)} instead of {sorted(reference)}"]
    return [f"numpy {rule} {name}:\n{peers.first_difference(reference[name], got[name])}"
            for name in reference if not got[name].equals(reference[name])]


@pytest.mark.parametrize("rule", CORE)
def test_numpy_peer_on_an_empty_ledger(rule):
    ledger, _ = ledger_of([("T1", 0, "A", "B", "12.00", "USD", "card", None)])
    empty = ledger.slice(0, 0)
    assert numpy_differences(rule, empty, flowscan.build_index(empty)) == []


@pytest.mark.parametrize("rule", CORE)
def test_numpy_peer_on_a_chunked_ledger(generated, rule):
    """Columns of many chunks (Arrow input as a reader would hand it over) give the same tables."""
    ledger, index = generated
    chunked = pa.Table.from_batches(ledger.to_batches(max_chunksize=997))
    assert chunked.column("sender").num_chunks > 1
    assert numpy_differences(rule, chunked, index) == []


@pytest.mark.parametrize("rule", CORE)
def test_numpy_peer_without_packed_keys(generated, rule, monkeypatch):
    """The ``np.lexsort`` fallback, taken when packed sort keys would not fit in int64."""
    ledger, index = generated
    monkeypatch.setattr(peers_numpy, "PACK_LIMIT", 0)
    assert numpy_differences(rule, ledger, index) == []


@pytest.mark.parametrize("rule, options", [("fan_in", FanIn(merchant_payments=False)),
                                           ("rapid_movement", RapidMovement(merchant_payments=False))])
def test_numpy_peer_without_merchant_payments(generated, rule, options):
    """The NumPy peer honours ``merchant_payments`` (the generated ledger has merchant rows)."""
    ledger, index = generated
    assert ledger.column("mcc").null_count < ledger.num_rows
    assert numpy_differences(rule, ledger, index, options=options) == []


def test_numpy_peer_random_ledgers_with_options():
    """Other window lengths, counts and shares on a random ledger (many ties on window edges)."""
    from flowscan.rules.structuring import Structuring

    rng = np.random.default_rng(7)
    accounts = [f"A{i}" for i in range(5)]
    records = []
    for i in range(300):
        sender = None if rng.random() < 0.2 else accounts[rng.integers(len(accounts))]
        receiver = None if sender is not None and rng.random() < 0.1 else accounts[rng.integers(len(accounts))]
        channel = "cash" if sender is None or receiver is None else str(rng.choice(["wire", "ach", "cash"]))
        cents = int(rng.choice([1_000_000, 900_000, 750_000, 299_999, 250_000, 100_000]))
        records.append((f"T{i:04d}", int(rng.integers(0, 30)) * 6, sender, receiver,
                        f"{cents // 100}.{cents % 100:02d}", "USD", channel, str(rng.choice(["L1", "L2", ""]))))
    ledger, index = ledger_of(records)
    cases = [("structuring", Structuring(windows=("6h", "2d"), band=0.75, min_count=3)),
             ("fan_in", FanIn(windows=("12h", "3d"), min_counterparties=2)),
             ("rapid_movement", RapidMovement(horizons=("6h", "36h"), min_share=0.5, max_lots=15))]
    differences = [d for rule, options in cases for d in numpy_differences(rule, ledger, index, options=options)]
    assert differences == []
    got = peers_numpy.PEERS["rapid_movement"](ledger, cases[2][1])
    assert got["instances"].num_rows > 0 and got["truncated"].num_rows > 0  # both kinds of account


def test_benchmark_smoke(tmp_path):
    """The driver runs end to end on a tiny ledger and finds every peer equal to flowscan."""
    out = tmp_path / "results.json"
    markdown = tmp_path / "section.md"
    command = [sys.executable, "-m", "benchmarks.kernels", "--rows", "2000", "--runs", "1", "--no-cold-compile",
               "--rules", *CORE, "core3", "--json", str(out), "--markdown", str(markdown)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    peer_results = [r for r in doc["results"] if r["engine"] in ENGINES]
    assert {(r["engine"], r["rule"]) for r in peer_results} == {(e, r) for e in ENGINES for r in CORE}
    assert all(r["equal"] == [True] for r in peer_results)
    table = markdown.read_text()
    assert "| flowscan | core3 |" in table
    assert "| no (" not in table
