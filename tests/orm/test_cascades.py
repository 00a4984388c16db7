"""Cascades: save-update (default), delete, delete-orphan, expunge, NULLing foreign
keys of children whose parent has no delete cascade, and passive_deletes."""

from __future__ import annotations

from typing import Any

import pytest

import heron
from heron import exc, select

from .helpers import dml, mentions, rows, seed_users
from .models import (
    Address,
    Document,
    Folder,
    Invoice,
    InvoiceLine,
    Node,
    Post,
    Profile,
    Tag,
    User,
    post_tag,
)

# --- save-update ---


async def test_adding_parent_adds_its_children(session_factory: Any) -> None:
    async with session_factory() as session:
        address = Address(email_address="a@x")
        post = Post(title="p")
        user = User(name="u", addresses=[address], posts=[post])
        session.add(user)
        assert address in session and post in session
        assert address in session.new and post in session.new
        await session.commit()
        assert address.user_id == user.id and post.author_id == user.id


async def test_adding_parent_cascades_through_new_childrens_other_relationships(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        tag = Tag(name="t")
        post = Post(title="p", tags=[tag])  # the new child points back, and at a new tag
        user = User(name="u", posts=[post, Post(title="q")])
        session.add_all([user])
        assert tag in session.new and post in session.new
        await session.commit()
        assert post.author_id == user.id and tag.id is not None
        assert [t.name for t in post.tags] == ["t"]


async def test_adding_child_adds_its_many_to_one_parent(session_factory: Any) -> None:
    async with session_factory() as session:
        user = User(name="u")
        post = Post(title="p", author=user)
        session.add(post)
        assert user in session.new
        await session.commit()
    assert await rows(session_factory, User.name) == [("u",)]


async def test_appending_to_collection_of_session_object_adds_child(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        user = User(name="u")
        session.add(user)
        address = Address(email_address="late@x")
        user.addresses.append(address)
        assert address in session
        await session.commit()
    assert await rows(session_factory, Address.email_address) == [("late@x",)]


# --- delete ---


async def test_deleting_parent_deletes_unloaded_children(session_factory: Any) -> None:
    async with session_factory() as session:
        session.add(
            User(
                name="u",
                addresses=[Address(email_address="a"), Address(email_address="b")],
                profile=Profile(bio="bio"),
            )
        )
        session.add(User(name="other", addresses=[Address(email_address="keep")]))
        await session.commit()
    async with session_factory() as session:
        user = (await session.scalars(select(User).where(User.name == "u"))).one()
        await session.delete(user)  # collections not loaded: delete() loads them
        await session.commit()
    assert await rows(session_factory, User.name) == [("other",)]
    assert await rows(session_factory, Address.email_address) == [("keep",)]
    assert await rows(session_factory, Profile.bio) == []


async def test_deleted_children_are_marked_deleted_in_session(session_factory: Any) -> None:
    async with session_factory() as session:
        user = User(name="u", addresses=[Address(email_address="a")])
        session.add(user)
        await session.commit()
        address = user.addresses[0]
        await session.delete(user)
        assert address in session.deleted
        await session.flush()
        assert heron.inspect(address).deleted


# --- delete-orphan ---


async def test_child_removed_from_delete_orphan_collection_is_deleted(
    session_factory: Any, sql_log: Any
) -> None:
    async with session_factory() as session:
        user = User(name="u", addresses=[Address(email_address="a"), Address(email_address="b")])
        session.add(user)
        await session.commit()
        orphan = user.addresses[0]
        user.addresses.remove(orphan)
        sql_log.clear()
        await session.commit()
        assert dml(sql_log.statements, "delete", "orm_address")
        assert not dml(sql_log.statements, "update", "orm_address")
        assert heron.inspect(orphan).detached
    assert await rows(session_factory, Address.email_address) == [("b",)]


async def test_child_moved_to_another_parent_is_not_an_orphan(session_factory: Any) -> None:
    async with session_factory() as session:
        a = User(name="a", addresses=[Address(email_address="moving")])
        b = User(name="b")
        session.add_all([a, b])
        await session.commit()
        moving = a.addresses[0]
        a.addresses.remove(moving)
        b.addresses.append(moving)
        await session.commit()
        b_id = b.id
    assert await rows(session_factory, Address.email_address, Address.user_id) == [("moving", b_id)]


# --- children of a parent without delete cascade ---


async def test_removed_child_without_delete_orphan_gets_null_foreign_key(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        user = User(name="u", posts=[Post(title="p1"), Post(title="p2")])
        session.add(user)
        await session.commit()
        p1 = user.posts[0]
        user.posts.remove(p1)
        assert p1.author is None
        await session.commit()
        assert p1.author_id is None
        uid = user.id
    assert set(await rows(session_factory, Post.title, Post.author_id)) == {
        ("p1", None),
        ("p2", uid),
    }


async def test_deleting_parent_without_delete_cascade_nulls_childrens_foreign_key(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        session.add(User(name="u", posts=[Post(title="p1"), Post(title="p2")]))
        await session.commit()
    async with session_factory() as session:
        user = (await session.scalars(select(User))).one()
        await session.delete(user)  # posts unloaded: loaded first, then set to NULL
        await session.commit()
    assert sorted(await rows(session_factory, Post.title, Post.author_id)) == [
        ("p1", None),
        ("p2", None),
    ]
    assert await rows(session_factory, User.name) == []


async def test_removing_child_with_not_null_foreign_key_fails_clearly(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        invoice = Invoice(
            number="INV-1",
            lines=[InvoiceLine(description="one"), InvoiceLine(description="two")],
        )
        session.add(invoice)
        await session.commit()
        invoice.lines.remove(invoice.lines[0])
        invoice.number = "INV-1b"
        with pytest.raises((exc.IntegrityError, exc.FlushError)) as info:
            await session.commit()
        assert "invoice_id" in str(info.value)
        await session.rollback()
    # nothing half-applied: the number change did not land either
    assert await rows(session_factory, Invoice.number) == [("INV-1",)]
    assert sorted(await rows(session_factory, InvoiceLine.description)) == [("one",), ("two",)]


async def test_deleting_parent_of_not_null_children_fails_clearly(session_factory: Any) -> None:
    async with session_factory() as session:
        session.add(Invoice(number="INV-1", lines=[InvoiceLine(description="one")]))
        await session.commit()
    async with session_factory() as session:
        invoice = (await session.scalars(select(Invoice))).one()
        await session.delete(invoice)
        with pytest.raises((exc.IntegrityError, exc.FlushError)) as info:
            await session.commit()
        assert "invoice_id" in str(info.value)
        await session.rollback()
    assert await rows(session_factory, Invoice.number) == [("INV-1",)]
    assert await rows(session_factory, InvoiceLine.description) == [("one",)]


# --- passive_deletes ---


async def test_passive_deletes_leaves_unloaded_children_to_the_database(
    session_factory: Any, sql_log: Any
) -> None:
    async with session_factory() as session:
        session.add(Folder(name="f", documents=[Document(title="d1"), Document(title="d2")]))
        session.add(Folder(name="other", documents=[Document(title="keep")]))
        await session.commit()
    async with session_factory() as session:
        folder = (await session.scalars(select(Folder).where(Folder.name == "f"))).one()
        sql_log.clear()
        await session.delete(folder)
        await session.commit()
        # no SELECT (or UPDATE/DELETE) of the children: ON DELETE CASCADE does it
        assert mentions(sql_log.statements, "orm_document") == []
        assert dml(sql_log.statements, "delete", "orm_folder")
    assert await rows(session_factory, Folder.name) == [("other",)]
    assert await rows(session_factory, Document.title) == [("keep",)]


async def test_passive_deletes_still_deletes_loaded_children(session_factory: Any) -> None:
    async with session_factory() as session:
        folder = Folder(name="f", documents=[Document(title="d1")])
        session.add(folder)
        await session.commit()
        doc = folder.documents[0]
        await session.delete(folder)
        assert doc in session.deleted
        await session.commit()
    assert await rows(session_factory, Document.title) == []


# --- expunge / refresh-expire ("all" includes them) ---


async def test_expunge_cascades_to_loaded_children(session_factory: Any) -> None:
    async with session_factory() as session:
        user = User(name="u", addresses=[Address(email_address="a")])
        session.add(user)
        await session.commit()
        address = user.addresses[0]
        session.expunge(user)
        assert heron.inspect(user).detached
        assert heron.inspect(address).detached


async def test_expire_cascades_to_loaded_children(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "u")
    async with session_factory() as session:
        user = await session.get(User, uid)
        session.add(Address(email_address="a", user=user))
        await session.commit()
        await session.refresh(user, ["addresses"])
        address = user.addresses[0]
        session.expire(user)
        assert "email_address" in heron.inspect(address).expired_attributes


async def test_deleting_parent_skips_child_already_deleted_in_same_transaction(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        user = User(name="u", addresses=[Address(email_address="a"), Address(email_address="b")])
        session.add(user)
        await session.flush()
        first = user.addresses[0]
        await session.delete(first)
        await session.flush()
        # the deleted child still sits in the loaded collection; the cascade must
        # not DELETE it a second time (which would match 0 rows)
        await session.delete(user)
        await session.commit()
    assert await rows(session_factory, Address.email_address) == []


async def test_deleting_parent_does_not_null_a_child_already_deleted(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        root = Node(label="root")
        child = Node(label="child", parent=root)
        session.add_all([root, child])
        await session.flush()
        await session.delete(child)
        await session.flush()
        # root.children still holds the deleted child: no UPDATE may target it
        await session.delete(root)
        await session.commit()
    assert await rows(session_factory, Node.label) == []


async def test_deleting_many_parents_loads_children_to_null_in_batches(
    orm_engine: Any, session_factory: Any, sql_log: Any
) -> None:
    async with session_factory() as session:
        users = [User(name=f"u{i}") for i in range(1200)]
        session.add_all(users)
        kept = Post(title="kept", author=users[7])
        session.add(kept)
        await session.commit()
    async with session_factory() as session:
        loaded = (await session.scalars(select(User))).all()
        sql_log.clear()
        for user in loaded:
            await session.delete(user)
        # nothing is loaded one parent at a time: the children the flush needs
        # (addresses and profile to cascade the delete to, posts to set their
        # key to NULL) are loaded for all 1,200 parents at once: one query per
        # relationship on PostgreSQL (an array parameter), one per 500 on SQLite
        assert sql_log.statements == []
        await session.commit()
        selects = [s for s in sql_log.statements if s.lstrip().upper().startswith("SELECT")]
        per_relationship = 1 if orm_engine.dialect.supports_any_array else 3
        assert len(selects) == 3 * per_relationship
        # the loaded collections are what the rows held: empty, or the child
        # whose key was set to NULL (it stays in memory, as in SQLAlchemy)
        assert loaded[0].posts == []
        [post] = loaded[7].posts
        assert post.title == "kept" and post.author_id is None
    assert await rows(session_factory, Post.title, Post.author_id) == [("kept", None)]


async def test_deleting_many_to_many_objects_removes_their_rows_in_one_statement(
    session_factory: Any, sql_log: Any
) -> None:
    async with session_factory() as session:
        tags = [Tag(name=f"t{i}") for i in range(3)]
        posts = [Post(title=f"p{i}", tags=list(tags)) for i in range(4)]
        session.add_all(posts)
        await session.commit()
        sql_log.clear()
        for post in posts[:3]:
            await session.delete(post)
        await session.commit()
        # the association rows of all three posts go in one batched DELETE
        deletes = [s for s in sql_log.statements if "orm_post_tag" in s and "DELETE" in s.upper()]
        assert len(deletes) == 1
    left = await rows(session_factory, post_tag.c.post_id)
    assert left == [(posts[3].id,)] * 3


async def test_persistent_child_moved_into_a_new_parents_collection_gets_its_key(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        old = User(name="old", addresses=[Address(email_address="a@x")])
        session.add(old)
        await session.commit()
        moved = old.addresses[0]
        new = User(name="new", addresses=[moved, Address(email_address="b@x")])
        session.add(new)
        await session.commit()
        assert moved.user_id == new.id and old.addresses == []
    assert sorted(await rows(session_factory, Address.email_address, Address.user_id)) == [
        ("a@x", new.id),
        ("b@x", new.id),
    ]
