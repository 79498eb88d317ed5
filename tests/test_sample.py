from flowscan.fixtures import SAMPLE_CONFIG, SAMPLE_LEDGER
from flowscan.fixtures.sample import make_sample_csv

import flowscan


def test_committed_sample_is_reproducible():
    assert SAMPLE_LEDGER.read_text() == make_sample_csv()


def test_sample_reconciles_with_its_planted_bad_rows():
    result = flowscan.read_ledger(SAMPLE_LEDGER, options=flowscan.ReadOptions.from_toml(SAMPLE_CONFIG))
    report = result.report
    assert report.reconciles
    assert report.reasons == {
        "negative_amount": 1,
        "unknown_currency": 1,
        "bad_timestamp": 1,
        "conflicting_duplicate_id": 2,
        "duplicate": 1,
    }
    assert result.rejects.num_rows == report.rejected + report.duplicates
    # account numbers keep their leading zeros
    assert "0000077001" in result.ledger.column("receiver").to_pylist()


def test_committed_synthetic_sample_is_what_the_generator_writes(tmp_path):
    from flowscan.fixtures import SYNTHETIC_SAMPLE, SYNTHETIC_SEED, SYNTHETIC_SPEC
    import pyarrow.parquet as pq

    from flowscan.fixtures.generate import write

    # Content, not bytes: a Parquet footer names the writer's pyarrow version, so the bytes
    # change with an upgrade (same-environment byte identity is tested in test_generate).
    fresh = write(SYNTHETIC_SPEC, SYNTHETIC_SEED, tmp_path)
    for name, path in fresh.items():
        committed = SYNTHETIC_SAMPLE / path.relative_to(tmp_path)
        if path.suffix == ".csv":  # the reference tables: plain text, compared byte for byte
            assert path.read_bytes() == committed.read_bytes(), name
        else:
            assert pq.read_table(path).equals(pq.read_table(committed), check_metadata=True), name
    assert {p.name for p in (SYNTHETIC_SAMPLE / "reference").iterdir()} == {
        "ad_merchants.csv", "locations.csv", "payroll_originators.csv"}
    checked = flowscan.read_ledger(SYNTHETIC_SAMPLE / "transactions.parquet", max_reject_rate=0.0)
    assert checked.report.rejected == 0 and checked.report.accepted > 10_000
