"""Quality and speed of the human-trafficking rule pack on flowscan's generated ledgers (issue 10).

Quality: every planted human-trafficking profile (``trafficking_profile`` members, and the
other human-trafficking types the spec plants) should rank in the top 5 % of accounts, while
the legitimate look-alikes (travellers, late-shift workers, honest cash businesses that pay
payroll, the hotel chain and motels; and the generator's other look-alikes: near-threshold cash
businesses, payroll processors, large merchants) stay out of it. Reported per camouflage level of the planted tables. Labels are read only here.

Speed: each pack rule's seconds on the same ledger (after a warm-up call, so compilation is
apart) and the pack's rate in transactions per second.

Run::

    python -m benchmarks.trafficking --seeds 1 2 3 --out benchmarks/trafficking-results.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

TOP_SHARE = 0.05


def _generate(seed: int, root: Path, spec: str) -> Path:
    from flowscan.fixtures.generate import write

    out = root / f"{spec}-seed{seed}"
    if not (out / "transactions.parquet").exists():
        write(spec, seed, out)
    return out


def _cash_businesses_with_payroll(run, directory: Path) -> set[str]:
    """Unlabelled businesses with steady cash deposits (8 or more) that pay payroll: the honest
    look-alikes of "cash revenue with no payroll", found from the ledger as the rule sees it."""
    from flowscan.index import build_index, dictionary_codes
    from flowscan.reference import load_reference
    from flowscan.rules.payroll import payroll_out_rows
    from flowscan.schema import CHANNELS

    ledger = run.read.ledger
    index = build_index(ledger)
    cash = dictionary_codes(ledger.column("channel"), CHANNELS) == CHANNELS.index("cash")
    deposits = np.bincount(index.receiver[cash & (index.sender < 0) & (index.receiver >= 0)],
                           minlength=index.n_accounts)
    payroll = payroll_out_rows(ledger, index, load_reference(directory / "reference"), "PAYROLL")
    payers = np.bincount(index.sender[payroll], minlength=index.n_accounts)
    labels = {r["account"]: r for r in pq.read_table(directory / "accounts_labels.parquet").to_pylist()}
    chosen = np.flatnonzero((deposits >= 8) & (payers > 0))
    ids = index.accounts.take(chosen).to_pylist() if len(chosen) else []
    return {a for a in ids if labels.get(a, {}).get("kind") == "business" and not labels[a]["is_suspicious"]
            and labels[a]["lookalike"] is None}


def _quality(run, directory: Path) -> dict:
    accounts = run.accounts
    rank = dict(zip(accounts.column("account").to_pylist(), accounts.column("rank").to_pylist()))
    n = accounts.num_rows
    cut = int(np.ceil(TOP_SHARE * n))
    labels = pq.read_table(directory / "accounts_labels.parquet").to_pylist()
    instances = pq.read_table(directory / "instances.parquet").to_pylist()
    out = {"accounts": n, "top_5pct_cut": cut, "planted": {}, "lookalikes": {}}
    for inst in instances:
        key = f"{inst['typology']}@c={inst['camouflage']:g}"
        entry = out["planted"].setdefault(key, {"members": 0, "in_top_5pct": 0, "ranks": []})
        for account in inst["accounts"]:
            if account in rank:
                entry["members"] += 1
                entry["in_top_5pct"] += rank[account] <= cut
                entry["ranks"].append(rank[account])
    for entry in out["planted"].values():
        entry["worst_rank"] = max(entry["ranks"]) if entry["ranks"] else None
        entry["ranks"] = sorted(entry["ranks"])
    honest_cash = _cash_businesses_with_payroll(run, directory)
    for row in labels:
        kind = row["lookalike"] or ("cash_business_with_payroll" if row["account"] in honest_cash else None)
        if kind is None or row["account"] not in rank:
            continue
        entry = out["lookalikes"].setdefault(kind, {"accounts": 0, "in_top_5pct": 0, "best_rank": None})
        entry["accounts"] += 1
        r = rank[row["account"]]
        entry["in_top_5pct"] += r <= cut
        entry["best_rank"] = r if entry["best_rank"] is None else min(entry["best_rank"], r)
    return out


def _speed(directory: Path, runs: int) -> dict:
    import flowscan
    from flowscan.index import build_index
    from flowscan.reference import load_reference
    from flowscan.rules import PACK, PACK_OPTIONS

    ledger = flowscan.read_ledger(directory / "transactions.parquet").ledger
    index = build_index(ledger)
    reference = load_reference(directory / "reference")
    seconds = {}
    for name, rule in PACK.items():
        if "relationships" in PACK_OPTIONS[name].NEEDS:
            continue
        rule(ledger, index, reference=reference)  # compile / load the cache apart
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            rule(ledger, index, reference=reference)
            times.append(time.perf_counter() - t0)
        seconds[name] = statistics.median(times)
    total = sum(seconds.values())
    return {"rows": ledger.num_rows, "seconds_median": seconds, "pack_seconds": total,
            "pack_rows_per_second": ledger.num_rows / total if total else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--spec", default="trafficking")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per rule (median)")
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data" / "generated")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "trafficking-results.json")
    parser.add_argument("--config", type=Path, help="flowscan TOML configuration of the scans that rank the "
                        "accounts (defaults otherwise); the per-rule timings use the default options")
    args = parser.parse_args(argv)

    import flowscan

    args.data.mkdir(parents=True, exist_ok=True)
    results = {"spec": args.spec, "config": str(args.config) if args.config else None, "seeds": {}}
    for seed in args.seeds:
        directory = _generate(seed, args.data, args.spec)
        with tempfile.TemporaryDirectory():
            run = flowscan.scan(directory / "transactions.parquet", reference=directory / "reference",
                                config=args.config)
        quality = _quality(run, directory)
        speed = _speed(directory, args.runs)
        results["seeds"][str(seed)] = {"quality": quality, "speed": speed}
        print(f"seed {seed}: {quality['accounts']} accounts, top 5 % = rank {quality['top_5pct_cut']}")
        for key, e in sorted(quality["planted"].items()):
            print(f"  planted {key:34s} {e['in_top_5pct']:3d}/{e['members']:<3d} in top 5 %  worst rank "
                  f"{e['worst_rank']}")
        for key, e in sorted(quality["lookalikes"].items()):
            print(f"  look-alike {key:31s} {e['in_top_5pct']:3d}/{e['accounts']:<4d} in top 5 %  best rank "
                  f"{e['best_rank']}")
        print(f"  pack: {speed['rows']:,} rows in {speed['pack_seconds']:.2f} s = "
              f"{speed['pack_rows_per_second'] / 1e6:.2f} M rows/s; per rule: "
              + ", ".join(f"{k} {v:.3f}" for k, v in speed["seconds_median"].items()))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
