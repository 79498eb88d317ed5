"""Privacy (issue 9, part 6), through the real command in a child process: with --pseudonymize no
raw account id appears in any artifact (outputs, report, exports), in anything printed (with
--verbose), in explain's narrative, or in an error; and an unexpected error prints no traceback
and no data."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from flowscan.fixtures import SYNTHETIC_SAMPLE
from flowscan.pseudonymize import KEY_VARIABLE
from test_pseudonymize import SAMPLE, _decoded, _raw_ids, _substrings

KEY = "a privacy test key of 32 bytes or more"


def _run(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowscan", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, **(env or {})))


@pytest.fixture(scope="module")
def raw_ids():
    ids = set(_raw_ids(SAMPLE))
    assert len(ids) > 1000
    return ids


@pytest.fixture(scope="module")
def pseudonymized_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("privacy")
    done = _run("scan", "--sample", "--out", base / "run", "--pseudonymize", "--verbose", "--export", "csv",
                "--export", "jsonl", env={KEY_VARIABLE: KEY})
    assert done.returncode == 0, done.stderr
    return base / "run", done


def test_no_raw_account_id_in_any_artifact_or_anything_printed(pseudonymized_run, raw_ids):
    run, done = pseudonymized_run
    files = sorted(run.iterdir())
    assert {p.name for p in files} >= {"report.html", "alerts.csv", "evidence.jsonl", "manifest.json"}
    encoded = {a.encode() for a in raw_ids}
    for path in files:
        assert not _substrings(path.read_bytes(), encoded) | _substrings(_decoded(path), raw_ids), path.name
    assert "P-" in done.stdout  # the top alerts were printed, as pseudonyms
    assert not _substrings(done.stdout + done.stderr, raw_ids)


def test_explain_of_a_pseudonymised_run_prints_no_raw_id(pseudonymized_run, raw_ids, tmp_path):
    import pyarrow.parquet as pq

    run, _ = pseudonymized_run
    account = pq.read_table(run / "alerts.parquet", columns=["account"]).column("account")[0].as_py()
    done = _run("explain", run, account, "--out", tmp_path / "case")
    assert done.returncode == 0, done.stderr
    assert account in done.stdout
    assert not _substrings(done.stdout + done.stderr, raw_ids)
    for path in sorted((tmp_path / "case").parent.glob("case*")):
        assert not _substrings(path.read_text(), raw_ids), path.name


def test_an_unexpected_error_prints_its_type_only(tmp_path, raw_ids):
    """An internal error whose message quotes account ids: one line, no traceback, no ids."""
    ids = sorted(raw_ids)[:3]
    code = textwrap.dedent(f"""
        import sys
        import flowscan.scan
        from flowscan.cli import main

        def broken(*args, **kwargs):
            raise KeyError("accounts {' '.join(ids)} broke the scorer")

        sys.modules["flowscan.scan"].score_accounts = broken  # the module, not the function of that name
        sys.argv = ["flowscan", "scan", "--sample", "--out", sys.argv[1]]
        main()
    """)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True,
                          timeout=600, env={k: v for k, v in os.environ.items() if k != "FLOWSCAN_DEBUG"})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "flowscan: internal error (KeyError); set FLOWSCAN_DEBUG=1 to see the traceback"]
    assert not _substrings(done.stdout + done.stderr, set(ids))
    assert not (tmp_path / "run").exists()


def test_data_errors_name_files_and_counts_not_accounts(tmp_path, raw_ids):
    """A ledger whose every row is rejected: the error line names the file and the reasons."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(SYNTHETIC_SAMPLE / "transactions.parquet").slice(0, 200)
    bad = table.set_column(table.schema.get_field_index("amount"), "amount", pc.negate(table.column("amount")))
    path = tmp_path / "bad.parquet"
    pq.write_table(bad, path)
    done = _run("scan", path, "--out", tmp_path / "run", "--negative-amounts", "reject", "--max-reject-rate", "1")
    assert done.returncode == 1
    line = done.stderr.strip()
    assert str(path) in line and "\n" not in line
    assert not _substrings(done.stdout + done.stderr, raw_ids)
