"""heron's benchmark harness: ``python -m benchmarks --help``.

Workloads live in ``benchmarks/workloads/`` and register themselves; each has
one implementation per system (heron, raw asyncpg, SQLAlchemy ...). The
runner repeats them interleaved and reports medians and ratios to raw
asyncpg as a table, JSON and a chart. Kept out of the test suite.
"""
