"""Naive twins of the fan-in, fan-out and funnel kernels (flowscan.rules.fan): the most obvious
loop over rows, in plain Python.

Each twin takes ``rows``, a list of dicts (ts, amount, channel, sender, receiver, location) in
ledger order (timestamp, txn_id), and returns lists and dicts of Python ints, never NumPy or
Arrow, so it cannot share a bug with the kernel it mirrors. Where the two disagree, the twin is
the specification.
"""

from __future__ import annotations


def _accounts(rows):
    return sorted({r[side] for r in rows for side in ("sender", "receiver") if r[side] is not None})


def fan(rows, *, side, window_us, min_count, cap):
    """Twin of fan-in (``side="in"``) or fan-out (``side="out"``) for one window length.

    Returns (instances, features): one dict per instance, ordered by account id then time;
    and ``{account: largest number of distinct counterparties in any anchored window}`` for
    every account of the ledger.
    """
    me, other = ("receiver", "sender") if side == "in" else ("sender", "receiver")
    found = []
    features = {}
    for account in _accounts(rows):
        mine = [i for i, r in enumerate(rows) if r[me] == account and r[other] is not None]

        def window_at(k):
            start = rows[mine[k]]["ts"]
            return [i for i in mine[k:] if rows[i]["ts"] < start + window_us]

        features[account] = max((len({rows[i][other] for i in window_at(k)}) for k in range(len(mine))), default=0)
        k = 0
        while k < len(mine):
            window = window_at(k)
            people = {rows[i][other] for i in window}
            if len(people) >= min_count:
                total = sum(rows[i]["amount"] for i in window)
                paid = {}
                for i in window:
                    paid[rows[i][other]] = paid.get(rows[i][other], 0) + rows[i]["amount"]
                found.append({
                    "account": account,
                    "start": rows[window[0]]["ts"],
                    "end": rows[window[-1]]["ts"],
                    "distinct": len(people),
                    "total": total,
                    "share": max(paid.values()) / total if total > 0 else 0.0,
                    "rows": len(window),
                    "evidence": window[:cap],
                })
                k += len(window)
            else:
                k += 1
    return found, features


def funnel(rows, *, window_us, min_locations, lag_us, withdrawal_channels, cap):
    """Twin of the funnel rule. Returns one dict per instance, ordered by account id then time."""
    found = []
    for account in _accounts(rows):
        deposits = [i for i, r in enumerate(rows) if r["receiver"] == account and r["channel"] == "cash"
                    and r["sender"] is None and r["location"] is not None]
        withdrawals = [i for i, r in enumerate(rows) if r["sender"] == account and r["channel"] in withdrawal_channels]
        k = 0
        while k < len(deposits):
            start = rows[deposits[k]]["ts"]
            window = [i for i in deposits[k:] if rows[i]["ts"] < start + window_us]
            places = {rows[i]["location"] for i in window}
            if len(places) >= min_locations:
                last = rows[window[-1]]["ts"]
                chosen = None
                for j in withdrawals:
                    w = rows[j]
                    if last <= w["ts"] < last + lag_us and w["location"] is not None and w["location"] not in places:
                        chosen = j
                        break
                if chosen is not None:
                    found.append({
                        "account": account,
                        "start": start,
                        "end": rows[chosen]["ts"],
                        "locations": len(places),
                        "lag": (rows[chosen]["ts"] - last) / 1_000_000,
                        "deposited": sum(rows[i]["amount"] for i in window),
                        "withdrawn": rows[chosen]["amount"],
                        "evidence": (window + [chosen])[:cap],
                        "total": len(window) + 1,
                    })
                    k += len(window)
                    continue
            k += 1
    return found
