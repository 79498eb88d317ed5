"""Naive twins of flowscan's kernels: the most obvious loop over rows, in plain Python.

Each twin takes and returns Python lists (and ints), never NumPy or Arrow, so it cannot share a
bug with the kernel it mirrors. The tests compare every kernel with its twin; where the two
disagree, the twin is the specification.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal

# Status codes of flowscan.kernels.parse, repeated here on purpose: the twin is the spec.
OK = 0
EMPTY = 1
NOT_A_NUMBER = 2
TOO_PRECISE = 3
OVERFLOW = 4
SKIPPED = 5

INT64_MAX = 2**63 - 1
MASK64 = 2**64 - 1
ASCII_DIGITS = "0123456789"


# -- kernels/parse.py ------------------------------------------------------------------------


def parse_minor_units(
    strings: list[str | None],
    digits: list[int],
    decimal_mark: str = ".",
    thousands_mark: str = "",
    round_half_even: bool = False,
) -> tuple[list[int], list[int]]:
    """Twin of ``flowscan.kernels.parse.parse_minor_units``.

    The grammar, after trimming spaces and tabs (only those) from both ends::

        [+|-] integer-part [decimal_mark fraction-part]

    with ASCII digits only, at least one digit in all, and ``thousands_mark`` (when given)
    allowed only *between* two digits of the integer part ("1,23,4" is 1234: group sizes are
    not checked; "1,,2", ",5", "1," and "1,.5" are not numbers). Digits beyond the currency's
    ``digits`` must be zeros, unless ``round_half_even``, which rounds them away half to even.

    Status precedence: null or blank -> EMPTY (whatever the digits); negative digits ->
    SKIPPED; text outside the grammar -> NOT_A_NUMBER (whatever its length); magnitude of the
    truncated value above int64 max -> OVERFLOW; non-zero dropped digits without rounding ->
    TOO_PRECISE; rounding up past int64 max -> OVERFLOW. The magnitude must fit in int64, so -2**63 is OVERFLOW too (a
    negative source amount is later turned positive with ``abs``).
    """
    values = []
    status = []
    for text, scale in zip(strings, digits):
        value, code = _parse_one(text, scale, decimal_mark, thousands_mark, round_half_even)
        values.append(value)
        status.append(code)
    return values, status


def _parse_one(text, scale, decimal_mark, thousands_mark, round_half_even):
    if text is None:
        return 0, EMPTY
    text = text.strip(" \t")
    if text == "":
        return 0, EMPTY
    if scale < 0:
        return 0, SKIPPED
    negative = text[0] == "-"
    if text[0] in ("-", "+"):
        text = text[1:]
    if text.count(decimal_mark) > 1:
        return 0, NOT_A_NUMBER
    int_part, _, frac_part = text.partition(decimal_mark)
    if thousands_mark:
        groups = int_part.split(thousands_mark)
        if len(groups) > 1 and "" in groups:  # a separator not between two digits
            return 0, NOT_A_NUMBER
        int_part = "".join(groups)
    if any(ch not in ASCII_DIGITS for ch in int_part + frac_part):
        return 0, NOT_A_NUMBER
    if int_part + frac_part == "":
        return 0, NOT_A_NUMBER

    kept = frac_part[:scale].ljust(scale, "0")
    dropped = frac_part[scale:]
    magnitude = int("0" + int_part + kept)
    if magnitude > INT64_MAX:
        return 0, OVERFLOW
    if dropped.strip("0") != "":
        if not round_half_even:
            return 0, TOO_PRECISE
        exact = Decimal(f"{int_part or '0'}{kept}.{dropped}")
        context = Context(prec=len(text) + 10, rounding=ROUND_HALF_EVEN)
        magnitude = int(exact.to_integral_value(context=context))
        if magnitude > INT64_MAX:
            return 0, OVERFLOW
    return (-magnitude if negative else magnitude), OK


# -- kernels/csr.py --------------------------------------------------------------------------


def group_rows(codes: list[int], n_groups: int) -> tuple[list[int], list[int]]:
    """Twin of ``flowscan.kernels.csr.group_rows``: rows of each code in input order, negative
    codes left out, as (offsets, rows)."""
    groups = [[] for _ in range(n_groups)]
    for row, code in enumerate(codes):
        if code >= 0:
            groups[code].append(row)
    offsets = [0]
    rows = []
    for members in groups:
        rows.extend(members)
        offsets.append(len(rows))
    return offsets, rows


# -- kernels/ids.py --------------------------------------------------------------------------

_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_GOLDEN = 0x9E3779B97F4A7C15


def mix(h: int, x: int) -> int:
    """Twin of ``flowscan.kernels.ids._mix`` (splitmix64 finaliser of ``h ^ x``), with Python
    ints masked to 64 bits."""
    z = ((h ^ x) + _GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def hash_int_column(hashes: list[int], values: list[int | None]) -> list[int]:
    """Twin of ``flowscan.kernels.ids.hash_int_column`` (returns new hashes instead of folding
    in place): tag 1 then the value's two's-complement bits; a null folds tag 2."""
    out = []
    for h, value in zip(hashes, values):
        if value is None:
            out.append(mix(h, 2))
        else:
            out.append(mix(mix(h, 1), value & MASK64))
    return out


def hash_string_column(hashes: list[int], strings: list[str | None]) -> list[int]:
    """Twin of ``flowscan.kernels.ids.hash_string_column`` (returns new hashes): tag 3, the
    UTF-8 length, then the bytes in big-endian words of up to 8 bytes; a null folds tag 2."""
    out = []
    for h, text in zip(hashes, strings):
        if text is None:
            out.append(mix(h, 2))
            continue
        raw = text.encode("utf-8")
        h = mix(mix(h, 3), len(raw))
        for start in range(0, len(raw), 8):
            h = mix(h, int.from_bytes(raw[start : start + 8], "big"))
        out.append(h)
    return out


def occurrence_ordinals(hi: list[int], lo: list[int], order: list[int]) -> list[int]:
    """Twin of ``flowscan.kernels.ids.occurrence_ordinals``: walking rows in ``order``, each
    row gets the number of rows with the same (hi, lo) seen before it."""
    seen: dict[tuple[int, int], int] = {}
    ordinals = [0] * len(order)
    for row in order:
        key = (hi[row], lo[row])
        ordinals[row] = seen.get(key, 0)
        seen[key] = ordinals[row] + 1
    return ordinals


def format_ids(hi: list[int], lo: list[int], ordinals: list[int]) -> list[str]:
    """Twin of ``flowscan.kernels.ids.format_ids``: ``g`` + 16 hex digits of hi + 16 of lo,
    and ``-k`` when the ordinal k is positive."""
    return [f"g{h:016x}{l:016x}" + (f"-{k}" if k > 0 else "") for h, l, k in zip(hi, lo, ordinals)]


# -- flowscan/index.py -----------------------------------------------------------------------


@dataclass
class NaiveIndex:
    accounts: list[str]
    sender: list[int]
    receiver: list[int]
    by_sender: list[list[int]]
    by_receiver: list[list[int]]


def account_index(senders: list[str | None], receivers: list[str | None]) -> NaiveIndex:
    """Twin of ``flowscan.build_index``: accounts are the sorted distinct non-null ids, an
    account's code is its position, null is -1, and each account's rows are listed in
    ledger order."""
    accounts = sorted({a for a in senders + receivers if a is not None})
    code = {account: i for i, account in enumerate(accounts)}
    sender = [-1 if a is None else code[a] for a in senders]
    receiver = [-1 if a is None else code[a] for a in receivers]
    by_sender = [[row for row, a in enumerate(senders) if a == account] for account in accounts]
    by_receiver = [[row for row, a in enumerate(receivers) if a == account] for account in accounts]
    return NaiveIndex(accounts, sender, receiver, by_sender, by_receiver)


# -- rules -----------------------------------------------------------------------------------


def structuring(rows, *, side, channels, currency, threshold, low, window_us, min_count, cap):
    """Twin of :func:`flowscan.rules.structuring.structuring` for one class, currency and window.

    ``rows`` are dicts (ts, amount, channel, currency, sender, receiver, location) in ledger
    order (timestamp, txn_id). Returns one dict per instance, ordered by account id then time.
    """
    by_account = {}
    for i, row in enumerate(rows):
        account = row["receiver"] if side == "in" else row["sender"]
        if account is not None:
            by_account.setdefault(account, []).append(i)
    found = []
    for account in sorted(by_account):
        parts = [
            i
            for i in by_account[account]
            if rows[i]["channel"] in channels and rows[i]["currency"] == currency and low <= rows[i]["amount"] < threshold
        ]
        k = 0
        while k < len(parts):
            start = rows[parts[k]]["ts"]
            window = [i for i in parts[k:] if rows[i]["ts"] < start + window_us]
            total = sum(rows[i]["amount"] for i in window)
            if len(window) >= min_count and total >= threshold:
                other = "sender" if side == "in" else "receiver"
                found.append(
                    {
                        "account": account,
                        "start": start,
                        "end": rows[window[-1]]["ts"],
                        "count": len(window),
                        "sum": total,
                        "largest": max(rows[i]["amount"] for i in window),
                        "locations": len({rows[i]["location"] for i in window} - {None}),
                        "counterparties": len({rows[i][other] for i in window} - {None}),
                        "evidence": window[:cap],
                        "total": len(window),
                    }
                )
                k += len(window)
            else:
                k += 1
    return found
