"""The per-account feature table that scoring reads, and its documented transforms.

:func:`feature_table` joins the behavioural features of
:func:`flowscan.rules.account_features` with the per-account features the rules report
(fan-in and fan-out maxima, rapid-movement shares, ...), one row per account of the index in
code order. Labels never enter it: it is built from the ledger and the rule results only.

:class:`Transform` turns that table into the matrix a detector sees, in three documented steps,
each fitted on the accounts it is given (or on a reference period, see
:class:`flowscan.score.Scorer`):

1. **Log scaling** of counts, sums and durations: ``log1p(max(x, 0))``. Amount sums are in minor
   units, so a scale change (cents against yen) is a constant shift the next step removes.
2. **Imputation**: a missing value (NaN: a share with an empty denominator, a local-time share
   with no known zone) becomes the column's median, so it reads as typical, never as extreme.
3. **Robust scaling**: ``(x - median) / IQR`` with the interquartile range; a column whose IQR is
   0 is divided by its full range instead, and a constant column is dropped (it carries nothing
   and some detectors divide by its spread).

Timestamps (``first_seen``, ``last_seen``) describe the ledger's period, not behaviour, and search
bookkeeping (``truncated_*``, ``rapid_truncated``) describes flowscan's caps; neither is a
feature. They stay in the accounts table for the analyst.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa

from ..errors import DataError
from ..index import AccountIndex
from ..rules import RuleResult, account_features

LOG_SCALED = (
    "n_in", "n_out", "sum_in", "sum_out", "distinct_senders", "distinct_receivers", "just_under_count",
    "active_days", "fan_in_max_", "fan_out_max_", "rapid_median_hold_seconds", "in_out_ratio",
)
"""Columns (or prefixes, ending in ``_``) scaled by ``log1p``: heavy-tailed counts, sums and durations."""

NOT_FEATURES = ("account", "first_seen", "last_seen", "rapid_truncated", "truncated_")
"""Columns (or prefixes) kept for the analyst but never given to a detector."""


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(name == p or (p.endswith("_") and name.startswith(p)) for p in patterns)


def feature_table(ledger: pa.Table, index: AccountIndex, /, *, results: Mapping[str, RuleResult] | None = None,
                  features: pa.Table | None = None) -> pa.Table:
    """Per-account features: behaviour plus what the rules measured, one row per account.

    Parameters
    ----------
    ledger : pyarrow.Table
        Canonical ledger (:func:`flowscan.read_ledger`).
    index : AccountIndex
        Its account index (:func:`flowscan.build_index`).
    results : mapping of rule name to RuleResult, optional
        Rule results whose ``features`` tables are joined in (each must have one row per
        account in code order, as every rule returns).
    features : pyarrow.Table, optional
        A precomputed :func:`~flowscan.rules.account_features` table; computed when omitted.

    Returns
    -------
    pyarrow.Table
        ``account`` then every feature column, accounts in code order (sorted ids).
    """
    table = features if features is not None else account_features(ledger, index)
    accounts = index.accounts
    if table.num_rows != len(accounts) or not table.column("account").combine_chunks().equals(accounts):
        raise DataError("the account features do not match the index's accounts")
    for name, result in sorted((results or {}).items()):
        extra = result.features
        if extra is None or extra.num_columns <= 1:
            continue
        if extra.num_rows != len(accounts) or not extra.column("account").combine_chunks().equals(accounts):
            raise DataError(f"the features of rule {name!r} do not match the index's accounts")
        for field in extra.schema:
            if field.name == "account":
                continue
            if field.name in table.column_names:
                raise DataError(f"feature {field.name!r} is reported twice (rule {name!r})")
            table = table.append_column(field, extra.column(field.name))
    return table


def feature_columns(table: pa.Table) -> list[str]:
    """The columns of a feature table a detector sees: numeric, and not in :data:`NOT_FEATURES`."""
    names = []
    for field in table.schema:
        if _matches(field.name, NOT_FEATURES):
            continue
        if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            names.append(field.name)
    return names


def _raw_matrix(table: pa.Table, columns: list[str]) -> np.ndarray:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataError(f"the feature table has no column {missing[0]!r}")
    X = np.empty((table.num_rows, len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        column = table.column(name).combine_chunks()
        values = column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        X[:, j] = values
        if column.null_count:
            X[np.asarray(column.is_null()), j] = np.nan
        if _matches(name, LOG_SCALED):
            X[:, j] = np.log1p(np.maximum(X[:, j], 0.0))
    return X


@dataclasses.dataclass(frozen=True)
class Transform:
    """Log scaling, median imputation and robust scaling, fitted on one set of accounts.

    Build it with :meth:`fit`; apply it with :meth:`apply` to the same or to another period's
    feature table (same columns). Its fields are plain lists so it saves as JSON.

    Attributes
    ----------
    columns : tuple of str
        Feature columns in matrix order (constant columns dropped).
    median, scale : tuple of float
        Per column, the median of the log-scaled values and the divisor (IQR, else range).
    dropped : tuple of str
        Columns left out because they were constant on the fitted accounts.
    """

    columns: tuple[str, ...]
    median: tuple[float, ...]
    scale: tuple[float, ...]
    dropped: tuple[str, ...] = ()

    @classmethod
    def fit(cls, table: pa.Table, columns: Iterable[str] | None = None) -> Transform:
        columns = list(columns) if columns is not None else feature_columns(table)
        X = _raw_matrix(table, columns)
        keep, medians, scales, dropped = [], [], [], []
        for j, name in enumerate(columns):
            values = X[:, j][np.isfinite(X[:, j])]
            if values.size == 0:
                dropped.append(name)
                continue
            q1, median, q3 = np.percentile(values, [25, 50, 75])
            spread = q3 - q1
            if spread <= 0:
                spread = float(values.max() - values.min())
            if spread <= 0:
                dropped.append(name)
                continue
            keep.append(name)
            medians.append(float(median))
            scales.append(float(spread))
        return cls(tuple(keep), tuple(medians), tuple(scales), tuple(dropped))

    def apply(self, table: pa.Table) -> np.ndarray:
        """The detector's matrix for ``table``: shape (n_accounts, len(columns)), finite."""
        X = _raw_matrix(table, list(self.columns))
        median = np.asarray(self.median)
        X = np.where(np.isfinite(X), X, median)
        return (X - median) / np.asarray(self.scale)

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "median": list(self.median), "scale": list(self.scale),
                "dropped": list(self.dropped)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Transform:
        return cls(tuple(data["columns"]), tuple(map(float, data["median"])), tuple(map(float, data["scale"])),
                   tuple(data.get("dropped", ())))
