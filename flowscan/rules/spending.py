"""Spending that covers other people's living costs: a merchant-category mix far from the
account's peers. A rule of the human-trafficking pack (red flag 9 of ../shared/TYPOLOGIES.md;
FINTRAC Project PROTECT operational alert 2016-OA003: frequent small purchases at fast food,
pharmacies, beauty and lingerie stores).

Definition. An account's *merchant payments* are the transactions it sends with a merchant
category code (``mcc`` not null); the *care* payments are those whose code is in ``groups`` of
the ``mcc_groups`` reference table
(fast food, pharmacy, beauty, lingerie, adult by default). Per account the kernel
:func:`flowscan.kernels.windows.group_counts` counts the payments per group.

There is no fixed cut-off: the baseline is the account's *peer group*. Accounts with at least
``min_payments`` merchant payments are split into ``segments`` groups of equal size by their
number of merchant payments (activity level, ties kept together). Within a segment, the care
share ``s`` of each account is compared with the segment's median ``m`` and median absolute
deviation ``d``: ``z = (s - m) / max(1.4826 d, 0.01)``. An account fires when ``z >= min_z`` and
it has at least ``min_count`` care payments. One instance per account, from its first to its
last care payment; evidence: the care payments. Reasons: ``care_share_z`` (>= ``min_z``),
``care_payments`` (>= ``min_count``), ``care_share`` and ``peer_median`` (info).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import params
from ..index import AccountIndex
from ..kernels import windows as kernel
from ..reference import GROUPS, Reference
from .instances import Found, Reason, RuleResult, offsets_from_counts
from .windows import account_evidence, reference_for, timestamps

SOURCE = ("FINTRAC Project PROTECT operational alert 2016-OA003 (frequent purchases at fast food, pharmacies, "
          "beauty and lingerie stores; paying for others' living costs)")
TYPOLOGY = "living_costs"


@dataclasses.dataclass(frozen=True)
class LivingCosts:
    """Options of the living-costs spending-mix rule (see the module docstring).

    Parameters
    ----------
    groups : tuple of str, default ("fast_food", "pharmacy", "beauty", "lingerie", "adult")
    min_payments : int, default 20
        Merchant payments an account needs to be compared at all.
    min_count : int, default 15
        Care payments needed to fire.
    segments : int, default 5
        Peer groups by activity level.
    min_z : float, default 3.5
        Robust z-score of the care share within the peer group.
    evidence_cap : int, default 50
    """

    groups: tuple = ("fast_food", "pharmacy", "beauty", "lingerie", "adult")
    min_payments: int = 20
    min_count: int = 15
    segments: int = 5
    min_z: float = 3.5
    evidence_cap: int = 50

    NEEDS = ("mcc_groups",)

    def __post_init__(self):
        owner = "LivingCosts"
        groups = (self.groups,) if isinstance(self.groups, str) else tuple(self.groups)
        if not groups:
            raise params.ConfigError(params._message(owner, "groups", "at least one merchant-category group", groups))
        for g in groups:
            params.choice(owner, "groups", g, GROUPS)
        object.__setattr__(self, "groups", groups)
        for name in ("min_payments", "min_count", "segments", "evidence_cap"):
            params.positive_int(owner, name, getattr(self, name))
        if isinstance(self.min_z, bool) or not isinstance(self.min_z, (int, float)) or not self.min_z > 0:
            raise params.ConfigError(params._message(owner, "min_z", "a positive number", self.min_z))

    rule = "living_costs"


def _segments(activity: np.ndarray, k: int) -> np.ndarray:
    """Segment of each account (0..k-1) by activity rank; equal activity, equal segment."""
    # an account's rank is the number of accounts less active; ties share the rank of their block
    first = np.searchsorted(np.sort(activity), activity, side="left")
    return np.minimum(first * k // max(len(activity), 1), k - 1)


def care_counts(ledger: pa.Table, index: AccountIndex, /, *, options: LivingCosts | None = None,
                reference: Reference | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merchant group of each row (-1 for none), and per account (code order) its merchant
    payments ``n_all`` and care payments ``n_care``."""
    options = options or LivingCosts()
    reference = reference_for("living_costs", reference, LivingCosts.NEEDS)
    group = reference.mcc_groups(ledger.column("mcc")).astype(np.int64)
    group = np.where(index.sender >= 0, group, -1)
    counts = kernel.group_counts(index.by_sender.offsets, index.by_sender.rows, group, len(GROUPS))
    care_codes = [GROUPS.index(g) for g in options.groups]
    has_mcc = ledger.column("mcc").is_valid().to_numpy(zero_copy_only=False) & (index.sender >= 0)
    n_all = np.bincount(index.sender[has_mcc], minlength=index.n_accounts).astype(np.int64)
    return group, n_all, counts[:, care_codes].sum(axis=1)


def peer_scores(n_all: np.ndarray, n_care: np.ndarray, options: LivingCosts) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-score of each account's care share within its peer group, and the group's median
    share (module docstring); 0 for accounts with too few merchant payments to be compared."""
    compared = np.flatnonzero(n_all >= options.min_payments)
    z = np.zeros(len(n_all))
    median = np.zeros(len(n_all))
    if len(compared):
        share = n_care[compared] / n_all[compared]
        segment = _segments(n_all[compared], options.segments)
        for s in np.unique(segment):
            mine = segment == s
            m = np.median(share[mine])
            d = np.median(np.abs(share[mine] - m))
            z[compared[mine]] = (share[mine] - m) / max(1.4826 * d, 0.01)
            median[compared[mine]] = m
    return z, median


def living_costs(ledger: pa.Table, index: AccountIndex, /, *, options: LivingCosts | None = None,
                 reference: Reference | None = None, peers=None) -> RuleResult:
    """Find accounts whose care spending stands out from their peers' (module docstring).

    ``peers``, when given, is ``(accounts, z, median)``: the whole ledger's :func:`peer_scores`
    of the accounts that may fire (the Spark engine runs the rule on part of a ledger with them).

    Returns
    -------
    RuleResult
        One instance per firing account; evidence: its care payments.
    """
    options = options or LivingCosts()
    reference = reference_for("living_costs", reference, LivingCosts.NEEDS)
    ts = timestamps(ledger)
    group, n_all, n_care = care_counts(ledger, index, options=options, reference=reference)
    care_codes = [GROUPS.index(g) for g in options.groups]
    found = []
    if peers is None:
        z, median = peer_scores(n_all, n_care, options)
    else:  # the whole ledger's scores of some accounts; the others cannot fire
        accounts, peer_z, peer_median = peers
        where = pc.index_in(index.accounts, value_set=accounts)
        known = where.is_valid().to_numpy(zero_copy_only=False)
        where = where.fill_null(0).to_numpy(zero_copy_only=False)
        z = np.where(known, np.asarray(peer_z, dtype=np.float64)[where] if len(accounts) else 0.0, 0.0)
        median = np.where(known, np.asarray(peer_median, dtype=np.float64)[where] if len(accounts) else 0.0, 0.0)
    fire = np.flatnonzero((z >= options.min_z) & (n_care >= options.min_count))
    if len(fire):
        care = np.isin(group, care_codes)
        offsets, rows = index.by_sender.offsets, index.by_sender.rows
        evidence, totals = account_evidence(offsets, rows, care, fire, options.evidence_cap)
        first = np.array([ts[r[care[r]][0]] for r in (rows[offsets[a]:offsets[a + 1]] for a in fire)], np.int64)
        last = np.array([ts[r[care[r]][-1]] for r in (rows[offsets[a]:offsets[a + 1]] for a in fire)], np.int64)
        found.append(Found(
            rule=options.rule, typology=TYPOLOGY, source=SOURCE, account=fire.astype(np.int32),
            start_us=first, end_us=last,
            reasons=[Reason("care_share_z", ">=", z[fire], float(options.min_z), "score"),
                     Reason("care_payments", ">=", n_care[fire], options.min_count, "count"),
                     Reason("care_share", "info", n_care[fire] / n_all[fire], None, "share"),
                     Reason("peer_median", "info", median[fire], None, "share")],
            evidence_offsets=offsets_from_counts(np.minimum(totals, options.evidence_cap)),
            evidence_rows=evidence, evidence_total=totals,
        ))
    return RuleResult.from_found(ledger, index.accounts, found)
