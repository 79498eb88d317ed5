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
