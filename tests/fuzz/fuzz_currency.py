"""Fuzz target: currencies and money (:func:`flowscan.currency.normalize_currency`, the
``currency`` read option, :func:`flowscan.validate.parse_amounts` and the money thresholds of
the rule options, :func:`flowscan.params.money_table`).

The fuzzer's bytes choose currency values (ISO codes in any case and spacing, the AMLworld and
SAML-D names, codes without minor units, arbitrary text) with or without an alias table;
amounts as text (digits, signs, decimal and thousands marks, exponents, NaN, 20-digit
numbers), as Arrow integers, floats or decimals, in major or minor units, rounded or not,
against currencies of 0 to 8 digits; and threshold tables of currency to amount, as TOML
would give them (integers, decimal text, floats, booleans, tables).

Only flowscan's own errors may escape. Where a value is accepted it must be right: a currency
code comes with its own number of digits and matches the text it came from; an amount read
from plain decimal text equals the exact decimal value in minor units (or is rejected with the
right status: too precise, overflow); a threshold is a positive whole number of minor units
that fits in 64 bits.

Run it longer with ``python tests/fuzz/fuzz_currency.py -max_total_time=600`` (libFuzzer flags).
"""

from __future__ import annotations

import re
import sys
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext

import atheris

import _harness as H

with H.instrumented_imports():
    import numpy as np
    import pyarrow as pa

    from flowscan.currency import CURRENCIES, MINOR_DIGITS, normalize_currency
    from flowscan.errors import FlowscanError
    from flowscan.kernels import parse as K
    from flowscan.options import ReadOptions
    from flowscan.params import money_table
    from flowscan.read.presets import AMLWORLD_CURRENCIES, SAMLD_CURRENCIES
    from flowscan.validate import parse_amounts

CODES = ["USD", "usd", " Eur ", "JPY", "BHD", "CLF", "XBT", "XAU", "XXX", "ABC", "US$", "€", "", "usd\t", "ＵＳＤ"]
ALIASES = [None, AMLWORLD_CURRENCIES, SAMLD_CURRENCIES, "fuzzed"]
MARKS = [(".", ""), (".", ","), (",", "."), (",", " "), (".", "'")]
INT64_MAX = 2 ** 63 - 1
PLAIN = r"[+-]?(\d+({t}\d+)*)?({d}\d*)?"


def currency_value(fdp) -> str | None:
    kind = fdp.ConsumeIntInRange(0, 5)
    if kind == 0:
        return None
    if kind == 1:
        return H.text(fdp, 8)
    if kind == 2:
        return H.pick(fdp, list(AMLWORLD_CURRENCIES) + list(SAMLD_CURRENCIES))
    if kind == 3:
        return H.pick(fdp, CURRENCIES)
    return H.pick(fdp, CODES)


def amount_text(fdp, decimal_mark: str, thousands_mark: str) -> str | None:
    parts = ["0", "1", "5", "9", "00", "123", "999", decimal_mark, thousands_mark or ",", "-", "+", " ", "e", "E",
             "NaN", "inf", "9223372036854775807", "92233720368547758", "\t", "٣", "."]
    if fdp.ConsumeIntInRange(0, 9) == 0:
        return None
    if fdp.ConsumeIntInRange(0, 5) == 0:
        return H.text(fdp, 16)
    return "".join(H.pick(fdp, parts) for _ in range(fdp.ConsumeIntInRange(0, 8)))


# -- references ------------------------------------------------------------------------------


def expected_amount(text: str, digits: int, decimal_mark: str, thousands_mark: str, half_even: bool, minor: bool):
    """(status, value) for plain decimal text, exactly, with Decimal; None for other text."""
    body = text.strip(" \t")
    d, t = re.escape(decimal_mark), re.escape(thousands_mark) if thousands_mark else "(?!)"
    if not body.isascii() or not re.fullmatch(PLAIN.format(d=d, t=t), body) or not re.search(r"\d", body):
        return None
    if thousands_mark:
        body = body.replace(thousands_mark, "")
    with localcontext(prec=1000):
        scaled = Decimal(body.replace(decimal_mark, ".")).scaleb(0 if minor else digits)
        if abs(scaled).to_integral_value(rounding=ROUND_DOWN) > INT64_MAX:
            return K.OVERFLOW, 0
        if scaled != scaled.to_integral_value():
            if not half_even:
                return K.TOO_PRECISE, 0
            scaled = scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
            if abs(scaled) > INT64_MAX:
                return K.OVERFLOW, 0
    return K.OK, int(scaled)


# -- the target ------------------------------------------------------------------------------


def fuzz_currencies(fdp) -> None:
    values = [currency_value(fdp) for _ in range(fdp.ConsumeIntInRange(1, 10))]
    aliases = H.pick(fdp, ALIASES)
    if aliases == "fuzzed":
        aliases = {H.text(fdp, 10): H.pick(fdp, CODES + [H.text(fdp, 4)]) for _ in range(fdp.ConsumeIntInRange(1, 4))}
    codes, digits = normalize_currency(pa.array(values, pa.string()), aliases)
    assert len(codes) == len(values) == len(digits) and digits.dtype == np.int8
    assert codes.type == pa.dictionary(pa.int16(), pa.string()) and codes.dictionary.to_pylist() == list(CURRENCIES)
    for value, code, digit in zip(values, codes.to_pylist(), digits.tolist()):
        assert (code is None) == (digit == -1), (value, code, digit)
        if code is not None:
            assert digit == MINOR_DIGITS[code], (value, code, digit)
        if value is not None and aliases is None and value.isascii():
            plain = value.strip().upper()
            assert code == (plain if plain in MINOR_DIGITS else None), (value, code)


def fuzz_amounts(fdp) -> None:
    decimal_mark, thousands_mark = H.pick(fdp, MARKS)
    options = ReadOptions(decimal_mark=decimal_mark, thousands_mark=thousands_mark,
                          amount_rounding=H.pick(fdp, ["reject", "half-even"]))
    half_even = options.amount_rounding == "half-even"
    minor = fdp.ConsumeBool()
    n = fdp.ConsumeIntInRange(1, 10)
    digits = np.array([H.pick(fdp, [2, 2, 0, 3, 4, 8, -1]) for _ in range(n)], dtype=np.int8)
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        texts = [amount_text(fdp, decimal_mark, thousands_mark) for _ in range(n)]
        array = pa.array(texts, pa.string())
    elif kind == 1:
        if fdp.ConsumeBool():
            array = pa.array([fdp.ConsumeIntInRange(-(2 ** 63), INT64_MAX) for _ in range(n)], pa.int64())
        else:
            array = pa.array([fdp.ConsumeIntInRange(0, 2 ** 64 - 1) for _ in range(n)], pa.uint64())
    elif kind == 2:
        array = pa.array([fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat() for _ in range(n)],
                         pa.float64())
    else:
        array = pa.array([Decimal(fdp.ConsumeIntInRange(-10 ** 18, 10 ** 18)).scaleb(-fdp.ConsumeIntInRange(0, 10))
                          for _ in range(n)], pa.decimal128(38, 10))
    values, status = parse_amounts(array, digits, options, minor)
    assert len(values) == n and len(status) == n and values.dtype == np.int64
    assert set(status.tolist()) <= {K.OK, K.EMPTY, K.NOT_A_NUMBER, K.TOO_PRECISE, K.OVERFLOW, K.SKIPPED}, status
    assert not ((status == K.OK) & (digits < 0)).any(), "an amount accepted for an unknown currency"
    if kind == 1:
        check_integers(array.to_pylist(), digits.tolist(), values.tolist(), status.tolist(), minor)
    if kind != 0:
        return
    for text, digit, value, code in zip(texts, digits.tolist(), values.tolist(), status.tolist()):
        if text is None or digit < 0:
            continue
        want = expected_amount(text, digit, decimal_mark, thousands_mark, half_even, minor)
        if want is not None:
            assert (code, value if code == K.OK else 0) == want, (text, digit, minor, half_even, code, value, want)


def check_integers(raw: list, digits: list, values: list, status: list, minor: bool) -> None:
    """Integer amounts are whole major units (``raw * 10**digits`` minor units) or already minor
    units: exactly, or OVERFLOW when that does not fit in 64 bits."""
    for amount, digit, value, code in zip(raw, digits, values, status):
        if digit < 0:
            continue
        want = amount if minor else amount * 10 ** digit
        if abs(want) > INT64_MAX:
            assert code == K.OVERFLOW, (amount, digit, minor, code, value)
        else:
            assert (code, value) == (K.OK, want), (amount, digit, minor, code, value, want)


def fuzz_thresholds(fdp) -> None:
    """A money table as a rule option takes it from TOML (``min_amount = {USD = "9999.99"}``)."""
    table = {}
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        key = H.pick(fdp, ["USD", "JPY", "BHD", "XBT", "usd", "XAU", H.text(fdp, 4)])
        table[key] = H.pick(fdp, [
            fdp.ConsumeIntInRange(-(2 ** 63), INT64_MAX), fdp.ConsumeIntInRange(-5, 10 ** 6), H.text(fdp, 12),
            fdp.ConsumeFloat(), True, None, [], {}, "9999.99", "0.001", "1e3", "NaN", "sNaN", "Infinity", "-0",
            "1e999999999", "1e-999999999", "0.1e-999999999", "92233720368547758.08", "1_000", " 12 ",
        ])
    value = table if fdp.ConsumeIntInRange(0, 9) else H.pick(fdp, [None, [], "USD", 5])
    out = money_table("Rule", "min_amount", value)
    for currency, minor in out.items():
        assert currency in MINOR_DIGITS, currency
        assert isinstance(minor, int) and 0 < minor <= INT64_MAX, (currency, minor, value)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    what = fdp.ConsumeIntInRange(0, 4)
    try:
        if what == 0:
            fuzz_currencies(fdp)
        elif what == 1:
            ReadOptions(currency=H.pick(fdp, [currency_value(fdp), 840, b"USD", ["USD"]]))
        elif what == 2:
            fuzz_thresholds(fdp)
        else:
            fuzz_amounts(fdp)
    except FlowscanError as error:
        H.check_message(error)


def seeds() -> list[bytes]:
    return [bytes([i]) + bytes(range(i, 256)) for i in range(0, 50, 5)]


if __name__ == "__main__":
    H.main(TestOneInput, seeds())
    sys.exit(0)
