"""The resolved configuration of a run as TOML: what ``flowscan config show`` prints.

:func:`render_toml` writes every option of a :class:`~flowscan.scan.ScanOptions`, defaults
included: the ``[read]`` table, one ``[rules.<name>]`` table per rule with a comment naming the
red flag it implements and its published source (the rule module's ``SOURCE``), and the
``[score.*]`` tables with a comment saying what each does. The text is valid TOML and round
trips: saved and read back with :meth:`ScanOptions.from_toml <flowscan.scan.ScanOptions.from_toml>`,
it gives options with the same :meth:`~flowscan.scan.ScanOptions.config_hash`.

Values are written as the options hold them: durations as the text they were given (``"24h"``;
a duration given as a number of seconds stays a number, with the text in a comment beside it),
money thresholds in major units, nested options (Structuring's channel classes) as arrays of
tables. TOML has no null: an option that is None and whose default is None is left out, with
a comment saying it is not set; one whose default is something else cannot be written, and
:func:`render_toml` says so.

The emitter is written here rather than taken from a TOML writer package (``tomli-w``):
the value types are few (text, integers, floats, booleans, arrays, tables, arrays of tables),
the comments above each table are the point of the output and writers do not emit comments,
and a dependency for forty lines is not worth its upkeep. Tests parse the output with the
standard library's ``tomllib``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping

from .errors import ConfigError
from .params import _DURATION, format_duration

RED_FLAGS = {
    "structuring": "Structuring: cash deposits and withdrawals kept just under the $10,000 currency-transaction-"
                   "report threshold, wires under the $3,000 record-keeping threshold.",
    "fan_in": "Fan-in: many apparently unrelated senders paying one beneficiary.",
    "fan_out": "Fan-out: one account paying many receivers (the mirror of fan-in).",
    "funnel": "Funnel account: cash deposits at many different places, withdrawn elsewhere soon after.",
    "rapid_movement": "Rapid movement (pass-through): money in, then out again within hours or days, little "
                      "balance left.",
    "scatter_gather": "Scatter-gather: one source spreads money to several accounts, which gather it into one sink.",
    "gather_scatter": "Gather-scatter: many sources pay one hub, which spreads the money out again.",
    "cycles": "Cycles: money that leaves an account and comes back to it through other accounts.",
    "escort_ads": "Human-trafficking pack: repeated small fees, in multiples of the posting fees, to online "
                  "escort or classified ad sites (needs ad_merchants).",
    "lodging": "Human-trafficking pack: hotel and motel stays in several cities within days.",
    "travel_burst": "Human-trafficking pack: bursts of ride-share and transport payments across cities.",
    "late_night": "Human-trafficking pack: ATM cash between 22:00 and 06:00 local time, in several cities "
                  "(needs locations with time zones).",
    "living_costs": "Human-trafficking pack: purchases at fast food, pharmacies, beauty and lingerie stores far "
                    "above the account's peers (paying for others' living costs).",
    "prepaid_loads": "Human-trafficking pack: frequent prepaid-card and virtual-currency loads.",
    "cash_no_payroll": "Human-trafficking pack: steady cash revenue with no payroll, against payroll-paying peers.",
    "pooled_wages": "Human-trafficking pack: several payers' wages into one account, moved out quickly.",
    "domestic_to_foreign": "Human-trafficking pack: many domestic inflows, one foreign outflow.",
    "ad_identifiers": "Human-trafficking pack: a customer's phone, e-mail or handle on a watch-list of escort-ad "
                      "identifiers (needs ad_identifiers and the customer side table).",
}
"""The red flag each rule implements, in one line (from the rule module's docstring)."""

SCORE_NOTES = {
    "score": ("Scoring: the behavioural features of every account go to an anomaly detector; its percentile "
              "and the rule hits fuse into one risk score in [0, 1]; the alert policy picks the alerts.",
              "columns: the feature columns the detector sees (all when not set); top_features: features "
              "listed per alert;", "max_instances_per_rule: instances listed per rule code in an alert (all are "
              "counted)."),
    "score.detector": ("Anomaly detector (PyOD) over the account features; higher = more unusual. "
                       "params go to the PyOD class over its defaults; members are the ensemble's;",
                       "fit_sample: fit on a seeded sample of this many accounts, then score them all.",),
    "score.fusion": ("Fusion: risk = 1 - (1 - rule_score) * (1 - anomaly_weight * anomaly_pct), rule_score a "
                     "noisy-OR of typology weights,", "discounted by rarity (a flag raised on many accounts says "
                     "less); counterparties in an instance's evidence get member_factor of the weight."),
    "score.fusion.weights": ("Weight of each typology in the rule score.",),
    "score.profile": ("Trafficking profile: 1 - prod(1 - weight of each indicator) over the distinct "
                      "indicators anchored at an account,", "when there are at least min_indicators of them; it "
                      "enters the risk as 1 - (1 - risk) * (1 - weight * profile)."),
    "score.policy": ("Alert policy: alert accounts by rank (top_k) and/or risk (min_score); contamination only "
                     "caps them.",),
}
"""Comments above the score tables."""

READ_NOTE = ("How ledgers are read: format, column mapping, time zone, CSV dialect, amounts and reject limits.",)

_NO_DEFAULT = "(none: an entry of a table)"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def rule_source(name: str) -> str:
    """The published source (FinCEN advisory, FATF report) of the rule ``name``: its module's ``SOURCE``."""
    import importlib

    from .rules import ALL_RULES

    module = importlib.import_module(ALL_RULES[name].__module__)
    source = module.SOURCE
    return source[name] if isinstance(source, Mapping) else source


def render_toml(options=None, /) -> str:
    """The full resolved configuration as TOML text, with comments.

    Parameters
    ----------
    options : ScanOptions, optional
        The options to print; the defaults when omitted. A rule without options of its own is
        printed with its defaults; a skipped rule is printed too (and listed in ``skip``).

    Returns
    -------
    str
        TOML that :meth:`ScanOptions.from_toml` reads back to options with the same
        :meth:`~ScanOptions.config_hash`.

    Raises
    ------
    ConfigError
        An option holds a value TOML cannot express: None where the default is not None
        (``AlertPolicy(min_score=None)``), or a value of another type than text, number,
        boolean, array or table.
    """
    from .scan import RULE_OPTIONS, ScanOptions

    options = ScanOptions() if options is None else options
    if not isinstance(options, ScanOptions):
        raise ConfigError(f"render_toml takes a ScanOptions. Got {type(options).__name__} instead.")
    lines = [
        "# flowscan configuration: every rule's parameters and every score setting, defaults included.",
        f"# config_sha256 = {options.config_hash()}",
        "# Use it with `flowscan scan --config FILE` or flowscan.ScanOptions.from_toml(FILE).",
        "",
    ]
    _table(lines, "read", options.read, READ_NOTE)
    lines += ["[rules]", f"skip = {_value('rules.skip', list(options.skip))}", ""]
    for name, cls in RULE_OPTIONS.items():
        rule_options = options.rules.get(name)
        notes = (f"Red flag: {RED_FLAGS[name]}", f"Source: {rule_source(name)}")
        if name in options.skip:
            notes += ("This rule is skipped (see [rules] skip).",)
        _table(lines, f"rules.{name}", rule_options if rule_options is not None else cls(), notes)
    _table(lines, "score", options.score, SCORE_NOTES["score"])
    if options.reference:
        _table(lines, "reference", options.reference,
               ("Reference tables of the human-trafficking pack (flowscan.reference): a folder and/or one file "
                "per table.",))
    return "\n".join(lines).rstrip("\n") + "\n"


def _table(lines: list[str], path: str, value, notes=()) -> None:
    """Emit ``[path]`` for a dataclass or mapping: scalars and arrays first, then sub-tables,
    then arrays of tables, each sub-table with its comment from :data:`SCORE_NOTES`."""
    lines.extend(f"# {note}" for note in notes)
    lines.append(f"[{path}]")
    scalars, tables, arrays_of_tables = [], [], []
    for key, item, default, is_duration in _items(value):
        where = f"{path}.{key}"
        if item is None:
            if default is not None:
                raise ConfigError(f"{where} is None, which TOML cannot express (it has no null) and which is not "
                                  f"the default ({default!r}); this configuration cannot be written as TOML.")
            scalars.append((key, None, False))
        elif _is_table(item):
            tables.append((key, item))
        elif isinstance(item, (list, tuple)) and item and all(_is_table(v) for v in item):
            arrays_of_tables.append((key, item))
        else:
            scalars.append((key, item, is_duration))
    for key, item, is_duration in scalars:
        if item is None:
            lines.append(f"# {_key(key)}: not set")
            continue
        text = f"{_key(key)} = {_value(f'{path}.{key}', item)}"
        seconds = _seconds_note(item) if is_duration else ""
        lines.append(text + seconds)
    lines.append("")
    for key, item in tables:
        _table(lines, f"{path}.{_key(key)}", item, SCORE_NOTES.get(f"{path}.{key}", ()))
    for key, items in arrays_of_tables:
        for element in items:
            _array_element(lines, f"{path}.{_key(key)}", element)


def _array_element(lines: list[str], path: str, element) -> None:
    lines.append(f"[[{path}]]")
    nested = []
    for key, item, _, _ in _items(element):
        if item is None:
            raise ConfigError(f"{path}.{key} is None, which TOML cannot express.")
        if _is_table(item):
            nested.append((key, item))
        else:
            lines.append(f"{_key(key)} = {_value(f'{path}.{key}', item)}")
    for key, item in nested:
        lines.append(f"[{path}.{_key(key)}]")
        for k, v, _, _ in _items(item):
            lines.append(f"{_key(k)} = {_value(f'{path}.{key}.{k}', v)}")
    lines.append("")


def _is_table(value) -> bool:
    return isinstance(value, Mapping) or (dataclasses.is_dataclass(value) and not isinstance(value, type))


def _items(value):
    """(key, value, default, is_duration) of a dataclass's fields in order, or of a mapping."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key), item, _NO_DEFAULT, False
        return
    for f in dataclasses.fields(value):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        yield f.name, getattr(value, f.name), default, _is_duration(default)


def _is_duration(default) -> bool:
    """A field whose default is a duration text, or a tuple of them, holds durations."""
    values = default if isinstance(default, tuple) and default else (default,)
    return all(isinstance(v, str) and _DURATION.match(v) for v in values)


def _seconds_note(value) -> str:
    values = value if isinstance(value, (list, tuple)) else (value,)
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    if not numbers:
        return ""
    return "  # seconds: " + ", ".join(f"{v} = {format_duration(v)}" for v in numbers)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(where: str, value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        if any(_is_table(v) for v in value):
            raise ConfigError(f"{where}: an array mixing tables and values cannot be written as TOML.")
        return "[" + ", ".join(_value(where, v) for v in value) + "]"
    raise ConfigError(f"{where}: a {type(value).__name__} value cannot be written as TOML.")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
