"""Plain-Python twins of the human-trafficking rule-pack kernels: kernels/windows.py,
kernels/cash_business.py and kernels/crossborder.py.

The ledger is given as plain lists indexed by row number (the ledger order): ``ts``
(microseconds), ``amount`` (minor units), masks as bools, keys as ints (negative = none) and
the account code of each row's owner (``owner``, ``sender`` or ``receiver``; -1 = none). An
account's rows are its rows in (ts, row number) order. Everything is the most obvious loop
over rows, with Python integers; where the twin and the kernel disagree, the twin is the
specification.
"""

from __future__ import annotations

PPM = 1_000_000


def rows_of(owner, ts, account):
    """Row numbers of ``account``, in time order (ties by row number)."""
    return sorted((r for r in range(len(ts)) if owner[r] == account), key=lambda r: (ts[r], r))


def selected_windows(owner, ts, selected, key, amount, part, *, n_accounts, window_us, min_count, min_keys, min_total,
                     evidence_cap):
    """Twin of ``selected_windows_count`` / ``selected_windows_fill``.

    Returns a list of dicts (account, start, end, count, n_keys, total, part_total,
    evidence: the capped row numbers), ordered by account then start.
    """
    found = []
    for a in range(n_accounts):
        chosen = [r for r in rows_of(owner, ts, a) if selected[r]]
        i = 0
        while i < len(chosen):
            t = ts[chosen[i]]
            window = [r for r in chosen[i:] if ts[r] < t + window_us]
            keys = {key[r] for r in window if key[r] >= 0}
            total = sum(amount[r] for r in window)
            if len(window) >= min_count and len(keys) >= min_keys and total >= min_total:
                found.append({
                    "account": a,
                    "start": t,
                    "end": ts[window[-1]],
                    "count": len(window),
                    "n_keys": len(keys),
                    "total": total,
                    "part_total": sum(part[r] for r in window),
                    "evidence": window[:evidence_cap],
                })
                i += len(window)
            else:
                i += 1
    return found


def group_counts(owner, group, *, n_accounts, n_groups):
    """Twin of ``group_counts``: a list (per account) of lists (per group) of row counts."""
    out = [[0] * n_groups for _ in range(n_accounts)]
    for r in range(len(group)):
        if owner[r] >= 0 and 0 <= group[r] < n_groups:
            out[owner[r]][group[r]] += 1
    return out


def group_sums(owner, group, amount, *, n_accounts, n_groups):
    """Twin of ``group_sums``: as :func:`group_counts`, summing amounts."""
    out = [[0] * n_groups for _ in range(n_accounts)]
    for r in range(len(group)):
        if owner[r] >= 0 and 0 <= group[r] < n_groups:
            out[owner[r]][group[r]] += amount[r]
    return out


def cash_payroll_profile(receiver, sender, ts, amount, cash_in, payroll_out, *, n_accounts, origin_us, week_us):
    """Twin of ``cash_payroll_profile``: a dict of lists (one value per account) named as
    the kernel's outputs."""
    out = {name: [] for name in ("n_cash", "cash_total", "n_weeks", "first_cash", "last_cash", "n_payroll",
                                 "payroll_total")}
    for a in range(n_accounts):
        cash = [r for r in range(len(ts)) if receiver[r] == a and cash_in[r]]
        paid = [r for r in range(len(ts)) if sender[r] == a and payroll_out[r]]
        out["n_cash"].append(len(cash))
        out["cash_total"].append(sum(amount[r] for r in cash))
        out["n_weeks"].append(len({(ts[r] - origin_us) // week_us for r in cash}))
        out["first_cash"].append(min((ts[r] for r in cash), default=0))
        out["last_cash"].append(max((ts[r] for r in cash), default=0))
        out["n_payroll"].append(len(paid))
        out["payroll_total"].append(sum(amount[r] for r in paid))
    return out


def foreign_outflow(receiver, sender, ts, amount, inflow, sender_key, foreign, receiver_key, *, n_accounts, window_us,
                    min_senders, min_share_ppm, max_destinations, evidence_cap):
    """Twin of ``foreign_outflow_count`` / ``foreign_outflow_fill``.

    Returns a list of dicts (account, start, end, n_senders, inflow_total, outflow_total,
    n_destinations, ev_total, evidence: the capped row numbers), ordered by account then start.
    """
    found = []
    for a in range(n_accounts):
        inflows = [r for r in rows_of(receiver, ts, a) if inflow[r]]
        outflows = [r for r in rows_of(sender, ts, a) if foreign[r]]
        i = 0
        while i < len(inflows):
            t = ts[inflows[i]]
            window_in = [r for r in inflows[i:] if ts[r] < t + window_us]
            window_out = [r for r in outflows if t < ts[r] < t + window_us]
            senders = {sender_key[r] for r in window_in if sender_key[r] >= 0}
            receivers = {receiver_key[r] for r in window_out if receiver_key[r] >= 0}
            inflow_total = sum(amount[r] for r in window_in)
            outflow_total = sum(amount[r] for r in window_out)
            if (len(senders) >= min_senders and window_out and len(receivers) <= max_destinations
                    and outflow_total * PPM >= min_share_ppm * inflow_total):
                evidence = window_in + window_out
                found.append({
                    "account": a,
                    "start": t,
                    "end": max(ts[r] for r in evidence),
                    "n_senders": len(senders),
                    "inflow_total": inflow_total,
                    "outflow_total": outflow_total,
                    "n_destinations": len(receivers),
                    "ev_total": len(evidence),
                    "evidence": evidence[:evidence_cap],
                })
                i += len(window_in)
            else:
                i += 1
    return found
