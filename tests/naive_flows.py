"""Plain-Python twins of the two-hop flow rules and the temporal-cycle rule.

``rows`` are dicts (ts, amount, currency, sender, receiver) in ledger order, that is
(timestamp, txn_id) order; ``ts`` in microseconds, ``amount`` in minor units, ids as text
(None for null). Each twin returns ``(instances, truncated)``: a list of dicts ordered by
account id then time, and a dict account -> number of truncated anchors / searches.
Everything is the most obvious loop over rows; conservation is tested with Python integers.
"""

from __future__ import annotations

PPM = 1_000_000


def is_edge(row) -> bool:
    return row["sender"] is not None and row["receiver"] is not None and row["sender"] != row["receiver"]


def within(difference: int, base: int, tol_ppm: int) -> bool:
    return abs(difference) * PPM <= tol_ppm * base


def _first_appearances(receivers, limit):
    """Distinct values in order of first appearance, the first ``limit`` of them, and
    whether there were more."""
    seen = []
    for value in receivers:
        if value not in seen:
            seen.append(value)
    return seen[:limit], len(seen) > limit


def scatter_gather(rows, *, window_us, min_intermediaries, tol_ppm, max_fanout, cap):
    """Twin of :func:`flowscan.rules.flows.scatter_gather`."""
    found = []
    truncated = {}
    currencies = sorted({row["currency"] for row in rows if is_edge(row)})
    for currency in currencies:
        edges = [i for i, row in enumerate(rows) if is_edge(row) and row["currency"] == currency]
        for source in sorted({rows[i]["sender"] for i in edges}):
            mine = [i for i in edges if rows[i]["sender"] == source]
            a = 0
            while a < len(mine):
                anchor = mine[a]
                t = rows[anchor]["ts"]
                end = t + window_us
                m0 = rows[anchor]["receiver"]
                paid_by_m0 = [rows[i]["receiver"] for i in edges
                              if rows[i]["sender"] == m0 and t < rows[i]["ts"] < end and rows[i]["receiver"] != source]
                sinks, cut_sinks = _first_appearances(paid_by_m0, max_fanout)
                if not sinks:
                    a += 1
                    continue
                in_window = [j for j in range(a, len(mine)) if rows[mine[j]]["ts"] < end]
                middles, cut_middles = _first_appearances([rows[mine[j]]["receiver"] for j in in_window], max_fanout)
                if len(middles) < min_intermediaries:
                    a += 1
                    continue
                if cut_sinks or cut_middles:
                    truncated[source] = truncated.get(source, 0) + 1
                first_position = {}
                for j in in_window:
                    first_position.setdefault(rows[mine[j]]["receiver"], j)
                best = None
                for sink in sinks:
                    served = []
                    for m in middles:
                        j = first_position[m]
                        first = mine[j]
                        later = [i for i in edges if rows[i]["sender"] == m and rows[i]["receiver"] == sink
                                 and rows[first]["ts"] < rows[i]["ts"] < end]
                        if later:
                            served.append((j, first, later[0]))
                    if len(served) < min_intermediaries:
                        continue
                    first_total = sum(rows[f]["amount"] for _, f, _ in served)
                    second_total = sum(rows[g]["amount"] for _, _, g in served)
                    if not within(second_total - first_total, first_total, tol_ppm):
                        continue
                    if best is None or len(served) > len(best):
                        best = served
                if best is None:
                    a += 1
                    continue
                firsts = sorted(f for _, f, _ in best)
                seconds = sorted(g for _, _, g in best)
                found.append({
                    "account": source,
                    "start": t,
                    "end": max(rows[g]["ts"] for g in seconds),
                    "intermediaries": len(best),
                    "first_total": sum(rows[f]["amount"] for f in firsts),
                    "second_total": sum(rows[g]["amount"] for g in seconds),
                    "evidence": (firsts + seconds)[:cap],
                    "total": 2 * len(best),
                })
                a = max(j for j, _, _ in best) + 1
    found.sort(key=lambda f: (f["account"], f["start"]))
    return found, truncated


def gather_scatter(rows, *, window_us, min_sources, min_destinations, tol_ppm, max_degree, cap):
    """Twin of :func:`flowscan.rules.flows.gather_scatter`."""
    found = []
    truncated = {}
    currencies = sorted({row["currency"] for row in rows if is_edge(row)})
    for currency in currencies:
        edges = [i for i, row in enumerate(rows) if is_edge(row) and row["currency"] == currency]
        for hub in sorted({rows[i]["receiver"] for i in edges}):
            inflows = [i for i in edges if rows[i]["receiver"] == hub]
            outflows = [i for i in edges if rows[i]["sender"] == hub]
            a = 0
            while a < len(inflows):
                t = rows[inflows[a]]["ts"]
                end = t + window_us
                window_in = [i for i in inflows[a:] if rows[i]["ts"] < end]
                window_out = [i for i in outflows if t < rows[i]["ts"] < end]
                senders = {rows[i]["sender"] for i in window_in}
                receivers = {rows[i]["receiver"] for i in window_out}
                if len(senders) > max_degree or len(receivers) > max_degree:
                    truncated[hub] = truncated.get(hub, 0) + 1
                    a += 1
                    continue
                inflow = sum(rows[i]["amount"] for i in window_in)
                outflow = sum(rows[i]["amount"] for i in window_out)
                if (len(senders) >= min_sources and len(receivers) >= min_destinations
                        and within(outflow - inflow, inflow, tol_ppm)):
                    found.append({
                        "account": hub,
                        "start": t,
                        "end": max(rows[i]["ts"] for i in window_in + window_out),
                        "sources": len(senders),
                        "destinations": len(receivers),
                        "inflow": inflow,
                        "outflow": outflow,
                        "evidence": (window_in + window_out)[:cap],
                        "total": len(window_in) + len(window_out),
                    })
                    a += len(window_in)
                else:
                    a += 1
    found.sort(key=lambda f: (f["account"], f["start"]))
    return found, truncated


class _Truncated(Exception):
    pass


def cycles(rows, *, window_us, max_hops, tol_ppm, max_paths, cap, min_hops=2):
    """Twin of :func:`flowscan.rules.cycles.cycles`: a recursive depth-first search from
    every edge over the rows in ledger order, with the same steps (transfers examined)."""
    edges = [i for i, row in enumerate(rows) if is_edge(row)]
    found = []
    truncated = {}
    for origin in sorted({rows[i]["sender"] for i in edges}):
        for start in [i for i in edges if rows[i]["sender"] == origin]:
            first = rows[start]
            end = first["ts"] + window_us
            arrivals = [row["ts"] for row in rows if row["receiver"] == origin and row["ts"] < end]
            if not arrivals or max(arrivals) <= first["ts"]:
                continue  # nothing comes back to the origin in time: not searched
            last_in = max(arrivals)
            steps = 0

            def step():
                nonlocal steps
                if steps == max_paths:
                    raise _Truncated
                steps += 1

            def usable(i):
                row = rows[i]
                return (is_edge(row) and row["currency"] == first["currency"]
                        and within(row["amount"] - first["amount"], first["amount"], tol_ppm))

            def back_to_origin(account, after):
                """The first usable transfer account -> origin after ``after``, each examined one a step."""
                for i in edges:
                    row = rows[i]
                    if row["sender"] == account and row["receiver"] == origin and after < row["ts"] < end:
                        step()
                        if usable(i):
                            return i
                return None

            def extend(path, accounts):
                last = rows[path[-1]]
                if len(path) == max_hops - 1:
                    i = back_to_origin(last["receiver"], last["ts"])
                    return None if i is None else path + [i]
                for i, row in enumerate(rows):
                    if row["sender"] != last["receiver"] or not last["ts"] < row["ts"] < end:
                        continue
                    step()
                    if not usable(i):
                        continue
                    if row["receiver"] == origin:
                        if len(path) + 1 >= min_hops:
                            return path + [i]
                        continue  # back too soon; the origin is never an intermediary
                    if row["ts"] >= last_in or row["receiver"] in accounts:
                        continue
                    if len(path) + 1 == max_hops - 1:
                        j = back_to_origin(row["receiver"], row["ts"])
                        if j is not None:
                            return path + [i, j]
                        continue
                    cycle = extend(path + [i], accounts + [row["receiver"]])
                    if cycle:
                        return cycle
                return None

            try:
                cycle = extend([start], [first["receiver"]])
            except _Truncated:
                truncated[origin] = truncated.get(origin, 0) + 1
                continue
            if cycle is None:
                continue
            found.append({
                "account": origin,
                "hops": len(cycle),
                "start": first["ts"],
                "end": rows[cycle[-1]]["ts"],
                "drift": max(abs(rows[i]["amount"] - first["amount"]) for i in cycle),
                "base": first["amount"],
                "evidence": cycle[:cap],
                "total": len(cycle),
            })
    found.sort(key=lambda f: (f["hops"], f["account"], f["start"]))
    return found, truncated
