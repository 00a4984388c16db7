"""Relationships: back_populates kept in sync in memory (with no I/O), collection
mutations tracked to the database, one-to-one, many-to-many, self-referential."""

from __future__ import annotations

from typing import Any

import pytest

from heron import exc, select

from .helpers import rows, seed_users
from .models import Address, Node, Post, Profile, Tag, User, post_tag

# --- back_populates in memory ---


async def test_setting_many_to_one_appends_to_loaded_collection(session_factory: Any) -> None:
    user = User(name="u")
    address = Address(email_address="a@x")
    address.user = user
    assert user.addresses == [address]
    other = User(name="v")
    address.user = other
    assert user.addresses == []
    assert other.addresses == [address]
    async with session_factory() as session:
        session.add_all([user, other])
        await session.commit()
        other_id = other.id
    assert await rows(session_factory, Address.email_address, Address.user_id) == [
        ("a@x", other_id)
    ]


async def test_collection_append_and_remove_set_the_many_to_one_side(
    session_factory: Any,
) -> None:
    user = User(name="u")
    address = Address(email_address="a@x")
    kept = Address(email_address="kept@x")
    user.addresses.append(address)
    user.addresses.append(kept)
    assert address.user is user
    user.addresses.remove(address)
    assert address.user is None
    async with session_factory() as session:
        session.add(user)
        assert address not in session  # never reachable from a session object
        await session.commit()
    assert await rows(session_factory, Address.email_address) == [("kept@x",)]


async def test_back_populates_sync_on_persistent_loaded_objects_does_no_io(
    session_factory: Any, sql_log: Any
) -> None:
    a_id, b_id = await seed_users(session_factory, "a", "b")
    async with session_factory() as session:
        a = await session.get(User, a_id)
        b = await session.get(User, b_id)
        await session.refresh(a, ["addresses"])
        await session.refresh(b, ["addresses"])
        sql_log.clear()
        address = Address(email_address="m@x")
        address.user = a
        assert a.addresses == [address]
        address.user = b
        assert a.addresses == [] and b.addresses == [address]
        assert sql_log.all_statements == []
        session.add(address)
        await session.commit()
    assert await rows(session_factory, Address.email_address, Address.user_id) == [("m@x", b_id)]


async def test_setting_side_of_unloaded_collection_does_no_io_and_applies_on_load(
    session_factory: Any, sql_log: Any
) -> None:
    [uid] = await seed_users(session_factory, "author")
    async with session_factory() as session:
        author = await session.get(User, uid)
        session.add(Post(title="existing", author=author))
        await session.commit()
    async with session_factory() as session:
        author = await session.get(User, uid)
        sql_log.clear()
        post = Post(title="fresh", author=author)
        assert sql_log.all_statements == []  # remembered, not loaded
        with pytest.raises(exc.UnloadedAttributeError):
            _ = author.posts
        session.add(post)
        posts = await author.awaitable_attrs.posts
        assert sorted(p.title for p in posts) == ["existing", "fresh"]
        assert post in posts
        assert sum(p is post for p in posts) == 1  # applied once, not duplicated


async def test_pending_change_to_unloaded_collection_survives_autoflush_off_load(
    session_factory: Any,
) -> None:
    [uid] = await seed_users(session_factory, "author")
    async with session_factory() as session:
        author = await session.get(User, uid)
        with session.no_autoflush:
            post = Post(title="unflushed", author=author)
            session.add(post)
            posts = await author.awaitable_attrs.posts
            assert posts == [post]


# --- collection mutations reach the database ---


async def _user_with_addresses(session: Any, *emails: str) -> User:
    user = User(name="owner", addresses=[Address(email_address=e) for e in emails])
    session.add(user)
    await session.flush()
    return user


async def _emails(session_factory: Any) -> list[str]:
    return sorted(r[0] for r in await rows(session_factory, Address.email_address))


async def test_append_and_extend_insert_children(session_factory: Any) -> None:
    async with session_factory() as session:
        user = await _user_with_addresses(session, "a")
        user.addresses.append(Address(email_address="b"))
        user.addresses.extend([Address(email_address="c"), Address(email_address="d")])
        await session.commit()
        assert all(a.user_id == user.id for a in user.addresses)
    assert await _emails(session_factory) == ["a", "b", "c", "d"]


async def test_remove_pop_and_del_are_tracked(session_factory: Any) -> None:
    async with session_factory() as session:
        user = await _user_with_addresses(session, "a", "b", "c", "d")
        user.addresses.remove(user.addresses[0])  # a
        user.addresses.pop()  # d
        del user.addresses[0]  # b
        await session.commit()
    assert await _emails(session_factory) == ["c"]


async def test_slice_assignment_is_tracked(session_factory: Any) -> None:
    async with session_factory() as session:
        user = await _user_with_addresses(session, "a", "b", "c")
        user.addresses[0:2] = [Address(email_address="x"), Address(email_address="y")]
        assert [a.email_address for a in user.addresses] == ["x", "y", "c"]
        await session.commit()
    assert await _emails(session_factory) == ["c", "x", "y"]


async def test_whole_collection_assignment_is_tracked(session_factory: Any) -> None:
    async with session_factory() as session:
        user = await _user_with_addresses(session, "a", "b")
        keep = user.addresses[1]
        user.addresses = [keep, Address(email_address="new")]
        assert keep.user is user
        await session.commit()
    assert await _emails(session_factory) == ["b", "new"]


async def test_moving_child_between_parents_updates_foreign_key(session_factory: Any) -> None:
    a_id, b_id = await seed_users(session_factory, "a", "b")
    async with session_factory() as session:
        a = await session.get(User, a_id)
        b = await session.get(User, b_id)
        address = Address(email_address="moving", user=a)
        session.add(address)
        await session.commit()
        address.user = b
        await session.commit()
        assert address.user_id == b_id
    assert await rows(session_factory, Address.email_address, Address.user_id) == [("moving", b_id)]


# --- one-to-one ---


async def test_one_to_one_is_a_scalar_on_both_sides(session_factory: Any) -> None:
    user = User(name="u")
    profile = Profile(bio="hi")
    user.profile = profile
    assert profile.user is user
    assert user.profile is profile
    async with session_factory() as session:
        session.add(user)
        await session.commit()
        uid = user.id
    async with session_factory() as session:
        loaded = await session.get(User, uid)
        got = await loaded.awaitable_attrs.profile
        assert isinstance(got, Profile) and got.bio == "hi"
        assert got.user_id == uid


async def test_one_to_one_without_a_row_loads_as_none(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "lonely")
    async with session_factory() as session:
        user = await session.get(User, uid)
        assert await user.awaitable_attrs.profile is None


async def test_setting_one_to_one_to_none_deletes_the_orphan(session_factory: Any) -> None:
    async with session_factory() as session:
        user = User(name="u", profile=Profile(bio="old"))
        session.add(user)
        await session.commit()
        old = user.profile
        user.profile = None
        assert old.user is None
        await session.commit()
        user.profile = Profile(bio="new")
        await session.commit()
    assert await rows(session_factory, Profile.bio) == [("new",)]


# --- many-to-many ---


async def _assoc(session_factory: Any) -> set[tuple[int, int]]:
    return {
        (r[0], r[1]) for r in await rows(session_factory, post_tag.c.post_id, post_tag.c.tag_id)
    }


async def test_many_to_many_append_inserts_association_rows_and_syncs_other_side(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        python = Tag(name="python")
        sql = Tag(name="sql")
        post = Post(title="heron")
        post.tags.append(python)
        post.tags.append(sql)
        assert python.posts == [post] and sql.posts == [post]
        session.add(post)
        await session.commit()
        ids = {(post.id, python.id), (post.id, sql.id)}
    assert await _assoc(session_factory) == ids


async def test_many_to_many_remove_deletes_only_the_association_row(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        python, sql = Tag(name="python"), Tag(name="sql")
        post = Post(title="heron", tags=[python, sql])
        session.add(post)
        await session.commit()
        post.tags.remove(python)
        assert python.posts == []
        await session.commit()
        expected = {(post.id, sql.id)}
    assert await _assoc(session_factory) == expected
    assert sorted(r[0] for r in await rows(session_factory, Tag.name)) == ["python", "sql"]


async def test_many_to_many_loads_lazily_from_either_side(session_factory: Any) -> None:
    async with session_factory() as session:
        session.add(Post(title="p1", tags=[Tag(name="t1"), Tag(name="t2")]))
        await session.commit()
    async with session_factory() as session:
        tag = (await session.scalars(select(Tag).where(Tag.name == "t2"))).one()
        posts = await tag.awaitable_attrs.posts
        assert [p.title for p in posts] == ["p1"]
        tags = await posts[0].awaitable_attrs.tags
        assert sorted(t.name for t in tags) == ["t1", "t2"]
        assert tag in tags


async def test_deleting_many_to_many_parent_removes_association_rows_only(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        post = Post(title="doomed", tags=[Tag(name="t1")])
        keeper = Post(title="keeper", tags=[Tag(name="t2")])
        session.add_all([post, keeper])
        await session.commit()
        keeper_pair = (keeper.id, keeper.tags[0].id)
    async with session_factory() as session:
        doomed = (await session.scalars(select(Post).where(Post.title == "doomed"))).one()
        await session.delete(doomed)
        await session.commit()
    assert await _assoc(session_factory) == {keeper_pair}
    assert sorted(r[0] for r in await rows(session_factory, Tag.name)) == ["t1", "t2"]


# --- self-referential ---


async def test_self_referential_children_and_parent_stay_in_sync(
    session_factory: Any,
) -> None:
    root = Node(label="root")
    child = Node(label="child")
    root.children.append(child)
    assert child.parent is root
    other = Node(label="other")
    child.parent = other
    assert root.children == [] and other.children == [child]
    async with session_factory() as session:
        session.add_all([root, other])
        await session.commit()
        expected = {("root", None), ("other", None), ("child", other.id)}
    assert set(await rows(session_factory, Node.label, Node.parent_id)) == expected


async def test_self_referential_tree_loads_back(session_factory: Any) -> None:
    async with session_factory() as session:
        root = Node(label="root", children=[Node(label="a"), Node(label="b")])
        root.children[0].children.append(Node(label="a1"))
        session.add(root)
        await session.commit()
        root_id = root.id
    async with session_factory() as session:
        root = await session.get(Node, root_id)
        children = await root.awaitable_attrs.children
        assert sorted(c.label for c in children) == ["a", "b"]
        a = next(c for c in children if c.label == "a")
        assert [n.label for n in await a.awaitable_attrs.children] == ["a1"]
        assert await a.awaitable_attrs.parent is root
