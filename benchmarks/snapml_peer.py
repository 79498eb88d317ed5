"""IBM snapml's GraphFeaturePreprocessor as a peer of flowscan's fan and degree features.

snapml (``pip install snapml``, the ``bench`` extra) computes graph features of a transaction
graph with a C++ library. Two of its feature families compute quantities flowscan also
computes; this module computes both sides on the same rows and checks them equal, exactly.

What is compared
----------------
The rows both sides see (:func:`shared_subset`): the ledger's rows with a known sender *and* a
known receiver, sender != receiver, with timestamps floored to whole seconds (and re-sorted by
``(timestamp, txn_id)``, so the table is still canonical). Why: snapml's edge needs two
vertices (a cash row with one null side has no edge), its fan pattern skips self-loops (flowscan
counts a self-transfer as one counterparty), and its timestamps are 32-bit integers (microseconds
do not fit; seconds since the first row do, for 68 years). On the generated 1M-row ledger this
keeps 94% of the rows (the rest have a null side; there are no self-transfers) and floors the
368 of them with sub-second parts (flowscan's table is the same with or without that flooring
there). flowscan runs on this same table, so no rounding or filter is hidden on one side.

On those rows, per account (one row per account with at least one such row):

``n_in``, ``n_out``
    Number of rows the account receives, sends.
``distinct_senders``, ``distinct_receivers``
    Number of distinct counterparties among them.
``fan_in_max_<W>``, ``fan_out_max_<W>`` for each window ``W`` (default 7d and 30d)
    The largest number of distinct senders (receivers) among the account's incoming
    (outgoing) rows whose times lie in one window ``[a, a + W)``, over all ``a``; 1 for an
    account whose rows never have two counterparties within ``W``, 0 for one without such rows;
    then capped: ``min(value, cap)``, with ``cap`` 30 by default (snapml's own default bins,
    ``[2, 3, ..., 30]``, put every size from 30 up in the last one), or not capped
    (``cap=None``).

flowscan: the first four are columns of :func:`flowscan.rules.account_features`, the others the
features ``fan_in_max_<W>`` / ``fan_out_max_<W>`` of :func:`flowscan.rules.fan_in` /
:func:`~flowscan.rules.fan_out` (windows ``[t_k, t_k + W)`` anchored at every row ``k``; the
anchor at the first row of a timestamp holds every row of ``[t_k, t_k + W)``, and moving any
window right to its first row loses none, so the maximum over anchors is the maximum over all
``a``).

snapml, two kinds of runs of ``GraphFeaturePreprocessor.transform`` on the edges
``[row, sender code, receiver code, seconds since the first row]`` fed in ledger order, in
chunks, to one preprocessor per run:

- *vertex statistics* (``vertex_stats_feats`` ``[0, 1]``: fan and degree; no pattern), with the
  graph's ``time_window`` and ``vertex_stats_tw`` longer than the ledger so no edge is ever
  dropped. Each edge gets, for its source and its target, the fan (distinct neighbours) and
  degree (edges) of their outgoing and incoming edges in the graph after its chunk is inserted;
  these only grow, so an account's maximum over the edges it is on is its count over all rows:
  ``distinct_receivers`` / ``n_out`` (out fan / degree), ``distinct_senders`` / ``n_in``.
- *fan pattern*, one run per window (``fan`` on, ``fan_tw`` = ``time_window`` = ``W`` seconds,
  ``vertex_stats`` off). For each inserted edge ``e`` at time ``t_e`` into account ``v``, snapml
  counts the distinct senders of ``v``'s incoming edges with times in ``(t_e - W, t_e]`` (self
  loops aside); if that fan-in ``D`` is at least 2 it adds one to bin ``D`` of the fan-in
  histogram of every edge of that set that is in the chunk (fan-out: the mirror, on the sender's
  outgoing edges). The bins are ``[2, 3, ..., cap]``, or with ``cap=None`` ``[2, 3, ..., B]``
  with ``B`` the largest distinct-counterparty count of any account: each size below the last
  bin has its own bin, and the last holds every larger size. Edge ``e`` is in its own set, so the
  largest non-empty bin over ``v``'s edges is the largest ``D`` (capped); with whole seconds
  ``(b - W, b]`` is ``[b - W + 1, b + 1)``, the same family of windows as flowscan's, and no
  ``D`` exceeds the true count of its window. Chunk edges: the graph drops edges at or before
  ``t_last - W`` only after a chunk (never one a later window needs), and for each account and
  window end ``b``, an edge of the last chunk holding one of its edges at time ``b`` sees the
  whole window. An account with rows but no non-empty bin has 1.

Not compared: snapml's *degree* pattern (edges, not distinct counterparties, per window): flowscan
has no windowed maximum of rows (its fan instances report ``rows`` only when they fire). The
other snapml patterns (scatter-gather, temporal and length-constrained cycles) are different
definitions from flowscan's rules of those names and are left out.

Tables are compared exactly (:meth:`pyarrow.Table.equals` after sorting by account), all int64.

Why a subset, and the budget
----------------------------
snapml's fan pattern scans, for every edge, the edges of its two accounts within the window:
quadratic in the rows of a hub account. On ledgers with merchants or funnels of tens of
thousands of rows it runs at thousands of rows per second (the 1M-row generated ledger has
accounts with 37,000 incoming rows), so a full run does not fit a benchmark. Its cost also grows
with the number of bins (on the first 10,000 rows of that ledger one fan run took 3.6 s with its
29 default bins, 11 s with one bin per size, 1,301 bins): hence the default cap of 30, and
``cap=None`` as the slower exact variant. :func:`measure` runs it on growing prefixes of the
ledger in time order (10k, 30k, 100k, 300k rows, ...) under a wall-time budget for snapml
(default 120 s, all prefixes together): it does not start a prefix whose time, extrapolated from
the previous two, would exceed what is left, and abandons a run when the budget runs out between
two chunks. Each completed prefix is computed by flowscan too
and checked equal; its rows per second are reported for both.

    python -m benchmarks.snapml_peer --budget 120 --json snapml-results.json --markdown snapml.md
    python -m benchmarks.snapml_peer --budget 120 --cap none   # one bin per size: exact, slower
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HERE = Path(__file__).resolve().parent
DEFAULT_LEDGER = HERE / "data" / "generated-1000000-seed1" / "transactions.parquet"
WINDOWS = ("7d", "30d")
SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000)
US = 1_000_000
INT32_MAX = 2**31 - 1
FAN_OUTPUT_BYTES = 256 * 2**20
"""Largest output array of one fan-pattern ``transform`` call (rows x 2 histograms x bins)."""
STATS_CHUNK = 100_000
FAN_CHUNK = 10_000
DEFAULT_CAP = 30
"""snapml's default fan bins are ``[2, 3, ..., 30]``: sizes 30 and up share the last bin."""
_OFF = {"degree": False, "scatter-gather": False, "temp-cycle": False, "lc-cycle": False, "max_no_edges": -1}


class BudgetSpent(RuntimeError):
    """The wall-time budget ran out between two chunks of a snapml run."""

    def __init__(self, rows_done: int, rows: int, stage: str = ""):
        super().__init__(f"budget spent after {rows_done} of {rows} rows" + (f" of the {stage} run" if stage else ""))
        self.rows_done = rows_done
        self.rows = rows
        self.stage = stage


def window_seconds(windows=WINDOWS) -> tuple[int, ...]:
    from flowscan.rules.fan import FanIn

    return FanIn(windows=windows).window_seconds


def schema(windows=WINDOWS) -> pa.Schema:
    """Columns of the comparison table."""
    from flowscan import params

    fields = [("account", pa.string())] + [(c, pa.int64()) for c in
                                           ("n_in", "n_out", "distinct_senders", "distinct_receivers")]
    for s in window_seconds(windows):
        w = params.format_duration(s)
        fields += [(f"fan_in_max_{w}", pa.int64()), (f"fan_out_max_{w}", pa.int64())]
    return pa.schema(fields)


def canonical(table: pa.Table, windows=WINDOWS) -> pa.Table:
    """``table`` with :func:`schema`'s columns and types, sorted by account (unique)."""
    target = schema(windows)
    table = pa.table({f.name: table.column(f.name).cast(f.type) for f in target}, schema=target)
    return table.sort_by([("account", "ascending")]).combine_chunks()


def first_difference(left: pa.Table, right: pa.Table, limit: int = 5) -> str:
    """A short description of how two canonical tables differ."""
    if left.schema != right.schema:
        return f"schemas differ: {left.schema} / {right.schema}"
    if left.num_rows != right.num_rows or left.column("account") != right.column("account"):
        a, b = set(left.column("account").to_pylist()), set(right.column("account").to_pylist())
        return f"accounts differ: only left {sorted(a - b)[:limit]}, only right {sorted(b - a)[:limit]}"
    lines = []
    for name in left.column_names[1:]:
        x, y = left.column(name).to_numpy(), right.column(name).to_numpy()
        bad = np.flatnonzero(x != y)
        if len(bad):
            who = left.column("account").take(pa.array(bad[:limit])).to_pylist()
            lines.append(f"{name}: {len(bad)} accounts, e.g. {list(zip(who, x[bad[:limit]], y[bad[:limit]]))}")
    return "; ".join(lines) or "equal"


# -- the rows both sides see -----------------------------------------------------------------------


def shared_subset(ledger: pa.Table) -> pa.Table:
    """The rows of a canonical ledger that both sides compare: known sender and receiver,
    sender != receiver, timestamps floored to whole seconds; still sorted by (timestamp, txn_id)."""
    sender, receiver = ledger.column("sender"), ledger.column("receiver")
    keep = pc.and_(pc.and_(pc.is_valid(sender), pc.is_valid(receiver)),
                   pc.fill_null(pc.not_equal(sender, receiver), False))
    table = ledger.filter(keep)
    ts = table.column("timestamp").cast(pa.int64()).to_numpy()
    floored = ts - np.mod(ts, US)
    if np.any(floored != ts):
        position = table.schema.get_field_index("timestamp")
        table = table.set_column(position, table.schema.field(position),
                                 pa.array(floored, pa.int64()).cast(table.schema.field(position).type))
        table = table.take(pc.sort_indices(table, sort_keys=[("timestamp", "ascending"), ("txn_id", "ascending")]))
    return table.combine_chunks()


# -- snapml ---------------------------------------------------------------------------------------


def snapml_edges(subset: pa.Table) -> tuple[np.ndarray, pa.Array]:
    """snapml's input ``[row, sender code, receiver code, seconds since the first row]`` (float64,
    ledger order) and the account id of each code."""
    sender = subset.column("sender").combine_chunks()
    receiver = subset.column("receiver").combine_chunks()
    accounts = pc.unique(pa.concat_arrays([sender.cast(pa.string()), receiver.cast(pa.string())]))
    n = subset.num_rows
    edges = np.empty((n, 4), dtype=np.float64)
    edges[:, 0] = np.arange(n)
    edges[:, 1] = pc.index_in(sender.cast(pa.string()), value_set=accounts).to_numpy()
    edges[:, 2] = pc.index_in(receiver.cast(pa.string()), value_set=accounts).to_numpy()
    ts = subset.column("timestamp").cast(pa.int64()).to_numpy()
    if n:
        if np.any(ts % US) or np.any(np.diff(ts) < 0):
            raise ValueError("pass shared_subset(ledger): whole seconds in time order")
        seconds = (ts - ts[0]) // US
        if seconds[-1] > INT32_MAX // 2:
            raise ValueError("the rows span more than 34 years: snapml's timestamps are 32-bit")
        edges[:, 3] = seconds
    return edges, accounts


def _restore_floating_point_environment() -> None:
    """Put the default floating-point environment back after snapml's import: its shared
    library was built with fast-math, and loading it turns on flush-to-zero for the whole
    process (subnormal floats become 0), which would change every float computed after it in
    the process, flowscan's and Hypothesis's included."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("m")
    if name:
        ctypes.CDLL(name).fesetenv(ctypes.c_void_p(-1))  # FE_DFL_ENV in glibc


def _preprocessor(threads: int, **params):
    from snapml import GraphFeaturePreprocessor

    _restore_floating_point_environment()
    gfp = GraphFeaturePreprocessor()
    gfp.set_params({"num_threads": threads, **_OFF, **params})
    return gfp


def _check_deadline(deadline, done, total, stage):
    if deadline is not None and time.perf_counter() > deadline:
        raise BudgetSpent(done, total, stage)


def _stats(edges: np.ndarray, n_accounts: int, threads: int, deadline, chunk: int) -> dict[str, np.ndarray]:
    span = int(edges[-1, 3]) + 2 if len(edges) else 2
    gfp = _preprocessor(threads, time_window=span, vertex_stats=True, vertex_stats_tw=span, vertex_stats_cols=[3],
                        vertex_stats_feats=[0, 1], fan=False)
    out = {name: np.zeros(n_accounts, dtype=np.int64) for name in
           ("n_in", "n_out", "distinct_senders", "distinct_receivers")}
    # columns after the 4 inputs: source out (fan, degree), source in, target out, target in
    where = {"distinct_receivers": (0, 4), "n_out": (1, 5), "distinct_senders": (2, 6), "n_in": (3, 7)}
    for start in range(0, len(edges), chunk):
        _check_deadline(deadline, start, len(edges), "vertex statistics")
        block = edges[start:start + chunk]
        got = gfp.transform(block)[:, 4:]
        src, dst = block[:, 1].astype(np.int64), block[:, 2].astype(np.int64)
        for name, (as_src, as_dst) in where.items():
            np.maximum.at(out[name], src, got[:, as_src].astype(np.int64))
            np.maximum.at(out[name], dst, got[:, as_dst].astype(np.int64))
    return out


def _largest_bin(hist: np.ndarray) -> np.ndarray:
    """Size of the largest non-empty bin of each row (bins 2, 3, ...), 0 where all are empty."""
    nonzero = hist != 0
    last = hist.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last + 2, 0).astype(np.int64)


def _fan(edges: np.ndarray, n_accounts: int, seconds: int, top: int, threads: int, deadline,
         chunk: int) -> tuple[np.ndarray, np.ndarray]:
    from flowscan.params import format_duration

    bins = list(range(2, max(2, top) + 1))  # one bin per size; the last one also holds every larger size
    gfp = _preprocessor(threads, time_window=seconds, vertex_stats=False, fan=True, fan_tw=seconds, fan_bins=bins)
    chunk = max(64, min(chunk, FAN_OUTPUT_BYTES // (16 * len(bins))))
    fan_in = np.zeros(n_accounts, dtype=np.int64)
    fan_out = np.zeros(n_accounts, dtype=np.int64)
    for start in range(0, len(edges), chunk):
        _check_deadline(deadline, start, len(edges), f"fan {format_duration(seconds)}")
        block = edges[start:start + chunk]
        got = gfp.transform(block)
        src, dst = block[:, 1].astype(np.int64), block[:, 2].astype(np.int64)
        np.maximum.at(fan_in, dst, _largest_bin(got[:, 4:4 + len(bins)]))
        np.maximum.at(fan_out, src, _largest_bin(got[:, 4 + len(bins):4 + 2 * len(bins)]))
    return fan_in, fan_out


def _check_cap(cap):
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 2):
        raise ValueError(f"cap must be None or an int >= 2, not {cap!r}")


def snapml_table(subset: pa.Table, windows=WINDOWS, *, cap: int | None = DEFAULT_CAP, threads: int = 2,
                 deadline: float | None = None, timings: dict | None = None, stats_chunk: int = STATS_CHUNK,
                 fan_chunk: int = FAN_CHUNK) -> pa.Table:
    """The comparison table computed by snapml from :func:`shared_subset` rows (module docstring).

    ``cap``: fan bins ``[2, ..., cap]`` and fan columns ``min(value, cap)``; None: one bin per size
    up to the largest count (exact, and slower). ``deadline`` (a :func:`time.perf_counter`
    value): raise :class:`BudgetSpent` when it has passed between two chunks. ``timings``, a
    dict, receives the seconds of each run."""
    _check_cap(cap)
    from flowscan import params

    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    edges, accounts = snapml_edges(subset)
    n = len(accounts)
    src, dst = edges[:, 1].astype(np.int64), edges[:, 2].astype(np.int64)
    timings["input_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    columns = _stats(edges, n, threads, deadline, stats_chunk)
    timings["vertex_stats_s"] = time.perf_counter() - t0
    bound = int(max(columns["distinct_senders"].max(initial=0), columns["distinct_receivers"].max(initial=0)))
    has_in = np.bincount(dst, minlength=n) > 0
    has_out = np.bincount(src, minlength=n) > 0
    for seconds in window_seconds(windows):
        w = params.format_duration(seconds)
        t0 = time.perf_counter()
        fan_in, fan_out = _fan(edges, n, seconds, bound if cap is None else cap, threads, deadline, fan_chunk)
        columns[f"fan_in_max_{w}"] = np.where(has_in, np.maximum(fan_in, 1), 0)
        columns[f"fan_out_max_{w}"] = np.where(has_out, np.maximum(fan_out, 1), 0)
        timings[f"fan_{w}_s"] = time.perf_counter() - t0
    return canonical(pa.table({"account": accounts, **columns}), windows)


# -- flowscan -------------------------------------------------------------------------------------


def flowscan_table(subset: pa.Table, windows=WINDOWS, *, cap: int | None = DEFAULT_CAP) -> pa.Table:
    """The comparison table computed by flowscan (index, fan_in, fan_out, account_features) from
    the same :func:`shared_subset` rows, fan columns capped at ``cap`` (None: not capped).
    flowscan computes more than the table holds (instances, evidence, every other account
    feature): its time is an upper bound for these columns."""
    _check_cap(cap)
    import flowscan
    from flowscan.rules.fan import FanIn, FanOut, fan_in, fan_out
    from flowscan.rules.features import account_features

    index = flowscan.build_index(subset)
    features = account_features(subset, index)
    fin = fan_in(subset, index, options=FanIn(windows=windows)).features
    fout = fan_out(subset, index, options=FanOut(windows=windows)).features
    columns = {"account": features.column("account")}
    for name in ("n_in", "n_out", "distinct_senders", "distinct_receivers"):
        columns[name] = features.column(name)
    for name in schema(windows).names[5:]:
        column = (fin if name.startswith("fan_in") else fout).column(name)
        columns[name] = column if cap is None else pc.min_element_wise(column, pa.scalar(cap, column.type))
    return canonical(pa.table(columns), windows)


# -- the benchmark --------------------------------------------------------------------------------


def _predict(done: list[dict], rows: int) -> float | None:
    """snapml seconds for ``rows`` rows, extrapolated from the last two completed prefixes (the
    exponent at least 1), or from the last one with exponent 1.5."""
    if not done:
        return None
    last = done[-1]
    exponent = 1.5
    if len(done) >= 2 and done[-2]["snapml_s"] > 0 and done[-2]["subset_rows"] < last["subset_rows"]:
        exponent = max(1.0, math.log(last["snapml_s"] / done[-2]["snapml_s"])
                       / math.log(last["subset_rows"] / done[-2]["subset_rows"]))
    return last["snapml_s"] * (rows / last["subset_rows"]) ** exponent


def measure(ledger: pa.Table, *, budget_s: float = 120.0, sizes=SIZES, windows=WINDOWS, cap: int | None = DEFAULT_CAP,
            threads: int = 2, flowscan_runs: int = 3, log=print) -> dict:
    """Run both sides on growing prefixes of ``ledger`` (module docstring) within ``budget_s``
    seconds of snapml time; returns the records, one per prefix tried."""
    sizes = sorted({min(s, ledger.num_rows) for s in sizes})
    warm = shared_subset(ledger.slice(0, min(sizes[0], 1_000)))
    flowscan_table(warm, windows, cap=cap)  # compile the kernels
    snapml_table(warm, windows, cap=cap, threads=threads)  # load the library, start its threads
    records, done = [], []
    spent = 0.0
    stopped = "every prefix done"
    for rows in sizes:
        subset = shared_subset(ledger.slice(0, rows))
        left = budget_s - spent
        guess = _predict(done, subset.num_rows)
        record = {"prefix_rows": rows, "subset_rows": subset.num_rows,
                  "accounts": None, "predicted_snapml_s": guess}
        if guess is not None and guess > left:
            record["status"] = f"skipped: predicted {guess:.0f} s > {left:.0f} s left"
            records.append(record)
            stopped = record["status"]
            log(f"{rows:>10,} rows: {record['status']}")
            break
        timings = {}
        t0 = time.perf_counter()
        try:
            theirs = snapml_table(subset, windows, cap=cap, threads=threads, deadline=t0 + left, timings=timings)
        except BudgetSpent as spent_out:
            spent += time.perf_counter() - t0
            record.update(status=f"abandoned: {spent_out}", snapml_s=time.perf_counter() - t0, snapml_parts=timings)
            records.append(record)
            stopped = record["status"]
            log(f"{rows:>10,} rows: {record['status']}")
            break
        snapml_s = time.perf_counter() - t0
        spent += snapml_s
        flowscan_s = []
        for _ in range(flowscan_runs):
            t1 = time.perf_counter()
            ours = flowscan_table(subset, windows, cap=cap)
            flowscan_s.append(time.perf_counter() - t1)
        equal = theirs.equals(ours)
        record.update(status="done", accounts=ours.num_rows, snapml_s=snapml_s, snapml_parts=timings,
                      flowscan_s=sorted(flowscan_s)[len(flowscan_s) // 2], flowscan_runs=flowscan_s, equal=equal,
                      difference=None if equal else first_difference(ours, theirs))
        record["snapml_rows_per_s"] = subset.num_rows / snapml_s
        record["flowscan_rows_per_s"] = subset.num_rows / record["flowscan_s"]
        records.append(record)
        done.append(record)
        log(f"{rows:>10,} rows ({subset.num_rows:,} compared, {ours.num_rows:,} accounts): snapml {snapml_s:.2f} s "
            f"({record['snapml_rows_per_s']:,.0f} rows/s), flowscan {record['flowscan_s']:.3f} s "
            f"({record['flowscan_rows_per_s']:,.0f} rows/s), equal={equal}"
            + ("" if equal else f": {record['difference']}"))
    return {"budget_s": budget_s, "snapml_spent_s": spent, "stopped": stopped, "windows": list(windows),
            "cap": cap, "threads": threads, "numba_threads": _numba_threads(), "records": records}


def render(doc: dict) -> str:
    """A Markdown table of :func:`measure`'s records."""
    bins = ("one bin per size (exact fan maxima)" if doc["cap"] is None
            else f"bins 2..{doc['cap']} (fan maxima capped at {doc['cap']})")
    lines = [f"snapml {doc.get('snapml_version', '?')} GraphFeaturePreprocessor (vertex fan/degree, fan pattern "
             f"{', '.join(doc['windows'])}, {bins}, num_threads {doc['threads']}) vs flowscan "
             f"(Numba threads {doc.get('numba_threads', '?')}) on the same rows; "
             f"budget {doc['budget_s']:.0f} s of snapml time, spent {doc['snapml_spent_s']:.0f} s "
             f"({doc['stopped']}). Rows: the ledger prefix in time order; compared: its rows with both sides known "
             "(seconds, no self-transfer). flowscan: median of its runs, index and the fan_in, fan_out and "
             "account_features calls (more than these columns).", "",
             "| prefix rows | compared rows | accounts | snapml s | snapml rows/s | flowscan s | flowscan rows/s "
             "| speed-up | equal |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in doc["records"]:
        if r["status"] != "done":
            lines.append(f"| {r['prefix_rows']:,} | {r['subset_rows']:,} | | {r['status']} | | | | | |")
            continue
        lines.append(f"| {r['prefix_rows']:,} | {r['subset_rows']:,} | {r['accounts']:,} | {r['snapml_s']:.2f} | "
                     f"{r['snapml_rows_per_s']:,.0f} | {r['flowscan_s']:.3f} | {r['flowscan_rows_per_s']:,.0f} | "
                     f"{r['snapml_s'] / r['flowscan_s']:,.0f}x | {'yes' if r['equal'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ledger", type=Path, default=DEFAULT_LEDGER, help="a ledger flowscan.read_ledger reads")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of snapml time, all prefixes")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--windows", nargs="+", default=list(WINDOWS))
    parser.add_argument("--cap", default=str(DEFAULT_CAP),
                        help="fan bins 2..CAP, fan maxima compared capped at CAP; 'none': one bin per size (exact)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)

    from importlib.metadata import version

    import flowscan

    ledger = flowscan.read_ledger(args.ledger).ledger
    cap = None if args.cap.lower() == "none" else int(args.cap)
    doc = measure(ledger, budget_s=args.budget, sizes=args.sizes, windows=tuple(args.windows), cap=cap,
                  threads=args.threads)
    doc.update(ledger=str(args.ledger), ledger_rows=ledger.num_rows, snapml_version=version("snapml"),
               flowscan_version=flowscan.__version__, machine=platform.machine(),
               cores=os.cpu_count(), python=platform.python_version())
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    table = render(doc)
    if args.markdown:
        args.markdown.write_text(table)
    print(table)


def _numba_threads() -> int | None:
    try:
        import numba

        return numba.config.NUMBA_NUM_THREADS
    except Exception:  # noqa: BLE001 - informative only
        return None


if __name__ == "__main__":
    main()
