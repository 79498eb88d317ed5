"""Compile every Numba kernel on a tiny ledger and say how long it took.

Numba compiles on the first call and caches the machine code on disk (see
:mod:`flowscan.kernels._jit`), so a warm-up before a timed or latency-sensitive run moves the
compilation out of it. Each stage runs twice; the first call's extra time over the second is
reported as compile time (it is a load from the cache when the cache is warm).
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class StageTiming:
    stage: str
    first_s: float
    second_s: float

    @property
    def compile_s(self) -> float:
        return max(0.0, self.first_s - self.second_s)


def warmup() -> list[StageTiming]:
    """Run ingest, the index and every registered rule twice on the bundled sample ledger (the
    human-trafficking pack on the synthetic sample and its reference tables), then the whole
    scan of the synthetic sample (stage ``scan``: the rules with their default options, and the
    scoring's feature table and detector), so that a scan afterwards compiles nothing."""
    from .fixtures import SAMPLE_CONFIG, SAMPLE_LEDGER
    from .index import build_index
    from .ingest import read_ledger
    from .options import ReadOptions
    from .rules import RULES

    def twice(stage, call):
        t0 = time.perf_counter()
        result = call()
        t1 = time.perf_counter()
        call()
        t2 = time.perf_counter()
        timings.append(StageTiming(stage, t1 - t0, t2 - t1))
        return result

    timings: list[StageTiming] = []
    options = ReadOptions.from_toml(SAMPLE_CONFIG)
    ledger = twice("ingest", lambda: read_ledger(SAMPLE_LEDGER, options=options)).ledger
    index = twice("index", lambda: build_index(ledger))
    for name, rule in RULES.items():
        twice(name, lambda rule=rule: rule(ledger, index))
    # the human-trafficking pack on the synthetic sample, which comes with its reference tables
    from .fixtures import SYNTHETIC_SAMPLE
    from .reference import load_reference
    from .rules import PACK, PACK_OPTIONS

    pack_ledger = read_ledger(SYNTHETIC_SAMPLE / "transactions.parquet").ledger
    pack_index = build_index(pack_ledger)
    reference = load_reference(SYNTHETIC_SAMPLE / "reference")
    for name, rule in PACK.items():
        if "relationships" in PACK_OPTIONS[name].NEEDS:
            continue  # a join, no kernel to compile
        twice(name, lambda rule=rule: rule(pack_ledger, pack_index, reference=reference))
    from .scan import scan

    twice("scan", lambda: scan(SYNTHETIC_SAMPLE / "transactions.parquet", reference=reference))
    return timings
