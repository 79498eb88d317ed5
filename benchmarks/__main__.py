"""``python -m benchmarks --profile smoke|regular|large``: see :mod:`benchmarks.suite`."""

from .suite import main

main()
