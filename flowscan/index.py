"""The account index: dense account codes and per-account views of a canonical ledger.

Kernels never see account ids: they see int32 codes in ``[0, n_accounts)`` and CSR views
(an ``offsets`` array per account and the rows of each account in time order). Codes
follow the sorted order of the account ids, so they do not depend on the row order of the
input. Built with Arrow's hash kernels and one linear Numba pass; no Python loop per row or
per account.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .kernels.csr import group_rows


@dataclass(frozen=True)
class CSR:
    """Rows grouped by account: rows of account ``a`` are ``rows[offsets[a]:offsets[a + 1]]``,
    ordered by (timestamp, txn_id) because the canonical ledger is."""

    offsets: np.ndarray
    rows: np.ndarray

    def rows_of(self, code: int) -> np.ndarray:
        return self.rows[self.offsets[code] : self.offsets[code + 1]]

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass(frozen=True)
class AccountIndex:
    """Account codes and CSR views of one canonical ledger.

    Attributes
    ----------
    accounts : pyarrow.StringArray
        Account id of each code, sorted; ``accounts[code]`` is the id.
    sender, receiver : ndarray of int32, shape (n_txn,)
        Code of each row's sender and receiver; -1 where null (cash or outside the bank).
    by_sender, by_receiver : CSR
        Rows sent (received) by each account.
    """

    accounts: pa.Array
    sender: np.ndarray
    receiver: np.ndarray
    by_sender: CSR
    by_receiver: CSR

    @property
    def n_accounts(self) -> int:
        return len(self.accounts)

    def code_of(self, account: str) -> int:
        """The code of ``account``; raises KeyError when the ledger has no such account."""
        pos = pc.index(self.accounts, account).as_py()
        if pos < 0:
            raise KeyError("account not in the ledger")
        return pos


def _codes(encoded: pa.ChunkedArray, remap: np.ndarray) -> np.ndarray:
    out = np.empty(encoded.length(), dtype=np.int32)
    start = 0
    for chunk in encoded.chunks:
        idx = chunk.indices.to_numpy(zero_copy_only=False) if chunk.null_count == 0 else pc.fill_null(
            chunk.indices, -1
        ).to_numpy(zero_copy_only=False)
        idx = idx.astype(np.int64, copy=False)
        out[start : start + len(chunk)] = np.where(idx >= 0, remap[np.maximum(idx, 0)], -1)
        start += len(chunk)
    return out


def build_index(ledger: pa.Table) -> AccountIndex:
    """Factorise the accounts of a canonical ledger and build its CSR views.

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (sorted by timestamp, txn_id), as :func:`flowscan.read_ledger` returns.

    Returns
    -------
    AccountIndex
    """
    sender = ledger.column("sender")
    receiver = ledger.column("receiver")
    both = pa.chunked_array(sender.chunks + receiver.chunks, type=pa.string())
    encoded = pc.dictionary_encode(both, null_encoding="mask")
    n = ledger.num_rows
    if encoded.num_chunks:
        dictionary = encoded.chunk(0).dictionary
    else:
        dictionary = pa.array([], pa.string())
    order = pc.sort_indices(dictionary).to_numpy()
    remap = np.empty(len(dictionary), dtype=np.int32)
    remap[order] = np.arange(len(dictionary), dtype=np.int32)
    accounts = dictionary.take(pa.array(order))
    codes = _codes(encoded, remap) if encoded.num_chunks else np.zeros(0, np.int32)
    sender_codes, receiver_codes = codes[:n], codes[n:]
    n_accounts = len(accounts)
    return AccountIndex(
        accounts=accounts,
        sender=sender_codes,
        receiver=receiver_codes,
        by_sender=CSR(*group_rows(sender_codes, n_accounts)),
        by_receiver=CSR(*group_rows(receiver_codes, n_accounts)),
    )
