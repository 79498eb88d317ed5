"""Row checks: staged source rows become canonical rows or rejects with a reason code.

Every row read ends in exactly one place: accepted, rejected (with a reason), or dropped as
an exact duplicate of an accepted row; ``read = accepted + rejected + duplicates``.
A row gets the first reason that applies, in the order of :data:`REASONS`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .currency import normalize_currency
from .errors import DataError, RejectLimitError
from .kernels import parse as parse_kernel
from .options import ReadOptions
from .read.presets import GENERIC_CHANNELS, Staged
from .schema import CANONICAL_SCHEMA, CHANNELS, OPTIONAL_TEXT, REJECTS_SCHEMA, TIMESTAMP_TYPE

REASONS: dict[str, str] = {
    "malformed_row": "the record does not have the header's number of fields",
    "missing_field": "a required field (timestamp, amount, currency, or both sender and receiver) is empty",
    "empty_id": "the transaction id is empty",
    "overlong_id": "an id (txn_id, sender, receiver) is longer than max_id_length",
    "bad_timestamp": "the timestamp cannot be parsed with the declared format",
    "naive_timestamp": "the timestamp has no zone and no source zone was declared (--tz)",
    "ambiguous_local_time": "the local time falls in a daylight-saving change (repeated or skipped hour)",
    "timestamp_out_of_range": "the timestamp is outside [valid_from, valid_until)",
    "unknown_currency": "the currency is not an ISO 4217 code with minor units",
    "bad_amount": "the amount is not a number (text, NaN or infinite)",
    "amount_precision": "the amount has more decimals than the currency has (amount_rounding=reject)",
    "absurd_amount": "the amount is above max_amount",
    "negative_amount": "the amount is negative (negative_amounts=reject)",
    "conflicting_duplicate_id": "the txn_id is shared by rows with different content (all of them rejected)",
    "duplicate": "an exact duplicate of an accepted row (same txn_id and content), dropped",
}
"""Reason codes written to the rejects file, with their meaning."""

_CODE = {name: i + 1 for i, name in enumerate(REASONS)}
_NAME = {i: name for name, i in _CODE.items()}

_ISO_AWARE = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M%z")
_ISO_NAIVE = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_ZONE_SUFFIX = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
_EMPTY_STRING = pa.scalar(None, pa.string())
_EPOCH = datetime(1970, 1, 1)
_INT64_MAX = np.iinfo(np.int64).max


def string_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data bytes, int64 offsets, validity) of an Arrow string array, without copying the
    data; offsets are rebased for sliced arrays."""
    if pa.types.is_string(array.type):
        width = np.int32
    elif pa.types.is_large_string(array.type):
        width = np.int64
    else:
        raise TypeError(f"expected a string array, got {array.type}")
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=width)[array.offset : array.offset + len(array) + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    valid = array.is_valid().to_numpy(zero_copy_only=False) if array.null_count else np.ones(len(array), bool)
    return data, offsets, valid


def _np(mask) -> np.ndarray:
    """A boolean Arrow array as a NumPy bool array, null read as False."""
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _clean_text(array: pa.Array | None, n: int) -> pa.Array:
    """Text trimmed of surrounding white space; empty becomes null; a missing column is all null."""
    if array is None:
        return pa.nulls(n, pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    trimmed = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(trimmed, ""), _EMPTY_STRING, trimmed)


class _Verdict:
    """The first reason that applies to each row of a batch, in the order of REASONS
    (whatever order the checks run in)."""

    def __init__(self, n: int):
        self.n = n
        self.marks: list[tuple[int, int, np.ndarray, str | None]] = []

    def mark(self, mask: np.ndarray, reason: str, detail: str | None = None) -> None:
        if mask.any():
            self.marks.append((_CODE[reason], len(self.marks), mask, detail))

    def resolve(self) -> tuple[np.ndarray, np.ndarray]:
        code = np.zeros(self.n, dtype=np.int8)
        detail = np.full(self.n, None, dtype=object)
        for reason, _, mask, text in sorted(self.marks, key=lambda m: (m[0], m[1])):
            hit = mask & (code == 0)
            code[hit] = reason
            if text is not None:
                detail[hit] = text
        return code, detail


# -- timestamps ------------------------------------------------------------------------------


def strptime_strict(text: pa.Array, fmt: str) -> pa.Array:
    """``pc.strptime`` without its silent normalisation of impossible dates.

    Arrow's strptime reads ``2024-02-30`` as 1 March. Each parsed value is formatted back;
    rows that do not round-trip (impossible dates, but also unpadded fields such as
    ``2024-3-1``) are parsed again, strictly, by Python's ``datetime.strptime``.
    """
    parsed = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
    seconds_type = pa.timestamp("s", tz=parsed.type.tz)
    try:
        back = pc.strftime(parsed.cast(seconds_type, safe=False), format=fmt)
        suspect = _np(pc.not_equal(back, text))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a format Arrow cannot write back (%Z, naive)
        suspect = _np(text.is_valid())
    if not suspect.any():
        return parsed
    idx = np.flatnonzero(suspect)
    fixed = []
    zoned = parsed.type.tz is not None
    for value in pc.take(text, pa.array(idx)).to_pylist():
        try:
            moment = _strptime_python(value, fmt, zoned)
        except (ValueError, TypeError, OverflowError, re.error):
            # re.error: a format that repeats a directive; OverflowError: a time in year 1 or
            # 9999 that its offset moves off the calendar
            moment = None
        fixed.append(None if moment is None else int((moment - _EPOCH).total_seconds()) * 1_000_000 + moment.microsecond)
    micros = pc.fill_null(parsed.cast(pa.int64()), 0).to_numpy(zero_copy_only=False).copy()
    valid = _np(parsed.is_valid()).copy()
    for i, value in zip(idx, fixed):
        valid[i] = value is not None
        micros[i] = value or 0
    return pa.array(micros, pa.int64(), mask=~valid).cast(parsed.type)


def _strptime_python(value: str, fmt: str, zoned: bool) -> datetime | None:
    """``value`` read strictly by Python's strptime, as a naive UTC datetime when ``zoned``
    (the format has an offset), naive as it is otherwise; None when the value has an offset
    and the format none, or the reverse."""
    moment = datetime.strptime(value, fmt)
    if (moment.tzinfo is not None) != zoned:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if zoned else moment


def _strptime_any(text: pa.Array, formats) -> pa.Array:
    result = strptime_strict(text, formats[0])
    for fmt in formats[1:]:
        if result.null_count == text.null_count:
            break
        result = pc.coalesce(result, strptime_strict(text, fmt))
    return result


def _localize(naive: pa.Array, zone: str) -> tuple[pa.Array, np.ndarray]:
    """Naive wall-clock times in ``zone`` to UTC, and the rows whose local time is ambiguous
    or does not exist (a daylight-saving change)."""
    early = pc.assume_timezone(naive, timezone=zone, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(naive, timezone=zone, ambiguous="latest", nonexistent="latest")
    ambiguous = _np(pc.not_equal(early, late))
    return early.cast(TIMESTAMP_TYPE), ambiguous


_MICROS_RANGE = (-62_135_596_800 * 10**6, 253_402_300_800 * 10**6 - 1)
"""Microseconds of 0001-01-01 and of the end of 9999-12-31 (UTC): the instants a datetime can
hold, and so every valid_from and valid_until."""
_MICROS_PER = {"s": 10**6, "ms": 10**3, "us": 1, "date32": 86_400 * 10**6, "date64": 10**3}


def _in_microseconds(array: pa.Array) -> pa.Array:
    """Arrow timestamps (any unit) or dates as timestamps in microseconds (same zone, if any).

    Values beyond the years 1 to 9999 are clamped to them, which keeps them outside every
    ``[valid_from, valid_until)``, instead of failing the cast or wrapping around 64 bits
    (a corrupt or far-off value in a Parquet file)."""
    t = array.type
    unit = t.unit if pa.types.is_timestamp(t) else str(t).split("[")[0]
    target = pa.timestamp("us", tz=t.tz if pa.types.is_timestamp(t) else None)
    if unit == "ns":  # dividing cannot overflow; sub-microsecond digits are dropped
        return array.cast(target, safe=False)
    factor = _MICROS_PER[unit]
    raw = pc.fill_null(array.cast(pa.int64() if unit != "date32" else pa.int32()), 0)
    raw = raw.to_numpy(zero_copy_only=False).astype(np.int64)
    micros = np.clip(raw, _MICROS_RANGE[0] // factor, _MICROS_RANGE[1] // factor) * factor
    return pa.array(micros, pa.int64(), mask=~_np(array.is_valid())).cast(target)


def parse_timestamps(array: pa.Array, fmt: str | None, zone: str | None):
    """Source timestamps to UTC microseconds.

    Returns
    -------
    values : pyarrow timestamp[us, UTC] array, null where a row failed
    failed, naive_undeclared, ambiguous : ndarray of bool
        Rows that could not be parsed, rows with no zone when none was declared, rows whose
        local time is ambiguous or skipped.
    """
    n = len(array)
    none = np.zeros(n, bool)
    if pa.types.is_timestamp(array.type):
        if array.type.tz is not None:
            values = _in_microseconds(array).cast(TIMESTAMP_TYPE)
            return values, none, none, none
        if zone is None:
            return pa.nulls(n, TIMESTAMP_TYPE), none, _np(array.is_valid()), none
        values, ambiguous = _localize(_in_microseconds(array), zone)
        return values, none, none, ambiguous
    if pa.types.is_date(array.type):
        return parse_timestamps(_in_microseconds(array), None, zone)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise DataError(f"column 'timestamp' has type {array.type}; expected a timestamp or text")
    text = pc.utf8_trim_whitespace(array)
    present = _np(pc.and_(array.is_valid(), pc.not_equal(text, "")))
    if fmt is not None:
        parsed = strptime_strict(text, fmt)
        if parsed.type.tz is not None:
            values = parsed.cast(TIMESTAMP_TYPE)
            return values, present & ~_np(values.is_valid()), none, none
        failed = present & ~_np(parsed.is_valid())
        if zone is None:
            return pa.nulls(n, TIMESTAMP_TYPE), failed, present & ~failed, none
        values, ambiguous = _localize(parsed, zone)
        return values, failed, none, ambiguous
    # ISO 8601: rows with a zone suffix are instants; the others are wall-clock times.
    has_zone = pc.match_substring_regex(text, _ZONE_SUFFIX)
    aware_text = pc.if_else(has_zone, text, _EMPTY_STRING)
    naive_text = pc.if_else(has_zone, _EMPTY_STRING, text)
    try:
        aware = pc.cast(aware_text, TIMESTAMP_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        aware = _strptime_any(aware_text, _ISO_AWARE).cast(TIMESTAMP_TYPE)
    n_naive = len(naive_text) - naive_text.null_count
    naive_undeclared = none
    if n_naive == 0:
        values = aware
        ambiguous = none
    else:
        try:
            naive = pc.cast(naive_text, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            naive = _strptime_any(naive_text, _ISO_NAIVE)
        if zone is None:
            naive_undeclared = _np(naive.is_valid())
            values, ambiguous = aware, none
        else:
            local, ambiguous = _localize(naive, zone)
            values = pc.coalesce(aware, local)
    failed = present & ~_np(values.is_valid()) & ~naive_undeclared
    return values, failed, naive_undeclared, ambiguous


# -- amounts ---------------------------------------------------------------------------------


def parse_amounts(array: pa.Array, digits: np.ndarray, options: ReadOptions, is_minor: bool):
    """Source amounts to int64 minor units.

    Returns ``(values, status)`` with status codes of :mod:`flowscan.kernels.parse`.
    """
    n = len(array)
    t = array.type
    if pa.types.is_decimal(t):
        array, t = array.cast(pa.string()), pa.string()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        data, offsets, valid = string_buffers(array)
        scale = np.zeros(n, np.int8) if is_minor else digits
        scale = np.where(digits < 0, np.int8(-1), scale).astype(np.int8)
        mark = ord(options.thousands_mark) if options.thousands_mark else 0
        values, status = parse_kernel.parse_minor_units(
            data, offsets, valid, scale, ord(options.decimal_mark), mark, options.amount_rounding == "half-even"
        )
        return values, status
    status = np.zeros(n, np.uint8)
    valid = _np(array.is_valid())
    status[digits < 0] = parse_kernel.SKIPPED
    status[~valid] = parse_kernel.EMPTY
    if pa.types.is_integer(t):
        raw = pc.fill_null(array, 0).to_numpy(zero_copy_only=False)
        # magnitudes past int64: a uint64 above its maximum, and int64's minimum (whose
        # magnitude a reversal could not hold)
        over = raw > _INT64_MAX if raw.dtype == np.uint64 else raw == np.iinfo(np.int64).min
        raw = np.where(over, 0, raw).astype(np.int64)
        if not is_minor:
            factor = 10 ** np.clip(digits, 0, 18).astype(np.int64)  # int64 before the power, not int8
            limit = _INT64_MAX // factor
            over |= (raw > limit) | (raw < -limit)
        status[over & (status == 0)] = parse_kernel.OVERFLOW
        return (raw if is_minor else np.where(over, 0, raw * factor)), status
    if pa.types.is_floating(t):
        raw = pc.fill_null(array, 0).to_numpy(zero_copy_only=False).astype(np.float64)
        bad = ~np.isfinite(raw)
        status[bad & (status == 0)] = parse_kernel.NOT_A_NUMBER
        raw = np.where(bad, 0.0, raw)
        with np.errstate(over="ignore"):  # an overflow to infinity is caught just below
            scaled = raw if is_minor else raw * 10.0 ** np.clip(digits, 0, 18)
        big = np.abs(scaled) >= 9.2e18
        status[big & (status == 0)] = parse_kernel.OVERFLOW
        scaled = np.where(big, 0.0, scaled)
        rounded = np.rint(scaled)
        off = np.abs(scaled - rounded) > np.maximum(1e-6, 4 * np.spacing(scaled))
        if options.amount_rounding == "reject":
            status[off & (status == 0)] = parse_kernel.TOO_PRECISE
        return rounded.astype(np.int64), status
    raise DataError(f"column 'amount' has type {t}; expected a number, a decimal or text")


# -- channels --------------------------------------------------------------------------------


_CHANNEL_VALUES = pa.array(CHANNELS, pa.string())
_OTHER = CHANNELS.index("other")


def channel_codes(values: pa.Array) -> pa.DictionaryArray:
    """Canonical channel names to the canonical dictionary column (unknown names: other)."""
    pos = pc.fill_null(pc.index_in(values, value_set=_CHANNEL_VALUES), _OTHER)
    return pa.DictionaryArray.from_arrays(pos.cast(pa.int8()), _CHANNEL_VALUES)


def normalize_channel(raw: pa.Array, preset_map: dict[str, str], user_map, default: str) -> pa.DictionaryArray:
    """Source channel values to the canonical vocabulary (``other`` when unknown; ``default``
    when the source has no channel)."""
    table = {**GENERIC_CHANNELS, **{k.casefold(): v for k, v in preset_map.items()}, **dict(user_map)}
    keys = pa.array(list(table))
    codes = np.array([CHANNELS.index(v) for v in table.values()], dtype=np.int8)
    hit = pc.fill_null(pc.index_in(pc.utf8_lower(raw), value_set=keys), -1).to_numpy(zero_copy_only=False)
    missing = ~_np(raw.is_valid())
    out = np.where(hit >= 0, codes[np.maximum(hit, 0)], _OTHER).astype(np.int8)
    out[missing] = CHANNELS.index(default)
    return pa.DictionaryArray.from_arrays(pa.array(out), _CHANNEL_VALUES)


# -- one batch -------------------------------------------------------------------------------


def canonicalize(
    staged: Staged,
    options: ReadOptions,
    *,
    file_index: int,
    first_row: int,
    default_currency: str | None,
    default_channel: str,
) -> tuple[pa.RecordBatch, np.ndarray, np.ndarray]:
    """Check and convert one staged batch.

    Returns
    -------
    accepted : pyarrow.RecordBatch
        Canonical columns of the accepted rows, plus ``_file``, ``_row`` (provenance) and
        ``_label_*`` columns; ``txn_id`` is null where the source has none.
    codes : ndarray of int8
        The reason code of every row of the batch (0 = accepted).
    details : ndarray of object
        A short detail per rejected row (which field), None elsewhere.
    """
    cols = staged.columns
    n = len(staged.raw)
    verdict = _Verdict(n)
    generated = "txn_id" not in cols

    # ids
    if generated:
        txn_id = pa.nulls(n, pa.string())
    else:
        txn_id = _clean_text(cols["txn_id"], n)
        verdict.mark(~_np(txn_id.is_valid()), "empty_id", "txn_id")
        verdict.mark(_np(pc.greater(pc.utf8_length(txn_id), options.max_id_length)), "overlong_id", "txn_id")
    sender = _clean_text(cols.get("sender"), n)
    receiver = _clean_text(cols.get("receiver"), n)
    for name, ids in (("sender", sender), ("receiver", receiver)):
        verdict.mark(_np(pc.greater(pc.utf8_length(ids), options.max_id_length)), "overlong_id", name)

    # timestamps
    ts_values, ts_failed, ts_naive, ts_ambiguous = parse_timestamps(
        cols["timestamp"], options.timestamp_format or staged.timestamp_format, options.timezone or staged.naive_zone
    )
    ts_present = _np(cols["timestamp"].is_valid())
    if pa.types.is_string(cols["timestamp"].type):
        ts_present &= _np(pc.not_equal(pc.utf8_trim_whitespace(cols["timestamp"]), ""))
    verdict.mark(~ts_present, "missing_field", "timestamp")
    verdict.mark(ts_failed, "bad_timestamp")
    verdict.mark(ts_naive, "naive_timestamp")
    verdict.mark(ts_ambiguous, "ambiguous_local_time")
    micros = pc.fill_null(ts_values.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    lo = int(options.instant("valid_from").timestamp() * 1_000_000)
    hi = int(options.instant("valid_until").timestamp() * 1_000_000)
    verdict.mark(_np(ts_values.is_valid()) & ((micros < lo) | (micros >= hi)), "timestamp_out_of_range")

    verdict.mark(~_np(sender.is_valid()) & ~_np(receiver.is_valid()), "missing_field", "sender and receiver")

    # currency
    if "currency" in cols:
        currency_text = _clean_text(cols["currency"], n)
        verdict.mark(~_np(currency_text.is_valid()), "missing_field", "currency")
        currency, digits = normalize_currency(currency_text, staged.currency_aliases)
        verdict.mark(_np(currency_text.is_valid()) & (digits < 0), "unknown_currency")
    else:
        if default_currency is None:
            raise DataError("the source has no currency column; declare its currency with --currency (e.g. USD)")
        currency, digits = normalize_currency(pa.array([default_currency] * n, pa.string()))

    # amounts
    amount_col = cols["amount"]
    values, status = parse_amounts(amount_col, digits, options, staged.amount_is_minor)
    verdict.mark(status == parse_kernel.EMPTY, "missing_field", "amount")
    verdict.mark(status == parse_kernel.NOT_A_NUMBER, "bad_amount")
    verdict.mark(status == parse_kernel.TOO_PRECISE, "amount_precision")
    verdict.mark(status == parse_kernel.OVERFLOW, "absurd_amount")
    safe_digits = np.clip(digits, 0, 18).astype(np.int64)
    limit = np.minimum(
        np.float64(options.max_amount) * 10.0 ** safe_digits, np.float64(np.iinfo(np.int64).max)
    )
    verdict.mark((status == 0) & (np.abs(values.astype(np.float64)) > limit), "absurd_amount")
    negative = (status == 0) & (values < 0)
    swap = np.zeros(n, bool)
    if options.negative_amounts == "reject":
        verdict.mark(negative, "negative_amount")
    else:
        swap = negative
        values = np.abs(values)

    codes, details = verdict.resolve()
    ok = codes == 0
    if options.on_bad_rows == "fail" and not ok.all():
        first = int(np.argmin(ok))
        raise RejectLimitError(
            f"record {first_row + first} rejected ({_NAME[int(codes[first])]}); stopping because --on-bad-rows fail"
        )

    # canonical columns
    reversal = swap
    if "is_reversal" in cols:  # re-reading a canonical ledger: its reversals stay reversals
        reversal = swap | _np(cols["is_reversal"])
    if "txn_id_generated" in cols:
        generated_flags = _np(cols["txn_id_generated"])
    else:
        generated_flags = np.full(n, generated)
    if swap.any():
        rev = pa.array(swap)
        sender, receiver = pc.if_else(rev, receiver, sender), pc.if_else(rev, sender, receiver)
    channel_raw = _clean_text(cols.get("channel_raw"), n)
    if "channel" in cols:
        channel = channel_codes(_clean_text(cols["channel"], n))
    else:
        channel = normalize_channel(channel_raw, staged.channels, options.channel_map, default_channel)
    self_transfer = pc.fill_null(pc.equal(sender, receiver), False)
    out = {
        "txn_id": txn_id,
        "timestamp": ts_values,
        "sender": sender,
        "receiver": receiver,
        "amount": pa.array(values, pa.int64()),
        "currency": currency,
        "channel": channel,
        "channel_raw": channel_raw,
        **{name: _clean_text(cols.get(name), n) for name in OPTIONAL_TEXT},
        "is_self_transfer": self_transfer,
        "is_reversal": pa.array(reversal),
        "txn_id_generated": pa.array(generated_flags),
    }
    arrays = [out[name] for name in CANONICAL_SCHEMA.names]
    names = list(CANONICAL_SCHEMA.names)
    arrays += [pa.array(np.full(n, file_index, np.int32)), pa.array(np.arange(first_row, first_row + n, dtype=np.int64))]
    names += ["_file", "_row"]
    for key, array in staged.labels.items():
        arrays.append(array if key == "is_laundering" else _clean_text(array, n))
        names.append(f"_label_{key}")
    batch = pa.RecordBatch.from_arrays(arrays, names=names)
    if not ok.all():
        batch = batch.filter(pa.array(ok))
    return batch, codes, details


def reject_records(
    raw: pa.RecordBatch, codes: np.ndarray, details: np.ndarray, *, file_name: str, first_row: int
) -> pa.RecordBatch:
    """Rejects-file rows for the rejected rows of one source batch (raw values as JSON text)."""
    idx = np.flatnonzero(codes)
    rows = python_rows(raw.take(pa.array(idx))) if len(idx) else []
    return pa.RecordBatch.from_arrays(
        [
            pa.array([file_name] * len(idx), pa.string()),
            pa.array(first_row + idx, pa.int64()),
            pa.array([_NAME[int(c)] for c in codes[idx]], pa.string()),
            pa.array(details[idx].tolist(), pa.string()),
            pa.array([json.dumps(r, default=_jsonable, ensure_ascii=False) for r in rows], pa.string()),
        ],
        schema=REJECTS_SCHEMA,
    )


def python_rows(batch: pa.RecordBatch) -> list[dict]:
    """The rows of ``batch`` as dicts of Python values. A temporal value that Python's datetime
    cannot hold (a Parquet timestamp past the year 9999, a far-off date) is given as the integer
    Arrow stores, instead of failing with OverflowError."""
    try:
        return batch.to_pylist()
    except (OverflowError, ValueError):
        columns = [_python_values(column) for column in batch.columns]
        return [dict(zip(batch.schema.names, values)) for values in zip(*columns)]


def _python_values(array: pa.Array) -> list:
    try:
        return array.to_pylist()
    except (OverflowError, ValueError):
        t = array.type
        if pa.types.is_temporal(t):
            return array.cast(pa.int64() if t.bit_width == 64 else pa.int32()).to_pylist()
        return array.cast(pa.string()).to_pylist()


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def reason_name(code: int) -> str:
    return _NAME[code]
