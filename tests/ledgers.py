"""Hand-made canonical ledgers for tests: records in, (ledger, index) out, through the real reader."""

from __future__ import annotations

import csv
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import flowscan

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
HEADER = ["txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel", "location"]


def ledger_of(records):
    """A canonical ledger and its index from (txn_id, hours after T0, sender, receiver,
    amount text, currency, channel, location) records."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.csv"
        write_csv(path, records)
        result = flowscan.read_ledger(path, max_reject_rate=0.0)
    return result.ledger, flowscan.build_index(result.ledger)


def write_csv(path: Path, records) -> Path:
    """Write records (as :func:`ledger_of` takes them) as a CSV ledger at ``path``."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for txn, hours, sender, receiver, amount, currency, channel, location in records:
            when = (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
            writer.writerow([txn, when, sender or "", receiver or "", amount, currency, channel, location or ""])
    return Path(path)
