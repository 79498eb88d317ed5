"""Determinism (issue 9, part 4): byte-identical outputs across PYTHONHASHSEED values, Numba
thread counts, read batch sizes, Parquet row groups and the ledger split into several files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import flowscan
from flowscan.fixtures import SYNTHETIC_SAMPLE
from flowscan.options import ReadOptions
from flowscan.scan import ScanOptions, write_run

LEDGER = SYNTHETIC_SAMPLE / "transactions.parquet"
REFERENCE = SYNTHETIC_SAMPLE / "reference"
TABLES = ("accounts.parquet", "alerts.parquet", "evidence.parquet")


def _bytes(run: Path, names) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in names}


def _manifest_without_timings(run: Path) -> dict:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.pop("timings_seconds")
    return manifest


def test_hash_seeds_and_thread_counts_do_not_change_a_byte(tmp_path):
    runs = []
    for hash_seed, threads in (("0", "1"), ("4242", "2"), ("random", "2")):
        out = tmp_path / f"run-{hash_seed}-{threads}"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, NUMBA_NUM_THREADS=threads)
        done = subprocess.run([sys.executable, "-m", "flowscan", "scan", "--sample", "--out", str(out), "--quiet"],
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        runs.append(out)
    names = (*TABLES, "rejects.parquet", "report.html")
    first = _bytes(runs[0], names)
    for other in runs[1:]:
        assert _bytes(other, names) == first, other.name
        assert _manifest_without_timings(other) == _manifest_without_timings(runs[0])


def _scan_to(out: Path, data, **read) -> Path:
    options = ScanOptions(read=ReadOptions(**read))
    result = flowscan.scan(data, options=options, reference=REFERENCE)
    return write_run(result, out, report_alerts=0)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return _bytes(_scan_to(tmp_path_factory.mktemp("base") / "run", LEDGER), TABLES)


@pytest.mark.parametrize("batch_size", [997, 4096])
def test_read_batch_size_does_not_change_a_byte(tmp_path, baseline, batch_size):
    assert _bytes(_scan_to(tmp_path / "run", LEDGER, batch_size=batch_size), TABLES) == baseline


def test_small_parquet_row_groups_do_not_change_a_byte(tmp_path, baseline):
    path = tmp_path / "ledger.parquet"
    pq.write_table(pq.read_table(LEDGER), path, row_group_size=1000)
    assert pq.ParquetFile(path).num_row_groups > 10
    assert _bytes(_scan_to(tmp_path / "run", path), TABLES) == baseline


def test_ledger_split_into_files_in_any_order_does_not_change_a_byte(tmp_path, baseline):
    table = pq.read_table(LEDGER)
    folder = tmp_path / "ledger"
    folder.mkdir()
    # three uneven parts, written so that file order is not time order
    cuts = [0, 5_000, 21_000, table.num_rows]
    for name, (start, stop) in zip(("c.parquet", "a.parquet", "b.parquet"), zip(cuts, cuts[1:])):
        pq.write_table(table.slice(start, stop - start), folder / name)
    assert _bytes(_scan_to(tmp_path / "run-folder", folder), TABLES) == baseline
    files = [folder / "b.parquet", folder / "c.parquet", folder / "a.parquet"]
    assert _bytes(_scan_to(tmp_path / "run-files", files), TABLES) == baseline


@pytest.mark.parametrize("batch_size", [997, 4096])
def test_canonical_ledger_file_does_not_depend_on_read_batches(tmp_path, batch_size):
    from flowscan.ingest import read_ledger, write_ledger

    written = {}
    for name, options in (("default", ReadOptions()), ("batched", ReadOptions(batch_size=batch_size))):
        read = read_ledger(LEDGER, options=options)
        # one chunk per column whatever the read batches: scattered takes (evidence) stay cheap
        assert {read.ledger.column(c).num_chunks for c in read.ledger.column_names} == {1}
        written[name] = write_ledger(read, tmp_path / f"{name}.parquet")["ledger"].read_bytes()
    assert written["batched"] == written["default"]


def test_joining_chunks_keeps_every_value():
    import pyarrow as pa

    from flowscan.ingest import _one_chunk

    columns = [
        pa.chunked_array([["a", None], [], ["c"]], pa.string()),
        pa.chunked_array([pa.array(["x", "y"]).dictionary_encode(), pa.array(["z"]).dictionary_encode()]),
        pa.chunked_array([[1, 2], [3]], pa.int64()),
    ]
    for column in columns:
        joined = _one_chunk(column)
        assert joined.type == column.type and joined.to_pylist() == column.to_pylist()
        assert joined.num_chunks in (1, column.num_chunks)
    assert _one_chunk(columns[0]).num_chunks == 1 and _one_chunk(columns[2]).num_chunks == 1
