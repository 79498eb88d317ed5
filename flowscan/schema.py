"""The canonical ledger: one schema that every reader produces and every kernel consumes.

Column             Type                      Null means
-----------------  ------------------------  ------------------------------------------------
txn_id             string                    never null; unique in a ledger
timestamp          timestamp[us, tz=UTC]     never null
sender             string                    cash, or an account outside the bank
receiver           string                    cash, or an account outside the bank
amount             int64 (minor units)       never null; never negative
currency           dictionary<int16, string> never null; ISO 4217 (fixed dictionary: CURRENCIES)
channel            dictionary<int8, string>  never null; CHANNELS (fixed dictionary, in that order);
                                             ``other`` when the source value is unknown
channel_raw        string                    the source did not say
location           string                    unknown (branch, ATM or city as the source names it)
country            string                    unknown
mcc                string                    unknown (merchant category code, text: "0742")
sender_bank        string                    unknown
receiver_bank      string                    unknown
is_self_transfer   bool                      never null; sender equals receiver (kept and flagged)
is_reversal        bool                      never null; a negative source amount turned around
txn_id_generated   bool                      never null; the source had no transaction id

``channel`` and ``currency`` are dictionary-encoded against fixed dictionaries, so their
indices are stable codes a kernel can use directly: ``channel.indices == 0`` is cash.

``amount`` is exact: an integer count of the currency's minor units (cents for USD, yen for
JPY, fils for BHD; see :mod:`flowscan.currency`). ``amount = 123456, currency = "USD"`` is
1,234.56 US dollars. Ids are text: leading zeros are kept; surrounding ASCII white space is
removed; case is kept (``AB1`` and ``ab1`` are two accounts).

A canonical ledger is sorted by ``(timestamp, txn_id)``. That order makes the content
independent of the order of the input rows and gives every per-account view a deterministic
tie-break for equal timestamps.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"

CHANNELS: tuple[str, ...] = ("cash", "wire", "ach", "card", "p2p", "check", "crypto", "other")
"""The normalised channel vocabulary."""

REQUIRED = ("txn_id", "timestamp", "amount")
"""Fields a row cannot be accepted without (besides at least one of sender and receiver)."""

OPTIONAL_TEXT = ("location", "country", "mcc", "sender_bank", "receiver_bank")
"""Optional descriptive columns; all-null when the source has none."""

ID_COLUMNS = ("txn_id", "sender", "receiver")

FLAG_COLUMNS = ("is_self_transfer", "is_reversal", "txn_id_generated")

SORT_KEYS = [("timestamp", "ascending"), ("txn_id", "ascending")]

TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
CHANNEL_TYPE = pa.dictionary(pa.int8(), pa.string())
CURRENCY_TYPE = pa.dictionary(pa.int16(), pa.string())

CANONICAL_SCHEMA = pa.schema(
    [
        pa.field("txn_id", pa.string(), nullable=False),
        pa.field("timestamp", TIMESTAMP_TYPE, nullable=False),
        pa.field("sender", pa.string()),
        pa.field("receiver", pa.string()),
        pa.field("amount", pa.int64(), nullable=False, metadata={"unit": "minor units of currency"}),
        pa.field("currency", CURRENCY_TYPE, nullable=False),
        pa.field("channel", CHANNEL_TYPE, nullable=False),
        pa.field("channel_raw", pa.string()),
        pa.field("location", pa.string()),
        pa.field("country", pa.string()),
        pa.field("mcc", pa.string()),
        pa.field("sender_bank", pa.string()),
        pa.field("receiver_bank", pa.string()),
        pa.field("is_self_transfer", pa.bool_(), nullable=False),
        pa.field("is_reversal", pa.bool_(), nullable=False),
        pa.field("txn_id_generated", pa.bool_(), nullable=False),
    ],
    metadata={"flowscan.schema": SCHEMA_VERSION, "flowscan.sort": "timestamp,txn_id"},
)

CONTENT_COLUMNS = tuple(n for n in CANONICAL_SCHEMA.names if n not in ("txn_id", "txn_id_generated"))
"""Columns compared when two rows share a txn_id (identical content = exact duplicate)."""

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("raw", pa.string()),
    ],
    metadata={"flowscan.schema": SCHEMA_VERSION},
)
"""Rows that were not accepted. ``row_number`` counts data records from 1 in their file
(the header is not a record; malformed records count); ``raw`` is the source record as a
JSON object (a malformed CSV record: ``{"text": ...}``)."""

LABEL_SCHEMA = pa.schema(
    [
        pa.field("txn_id", pa.string(), nullable=False),
        pa.field("is_laundering", pa.bool_()),
        pa.field("typology", pa.string()),
        pa.field("alert_id", pa.string()),
    ]
)
"""Ground truth split off a labelled source, keyed by the canonical txn_id. Detection never
reads it; evaluation does."""

ACCOUNT_LABEL_SCHEMA = pa.schema(
    [
        pa.field("account", pa.string(), nullable=False),
        pa.field("is_laundering", pa.bool_(), nullable=False),
        pa.field("typology", pa.string()),
        pa.field("alert_id", pa.string()),
    ]
)
"""Account-level ground truth (AMLSim's nodes.csv ``isFraud``)."""


def is_canonical(schema: pa.Schema) -> bool:
    """True when ``schema`` was written by flowscan as a canonical ledger."""
    meta = schema.metadata or {}
    return meta.get(b"flowscan.schema") == SCHEMA_VERSION.encode() and set(CANONICAL_SCHEMA.names) <= set(
        schema.names
    )
