"""Identity map: one row is one object per session, get() answers from memory,
loads never overwrite pending changes, and objects are held weakly unless they
carry changes."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from heron import select

from .helpers import dml, seed_users
from .models import User


async def test_get_twice_returns_the_same_object(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        assert await session.get(User, uid) is await session.get(User, uid)


async def test_get_answers_from_identity_map_without_a_query(
    session_factory: Any, sql_log: Any
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        sql_log.clear()
        assert await session.get(User, uid) is user
        assert sql_log.all_statements == []


async def test_get_of_missing_row_returns_none(session_factory: Any) -> None:
    async with session_factory() as session:
        assert await session.get(User, 424242) is None


async def test_read_only_get_is_one_round_trip(session_factory: Any, sql_log: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    sql_log.clear()
    async with session_factory() as session:
        user = await session.get(User, uid)
        assert user.name == "alice"
    # No BEGIN/ROLLBACK pair around a single read: the SELECT is the only statement.
    assert len(sql_log.all_statements) == 1, sql_log.all_statements
    assert dml(sql_log.all_statements, "select", "orm_user")


async def test_query_returns_the_identity_mapped_object(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        queried = (await session.scalars(select(User).where(User.name == "alice"))).one()
        assert queried is user


async def test_separate_sessions_have_separate_objects(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as one, session_factory() as two:
        assert await one.get(User, uid) is not await two.get(User, uid)


async def test_query_never_overwrites_pending_change_under_no_autoflush(
    session_factory: Any,
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        with session.no_autoflush:
            user.name = "pending-name"
            loaded = (await session.scalars(select(User))).all()
        assert loaded == [user]
        assert user.name == "pending-name"
        assert user in session.dirty


async def test_refetching_a_row_keeps_unflushed_attribute_values(orm_engine: Any) -> None:
    from heron.orm import sessionmaker

    factory = sessionmaker(orm_engine, autoflush=False)
    [uid] = await seed_users(factory, "alice")
    async with factory() as session:
        user = await session.get(User, uid)
        user.fullname = "Unsaved"
        again = (await session.execute(select(User).where(User.id == uid))).scalar_one()
        assert again is user
        assert user.fullname == "Unsaved"
        assert user.name == "alice"


async def test_identity_map_drops_unreferenced_clean_objects(
    session_factory: Any, sql_log: Any
) -> None:
    async with session_factory() as session:
        user = User(name="fleeting")
        session.add(user)
        await session.flush()
        await session.commit()
        uid = user.id
        ref = weakref.ref(user)
        del user
        gc.collect()
        assert ref() is None, "the session must hold clean objects weakly"
        sql_log.clear()
        reloaded = await session.get(User, uid)
        assert reloaded.name == "fleeting"
        assert dml(sql_log.statements, "select", "orm_user"), "identity was no longer mapped"


async def test_identity_map_keeps_modified_unflushed_objects_alive(
    session_factory: Any, sql_log: Any
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        user.name = "changed"
        ref = weakref.ref(user)
        del user
        gc.collect()
        kept = ref()
        assert kept is not None, "an object with pending changes must stay in the session"
        assert kept in session.dirty
        del kept
        sql_log.clear()
        await session.commit()
        assert dml(sql_log.statements, "update", "orm_user")
    async with session_factory() as check:
        assert (await check.get(User, uid)).name == "changed"


async def test_pending_object_without_references_is_still_inserted(session_factory: Any) -> None:
    async with session_factory() as session:
        session.add(User(name="orphaned reference"))
        gc.collect()
        await session.commit()
    async with session_factory() as check:
        names = (await check.scalars(select(User.name))).all()
        assert names == ["orphaned reference"]
