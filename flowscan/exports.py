"""Case-manager exports of a run: alerts and evidence as JSON Lines or CSV.

``flowscan scan ... --export jsonl --export csv`` (``write_run(..., exports=("jsonl", "csv"))``)
writes ``alerts.jsonl`` / ``alerts.csv`` and ``evidence.jsonl`` / ``evidence.csv`` beside the
Parquet files, inside the same atomic staging directory, and lists them in the manifest's
``outputs`` with their SHA-256. The rows and columns are those of ``alerts.parquet`` and
``evidence.parquet``, in the same order; the evidence files add ``amount_major``, the amount
in major units as exact decimal text (``"1234.56"`` for 123456 minor units of USD), because a
case manager reads dollars, not cents.

Values, in both formats: timestamps as ISO 8601 text in UTC (``2024-03-01T10:13:59+00:00``);
null (and a NaN or infinite float) as JSON ``null`` / an empty CSV cell; floats as Python's shortest round-trip text.

JSON Lines
    One JSON object per line, keys in column order, UTF-8, ``\\n`` after each line. Lists and
    structs stay nested, so ``json.loads`` of a line gives back the row.
CSV
    RFC 4180: a header row, every cell in double quotes, ``\\r\\n`` line ends, UTF-8 without a
    byte-order mark. Nested columns (``scenarios``, ``typologies``, ``reasons``,
    ``instance_ids``, ``top_features``) are JSON text in one cell: unambiguous whatever the ids
    contain, and parseable again. Booleans are ``true`` / ``false``.

CSV injection (OWASP "CSV Injection"): a spreadsheet runs a cell that starts with ``=``, ``+``,
``-`` or ``@`` (and some also one starting with a tab or a carriage return) as a formula, and
account and transaction ids are whatever the source system allowed. Every *text* cell that
starts with one of those characters gets a single quote ``'`` in front, so
``=cmd|' /C calc'!A0`` is written as ``'=cmd|' /C calc'!A0``. Numeric cells are written by
flowscan itself and are never escaped (``-2.5`` stays a number). The JSON Lines files are data,
not spreadsheets, and are never escaped.

The same tables give byte-identical files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from .currency import MINOR_DIGITS

FORMATS = ("jsonl", "csv")
"""Export formats, as ``--export`` takes them."""

EXPORTED = ("alerts", "evidence")
"""Tables exported."""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP)."""


def escape_cell(text: str) -> str:
    """``text`` with a single quote in front when it starts with a formula character."""
    return "'" + text if text.startswith(FORMULA_START) else text


def major_units(amount: int | None, currency: str | None) -> str | None:
    """Exact decimal text of ``amount`` minor units in ``currency`` (None when either is null
    or the currency is unknown)."""
    if amount is None or currency is None or currency not in MINOR_DIGITS:
        return None
    digits = MINOR_DIGITS[currency]
    return str(Decimal(int(amount)).scaleb(-digits)) if digits else str(int(amount))


def _plain(value):
    """A JSON-able value: timestamps to ISO text, nested values recursively."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _rows(name: str, table: pa.Table) -> list[dict]:
    rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]
    if name == "evidence":
        for row in rows:
            amount_major = major_units(row.get("amount"), row.get("currency"))
            keys = list(row)
            at = keys.index("amount") + 1 if "amount" in keys else len(keys)
            items = list(row.items())
            items.insert(at, ("amount_major", amount_major))
            row.clear()
            row.update(items)
    return rows


def _columns(name: str, table: pa.Table) -> list[str]:
    columns = list(table.column_names)
    if name == "evidence":
        at = columns.index("amount") + 1 if "amount" in columns else len(columns)
        columns.insert(at, "amount_major")
    return columns


def to_jsonl(name: str, table: pa.Table, /) -> bytes:
    """The JSON Lines bytes of one exported table."""
    lines = [json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n" for row in _rows(name, table)]
    return "".join(lines).encode("utf-8")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, dict)):
        return escape_cell(json.dumps(value, ensure_ascii=False, allow_nan=False))
    return escape_cell(str(value))


def to_csv(name: str, table: pa.Table, /) -> bytes:
    """The CSV bytes of one exported table (text cells escaped against formula injection)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    columns = _columns(name, table)
    writer.writerow([escape_cell(c) for c in columns])
    for row in _rows(name, table):
        writer.writerow([_cell(row[c]) for c in columns])
    return buffer.getvalue().encode("utf-8")


WRITERS = {"jsonl": to_jsonl, "csv": to_csv}


def check_formats(formats, /) -> tuple[str, ...]:
    """The formats, deduplicated in :data:`FORMATS` order; ValueError names an unknown one."""
    from .errors import ConfigError

    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise ConfigError(f"--export takes {' or '.join(FORMATS)}. Got {unknown[0]!r} instead.")
    return tuple(f for f in FORMATS if f in formats)


def write_exports(tables, directory, /, *, formats=FORMATS) -> dict[str, Path]:
    """Write ``alerts`` and ``evidence`` of ``tables`` into ``directory`` in each format.

    Returns
    -------
    dict of file name to path
        In a fixed order: per format of :data:`FORMATS`, alerts then evidence.
    """
    directory = Path(directory)
    written = {}
    for fmt in check_formats(formats):
        for name in EXPORTED:
            if name not in tables:
                continue
            path = directory / f"{name}.{fmt}"
            path.write_bytes(WRITERS[fmt](name, tables[name]))
            written[path.name] = path
    return written
