"""Fuzz target: the input presets of the public AML data sets (IBM AMLworld, AMLSim new and
legacy, SAML-D, PaySim, AMLSim's label and side files) and the generic column mapping, through
:func:`flowscan.read_ledger`.

The fuzzer's bytes choose a format, a variation of its published header (a column dropped,
repeated, moved, renamed in another case, or an extra one), rows whose cells are plausible
values of each column (timestamps in the format's own layout, steps, amounts, currency names
and codes, channel names, label values, AMLSim's ``-`` side markers) or arbitrary text, and
the read options (time zone, forced format, currency, step unit and origin, amount options,
column mapping). The file is read alone, given twice, or as a folder (with a hive partition
folder) beside an AMLSim label file.

Account ids carry a marker. Only flowscan's own errors may escape, in one line that never
quotes an account id; an accepted read must reconcile and give a well-formed canonical ledger
(see ``_harness.check_read``).

Run it longer with ``python tests/fuzz/fuzz_presets.py -max_total_time=600`` (libFuzzer flags).
"""

from __future__ import annotations

import csv
import io
import sys

import atheris

import _harness as H

with H.instrumented_imports():
    from flowscan.errors import FlowscanError
    from flowscan.ingest import read_ledger
    from flowscan.options import ReadOptions

# (format, [(column, kind), ...]): the published headers, each column with the kind of value it holds
LAYOUTS = [
    ("amlworld", [("Timestamp", "slash_time"), ("From Bank", "bank"), ("Account", "account"), ("To Bank", "bank"),
                  ("Account", "account"), ("Amount Received", "amount"), ("Receiving Currency", "currency_name"),
                  ("Amount Paid", "amount"), ("Payment Currency", "currency_name"), ("Payment Format", "channel"),
                  ("Is Laundering", "label")]),
    ("amlsim", [("tran_id", "id"), ("orig_acct", "side_account"), ("bene_acct", "side_account"),
                ("tx_type", "channel"), ("base_amt", "amount"), ("tran_timestamp", "iso"), ("is_sar", "label"),
                ("alert_id", "alert")]),
    ("amlsim-legacy", [("sourceNodeId", "account"), ("targetNodeId", "account"), ("value", "amount"),
                       ("time", "step")]),
    ("saml-d", [("Time", "clock"), ("Date", "date"), ("Sender_account", "account"), ("Receiver_account", "account"),
                ("Amount", "amount"), ("Payment_currency", "currency_name"), ("Received_currency", "currency_name"),
                ("Sender_bank_location", "text"), ("Receiver_bank_location", "text"), ("Payment_type", "channel"),
                ("Is_laundering", "label"), ("Laundering_type", "text")]),
    ("paysim", [("step", "step"), ("type", "channel"), ("amount", "amount"), ("nameOrig", "account"),
                ("oldbalanceOrg", "amount"), ("newbalanceOrig", "amount"), ("nameDest", "account"),
                ("oldbalanceDest", "amount"), ("newbalanceDest", "amount"), ("isFraud", "label"),
                ("isFlaggedFraud", "label")]),
    ("amlsim-nodes", [("nodeid", "account"), ("isFraud", "label"), ("init_balance", "amount")]),
    ("amlsim-alert-accounts", [("alert_id", "alert"), ("alert_type", "text"), ("acct_id", "account"),
                               ("is_sar", "label")]),
    ("csv", [("txn_id", "id"), ("timestamp", "iso"), ("sender", "account"), ("receiver", "account"),
             ("amount", "amount"), ("currency", "currency_code"), ("channel", "channel"), ("location", "text"),
             ("mcc", "text")]),
    ("mapped", [("Ref", "id"), ("BookedAt", "iso"), ("FromAcct", "account"), ("ToAcct", "account"),
                ("Value", "amount"), ("Cur", "currency_code"), ("Type", "channel")]),
    ("amlsim-side", [("acct_id", "account"), ("dsply_nm", "text"), ("type", "text")]),
]
MAPPING = {"txn_id": "Ref", "timestamp": "BookedAt", "sender": "FromAcct", "receiver": "ToAcct", "amount": "Value",
           "currency": "Cur", "channel_raw": "Type"}
LABEL_FILES = [
    ("nodes.csv", "nodeid,isFraud\n{a},1\n{b},0\n"),
    ("alert_accounts.csv", "alert_id,alert_type,acct_id,is_sar\n1,fan_in,{a},True\n1,fan_in,{b},\n"),
    ("accounts.csv", "acct_id,dsply_nm\n{a},x\n"),
]

CURRENCY_NAMES = ["US Dollar", "Euro", "Yuan", "Yen", "UK Pound", "Bitcoin", "UK pounds", "Dirham", "Naira",
                  "Albanian lek", "us dollar", " Euro ", "Doubloon"]
CURRENCY_CODES = ["USD", "usd", " EUR", "JPY", "BHD", "XBT", "CLF", "XAU", "XXX", "US", ""]
CHANNELS = ["Wire", "ACH", "Cash", "Cheque", "Credit Card", "Bitcoin", "Reinvestment", "TRANSFER", "CASH-IN",
            "CASH-OUT", "CASH_IN", "CASH_OUT", "PAYMENT", "DEBIT", "Cash Deposit", "Cross-border", "wire", "x"]
LABELS = ["0", "1", "True", "False", "yes", "n", "-1", "", "2"]
ZONES = ["UTC", "UTC", "UTC", None, "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
FORMATS = ["auto", "auto", "auto", "same", "csv", "amlworld", "amlsim", "amlsim-legacy", "saml-d", "paysim"]
STEP_ORIGINS = ["2017-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2099-12-31T23:00:00Z", "1677-09-22T00:13:00Z",
                "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]


def number(fdp) -> str:
    """Digits of a chosen size, from one digit to twenty."""
    return str(fdp.ConsumeIntInRange(0, 10 ** fdp.ConsumeIntInRange(1, 20)))


def plausible(fdp, kind: str) -> str:
    """A value of the column kind ``kind``, sometimes at or past its limits."""
    two = lambda hi: f"{fdp.ConsumeIntInRange(0, hi):02d}"  # noqa: E731
    year = lambda: f"{fdp.ConsumeIntInRange(0, 10000):04d}"  # noqa: E731
    if kind == "slash_time":
        return f"{year()}/{two(13)}/{two(32)} {two(25)}:{two(61)}"
    if kind == "date":
        return f"{year()}-{two(13)}-{two(32)}"
    if kind == "clock":
        return f"{two(25)}:{two(61)}:{two(61)}"
    if kind == "iso":
        zone = H.pick(fdp, ["Z", "", "+05:30", "-23:59", "+24:00", "z", ".123456Z", ".1234567891Z"])
        sep = H.pick(fdp, ["T", " "])
        return f"{year()}-{two(13)}-{two(32)}{sep}{two(25)}:{two(61)}:{two(61)}{zone}"
    if kind == "step":
        return H.pick(fdp, [number(fdp), "-1", "999999999", "1000000000", "1.5", " 7 "])
    if kind in ("account", "side_account"):
        if kind == "side_account" and fdp.ConsumeBool():
            return H.pick(fdp, ["-", "", " - "])
        return f"{H.MARKER}{fdp.ConsumeIntInRange(0, 20)}"
    if kind == "bank":
        return H.pick(fdp, ["010", "1", "0214250", ""])
    if kind == "amount":
        return H.pick(fdp, [f"{number(fdp)}.{number(fdp)}", number(fdp), "-5.00", "1,000.50", "NaN", "inf", "1e5",
                            "0.00012345", "", "9223372036854775807", "92233720368547758.08"])
    if kind == "currency_name":
        return H.pick(fdp, CURRENCY_NAMES)
    if kind == "currency_code":
        return H.pick(fdp, CURRENCY_CODES)
    if kind == "channel":
        return H.pick(fdp, CHANNELS)
    if kind == "label":
        return H.pick(fdp, LABELS)
    if kind == "alert":
        return H.pick(fdp, ["-1", "1", "", "-"])
    if kind == "id":
        return H.pick(fdp, [f"T{fdp.ConsumeIntInRange(0, 9)}", "", " T1 ", "x" * 200])
    return H.text(fdp, 12)


def cell(fdp, kind: str) -> str:
    """Mostly a plausible value, sometimes arbitrary text (an account id keeps its marker)."""
    if fdp.ConsumeIntInRange(0, 7):
        return plausible(fdp, kind)
    value = H.text(fdp).replace(H.MARKER, "")
    return H.MARKER + value if kind in ("account", "side_account") else value


def vary(fdp, columns: list) -> list:
    """The header, perhaps changed in a few of the ways a bank's export might change it."""
    columns = list(columns)
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        columns = _vary_once(fdp, columns)
    return columns


def _vary_once(fdp, columns: list) -> list:
    change = fdp.ConsumeIntInRange(0, 5)
    if change == 1 and columns:
        del columns[fdp.ConsumeIntInRange(0, len(columns) - 1)]
    elif change == 2 and columns:
        columns.append(H.pick(fdp, columns))
    elif change == 3 and len(columns) > 1:
        i, j = fdp.ConsumeIntInRange(0, len(columns) - 1), fdp.ConsumeIntInRange(0, len(columns) - 1)
        columns[i], columns[j] = columns[j], columns[i]
    elif change == 4 and columns:
        i = fdp.ConsumeIntInRange(0, len(columns) - 1)
        columns[i] = (columns[i][0].upper() if fdp.ConsumeBool() else columns[i][0].lower(), columns[i][1])
    elif change == 5:
        columns.insert(fdp.ConsumeIntInRange(0, len(columns)), (H.text(fdp, 8).replace(H.MARKER, ""), "text"))
    return columns


def write_csv(path, header: list, rows: list, delimiter: str) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def options_for(fdp, name: str) -> ReadOptions:
    """Read options chosen by the fuzzer for the format ``name`` (raises ConfigError for some)."""
    form = H.pick(fdp, FORMATS)
    form = name if form == "same" and name in ("amlworld", "amlsim", "amlsim-legacy", "saml-d", "paysim") else form
    form = "auto" if form == "same" else form
    return ReadOptions(
        format=form,
        timezone=H.pick(fdp, ZONES),
        currency=H.pick(fdp, [None, None, "USD", "EUR", "JPY"]),
        columns=MAPPING if name == "mapped" and fdp.ConsumeIntInRange(0, 3) else {},
        step_unit=H.pick(fdp, [None, None, "s", "min", "h", "d"]),
        step_origin=H.pick(fdp, STEP_ORIGINS),
        negative_amounts=H.pick(fdp, ["reject", "reversal"]),
        amount_rounding=H.pick(fdp, ["reject", "half-even"]),
        thousands_mark=H.pick(fdp, ["", ","]),
        on_bad_rows="fail" if fdp.ConsumeIntInRange(0, 15) == 0 else "reject",
        channel_map=H.pick(fdp, [{}, {"TRANSFER": "p2p", "x": "crypto"}]),
        max_reject_rate=1.0,
        threads=1,
    )


def inputs_for(fdp, name: str, header: list, rows: list, delimiter: str) -> list:
    """Write the ledger (alone, twice, or in a folder with a label file); the inputs to read."""
    layout = fdp.ConsumeIntInRange(0, 5)
    folder = H.fresh_dir("in")
    if layout == 0:  # a folder: a hive partition and a label or side file beside the ledger
        part = folder / f"bank={H.pick(fdp, ['010', 'a b', '%20', ''])}"
        part.mkdir()
        label_name, label_text = H.pick(fdp, LABEL_FILES)
        (folder / label_name).write_text(label_text.format(a=f"{H.MARKER}1", b=f"{H.MARKER}2"))
        write_csv(part / f"{name}.csv", header, rows, delimiter)
        return [folder]
    path = folder / f"{name}.csv"
    write_csv(path, header, rows, delimiter)
    return [path, path] if layout == 1 else [path]


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    name, columns = H.pick(fdp, LAYOUTS)
    columns = vary(fdp, columns)
    rows = [[cell(fdp, kind) for _, kind in columns] for _ in range(fdp.ConsumeIntInRange(0, 12))]
    header = [column for column, _ in columns]
    try:
        options = options_for(fdp, name)
        delimiter = options.delimiter if fdp.ConsumeIntInRange(0, 15) else ";"
        paths = inputs_for(fdp, name, header, rows, delimiter)
        result = read_ledger(*paths, options=options)
    except FlowscanError as error:
        H.check_message(error, marked=True)
        return
    H.check_read(result, options)


def seeds() -> list[bytes]:
    """A few hundred bytes per layout, so that each format starts with rows to mutate."""
    return [bytes([i, 0]) + bytes(range(256)) * 2 for i in range(len(LAYOUTS))]


if __name__ == "__main__":
    H.main(TestOneInput, seeds())
    sys.exit(0)
