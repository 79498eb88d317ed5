"""Files to record batches: Parquet (file, directory, hive-partitioned dataset), Arrow IPC
(file or stream, Feather v2) and CSV (plain or compressed), streamed in bounded batches; and
tables already in memory (a pyarrow Table, or any object with the Arrow PyCapsule stream
interface, such as a polars DataFrame or a DuckDB relation), read the same way as a file.

Every error that stops the reading of a file is turned into one :class:`CorruptFileError`
line naming the file; messages never quote the file's content.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..errors import CorruptFileError, DataError, RejectLimitError, SchemaMismatchError
from ..options import ReadOptions
from ..schema import CANONICAL_SCHEMA, SCHEMA_VERSION

PARQUET_EXT = (".parquet", ".parq", ".pq")
IPC_EXT = (".arrow", ".feather", ".ipc", ".arrows")
CSV_EXT = (".csv", ".tsv", ".csv.gz", ".csv.bz2", ".csv.zst", ".tsv.gz")


def kind_of(path: Path) -> str | None:
    """``parquet``, ``ipc`` or ``csv`` from the file name, or None."""
    name = path.name.lower()
    if name.endswith(PARQUET_EXT):
        return "parquet"
    if name.endswith(IPC_EXT):
        return "ipc"
    if name.endswith(CSV_EXT):
        return "csv"
    return None


@dataclass
class SourceFile:
    """One input file and what reading it found."""

    path: Path
    kind: str
    partition: dict[str, str] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    preset: str = ""
    rows_read: int = 0
    malformed: list[tuple[int | None, str]] = field(default_factory=list)
    table: pa.Table | None = None
    """The data of an in-memory source (kind ``"table"``); its ``path`` is only a name."""

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def size_bytes(self) -> int:
        return self.table.nbytes if self.table is not None else self.path.stat().st_size


def as_table(data) -> pa.Table | None:
    """An Arrow table from an in-memory data object, or None when ``data`` is not one (a path).

    Takes a pyarrow Table, RecordBatch or RecordBatchReader, or any object with the Arrow
    PyCapsule stream interface (``__arrow_c_stream__``: polars DataFrame, DuckDB relation,
    pandas 2.2+ DataFrame), which is read once, without importing its library.
    """
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data).read_all()
    return None


def expand(paths) -> list[SourceFile]:
    """Turn files and directories into a sorted list of source files.

    A directory is walked recursively; hidden files and files with no known extension are
    left out. ``key=value`` folder names (hive partitioning) become text columns of the
    files below them, so a partition value such as ``bank=010`` keeps its leading zero.
    An in-memory table (:func:`as_table`) becomes a source of kind ``"table"`` named
    ``<table N>``, in the order given.
    """
    found: list[SourceFile] = []
    tables = 0
    for raw in paths:
        table = as_table(raw)
        if table is not None:
            tables += 1
            found.append(SourceFile(Path(f"<table {tables}>"), "table", table=_plain_types(table)))
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and kind_of(p) and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
            )
            if not files:
                raise DataError(f"{path}: directory holds no Parquet, Arrow IPC or CSV file.")
            for file in files:
                partition = {}
                for part in file.relative_to(path).parts[:-1]:
                    if "=" in part:
                        key, value = part.split("=", 1)
                        partition[urllib.parse.unquote(key)] = urllib.parse.unquote(value)
                found.append(SourceFile(file, kind_of(file), partition))
        elif path.is_file():
            kind = kind_of(path)
            if kind is None:
                kind = _sniff_kind(path)
            found.append(SourceFile(path, kind))
        else:
            raise DataError(f"{path}: no such file or directory.")
    return found


def _plain_types(table: pa.Table) -> pa.Table:
    """Large and view strings (polars exports ``string_view``, and categoricals as dictionaries
    of them) as plain strings, so an in-memory table is checked exactly as the same rows in a
    Parquet file are."""
    for i, f in enumerate(table.schema):
        t = f.type
        if pa.types.is_dictionary(t) and _is_text(t.value_type):
            chunks = [pa.DictionaryArray.from_arrays(c.indices, c.dictionary.cast(pa.string())) for c in
                      table.column(i).chunks]
            column = pa.chunked_array(chunks, pa.dictionary(t.index_type, pa.string()))
        elif _is_text(t):
            column = table.column(i).cast(pa.string())
        else:
            continue
        table = table.set_column(i, f.with_type(column.type), column)
    meta = dict(table.schema.metadata or {})
    if set(CANONICAL_SCHEMA.names) <= set(table.column_names) and b"flowscan.schema" not in meta:
        # a canonical ledger that lost its schema metadata on the way through polars or DuckDB:
        # its amounts are minor units, as in the file it came from
        table = table.replace_schema_metadata({**meta, b"flowscan.schema": SCHEMA_VERSION.encode()})
    return table


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _sniff_kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or head[:4] == b"\xff\xff\xff\xff":
        return "ipc"
    return "csv"


def _short(error: Exception) -> str:
    """The first line of a library error, without anything quoted from the data."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = re.sub(r"(got \d+)\s*:.*$", r"\1", text)  # pyarrow CSV errors quote the row after ':'
    text = re.sub(r"'[^']*'", "'…'", text) if "conversion error" in text.lower() else text
    return text[:200]


# -- CSV -------------------------------------------------------------------------------------


def csv_header(source: SourceFile, options: ReadOptions) -> list[str]:
    """Column names from the first line, with repeated names made unique (``Account``,
    ``Account_2``) so that formats whose header repeats a name map by position."""
    try:
        with pa.input_stream(str(source.path), compression="detect") as stream:
            head = stream.read(1 << 16)
    except (OSError, pa.ArrowInvalid) as error:
        raise CorruptFileError(source.path, f"cannot open ({_short(error)})") from None
    line = head.split(b"\n", 1)[0] if b"\n" in head else head
    try:
        text = line.decode(options.encoding, errors="strict" if b"\n" in head or len(head) < (1 << 16) else "ignore")
    except UnicodeError:  # UnicodeDecodeError, or the bare UnicodeError of codecs such as punycode
        raise CorruptFileError(
            source.path, f"header is not valid {options.encoding} text; declare the file's encoding (--encoding)"
        ) from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise CorruptFileError(source.path, "empty file (no header line)")
    try:  # newline="": a bare CR (an old Mac export) ends the record instead of failing the csv module
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=options.delimiter))
    except csv.Error as error:
        raise CorruptFileError(source.path, f"header is not a CSV record ({_short(error)})") from None
    names, seen = [], {}
    for raw in first:
        name = raw.strip()
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def iter_csv(source: SourceFile, options: ReadOptions, *, record_malformed: bool = True) -> Iterator[pa.RecordBatch]:
    """Stream a CSV file as record batches of text columns.

    Parsing is single-threaded (flowscan checks batches on other threads meanwhile), which
    lets Arrow report the physical line number of every malformed row.

    Every column is read as text, so nothing is inferred (``010`` stays ``010``). Rows with
    the wrong number of fields are not fatal: they are kept in ``source.malformed`` as
    (line number, text) and reported as ``malformed_row`` rejects.
    """
    names = source.columns or csv_header(source, options)
    source.columns = names

    def on_invalid(row) -> str:
        if record_malformed:
            source.malformed.append((row.number, row.text or ""))
        return "error" if options.on_bad_rows == "fail" else "skip"

    read_options = pacsv.ReadOptions(
        column_names=names, skip_rows=1, encoding=options.encoding, block_size=1 << 22, use_threads=False
    )
    parse_options = pacsv.ParseOptions(
        delimiter=options.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
    )
    convert_options = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
    )
    try:
        stream = pa.input_stream(str(source.path), compression="detect")
        with _quiet_undecodable_rows(on_invalid):
            reader = pacsv.open_csv(stream, read_options=read_options, parse_options=parse_options,
                                    convert_options=convert_options)
        while True:
            try:
                with _quiet_undecodable_rows(on_invalid):
                    batch = reader.read_next_batch()
            except StopIteration:
                break
            yield batch
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeError) as error:
        if options.on_bad_rows == "fail" and source.malformed:
            line = source.malformed[-1][0]
            raise RejectLimitError(
                f"{source.path}: malformed record at line {line} (fields differ from the header's "
                f"{len(names)}); stopping because --on-bad-rows fail"
            ) from None
        message = _short(error)
        if "utf8" in message.lower() or "utf-8" in message.lower():
            message = f"invalid {options.encoding} text; declare the file's encoding (--encoding)"
        raise CorruptFileError(source.path, f"unreadable CSV ({message})") from None


@contextlib.contextmanager
def _quiet_undecodable_rows(handler):
    """Keep off stderr the traceback pyarrow prints when it cannot decode a malformed record's
    text for ``handler`` (not UTF-8): it then fails the read, which flowscan reports in one
    line; the ignored UnicodeDecodeError would otherwise come first, as 'Exception ignored'."""
    previous = sys.unraisablehook

    def hook(unraisable):
        if unraisable.object is not handler or not isinstance(unraisable.exc_value, UnicodeDecodeError):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


# -- Parquet and IPC -------------------------------------------------------------------------


def parquet_file(source: SourceFile) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(str(source.path), page_checksum_verification=True)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as error:
        raise CorruptFileError(source.path, f"not a readable Parquet file ({_short(error)})") from None


def file_schema(source: SourceFile) -> pa.Schema:
    """The schema stored in a Parquet or IPC file (reads only its footer or header), or of an
    in-memory table."""
    if source.table is not None:
        return source.table.schema
    if source.kind == "parquet":
        return parquet_file(source).schema_arrow
    try:
        with pa.memory_map(str(source.path)) as handle:
            try:
                return pa.ipc.open_file(handle).schema
            except pa.ArrowInvalid:
                handle.seek(0)
                return pa.ipc.open_stream(handle).schema
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(source.path, f"not a readable Arrow IPC file ({_short(error)})") from None


def iter_columnar(source: SourceFile, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Stream the named columns of a Parquet or IPC file (page checksums verified), or of an
    in-memory table."""
    if source.table is not None:
        yield from source.table.select(columns).to_batches(max_chunksize=batch_size)
        return
    try:
        if source.kind == "parquet":
            yield from parquet_file(source).iter_batches(batch_size=batch_size, columns=columns, use_threads=True)
            return
        with pa.memory_map(str(source.path)) as handle:
            try:
                reader = pa.ipc.open_file(handle)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            except pa.ArrowInvalid:
                handle.seek(0)
                batches = iter(pa.ipc.open_stream(handle))
            for batch in batches:
                yield batch.select(columns)
    except CorruptFileError:
        raise
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as error:
        what = "Parquet" if source.kind == "parquet" else "Arrow IPC"
        raise CorruptFileError(source.path, f"corrupt {what} data ({_short(error)})") from None


def check_same_types(sources: list[SourceFile], schemas: list[pa.Schema]) -> None:
    """Refuse a dataset whose files disagree on a column's type (never cast silently)."""
    first_seen: dict[str, tuple[pa.DataType, SourceFile]] = {}
    for source, schema in zip(sources, schemas):
        for f in schema:
            seen = first_seen.get(f.name)
            if seen is None:
                first_seen[f.name] = (f.type, source)
            elif not seen[0].equals(f.type):
                raise SchemaMismatchError(
                    f"{source.path}: column '{f.name}' is {f.type} here but {seen[0]} in {seen[1].path}; "
                    "the files of one dataset must agree on every column's type (convert them first)."
                )


def malformed_ordinals(source: SourceFile, options: ReadOptions):
    """Record numbers (from 1, all records counted) and first physical lines of the records
    whose number of fields differs from the header's, found by a second pass with Python's
    csv module.

    Arrow skips malformed records without saying where they sat among the good ones (and
    its line numbers drift after quoted newlines); this pass restores exact numbers. It runs
    only for files that have malformed records, and its answer is used only when it finds as
    many as Arrow did.

    Returns
    -------
    (records, lines) : two ndarrays of int64, or None
    """
    import numpy as np

    n_fields = len(source.columns)
    records, lines = [], []
    try:
        with pa.input_stream(str(source.path), compression="detect") as raw:
            text = io.TextIOWrapper(raw, encoding=options.encoding, errors="replace", newline="")
            reader = csv.reader(text, delimiter=options.delimiter)
            next(reader, None)
            record = 0
            last_line = reader.line_num
            for fields in reader:
                start_line = last_line + 1
                last_line = reader.line_num
                if not fields:
                    continue  # a blank line is no record (Arrow skips it too)
                record += 1
                if len(fields) != n_fields:
                    records.append(record)
                    lines.append(start_line)
    except (OSError, csv.Error, pa.ArrowException):
        return None
    if len(records) != len(source.malformed):
        return None
    return np.array(records, dtype=np.int64), np.array(lines, dtype=np.int64)
