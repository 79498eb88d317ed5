"""Seeded synthetic bank-export ledgers for benchmarks, written to Parquet in chunks.

The file looks like a bank's own export, not like flowscan's canonical form, so that ingest
does its real work: ``txn_id`` text, ``timestamp`` (timestamp[us, UTC], in random order, so
the canonical sort is needed), ``sender``/``receiver`` account numbers as text with leading
zeros (about a tenth of rows are cash, with one side null), ``amount`` as decimal128(18, 2),
``currency``, ``channel`` (the bank's own codes). Accounts follow a heavy-tailed activity
distribution. Memory stays bounded by the chunk size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CHANNELS = np.array(["WIRE", "ACH", "POS", "P2P", "CHECK", "CASH DEP", "CASH WDL"], dtype=object)
CHANNEL_P = np.array([0.08, 0.22, 0.35, 0.2, 0.05, 0.06, 0.04])


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), text, "")


def chunk(rng: np.random.Generator, start: int, n: int, n_accounts: int) -> pa.Table:
    weights = rng.pareto(1.2, size=n) + 1.0
    sender = ((weights * 37).astype(np.int64) + rng.integers(0, n_accounts, n)) % n_accounts
    receiver = rng.integers(0, n_accounts, n)
    channel = rng.choice(len(CHANNELS), size=n, p=CHANNEL_P)
    deposit = CHANNELS[channel] == "CASH DEP"
    withdrawal = CHANNELS[channel] == "CASH WDL"
    cents = (np.exp(rng.normal(8.0, 1.6, n))).astype(np.int64) + 1
    year_us = 365 * 86400 * 1_000_000
    micros = 1_704_067_200_000_000 + rng.integers(0, year_us, n)  # 2024, random order
    sender_ids = _ids("", sender, 10)
    receiver_ids = _ids("", receiver, 10)
    null = pa.scalar(None, pa.string())
    return pa.table(
        {
            "txn_id": _ids("T", np.arange(start, start + n), 11),
            "timestamp": pa.array(micros, pa.timestamp("us", tz="UTC")),
            "sender": pc.if_else(pa.array(deposit), null, sender_ids),
            "receiver": pc.if_else(pa.array(withdrawal), null, receiver_ids),
            "amount": _decimal_cents(cents),
            "currency": pa.array(np.full(n, "USD", dtype=object), pa.string()),
            "channel": pa.array(CHANNELS[channel], pa.string()),
        }
    )


def _decimal_cents(cents: np.ndarray) -> pa.Array:
    """decimal128(18, 2) from non-negative integer cents, built from its 16-byte storage."""
    words = np.zeros((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def write_ledger(path: Path, rows: int, *, seed: int = 42, chunk_rows: int = 1_000_000) -> Path:
    """Write a ``rows``-row ledger to ``path`` (kept if it exists with the same size and seed)."""
    path = Path(path)
    if path.exists():
        meta = pq.read_metadata(path)
        if meta.num_rows == rows and (meta.metadata or {}).get(b"seed") == str(seed).encode():
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_accounts = max(1000, rows // 10)
    writer = None
    tmp = path.with_suffix(".tmp")
    for start in range(0, rows, chunk_rows):
        table = chunk(rng, start, min(chunk_rows, rows - start), n_accounts)
        if writer is None:
            schema = table.schema.with_metadata({"seed": str(seed)})
            writer = pq.ParquetWriter(tmp, schema, compression="zstd")
        writer.write_table(table.cast(schema))
    writer.close()
    tmp.replace(path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(write_ledger(args.out, args.rows, seed=args.seed))
