"""The fuzz targets of tests/fuzz/ (issue 9, part 2), each run for a fixed number of inputs.

Each target runs as its own process (``python tests/fuzz/fuzz_<area>.py -seed=1 -runs=N``), so
that a crash, which libFuzzer ends with an exit, cannot take pytest down; the same seed and
number of runs give the same inputs. A target that finds an input on which flowscan raises
anything but its own errors, or breaks an invariant, exits non-zero, and the test fails with
the exception and the input (written to pytest's temporary folder; replay it with
``python tests/fuzz/fuzz_<area>.py CRASH_FILE``).

atheris has wheels for Linux on x86_64 only (CPython 3.11 to 3.13): elsewhere these tests are
skipped; where a wheel exists, a missing atheris fails them (it is in the ``test`` extra).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent / "fuzz"
ATHERIS_WHEELS = (sys.platform == "linux" and platform.machine() == "x86_64"
                  and (3, 11) <= sys.version_info[:2] <= (3, 13))

RUNS = {
    "fuzz_csv": 800,
    "fuzz_presets": 1_000,
    "fuzz_timestamps": 2_000,
    "fuzz_currency": 15_000,
    "fuzz_config": 1_500,
}
"""Inputs per target: 5 to 10 seconds each on an idle 2-core machine, start-up (about 4 s) included."""
FINAL_LINE = "stat::peak_rss_mb"
"""The last line libFuzzer prints with -print_final_stats=1 after the last input."""
EXIT_GRACE = 20
"""Seconds a finished target gets to exit (see run_target)."""


@pytest.fixture(scope="module")
def atheris_installed():
    if importlib.util.find_spec("atheris") is None:
        if ATHERIS_WHEELS:
            pytest.fail("atheris is not installed, though it has a wheel for this platform; "
                        "install the test extra: pip install -e '.[test]'")
        pytest.skip(f"atheris has no wheel for {sys.platform} on {platform.machine()} with Python "
                    f"{platform.python_version()}; the fuzz targets need it")


def run_target(name: str, runs: int, tmp_path: Path) -> tuple[int, str]:
    """Run ``python tests/fuzz/<name>.py -seed=1 -runs=RUNS`` with its work files and any crash
    input in ``tmp_path``; return its exit code and output.

    libFuzzer ends the process with C's ``exit()``, whose teardown of Arrow's thread pools can
    deadlock (an IO thread releasing a CSV reader's Python row handler needs the GIL that the
    exiting thread holds; seen once in about forty runs). Once the final statistics are out the
    run is over, so a process still there :data:`EXIT_GRACE` seconds later is killed.
    """
    command = [sys.executable, str(FUZZ / f"{name}.py"), "-seed=1", f"-runs={runs}", "-print_final_stats=1",
               f"-artifact_prefix={tmp_path}{os.sep}", "-timeout=60", "-rss_limit_mb=4096"]
    env = {**os.environ, "FLOWSCAN_FUZZ_TMP": str(tmp_path)}
    log = tmp_path / "fuzz.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        deadline = time.monotonic() + 600
        while process.poll() is None and time.monotonic() < deadline:
            if FINAL_LINE in log.read_text(errors="replace"):
                try:
                    process.wait(timeout=EXIT_GRACE)
                except subprocess.TimeoutExpired:
                    process.kill()
            time.sleep(0.2)
        if process.poll() is None:
            process.kill()
        process.wait()
    return process.returncode, log.read_text(errors="replace")


def failure(output: str) -> str:
    """The part of libFuzzer's output that says what broke (the exception and the input)."""
    start = output.find("=== Uncaught Python exception")
    return output[start:] if start >= 0 else output[-4000:]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_fuzz_target_finds_no_crash(name, tmp_path, atheris_installed):
    code, output = run_target(name, RUNS[name], tmp_path)
    assert "Uncaught Python exception" not in output and code in (0, -signal.SIGKILL), \
        f"{name} found a crash (exit {code}):\n{failure(output)}"
    assert f"Done {RUNS[name]} runs" in output and FINAL_LINE in output, output[-2000:]
