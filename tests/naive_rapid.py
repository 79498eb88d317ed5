"""Naive twin of :func:`flowscan.rules.rapid.rapid_movement`: the most obvious loop over rows.

Plain Python lists, dicts and ints, never NumPy or Arrow; shares are compared as Fractions.
Where the twin and the kernel disagree, the twin is the specification.
"""

from __future__ import annotations

from fractions import Fraction


def weighted_median(pieces):
    """Smallest holding time h such that the pieces held at most h carry at least half the amount."""
    total = sum(amount for amount, _ in pieces)
    for h in sorted({hold for _, hold in pieces}):
        if 2 * sum(amount for amount, hold in pieces if hold <= h) >= total:
            return h


def rapid(rows, *, horizons_us, min_share, min_amount, cap, max_lots):
    """Instances and features of the rapid movement rule.

    Parameters
    ----------
    rows : list of dict
        ``ts`` (microseconds), ``amount`` (minor units), ``currency``, ``channel``, ``sender``,
        ``receiver`` (None for cash or outside the bank), in ledger order (timestamp, txn_id).
    horizons_us : list of int
    min_share : str or number
        Compared exactly, as a Fraction of its decimal text.
    min_amount : dict of currency to minor units
    cap, max_lots : int

    Returns
    -------
    instances : list of dict
        ``horizon`` (index into horizons_us), ``variant`` ("" or "cash_to_wire"), account,
        start, end, share, wire_share, inflow, min_amount, held (seconds), evidence (row
        numbers), total; ordered by account, then inflow row.
    features : dict of account to dict
    """
    min_share = Fraction(str(min_share))
    accounts = sorted(({r["sender"] for r in rows} | {r["receiver"] for r in rows}) - {None})
    instances = []
    features = {}
    for account in accounts:
        queues = {}  # currency -> open lots, oldest first
        lots = []  # every lot, in ledger order
        pieces = []  # (amount, holding time) of every consumed piece
        total_in = 0
        total_out = 0
        truncated = False
        for i, row in enumerate(rows):
            if row["sender"] == row["receiver"]:
                continue  # self-transfer: neither inflow nor outflow
            queue = queues.setdefault(row["currency"], [])
            if row["receiver"] == account:
                total_in += row["amount"]
                if row["amount"] > 0:
                    lot = {"row": i, "remaining": row["amount"], "pieces": []}
                    lots.append(lot)
                    queue.append(lot)
                    if len(queue) > max_lots:
                        queue.pop(0)
                        truncated = True
            elif row["sender"] == account:
                total_out += row["amount"]
                need = row["amount"]
                while need > 0 and queue:
                    lot = queue[0]
                    take = min(need, lot["remaining"])
                    hold = row["ts"] - rows[lot["row"]]["ts"]
                    lot["pieces"].append({"row": i, "amount": take, "hold": hold})
                    pieces.append((take, hold))
                    lot["remaining"] -= take
                    need -= take
                    if lot["remaining"] == 0:
                        queue.pop(0)

        for lot in lots:
            inflow = rows[lot["row"]]
            floor = min_amount.get(inflow["currency"])
            if floor is None or inflow["amount"] < floor:
                continue
            for h, horizon in enumerate(horizons_us):
                counted = [p for p in lot["pieces"] if p["hold"] < horizon]
                left = sum(p["amount"] for p in counted)
                wired = sum(p["amount"] for p in counted if rows[p["row"]]["channel"] == "wire")
                if not counted or Fraction(left, inflow["amount"]) < min_share:
                    continue
                variants = [""]
                if inflow["channel"] == "cash" and Fraction(wired, inflow["amount"]) >= min_share:
                    variants.append("cash_to_wire")
                evidence = [lot["row"]] + [p["row"] for p in counted]
                for variant in variants:
                    instances.append({
                        "horizon": h, "variant": variant, "account": account,
                        "start": inflow["ts"], "end": rows[counted[-1]["row"]]["ts"],
                        "share": left / inflow["amount"], "wire_share": wired / inflow["amount"],
                        "inflow": inflow["amount"], "min_amount": floor,
                        "held": weighted_median([(p["amount"], p["hold"]) for p in counted]) / 1_000_000,
                        "evidence": evidence[:cap], "total": len(evidence),
                    })

        feature = {}
        for h, horizon in enumerate(horizons_us):
            left = sum(amount for amount, hold in pieces if hold < horizon)
            feature[f"share_{h}"] = left / total_in if total_in > 0 else None
        feature["median_hold_seconds"] = weighted_median(pieces) / 1_000_000 if pieces else None
        feature["in_out_ratio"] = total_out / total_in if total_in > 0 else None
        feature["balance_left_share"] = (min(1.0, max(0.0, (total_in - total_out) / total_in))
                                         if total_in > 0 else None)
        feature["truncated"] = truncated
        features[account] = feature
    return instances, features
