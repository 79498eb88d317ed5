"""The Spark engine gives the local engine's answers (issue 7).

``flowscan.spark.scan`` on Spark ``local[2,2]`` (two cores; a failed task is tried twice) must give
the accounts, alerts and evidence of ``flowscan.scan`` on the same canonical ledger and
configuration, row for row, on the bundled sample (with its reference tables) and on a generated
ledger of another seed; with 1, 3 and 7 account buckets, so rows cross buckets. An injected task
failure is retried and changes nothing. Every rule runs in both engines (``ad_identifiers`` where a
customer side table is given).

Needs the ``spark`` extra (pyspark, pandas) and a Java runtime. Without them the module skips with
the reason; CI runs it as its own step with ``FLOWSCAN_REQUIRE_SPARK=1``, which turns that skip
into a failure.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flowscan
from flowscan.errors import ConfigError, DataError
from flowscan.fixtures import SYNTHETIC_SAMPLE
from flowscan.rules import Cycles
from flowscan.scan import ScanOptions
from flowscan.score import Detector, ScoreOptions


def _why_not() -> str | None:
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("pandas") is None:
        return "pyspark is not installed: pip install -e '.[spark,test]' to test the Spark engine"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (java on PATH or JAVA_HOME): Spark needs one"
    return None


if _why_not() is not None:
    if os.environ.get("FLOWSCAN_REQUIRE_SPARK"):
        raise RuntimeError(f"FLOWSCAN_REQUIRE_SPARK is set but {_why_not()}")
    pytest.skip(_why_not(), allow_module_level=True)

from flowscan import spark as engine  # noqa: E402


LIGHT = ScanOptions(skip=engine.HOP_RULES)
"""For the tests of the engine's mechanics (retries, staging, inputs): every rule but the two
with passes of their own, which cost most of a scan and have tests of their own."""


@pytest.fixture(scope="module")
def spark():
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = engine.session("local[2,2]", **{"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The bundled sample as a canonical Parquet ledger, and the local engine's run of it."""
    folder = tmp_path_factory.mktemp("sample")
    reference = SYNTHETIC_SAMPLE / "reference"
    local = flowscan.scan(SYNTHETIC_SAMPLE / "transactions.parquet", reference=reference)
    pq.write_table(local.read.ledger, folder / "ledger.parquet")
    return folder / "ledger.parquet", reference, local


@pytest.fixture(scope="module")
def sample_light(sample):
    """The sample, and the local engine's run of it with :data:`LIGHT`."""
    ledger, reference, _ = sample
    return ledger, reference, flowscan.scan(ledger, options=LIGHT, reference=reference)


@pytest.fixture(scope="module")
def sample_in_7(spark, sample):
    """The Spark engine's run of the sample in 7 buckets (most accounts' counterparts elsewhere),
    the hop rules' passes by exchange between the buckets."""
    ledger, reference, _ = sample
    return engine.scan(str(ledger), reference=reference, buckets=7, hop_placement="exchange", spark=spark)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated ledger of another seed (small spec, seed 11), with its reference tables."""
    folder = tmp_path_factory.mktemp("generated")
    subprocess.run([sys.executable, "-m", "flowscan", "generate", "--spec", "small", "--seed", "11", "--out",
                    str(folder)], check=True, capture_output=True)
    ledger = folder / "transactions.parquet"
    local = flowscan.scan(ledger, reference=folder / "reference")
    return ledger, folder / "reference", local


def assert_same_table(ours: pa.Table, theirs: pa.Table, keys: list[str], what: str) -> None:
    """Equal schemas and equal rows after sorting by ``keys``; NaN equals NaN (an account with no
    incoming rows has a NaN cash share in both engines), nulls must sit in the same places."""
    assert ours.schema.equals(theirs.schema), what
    assert ours.num_rows == theirs.num_rows, what
    if keys:
        order = [(k, "ascending") for k in keys]
        ours, theirs = ours.sort_by(order), theirs.sort_by(order)
    for name in ours.column_names:
        a, b = ours.column(name).combine_chunks(), theirs.column(name).combine_chunks()
        if pa.types.is_floating(a.type):
            assert np.array_equal(a.is_null().to_numpy(zero_copy_only=False), b.is_null().to_numpy(zero_copy_only=False))
            assert np.array_equal(a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False),
                                  equal_nan=True), f"{what}: column {name}"
        else:
            assert a.equals(b), f"{what}: column {name}"


def assert_same_run(got, local) -> None:
    """Accounts, alerts and evidence equal in content and in order (ranks, alert order, each
    instance's rows in its kernel's order)."""
    assert_same_table(got.accounts, local.accounts, [], "accounts")
    assert_same_table(got.alerts, local.alerts, [], "alerts")
    assert_same_table(got.evidence, local.evidence, [], "evidence")


@pytest.mark.parametrize("buckets, placement", [(1, "auto"), (7, "exchange"), (3, "one_bucket")])
def test_sample_ledger_same_answers_as_the_local_engine(spark, sample, sample_in_7, buckets, placement):
    """In one bucket, in 7 with the hop passes by exchange, and in 3 with the hop passes in one
    bucket of their own."""
    ledger, reference, local = sample
    got = sample_in_7 if buckets == 7 else engine.scan(str(ledger), reference=reference, buckets=buckets,
                                                       hop_placement=placement, spark=spark)
    assert got.buckets == buckets and got.rows == local.read.ledger.num_rows
    chosen = "exchange" if buckets == 7 else "one_bucket"
    assert got.placements == {"scatter_gather": chosen, "cycles": chosen}
    assert local.alerts.num_rows > 0 and local.evidence.num_rows > 0  # the comparison compares something
    assert_same_run(got, local)
    # every rule that ran found what it found locally, instance for instance
    local_instances = pa.concat_tables([r.instances for r in local.results.values()])
    assert_same_table(got.instances, local_instances, ["instance_id"], "instances")


def test_generated_ledger_of_another_seed_same_answers(spark, generated):
    ledger, reference, local = generated
    got = engine.scan(str(ledger), reference=reference, buckets=5, spark=spark)
    assert local.alerts.num_rows > 0
    assert set(got.placements) == set(engine.HOP_RULES)  # chosen by their row counts ("auto")
    assert_same_run(got, local)


def test_peer_rules_run_in_two_passes_with_the_whole_ledgers_baseline(sample, sample_in_7):
    """living_costs and cash_no_payroll compare an account with its peers across the ledger: on
    Spark a first pass gathers every account's profile, the driver computes the baseline, and a
    second pass applies it; they find what they find locally."""
    ledger, reference, local = sample
    for name in engine.PEER_RULES:
        assert local.results[name].instances.num_rows > 0, name  # the comparison compares something
    got = sample_in_7
    for name in engine.PEER_RULES:
        assert_same_table(got.results[name].instances, local.results[name].instances, [], name)
        assert_same_table(got.results[name].evidence, local.results[name].evidence, ["instance_id", "txn_id"], name)
    assert_same_run(got, local)


def test_home_country_is_the_whole_ledgers_not_a_buckets(spark, sample_light, tmp_path):
    """domestic_to_foreign's home country is the ledger's most frequent one. With countries split
    evenly between two (by row), a bucket's own majority would often be the other one."""
    ledger, reference, _ = sample_light
    table = pq.read_table(ledger)
    halves = np.where(np.arange(table.num_rows) % 2 == 0, "CA", "US")
    table = table.set_column(table.schema.get_field_index("country"), "country", pa.array(halves))
    pq.write_table(table, tmp_path / "split.parquet")
    local = flowscan.scan(tmp_path / "split.parquet", options=LIGHT, reference=reference)
    assert local.results["domestic_to_foreign"].instances.num_rows > 0
    got = engine.scan(str(tmp_path / "split.parquet"), options=LIGHT, reference=reference, buckets=16, spark=spark)
    assert_same_run(got, local)


def test_scatter_gather_runs_on_two_hop_buckets(sample, sample_in_7):
    """Scatter-gather needs a source's rows and its receivers' rows: its own pass over two-hop
    buckets finds what the local engine finds, and its feature column is the local one."""
    ledger, reference, local = sample
    for name in ("scatter_gather", "gather_scatter"):
        assert local.results[name].instances.num_rows > 0, name  # the comparison compares something
    got = sample_in_7
    for name in ("scatter_gather", "gather_scatter"):
        assert_same_table(got.results[name].instances, local.results[name].instances, [], name)
        assert_same_table(got.results[name].evidence, local.results[name].evidence, ["instance_id", "txn_id"], name)
    column = [c for c in local.accounts.column_names if c.startswith("truncated_scatter_gather")]
    assert column and got.accounts.select(column).equals(local.accounts.select(column))
    assert_same_run(got, local)


def test_auto_keeps_the_exchange_when_the_searches_reach_little(spark, sample):
    """With one-day windows and a 5 % tolerance the cycle searches reach few rows: "auto" counts
    the copy bound round after round, stays within the one bucket's rows, and builds the
    exchange, with the local engine's answers."""
    ledger, reference, _ = sample
    options = ScanOptions(rules={"cycles": Cycles(window="1d", tolerance=0.05)})
    local = flowscan.scan(ledger, options=options, reference=reference)
    assert local.results["cycles"].instances.num_rows > 0
    got = engine.scan(str(ledger), options=options, reference=reference, buckets=7, spark=spark)
    assert got.placements["cycles"].startswith("exchange (copy bound"), got.placements
    assert_same_run(got, local)


@pytest.fixture(scope="module")
def cycle_dense(tmp_path_factory):
    """A ledger thick with cycles: 40 accounts passing similar amounts around for two months,
    with cash withdrawals between the transfers (rows a search examines but cannot follow)."""
    from ledgers import write_csv

    rng = np.random.default_rng(5)
    records = []
    for k in range(1500):
        sender, receiver = (f"C{n:02d}" for n in rng.choice(40, size=2, replace=False))
        if k % 7 == 0:
            receiver = None  # a cash withdrawal
        amount = f"{int(rng.integers(950, 1050))}.00"
        currency = "EUR" if k % 11 == 0 else "USD"
        records.append((f"t{k:05d}", float(rng.integers(0, 24 * 60)), sender, receiver, amount, currency,
                        "cash" if receiver is None else "wire", None))
    folder = tmp_path_factory.mktemp("cycles")
    ledger = flowscan.read_ledger(write_csv(folder / "ledger.csv", records), max_reject_rate=0.0).ledger
    pq.write_table(ledger, folder / "ledger.parquet")
    return folder / "ledger.parquet"


@pytest.mark.parametrize("placement", ["exchange", "auto"])
def test_cycles_search_buckets_hold_every_row_a_search_examines(spark, cycle_dense, placement):
    """A cycle passes through accounts of other buckets; an exchange round per hop copies the rows
    each search may examine into its origin's bucket. Cycles and truncated searches (a small cap,
    counted over every row examined, cash withdrawals included) are the local engine's. Here the
    searches reach nearly every row: "auto" sees the copies exceed the ledger and takes one bucket,
    with the same findings."""
    options = ScanOptions(rules={"cycles": Cycles(max_hops=5, window="10d", max_paths_per_start=40)})
    local = flowscan.scan(cycle_dense, options=options)
    found = local.results["cycles"].instances
    truncated = local.results["cycles"].features.column("truncated_cycle_10d").to_numpy()
    assert found.num_rows > 50 and truncated.sum() > 20  # both outcomes of a search are compared
    assert {row["rule"] for row in found.to_pylist()} >= {"cycle.3.10d", "cycle.4.10d", "cycle.5.10d"}
    got = engine.scan(str(cycle_dense), options=options, buckets=7, hop_placement=placement, spark=spark)
    chosen = got.placements["cycles"]
    assert chosen.startswith("exchange" if placement == "exchange" else "one_bucket (copy bound"), chosen
    assert_same_table(got.results["cycles"].instances, found, ["instance_id"], "cycles")
    assert_same_table(got.results["cycles"].evidence, local.results["cycles"].evidence, ["instance_id", "txn_id"],
                      "cycle evidence")
    assert got.accounts.select(["account", "truncated_cycle_10d"]).sort_by("account").equals(
        local.accounts.select(["account", "truncated_cycle_10d"]).sort_by("account"))
    assert_same_run(got, local)


def test_a_cycles_bucket_above_the_limit_stops_the_run_naming_the_rule(spark, cycle_dense):
    """The buckets a cycle search reaches are counted before the search runs: on the dense ledger
    every bucket's searches reach most rows, so a limit the first buckets pass (each account's own
    rows) stops the cycles pass, with the rule named and no account. The ledger is above the
    limit, so "auto" cannot take one bucket instead."""
    options = ScanOptions(skip=("scatter_gather",), rules={"cycles": Cycles(max_hops=5, window="10d")})
    with pytest.raises(DataError, match="skip cycles") as error:
        engine.scan(str(cycle_dense), options=options, buckets=7, max_bucket_rows=800, spark=spark)
    accounts = {f"C{n:02d}" for n in range(40)}
    assert not any(word.strip(".,;:()'\"") in accounts for word in str(error.value).split())


def test_ad_identifiers_and_the_relationship_roll_up_with_a_customer_side_table(spark, sample, tmp_path):
    """With the customer side table, ad_identifiers runs in the buckets and the roll-up on the
    driver: accounts with their groups, alerts, evidence and groups are the local engine's."""
    ledger, reference, _ = sample
    accounts = pq.read_table(ledger).column("sender").drop_null().unique().to_pylist()[:40]
    side = tmp_path / "customers.csv"
    lines = ["account,customer_id,phone"]
    for k, account in enumerate(accounts):
        lines.append(f"{account},CUST{k // 3},+1 555 010 {k % 5:04d}")
    side.write_text("\n".join(lines) + "\n")
    listed = tmp_path / "reference"
    shutil.copytree(reference, listed)
    (listed / "ad_identifiers.csv").write_text("identifier,list,kind,listed_on\n+1 555 010 0003,osint-test,phone,"
                                               "2024-05-01\n")
    local = flowscan.scan(ledger, options=LIGHT, relationships=side, reference=listed)
    assert local.results["ad_identifiers"].instances.num_rows > 0 and local.groups.num_rows > 0
    got = engine.scan(str(ledger), options=LIGHT, relationships=side, reference=listed, buckets=3,
                      spark=spark).to_result()
    assert_same_run(got, local)
    assert_same_table(got.results["ad_identifiers"].instances, local.results["ad_identifiers"].instances,
                      ["instance_id"], "ad_identifiers")
    assert_same_table(got.groups, local.groups, [], "groups")


def test_a_dataframe_in_memory_is_scanned_like_its_file(spark, sample_light):
    ledger, reference, local = sample_light
    frame = spark.read.parquet(str(ledger))
    got = engine.scan(frame, options=LIGHT, reference=reference, buckets=2, spark=spark)
    assert_same_run(got, local)


def test_injected_task_failure_is_retried_and_changes_nothing(spark, sample_light, tmp_path):
    """The first attempt of one bucket's task raises; Spark (local[2,2]: two attempts per task)
    runs it again and the answers are the local engine's."""
    ledger, reference, local = sample_light
    marker = tmp_path / "failed-once"

    def fail_once(bucket, attempt):
        if bucket == 1 and attempt == 0:
            marker.write_text("the first attempt of bucket 1 failed here")
            raise RuntimeError("injected task failure")

    got = engine.scan(str(ledger), options=LIGHT, reference=reference, buckets=3, spark=spark,
                      _before_bucket=fail_once)
    assert marker.exists(), "the failure was not injected"
    assert_same_run(got, local)


@pytest.mark.parametrize("name", ["hbos", "ecod"])
def test_a_detector_fitted_on_a_sample_scores_the_accounts_on_the_executors(spark, sample_light, name):
    """With ``fit_sample`` the driver fits the detector on a seeded sample of the accounts. HBOS
    scores row by row, so the executors score every account (``score_apply``); ECOD ranks new
    rows together with the fitted ones, so the driver scores them in one call. Either way the
    answers are the local engine's with the same configuration."""
    ledger, reference, _ = sample_light
    options = dataclasses.replace(LIGHT, score=ScoreOptions(detector=Detector(name, fit_sample=60, random_state=7)))
    local = flowscan.scan(ledger, options=options, reference=reference)
    assert local.accounts.num_rows > 60 and local.scores.model.detector.reference_.size == 60
    got = engine.scan(str(ledger), options=options, reference=reference, buckets=3, spark=spark)
    assert ("score_apply" in got.timings) == (name == "hbos")
    assert_same_run(got, local)


def test_findings_travel_through_a_staging_folder_that_is_removed_at_the_end(spark, sample_light, tmp_path):
    """The workers write each bucket's findings to files under ``staging``; the folder flowscan
    made there is gone afterwards, and the answers are the local ones."""
    ledger, reference, local = sample_light
    got = engine.scan(str(ledger), options=LIGHT, reference=reference, buckets=2, spark=spark, staging=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    assert_same_run(got, local)


def test_run_directory_written_to_a_uri_is_the_local_one_with_the_manifest_last(sample, sample_in_7, tmp_path):
    """flowscan.spark.write_run copies the run directory to a URI (here file://): the tables are
    the local engine's, byte for byte; a folder holding files is refused unless overwrite."""
    _, _, local = sample
    flowscan.write_run(local, tmp_path / "local", report_alerts=0)
    uri = (tmp_path / "remote" / "run").as_uri()
    assert engine.write_run(sample_in_7, uri, report_alerts=0) == uri
    written = sorted(path.name for path in (tmp_path / "remote" / "run").iterdir())
    assert written == sorted(path.name for path in (tmp_path / "local").iterdir())
    for name in ("accounts", "alerts", "evidence", "rejects"):
        assert (tmp_path / "remote" / "run" / f"{name}.parquet").read_bytes() == \
            (tmp_path / "local" / f"{name}.parquet").read_bytes(), name
    assert json.loads((tmp_path / "remote" / "run" / "manifest.json").read_text())["engine"] == "spark"
    with pytest.raises(ConfigError, match="already holds files"):
        engine.write_run(sample_in_7, uri, report_alerts=0)
    (tmp_path / "remote" / "run" / "stale.txt").write_text("from an earlier run")
    engine.write_run(sample_in_7, uri, overwrite=True, report_alerts=0)
    assert not (tmp_path / "remote" / "run" / "stale.txt").exists()


def test_tables_written_as_spark_parquet_datasets_read_back_as_the_run(spark, sample, sample_in_7, tmp_path):
    """write_datasets: one Spark Parquet dataset per table (part files, _SUCCESS), whose rows
    read back with pyarrow.dataset are the scan's, timestamps in microseconds; an existing
    folder is refused unless mode="overwrite"."""
    import pyarrow.dataset as ds

    found = sample_in_7
    written = engine.write_datasets(found, str(tmp_path / "out"), spark=spark)
    assert sorted(written) == ["accounts", "alerts", "evidence", "instances"]  # no side table, no groups
    keys = {"accounts": ["account"], "alerts": ["alert_id"], "evidence": ["alert_id", "instance_id", "txn_id"],
            "instances": ["instance_id"]}
    for name, folder in written.items():
        assert (Path(folder) / "_SUCCESS").exists(), name
        ours = getattr(found, name)
        back = ds.dataset(folder, format="parquet").to_table()
        assert back.schema.names == ours.schema.names, name
        assert back.num_rows == ours.num_rows > 0, name
        for field in ours.schema:
            if pa.types.is_timestamp(field.type):
                assert back.schema.field(field.name).type == pa.timestamp("us", tz="UTC"), field.name
        assert_same_table(back.cast(ours.schema), ours, keys[name], name)
    with pytest.raises(Exception, match="already exists"):
        engine.write_datasets(found, str(tmp_path / "out"), spark=spark)
    assert engine.write_datasets(found, str(tmp_path / "out"), spark=spark, mode="overwrite") == written
    with pytest.raises(ConfigError, match="mode must be"):
        engine.write_datasets(found, str(tmp_path / "out"), spark=spark, mode="append")


def test_a_cluster_master_needs_a_staging_folder_both_sides_reach():
    class Context:
        master = "yarn"

    class Session:
        sparkContext = Context()

    with pytest.raises(ConfigError, match="staging"):
        engine._Staging(Session(), None)


def test_a_hub_bucket_above_the_limit_stops_the_run_without_naming_the_account(spark, sample):
    ledger, reference, local = sample
    with pytest.raises(DataError, match="hub") as error:
        engine.scan(str(ledger), reference=reference, buckets=2, max_bucket_rows=1000, spark=spark)
    accounts = set(local.accounts.column("account").to_pylist())
    assert not any(word.strip(".,;:()'\"") in accounts for word in str(error.value).split())


def test_duplicate_txn_ids_and_missing_columns_are_refused(spark, sample, tmp_path):
    ledger, reference, _ = sample
    table = pq.read_table(ledger)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), tmp_path / "twice.parquet")
    with pytest.raises(DataError, match="txn_id appears more than once"):
        engine.scan(str(tmp_path / "twice.parquet"), reference=reference, spark=spark)
    pq.write_table(table.drop_columns(["amount"]), tmp_path / "no-amount.parquet")
    with pytest.raises(DataError, match="'amount' column"):
        engine.scan(str(tmp_path / "no-amount.parquet"), reference=reference, spark=spark)


def test_command_line_spark_run_directory_is_byte_identical_to_the_local_one(tmp_path):
    """flowscan scan --engine spark writes the run directory of a local scan: the same accounts,
    alerts, evidence, rejects and relationship groups files, byte for byte (every rule runs); the
    manifest says which engine ran."""
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    accounts = pq.read_table(SYNTHETIC_SAMPLE / "transactions.parquet").column("sender").drop_null().unique()
    side = tmp_path / "customers.csv"
    side.write_text("account,customer_id\n" + "".join(f"{a},C{k // 2}\n" for k, a in enumerate(accounts[:30].to_pylist())))
    common = ["--sample", "--quiet", "--report-alerts", "0", "--relationships", str(side)]
    subprocess.run([sys.executable, "-m", "flowscan", "scan", *common, "--out", str(tmp_path / "local")],
                   check=True, capture_output=True, env=env)
    subprocess.run([sys.executable, "-m", "flowscan", "scan", *common, "--out", str(tmp_path / "spark"), "--engine",
                    "spark", "--master", "local[2]", "--buckets", "3"], check=True, capture_output=True, env=env)
    for name in ("accounts", "alerts", "evidence", "rejects", "groups"):
        assert (tmp_path / "spark" / f"{name}.parquet").read_bytes() == (tmp_path / "local" / f"{name}.parquet").read_bytes(), name
    spark_manifest = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    local_manifest = json.loads((tmp_path / "local" / "manifest.json").read_text())
    assert (spark_manifest["engine"], local_manifest["engine"]) == ("spark", "local")
    for key in ("inputs", "time_range", "config_sha256", "accounts", "alerts", "instances", "skipped_rules"):
        assert spark_manifest[key] == local_manifest[key], key
    assert spark_manifest["reconciliation"]["rows_read"] == local_manifest["reconciliation"]["rows_read"]


def test_command_line_spark_engine_refuses_what_it_cannot_read_in_one_line(tmp_path):
    from flowscan.fixtures import SAMPLE_LEDGER

    done = subprocess.run([sys.executable, "-m", "flowscan", "scan", str(SAMPLE_LEDGER), "--engine", "spark", "--out",
                           str(tmp_path / "run")], capture_output=True, text=True)
    assert done.returncode == 2  # a usage error, as every configuration error of the command line
    assert "canonical Parquet" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_importing_flowscan_does_not_import_pyspark():
    code = "import sys, flowscan, flowscan.cli; assert 'pyspark' not in sys.modules, 'pyspark imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)
