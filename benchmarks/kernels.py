"""Benchmark: the pattern kernels, alone and the three core rules together, against DuckDB, Polars and NumPy.

Input: ledgers from flowscan's synthetic generator (``fixtures/specs/large.toml`` scaled to
the number of rows asked, about 100 rows per customer over 74 days, planted typologies and
legitimate look-alikes included, so the rules fire), cached in ``benchmarks/data/``.

Every (engine, rule, size, run) is a fresh process, which

1. imports, then reads the canonical ledger with :func:`flowscan.read_ledger` (not timed);
2. warms up on the bundled sample ledger: flowscan runs its rules there twice, the first
   call's extra time is compile time or, with the on-disk cache warm, the load from it
   (``FLOWSCAN_NUMBA_CACHE``; :mod:`flowscan.kernels._jit`); a peer runs once there;
3. flowscan only: builds the account index of the ledger (timed apart: ``index_s``);
4. resets the peak resident memory (``/proc/self/clear_refs``), then times the rule:
   flowscan's wrapper from the Arrow ledger and index to its RuleResult (instances, evidence,
   features), or a peer (:mod:`benchmarks.peers`, :mod:`benchmarks.peers_numpy`) from the
   Arrow ledger, conversion included, to its comparison tables. DuckDB gets the ledger as an
   Arrow table (zero-copy scan of the registered table), one connection per call, threads at
   its default (the machine's cores); Polars converts it with ``pl.from_arrow``; NumPy takes
   the number columns with ``to_numpy`` and codes the text ones with Arrow's
   ``dictionary_encode`` (single-threaded, like the rest of the NumPy peer);
5. reports the time, the peak resident memory since the reset (``VmHWM``; it includes the
   ledger and index already resident) and the canonical ledger's column bytes.

Compile time from cold (cache off) is measured once in a process of its own. Medians over
``--runs`` with the range. For the three rules with peers, every run's comparison tables are
written to ``benchmarks/out/kernels/`` and each peer run is checked equal to flowscan's tables
of the same size (``equal``). ``--hubs`` adds the two-hop and cycle kernels' rate on ledgers
with one hub of N counterparties.

    python -m benchmarks.kernels --rows 1000000 10000000 --runs 3 --json benchmarks/kernels-results.json \\
        --markdown section.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
OUT = HERE / "out" / "kernels"
ROWS_PER_ACCOUNT = 100
"""``large.toml`` gives about 100 rows per customer over its 74 days (100M rows, 1M customers)."""
MIN_ACCOUNTS = 300
CORE = ("structuring", "fan_in", "rapid_movement")
"""The three core rules, timed together as ``core3``."""
PEER_ENGINES = ("duckdb", "polars", "numpy")
"""The peers of the three core rules: :mod:`benchmarks.peers` (DuckDB SQL, Polars) and
:mod:`benchmarks.peers_numpy` (plain NumPy); :func:`peer_function` picks one."""
RULE_COLUMNS = ("txn_id", "timestamp", "sender", "receiver", "amount", "currency", "channel", "location")
"""The canonical columns the rules and their evidence read (``--rule-columns``)."""
ALL_RULES = ("structuring", "fan_in", "fan_out", "funnel", "rapid_movement", "scatter_gather", "gather_scatter",
             "cycles")
TWO_HOP = ("scatter_gather", "gather_scatter", "cycles")


def peer_function(rule: str, engine: str):
    """The peer of ``engine`` (one of :data:`PEER_ENGINES`) for ``rule``: ``(ledger, options=None)``
    to its comparison tables; ``engine`` "flowscan" gives the extractor of flowscan's result."""
    if engine == "numpy":
        from benchmarks import peers_numpy

        return peers_numpy.PEERS[rule]
    from benchmarks import peers

    return peers.PEERS[rule][engine]


def spec_for(rows: int):
    """The generator's ``large`` spec scaled to about ``rows`` rows: customers and external
    counterparties in proportion; the period, rates and planted typologies unchanged (one
    instance per typology table below 1,000 customers; at least :data:`MIN_ACCOUNTS` customers,
    so the smallest ledger has about 30,000 rows)."""
    from flowscan.fixtures.spec import SPECS, Spec

    with (SPECS / "large.toml").open("rb") as handle:
        document = tomllib.load(handle)
    population = document["population"]
    scale = rows / (population["accounts"] * ROWS_PER_ACCOUNT)
    population["accounts"] = max(MIN_ACCOUNTS, round(population["accounts"] * scale))
    population["external_accounts"] = max(50, round(population["external_accounts"] * scale))
    if population["accounts"] < 1000:  # too few persons for every planted instance: one per table
        for typology in document.get("typology", []):
            typology["count"] = 1
    return Spec.from_dict(document, name=f"large-{rows}")


def ledger_path(rows: int, seed: int = 1) -> Path:
    """The generated ledger of about ``rows`` rows (written once into benchmarks/data/)."""
    from flowscan.fixtures.generate import write

    out = DATA / f"generated-{rows}-seed{seed}"
    path = out / "transactions.parquet"
    if not path.exists():
        write(spec_for(rows), seed, out)
    return path


# -- the child process --------------------------------------------------------------------------


def _status(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident size (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _sample_ledger():
    import flowscan
    from flowscan.fixtures import SAMPLE_CONFIG, SAMPLE_LEDGER

    return flowscan.read_ledger(SAMPLE_LEDGER, options=flowscan.ReadOptions.from_toml(SAMPLE_CONFIG)).ledger


def child(job: dict) -> dict:
    """One measured run (see the module docstring); ``job``: engine, rule, ledger, out."""
    t0 = time.perf_counter()
    import flowscan
    from flowscan.rules import RULES

    from benchmarks import peers, peers_numpy  # noqa: F401 (every engine imports every peer)

    import_s = time.perf_counter() - t0
    engine, rule = job["engine"], job["rule"]
    rules = list(CORE) if rule == "core3" else list(ALL_RULES) if rule == "all" else [rule]
    record = {"engine": engine, "rule": rule, "import_s": import_s, "rss_after_import_bytes": _status("VmRSS")}

    sample = _sample_ledger()
    t0 = time.perf_counter()
    if engine == "flowscan":
        sample_index = flowscan.build_index(sample)
        compile_s = {}
        for name in rules:
            t1 = time.perf_counter()
            RULES[name](sample, sample_index)
            t2 = time.perf_counter()
            RULES[name](sample, sample_index)
            compile_s[name] = max(0.0, (t2 - t1) - (time.perf_counter() - t2))
        record["compile_s"] = compile_s
    else:
        peer_function(rule, engine)(sample)
    record["warmup_s"] = time.perf_counter() - t0
    if job.get("compile_only"):
        return record

    record["rss_before_read_bytes"] = _status("VmRSS")
    t0 = time.perf_counter()
    if job.get("rule_columns"):  # the columns rules and evidence read, straight from the canonical file
        import pyarrow.parquet as pq

        ledger = pq.read_table(job["ledger"], columns=list(RULE_COLUMNS))
    else:
        ledger = flowscan.read_ledger(job["ledger"]).ledger
    record["read_s"] = time.perf_counter() - t0
    record["rows"] = ledger.num_rows
    record["canonical_bytes"] = ledger.nbytes
    index = None
    if engine == "flowscan":
        t0 = time.perf_counter()
        index = flowscan.build_index(ledger)
        record["index_s"] = time.perf_counter() - t0
        record["accounts"] = index.n_accounts
    record["peak_reset"] = _reset_peak()
    record["rss_before_bytes"] = _status("VmRSS")
    results = {}
    t0 = time.perf_counter()
    if engine == "flowscan":
        times = {}
        for name in rules:
            t1 = time.perf_counter()
            results[name] = RULES[name](ledger, index)
            times[name] = time.perf_counter() - t1
            # progress for a parent that gives up on a long run (--flowscan-timeout)
            print(json.dumps({"partial": name, "seconds": times[name], "index_s": record["index_s"],
                              "rows": record["rows"]}), file=sys.stderr, flush=True)
        record["rule_times_s"] = times
    else:
        results[rule] = peer_function(rule, engine)(ledger)
    record["seconds"] = time.perf_counter() - t0
    record["peak_rss_bytes"] = _status("VmHWM")
    if engine == "flowscan":
        record["instances"] = {name: r.instances.num_rows for name, r in results.items()}
    else:
        record["instances"] = {rule: results[rule]["instances"].num_rows}
    if job.get("out"):
        import pyarrow.parquet as pq

        out = Path(job["out"])
        out.mkdir(parents=True, exist_ok=True)
        for name, result in results.items():
            tables = peers.PEERS[name]["flowscan"](result) if engine == "flowscan" else result
            for table_name, table in tables.items():
                pq.write_table(table, out / f"{name}.{table_name}.parquet")
    return record


def hub_child(job: dict) -> dict:
    """Two-hop and cycle kernels on a ledger with one hub of ``job["hub"]`` counterparties."""
    import flowscan
    from flowscan.rules import RULES

    sample = _sample_ledger()
    sample_index = flowscan.build_index(sample)
    for name in TWO_HOP:
        RULES[name](sample, sample_index)
    ledger = hub_ledger(job["hub"])
    index = flowscan.build_index(ledger)
    record = {"hub": job["hub"], "rows": ledger.num_rows}
    for name in TWO_HOP:
        t0 = time.perf_counter()
        result = RULES[name](ledger, index)
        record[name] = {"seconds": time.perf_counter() - t0, "instances": result.instances.num_rows}
    return record


def hub_ledger(n: int):
    """A canonical ledger built around one hub ``H`` with ``n`` counterparties, within one day:

    - gather-scatter: ``n`` senders ``G*`` pay ``H`` 100.00 each, then ``H`` pays ``n``
      receivers ``D*`` 99.00 each;
    - scatter-gather: ``H`` pays ``n`` intermediaries ``M*`` 50.00 each, and each pays the
      sink ``K`` 49.50;
    - cycles: ``n`` two-hop cycles ``H -> C* -> H`` of 20.00 each.

    Row count ``6 n``. Rows are spaced evenly in ledger order, all within 24 hours.
    """
    import numpy as np
    import pyarrow as pa

    import flowscan

    ids = np.arange(n)
    legs = []

    def leg(senders, receivers, amount, start_s):
        legs.append((np.asarray(senders, dtype=object), np.asarray(receivers, dtype=object),
                     np.full(len(senders), amount, dtype=np.int64), start_s + np.arange(len(senders), dtype=np.int64)))

    names = lambda prefix: np.array([f"{prefix}{i:07d}" for i in ids], dtype=object)  # noqa: E731
    hub = np.full(n, "H", dtype=object)
    leg(names("G"), hub, 10000, 0)
    leg(hub, names("D"), 9900, n)
    leg(hub, names("M"), 5000, 2 * n)
    leg(names("M"), np.full(n, "K", dtype=object), 4950, 3 * n)
    cyc = names("C")
    senders = np.empty(2 * n, dtype=object)
    receivers = np.empty(2 * n, dtype=object)
    senders[0::2], receivers[0::2] = hub, cyc
    senders[1::2], receivers[1::2] = cyc, hub
    leg(senders, receivers, 2000, 4 * n)
    sender = np.concatenate([x[0] for x in legs])
    receiver = np.concatenate([x[1] for x in legs])
    amount = np.concatenate([x[2] for x in legs])
    seconds = np.concatenate([x[3] for x in legs])
    # squeeze 7n seconds into under a day when n is large: time unit shrinks, order is kept
    scale = max(1, -(-int(seconds.max() + 1) // 80_000))
    micros = 1_709_251_200_000_000 + (seconds * 1_000_000) // scale
    table = pa.table({
        "txn_id": pa.array([f"T{i:010d}" for i in range(len(sender))]),
        "timestamp": pa.array(micros, pa.timestamp("us", tz="UTC")),
        "sender": pa.array(sender, pa.string()),
        "receiver": pa.array(receiver, pa.string()),
        "amount": pa.array(amount),
        "currency": pa.array(["USD"] * len(sender)),
        "channel": pa.array(["wire"] * len(sender)),
    })
    path = DATA / f"hub-{n}.parquet"
    if not path.exists():
        import pyarrow.parquet as pq

        DATA.mkdir(exist_ok=True)
        pq.write_table(table, path)
    return flowscan.read_ledger(path, max_reject_rate=0.0).ledger


# -- the parent process -------------------------------------------------------------------------


def _run_child(job: dict, env: dict | None = None, timeout: float | None = None) -> dict:
    command = [sys.executable, "-m", "benchmarks.kernels", "--child", json.dumps(job)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        partial = {}
        text = expired.stderr.decode() if isinstance(expired.stderr, bytes) else (expired.stderr or "")
        for line in text.splitlines():
            if line.startswith('{"partial"'):
                done = json.loads(line)
                partial[done["partial"]] = done["seconds"]
                partial_index, partial_rows = done["index_s"], done["rows"]
        record = {"timeout": timeout, "finished_rules_s": partial}
        if partial:
            record.update(index_s=partial_index, rows=partial_rows)
        return record
    if out.returncode != 0:
        raise SystemExit(f"benchmark run {job} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _read_tables(folder: Path, rule: str) -> dict:
    import pyarrow.parquet as pq

    return {p.name.split(".")[1]: pq.read_table(p) for p in sorted(folder.glob(f"{rule}.*.parquet"))}


def _equal(reference: Path, other: Path, rule: str) -> tuple[bool, str]:
    from benchmarks import peers

    left, right = _read_tables(reference, rule), _read_tables(other, rule)
    if not left:
        return False, "no flowscan tables"
    if peers.tables_equal(left, right):
        return True, ""
    notes = [f"{name}: {peers.first_difference(left[name], right[name])}" for name in left
             if name not in right or not left[name].equals(right[name])]
    return False, "\n".join(notes)[:4000]


def summarize(engine: str, rule: str, size: int, runs: list[dict]) -> dict:
    done = [r for r in runs if "timeout" not in r]
    summary = {"engine": engine, "rule": rule, "size": size, "runs": len(done),
               "timeouts": len(runs) - len(done)}
    if not done:
        summary["timeout_s"] = runs[0]["timeout"]
        summary["finished_rules_s"] = runs[0].get("finished_rules_s", {})
        summary["index_s"] = runs[0].get("index_s")
        summary["rows"] = runs[0].get("rows")
        return summary
    seconds = [r["seconds"] for r in done]
    first = done[0]
    summary.update({
        "rows": first["rows"],
        "seconds": statistics.median(seconds),
        "seconds_min": min(seconds),
        "seconds_max": max(seconds),
        "rows_per_s": first["rows"] / statistics.median(seconds),
        "peak_rss_gib": statistics.median(r["peak_rss_bytes"] for r in done) / 2**30,
        "before_gib": statistics.median(r["rss_before_bytes"] for r in done) / 2**30,
        "canonical_gib": first["canonical_bytes"] / 2**30,
        "peak_over_canonical": statistics.median(r["peak_rss_bytes"] for r in done) / first["canonical_bytes"],
        "baseline_gib": statistics.median(r["rss_before_read_bytes"] for r in done) / 2**30,
        "above_baseline_over_canonical": statistics.median(r["peak_rss_bytes"] - r["rss_before_read_bytes"]
                                                           for r in done) / first["canonical_bytes"],
        "warmup_s": statistics.median(r["warmup_s"] for r in done),
        "read_s": statistics.median(r["read_s"] for r in done),
        "instances": first["instances"],
    })
    if engine == "flowscan":
        index = [r["index_s"] for r in done]
        summary["index_s"] = statistics.median(index)
        summary["accounts"] = first["accounts"]
        with_index = [r["seconds"] + r["index_s"] for r in done]
        summary["seconds_with_index"] = statistics.median(with_index)
        summary["rows_per_s_with_index"] = first["rows"] / statistics.median(with_index)
        summary["rule_times_s"] = {name: statistics.median(r["rule_times_s"][name] for r in done)
                                   for name in first["rule_times_s"]}
    if "equal" in first:
        summary["equal"] = [r["equal"] for r in done]
    return summary


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 10_000_000],
                        help="ledger sizes (rows asked of the generator; the ledger has about that many)")
    parser.add_argument("--runs", type=int, default=3, help="fresh-process runs per measurement")
    parser.add_argument("--peer-runs", type=int, help="runs of the peers, if fewer than --runs")
    parser.add_argument("--engines", nargs="+", default=["flowscan", *PEER_ENGINES])
    parser.add_argument("--rules", nargs="+", default=[*ALL_RULES, "core3"],
                        help="flowscan rules to time (peers exist for the three core rules)")
    parser.add_argument("--peer-timeout", type=float, default=900.0, help="seconds before a peer run is given up")
    parser.add_argument("--flowscan-timeout", type=float,
                        help="seconds before a flowscan run is given up (the rules finished by then are reported)")
    parser.add_argument("--hubs", type=int, nargs="*", default=[], help="hub sizes for the two-hop/cycle table")
    parser.add_argument("--cold-compile", action=argparse.BooleanOptionalAction, default=True,
                        help="measure compile time from cold (cache off) in a process of its own")
    parser.add_argument("--rule-columns", action="store_true",
                        help="read only the columns the rules use, with pyarrow, from the generator's canonical "
                             "file (skips read_ledger's checks; for ledgers too big to read whole)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the results as Markdown here")
    parser.add_argument("--render", type=Path, nargs="+",
                        help="only merge these JSON results (several runs of this command) into --json and "
                             "--markdown")
    parser.add_argument("--from-records", action="store_true",
                        help="build --json/--markdown for --rows from the runs kept in benchmarks/out/kernels/"
                             "records.jsonl (an interrupted benchmark)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--hub-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        record = child(job)
        if job.get("ledger"):  # every measured run is also kept, so an interrupted benchmark loses nothing
            OUT.mkdir(parents=True, exist_ok=True)
            with (OUT / "records.jsonl").open("a") as handle:
                handle.write(json.dumps({"job": job, "record": record}) + "\n")
        print(json.dumps(record))
        return
    if args.hub_child:
        print(json.dumps(hub_child(json.loads(args.hub_child))))
        return

    if args.from_records:
        _from_records(args)
        return
    if args.render:
        docs = [json.loads(p.read_text()) for p in args.render]
        merged = dict(docs[0], results=[r for d in docs for r in d["results"]],
                      hubs=[h for d in docs for h in d.get("hubs", [])],
                      commands=[(d["date"], d["argv"], d["machine"]["load_average"]) for d in docs])
        if args.json:
            args.json.write_text(json.dumps(dict(merged, parts=docs), indent=2) + "\n")
        if args.markdown:
            args.markdown.write_text(render(merged))
        return

    from benchmarks.ingest import machine

    doc = {
        "benchmark": "kernels",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=HERE).stdout.strip(),
        "machine": machine(),
        "argv": argv if argv is not None else sys.argv[1:],
        "results": [],
        "hubs": [],
    }
    if "flowscan" in args.engines and args.cold_compile:
        env = dict(os.environ, FLOWSCAN_NUMBA_CACHE="0")
        cold = _run_child({"engine": "flowscan", "rule": "all", "compile_only": True}, env=env)
        doc["compile_cold_s"] = cold["compile_s"]
        print(f"compile from cold (cache off), per rule: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in cold["compile_s"].items()), flush=True)
    peer_runs = args.peer_runs or args.runs
    for size in args.rows:
        path = ledger_path(size, args.seed)
        jobs = []
        if "flowscan" in args.engines:
            jobs += [("flowscan", rule) for rule in args.rules]
        jobs += [(engine, rule) for engine in PEER_ENGINES if engine in args.engines for rule in CORE]
        runs = {job: [] for job in jobs}
        for run in range(args.runs):
            for engine, rule in jobs:
                if engine != "flowscan" and run >= peer_runs:
                    continue
                out = OUT / str(size) / f"run{run}" / engine / rule if rule in CORE else None
                if out is not None and out.exists():
                    shutil.rmtree(out)
                job = {"engine": engine, "rule": rule, "ledger": str(path), "out": str(out) if out else None,
                       "rule_columns": args.rule_columns}
                record = _run_child(job, timeout=args.peer_timeout if engine != "flowscan" else args.flowscan_timeout)
                if engine != "flowscan" and "timeout" not in record:
                    reference = OUT / str(size) / f"run{run}" / "flowscan" / rule
                    if not reference.exists():
                        reference = OUT / str(size) / "run0" / "flowscan" / rule
                    record["equal"], note = _equal(reference, out, rule)
                    if note:
                        record["difference"] = note
                        print(f"  DIFFERENCE {engine} {rule} at {size}:\n{note}", flush=True)
                runs[(engine, rule)].append(record)
                if "timeout" in record:
                    print(f"{size:,} run {run}: {engine} {rule}: gave up after {record['timeout']:.0f} s; finished "
                          f"before: {record.get('finished_rules_s')}", flush=True)
                    continue
                extra = f", index {record['index_s']:.2f} s" if engine == "flowscan" else ""
                print(f"{record['rows']:,} rows, run {run}: {engine} {rule}: {record['seconds']:.2f} s{extra}, "
                      f"peak {record['peak_rss_bytes'] / 2**30:.2f} GiB"
                      + (f", equal {record['equal']}" if "equal" in record else ""), flush=True)
        for (engine, rule), records in runs.items():
            if records:
                doc["results"].append(summarize(engine, rule, size, records))
        doc["results_raw"] = doc.get("results_raw", []) + [
            {"size": size, "engine": e, "rule": r, "runs": recs} for (e, r), recs in runs.items()]
    for hub in args.hubs:
        doc["hubs"].append(_run_child_hub(hub))
        print(f"hub {hub:,}: " + ", ".join(f"{name} {doc['hubs'][-1][name]['seconds']:.2f} s" for name in TWO_HOP),
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(render(doc))


def _from_records(args) -> None:
    """Summaries of the runs kept in records.jsonl for the ledgers of ``args.rows``."""
    from benchmarks.ingest import machine

    lines = [json.loads(line) for line in (OUT / "records.jsonl").read_text().splitlines() if line.strip()]
    doc = {"benchmark": "kernels", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    cwd=HERE).stdout.strip(),
           "machine": machine(), "argv": ["--from-records"], "results": [], "hubs": []}
    for size in args.rows:
        path = str(ledger_path(size, args.seed))
        runs: dict = {}
        for item in lines:
            job, record = item["job"], item["record"]
            if job["ledger"] != path:
                continue
            out = Path(job["out"]) if job.get("out") else None
            if job["engine"] != "flowscan" and out is not None:
                reference = out.parent.parent / "flowscan" / job["rule"]
                if not reference.exists():
                    reference = OUT / str(size) / "run0" / "flowscan" / job["rule"]
                record["equal"], _ = _equal(reference, out, job["rule"])
            runs.setdefault((job["engine"], job["rule"]), []).append(record)
        for (engine, rule), records in runs.items():
            doc["results"].append(summarize(engine, rule, size, records))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(render(doc))


def _run_child_hub(hub: int) -> dict:
    command = [sys.executable, "-m", "benchmarks.kernels", "--hub-child", json.dumps({"hub": hub})]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"hub run {hub} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _find(doc: dict, engine: str, rule: str, size: int) -> dict | None:
    for r in doc["results"]:
        if r["engine"] == engine and r["rule"] == rule and r["size"] == size:
            return r
    return None


def render(doc: dict) -> str:
    """The result tables, in Markdown (the body of the RESULTS.md section)."""
    m = doc["machine"]
    commands = doc.get("commands") or [(doc["date"], doc["argv"], m["load_average"])]
    lines = [f"Measured at commit `{doc['commit']}` with:", ""]
    for date, argv, load in commands:
        lines.append(f"- `python -m benchmarks.kernels {' '.join(argv)}` ({date}, load average at start "
                     f"{', '.join(f'{x:.2f}' for x in load)})")
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"pyarrow {m['pyarrow']}, numba {m['numba']}, numpy {m['numpy']}, duckdb {_version('duckdb')}, "
        f"polars {_version('polars')} (a shared machine: the owner's work ran beside these runs).",
        "",
    ]
    if doc.get("compile_cold_s"):
        lines += ["Compile time from cold (`FLOWSCAN_NUMBA_CACHE=0`, on the sample ledger, not in the timings): "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in doc["compile_cold_s"].items()) + ".", ""]
    lines += [
        "| engine | rule | rows | time (s), median (range) | rows/s | index (s) | rows/s incl. index | peak RSS (GiB) "
        "| peak / canonical | (peak - baseline) / canonical | warm-up (s) | instances | equal to flowscan |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in doc["results"]:
        if not r["runs"]:
            finished = ", ".join(f"{k} {v:.1f} s" for k, v in (r.get("finished_rules_s") or {}).items())
            note = f"gave up after {r['timeout_s']:.0f} s" + (f"; finished first: {finished}" if finished else "")
            index = f"{r['index_s']:.2f}" if r.get("index_s") else ""
            lines.append(f"| {r['engine']} | {r['rule']} | {r.get('rows') or r['size']:,} | {note} | | {index} "
                         f"| | | | | | | |")
            continue
        index = f"{r['index_s']:.2f}" if "index_s" in r else ""
        with_index = f"{r['rows_per_s_with_index'] / 1e6:.2f} M" if "rows_per_s_with_index" in r else ""
        equal = ""
        if "equal" in r:
            equal = "yes" if all(r["equal"]) else f"no ({sum(not e for e in r['equal'])} of {len(r['equal'])})"
        elif r["engine"] == "flowscan" and r["rule"] in CORE:
            equal = "(reference)"
        instances = sum(r["instances"].values())
        lines.append(
            f"| {r['engine']} | {r['rule']} | {r['rows']:,} | {r['seconds']:.2f} ({r['seconds_min']:.2f}-"
            f"{r['seconds_max']:.2f}) | {r['rows_per_s'] / 1e6:.2f} M | {index} | {with_index} | "
            f"{r['peak_rss_gib']:.2f} | {r['peak_over_canonical']:.2f} | {r['above_baseline_over_canonical']:.2f} | "
            f"{r['warmup_s']:.2f} | {instances:,} | {equal} |")
    sizes = sorted({r["size"] for r in doc["results"]})
    ratio_lines = []
    for size in sizes:
        for rule in CORE:
            ours = _find(doc, "flowscan", rule, size)
            for engine in PEER_ENGINES:
                peer = _find(doc, engine, rule, size)
                if ours and peer and peer["runs"]:
                    ratio = peer["seconds"] / ours["seconds"]
                    ratio_lines.append(f"| {ours['rows']:,} | {rule} | {engine} | {ratio:.1f} "
                                       f"| {peer['seconds_min'] / ours['seconds_max']:.1f}-"
                                       f"{peer['seconds_max'] / ours['seconds_min']:.1f} |")
        core = _find(doc, "flowscan", "core3", size)
        for engine in PEER_ENGINES:
            peers_ = [_find(doc, engine, rule, size) for rule in CORE]
            if core and all(p and p["runs"] for p in peers_):
                total = sum(p["seconds"] for p in peers_)
                ratio_lines.append(f"| {core['rows']:,} | three core rules | {engine} | {total / core['seconds']:.1f} "
                                   f"| |")
    if ratio_lines:
        lines += ["", "Ratio flowscan / peer in rows per second (= peer time / flowscan time, medians; the range "
                  "pairs the extremes of the runs):", "",
                  "| rows | rule | peer | flowscan / peer | range |", "|---:|---|---|---:|---|", *ratio_lines]
    if doc.get("hubs"):
        lines += ["", "Two-hop and cycle kernels on a ledger with one hub of N counterparties (6 N rows; "
                  "`benchmarks.kernels.hub_ledger`), one run each:", "",
                  "| hub N | rows | " + " | ".join(f"{n} (s) | {n} rows/s" for n in TWO_HOP) + " |",
                  "|---:|---:|" + "---:|---:|" * len(TWO_HOP)]
        for h in doc["hubs"]:
            cells = " | ".join(f"{h[n]['seconds']:.3f} | {h['rows'] / h[n]['seconds'] / 1e6:.2f} M" for n in TWO_HOP)
            lines.append(f"| {h['hub']:,} | {h['rows']:,} | {cells} |")
    return "\n".join(lines) + "\n"


def _version(name: str) -> str:
    try:
        return __import__(name).__version__
    except ImportError:
        return "absent"


if __name__ == "__main__":
    main()
