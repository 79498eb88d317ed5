"""Deterministic transaction ids for sources that have none.

An id is made from the row's canonical content, so it does not depend on the order of the
input rows, the file name or the chunking: ``g`` + 32 hex digits of a 128-bit content hash,
and ``-k`` for the k-th further row with identical content (k >= 1).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


@jit
def _mix(h, x):
    z = (h ^ x) + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit
def hash_int_column(hashes, values, valid):
    """Fold an integer column into ``hashes`` in place.

    Parameters
    ----------
    hashes : ndarray of uint64, shape (n,)
    values : ndarray of int64, shape (n,)
    valid : ndarray of bool, shape (n,)
        Nulls hash differently from every value.
    """
    for i in range(hashes.shape[0]):
        if valid[i]:
            hashes[i] = _mix(_mix(hashes[i], np.uint64(1)), np.uint64(values[i]))
        else:
            hashes[i] = _mix(hashes[i], np.uint64(2))


@jit
def hash_string_column(hashes, data, offsets, valid):
    """Fold a string column (Arrow data and int64 offsets) into ``hashes`` in place.

    The length is hashed before the bytes, so ("ab", "c") and ("a", "bc") differ.
    """
    for i in range(hashes.shape[0]):
        if not valid[i]:
            hashes[i] = _mix(hashes[i], np.uint64(2))
            continue
        start = offsets[i]
        end = offsets[i + 1]
        h = _mix(_mix(hashes[i], np.uint64(3)), np.uint64(end - start))
        word = np.uint64(0)
        k = 0
        for j in range(start, end):
            word = (word << np.uint64(8)) | np.uint64(data[j])
            k += 1
            if k == 8:
                h = _mix(h, word)
                word = np.uint64(0)
                k = 0
        if k > 0:
            h = _mix(h, word)
        hashes[i] = h


@jit
def occurrence_ordinals(hi, lo, order):
    """Number each row among the rows with the same (hi, lo) hash.

    Parameters
    ----------
    hi, lo : ndarray of uint64, shape (n,)
    order : ndarray of int64, shape (n,)
        A permutation that sorts rows by (hi, lo).

    Returns
    -------
    ordinals : ndarray of int64, shape (n,)
        0 for the first row of each group of equal hashes, 1 for the next, ...
    """
    n = order.shape[0]
    ordinals = np.zeros(n, dtype=np.int64)
    for k in range(1, n):
        a = order[k - 1]
        b = order[k]
        if hi[a] == hi[b] and lo[a] == lo[b]:
            ordinals[b] = ordinals[a] + 1
    return ordinals


@jit
def format_ids(hi, lo, ordinals):
    """Write ids ``g<32 hex digits>[-k]`` as Arrow string buffers.

    Returns
    -------
    data : ndarray of uint8
    offsets : ndarray of int64, shape (n + 1,)
    """
    n = hi.shape[0]
    hexdigits = np.array(
        [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102], dtype=np.uint8
    )
    offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        length = 33
        k = ordinals[i]
        if k > 0:
            length += 1
            while k > 0:
                length += 1
                k //= 10
        offsets[i + 1] = offsets[i] + length
    data = np.empty(offsets[n], dtype=np.uint8)
    for i in range(n):
        p = offsets[i]
        data[p] = 103  # 'g'
        for half in range(2):
            word = hi[i] if half == 0 else lo[i]
            for nibble in range(16):
                shift = np.uint64(60 - 4 * nibble)
                data[p + 1 + 16 * half + nibble] = hexdigits[(word >> shift) & np.uint64(15)]
        k = ordinals[i]
        if k > 0:
            end = offsets[i + 1]
            data[p + 33] = 45  # '-'
            q = end - 1
            while k > 0:
                data[q] = 48 + k % 10
                k //= 10
                q -= 1
    return data, offsets


@jit
def repeated(sorted_hashes):
    """True if any value occurs twice in a sorted uint64 array."""
    for k in range(1, sorted_hashes.shape[0]):
        if sorted_hashes[k] == sorted_hashes[k - 1]:
            return True
    return False
