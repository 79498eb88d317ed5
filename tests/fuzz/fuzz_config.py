"""Fuzz target: the configuration loader, a TOML file to options
(:meth:`flowscan.scan.ScanOptions.from_toml`, with :meth:`flowscan.options.ReadOptions.from_document`
and every rule's and score's options class), and its round trip through
:func:`flowscan.config.render_toml`.

An input whose first byte is not 0 is TOML bytes as they are (the seeds: the bundled sample's
configuration, the preset test's, the full default configuration and small documents, so
mutations stay close to TOML). One whose first byte is 0 is a document the fuzzer builds from
the rest: the known tables
(``[read]``, ``[rules.<name>]``, ``[score.*]``, ``[reference]``), keys that are mostly the
real option names, and values of every TOML type: integers from 0 to 64-bit extremes, floats
(nan, inf, -0.0), durations, money tables (``{USD = "NaN"}``), channel classes, arrays, tables
and dates.

Only flowscan's own errors may escape, in one line. Accepted options must hash, and their
rendered TOML must either be refused with a ConfigError or parse and load back to options
with the same configuration hash.

Run it longer with ``python tests/fuzz/fuzz_config.py -max_total_time=600`` (libFuzzer flags).
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys

import atheris

import _harness as H

with H.instrumented_imports():
    from flowscan.config import render_toml
    from flowscan.errors import ConfigError, FlowscanError
    from flowscan.reference import TABLES
    from flowscan.scan import RULE_OPTIONS, ScanOptions
    from flowscan.score import AlertPolicy, Detector, Fusion
    from flowscan.score.profile import Profile
    from flowscan.options import ReadOptions


def fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


SECTIONS = {
    "read": fields(ReadOptions),
    **{f"rules.{name}": fields(cls) for name, cls in RULE_OPTIONS.items()},
    "rules": ["skip"],
    "score": ["columns", "top_features", "max_instances_per_rule"],
    "score.detector": fields(Detector),
    "score.fusion": fields(Fusion),
    "score.fusion.weights": ["structuring", "fan_in", "cycle", "my_rule"],
    "score.policy": fields(AlertPolicy),
    "score.profile": fields(Profile),
    "reference": ["dir", *TABLES],
    "read.columns": ["txn_id", "timestamp", "sender", "amount", "channel", "nope"],
    "read.channel_map": ["CASH DEP", "pos", ""],
}
SECTION_NAMES = sorted(SECTIONS)
DURATIONS = ["24h", "72h", "30d", "90min", "0h", "-3h", "1w", "61s", "9999999999999999999d", "24 h", "h", "1.5h", "7D"]
CURRENCIES = ["USD", "CAD", "EUR", "JPY", "BHD", "XBT", "XXX", "usd", ""]
AMOUNTS = [10000, "9999.99", "0.001", 0, -5, "NaN", "sNaN", "Infinity", "1e999999999", "0.1e-999999999", 2 ** 63 - 1,
           "92233720368547758.08", 1.5, True, "1_000"]
WORDS = ["cash", "wire", "in", "out", "hbos", "iforest", "ecod", "copod", "lof", "auto", "UTC", "America/New_York",
         "Factory", "%Y-%m-%d", "%Y%Y", "latin-1", "no-codec", ";", "é", "", "PAYROLL", "structuring", "cycles",
         "fan_in", "funnel_account", "lodging", "1970-01-01T00:00:00Z", "2100-01-01T00:00:00+25:00",
         "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "in_count", "amount_sum"]
KEYS = ["windows", "window", "horizons", "horizon", "lag", "classes", "thresholds", "min_amount", "max_amount",
        "weights", "params", "members", "groups", "indicators", "columns", "name", "side", "channels"]


class Literal(str):
    """TOML text written as it is (dates and times have no Python string form in TOML)."""


LITERALS = ["2024-01-01T00:00:00Z", "2024-01-01", "00:00:00", "2024-01-01T00:00:00", "1979-05-27T00:32:00.999999-07:00",
            "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]


# -- values ----------------------------------------------------------------------------------


def value(fdp, depth: int = 0):
    """Any TOML value."""
    kind = fdp.ConsumeIntInRange(0, 11 if depth < 2 else 7)
    if kind == 0:
        return H.pick(fdp, [0, 1, -1, 2, 5, 50, 10 ** 6, 2 ** 31, 2 ** 63 - 1, -(2 ** 63)])
    if kind == 1:
        return fdp.ConsumeIntInRange(-(2 ** 63), 2 ** 63 - 1)
    if kind == 2:
        return H.pick(fdp, [0.0, -0.0, 0.5, 0.25, 1.0, 1.5, 0.1234567, 1e-300, 1e308, math.inf, -math.inf, math.nan,
                            fdp.ConsumeRegularFloat()])
    if kind == 3:
        return fdp.ConsumeBool()
    if kind == 4:
        return H.pick(fdp, WORDS + DURATIONS)
    if kind == 5:
        return H.text(fdp, 12)
    if kind == 6:
        return Literal(H.pick(fdp, LITERALS))
    if kind == 7:
        return H.pick(fdp, AMOUNTS)
    if kind in (8, 9):
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if kind == 10:
        keys = KEYS + CURRENCIES + WORDS
        return {H.pick(fdp, keys): value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))}
    return money(fdp)


def money(fdp) -> dict:
    return {H.pick(fdp, CURRENCIES): H.pick(fdp, AMOUNTS) for _ in range(fdp.ConsumeIntInRange(0, 3))}


def typed(fdp, key: str):
    """A value of the kind the option ``key`` takes, often near or past its limits."""
    if key in ("windows", "horizons", "members", "groups", "indicators", "trafficking", "skip", "columns",
               "withdrawal_channels", "inflow_channels", "fee_bases"):
        return [H.pick(fdp, DURATIONS + WORDS + [86400, 3, 0]) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if key in ("window", "lag", "horizon"):
        return H.pick(fdp, DURATIONS + [86400, 0, -1, 2 ** 63 - 1])
    if key in ("thresholds", "min_amount", "max_amount") and fdp.ConsumeBool():
        return money(fdp)
    if key == "classes":
        return [{"name": H.pick(fdp, ["cash", "wire", ""]), "channels": [H.pick(fdp, WORDS)],
                 "side": H.pick(fdp, ["in", "out", "both"]), "thresholds": money(fdp)}
                for _ in range(fdp.ConsumeIntInRange(0, 2))]
    if key in ("weights", "params", "columns", "channel_map"):
        return {H.pick(fdp, WORDS + KEYS): value(fdp, 1) for _ in range(fdp.ConsumeIntInRange(0, 3))}
    return value(fdp)


# -- TOML text -------------------------------------------------------------------------------


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_string(text: str) -> str:
    escaped = "".join(c if c not in '"\\' and " " <= c != "\x7f" else f"\\u{ord(c):04x}" for c in text)
    return f'"{escaped}"'


def toml_value(item) -> str:
    if isinstance(item, Literal):
        return str(item)
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        return "nan" if math.isnan(item) else ("inf" if item > 0 else "-inf") if math.isinf(item) else repr(item)
    if isinstance(item, str):
        return toml_string(item)
    if isinstance(item, list):
        return "[" + ", ".join(toml_value(v) for v in item) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items()) + "}"


def document(fdp) -> str:
    """TOML text of known tables, mostly known keys, and values of their kinds or any kind."""
    lines = []
    for section in {H.pick(fdp, SECTION_NAMES) for _ in range(fdp.ConsumeIntInRange(1, 4))}:
        lines.append(f"[{section}]" if fdp.ConsumeIntInRange(0, 15) else f"[{section}.{H.pick(fdp, KEYS)}]")
        for _ in range(fdp.ConsumeIntInRange(0, 4)):
            known = SECTIONS[section]  # [rules.ad_identifiers] has none
            key = H.pick(fdp, known) if known and fdp.ConsumeIntInRange(0, 7) else H.pick(fdp, KEYS + WORDS)
            item = typed(fdp, key) if fdp.ConsumeIntInRange(0, 2) else value(fdp)
            lines.append(f"{toml_key(key)} = {toml_value(item)}")
    return "\n".join(lines) + "\n"


# -- the target ------------------------------------------------------------------------------


def check_round_trip(options: ScanOptions) -> None:
    """Accepted options hash, and render to TOML that loads back to the same hash (or are
    refused by the renderer with a ConfigError)."""
    digest = options.config_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", digest), digest
    try:
        text = render_toml(options)
    except ConfigError as error:
        H.check_message(error)
        return
    path = H.workdir() / "rendered.toml"
    path.write_text(text, encoding="utf-8")
    back = ScanOptions.from_toml(path)
    assert back.config_hash() == digest, "the rendered configuration loads back to another hash"


def TestOneInput(data: bytes) -> None:
    path = H.workdir() / "config.toml"
    if data[:1] == b"\x00":
        path.write_text(document(atheris.FuzzedDataProvider(data[1:])), encoding="utf-8")
    else:
        path.write_bytes(data[1:])
    try:
        options = ScanOptions.from_toml(path)
    except FlowscanError as error:
        H.check_message(error)
        return
    check_round_trip(options)


def seeds() -> list[bytes]:
    sample = (H.REPO / "fixtures" / "sample" / "sample.toml").read_bytes()
    mapped = (H.TESTS / "data" / "presets" / "mapped.toml").read_bytes()
    small = [b"[read]\ntimezone = \"UTC\"\n",
             b"[rules]\nskip = [\"cycles\"]\n[rules.fan_in]\nwindows = [\"24h\", 86400]\n",
             b"[rules.rapid_movement]\nmin_amount = {USD = \"9999.99\"}\n[score.policy]\ntop_k = 20\n",
             b"[[rules.structuring.classes]]\nname = \"cash\"\nchannels = [\"cash\"]\nside = \"in\"\n"
             b"thresholds = {USD = 10000}\n"]
    raw = [b"\x01" + text for text in (sample, mapped, render_toml().encode(), *small)]
    return raw + [b"\x00" + bytes(range(i, 256)) for i in range(0, 40, 4)]


if __name__ == "__main__":
    H.main(TestOneInput, seeds())
    sys.exit(0)
