"""Options for reading a ledger: one frozen dataclass built the same way by the library,
the command line (flags) and a TOML configuration file (its ``[read]`` table)."""

from __future__ import annotations

import codecs
import dataclasses
import tomllib
import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError, ConfigTypeError
from .params import printable
from .schema import CANONICAL_SCHEMA, CHANNELS

FORMATS = ("auto", "canonical", "parquet", "ipc", "csv", "amlworld", "amlsim", "amlsim-legacy", "saml-d", "paysim")
"""``auto`` detects the format from the file's extension and header; the others force it."""

MAPPABLE = tuple(
    n for n in CANONICAL_SCHEMA.names if n not in ("channel", "is_self_transfer", "is_reversal", "txn_id_generated")
)
"""Canonical columns a source column can be mapped to (``channel_raw`` is the source's channel)."""

_STEP_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400}


def _bad(name: str, expected: str, got: Any, kind: type[ConfigError] = ConfigError) -> ConfigError:
    return kind(f"The '{printable(name)}' option must be {expected}. Got {got!r} instead.")


def _check_arrow_zone(zone: str) -> None:
    """Raise ArrowInvalid (a ValueError) when Arrow cannot convert local times in ``zone``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pc.assume_timezone(pa.array([0], pa.timestamp("us")), timezone=zone)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_toml(path: str | Path, /, *, what: str = "configuration file") -> dict:
    """The parsed TOML document at ``path``; a missing or invalid file is a one-line
    :class:`ConfigError` naming it."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found.") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error}).") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text: byte {error.start + 1} cannot be "
                          "decoded).") from None


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How to read and validate a ledger.

    Parameters
    ----------
    format : str, default "auto"
        One of :data:`FORMATS`.
    columns : mapping of str to str
        Canonical column name to source column name, e.g. ``{"sender": "DebitAcct"}``.
        Source columns already named like canonical ones need no entry.
    timestamp_format : str or None
        A ``strptime`` format for text timestamps (``"%d/%m/%Y %H:%M"``). None means ISO 8601
        (``2024-01-31T13:45:00``, with or without a zone offset or ``Z``).
    timezone : str or None
        IANA zone of naive source timestamps (``"UTC"``, ``"America/New_York"``). Naive
        timestamps are never guessed: without it, a source with naive timestamps is refused.
    currency : str or None
        ISO 4217 code for sources with no currency column.
    delimiter, encoding, decimal_mark, thousands_mark : str
        CSV dialect. ``thousands_mark`` "" accepts no separator.
    amount_unit : {"major", "minor"}
        Whether integer or text source amounts are whole currency units (``12.50``) or minor
        units (``1250``). flowscan's own canonical files are always minor units.
    amount_rounding : {"reject", "half-even"}
        What to do with digits beyond the currency's precision (``12.345`` USD): reject the
        row (``amount_precision``) or round half to even.
    negative_amounts : {"reject", "reversal"}
        Reject negative amounts (``negative_amount``) or read them as reversals: sender and
        receiver swapped, the amount made positive, ``is_reversal`` set.
    on_bad_rows : {"reject", "fail"}
        Write bad rows to the rejects file and go on, or stop at the first one.
    max_reject_rate : float in [0, 1]
        Stop when more than this share of the rows read is rejected.
    max_amount : int
        Amounts above this many major units are rejected as ``absurd_amount``.
    max_id_length : int
        Longer ids (txn_id, sender, receiver) are rejected as ``overlong_id``.
    valid_from, valid_until : str
        ISO 8601 instants; timestamps outside ``[valid_from, valid_until)`` are rejected.
    step_origin : str
        For sources whose time is an integer step (AMLSim, PaySim): the instant of step 0.
    step_unit : {"s", "min", "h", "d"} or None
        Length of one step; None takes the preset's (AMLSim: d, PaySim: h).
    channel_map : mapping of str to str
        Extra source channel values (case-insensitive) to canonical channels.
    batch_size : int
        Rows per record batch while streaming.
    threads : int or None
        Batches checked at once (None: the machine's cores, at most 8). The result does not
        depend on it.
    """

    format: str = "auto"
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    timestamp_format: str | None = None
    timezone: str | None = None
    currency: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal_mark: str = "."
    thousands_mark: str = ""
    amount_unit: str = "major"
    amount_rounding: str = "reject"
    negative_amounts: str = "reject"
    on_bad_rows: str = "reject"
    max_reject_rate: float = 0.01
    max_amount: int = 10**12
    max_id_length: int = 128
    valid_from: str = "1970-01-01T00:00:00Z"
    valid_until: str = "2100-01-01T00:00:00Z"
    step_origin: str = "2017-01-01T00:00:00Z"
    step_unit: str | None = None
    channel_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    batch_size: int = 1 << 20
    threads: int | None = None

    def __post_init__(self):
        def choice(name, allowed):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise _bad(name, "one of " + ", ".join(map(repr, allowed)), value, ConfigTypeError)
            if value not in allowed:
                raise _bad(name, "one of " + ", ".join(map(repr, allowed)), value)

        choice("format", FORMATS)
        choice("amount_unit", ("major", "minor"))
        choice("amount_rounding", ("reject", "half-even"))
        choice("negative_amounts", ("reject", "reversal"))
        choice("on_bad_rows", ("reject", "fail"))
        if self.step_unit is not None:
            choice("step_unit", tuple(_STEP_UNITS))
        if not isinstance(self.columns, Mapping):
            raise _bad("columns", "a mapping of canonical column to source column", self.columns, ConfigTypeError)
        if not isinstance(self.channel_map, Mapping):
            raise _bad("channel_map", "a mapping of source channel to canonical channel", self.channel_map,
                       ConfigTypeError)
        for name in ("timestamp_format", "timezone", "currency"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise _bad(name, "a string or None", getattr(self, name), ConfigTypeError)
        for name in ("delimiter", "encoding", "decimal_mark", "thousands_mark"):
            if not isinstance(getattr(self, name), str):
                raise _bad(name, "a string", getattr(self, name), ConfigTypeError)
        for key, value in self.columns.items():
            if key not in MAPPABLE:
                raise _bad("columns", "keyed by canonical columns (" + ", ".join(MAPPABLE) + ")", key)
            if not isinstance(value, str) or not value:
                raise _bad(f"columns.{key}", "a source column name", value)
        for key, value in self.channel_map.items():
            if value not in CHANNELS:
                raise _bad(f"channel_map.{key}", "one of " + ", ".join(CHANNELS), value)
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        object.__setattr__(
            self, "channel_map", MappingProxyType({str(k).strip().casefold(): v for k, v in self.channel_map.items()})
        )
        if self.timezone is not None:
            try:
                zoneinfo.ZoneInfo(self.timezone)
                _check_arrow_zone(self.timezone)  # Arrow's zone database lacks a few of Python's ('Factory')
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # pyarrow.ArrowInvalid is a ValueError
                raise _bad("timezone", "an IANA time zone such as 'UTC' or 'Europe/London'", self.timezone) from None
        if self.currency is not None:
            from .currency import MINOR_DIGITS

            if self.currency not in MINOR_DIGITS:
                raise _bad("currency", "an ISO 4217 code with minor units, such as 'USD'", self.currency)
        for name in ("delimiter", "decimal_mark"):
            if len(getattr(self, name)) != 1:
                raise _bad(name, "a single character", getattr(self, name))
        if not "\x01" <= self.delimiter <= "\x7f":  # Arrow's CSV parser splits on one ASCII byte
            raise _bad("delimiter", "a single ASCII character", self.delimiter)
        try:
            text_codec = getattr(codecs.lookup(self.encoding), "_is_text_encoding", True)  # not hex, rot13
        except LookupError:
            text_codec = False
        if not text_codec:
            raise _bad("encoding", "a text encoding such as 'utf-8', 'latin-1' or 'cp1252'", self.encoding)
        if len(self.thousands_mark) > 1 or self.thousands_mark == self.decimal_mark:
            raise _bad("thousands_mark", "empty or one character other than the decimal mark", self.thousands_mark)
        if not _is_number(self.max_reject_rate):
            raise _bad("max_reject_rate", "a number between 0 and 1", self.max_reject_rate, ConfigTypeError)
        if not 0.0 <= self.max_reject_rate <= 1.0:
            raise _bad("max_reject_rate", "a number between 0 and 1", self.max_reject_rate)
        for name in ("max_amount", "max_id_length", "batch_size", "threads"):
            value = getattr(self, name)
            if value is None and name == "threads":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise _bad(name, "a positive integer", value, ConfigTypeError)
            if value <= 0:
                raise _bad(name, "a positive integer", value)
        for name in ("valid_from", "valid_until", "step_origin"):
            self.instant(name)
        if self.instant("valid_from") >= self.instant("valid_until"):
            raise _bad("valid_until", "later than valid_from", self.valid_until)

    def instant(self, name: str) -> datetime:
        """The option ``name`` (an ISO 8601 text) as an aware datetime."""
        text = getattr(self, name)
        try:
            value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            raise _bad(name, "an ISO 8601 instant such as '2017-01-01T00:00:00Z'", text) from None
        if value.tzinfo is None:
            raise _bad(name, "an ISO 8601 instant with a zone ('Z' or '+00:00')", text)
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:  # 0001-01-01T00:00+05:00 is in the year 0 in UTC
            raise _bad(name, "an ISO 8601 instant within the years 1 to 9999 in UTC", text) from None

    def step_seconds(self, default: str) -> int:
        """Seconds per step for step-based presets."""
        return _STEP_UNITS[self.step_unit or default]

    def replace(self, **changes) -> "ReadOptions":
        """A copy with ``changes`` applied and validated."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> "ReadOptions":
        """Options from the ``[read]`` table of a TOML file, then ``overrides`` on top."""
        return cls.from_document(load_toml(path), Path(path), **overrides)

    @classmethod
    def from_document(cls, document: dict, path: Path, /, **overrides) -> "ReadOptions":
        """Options from the ``[read]`` table of a parsed configuration (``path`` names it in
        messages), then ``overrides`` on top."""
        table = document.get("read", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [read] must be a table.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown key read.{printable(unknown[0])}; known keys: "
                              f"{', '.join(sorted(known))}.")
        try:
            return cls(**{**table, **overrides})
        except ConfigError as error:
            raise type(error)(f"{path}: {error}") from None
