"""Cash revenue with no payroll: a per-account profile of cash deposits and payroll outflows.

Red flag: FATF/APG "Financial Flows from Human Trafficking" (2018) and FinCEN FIN-2020-A008:
a front business (massage parlour, nail salon, bar) deposits cash steadily, week after week,
but pays no wages through the account. The wrapper marks the rows and compares the profile
with the account's peers; this kernel only counts.

For account ``a``:

- cash: its received rows ``in_rows[in_offsets[a]:in_offsets[a + 1]]`` with ``cash_in[row]``
  true. ``n_cash`` is their number, ``cash_total`` the sum of their amounts, ``n_weeks`` the
  number of distinct weeks holding at least one of them, where the week of a row is
  ``(ts - origin_us) // week_us`` (floor division, so a time before ``origin_us`` falls in a
  negative week), and ``first_cash`` / ``last_cash`` their smallest and largest ``ts``
  (both 0 when ``n_cash`` is 0).
- payroll: its sent rows ``out_rows[out_offsets[a]:out_offsets[a + 1]]`` with
  ``payroll_out[row]`` true. ``n_payroll`` is their number, ``payroll_total`` the sum of
  their amounts.

Money is int64 minor units, summed exactly. Rows are time-ordered within an account, so the
weeks are counted in one pass; an account whose rows are not is counted by sorting its weeks
(the result is the same). Parallel over accounts; results do not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit, parallel_jit


@jit
def _sorted_weeks(lo, hi, rows, ts, cash_in, origin_us, week_us, n):
    """Distinct weeks of the ``n`` cash rows at positions ``[lo, hi)``, by sorting them."""
    weeks = np.empty(n, dtype=np.int64)
    k = 0
    for p in range(lo, hi):
        r = rows[p]
        if cash_in[r]:
            weeks[k] = (ts[r] - origin_us) // week_us
            k += 1
    weeks.sort()
    distinct = 0
    for k in range(n):
        if k == 0 or weeks[k] != weeks[k - 1]:
            distinct += 1
    return distinct


@parallel_jit
def cash_payroll_profile(in_offsets, in_rows, out_offsets, out_rows, ts, amount, cash_in, payroll_out, origin_us,
                         week_us):
    """Cash deposits and payroll outflows per account (definition in the module docstring).

    Parameters
    ----------
    in_offsets, out_offsets : ndarray of int64, shape (n_accounts + 1,)
    in_rows, out_rows : ndarray of int32 or int64
        The by-receiver and by-sender CSR views, time-ordered within each account.
    ts, amount : ndarray of int64, shape (n_txn,)
        Microseconds since the epoch; amounts in minor units.
    cash_in, payroll_out : ndarray of bool, shape (n_txn,)
    origin_us : int
        Start of week 0 (microseconds since the epoch).
    week_us : int, >= 1
        Length of a week (or of any other period).

    Returns
    -------
    n_cash, cash_total, n_weeks, first_cash, last_cash, n_payroll, payroll_total :
        ndarray of int64, shape (n_accounts,)
    """
    n_accounts = in_offsets.shape[0] - 1
    n_cash = np.zeros(n_accounts, dtype=np.int64)
    cash_total = np.zeros(n_accounts, dtype=np.int64)
    n_weeks = np.zeros(n_accounts, dtype=np.int64)
    first_cash = np.zeros(n_accounts, dtype=np.int64)
    last_cash = np.zeros(n_accounts, dtype=np.int64)
    n_payroll = np.zeros(n_accounts, dtype=np.int64)
    payroll_total = np.zeros(n_accounts, dtype=np.int64)
    for a in numba.prange(n_accounts):
        lo = in_offsets[a]
        hi = in_offsets[a + 1]
        count = 0
        total = 0
        weeks = 0
        first = 0
        last = 0
        previous = 0
        ordered = True
        for p in range(lo, hi):
            r = in_rows[p]
            if not cash_in[r]:
                continue
            t = ts[r]
            week = (t - origin_us) // week_us
            if count == 0:
                first = t
                last = t
                weeks = 1
            else:
                if t < first:
                    first = t
                if t > last:
                    last = t
                if week < previous:
                    ordered = False
                elif week > previous:
                    weeks += 1
            previous = week
            count += 1
            total += amount[r]
        if not ordered:
            weeks = _sorted_weeks(lo, hi, in_rows, ts, cash_in, origin_us, week_us, count)
        n_cash[a] = count
        cash_total[a] = total
        n_weeks[a] = weeks
        first_cash[a] = first
        last_cash[a] = last
        paid = 0
        paid_total = 0
        for p in range(out_offsets[a], out_offsets[a + 1]):
            r = out_rows[p]
            if payroll_out[r]:
                paid += 1
                paid_total += amount[r]
        n_payroll[a] = paid
        payroll_total[a] = paid_total
    return n_cash, cash_total, n_weeks, first_cash, last_cash, n_payroll, payroll_total
