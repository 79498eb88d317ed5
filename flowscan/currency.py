"""Currencies: ISO 4217 codes and the number of minor-unit digits of each.

Amounts are stored as integers of minor units, so every currency needs its exponent:
``USD`` has 2 (cents), ``JPY`` 0, ``BHD`` 3. Codes with no minor unit defined by ISO (precious
metals, testing codes, ``XXX``) are not accepted: an amount in them cannot be compared with a
reporting threshold.

One extension beyond ISO 4217: ``XBT`` (bitcoin) with 8 digits (satoshi), because the public
AML data sets (IBM AMLworld) carry bitcoin payments.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN "
    "NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL "
    "SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST "
    "XCD XCG YER ZAR ZMW ZWG ZWL"
)

MINOR_DIGITS: dict[str, int] = {
    **{c: 2 for c in _TWO.split()},
    **{c: 0 for c in _ZERO.split()},
    **{c: 3 for c in _THREE.split()},
    **{c: 4 for c in _FOUR.split()},
    "XBT": 8,
}
"""Currency code to number of minor-unit digits."""

CURRENCIES: tuple[str, ...] = tuple(sorted(MINOR_DIGITS))
"""The dictionary of the canonical ``currency`` column: a code's index is its position here."""

_CODES = pa.array(CURRENCIES, pa.string())
_DIGITS = np.array([MINOR_DIGITS[c] for c in CURRENCIES], dtype=np.int8)


def normalize_currency(values: pa.Array, aliases: dict[str, str] | None = None) -> tuple[pa.Array, np.ndarray]:
    """Map source currency values to ISO codes and their minor-unit digits.

    Parameters
    ----------
    values : pyarrow string array
        Source values. Surrounding white space is removed and codes are upper-cased, so
        ``" usd"`` is ``USD``. Names in ``aliases`` (matched exactly after trimming, then
        case-insensitively) map to codes first.
    aliases : dict, optional
        Source name to ISO code, e.g. ``{"US Dollar": "USD"}`` for IBM AMLworld.

    Returns
    -------
    codes : pyarrow dictionary<int16, string> array
        The ISO code (dictionary :data:`CURRENCIES`), or null where the value is null or not
        a known currency.
    digits : ndarray of int8, shape (n,)
        Minor-unit digits per row; -1 where ``codes`` is null.
    """
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    if aliases:
        folded = {k.strip().casefold(): v for k, v in aliases.items()}
        keys = pa.array(list(folded))
        hit = pc.index_in(pc.utf8_lower(text), value_set=pc.utf8_lower(keys))
        mapped = pc.take(pa.array(list(folded.values()), pa.string()), hit)
        text = pc.coalesce(mapped, text)
    upper = pc.utf8_upper(text)
    pos = pc.index_in(upper, value_set=_CODES)
    codes = pa.DictionaryArray.from_arrays(pos.cast(pa.int16()), _CODES)
    index = pc.fill_null(pos, -1).to_numpy(zero_copy_only=False)
    digits = np.where(index >= 0, _DIGITS[np.maximum(index, 0)], -1).astype(np.int8)
    return codes, digits
