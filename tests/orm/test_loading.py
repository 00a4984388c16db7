"""Relationship loading (issue #5): lazy "select", joined, selectin, raise, noload,
lazyload; loader options and relationship defaults; chained paths; identity of
related objects whichever strategy loads them; eager loads against the identity
map (pending changes win, ``populate_existing``); the N+1 guard.

Every test runs on SQLite and PostgreSQL and pins the number of statements
(``sql_log.statements`` after ``sql_log.clear()``; BEGIN/COMMIT excluded).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import heron
from heron import exc, insert, select, update
from heron.orm import (
    joinedload,
    lazyload,
    noload,
    raiseload,
    selectinload,
    sessionmaker,
)

from .helpers import norm
from .loading_models import (
    LAddress,
    LBadge,
    LJNode,
    LNode,
    LNote,
    LoadBase,
    LOrder,
    LOrderLine,
    LUser,
)
from .models import Address, Node, Post, Profile, Tag, User

# --- data ---------------------------------------------------------------------------


async def seed(session_factory: Any) -> dict[str, int]:
    """ann: 2 addresses + profile + 2 posts; bob: nothing; cat: 1 address.

    Posts p1 (tags t1, t2) and p2 (tag t2) by ann; p3 has no author and no tags;
    t3 has no posts. Node tree: root -> (a, b); a -> (a1, a2); b -> (b1).
    Returns every object's id by name.
    """
    async with session_factory() as session:
        ann = User(name="ann", fullname="Ann Full")
        bob = User(name="bob", fullname="Bob Full")
        cat = User(name="cat", fullname="Cat Full")
        ann.addresses.extend([Address(email_address="ann1@x"), Address(email_address="ann2@x")])
        cat.addresses.append(Address(email_address="cat1@x"))
        ann.profile = Profile(bio="ann bio")
        t1, t2, t3 = Tag(name="t1"), Tag(name="t2"), Tag(name="t3")
        p1 = Post(title="p1", author=ann, tags=[t1, t2])
        p2 = Post(title="p2", author=ann, tags=[t2])
        p3 = Post(title="p3")
        root = Node(label="root")
        a = Node(label="a", parent=root)
        b = Node(label="b", parent=root)
        a1 = Node(label="a1", parent=a)
        a2 = Node(label="a2", parent=a)
        b1 = Node(label="b1", parent=b)
        objs: dict[str, Any] = {
            "ann": ann,
            "bob": bob,
            "cat": cat,
            "t1": t1,
            "t2": t2,
            "t3": t3,
            "p1": p1,
            "p2": p2,
            "p3": p3,
            "root": root,
            "a": a,
            "b": b,
            "a1": a1,
            "a2": a2,
            "b1": b1,
        }
        session.add_all(list(objs.values()))
        await session.commit()
        return {name: obj.id for name, obj in objs.items()}


async def seed_users_with_addresses(session_factory: Any, users: int, per_user: int) -> None:
    """Bulk-insert ``users`` users (u000, u001, ...) with ``per_user`` addresses each."""
    async with session_factory() as session:
        await session.execute(
            insert(User), [{"id": i + 1, "name": f"u{i:03}"} for i in range(users)]
        )
        if per_user:
            await session.execute(
                insert(Address),
                [
                    {"email_address": f"u{i:03}-{j}@x", "user_id": i + 1}
                    for i in range(users)
                    for j in range(per_user)
                ],
            )
        await session.commit()


def emails(user: Any) -> list[str]:
    return sorted(a.email_address for a in user.addresses)


def labels(nodes: Any) -> list[str]:
    return sorted(n.label for n in nodes)


def selects_of(statements: list[str], table: str) -> list[str]:
    """SELECT statements whose FROM starts at ``table``."""
    return [s for s in statements if f" from {table}" in norm(s)]


@pytest.fixture
async def ld_factory(orm_engine: Any) -> AsyncIterator[Any]:
    """``sessionmaker`` over an engine that also has the ``ld_`` tables."""
    await LoadBase.metadata.create_all(orm_engine)
    yield sessionmaker(orm_engine)


async def seed_ld(factory: Any) -> dict[str, int]:
    """ld_ users: al (addresses a@x, c@x, b@x; 1 note; 1 badge) and bo (nothing)."""
    async with factory() as session:
        al = LUser(name="al")
        bo = LUser(name="bo")
        session.add_all([al, bo])
        await session.flush()
        session.add_all(
            [
                LAddress(email="a@x", user_id=al.id),
                LAddress(email="c@x", user_id=al.id),
                LAddress(email="b@x", user_id=al.id),
                LNote(body="n", user_id=al.id),
                LBadge(label="gold", user_id=al.id),
            ]
        )
        await session.commit()
        return {"al": al.id, "bo": bo.id}


# --- lazy="select" (the default) ------------------------------------------------------


async def test_lazy_collection_raises_on_read_and_loads_when_awaited(
    session_factory: Any, sql_log: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        ann = await session.get(User, ids["ann"])
        assert ann is not None
        sql_log.clear()
        with pytest.raises(exc.UnloadedAttributeError, match="addresses"):
            _ = ann.addresses
        assert sql_log.statements == []
        loaded = await ann.awaitable_attrs.addresses
        assert len(sql_log.statements) == 1
        assert loaded is ann.addresses
        assert emails(ann) == ["ann1@x", "ann2@x"]
        assert all(a.user is ann for a in ann.addresses)
        sql_log.clear()
        assert emails(ann) == ["ann1@x", "ann2@x"]
        await ann.awaitable_attrs.addresses
        assert sql_log.statements == []


async def test_refresh_with_a_relationship_name_loads_it(
    session_factory: Any, sql_log: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        ann = await session.get(User, ids["ann"])
        sql_log.clear()
        await session.refresh(ann, ["addresses"])
        assert len(sql_log.statements) == 1
        assert emails(ann) == ["ann1@x", "ann2@x"]


async def test_lazy_empty_collection_and_null_many_to_one(
    session_factory: Any, sql_log: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        bob = await session.get(User, ids["bob"])
        p3 = await session.get(Post, ids["p3"])
        assert bob is not None and p3 is not None
        sql_log.clear()
        assert p3.author is None  # NULL foreign key: known without a query
        assert await p3.awaitable_attrs.author is None
        assert sql_log.statements == []
        assert await bob.awaitable_attrs.addresses == []
        assert await bob.awaitable_attrs.profile is None
        assert len(sql_log.statements) == 2


async def test_many_to_one_in_identity_map_resolves_without_a_query(
    session_factory: Any, sql_log: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        users = (await session.scalars(select(User))).all()
        addresses = (await session.scalars(select(Address))).all()
        sql_log.clear()
        by_id = {u.id: u for u in users}
        for address in addresses:
            assert address.user is by_id[address.user_id]
            assert await address.awaitable_attrs.user is by_id[address.user_id]
        assert sql_log.all_statements == []
        assert {a.user.name for a in addresses} == {"ann", "cat"}
        assert ids["ann"] in by_id


async def test_many_to_one_not_in_identity_map_loads_by_one_query(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        address = (
            await session.scalars(select(Address).where(Address.email_address == "cat1@x"))
        ).one()
        sql_log.clear()
        with pytest.raises(exc.UnloadedAttributeError, match="user"):
            _ = address.user
        cat = await address.awaitable_attrs.user
        assert len(sql_log.statements) == 1
        assert cat.name == "cat"
        assert cat is await session.get(User, cat.id)


# --- joined ---------------------------------------------------------------------------


async def test_joinedload_is_one_left_outer_join_with_parents_deduplicated(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User).options(joinedload(User.addresses)).order_by(User.id)
            )
        ).all()
        assert len(sql_log.statements) == 1
        assert "left outer join" in norm(sql_log.statements[0])
        assert [u.name for u in users] == ["ann", "bob", "cat"]
        assert [emails(u) for u in users] == [["ann1@x", "ann2@x"], [], ["cat1@x"]]
        assert all(a.user is users[0] for a in users[0].addresses)
        sql_log.clear()
        assert await users[1].awaitable_attrs.addresses == []
        assert sql_log.statements == []


async def test_joinedload_many_to_one_keeps_rows_with_null_foreign_key(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        posts = (
            await session.scalars(
                select(Post).options(joinedload(Post.author)).order_by(Post.title)
            )
        ).all()
        assert len(sql_log.statements) == 1
        assert [(p.title, p.author and p.author.name) for p in posts] == [
            ("p1", "ann"),
            ("p2", "ann"),
            ("p3", None),
        ]
        assert posts[0].author is posts[1].author


async def test_joinedload_innerjoin_uses_inner_join(session_factory: Any, sql_log: Any) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        posts = (
            await session.scalars(
                select(Post).options(joinedload(Post.author, innerjoin=True)).order_by(Post.title)
            )
        ).all()
        assert len(sql_log.statements) == 1
        sql = norm(sql_log.statements[0])
        assert " join " in sql and "outer" not in sql
        # INNER JOIN: the post without an author is not a row of the result
        assert [(p.title, p.author.name) for p in posts] == [("p1", "ann"), ("p2", "ann")]


async def test_joinedload_one_to_one_with_missing_row_is_none(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(select(User).options(joinedload(User.profile)).order_by(User.id))
        ).all()
        assert len(sql_log.statements) == 1
        assert [u.profile and u.profile.bio for u in users] == ["ann bio", None, None]
        assert users[0].profile.user is users[0]


async def test_joinedload_limit_and_offset_count_parents_not_joined_rows(
    session_factory: Any, sql_log: Any
) -> None:
    await seed_users_with_addresses(session_factory, 3, 3)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User).options(joinedload(User.addresses)).order_by(User.id).limit(2)
            )
        ).all()
        assert len(sql_log.statements) == 1
        assert [u.name for u in users] == ["u000", "u001"]
        assert [len(u.addresses) for u in users] == [3, 3]
        assert emails(users[1]) == ["u001-0@x", "u001-1@x", "u001-2@x"]
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User)
                .options(joinedload(User.addresses))
                .order_by(User.id.desc())
                .limit(1)
                .offset(1)
            )
        ).all()
        assert len(sql_log.statements) == 1
        assert [u.name for u in users] == ["u001"]
        assert emails(users[0]) == ["u001-0@x", "u001-1@x", "u001-2@x"]


async def test_joinedload_nested_path_is_one_statement(session_factory: Any, sql_log: Any) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User).options(joinedload(User.posts).joinedload(Post.tags)).order_by(User.id)
            )
        ).all()
        assert len(sql_log.statements) == 1
        assert [u.name for u in users] == ["ann", "bob", "cat"]
        ann, bob, cat = users
        assert sorted(p.title for p in ann.posts) == ["p1", "p2"]
        assert bob.posts == [] and cat.posts == []
        tags = {p.title: sorted(t.name for t in p.tags) for p in ann.posts}
        assert tags == {"p1": ["t1", "t2"], "p2": ["t2"]}
        t2s = [t for p in ann.posts for t in p.tags if t.name == "t2"]
        assert t2s[0] is t2s[1]  # one row, one object, even joined twice


async def test_joinedload_same_table_twice_is_aliased(session_factory: Any, sql_log: Any) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User)
                .options(joinedload(User.addresses).joinedload(Address.user))
                .where(User.name == "ann")
            )
        ).all()
        assert len(sql_log.statements) == 1
        [ann] = users
        assert emails(ann) == ["ann1@x", "ann2@x"]
        assert all(a.user is ann for a in ann.addresses)


async def test_joinedload_self_referential_tree_three_levels(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        roots = (
            await session.scalars(
                select(Node)
                .where(Node.parent_id.is_(None))
                .options(joinedload(Node.children).joinedload(Node.children))
            )
        ).all()
        assert len(sql_log.statements) == 1
        [root] = roots
        assert labels(root.children) == ["a", "b"]
        by_label = {n.label: n for n in root.children}
        assert labels(by_label["a"].children) == ["a1", "a2"]
        assert labels(by_label["b"].children) == ["b1"]
        assert all(c.parent is root for c in root.children)


async def test_joinedload_on_a_multi_entity_select_still_loads(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        result = await session.execute(
            select(User, Profile)
            .join(Profile, Profile.user_id == User.id)
            .options(joinedload(User.addresses))
        )
        [(ann, profile)] = result.all()
        assert profile.user is ann
        assert emails(ann) == ["ann1@x", "ann2@x"]
        # several entities: the joined relationship is loaded by selectin instead
        assert len(sql_log.statements) == 2


# --- selectin -------------------------------------------------------------------------


async def test_selectinload_collection_is_one_in_query(session_factory: Any, sql_log: Any) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User).options(selectinload(User.addresses)).order_by(User.id)
            )
        ).all()
        assert len(sql_log.statements) == 2
        in_query = norm(sql_log.statements[1])
        assert " in (" in in_query or "= any(" in in_query
        assert [emails(u) for u in users] == [["ann1@x", "ann2@x"], [], ["cat1@x"]]
        assert all(a.user is u for u in users for a in u.addresses)


async def test_selectinload_many_to_one_with_null_and_shared_targets(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        posts = (
            await session.scalars(
                select(Post).options(selectinload(Post.author)).order_by(Post.title)
            )
        ).all()
        assert len(sql_log.statements) == 2
        assert [p.author and p.author.name for p in posts] == ["ann", "ann", None]
        assert posts[0].author is posts[1].author


async def test_selectinload_batches_parents_500_by_default(
    orm_engine: Any, session_factory: Any, sql_log: Any
) -> None:
    await seed_users_with_addresses(session_factory, 1200, 1)
    async with session_factory() as session:
        sql_log.clear()
        users = (await session.scalars(select(User).options(selectinload(User.addresses)))).all()
        assert len(users) == 1200
        assert len(selects_of(sql_log.statements, "orm_address")) == 3
        assert len(sql_log.statements) == 4
        assert all(emails(u) == [f"{u.name}-0@x"] for u in users)
        # with one array parameter per batch (PostgreSQL) the three batches go
        # in one pipelined round trip; SQLite sends them one by one
        batch_trips = selects_of(sql_log.round_trips, "orm_address")
        assert len(batch_trips) == (1 if orm_engine.dialect.supports_any_array else 3)
        if orm_engine.dialect.supports_any_array:
            batch_params = [
                p
                for s, p in zip(sql_log.statements, sql_log.params, strict=True)
                if "orm_address" in s
            ]
            assert sorted(len(p[0]) for p in batch_params) == [200, 500, 500]


async def test_selectinload_batch_size_is_configurable(session_factory: Any, sql_log: Any) -> None:
    await seed_users_with_addresses(session_factory, 25, 2)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(select(User).options(selectinload(User.addresses, batch_size=10)))
        ).all()
        assert len(selects_of(sql_log.statements, "orm_address")) == 3
        assert all(len(u.addresses) == 2 for u in users)


async def test_selectinload_many_to_many_through_secondary(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        posts = (
            await session.scalars(
                select(Post).options(selectinload(Post.tags)).order_by(Post.title)
            )
        ).all()
        tags = (
            await session.scalars(select(Tag).options(selectinload(Tag.posts)).order_by(Tag.name))
        ).all()
        assert len(sql_log.statements) == 4
        assert "orm_post_tag" in norm(sql_log.statements[1])
        assert [labels_of_tags(p) for p in posts] == [["t1", "t2"], ["t2"], []]
        assert [sorted(p.title for p in t.posts) for t in tags] == [["p1"], ["p1", "p2"], []]
        # the same Tag objects on both sides
        t2 = tags[1]
        assert next(t for t in posts[0].tags if t.name == "t2") is t2
        assert posts[1].tags[0] is t2


def labels_of_tags(post: Any) -> list[str]:
    return sorted(t.name for t in post.tags)


async def test_selectinload_chained_path(session_factory: Any, sql_log: Any) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User)
                .options(selectinload(User.posts).selectinload(Post.tags))
                .order_by(User.id)
            )
        ).all()
        assert len(sql_log.statements) == 3
        ann, bob, _cat = users
        assert {p.title: labels_of_tags(p) for p in ann.posts} == {"p1": ["t1", "t2"], "p2": ["t2"]}
        assert bob.posts == []


async def test_selectinload_then_joinedload_many_to_one_from_identity_map(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User)
                .options(selectinload(User.addresses).joinedload(Address.user))
                .order_by(User.id)
            )
        ).all()
        # the users are already in the identity map: no third statement
        assert len(sql_log.statements) == 2
        assert all(a.user is u for u in users for a in u.addresses)


async def test_selectinload_self_referential_tree_three_levels(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        [root] = (
            await session.scalars(
                select(Node)
                .where(Node.parent_id.is_(None))
                .options(selectinload(Node.children).selectinload(Node.children))
            )
        ).all()
        assert len(sql_log.statements) == 3
        assert labels(root.children) == ["a", "b"]
        a, b = sorted(root.children, key=lambda n: n.label)
        assert labels(a.children) == ["a1", "a2"] and labels(b.children) == ["b1"]
        assert a.parent is root and a.children[0].parent is a


async def test_selectinload_recursion_depth_limits_self_referential_levels(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        [root] = (
            await session.scalars(
                select(Node)
                .where(Node.parent_id.is_(None))
                .options(selectinload(Node.children, recursion_depth=2))
            )
        ).all()
        # root's children, then their children: two IN queries, and no more
        assert len(sql_log.statements) == 3
        a, b = sorted(root.children, key=lambda n: n.label)
        assert labels(a.children) == ["a1", "a2"] and labels(b.children) == ["b1"]
        with pytest.raises(exc.UnloadedAttributeError, match="children"):
            _ = a.children[0].children


async def test_selectin_default_recursion_stops_after_eight_levels(
    ld_factory: Any, sql_log: Any
) -> None:
    async with ld_factory() as session:
        chain = [LNode(label="n0")]
        for i in range(1, 12):
            chain.append(LNode(label=f"n{i}", parent=chain[-1]))
        session.add_all(chain)
        await session.commit()
    async with ld_factory() as session:
        sql_log.clear()
        root = (await session.scalars(select(LNode).where(LNode.parent_id.is_(None)))).one()
        assert len(sql_log.statements) == 1 + 8
        node = root
        for i in range(1, 9):
            [node] = node.children
            assert node.label == f"n{i}"
        with pytest.raises(exc.UnloadedAttributeError):
            _ = node.children
        assert [n.label for n in await node.awaitable_attrs.children] == ["n9"]


async def test_selectinload_composite_foreign_key(ld_factory: Any, sql_log: Any) -> None:
    async with ld_factory() as session:
        eu = LOrder(region="eu", number=1)
        us = LOrder(region="us", number=1)
        empty = LOrder(region="eu", number=2)
        session.add_all([eu, us, empty])
        await session.flush()
        session.add_all(
            [
                LOrderLine(item="x", order_region="eu", order_number=1),
                LOrderLine(item="y", order_region="eu", order_number=1),
                LOrderLine(item="z", order_region="us", order_number=1),
            ]
        )
        await session.commit()
    async with ld_factory() as session:
        sql_log.clear()
        orders = (
            await session.scalars(
                select(LOrder)
                .options(selectinload(LOrder.lines))
                .order_by(LOrder.region, LOrder.number)
            )
        ).all()
        assert len(sql_log.statements) == 2
        assert [(o.region, o.number, sorted(li.item for li in o.lines)) for o in orders] == [
            ("eu", 1, ["x", "y"]),
            ("eu", 2, []),
            ("us", 1, ["z"]),
        ]
        assert all(li.order is o for o in orders for li in o.lines)


async def test_identity_keys_for_single_and_composite_primary_keys(ld_factory: Any) -> None:
    async with ld_factory() as session:
        session.add_all([LOrder(region="eu", number=7), LUser(name="ida")])
        await session.commit()
    async with ld_factory() as session:
        order = (await session.scalars(select(LOrder))).one()
        user = (await session.scalars(select(LUser))).one()
        assert heron.inspect(order).identity == ("eu", 7)
        assert heron.inspect(order).identity_key == (LOrder, ("eu", 7))
        assert heron.inspect(user).identity == (user.id,)
        assert heron.inspect(user).identity_key == (LUser, (user.id,))
        assert session.identity_map == {(LOrder, ("eu", 7)): order, (LUser, (user.id,)): user}
        # get() answers both from the map, with no query
        assert await session.get(LOrder, ("eu", 7)) is order
        assert await session.get(LUser, user.id) is user
        # a second query returns the same instances
        again = (await session.scalars(select(LOrder).where(LOrder.number == 7))).one()
        assert again is order


# --- raise / noload / lazyload ----------------------------------------------------------


async def test_raiseload_makes_reading_and_awaiting_an_error_without_io(
    session_factory: Any, sql_log: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        users = (
            await session.scalars(select(User).options(raiseload(User.addresses)).order_by(User.id))
        ).all()
        sql_log.clear()
        with pytest.raises(exc.UnloadedAttributeError, match="addresses"):
            _ = users[0].addresses
        with pytest.raises(exc.UnloadedAttributeError, match="addresses"):
            await users[0].awaitable_attrs.addresses
        assert sql_log.statements == []
        # other relationships keep their own strategy
        assert (await users[0].awaitable_attrs.profile).bio == "ann bio"
        assert users[0].id == ids["ann"]


async def test_raiseload_on_many_to_one_raises_even_when_target_is_in_session(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        await session.scalars(select(User))
        addresses = (await session.scalars(select(Address).options(raiseload(Address.user)))).all()
        sql_log.clear()
        with pytest.raises(exc.UnloadedAttributeError, match="user"):
            _ = addresses[0].user
        with pytest.raises(exc.UnloadedAttributeError, match="user"):
            await addresses[0].awaitable_attrs.user
        assert sql_log.statements == []


async def test_noload_gives_empty_values_without_a_query(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(select(User).options(noload(User.addresses)).order_by(User.id))
        ).all()
        posts = (
            await session.scalars(select(Post).options(noload(Post.author)).order_by(Post.title))
        ).all()
        assert len(sql_log.statements) == 2
        assert [u.addresses for u in users] == [[], [], []]
        assert [p.author for p in posts] == [None, None, None]
        assert await users[0].awaitable_attrs.addresses == []
        assert len(sql_log.statements) == 2


async def test_lazyload_option_overrides_an_eager_default(ld_factory: Any, sql_log: Any) -> None:
    ids = await seed_ld(ld_factory)
    async with ld_factory() as session:
        sql_log.clear()
        al = (
            await session.scalars(
                select(LUser).where(LUser.id == ids["al"]).options(lazyload(LUser.addresses))
            )
        ).one()
        assert len(sql_log.statements) == 1
        with pytest.raises(exc.UnloadedAttributeError, match="addresses"):
            _ = al.addresses
        assert [a.email for a in await al.awaitable_attrs.addresses] == ["c@x", "b@x", "a@x"]
        assert len(sql_log.statements) == 2


# --- relationship(lazy=..., order_by=...) defaults ---------------------------------------


async def test_relationship_lazy_selectin_default_with_order_by(
    ld_factory: Any, sql_log: Any
) -> None:
    ids = await seed_ld(ld_factory)
    async with ld_factory() as session:
        sql_log.clear()
        users = (await session.scalars(select(LUser).order_by(LUser.id))).all()
        # users, then addresses by selectin (whose joined `user` is in the map)
        assert len(sql_log.statements) == 2
        al, bo = users
        assert al.id == ids["al"]
        assert [a.email for a in al.addresses] == ["c@x", "b@x", "a@x"]
        assert bo.addresses == []
        assert all(a.user is al for a in al.addresses)


async def test_relationship_lazy_joined_default_is_one_statement(
    ld_factory: Any, sql_log: Any
) -> None:
    ids = await seed_ld(ld_factory)
    async with ld_factory() as session:
        sql_log.clear()
        addresses = (await session.scalars(select(LAddress).order_by(LAddress.email))).all()
        # the JOIN brings the users; their selectin addresses are already loaded
        assert len(sql_log.statements) == 2
        assert "left outer join" in norm(sql_log.statements[0])
        assert [a.email for a in addresses] == ["a@x", "b@x", "c@x"]
        assert {a.user.id for a in addresses} == {ids["al"]}
        assert addresses[0].user is addresses[1].user
        assert addresses[0].user.addresses == [addresses[2], addresses[1], addresses[0]]
    async with ld_factory() as session:
        sql_log.clear()
        addresses = (await session.scalars(select(LAddress).options(lazyload(LAddress.user)))).all()
        assert len(sql_log.statements) == 1
        assert "join" not in norm(sql_log.statements[0])
        with pytest.raises(exc.UnloadedAttributeError, match="user"):
            _ = addresses[0].user


async def test_session_get_applies_relationship_eager_defaults(
    ld_factory: Any, sql_log: Any
) -> None:
    ids = await seed_ld(ld_factory)
    async with ld_factory() as session:
        sql_log.clear()
        al = await session.get(LUser, ids["al"])
        assert al is not None
        assert [a.email for a in al.addresses] == ["c@x", "b@x", "a@x"]
        assert len(sql_log.statements) == 2


async def test_relationship_order_by_applies_to_joinedload_and_lazy_loads(
    ld_factory: Any, sql_log: Any
) -> None:
    ids = await seed_ld(ld_factory)
    async with ld_factory() as session:
        sql_log.clear()
        al = (
            await session.scalars(
                select(LUser).where(LUser.id == ids["al"]).options(joinedload(LUser.addresses))
            )
        ).one()
        assert len(sql_log.statements) == 1
        assert [a.email for a in al.addresses] == ["c@x", "b@x", "a@x"]
    async with ld_factory() as session:
        al = await session.get(LUser, ids["al"])
        assert al is not None
        await session.refresh(al, ["addresses"])
        assert [a.email for a in al.addresses] == ["c@x", "b@x", "a@x"]


async def test_relationship_lazy_raise_and_noload_defaults(ld_factory: Any, sql_log: Any) -> None:
    ids = await seed_ld(ld_factory)
    async with ld_factory() as session:
        al = await session.get(LUser, ids["al"])
        assert al is not None
        sql_log.clear()
        with pytest.raises(exc.UnloadedAttributeError, match="notes"):
            _ = al.notes
        with pytest.raises(exc.UnloadedAttributeError, match="notes"):
            await al.awaitable_attrs.notes
        assert al.badges == []  # lazy="noload": never loaded, although a badge exists
        assert await al.awaitable_attrs.badges == []
        assert sql_log.statements == []
        # an option overrides the default
        bo = (
            await session.scalars(
                select(LUser)
                .where(LUser.id == ids["bo"])
                .options(selectinload(LUser.notes), selectinload(LUser.badges))
            )
        ).one()
        assert bo.notes == [] and bo.badges == []
        al = (
            await session.scalars(
                select(LUser)
                .where(LUser.id == ids["al"])
                .execution_options(populate_existing=True)
                .options(selectinload(LUser.notes))
            )
        ).one()
        assert [n.body for n in al.notes] == ["n"]


async def test_joined_self_referential_default_joins_one_level_then_selectin(
    ld_factory: Any, sql_log: Any
) -> None:
    async with ld_factory() as session:
        root = LJNode(label="root")
        session.add(root)
        await session.flush()
        a = LJNode(label="a", parent_id=root.id)
        b = LJNode(label="b", parent_id=root.id)
        session.add_all([a, b])
        await session.flush()
        session.add_all([LJNode(label="a1", parent_id=a.id), LJNode(label="b1", parent_id=b.id)])
        await session.commit()
    async with ld_factory() as session:
        sql_log.clear()
        [root] = (await session.scalars(select(LJNode).where(LJNode.label == "root"))).all()
        assert [n.label for n in root.children] == ["a", "b"]
        assert [[g.label for g in n.children] for n in root.children] == [["a1"], ["b1"]]
        assert [g.children for n in root.children for g in n.children] == [[], []]
        # 1 joined statement (root + children), then selectin per further level
        assert "join" in norm(sql_log.statements[0])
        assert len(sql_log.statements) == 3


# --- identity and mixes ---------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["lazy", "joined", "selectin", "refresh"])
async def test_related_objects_are_the_identity_map_objects_whichever_strategy(
    session_factory: Any, strategy: str
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        addresses = {a.email_address: a for a in (await session.scalars(select(Address))).all()}
        tags = {t.name: t for t in (await session.scalars(select(Tag))).all()}
        if strategy == "joined":
            stmt = select(User).options(joinedload(User.addresses), joinedload(User.posts))
            users = (await session.scalars(stmt.where(User.name == "ann"))).all()
            ann = users[0]
            await session.scalars(select(Post).options(joinedload(Post.tags)))
        elif strategy == "selectin":
            stmt = select(User).options(
                selectinload(User.addresses), selectinload(User.posts).selectinload(Post.tags)
            )
            ann = (await session.scalars(stmt.where(User.name == "ann"))).one()
        elif strategy == "lazy":
            ann = (await session.scalars(select(User).where(User.name == "ann"))).one()
            await ann.awaitable_attrs.addresses
            for post in await ann.awaitable_attrs.posts:
                await post.awaitable_attrs.tags
        else:
            ann = (await session.scalars(select(User).where(User.name == "ann"))).one()
            await session.refresh(ann, ["addresses", "posts"])
            for post in ann.posts:
                await session.refresh(post, ["tags"])
        assert ann is await session.get(User, ids["ann"])
        assert sorted(ann.addresses, key=lambda a: a.email_address) == [
            addresses["ann1@x"],
            addresses["ann2@x"],
        ]
        assert all(a is addresses[a.email_address] for a in ann.addresses)
        assert all(t is tags[t.name] for p in ann.posts for t in p.tags)
        assert {p.id for p in ann.posts} == {ids["p1"], ids["p2"]}
        p1 = await session.get(Post, ids["p1"])
        assert p1 in ann.posts


async def test_a_mix_of_options_in_one_query(session_factory: Any, sql_log: Any) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        users = (
            await session.scalars(
                select(User)
                .options(
                    joinedload(User.profile),
                    selectinload(User.addresses).joinedload(Address.user),
                    selectinload(User.posts).selectinload(Post.tags),
                )
                .order_by(User.id)
            )
        ).all()
        # users + profile (JOIN), addresses, posts, tags
        assert len(sql_log.statements) == 4
        ann, bob, cat = users
        assert ann.profile.bio == "ann bio" and bob.profile is None
        assert (
            emails(ann) == ["ann1@x", "ann2@x"] and emails(bob) == [] and emails(cat) == ["cat1@x"]
        )
        assert {p.title: labels_of_tags(p) for p in ann.posts} == {"p1": ["t1", "t2"], "p2": ["t2"]}
        sql_log.clear()
        assert cat.addresses[0].user is cat
        assert sql_log.statements == []


# --- eager loads and the identity map -----------------------------------------------


async def test_eager_load_fills_unloaded_attributes_of_objects_already_in_session(
    session_factory: Any, sql_log: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        ann = await session.get(User, ids["ann"])
        assert ann is not None
        with pytest.raises(exc.UnloadedAttributeError):
            _ = ann.addresses
        for option in (selectinload(User.addresses), joinedload(User.posts)):
            again = (
                await session.scalars(select(User).where(User.id == ids["ann"]).options(option))
            ).one()
            assert again is ann
        assert emails(ann) == ["ann1@x", "ann2@x"]
        assert sorted(p.title for p in ann.posts) == ["p1", "p2"]


@pytest.mark.parametrize("loader", [selectinload, joinedload])
async def test_eager_load_never_overwrites_pending_changes(
    session_factory: Any, loader: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory(autoflush=False) as session:
        ann = (
            await session.scalars(
                select(User).where(User.id == ids["ann"]).options(selectinload(User.addresses))
            )
        ).one()
        ann.name = "changed"
        extra = Address(email_address="new@x")
        ann.addresses.append(extra)
        removed = ann.addresses[0]
        ann.addresses.remove(removed)
        again = (
            await session.scalars(
                select(User).where(User.id == ids["ann"]).options(loader(User.addresses))
            )
        ).one()
        assert again is ann
        assert ann.name == "changed"
        assert extra in ann.addresses and removed not in ann.addresses
        assert len(ann.addresses) == 2
        assert ann in session.dirty


async def test_populate_existing_refreshes_loaded_columns_but_pending_changes_win(
    session_factory: Any,
) -> None:
    ids = await seed(session_factory)
    async with session_factory(autoflush=False) as session:
        ann = await session.get(User, ids["ann"])
        assert ann is not None
        ann.name = "pending"
        async with session_factory() as other:
            await other.execute(
                update(User).where(User.id == ids["ann"]).values(name="db-name", fullname="DB Full")
            )
            await other.commit()
        plain = (await session.scalars(select(User).where(User.id == ids["ann"]))).one()
        assert plain is ann
        assert ann.fullname == "Ann Full"  # loaded values are not overwritten by default
        fresh = (
            await session.scalars(
                select(User).where(User.id == ids["ann"]).execution_options(populate_existing=True)
            )
        ).one()
        assert fresh is ann
        assert ann.fullname == "DB Full"
        assert ann.name == "pending"


# --- the N+1 guard --------------------------------------------------------------------


async def test_n_plus_one_raise_allows_the_first_lazy_load_and_refuses_the_second(
    orm_engine: Any, session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    guarded = sessionmaker(orm_engine, n_plus_one="raise")
    async with guarded() as session:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        sql_log.clear()
        assert len(await users[0].awaitable_attrs.addresses) == 2
        with pytest.raises(exc.NPlusOneError, match="selectinload"):
            await users[1].awaitable_attrs.addresses
        assert len(sql_log.statements) == 1
        # another relationship of the first object is a first load too
        assert (await users[0].awaitable_attrs.profile).bio == "ann bio"


async def test_n_plus_one_warn_warns_naming_selectinload(
    orm_engine: Any, session_factory: Any
) -> None:
    await seed(session_factory)
    guarded = sessionmaker(orm_engine, n_plus_one="warn")
    async with guarded() as session:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        await users[0].awaitable_attrs.addresses
        with pytest.warns(exc.NPlusOneWarning, match="selectinload"):
            await users[1].awaitable_attrs.addresses
        assert users[1].addresses == []


async def test_n_plus_one_guard_is_off_by_default_and_ignores_single_results(
    orm_engine: Any, session_factory: Any
) -> None:
    ids = await seed(session_factory)
    async with session_factory() as session:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        for user in users:
            await user.awaitable_attrs.addresses
        assert [len(u.addresses) for u in users] == [2, 0, 1]
    guarded = sessionmaker(orm_engine, n_plus_one="raise")
    async with guarded() as session:
        # keep the instances alive: the identity map holds unmodified objects weakly
        loaded = []
        for name in ("ann", "bob", "cat"):
            user = (await session.scalars(select(User).where(User.name == name))).one()
            await user.awaitable_attrs.addresses
            loaded.append(user)
        ann = await session.get(User, ids["ann"])
        assert ann is not None and emails(ann) == ["ann1@x", "ann2@x"]
