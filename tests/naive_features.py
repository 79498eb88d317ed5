"""Naive twin of :func:`flowscan.rules.features.account_features`: the most obvious loop over rows.

It takes plain Python rows and options (datetimes, Decimals, strings), never NumPy or Arrow,
so it cannot share a bug with the kernel. Where the two disagree, this file is the
specification (see the docstring of :mod:`flowscan.rules.features`).
"""

from __future__ import annotations

import math
from datetime import time, timedelta
from decimal import Decimal


def _share(part, whole):
    return part / whole if whole else math.nan


def account_features(rows, *, channels, digits, round_unit, just_under, band, night_start, night_end,
                     utc_offsets):
    """Features of every account, one dict per account in sorted account order.

    Parameters
    ----------
    rows : list of dict
        In ledger order, each with ``timestamp`` (aware datetime, UTC), ``ts`` (int, µs since
        the epoch), ``sender``, ``receiver`` (str or None), ``amount`` (int, minor units),
        ``currency``, ``channel`` (str) and ``location`` (str or None).
    channels : sequence of str
        The canonical channels, in column order.
    digits : dict
        Currency -> number of minor-unit digits.
    round_unit : int
        Major units.
    just_under : dict
        ``{"cash": {currency: threshold}, "wire": {...}}``, thresholds in major units.
    band : float
    night_start, night_end : str
        "HH:MM" or "HH:MM:SS".
    utc_offsets : dict
        Location -> minutes east of UTC.
    """
    start = time.fromisoformat(night_start)
    end = time.fromisoformat(night_end)
    band = Decimal(str(band))
    accounts = sorted(({r["sender"] for r in rows} | {r["receiver"] for r in rows}) - {None})
    out = []
    for account in accounts:
        mine = []
        incoming = []
        outgoing = []
        for r in rows:
            if r["receiver"] == account:
                incoming.append(r)
            if r["sender"] == account:
                outgoing.append(r)
            if r["receiver"] == account or r["sender"] == account:
                mine.append(r)  # a self-transfer once
        f = {"account": account}
        f["n_in"] = len(incoming)
        f["n_out"] = len(outgoing)
        f["sum_in"] = sum(r["amount"] for r in incoming)
        f["sum_out"] = sum(r["amount"] for r in outgoing)
        f["distinct_senders"] = len({r["sender"] for r in incoming if r["sender"] is not None})
        f["distinct_receivers"] = len({r["receiver"] for r in outgoing if r["receiver"] is not None})
        f["cash_in_share"] = _share(len([r for r in incoming if r["channel"] == "cash"]), len(incoming))
        f["cash_out_share"] = _share(len([r for r in outgoing if r["channel"] == "cash"]), len(outgoing))
        for c in channels:
            f[f"share_{c}"] = _share(len([r for r in mine if r["channel"] == c]), len(mine))

        n_round = 0
        n_under = 0
        n_night = 0
        n_known = 0
        for r in mine:
            major = Decimal(r["amount"]).scaleb(-digits[r["currency"]])
            if major % round_unit == 0:
                n_round += 1
            if r["channel"] == "cash" and r["receiver"] == account:
                limits = just_under.get("cash", {})
            elif r["channel"] == "wire" and r["sender"] == account:
                limits = just_under.get("wire", {})
            else:
                limits = {}
            if r["currency"] in limits:
                threshold = Decimal(str(limits[r["currency"]]))
                if band * threshold <= major < threshold:
                    n_under += 1
            if r["location"] in utc_offsets:
                n_known += 1
                local = (r["timestamp"] + timedelta(minutes=utc_offsets[r["location"]])).time()
                if start < end:
                    at_night = start <= local < end
                else:
                    at_night = local >= start or local < end
                if at_night:
                    n_night += 1
        f["round_share"] = _share(n_round, len(mine))
        f["just_under_count"] = n_under
        f["night_share"] = _share(n_night, n_known)

        f["burstiness"] = math.nan
        if len(mine) >= 3:
            gaps = [mine[k]["ts"] - mine[k - 1]["ts"] for k in range(1, len(mine))]
            mu = sum(gaps) / len(gaps)
            squares = 0.0
            for g in gaps:
                d = g - mu
                squares += d * d
            sigma = math.sqrt(squares / len(gaps))
            if sigma + mu != 0:
                f["burstiness"] = (sigma - mu) / (sigma + mu)

        f["active_days"] = len({r["timestamp"].date() for r in mine})
        f["first_seen"] = mine[0]["timestamp"]
        f["last_seen"] = mine[-1]["timestamp"]
        out.append(f)
    return out
