"""Review of the one-pass eager loading rewrite: cases found wrong."""

from __future__ import annotations

from typing import Any

import pytest

from heron import select
from heron.orm import joinedload, lazyload, selectinload

from .models import Address, User
from .test_loading import emails, seed


async def test_joinedload_limit_counts_parents_when_a_nested_join_is_a_collection(
    session_factory: Any,
) -> None:
    # Address.user is many-to-one, but User.addresses below it multiplies the
    # rows: LIMIT must still count addresses (SQLAlchemy wraps the query).
    ids = await seed(session_factory)
    async with session_factory() as session:
        addresses = (
            await session.scalars(
                select(Address)
                .order_by(Address.id)
                .limit(2)
                .options(joinedload(Address.user).joinedload(User.addresses))
            )
        ).all()
        assert [a.email_address for a in addresses] == ["ann1@x", "ann2@x"]
        assert emails(addresses[0].user) == ["ann1@x", "ann2@x"]
        assert ids["ann"] == addresses[0].user.id


@pytest.mark.parametrize("loader", [selectinload, joinedload])
async def test_delete_parent_whose_unloaded_child_moved_keeps_the_child(
    session_factory: Any, loader: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory(autoflush=False) as session:
        ann = await session.get(User, ids["ann"])
        cat = (
            await session.scalars(
                select(User).where(User.id == ids["cat"]).options(loader(User.addresses))
            )
        ).one()
        addr = (
            await session.scalars(
                select(Address)
                .where(Address.email_address == "ann1@x")
                .options(selectinload(Address.user))
            )
        ).one()
        assert addr.user is ann
        assert ann is not None
        addr.user = cat  # ann.addresses is not loaded
        await session.delete(ann)
        await session.commit()
    async with session_factory() as session:
        left = (await session.scalars(select(Address).order_by(Address.id))).all()
        assert [(a.email_address, a.user_id) for a in left] == [
            ("ann1@x", ids["cat"]),
            ("cat1@x", ids["cat"]),
        ]


async def test_delete_parent_after_moving_a_loaded_child_keeps_the_child(
    session_factory: Any,
) -> None:
    ids = await seed(session_factory)
    async with session_factory(autoflush=False) as session:
        ann, cat = (
            await session.scalars(
                select(User)
                .where(User.id.in_([ids["ann"], ids["cat"]]))
                .order_by(User.id)
                .options(selectinload(User.addresses))
            )
        ).all()
        addr = ann.addresses[0]
        addr.user = cat
        assert emails(ann) == ["ann2@x"] and emails(cat) == ["ann1@x", "cat1@x"]
        await session.delete(ann)
        await session.commit()
    async with session_factory() as session:
        left = (await session.scalars(select(Address).order_by(Address.id))).all()
        assert [(a.email_address, a.user_id) for a in left] == [
            ("ann1@x", ids["cat"]),
            ("cat1@x", ids["cat"]),
        ]


@pytest.mark.parametrize("loader", [selectinload, joinedload, lazyload])
async def test_eager_load_files_a_child_whose_key_changed_in_memory_like_a_lazy_load(
    session_factory: Any, loader: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory(autoflush=False) as session:
        # the child is in the session with an unflushed new key: every strategy
        # files it by the row the database returned, as a lazy load does
        addr = (
            await session.scalars(select(Address).where(Address.email_address == "ann1@x"))
        ).one()
        addr.user_id = ids["cat"]
        ann = (
            await session.scalars(
                select(User).where(User.id == ids["ann"]).options(loader(User.addresses))
            )
        ).one()
        if loader is lazyload:
            await ann.awaitable_attrs.addresses
        assert emails(ann) == ["ann1@x", "ann2@x"]


@pytest.mark.parametrize("outer", [selectinload, joinedload])
async def test_chained_selectin_many_to_one_of_an_expired_child_finds_its_target(
    session_factory: Any, outer: Any
) -> None:
    # ann.addresses stays loaded, so the chained many-to-one reaches an expired
    # address whose foreign key is not in memory: it must not become None
    ids = await seed(session_factory)
    async with session_factory() as session:
        ann = (
            await session.scalars(
                select(User).where(User.id == ids["ann"]).options(selectinload(User.addresses))
            )
        ).one()
        addr = ann.addresses[0]
        session.expire(addr)
        again = (
            await session.scalars(
                select(User)
                .where(User.id == ids["ann"])
                .options(outer(User.addresses).selectinload(Address.user))
            )
        ).one()
        assert again is ann
        assert addr.user is ann
        assert addr.email_address == "ann1@x"
