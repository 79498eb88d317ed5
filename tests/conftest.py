"""Shared test fixtures. Tests that read ../shared/data skip with a reason where it is absent."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, database=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The CLI draws report images in every CPU's worker process by default; the suite already runs
# one test process per CPU, so its CLI runs draw them in their own process. The worker path is
# tested on purpose in tests/test_report.py (--report-workers and workers= override this).
os.environ.setdefault("FLOWSCAN_REPORT_WORKERS", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA = Path(os.environ.get("FLOWSCAN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory) -> Path:
    """../shared/data unpacked into a temporary folder (its archives are read-only)."""
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip(f"third-party ledgers not found at {SHARED_DATA} (they live beside the repository, not in it)")
    out = tmp_path_factory.mktemp("shared")
    for archive in sorted(SHARED_DATA.rglob("*.tgz")):
        target = out / archive.name.removesuffix(".tgz")
        target.mkdir()
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    return out
