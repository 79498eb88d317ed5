"""Every kernel against its naive twin in tests/naive.py, on hand-made edge cases and on
Hypothesis-generated inputs. Strings reach the kernels through real Arrow arrays."""

from __future__ import annotations

from decimal import Decimal

import numba
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from flowscan.kernels import csr, ids
from flowscan.kernels import parse as parse_kernel
from flowscan.validate import string_buffers

INT64_MAX = 2**63 - 1
MAX_TEXT = "9223372036854775807"

# -- helpers ---------------------------------------------------------------------------------


def kernel_parse(array, digits, *, decimal_mark=".", thousands_mark="", round_half_even=False):
    """Run the parse kernel on an Arrow string array (any offset, string or large_string)."""
    data, offsets, valid = string_buffers(array)
    values, status = parse_kernel.parse_minor_units(
        data,
        offsets,
        valid,
        np.asarray(digits, dtype=np.int8),
        ord(decimal_mark),
        ord(thousands_mark) if thousands_mark else 0,
        round_half_even,
    )
    assert values.dtype == np.int64 and status.dtype == np.uint8
    assert len(values) == len(status) == len(array)
    return values.tolist(), status.tolist()


def assert_parse_matches_twin(strings, digits, **options):
    """Kernel equals twin on plain, large_string and sliced (offset != 0) Arrow arrays."""
    expected = naive.parse_minor_units(strings, digits, **options)
    for kind in (pa.string(), pa.large_string()):
        assert kernel_parse(pa.array(strings, kind), digits, **options) == expected, kind
        # the same rows as a slice of a longer array: offsets must be rebased
        padded = pa.array(["junk", None, "12.5"] + list(strings) + ["7"], kind)
        sliced = padded.slice(3, len(strings))
        assert sliced.offset == 3
        assert kernel_parse(sliced, digits, **options) == expected, f"sliced {kind}"
    return expected


def twin_one(text, digits, **options):
    values, status = naive.parse_minor_units([text], [digits], **options)
    return values[0], status[0]


# -- parse: hand-made cases ------------------------------------------------------------------

OK, EMPTY, NAN, TOO_PRECISE, OVERFLOW, SKIPPED = (
    parse_kernel.OK,
    parse_kernel.EMPTY,
    parse_kernel.NOT_A_NUMBER,
    parse_kernel.TOO_PRECISE,
    parse_kernel.OVERFLOW,
    parse_kernel.SKIPPED,
)

# (text, digits, thousands_mark, round_half_even, value, status)
CASES = [
    # exact amounts at and around a reporting threshold
    ("9999.99", 2, "", False, 999999, OK),
    ("10000.00", 2, "", False, 1000000, OK),
    ("10000", 2, "", False, 1000000, OK),
    ("9999.995", 2, "", False, 0, TOO_PRECISE),
    ("9999.995", 2, "", True, 1000000, OK),
    # 0, 2, 3 and 8 minor-unit digits
    ("1234", 0, "", False, 1234, OK),
    ("1234.0", 0, "", False, 1234, OK),
    ("1234.5", 0, "", False, 0, TOO_PRECISE),
    ("12.345", 3, "", False, 12345, OK),
    ("12.3", 3, "", False, 12300, OK),
    ("0.00000001", 8, "", False, 1, OK),
    ("21000000", 8, "", False, 2100000000000000, OK),
    ("1", 18, "", False, 10**18, OK),
    ("10", 18, "", False, 0, OVERFLOW),
    # trailing zeros beyond the currency's digits are fine
    ("1.500000", 2, "", False, 150, OK),
    ("0.120", 2, "", False, 12, OK),
    # thousands separators: only between digits of the integer part
    ("1,234.50", 2, ",", False, 123450, OK),
    ("1,234,567", 0, ",", False, 1234567, OK),
    ("1,23,4", 2, ",", False, 123400, OK),
    ("1,5", 0, ",", False, 15, OK),
    ("1,,2", 2, ",", False, 0, NAN),
    (",5", 2, ",", False, 0, NAN),
    ("1,", 2, ",", False, 0, NAN),
    ("1,.5", 2, ",", False, 0, NAN),
    ("-,5", 2, ",", False, 0, NAN),
    ("1.2,3", 2, ",", False, 0, NAN),
    ("1,234", 2, "", False, 0, NAN),
    # half to even
    ("0.125", 2, "", True, 12, OK),
    ("0.135", 2, "", True, 14, OK),
    ("0.1251", 2, "", True, 13, OK),
    ("0.1250000", 2, "", True, 12, OK),
    ("-0.125", 2, "", True, -12, OK),
    ("-0.135", 2, "", True, -14, OK),
    ("0.125", 2, "", False, 0, TOO_PRECISE),
    ("0.1201", 2, "", True, 12, OK),
    ("0.1201", 2, "", False, 0, TOO_PRECISE),
    ("2.5", 0, "", True, 2, OK),
    ("3.5", 0, "", True, 4, OK),
    ("0.004", 2, "", True, 0, OK),
    # signs, zero and white space
    ("-0", 2, "", False, 0, OK),
    ("-0.00", 2, "", False, 0, OK),
    ("+5", 2, "", False, 500, OK),
    ("-12", 2, "", False, -1200, OK),
    (" \t12.5\t ", 2, "", False, 1250, OK),
    ("\n5", 2, "", False, 0, NAN),
    ("5\r", 2, "", False, 0, NAN),
    ("1 000", 2, "", False, 0, NAN),
    ("- 5", 2, "", False, 0, NAN),
    ("--5", 2, "", False, 0, NAN),
    ("+-5", 2, "", False, 0, NAN),
    ("5-", 2, "", False, 0, NAN),
    # where the digits are
    (".5", 2, "", False, 50, OK),
    ("-.5", 2, "", False, -50, OK),
    ("5.", 2, "", False, 500, OK),
    ("-", 2, "", False, 0, NAN),
    ("+", 2, "", False, 0, NAN),
    (".", 2, "", False, 0, NAN),
    ("1.2.3", 2, "", False, 0, NAN),
    ("", 2, "", False, 0, EMPTY),
    ("  \t ", 2, "", False, 0, EMPTY),
    (None, 2, "", False, 0, EMPTY),
    (None, -1, "", False, 0, EMPTY),
    ("", -1, "", False, 0, EMPTY),
    (" \t", -1, "", False, 0, EMPTY),
    ("12", -1, "", False, 0, SKIPPED),
    ("abc", -1, "", False, 0, SKIPPED),
    # things float parsers accept and a money parser must not
    ("1e5", 2, "", False, 0, NAN),
    ("NaN", 2, "", False, 0, NAN),
    ("inf", 2, "", False, 0, NAN),
    ("-Infinity", 2, "", False, 0, NAN),
    ("0x10", 2, "", False, 0, NAN),
    ("1_000", 2, "", False, 0, NAN),
    ("\u0663", 0, "", False, 0, NAN),  # ARABIC-INDIC DIGIT THREE
    ("\u00a05", 2, "", False, 0, NAN),  # no-break space is not trimmed
    ("$5", 2, "", False, 0, NAN),
    # int64 limits
    (MAX_TEXT, 0, "", False, INT64_MAX, OK),
    ("-" + MAX_TEXT, 0, "", False, -INT64_MAX, OK),
    ("9223372036854775808", 0, "", False, 0, OVERFLOW),
    ("-9223372036854775808", 0, "", False, 0, OVERFLOW),
    ("92233720368547758.07", 2, "", False, INT64_MAX, OK),
    ("92233720368547758.08", 2, "", False, 0, OVERFLOW),
    ("92233720368547758.07", 3, "", False, 0, OVERFLOW),
    ("9,223,372,036,854,775,807", 0, ",", False, INT64_MAX, OK),
    ("99999999999999999999", 0, "", False, 0, OVERFLOW),
    ("99999999999999999999", 2, "", False, 0, OVERFLOW),
    ("99999999999999999999.001", 2, "", False, 0, OVERFLOW),
    ("9223372036854775807.5", 0, "", True, 0, OVERFLOW),
    ("9223372036854775806.5", 0, "", True, 9223372036854775806, OK),
    ("9223372036854775806.6", 0, "", True, INT64_MAX, OK),
    ("9223372036854775807.4", 0, "", True, INT64_MAX, OK),
    ("9223372036854775807.00000", 0, "", False, INT64_MAX, OK),
    ("0000000000000000000000000001", 2, "", False, 100, OK),
    ("1.0000000000000000000000000", 2, "", False, 100, OK),
]


@pytest.mark.parametrize(("text", "digits", "thousands_mark", "round_half_even", "value", "status"), CASES)
def test_parse_case(text, digits, thousands_mark, round_half_even, value, status):
    options = {"thousands_mark": thousands_mark, "round_half_even": round_half_even}
    assert twin_one(text, digits, **options) == (value, status)
    assert assert_parse_matches_twin([text], [digits], **options) == ([value], [status])


def test_parse_all_cases_in_one_array():
    """The hand-made cases side by side, so each row's offsets are not the first."""
    for thousands_mark in ("", ","):
        for round_half_even in (False, True):
            strings = [c[0] for c in CASES]
            digits = [c[1] for c in CASES]
            assert_parse_matches_twin(
                strings, digits, thousands_mark=thousands_mark, round_half_even=round_half_even
            )


def test_parse_empty_input():
    assert assert_parse_matches_twin([], []) == ([], [])
    assert kernel_parse(pa.array([], pa.string()), []) == ([], [])


def test_parse_all_null_array_has_no_data_buffer():
    array = pa.nulls(3, pa.string())
    assert kernel_parse(array, [2, 2, -1]) == ([0, 0, 0], [EMPTY, EMPTY, EMPTY])


def test_parse_decimal_comma_with_dot_thousands():
    options = {"decimal_mark": ",", "thousands_mark": "."}
    strings = ["1.234,50", "1,5", "1.5", "1,2,3", "1..2", "-0,125", ",5"]
    expected = ([123450, 150, 1500, 0, 0, 0, 50], [OK, OK, OK, NAN, NAN, TOO_PRECISE, OK])
    assert naive.parse_minor_units(strings, [2] * len(strings), **options) == expected
    assert assert_parse_matches_twin(strings, [2] * len(strings), **options) == expected


def test_text_that_is_not_a_number_is_not_a_number_however_long():
    """Grammar before size: a malformed amount is NOT_A_NUMBER, not OVERFLOW, even when its
    digits would overflow int64 before the scan reaches the character that breaks it."""
    strings = ["99999999999999999999x", "99999999999999999999,", "99999999999999999999.1.2", "9" * 25 + "e5"]
    options = {"thousands_mark": ",", "round_half_even": True}
    expected = ([0] * 4, [NAN] * 4)
    assert naive.parse_minor_units(strings, [2] * 4, **options) == expected
    assert assert_parse_matches_twin(strings, [2] * 4, **options) == expected


# -- parse: generated inputs -----------------------------------------------------------------

_ALPHABET = "0123456789" * 3 + ".,-+ \tabe"
messy_text = st.one_of(
    st.none(),
    st.text(alphabet=_ALPHABET, max_size=32),
    # near misses: number-like text with a stray mark, letter or space here and there
    st.from_regex(r"\A[ \t]?[+-]?[0-9,]{0,22}(\.[0-9,.]{0,10})?[a-e ,.]?\Z"),
)


@given(texts=st.lists(messy_text, min_size=1, max_size=20))
def test_parse_messy_text_matches_twin(texts):
    """Each text at every digits value from -1 to 8, with and without thousands marks and
    rounding."""
    strings = [t for t in texts for _ in range(10)]
    digits = [d for _ in texts for d in range(-1, 9)]
    for thousands_mark in ("", ","):
        for round_half_even in (False, True):
            assert_parse_matches_twin(
                strings, digits, thousands_mark=thousands_mark, round_half_even=round_half_even
            )


@st.composite
def well_formed_decimals(draw):
    """(text, digits, exact Decimal value) for a well-formed decimal, possibly grouped."""
    sign = draw(st.sampled_from(["", "-", "+"]))
    integer = draw(st.integers(0, 10**20))
    grouped = draw(st.booleans())
    int_text = f"{integer:,}" if grouped else str(integer)
    if draw(st.booleans()) and integer == 0:
        int_text = ""  # ".5"
    fraction = draw(st.text(alphabet="0123456789", max_size=10))
    has_mark = bool(fraction) or draw(st.booleans()) or not int_text
    if not int_text and not fraction:
        fraction = "0"
    text = sign + int_text + ("." + fraction if has_mark else "")
    pad = draw(st.sampled_from(["", " ", "\t", "  \t"]))
    exact = Decimal(sign.replace("+", "") + (int_text.replace(",", "") or "0") + "." + (fraction or "0"))
    return pad + text + pad[::-1], draw(st.integers(0, 8)), exact


@given(rows=st.lists(well_formed_decimals(), max_size=15), round_half_even=st.booleans())
def test_parse_well_formed_decimals(rows, round_half_even):
    strings = [r[0] for r in rows]
    digits = [r[1] for r in rows]
    values, status = assert_parse_matches_twin(
        strings, digits, thousands_mark=",", round_half_even=round_half_even
    )
    for (text, scale, exact), value, code in zip(rows, values, status):
        assert code in (OK, TOO_PRECISE, OVERFLOW), text
        scaled = exact.scaleb(scale)
        if code == OK:
            assert abs(Decimal(value) - scaled) <= Decimal("0.5"), text
            if scaled == scaled.to_integral_value():
                assert value == int(scaled), text
        elif code == TOO_PRECISE:
            assert not round_half_even and scaled != scaled.to_integral_value(), text
        else:
            assert abs(scaled) > INT64_MAX, text


@given(value=st.integers(-INT64_MAX, INT64_MAX), scale=st.integers(0, 8), grouped=st.booleans())
def test_parse_round_trips_formatted_minor_units(value, scale, grouped):
    """Any int64 amount printed with its currency's digits parses back to itself."""
    magnitude = abs(value)
    whole, cents = divmod(magnitude, 10**scale)
    text = ("-" if value < 0 else "") + (f"{whole:,}" if grouped else str(whole))
    if scale:
        text += "." + str(cents).zfill(scale)
    assert twin_one(text, scale, thousands_mark=",") == (value, OK)
    assert assert_parse_matches_twin([text], [scale], thousands_mark=",") == ([value], [OK])


# -- csr.group_rows --------------------------------------------------------------------------


def kernel_group(codes, n_groups, dtype=np.int64):
    offsets, rows = csr.group_rows(np.asarray(codes, dtype=dtype), n_groups)
    # int32 row numbers below 2**31 rows (half the memory of int64), int64 offsets
    assert offsets.dtype == np.int64 and rows.dtype == np.int32
    return offsets.tolist(), rows.tolist()


@pytest.mark.parametrize(
    ("codes", "n_groups", "offsets", "rows"),
    [
        ([], 0, [0], []),
        ([], 3, [0, 0, 0, 0], []),
        ([-1, -1], 0, [0], []),
        ([-1, -1], 2, [0, 0, 0], []),
        ([0], 1, [0, 1], [0]),
        ([1], 3, [0, 0, 1, 1], [0]),
        ([2, 0, 2, -1, 0, 2], 3, [0, 2, 2, 5], [1, 4, 0, 2, 5]),
    ],
)
def test_group_rows_cases(codes, n_groups, offsets, rows):
    assert naive.group_rows(codes, n_groups) == (offsets, rows)
    for dtype in (np.int32, np.int64):
        assert kernel_group(codes, n_groups, dtype) == (offsets, rows)


@st.composite
def grouped_codes(draw):
    n_groups = draw(st.integers(0, 50))
    codes = draw(st.lists(st.integers(-1, n_groups - 1), max_size=80))
    return codes, n_groups


@given(case=grouped_codes(), dtype=st.sampled_from([np.int32, np.int64]))
def test_group_rows_matches_twin(case, dtype):
    codes, n_groups = case
    offsets, rows = kernel_group(codes, n_groups, dtype)
    assert (offsets, rows) == naive.group_rows(codes, n_groups)
    assert offsets[-1] == sum(c >= 0 for c in codes)


# -- ids -------------------------------------------------------------------------------------

uint64s = st.integers(0, 2**64 - 1)
int64s = st.integers(-(2**63), 2**63 - 1)


def kernel_hash_strings(seeds, array):
    hashes = np.array(seeds, dtype=np.uint64)
    data, offsets, valid = string_buffers(array)
    ids.hash_string_column(hashes, data, offsets, valid)
    return [int(h) for h in hashes]


def kernel_hash_ints(seeds, values):
    hashes = np.array(seeds, dtype=np.uint64)
    valid = np.array([v is not None for v in values], dtype=bool)
    raw = np.array([0 if v is None else v for v in values], dtype=np.int64)
    ids.hash_int_column(hashes, raw, valid)
    return [int(h) for h in hashes]


def test_mix_matches_twin_on_known_words():
    for h, x in [(0, 0), (2**64 - 1, 2**64 - 1), (0x243F6A8885A308D3, 1), (1, 2**63)]:
        assert int(ids._mix(np.uint64(h), np.uint64(x))) == naive.mix(h, x)
    assert naive.mix(0, 0) != naive.mix(0, 1)


def test_hash_columns_on_empty_input():
    assert kernel_hash_strings([], pa.array([], pa.string())) == naive.hash_string_column([], []) == []
    assert kernel_hash_ints([], []) == naive.hash_int_column([], []) == []


def test_hash_string_edge_cases():
    strings = [None, "", "a", "abcdefgh", "abcdefghi", "\u00e9\u20ac", "0" * 17]
    seeds = [7] * len(strings)
    expected = naive.hash_string_column(seeds, strings)
    assert kernel_hash_strings(seeds, pa.array(strings, pa.string())) == expected
    assert kernel_hash_strings(seeds, pa.array(strings, pa.large_string())) == expected
    assert len(set(expected)) == len(strings)  # null, "" and the rest all differ


def test_hash_length_separates_concatenations():
    """("ab", "c") and ("a", "bc") hash differently; so do a null and an empty string."""
    first = naive.hash_string_column(naive.hash_string_column([0, 0], ["ab", "a"]), ["c", "bc"])
    assert first[0] != first[1]
    k1 = kernel_hash_strings([0, 0], pa.array(["ab", "a"]))
    k2 = kernel_hash_strings(k1, pa.array(["c", "bc"]))
    assert k2 == first
    assert kernel_hash_ints([5, 5], [None, 0]) == naive.hash_int_column([5, 5], [None, 0])
    assert len(set(naive.hash_int_column([5, 5], [None, 0]))) == 2


@given(rows=st.lists(st.tuples(uint64s, st.one_of(st.none(), int64s)), max_size=30))
def test_hash_int_column_matches_twin(rows):
    seeds = [r[0] for r in rows]
    values = [r[1] for r in rows]
    assert kernel_hash_ints(seeds, values) == naive.hash_int_column(seeds, values)


@given(
    rows=st.lists(st.tuples(uint64s, st.one_of(st.none(), st.text(max_size=20))), max_size=20),
    start=st.integers(0, 3),
)
def test_hash_string_column_matches_twin(rows, start):
    seeds = [r[0] for r in rows]
    strings = [r[1] for r in rows]
    expected = naive.hash_string_column(seeds, strings)
    assert kernel_hash_strings(seeds, pa.array(strings, pa.string())) == expected
    assert kernel_hash_strings(seeds, pa.array(strings, pa.large_string())) == expected
    sliced = pa.array(["x"] * start + strings + ["y"], pa.string()).slice(start, len(strings))
    assert kernel_hash_strings(seeds, sliced) == expected


def kernel_ordinals(hi, lo):
    hi_a = np.array(hi, dtype=np.uint64)
    lo_a = np.array(lo, dtype=np.uint64)
    order = np.lexsort((lo_a, hi_a)).astype(np.int64)
    return ids.occurrence_ordinals(hi_a, lo_a, order).tolist(), order.tolist()


def test_occurrence_ordinals_cases():
    assert kernel_ordinals([], []) == ([], [])
    assert kernel_ordinals([3], [4]) == ([0], [0])
    ordinals, order = kernel_ordinals([1, 2, 1, 1, 2], [9, 9, 9, 8, 9])
    assert ordinals == [0, 0, 1, 0, 1]
    assert naive.occurrence_ordinals([1, 2, 1, 1, 2], [9, 9, 9, 8, 9], order) == ordinals


@given(keys=st.lists(st.tuples(st.sampled_from([0, 1, 2**64 - 1]), st.sampled_from([0, 5, 2**63])), max_size=40))
def test_occurrence_ordinals_matches_twin(keys):
    hi = [k[0] for k in keys]
    lo = [k[1] for k in keys]
    ordinals, order = kernel_ordinals(hi, lo)
    assert ordinals == naive.occurrence_ordinals(hi, lo, order)
    # with a stable sort, a row's ordinal counts the earlier rows of the same hash
    assert ordinals == [keys[:i].count(keys[i]) for i in range(len(keys))]


def kernel_format(hi, lo, ordinals):
    data, offsets = ids.format_ids(
        np.array(hi, dtype=np.uint64), np.array(lo, dtype=np.uint64), np.array(ordinals, dtype=np.int64)
    )
    assert offsets.dtype == np.int64 and data.dtype == np.uint8
    assert len(offsets) == len(hi) + 1 and offsets[-1] == len(data)
    array = pa.Array.from_buffers(pa.large_string(), len(hi), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    array.validate(full=True)
    return array.to_pylist()


def test_format_ids_cases():
    assert kernel_format([], [], []) == naive.format_ids([], [], []) == []
    hi = [0, 2**64 - 1, 0x0123456789ABCDEF, 1, 1]
    lo = [0, 2**64 - 1, 0xFEDCBA9876543210, 1, 1]
    ordinals = [0, 1, 9, 10, 1234567890123]
    expected = [
        "g" + "0" * 32,
        "g" + "f" * 32 + "-1",
        "g0123456789abcdeffedcba9876543210-9",
        "g00000000000000010000000000000001-10",
        "g00000000000000010000000000000001-1234567890123",
    ]
    assert naive.format_ids(hi, lo, ordinals) == expected
    assert kernel_format(hi, lo, ordinals) == expected


@given(rows=st.lists(st.tuples(uint64s, uint64s, st.one_of(st.integers(0, 12), st.integers(0, 2**63 - 1))), max_size=20))
def test_format_ids_matches_twin(rows):
    hi = [r[0] for r in rows]
    lo = [r[1] for r in rows]
    ordinals = [r[2] for r in rows]
    assert kernel_format(hi, lo, ordinals) == naive.format_ids(hi, lo, ordinals)


_SEEDS = (0x243F6A8885A308D3, 0x13198A2E03707344)


def kernel_content_ids(texts, numbers):
    """Ids of rows (text, number) made the way ingest makes them: two seeded hashes, ordinals
    in (hi, lo) order, formatted."""
    halves = []
    for seed in _SEEDS:
        h = kernel_hash_strings([seed] * len(texts), pa.array(texts, pa.string()))
        halves.append(kernel_hash_ints(h, numbers))
    ordinals, _ = kernel_ordinals(*halves)
    return kernel_format(halves[0], halves[1], ordinals)


def twin_content_ids(texts, numbers):
    halves = [naive.hash_int_column(naive.hash_string_column([s] * len(texts), texts), numbers) for s in _SEEDS]
    hi, lo = halves
    order = sorted(range(len(texts)), key=lambda i: (hi[i], lo[i], i))
    return naive.format_ids(hi, lo, naive.occurrence_ordinals(hi, lo, order))


content_rows = st.lists(
    st.tuples(st.one_of(st.none(), st.sampled_from(["", "a", "ab", "b", "a\u00e9"])), st.one_of(st.none(), st.integers(-2, 2))),
    max_size=30,
)


@given(rows=content_rows)
def test_ids_distinct_for_distinct_content(rows):
    texts = [r[0] for r in rows]
    numbers = [r[1] for r in rows]
    made = kernel_content_ids(texts, numbers)
    assert made == twin_content_ids(texts, numbers)
    assert len(set(made)) == len(made)  # every row gets its own id
    base = [m.split("-")[0] for m in made]
    for i in range(len(rows)):
        for j in range(i):
            assert (base[i] == base[j]) == (rows[i] == rows[j]), (rows[i], rows[j])
    # the set of ids depends on the content only, not on the row order
    assert set(kernel_content_ids(texts[::-1], numbers[::-1])) == set(made)


@settings(max_examples=40)
@given(
    codes=st.lists(st.integers(min_value=-1, max_value=30), max_size=300),
    n_parts=st.integers(min_value=1, max_value=9),
)
def test_group_rows_is_the_same_for_any_number_of_parts_and_threads(codes, n_parts):
    array = np.asarray(codes, dtype=np.int32)
    expected = naive.group_rows(codes, 31)
    assert (lambda o, r: (o.tolist(), r.tolist()))(*csr.group_rows(array, 31, n_parts)) == expected
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            offsets, rows = csr.group_rows(array, 31)
            assert (offsets.tolist(), rows.tolist()) == expected
    finally:
        numba.set_num_threads(before)


def test_group_rows_refuses_codes_beyond_n_groups():
    with pytest.raises(ValueError, match="n_groups"):
        csr.group_rows(np.array([0, 3], dtype=np.int32), 3)
