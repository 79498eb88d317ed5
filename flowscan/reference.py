"""Reference tables the user supplies: merchant categories, ad sites, places, countries,
payroll originators and ad-identifier watch-lists.

The human-trafficking rule pack (:mod:`flowscan.rules`) reads *where, when and on what* money
is spent; a bare ledger does not say which merchant is an escort-ad site or which zone a
branch is in. These tables do. Each is a CSV file (UTF-8, a header line, one row per entry;
extra columns are kept and ignored):

``mcc_groups.csv``: ``mcc, group[, description]``
    Merchant category codes (ISO 18245, four digits, or a range ``3501-3999``) and the group
    each belongs to, one of :data:`GROUPS`. flowscan ships a default built from the standard
    codes (``flowscan/data/reference/mcc_groups.csv``); a user's table replaces it whole.
``ad_merchants.csv``: ``account[, name]``
    Accounts (as they appear as receivers in the ledger) of online advertising and
    classified-ad sites, the merchants of red flag 6.
``locations.csv``: ``location, zone[, city, region, country]``
    Every ``location`` value of the ledger that the user can place: its IANA time zone (for
    *local* hours: naive local times are never guessed), its city (defaults to the location
    itself: several branches of one city share it), region and ISO 3166 country.
``high_risk_countries.csv``: ``country[, list]``
    Listed destination countries (with the list they come from): ``domestic_to_foreign`` also
    reports the windows whose foreign outflows go to one of them, under a rule code of its own.
``payroll_originators.csv``: ``account[, name]``
    Payroll processors and employers whose credits are wages (besides rows whose source
    channel says ``PAYROLL``).
``ad_identifiers.csv``: ``identifier, list[, kind, listed_on]``
    A watch-list of phone numbers, e-mail addresses or handles found in escort or classified
    ads by an open-source-intelligence tool; matched to accounts through the customer side
    table (:mod:`flowscan.score.rollup`).

Load them with :func:`load_reference` from a directory holding any of these files, or name
files one by one. Every table read is versioned by the SHA-256 of its bytes in the run
manifest (:meth:`Reference.manifest`); a rule that needs a table that was not given is
skipped, and the run says which and why (:meth:`Reference.missing`).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError, DataError

GROUPS: tuple[str, ...] = (
    "lodging", "transport", "ride_share", "fast_food", "pharmacy", "beauty", "lingerie", "adult",
    "prepaid", "virtual_currency", "advertising", "money_transfer",
)
"""Merchant-category groups the rule pack reads; a group's code is its position here."""

TABLES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = MappingProxyType({
    "mcc_groups": (("mcc", "group"), ("description",)),
    "ad_merchants": (("account",), ("name",)),
    "locations": (("location", "zone"), ("city", "region", "country")),
    "high_risk_countries": (("country",), ("list",)),
    "payroll_originators": (("account",), ("name",)),
    "ad_identifiers": (("identifier", "list"), ("kind", "listed_on")),
})
"""Every table: (required columns, optional columns). The file is ``<name>.csv``."""

KEYS = {"mcc_groups": "mcc", "ad_merchants": "account", "locations": "location", "high_risk_countries": "country",
        "payroll_originators": "account", "ad_identifiers": "identifier"}
"""The column that identifies a row: a value may not appear twice with different content."""

DEFAULTS = ("mcc_groups",)
"""Tables with a shipped default used when the user gives none."""

_MCC = re.compile(r"^\d{4}$")
_MCC_RANGE = re.compile(r"^(\d{4})-(\d{4})$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclasses.dataclass(frozen=True)
class ReferenceTable:
    """One table: its rows (all columns text), where it came from and the hash of its bytes."""

    name: str
    table: pa.Table
    sha256: str
    path: str | None  # None for a shipped default
    default: bool = False


@dataclasses.dataclass(frozen=True)
class Reference:
    """The reference tables of a run (see the module docstring); any may be absent."""

    tables: Mapping[str, ReferenceTable] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))

    def has(self, name: str) -> bool:
        return name in self.tables

    def get(self, name: str) -> pa.Table | None:
        found = self.tables.get(name)
        return None if found is None else found.table

    def missing(self, needs) -> list[str]:
        """The tables among ``needs`` that were not given."""
        return [name for name in needs if name not in self.tables]

    def manifest(self) -> list[dict]:
        """One entry per table for the run manifest: name, file name, SHA-256, rows, default."""
        return [{"name": t.name, "file": None if t.path is None else Path(t.path).name, "sha256": t.sha256,
                 "rows": t.table.num_rows, "default": t.default}
                for t in sorted(self.tables.values(), key=lambda t: t.name)]

    # -- per-row views of a canonical ledger -------------------------------------------------

    def mcc_groups(self, mcc) -> np.ndarray:
        """The group code (position in :data:`GROUPS`) of each ``mcc`` value, int8, -1 when
        the code is null or in no group (or there is no MCC table)."""
        table = self.get("mcc_groups")
        if table is None or len(mcc) == 0:
            return np.full(len(mcc), -1, dtype=np.int8)
        codes, groups = _expand_mcc(table)
        position = pc.index_in(_text(mcc), value_set=pa.array(codes, pa.string()))
        position = pc.fill_null(position, -1).to_numpy(zero_copy_only=False)
        lookup = np.append(np.array([GROUPS.index(g) for g in groups], dtype=np.int8), np.int8(-1))
        return lookup[position]

    def listed(self, name: str, values, column: str | None = None) -> np.ndarray:
        """Whether each of ``values`` is in table ``name``'s key column (or ``column``); all
        false when the table is absent."""
        table = self.get(name)
        if table is None or len(values) == 0:
            return np.zeros(len(values), dtype=bool)
        value_set = pc.unique(table.column(column or KEYS[name]).combine_chunks())
        return pc.fill_null(pc.is_in(_text(values), value_set=value_set), False).to_numpy(zero_copy_only=False)

    def places(self, location) -> tuple[np.ndarray, np.ndarray]:
        """Per ``location`` value: a city code (int64, -1 unknown) and a zone code (int64,
        -1 unknown), with the zones in :meth:`zones` order.

        With a locations table, a location's city is its ``city`` (the location itself when
        blank) and unlisted locations have neither; without one, every non-null location is
        its own city and no zone is known.
        """
        location = _text(location)
        table = self.get("locations")
        if table is None:
            from .index import factorize

            _, (codes,) = factorize(location)
            return codes.astype(np.int64), np.full(len(location), -1, dtype=np.int64)
        names = table.column("location").combine_chunks()
        position = pc.fill_null(pc.index_in(location, value_set=names), -1).to_numpy(zero_copy_only=False)
        city_names = table.column("city").to_pylist() if "city" in table.column_names else [None] * len(names)
        cities = [c if c else n for c, n in zip(city_names, names.to_pylist())]
        city_values = sorted(set(cities))
        zone_values = self.zones()
        city_code = np.append(np.array([city_values.index(c) for c in cities], dtype=np.int64), -1)
        zone_code = np.append(np.array([zone_values.index(z) for z in table.column("zone").to_pylist()],
                                       dtype=np.int64), -1)
        return city_code[position], zone_code[position]

    def zones(self) -> list[str]:
        """The distinct zones of the locations table, sorted (the zone codes of :meth:`places`)."""
        table = self.get("locations")
        return [] if table is None else sorted(set(table.column("zone").to_pylist()))


def local_hours(timestamps, zone_code: np.ndarray, zones: list[str]) -> np.ndarray:
    """The local hour (0-23, int8) of each UTC timestamp in its zone, -1 where the zone is
    unknown (``zone_code`` -1): a local time is never guessed."""
    hours = np.full(len(zone_code), -1, dtype=np.int8)
    ts = timestamps.combine_chunks() if isinstance(timestamps, pa.ChunkedArray) else timestamps
    for code, zone in enumerate(zones):
        rows = np.flatnonzero(zone_code == code)
        if len(rows):
            local = ts.take(pa.array(rows)).cast(pa.timestamp("us", tz=zone))
            hours[rows] = pc.hour(local).to_numpy(zero_copy_only=False).astype(np.int8)
    return hours


def load_reference(directory=None, /, *, defaults: bool = True, **files) -> Reference:
    """Read the reference tables from ``directory`` and from single files.

    Parameters
    ----------
    directory : str or Path, optional
        A folder holding any of ``<name>.csv`` for the names of :data:`TABLES`; other files
        are ignored.
    defaults : bool, default=True
        Use the shipped default of a table in :data:`DEFAULTS` when none is given.
    **files : str or Path
        A file per table name, over the directory's (``mcc_groups="my_mcc.csv"``).

    Returns
    -------
    Reference

    Raises
    ------
    ConfigError
        An unknown table name, or a folder or file that does not exist.
    DataError
        A table that cannot be used: a missing column, an empty key, a bad MCC, zone or
        country code, or one key with two contents. The message names the file and line and
        never quotes an account.
    """
    unknown = sorted(set(files) - set(TABLES))
    if unknown:
        raise ConfigError(f"unknown reference table {unknown[0]!r}; the tables are: {', '.join(TABLES)}")
    paths: dict[str, Path] = {}
    if directory is not None:
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(f"{directory}: the reference folder does not exist")
        for name in TABLES:
            if (directory / f"{name}.csv").is_file():
                paths[name] = directory / f"{name}.csv"
    for name, path in files.items():
        if path is None:
            continue
        if not Path(path).is_file():
            raise ConfigError(f"{path}: the {name} reference table does not exist")
        paths[name] = Path(path)
    tables = {name: _read(name, path.read_bytes(), str(path)) for name, path in paths.items()}
    if defaults:
        for name in DEFAULTS:
            if name not in tables:
                data = resources.files("flowscan").joinpath("data", "reference", f"{name}.csv").read_bytes()
                tables[name] = dataclasses.replace(_read(name, data, f"{name}.csv (shipped default)"),
                                                   path=None, default=True)
    return Reference(tables)


def _read(name: str, data: bytes, where: str) -> ReferenceTable:
    required, optional = TABLES[name]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{where}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise DataError(f"{where}: empty file; expected a header line with {', '.join(required)}")
    header = [h.strip() for h in header]
    absent = [c for c in required if c not in header]
    if absent:
        raise DataError(f"{where}: missing column {absent[0]!r} (the {name} table needs {', '.join(required)})")
    columns = [c for c in (*required, *optional) if c in header]
    at = {c: header.index(c) for c in columns}
    rows: dict[str, list] = {c: [] for c in columns}
    seen: dict[str, tuple] = {}
    for line, record in enumerate(reader, start=2):
        if not record or all(not v.strip() for v in record):
            continue
        if len(record) != len(header):
            raise DataError(f"{where}, line {line}: {len(record)} fields where the header has {len(header)}")
        values = {c: record[at[c]].strip() for c in columns}
        for c in required:
            if not values[c]:
                raise DataError(f"{where}, line {line}: empty {c!r}")
        _check(name, values, where, line)
        key = values[KEYS[name]]
        content = tuple(values[c] for c in columns)
        if key in seen:
            if seen[key] != content:
                raise DataError(f"{where}, line {line}: {KEYS[name]!r} repeated with a different content")
            continue
        seen[key] = content
        for c in columns:
            rows[c].append(values[c] or None)
    table = pa.table({c: pa.array(v, pa.string()) for c, v in rows.items()})
    order = pc.sort_indices(table, sort_keys=[(KEYS[name], "ascending")])
    return ReferenceTable(name, table.take(order), hashlib.sha256(data).hexdigest(), where)


def _check(name: str, values: dict, where: str, line: int) -> None:
    if name == "mcc_groups":
        mcc = values["mcc"]
        match = _MCC_RANGE.match(mcc)
        if not (_MCC.match(mcc) or (match and match.group(1) <= match.group(2))):
            raise DataError(f"{where}, line {line}: 'mcc' must be four digits or a range such as 3501-3999")
        if values["group"] not in GROUPS:
            raise DataError(f"{where}, line {line}: unknown group {values['group']!r}; "
                            f"the groups are: {', '.join(GROUPS)}")
    elif name == "locations":
        try:
            ZoneInfo(values["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise DataError(f"{where}, line {line}: unknown time zone {values['zone']!r} "
                            "(an IANA name such as America/Chicago)") from None
        if values.get("country") and not _COUNTRY.match(values["country"]):
            raise DataError(f"{where}, line {line}: 'country' must be an ISO 3166 two-letter code")
    elif name == "high_risk_countries":
        if not _COUNTRY.match(values["country"]):
            raise DataError(f"{where}, line {line}: 'country' must be an ISO 3166 two-letter code")


def _expand_mcc(table: pa.Table) -> tuple[list[str], list[str]]:
    """Every single code of the MCC table with its group (ranges expanded; a single code
    listed on its own wins over a range that covers it)."""
    single: dict[str, str] = {}
    ranged: dict[str, str] = {}
    for mcc, group in zip(table.column("mcc").to_pylist(), table.column("group").to_pylist()):
        match = _MCC_RANGE.match(mcc)
        if match:
            for code in range(int(match.group(1)), int(match.group(2)) + 1):
                ranged.setdefault(f"{code:04d}", group)
        else:
            single[mcc] = group
    merged = {**ranged, **single}
    codes = sorted(merged)
    return codes, [merged[c] for c in codes]


def _text(values) -> pa.Array:
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not isinstance(array, pa.Array):
        array = pa.array(array, pa.string())
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array.cast(pa.string())
