"""Large builds are promoted to the oldest GC generation, within a budget.

``heron._util.gcpause.paused_gc`` pauses the collector around a large build
and then moves the young generations to the oldest one (docs/orm.md,
"Garbage collection"). These tests check where objects end up, that the
budget and ``configure_gc(promote_budget=0)`` stop promotion, that a full
collection renews the budget, that objects an application froze stay frozen,
and that a real 1,500-row load on each backend lands in the oldest generation.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from heron import exc, insert, select
from heron._util import gcpause
from heron.orm import configure_gc

from .models import User


class _Thing:
    """A GC-tracked object whose generation the tests look up."""


def _generation_of(obj: object) -> int | None:
    for generation in (0, 1, 2):
        if any(o is obj for o in gc.get_objects(generation)):
            return generation
    return None


@pytest.fixture(autouse=True)
def _fresh_budget() -> Iterator[None]:
    """Each test starts after a full collection with the default budget."""
    assert gc.get_freeze_count() == 0
    gc.collect()
    configure_gc()
    yield
    configure_gc()
    gc.unfreeze()


def _build(n: int) -> list[_Thing]:
    with gcpause.paused_gc(n):
        return [_Thing() for _ in range(n)]


def test_a_large_build_lands_in_the_oldest_generation() -> None:
    things = _build(2000)
    assert gc.isenabled()
    assert _generation_of(things[0]) == 2
    assert _generation_of(things[-1]) == 2


def test_a_small_build_is_left_to_the_collector() -> None:
    things = _build(10)
    assert _generation_of(things[0]) == 0


def test_budget_zero_turns_promotion_off() -> None:
    configure_gc(promote_budget=0)
    things = _build(2000)
    assert gc.isenabled()
    assert _generation_of(things[0]) in (0, 1)


def test_the_budget_bounds_promotion_until_the_next_full_collection() -> None:
    configure_gc(promote_budget=3000)
    first = _build(2000)
    second = _build(2000)  # 2,000 more would exceed 3,000 since the last full collection
    assert _generation_of(first[0]) == 2
    assert _generation_of(second[0]) in (0, 1)
    gc.collect()  # a full collection renews the budget
    third = _build(2000)
    assert _generation_of(third[0]) == 2


def test_objects_the_application_froze_stay_frozen() -> None:
    frozen = _Thing()
    gc.freeze()
    try:
        frozen_count = gc.get_freeze_count()
        gc.collect()  # heron looks at the frozen set again after a full collection
        things = _build(2000)
        assert gc.get_freeze_count() == frozen_count
        assert _generation_of(frozen) is None  # still in the permanent generation
        assert _generation_of(things[0]) in (0, 1)
    finally:
        gc.unfreeze()
    gc.collect()
    assert _generation_of(_build(2000)[0]) == 2  # promotion is back once nothing is frozen


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(exc.ArgumentError, match="promote_budget=-1"):
        configure_gc(promote_budget=-1)


async def test_a_large_load_lands_in_the_oldest_generation(session_factory: Any) -> None:
    async with session_factory() as session:
        await session.execute(
            insert(User), [{"name": f"u{i}", "fullname": None} for i in range(1500)]
        )
        await session.commit()
    async with session_factory() as session:
        gc.collect()
        users = (await session.scalars(select(User).order_by(User.id))).all()
        assert len(users) == 1500
        assert users[0].name == "u0" and users[-1].name == "u1499"
        assert _generation_of(users[0]) == 2
        assert _generation_of(users[-1]) == 2
        assert gc.isenabled()
