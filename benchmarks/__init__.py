"""Benchmarks: each ``bench_*.py`` module has ``main()`` and prints its figure as a ratio to a
baseline measured in the same run. ``make bench`` (``python -m benchmarks``) runs them all;
``python -m benchmarks NAME ...`` runs some (e.g. ``python -m benchmarks etl recommendations``)."""
