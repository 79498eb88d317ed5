from typer.testing import CliRunner

from flowscan.cli import app
from flowscan.rules import PACK, RULES

COMPILED_PACK = [name for name in PACK if name != "ad_identifiers"]  # the watch-list rule is a join, no kernel
from flowscan.warmup import warmup


def test_warmup_runs_every_stage_and_reports_compile_time_apart():
    timings = warmup()
    assert [t.stage for t in timings] == ["ingest", "index", *RULES, *COMPILED_PACK, "scan"]
    for t in timings:
        assert t.first_s > 0 and t.second_s > 0 and t.compile_s >= 0
        assert t.compile_s == max(0.0, t.first_s - t.second_s)


def test_warmup_command():
    result = CliRunner().invoke(app, ["warmup"])
    assert result.exit_code == 0, result.output
    assert "compile total" in result.output
    for stage in ("ingest", "index", *RULES, *COMPILED_PACK, "scan"):
        assert stage in result.output


def test_a_scan_after_the_warmup_compiles_nothing():
    """What `flowscan warmup` compiles covers a scan of another ledger: here the synthetic sample
    read in small batches (many chunks before the canonical ledger is made one chunk per column),
    with the default options."""
    import importlib
    import pkgutil

    import numba

    import flowscan
    import flowscan.kernels
    from flowscan.fixtures import SYNTHETIC_SAMPLE
    from flowscan.options import ReadOptions
    from flowscan.scan import ScanOptions

    def signatures():
        found = {}
        for info in pkgutil.iter_modules(flowscan.kernels.__path__):
            module = importlib.import_module(f"flowscan.kernels.{info.name}")
            for name, value in vars(module).items():
                if isinstance(value, numba.core.registry.CPUDispatcher) and value.__module__ == module.__name__:
                    found[f"{info.name}.{name}"] = set(value.signatures)
        return found

    warmup()
    warmed = signatures()
    assert sum(1 for sigs in warmed.values() if sigs) >= 20  # the kernels were compiled (or loaded) and are seen
    flowscan.scan(SYNTHETIC_SAMPLE / "transactions.parquet", reference=SYNTHETIC_SAMPLE / "reference",
                  options=ScanOptions(read=ReadOptions(batch_size=997)))
    new = {name: sigs - warmed.get(name, set()) for name, sigs in signatures().items()}
    assert {name: sigs for name, sigs in new.items() if sigs} == {}
