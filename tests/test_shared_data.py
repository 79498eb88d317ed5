"""The real AMLSim samples in ../shared/data, read end to end.

Every expected figure here was counted from the CSV files with Python's ``csv`` module (or
is counted in the test itself), not taken from flowscan's output. Where a figure differs from
../shared/data/README.md, the comment says why.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

import flowscan
from flowscan.cli import app

pytestmark = pytest.mark.shared_data


def data_lines(path: Path) -> int:
    """Data records of a CSV file: its non-empty lines less the header."""
    with path.open(newline="") as handle:
        return sum(1 for line in handle if line.strip()) - 1


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


# archive: (transactions, accounts in the ledger, nodes.csv rows, nodes with isFraud=1)
#
# - transactions: README and metadata.txt agree with the line count of transactions.csv.
# - accounts in the ledger: distinct sourceNodeId/targetNodeId values. README's 20,000 and
#   27,770 count the rows of nodes.csv; 20 (2) of those nodes have no transaction at all.
# - isFraud=1: README says 1,803 for 20K_fanin200cycle200 (so does its metadata.txt), but
#   nodes.csv holds 1,804 rows with isFraud=1 (18,196 with 0). The file is the ground truth.
IBM = {
    "20K_cycle200": (117_805, 19_980, 20_000, 945),
    "20K_fanin200": (118_250, 19_980, 20_000, 954),
    "20K_fanin200cycle200": (120_558, 19_980, 20_000, 1_804),
    "amlsim_data": (169_172, 27_768, 27_770, 5_355),
}


@pytest.mark.parametrize("name", sorted(IBM))
def test_ibm_amlsim_archive(shared_data, name):
    transactions, accounts, nodes, fraud = IBM[name]
    folder = shared_data / name / name
    result = flowscan.read_ledger(folder)
    report = result.report

    assert {Path(f.path).name: (f.preset, f.role) for f in report.files} == {
        "nodes.csv": ("amlsim-nodes", "account_labels"),
        "transactions.csv": ("amlsim-legacy", "ledger"),
    }
    assert report.reconciles
    assert report.rows_read == data_lines(folder / "transactions.csv") == transactions
    assert (report.accepted, report.rejected, report.duplicates) == (transactions, 0, 0)
    assert report.reasons == {}
    assert result.rejects.num_rows == 0
    assert result.ledger.num_rows == transactions

    assert flowscan.build_index(result.ledger).n_accounts == accounts
    assert result.labels is None  # the labels of this format are per account (nodes.csv)
    assert result.account_labels.num_rows == data_lines(folder / "nodes.csv") == nodes
    assert sum(result.account_labels.column("is_laundering").to_pylist()) == fraud
    fraud_nodes = {r["nodeid"] for r in csv_rows(folder / "nodes.csv") if r["isFraud"].strip() == "1"}
    flagged = result.account_labels.filter(result.account_labels.column("is_laundering"))
    assert set(flagged.column("account").to_pylist()) == fraud_nodes


def test_ibm_amlsim_steps_and_channel(shared_data):
    # time runs from step 1 to step 149 in 20K_cycle200 (counted with csv): 2017-01-02 .. 2017-05-30
    folder = shared_data / "20K_cycle200" / "20K_cycle200"
    ledger = flowscan.read_ledger(folder).ledger
    stamps = ledger.column("timestamp")
    assert stamps[0].as_py().isoformat() == "2017-01-02T00:00:00+00:00"
    assert stamps[-1].as_py().isoformat() == "2017-05-30T00:00:00+00:00"
    assert set(ledger.column("channel").to_pylist()) == {"wire"}
    assert set(ledger.column("currency").to_pylist()) == {"USD"}
    assert sum(ledger.column("is_self_transfer").to_pylist()) == 14  # sourceNodeId == targetNodeId rows


def test_ibm_amlsim_cli_validate(shared_data):
    folder = shared_data / "20K_cycle200" / "20K_cycle200"
    outcome = CliRunner().invoke(app, ["validate", str(folder)])
    assert outcome.exit_code == 0, outcome.output
    assert "reconciles" in outcome.output
    assert "rows read 117,805 = accepted 117,805 + rejected 0 + duplicates dropped 0: reconciles" in outcome.output
    assert "DOES NOT RECONCILE" not in outcome.output
    assert "flowscan: error" not in outcome.output


# -- the AMLSim Python port, seed 202 ----------------------------------------------------------

PORT_FILES = {
    "accounts.csv": ("amlsim-side", "side"),
    "alert_accounts.csv": ("amlsim-alert-accounts", "account_labels"),
    "alert_transactions.csv": ("amlsim-side", "side"),
    "cash_tx.csv": ("amlsim", "ledger"),
    "sar_accounts.csv": ("amlsim-side", "side"),
    "transactions.csv": ("amlsim", "ledger"),
    "tx_count.csv": ("amlsim-side", "side"),
}


@pytest.fixture(scope="module")
def port(shared_data):
    folder = shared_data / "amlsim-port-s202"
    return folder, flowscan.read_ledger(folder)


def test_port_reconciles(port):
    folder, result = port
    report = result.report
    assert {Path(f.path).name: (f.preset, f.role) for f in report.files} == PORT_FILES
    transfers = data_lines(folder / "transactions.csv")
    cash = data_lines(folder / "cash_tx.csv")
    assert (transfers, cash) == (121_732, 473_550)
    assert report.reconciles
    assert report.rows_read == transfers + cash
    assert (report.accepted, report.rejected, report.duplicates) == (transfers + cash, 0, 0)
    assert result.rejects.num_rows == 0
    by_file = {Path(f.path).name: (f.rows_read, f.accepted) for f in report.files if f.role == "ledger"}
    assert by_file == {"transactions.csv": (transfers, transfers), "cash_tx.csv": (cash, cash)}


def test_port_accounts(port):
    _, result = port
    # README: the 10K population has 12,043 accounts; every one of them transacts
    assert flowscan.build_index(result.ledger).n_accounts == 12_043


def test_port_cash_sides(port):
    _, result = port
    ledger = result.ledger
    kinds = Counter(
        (r["channel_raw"], r["sender"] is None, r["receiver"] is None)
        for r in ledger.select(["channel_raw", "sender", "receiver"]).to_pylist()
    )
    # counted in cash_tx.csv: 50,960 CASH-IN (orig_acct=<acct>, bene_acct=-), 422,590 CASH-OUT
    # (orig_acct=-, bene_acct=<acct>): deposits have no sender, withdrawals no receiver
    assert kinds == {
        ("TRANSFER", False, False): 121_732,
        ("CASH-IN", True, False): 50_960,
        ("CASH-OUT", False, True): 422_590,
    }


def test_port_transaction_labels(port):
    folder, result = port
    labels = result.labels
    assert labels.num_rows == result.ledger.num_rows
    laundering = labels.filter(labels.column("is_laundering"))
    # README: 543 laundering transfers; all in transactions.csv, none among cash rows
    assert laundering.num_rows == 543
    expected = {r["tran_id"] for r in csv_rows(folder / "transactions.csv") if r["is_sar"] == "True"}
    assert set(laundering.column("txn_id").to_pylist()) == expected
    ledger = result.ledger
    channel_of = dict(zip(ledger.column("txn_id").to_pylist(), ledger.column("channel_raw").to_pylist()))
    assert {channel_of[t] for t in expected} == {"TRANSFER"}
    # alert_id -1 means no alert: exactly the laundering transfers carry one
    with_alert = labels.filter(labels.column("alert_id").is_valid())
    assert set(with_alert.column("txn_id").to_pylist()) == expected


def test_port_account_labels(port):
    folder, result = port
    accounts = result.account_labels
    # alert_accounts.csv lists 697 members of planted patterns, every one with is_sar=True,
    # no account twice. README's 531 SAR accounts (sar_accounts.csv, a side file) are the members
    # of the five typologies that produce transfers: the 78 bipartite and 88 stack members
    # (697 - 166 = 531) have no laundering transfer in this port.
    assert accounts.num_rows == 697
    assert all(accounts.column("is_laundering").to_pylist())
    assert len(set(accounts.column("account").to_pylist())) == 697
    typologies = Counter(accounts.column("typology").to_pylist())
    assert typologies == {
        "fan_in": 134, "fan_out": 116, "cycle": 99, "scatter_gather": 92, "gather_scatter": 90,
        "stack": 88, "bipartite": 78,
    }
    assert len(set(accounts.column("alert_id").to_pylist())) == 85

    transferring = {
        r["account"] for r in accounts.to_pylist() if r["typology"] not in ("bipartite", "stack")
    }
    sar_accounts = {r["ACCOUNT_ID"] for r in csv_rows(folder / "sar_accounts.csv")}
    assert len(transferring) == len(sar_accounts) == 531
    assert transferring == sar_accounts

    # and the same 531 accounts are the senders and receivers of the 543 laundering transfers
    laundering_ids = set(result.labels.filter(result.labels.column("is_laundering")).column("txn_id").to_pylist())
    parties = set()
    for r in result.ledger.select(["txn_id", "sender", "receiver"]).to_pylist():
        if r["txn_id"] in laundering_ids:
            parties.update((r["sender"], r["receiver"]))
    assert parties == sar_accounts
