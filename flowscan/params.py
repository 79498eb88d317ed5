"""Checks for the options of rules and runs, with one message template:

    The 'window' parameter of FanIn must be a positive duration. Got -3 instead.

Wrong types raise :class:`~flowscan.errors.ConfigTypeError` (a TypeError), wrong values
:class:`~flowscan.errors.ConfigError` (a ValueError).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, ConfigTypeError

_UNITS = {"s": 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*([0-9]+)\s*(s|min|m|h|d|w)\s*$")


_INT64_MAX = 2**63 - 1
"""The largest amount in minor units the kernels compare (int64)."""


def printable(name: str) -> str:
    """``name`` with its unprintable characters escaped (a key with a line break in it must not
    break a one-line message)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(name))


def _message(owner: str, name: str, expected: str, got: Any) -> str:
    return f"The '{printable(name)}' parameter of {owner} must be {expected}. Got {got!r} instead."


def duration_seconds(owner: str, name: str, value: Any) -> int:
    """A duration as whole seconds: an int (seconds) or text such as "24h", "30d", "90min"."""
    if isinstance(value, bool):
        raise ConfigTypeError(_message(owner, name, "a positive duration such as '24h' or 86400", value))
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ConfigError(_message(owner, name, "a positive duration such as '24h', '72h' or '30d'", value))
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ConfigTypeError(_message(owner, name, "a positive duration such as '24h' or 86400", value))
    if seconds <= 0:
        raise ConfigError(_message(owner, name, "a positive duration", value))
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest exact text: 86400 -> '24h', 259200 -> '3d', 5400 -> '90min', 61 -> '61s'."""
    if seconds % 86400 == 0 and seconds >= 3 * 86400:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}min"
    return f"{seconds}s"


def positive_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigTypeError(_message(owner, name, "a positive integer", value))
    if value <= 0:
        raise ConfigError(_message(owner, name, "a positive integer", value))
    return value


def share(owner: str, name: str, value: Any, *, open_low: bool = False) -> float:
    """A number in [0, 1] (or (0, 1] with ``open_low``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigTypeError(_message(owner, name, "a number between 0 and 1", value))
    if not (0.0 < value <= 1.0 if open_low else 0.0 <= value <= 1.0):
        raise ConfigError(_message(owner, name, "a number in (0, 1]" if open_low else "a number in [0, 1]", value))
    return float(value)


def money_table(owner: str, name: str, value: Any) -> dict[str, int]:
    """Currency -> amount in major units (an int, or a decimal text such as "9999.99"),
    returned as minor units per currency."""
    from decimal import Decimal, InvalidOperation

    from .currency import MINOR_DIGITS

    if not isinstance(value, Mapping) or not value:
        raise ConfigTypeError(_message(owner, name, "a non-empty mapping of ISO currency to amount", value))
    out = {}
    for currency, amount in value.items():
        if currency not in MINOR_DIGITS:
            raise ConfigError(_message(owner, f"{name}.{currency}", "keyed by an ISO 4217 code such as 'USD'",
                                       currency))
        if isinstance(amount, bool) or not isinstance(amount, (int, str)):
            raise ConfigTypeError(_message(owner, f"{name}.{currency}", "an integer or a decimal text", amount))
        try:
            exact = Decimal(str(amount))
        except InvalidOperation:
            raise ConfigError(_message(owner, f"{name}.{currency}", "a decimal amount", amount)) from None
        try:  # NaN and infinities are not amounts; 1e999999999 overflows the decimal context
            minor = exact.scaleb(MINOR_DIGITS[currency]) if exact.is_finite() else None
        except ArithmeticError:
            minor = None
        if minor is None or minor <= 0 or minor != minor.to_integral_value():
            raise ConfigError(_message(owner, f"{name}.{currency}", "a positive amount with at most "
                                       f"{MINOR_DIGITS[currency]} decimals", amount))
        if minor > _INT64_MAX:
            raise ConfigError(_message(owner, f"{name}.{currency}", f"at most {_INT64_MAX} minor units", amount))
        out[currency] = int(minor)
    return out


def choice(owner: str, name: str, value: Any, allowed) -> Any:
    if value not in allowed:
        raise ConfigError(_message(owner, name, "one of " + ", ".join(map(repr, allowed)), value))
    return value
