"""Read any supported ledger into the canonical form, account for every row, write it out.

``read_ledger`` streams each file in bounded record batches, stages it with its preset,
checks and converts every row (:mod:`flowscan.validate`), then makes ids for sources that
have none, resolves duplicate ids, sorts by ``(timestamp, txn_id)`` and splits ground truth
off as labels. Only the canonical columns of accepted rows are held in memory.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import CorruptFileError, DataError, RejectLimitError
from .kernels import ids as ids_kernel
from .options import ReadOptions
from .read import presets as P
from .read import sources as S
from .schema import (
    ACCOUNT_LABEL_SCHEMA,
    CANONICAL_SCHEMA,
    CONTENT_COLUMNS,
    LABEL_SCHEMA,
    REJECTS_SCHEMA,
    SORT_KEYS,
    is_canonical,
)
from .validate import canonicalize, python_rows, reject_records, string_buffers

@dataclass
class FileReport:
    """What was read from one file."""

    path: str
    kind: str
    preset: str
    role: str
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    size_bytes: int = 0
    columns: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    time_min: str | None = None
    """Earliest timestamp among the rows accepted from the file (ISO 8601, UTC), before duplicates
    across files are dropped; None when none was accepted."""
    time_max: str | None = None


@dataclass
class ReadReport:
    """The reconciliation of a read: ``rows_read == accepted + rejected + duplicates``."""

    files: list[FileReport]
    rows_read: int
    accepted: int
    rejected: int
    duplicates: int
    reasons: dict[str, int]
    notes: list[str]

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.accepted + self.rejected + self.duplicates

    @property
    def reject_rate(self) -> float:
        return self.rejected / self.rows_read if self.rows_read else 0.0

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates_dropped": self.duplicates,
            "reconciles": self.reconciles,
            "reasons": dict(sorted(self.reasons.items())),
            "files": [vars(f) for f in self.files],
            "notes": self.notes,
        }


@dataclass
class LedgerRead:
    """The result of :func:`read_ledger`.

    Attributes
    ----------
    ledger : pyarrow.Table
        Accepted rows in :data:`flowscan.schema.CANONICAL_SCHEMA`, sorted by (timestamp, txn_id).
    rejects : pyarrow.Table
        Every row not accepted, in :data:`flowscan.schema.REJECTS_SCHEMA`.
    labels : pyarrow.Table or None
        Transaction-level ground truth (:data:`~flowscan.schema.LABEL_SCHEMA`), if the source has any.
    account_labels : pyarrow.Table or None
        Account-level ground truth, if the source has any (AMLSim nodes / alert accounts).
    report : ReadReport
    """

    ledger: pa.Table
    rejects: pa.Table
    labels: pa.Table | None
    account_labels: pa.Table | None
    report: ReadReport


def read_ledger(*paths, options: ReadOptions | None = None, **overrides) -> LedgerRead:
    """Read, check and canonicalise one or more ledger files or directories.

    Parameters
    ----------
    *paths : str, Path, or table
        Files (Parquet, Arrow IPC/Feather, CSV, optionally compressed) or directories
        (walked recursively; ``key=value`` folders are hive partitions, read as text); or
        tables in memory: a pyarrow Table, or any object with the Arrow PyCapsule stream
        interface (polars DataFrame, DuckDB relation), checked and canonicalised exactly as
        the same rows in a Parquet file. Rejects name such a source ``<table N>`` (the N-th
        table given) and its rows by their position in it, from 1.
    options : ReadOptions, optional
        How to read; keyword ``overrides`` replace single options
        (``read_ledger("x.csv", timezone="UTC")``).

    Returns
    -------
    LedgerRead

    Raises
    ------
    CorruptFileError
        A file cannot be read (truncated, bad checksum, undecodable).
    SchemaMismatchError
        The files of a dataset disagree on a column's type.
    RejectLimitError
        More than ``max_reject_rate`` of the rows were rejected, or ``on_bad_rows="fail"``.
    DataError
        Anything else that stops the read (no time zone for naive timestamps, ...).
    """
    options = (options or ReadOptions()).replace(**overrides) if overrides else (options or ReadOptions())
    if not paths:
        raise DataError("no input given")
    sources = S.expand(paths)
    files: list[FileReport] = []
    notes: list[str] = []
    accepted: list[pa.RecordBatch] = []
    hashes: list[tuple[np.ndarray, np.ndarray]] = []
    rejects: list[pa.RecordBatch] = []
    account_labels: list[pa.Table] = []
    reasons: Counter[str] = Counter()
    label_keys: set[str] = set()
    columnar_schemas = {}
    remaps: dict[str, np.ndarray] = {}

    columnar = [s for s in sources if s.kind in ("parquet", "ipc", "table")]
    for source in columnar:
        columnar_schemas[source.name] = S.file_schema(source)
    if columnar:
        S.check_same_types(columnar, [columnar_schemas[s.name] for s in columnar])

    threads = options.threads or min(os.cpu_count() or 1, 8)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="flowscan-read")
    try:
        for file_index, source in enumerate(sources):
            if source.kind == "csv":
                columns = S.csv_header(source, options)
                schema = None
            else:
                schema = columnar_schemas[source.name]
                columns = list(schema.names) + list(source.partition)
            source.columns = columns
            try:
                preset = P.detect(columns, source.kind, schema, options)
            except DataError as error:
                raise DataError(f"{source.path}: {error}") from None
            report = FileReport(source.name, source.kind, preset.name, preset.role, size_bytes=source.size_bytes,
                                columns=columns)
            files.append(report)
            if preset.role == "side":
                notes.append(f"{source.path}: {preset.description}; not a ledger, skipped")
                continue
            if schema is not None and is_canonical(schema):
                report.preset = "canonical"
            currency = options.currency or preset.currency
            channel = preset.channel
            if preset.naive_time and options.timezone is None:
                raise DataError(
                    f"{source.path}: {preset.name} timestamps have no time zone; declare the source zone with --tz "
                    "(e.g. --tz UTC)"
                )

            def work(batch, first_row, preset=preset, file_index=file_index, currency=currency, channel=channel):
                staged = preset.stage(batch, options)
                if preset.role == "account_labels":
                    return staged, None
                good, codes, details = canonicalize(staged, options, file_index=file_index, first_row=first_row,
                                                    default_currency=currency, default_channel=channel)
                made = _content_hash(good) if good.num_rows and "txn_id" not in staged.columns else None
                return staged, (good, codes, details, made)

            for batch, first_row, (staged, outcome) in _with_path(source, _in_order(pool, work, _batches(source, options, columns), threads)):
                if first_row == 1:
                    report.mapping = dict(staged.mapping)
                    for name in staged.id_casts:
                        notes.append(f"{source.path}: column {name} is an integer in the file; read as text")
                report.rows_read += len(batch)
                if outcome is None:
                    account_labels.append(_account_labels(staged))
                    report.accepted += len(batch)
                    continue
                good, codes, details, made = outcome
                label_keys.update(staged.labels)
                n_bad = int(np.count_nonzero(codes))
                if n_bad:
                    bad = reject_records(batch, codes, details, file_name=source.name, first_row=first_row)
                    rejects.append(bad)
                    reasons.update(bad.column("reason").to_pylist())
                if made is not None:
                    hashes.append(made)
                accepted.append(good)
                report.accepted += good.num_rows
                report.rejected += n_bad
                if good.num_rows:
                    low, high = pc.min_max(good.column("timestamp")).values()
                    low, high = low.as_py().isoformat(), high.as_py().isoformat()
                    report.time_min = low if report.time_min is None else min(report.time_min, low)
                    report.time_max = high if report.time_max is None else max(report.time_max, high)
            if source.malformed:
                located = S.malformed_ordinals(source, options)
                if located is None:
                    notes.append(f"{source.path}: malformed records; row numbers of the other records count "
                                 "well-formed records only")
                else:
                    remaps[source.name] = located[0]
                bad = _malformed(source, located)
                rejects.append(bad)
                reasons["malformed_row"] += len(source.malformed)
                report.rows_read += len(source.malformed)
                report.rejected += len(source.malformed)
                if options.on_bad_rows == "fail":
                    raise RejectLimitError(f"{source.path}: malformed record; stopping because --on-bad-rows fail")
            file_reasons = _file_reason_counts(rejects, source.name)
            if report.rows_read and reasons and report.rejected == report.rows_read and \
                    2 * file_reasons.get("naive_timestamp", 0) > sum(file_reasons.values()):
                # every row rejected, most for want of a zone: the zone is what to fix first
                raise DataError(
                    f"{source.path}: timestamps have no time zone; declare the source zone with --tz (e.g. --tz UTC) "
                    "or give a --timestamp-format with %z"
                )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    ledger_rows = [f for f in files if f.role == "ledger"]
    if not ledger_rows:
        raise DataError("no ledger file among the inputs (only side or label files)")

    table = _finish(accepted, hashes, label_keys)
    accepted.clear()  # the table now holds the only references to the accepted rows
    table, dup_rejects, dup_count, conflict_count = _resolve_duplicates(table, sources, options)
    if dup_rejects is not None:
        rejects.append(dup_rejects)
        if conflict_count:
            reasons["conflicting_duplicate_id"] += conflict_count
        if dup_count:
            reasons["duplicate"] += dup_count
        _attribute_duplicates(files, dup_rejects)
    columns = {name: table.column(name) for name in table.column_names}
    del table
    table = _sort(columns, threads)

    labels = None
    label_cols = [n for n in table.schema.names if n.startswith("_label_")]
    if label_cols:
        labels = _labels(table, label_cols)
    ledger = table.select(CANONICAL_SCHEMA.names).cast(CANONICAL_SCHEMA)
    reject_table = (
        pa.Table.from_batches(rejects, schema=REJECTS_SCHEMA) if rejects else REJECTS_SCHEMA.empty_table()
    )
    reject_table = _renumber(reject_table, remaps)
    reject_table = reject_table.sort_by([("source_file", "ascending"), ("row_number", "ascending"), ("reason", "ascending")])
    acc_labels = None
    if account_labels:
        acc_labels = pa.concat_tables(account_labels).cast(ACCOUNT_LABEL_SCHEMA)

    rows_read = sum(f.rows_read for f in ledger_rows)
    rejected = sum(v for k, v in reasons.items() if k != "duplicate")
    report = ReadReport(
        files=files,
        rows_read=rows_read,
        accepted=ledger.num_rows,
        rejected=rejected,
        duplicates=reasons.get("duplicate", 0),
        reasons=dict(reasons),
        notes=notes,
    )
    if not report.reconciles:  # an internal invariant, not input validation
        raise RuntimeError(
            f"reconciliation failed: read {rows_read} != accepted {ledger.num_rows} + rejected {rejected} "
            f"+ duplicates {report.duplicates}"
        )
    if report.reject_rate > options.max_reject_rate:
        top = ", ".join(f"{k} {v}" for k, v in Counter(reasons).most_common(3))
        raise RejectLimitError(
            f"{rejected} of {rows_read} rows rejected ({report.reject_rate:.2%}), above --max-reject-rate "
            f"{options.max_reject_rate:.2%} ({top}); run `flowscan validate` to see the reasons"
        )
    return LedgerRead(ledger, reject_table, labels, acc_labels, report)


def _batches(source: S.SourceFile, options: ReadOptions, columns: list[str]):
    if source.kind == "csv":
        batches = S.iter_csv(source, options)
    else:
        file_columns = [c for c in columns if c not in source.partition]
        batches = S.iter_columnar(source, file_columns, options.batch_size)
    for batch in batches:
        for key, value in source.partition.items():
            if key not in batch.schema.names:
                batch = batch.append_column(key, pa.array([value] * len(batch), pa.string()))
        yield batch


def _in_order(pool, work, batches, depth: int):
    """Run ``work(batch, first_row)`` on a thread pool, at most ``depth`` batches ahead, and
    yield ``(batch, first_row, result)`` in input order; errors surface in input order too,
    so the outcome does not depend on the number of threads."""
    pending: deque = deque()
    row = 1
    for batch in batches:
        pending.append((batch, row, pool.submit(work, batch, row)))
        row += len(batch)
        while len(pending) > depth:
            item = pending.popleft()
            yield item[0], item[1], _result(item[2])
    while pending:
        item = pending.popleft()
        yield item[0], item[1], _result(item[2])


def _with_path(source: S.SourceFile, items):
    """Prefix errors about a file's content with the file's name (once)."""
    try:
        yield from items
    except CorruptFileError:
        raise
    except DataError as error:
        raise type(error)(f"{source.path}: {error}") from None


def _result(future):
    try:
        return future.result()
    except DataError as error:
        raise type(error)(str(error)) from None


def _file_reason_counts(rejects: list[pa.RecordBatch], name: str) -> dict[str, int]:
    """Reject reason -> rows, for the rejects of one source file."""
    found: dict[str, int] = {}
    for batch in rejects:
        mask = pc.equal(batch.column("source_file"), name)
        counts = pc.value_counts(pc.filter(batch.column("reason"), mask))
        for value, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
            found[value] = found.get(value, 0) + count
    return found


def _malformed(source: S.SourceFile, located) -> pa.RecordBatch:
    """Rejects for malformed CSV records: record number and first line when the second pass
    located them (``located``), else the line number the CSV parser reported."""
    import json

    if located is not None:
        numbers, lines = located[0].tolist(), located[1].tolist()
    else:
        lines = [(line if line is not None else -1) for line, _ in source.malformed]
        numbers = lines
    return pa.RecordBatch.from_arrays(
        [
            pa.array([source.name] * len(lines), pa.string()),
            pa.array(numbers, pa.int64()),
            pa.array(["malformed_row"] * len(lines), pa.string()),
            pa.array([f"line {x}; fields differ from the header's {len(source.columns)}" for x in lines], pa.string()),
            pa.array([json.dumps({"text": text}, ensure_ascii=False) for _, text in source.malformed], pa.string()),
        ],
        schema=REJECTS_SCHEMA,
    )


def _renumber(rejects: pa.Table, remaps: dict[str, np.ndarray]) -> pa.Table:
    """Turn well-formed-record numbers into record numbers that count malformed records too,
    for the files that had some (``remaps``: sorted record numbers of the malformed ones)."""
    if not remaps or rejects.num_rows == 0:
        return rejects
    files = rejects.column("source_file").to_numpy(zero_copy_only=False)
    reasons = rejects.column("reason").to_numpy(zero_copy_only=False)
    numbers = rejects.column("row_number").to_numpy().copy()
    for name, malformed in remaps.items():
        rows = (files == name) & (reasons != "malformed_row")
        shift = malformed - np.arange(1, len(malformed) + 1)  # good records before each malformed one
        numbers[rows] += np.searchsorted(shift, numbers[rows], side="left")
    return rejects.set_column(rejects.schema.get_field_index("row_number"), "row_number", pa.array(numbers, pa.int64()))


def _account_labels(staged: P.Staged) -> pa.Table:
    n = len(staged.raw)
    account = staged.columns["account"].cast(pa.string())
    labels = staged.labels
    return pa.table(
        {
            "account": pc.utf8_trim_whitespace(account),
            "is_laundering": pc.fill_null(labels["is_laundering"], False),
            "typology": labels.get("typology", pa.nulls(n, pa.string())).cast(pa.string()),
            "alert_id": labels.get("alert_id", pa.nulls(n, pa.string())).cast(pa.string()),
        }
    )


# -- generated ids ---------------------------------------------------------------------------

_HASHED = [c for c in CONTENT_COLUMNS if c not in ("is_self_transfer", "is_reversal")]


def _content_hash(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each row's canonical content."""
    n = batch.num_rows
    out = []
    for seed in (0x243F6A8885A308D3, 0x13198A2E03707344):
        h = np.full(n, seed, dtype=np.uint64)
        for name in _HASHED:
            array = batch.column(name)
            if pa.types.is_string(array.type):
                data, offsets, valid = string_buffers(array)
                ids_kernel.hash_string_column(h, data, offsets, valid)
            elif pa.types.is_dictionary(array.type):  # fixed dictionaries: the index is the value
                indices = array.indices
                values = pc.fill_null(indices.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
                ids_kernel.hash_int_column(h, np.ascontiguousarray(values), indices.is_valid().to_numpy(zero_copy_only=False))
            else:
                values = pc.fill_null(array.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
                valid = array.is_valid().to_numpy(zero_copy_only=False)
                ids_kernel.hash_int_column(h, np.ascontiguousarray(values, dtype=np.int64), valid)
        out.append(h)
    return out[0], out[1]


def _finish(accepted: list[pa.RecordBatch], hashes, label_keys: set[str]) -> pa.Table:
    """Concatenate accepted batches and fill in generated ids."""
    names = list(CANONICAL_SCHEMA.names) + ["_file", "_row"] + [f"_label_{k}" for k in sorted(label_keys)]
    unified = []
    for batch in accepted:
        arrays = []
        for name in names:
            if name in batch.schema.names:
                arrays.append(batch.column(name))
            else:
                kind = pa.bool_() if name == "_label_is_laundering" else pa.string()
                arrays.append(pa.nulls(batch.num_rows, kind))
        unified.append(pa.RecordBatch.from_arrays(arrays, names=names))
    if not unified:
        fields = [pa.field(n, CANONICAL_SCHEMA.field(n).type) for n in CANONICAL_SCHEMA.names]
        fields += [pa.field("_file", pa.int32()), pa.field("_row", pa.int64())]
        return pa.schema(fields).empty_table()
    table = pa.Table.from_batches(unified)  # zero-copy: the batches' buffers become the table's
    if hashes:
        hi = np.concatenate([h[0] for h in hashes])
        lo = np.concatenate([h[1] for h in hashes])
        label_cols = [n for n in names if n.startswith("_label_")]
        if label_cols:
            # Identical rows get ids g…, g…-1, … ; ordering them by their labels too makes
            # the labels table independent of the input's row order.
            made = table.filter(table.column("txn_id_generated")).select(label_cols)
            order = np.lexsort([_rank(made.column(n)) for n in reversed(label_cols)] + [lo, hi])
        else:
            order = np.lexsort((lo, hi))
        ordinals = ids_kernel.occurrence_ordinals(hi, lo, order.astype(np.int64))
        data, offsets = ids_kernel.format_ids(hi, lo, ordinals)
        made = pa.Array.from_buffers(pa.large_string(), len(hi), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        mask = table.column("txn_id_generated")
        txn = pc.replace_with_mask(table.column("txn_id").combine_chunks(), mask.combine_chunks(), made.cast(pa.string()))
        table = table.set_column(0, "txn_id", txn)
    return table


def _rank(column) -> np.ndarray:
    """A sort key for a label column: the rank of each value, -1 for null."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_boolean(array.type):
        return pc.fill_null(array.cast(pa.int8()), -1).to_numpy(zero_copy_only=False)
    encoded = pc.dictionary_encode(array.cast(pa.string()))
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1
    return rank[pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)]


# -- duplicates and order --------------------------------------------------------------------


def _resolve_duplicates(table: pa.Table, sources, options: ReadOptions):
    """Drop exact duplicates (same txn_id, same content; the first by file and row is kept)
    and reject every row of a txn_id shared by different contents."""
    n = table.num_rows
    if n == 0 or _ids_unique(table.column("txn_id")):
        return table, None, 0, 0
    counts = pc.value_counts(table.column("txn_id"))
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    in_dup = pc.is_in(table.column("txn_id"), value_set=repeated)
    dups = table.filter(in_dup)
    content = ["txn_id", *CONTENT_COLUMNS]
    dups = dups.append_column("_pos", pa.array(np.flatnonzero(_bool(in_dup)), pa.int64()))
    versions = dups.group_by(content, use_threads=False).aggregate([("_pos", "min")])
    per_id = versions.group_by("txn_id", use_threads=False).aggregate([("txn_id", "count")])
    conflicting = pc.filter(per_id.column("txn_id"), pc.greater(per_id.column("txn_id_count"), 1))
    keep_pos = pc.filter(versions.column("_pos_min"), pc.invert(pc.is_in(versions.column("txn_id"), value_set=conflicting)))
    drop = np.zeros(n, bool)
    drop[_bool(in_dup)] = True
    drop[keep_pos.to_numpy()] = False
    dropped = table.filter(pa.array(drop))
    is_conflict = _bool(pc.is_in(dropped.column("txn_id"), value_set=conflicting))
    reason = np.where(is_conflict, "conflicting_duplicate_id", "duplicate")
    files = [s.name for s in sources]
    file_idx = dropped.column("_file").to_numpy()
    row_idx = dropped.column("_row").to_numpy()
    if options.on_bad_rows == "fail" and is_conflict.any():
        k = int(np.argmax(is_conflict))
        raise RejectLimitError(
            f"{files[file_idx[k]]}: record {row_idx[k]} shares its txn_id with a row of different content; "
            "stopping because --on-bad-rows fail"
        )
    raw = _source_records(sources, options, file_idx, row_idx)
    rejects = pa.table(
        {
            "source_file": pa.array([files[i] for i in dropped.column("_file").to_pylist()], pa.string()),
            "row_number": dropped.column("_row"),
            "reason": pa.array(reason.tolist(), pa.string()),
            "detail": pa.array(["txn_id"] * dropped.num_rows, pa.string()),
            "raw": pa.array(raw, pa.string()),
        },
        schema=REJECTS_SCHEMA,
    ).to_batches()
    merged = pa.Table.from_batches(rejects, schema=REJECTS_SCHEMA).combine_chunks().to_batches()
    return table.filter(pa.array(~drop)), (merged[0] if merged else None), int((~is_conflict).sum()), int(is_conflict.sum())


def _ids_unique(txn_id) -> bool:
    """Whether all ids differ: a 64-bit hash per id, sorted; only when two hashes meet is the
    exact (slower) count made, so a hash collision can never hide or invent a duplicate."""
    array = txn_id.combine_chunks() if isinstance(txn_id, pa.ChunkedArray) else txn_id
    data, offsets, valid = string_buffers(array)
    hashes = np.zeros(len(array), dtype=np.uint64)
    ids_kernel.hash_string_column(hashes, data, offsets, valid)
    if not ids_kernel.repeated(np.sort(hashes)):
        return True
    return pc.count_distinct(array).as_py() == len(array)


def _source_records(sources, options: ReadOptions, file_idx: np.ndarray, row_idx: np.ndarray) -> list[str]:
    """The source records at (file, record number) as JSON text, read again from their files
    (only the files that hold duplicates, and only when there are duplicates)."""
    from .validate import _jsonable
    import json

    found: dict[tuple[int, int], str] = {}
    for f in np.unique(file_idx):
        source = sources[f]
        wanted = np.sort(row_idx[file_idx == f])
        first = 1
        batches = (S.iter_csv(source, options, record_malformed=False) if source.kind == "csv"
                   else _batches(source, options, source.columns))
        for batch in batches:
            lo, hi = np.searchsorted(wanted, [first, first + len(batch)])
            if hi > lo:
                rows = python_rows(batch.take(pa.array(wanted[lo:hi] - first)))
                for number, row in zip(wanted[lo:hi], rows):
                    found[(int(f), int(number))] = json.dumps(row, default=_jsonable, ensure_ascii=False)
            first += len(batch)
    return [found[(int(f), int(r))] for f, r in zip(file_idx, row_idx)]


def _attribute_duplicates(files: list[FileReport], dup_rejects: pa.RecordBatch) -> None:
    by_name = {f.path: f for f in files}
    for name, reason in zip(dup_rejects.column("source_file").to_pylist(), dup_rejects.column("reason").to_pylist()):
        f = by_name[name]
        f.accepted -= 1
        if reason == "duplicate":
            f.duplicates += 1
        else:
            f.rejected += 1


def _bool(array) -> np.ndarray:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


def _sort(columns: dict[str, pa.ChunkedArray], threads: int) -> pa.Table:
    """A table sorted by (timestamp, txn_id), built from ``columns`` (which it empties).

    Input already in that order is not copied. Otherwise the columns are gathered on
    ``threads`` threads (the gather is bound by memory latency, so threads help), each source
    column released once gathered, so the old and the new table never both sit whole in
    memory.
    """
    n = len(columns["timestamp"])
    names = list(columns)
    if n < 2 or _is_sorted(columns["timestamp"], columns["txn_id"]):
        return pa.table({name: _one_chunk(columns.pop(name)) for name in names})
    order = pc.sort_indices(pa.table({"timestamp": columns["timestamp"], "txn_id": columns["txn_id"]}),
                            sort_keys=SORT_KEYS)

    def gather(name):
        return name, _one_chunk(columns.pop(name).take(order))

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="flowscan-sort") as pool:
        out = dict(pool.map(gather, names))
    return pa.table({name: out[name] for name in names})


def _one_chunk(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` as a single chunk, when its values fit one array (text under 2 GiB).

    Rules take scattered rows of the ledger (evidence, instance ids); pyarrow's ``take`` on a
    column of many chunks concatenates them first, every time, so one chunk per column makes
    each take cost the rows it takes rather than the whole column."""
    if column.num_chunks <= 1:
        return column
    if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
        if sum(chunk.buffers()[2].size for chunk in column.chunks if chunk.buffers()[2] is not None) >= 2**31 - 1:
            return column  # 32-bit offsets: too much text for one array
    try:
        return pa.chunked_array([column.combine_chunks()], type=column.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # chunks that cannot be joined: kept as they are
        return column


def _is_sorted(timestamp: pa.ChunkedArray, txn_id: pa.ChunkedArray) -> bool:
    ts = timestamp.cast(pa.int64()).to_numpy()
    step = np.diff(ts)
    if (step < 0).any():
        return False
    ties = np.flatnonzero(step == 0)
    if len(ties) == 0:
        return True
    left = pc.take(txn_id, pa.array(ties))
    right = pc.take(txn_id, pa.array(ties + 1))
    return not _bool(pc.greater(left, right)).any()


def _labels(table: pa.Table, label_cols: list[str]) -> pa.Table:
    n = table.num_rows
    columns = {"txn_id": table.column("txn_id")}
    for name in ("is_laundering", "typology", "alert_id"):
        key = f"_label_{name}"
        kind = pa.bool_() if name == "is_laundering" else pa.string()
        columns[name] = table.column(key) if key in label_cols else pa.nulls(n, kind)
    return pa.table(columns).cast(LABEL_SCHEMA)


# -- writing ---------------------------------------------------------------------------------


def temporary_beside(path: Path) -> Path:
    """A new empty temporary file in ``path``'s folder, with the mode a plain open() gives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the mode a plain open() would give, not mkstemp's 0600
    return Path(tmp)


def write_parquet_atomic(tables: dict[Path, pa.Table]) -> None:
    """Write each table to its path with page checksums: all of them to temporary files
    first, then renamed into place, so a failure leaves no output that looks complete."""
    temps: dict[Path, Path] = {}
    try:
        for path, table in tables.items():
            temps[path] = temporary_beside(Path(path))
            pq.write_table(table, temps[path], compression="zstd", write_page_checksum=True, write_statistics=True)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def rejects_path_for(out: Path) -> Path:
    """``ledger.parquet`` -> ``ledger.rejects.parquet``."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".parquet") + ".rejects.parquet")


def labels_path_for(out: Path) -> Path:
    out = Path(out)
    return out.with_name(out.name.removesuffix(".parquet") + ".labels.parquet")


def write_ledger(result: LedgerRead, out: str | Path, *, rejects: str | Path | None = None) -> dict[str, Path]:
    """Write the canonical ledger, its rejects and (if any) its labels beside it.

    Every file goes through a temporary file first; nothing is written until the whole
    read has succeeded. Returns the paths written.
    """
    out = Path(out)
    written = {"ledger": out, "rejects": Path(rejects) if rejects else rejects_path_for(out)}
    tables = {written["ledger"]: result.ledger, written["rejects"]: result.rejects}
    if result.labels is not None:
        written["labels"] = labels_path_for(out)
        tables[written["labels"]] = result.labels
    write_parquet_atomic(tables)
    return written
