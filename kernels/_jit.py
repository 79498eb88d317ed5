"""The one place that sets Numba's njit options for every kernel.

- ``cache``: on by default, so a second process loads compiled code from disk. Set
  ``FLOWSCAN_NUMBA_CACHE=0`` to switch it off. Numba writes its cache beside the package when
  it can and otherwise under ``NUMBA_CACHE_DIR`` (or its per-user fallback), so a read-only
  install still works.
- no ``fastmath``: money is compared with thresholds and must stay exact.
- ``nogil``: kernels release the GIL so callers may run them from threads.

Compilation is lazy (no signatures): importing a kernel module compiles nothing.
"""

from __future__ import annotations

import os

import numba

CACHE = os.environ.get("FLOWSCAN_NUMBA_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")

JIT_OPTIONS = {"cache": CACHE, "nogil": True, "fastmath": False, "error_model": "numpy"}


def jit(function):
    """Compile ``function`` lazily with flowscan's options (see module docstring)."""
    return numba.njit(**JIT_OPTIONS)(function)


def parallel_jit(function):
    """Like :func:`jit`, with ``parallel=True`` for ``numba.prange`` loops."""
    return numba.njit(parallel=True, **JIT_OPTIONS)(function)
