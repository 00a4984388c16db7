"""Session API: add, new/dirty/deleted, autoflush, queries, refresh, expire, merge,
type checks at flush, ORM-enabled UPDATE/DELETE, bulk insert; classic and mixin
mappings round-trip through a session."""

from __future__ import annotations

from typing import Any

import pytest

import heron
from heron import delete, exc, insert, select, update
from heron.orm import Session, sessionmaker

from .helpers import dml, rows, seed_users, user_names
from .models import Address, Memo, Note, User, Widget


class NotMapped:
    pass


async def test_add_of_unmapped_object_fails_at_once_without_io(
    session_factory: Any, sql_log: Any
) -> None:
    async with session_factory() as session:
        sql_log.clear()
        with pytest.raises(exc.HeronError) as info:
            session.add(NotMapped())
        assert "NotMapped" in str(info.value)
        with pytest.raises(exc.HeronError):
            session.add_all([User(name="fine"), NotMapped()])
        assert sql_log.all_statements == []


async def test_add_all_makes_every_object_pending(session_factory: Any) -> None:
    async with session_factory() as session:
        users = [User(name=f"u{i}") for i in range(3)]
        session.add_all(users)
        assert all(u in session.new for u in users)
        await session.commit()
    assert await user_names(session_factory) == ["u0", "u1", "u2"]


async def test_session_constructed_directly_on_engine_works(orm_engine: Any) -> None:
    async with Session(orm_engine) as session:
        session.add(User(name="direct"))
        await session.commit()
    async with Session(orm_engine) as session:
        assert [u.name for u in (await session.scalars(select(User))).all()] == ["direct"]


async def test_new_dirty_and_deleted_track_pending_changes(session_factory: Any) -> None:
    a_id, b_id = await seed_users(session_factory, "a", "b")
    async with session_factory() as session:
        a = await session.get(User, a_id)
        b = await session.get(User, b_id)
        c = User(name="c")
        assert len(session.new) == 0 and len(session.dirty) == 0 and len(session.deleted) == 0
        session.add(c)
        a.name = "a2"
        await session.delete(b)
        assert c in session.new and len(session.new) == 1
        assert a in session.dirty and b not in session.dirty
        assert b in session.deleted and len(session.deleted) == 1
        await session.flush()
        assert len(session.new) == 0 and len(session.dirty) == 0 and len(session.deleted) == 0
        await session.commit()
    assert await user_names(session_factory) == ["a2", "c"]


async def test_query_autoflushes_pending_objects(session_factory: Any, sql_log: Any) -> None:
    async with session_factory() as session:
        session.add(User(name="auto"))
        sql_log.clear()
        found = (await session.scalars(select(User).where(User.name == "auto"))).all()
        assert [u.name for u in found] == ["auto"]
        assert dml(sql_log.statements, "insert", "orm_user")


async def test_get_autoflushes_before_reaching_the_database(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        session.add(User(name="pending"))
        user = await session.get(User, uid)  # not in the identity map: goes to the database
        assert user.name == "alice"
        assert len(session.new) == 0


async def test_no_autoflush_block_keeps_changes_out_of_queries(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        with session.no_autoflush:
            user.name = "renamed"
            session.add(User(name="extra"))
            names = (await session.scalars(select(User.name).order_by(User.id))).all()
            assert names == ["alice"]
            assert user in session.dirty
        await session.flush()
        names = (await session.scalars(select(User.name).order_by(User.id))).all()
        assert names == ["renamed", "extra"]


async def test_autoflush_false_session_does_not_flush_before_queries(orm_engine: Any) -> None:
    factory = sessionmaker(orm_engine, autoflush=False)
    async with factory() as session:
        session.add(User(name="later"))
        assert (await session.scalars(select(User))).all() == []
        await session.flush()
        assert [u.name for u in (await session.scalars(select(User))).all()] == ["later"]


async def test_execute_scalars_and_scalar_return_mapped_objects(session_factory: Any) -> None:
    await seed_users(session_factory, "a", "b")
    async with session_factory() as session:
        by_scalars = (await session.scalars(select(User).order_by(User.id))).all()
        by_execute = (await session.execute(select(User).order_by(User.id))).scalars().all()
        first = await session.scalar(select(User).where(User.name == "b"))
        assert [u.name for u in by_scalars] == ["a", "b"]
        assert all(x is y for x, y in zip(by_scalars, by_execute, strict=True))
        assert first is by_scalars[1]
        assert await session.scalar(select(User).where(User.name == "zzz")) is None


async def test_refresh_reloads_attributes_from_the_database(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        await session.execute(
            update(User)
            .where(User.id == uid)
            .values(fullname="Changed Behind")
            .execution_options(synchronize_session=False)
        )
        assert user.fullname == "Alice Full"  # not synchronized on purpose
        await session.refresh(user)
        assert user.fullname == "Changed Behind"


async def test_refresh_with_attribute_names_loads_only_those(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        session.expire(user)
        await session.refresh(user, ["name"])
        assert user.name == "alice"
        assert "fullname" in heron.inspect(user).expired_attributes


async def test_expire_all_expires_every_persistent_object(session_factory: Any) -> None:
    a_id, b_id = await seed_users(session_factory, "a", "b")
    async with session_factory() as session:
        a = await session.get(User, a_id)
        b = await session.get(User, b_id)
        session.expire_all()
        for user in (a, b):
            assert "name" in heron.inspect(user).expired_attributes
            with pytest.raises(exc.UnloadedAttributeError):
                _ = user.name
        assert (a.id, b.id) == (a_id, b_id)


async def test_in_transaction_follows_flush_and_commit(session_factory: Any) -> None:
    async with session_factory() as session:
        assert not session.in_transaction()
        session.add(User(name="x"))
        await session.flush()
        assert session.in_transaction()
        await session.commit()
        assert not session.in_transaction()


async def test_wrong_python_type_fails_at_flush_naming_object_attribute_value(
    session_factory: Any,
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        bystander = User(name="innocent bystander")
        session.add(bystander)
        session.add(Address(email_address=987654, user=user))
        with pytest.raises(exc.HeronError) as info:
            await session.flush()
        message = str(info.value)
        assert "Address" in message
        assert "email_address" in message
        assert "987654" in message
        # nothing was written, not even the valid object of the same flush
        assert await user_names(session_factory) == ["alice"]
        assert await rows(session_factory, Address.email_address) == []

        await session.rollback()
        assert heron.inspect(bystander).transient
        session.add(Address(email_address="ok@x", user=user))
        await session.commit()
    assert await user_names(session_factory) == ["alice"]
    assert await rows(session_factory, Address.email_address) == [("ok@x",)]


async def test_orm_update_synchronizes_loaded_objects(session_factory: Any) -> None:
    sandy_id, other_id = await seed_users(session_factory, "sandy", "other")
    async with session_factory() as session:
        sandy = await session.get(User, sandy_id)
        other = await session.get(User, other_id)
        await session.execute(
            update(User)
            .where(User.name == "sandy")
            .values(fullname="Sandy Squirrel Extraordinaire")
        )
        assert sandy.fullname == "Sandy Squirrel Extraordinaire"
        assert other.fullname == "Other Full"
        await session.commit()
    assert await rows(session_factory, User.fullname, order_by=User.id) == [
        ("Sandy Squirrel Extraordinaire",),
        ("Other Full",),
    ]


@pytest.mark.parametrize("strategy", ["auto", "evaluate", "fetch"])
async def test_orm_update_synchronize_strategies_refresh_identity_map(
    session_factory: Any, strategy: str
) -> None:
    [uid] = await seed_users(session_factory, "sandy")
    async with session_factory() as session:
        sandy = await session.get(User, uid)
        await session.execute(
            update(User)
            .where(User.name == "sandy")
            .values(fullname="Synced")
            .execution_options(synchronize_session=strategy)
        )
        assert sandy.fullname == "Synced"


async def test_orm_delete_removes_matching_objects_from_session(session_factory: Any) -> None:
    squid_id, keep_id = await seed_users(session_factory, "squidward", "keep")
    async with session_factory() as session:
        squidward = await session.get(User, squid_id)
        keep = await session.get(User, keep_id)
        await session.execute(delete(User).where(User.name == "squidward"))
        assert squidward not in session
        assert keep in session
        await session.commit()
    assert await user_names(session_factory) == ["keep"]


async def test_execute_insert_with_list_of_dicts_is_a_bulk_insert(
    session_factory: Any, sql_log: Any
) -> None:
    async with session_factory() as session:
        sql_log.clear()
        await session.execute(insert(User), [{"name": f"bulk{i}"} for i in range(20)])
        assert len(dml(sql_log.statements, "insert", "orm_user")) == 1
        await session.commit()
    assert await user_names(session_factory) == [f"bulk{i}" for i in range(20)]


async def test_merge_copies_detached_state_onto_the_session_instance(
    session_factory: Any,
) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as first:
        detached = await first.get(User, uid)
    detached.fullname = "Merged Name"
    async with session_factory() as second:
        resident = await second.get(User, uid)
        merged = await second.merge(detached)
        assert merged is resident
        assert merged.fullname == "Merged Name"
        assert heron.inspect(detached).detached
        assert merged in second.dirty
        await second.commit()
    assert await rows(session_factory, User.fullname) == [("Merged Name",)]


async def test_merge_loads_row_when_identity_not_in_session(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as first:
        detached = await first.get(User, uid)
    detached.name = "alicia"
    async with session_factory() as second:
        merged = await second.merge(detached)
        assert merged is not detached
        assert heron.inspect(merged).persistent
        assert merged.name == "alicia"
        assert merged.fullname == "Alice Full"
        await second.commit()
    assert await user_names(session_factory) == ["alicia"]


async def test_classic_column_model_round_trips(session_factory: Any) -> None:
    async with session_factory() as session:
        widget = Widget(label="sprocket", weight=7)
        session.add(widget)
        await session.flush()
        assert isinstance(widget.id, int)
        widget.weight = 8
        await session.commit()
    async with session_factory() as session:
        found = (await session.scalars(select(Widget).where(Widget.label == "sprocket"))).one()
        assert (found.label, found.weight) == ("sprocket", 8)


async def test_mixin_columns_belong_to_each_model_and_apply_defaults(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        note = Note(body="hello")
        memo = Memo(subject="re: hello", created_by="bob")
        session.add_all([note, memo])
        await session.flush()
        assert note.created_by == "system"
        assert note.id is not None and memo.id is not None
        await session.commit()
    assert await rows(session_factory, Note.body, Note.created_by) == [("hello", "system")]
    assert await rows(session_factory, Memo.subject, Memo.created_by) == [("re: hello", "bob")]
