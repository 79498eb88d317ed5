"""Fuzz target: timestamp parsing (:func:`flowscan.validate.parse_timestamps`, the integer
steps of AMLSim and PaySim, and the ISO 8601 instants of the read options).

The fuzzer's bytes choose the read options' time zone (any IANA zone Python knows, and a few
names that are not zones) and timestamp format (ISO 8601, the presets' layouts, or one built
from strptime directives, invalid ones included) and a column of values: text (ISO 8601 with
odd fields, offsets and fractions, or arbitrary), or Arrow timestamps and dates of any unit
holding any 64-bit value; or a column of steps with a step unit and origin; or the text of
``valid_from``, ``valid_until`` and ``step_origin``.

Only flowscan's own errors may escape. Where a value is accepted it must be right: the
results have one entry per row, a row is parsed, failed or naive but never two of these, and
a parsed value equals what Python's :mod:`datetime` reads from the same text (for ISO 8601
text and formats built of ``%Y %m %d %H %M %S``), the exact instant of an Arrow timestamp, or
``step_origin + step * step_unit`` — never a value that wrapped around 64 bits.

One input in seven reads a ledger table in memory (as from Parquet) with such timestamps and
integer or float amounts through :func:`flowscan.read_ledger`: rejects must quote
their raw records, and an accepted read must be well formed (``_harness.check_read``).

Run it longer with ``python tests/fuzz/fuzz_timestamps.py -max_total_time=600`` (libFuzzer flags).
"""

from __future__ import annotations

import re
import sys
import zoneinfo
from datetime import datetime, timezone

import atheris

import _harness as H

with H.instrumented_imports():
    import pyarrow as pa

    from flowscan.errors import FlowscanError
    from flowscan.ingest import read_ledger
    from flowscan.options import ReadOptions
    from flowscan.read.presets import _steps
    from flowscan.validate import parse_timestamps

ZONES = [None, "UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe"] + sorted(
    zoneinfo.available_timezones()) + ["posixrules", "localtime", "Factory", "UTC0", "", "../UTC", "EST5EDT"]
FORMATS = [None, None, None, "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%d.%m.%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z",
           "%m/%d/%Y %I:%M %p", "%Y%m%d", "%s", "%d %b %Y %H:%M", "built"]
DIRECTIVES = ["%Y", "%m", "%d", "%H", "%M", "%S", "%y", "%b", "%p", "%I", "%z", "%Z", "%j", "%%", "%f", "%e", "%",
              "%Q", "-", "/", " ", ":", "T", "."]
PLAIN = re.compile(r"^(%[YmdHMS]|[-/ :T.])+$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:\d{2})?$")
UNITS = ["s", "ms", "us", "ns"]
PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
STEP_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400}
INT64 = (-(2 ** 63), 2 ** 63 - 1)
YEARS = (-62_135_596_800 * 10**6, 253_402_300_800 * 10**6 - 1)
"""Microseconds of the first and the last instant of the years 1 to 9999."""
LOCAL_RULES_END = 2038
"""Arrow's time-zone rules (pyarrow 23) stop at 2037: it puts a local time of 2038 or later in
a daylight-saving zone one hour off what the zone's rules (and Python's zoneinfo) say. Known
and reported; local times from then on are not compared."""


def two(fdp, hi: int) -> str:
    return f"{fdp.ConsumeIntInRange(0, hi):02d}"


def iso_text(fdp) -> str:
    """ISO 8601-looking text with fields at and past their limits."""
    year = H.pick(fdp, [fdp.ConsumeIntInRange(0, 10000), 1, 9999, 0])  # and the calendar's edges
    date = f"{year:04d}-{two(fdp, 13)}-{two(fdp, 32)}"
    if fdp.ConsumeIntInRange(0, 5) == 0:
        return date
    clock = f"{H.pick(fdp, ['T', ' ', 't'])}{two(fdp, 25)}:{two(fdp, 61)}"
    if fdp.ConsumeBool():
        clock += f":{two(fdp, 61)}"
        if fdp.ConsumeIntInRange(0, 3) == 0:
            clock += "." + "".join(str(fdp.ConsumeIntInRange(0, 9)) for _ in range(fdp.ConsumeIntInRange(0, 10)))
    zone = H.pick(fdp, ["", "", "Z", "z", f"+{two(fdp, 25)}:{two(fdp, 61)}", f"-{two(fdp, 25)}{two(fdp, 61)}",
                        f"+{two(fdp, 25)}", " ", "UTC"])
    return date + clock + zone


def format_text(fdp, fmt: str) -> str:
    """Text for ``fmt``: the format applied to a datetime, or a near miss of that."""
    moment = datetime(fdp.ConsumeIntInRange(1, 9999), fdp.ConsumeIntInRange(1, 12), fdp.ConsumeIntInRange(1, 28),
                      fdp.ConsumeIntInRange(0, 23), fdp.ConsumeIntInRange(0, 59), fdp.ConsumeIntInRange(0, 59))
    try:
        text = moment.strftime(fmt)
    except ValueError:
        return H.text(fdp)
    if fdp.ConsumeIntInRange(0, 3) == 0 and text:  # one character changed: 30 February, 24:00, ...
        i = fdp.ConsumeIntInRange(0, len(text) - 1)
        text = text[:i] + H.pick(fdp, ["0", "1", "2", "3", "9", "", " ", "-"]) + text[i + 1:]
    return text


def chosen_format(fdp):
    fmt = H.pick(fdp, FORMATS)
    if fmt == "built":
        fmt = "".join(H.pick(fdp, DIRECTIVES) for _ in range(fdp.ConsumeIntInRange(1, 8)))
    return fmt


# -- references ------------------------------------------------------------------------------


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, exactly."""
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def reference(text: str, fmt: str | None, zone: str | None):
    """What Python's datetime reads: ("instant", micros), ("naive", None), ("bad", None), or
    None where it is not a reference (text or format outside the checked subset)."""
    if not text.isascii() or text != text.strip() or re.search(r"(^|\D)0000(\D|$)", text):
        return None  # year 0000: read by Arrow (1 BC), then rejected as out of range, by decision
    try:
        if fmt is None:
            if not ISO.match(text):
                return None
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            if not (PLAIN.match(fmt) and all(fmt.count(d) == 1 for d in ("%Y", "%m", "%d"))):
                return None
            moment = datetime.strptime(text, fmt)
    except ValueError:
        return "bad", None
    if moment.tzinfo is None:
        if zone is None:
            return "naive", None
        if moment.year >= LOCAL_RULES_END:
            return None
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    try:
        return "instant", micros(moment)
    except OverflowError:
        return None


# -- checks ----------------------------------------------------------------------------------


def check_shape(n: int, values, failed, naive, ambiguous) -> None:
    assert len(values) == n and len(failed) == n and len(naive) == n and len(ambiguous) == n
    assert values.type == pa.timestamp("us", tz="UTC"), values.type
    assert not (failed & naive).any(), "a row both failed and naive"
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    assert not (valid & failed).any(), "a failed row has a value"
    assert not (valid & naive).any(), "a naive row has a value"


def check_text(texts: list, fmt, zone, result) -> None:
    values, failed, naive, ambiguous = result
    got = values.cast(pa.int64()).to_pylist()
    for i, text in enumerate(texts):
        present = text is not None and text.strip() != ""
        if present:
            assert got[i] is not None or failed[i] or naive[i], f"row {i} ({text!r}) neither parsed, failed nor naive"
        else:
            assert got[i] is None and not failed[i] and not naive[i], f"an empty row {i} got a verdict"
        expected = reference(text, fmt, zone) if present else None
        if expected is None or ambiguous[i]:
            continue
        kind, value = expected
        if kind == "instant" and got[i] is not None:
            assert got[i] == value, f"{text!r} ({fmt}, {zone}) read as {got[i]} µs, datetime says {value}"
        elif kind == "bad":  # but year 0000, which Arrow reads (1 BC): rejected as out of range, by decision
            assert got[i] is None or got[i] < YEARS[0] + 86_400 * 10**6, \
                f"{text!r} ({fmt}) accepted ({got[i]} µs) but datetime cannot read it"
        elif kind == "naive":
            assert got[i] is None, f"naive {text!r} accepted without a zone"


def check_exact(expected: list, values) -> None:
    """Each value equals the exact instant; an instant outside the years 1 to 9999 may be
    null or clamped to that side of them (outside every [valid_from, valid_until) either way),
    but never wrapped around 64 bits into them."""
    got = values.cast(pa.int64()).to_pylist()
    for want, have in zip(expected, got):
        if want is None:
            assert have is None, f"a value that is not an instant was read as {have} µs"
        elif want < YEARS[0]:
            assert have is None or have <= YEARS[0], f"{want} µs (before year 1) read as {have} µs"
        elif want > YEARS[1]:
            assert have is None or have >= YEARS[1] - 86_400 * 10**6, f"{want} µs (after 9999) read as {have} µs"
        else:
            assert have in (None, want), f"read as {have} µs, the exact instant is {want} µs"


# -- the target ------------------------------------------------------------------------------


def fuzz_text(fdp, options) -> None:
    fmt = options.timestamp_format
    texts = []
    for _ in range(fdp.ConsumeIntInRange(1, 12)):
        kind = fdp.ConsumeIntInRange(0, 5)
        if kind == 0:
            texts.append(None)
        elif kind == 1:
            texts.append(H.text(fdp))
        else:
            texts.append(iso_text(fdp) if fmt is None or kind == 2 else format_text(fdp, fmt))
    array = pa.array(texts, pa.string())
    result = parse_timestamps(array, fmt, options.timezone)
    check_shape(len(texts), *result)
    check_text(texts, fmt, options.timezone, result)


def fuzz_typed(fdp, options) -> None:
    """Arrow timestamps (any unit, zoned or naive) and dates holding any value."""
    n = fdp.ConsumeIntInRange(1, 8)
    raw = [fdp.ConsumeIntInRange(*INT64) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(-10 ** 12, 10 ** 12)
           for _ in range(n)]
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 3:
        days = [v % 2 ** 32 - 2 ** 31 for v in raw]
        array = pa.array(days, pa.date32())
        exact = [d * 86_400_000_000 for d in days]
    else:
        unit = H.pick(fdp, UNITS)
        tz = "UTC" if kind == 0 else (H.pick(fdp, ["+05:30", "America/New_York"]) if kind == 1 else None)
        array = pa.array(raw, pa.timestamp(unit, tz=tz))
        exact = [v * 1_000_000 // PER_SECOND[unit] if unit != "ns" else int(v / 1000) for v in raw]
    result = parse_timestamps(array, options.timestamp_format, options.timezone)
    check_shape(n, *result)
    if array.type == pa.date32() and options.timezone is not None:
        return  # localised: the exact instant depends on the zone
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        values = result[0]
        if array.type.unit == "ns":  # sub-microsecond digits are dropped: no exact reference
            return
        check_exact(exact, values)


def fuzz_steps(fdp, options) -> None:
    texts = [H.pick(fdp, [str(fdp.ConsumeIntInRange(0, 10 ** 10)), "999999999", "000000001", " 5", "-1", "1e3",
                          H.text(fdp, 10)]) for _ in range(fdp.ConsumeIntInRange(1, 8))]
    unit = H.pick(fdp, list(STEP_SECONDS))
    values = _steps(pa.array(texts, pa.string()), options, unit)
    assert len(values) == len(texts) and values.type == pa.timestamp("us", tz="UTC")
    origin = micros(options.instant("step_origin"))
    seconds = options.step_seconds(unit)
    exact = [origin + int(t.strip()) * seconds * 1_000_000 if re.fullmatch(r"[0-9]{1,9}", t.strip()) else None
             for t in texts]
    check_exact(exact, values)  # text that is not a step of 1 to 9 digits must be null too


def fuzz_table(fdp, options) -> None:
    """A ledger in memory (as from Parquet) whose timestamp column is any Arrow timestamp or
    date type holding any value, and whose amounts are integers or floats, through
    :func:`read_ledger`: it rejects what it cannot place (and quotes the raw record), and an
    accepted read is well formed."""
    n = fdp.ConsumeIntInRange(1, 6)
    unit = H.pick(fdp, UNITS + ["date32"])
    kind = pa.date32() if unit == "date32" else pa.timestamp(unit, tz=H.pick(fdp, ["UTC", None, "+01:00"]))
    low, high = (-(2 ** 31), 2 ** 31 - 1) if unit == "date32" else INT64
    plausible = (lambda: fdp.ConsumeIntInRange(0, 50_000)) if unit == "date32" else (  # noqa: E731
        lambda: fdp.ConsumeIntInRange(0, 4 * 10 ** 9) * PER_SECOND[unit])  # up to 2096
    stamps = [fdp.ConsumeIntInRange(low, high) if fdp.ConsumeBool() else plausible() for _ in range(n)]
    amounts = H.pick(fdp, [
        pa.array([fdp.ConsumeIntInRange(*INT64) for _ in range(n)], pa.int64()),
        pa.array([fdp.ConsumeIntInRange(0, 2 ** 64 - 1) for _ in range(n)], pa.uint64()),
        pa.array([fdp.ConsumeFloat() for _ in range(n)], pa.float64()),
    ])
    table = pa.table({
        "txn_id": [f"T{fdp.ConsumeIntInRange(0, 3)}" for _ in range(n)],
        "timestamp": pa.array(stamps, kind),
        "sender": ["S"] * n, "receiver": [f"R{i}" for i in range(n)], "amount": amounts,
        "currency": [H.pick(fdp, ["USD", "BHD", "XBT", "JPY", "XXX"]) for _ in range(n)],
        "booked": pa.array(stamps, kind),  # an extra column, quoted in the raw records of rejects
    })
    options = options.replace(max_reject_rate=1.0, threads=1, negative_amounts=H.pick(fdp, ["reject", "reversal"]))
    H.check_read(read_ledger(table, options=options), options)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    what = fdp.ConsumeIntInRange(0, 6)
    try:
        if what == 6:
            fuzz_table(fdp, ReadOptions(timezone=H.pick(fdp, [None, "UTC", "America/New_York"])))
            return
        if what == 5:  # the instants of the read options, as text
            instants = {name: H.pick(fdp, [iso_text(fdp), H.text(fdp)]) for name in
                        ("valid_from", "valid_until", "step_origin") if fdp.ConsumeBool()}
            ReadOptions(**instants)
            return
        options = ReadOptions(timezone=H.pick(fdp, ZONES), timestamp_format=chosen_format(fdp),
                              step_unit=H.pick(fdp, [None, "s", "min", "h", "d"]),
                              step_origin=H.pick(fdp, ["2017-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
                                                       "9999-12-31T23:59:59Z", "1970-01-01T00:00:00+14:00"]))
        if what <= 2:
            fuzz_text(fdp, options)
        elif what == 3:
            fuzz_typed(fdp, options)
        else:
            fuzz_steps(fdp, options)
    except FlowscanError as error:
        H.check_message(error)


def seeds() -> list[bytes]:
    return [bytes([i]) + bytes(range(i, 256)) for i in range(0, 60, 6)]


if __name__ == "__main__":
    H.main(TestOneInput, seeds())
    sys.exit(0)
