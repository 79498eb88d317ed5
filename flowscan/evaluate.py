"""Account-level evaluation of a ranking against ground-truth labels.

Two steps, kept apart so that the labels of a source are read once and can be shown::

    labels = load_account_labels("data/amlsim-port")        # one row per labelled account
    result = evaluate("runs/r1", labels, ks=(100, 500))      # runs/r1/accounts.parquet
    print(result.format())
    result.to_json("runs/r1/evaluation.json")

Label sources (recognised from the files, not from their names):

==========================  ====================================================================
source                      positives
==========================  ====================================================================
flowscan fixtures           ``accounts_labels.parquet``: ``is_suspicious``, typologies as listed
flowscan account labels     a Parquet file in :data:`ACCOUNT_LABELS_SCHEMA` (this module's output)
AMLSim SAR accounts         ``sar_accounts.csv``: every account with ``IS_SAR``; ``ALERT_TYPE``
AMLSim legacy nodes         ``nodes.csv``: ``isFraud = 1``; no typology (the format has none)
transaction-level labels    a ledger read by :func:`flowscan.read_ledger` whose preset carries
                            labels (AMLSim ``transactions.csv``/``cash_tx.csv``, AMLworld,
                            SAML-D, PaySim): the accounts of the labelled transactions
AMLSim alert transactions   ``alert_transactions.csv``, when no ledger with labels is given
==========================  ====================================================================

Account-level sources take precedence: when one is among the inputs, ledgers are not read at
all (reading a large ledger only for its labels is slow, and the account-level file is the
simulator's own ground truth). AMLSim's ``alert_accounts.csv`` is never a source of positives,
only of typologies: in the AMLSim Python port the members of bipartite and stack patterns are
listed there although those patterns make no laundering transfer (../shared/data/README.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError, ConfigTypeError, CorruptFileError, DataError
from .options import ReadOptions
from .params import _message, positive_int
from .read import presets as P
from .read import sources as S

__all__ = [
    "ACCOUNT_LABELS_SCHEMA",
    "AlertPrecision",
    "AtK",
    "Evaluation",
    "RulePrecision",
    "TypologyRecall",
    "average_precision_from_ranks",
    "evaluate",
    "load_account_labels",
]

ACCOUNT_LABELS_SCHEMA = pa.schema(
    [
        pa.field("account", pa.string(), nullable=False),
        pa.field("is_positive", pa.bool_(), nullable=False),
        pa.field("typologies", pa.list_(pa.string()), nullable=False),
    ]
)
"""What :func:`load_account_labels` returns: one row per account named by the source;
``typologies`` is sorted, without repeats, and empty for negatives and for positives whose
source names no typology."""

SOURCE_KEY = b"flowscan.labels.source"
"""Schema metadata key of the label table: the sources it was built from, comma-separated."""

ACCOUNTS_FILE = "accounts.parquet"

# files recognised by their header (case-insensitive)
_FIXTURE_COLUMNS = ("account", "is_suspicious", "typologies")
_OWN_COLUMNS = ("account", "is_positive", "typologies")
_SAR_ACCOUNTS = ("alert_id", "account_id", "is_sar")
_ALERT_TRANSACTIONS = ("alert_id", "alert_type", "is_sar", "tran_id", "orig_acct", "bene_acct")

_ACCOUNT_LEVEL = ("fixtures", "flowscan-labels", "amlsim-sar-accounts", "amlsim-nodes")


# -- labels ----------------------------------------------------------------------------------


def load_account_labels(*paths, options: ReadOptions | None = None) -> pa.Table:
    """Read account-level ground truth from the label files of a supported source.

    Parameters
    ----------
    *paths : str or Path
        Files or directories (walked recursively). Files that are not label sources are
        skipped when they sit in a directory, and refused when named directly.
    options : ReadOptions, optional
        How to read ledgers whose labels are per transaction (AMLworld, SAML-D, PaySim,
        AMLSim ``transactions.csv``); use the options of the scored run so that the same rows
        are accepted. Timestamps play no part in the labels, so a missing ``timezone`` is
        taken as UTC.

    Returns
    -------
    pyarrow.Table
        In :data:`ACCOUNT_LABELS_SCHEMA`, one row per account, sorted by account. The schema
        metadata ``flowscan.labels.source`` names the sources used.

    Raises
    ------
    DataError
        No label source among the inputs, a named file that is not one, only AMLSim
        ``alert_accounts.csv`` (its pattern members include accounts that never launder), or
        a file that cannot be read.

    Notes
    -----
    Which accounts are positive:

    - flowscan fixtures: ``is_suspicious`` (a member of a planted instance).
    - AMLSim ``sar_accounts.csv``: every row whose ``IS_SAR`` is true (``YES``), typology from
      ``ALERT_TYPE``. Its rows are positives only; the file names no negatives.
    - AMLSim legacy ``nodes.csv``: ``isFraud`` true; every node is listed, typologies empty.
    - Transaction-level labels: the sender and the receiver of every transaction labelled as
      laundering; every other account of the ledger is listed as a negative. A null label
      counts as not laundering. The typology is the transaction's own (SAML-D's
      ``Laundering_type``), or for AMLSim the ``alert_type`` of its ``alert_id`` in
      ``alert_transactions.csv`` or ``alert_accounts.csv`` when those files are among the
      inputs. Cash legs have one account only; the cash side is no account.
    - PaySim: only the origin account (``nameOrig``) of a transaction with ``isFraud``. PaySim
      marks the transfers an agent makes after taking over a customer's account to empty it
      (a TRANSFER out, then a CASH_OUT); ``nameOrig`` is the account under the fraudster's
      control in every marked row. ``nameDest`` of a marked CASH_OUT is the merchant who hands
      out the cash to many customers, and ``nameDest`` of a marked TRANSFER is not linked to
      the CASH_OUT that follows in PaySim's output, so counting destinations would mostly
      label bystanders.
    - AMLSim ``alert_transactions.csv`` alone: the sender and receiver of its rows with
      ``is_sar`` true.

    When several account-level sources are given, an account is positive if any of them says
    so and its typologies are the union.
    """
    if not paths:
        raise DataError("no label files given")
    options = options or ReadOptions()
    if options.timezone is None:
        options = options.replace(timezone="UTC")

    found: dict[str, list[S.SourceFile]] = {}
    ledgers: dict[str, list[S.SourceFile]] = {}
    for raw in paths:
        path = Path(raw)
        in_dir = path.is_dir()
        for source in S.expand([path]):
            kind = _classify(source, options, strict=not in_dir)
            if kind is None:
                continue
            if kind.startswith("ledger:"):
                ledgers.setdefault(kind.removeprefix("ledger:"), []).append(source)
            else:
                found.setdefault(kind, []).append(source)

    parts: list[pa.Table] = []
    used: list[str] = []
    if any(kind in found for kind in _ACCOUNT_LEVEL):
        readers = {"fixtures": _read_fixtures, "flowscan-labels": _read_own,
                   "amlsim-sar-accounts": _read_sar_accounts, "amlsim-nodes": _read_nodes}
        for kind in _ACCOUNT_LEVEL:
            for source in found.get(kind, []):
                parts.append(readers[kind](source, options))
            if kind in found:
                used.append(kind)
    else:
        alert_types = _alert_types(found, options)
        for preset, sources in sorted(ledgers.items()):
            part = _read_transaction_labels(preset, sources, options, alert_types)
            if part is not None:
                parts.append(part)
                used.append(f"transactions:{preset}")
        if not parts and "amlsim-alert-transactions" in found:
            for source in found["amlsim-alert-transactions"]:
                parts.append(_read_alert_transactions(source, options))
            used.append("amlsim-alert-transactions")
    if not parts:
        if "amlsim-alert-accounts" in found:
            raise DataError(
                f"{found['amlsim-alert-accounts'][0].path}: AMLSim alert_accounts.csv lists pattern members, some "
                "of which make no laundering transfer; give sar_accounts.csv or transactions.csv as labels"
            )
        shown = ", ".join(str(p) for p in paths)
        raise DataError(f"{shown}: no label source found (fixtures accounts_labels.parquet, AMLSim sar_accounts.csv "
                        "or nodes.csv, or a labelled AMLSim, AMLworld, SAML-D or PaySim ledger)")
    return _combine(parts, used)


def _classify(source: S.SourceFile, options: ReadOptions, *, strict: bool) -> str | None:
    """The kind of label source ``source`` is, ``ledger:PRESET`` for a ledger, or None."""
    if source.kind == "csv":
        columns = S.csv_header(source, options)
        schema = None
    else:
        schema = S.file_schema(source)
        columns = list(schema.names)
    source.columns = columns
    folded = {c.casefold() for c in columns}
    if set(_FIXTURE_COLUMNS) <= folded:
        return "fixtures"
    if set(_OWN_COLUMNS) <= folded:
        return "flowscan-labels"
    if source.kind == "csv" and set(_SAR_ACCOUNTS) <= folded:
        return "amlsim-sar-accounts"
    if source.kind == "csv" and set(_ALERT_TRANSACTIONS) <= folded:
        return "amlsim-alert-transactions"
    try:
        preset = P.detect(columns, source.kind, schema, options)
    except DataError:
        preset = None
    if preset is not None and preset.role == "account_labels":
        return preset.name  # amlsim-nodes, amlsim-alert-accounts
    if preset is not None and preset.role == "ledger" and preset.labels:
        return f"ledger:{preset.name}"
    if strict:
        raise DataError(f"{source.path}: not a label source flowscan knows (fixtures accounts_labels.parquet, AMLSim "
                        "sar_accounts.csv or nodes.csv, or a labelled AMLSim, AMLworld, SAML-D or PaySim ledger)")
    return None


def _text_table(source: S.SourceFile, options: ReadOptions) -> pa.Table:
    """A whole CSV file as text columns."""
    batches = list(S.iter_csv(source, options))
    if source.malformed:
        raise DataError(f"{source.path}: {len(source.malformed)} malformed record(s); fix the label file")
    schema = pa.schema([pa.field(n, pa.string()) for n in source.columns])
    return pa.Table.from_batches(batches, schema=schema)


def _column(table: pa.Table, name: str):
    lookup = {n.casefold(): n for n in table.schema.names}
    return table.column(lookup[name.casefold()])


def _rows(account, positive, typology=None) -> pa.Table:
    """Long rows (account, is_positive, typology) with ids trimmed and empty ids dropped."""
    account = pc.utf8_trim_whitespace(account.cast(pa.string()))
    n = len(account)
    positive = pc.fill_null(positive, False)
    typology = pa.nulls(n, pa.string()) if typology is None else typology.cast(pa.string())
    table = pa.table({"account": account, "is_positive": positive, "typology": typology})
    keep = pc.and_(pc.is_valid(table["account"]), pc.not_equal(pc.fill_null(table["account"], ""), ""))
    return table.filter(keep)


def _read_parquet(source: S.SourceFile, columns: list[str]) -> pa.Table:
    lookup = {c.casefold(): c for c in source.columns}
    try:
        table = S.parquet_file(source).read(columns=[lookup[c] for c in columns]) if source.kind == "parquet" else \
            pa.Table.from_batches(list(S.iter_columnar(source, [lookup[c] for c in columns], 1 << 20)))
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(source.path, f"unreadable ({S._short(error)})") from None
    return table.rename_columns(columns)


def _explode(account: pa.ChunkedArray, positive: pa.ChunkedArray, typologies: pa.ChunkedArray) -> pa.Table:
    """Long rows from a list column of typologies (an account with none keeps one null row)."""
    typologies = typologies.cast(pa.list_(pa.string()))
    lengths = pc.fill_null(pc.list_value_length(typologies), 0).to_numpy()
    n = len(account)
    empty = np.flatnonzero(lengths == 0)
    parents = pc.list_parent_indices(typologies).to_numpy()
    index = np.concatenate([parents, empty]).astype(np.int64)
    typology = pa.concat_arrays([pc.list_flatten(typologies).combine_chunks().cast(pa.string()),
                                 pa.nulls(len(empty), pa.string())]) if n else pa.array([], pa.string())
    take = pa.array(index)
    return _rows(pc.take(account, take), pc.take(positive, take), typology)


def _read_fixtures(source: S.SourceFile, options: ReadOptions) -> pa.Table:
    table = _read_parquet(source, list(_FIXTURE_COLUMNS))
    return _explode(table["account"], table["is_suspicious"], table["typologies"])


def _read_own(source: S.SourceFile, options: ReadOptions) -> pa.Table:
    table = _read_parquet(source, list(_OWN_COLUMNS))
    return _explode(table["account"], table["is_positive"], table["typologies"])


def _read_sar_accounts(source: S.SourceFile, options: ReadOptions) -> pa.Table:
    table = _text_table(source, options)
    folded = {c.casefold() for c in source.columns}
    typology = _column(table, "alert_type") if "alert_type" in folded else None
    if typology is not None:
        typology = pc.if_else(pc.equal(pc.utf8_trim_whitespace(typology), ""), pa.scalar(None, pa.string()),
                              pc.utf8_trim_whitespace(typology))
    return _rows(_column(table, "account_id"), pa.chunked_array(
        [P._bool_label(c) for c in _column(table, "is_sar").chunks], pa.bool_()), typology)


def _read_label_preset(source: S.SourceFile, options: ReadOptions) -> list[P.Staged]:
    """Stage an account-label file (AMLSim nodes / alert accounts) with its read_ledger preset."""
    preset = P.PRESETS[_classify(source, options, strict=True)]
    staged = [preset.stage(batch, options) for batch in S.iter_csv(source, options)]
    if source.malformed:
        raise DataError(f"{source.path}: {len(source.malformed)} malformed record(s); fix the label file")
    return staged


def _read_nodes(source: S.SourceFile, options: ReadOptions) -> pa.Table:
    staged = _read_label_preset(source, options)
    if not staged:
        return _rows(pa.chunked_array([], pa.string()), pa.chunked_array([], pa.bool_()))
    account = pa.chunked_array([s.columns["account"] for s in staged], pa.string())
    positive = pa.chunked_array([s.labels["is_laundering"] for s in staged], pa.bool_())
    return _rows(account, positive)


def _alert_types(found: dict[str, list[S.SourceFile]], options: ReadOptions) -> dict[str, str]:
    """AMLSim alert id -> alert type, from alert_transactions.csv and alert_accounts.csv."""
    types: dict[str, str] = {}
    for source in found.get("amlsim-alert-accounts", []):
        for s in _read_label_preset(source, options):
            ids = pc.utf8_trim_whitespace(s.labels["alert_id"].cast(pa.string())).to_pylist()
            kinds = pc.utf8_trim_whitespace(s.labels["typology"].cast(pa.string())).to_pylist()
            types.update((i, k) for i, k in zip(ids, kinds) if i and k)
    for source in found.get("amlsim-alert-transactions", []):
        table = _text_table(source, options)
        ids = pc.utf8_trim_whitespace(_column(table, "alert_id")).to_pylist()
        kinds = pc.utf8_trim_whitespace(_column(table, "alert_type")).to_pylist()
        types.update((i, k) for i, k in zip(ids, kinds) if i and k)
    return types


def _read_alert_transactions(source: S.SourceFile, options: ReadOptions) -> pa.Table:
    table = _text_table(source, options)
    laundering = pa.chunked_array([P._bool_label(c) for c in _column(table, "is_sar").chunks], pa.bool_())
    typology = pc.utf8_trim_whitespace(_column(table, "alert_type"))
    sides = [P._null_if(c, "-", "") for c in _column(table, "orig_acct").chunks], \
        [P._null_if(c, "-", "") for c in _column(table, "bene_acct").chunks]
    accounts = pa.chunked_array(sides[0] + sides[1], pa.string())
    return _rows(accounts, pa.chunked_array(laundering.chunks * 2, pa.bool_()),
                 pa.chunked_array(typology.chunks * 2, pa.string()))


def _read_transaction_labels(preset: str, sources: list[S.SourceFile], options: ReadOptions,
                             alert_types: dict[str, str]) -> pa.Table | None:
    from .ingest import read_ledger

    result = read_ledger(*[s.path for s in sources], options=options)
    if result.labels is None:
        return None
    ledger = result.ledger.select(["txn_id", "sender", "receiver", "channel_raw"])
    labels = result.labels
    if not ledger.column("txn_id").equals(labels.column("txn_id")):  # read_ledger keeps them aligned
        ledger = ledger.join(labels, "txn_id", join_type="inner")
    else:
        for name in ("is_laundering", "typology", "alert_id"):
            ledger = ledger.append_column(name, labels.column(name))
    laundering = pc.fill_null(ledger.column("is_laundering"), False)
    typology = ledger.column("typology")
    if alert_types:
        keys = pa.array(list(alert_types), pa.string())
        where = pc.index_in(pc.utf8_trim_whitespace(ledger.column("alert_id")), value_set=keys)
        typology = pc.coalesce(typology, pc.take(pa.array(list(alert_types.values()), pa.string()), where))
    typology = pc.if_else(laundering, typology, pa.scalar(None, pa.string()))
    sender, receiver = ledger.column("sender"), ledger.column("receiver")
    if preset == "paysim":
        # nameOrig: read_ledger turns CASH_IN around (agent -> customer); fraud rows are
        # TRANSFER and CASH_OUT, where the sender is nameOrig.
        cash_in = pc.equal(pc.utf8_upper(pc.utf8_trim_whitespace(ledger.column("channel_raw"))), "CASH_IN")
        origin = pc.if_else(cash_in, receiver, sender)
        other = pc.if_else(cash_in, sender, receiver)
        n = len(ledger)
        accounts = pa.chunked_array(origin.chunks + other.chunks, pa.string())
        positive = pa.chunked_array(laundering.chunks + [pa.array(np.zeros(n, dtype=bool))], pa.bool_())
        typologies = pa.chunked_array(typology.chunks + [pa.nulls(n, pa.string())], pa.string())
    else:
        accounts = pa.chunked_array(sender.chunks + receiver.chunks, pa.string())
        positive = pa.chunked_array(laundering.chunks * 2, pa.bool_())
        typologies = pa.chunked_array(typology.chunks * 2, pa.string())
    return _rows(accounts, positive, typologies)


def _combine(parts: list[pa.Table], used: list[str]) -> pa.Table:
    long = pa.concat_tables(parts)
    grouped = long.group_by("account").aggregate([("is_positive", "max")])
    grouped = grouped.sort_by("account")
    account = grouped.column("account")
    positive = pc.fill_null(grouped.column("is_positive_max"), False)
    typed = long.filter(pc.and_(long.column("is_positive"), pc.is_valid(long.column("typology"))))
    per_account: dict[str, set[str]] = {}
    for a, t in zip(typed.column("account").to_pylist(), typed.column("typology").to_pylist()):
        per_account.setdefault(a, set()).add(t)
    if per_account:
        lists = [sorted(per_account.get(a, ())) for a in account.to_pylist()]
        typologies = pa.array(lists, pa.list_(pa.string()))
    else:
        offsets = pa.array(np.zeros(len(account) + 1, dtype=np.int32))
        typologies = pa.ListArray.from_arrays(offsets, pa.array([], pa.string()))
    table = pa.table({"account": account, "is_positive": positive, "typologies": typologies})
    return table.cast(ACCOUNT_LABELS_SCHEMA).replace_schema_metadata({SOURCE_KEY: ",".join(used).encode()})


# -- metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtK:
    """Precision and recall in the top ``k`` of the ranking.

    Attributes
    ----------
    k : int
        The cut asked for.
    k_used : int
        ``min(k, scored accounts)``; the cut actually measured.
    hits : int
        Positives among the top ``k_used`` accounts.
    precision : float
        ``hits / k_used``.
    recall : float or None
        ``hits / positives scored``; None when no scored account is positive.
    recall_all : float or None
        ``hits / all labelled positives`` (those absent from the run count as missed);
        None when the labels have no positive.
    """

    k: int
    k_used: int
    hits: int
    precision: float
    recall: float | None
    recall_all: float | None

    @property
    def clamped(self) -> bool:
        return self.k_used < self.k


@dataclass(frozen=True)
class TypologyRecall:
    """Recall of the positives of one typology at each cut (a positive with several
    typologies counts in each).

    Attributes
    ----------
    typology : str
    positives : int
        Scored positives with this typology.
    absent : int
        Labelled positives with this typology that the run did not score.
    recall : tuple of float or None
        One per cut of :attr:`Evaluation.at_k`, over the scored positives; None when there
        are none.
    """

    typology: str
    positives: int
    absent: int
    recall: tuple[float | None, ...]


@dataclass(frozen=True)
class RulePrecision:
    """How often the accounts a typology fired at are labelled positive: the scenario's
    productivity, the figure a model validation asks of each rule.

    Attributes
    ----------
    typology : str
        A typology of the run's ``typologies`` column (instances anchored at the account).
    fired : int
        Scored accounts it fired at.
    hits : int
        Of those, the labelled positives.
    precision : float
        ``hits / fired``.
    lift : float or None
        ``precision / base_rate``: how much better than picking accounts at random; None
        when no scored account is positive.
    """

    typology: str
    fired: int
    hits: int
    precision: float
    lift: float | None


@dataclass(frozen=True)
class AlertPrecision:
    """The run's alerts (column ``alerted``) against the labels.

    Attributes
    ----------
    alerts : int
        Alerted accounts.
    hits : int
        Alerted accounts labelled positive.
    precision : float or None
        ``hits / alerts``; None without alerts.
    recall : float or None
        ``hits / positives scored``; None when no scored account is positive.
    """

    alerts: int
    hits: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True)
class Evaluation:
    """Account-level quality of a ranking. Build it with :func:`evaluate`.

    Attributes
    ----------
    accounts_source : str
        The accounts file evaluated, or ``"<table>"``.
    labels_source : str
        The label sources (``flowscan.labels.source`` of the label table), or ``"<table>"``.
    n_accounts : int
        Scored accounts.
    n_positives : int
        Scored accounts that are labelled positive.
    n_positives_absent : int
        Labelled positives that the run did not score.
    n_positives_untyped : int
        Scored positives whose source names no typology.
    base_rate : float
        ``n_positives / n_accounts``: the precision of a random ranking.
    average_precision : float or None
        Non-interpolated average precision over the rank order (the mean, over scored
        positives, of the precision at each positive's rank); None without positives.
    at_k : tuple of AtK
        One per cut, in increasing ``k``.
    typologies : tuple of TypologyRecall
        Sorted by typology name.
    notes : tuple of str
    rules : tuple of RulePrecision
        One per typology that fired, sorted by name; empty when the accounts have no
        ``typologies`` column.
    alerts : AlertPrecision or None
        None when the accounts have no ``alerted`` column.
    """

    accounts_source: str
    labels_source: str
    n_accounts: int
    n_positives: int
    n_positives_absent: int
    n_positives_untyped: int
    base_rate: float
    average_precision: float | None
    at_k: tuple[AtK, ...]
    typologies: tuple[TypologyRecall, ...]
    notes: tuple[str, ...] = ()
    rules: tuple[RulePrecision, ...] = ()
    alerts: AlertPrecision | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict with a fixed key order."""
        return {
            "accounts": {"source": self.accounts_source, "scored": self.n_accounts},
            "labels": {
                "source": self.labels_source,
                "positives_scored": self.n_positives,
                "positives_absent": self.n_positives_absent,
                "positives_total": self.n_positives + self.n_positives_absent,
                "positives_untyped": self.n_positives_untyped,
                "base_rate": self.base_rate,
            },
            "average_precision": self.average_precision,
            "at_k": [
                {"k": a.k, "k_used": a.k_used, "clamped": a.clamped, "hits": a.hits, "precision": a.precision,
                 "recall": a.recall, "recall_all_labelled": a.recall_all}
                for a in self.at_k
            ],
            "typologies": [
                {"typology": t.typology, "positives_scored": t.positives, "positives_absent": t.absent,
                 "recall_at_k": {str(a.k): r for a, r in zip(self.at_k, t.recall)}}
                for t in self.typologies
            ],
            "alerts": None if self.alerts is None else {
                "alerts": self.alerts.alerts, "hits": self.alerts.hits, "precision": self.alerts.precision,
                "recall": self.alerts.recall},
            "rules": [{"typology": r.typology, "fired": r.fired, "hits": r.hits, "precision": r.precision,
                       "lift": r.lift} for r in self.rules],
            "notes": list(self.notes),
        }

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` atomically (a temporary file in the same
        folder, then renamed into place). Returns the path."""
        from .ingest import temporary_beside

        path = Path(path)
        tmp = temporary_beside(path)
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def format(self) -> str:
        """A plain-text report: counts, average precision, a table of the cuts, one of recall
        per typology, the alerts' precision and one of precision per rule typology."""

        def num(value: float | None) -> str:
            return "-" if value is None else f"{value:.4f}"

        total = self.n_positives + self.n_positives_absent
        lines = [
            f"accounts: {self.accounts_source} ({self.n_accounts:,} scored)",
            f"labels: {self.labels_source} ({total:,} positives; {self.n_positives:,} scored, "
            f"{self.n_positives_absent:,} absent from the run)",
            f"base rate: {num(self.base_rate)}",
            f"average precision: {num(self.average_precision)}",
            "",
        ]
        rows = [("k", "used", "hits", "precision", "recall", "recall (all labelled)")]
        rows += [(f"{a.k:,}", f"{a.k_used:,}" + ("*" if a.clamped else ""), f"{a.hits:,}", num(a.precision),
                  num(a.recall), num(a.recall_all)) for a in self.at_k]
        lines += _grid(rows, left=0)
        if self.typologies:
            lines += ["", "recall per typology"]
            rows = [("typology", "scored", "absent", *(f"@{a.k:,}" for a in self.at_k))]
            rows += [(t.typology, f"{t.positives:,}", f"{t.absent:,}", *(num(r) for r in t.recall))
                     for t in self.typologies]
            lines += _grid(rows, left=1)
        if self.n_positives_untyped:
            lines.append(f"{self.n_positives_untyped:,} scored positives have no typology in the labels")
        if self.alerts is not None:
            a = self.alerts
            lines += ["", f"alerts: {a.alerts:,}, of which {a.hits:,} labelled positive "
                          f"(precision {num(a.precision)}, recall {num(a.recall)})"]
        if self.rules:
            lines += ["", "precision per rule typology (accounts it fired at)"]
            rows = [("typology", "fired", "hits", "precision", "lift")]
            rows += [(r.typology, f"{r.fired:,}", f"{r.hits:,}", num(r.precision),
                      "-" if r.lift is None else f"{r.lift:.2f}") for r in self.rules]
            lines += _grid(rows, left=1)
        if self.notes:
            lines += ["", *(f"note: {n}" for n in self.notes)]
        return "\n".join(lines)


def _grid(rows: list[tuple[str, ...]], *, left: int) -> list[str]:
    """Columns padded to their widest cell; the first ``left`` columns left-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def average_precision_from_ranks(is_positive: np.ndarray) -> float | None:
    """Non-interpolated average precision of a ranking.

    Parameters
    ----------
    is_positive : ndarray of bool, shape (n_accounts,)
        Labels in rank order (index 0 is rank 1).

    Returns
    -------
    float or None
        ``mean over positives at positions i (from 1) of hits(1..i) / i``; equal to
        ``sklearn.metrics.average_precision_score(y, score)`` for scores strictly decreasing
        with rank. None when there is no positive.
    """
    y = np.asarray(is_positive, dtype=bool)
    positions = np.flatnonzero(y)
    if len(positions) == 0:
        return None
    hits = np.arange(1, len(positions) + 1, dtype=np.float64)
    return float(np.mean(hits / (positions + 1)))


OPTIONAL_COLUMNS = ("typologies", "alerted")
"""Columns of a run's accounts that :func:`evaluate` uses when they are there."""


def _read_accounts(accounts) -> tuple[pa.Table, str]:
    """The ``account`` and ``rank`` columns of a run, checked, with ``typologies`` and
    ``alerted`` when present; and the name of their source."""
    if isinstance(accounts, pa.Table):
        table, name = accounts, "accounts table"
        shown = "<table>"
    elif isinstance(accounts, (str, os.PathLike)):
        path = Path(accounts)
        if path.is_dir():
            path = path / ACCOUNTS_FILE
        if not path.is_file():
            raise DataError(f"{path}: no such file; give a run folder holding {ACCOUNTS_FILE} or the file itself")
        source = S.SourceFile(path, "parquet")
        schema = S.file_schema(source)
        missing = [c for c in ("account", "rank") if c not in schema.names]
        if missing:
            raise DataError(f"{path}: no column {', '.join(repr(m) for m in missing)}; {ACCOUNTS_FILE} needs "
                            "'account' and 'rank' (1 = riskiest), as flowscan's scoring writes them")
        try:
            table = S.parquet_file(source).read(
                columns=["account", "rank", *(c for c in OPTIONAL_COLUMNS if c in schema.names)])
        except (pa.ArrowInvalid, OSError) as error:
            raise CorruptFileError(path, f"corrupt Parquet data ({S._short(error)})") from None
        name = shown = str(path)
    else:
        raise ConfigTypeError(_message("evaluate", "accounts", "a pyarrow Table or the path of a run folder or of "
                                       f"its {ACCOUNTS_FILE}", type(accounts).__name__))
    missing = [c for c in ("account", "rank") if c not in table.column_names]
    if missing:
        raise DataError(f"{name}: no column {', '.join(repr(m) for m in missing)}; the accounts need 'account' "
                        "and 'rank' (1 = riskiest)")
    account, rank = table.column("account"), table.column("rank")
    if pa.types.is_dictionary(account.type) or pa.types.is_large_string(account.type):
        account = account.cast(pa.string())
    if not pa.types.is_string(account.type):
        raise DataError(f"{name}: column 'account' is {account.type}; expected string")
    if not pa.types.is_integer(rank.type):
        raise DataError(f"{name}: column 'rank' is {rank.type}; expected an integer (1 = riskiest)")
    if table.num_rows == 0:
        raise DataError(f"{name}: no scored accounts; nothing to evaluate")
    if account.null_count:
        raise DataError(f"{name}: column 'account' has {account.null_count} null(s); every scored account needs an id")
    if rank.null_count:
        raise DataError(f"{name}: column 'rank' has {rank.null_count} null(s); every scored account needs a rank")
    repeated = table.num_rows - pc.count_distinct(account).as_py()
    if repeated:
        raise DataError(f"{name}: {repeated} duplicate account(s) in column 'account'; each account must be "
                        "scored once")
    repeated = table.num_rows - pc.count_distinct(rank).as_py()
    if repeated:
        raise DataError(f"{name}: {repeated} repeated value(s) in column 'rank'; ranks must be a total order "
                        "(ties broken by the writer)")
    columns = {"account": account, "rank": rank.cast(pa.int64())}
    if "typologies" in table.column_names:
        kinds = table.column("typologies")
        if not (pa.types.is_list(kinds.type) or pa.types.is_large_list(kinds.type)) or not (
                pa.types.is_string(kinds.type.value_type) or pa.types.is_large_string(kinds.type.value_type)):
            raise DataError(f"{name}: column 'typologies' is {kinds.type}; expected a list of strings")
        columns["typologies"] = kinds.cast(pa.list_(pa.string()))
    if "alerted" in table.column_names:
        alerted = table.column("alerted")
        if not pa.types.is_boolean(alerted.type):
            raise DataError(f"{name}: column 'alerted' is {alerted.type}; expected bool")
        columns["alerted"] = pc.fill_null(alerted, False)
    return pa.table(columns), shown


def _check_labels(labels) -> tuple[pa.Table, str]:
    if isinstance(labels, (str, os.PathLike)):
        labels = load_account_labels(labels)
    if not isinstance(labels, pa.Table):
        raise ConfigTypeError(_message("evaluate", "labels", "a pyarrow Table from load_account_labels",
                                       type(labels).__name__))
    missing = [c for c in ACCOUNT_LABELS_SCHEMA.names if c not in labels.column_names]
    if missing:
        raise DataError(f"labels: no column {', '.join(repr(m) for m in missing)}; build them with "
                        "load_account_labels")
    source = (labels.schema.metadata or {}).get(SOURCE_KEY, b"<table>").decode()
    labels = labels.select(ACCOUNT_LABELS_SCHEMA.names)
    try:
        labels = labels.cast(pa.schema([f.with_nullable(True) for f in ACCOUNT_LABELS_SCHEMA]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataError("labels: columns do not have the types of ACCOUNT_LABELS_SCHEMA "
                        "(account string, is_positive bool, typologies list<string>)") from None
    if labels.column("account").null_count:
        raise DataError("labels: column 'account' has nulls")
    repeated = labels.num_rows - pc.count_distinct(labels.column("account")).as_py()
    if repeated:
        raise DataError(f"labels: {repeated} duplicate account(s); build them with load_account_labels")
    return labels, source


def _check_ks(ks) -> tuple[int, ...]:
    if isinstance(ks, (int, np.integer)) and not isinstance(ks, bool):
        ks = (int(ks),)
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Iterable):
        raise ConfigTypeError(_message("evaluate", "ks", "a sequence of positive integers", ks))
    ks = tuple(ks)
    if not ks:
        raise ConfigError(_message("evaluate", "ks", "a non-empty sequence of positive integers", ks))
    for k in ks:
        positive_int("evaluate", "ks", int(k) if isinstance(k, np.integer) else k)
    return tuple(sorted({int(k) for k in ks}))


def evaluate(accounts, labels, /, *, ks: Sequence[int] = (100, 500, 1000)) -> Evaluation:
    """Measure a ranking of accounts against account-level labels.

    Parameters
    ----------
    accounts : pyarrow.Table, str or Path
        The run's accounts: a table, a run folder holding ``accounts.parquet``, or that file.
        Columns ``account`` (string, unique, not null) and ``rank`` (integer, unique, not
        null, 1 = riskiest) are used; ``typologies`` (list of strings: the rule typologies
        anchored at the account) and ``alerted`` (bool), as flowscan writes them, when present;
        others are ignored.
    labels : pyarrow.Table, str or Path
        Labels in :data:`ACCOUNT_LABELS_SCHEMA` from :func:`load_account_labels` (a path is
        passed to it).
    ks : sequence of int, default (100, 500, 1000)
        Cuts of the ranking. A cut larger than the number of scored accounts is clamped to
        it, and the result says so (``AtK.k_used``, a note).

    Returns
    -------
    Evaluation

    Raises
    ------
    DataError
        The accounts lack ``account`` or ``rank``, repeat an account or a rank, have nulls
        or are empty; the labels repeat an account.
    ConfigError
        ``ks`` is empty or holds something other than positive integers.

    Notes
    -----
    Only scored accounts are ranked: a scored account absent from the labels is a negative,
    and a labelled positive absent from the run is counted in ``n_positives_absent`` and as
    missed in ``AtK.recall_all`` (recall over all labelled positives). Accounts are ordered
    by ``rank``, so the result does not depend on the row order of the table.

    With ``typologies``, :attr:`Evaluation.rules` gives each typology's precision over the
    accounts it fired at (a typology listed twice for one account counts once); with
    ``alerted``, :attr:`Evaluation.alerts` gives the precision and recall of the alerts.
    """
    ks = _check_ks(ks)
    table, accounts_source = _read_accounts(accounts)
    labels, labels_source = _check_labels(labels)

    table = table.take(pc.sort_indices(table, sort_keys=[("rank", "ascending")]))
    positives = labels.filter(pc.fill_null(labels.column("is_positive"), False))
    in_run = pc.is_in(table.column("account"), value_set=positives.column("account"))
    y = pc.fill_null(in_run, False).to_numpy(zero_copy_only=False).astype(bool)
    scored_mask = pc.is_in(positives.column("account"), value_set=table.column("account"))
    scored_mask = pc.fill_null(scored_mask, False).to_numpy(zero_copy_only=False).astype(bool)

    n = len(y)
    n_pos = int(y.sum())
    n_absent = int((~scored_mask).sum())
    hits_by_rank = np.cumsum(y)
    notes = []
    at_k = []
    for k in ks:
        used = min(k, n)
        hits = int(hits_by_rank[used - 1])
        if used < k:
            notes.append(f"k={k:,} is larger than the {n:,} scored accounts; measured at k={used:,}")
        at_k.append(AtK(k=k, k_used=used, hits=hits, precision=hits / used,
                        recall=hits / n_pos if n_pos else None,
                        recall_all=hits / (n_pos + n_absent) if n_pos + n_absent else None))
    if n_pos == 0:
        notes.append("no scored account is a labelled positive; recall and average precision are undefined")

    # typologies: the rank position of each scored positive, per typology
    position = {a: i for i, a in enumerate(table.column("account").to_pylist()) if y[i]}
    per_typology: dict[str, list[int]] = {}
    absent_typology: dict[str, int] = {}
    untyped = 0
    for account, kinds in zip(positives.column("account").to_pylist(), positives.column("typologies").to_pylist()):
        kinds = sorted(set(kinds or ()))
        where = position.get(account)
        if where is not None and not kinds:
            untyped += 1
        for kind in kinds:
            if where is None:
                absent_typology[kind] = absent_typology.get(kind, 0) + 1
            else:
                per_typology.setdefault(kind, []).append(where)
    typologies = []
    for kind in sorted(set(per_typology) | set(absent_typology)):
        where = np.asarray(per_typology.get(kind, []), dtype=np.int64)
        recall = tuple(float(np.count_nonzero(where < a.k_used)) / len(where) if len(where) else None for a in at_k)
        typologies.append(TypologyRecall(kind, len(where), absent_typology.get(kind, 0), recall))

    rules = []
    if "typologies" in table.column_names:
        fired: dict[str, list[int]] = {}
        for i, kinds in enumerate(table.column("typologies").to_pylist()):
            for kind in set(kinds or ()):
                if kind is not None:
                    fired.setdefault(kind, []).append(i)
        for kind in sorted(fired):
            where = np.asarray(fired[kind], dtype=np.int64)
            hits = int(np.count_nonzero(y[where]))
            precision = hits / len(where)
            rules.append(RulePrecision(kind, len(where), hits, precision, precision * n / n_pos if n_pos else None))
    alerts = None
    if "alerted" in table.column_names:
        alerted = table.column("alerted").to_numpy(zero_copy_only=False).astype(bool)
        n_alerts, hits = int(alerted.sum()), int(np.count_nonzero(alerted & y))
        alerts = AlertPrecision(n_alerts, hits, hits / n_alerts if n_alerts else None,
                                hits / n_pos if n_pos else None)

    return Evaluation(
        accounts_source=accounts_source,
        labels_source=labels_source,
        n_accounts=n,
        n_positives=n_pos,
        n_positives_absent=n_absent,
        n_positives_untyped=untyped,
        base_rate=n_pos / n,
        average_precision=average_precision_from_ranks(y),
        at_k=tuple(at_k),
        typologies=tuple(typologies),
        notes=tuple(notes),
        rules=tuple(rules),
        alerts=alerts,
    )
