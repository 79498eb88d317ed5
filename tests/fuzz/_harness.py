"""What the fuzz targets share: instrumented imports, a per-process work folder, the seed
corpus, the libFuzzer entry point and the checks of a read that was accepted.

Every target checks one promise: flowscan raises only its own errors
(:class:`flowscan.errors.FlowscanError` and its subclasses) and never lets another exception
(KeyError, IndexError, ArrowInvalid, UnicodeDecodeError, OverflowError, ...) escape. A target
lets such an exception propagate, which atheris reports as a crash with its traceback and the
input that caused it.

flowscan's Python modules are instrumented for coverage; its Numba kernels
(``flowscan.kernels``) are not, since Numba compiles a function from its bytecode and cannot
compile atheris's probes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
MARKER = "QZXACCT"
"""Put into every account id a structured target writes; no error message may contain it
(flowscan's messages name files, columns, row numbers and counts, never account data)."""


def instrumented_imports():
    """A context manager that instruments flowscan's modules as they are imported, except the
    Numba kernels (``flowscan.kernels.*``, kept out by name)."""
    kernels = {"flowscan.kernels"} | {f"flowscan.kernels.{p.stem}" for p in (REPO / "kernels").glob("*.py")}
    return atheris.instrument_imports(include=["flowscan"], exclude=sorted(kernels))


_WORK: list[Path] = []


def workdir() -> Path:
    """This process's work folder, made on first use (under ``FLOWSCAN_FUZZ_TMP`` when set).

    libFuzzer ends the process without running Python's exit handlers, so the folder is
    removed by whoever set ``FLOWSCAN_FUZZ_TMP`` (the pytest runner uses its tmp_path), or is
    left in the system's temporary folder.
    """
    if not _WORK:
        parent = os.environ.get("FLOWSCAN_FUZZ_TMP") or None
        _WORK.append(Path(tempfile.mkdtemp(prefix="flowscan-fuzz-", dir=parent)))
    return _WORK[0]


def fresh_dir(name: str) -> Path:
    """An empty folder ``name`` in the work folder (emptied if it exists)."""
    folder = workdir() / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def write_seeds(seeds: list[bytes]) -> Path:
    """The seeds as files of a corpus folder in the work folder."""
    folder = fresh_dir("seeds")
    for i, seed in enumerate(seeds):
        (folder / f"seed-{i:03d}").write_bytes(seed)
    return folder


def main(test_one_input, seeds: list[bytes]) -> None:
    """Run libFuzzer on ``test_one_input`` with the command line's libFuzzer flags.

    The seeds are added as a corpus folder read after any the command line names (libFuzzer
    writes new inputs to the first folder given, so a folder of one's own given first keeps
    them). With file arguments only (reproducing a crash) nothing is added.

    libFuzzer ends the process with C's ``exit()``; once in a while Arrow's thread-pool
    teardown then deadlocks (an IO thread releasing a CSV reader's Python row handler waits
    for the GIL the exiting thread holds). The run is complete once libFuzzer has printed
    ``Done``: stop a process that hangs after that with Ctrl-C.
    """
    argv = list(sys.argv)
    positional = [a for a in argv[1:] if not a.startswith("-")]
    if all(Path(a).is_dir() for a in positional):
        if not positional:
            argv.append(str(fresh_dir("corpus")))
        argv.append(str(write_seeds(seeds)))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


def pick(fdp, choices):
    """One of ``choices``, chosen by the fuzzer."""
    return choices[fdp.ConsumeIntInRange(0, len(choices) - 1)]


def text(fdp, max_len: int = 24) -> str:
    """Fuzzer-chosen text without lone surrogates (which no file can hold)."""
    return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, max_len))


# -- checks of an accepted read ---------------------------------------------------------------


def check_message(error: Exception, *, marked: bool = False) -> None:
    """A flowscan error message is one line; with ``marked`` (the input's account ids carry
    :data:`MARKER`, and nothing else does), it quotes no account id either."""
    message = str(error)
    assert "\n" not in message.strip("\n"), f"the error message is not one line: {message!r}"
    if marked:
        assert MARKER not in message, f"the error message quotes account data: {message!r}"


def check_read(result, options, *, n_inputs: int = 1) -> None:
    """Invariants of an accepted read (:class:`flowscan.ingest.LedgerRead`).

    Every row is in exactly one place (``rows_read == accepted + rejected + duplicates``, in
    total and per file, and the rejects table agrees with the counts and reasons); the ledger
    has the canonical schema, no nulls where none may be, unique ids, non-negative amounts,
    timestamps in ``[valid_from, valid_until)``, and is sorted by (timestamp, txn_id).
    """
    import numpy as np
    import pyarrow.compute as pc

    from flowscan.schema import CANONICAL_SCHEMA

    report, ledger, rejects = result.report, result.ledger, result.rejects
    assert report.reconciles, report
    assert report.rows_read == report.accepted + report.rejected + report.duplicates, report
    assert ledger.num_rows == report.accepted, (ledger.num_rows, report)
    assert rejects.num_rows == report.rejected + report.duplicates, (rejects.num_rows, report)
    assert report.rejected <= options.max_reject_rate * report.rows_read + 1e-9, report
    reasons = Counter(rejects.column("reason").to_pylist())
    assert dict(reasons) == {k: v for k, v in report.reasons.items() if v}, (reasons, report.reasons)
    ledgers = [f for f in report.files if f.role == "ledger"]
    for name in ("rows_read", "accepted", "rejected", "duplicates"):
        assert sum(getattr(f, name) for f in ledgers) == getattr(report, name), (name, report)
    for f in ledgers:
        assert f.rows_read == f.accepted + f.rejected + f.duplicates, f
    per_file = Counter(rejects.column("source_file").to_pylist())
    by_path: dict[str, list] = {}
    for f in ledgers:  # a file given twice has two reports
        by_path.setdefault(f.path, []).append(f)
    for path, reports in by_path.items():
        assert per_file.get(path, 0) == sum(f.rejected + f.duplicates for f in reports), (reports, per_file)
        # record numbers; but a malformed record that the second pass could not place keeps
        # the parser's line number (the read's notes say so), which may exceed the records read
        numbers = [r for s, r, why in zip(rejects.column("source_file").to_pylist(),
                                          rejects.column("row_number").to_pylist(),
                                          rejects.column("reason").to_pylist()) if s == path and why != "malformed_row"]
        assert all(1 <= r <= max(f.rows_read for f in reports) for r in numbers), (reports, numbers)

    assert ledger.schema.equals(CANONICAL_SCHEMA, check_metadata=False), ledger.schema
    for name in ("txn_id", "timestamp", "amount", "currency", "channel"):
        assert ledger.column(name).null_count == 0, name
    if ledger.num_rows:
        assert pc.count_distinct(ledger.column("txn_id")).as_py() == ledger.num_rows, "txn_id not unique"
        assert pc.min(ledger.column("amount")).as_py() >= 0, "negative amount accepted"
        micros = ledger.column("timestamp").cast("int64").to_numpy()
        low = options.instant("valid_from").timestamp() * 1_000_000
        high = options.instant("valid_until").timestamp() * 1_000_000
        assert micros.min() >= low and micros.max() < high, "timestamp outside [valid_from, valid_until)"
        step = np.diff(micros)
        assert (step >= 0).all(), "ledger not sorted by timestamp"
        ids = ledger.column("txn_id").to_pylist()
        ties = np.flatnonzero(step == 0)
        assert all(ids[i] < ids[i + 1] for i in ties), "ledger not sorted by txn_id within a timestamp"
    if result.labels is not None:
        assert result.labels.column("txn_id").equals(ledger.column("txn_id")), "labels not aligned with the ledger"
