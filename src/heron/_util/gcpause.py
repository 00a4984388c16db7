"""Suspend the cyclic garbage collector around large, synchronous object builds.

Layer 0 (pure). Building 10,000 ORM objects allocates tens of thousands of
GC-tracked containers that all survive; CPython's collector then runs its
generation-1/2 passes over them again and again, which measured as 2-4x the
cost of the build itself (benchmarks W1/W3). The builds create no garbage
cycles, so pausing collection for their duration only defers work the
collector would have found nothing to free in. Used only around synchronous
loops (never across an ``await``), and only for large batches.

Pausing alone leaves the objects in the youngest generation, so the first
collection after the pause still traverses all of them (about a third of the
build's own cost, benchmarks W3/W7), and they are traversed once more on
their way through the middle generation. When the pause ends they are
therefore *promoted* straight to the oldest generation (``gc.freeze()`` then
``gc.unfreeze()``: two list splices, no traversal), where objects that
survive a while end up anyway. Promotion is bounded, because objects moved
this way do not count towards CPython's trigger for a full collection, and
cyclic garbage among them (say, a finished request's parent <-> child graph)
waits for the next one: at most ``budget`` objects are promoted between two
full collections; past that, objects age normally. It is off in a process
whose application keeps objects frozen with ``gc.freeze()`` (a pre-fork
server), since ``unfreeze`` would thaw them; that is checked in each process
and again after each full collection. ``configure_gc`` sets the budget
(0 turns promotion off).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

from heron import exc

# below this many objects the collector's passes are cheap enough
THRESHOLD = 1000

# objects promoted per full-collection cycle at most: about ten 10,000-row
# loads, so cyclic garbage that skipped the accounting stays bounded
DEFAULT_PROMOTE_BUDGET = 300_000


class _Promotion:
    """Bookkeeping for promotion: budget, use since the last full collection."""

    __slots__ = ("app_freezes", "budget", "checked_pid", "full_seen", "used")

    def __init__(self) -> None:
        self.budget = DEFAULT_PROMOTE_BUDGET
        self.used = 0
        self.full_seen = -1
        self.checked_pid = 0
        self.app_freezes = False


_promotion = _Promotion()


def configure_gc(*, promote_budget: int = DEFAULT_PROMOTE_BUDGET) -> None:
    """Set how many freshly built objects heron may promote to the oldest GC
    generation between two full collections (0 turns promotion off).

    Large loads and flushes build their objects with the collector paused and
    then move them to the oldest generation, so the collector does not
    traverse them again while they are young. Objects moved this way do not
    count towards CPython's trigger for a full collection; the budget bounds
    how many may pile up (and how much cyclic garbage among them may wait)
    between two full collections. See docs/orm.md, "Garbage collection".
    """
    if promote_budget < 0:
        raise exc.ArgumentError(
            f"configure_gc(promote_budget={promote_budget!r}): the budget is a number"
            " of objects, 0 or more (0 turns promotion off)"
        )
    _promotion.budget = promote_budget


def _promote() -> None:
    """Move the youngest generations' objects to the oldest, within the budget."""
    p = _promotion
    if p.budget <= 0:
        return
    full = gc.get_stats()[2]["collections"]
    pid = os.getpid()
    if full != p.full_seen or pid != p.checked_pid:
        p.full_seen = full
        p.used = 0
        # objects the application froze must stay frozen; checked again after
        # each full collection (its cost dwarfs this walk) and in a forked worker
        p.checked_pid = pid
        p.app_freezes = gc.get_freeze_count() > 0
    if p.app_freezes:
        return
    young = gc.get_count()[0]
    if p.used + young > p.budget:
        return
    gc.freeze()
    gc.unfreeze()
    p.used += young


@contextmanager
def paused_gc(count: int) -> Iterator[None]:
    """Pause cyclic GC while building ``count`` objects (no-op for small counts);
    promote what was built when done."""
    if count < THRESHOLD or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        _promote()
        gc.enable()
