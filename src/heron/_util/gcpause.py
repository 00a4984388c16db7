"""Suspend the cyclic garbage collector around large, synchronous object builds.

Layer 0 (pure). Building 10,000 ORM objects allocates tens of thousands of
GC-tracked containers that all survive; CPython's collector then runs its
generation-1/2 passes over them again and again, which measured as 2-4x the
cost of the build itself (benchmarks W1/W3). The builds create no garbage
cycles, so pausing collection for their duration only defers work the
collector would have found nothing to free in. Used only around synchronous
loops (never across an ``await``), and only for large batches.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# below this many objects the collector's passes are cheap enough
THRESHOLD = 1000


@contextmanager
def paused_gc(count: int) -> Iterator[None]:
    """Pause cyclic GC while building ``count`` objects (no-op for small counts)."""
    if count < THRESHOLD or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
