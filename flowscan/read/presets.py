"""Presets for the public AML data formats and the generic column mapping.

A preset recognises a file from its header and *stages* each record batch: it names the
source columns by canonical column, leaving the values raw (text, or the file's own types).
:mod:`flowscan.validate` then turns staged batches into canonical rows or rejects, the same
way for every source. Ground-truth columns are staged apart, as labels.

=============  ==========================================================================
preset         recognised by (header)
=============  ==========================================================================
canonical      a Parquet/IPC file written by flowscan (schema metadata)
amlworld       IBM AMLworld: Timestamp, From Bank, Account, To Bank, Account, Amount
               Received, Receiving Currency, Amount Paid, Payment Currency, Payment Format
amlsim         IBM AMLSim (newer output): tran_id, orig_acct, bene_acct, tx_type, base_amt,
               tran_timestamp (transactions.csv and cash_tx.csv)
amlsim-legacy  IBM AMLSim (original output): sourceNodeId, targetNodeId, value, time
saml-d         SAML-D: Time, Date, Sender_account, Receiver_account, Amount, ...
paysim         PaySim: step, type, amount, nameOrig, ..., nameDest, ..., isFraud
csv, parquet,  any file whose columns carry canonical names, or are mapped to them with
ipc            ``columns`` (``--map sender=DebitAccount``)
=============  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, DataError
from ..options import MAPPABLE, ReadOptions
from ..schema import is_canonical

# Channel vocabularies of the public formats (matched case-insensitively).
GENERIC_CHANNELS = {
    "cash": "cash", "cash deposit": "cash", "cash withdrawal": "cash", "atm": "cash", "cash-in": "cash",
    "cash-out": "cash", "cash_in": "cash", "cash_out": "cash", "deposit": "cash", "withdrawal": "cash",
    "wire": "wire", "wire transfer": "wire", "swift": "wire", "transfer": "wire", "cross-border": "wire",
    "ach": "ach", "direct debit": "ach", "direct deposit": "ach", "debit": "ach", "eft": "ach",
    "card": "card", "credit card": "card", "debit card": "card", "pos": "card", "prepaid card": "card",
    "p2p": "p2p", "zelle": "p2p", "venmo": "p2p", "mobile": "p2p",
    "check": "check", "cheque": "check",
    "crypto": "crypto", "bitcoin": "crypto", "virtual currency": "crypto",
    "other": "other", "reinvestment": "other", "payment": "other",
}

AMLWORLD_CURRENCIES = {
    "US Dollar": "USD", "Euro": "EUR", "Yuan": "CNY", "Yen": "JPY", "Rupee": "INR", "UK Pound": "GBP",
    "Ruble": "RUB", "Canadian Dollar": "CAD", "Australian Dollar": "AUD", "Swiss Franc": "CHF",
    "Brazil Real": "BRL", "Mexican Peso": "MXN", "Saudi Riyal": "SAR", "Shekel": "ILS", "Bitcoin": "XBT",
}

SAMLD_CURRENCIES = {
    "UK pounds": "GBP", "US dollar": "USD", "Euro": "EUR", "Dirham": "AED", "Moroccan dirham": "MAD",
    "Indian rupee": "INR", "Pakistani rupee": "PKR", "Naira": "NGN", "Swiss franc": "CHF", "Turkish lira": "TRY",
    "Yen": "JPY", "Mexican Peso": "MXN", "Albanian lek": "ALL",
}


@dataclass
class Staged:
    """One batch of source rows, named by canonical column, values still raw.

    ``columns`` maps canonical names to arrays (a missing optional column is absent); the
    timestamp may be text (parsed with ``timestamp_format``), an Arrow timestamp, or already
    UTC; ``amount_is_minor`` says the amount is already integer minor units.
    """

    columns: dict[str, pa.Array]
    raw: pa.RecordBatch
    labels: dict[str, pa.Array] = field(default_factory=dict)
    timestamp_format: str | None = None
    naive_zone: str | None = None
    amount_is_minor: bool = False
    currency_aliases: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    id_casts: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Preset:
    """A source format: how to recognise it and how to stage its batches."""

    name: str
    description: str
    header: tuple[str, ...]
    stage: Callable[[pa.RecordBatch, ReadOptions], Staged]
    kinds: tuple[str, ...] = ("csv",)
    role: str = "ledger"  # ledger | account_labels | side
    labels: tuple[str, ...] = ()
    currency: str | None = None  # the source's currency when it has no currency column
    channel: str = "other"  # the channel when the source has no channel column
    naive_time: bool = False  # timestamps carry no zone: --tz is required

    def matches(self, columns: list[str]) -> bool:
        folded = {c.casefold() for c in columns}
        return all(h.casefold() in folded for h in self.header)


def _col(batch: pa.RecordBatch, name: str) -> pa.Array:
    lookup = {n.casefold(): n for n in batch.schema.names}
    return batch.column(lookup[name.casefold()])


def _has(batch: pa.RecordBatch, name: str) -> bool:
    """Whether the batch has the column ``name`` (case-insensitively): for columns a preset
    reads when present but does not need to recognise the format (labels, say)."""
    return name.casefold() in {n.casefold() for n in batch.schema.names}


def _null_if(array: pa.Array, *values: str) -> pa.Array:
    """Null where the trimmed text is one of ``values`` (an unused side marker such as ``-``)."""
    text = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.is_in(text, value_set=pa.array(list(values))), pa.scalar(None, pa.string()), array)


def _bool_label(array: pa.Array) -> pa.Array:
    text = pc.utf8_lower(pc.utf8_trim_whitespace(array.cast(pa.string())))
    true = pc.is_in(text, value_set=pa.array(["1", "true", "yes", "t", "y"]))
    false = pc.is_in(text, value_set=pa.array(["0", "false", "no", "f", "n"]))
    return pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))


_END_OF_9999_US = 253_402_300_800 * 1_000_000
"""10000-01-01T00:00:00Z in microseconds since the epoch."""


def _steps(array: pa.Array, options: ReadOptions, default_unit: str) -> pa.Array:
    """Integer steps to UTC timestamps: ``step_origin + step * step_unit``. Text that is not
    an integer becomes null (rejected later as ``bad_timestamp``)."""
    text = pc.utf8_trim_whitespace(array.cast(pa.string()))
    ok = pc.match_substring_regex(text, r"^[0-9]{1,9}$")
    steps = pc.if_else(ok, text, pa.scalar(None, pa.string())).cast(pa.int64())
    origin_us = int(options.instant("step_origin").timestamp()) * 1_000_000
    step_us = options.step_seconds(default_unit) * 1_000_000
    # a step past the year 9999 is clamped to just after it (out of every valid range), never
    # wrapped around 64 bits (999,999,999 days would be)
    steps = pc.min_element_wise(steps, pa.scalar((_END_OF_9999_US - origin_us) // step_us + 1, pa.int64()),
                                skip_nulls=False)
    micros = pc.add(pc.multiply(steps, step_us), origin_us)
    return micros.cast(pa.timestamp("us", tz="UTC"))


# -- AMLworld --------------------------------------------------------------------------------


AMLWORLD_LAYOUT = ("Timestamp", "From Bank", "Account", "To Bank", "Account", "Amount Received",
                   "Receiving Currency", "Amount Paid", "Payment Currency", "Payment Format")
"""The first ten columns of an AMLworld transactions file, in their published order."""


def _stage_amlworld(batch: pa.RecordBatch, options: ReadOptions) -> Staged:
    # The header repeats "Account"; csv_header names the second one "Account_2": map by position,
    # so the columns must be in the published order (the header's names alone do not say
    # which Account is the receiver).
    names = batch.schema.names
    found = [n.casefold() for n in names[:10]]
    if found[4:5] == ["account_2"]:
        found[4] = "account"
    if found != [n.casefold() for n in AMLWORLD_LAYOUT]:
        raise DataError(f"the AMLworld columns are not in their published order ({', '.join(AMLWORLD_LAYOUT)}); "
                        "read the file with --format csv and --map")
    return Staged(
        columns={
            "timestamp": batch.column(0),
            "sender_bank": batch.column(1),
            "sender": batch.column(2),
            "receiver_bank": batch.column(3),
            "receiver": batch.column(4),
            "amount": batch.column(7),
            "currency": batch.column(8),
            "channel_raw": batch.column(9),
        },
        raw=batch,
        labels={"is_laundering": _bool_label(batch.column(10))} if len(names) > 10 else {},
        timestamp_format="%Y/%m/%d %H:%M",
        mapping={"timestamp": names[0], "sender_bank": names[1], "sender": f"{names[2]} (3rd column)",
                 "receiver_bank": names[3], "receiver": f"{names[2]} (5th column)", "amount": names[7],
                 "currency": names[8], "channel_raw": names[9]},
        currency_aliases=AMLWORLD_CURRENCIES,
        channels={"ach": "ach", "cash": "cash", "cheque": "check", "credit card": "card", "wire": "wire",
                  "bitcoin": "crypto", "reinvestment": "other"},
    )


# -- AMLSim ----------------------------------------------------------------------------------


def _stage_amlsim(batch: pa.RecordBatch, options: ReadOptions) -> Staged:
    orig = _null_if(_col(batch, "orig_acct"), "-", "")
    bene = _null_if(_col(batch, "bene_acct"), "-", "")
    kind = pc.utf8_upper(pc.utf8_trim_whitespace(_col(batch, "tx_type")))
    # cash_tx.csv names the account on one side and '-' on the other; CASH-IN is a deposit
    # into that account, CASH-OUT a withdrawal from it, whichever column holds it.
    account = pc.coalesce(orig, bene)
    cash_in = pc.equal(kind, "CASH-IN")
    cash_out = pc.equal(kind, "CASH-OUT")
    none = pa.scalar(None, pa.string())
    sender = pc.if_else(cash_in, none, pc.if_else(cash_out, account, orig))
    receiver = pc.if_else(cash_in, account, pc.if_else(cash_out, none, bene))
    labels = {}
    if "is_sar" in {n.casefold() for n in batch.schema.names}:
        labels["is_laundering"] = _bool_label(_col(batch, "is_sar"))
    if "alert_id" in {n.casefold() for n in batch.schema.names}:
        labels["alert_id"] = _null_if(_col(batch, "alert_id"), "-1", "-", "")
    return Staged(
        columns={
            "txn_id": _col(batch, "tran_id"),
            "timestamp": _col(batch, "tran_timestamp"),
            "sender": sender,
            "receiver": receiver,
            "amount": _col(batch, "base_amt"),
            "channel_raw": _col(batch, "tx_type"),
        },
        raw=batch,
        labels=labels,
        mapping={"txn_id": "tran_id", "timestamp": "tran_timestamp", "sender": "orig_acct (bene_acct for CASH-OUT)",
                 "receiver": "bene_acct (orig_acct for CASH-IN)", "amount": "base_amt", "channel_raw": "tx_type"},
        currency_aliases={},
        channels={"transfer": "wire", "cash-in": "cash", "cash-out": "cash", "wire": "wire", "check": "check",
                  "credit": "card", "deposit": "cash"},
    )


def _stage_amlsim_legacy(batch: pa.RecordBatch, options: ReadOptions) -> Staged:
    return Staged(
        columns={
            "timestamp": _steps(_col(batch, "time"), options, "d"),
            "sender": _col(batch, "sourceNodeId"),
            "receiver": _col(batch, "targetNodeId"),
            "amount": _col(batch, "value"),
        },
        raw=batch,
        mapping={"timestamp": "time (steps from step_origin)", "sender": "sourceNodeId", "receiver": "targetNodeId",
                 "amount": "value"},
    )


def _stage_amlsim_nodes(batch: pa.RecordBatch, options: ReadOptions) -> Staged:
    return Staged(columns={"account": _col(batch, "nodeid")}, raw=batch,
                  labels={"is_laundering": _bool_label(_col(batch, "isFraud"))})


def _stage_amlsim_alert_accounts(batch: pa.RecordBatch, options: ReadOptions) -> Staged:
    return Staged(
        columns={"account": _col(batch, "acct_id")},
        raw=batch,
        labels={
            "is_laundering": _bool_label(_col(batch, "is_sar")),
            "typology": _col(batch, "alert_type"),
            "alert_id": _col(batch, "alert_id"),
        },
    )


# -- SAML-D and PaySim -----------------------------------------------------------------------


def _stage_samld(batch: pa.RecordBatch, options: ReadOptions) -> Staged:
    when = pc.binary_join_element_wise(
        pc.utf8_trim_whitespace(_col(batch, "Date")), pc.utf8_trim_whitespace(_col(batch, "Time")), " "
    )
    # the bank locations and the two label columns are read when present (the header that
    # recognises SAML-D does not include them)
    optional = {"location": "Sender_bank_location", "country": "Receiver_bank_location"}
    optional = {name: source for name, source in optional.items() if _has(batch, source)}
    labels = {}
    if _has(batch, "Is_laundering"):
        labels["is_laundering"] = _bool_label(_col(batch, "Is_laundering"))
    if _has(batch, "Laundering_type"):
        labels["typology"] = _col(batch, "Laundering_type")
    return Staged(
        columns={
            "timestamp": when,
            "sender": _col(batch, "Sender_account"),
            "receiver": _col(batch, "Receiver_account"),
            "amount": _col(batch, "Amount"),
            "currency": _col(batch, "Payment_currency"),
            **{name: _col(batch, source) for name, source in optional.items()},
            "channel_raw": _col(batch, "Payment_type"),
        },
        raw=batch,
        labels=labels,
        timestamp_format="%Y-%m-%d %H:%M:%S",
        mapping={"timestamp": "Date + Time", "sender": "Sender_account", "receiver": "Receiver_account",
                 "amount": "Amount", "currency": "Payment_currency", **optional, "channel_raw": "Payment_type"},
        currency_aliases=SAMLD_CURRENCIES,
        channels={"cash deposit": "cash", "cash withdrawal": "cash", "cross-border": "wire", "credit card": "card",
                  "debit card": "card", "ach": "ach", "cheque": "check"},
    )


def _stage_paysim(batch: pa.RecordBatch, options: ReadOptions) -> Staged:
    kind = pc.utf8_upper(pc.utf8_trim_whitespace(_col(batch, "type")))
    orig, dest = _col(batch, "nameOrig"), _col(batch, "nameDest")
    # CASH_IN: the customer (nameOrig) hands cash to an agent (nameDest) and receives e-money
    # from the agent, so the money in the ledger flows agent -> customer.
    cash_in = pc.equal(kind, "CASH_IN")
    labels = {"is_laundering": _bool_label(_col(batch, "isFraud"))} if _has(batch, "isFraud") else {}
    return Staged(
        columns={
            "timestamp": _steps(_col(batch, "step"), options, "h"),
            "sender": pc.if_else(cash_in, dest, orig),
            "receiver": pc.if_else(cash_in, orig, dest),
            "amount": _col(batch, "amount"),
            "channel_raw": _col(batch, "type"),
        },
        raw=batch,
        labels=labels,
        mapping={"timestamp": "step (hours from step_origin)", "sender": "nameOrig (nameDest for CASH_IN)",
                 "receiver": "nameDest (nameOrig for CASH_IN)", "amount": "amount", "channel_raw": "type"},
        channels={"cash_in": "cash", "cash_out": "cash", "transfer": "p2p", "payment": "other", "debit": "ach"},
    )


# -- generic mapping -------------------------------------------------------------------------


def _stage_mapped(batch: pa.RecordBatch, options: ReadOptions) -> Staged:
    lookup = {n.casefold(): n for n in batch.schema.names}
    columns, mapping = {}, {}
    for name in MAPPABLE:
        source = options.columns.get(name)
        if source is None:
            source = lookup.get(name.casefold())
            if source is None and name == "channel_raw":
                source = lookup.get("channel")
        elif source not in batch.schema.names:
            source = lookup.get(source.casefold())
        if source is not None:
            columns[name] = batch.column(source)
            mapping[name] = source
    canonical = is_canonical(batch.schema)
    id_casts = []
    for name in ("txn_id", "sender", "receiver", "sender_bank", "receiver_bank", "mcc"):
        array = columns.get(name)
        if array is not None and not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            if pa.types.is_integer(array.type):
                id_casts.append(name)
                columns[name] = array.cast(pa.string())
            elif pa.types.is_dictionary(array.type):
                columns[name] = array.cast(pa.string())
            else:
                raise DataError(f"column '{name}' has type {array.type}; ids must be text (or integers)")
    if canonical:  # flowscan's own file: keep what it already decided
        for name in ("channel", "is_reversal", "txn_id_generated"):
            columns[name] = batch.column(name)
            mapping[name] = name
    return Staged(columns=columns, raw=batch, amount_is_minor=canonical or options.amount_unit == "minor",
                  id_casts=id_casts, mapping=mapping)


def _required_generic(columns: list[str], options: ReadOptions) -> list[str]:
    """Canonical columns the generic mapping cannot find in ``columns``."""
    folded = {c.casefold() for c in columns}
    missing = []
    for name in ("timestamp", "amount"):
        source = options.columns.get(name, name)
        if source.casefold() not in folded:
            missing.append(name)
    sides = [options.columns.get(n, n).casefold() in folded for n in ("sender", "receiver")]
    if not any(sides):
        missing.append("sender or receiver")
    return missing


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("amlworld", "IBM AMLworld (HI/LI Small/Medium/Large) transactions CSV",
               ("Timestamp", "From Bank", "Account", "To Bank", "Amount Received", "Receiving Currency",
                "Amount Paid", "Payment Currency", "Payment Format"), _stage_amlworld, labels=("Is Laundering",),
               naive_time=True),
        Preset("amlsim", "IBM AMLSim transactions.csv / cash_tx.csv (newer output)",
               ("tran_id", "orig_acct", "bene_acct", "tx_type", "base_amt", "tran_timestamp"), _stage_amlsim,
               labels=("is_sar", "alert_id"), currency="USD"),
        Preset("amlsim-legacy", "IBM AMLSim transactions.csv (original output, integer time steps)",
               ("sourceNodeId", "targetNodeId", "value", "time"), _stage_amlsim_legacy, currency="USD",
               channel="wire"),
        Preset("saml-d", "SAML-D synthetic AML transactions CSV",
               ("Time", "Date", "Sender_account", "Receiver_account", "Amount", "Payment_currency", "Payment_type"),
               _stage_samld, labels=("Is_laundering", "Laundering_type"), naive_time=True),
        Preset("paysim", "PaySim mobile-money simulation CSV",
               ("step", "type", "amount", "nameOrig", "nameDest"), _stage_paysim,
               labels=("isFraud", "isFlaggedFraud"), currency="USD"),
        Preset("amlsim-nodes", "IBM AMLSim nodes.csv (account-level labels)", ("nodeid", "isFraud"),
               _stage_amlsim_nodes, role="account_labels"),
        Preset("amlsim-alert-accounts", "IBM AMLSim alert_accounts.csv (members of planted patterns)",
               ("alert_id", "alert_type", "acct_id", "is_sar"), _stage_amlsim_alert_accounts, role="account_labels"),
        Preset("amlsim-side", "IBM AMLSim side file (accounts, SAR accounts, alert transactions, counts)",
               (), _stage_mapped, role="side"),
    ]
}

GENERIC = Preset("mapped", "columns named or mapped to canonical ones", (), _stage_mapped,
                 kinds=("csv", "parquet", "ipc"))

_AMLSIM_SIDE_HEADERS = (
    ("acct_id", "dsply_nm"),
    ("ALERT_ID", "ACCOUNT_ID", "IS_SAR"),
    ("alert_id", "alert_type", "is_sar", "tran_id"),
    ("step", "normal", "SAR"),
)


def detect(columns: list[str], kind: str, schema: pa.Schema | None, options: ReadOptions) -> Preset:
    """The preset of a file from its columns, or the one ``options.format`` forces."""
    if options.format not in ("auto", "csv", "parquet", "ipc", "canonical"):
        preset = PRESETS[options.format]
        missing = [h for h in preset.header if h.casefold() not in {c.casefold() for c in columns}]
        if missing:
            raise DataError(f"the file does not have the {preset.name} columns {missing}; check --format")
        return preset
    if options.format == "auto" and not options.columns:
        folded = {c.casefold() for c in columns}
        for header in _AMLSIM_SIDE_HEADERS:
            if all(h.casefold() in folded for h in header):
                return PRESETS["amlsim-side"]
        for preset in PRESETS.values():
            if preset.header and preset.matches(columns):
                return preset
    missing = _required_generic(columns, options)
    if missing:
        shown = ", ".join(columns[:20]) + (", …" if len(columns) > 20 else "")
        raise DataError(
            f"cannot tell the format: no preset matches the header ({shown}) and the columns "
            f"{missing} are not found; pass --format PRESET or map columns with --map CANONICAL=SOURCE"
        )
    if options.format == "canonical" and not (schema is not None and is_canonical(schema)):
        raise ConfigError("--format canonical needs a Parquet or IPC file written by flowscan")
    return GENERIC
