"""Exact parsing of decimal text into integer minor units.

The text of an amount ("1,234.50", " 0.5 ", "-12") is turned into an int64 count of minor
units without ever passing through a float, so "9999.99" is exactly 999999 cents.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit

OK = 0
EMPTY = 1
NOT_A_NUMBER = 2
TOO_PRECISE = 3
OVERFLOW = 4
SKIPPED = 5

_INT64_MAX = np.int64(9223372036854775807)


@jit
def parse_minor_units(data, offsets, valid, digits, decimal_mark, thousands_mark, round_half_even):
    """Parse decimal strings into integer minor units.

    Parameters
    ----------
    data : ndarray of uint8, shape (n_bytes,)
        The UTF-8 bytes of all strings, back to back (an Arrow string array's data buffer).
    offsets : ndarray of int64, shape (n + 1,)
        Start of string ``i`` is ``offsets[i]``, its end ``offsets[i + 1]``.
    valid : ndarray of bool, shape (n,)
        False where the value is null.
    digits : ndarray of int8, shape (n,)
        Minor-unit digits of each row's currency; a negative value skips the row (after
        null and blank rows, which are ``EMPTY`` whatever their currency).
    decimal_mark, thousands_mark : int
        Byte values of the decimal mark (``ord('.')``) and of the thousands separator
        (``ord(',')``; 0 for none). A thousands separator is accepted only between digits
        of the integer part.
    round_half_even : bool
        When True, digits beyond the currency's precision are rounded half to even; when
        False a row with a non-zero digit beyond the precision gets ``TOO_PRECISE``.

    Returns
    -------
    values : ndarray of int64, shape (n,)
        The signed amount in minor units (0 where the status is not ``OK``).
    status : ndarray of uint8, shape (n,)
        ``OK``, ``EMPTY`` (null or blank), ``NOT_A_NUMBER``, ``TOO_PRECISE``, ``OVERFLOW``
        or ``SKIPPED``.
    """
    n = digits.shape[0]
    values = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.uint8)
    for i in range(n):
        if not valid[i]:
            status[i] = EMPTY
            continue
        start = offsets[i]
        end = offsets[i + 1]
        while start < end and (data[start] == 32 or data[start] == 9):
            start += 1
        while end > start and (data[end - 1] == 32 or data[end - 1] == 9):
            end -= 1
        if start == end:
            status[i] = EMPTY
            continue
        scale = digits[i]
        if scale < 0:
            status[i] = SKIPPED
            continue
        negative = False
        if data[start] == 45 or data[start] == 43:  # '-' or '+'
            negative = data[start] == 45
            start += 1
        value = np.int64(0)
        n_digits = 0
        frac_kept = 0
        in_fraction = False
        prev_digit = False
        first_dropped = -1
        sticky = False
        overflowed = False
        code = OK
        for j in range(start, end):
            ch = data[j]
            if ch >= 48 and ch <= 57:
                d = ch - 48
                n_digits += 1
                prev_digit = True
                if in_fraction and frac_kept >= scale:
                    if first_dropped < 0:
                        first_dropped = d
                    elif d != 0:
                        sticky = True
                    continue
                if overflowed or value > (_INT64_MAX - d) // 10:
                    overflowed = True  # keep scanning: a malformed text is NOT_A_NUMBER first
                    continue
                value = value * 10 + d
                if in_fraction:
                    frac_kept += 1
            elif ch == decimal_mark and not in_fraction:
                in_fraction = True
                prev_digit = False
            elif thousands_mark != 0 and ch == thousands_mark and not in_fraction and prev_digit:
                if j + 1 >= end or data[j + 1] < 48 or data[j + 1] > 57:
                    code = NOT_A_NUMBER
                    break
                prev_digit = False
            else:
                code = NOT_A_NUMBER
                break
        if code == OK and n_digits == 0:
            code = NOT_A_NUMBER
        if code == OK and overflowed:
            code = OVERFLOW
        if code == OK:
            for _ in range(frac_kept, scale):
                if value > _INT64_MAX // 10:
                    code = OVERFLOW
                    break
                value = value * 10
        if code == OK and first_dropped >= 0:
            if first_dropped != 0 or sticky:
                if not round_half_even:
                    code = TOO_PRECISE
                elif first_dropped > 5 or (first_dropped == 5 and (sticky or value % 2 == 1)):
                    if value == _INT64_MAX:
                        code = OVERFLOW
                    else:
                        value += 1
        if code != OK:
            status[i] = code
            continue
        values[i] = -value if negative else value
    return values, status
