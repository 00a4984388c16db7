"""Failure paths: failed flushes in savepoints, cancellation at each step, rollback edge cases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from heron import exc, inspect, select

from .models import Address, Tag, User


async def _count(session_factory: Any, stmt: Any) -> list[Any]:
    async with session_factory() as s:
        return list((await s.execute(stmt)).all())


async def test_failed_flush_inside_savepoint_keeps_outer_work(session_factory: Any) -> None:
    """An error flushed inside begin_nested() must not silently lose outer work."""
    async with session_factory() as s:
        s.add(Tag(name="dup"))
        await s.commit()
    async with session_factory() as s:
        u = User(name="outer")
        s.add(u)
        await s.flush()
        with pytest.raises(exc.HeronError):
            async with s.begin_nested():
                s.add(Tag(name="dup"))
                await s.flush()
        # the session accepted the savepoint rollback and carries on
        assert inspect(u).persistent
        await s.commit()
    rows = await _count(session_factory, select(User.name))
    assert rows == [("outer",)], "outer work flushed before the savepoint was lost"


async def test_insert_then_delete_then_rollback_is_transient(session_factory: Any) -> None:
    async with session_factory() as s:
        u = User(name="x")
        s.add(u)
        await s.flush()
        await s.delete(u)
        await s.flush()
        await s.rollback()
        s.add(u)
        await s.commit()
    # the rolled-back object is added again: it must be inserted
    assert await _count(session_factory, select(User.name)) == [("x",)]


async def test_insert_then_delete_then_rollback_state(session_factory: Any) -> None:
    async with session_factory() as s:
        u = User(name="x")
        s.add(u)
        await s.flush()
        await s.delete(u)
        await s.flush()
        await s.rollback()
        assert inspect(u).transient, inspect(u)
        assert u not in s


async def test_savepoint_rollback_removes_child_from_loaded_collection(
    session_factory: Any,
) -> None:
    async with session_factory() as s:
        u = User(name="u", addresses=[])
        s.add(u)
        await s.commit()
        async with s.begin_nested() as sp:
            a = Address(email_address="a@x")
            u.addresses.append(a)
            await s.flush()
            await sp.rollback()
        assert inspect(a).transient
        # u.addresses must not still list a row the savepoint rollback removed
        coll = await u.awaitable_attrs.addresses
        assert a not in coll


async def test_m2o_reassign_with_unloaded_old_value_then_delete_old_parent(
    session_factory: Any,
) -> None:
    """The stale old collection makes the delete cascade remove a moved child."""
    async with session_factory() as s:
        u1 = User(name="u1", addresses=[Address(email_address="a@x")])
        u2 = User(name="u2")
        s.add_all([u1, u2])
        await s.commit()
        a = u1.addresses[0]
        s.expire(a, ["user"])  # many-to-one side unloaded, old parent's list loaded
        a.user = u2
        await s.commit()
        await s.delete(u1)  # cascade="all, delete-orphan" on User.addresses
        await s.commit()
    assert await _count(session_factory, select(Address.email_address)) == [("a@x",)]


async def test_refresh_with_pending_orphan_removal_does_not_delete_siblings(
    session_factory: Any,
) -> None:
    async with session_factory() as s:
        u = User(
            name="u",
            addresses=[Address(email_address="a1"), Address(email_address="a2")],
        )
        s.add(u)
        await s.commit()
        a1 = u.addresses[0]
        u.addresses.remove(a1)  # a1 is an orphan (delete-orphan)
        await s.refresh(u)  # autoflushes
        await s.commit()
    rows = await _count(session_factory, select(Address.email_address))
    assert rows == [("a2",)]


async def test_m2o_reassign_with_unloaded_old_value_in_memory(session_factory: Any) -> None:
    async with session_factory() as s:
        u1 = User(name="u1", addresses=[Address(email_address="a@x")])
        u2 = User(name="u2")
        s.add_all([u1, u2])
        await s.commit()
        a = u1.addresses[0]
        s.expire(a, ["user"])
        a.user = u2
        assert a in u2.addresses
        assert a not in u1.addresses, "old parent's loaded collection still holds the child"


@pytest.mark.parametrize("steps", range(8))
async def test_cancel_mid_flush_then_rollback_recovers(
    session_factory: Any, orm_engine: Any, steps: int
) -> None:
    """Cancel a flush at its N-th suspension point: rollback() must fully recover."""
    async with session_factory() as s:
        s.add_all([User(name=f"u{i}") for i in range(3)])
        task = asyncio.ensure_future(s.flush())
        for _ in range(steps + 1):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await s.rollback()
        assert orm_engine.pool.stats().checked_out == 0
        s.add(User(name="after"))
        await s.commit()
    names = sorted(r[0] for r in await _count(session_factory, select(User.name)))
    assert "after" in names


async def test_cancel_at_begin_of_flush_gives_pending_rollback_error(
    session_factory: Any,
) -> None:
    """A flush cancelled while sending BEGIN: the next call must say 'rollback()'."""
    async with session_factory() as s:
        s.add(User(name="u"))
        task = asyncio.ensure_future(s.flush())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(exc.PendingRollbackError):
            await s.execute(select(User))


async def test_commit_after_failed_statement_does_not_report_success(
    session_factory: Any,
) -> None:
    """A DML statement that fails inside the transaction: commit must not pretend."""
    from heron import insert

    async with session_factory() as s:
        s.add(Tag(name="dup"))
        await s.commit()
    async with session_factory() as s:
        s.add(User(name="kept?"))
        await s.flush()
        with pytest.raises(exc.HeronError):
            await s.execute(insert(Tag), [{"name": "dup"}])
        committed = True
        try:
            await s.commit()
        except exc.HeronError:
            committed = False
    rows = await _count(session_factory, select(User.name))
    assert (rows == [("kept?",)]) == committed, (rows, committed)


@pytest.mark.parametrize("steps", range(8))
async def test_cancel_mid_commit_leaves_consistent_session(
    session_factory: Any, orm_engine: Any, steps: int
) -> None:
    """After a cancelled commit the session either demands rollback() or matches the DB."""
    async with session_factory() as s:
        u = User(name="u")
        s.add(u)
        await s.flush()
        task = asyncio.ensure_future(s.commit())
        for _ in range(steps + 1):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        in_db = bool(await _count(session_factory, select(User.id).where(User.name == "u")))
        if not in_db:
            # the row is gone, so the session must not keep treating u as persistent
            with pytest.raises(exc.PendingRollbackError):
                await s.execute(select(User.id))
            await s.rollback()
            assert inspect(u).transient
        assert orm_engine.pool.stats().checked_out == 0


async def test_rollback_after_cancelled_but_durable_commit_does_not_undo_it(
    session_factory: Any,
) -> None:
    """The COMMIT finished (shielded) although the task was cancelled: a rollback()
    afterwards must not turn the committed object transient (re-adding it duplicates the row)."""
    async with session_factory() as s:
        u = User(name="u")
        s.add(u)
        await s.flush()
        task = asyncio.ensure_future(s.commit())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _count(session_factory, select(User.name)) == [("u",)]  # durable
        await s.rollback()  # what an error handler does after a failed commit
        s.add(u)
        await s.commit()
    assert await _count(session_factory, select(User.name)) == [("u",)]
