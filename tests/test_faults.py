"""Faults (issue 9, part 3), each through the real command in a child process: signals during
the write, a read-only or full output disk, no writable Numba cache, two runs on one output
directory, and a hub account under a memory cap.

The disk cases mount a small tmpfs in a private mount namespace (``unshare --mount``; as a
user without root, ``--map-root-user``); where the machine allows neither they are skipped,
saying why.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flowscan.kernels
from flowscan.rules import ALL_RULES
from flowscan.rundir import RunLock

FLOWSCAN = [sys.executable, "-m", "flowscan"]
OUTPUTS = {"accounts.parquet", "alerts.parquet", "evidence.parquet", "rejects.parquet", "manifest.json", "report.html"}
TIMEOUT = 600


def _flowscan(*args, env=None, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run([*FLOWSCAN, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT,
                          env=env, preexec_fn=preexec_fn)


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def _complete(run: Path) -> bool:
    return run.is_dir() and OUTPUTS <= {p.name for p in run.iterdir()}


# --- signals during the write ---------------------------------------------------------------


def _stop_during_the_write(root: Path, signum: int) -> subprocess.Popen:
    """Start a sample scan into ``root/run`` and send ``signum`` once its staging directory
    holds a written table (the write has begun, the run is not yet in place)."""
    process = subprocess.Popen([*FLOWSCAN, "scan", "--sample", "--out", str(root / "run"), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if any(any(p.glob("*.parquet")) for p in root.glob(".run.*.partial")):
            break
        if process.poll() is not None:
            pytest.fail(f"the run ended before its write could be interrupted: {process.stderr.read()}")
        time.sleep(0.002)
    process.send_signal(signum)
    process.wait(timeout=TIMEOUT)
    return process


def test_sigterm_during_the_write_leaves_nothing_and_a_rerun_succeeds(tmp_path):
    process = _stop_during_the_write(tmp_path, signal.SIGTERM)
    assert process.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in _one_line(process.stderr.read())
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no run, no staging, no lock
    rerun = _flowscan("scan", "--sample", "--out", tmp_path / "run", "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert _complete(tmp_path / "run")


def test_sigkill_during_the_write_leaves_nothing_complete_and_a_rerun_clears_the_debris(tmp_path):
    process = _stop_during_the_write(tmp_path, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "run").exists()
    debris = list(tmp_path.glob(".run.*.partial"))
    assert debris and not any((d / "manifest.json").exists() and (d / "report.html").exists() for d in debris)
    rerun = _flowscan("scan", "--sample", "--out", tmp_path / "run", "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert _complete(tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# --- two runs on one output directory --------------------------------------------------------


def test_a_run_on_a_directory_another_run_is_writing_stops_at_once(tmp_path):
    out = tmp_path / "run"
    with RunLock(out):  # as another run holds it
        done = _flowscan("scan", "--sample", "--out", out)
    assert done.returncode == 1
    assert "another flowscan run is writing this directory" in _one_line(done.stderr)
    assert not out.exists() and not list(tmp_path.glob(".run.*.partial"))


def test_two_runs_started_together_on_one_directory_publish_one_whole_run(tmp_path):
    out = tmp_path / "run"
    args = [*FLOWSCAN, "scan", "--sample", "--out", str(out), "--quiet"]
    processes = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes, errors = [], []
    for process in processes:
        process.wait(timeout=TIMEOUT)
        codes.append(process.returncode)
        errors.append(process.stderr.read())
    assert sorted(codes) == [0, 1], errors
    line = _one_line(errors[codes.index(1)])
    assert "another flowscan run is writing this directory" in line or "the output directory exists" in line
    assert _complete(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    alone = _flowscan("scan", "--sample", "--out", tmp_path / "alone", "--quiet")
    assert alone.returncode == 0, alone.stderr
    for name in ("accounts.parquet", "alerts.parquet", "evidence.parquet"):
        assert (out / name).read_bytes() == (tmp_path / "alone" / name).read_bytes()


# --- disks: read-only, full, filling up ------------------------------------------------------


def _namespace() -> list[str]:
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux's unshare to mount a small file system")
    command = ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    probe = subprocess.run([*command, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here: {probe.stderr.strip()}")
    return command


def _scan_on_tmpfs(tmp_path: Path, mount_options: str, *, fill: int = 0) -> tuple[subprocess.CompletedProcess, str]:
    """Mount a tmpfs at ``tmp_path/disk`` in a private namespace, optionally fill it with
    ``fill`` bytes, scan the sample into it, and list what is left there afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = ('opts="$1"; disk="$2"; fill="$3"; shift 3\n'
              'mount -t tmpfs -o "$opts" tmpfs "$disk" || exit 90\n'
              'if [ "$fill" -gt 0 ]; then head -c "$fill" /dev/zero > "$disk/filler" 2>/dev/null; fi\n'
              '"$@"; code=$?\n'
              'echo "--- left:"; ls -A "$disk" | grep -v "^filler$"\n'
              'exit $code\n')
    command = [*_namespace(), "sh", "-c", script, "sh", mount_options, str(disk), str(fill),
               *FLOWSCAN, "scan", "--sample", "--out", str(disk / "run"), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode != 90, done.stderr
    left = done.stdout.split("--- left:", 1)[1].split()
    return done, left


def test_read_only_output_disk_is_refused_before_the_scan(tmp_path):
    done, left = _scan_on_tmpfs(tmp_path, "size=1m,ro")
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert "read-only file system" in line and "nothing was scanned" in line
    assert left == []


def test_full_output_disk_is_refused_before_the_scan(tmp_path):
    done, left = _scan_on_tmpfs(tmp_path, "size=256k", fill=256 * 1024)
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert "no space left" in line and "nothing was scanned" in line
    assert left == []


def test_disk_filling_up_during_the_write_leaves_nothing(tmp_path):
    # room for the probe and the tables, not for the HTML report
    done, left = _scan_on_tmpfs(tmp_path, "size=512k")
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert "cannot write the run directory (No space left on device); nothing was written" in line
    assert left == []


# --- no writable Numba cache -----------------------------------------------------------------


def test_no_writable_numba_cache_compiles_without_one(tmp_path):
    kernels = Path(flowscan.kernels.__file__).parent
    home = tmp_path / "home"
    home.mkdir()
    script = ('for d in "$1" "$2"; do mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" "$d" || exit 90; done\n'
              'shift 2\nexec "$@"\n')
    env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), NUMBA_CACHE_DIR=str(home / "numba"))
    # one rule, so the compile without a cache stays short; the rest compile the same way
    config = tmp_path / "one-rule.toml"
    config.write_text("[rules]\nskip = [%s]\n" % ", ".join(f'"{n}"' for n in ALL_RULES if n != "structuring"))
    out = tmp_path / "run"
    command = [*_namespace(), "sh", "-c", script, "sh", str(kernels), str(home),
               *FLOWSCAN, "scan", "--sample", "--config", str(config), "--out", str(out), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert done.returncode == 0, done.stderr
    assert "no writable directory for Numba's cache" in done.stderr
    assert "Traceback" not in done.stderr
    assert _complete(out)
    assert not any(home.rglob("*.nbi"))


# --- a hub account under a memory cap --------------------------------------------------------


def _hub_ledger(path: Path, rows: int = 200_000, share: float = 0.5) -> Path:
    """A ledger where one account receives ``share`` of all transactions."""
    rng = np.random.default_rng(7)
    accounts = np.array([f"A{i:06d}" for i in range(rows // 10)])
    senders = rng.integers(0, len(accounts), rows)
    receivers = np.where(rng.random(rows) < share, 0, rng.integers(0, len(accounts), rows))
    seconds = np.sort(rng.integers(0, 90 * 86_400, rows))
    table = pa.table({
        "txn_id": [f"T{i}" for i in range(rows)],
        "timestamp": pa.array((np.datetime64("2024-01-01T00:00:00", "us") + seconds.astype("timedelta64[s]")),
                              pa.timestamp("us", tz="UTC")),
        "sender": accounts[senders], "receiver": accounts[receivers],
        "amount": pa.array(rng.integers(100, 900_000, rows) / 100),
        "currency": ["USD"] * rows,
        "channel": np.where(rng.random(rows) < 0.3, "cash", "wire"),
    })
    pq.write_table(table, path)
    return path


def _loaded_address_space() -> int:
    """Bytes of address space a process holds once flowscan's code is loaded (VmPeak)."""
    code = ("import re, flowscan, flowscan.cli as cli; cli._load_code(flowscan.ScanOptions(), report=True); "
            "print(re.search(r'VmPeak:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True)
    return int(done.stdout) * 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmPeak from /proc (Linux)")
def test_hub_account_under_a_memory_cap_finishes_or_stops_with_one_line(tmp_path):
    ledger = _hub_ledger(tmp_path / "hub.parquet")
    base = _loaded_address_space()
    outcomes = {}
    for extra_mib in (100, 1024):  # too little for this ledger; enough
        cap = base + extra_mib * 2**20

        def limit(cap=cap):
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

        out = tmp_path / f"run-{extra_mib}"
        done = _flowscan("scan", ledger, "--out", out, "--quiet", preexec_fn=limit)
        assert done.returncode in (0, 1), (extra_mib, done.returncode, done.stderr[-2000:])  # never killed
        if done.returncode == 0:
            assert _complete(out)
        else:
            assert re.fullmatch(r"flowscan: error: out of memory.*nothing was written\..*", _one_line(done.stderr))
            assert not out.exists() and not list(tmp_path.glob(f".{out.name}.*"))
        outcomes[extra_mib] = done.returncode
    assert outcomes == {100: 1, 1024: 0}


# --- the debris rules themselves (in process) ------------------------------------------------


def test_an_old_run_renamed_aside_by_a_killed_overwrite_is_put_back(tmp_path):
    from flowscan.rundir import remove_stale_staging

    aside = tmp_path / ".run.abcd1234.old"  # as tempfile.mkdtemp names it
    aside.mkdir()
    (aside / "manifest.json").write_text("{}")
    staging = tmp_path / ".run.zz_99xyz.partial"
    staging.mkdir()
    other = tmp_path / ".run.x.abcd1234.partial"  # another output's ("run.x") staging
    other.mkdir()
    removed = remove_stale_staging(tmp_path / "run")
    assert removed == [staging]
    assert (tmp_path / "run" / "manifest.json").read_text() == "{}" and not aside.exists()
    assert other.is_dir()


def test_an_old_run_beside_a_published_one_is_deleted(tmp_path):
    from flowscan.rundir import remove_stale_staging

    (tmp_path / "run").mkdir()
    aside = tmp_path / ".run.abcd1234.old"
    aside.mkdir()
    assert remove_stale_staging(tmp_path / "run") == [aside]
    assert not aside.exists() and (tmp_path / "run").is_dir()
