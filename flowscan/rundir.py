"""The run directory's guards: one writer at a time, a writable place checked before the work,
and no debris from a run that was killed.

A run is written into a staging directory beside its target (``.NAME.<random>.partial``) and
renamed into place at the end (:func:`flowscan.scan.write_run`). Around that:

- :class:`RunLock` is an advisory lock (``fcntl.flock``) on ``.NAME.lock`` beside the target.
  A second run on the same output directory stops at once with one line instead of racing the
  first; the lock goes with the process, so a killed run never leaves it held.
- :func:`check_output` runs before the scan: the target must not exist (unless overwriting),
  its parent must accept a small file, and no other run may hold the lock. A read-only or full
  disk is found there, not after minutes of work.
- :func:`remove_stale_staging` deletes staging directories left by a run that was killed
  (SIGKILL cannot be caught). It runs under the lock, when no other run can be writing them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from pathlib import Path

from .errors import DataError

PROBE_BYTES = 1 << 16  # a disk that cannot take 64 KiB cannot take a run
_HELD: dict[str, int] = {}  # lock files this process holds, with their depth


class RunLock:
    """Hold the advisory lock of run directory ``out`` (a context manager).

    Raises
    ------
    DataError
        Another process holds it.
    OSError
        The lock file cannot be created (read-only or full disk, no permission).
    """

    def __init__(self, out):
        self.out = Path(out)
        self.path = self.out.parent / f".{self.out.name}.lock"
        self._fd = None
        self._nested = False

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the final rename still refuses to clobber
            return self

        self.out.parent.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(self.path)
        if key in _HELD:  # this process holds it already (the CLI around write_run): re-enter
            _HELD[key] += 1
            self._nested = True
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise DataError(f"{self.out}: another flowscan run is writing this directory; "
                                f"wait for it to finish or choose another --out") from None
            except BaseException:
                os.close(fd)
                raise
            # the holder before us may have unlinked the file after we opened it: lock the live one
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                _HELD[key] = 1
                return self
            os.close(fd)

    def __exit__(self, *exc) -> None:
        key = os.path.realpath(self.path)
        if key not in _HELD:  # never locked (no fcntl)
            return
        if self._nested:
            _HELD[key] -= 1
            self._nested = False
            return
        if self._fd is not None:
            del _HELD[key]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # while still held, so no one locks a file about to vanish
            os.close(self._fd)
            self._fd = None


def check_output(out, /, *, overwrite: bool = False) -> None:
    """Check before the work starts that run directory ``out`` can be written.

    Raises
    ------
    DataError
        ``out`` exists (and not ``overwrite``) or is not a directory; another run holds its
        lock; its parent is read-only, full, or not writable by this user.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise DataError(f"{out}: the output directory exists; remove it or pass --overwrite")
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a directory")
    try:
        with RunLock(out) as lock:
            probe = lock.path.with_name(f".{out.name}.{os.getpid()}.probe")
            try:
                with open(probe, "wb") as handle:
                    handle.write(b"\0" * PROBE_BYTES)
                    handle.flush()
                    os.fsync(handle.fileno())
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(probe)
    except OSError as error:
        reason = {errno.EROFS: "is on a read-only file system", errno.ENOSPC: "has no space left",
                  errno.EDQUOT: "is over its disk quota", errno.EACCES: "is not writable by this user",
                  errno.EPERM: "is not writable by this user"}.get(error.errno, error.strerror or str(error))
        raise DataError(f"{out.parent}: cannot write the run directory here: the folder {reason}; "
                        f"nothing was scanned") from None


def _leftovers(out: Path, suffix: str) -> list[Path]:
    # exactly the names tempfile.mkdtemp(prefix=".NAME.", suffix=...) makes for this ``out``,
    # never another output's (".run.x.*" is not ".run"'s)
    pattern = re.compile(rf"\.{re.escape(out.name)}\.[a-z0-9_]{{8}}{re.escape(suffix)}")
    return sorted(p for p in out.parent.glob(f".{out.name}.*{suffix}") if pattern.fullmatch(p.name) and p.is_dir())


def remove_stale_staging(out) -> list[Path]:
    """Clear what a killed run left beside ``out``; call under its lock. Returns what was removed.

    Staging directories (``.NAME.*.partial``) are deleted. A run killed in the middle of an
    ``--overwrite`` swap may have left the old run renamed aside (``.NAME.*.old``) and no
    ``out``: the old run is put back; beside an ``out`` it is deleted.
    """
    out = Path(out)
    removed = []
    for path in _leftovers(out, ".partial"):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    for path in sorted(_leftovers(out, ".old"), key=lambda p: p.stat().st_mtime, reverse=True):
        if not out.exists():
            os.replace(path, out)
        else:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
