"""The seeds' ORM tutorial ("Data Manipulation with the ORM"), step by step, async.

One long test on purpose: the tutorial's point is how the steps compose (new ->
flush -> identity map -> dirty -> autoflush -> delete -> rollback -> close ->
detached -> re-add). The shorter tests in the other files pin each step alone.
"""

from __future__ import annotations

from typing import Any

import pytest

import heron
from heron import exc, select

from .helpers import dml, seed_users
from .models import User


async def test_tutorial_flow_from_add_to_readd_after_close(
    session_factory: Any, sql_log: Any
) -> None:
    sandy_id, patrick_id = await seed_users(session_factory, "sandy", "patrick")
    async with session_factory() as setup:
        sandy_row = await setup.get(User, sandy_id)
        sandy_row.fullname = "Sandy Cheeks"
        await setup.commit()

    session = session_factory()
    try:
        # Instances of classes represent rows; a new object has no id yet.
        squidward = User(name="squidward", fullname="Squidward Tentacles")
        krabs = User(name="ehkrabs", fullname="Eugene H. Krabs")
        assert squidward.id is None
        assert heron.inspect(squidward).transient

        # Adding objects: pending, visible in session.new, no SQL yet.
        sql_log.clear()
        session.add(squidward)
        session.add(krabs)
        assert squidward in session.new and krabs in session.new
        assert len(session.new) == 2
        assert sql_log.all_statements == []

        # Flushing: INSERTs, generated primary keys on the objects.
        await session.flush()
        assert dml(sql_log.statements, "insert", "orm_user")
        assert isinstance(squidward.id, int) and isinstance(krabs.id, int)
        assert squidward.id != krabs.id
        assert len(session.new) == 0
        assert heron.inspect(squidward).persistent

        # Identity map: get() returns the very same object, without a query.
        sql_log.clear()
        assert await session.get(User, squidward.id) is squidward
        assert sql_log.statements == []

        await session.commit()

        # Updating: the loaded object becomes dirty.
        sandy = (await session.execute(select(User).filter_by(name="sandy"))).scalar_one()
        assert sandy.id == sandy_id
        sandy.fullname = "Sandy Squirrel"
        assert sandy in session.dirty

        # Autoflush: the UPDATE goes out before the SELECT that would see it.
        sql_log.clear()
        fullname = (
            await session.execute(select(User.fullname).where(User.id == sandy_id))
        ).scalar_one()
        assert fullname == "Sandy Squirrel"
        updates = dml(sql_log.statements, "update", "orm_user")
        selects = dml(sql_log.statements, "select", "orm_user")
        assert updates and selects
        assert sql_log.statements.index(updates[0]) < sql_log.statements.index(selects[-1])
        assert sandy not in session.dirty

        # Deleting: marked, flushed by the next query's autoflush, then gone.
        patrick = await session.get(User, patrick_id)
        await session.delete(patrick)
        assert patrick in session.deleted
        found = (await session.execute(select(User).where(User.name == "patrick"))).first()
        assert found is None
        assert patrick not in session

        # Rolling back: sandy is expired (no hidden I/O on read), patrick is back.
        await session.rollback()
        assert "fullname" in heron.inspect(sandy).expired_attributes
        with pytest.raises(exc.UnloadedAttributeError):
            _ = sandy.fullname
        assert await sandy.awaitable_attrs.fullname == "Sandy Cheeks"
        assert patrick in session
        again = (await session.execute(select(User).where(User.name == "patrick"))).scalar_one()
        assert again is patrick
    finally:
        # Closing: releases the connection and detaches everything.
        await session.close()

    assert heron.inspect(squidward).detached
    # squidward was expired by the rollback, so it cannot be read once detached.
    with pytest.raises(exc.DetachedInstanceError):
        _ = squidward.name
    assert squidward.id is not None  # primary keys stay readable

    # Re-adding a detached object re-associates it with its row.
    async with session_factory() as session2:
        session2.add(squidward)
        assert heron.inspect(squidward).persistent
        assert await squidward.awaitable_attrs.name == "squidward"
        assert await session2.get(User, squidward.id) is squidward
