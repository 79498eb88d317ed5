"""`flowscan config show` and flowscan.config.render_toml: valid TOML that round-trips to the same hash."""

from __future__ import annotations

import tomllib

import pytest
from typer.testing import CliRunner

from flowscan.cli import app
from flowscan.config import RED_FLAGS, render_toml, rule_source
from flowscan.errors import ConfigError, ConfigTypeError
from flowscan.options import ReadOptions
from flowscan.rules import ALL_RULES as RULES, FanIn, RapidMovement, Structuring
from flowscan.rules.fan import FAN_IN_SOURCE
from flowscan.rules.structuring import ChannelClass
from flowscan.scan import ScanOptions
from flowscan.score import AlertPolicy, Detector, Fusion, ScoreOptions

runner = CliRunner()


def round_trip(options: ScanOptions, tmp_path) -> ScanOptions:
    path = tmp_path / "rules.toml"
    path.write_text(render_toml(options))
    return ScanOptions.from_toml(path)


def modified() -> ScanOptions:
    return ScanOptions(
        read=ReadOptions(timezone="UTC", delimiter=";", columns={"txn_id": 'Txn "ID" \\ ñ'},
                         channel_map={"Cash Dep": "cash"}, max_reject_rate=0.05),
        rules={
            "structuring": Structuring(windows=("12h", "2d"), band=0.9, min_count=3,
                                       classes=(ChannelClass("cash", ("cash", "check"), "in", {"USD": "9999.99"}),
                                                ChannelClass("wire", ("wire",), "out", {"USD": 3000, "EUR": 2500}))),
            "fan_in": FanIn(windows=(86400, "30d"), min_counterparties=4),
            "rapid_movement": RapidMovement(min_amount={"USD": 500, "EUR": "700.50"}, min_share=0.85),
        },
        skip=("cycles",),
        score=ScoreOptions(detector=Detector(name="iforest", params={"n_estimators": 50, "max_samples": "auto"}),
                           fusion=Fusion(weights={"fan_in": 0.55, "my_rule": 0.1}, anomaly_weight=0.4),
                           policy=AlertPolicy(top_k=20, contamination=0.05), columns=("in_count", "out_count"),
                           top_features=3),
    )


def test_defaults_round_trip_to_the_same_hash(tmp_path):
    text = render_toml()
    tomllib.loads(text)  # valid TOML
    assert round_trip(ScanOptions(), tmp_path).config_hash() == ScanOptions().config_hash()
    assert f"# config_sha256 = {ScanOptions().config_hash()}" in text


def test_modified_config_round_trips_to_the_same_hash(tmp_path):
    options = modified()
    back = round_trip(options, tmp_path)
    assert back.config_hash() == options.config_hash() != ScanOptions().config_hash()
    # nested options come back as objects, not dicts
    classes = back.rules["structuring"].classes
    assert all(isinstance(c, ChannelClass) for c in classes)
    assert [(c.name, c.channels, c.side, dict(c.thresholds)) for c in classes] == [
        ("cash", ("cash", "check"), "in", {"USD": "9999.99"}), ("wire", ("wire",), "out", {"USD": 3000, "EUR": 2500})]
    assert back.read.columns["txn_id"] == 'Txn "ID" \\ ñ'
    assert back.skip == ("cycles",)
    assert back.score.policy.top_k == 20 and back.score.policy.min_score == 0.7


def test_a_detector_sample_round_trips_and_the_default_hash_has_no_trace_of_it(tmp_path):
    options = ScanOptions(score=ScoreOptions(detector=Detector(fit_sample=500)))
    back = round_trip(options, tmp_path)
    assert back.score.detector.fit_sample == 500
    assert back.config_hash() == options.config_hash() != ScanOptions().config_hash()
    assert "fit_sample" not in ScanOptions().to_dict()["score"]["detector"]  # hashes of earlier runs still hold


def test_a_changed_value_changes_the_printed_hash(tmp_path):
    options = ScanOptions(rules={"fan_in": FanIn(min_counterparties=11)})
    text = render_toml(options)
    assert "min_counterparties = 11" in text
    assert round_trip(options, tmp_path).config_hash() == options.config_hash() != ScanOptions().config_hash()


def test_durations_print_as_text_and_seconds_keep_their_form(tmp_path):
    text = render_toml(modified())
    assert 'windows = ["12h", "2d"]' in text
    assert 'windows = [86400, "30d"]  # seconds: 86400 = 24h' in text
    assert 'lag = "72h"' in text


def test_every_rule_table_names_its_red_flag_and_source():
    text = render_toml()
    lines = text.splitlines()
    for name in RULES:
        at = lines.index(f"[rules.{name}]")
        assert lines[at - 2] == f"# Red flag: {RED_FLAGS[name]}"
        assert lines[at - 1] == f"# Source: {rule_source(name)}"
    assert rule_source("fan_in") == FAN_IN_SOURCE
    for table in ("[score]", "[score.detector]", "[score.fusion]", "[score.policy]"):
        assert lines[lines.index(table) - 1].startswith("# ")


def test_every_option_appears_in_the_output():
    document = tomllib.loads(render_toml())
    assert set(document["rules"]) == {"skip", *RULES}
    assert set(document["rules"]["funnel"]) == {"window", "min_locations", "lag", "withdrawal_channels", "evidence_cap"}
    assert set(document["score"]) == {"top_features", "max_instances_per_rule", "detector", "fusion", "policy",
                                      "profile"}  # columns: not set
    assert set(document["rules"]["late_night"]) == {"window", "min_count", "min_cities", "min_share", "night_start",
                                                    "night_end", "evidence_cap"}
    assert document["rules"]["escort_ads"]["max_amount"] == {"USD": 150, "CAD": 200}
    assert document["score"]["profile"]["min_indicators"] == 2
    assert document["score"]["fusion"]["weights"]["funnel_account"] == 0.7
    assert document["score"]["policy"] == {"min_score": 0.7}
    assert len(document["rules"]["structuring"]["classes"]) == 3


def test_a_none_toml_cannot_express_is_refused():
    options = ScanOptions(score=ScoreOptions(policy=AlertPolicy(top_k=10, min_score=None)))
    with pytest.raises(ConfigError, match=r"score\.policy\.min_score is None"):
        render_toml(options)


def test_structuring_classes_from_toml_tables(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[[rules.structuring.classes]]\nname = "cash"\nchannels = ["cash"]\nside = "in"\n'
                    '[rules.structuring.classes.thresholds]\nUSD = 10000\n')
    options = ScanOptions.from_toml(path)
    assert options.rules["structuring"].classes == (ChannelClass("cash", ("cash",), "in", {"USD": 10000}),)
    path.write_text('[[rules.structuring.classes]]\nname = "cash"\nchannels = ["cash"]\nside = "sideways"\n'
                    '[rules.structuring.classes.thresholds]\nUSD = 10000\n')
    with pytest.raises(ConfigError, match="'side' parameter of ChannelClass"):
        ScanOptions.from_toml(path)
    path.write_text('[[rules.structuring.classes]]\nname = "cash"\nchannels = ["cash"]\nside = "in"\ncolour = 1\n'
                    '[rules.structuring.classes.thresholds]\nUSD = 10000\n')
    with pytest.raises(ConfigError, match=r"rules\.structuring.*colour"):
        ScanOptions.from_toml(path)


def test_cli_config_show_prints_defaults_and_a_resolved_file(tmp_path):
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert result.output == render_toml()
    path = tmp_path / "rules.toml"
    path.write_text(render_toml(modified()))
    result = runner.invoke(app, ["config", "show", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert f"# config_sha256 = {modified().config_hash()}" in result.output
    assert "# config_sha256 = " + ScanOptions().config_hash() not in result.output


def test_cli_config_show_bad_file_is_one_line(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text("[rules.fan_in]\nmin_counterparties = 0\n")
    result = runner.invoke(app, ["config", "show", "--config", str(path)])
    assert result.exit_code == 2
    assert "min_counterparties" in result.output and "Traceback" not in result.output


# -- found by fuzzing (issue 9, part 2: tests/fuzz/fuzz_config.py) ----------------------------------


def test_a_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path):
    """Was: UnicodeDecodeError from tomllib."""
    path = tmp_path / "rules.toml"
    path.write_bytes(b'[read]\ntimezone = "Europe/Z\xfcrich"\n')
    with pytest.raises(ConfigError, match=r"rules\.toml: not valid TOML \(not UTF-8 text: byte 28 "):
        ScanOptions.from_toml(path)


@pytest.mark.parametrize("amount", ['"NaN"', '"sNaN"', '"Infinity"', '"1e999999999"', '"0.1e-999999999"',
                                    '"92233720368547758.08"'])
def test_money_thresholds_that_are_no_positive_amount_are_config_errors(tmp_path, amount):
    """NaN (was: decimal.InvalidOperation), Infinity (was: OverflowError), an exponent past the
    decimal context (was: decimal.Overflow), one that underflows to 0 (was: accepted as 0) and
    more minor units than int64 holds (was: accepted, to overflow in the kernels)."""
    path = tmp_path / "rules.toml"
    path.write_text(f"[rules.rapid_movement]\nmin_amount = {{USD = {amount}}}\n")
    with pytest.raises(ConfigError, match=r"rules\.toml: The 'min_amount\.USD' parameter of RapidMovement"):
        ScanOptions.from_toml(path)


@pytest.mark.parametrize(("text", "named"), [
    ('[score]\ncolumns = true\n', "'columns' parameter of ScoreOptions"),  # was: TypeError
    ('[read]\nencoding = "hex"\n', "'encoding' option"),  # was: LookupError when the first CSV was read
    ('[read]\ndelimiter = "\\u00e9"\n', "'delimiter' option"),  # was: ValueError from Arrow's CSV parser
    ('[read]\ntimezone = "Factory"\n', "'timezone' option"),  # was: ArrowInvalid when localising
    ('[read]\nvalid_from = "0001-01-01T00:00:00+05:00"\n', "'valid_from' option"),  # was: OverflowError
    ('[read.channel_map]\n"a\\nb" = "x"\n', "'channel_map.a\\nb' option"),  # was: a message of two lines
    ('[rules.rapid_movement]\nmin_amount = {"a\\nb" = 1}\n', "'min_amount.a\\nb' parameter"),  # the same
    # was: accepted, then TypeError (a datetime is not JSON) from config_hash
    ('[score.detector.params]\nn_bins = 1979-05-27T00:32:00Z\n', "'params.n_bins' parameter of Detector"),
    ('[score.detector]\nfit_sample = 1\n', "'fit_sample' parameter of Detector"),
    ('[score.detector]\nfit_sample = "all"\n', "'fit_sample' parameter of Detector"),
])
def test_values_flowscan_cannot_use_are_config_errors_naming_file_and_key(tmp_path, text, named):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        ScanOptions.from_toml(path)
    assert str(caught.value).startswith(f"{path}: ") and named in str(caught.value), caught.value
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("skip", ["5", '"cycles"', '["cycles", 1]'])
def test_skip_that_is_not_a_list_of_names_is_a_config_error(tmp_path, skip):
    path = tmp_path / "rules.toml"
    path.write_text(f"[rules]\nskip = {skip}\n")
    with pytest.raises(ConfigTypeError, match="'skip' option must be a list of rule names"):
        ScanOptions.from_toml(path)


def test_unknown_key_with_a_line_break_gives_one_line(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[score]\n"a\\nb" = 1\n')
    with pytest.raises(ConfigError, match=r"unknown key score\.a\\nb;") as caught:
        ScanOptions.from_toml(path)
    assert "\n" not in str(caught.value)
