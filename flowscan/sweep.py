"""Threshold sweeps: one rule run over a range of one parameter (above/below-the-line testing).

Examiners expect a bank to show how its alert volumes move as a threshold moves, and what it
would miss below the line. :func:`sweep` runs one rule of :data:`flowscan.rules.RULES` once per
value of one parameter of its options class, on a ledger and index built once, and reports per
value the instances, the distinct accounts the rule anchors them at, and, where account labels
are given, precision and recall of those accounts. :func:`parse_values` turns the command
line's ``START:STOP:STEP`` into values; :func:`write_sweep` writes the table as CSV and JSON and
a plot as PNG.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import params
from .errors import ConfigError, ConfigTypeError

MAX_VALUES = 1000
"""Most values one sweep runs (a guard against a step typed one digit too small)."""

SWEEP_SCHEMA = pa.schema(
    [
        pa.field("rule", pa.string(), nullable=False),
        pa.field("param", pa.string(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
        pa.field("value_number", pa.float64(), nullable=False),
        pa.field("instances", pa.int64(), nullable=False),
        pa.field("accounts", pa.int64(), nullable=False),
        pa.field("true_positives", pa.int64()),
        pa.field("precision", pa.float64()),
        pa.field("recall", pa.float64()),
    ]
)
"""What :func:`sweep` returns, one row per value in the order given.

``value`` is the value as the options took it (``"12h"``, ``"5"``, ``"0.85"``) and
``value_number`` the same as a number (seconds for a duration), for plotting. Without labels
``true_positives``, ``precision`` and ``recall`` are null; with labels, ``precision`` is null
when the rule alerted no account and ``recall`` when no account of the ledger is a labelled
positive."""


def parse_values(spec: str, /, *, name: str = "param") -> list:
    """Values from ``START:STOP:STEP`` (both ends included when the step lands on STOP) or
    from a comma-separated list.

    Integers give ints (``"2:10:2"`` -> 2, 4, 6, 8, 10); decimals give floats computed in
    decimal arithmetic, so ``"0.5:0.9:0.1"`` gives 0.5, 0.6, 0.7, 0.8, 0.9 exactly; durations
    give duration texts (``"12h:72h:12h"`` -> "12h", "24h", ..., "3d"), all three ends
    durations.

    Raises
    ------
    ConfigError
        Not of that form, a step that is not positive, STOP before START, or more than
        :data:`MAX_VALUES` values.
    """
    text = str(spec).strip()
    if "," in text:
        return [_scalar(part.strip(), name) for part in text.split(",") if part.strip()]
    parts = text.split(":")
    if len(parts) == 1:
        return [_scalar(text, name)]
    if len(parts) != 3:
        raise ConfigError(f"--param {name}: expected START:STOP:STEP or a comma-separated list. Got {spec!r} instead.")
    if all(params._DURATION.match(p) for p in parts):
        start, stop, step = (params.duration_seconds("sweep", name, p) for p in parts)
        seconds = _range(Decimal(start), Decimal(stop), Decimal(step), spec, name)
        return [params.format_duration(int(s)) for s in seconds]
    try:
        numbers = [Decimal(p.strip()) for p in parts]
    except InvalidOperation:
        raise ConfigError(f"--param {name}: START, STOP and STEP must be numbers or durations such as '12h'. "
                          f"Got {spec!r} instead.") from None
    values = _range(*numbers, spec, name)
    if all(_is_int_text(p) for p in parts):
        return [int(v) for v in values]
    return [float(v) for v in values]


def _is_int_text(text: str) -> bool:
    return text.strip().lstrip("+-").isdigit()


def _scalar(text: str, name: str):
    if params._DURATION.match(text):
        return text
    if _is_int_text(text):
        return int(text)
    try:
        return float(Decimal(text))
    except InvalidOperation:
        raise ConfigError(f"--param {name}: {text!r} is neither a number nor a duration such as '12h'.") from None


def _range(start: Decimal, stop: Decimal, step: Decimal, spec: str, name: str) -> list[Decimal]:
    if step <= 0:
        raise ConfigError(f"--param {name}: STEP must be positive. Got {spec!r} instead.")
    if stop < start:
        raise ConfigError(f"--param {name}: STOP must not be below START. Got {spec!r} instead.")
    count = int((stop - start) / step) + 1
    if count > MAX_VALUES:
        raise ConfigError(f"--param {name}: {spec!r} gives {count:,} values, more than {MAX_VALUES:,}; "
                          "use a larger step.")
    return [start + i * step for i in range(count)]


def _options_class(rule: str):
    from .rules import ALL_RULES
    from .scan import RULE_OPTIONS

    if rule not in ALL_RULES or rule == "ad_identifiers":
        known = [r for r in ALL_RULES if r != "ad_identifiers"]
        raise ConfigError(f"unknown rule {rule!r}; the rules are: {', '.join(known)}")
    return RULE_OPTIONS[rule]


def rule_options(rule: str, param: str, value, /, *, base_options=None):
    """The options of ``rule`` with ``param`` set to ``value``, checked by the options class.

    A parameter holding a tuple of durations (``windows``, ``horizons``) is set to the one
    value. ``base_options`` is the rule's options object (or a ScanOptions, whose options for
    the rule are used); the rule's defaults when omitted.
    """
    from .scan import ScanOptions

    cls = _options_class(rule)
    if isinstance(base_options, ScanOptions):
        base_options = base_options.rules.get(rule)
    base = cls() if base_options is None else base_options
    if not isinstance(base, cls):
        raise ConfigTypeError(f"base_options for rule {rule!r} must be a {cls.__name__} or a ScanOptions. "
                              f"Got {type(base).__name__} instead.")
    names = [f.name for f in dataclasses.fields(cls)]
    if param not in names:
        raise ConfigError(f"unknown parameter {param!r} of rule {rule!r} ({cls.__name__}); its parameters are: "
                          f"{', '.join(names)}")
    current = getattr(base, param)
    if isinstance(current, tuple) and not isinstance(value, (tuple, list)):
        value = (value,)
    return dataclasses.replace(base, **{param: value})


def sweep(ledger: pa.Table, index, rule: str, param: str, values, /, *, labels=None,
          base_options=None, reference=None) -> pa.Table:
    """Run one rule once per value of one parameter.

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (:func:`flowscan.read_ledger`).
    index : AccountIndex
        Its index (:func:`flowscan.build_index`), built once for the whole sweep.
    rule : str
        A name of :data:`flowscan.rules.RULES` (``"structuring"``, ``"fan_in"``, ...).
    param : str
        A parameter of the rule's options class (``"min_counterparties"``, ``"window"``).
    values : sequence
        The values to try, in order (:func:`parse_values` makes them from ``START:STOP:STEP``).
        A tuple parameter (``windows``) is set to each value alone.
    labels : pyarrow.Table, str or Path, optional
        Account labels in :data:`flowscan.evaluate.ACCOUNT_LABELS_SCHEMA`, or paths for
        :func:`flowscan.evaluate.load_account_labels`. A null ``is_positive`` is a negative.
    base_options : options of the rule, or ScanOptions, optional
        The other parameters; the rule's defaults when omitted.
    reference : Reference, str or Path, optional
        The reference tables of a human-trafficking pack rule (:mod:`flowscan.reference`).

    Returns
    -------
    pyarrow.Table
        In :data:`SWEEP_SCHEMA`. Precision is over the accounts the rule alerted; recall over
        the labelled positives that are accounts of the ledger (as in
        :func:`flowscan.evaluate.evaluate`).

    Raises
    ------
    ConfigError
        An unknown rule or parameter (the message names it), no values, or a value the
        options class refuses (its own message, e.g. "The 'min_counterparties' parameter of
        FanIn must be a positive integer. Got 0 instead.").
    """
    from .reference import Reference, load_reference
    from .rules import ALL_RULES, PACK

    values = list(values)
    if not values:
        raise ConfigError("a sweep needs at least one value")
    options = [rule_options(rule, param, value, base_options=base_options) for value in values]  # all checked first
    positives = _positives(labels, index) if labels is not None else None
    extra = {}
    if rule in PACK:
        extra["reference"] = reference if isinstance(reference, Reference) or reference is None \
            else load_reference(reference)
    rows = []
    for value, opts in zip(values, options):
        found = ALL_RULES[rule](ledger, index, options=opts, **extra).instances
        alerted = pc.unique(found.column("account"))
        row = {"rule": rule, "param": param, "value": str(value), "value_number": _number(param, value),
               "instances": found.num_rows, "accounts": len(alerted), "true_positives": None, "precision": None,
               "recall": None}
        if positives is not None:
            hits = int(pc.sum(pc.is_in(alerted, value_set=positives)).as_py() or 0)
            row["true_positives"] = hits
            row["precision"] = hits / len(alerted) if len(alerted) else None
            row["recall"] = hits / len(positives) if len(positives) else None
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=SWEEP_SCHEMA)


def _number(param: str, value) -> float:
    if isinstance(value, str):
        return float(params.duration_seconds("sweep", param, value))
    return float(value)


def _positives(labels, index) -> pa.Array:
    """Labelled positive accounts that are accounts of the ledger."""
    if not isinstance(labels, pa.Table):
        from .evaluate import load_account_labels

        paths = labels if isinstance(labels, (list, tuple)) else [labels]
        labels = load_account_labels(*paths)
    for name in ("account", "is_positive"):
        if name not in labels.column_names:
            raise ConfigError(f"the labels have no '{name}' column; expected a table from load_account_labels")
    positive = labels.filter(pc.fill_null(labels.column("is_positive"), False)).column("account")
    present = pc.fill_null(pc.is_in(positive, value_set=index.accounts), False)
    return pc.unique(positive.filter(present).combine_chunks())


def write_sweep(table: pa.Table, out, /) -> dict[str, Path]:
    """Write a sweep as ``sweep.csv``, ``sweep.json`` and ``sweep.png`` in the folder ``out``.

    The PNG carries no software or date metadata, so the same sweep gives the same bytes.
    Returns the paths by kind.
    """
    import pyarrow.csv as pacsv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "sweep.csv", "json": out / "sweep.json", "png": out / "sweep.png"}
    pacsv.write_csv(table, paths["csv"])
    paths["json"].write_text(json.dumps(table.to_pylist(), indent=2, allow_nan=False) + "\n")
    plot_sweep(table, paths["png"])
    return paths


def plot_sweep(table: pa.Table, path, /) -> Path:
    """Instances and accounts per value (and precision and recall on a second axis when the
    sweep has labels), as a PNG with deterministic bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table.to_pylist()
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        ax.plot(x, [r["instances"] for r in rows], marker="o", label="instances")
        ax.plot(x, [r["accounts"] for r in rows], marker="s", label="accounts alerted")
        ax.set_xticks(x, [r["value"] for r in rows], rotation=45 if len(rows) > 8 else 0)
        first = rows[0] if rows else {"rule": "", "param": ""}
        ax.set_xlabel(first["param"])
        ax.set_ylabel("count")
        ax.set_title(f"Sweep of {first['rule']}.{first['param']}")
        handles, names = ax.get_legend_handles_labels()
        if any(r["true_positives"] is not None for r in rows):
            right = ax.twinx()
            nan = float("nan")
            right.plot(x, [nan if r["precision"] is None else r["precision"] for r in rows], linestyle="--",
                       marker="^", color="tab:green", label="precision")
            right.plot(x, [nan if r["recall"] is None else r["recall"] for r in rows], linestyle="--", marker="v",
                       color="tab:red", label="recall")
            right.set_ylim(0, 1.05)
            right.set_ylabel("precision, recall")
            more, more_names = right.get_legend_handles_labels()
            handles, names = handles + more, names + more_names
        ax.legend(handles, names, loc="best")
        fig.tight_layout()
        fig.savefig(path, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return Path(path)
