from typer.testing import CliRunner

from flowscan.cli import app
from flowscan.rules import PACK, RULES

COMPILED_PACK = [name for name in PACK if name != "ad_identifiers"]  # the watch-list rule is a join, no kernel
from flowscan.warmup import warmup


def test_warmup_runs_every_stage_and_reports_compile_time_apart():
    timings = warmup()
    assert [t.stage for t in timings] == ["ingest", "index", *RULES, *COMPILED_PACK]
    for t in timings:
        assert t.first_s > 0 and t.second_s > 0 and t.compile_s >= 0
        assert t.compile_s == max(0.0, t.first_s - t.second_s)


def test_warmup_command():
    result = CliRunner().invoke(app, ["warmup"])
    assert result.exit_code == 0, result.output
    assert "compile total" in result.output
    for stage in ("ingest", "index", *RULES, *COMPILED_PACK):
        assert stage in result.output
