"""The one place that sets Numba's njit options for every kernel.

- ``cache``: on by default, so a second process loads compiled code from disk. Set
  ``FLOWSCAN_NUMBA_CACHE=0`` to switch it off. Numba writes its cache under ``NUMBA_CACHE_DIR``
  when set and writable, else beside the package, else in the user's cache directory. When none
  of them is writable (a read-only install run by a user without a home), the kernels compile
  without a cache and :class:`NumbaCacheWarning` says so once: every process then pays the
  compile time, but nothing fails.
- no ``fastmath``: money is compared with thresholds and must stay exact.
- ``nogil``: kernels release the GIL so callers may run them from threads.

Compilation is lazy (no signatures): importing a kernel module compiles nothing.
"""

from __future__ import annotations

import os
import warnings

import numba

CACHE = os.environ.get("FLOWSCAN_NUMBA_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")

JIT_OPTIONS = {"cache": CACHE, "nogil": True, "fastmath": False, "error_model": "numpy"}


class NumbaCacheWarning(UserWarning):
    """No writable directory for Numba's cache: kernels compile in every process."""


_warned = []


def _njit(function, **extra):
    options = dict(JIT_OPTIONS, **extra)
    if options["cache"]:
        try:
            return numba.njit(**options)(function)
        except RuntimeError as error:  # numba: "cannot cache function ...: no locator available"
            if "no locator available" not in str(error):
                raise
            if not _warned:
                _warned.append(True)
                warnings.warn("no writable directory for Numba's cache (set NUMBA_CACHE_DIR to one); "
                              "compiling without a cache, so every run pays the compile time",
                              NumbaCacheWarning, stacklevel=3)
            options["cache"] = False
    return numba.njit(**options)(function)


def jit(function):
    """Compile ``function`` lazily with flowscan's options (see module docstring)."""
    return _njit(function)


def parallel_jit(function):
    """Like :func:`jit`, with ``parallel=True`` for ``numba.prange`` loops."""
    return _njit(function, parallel=True)
