"""Temporal cycles: money that leaves an account and comes back to it through other accounts.

Implements the cycle pattern of the graph vocabulary of IBM AMLSim and AMLworld (see
../shared/TYPOLOGIES.md, "cycle (money returns to its origin)"), a form of the layering
through intermediaries described in FATF/APG "Financial Flows from Human Trafficking" (2018).

Definitions
-----------
*Edges.* Only transfers between two known, different accounts are edges (payments to
merchants, rows with a merchant category code, only with ``merchant_payments``: a purchase
ends a chain; see :mod:`flowscan.rules.transfers`): a row with a null
sender or receiver (cash, or an account outside the bank) and a self-transfer never take part
in a cycle.

*Temporal cycle.* A sequence of edges ``e1 .. ek`` with ``min_hops <= k <= max_hops`` such that

- ``receiver(e_i) == sender(e_{i+1})`` and ``receiver(e_k) == sender(e1)``;
- timestamps strictly increase (two hops with equal timestamps never follow each other);
- every hop lies in ``[time(e1), time(e1) + W)``;
- no account appears twice, except the origin ``sender(e1)``, which closes the cycle;
- every hop has ``e1``'s currency and an amount within ``tolerance`` of ``e1``'s:
  ``|a_i - a_1| <= tolerance * a_1``, decided in integers with the tolerance in whole parts
  per million (rounded to the nearest): ``|a_i - a_1| * 10**6 <= tolerance_ppm * a_1``.

*Search.* A depth-first search starts from every edge ``e1``, unless the origin receives
nothing (no row at all) after ``time(e1)`` and before the window ends. From the current
account it examines that account's outgoing rows in (timestamp, txn_id) order, from the first
one strictly after the current hop's time and before the window ends: a usable edge back to
the origin closes a cycle when the cycle then has at least ``min_hops`` transfers, and is
passed over otherwise (the origin is never an intermediary); a usable edge to a new account extends the path, unless its time is
at or after the origin's last incoming row in the window (no later hop could close then). A
next-to-last hop (the path would then hold ``max_hops - 1`` transfers) is kept only when its
receiver has a usable transfer back to the origin after it, and then the cycle closes with the
first such transfer. The first cycle found in this order is reported; at most one cycle per
starting transfer. Since times strictly increase, ``e1`` is the earliest transfer of its
cycle, so a cycle is reported once, under ``sender(e1)``, and never again for one of its
rotations (a later lap of the same accounts is a new cycle).

*Cap.* Each transfer the search examines (an outgoing row of the current account, or a
transfer back to the origin looked up for a next-to-last hop) is one explored partial path.
When ``max_paths_per_start`` have been examined and the search needs one more, it stops: no
cycle is reported for that start, and the start counts as *truncated*. The work per start is
thus at most ``max_paths_per_start`` transfers and as many binary searches, whatever the hubs
on the way.

Rule codes ``cycle.<k>.<W>``, one per cycle length ``k`` (``cycle.3.30d``). Reasons: ``hops``
(info, count: ``k``), ``amount_drift`` (``<=``, ``tolerance``, share: ``max |a_i - a_1| /
a_1``, 0 when ``a_1`` is 0), ``duration_seconds`` (``<``, ``W`` in seconds, seconds:
``time(e_k) - time(e1)``). Evidence: the ``k`` transfers in order, the first
``evidence_cap`` listed. ``window_start`` is ``time(e1)``, ``window_end`` is ``time(e_k)``.

Features (``RuleResult.features``): one row per account of the index, in account-code order,
with ``account`` and ``truncated_cycle_<W>``, the number of the account's starting transfers
whose search reached the cap.

Work and memory: O(``max_hops``) scratch per account; per starting transfer at most
``max_paths_per_start`` transfers examined, each step reading arrays laid out in the by-sender
view's order, plus a binary search per extension.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from .. import params
from ..errors import ConfigError
from ..index import AccountIndex
from ..kernels import cycles as kernel
from . import transfers
from .flows import _at_least, _edges, _pair_index, _share, tolerance_ppm
from .instances import Found, Reason, RuleResult, offsets_from_counts

SOURCE = ("IBM AMLSim / AMLworld typologies (cycle); "
          "FATF/APG Financial Flows from Human Trafficking (2018), layering through intermediaries")
TYPOLOGY = "cycle"


@dataclasses.dataclass(frozen=True)
class Cycles:
    """Options of the temporal-cycle rule.

    Parameters
    ----------
    min_hops : int, default 3
        Shortest cycle reported (at least 2, at most ``max_hops``). The default leaves out
        two-hop "cycles", a payment and its refund or repayment between two parties, which
        are everyday behaviour; the red flag is money returning through intermediaries.
    max_hops : int, default 6
        Longest cycle searched (at least 2).
    window : duration, default "30d"
        Every hop lies in ``[t, t + window)`` of the first.
    tolerance : float in [0, 1], default 0.2
        Each hop's amount is within this share of the first hop's.
    max_paths_per_start : int, default 10000
        Transfers the search from one starting transfer may examine (explored partial paths);
        when it needs more it stops and counts as truncated.
    evidence_cap : int, default 50
        Transfers listed per cycle; the rest are counted in ``n_evidence_total``.
    merchant_payments : bool, default False
        Count payments to merchants (rows with a merchant category code) as edges; by default
        a purchase ends a chain of transfers and is left out (:mod:`flowscan.rules.transfers`).
    """

    min_hops: int = 3
    max_hops: int = 6
    window: str | int = "30d"
    tolerance: float = 0.2
    max_paths_per_start: int = 10_000
    evidence_cap: int = 50
    merchant_payments: bool = False

    def __post_init__(self):
        owner = "Cycles"
        _at_least(owner, "max_hops", self.max_hops, 2, "2")
        _at_least(owner, "min_hops", self.min_hops, 2, "2")
        if self.min_hops > self.max_hops:
            raise ConfigError(f"The 'min_hops' parameter of Cycles must be at most max_hops ({self.max_hops}). "
                              f"Got {self.min_hops} instead.")
        params.duration_seconds(owner, "window", self.window)
        params.share(owner, "tolerance", self.tolerance)
        params.positive_int(owner, "max_paths_per_start", self.max_paths_per_start)
        params.positive_int(owner, "evidence_cap", self.evidence_cap)
        transfers.check(owner, self.merchant_payments)

    @property
    def window_seconds(self) -> int:
        return params.duration_seconds("Cycles", "window", self.window)


def cycles(ledger: pa.Table, index: AccountIndex, /, *, options: Cycles | None = None) -> RuleResult:
    """Find temporal cycles: transfers that bring money back to the account it left.

    Parameters
    ----------
    ledger : pyarrow.Table
        A canonical ledger (:func:`flowscan.read_ledger`).
    index : AccountIndex
        Its index (:func:`flowscan.build_index`).
    options : Cycles, optional

    Returns
    -------
    RuleResult
        One instance per cycle, rule code ``cycle.<hops>.<window>``, under the sender of its
        first transfer (see the module docstring); evidence lists its transfers in order;
        features ``account`` and ``truncated_cycle_<window>``. Rows with a null sender or
        receiver, and self-transfers, are not edges and are never part of a cycle.
    """
    options = options or Cycles()
    ts, amount, currency, edge = _edges(ledger, index, options.merchant_payments)
    window = params.format_duration(options.window_seconds)
    rows = index.by_sender.rows
    pair_offsets, pair_receiver, pair_row_offsets, pair_rows, _ = _pair_index(index, edge)
    # per position of the by-sender view, so that the search reads memory in sequence
    args = (index.by_sender.offsets, rows, np.ascontiguousarray(ts[rows]), np.ascontiguousarray(index.receiver[rows]),
            np.ascontiguousarray(amount[rows]), np.ascontiguousarray(currency[rows]), np.ascontiguousarray(edge[rows]),
            index.by_receiver.offsets, np.ascontiguousarray(ts[index.by_receiver.rows]), ts, amount,
            options.window_seconds * 1_000_000, tolerance_ppm(options.tolerance), options.min_hops, options.max_hops,
            options.max_paths_per_start, pair_offsets, pair_receiver, pair_row_offsets, pair_rows,
            np.ascontiguousarray(ts[pair_rows]), np.ascontiguousarray(amount[pair_rows]),
            np.ascontiguousarray(currency[pair_rows]), options.evidence_cap)
    n_inst, n_ev, truncated = kernel.cycles_count(*args)
    found = []
    if n_inst.any():
        account, hops, start, end, drift, base, ev_rows = kernel.cycles_fill(*args, offsets_from_counts(n_inst),
                                                                              offsets_from_counts(n_ev))
        listed = np.minimum(hops, options.evidence_cap)
        ev_offsets = offsets_from_counts(listed)
        for k in np.unique(hops):
            picked = np.flatnonzero(hops == k)
            # the evidence rows of the picked instances, in instance order
            owner = np.repeat(picked, listed[picked])
            within = np.arange(len(owner)) - np.repeat(offsets_from_counts(listed[picked])[:-1], listed[picked])
            found.append(Found(
                rule=f"cycle.{int(k)}.{window}",
                typology=TYPOLOGY,
                source=SOURCE,
                account=account[picked].astype(np.int32),
                start_us=start[picked],
                end_us=end[picked],
                reasons=[
                    Reason("hops", "info", hops[picked], None, "count"),
                    Reason("amount_drift", "<=", _share(drift[picked], base[picked]), options.tolerance, "share"),
                    Reason("duration_seconds", "<", (end[picked] - start[picked]) / 1_000_000,
                           options.window_seconds, "seconds"),
                ],
                evidence_offsets=offsets_from_counts(listed[picked]),
                evidence_rows=ev_rows[ev_offsets[owner] + within],
                evidence_total=hops[picked],
            ))
    features = pa.table({"account": index.accounts, f"truncated_cycle_{window}": pa.array(truncated, pa.int64())})
    return RuleResult.from_found(ledger, index.accounts, found, features=features)
