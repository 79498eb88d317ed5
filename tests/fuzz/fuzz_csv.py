"""Fuzz target: CSV files, byte for byte, through :func:`flowscan.read_ledger`.

An input is four bytes of options followed by the file's bytes. The options choose the CSV
dialect and encoding (odd delimiters and encoding names that are not text codecs among them), the time zone and
timestamp format, the amount options, the format (auto-detected, generic, or AMLworld forced),
a column mapping, and how the file is stored: ``.csv``, ``.tsv``, gzip or bzip2 compressed,
bytes that claim to be gzip, or a name with no known extension (sniffed); and whether the file
is given twice (every row a duplicate).

Only flowscan's own errors may escape, with a one-line message; an accepted read must
reconcile and give a well-formed canonical ledger (see ``_harness.check_read``).

Run it longer with ``python tests/fuzz/fuzz_csv.py -max_total_time=600`` (libFuzzer flags).
"""

from __future__ import annotations

import bz2
import gzip
import sys

import _harness as H

with H.instrumented_imports():
    from flowscan.errors import FlowscanError
    from flowscan.ingest import read_ledger
    from flowscan.options import ReadOptions

DELIMITERS = (",", ",", ",", ",", ";", "\t", "|", None)
ODD_DELIMITERS = ('"', "\n", "\r", " ", "é", "\x00", ".", "0")
ENCODINGS = ("utf-8", "utf-8", "utf-8", "latin-1", "utf-16", "cp1252", "utf-8-sig", None)
ODD_ENCODINGS = ("no-such-codec", "hex", "rot13", "idna", "utf-7", "punycode", "utf-32", "shift_jis")
ZONES = (None, "UTC", "America/New_York", "UTC")
TIMESTAMP_FORMATS = (None, None, "%Y/%m/%d %H:%M", "%d.%m.%Y %H:%M:%S")
MARKS = ((".", ""), (".", ","), (",", "."), (",", " "))
FORMATS = ("auto", "auto", "csv", "amlworld")
STORAGE = ("ledger.csv", "ledger.csv", "ledger.tsv", "ledger.csv.gz", "ledger.csv.bz2", "raw.csv.gz", "ledger.txt",
           "ledger.csv")
MAPPINGS = ({}, {}, {"sender": "from", "receiver": "to"}, {"txn_id": "id", "timestamp": "time", "amount": "value"})


def _bits(flags: int, shift: int, width: int) -> int:
    return (flags >> shift) & ((1 << width) - 1)


def options_from(flags: int) -> ReadOptions:
    """The read options that the 32-bit ``flags`` choose (raises ConfigError for some)."""
    decimal_mark, thousands_mark = MARKS[_bits(flags, 14, 2)]
    return ReadOptions(
        delimiter=DELIMITERS[_bits(flags, 0, 3)] or ODD_DELIMITERS[_bits(flags, 29, 3)],
        encoding=ENCODINGS[_bits(flags, 3, 3)] or ODD_ENCODINGS[_bits(flags, 27, 2) + 4 * _bits(flags, 31, 1)],
        timezone=ZONES[_bits(flags, 6, 2)],
        timestamp_format=TIMESTAMP_FORMATS[_bits(flags, 8, 2)],
        on_bad_rows="fail" if _bits(flags, 10, 1) else "reject",
        negative_amounts="reversal" if _bits(flags, 11, 1) else "reject",
        amount_unit="minor" if _bits(flags, 12, 1) else "major",
        amount_rounding="half-even" if _bits(flags, 13, 1) else "reject",
        decimal_mark=decimal_mark,
        thousands_mark=thousands_mark,
        currency="USD" if _bits(flags, 16, 1) else None,
        format=FORMATS[_bits(flags, 17, 2)],
        max_reject_rate=0.01 if _bits(flags, 23, 1) else 1.0,
        columns=MAPPINGS[_bits(flags, 24, 2)],
        max_id_length=4 if _bits(flags, 26, 1) else 128,
        threads=1,
    )


def store(content: bytes, flags: int):
    """Write ``content`` as the file the flags choose; the paths to read."""
    name = STORAGE[_bits(flags, 19, 3)]
    folder = H.fresh_dir("in")
    path = folder / name
    if name == "ledger.csv.gz":
        content = gzip.compress(content, compresslevel=1, mtime=0)
    elif name == "ledger.csv.bz2":
        content = bz2.compress(content, compresslevel=1)
    path.write_bytes(content)
    return [path, path] if _bits(flags, 22, 1) else [path]


def TestOneInput(data: bytes) -> None:
    flags = int.from_bytes(data[:4].ljust(4, b"\0"), "little")
    try:
        options = options_from(flags)
        paths = store(data[4:], flags)
        result = read_ledger(*paths, options=options)
    except FlowscanError as error:
        H.check_message(error)
        return
    H.check_read(result, options)


def flags(*, tz: int = 0, fmt: int = 0, form: int = 0, storage: int = 0, twice: bool = False, strict: bool = False,
          mapping: int = 0, currency: bool = False) -> bytes:
    """The four option bytes of a seed."""
    value = (tz << 6) | (fmt << 8) | (int(currency) << 16) | (form << 17) | (storage << 19) | (int(twice) << 22)
    value |= (int(strict) << 23) | (mapping << 24)
    return value.to_bytes(4, "little")


CANONICAL = (b"txn_id,timestamp,sender,receiver,amount,currency,channel\n"
             b"T1,2024-03-01T10:00:00Z,A1,A2,100.00,USD,wire\n"
             b"T2,2024-03-01T11:00:00+01:00,A2,A3,5,JPY,cash\n"
             b"T3,2024-03-02 09:30:00,A3,,12.5,usd,card\n"
             b"T3,2024-03-02 09:30:00,A3,,12.5,usd,card\n"
             b"T4,2024-02-30T00:00:00Z,A1,A1,-3.00,EUR,p2p\n"
             b'T5,"2024-03-03T00:00:00Z","A""4",A5,"1,000.00",USD,"wi\nre"\n'
             b"T6,2024-03-03T00:00:00Z,A4\n")


def seeds() -> list[bytes]:
    presets = H.TESTS / "data" / "presets"
    read = lambda name: (presets / name).read_bytes()  # noqa: E731
    return [
        flags() + CANONICAL,
        flags(tz=1) + CANONICAL,
        flags(tz=1, storage=3, twice=True) + CANONICAL,
        flags(storage=6) + CANONICAL,
        flags(tz=1, strict=True) + CANONICAL,
        flags(tz=1) + read("amlworld.csv"),
        flags(tz=1, form=3, storage=4) + read("amlworld.csv"),
        flags(tz=1) + read("saml-d.csv"),
        flags() + read("paysim.csv"),
        flags() + read("amlsim/transactions.csv"),
        flags() + read("amlsim/cash_tx.csv"),
        flags() + read("amlsim/alert_accounts.csv"),
        flags() + read("amlsim-legacy/transactions.csv"),
        flags() + read("amlsim-legacy/nodes.csv"),
        flags(tz=2, fmt=0, currency=True) + read("mapped.csv"),
        flags(mapping=2, currency=True, tz=1) + b"id,time,from,to,value\n1,2024-01-01 00:00,a,b,1\n",
        flags(mapping=3, currency=True, tz=1, fmt=2) + b"id,time,from,to,value\nx,2024/01/01 00:00,a,b,1.5\n",
    ]


if __name__ == "__main__":
    H.main(TestOneInput, seeds())
    sys.exit(0)
