"""Benchmark: detection quality of the scoring, per detector, on every labelled ledger at hand.

For each labelled source, every rule runs once (the core rules and the human-trafficking pack,
with the source's reference tables when it has them; a pack rule whose tables are missing is
skipped, as ``flowscan scan`` does); then scoring runs with each PyOD detector (HBOS, IForest,
ECOD, COPOD, their rank-averaged ensemble) fused with the rule hits, plus three ablations of the
default (anomaly score alone; rule hits alone; the core rules without the pack) and one candidate
change (the graph-shape typologies at half weight). Each ranking is measured with
:func:`flowscan.evaluate.evaluate` against the source's own labels: average precision,
precision@100, and the alerts the default policy raises. Labels are read only to measure.

Sources: flowscan's labelled sample (``flowscan generate --spec small --seed 7``), two more
seeds of the same spec generated here (11 and 23: ledgers the defaults were not looked at on),
one ledger of the ``trafficking`` spec (seed 5; the rule pack's own benchmark,
``benchmarks.trafficking``, uses seeds 1-3), and, when ``../shared/data`` is present, IBM's
AMLSim samples and the AMLSim Python port.

    python -m benchmarks.quality --markdown section.md --json benchmarks/quality-results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SHARED = Path(os.environ.get("FLOWSCAN_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def sources() -> dict[str, tuple[list[Path], list[Path], Path | None]]:
    """Name to (ledger paths, label paths, reference folder or None), generating and
    unpacking what is missing."""
    from flowscan.fixtures import SYNTHETIC_SAMPLE

    found = {"flowscan small seed 7 (bundled sample)": ([SYNTHETIC_SAMPLE / "transactions.parquet"],
                                                        [SYNTHETIC_SAMPLE / "accounts_labels.parquet"],
                                                        SYNTHETIC_SAMPLE / "reference")}
    for spec, seed in (("small", 11), ("small", 23), ("trafficking", 5)):
        out = DATA / f"quality-{spec}-{seed}"
        if not (out / "reference").exists():
            subprocess.run([sys.executable, "-m", "flowscan", "generate", "--spec", spec, "--seed", str(seed),
                            "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
        found[f"flowscan {spec} seed {seed}"] = ([out / "transactions.parquet"], [out / "accounts_labels.parquet"],
                                                 out / "reference")
    if (SHARED / "README.md").exists():
        for archive in sorted(SHARED.rglob("*.tgz")):
            name = archive.name.removesuffix(".tgz")
            target = DATA / "shared" / name
            if not target.exists():
                target.mkdir(parents=True)
                with tarfile.open(archive) as tar:
                    tar.extractall(target, filter="data")
            if name.startswith("amlsim-port"):
                found["AMLSim port s202"] = ([target], [target / "sar_accounts.csv"], None)
            else:
                folder = target / name
                found[f"IBM AMLSim {name}"] = ([folder / "transactions.csv"], [folder / "nodes.csv"], None)
    return found


GRAPH = ("fan_in", "fan_out", "gather_scatter", "scatter_gather", "rapid_movement")
"""The graph-shape typologies, whose weights one variant halves."""


def variants():
    from flowscan.score import Detector, Fusion, ScoreOptions
    from flowscan.score.fusion import WEIGHTS
    from flowscan.typologies import TYPOLOGIES

    out = {name: ScoreOptions(detector=Detector(name)) for name in ("hbos", "iforest", "ecod", "copod", "ensemble")}
    out["hbos, 10 bins"] = ScoreOptions(detector=Detector("hbos", params={"n_bins": 10}))
    out["hbos, auto bins"] = ScoreOptions(detector=Detector("hbos", params={"n_bins": "auto"}))
    out["hbos, anomaly only"] = ScoreOptions(fusion=Fusion(weights={t: 0.0 for t in TYPOLOGIES}, default_weight=0.0))
    out["hbos, rules only"] = ScoreOptions(fusion=Fusion(anomaly_weight=0.0))
    out["hbos, core rules only"] = ScoreOptions()  # scored without the pack's results (see measure)
    out["hbos, graph rules at half weight"] = ScoreOptions(fusion=Fusion(weights={t: WEIGHTS[t] / 2 for t in GRAPH}))
    return out


def measure(config: Path | None = None) -> list[dict]:
    """Every variant on every source; ``config``, a flowscan TOML file, sets the rules' options
    (its scoring options are not used: the variants are the scoring)."""
    import flowscan
    from flowscan.scan import ScanOptions
    from flowscan.evaluate import evaluate, load_account_labels
    from flowscan.reference import load_reference
    from flowscan.rules import ALL_RULES, PACK, PACK_OPTIONS, RULES
    from flowscan.score import score_accounts

    rows = []
    for name, (ledgers, labels, reference_dir) in sources().items():
        read = flowscan.read_ledger(*ledgers)
        index = flowscan.build_index(read.ledger)
        reference = load_reference(reference_dir)
        start = time.perf_counter()
        results = {}
        rule_options = ScanOptions.from_toml(config).rules if config is not None else {}
        for rule, f in ALL_RULES.items():
            if rule not in PACK:
                results[rule] = f(read.ledger, index, options=rule_options.get(rule))
            elif not reference.missing(PACK_OPTIONS[rule].NEEDS):  # the watch-list rule: no side table here
                results[rule] = f(read.ledger, index, options=rule_options.get(rule), reference=reference)
        rules_s = time.perf_counter() - start
        truth = load_account_labels(*labels)
        for variant, options in variants().items():
            start = time.perf_counter()
            used = {r: v for r, v in results.items() if r in RULES} if variant == "hbos, core rules only" else results
            scores = score_accounts(read.ledger, index, used, options=options)
            seconds = time.perf_counter() - start
            figures = evaluate(scores.accounts, truth, ks=(100,)).to_dict()
            rows.append({
                "source": name, "variant": variant, "rows": read.ledger.num_rows, "accounts": index.n_accounts,
                "positives": figures["labels"]["positives_scored"],
                "average_precision": figures["average_precision"],
                "precision_at_100": figures["at_k"][0]["precision"],
                "alerts": scores.alerts.num_rows, "alert_hits": figures["alerts"]["hits"],
                "score_s": seconds, "rules_s": rules_s,
                "rules": {r["typology"]: [r["fired"], r["hits"]] for r in figures["rules"]},
            })
            print(f"{name:40s} {variant:20s} AP {figures['average_precision']:.3f} "
                  f"P@100 {figures['at_k'][0]['precision']:.2f} alerts {scores.alerts.num_rows}", flush=True)
    return rows


def markdown(rows: list[dict], command: str) -> str:
    import numba
    import pyod

    sources_seen = list(dict.fromkeys(r["source"] for r in rows))
    names = list(dict.fromkeys(r["variant"] for r in rows))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    lines = [
        f"Measured {datetime.now(timezone.utc).isoformat(timespec='seconds')} at commit `{commit}` with `{command}`.",
        f"Python {platform.python_version()}, PyOD {pyod.__version__}, numba {numba.__version__}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        "",
        "Average precision / precision@100 of the account ranking against each source's labels "
        "(one run each: scoring is deterministic).",
        "",
        "| source | rows | accounts | positives | " + " | ".join(names) + " | alerts (default) |",
        "|---|---:|---:|---:|" + "---|" * len(names) + "---:|",
    ]
    for source in sources_seen:
        mine = {r["variant"]: r for r in rows if r["source"] == source}
        first = next(iter(mine.values()))
        cells = [f"{mine[n]['average_precision']:.2f} / {mine[n]['precision_at_100']:.2f}" for n in names]
        lines.append(f"| {source} | {first['rows']:,} | {first['accounts']:,} | {first['positives']:,} | "
                     + " | ".join(cells) + f" | {mine['hbos']['alerts']:,} |")
    lines += ["", "Precision of each rule typology in the default run: labelled positives / accounts it fired "
                  "at (`flowscan evaluate`, \"precision per rule typology\"); the last row is the default "
                  "alerts'. Base rate = positives / accounts.", ""]
    defaults = {source: next(r for r in rows if r["source"] == source and r["variant"] == "hbos")
                for source in sources_seen}
    kinds = sorted({k for r in defaults.values() for k in r["rules"]})
    lines += ["| typology | " + " | ".join(sources_seen) + " |", "|---|" + "---:|" * len(sources_seen)]
    for kind in kinds:
        cells = []
        for source in sources_seen:
            fired, hits = defaults[source]["rules"].get(kind, (0, 0))
            cells.append(f"{hits:,} / {fired:,} ({hits / fired:.2f})" if fired else "")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append("| **alerts** | " + " | ".join(
        f"{r['alert_hits']:,} / {r['alerts']:,} ({r['alert_hits'] / r['alerts']:.2f})" if r["alerts"] else "0"
        for r in defaults.values()) + " |")
    lines.append("| base rate | " + " | ".join(f"{r['positives'] / r['accounts']:.3f}" for r in defaults.values())
                 + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="Write every figure as JSON here.")
    parser.add_argument("--markdown", type=Path, help="Write the results table as Markdown here.")
    parser.add_argument("--config", type=Path, help="flowscan TOML file whose [rules.*] options the rules run "
                        "with (defaults otherwise)")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.quality " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = measure(args.config)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    text = markdown(rows, command.strip())
    if args.markdown:
        args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
