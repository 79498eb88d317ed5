"""The account index: dense account codes and per-account views of a canonical ledger.

Kernels never see account ids: they see int32 codes in ``[0, n_accounts)`` and CSR views
(an ``offsets`` array per account and the rows of each account in time order). Codes
follow the sorted order of the account ids, so they do not depend on the row order of the
input. Built with Arrow's hash kernel (sender and receiver on two threads) and a parallel
counting sort in Numba; no Python loop per row or per account.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
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


def factorize(*arrays) -> tuple[pa.Array, list[np.ndarray]]:
    """Codes of the strings in ``arrays`` (nulls -1), shared across the arrays and numbered in
    the sorted (byte) order of the strings, so codes do not depend on row order.

    Returns
    -------
    values : pyarrow.StringArray
        The distinct strings, sorted; ``values[code]`` is the string.
    codes : list of ndarray of int32
        One array of codes per input array.
    """
    def encode(array):
        chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
        encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.string()), null_encoding="mask")
        if encoded.num_chunks == 0:
            return []
        # The chunks of one encode share one dictionary: make them one array, so that the
        # merge below hashes each dictionary once, not once per chunk.
        indices = pa.concat_arrays([chunk.indices for chunk in encoded.chunks])
        return [pa.DictionaryArray.from_arrays(indices, encoded.chunk(0).dictionary)]

    # One hash pass per input array, on its own thread (Arrow releases the GIL), then only
    # the per-array dictionaries are merged.
    with ThreadPoolExecutor(max_workers=max(1, min(len(arrays), os.cpu_count() or 1))) as pool:
        parts = list(pool.map(encode, arrays))
    chunks = [chunk for part in parts for chunk in part]
    encoded = pa.chunked_array(chunks, type=pa.dictionary(pa.int32(), pa.string())).unify_dictionaries()
    dictionary = encoded.chunk(0).dictionary if encoded.num_chunks else pa.array([], pa.string())
    order = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(order) + 1, dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    rank[-1] = -1  # null
    codes = []
    for chunk in encoded.chunks:
        idx = pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False)
        codes.append(rank[idx])
    flat = np.concatenate(codes) if codes else np.zeros(0, np.int32)
    out, start = [], 0
    for array in arrays:
        out.append(flat[start : start + len(array)])
        start += len(array)
    return dictionary.take(pa.array(order)), out


def dictionary_codes(column, vocabulary) -> np.ndarray:
    """The integer codes of a fixed-dictionary column (``channel`` against
    :data:`~flowscan.schema.CHANNELS`, ``currency`` against
    :data:`~flowscan.currency.CURRENCIES`) as int64; -1 where the value is null or not in
    the vocabulary. A column read back from Parquet may carry a different dictionary; it
    is re-encoded against ``vocabulary``."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(array.type) or not array.dictionary.equals(pa.array(list(vocabulary), pa.string())):
        array = fixed_dictionary(array, vocabulary)
    return pc.fill_null(array.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def fixed_dictionary(column, vocabulary, index_type: pa.DataType = pa.int32()) -> pa.DictionaryArray:
    """``column`` (text, or a dictionary column with any dictionary) encoded against the fixed
    ``vocabulary``: its indices are positions in ``vocabulary``, null where the value is null or
    not in it."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = pa.array(list(vocabulary), pa.string())
    return pa.DictionaryArray.from_arrays(pc.index_in(array.cast(pa.string()), value_set=values).cast(index_type),
                                          values)


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
    accounts, (sender, receiver) = factorize(ledger.column("sender"), ledger.column("receiver"))
    n_accounts = len(accounts)
    return AccountIndex(
        accounts=accounts,
        sender=sender,
        receiver=receiver,
        by_sender=CSR(*group_rows(sender, n_accounts)),
        by_receiver=CSR(*group_rows(receiver, n_accounts)),
    )
