"""The human-trafficking rule-pack kernels (kernels/windows.py, kernels/cash_business.py,
kernels/crossborder.py) against hand-computed results and their naive twins in
tests/naive_pack.py, on hand-made edge cases and Hypothesis-generated ledgers, with one and
two Numba threads."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive_pack
from flowscan.kernels import cash_business, crossborder, windows

WEEK = 7 * 86_400 * 1_000_000
BIG = 3 * 10**18  # three of these still fit in int64; ppm * sum would not

# -- helpers ---------------------------------------------------------------------------------


def csr_view(owner, ts, n_accounts, dtype=np.int32):
    """CSR view by ``owner`` (-1 left out), each account's rows in (ts, row number) order; rows
    are int32 by default, as :func:`flowscan.kernels.csr.group_rows` gives them."""
    owner = np.asarray(owner, dtype=np.int64)
    ts = np.asarray(ts, dtype=np.int64)
    kept = np.flatnonzero(owner >= 0)
    order = kept[np.lexsort((kept, ts[kept], owner[kept]))]  # last key sorts first
    counts = np.bincount(owner[kept], minlength=n_accounts)
    return offsets_from(counts), order.astype(dtype)


def offsets_from(counts):
    """As :func:`flowscan.rules.instances.offsets_from_counts`."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def i64(values):
    return np.asarray(values, dtype=np.int64)


def flags(values):
    return np.asarray(values, dtype=np.bool_)


WINDOW_FIELDS = ("account", "start", "end", "count", "n_keys", "total", "part_total")
FOREIGN_FIELDS = ("account", "start", "end", "n_senders", "inflow_total", "outflow_total", "n_destinations",
                  "ev_total")


def as_lists(fields, counted, filled):
    """Kernel outputs (pass 1's counts, pass 2's arrays) as a dict of lists."""
    n_inst, n_ev = counted
    *columns, ev_rows = filled
    assert n_inst.dtype == np.int64 and n_ev.dtype == np.int64
    assert columns[0].dtype == np.int32 and ev_rows.dtype == np.int64
    assert all(column.dtype == np.int64 for column in columns[1:])
    assert all(len(column) == n_inst.sum() for column in columns) and len(ev_rows) == n_ev.sum()
    out = {"n_inst": n_inst.tolist(), "n_ev": n_ev.tolist(), "ev_rows": ev_rows.tolist()}
    out.update({name: column.tolist() for name, column in zip(fields, columns)})
    return out


def expected_lists(fields, found, n_accounts):
    """A twin's instances in the kernels' layout."""
    out = {"n_inst": [0] * n_accounts, "n_ev": [0] * n_accounts, "ev_rows": []}
    out.update({name: [] for name in fields})
    for f in found:
        out["n_inst"][f["account"]] += 1
        out["n_ev"][f["account"]] += len(f["evidence"])
        out["ev_rows"] += f["evidence"]
        for name in fields:
            out[name].append(f[name])
    return out


class Windows:
    """A ledger for kernel 1 (per-row lists) with its CSR view."""

    def __init__(self, owner, ts, *, selected=None, key=None, amount=None, part=None, n_accounts=None,
                 dtype=np.int32):
        n = len(ts)
        self.n_accounts = (max(owner, default=-1) + 1) if n_accounts is None else n_accounts
        self.owner = list(owner)
        self.ts = list(ts)
        self.selected = [True] * n if selected is None else list(selected)
        self.key = [-1] * n if key is None else list(key)
        self.amount = [1] * n if amount is None else list(amount)
        self.part = [0] * n if part is None else list(part)
        self.offsets, self.rows = csr_view(self.owner, self.ts, self.n_accounts, dtype)

    def arrays(self):
        return (self.offsets, self.rows, i64(self.ts), flags(self.selected), i64(self.key), i64(self.amount),
                i64(self.part))

    def kernel(self, *, window_us, min_count, min_keys=0, min_total=0, evidence_cap=100):
        args = (*self.arrays(), window_us, min_count, min_keys, min_total, evidence_cap)
        counted = windows.selected_windows_count(*args)
        filled = windows.selected_windows_fill(*args, offsets_from(counted[0]), offsets_from(counted[1]))
        return as_lists(WINDOW_FIELDS, counted, filled)

    def twin(self, **params):
        params = {"min_keys": 0, "min_total": 0, "evidence_cap": 100, **params}
        found = naive_pack.selected_windows(self.owner, self.ts, self.selected, self.key, self.amount, self.part,
                                            n_accounts=self.n_accounts, **params)
        return expected_lists(WINDOW_FIELDS, found, self.n_accounts)

    def check(self, **params):
        """Kernel equals twin; returns the kernel's result."""
        got = self.kernel(**params)
        assert got == self.twin(**params)
        return got


class Foreign:
    """A ledger for kernel 3 (per-row lists) with its by-receiver and by-sender CSR views."""

    def __init__(self, sender, receiver, ts, amount, *, inflow=None, sender_key=None, foreign=None,
                 receiver_key=None, n_accounts=None, dtype=np.int32):
        n = len(ts)
        self.n_accounts = (max([*sender, *receiver], default=-1) + 1) if n_accounts is None else n_accounts
        self.sender = list(sender)
        self.receiver = list(receiver)
        self.ts = list(ts)
        self.amount = list(amount)
        self.inflow = [True] * n if inflow is None else list(inflow)
        self.sender_key = list(self.sender) if sender_key is None else list(sender_key)
        self.foreign = [True] * n if foreign is None else list(foreign)
        self.receiver_key = [100 + r for r in range(n)] if receiver_key is None else list(receiver_key)
        self.in_offsets, self.in_rows = csr_view(self.receiver, self.ts, self.n_accounts, dtype)
        self.out_offsets, self.out_rows = csr_view(self.sender, self.ts, self.n_accounts, dtype)

    def arrays(self):
        return (self.in_offsets, self.in_rows, self.out_offsets, self.out_rows, i64(self.ts), i64(self.amount),
                flags(self.inflow), i64(self.sender_key), flags(self.foreign), i64(self.receiver_key))

    def kernel(self, *, window_us, min_senders, min_share_ppm, max_destinations=1, evidence_cap=100):
        args = (*self.arrays(), window_us, min_senders, min_share_ppm, max_destinations, evidence_cap)
        counted = crossborder.foreign_outflow_count(*args)
        filled = crossborder.foreign_outflow_fill(*args, offsets_from(counted[0]), offsets_from(counted[1]))
        return as_lists(FOREIGN_FIELDS, counted, filled)

    def twin(self, **params):
        params = {"max_destinations": 1, "evidence_cap": 100, **params}
        found = naive_pack.foreign_outflow(self.receiver, self.sender, self.ts, self.amount, self.inflow,
                                           self.sender_key, self.foreign, self.receiver_key,
                                           n_accounts=self.n_accounts, **params)
        return expected_lists(FOREIGN_FIELDS, found, self.n_accounts)

    def check(self, **params):
        got = self.kernel(**params)
        assert got == self.twin(**params)
        return got


def cash_kernel(receiver, sender, ts, amount, cash_in, payroll_out, *, n_accounts, origin_us, week_us,
                in_view=None):
    in_offsets, in_rows = in_view or csr_view(receiver, ts, n_accounts)
    out_offsets, out_rows = csr_view(sender, ts, n_accounts)
    result = cash_business.cash_payroll_profile(in_offsets, in_rows, out_offsets, out_rows, i64(ts), i64(amount),
                                                flags(cash_in), flags(payroll_out), origin_us, week_us)
    names = ("n_cash", "cash_total", "n_weeks", "first_cash", "last_cash", "n_payroll", "payroll_total")
    assert len(result) == len(names)
    assert all(column.dtype == np.int64 and column.shape == (n_accounts,) for column in result)
    return {name: column.tolist() for name, column in zip(names, result)}


def cash_check(*args, **params):
    got = cash_kernel(*args, **params)
    params.pop("in_view", None)
    assert got == naive_pack.cash_payroll_profile(*args, **params)
    return got


def group_check(owner, group, amount, n_groups, n_accounts, group_dtype=np.int64):
    offsets, rows = csr_view(owner, list(range(len(owner))), n_accounts)
    counts = windows.group_counts(offsets, rows, np.asarray(group, dtype=group_dtype), n_groups)
    sums = windows.group_sums(offsets, rows, np.asarray(group, dtype=group_dtype), i64(amount), n_groups)
    assert counts.dtype == np.int64 and sums.dtype == np.int64
    assert counts.shape == sums.shape == (n_accounts, n_groups)
    assert counts.tolist() == naive_pack.group_counts(owner, group, n_accounts=n_accounts, n_groups=n_groups)
    assert sums.tolist() == naive_pack.group_sums(owner, group, amount, n_accounts=n_accounts, n_groups=n_groups)
    return counts.tolist(), sums.tolist()


# -- kernel 1: selected windows --------------------------------------------------------------


def test_windows_on_an_empty_ledger_and_on_accounts_without_rows():
    empty = {"n_inst": [], "n_ev": [], "ev_rows": [], **{name: [] for name in WINDOW_FIELDS}}
    assert Windows([], [], n_accounts=0).check(window_us=10, min_count=1) == empty
    idle = Windows([], [], n_accounts=3).check(window_us=10, min_count=1)
    assert idle["n_inst"] == [0, 0, 0] and idle["account"] == []
    # rows, but none selected, or owned by no account
    ledger = Windows([0, -1, 1], [0, 1, 2], selected=[False, True, False], n_accounts=2)
    assert ledger.check(window_us=10, min_count=1)["n_inst"] == [0, 0]


def test_windows_one_account_greedy_and_half_open():
    # rows 0..4 at 0, 5, 10, 10, 20: the window at 0 holds 0 and 5 (10 is on the edge, out);
    # the window at 5 holds 5, 10, 10 and fires; the next anchor is 20 (alone)
    ledger = Windows([0] * 5, [0, 5, 10, 10, 20], amount=[1, 2, 3, 4, 5], part=[1, 0, 1, 1, 0],
                     key=[7, 7, 8, -1, 9])
    got = ledger.check(window_us=10, min_count=3)
    assert got == {"n_inst": [1], "n_ev": [3], "ev_rows": [1, 2, 3], "account": [0], "start": [5], "end": [10],
                   "count": [3], "n_keys": [2], "total": [9], "part_total": [2]}
    # one microsecond more and the window at 0 holds 0, 5, 10, 10 (the row at 20 is on the edge)
    got = ledger.check(window_us=11, min_count=3)
    assert got["start"] == [0] and got["end"] == [10] and got["count"] == [4] and got["ev_rows"] == [0, 1, 2, 3]
    # non-overlapping: six rows a microsecond apart, windows of three
    ledger = Windows([0] * 6, [0, 1, 2, 3, 4, 5])
    got = ledger.check(window_us=3, min_count=3)
    assert got["start"] == [0, 3] and got["end"] == [2, 5] and got["ev_rows"] == [0, 1, 2, 3, 4, 5]
    assert ledger.check(window_us=3, min_count=4)["n_inst"] == [0]


def test_windows_equal_timestamps_and_ledger_order_ties():
    # rows listed out of time order in the ledger; ties in ledger (row number) order
    ledger = Windows([0, 0, 0, 0], [7, 3, 7, 3], amount=[1, 10, 100, 1000])
    got = ledger.check(window_us=1, min_count=2)
    assert got["ev_rows"] == [1, 3, 0, 2] and got["start"] == [3, 7] and got["end"] == [3, 7]
    assert got["total"] == [1010, 101]
    got = ledger.check(window_us=5, min_count=2)
    assert got["count"] == [4] and got["ev_rows"] == [1, 3, 0, 2] and got["end"] == [7]


def test_windows_total_exactly_at_min_total_and_keys():
    ledger = Windows([0, 0, 0], [0, 1, 2], amount=[100, 200, 300], key=[-1, 2**31 - 1, -1])
    assert ledger.check(window_us=10, min_count=1, min_total=600)["total"] == [600]
    assert ledger.check(window_us=10, min_count=1, min_total=601)["n_inst"] == [0]
    # -1 is not a key: one distinct key only
    assert ledger.check(window_us=10, min_count=1, min_keys=1)["n_keys"] == [1]
    assert ledger.check(window_us=10, min_count=1, min_keys=2)["n_inst"] == [0]
    # sparse keys far apart, repeated
    ledger = Windows([0] * 4, [0, 1, 2, 3], key=[2**40, 5, 2**40, 0])
    got = ledger.check(window_us=10, min_count=1, min_keys=3)
    assert got["n_keys"] == [3] and got["count"] == [4]
    # the window at 0 has two keys only; the one at 1 has 5, 2**40 and 0
    got = ledger.check(window_us=3, min_count=1, min_keys=3)
    assert got["start"] == [1] and got["n_keys"] == [3] and got["ev_rows"] == [1, 2, 3]


def test_windows_unselected_rows_and_evidence_cap():
    ledger = Windows([0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5], selected=[True, False, True, True, False, True],
                     amount=[5, 1000, 5, 5, 1000, 5], part=[1, 1, 1, 1, 1, 1])
    got = ledger.check(window_us=100, min_count=4, evidence_cap=2)
    assert got == {"n_inst": [1], "n_ev": [2], "ev_rows": [0, 2], "account": [0], "start": [0], "end": [5],
                   "count": [4], "n_keys": [0], "total": [20], "part_total": [4]}
    got = ledger.check(window_us=100, min_count=1, evidence_cap=1)
    assert got["n_ev"] == [1] and got["ev_rows"] == [0] and got["count"] == [4]


def test_windows_several_accounts_with_int32_and_int64_rows():
    owner = [2, 0, 2, -1, 0, 2, 1]
    ts = [10, 10, 11, 11, 30, 12, 0]
    for dtype in (np.int32, np.int64):
        ledger = Windows(owner, ts, amount=[1, 2, 3, 4, 5, 6, 7], n_accounts=4, dtype=dtype)
        got = ledger.check(window_us=5, min_count=2)
        assert got["n_inst"] == [0, 0, 1, 0] and got["account"] == [2] and got["ev_rows"] == [0, 2, 5]
        assert got["total"] == [10]
        got = ledger.check(window_us=5, min_count=1, evidence_cap=2)
        assert got["account"] == [0, 0, 1, 2] and got["n_ev"] == [2, 1, 2, 0]
        assert got["ev_rows"] == [1, 4, 6, 0, 2]


# -- kernel 4: group counts and sums ---------------------------------------------------------


def test_group_counts_and_sums():
    owner = [0, 1, 0, 0, -1, 1, 0]
    group = [2, 0, 2, -1, 1, 3, 0]  # 3 is beyond n_groups: ignored like -1
    amount = [10, 20, 30, 40, 50, 60, 70]
    for dtype in (np.int8, np.int64):
        counts, sums = group_check(owner, group, amount, 3, 3, dtype)
        assert counts == [[1, 0, 2], [1, 0, 0], [0, 0, 0]]
        assert sums == [[70, 0, 40], [20, 0, 0], [0, 0, 0]]
    assert group_check([], [], [], 4, 0) == ([], [])
    assert group_check([], [], [], 2, 2) == ([[0, 0], [0, 0]], [[0, 0], [0, 0]])


# -- kernel 2: cash with no payroll ----------------------------------------------------------


def test_cash_profile_weeks_floor_and_empty_accounts():
    origin = 1_000 * WEEK
    # account 0: cash in week -1 (one microsecond before origin), week 0 (origin), week 0, week 1
    # (exactly one week after origin); a transfer that is not cash; payroll out from account 1
    receiver = [0, 0, 0, 0, 0, 2, -1]
    sender = [-1, -1, -1, -1, 1, 1, 1]
    ts = [origin - 1, origin, origin + WEEK - 1, origin + WEEK, origin + 5, origin + 6, origin + 7]
    amount = [100, 200, 300, 400, 5000, 60, 70]
    cash_in = [True, True, True, True, False, False, True]
    payroll = [False, False, False, False, True, False, True]
    got = cash_check(receiver, sender, ts, amount, cash_in, payroll, n_accounts=3, origin_us=origin, week_us=WEEK)
    assert got == {"n_cash": [4, 0, 0], "cash_total": [1000, 0, 0], "n_weeks": [3, 0, 0],
                   "first_cash": [origin - 1, 0, 0], "last_cash": [origin + WEEK, 0, 0], "n_payroll": [0, 2, 0],
                   "payroll_total": [0, 5070, 0]}
    # times before the epoch and a week origin after all of them
    got = cash_check([0, 0, 0], [-1, -1, -1], [-10, -4, 3], [1, 1, 1], [True] * 3, [False] * 3, n_accounts=1,
                     origin_us=5, week_us=7)
    assert got["n_weeks"] == [3] and got["first_cash"] == [-10] and got["last_cash"] == [3]  # weeks -3, -2, -1
    empty = cash_check([], [], [], [], [], [], n_accounts=0, origin_us=0, week_us=WEEK)
    assert all(v == [] for v in empty.values())
    idle = cash_check([], [], [], [], [], [], n_accounts=2, origin_us=0, week_us=WEEK)
    assert all(v == [0, 0] for v in idle.values())


def test_cash_profile_on_rows_not_in_time_order():
    # the kernel is documented for time-ordered rows, but counts weeks right without that
    receiver, sender = [0, 0, 0, 0], [-1] * 4
    ts, amount = [30, 1, 15, 2], [1, 2, 3, 4]
    reversed_view = (i64([0, 4]), np.array([0, 2, 3, 1], dtype=np.int32))  # 30, 15, 2, 1
    got = cash_check(receiver, sender, ts, amount, [True] * 4, [False] * 4, n_accounts=1, origin_us=0, week_us=10,
                     in_view=reversed_view)
    assert got["n_weeks"] == [3] and got["first_cash"] == [1] and got["last_cash"] == [30]


# -- kernel 3: many domestic inflows, one foreign outflow ------------------------------------


def planted_foreign(out_ts=3, out_amount=300, window=10):
    """Account 0 receives 100 from accounts 1, 2, 3 at times 0, 1, 2, and sends one payment abroad."""
    return Foreign([1, 2, 3, 0], [0, 0, 0, -1], [0, 1, 2, out_ts], [100, 100, 100, out_amount],
                   inflow=[True, True, True, False], foreign=[False, False, False, True],
                   receiver_key=[-1, -1, -1, 99])


def test_foreign_outflow_planted_and_edges():
    params = {"window_us": 10, "min_senders": 3, "min_share_ppm": 900_000}
    got = planted_foreign().check(**params)
    assert got == {"n_inst": [1, 0, 0, 0], "n_ev": [4, 0, 0, 0], "ev_rows": [0, 1, 2, 3], "account": [0],
                   "start": [0], "end": [3], "n_senders": [3], "inflow_total": [300], "outflow_total": [300],
                   "n_destinations": [1], "ev_total": [4]}
    # an outflow at the anchor's time is not after it; one on the window edge is outside
    assert planted_foreign(out_ts=0).check(**params)["n_inst"] == [0, 0, 0, 0]
    assert planted_foreign(out_ts=10).check(**params)["n_inst"] == [0, 0, 0, 0]
    assert planted_foreign(out_ts=9).check(**params)["end"] == [9]
    # share exactly at the threshold, and one unit under
    assert planted_foreign(out_amount=270).check(**params)["outflow_total"] == [270]
    assert planted_foreign(out_amount=269).check(**params)["n_inst"] == [0, 0, 0, 0]
    # more out than in is a full share
    assert planted_foreign(out_amount=10**6).check(**params)["n_inst"] == [1, 0, 0, 0]
    assert planted_foreign().check(**{**params, "min_senders": 4})["n_inst"] == [0, 0, 0, 0]
    # evidence cap cuts the inflows, then the outflows
    got = planted_foreign().check(**params, evidence_cap=2)
    assert got["ev_rows"] == [0, 1] and got["n_ev"] == [2, 0, 0, 0] and got["ev_total"] == [4]
    got = planted_foreign().check(**params, evidence_cap=4)
    assert got["ev_rows"] == [0, 1, 2, 3]


def test_foreign_outflow_share_exact_without_overflow():
    # inflow total 9e18: ppm * inflow overflows int64, the exact test must not
    threshold = BIG * 3 // 1_000_000 * 999_999
    for out_amount, fires in ((threshold, True), (threshold - 1, False)):
        ledger = Foreign([1, 2, 3, 0], [0, 0, 0, -1], [0, 1, 2, 3], [BIG, BIG, BIG, out_amount],
                         inflow=[True, True, True, False], foreign=[False, False, False, True])
        got = ledger.check(window_us=10, min_senders=3, min_share_ppm=999_999)
        assert got["n_inst"][0] == int(fires)
        if fires:
            assert got["inflow_total"] == [3 * BIG] and got["outflow_total"] == [threshold]
    # zero inflow: any outflow is a full share, even of zero
    ledger = Foreign([1, 0], [0, -1], [0, 1], [0, 0], inflow=[True, False], foreign=[False, True])
    assert ledger.check(window_us=10, min_senders=1, min_share_ppm=1_000_000)["n_inst"] == [1, 0]


def test_foreign_outflow_keys_destinations_and_greedy():
    # inflows to 0 at 0, 1, 2, 3 (sender keys 5, -1, 5, 6); outflows abroad at 2 (key 40) and 4
    # (key 41, then -1): two destinations unless the second key is unknown
    sender = [1, 2, 1, 3, 0, 0]
    receiver = [0, 0, 0, 0, -1, -1]
    ts = [0, 1, 2, 3, 2, 4]
    amount = [10, 10, 10, 10, 20, 20]
    inflow = [True, True, True, True, False, False]
    foreign = [False, False, False, False, True, True]
    ledger = Foreign(sender, receiver, ts, amount, inflow=inflow, foreign=foreign, sender_key=[5, -1, 5, 6, -1, -1],
                     receiver_key=[0, 0, 0, 0, 40, 41])
    params = {"window_us": 10, "min_senders": 2, "min_share_ppm": 500_000}
    # anchor 0: senders {5, 6}, destinations {40, 41} > 1: no; anchor 1: same; anchor 2 (ts 2):
    # outflow at 2 is not after it; outflow at 4 (41): fires with inflows at 2, 3
    got = ledger.check(**params)
    assert got["start"] == [2] and got["n_senders"] == [2] and got["n_destinations"] == [1]
    assert got["ev_rows"] == [2, 3, 5] and got["inflow_total"] == [20] and got["outflow_total"] == [20]
    assert ledger.check(**params, max_destinations=2)["ev_rows"] == [0, 1, 2, 3, 4, 5]
    unknown = Foreign(sender, receiver, ts, amount, inflow=inflow, foreign=foreign,
                      sender_key=[5, -1, 5, 6, -1, -1], receiver_key=[0, 0, 0, 0, 40, -1])
    got = unknown.check(**params)
    assert got["start"] == [0] and got["n_destinations"] == [1] and got["ev_total"] == [6]
    # greedy: the window at 0 (3 us) fires on its own outflow at 2; its inflows 0, 1, 2 are used, and
    # the next anchor (3) may use the outflow at 4
    got = ledger.check(window_us=3, min_senders=1, min_share_ppm=1)
    assert got["start"] == [0, 3] and got["ev_rows"] == [0, 1, 2, 4, 3, 5] and got["end"] == [2, 4]


def test_foreign_outflow_empty_and_one_sided():
    empty = {"n_inst": [], "n_ev": [], "ev_rows": [], **{name: [] for name in FOREIGN_FIELDS}}
    assert Foreign([], [], [], [], n_accounts=0).check(window_us=5, min_senders=1, min_share_ppm=1) == empty
    idle = Foreign([], [], [], [], n_accounts=2).check(window_us=5, min_senders=1, min_share_ppm=1)
    assert idle["n_inst"] == [0, 0]
    # only inflows, or only outflows
    assert Foreign([1, 2], [0, 0], [0, 1], [5, 5]).check(window_us=5, min_senders=1, min_share_ppm=1)["n_inst"] \
        == [0, 0, 0]
    assert Foreign([0, 0], [1, 2], [0, 1], [5, 5], inflow=[False, False]).check(
        window_us=5, min_senders=0, min_share_ppm=1)["n_inst"] == [0, 0, 0]


# -- generated ledgers -----------------------------------------------------------------------

AMOUNTS = st.one_of(st.integers(min_value=0, max_value=6), st.sampled_from([0, 100, 10**15, 3 * 10**17]))
KEYS = st.one_of(st.integers(min_value=-1, max_value=3), st.sampled_from([2**31 - 1, 2**40]))
TIMES = st.integers(min_value=-3, max_value=12)  # few values: many ties


@st.composite
def ledger_columns(draw, max_rows=24):
    n_accounts = draw(st.integers(min_value=1, max_value=4))
    n = draw(st.integers(min_value=0, max_value=max_rows))
    scale = draw(st.sampled_from([1, 7, 1_000_000]))

    def column(strategy):
        return draw(st.lists(strategy, min_size=n, max_size=n))

    return {
        "n_accounts": n_accounts,
        "owner": column(st.integers(min_value=-1, max_value=n_accounts - 1)),
        "other": column(st.integers(min_value=-1, max_value=n_accounts - 1)),
        "ts": [t * scale for t in column(TIMES)],
        "amount": column(AMOUNTS),
        "part": column(st.integers(min_value=-2, max_value=5)),
        "mask": column(st.booleans()),
        "mask2": column(st.booleans()),
        "key": column(KEYS),
        "key2": column(KEYS),
        "group": column(st.integers(min_value=-1, max_value=4)),
        "scale": scale,
    }


@settings(max_examples=100, deadline=None)
@given(ledger_columns(), st.integers(min_value=1, max_value=15), st.integers(min_value=1, max_value=4),
       st.integers(min_value=0, max_value=3), st.sampled_from([0, 1, 5, 100, 10**15]),
       st.integers(min_value=1, max_value=4), st.sampled_from([np.int32, np.int64]))
def test_windows_kernel_equals_twin_on_generated_ledgers(c, window, min_count, min_keys, min_total, cap, dtype):
    ledger = Windows(c["owner"], c["ts"], selected=c["mask"], key=c["key"], amount=c["amount"], part=c["part"],
                     n_accounts=c["n_accounts"], dtype=dtype)
    params = dict(window_us=window * c["scale"], min_count=min_count, min_keys=min_keys, min_total=min_total,
                  evidence_cap=cap)
    assert ledger.kernel(**params) == ledger.twin(**params)


@settings(max_examples=60, deadline=None)
@given(ledger_columns(), st.integers(min_value=0, max_value=4), st.sampled_from([-5, 0, 3]),
       st.integers(min_value=1, max_value=20))
def test_group_and_cash_kernels_equal_twins_on_generated_ledgers(c, n_groups, origin, week):
    n = c["n_accounts"]
    counts, sums = group_check(c["owner"], [min(g, 127) for g in c["group"]], c["amount"], n_groups, n, np.int8)
    assert counts == naive_pack.group_counts(c["owner"], [min(g, 127) for g in c["group"]], n_accounts=n,
                                             n_groups=n_groups)
    args = (c["owner"], c["other"], c["ts"], c["amount"], c["mask"], c["mask2"])
    params = dict(n_accounts=n, origin_us=origin * c["scale"], week_us=week * c["scale"])
    assert cash_kernel(*args, **params) == naive_pack.cash_payroll_profile(*args, **params)


@settings(max_examples=100, deadline=None)
@given(ledger_columns(), st.integers(min_value=1, max_value=15), st.integers(min_value=0, max_value=3),
       st.one_of(st.sampled_from([1, 250_000, 500_000, 999_999, 1_000_000]),
                 st.integers(min_value=1, max_value=1_000_000)),
       st.integers(min_value=0, max_value=2), st.integers(min_value=1, max_value=5))
def test_foreign_outflow_kernel_equals_twin_on_generated_ledgers(c, window, min_senders, ppm, max_destinations,
                                                                  cap):
    ledger = Foreign(c["other"], c["owner"], c["ts"], c["amount"], inflow=c["mask"], sender_key=c["key"],
                     foreign=c["mask2"], receiver_key=c["key2"], n_accounts=c["n_accounts"])
    params = dict(window_us=window * c["scale"], min_senders=min_senders, min_share_ppm=ppm,
                  max_destinations=max_destinations, evidence_cap=cap)
    assert ledger.kernel(**params) == ledger.twin(**params)


# -- larger ledgers: twins, and one against two threads ---------------------------------------


def random_ledger(seed, n_rows=3000, n_accounts=40):
    """A ledger with a hub (account 0 owns a third of the rows), many ties and sparse keys."""
    rng = np.random.default_rng(seed)
    owner = rng.integers(-1, n_accounts, n_rows)
    owner[rng.random(n_rows) < 0.33] = 0
    other = rng.integers(-1, n_accounts, n_rows)
    return {
        "n_accounts": n_accounts,
        "owner": owner.tolist(),
        "other": other.tolist(),
        "ts": (rng.integers(0, 400, n_rows) * 1_000_000).tolist(),
        "amount": rng.choice([0, 1, 500, 10_000, 10**12], n_rows).tolist(),
        "part": rng.integers(0, 3, n_rows).tolist(),
        "mask": (rng.random(n_rows) < 0.7).tolist(),
        "mask2": (rng.random(n_rows) < 0.4).tolist(),
        "key": rng.choice([-1, 0, 3, 17, 2**31 - 1, 2**33], n_rows).tolist(),
        "key2": rng.choice([-1, 5, 6, 2**35], n_rows).tolist(),
        "group": rng.integers(-1, 6, n_rows).tolist(),
    }


def _all_kernels(c):
    """Every kernel on ledger ``c``, as plain lists."""
    n = c["n_accounts"]
    out = {}
    w = Windows(c["owner"], c["ts"], selected=c["mask"], key=c["key"], amount=c["amount"], part=c["part"],
                n_accounts=n)
    out["windows"] = w.kernel(window_us=20_000_000, min_count=3, min_keys=2, min_total=10_001, evidence_cap=4)
    f = Foreign(c["other"], c["owner"], c["ts"], c["amount"], inflow=c["mask"], sender_key=c["key"],
                foreign=c["mask2"], receiver_key=c["key2"], n_accounts=n)
    out["foreign"] = f.kernel(window_us=30_000_000, min_senders=2, min_share_ppm=300_000, max_destinations=2,
                              evidence_cap=5)
    out["cash"] = cash_kernel(c["owner"], c["other"], c["ts"], c["amount"], c["mask"], c["mask2"], n_accounts=n,
                              origin_us=-3, week_us=50_000_000)
    offsets, rows = csr_view(c["owner"], c["ts"], n)
    out["counts"] = windows.group_counts(offsets, rows, i64(c["group"]), 5).tolist()
    out["sums"] = windows.group_sums(offsets, rows, i64(c["group"]), i64(c["amount"]), 5).tolist()
    return out


def test_kernels_equal_twins_on_a_ledger_with_a_hub():
    c = random_ledger(7)
    n = c["n_accounts"]
    got = _all_kernels(c)
    assert sum(got["windows"]["n_inst"]) > 10 and sum(got["foreign"]["n_inst"]) > 10
    w = Windows(c["owner"], c["ts"], selected=c["mask"], key=c["key"], amount=c["amount"], part=c["part"],
                n_accounts=n)
    assert got["windows"] == w.twin(window_us=20_000_000, min_count=3, min_keys=2, min_total=10_001, evidence_cap=4)
    f = Foreign(c["other"], c["owner"], c["ts"], c["amount"], inflow=c["mask"], sender_key=c["key"],
                foreign=c["mask2"], receiver_key=c["key2"], n_accounts=n)
    assert got["foreign"] == f.twin(window_us=30_000_000, min_senders=2, min_share_ppm=300_000, max_destinations=2,
                                    evidence_cap=5)
    assert got["cash"] == naive_pack.cash_payroll_profile(c["owner"], c["other"], c["ts"], c["amount"], c["mask"],
                                                          c["mask2"], n_accounts=n, origin_us=-3, week_us=50_000_000)
    assert got["counts"] == naive_pack.group_counts(c["owner"], c["group"], n_accounts=n, n_groups=5)
    assert got["sums"] == naive_pack.group_sums(c["owner"], c["group"], c["amount"], n_accounts=n, n_groups=5)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_result_for_one_and_two_threads(seed):
    c = random_ledger(seed)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            results.append(_all_kernels(c))
    finally:
        numba.set_num_threads(before)
    assert results[0] == results[1]
