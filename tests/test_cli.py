"""The ``flowscan`` command (driven with CliRunner) and ReadOptions validation."""

from __future__ import annotations

import re

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import flowscan
from flowscan.cli import app
from flowscan.fixtures import SAMPLE_CONFIG, SAMPLE_LEDGER
from flowscan.validate import REASONS


@pytest.fixture(scope="module")
def sample():
    """The bundled sample read through the library, to compare the CLI against."""
    return flowscan.read_ledger(SAMPLE_LEDGER, options=flowscan.ReadOptions.from_toml(SAMPLE_CONFIG))


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def error_lines(result):
    return [line for line in result.output.splitlines() if line.startswith("flowscan: error:")]


# -- validate ------------------------------------------------------------------------------------


def test_validate_labelled_synthetic_sample():
    from flowscan.fixtures import SYNTHETIC_SAMPLE

    result = invoke("validate", "--sample")
    assert result.exit_code == 0, result.output
    expected = flowscan.read_ledger(SYNTHETIC_SAMPLE / "transactions.parquet").report
    assert expected.rejected == 0 and expected.rows_read > 10_000
    assert f"rows read {expected.rows_read:,} = accepted {expected.accepted:,} + rejected 0" in result.stdout
    assert "reconciles" in result.stdout and result.stderr == ""


def test_sample_and_sample_export_together_are_a_usage_error():
    result = invoke("validate", "--sample", "--sample-export")
    assert result.exit_code == 2 and len(error_lines(result)) == 1


def test_validate_sample_export(sample):
    result = invoke("validate", "--sample-export")
    assert result.exit_code == 0, result.output
    r = sample.report
    assert (
        f"rows read {r.rows_read:,} = accepted {r.accepted:,} + rejected {r.rejected:,} "
        f"+ duplicates dropped {r.duplicates:,}: reconciles"
    ) in result.stdout
    assert r.reasons  # the sample has planted bad rows
    for reason in r.reasons:
        assert reason in result.stdout
        assert REASONS[reason] in result.stdout
    assert error_lines(result) == []
    assert result.stderr == ""
    assert "Traceback" not in result.output


def test_validate_max_reject_rate_zero_exits_1_with_one_error_line():
    result = invoke("validate", "--sample-export", "--max-reject-rate", "0")
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1
    assert "--max-reject-rate" in lines[0]
    assert result.stderr.strip() == lines[0]
    assert "reconciles" in result.stdout  # the report is still printed
    assert "Traceback" not in result.output


# -- ingest --------------------------------------------------------------------------------------


def test_ingest_sample_writes_ledger_and_rejects(tmp_path, sample):
    out = tmp_path / "ledger.parquet"
    result = invoke("ingest", "--sample-export", "--out", str(out))
    assert result.exit_code == 0, result.output
    r = sample.report
    assert f"accepted {r.accepted:,}" in result.stdout
    assert f"rows read {r.rows_read:,}" in result.stdout
    rejects_path = tmp_path / "ledger.rejects.parquet"
    assert str(out) in result.stdout and str(rejects_path) in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.parquet", "ledger.rejects.parquet"]

    rejects = pq.read_table(rejects_path)
    assert rejects.num_rows == r.rejected + r.duplicates
    assert rejects.schema.equals(flowscan.REJECTS_SCHEMA)
    assert sorted(set(rejects.column("reason").to_pylist())) == sorted(r.reasons)

    back = flowscan.read_ledger(out)
    assert [f.preset for f in back.report.files] == ["canonical"]
    assert back.ledger.equals(sample.ledger)
    assert back.report.reasons == {}


def test_ingest_rejects_option_moves_the_rejects_file(tmp_path, sample):
    out, rejects = tmp_path / "a" / "ledger.parquet", tmp_path / "b" / "bad.parquet"
    result = invoke("ingest", "--sample-export", "--out", str(out), "--rejects", str(rejects))
    assert result.exit_code == 0, result.output
    assert pq.read_table(rejects).num_rows == sample.report.rejected + sample.report.duplicates
    assert not (tmp_path / "a" / "ledger.rejects.parquet").exists()


def test_ingest_over_the_reject_limit_writes_nothing(tmp_path):
    out = tmp_path / "ledger.parquet"
    result = invoke("ingest", "--sample-export", "--out", str(out), "--max-reject-rate", "0")
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert list(tmp_path.iterdir()) == []


# -- usage errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["validate", "--sample", "--format", "bogus"], "'format'"),
        (["validate", "--sample", "--map", "sender"], "--map"),
        (["ingest", "--sample", "--out", "x.parquet", "--map", "senderDebitAccount"], "--map"),
        (["validate", "--sample", "--tz", "Mars/Olympus"], "'timezone'"),
        (["validate", "--sample", "--on-bad-rows", "stop"], "'on_bad_rows'"),
    ],
    ids=["unknown-format", "map-without-equals", "ingest-map-without-equals", "bad-timezone", "bad-on-bad-rows"],
)
def test_usage_error_exits_2_with_one_line(tmp_path, monkeypatch, args, named):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == 1
    assert named in lines[0]
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_unknown_flag_is_a_usage_error():
    result = invoke("validate", "--sample", "--no-such-flag")
    assert result.exit_code == 2
    assert "--no-such-flag" in result.output


def test_no_input_is_a_usage_error():
    result = invoke("validate")
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1
    assert "--sample" in error_lines(result)[0]


# -- help ----------------------------------------------------------------------------------------


def test_top_level_help_lists_both_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    commands = [line.split()[1] for line in result.stdout.splitlines() if re.match(r"^│ (validate|ingest)\s", line)]
    assert sorted(commands) == ["ingest", "validate"]


@pytest.mark.parametrize("command", ["validate", "ingest"])
def test_command_help_ends_with_an_example_block(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    # The description is everything before the first option panel; it must end with
    # "Example:" followed only by example command lines.
    description = result.stdout.split("╭")[0]
    lines = [line.strip() for line in description.splitlines() if line.strip()]
    assert "Example:" in lines
    examples = lines[lines.index("Example:") + 1 :]
    assert examples
    assert all(line.startswith(f"flowscan {command} ") for line in examples)


def test_config_option_help_mentions_the_read_table():
    # cli.py: help="TOML file whose [read] table holds the read options."
    # Rich markup must not swallow "[read]" ("TOML file whose  table holds ...").
    result = invoke("validate", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "TOML file whose" in text
    assert "TOML file whose [read] table" in text


# -- ReadOptions ---------------------------------------------------------------------------------

BAD_OPTIONS = [
    ("max_reject_rate", 1.5, "a number between 0 and 1"),
    ("max_reject_rate", -0.1, "a number between 0 and 1"),
    ("format", "excel", "one of"),
    ("amount_rounding", "up", "one of"),
    ("negative_amounts", "ignore", "one of"),
    ("on_bad_rows", "skip", "one of"),
    ("amount_unit", "cents", "one of"),
    ("timezone", "Mars/Olympus", "an IANA time zone"),
    ("timezone", "EST5EDT/../etc", "an IANA time zone"),
    ("currency", "XXX", "an ISO 4217 code"),
    ("batch_size", 0, "a positive integer"),
    ("max_id_length", -1, "a positive integer"),
    ("max_amount", 0, "a positive integer"),
    ("delimiter", ";;", "a single character"),
    ("valid_from", "yesterday", "an ISO 8601 instant"),
    ("valid_until", "2024-01-01T00:00:00", "an ISO 8601 instant with a zone"),
]


@pytest.mark.parametrize(
    ("name", "value", "expected"), BAD_OPTIONS, ids=[f"{n}={v!r}" for n, v, _ in BAD_OPTIONS]
)
def test_bad_option_value_names_the_option(name, value, expected):
    with pytest.raises(ValueError) as caught:
        flowscan.ReadOptions(**{name: value})
    assert isinstance(caught.value, flowscan.ConfigError)
    message = str(caught.value)
    assert message.startswith(f"The '{name}' option must be {expected}")
    assert message.endswith(f"Got {value!r} instead.")


def test_bad_option_value_through_read_ledger(tmp_path):
    with pytest.raises(flowscan.ConfigError, match=r"^The 'max_reject_rate' option must be .*\. Got 2 instead\.$"):
        flowscan.read_ledger(tmp_path / "none.csv", max_reject_rate=2)


def test_bad_column_mapping_names_the_key():
    with pytest.raises(flowscan.ConfigError, match=r"^The 'columns' option must be keyed by canonical columns"):
        flowscan.ReadOptions(columns={"debit": "DebitAccount"})


def test_unknown_toml_key_names_the_key(tmp_path):
    config = tmp_path / "rules.toml"
    config.write_text('[read]\ntimezone = "UTC"\ntime_zone = "UTC"\n')
    with pytest.raises(flowscan.ConfigError) as caught:
        flowscan.ReadOptions.from_toml(config)
    assert "read.time_zone" in str(caught.value)
    assert str(config) in str(caught.value)


def test_bad_timezone_in_toml_names_the_option(tmp_path):
    config = tmp_path / "rules.toml"
    config.write_text('[read]\ntimezone = "Mars/Olympus"\n')
    # The message names the file, then the option, in the sklearn-style template.
    pattern = "^" + re.escape(str(config)) + r": The 'timezone' option must be .*Got 'Mars/Olympus' instead\.$"
    with pytest.raises(flowscan.ConfigError, match=pattern):
        flowscan.ReadOptions.from_toml(config)


def test_cli_unknown_toml_key_exits_2(tmp_path):
    config = tmp_path / "rules.toml"
    config.write_text("[read]\nmax_rejects = 0.5\n")
    result = invoke("validate", "--sample", "--config", str(config))
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "read.max_rejects" in lines[0]


def test_good_options_are_kept():
    options = flowscan.ReadOptions(timezone="America/New_York", max_reject_rate=0.0, columns={"sender": "Debit"})
    assert (options.timezone, options.max_reject_rate, dict(options.columns)) == ("America/New_York", 0.0, {"sender": "Debit"})
    assert options.replace(max_reject_rate=1).max_reject_rate == 1


def test_generate_writes_a_ledger_that_validates_without_rejects(tmp_path):
    result = invoke("generate", "--spec", "small", "--seed", "3", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    ledger = tmp_path / "out" / "transactions.parquet"
    assert ledger.exists() and (tmp_path / "out" / "accounts_labels.parquet").exists()
    checked = flowscan.read_ledger(ledger, max_reject_rate=0.0)
    assert checked.report.rejected == 0 and checked.report.rows_read > 10_000


def test_generate_with_an_unknown_spec_is_a_usage_error(tmp_path):
    result = invoke("generate", "--spec", "no-such-spec", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert not (tmp_path / "out" / "transactions.parquet").exists()


@pytest.mark.parametrize("command", ["validate", "ingest", "generate", "warmup", "scan", "evaluate", "report", "explain",
                                     "sweep", "config show"])
def test_every_command_help_ends_with_an_example(command):
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "flowscan " in result.output.split("Example:")[-1]
