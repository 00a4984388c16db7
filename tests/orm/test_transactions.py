"""Transactions seen through the Session: flush vs commit visibility, rollback
effects on objects, failed flushes, Session_.begin(), savepoints, closing, and
one-task-at-a-time use."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import heron
from heron import exc, select

from .helpers import rows, seed_users, user_names
from .models import Address, Tag, User


class Boom(Exception):
    pass


async def test_flushed_rows_are_invisible_to_other_sessions_until_commit(
    session_factory: Any,
) -> None:
    async with session_factory() as writer:
        writer.add(User(name="soon"))
        await writer.flush()
        assert await user_names(session_factory) == []
        await writer.commit()
        assert await user_names(session_factory) == ["soon"]


async def test_rollback_turns_inserted_objects_back_into_transient(session_factory: Any) -> None:
    async with session_factory() as session:
        user = User(name="temp", addresses=[Address(email_address="t@x")])
        session.add(user)
        await session.flush()
        assert user.id is not None
        address = user.addresses[0]
        await session.rollback()
        for obj in (user, address):
            state = heron.inspect(obj)
            assert state.transient
            assert state.key is None
            assert obj not in session
        assert user.id is None and address.id is None  # generated keys reset
        assert user.name == "temp"  # other attributes are kept
    assert await user_names(session_factory) == []


async def test_rollback_keeps_keys_the_application_set(session_factory: Any) -> None:
    async with session_factory() as session:
        given = User(id=4242, name="given")
        generated = User(name="generated")
        session.add_all([given, generated])
        await session.flush()
        await session.rollback()
        assert given.id == 4242 and generated.id is None
        # once rolled back, a state whose key was generated may get a key
        # from the application: a later rollback keeps that one
        generated.id = 4343
        session.add(generated)
        await session.flush()
        await session.rollback()
        assert generated.id == 4343


async def test_savepoint_rollback_then_application_key_survives_the_outer_rollback(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        user = User(name="u")
        async with session.begin_nested() as sp:
            session.add(user)
            await session.flush()
            assert user.id is not None
            await sp.rollback()
        assert user.id is None and heron.inspect(user).transient
        user.id = 5151
        session.add(user)
        await session.flush()
        await session.rollback()
        assert user.id == 5151 and heron.inspect(user).transient


async def test_rolled_back_transient_object_can_be_added_again(session_factory: Any) -> None:
    async with session_factory() as session:
        user = User(name="again")
        session.add(user)
        await session.flush()
        await session.rollback()
        session.add(user)
        await session.commit()
        assert user.id is not None
    assert await user_names(session_factory) == ["again"]


async def test_rollback_restores_objects_deleted_in_the_transaction(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        await session.delete(user)
        await session.flush()
        assert user not in session
        await session.rollback()
        assert user in session
        assert heron.inspect(user).persistent
        assert await session.get(User, uid) is user
    assert await user_names(session_factory) == ["alice"]


async def test_rollback_expires_modified_objects_and_primary_key_stays_readable(
    session_factory: Any,
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        user.name = "changed"
        await session.flush()
        await session.rollback()
        assert "name" in heron.inspect(user).expired_attributes
        assert user.id == uid
        with pytest.raises(exc.UnloadedAttributeError):
            _ = user.name
        assert await user.awaitable_attrs.name == "alice"


async def test_failed_flush_requires_rollback_before_further_use(session_factory: Any) -> None:
    async with session_factory() as session:
        session.add(Tag(name="dup"))
        await session.commit()
        session.add(Tag(name="dup"))
        with pytest.raises(exc.IntegrityError):
            await session.flush()
        with pytest.raises(exc.PendingRollbackError):
            await session.execute(select(Tag))
        with pytest.raises(exc.PendingRollbackError):
            await session.flush()
        with pytest.raises(exc.PendingRollbackError):
            await session.commit()
        await session.rollback()
        tags = (await session.scalars(select(Tag.name))).all()
        assert tags == ["dup"]
        session.add(Tag(name="fresh"))
        await session.commit()
    assert sorted(r[0] for r in await rows(session_factory, Tag.name)) == ["dup", "fresh"]


async def test_sessionmaker_begin_commits_at_exit(session_factory: Any) -> None:
    async with session_factory.begin() as session:
        session.add(User(name="committed"))
    assert await user_names(session_factory) == ["committed"]


async def test_sessionmaker_begin_rolls_back_on_error(session_factory: Any) -> None:
    with pytest.raises(Boom):
        async with session_factory.begin() as session:
            session.add(User(name="discarded"))
            await session.flush()
            raise Boom
    assert await user_names(session_factory) == []


async def test_savepoint_rollback_undoes_only_its_own_changes(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        alice = await session.get(User, uid)
        alice.fullname = "before savepoint"
        outer = User(name="outer")
        session.add(outer)
        await session.flush()
        inner = User(name="inner")
        with pytest.raises(Boom):
            async with session.begin_nested():
                alice.fullname = "inside savepoint"
                session.add(inner)
                await session.flush()
                raise Boom
        assert heron.inspect(inner).transient and inner.id is None
        assert heron.inspect(outer).persistent and outer.id is not None
        fullname = await session.scalar(select(User.fullname).where(User.id == uid))
        assert fullname == "before savepoint"
        await session.commit()
    assert await rows(session_factory, User.name, User.fullname, order_by=User.id) == [
        ("alice", "before savepoint"),
        ("outer", None),
    ]


async def test_released_savepoint_is_undone_by_outer_rollback(session_factory: Any) -> None:
    async with session_factory() as session:
        async with session.begin_nested():
            session.add(User(name="nested"))
        assert (await session.scalars(select(User.name))).all() == ["nested"]
        await session.rollback()
    assert await user_names(session_factory) == []


async def test_savepoint_commit_keeps_changes_for_outer_commit(session_factory: Any) -> None:
    async with session_factory() as session:
        session.add(User(name="outer"))
        async with session.begin_nested():
            session.add(User(name="nested"))
        await session.commit()
    assert await user_names(session_factory) == ["outer", "nested"]


async def test_close_releases_connection_and_discards_uncommitted_work(
    session_factory: Any, orm_engine: Any
) -> None:
    session = session_factory()
    session.add(User(name="uncommitted"))
    await session.flush()
    assert orm_engine.pool.stats().checked_out == 1
    await session.close()
    assert orm_engine.pool.stats().checked_out == 0
    assert await user_names(session_factory) == []


async def test_commit_returns_connection_to_pool(session_factory: Any, orm_engine: Any) -> None:
    async with session_factory() as session:
        session.add(User(name="x"))
        await session.commit()
        assert orm_engine.pool.stats().checked_out == 0


async def test_second_task_using_busy_session_gets_transaction_state_error(
    session_factory: Any,
) -> None:
    await seed_users(session_factory, *[f"u{i}" for i in range(50)])
    async with session_factory() as session:
        async with asyncio.timeout(30):
            first = asyncio.create_task(session.execute(select(User)))
            await asyncio.sleep(0)  # let it start and suspend inside the query
            assert not first.done()
            with pytest.raises(exc.TransactionStateError) as info:
                await session.execute(select(User.name))
            assert "execute" in str(info.value)
            result = await first
        assert len(result.scalars().all()) == 50
        # the session is fine afterwards
        assert len((await session.scalars(select(User))).all()) == 50


async def test_second_task_flushing_during_flush_gets_transaction_state_error(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        session.add_all([User(name=f"u{i}") for i in range(200)])
        async with asyncio.timeout(30):
            first = asyncio.create_task(session.flush())
            await asyncio.sleep(0)
            assert not first.done()
            with pytest.raises(exc.TransactionStateError) as info:
                await session.commit()
            assert "flush" in str(info.value)
            await first
        await session.commit()
    assert len(await user_names(session_factory)) == 200


async def test_savepoint_rollback_expires_only_rows_written_inside_it(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        outside = User(name="outside", fullname="kept")
        inside = User(name="inside", fullname="before")
        session.add_all([outside, inside])
        await session.flush()

        class Boom(Exception):
            pass

        with pytest.raises(Boom):
            async with session.begin_nested():
                inside.fullname = "changed"
                await session.flush()
                raise Boom

        # untouched inside the savepoint: still loaded, no I/O needed
        assert outside.fullname == "kept"
        # written inside the savepoint: expired, and reloads the pre-savepoint value
        assert "fullname" in heron.inspect(inside).expired_attributes
        with pytest.raises(exc.UnloadedAttributeError):
            inside.fullname  # noqa: B018 - reading it is the point
        assert await inside.awaitable_attrs.fullname == "before"
        await session.commit()


# --- commit of a single-row UPDATE --------------------------------------------------


async def test_commit_of_one_changed_row_sends_the_update_alone(
    session_factory: Any, sql_log: Any
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        user.fullname = "Alice A."
        sql_log.clear()
        await session.commit()
        # one statement is atomic by itself: no BEGIN ... COMMIT around it
        assert [s.split()[0] for s in sql_log.all_statements] == ["UPDATE"]
        assert user.fullname == "Alice A."
    assert await rows(session_factory, User.name, User.fullname) == [("alice", "Alice A.")]


async def test_commit_of_two_changed_rows_is_one_transaction(
    session_factory: Any, sql_log: Any
) -> None:
    uids = await seed_users(session_factory, "alice", "bob")
    async with session_factory() as session:
        users = [await session.get(User, uid) for uid in uids]
        for user in users:
            user.fullname = "changed"
        sql_log.clear()
        await session.commit()
        verbs = [s.split()[0] for s in sql_log.all_statements]
        assert verbs[0] == "BEGIN" and verbs[-1] == "COMMIT" and "UPDATE" in verbs


async def test_one_row_update_after_earlier_flush_stays_in_its_transaction(
    session_factory: Any, sql_log: Any
) -> None:
    uids = await seed_users(session_factory, "alice", "bob")
    async with session_factory() as session:
        (await session.get(User, uids[0])).fullname = "first"
        await session.flush()  # opens the transaction
        (await session.get(User, uids[1])).fullname = "second"
        sql_log.clear()
        await session.commit()
        # the transaction the flush opened carries the UPDATE and ends with COMMIT
        assert [s.split()[0] for s in sql_log.all_statements] == ["UPDATE", "COMMIT"]
    assert await rows(session_factory, User.fullname) == [("first",), ("second",)]


async def test_one_row_update_is_rolled_back_with_an_earlier_flush(
    session_factory: Any,
) -> None:
    uids = await seed_users(session_factory, "alice", "bob")
    async with session_factory() as session:
        (await session.get(User, uids[0])).fullname = "first"
        await session.flush()
        (await session.get(User, uids[1])).fullname = "second"
        await session.flush()
        await session.rollback()
    # both changes were one transaction: the rollback undid the flushed one too
    assert await rows(session_factory, User.fullname) == [("Alice Full",), ("Bob Full",)]


async def test_failed_one_row_update_writes_nothing_and_needs_rollback(
    session_factory: Any,
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        async with session_factory() as other:
            await other.delete(await other.get(User, uid))
            await other.commit()
        user.fullname = "gone"
        with pytest.raises(exc.StaleDataError):
            await session.commit()
        with pytest.raises(exc.PendingRollbackError):
            await session.execute(select(User))
        await session.rollback()
        assert await session.get(User, uid) is None
    assert await rows(session_factory, User.name) == []


async def test_changed_primary_key_is_not_sent_alone(session_factory: Any, sql_log: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        user.id = uid + 100
        sql_log.clear()
        await session.commit()
        verbs = [s.split()[0] for s in sql_log.all_statements]
        assert verbs[0] == "BEGIN" and verbs[-1] == "COMMIT"
    assert await rows(session_factory, User.id) == [(uid + 100,)]


async def test_one_row_update_commits_while_a_stream_left_its_transaction_open(
    session_factory: Any,
) -> None:
    # a stream not read to the end keeps the transaction it began on the
    # session's connection: the UPDATE runs inside it, so commit() must COMMIT
    await seed_users(session_factory, "alice", "bob")
    async with session_factory() as session:
        result = await session.stream_scalars(
            select(User).order_by(User.id).execution_options(yield_per=1)
        )
        async for user in result:
            user.fullname = "changed"
            break
        await session.commit()
    assert await rows(session_factory, User.name, User.fullname, order_by=User.id) == [
        ("alice", "changed"),
        ("bob", "Bob Full"),
    ]
