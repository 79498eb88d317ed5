"""Pattern instances and their evidence, the common output of every rule.

A kernel reports instances as flat arrays (account code, window, observed values) plus the
ledger rows behind each instance in CSR form (``evidence_offsets``, ``evidence_rows``),
capped per instance with the uncapped count kept. :class:`Found` holds that raw output;
:meth:`RuleResult.from_found` turns it into two Arrow tables an analyst can read:

``instances`` (:data:`INSTANCE_SCHEMA`), one row per instance::

    instance_id   "structuring.cash.in.24h/0000077001/T0009266": rule, account and the txn_id
                  of the instance's first evidence row (deterministic, and unique even when
                  instances start at the same instant)
    rule          "structuring.cash.in.24h"
    typology      "structuring"
    account       the account id
    window_start, window_end
    reasons       [{name, op, observed, threshold, unit}, ...]: each observed value beside
                  the threshold it crossed
    n_evidence, n_evidence_total   evidence rows listed, and before the cap
    source        the red flag's published source (FinCEN advisory, FATF report)

``evidence`` (:data:`EVIDENCE_SCHEMA`): instance_id to the transactions behind it, with
their fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import TIMESTAMP_TYPE

REASON_TYPE = pa.struct(
    [
        pa.field("name", pa.string()),
        pa.field("op", pa.string()),
        pa.field("observed", pa.float64()),
        pa.field("threshold", pa.float64()),
        pa.field("unit", pa.string()),
    ]
)

INSTANCE_SCHEMA = pa.schema(
    [
        pa.field("instance_id", pa.string(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("typology", pa.string(), nullable=False),
        pa.field("account", pa.string(), nullable=False),
        pa.field("window_start", TIMESTAMP_TYPE, nullable=False),
        pa.field("window_end", TIMESTAMP_TYPE, nullable=False),
        pa.field("reasons", pa.list_(REASON_TYPE), nullable=False),
        pa.field("n_evidence", pa.int64(), nullable=False),
        pa.field("n_evidence_total", pa.int64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)

EVIDENCE_SCHEMA = pa.schema(
    [
        pa.field("instance_id", pa.string(), nullable=False),
        pa.field("txn_id", pa.string(), nullable=False),
        pa.field("timestamp", TIMESTAMP_TYPE, nullable=False),
        pa.field("sender", pa.string()),
        pa.field("receiver", pa.string()),
        pa.field("amount", pa.int64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("location", pa.string()),
    ]
)


def offsets_from_counts(counts) -> np.ndarray:
    """CSR offsets (int64, one longer than ``counts``) from per-group counts: the positions
    pass 2 of a two-pass kernel writes at, and the evidence offsets of capped instances."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


@dataclass(frozen=True)
class Reason:
    """One condition of a rule: ``observed op threshold`` held for the instance.

    ``observed`` is an array (one value per instance); ``threshold`` a scalar, an array, or
    None for an observation that is shown but tested against nothing (``op`` "info"); it is
    null in the table then, never NaN, so results compare equal with ``Table.equals``.
    ``unit`` is one of: count, minor (minor units of the instance's currency), seconds, share,
    score (a dimensionless statistic such as a robust z-score).
    """

    name: str
    op: str
    observed: np.ndarray
    threshold: float | np.ndarray | None
    unit: str


@dataclass
class Found:
    """The raw output of one kernel run: instances as arrays, evidence as CSR."""

    rule: str
    typology: str
    source: str
    account: np.ndarray  # int32 account codes, one per instance
    start_us: np.ndarray  # int64
    end_us: np.ndarray  # int64
    reasons: list[Reason]
    evidence_offsets: np.ndarray  # int64, n_instances + 1
    evidence_rows: np.ndarray  # int32 or int64 ledger rows
    evidence_total: np.ndarray  # int64, evidence rows before the cap

    @property
    def n(self) -> int:
        return len(self.account)


class RuleResult:
    """What a rule found: instances, their evidence, and per-account features.

    Parameters
    ----------
    instances : pyarrow.Table
        :data:`INSTANCE_SCHEMA`.
    evidence : pyarrow.Table, optional
        :data:`EVIDENCE_SCHEMA`; empty when omitted.
    features : pyarrow.Table, optional
        One row per account in code order; no columns when omitted.

    A result made by :meth:`from_found` builds its ``evidence`` table when it is first read:
    the evidence of every instance of a rule that fires on most accounts is millions of rows,
    and a scan needs only the alerted accounts' rows (:meth:`evidence_links`,
    :meth:`evidence_rows`). The table, once built, is what it always was.
    """

    def __init__(self, instances: pa.Table, evidence: pa.Table | None = None, features: pa.Table | None = None,
                 *, _pending: _Pending | None = None):
        self.instances = instances
        self._evidence = evidence if evidence is not None or _pending is not None else EVIDENCE_SCHEMA.empty_table()
        self._pending = _pending
        self.features = features if features is not None else pa.table({})

    def __repr__(self) -> str:
        return (f"RuleResult(instances={self.instances.num_rows} rows, evidence={self.n_evidence} rows, "
                f"features={self.features.num_columns} columns)")

    @property
    def evidence(self) -> pa.Table:
        """Instance id to the transactions behind it, with their fields (:data:`EVIDENCE_SCHEMA`)."""
        if self._evidence is None:
            self._evidence = self._pending.table()
        return self._evidence

    @property
    def n_evidence(self) -> int:
        """Rows of :attr:`evidence`, without building it."""
        return self._evidence.num_rows if self._evidence is not None else self._pending.n_rows

    def evidence_links(self, accounts: pa.Array, n_rows: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Each evidence row's instance (row of :attr:`instances`) and ledger row, without
        building the table; None unless the rule ran on the ledger of ``n_rows`` rows whose
        account index holds ``accounts`` (the very array), and the table is not built yet."""
        pending = self._pending
        if self._evidence is not None or pending is None or pending.accounts is not accounts \
                or pending.ledger.num_rows != n_rows:
            return None
        return pending.links()

    def evidence_rows(self, positions: np.ndarray) -> pa.Table:
        """The rows of :attr:`evidence` at ``positions`` (ascending), built alone when the
        table is not built yet."""
        if self._evidence is not None:
            return self._evidence.take(pa.array(positions, pa.int64()))
        return self._pending.table(positions)

    @classmethod
    def from_found(cls, ledger: pa.Table, accounts: pa.Array, found: list[Found], features: pa.Table | None = None):
        """Arrow tables from raw kernel output, ordered by (rule, account, window_start)."""
        tables, parts = [], []
        for f in found:
            if f.n == 0:
                continue
            ids, table = _instances(ledger, accounts, f)
            tables.append(table)
            parts.append((ids, f))
        instances = pa.concat_tables(tables) if tables else INSTANCE_SCHEMA.empty_table()
        order = np.arange(instances.num_rows, dtype=np.int64)
        if instances.num_rows:
            order = pc.sort_indices(instances, sort_keys=[("rule", "ascending"), ("account", "ascending"),
                                                          ("window_start", "ascending"),
                                                          ("instance_id", "ascending")]).to_numpy()
            instances = instances.take(pa.array(order))
        sorted_row = np.empty(len(order), dtype=np.int64)
        sorted_row[order] = np.arange(len(order))
        return cls(instances, None, features, _pending=_Pending(ledger, accounts, parts, sorted_row))


class _Pending:
    """A rule's evidence before its table is built: the kernels' CSR rows of the ledger."""

    def __init__(self, ledger: pa.Table, accounts: pa.Array, parts: list[tuple[pa.Array, Found]],
                 sorted_row: np.ndarray):
        self.ledger, self.accounts, self.parts, self.sorted_row = ledger, accounts, parts, sorted_row
        self.n_rows = sum(len(f.evidence_rows) for _, f in parts)

    def links(self) -> tuple[np.ndarray, np.ndarray]:
        owners, rows, first = [], [], 0
        for _, f in self.parts:
            owners.append(self.sorted_row[first + np.repeat(np.arange(f.n), np.diff(f.evidence_offsets))])
            rows.append(np.asarray(f.evidence_rows, dtype=np.int64))
            first += f.n
        if not owners:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(owners), np.concatenate(rows)

    def table(self, positions: np.ndarray | None = None) -> pa.Table:
        pieces, first = [], 0
        for ids, f in self.parts:
            count = len(f.evidence_rows)
            if positions is None:
                pieces.append(_evidence(self.ledger, ids, f))
            else:
                lo, hi = np.searchsorted(positions, [first, first + count])
                if hi > lo:
                    pieces.append(_evidence(self.ledger, ids, f, positions[lo:hi] - first))
            first += count
        return pa.concat_tables(pieces) if pieces else EVIDENCE_SCHEMA.empty_table()


def _instances(ledger: pa.Table, accounts: pa.Array, f: Found) -> tuple[pa.Array, pa.Table]:
    account = accounts.take(pa.array(f.account))
    first = np.asarray(f.evidence_rows, dtype=np.int64)[f.evidence_offsets[:-1]]
    first_txn = ledger.column("txn_id").take(pa.array(first)).combine_chunks()
    ids = pc.binary_join_element_wise(pa.scalar(f.rule), account, first_txn, "/")
    reasons = []
    for r in f.reasons:
        if r.threshold is None:
            threshold = pa.nulls(f.n, pa.float64())
        else:
            values = np.broadcast_to(np.asarray(r.threshold, dtype=np.float64), (f.n,))
            threshold = pa.array(values, mask=np.isnan(values))
        reasons.append(
            pa.StructArray.from_arrays(
                [
                    pa.array([r.name] * f.n, pa.string()),
                    pa.array([r.op] * f.n, pa.string()),
                    pa.array(np.asarray(r.observed, dtype=np.float64)),
                    threshold,
                    pa.array([r.unit] * f.n, pa.string()),
                ],
                fields=list(REASON_TYPE),
            )
        )
    k = len(reasons)
    # reason-major concatenation, then reordered so instance i holds reasons[0][i], reasons[1][i], ...
    flat = pa.concat_arrays(reasons) if k else pa.array([], REASON_TYPE)
    order = (np.arange(k)[None, :] * f.n + np.arange(f.n)[:, None]).ravel()
    lists = pa.ListArray.from_arrays(pa.array(np.arange(0, (f.n + 1) * k, k, dtype=np.int32)),
                                     flat.take(pa.array(order, pa.int64())))
    counts = np.diff(f.evidence_offsets)
    table = pa.table(
        {
            "instance_id": ids,
            "rule": pa.array([f.rule] * f.n, pa.string()),
            "typology": pa.array([f.typology] * f.n, pa.string()),
            "account": account,
            "window_start": pa.array(f.start_us, TIMESTAMP_TYPE),
            "window_end": pa.array(f.end_us, TIMESTAMP_TYPE),
            "reasons": lists,
            "n_evidence": pa.array(counts.astype(np.int64)),
            "n_evidence_total": pa.array(np.asarray(f.evidence_total, dtype=np.int64)),
            "source": pa.array([f.source] * f.n, pa.string()),
        },
        schema=INSTANCE_SCHEMA,
    )
    return ids, table


def _evidence(ledger: pa.Table, ids: pa.Array, f: Found, positions: np.ndarray | None = None) -> pa.Table:
    """The evidence table of one kernel run, or of its rows at ``positions``."""
    counts = np.diff(f.evidence_offsets)
    owner = np.repeat(np.arange(f.n), counts)
    rows = np.asarray(f.evidence_rows, dtype=np.int64)
    if positions is not None:
        owner, rows = owner[positions], rows[positions]
    picked = ledger.select(["txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel",
                            "location"]).take(pa.array(rows))
    columns = {"instance_id": ids.take(pa.array(owner))}
    for name in picked.column_names:
        column = picked.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(pa.string())
        columns[name] = column
    return pa.table(columns, schema=EVIDENCE_SCHEMA)
