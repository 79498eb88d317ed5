"""Numba kernels of flowscan, shipped as ``flowscan.kernels``.

Kernels take contiguous NumPy arrays and scalars and return arrays. They never import
pyarrow, pandas or typer, and never compile at import: compilation happens on the first call
(or in ``flowscan warmup``). Njit options live in :mod:`flowscan.kernels._jit`.
"""
