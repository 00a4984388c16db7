"""Registered workloads: importing this package registers every one of them.

Add a module here and import it below; see ``benchmarks/registry.py``.
"""

from __future__ import annotations

from benchmarks.workloads import orm, pool

__all__ = ["orm", "pool"]
