"""Late-night cash: ATM deposits and withdrawals between 22:00 and 06:00 local time, in
different cities. A rule of the human-trafficking pack (red flag 8 of ../shared/TYPOLOGIES.md;
FINTRAC Project PROTECT operational alert 2016-OA003).

Definition. An account's *cash rows* are its cash-channel transactions, deposits (it
receives) and withdrawals (it sends). A cash row's local hour is read in the time zone of its
location from the ``locations`` reference table; a row whose location is not listed has no
local hour and never counts (naive local times are never guessed), neither as night nor as
day. A cash row is *at night* when its local hour ``h`` is in ``[night_start, 24)`` or
``[0, night_end)``.

The account is eligible when at least ``min_share`` of its cash rows with a local hour are at
night (a worker on the late shift who also uses cash by day stays below). For an eligible
account, windows ``[t, t + W)`` anchored at a night cash row (the shared scan of
:mod:`flowscan.rules.windows`) fire with at least ``min_count`` night cash rows in at least
``min_cities`` distinct cities. Reasons: ``night_cash`` (>= ``min_count``), ``cities``
(>= ``min_cities``), ``night_share`` (>= ``min_share``, over the whole ledger) and ``total``
(info). Evidence: the night cash rows of the window.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from .. import params
from ..index import AccountIndex, dictionary_codes
from ..reference import Reference, local_hours
from ..schema import CHANNELS
from .instances import Reason, RuleResult
from .windows import count_reason, currency_codes, either_side, info, reference_for, timestamps, windowed

SOURCE = ("FINTRAC Project PROTECT operational alert 2016-OA003 (ATM deposits and withdrawals between 22:00 and "
          "06:00 local time, in different cities)")
TYPOLOGY = "late_night_cash"


@dataclasses.dataclass(frozen=True)
class LateNight:
    """Options of the late-night cash rule (see the module docstring).

    Parameters
    ----------
    window : duration, default "30d"
    min_count : int, default 4
        Night cash rows in one window.
    min_cities : int, default 2
        Distinct cities among them.
    min_share : float in (0, 1], default 0.5
        Share of the account's cash rows (with a known local hour) that are at night.
    night_start, night_end : int, default 22 and 6
        Local hours: night is ``[night_start, 24)`` and ``[0, night_end)``.
    evidence_cap : int, default 50
    """

    window: str | int = "30d"
    min_count: int = 4
    min_cities: int = 2
    min_share: float = 0.5
    night_start: int = 22
    night_end: int = 6
    evidence_cap: int = 50

    NEEDS = ("locations",)

    def __post_init__(self):
        owner = "LateNight"
        params.duration_seconds(owner, "window", self.window)
        params.positive_int(owner, "min_count", self.min_count)
        params.positive_int(owner, "min_cities", self.min_cities)
        params.share(owner, "min_share", self.min_share, open_low=True)
        for name in ("night_start", "night_end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
                raise params.ConfigError(params._message(owner, name, "an hour from 0 to 23", value))
        params.positive_int(owner, "evidence_cap", self.evidence_cap)

    @property
    def rule(self) -> str:
        return f"late_night.{params.format_duration(params.duration_seconds('LateNight', 'window', self.window))}"


def night_hours(hour: np.ndarray, start: int, end: int) -> np.ndarray:
    """Whether each local hour (-1 unknown) is at night: ``[start, 24)`` or ``[0, end)``."""
    if start > end:
        return (hour >= start) | ((hour >= 0) & (hour < end))
    return (hour >= start) & (hour < end)


def late_night(ledger: pa.Table, index: AccountIndex, /, *, options: LateNight | None = None,
               reference: Reference | None = None) -> RuleResult:
    """Find late-night cash activity in several cities (see the module docstring).

    Returns
    -------
    RuleResult
        Instances under the account; evidence: the night cash rows of the window.
    """
    options = options or LateNight()
    reference = reference_for("late_night", reference, LateNight.NEEDS)
    ts, currency = timestamps(ledger), currency_codes(ledger)
    amount = ledger.column("amount").to_numpy()
    city, zone = reference.places(ledger.column("location"))
    hour = local_hours(ledger.column("timestamp"), zone, reference.zones())
    cash = dictionary_codes(ledger.column("channel"), CHANNELS) == CHANNELS.index("cash")
    known = cash & (hour >= 0)
    night = known & night_hours(hour, options.night_start, options.night_end)
    owner = np.where(index.sender >= 0, index.sender, index.receiver)
    n_known = np.bincount(owner[known & (owner >= 0)], minlength=index.n_accounts)
    n_night = np.bincount(owner[night & (owner >= 0)], minlength=index.n_accounts)
    share = np.zeros(index.n_accounts)
    np.divide(n_night, n_known, out=share, where=n_known > 0)
    # exact share test in integers: n_night * 10**6 >= round(min_share * 10**6) * n_known
    ppm = int(round(options.min_share * 1_000_000))
    eligible = n_night * 1_000_000 >= ppm * n_known
    eligible &= n_night > 0
    selected = night & (owner >= 0) & eligible[np.maximum(owner, 0)]
    offsets, rows = either_side(index, selected)

    def reasons(count, keys, total, _):
        return [count_reason("night_cash", count, options.min_count),
                count_reason("cities", keys, options.min_cities), info("total", total, "minor")]

    found = windowed(offsets, rows, ts, selected, city, amount, currency,
                     rule=options.rule, typology=TYPOLOGY, source=SOURCE,
                     window_us=params.duration_seconds("LateNight", "window", options.window) * 1_000_000,
                     min_count=options.min_count, min_keys=options.min_cities, min_total=0,
                     evidence_cap=options.evidence_cap, reasons=reasons)
    for f in found:  # the account-level share beside its threshold (the kernel knows only the window)
        f.reasons.insert(2, Reason("night_share", ">=", share[f.account], options.min_share, "share"))
    return RuleResult.from_found(ledger, index.accounts, found)
