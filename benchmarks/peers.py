"""Peer implementations of three rules, in DuckDB SQL and in Polars, for the kernel benchmark.

Each peer takes a canonical ledger (a pyarrow Table, :func:`flowscan.read_ledger`) and the
rule's options object (defaults when None) and returns a ``dict`` of named pyarrow Tables,
the *comparison tables* of the rule. ``*_flowscan`` turns flowscan's :class:`RuleResult`
into the same tables, so ``peer == flowscan`` is :func:`tables_equal` (``Table.equals``
after a canonical cast and sort). Every table is sorted by all of its columns, ascending, in
column order, so equal content means equal tables. Times are int64 microseconds since the
epoch (UTC); money is int64 minor units, and stays integer in every peer (DuckDB sums widen
to HUGEINT and are cast back; shares are one float64 division of two integers, done the way
the kernels do it, so they compare bit for bit).

Ledger order is (timestamp, txn_id), which is the row order of a canonical ledger; each peer
adds the row number ``pos`` (an Arrow column handed over with the ledger, zero-copy to
DuckDB and Polars) and orders by it. That step is part of the peer's measured time.

What is compared, and why it is exact
-------------------------------------
The three definitions are the module docstrings of :mod:`flowscan.rules.structuring`,
:mod:`flowscan.rules.fan` (fan-in) and :mod:`flowscan.rules.rapid`. Two of them end in a
sequential step (the greedy "resume after the instance's last row" scan of structuring and
fan-in; the FIFO lots of rapid movement). Both are formulated exactly with set operations,
so the peers compare *instances*, not a relaxation:

Greedy windows (structuring, fan-in). Number the scanned rows of one group (account; for
structuring also class, side and currency) ``k = 0, 1, ...`` in ledger order. The window
anchored at ``k`` ends at ``j(k)``, the last row with ``ts < ts_k + W``: with ``first(k)``
the smallest index with the same timestamp and ``n(k)`` the rows with
``ts_k <= ts < ts_k + W`` (a RANGE window, ``W - 1`` µs following, as times are integers),
``j(k) = first(k) + n(k) - 1``; rows at the anchor's time but before it in ledger order are
not in its window, exactly as the kernels scan. Whether the window anchored at ``k`` *fires*
depends on ``k`` alone. The greedy scan then visits, from index ``x``, the first firing
anchor ``f >= x`` (a reverse running minimum ``nf(x)``), reports it and continues from
``j(f) + 1``. So each firing anchor has one successor ``nf(j(f) + 1)``, and the instances
are the linked list from ``nf(0)``: a recursive CTE (DuckDB) or a loop of joins (Polars),
one step per instance of the longest chain (at most the ledger's period over ``W``, plus 1).

- Structuring, table ``instances``: ``rule, account, window_start, window_end, parts,
  total, largest_part, distinct_locations, distinct_counterparties`` (all reasons of the
  rule). Parts are ``ceil(band * T) <= amount < T`` rows of the class and currency.
- Fan-in, table ``instances``: ``rule, account, window_start, window_end, distinct_senders,
  total, top_sender_share, rows``; table ``features``: ``account, fan_in_max_<W>...`` for
  the accounts with at least one incoming row with a known sender (flowscan's other
  accounts have 0 there, and are left out of both sides). DuckDB counts distinct senders
  with ``COUNT(DISTINCT sender) OVER (ROWS BETWEEN CURRENT ROW AND j - k FOLLOWING)``.
  Polars has no distinct count over a variable frame, so it counts, for each row ``i``, the
  anchors for which ``i`` is the first row of its sender in the window: those are the
  anchors in ``[max(prev(i) + 1, p_min(i)), i]`` (``prev`` the previous row of the same
  sender, ``p_min`` the first anchor whose window reaches ``i``), an interval, so the
  distinct counts of all anchors are one running sum of +1/-1 marks.

FIFO lots (rapid movement). Per account and currency, events in ledger order, ``I`` the
running inflow and ``S`` the running inflow minus outflow. The FIFO balance
``B_j = max(0, B_{j-1} + in_j - out_j)`` is ``S_j - min(0, min_{k<=j} S_k)``, so the amount
consumed so far is ``C_j = I_j - B_j``, nondecreasing. Lot ``i`` is the money interval
``[I_i - in_i, I_i)``; outflow ``o`` consumes ``[C_{o-1}, C_o)``; FIFO is exactly "the money
intervals meet". Hence the amount of lot ``i`` that left within ``H`` is
``clip(C(ts_i + H - 1), I_i - in_i, I_i) - (I_i - in_i)`` where ``C(t)`` is ``C`` after the
last event at or before ``t`` (an as-of join); the last outflow counted is the first
consuming outflow with ``C_o >= target`` (an as-of join on ``C``, strictly increasing over
consuming outflows); the amount-weighted median holding time is the outflow with
``C_o >= I_i - in_i + ceil(consumed / 2)``; the wire part follows from a running sum of the
wire outflows' consumption. Dropped lots (``max_lots``) are not modelled, but the accounts
that drop one are found exactly: up to the first drop both models agree, and without drops
the lots open once lot ``n`` of an account and currency has opened are ``n`` minus the lots
with ``I_i <= C`` at that moment (an as-of join on ``I``); the account truncates when that
exceeds ``max_lots``. Those accounts are compared as a list (table ``truncated``, against
flowscan's ``rapid_truncated``) and left out of the other two tables on both sides.

- Rapid, table ``instances``: ``rule, account, window_start, window_end, share_out_within,
  wire_share_out_within (null for rapid.<H>), inflow, held_seconds, n_evidence_total``,
  both ``rapid.<H>`` and ``rapid.cash_to_wire.<H>``; table ``features``: ``account,
  rapid_share_<H>..., in_out_ratio, balance_left_share`` for the accounts whose inflows sum
  to more than 0 (the others are NaN in flowscan and left out of both sides).
  ``rapid_median_hold_seconds`` is not compared: it needs every piece of every lot (an
  interval join the peers do not do); ``rapid_truncated`` is checked to
  be equal as the ``truncated`` table instead.

Evidence rows are not compared beyond their counts: they follow from the windows.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from flowscan import params
from flowscan.rules.fan import FanIn
from flowscan.rules.instances import RuleResult
from flowscan.rules.rapid import PPM, RapidMovement
from flowscan.rules.structuring import Structuring

US = 1_000_000

STRUCTURING_SCHEMA = pa.schema([
    ("rule", pa.string()), ("account", pa.string()), ("window_start", pa.int64()), ("window_end", pa.int64()),
    ("parts", pa.int64()), ("total", pa.int64()), ("largest_part", pa.int64()),
    ("distinct_locations", pa.int64()), ("distinct_counterparties", pa.int64()),
])
FAN_IN_SCHEMA = pa.schema([
    ("rule", pa.string()), ("account", pa.string()), ("window_start", pa.int64()), ("window_end", pa.int64()),
    ("distinct_senders", pa.int64()), ("total", pa.int64()), ("top_sender_share", pa.float64()),
    ("rows", pa.int64()),
])
TRUNCATED_SCHEMA = pa.schema([("account", pa.string())])
RAPID_SCHEMA = pa.schema([
    ("rule", pa.string()), ("account", pa.string()), ("window_start", pa.int64()), ("window_end", pa.int64()),
    ("share_out_within", pa.float64()), ("wire_share_out_within", pa.float64()), ("inflow", pa.int64()),
    ("held_seconds", pa.float64()), ("n_evidence_total", pa.int64()),
])


def fan_in_feature_schema(options: FanIn) -> pa.Schema:
    return pa.schema([("account", pa.string())] + [(f"fan_in_max_{params.format_duration(s)}", pa.int64())
                                                   for s in options.window_seconds])


def rapid_feature_schema(options: RapidMovement) -> pa.Schema:
    return pa.schema([("account", pa.string())]
                     + [(f"rapid_share_{params.format_duration(s)}", pa.float64()) for s in options.horizon_seconds]
                     + [("in_out_ratio", pa.float64()), ("balance_left_share", pa.float64())])


def canonical(table, schema: pa.Schema) -> pa.Table:
    """``table`` (pyarrow or polars) with ``schema``'s columns and types, sorted by every column."""
    if isinstance(table, pl.DataFrame):
        table = table.to_arrow()
    table = pa.table({f.name: table.column(f.name).cast(f.type) for f in schema}, schema=schema)
    if table.num_rows == 0:
        return schema.empty_table()
    return table.sort_by([(name, "ascending") for name in schema.names]).combine_chunks()


def tables_equal(left: dict[str, pa.Table], right: dict[str, pa.Table]) -> bool:
    """Same table names, and each pair equal (the comparison tables hold no NaN: rows whose
    feature would be NaN are left out on both sides)."""
    if left.keys() != right.keys():
        return False
    return all(left[name].equals(right[name]) for name in left)


def first_difference(left: pa.Table, right: pa.Table, limit: int = 5) -> str:
    """A short description of how two canonical tables differ (for reports)."""
    if left.schema != right.schema:
        return f"schemas differ: {left.schema} / {right.schema}"
    a = pl.from_arrow(left)
    b = pl.from_arrow(right)
    only_a = a.join(b, on=a.columns, how="anti", nulls_equal=True)
    only_b = b.join(a, on=a.columns, how="anti", nulls_equal=True)
    return (f"{left.num_rows} vs {right.num_rows} rows; only left ({only_a.height}):\n{only_a.head(limit)}\n"
            f"only right ({only_b.height}):\n{only_b.head(limit)}")


def _with_pos(ledger: pa.Table, columns: list[str]) -> pa.Table:
    """The columns a peer reads, the timestamp as int64 µs, and the ledger-order row number ``pos``."""
    out = {}
    for name in columns:
        column = ledger.column(name)
        if name == "timestamp":
            column = column.cast(pa.int64())
        elif pa.types.is_dictionary(column.type):
            column = column.cast(pa.string())
        out["ts" if name == "timestamp" else name] = column
    out["pos"] = pa.array(np.arange(ledger.num_rows, dtype=np.int64))
    return pa.table(out)


def _low(band: float, threshold: int) -> int:
    return int((Decimal(str(band)) * threshold).to_integral_value(rounding=ROUND_CEILING))


def _sql_list(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _share_reached(part: pl.Expr, whole: pl.Expr, ppm: int) -> pl.Expr:
    """``part * 1e6 >= ppm * whole`` exactly in int64 (the kernels' decomposition)."""
    q = whole // PPM
    r = whole - q * PPM
    d = part - ppm * q
    return pl.when(d < 0).then(False).when(d >= PPM).then(True).otherwise(d * PPM >= ppm * r)


# -- structuring ---------------------------------------------------------------------------------


def _structuring_parts_sql(options: Structuring) -> str:
    selects = []
    for cls in options.classes:
        acct, cp = ("receiver", "sender") if cls.side == "in" else ("sender", "receiver")
        for code, threshold in sorted(cls.thresholds_minor.items()):
            selects.append(
                f"SELECT '{cls.name}.{cls.side}' AS cls, '{code}' AS cur, {threshold}::BIGINT AS threshold, "
                f"{acct} AS acct, {cp} AS cp, location, pos, ts, amount FROM ledger "
                f"WHERE {acct} IS NOT NULL AND channel IN ({_sql_list(cls.channels)}) AND currency = '{code}' "
                f"AND amount >= {_low(options.band, threshold)} AND amount < {threshold}")
    return " UNION ALL ".join(selects)


def structuring_duckdb(ledger: pa.Table, options: Structuring | None = None) -> dict[str, pa.Table]:
    """Structuring instances with DuckDB window functions (see the module docstring)."""
    options = options or Structuring()
    con = duckdb.connect()
    con.register("ledger", _with_pos(ledger, ["timestamp", "sender", "receiver", "amount", "currency", "channel",
                                              "location"]))
    con.execute(f"""
        CREATE TEMP TABLE parts AS
        SELECT *, ROW_NUMBER() OVER (PARTITION BY cls, cur, acct ORDER BY pos) - 1 AS k,
               SUM(amount) OVER (PARTITION BY cls, cur, acct ORDER BY pos ROWS UNBOUNDED PRECEDING)::BIGINT AS cs
        FROM ({_structuring_parts_sql(options)})""")
    results = []
    for seconds in options.window_seconds:
        w = seconds * US
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE win AS
            WITH r AS (
                SELECT cls, cur, acct, threshold, k, ts,
                       MIN(k) OVER (PARTITION BY cls, cur, acct, ts) + COUNT(*) OVER f - 1 AS j,
                       (SUM(amount) OVER f - (cs - amount - MIN(cs - amount) OVER (PARTITION BY cls, cur, acct, ts)))
                           ::BIGINT AS total,
                       MAX(ts) OVER f AS end_ts
                FROM parts
                WINDOW f AS (PARTITION BY cls, cur, acct ORDER BY ts RANGE BETWEEN CURRENT ROW AND {w - 1} FOLLOWING)
            )
            SELECT *, MIN(CASE WHEN fires THEN k END) OVER (PARTITION BY cls, cur, acct ORDER BY k
                                                            ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS nf
            FROM (SELECT *, (j - k + 1 >= {options.min_count} AND total >= threshold) AS fires FROM r)""")
        table = con.sql(f"""
            WITH RECURSIVE fired AS (
                SELECT a.cls, a.cur, a.acct, a.k, a.j, a.ts, a.end_ts, a.total, b.nf AS succ
                FROM win a LEFT JOIN win b ON b.cls = a.cls AND b.cur = a.cur AND b.acct = a.acct AND b.k = a.j + 1
                WHERE a.fires
            ),
            chain AS (
                SELECT cls, cur, acct, nf AS k FROM win WHERE k = 0 AND nf IS NOT NULL
                UNION ALL
                SELECT f.cls, f.cur, f.acct, f.succ FROM chain c JOIN fired f USING (cls, cur, acct, k)
                WHERE f.succ IS NOT NULL
            ),
            inst AS (SELECT f.* FROM chain c JOIN fired f USING (cls, cur, acct, k))
            SELECT 'structuring.' || i.cls || '.{params.format_duration(seconds)}' AS rule, i.acct AS account,
                   i.ts AS window_start, i.end_ts AS window_end, i.j - i.k + 1 AS parts, i.total,
                   MAX(p.amount) AS largest_part, COUNT(DISTINCT p.location) AS distinct_locations,
                   COUNT(DISTINCT p.cp) AS distinct_counterparties
            FROM inst i JOIN parts p ON p.cls = i.cls AND p.cur = i.cur AND p.acct = i.acct
                                     AND p.k BETWEEN i.k AND i.j
            GROUP BY ALL""").to_arrow_table()
        results.append(canonical(table, STRUCTURING_SCHEMA))
    con.close()
    return {"instances": canonical(pa.concat_tables(results), STRUCTURING_SCHEMA)}


def _last_index_at(rows: pl.DataFrame, group: list[str], key: pl.Expr) -> pl.Series:
    """Per row, the index ``k`` of the last row of its group with ``ts <= key`` (null if none)."""
    last = rows.group_by(group + ["ts"]).agg(pl.col("k").max().alias("j")).sort(group + ["ts"])
    probe = rows.select(group + ["k", key.alias("key")])
    joined = probe.join_asof(last, left_on="key", right_on="ts", by=group, strategy="backward",
                             check_sortedness=False)
    return joined.get_column("j")


def _last_index_before(rows: pl.DataFrame, group: list[str], window_us: int) -> pl.Series:
    """``j(k)``: per row, the index of the last row of its group with ``ts < ts_k + window``."""
    return _last_index_at(rows, group, pl.col("ts") + (window_us - 1))


def _greedy_chain(win: pl.DataFrame, group: list[str]) -> pl.DataFrame:
    """The anchors the greedy scan reports: ``win`` has ``group``, ``k``, ``j`` and ``fires``."""
    never = np.iinfo(np.int64).max  # Polars' running minimum leaves nulls null, so no nulls here
    win = win.with_columns(
        pl.when(pl.col("fires")).then(pl.col("k")).otherwise(never)
        .cum_min(reverse=True).over(group).alias("nf"))  # reverse running min: next firing anchor
    win = win.with_columns(pl.when(pl.col("nf") == never).then(None).otherwise(pl.col("nf")).alias("nf"))
    nexts = win.select(group + [(pl.col("k") - 1).alias("j"), pl.col("nf").alias("succ")])
    fired = win.filter(pl.col("fires")).join(nexts, on=group + ["j"], how="left")
    frontier = win.filter((pl.col("k") == 0) & pl.col("nf").is_not_null()).select(group + [pl.col("nf").alias("k")])
    steps = []
    while frontier.height:
        step = frontier.join(fired, on=group + ["k"], how="inner")
        steps.append(step)
        frontier = step.filter(pl.col("succ").is_not_null()).select(group + [pl.col("succ").alias("k")])
    return pl.concat(steps) if steps else fired.clear()


def _rows_of_instances(rows: pl.DataFrame, inst: pl.DataFrame, group: list[str]) -> pl.DataFrame:
    """Rows inside the (non-overlapping) instances of their group, tagged with the instance's ``k``."""
    starts = inst.select(group + [pl.col("k").alias("start"), "j"]).sort(group + ["start"])
    tagged = rows.join_asof(starts, left_on="k", right_on="start", by=group, strategy="backward",
                            check_sortedness=False)
    return tagged.filter(pl.col("start").is_not_null() & (pl.col("k") <= pl.col("j")))


def structuring_polars(ledger: pa.Table, options: Structuring | None = None) -> dict[str, pa.Table]:
    """Structuring instances with Polars expressions (see the module docstring)."""
    options = options or Structuring()
    frame = pl.from_arrow(_with_pos(ledger, ["timestamp", "sender", "receiver", "amount", "currency", "channel",
                                             "location"]))
    pieces = []
    for cls in options.classes:
        acct, cp = ("receiver", "sender") if cls.side == "in" else ("sender", "receiver")
        for code, threshold in sorted(cls.thresholds_minor.items()):
            pieces.append(frame.filter(
                pl.col(acct).is_not_null() & pl.col("channel").is_in(list(cls.channels)) & (pl.col("currency") == code)
                & (pl.col("amount") >= _low(options.band, threshold)) & (pl.col("amount") < threshold)
            ).select(pl.lit(f"{cls.name}.{cls.side}").alias("cls"), pl.lit(code).alias("cur"),
                     pl.lit(threshold, pl.Int64).alias("threshold"), pl.col(acct).alias("acct"),
                     pl.col(cp).alias("cp"), "location", "pos", "ts", "amount"))
    group = ["cls", "cur", "acct"]
    parts = pl.concat(pieces).sort(group + ["pos"]).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).over(group).alias("k"),
        pl.col("amount").cum_sum().over(group).alias("cs"))
    results = []
    for seconds in options.window_seconds:
        win = parts.with_columns(_last_index_before(parts, group, seconds * US).alias("j"))
        at_j = parts.select(group + [pl.col("k").alias("j"), pl.col("cs").alias("cs_j"), pl.col("ts").alias("end_ts")])
        win = win.join(at_j, on=group + ["j"], how="left").sort(group + ["k"]).with_columns(
            (pl.col("cs_j") - pl.col("cs") + pl.col("amount")).alias("total"))
        win = win.with_columns(((pl.col("j") - pl.col("k") + 1 >= options.min_count)
                                & (pl.col("total") >= pl.col("threshold"))).alias("fires"))
        inst = _greedy_chain(win, group)
        inside = _rows_of_instances(parts, inst, group)
        attrs = inside.group_by(group + ["start"]).agg(
            pl.col("amount").max().alias("largest_part"),
            pl.col("location").drop_nulls().n_unique().alias("distinct_locations"),
            pl.col("cp").drop_nulls().n_unique().alias("distinct_counterparties"))
        out = inst.join(attrs, left_on=group + ["k"], right_on=group + ["start"], how="left").select(
            (pl.lit("structuring.") + pl.col("cls") + pl.lit(f".{params.format_duration(seconds)}")).alias("rule"),
            pl.col("acct").alias("account"), pl.col("ts").alias("window_start"), pl.col("end_ts").alias("window_end"),
            (pl.col("j") - pl.col("k") + 1).alias("parts"), "total", "largest_part", "distinct_locations",
            "distinct_counterparties")
        results.append(canonical(out, STRUCTURING_SCHEMA))
    return {"instances": canonical(pa.concat_tables(results), STRUCTURING_SCHEMA)}


# -- fan-in --------------------------------------------------------------------------------------


def fan_in_duckdb(ledger: pa.Table, options: FanIn | None = None) -> dict[str, pa.Table]:
    """Fan-in instances and ``fan_in_max_<W>`` features with DuckDB window functions."""
    options = options or FanIn()
    con = duckdb.connect()
    con.register("ledger", _with_pos(ledger, ["timestamp", "sender", "receiver", "amount"]))
    con.execute("""
        CREATE TEMP TABLE fr AS
        SELECT receiver AS acct, sender, pos, ts, amount,
               ROW_NUMBER() OVER (PARTITION BY receiver ORDER BY pos) - 1 AS k
        FROM ledger WHERE receiver IS NOT NULL AND sender IS NOT NULL""")
    results, features = [], None
    for seconds in options.window_seconds:
        w = seconds * US
        window = params.format_duration(seconds)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE win AS
            WITH a AS (
                SELECT *, MIN(k) OVER (PARTITION BY acct, ts)
                          + COUNT(*) OVER (PARTITION BY acct ORDER BY ts
                                           RANGE BETWEEN CURRENT ROW AND {w - 1} FOLLOWING) - 1 AS j
                FROM fr
            ),
            b AS (
                SELECT acct, k, j, ts,
                       COUNT(DISTINCT sender) OVER f AS d, (SUM(amount) OVER f)::BIGINT AS total,
                       MAX(ts) OVER f AS end_ts
                FROM a WINDOW f AS (PARTITION BY acct ORDER BY k ROWS BETWEEN CURRENT ROW AND j - k FOLLOWING)
            )
            SELECT *, MIN(CASE WHEN fires THEN k END) OVER (PARTITION BY acct ORDER BY k
                                                            ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS nf
            FROM (SELECT *, d >= {options.min_counterparties} AS fires FROM b)""")
        column = con.sql(f"SELECT acct AS account, MAX(d) AS fan_in_max_{window} FROM win GROUP BY acct")
        column = column.to_arrow_table()
        features = column if features is None else _join_on_account(features, column)
        table = con.sql(f"""
            WITH RECURSIVE fired AS (
                SELECT a.acct, a.k, a.j, a.ts, a.end_ts, a.total, a.d, b.nf AS succ
                FROM win a LEFT JOIN win b ON b.acct = a.acct AND b.k = a.j + 1
                WHERE a.fires
            ),
            chain AS (
                SELECT acct, nf AS k FROM win WHERE k = 0 AND nf IS NOT NULL
                UNION ALL
                SELECT f.acct, f.succ FROM chain c JOIN fired f USING (acct, k) WHERE f.succ IS NOT NULL
            ),
            inst AS (SELECT f.* FROM chain c JOIN fired f USING (acct, k)),
            per_sender AS (
                SELECT i.acct, i.k, SUM(r.amount) AS paid
                FROM fr r ASOF JOIN inst i ON r.acct = i.acct AND r.k >= i.k
                WHERE r.k <= i.j
                GROUP BY i.acct, i.k, r.sender
            ),
            top AS (SELECT acct, k, MAX(paid)::BIGINT AS top FROM per_sender GROUP BY acct, k)
            SELECT 'fan_in.{window}' AS rule, i.acct AS account, i.ts AS window_start, i.end_ts AS window_end,
                   i.d AS distinct_senders, i.total,
                   CASE WHEN i.total > 0 THEN t.top::DOUBLE / i.total::DOUBLE ELSE 0.0 END AS top_sender_share,
                   i.j - i.k + 1 AS rows
            FROM inst i JOIN top t USING (acct, k)""").to_arrow_table()
        results.append(canonical(table, FAN_IN_SCHEMA))
    con.close()
    return {"instances": canonical(pa.concat_tables(results), FAN_IN_SCHEMA),
            "features": canonical(features, fan_in_feature_schema(options))}


def _join_on_account(left: pa.Table, right: pa.Table) -> pa.Table:
    return left.join(right, "account", join_type="full outer")


def fan_in_polars(ledger: pa.Table, options: FanIn | None = None) -> dict[str, pa.Table]:
    """Fan-in instances and ``fan_in_max_<W>`` features with Polars expressions."""
    options = options or FanIn()
    frame = pl.from_arrow(_with_pos(ledger, ["timestamp", "sender", "receiver", "amount"]))
    group = ["acct"]
    rows = (frame.filter(pl.col("receiver").is_not_null() & pl.col("sender").is_not_null())
            .select(pl.col("receiver").alias("acct"), "sender", "pos", "ts", "amount")
            .sort(["acct", "pos"])
            .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("acct").alias("k"),
                          pl.col("amount").cum_sum().over("acct").alias("cs")))
    rows = rows.with_columns(pl.col("k").shift(1).over(["acct", "sender"]).alias("prev"))
    results, features = [], rows.select("acct").unique()
    for seconds in options.window_seconds:
        w = seconds * US
        window = params.format_duration(seconds)
        win = rows.with_columns(_last_index_before(rows, group, w).alias("j"))
        # p_min(i), the first anchor whose window reaches row i: one after the last row with ts <= ts_i - W
        p_min = _last_index_at(rows, group, pl.col("ts") - w).fill_null(-1) + 1
        win = win.with_columns(p_min.alias("p_min")).with_columns(
            pl.max_horizontal(pl.col("prev").fill_null(-1) + 1, pl.col("p_min")).alias("lo"))
        marks = pl.concat([
            win.filter(pl.col("lo") <= pl.col("k")).select("acct", pl.col("lo").alias("k"), pl.lit(1).alias("mark")),
            win.filter(pl.col("lo") <= pl.col("k")).select("acct", (pl.col("k") + 1).alias("k"),
                                                            pl.lit(-1).alias("mark")),
        ]).group_by(["acct", "k"]).agg(pl.col("mark").sum())
        win = (win.join(marks, on=["acct", "k"], how="left").sort(["acct", "k"])
               .with_columns(pl.col("mark").fill_null(0).cum_sum().over("acct").alias("d")))
        at_j = rows.select("acct", pl.col("k").alias("j"), pl.col("cs").alias("cs_j"), pl.col("ts").alias("end_ts"))
        win = win.join(at_j, on=["acct", "j"], how="left").sort(["acct", "k"]).with_columns(
            (pl.col("cs_j") - pl.col("cs") + pl.col("amount")).alias("total"),
            (pl.col("d") >= options.min_counterparties).alias("fires"))
        features = features.join(win.group_by("acct").agg(pl.col("d").max().alias(f"fan_in_max_{window}")),
                                 on="acct", how="left")
        inst = _greedy_chain(win, group)
        inside = _rows_of_instances(rows, inst, group)
        top = (inside.group_by(["acct", "start", "sender"]).agg(pl.col("amount").sum().alias("paid"))
               .group_by(["acct", "start"]).agg(pl.col("paid").max().alias("top")))
        out = inst.join(top, left_on=["acct", "k"], right_on=["acct", "start"], how="left").select(
            pl.lit(f"fan_in.{window}").alias("rule"), pl.col("acct").alias("account"),
            pl.col("ts").alias("window_start"), pl.col("end_ts").alias("window_end"),
            pl.col("d").alias("distinct_senders"), "total",
            pl.when(pl.col("total") > 0).then(pl.col("top") / pl.col("total")).otherwise(0.0)
            .alias("top_sender_share"),
            (pl.col("j") - pl.col("k") + 1).alias("rows"))
        results.append(canonical(out, FAN_IN_SCHEMA))
    return {"instances": canonical(pa.concat_tables(results), FAN_IN_SCHEMA),
            "features": canonical(features.rename({"acct": "account"}), fan_in_feature_schema(options))}


# -- rapid movement ------------------------------------------------------------------------------


def _rapid_events_sql() -> str:
    return """
        SELECT receiver AS acct, currency AS cur, pos, ts, amount AS inflow, 0::BIGINT AS outflow, channel
        FROM ledger WHERE receiver IS NOT NULL AND (sender IS NULL OR sender <> receiver)
        UNION ALL
        SELECT sender, currency, pos, ts, 0::BIGINT, amount, channel
        FROM ledger WHERE sender IS NOT NULL AND (receiver IS NULL OR sender <> receiver)"""


def rapid_duckdb(ledger: pa.Table, options: RapidMovement | None = None) -> dict[str, pa.Table]:
    """Rapid-movement instances and features with DuckDB window functions and as-of joins."""
    options = options or RapidMovement()
    ppm = options.min_share_ppm
    min_amount = options.min_amount_minor
    con = duckdb.connect()
    con.register("ledger", _with_pos(ledger, ["timestamp", "sender", "receiver", "amount", "currency", "channel"]))
    con.execute(f"""
        CREATE TEMP TABLE ev AS
        SELECT *, i_cum - (s_cum - LEAST(0, s_min)) AS c_cum
        FROM (
            SELECT *, MIN(s_cum) OVER (PARTITION BY acct, cur ORDER BY pos ROWS UNBOUNDED PRECEDING) AS s_min
            FROM (
                SELECT *,
                    SUM(inflow) OVER (PARTITION BY acct, cur ORDER BY pos ROWS UNBOUNDED PRECEDING)::BIGINT AS i_cum,
                    SUM(inflow - outflow) OVER (PARTITION BY acct, cur ORDER BY pos ROWS UNBOUNDED PRECEDING)::BIGINT
                        AS s_cum
                FROM ({_rapid_events_sql()})
            )
        )""")
    # consuming outflows: C strictly increasing; wc = running wire consumption (inclusive)
    con.execute("""
        CREATE TEMP TABLE po AS
        SELECT acct, cur, ts, c_cum, c_cum - c_prev AS len, channel = 'wire' AS wire,
               SUM(CASE WHEN channel = 'wire' THEN c_cum - c_prev ELSE 0 END)
                   OVER (PARTITION BY acct, cur ORDER BY pos ROWS UNBOUNDED PRECEDING)::BIGINT AS wc,
               ROW_NUMBER() OVER (PARTITION BY acct, cur ORDER BY pos) AS n
        FROM (SELECT *, COALESCE(LAG(c_cum) OVER (PARTITION BY acct, cur ORDER BY pos), 0) AS c_prev FROM ev)
        WHERE c_cum > c_prev""")
    con.execute("CREATE TEMP TABLE c_at AS SELECT acct, cur, ts, MAX(c_cum) AS c_cum FROM ev GROUP BY ALL")
    con.execute("""CREATE TEMP TABLE lots AS SELECT acct, cur, pos, ts, inflow, i_cum - inflow AS lo, i_cum AS hi,
                   channel = 'cash' AS cash, c_cum,
                   ROW_NUMBER() OVER (PARTITION BY acct, cur ORDER BY pos) AS n_lot
                   FROM ev WHERE inflow > 0""")
    # open lots after lot n opens, without drops: n minus the lots wholly consumed (hi <= C) by then
    truncated = con.sql(f"""
        SELECT DISTINCT l.acct AS account
        FROM lots l ASOF LEFT JOIN lots d ON l.acct = d.acct AND l.cur = d.cur AND d.hi <= l.c_cum
        WHERE l.n_lot - COALESCE(d.n_lot, 0) > {options.max_lots}""").to_arrow_table()
    listed = " OR ".join(f"(l.cur = '{code}' AND l.inflow >= {minor})" for code, minor in sorted(min_amount.items()))
    instances, shares = [], []
    for h, seconds in enumerate(options.horizon_seconds):
        horizon = params.format_duration(seconds)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE got AS
            SELECT l.*, GREATEST(0, LEAST(c.c_cum, l.hi) - l.lo) AS consumed
            FROM lots l ASOF JOIN c_at c ON l.acct = c.acct AND l.cur = c.cur AND c.ts <= l.ts + {seconds * US - 1}""")
        shares.append(con.sql(f"""SELECT acct AS account, SUM(consumed)::BIGINT AS left_{h}
                                      FROM got GROUP BY acct""").to_arrow_table())
        if not listed:
            continue
        table = con.sql(f"""
            WITH cand AS (
                SELECT l.*, l.lo + l.consumed AS target, l.lo + (l.consumed + 1) // 2 AS mid FROM got l
                WHERE ({listed}) AND l.consumed > 0
                  AND l.consumed::HUGEINT * {PPM} >= {ppm}::HUGEINT * l.inflow
            ),
            lastp AS (
                SELECT c.acct, c.pos, p.ts AS end_ts, p.n AS n_last, p.wc AS wc_last, p.wire AS wire_last,
                       p.c_cum AS c_last
                FROM cand c ASOF JOIN po p ON c.acct = p.acct AND c.cur = p.cur AND p.c_cum >= c.target
            ),
            firstp AS (
                SELECT c.acct, c.pos, p.n AS n_first, p.wc - CASE WHEN p.wire THEN p.len ELSE 0 END AS wc_before,
                       p.wire AS wire_first, p.c_cum - p.len AS c_before
                FROM cand c ASOF JOIN po p ON c.acct = p.acct AND c.cur = p.cur AND p.c_cum >= c.lo + 1
            ),
            midp AS (
                SELECT c.acct, c.pos, p.ts AS mid_ts
                FROM cand c ASOF JOIN po p ON c.acct = p.acct AND c.cur = p.cur AND p.c_cum >= c.mid
            ),
            whole AS (
                SELECT c.*, lastp.end_ts, lastp.n_last - firstp.n_first + 1 AS pieces, midp.mid_ts,
                       lastp.wc_last - firstp.wc_before
                       - CASE WHEN firstp.wire_first THEN c.lo - firstp.c_before ELSE 0 END
                       - CASE WHEN lastp.wire_last THEN lastp.c_last - c.target ELSE 0 END AS wired
                FROM cand c JOIN lastp USING (acct, pos) JOIN firstp USING (acct, pos) JOIN midp USING (acct, pos)
            )
            SELECT 'rapid.{horizon}' AS rule, acct AS account, ts AS window_start, end_ts AS window_end,
                   consumed::DOUBLE / inflow::DOUBLE AS share_out_within, NULL::DOUBLE AS wire_share_out_within,
                   inflow, (mid_ts - ts)::DOUBLE / 1e6 AS held_seconds, pieces + 1 AS n_evidence_total
            FROM whole
            UNION ALL
            SELECT 'rapid.cash_to_wire.{horizon}', acct, ts, end_ts, consumed::DOUBLE / inflow::DOUBLE,
                   wired::DOUBLE / inflow::DOUBLE, inflow, (mid_ts - ts)::DOUBLE / 1e6, pieces + 1
            FROM whole WHERE cash AND wired::HUGEINT * {PPM} >= {ppm}::HUGEINT * inflow""").to_arrow_table()
        instances.append(canonical(table, RAPID_SCHEMA))
    totals = con.sql("""SELECT acct AS account, SUM(inflow)::BIGINT AS total_in, SUM(outflow)::BIGINT AS total_out
                            FROM ev GROUP BY acct HAVING SUM(inflow) > 0""").to_arrow_table()
    con.close()
    return _without_truncated({
        "instances": pa.concat_tables(instances) if instances else RAPID_SCHEMA.empty_table(),
        "features": _rapid_features(pl.from_arrow(totals), [pl.from_arrow(s) for s in shares], options),
    }, truncated.column("account"), options)


def _without_truncated(tables: dict[str, pa.Table], truncated, options: RapidMovement) -> dict[str, pa.Table]:
    """Instances and features of the accounts that did not truncate, and the list of those that did."""
    if isinstance(truncated, pa.ChunkedArray):
        truncated = truncated.combine_chunks()
    truncated = truncated.cast(pa.string())
    out = {}
    for name, schema in (("instances", RAPID_SCHEMA), ("features", rapid_feature_schema(options))):
        table = tables[name]
        keep = pc.invert(pc.is_in(table.column("account"), value_set=truncated))
        out[name] = canonical(table.filter(keep), schema)
    out["truncated"] = canonical(pa.table({"account": truncated}), TRUNCATED_SCHEMA)
    return out


def _rapid_features(totals: pl.DataFrame, shares: list[pl.DataFrame], options: RapidMovement) -> pa.Table:
    """Feature columns from per-account integer totals (``account, total_in, total_out``) and
    consumed-within-horizon sums (``account, left_<h>``), divided the way the kernel divides."""
    out = totals
    for s in shares:
        out = out.join(s, on="account", how="left")
    columns = [pl.col("account")]
    for h, seconds in enumerate(options.horizon_seconds):
        columns.append((pl.col(f"left_{h}").fill_null(0) / pl.col("total_in"))
                       .alias(f"rapid_share_{params.format_duration(seconds)}"))
    columns.append((pl.col("total_out") / pl.col("total_in")).alias("in_out_ratio"))
    columns.append(((pl.col("total_in") - pl.col("total_out")) / pl.col("total_in")).clip(0.0, 1.0)
                   .alias("balance_left_share"))
    return canonical(out.select(columns), rapid_feature_schema(options))


def rapid_polars(ledger: pa.Table, options: RapidMovement | None = None) -> dict[str, pa.Table]:
    """Rapid-movement instances and features with Polars expressions and as-of joins."""
    options = options or RapidMovement()
    ppm = options.min_share_ppm
    frame = pl.from_arrow(_with_pos(ledger, ["timestamp", "sender", "receiver", "amount", "currency", "channel"]))
    not_self = pl.col("sender").is_null() | pl.col("receiver").is_null() | (pl.col("sender") != pl.col("receiver"))
    group = ["acct", "cur"]
    ev = pl.concat([
        frame.filter(pl.col("receiver").is_not_null() & not_self).select(
            pl.col("receiver").alias("acct"), pl.col("currency").alias("cur"), "pos", "ts",
            pl.col("amount").alias("inflow"), pl.lit(0, pl.Int64).alias("outflow"), "channel"),
        frame.filter(pl.col("sender").is_not_null() & not_self).select(
            pl.col("sender").alias("acct"), pl.col("currency").alias("cur"), "pos", "ts",
            pl.lit(0, pl.Int64).alias("inflow"), pl.col("amount").alias("outflow"), "channel"),
    ]).sort(group + ["pos"])
    ev = ev.with_columns(pl.col("inflow").cum_sum().over(group).alias("i_cum"),
                         (pl.col("inflow") - pl.col("outflow")).cum_sum().over(group).alias("s_cum"))
    ev = ev.with_columns(
        (pl.col("i_cum") - (pl.col("s_cum") - pl.min_horizontal(pl.col("s_cum").cum_min().over(group), pl.lit(0))))
        .alias("c_cum"))
    ev = ev.with_columns(pl.col("c_cum").shift(1).over(group).fill_null(0).alias("c_prev"))
    po = (ev.filter(pl.col("c_cum") > pl.col("c_prev"))
          .with_columns((pl.col("c_cum") - pl.col("c_prev")).alias("len"), (pl.col("channel") == "wire").alias("wire"))
          .with_columns(pl.when(pl.col("wire")).then(pl.col("len")).otherwise(0).cum_sum().over(group).alias("wc"),
                        pl.int_range(pl.len(), dtype=pl.Int64).over(group).alias("n"))
          .select(group + ["ts", "c_cum", "len", "wire", "wc", "n"]))
    c_at = ev.group_by(group + ["ts"]).agg(pl.col("c_cum").max()).sort(group + ["ts"])
    lots = ev.filter(pl.col("inflow") > 0).select(
        group + ["pos", "ts", "inflow", (pl.col("i_cum") - pl.col("inflow")).alias("lo"), pl.col("i_cum").alias("hi"),
                 (pl.col("channel") == "cash").alias("cash"), "c_cum"]
    ).with_columns((pl.int_range(pl.len(), dtype=pl.Int64).over(group) + 1).alias("n_lot"))
    # open lots after lot n opens, without drops: n minus the lots wholly consumed (hi <= C) by then
    done = lots.select(group + ["hi", pl.col("n_lot").alias("n_done")]).sort(group + ["hi"])
    truncated = (lots.select(group + ["c_cum", "n_lot"]).sort(group + ["c_cum"])
                 .join_asof(done, left_on="c_cum", right_on="hi", by=group, strategy="backward",
                            check_sortedness=False)
                 .filter(pl.col("n_lot") - pl.col("n_done").fill_null(0) > options.max_lots)
                 .select("acct").unique())
    listed = pl.lit(False)
    for code, minor in sorted(options.min_amount_minor.items()):
        listed = listed | ((pl.col("cur") == code) & (pl.col("inflow") >= minor))
    instances, shares = [], []

    def asof_po(left: pl.DataFrame, key: str, names: dict[str, str]) -> pl.DataFrame:
        right = po.select(group + [pl.col("c_cum").alias("_c")] + [pl.col(k).alias(v) for k, v in names.items()])
        return left.sort(group + [key]).join_asof(right, left_on=key, right_on="_c", by=group, strategy="forward",
                                                  check_sortedness=False).drop("_c")

    for h, seconds in enumerate(options.horizon_seconds):
        horizon = params.format_duration(seconds)
        got = (lots.with_columns((pl.col("ts") + (seconds * US - 1)).alias("key"))
               .join_asof(c_at.rename({"ts": "c_ts", "c_cum": "c_asof"}), left_on="key", right_on="c_ts", by=group,
                          strategy="backward", check_sortedness=False)
               .with_columns((pl.min_horizontal("c_asof", "hi") - pl.col("lo")).clip(lower_bound=0)
                             .alias("consumed")))
        shares.append(got.group_by("acct").agg(pl.col("consumed").sum().alias(f"left_{h}")).rename({"acct": "account"}))
        cand = got.filter(listed & (pl.col("consumed") > 0) & _share_reached(pl.col("consumed"), pl.col("inflow"), ppm))
        cand = cand.select(group + ["pos", "ts", "inflow", "lo", "cash", "consumed"]).with_columns(
            (pl.col("lo") + pl.col("consumed")).alias("target"), (pl.col("lo") + (pl.col("consumed") + 1) // 2)
            .alias("mid"), (pl.col("lo") + 1).alias("lo1"))
        cand = asof_po(cand, "target", {"ts": "end_ts", "n": "n_last", "wc": "wc_last", "wire": "wire_last",
                                        "c_cum": "c_last"})
        cand = asof_po(cand, "lo1", {"n": "n_first", "wc": "wc_first", "wire": "wire_first", "len": "len_first",
                                     "c_cum": "c_first"})
        cand = asof_po(cand, "mid", {"ts": "mid_ts"})
        cand = cand.with_columns(
            (pl.col("n_last") - pl.col("n_first") + 2).alias("n_evidence_total"),
            (pl.col("wc_last") - (pl.col("wc_first") - pl.when(pl.col("wire_first")).then(pl.col("len_first"))
                                  .otherwise(0))
             - pl.when(pl.col("wire_first")).then(pl.col("lo") - (pl.col("c_first") - pl.col("len_first")))
             .otherwise(0)
             - pl.when(pl.col("wire_last")).then(pl.col("c_last") - pl.col("target")).otherwise(0)).alias("wired"))
        common = [pl.col("acct").alias("account"), pl.col("ts").alias("window_start"),
                  pl.col("end_ts").alias("window_end"),
                  (pl.col("consumed") / pl.col("inflow")).alias("share_out_within")]
        # microseconds to seconds as NumPy divides (Polars turns "/ 1e6" into a multiplication by 1e-6)
        held = pl.col("mid_ts") - pl.col("ts")
        held = held.map_batches(lambda s: pl.Series(s.to_numpy() / 1e6), return_dtype=pl.Float64)
        tail = ["inflow", held.alias("held_seconds"), "n_evidence_total"]
        plain = cand.select([pl.lit(f"rapid.{horizon}").alias("rule")] + common
                            + [pl.lit(None, pl.Float64).alias("wire_share_out_within")] + tail)
        wire = cand.filter(pl.col("cash") & _share_reached(pl.col("wired"), pl.col("inflow"), ppm)).select(
            [pl.lit(f"rapid.cash_to_wire.{horizon}").alias("rule")] + common
            + [(pl.col("wired") / pl.col("inflow")).alias("wire_share_out_within")] + tail)
        instances.append(canonical(pl.concat([plain, wire]), RAPID_SCHEMA))
    totals = (ev.group_by("acct").agg(pl.col("inflow").sum().alias("total_in"),
                                      pl.col("outflow").sum().alias("total_out"))
              .filter(pl.col("total_in") > 0).rename({"acct": "account"}))
    return _without_truncated({"instances": pa.concat_tables(instances),
                               "features": _rapid_features(totals, shares, options)},
                              truncated.to_arrow().column("acct"), options)


# -- flowscan, as the same tables ----------------------------------------------------------------


def _reasons(instances: pa.Table) -> pl.DataFrame:
    """One row per instance: rule, account, window_start/end (int64 µs) and one column per reason's
    observed value (float64, null where the rule has no such reason)."""
    frame = pl.from_arrow(instances.select(["instance_id", "rule", "account", "window_start", "window_end", "reasons",
                                            "n_evidence_total"]))
    frame = frame.with_columns(pl.col("window_start").dt.epoch("us"), pl.col("window_end").dt.epoch("us"))
    if frame.height == 0:
        return frame.drop("reasons")
    long = frame.select("instance_id", "reasons").explode("reasons").unnest("reasons").select(
        "instance_id", "name", "observed")
    wide = long.pivot(on="name", index="instance_id", values="observed")
    return frame.drop("reasons").join(wide, on="instance_id", how="left")


def _int(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Int64)


def structuring_flowscan(result: RuleResult, options: Structuring | None = None) -> dict[str, pa.Table]:
    frame = _reasons(result.instances)
    if frame.height == 0:
        return {"instances": STRUCTURING_SCHEMA.empty_table()}
    out = frame.select("rule", "account", "window_start", "window_end", _int("parts").alias("parts"),
                       _int("sum").alias("total"), _int("largest_part").alias("largest_part"),
                       _int("distinct_locations"), _int("distinct_counterparties"))
    return {"instances": canonical(out, STRUCTURING_SCHEMA)}


def fan_in_flowscan(result: RuleResult, options: FanIn | None = None) -> dict[str, pa.Table]:
    options = options or FanIn()
    frame = _reasons(result.instances)
    schema = fan_in_feature_schema(options)
    features = pl.from_arrow(result.features.select(schema.names))
    features = features.filter(pl.any_horizontal([pl.col(n) > 0 for n in schema.names[1:]]))
    if frame.height == 0:
        instances = FAN_IN_SCHEMA.empty_table()
    else:
        instances = canonical(frame.select("rule", "account", "window_start", "window_end",
                                           _int("distinct_senders"), _int("total"), "top_sender_share",
                                           _int("rows")), FAN_IN_SCHEMA)
    return {"instances": instances, "features": canonical(features, schema)}


def rapid_flowscan(result: RuleResult, options: RapidMovement | None = None) -> dict[str, pa.Table]:
    options = options or RapidMovement()
    frame = _reasons(result.instances)
    schema = rapid_feature_schema(options)
    features = pl.from_arrow(result.features.select(schema.names)).filter(pl.col("in_out_ratio").is_not_nan())
    if frame.height == 0:
        instances = RAPID_SCHEMA.empty_table()
    else:
        if "wire_share_out_within" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias("wire_share_out_within"))
        instances = canonical(frame.select("rule", "account", "window_start", "window_end", "share_out_within",
                                           "wire_share_out_within", _int("inflow"), "held_seconds",
                                           "n_evidence_total"), RAPID_SCHEMA)
    truncated = result.features.filter(result.features.column("rapid_truncated")).column("account")
    return _without_truncated({"instances": instances, "features": canonical(features, schema)}, truncated, options)


PEERS = {
    "structuring": {"duckdb": structuring_duckdb, "polars": structuring_polars, "flowscan": structuring_flowscan},
    "fan_in": {"duckdb": fan_in_duckdb, "polars": fan_in_polars, "flowscan": fan_in_flowscan},
    "rapid_movement": {"duckdb": rapid_duckdb, "polars": rapid_polars, "flowscan": rapid_flowscan},
}
"""Per rule (a key of :data:`flowscan.rules.RULES`): its two peers and its flowscan extractor."""
