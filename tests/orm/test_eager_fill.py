"""How eager loads file related objects into collections (selectin and joined).

Both strategies build each related object once and put it straight into its
owner's collection, setting the many-to-one back-reference on the way. These
tests pin the cases that one pass must still get right: collections already
loaded or holding pending changes, objects already in the identity map, rows
that repeat an object (sibling joins, a join the caller wrote), changes
deferred on an unloaded collection, one-to-one, and many-to-many.
"""

from __future__ import annotations

from typing import Any

import pytest

from heron import select
from heron.orm import joinedload, loaders, selectinload

from .models import Address, Node, Post, Profile, Tag, User
from .test_loading import emails, seed, seed_users_with_addresses, selects_of

LOADERS = [selectinload, joinedload]


@pytest.mark.parametrize("loader", LOADERS)
async def test_eager_load_leaves_a_loaded_collection_alone_when_rows_were_added(
    session_factory: Any, loader: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        ann = (
            await session.scalars(
                select(User).where(User.id == ids["ann"]).options(selectinload(User.addresses))
            )
        ).one()
        assert emails(ann) == ["ann1@x", "ann2@x"]
        async with session_factory() as other:
            other.add(Address(email_address="ann3@x", user_id=ids["ann"]))
            await other.commit()
        again = (
            await session.scalars(
                select(User).where(User.id == ids["ann"]).options(loader(User.addresses))
            )
        ).one()
        assert again is ann
        assert emails(ann) == ["ann1@x", "ann2@x"]
        assert all(a.user is ann for a in ann.addresses)


@pytest.mark.parametrize("loader", LOADERS)
async def test_eager_load_files_objects_already_in_the_session_once(
    session_factory: Any, loader: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        addresses = (await session.scalars(select(Address).order_by(Address.id))).all()
        users = (
            await session.scalars(
                select(User).options(loader(User.addresses)).order_by(User.id)
            )
        ).all()
        assert [u.id for u in users] == [ids["ann"], ids["bob"], ids["cat"]]
        ann, bob, cat = users
        assert emails(ann) == ["ann1@x", "ann2@x"] and bob.addresses == []
        assert emails(cat) == ["cat1@x"]
        loaded = {id(a) for u in users for a in u.addresses}
        assert loaded == {id(a) for a in addresses}
        assert all(a.user is u for u in users for a in u.addresses)


async def test_joinedload_sibling_collections_hold_each_object_once(
    session_factory: Any,
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        ann = (
            await session.scalars(
                select(User)
                .where(User.id == ids["ann"])
                .options(joinedload(User.addresses), joinedload(User.posts))
            )
        ).one()
        # 2 addresses x 2 posts: four joined rows, two objects in each collection
        assert emails(ann) == ["ann1@x", "ann2@x"]
        assert sorted(p.title for p in ann.posts) == ["p1", "p2"]
        assert all(a.user is ann for a in ann.addresses)
        assert all(p.author is ann for p in ann.posts)


async def test_joinedload_with_a_join_of_the_callers_own_repeats_nothing(
    session_factory: Any,
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        users = (
            await session.scalars(
                select(User)
                .join(User.addresses)
                .where(User.id == ids["ann"])
                .options(joinedload(User.addresses))
            )
        ).all()
        assert len(users) == 1
        assert emails(users[0]) == ["ann1@x", "ann2@x"]


@pytest.mark.parametrize("loader", LOADERS)
async def test_eager_load_replays_a_change_made_while_the_collection_was_unloaded(
    session_factory: Any, loader: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory(autoflush=False) as session:
        ann = await session.get(User, ids["ann"])
        assert ann is not None
        extra = Address(email_address="new@x", user=ann)  # ann.addresses is not loaded
        again = (
            await session.scalars(
                select(User).where(User.id == ids["ann"]).options(loader(User.addresses))
            )
        ).one()
        assert again is ann
        assert emails(ann) == ["ann1@x", "ann2@x", "new@x"]
        assert sum(a is extra for a in ann.addresses) == 1
        assert extra.user is ann


@pytest.mark.parametrize("loader", LOADERS)
async def test_eager_load_one_to_one_sets_both_sides(session_factory: Any, loader: Any) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        users = (
            await session.scalars(select(User).options(loader(User.profile)).order_by(User.id))
        ).all()
        ann, bob, cat = users
        assert isinstance(ann.profile, Profile) and ann.profile.bio == "ann bio"
        assert ann.profile.user is ann
        assert bob.profile is None and cat.profile is None
        assert ann.id == ids["ann"]


@pytest.mark.parametrize("loader", LOADERS)
async def test_eager_load_many_to_many_shares_objects_between_owners(
    session_factory: Any, loader: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        posts = (
            await session.scalars(select(Post).options(loader(Post.tags)).order_by(Post.title))
        ).all()
        p1, p2, p3 = posts
        assert sorted(t.name for t in p1.tags) == ["t1", "t2"]
        assert [t.name for t in p2.tags] == ["t2"]
        assert p3.tags == []
        (t2,) = [t for t in p1.tags if t.name == "t2"]
        assert p2.tags[0] is t2
        assert t2 is await session.get(Tag, ids["t2"])


@pytest.mark.parametrize("loader", LOADERS)
async def test_eager_load_does_not_overwrite_a_pending_back_reference(
    session_factory: Any, loader: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory(autoflush=False) as session:
        ann = await session.get(User, ids["ann"])
        cat = await session.get(User, ids["cat"])
        assert ann is not None and cat is not None
        moved = (
            await session.scalars(select(Address).where(Address.email_address == "cat1@x"))
        ).one()
        moved.user = ann  # pending: cat1@x moves from cat to ann
        await session.scalars(
            select(User).where(User.id == ids["cat"]).options(loader(User.addresses))
        )
        assert moved.user is ann
        assert moved not in cat.addresses


@pytest.mark.parametrize("held_rows", [1, 7, 20_000])
async def test_selectin_batches_fill_the_same_whenever_their_rows_are_built(
    session_factory: Any, sql_log: Any, monkeypatch: Any, held_rows: int
) -> None:
    # rows of several batches are built together up to HELD_ROWS; any grouping
    # must give the same collections and back-references
    monkeypatch.setattr(loaders, "HELD_ROWS", held_rows)
    await seed_users_with_addresses(session_factory, 25, 2)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User).options(selectinload(User.addresses, batch_size=4)).order_by(User.id)
            )
        ).all()
        assert len(selects_of(sql_log.statements, "orm_address")) == 7
        assert [emails(u) for u in users] == [
            [f"u{i:03}-0@x", f"u{i:03}-1@x"] for i in range(25)
        ]
        assert all(a.user is u for u in users for a in u.addresses)


def _flat(params: Any) -> list[Any]:
    out: list[Any] = []
    for p in params or ():
        out.extend(p if isinstance(p, list | tuple) else [p])
    return out


async def test_selectinload_many_to_one_asks_only_for_targets_not_in_the_session(
    session_factory: Any, sql_log: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        ann = await session.get(User, ids["ann"])
        sql_log.clear()
        addresses = (
            await session.scalars(
                select(Address)
                .options(selectinload(Address.user))
                .order_by(Address.email_address)
            )
        ).all()
        assert [a.user.name for a in addresses] == ["ann", "ann", "cat"]
        assert addresses[0].user is ann and addresses[1].user is ann
        assert len(sql_log.statements) == 2
        asked = _flat(sql_log.params[1])
        assert ids["cat"] in asked and ids["ann"] not in asked
        assert addresses[2].user is await session.get(User, ids["cat"])


async def test_joinedload_both_directions_of_a_self_referential_pair(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        nodes = (
            await session.scalars(
                select(Node)
                .options(joinedload(Node.parent), joinedload(Node.children))
                .order_by(Node.label)
            )
        ).all()
        assert len(sql_log.statements) == 1
        by_label = {n.label: n for n in nodes}
        assert sorted(by_label) == ["a", "a1", "a2", "b", "b1", "root"]
        assert by_label["root"].parent is None
        for child, parent in [("a", "root"), ("b", "root"), ("a1", "a"), ("a2", "a"), ("b1", "b")]:
            assert by_label[child].parent is by_label[parent]
        assert sorted(n.label for n in by_label["root"].children) == ["a", "b"]
        assert sorted(n.label for n in by_label["a"].children) == ["a1", "a2"]
        assert by_label["a1"].children == []


async def test_joinedload_with_populate_existing_refreshes_parents_once_per_parent(
    session_factory: Any,
) -> None:
    ids = await seed(session_factory)
    async with session_factory(autoflush=False) as session:
        ann = (
            await session.scalars(
                select(User).where(User.id == ids["ann"]).options(joinedload(User.addresses))
            )
        ).one()
        ann.fullname = "pending"
        async with session_factory() as other:
            other_ann = await other.get(User, ids["ann"])
            assert other_ann is not None
            other_ann.name = "ann-renamed"
            other.add(Address(email_address="ann3@x", user_id=ids["ann"]))
            await other.commit()
        again = (
            await session.scalars(
                select(User)
                .where(User.id == ids["ann"])
                .options(joinedload(User.addresses))
                .execution_options(populate_existing=True)
            )
        ).one()
        assert again is ann
        assert ann.name == "ann-renamed"  # refreshed from the (repeated) parent rows
        assert ann.fullname == "pending"  # a pending change wins
        assert emails(ann) == ["ann1@x", "ann2@x"]  # a loaded collection is kept


async def test_nested_joinedload_fills_only_what_is_not_loaded_yet(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        p1 = (
            await session.scalars(
                select(Post).where(Post.title == "p1").options(selectinload(Post.tags))
            )
        ).one()
        kept = p1.tags
        sql_log.clear()
        users = (
            await session.scalars(
                select(User).options(joinedload(User.posts).joinedload(Post.tags)).order_by(User.id)
            )
        ).all()
        assert len(sql_log.statements) == 1
        ann = users[0]
        assert sorted(p.title for p in ann.posts) == ["p1", "p2"]
        (p2,) = [p for p in ann.posts if p.title == "p2"]
        assert [p for p in ann.posts if p.title == "p1"] == [p1]
        assert p1.tags is kept  # loaded before: left as it was
        assert [t.name for t in p2.tags] == ["t2"]
        assert p2.tags[0] in p1.tags  # the same Tag object on both posts
        assert all(p.author is ann for p in ann.posts)


async def test_nested_joinedload_replays_a_change_deferred_on_the_inner_collection(
    session_factory: Any,
) -> None:
    ids = await seed(session_factory)
    async with session_factory(autoflush=False) as session:
        ann = await session.get(User, ids["ann"])
        assert ann is not None
        extra = Address(email_address="new@x", user=ann)  # ann.addresses is not loaded
        posts = (
            await session.scalars(
                select(Post)
                .where(Post.author_id == ids["ann"])
                .options(joinedload(Post.author).joinedload(User.addresses))
            )
        ).all()
        assert {p.author for p in posts} == {ann}
        assert emails(ann) == ["ann1@x", "ann2@x", "new@x"]
        assert sum(a is extra for a in ann.addresses) == 1
