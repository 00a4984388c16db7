"""Object states (transient, pending, persistent, deleted, detached, expired) and
what ``heron.inspect()`` reports about them; unloaded-attribute errors."""

from __future__ import annotations

from typing import Any

import pytest

import heron
from heron import exc
from heron.orm import sessionmaker

from .helpers import seed_users
from .models import Address, User


def _flags(obj: Any) -> dict[str, bool]:
    state = heron.inspect(obj)
    return {
        name: bool(getattr(state, name))
        for name in ("transient", "pending", "persistent", "deleted", "detached")
    }


def _only(name: str) -> dict[str, bool]:
    return {n: n == name for n in ("transient", "pending", "persistent", "deleted", "detached")}


async def test_new_object_is_transient_with_no_session_or_identity(session_factory: Any) -> None:
    user = User(name="alice")
    state = heron.inspect(user)
    assert _flags(user) == _only("transient")
    assert state.session is None
    assert state.key is None
    assert user.id is None
    assert user.fullname is None  # unset column attributes read as None on new objects
    assert user.addresses == []  # a new object's collection is empty, not unloaded
    async with session_factory() as session:
        assert user not in session


async def test_add_makes_object_pending_and_flush_makes_it_persistent(session_factory: Any) -> None:
    async with session_factory() as session:
        user = User(name="alice")
        session.add(user)
        assert _flags(user) == _only("pending")
        assert heron.inspect(user).session is session
        assert user in session

        await session.flush()
        state = heron.inspect(user)
        assert _flags(user) == _only("persistent")
        assert state.identity == (user.id,)
        assert state.key is not None
        assert user in session


async def test_deleted_after_flush_then_detached_after_commit(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        await session.delete(user)
        assert _flags(user) == _only("persistent")  # marked only; nothing sent yet
        await session.flush()
        assert _flags(user) == _only("deleted")
        assert user not in session
        await session.commit()
        # After commit, deleted objects are detached whatever expire_on_commit is.
        assert _flags(user) == _only("detached")
        assert heron.inspect(user).session is None


async def test_close_detaches_every_object(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        loaded = await session.get(User, uid)
        pending = User(name="bob")
        session.add(pending)
    assert _flags(loaded) == _only("detached")
    # a pending object that never reached the database goes back to transient
    assert _flags(pending) == _only("transient")


async def test_expunge_detaches_one_object_and_get_then_loads_a_new_one(
    session_factory: Any, sql_log: Any
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        session.expunge(user)
        assert _flags(user) == _only("detached")
        assert user not in session
        sql_log.clear()
        reloaded = await session.get(User, uid)
        assert reloaded is not user
        assert reloaded.name == "alice"
        assert sql_log.statements, "the expunged identity must be loaded from the database"


async def test_adding_a_detached_object_reattaches_it_as_persistent(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as first:
        user = await first.get(User, uid)
    assert heron.inspect(user).detached
    user.fullname = "Alice Again"
    async with session_factory() as second:
        second.add(user)
        assert _flags(user) == _only("persistent")
        assert user in second.dirty
        assert await second.get(User, uid) is user
        await second.commit()
    async with session_factory() as check:
        assert (await check.get(User, uid)).fullname == "Alice Again"


async def test_attribute_history_reports_added_unchanged_and_deleted(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        user.name = "alicia"
        name_history = heron.inspect(user).attrs["name"].history
        assert list(name_history.added) == ["alicia"]
        assert list(name_history.deleted) == ["alice"]
        assert list(name_history.unchanged) == []
        fullname_history = heron.inspect(user).attrs["fullname"].history
        assert list(fullname_history.unchanged) == ["Alice Full"]
        assert list(fullname_history.added) == []
        await session.flush()
        after = heron.inspect(user).attrs["name"].history
        assert list(after.unchanged) == ["alicia"]
        assert list(after.added) == [] and list(after.deleted) == []


async def test_collection_history_reports_appended_and_removed_children(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        user = User(name="alice", addresses=[Address(email_address="a@x")])
        session.add(user)
        await session.flush()
        kept = user.addresses[0]
        added = Address(email_address="b@x")
        user.addresses.append(added)
        history = heron.inspect(user).attrs["addresses"].history
        assert list(history.added) == [added]
        assert list(history.unchanged) == [kept]
        user.addresses.remove(kept)
        history = heron.inspect(user).attrs["addresses"].history
        assert list(history.deleted) == [kept]


async def test_expire_marks_attributes_unloaded_and_reading_raises(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        session.expire(user)
        assert {"name", "fullname"} <= set(heron.inspect(user).expired_attributes)
        with pytest.raises(exc.UnloadedAttributeError) as info:
            _ = user.name
        message = str(info.value)
        assert "name" in message
        assert "awaitable_attrs" in message
        assert "refresh" in message
        # primary keys of a persistent object stay readable when expired
        assert user.id == uid
        assert await user.awaitable_attrs.name == "alice"
        assert user.name == "alice"  # loaded now
        assert "name" not in heron.inspect(user).expired_attributes


async def test_unloaded_attribute_is_not_swallowed_by_getattr_default(
    session_factory: Any,
) -> None:
    # UnloadedAttributeError must not be an AttributeError, or getattr(obj, name,
    # default) and hasattr() would silently hide the missing load.
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        session.expire(user)
        with pytest.raises(exc.UnloadedAttributeError):
            getattr(user, "fullname", "fallback")


async def test_lazy_relationship_raises_naming_attribute_and_both_fixes(
    session_factory: Any, sql_log: Any
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        sql_log.clear()
        with pytest.raises(exc.UnloadedAttributeError) as info:
            _ = user.addresses
        assert sql_log.all_statements == []  # no hidden I/O
        message = str(info.value)
        assert "addresses" in message
        assert "await" in message and "awaitable_attrs.addresses" in message
        assert "refresh" in message


async def test_awaitable_attrs_and_refresh_load_a_lazy_relationship(session_factory: Any) -> None:
    async with session_factory() as session:
        session.add(User(name="alice", addresses=[Address(email_address="a@x")]))
        await session.commit()
    async with session_factory() as session:
        [user] = (await session.scalars(heron.select(User))).all()
        assert [a.email_address for a in await user.awaitable_attrs.addresses] == ["a@x"]
        assert [a.email_address for a in user.addresses] == ["a@x"]
    async with session_factory() as session:
        [user] = (await session.scalars(heron.select(User))).all()
        await session.refresh(user, ["addresses"])
        assert [a.email_address for a in user.addresses] == ["a@x"]


async def test_unloaded_attribute_of_detached_object_raises_detached_error(
    session_factory: Any,
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
    assert user.name == "alice"  # loaded attributes stay readable when detached
    with pytest.raises(exc.DetachedInstanceError) as info:
        _ = user.addresses
    assert "addresses" in str(info.value)
    with pytest.raises(exc.DetachedInstanceError):
        await user.awaitable_attrs.addresses


async def test_expire_on_commit_true_expires_loaded_attributes(orm_engine: Any) -> None:
    factory = sessionmaker(orm_engine, expire_on_commit=True)
    async with factory() as session:
        user = User(name="alice")
        session.add(user)
        await session.commit()
        assert "name" in heron.inspect(user).expired_attributes
        with pytest.raises(exc.UnloadedAttributeError):
            _ = user.name
        assert user.id is not None
        assert await user.awaitable_attrs.name == "alice"


async def test_expire_on_commit_false_keeps_attributes_readable(session_factory: Any) -> None:
    async with session_factory() as session:
        user = User(name="alice")
        session.add(user)
        await session.commit()
        assert not heron.inspect(user).expired_attributes
        assert user.name == "alice"
    assert user.name == "alice"  # still readable once detached


def test_a_state_with_unset_slots_reads_their_defaults() -> None:
    import weakref

    from heron.orm.state import InstanceState, _gone

    user = User(name="x")
    # how a generated loader creates states: no __init__ call
    state = weakref.ref.__new__(InstanceState, user, _gone)
    assert state.committed is None and state.modified is False
    assert state.deleted_flushed is False and state.insert_order == 0
    assert state.key is None and state.session is None
    with pytest.raises(AttributeError):
        _ = state.mapper
