"""Shared plumbing of the human-trafficking rule pack: per-row facts of a canonical ledger and
the generic windowed-selection scan (:func:`flowscan.kernels.windows.selected_windows_count`).

Most red flags of the pack have one shape: *enough* of an account's transactions of a kind
(payments to ad sites, hotel stays, late-night cash, prepaid loads, wages moved out) inside a
sliding window, at *enough* distinct places or counterparties. The kernel finds those windows
greedily (instances of one account and rule share no transaction); each rule only says which
rows are selected, what a distinct key is, and how the instance reads.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..currency import CURRENCIES
from ..errors import ConfigError
from ..index import dictionary_codes
from ..kernels import windows as kernel
from ..kernels.csr import group_rows
from ..reference import Reference, load_reference
from .instances import Found, Reason, offsets_from_counts


def reference_for(rule: str, reference: Reference | None, needs: tuple[str, ...]) -> Reference:
    """``reference`` (the shipped defaults when None), checked to hold what ``rule`` needs."""
    reference = load_reference() if reference is None else reference
    missing = reference.missing(needs)
    if missing:
        raise ConfigError(f"the {rule} rule needs the {missing[0]} reference table (see flowscan.reference)")
    return reference


def timestamps(ledger: pa.Table) -> np.ndarray:
    return ledger.column("timestamp").cast(pa.int64()).to_numpy()


def currency_codes(ledger: pa.Table) -> np.ndarray:
    return dictionary_codes(ledger.column("currency"), CURRENCIES)


def either_side(index, mask: np.ndarray):
    """A CSR view of the rows in ``mask`` under the one bank account they touch: the sender
    when there is one, else the receiver (cash deposits have no sender, withdrawals no
    receiver). Rows of ``mask`` with neither are left out."""
    owner = np.where(index.sender >= 0, index.sender, index.receiver).astype(np.int32)
    owner = np.where(mask, owner, -1).astype(np.int32)
    return group_rows(owner, index.n_accounts)


def text_contains(column, marker: str) -> np.ndarray:
    """Rows whose text ``column`` contains ``marker``, case-insensitively (false where null)."""
    import pyarrow.compute as pc

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    found = pc.match_substring(array, marker, ignore_case=True)
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def windowed(offsets, rows, ts, selected, key, amount, currency, *, rule: str, typology: str, source: str,
             window_us: int, min_count: int, min_keys: int, min_total: int, evidence_cap: int,
             reasons, part=None) -> list[Found]:
    """Run the windowed-selection kernel once per currency among the ``selected`` rows.

    ``reasons(count, n_keys, total, part_total)`` gives the instance reasons from the
    kernel's per-instance arrays; ``part`` is the per-row quantity summed beside the amount
    (zeros when omitted). Returns one :class:`Found` per currency with instances.
    """
    found = []
    key = np.ascontiguousarray(key, dtype=np.int64)
    part = np.zeros(len(ts), dtype=np.int64) if part is None else np.ascontiguousarray(part, dtype=np.int64)
    for code in np.unique(currency[selected]):
        chosen = np.ascontiguousarray(selected & (currency == code))
        args = (offsets, rows, ts, chosen, key, amount, part, window_us, min_count, min_keys, min_total,
                evidence_cap)
        n_inst, n_ev = kernel.selected_windows_count(*args)
        if not n_inst.any():
            continue
        account, start, end, count, n_keys, total, part_total, ev_rows = kernel.selected_windows_fill(
            *args, offsets_from_counts(n_inst), offsets_from_counts(n_ev))
        found.append(Found(
            rule=rule, typology=typology, source=source, account=account.astype(np.int32), start_us=start,
            end_us=end, reasons=reasons(count, n_keys, total, part_total),
            evidence_offsets=offsets_from_counts(np.minimum(count, evidence_cap)), evidence_rows=ev_rows,
            evidence_total=count,
        ))
    return found


def account_evidence(offsets, rows, mask: np.ndarray, accounts: np.ndarray, cap: int):
    """The evidence of one-instance-per-account rules: for each of ``accounts``, its rows of a
    CSR view (``offsets``, ``rows``) with ``mask``, in time order.

    Returns
    -------
    listed : ndarray of int64
        The first ``cap`` such rows of each account, accounts in the given order.
    counts : ndarray of int64
        Each account's number of such rows, before the cap.
    """
    listed, counts = [], []
    for a in accounts:
        mine = rows[offsets[a]:offsets[a + 1]]
        mine = mine[mask[mine]]
        listed.append(mine[:cap])
        counts.append(len(mine))
    listed = np.concatenate(listed).astype(np.int64) if listed else np.zeros(0, np.int64)
    return listed, np.asarray(counts, dtype=np.int64)


def count_reason(name: str, observed, threshold) -> Reason:
    return Reason(name, ">=", observed, threshold, "count")


def info(name: str, observed, unit: str) -> Reason:
    return Reason(name, "info", observed, None, unit)
