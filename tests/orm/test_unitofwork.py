"""Unit of work: dependency ordering, batching, generated keys matched to objects,
post_update, cycles, StaleDataError, atomic failure, concurrent bulk inserts."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from heron import delete, exc, select, update

from .helpers import dml, norm, rows, seed_users
from .models import Address, Node, Person, Post, Tag, User, Widget, post_tag


async def test_flush_with_nothing_to_do_sends_nothing(session_factory: Any, sql_log: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        await session.get(User, uid)
        sql_log.clear()
        await session.flush()
        assert sql_log.statements == []


async def test_parent_inserted_before_child_added_first(session_factory: Any, sql_log: Any) -> None:
    async with session_factory() as session:
        user = User(name="u")
        address = Address(email_address="a@x", user=user)
        session.add(address)  # child first; the parent comes in by cascade
        sql_log.clear()
        await session.flush()
        user_insert = dml(sql_log.statements, "insert", "orm_user")
        address_insert = dml(sql_log.statements, "insert", "orm_address")
        assert sql_log.statements.index(user_insert[0]) < sql_log.statements.index(
            address_insert[0]
        )
        assert address.user_id == user.id is not None
        await session.commit()


async def test_many_rows_of_one_table_insert_in_one_statement_with_keys_matched(
    session_factory: Any, sql_log: Any
) -> None:
    async with session_factory() as session:
        users = [User(name=f"user{i:02}", fullname=f"full{i:02}") for i in range(25)]
        session.add_all(users)
        sql_log.clear()
        await session.flush()
        assert len(dml(sql_log.statements, "insert", "orm_user")) == 1
        assert len({u.id for u in users}) == 25
        await session.commit()
        expected = {(u.id, u.name, u.fullname) for u in users}
    assert set(await rows(session_factory, User.id, User.name, User.fullname)) == expected


async def test_updates_are_grouped_by_changed_columns(session_factory: Any, sql_log: Any) -> None:
    ids = await seed_users(session_factory, "a", "b", "c", "d", "e")
    async with session_factory() as session:
        users = [await session.get(User, i) for i in ids]
        for u in users[:3]:
            u.name = u.name.upper()
        for u in users[3:]:
            u.fullname = "changed"
        sql_log.clear()
        await session.flush()
        updates = dml(sql_log.statements, "update", "orm_user")
        assert len(updates) == 2, updates
        set_clauses = sorted(norm(s).split(" where ")[0] for s in updates)
        assert sum(bool(re.search(r"\bname\b", c)) for c in set_clauses) == 1
        assert sum("fullname" in c for c in set_clauses) == 1
        assert not any(re.search(r"\bname\b", c) and "fullname" in c for c in set_clauses)
        await session.commit()
    assert await rows(session_factory, User.name, User.fullname, order_by=User.id) == [
        ("A", "A Full"),
        ("B", "B Full"),
        ("C", "C Full"),
        ("d", "changed"),
        ("e", "changed"),
    ]


async def test_deletes_are_batched(session_factory: Any, sql_log: Any) -> None:
    async with session_factory() as session:
        user = User(name="u", addresses=[Address(email_address=f"{i}@x") for i in range(6)])
        session.add(user)
        await session.commit()
        for address in list(user.addresses[:5]):
            await session.delete(address)
        sql_log.clear()
        await session.flush()
        assert len(dml(sql_log.statements, "delete", "orm_address")) == 1
        await session.commit()
    assert await rows(session_factory, Address.email_address) == [("5@x",)]


async def test_children_deleted_before_parents(session_factory: Any, sql_log: Any) -> None:
    async with session_factory() as session:
        session.add(User(name="u", addresses=[Address(email_address="a")]))
        await session.commit()
    async with session_factory() as session:
        user = (await session.scalars(select(User))).one()
        await session.delete(user)
        sql_log.clear()
        await session.flush()
        child = dml(sql_log.statements, "delete", "orm_address")
        parent = dml(sql_log.statements, "delete", "orm_user")
        assert child and parent
        assert sql_log.statements.index(child[0]) < sql_log.statements.index(parent[0])
        await session.commit()
    assert await rows(session_factory, Address.email_address) == []


async def test_self_referential_tree_inserts_in_one_flush(session_factory: Any) -> None:
    async with session_factory() as session:
        root = Node(label="root")
        kids = [Node(label=f"k{i}", parent=root) for i in range(3)]
        grandkids = [Node(label=f"g{i}", parent=kids[i % 3]) for i in range(6)]
        # add deepest first, so the order of add() cannot explain a correct result
        session.add_all(list(reversed(grandkids)) + kids + [root])
        await session.flush()
        assert root.parent_id is None
        assert all(k.parent_id == root.id for k in kids)
        assert all(g.parent_id == kids[i % 3].id for i, g in enumerate(grandkids))
        expected = {(n.id, n.label, n.parent_id) for n in [root, *kids, *grandkids]}
        await session.commit()
    assert set(await rows(session_factory, Node.id, Node.label, Node.parent_id)) == expected


async def test_adding_a_leaf_inserts_its_whole_ancestor_chain(session_factory: Any) -> None:
    async with session_factory() as session:
        top = Node(label="top")
        middle = Node(label="middle", parent=top)
        leaf = Node(label="leaf", parent=middle)
        session.add(leaf)
        await session.commit()
        expected = {("top", None), ("middle", top.id), ("leaf", middle.id)}
    assert set(await rows(session_factory, Node.label, Node.parent_id)) == expected


async def test_reparenting_and_deleting_in_one_self_referential_flush(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        a = Node(label="a")
        b = Node(label="b", parent=a)
        c = Node(label="c", parent=b)
        session.add(a)
        await session.commit()
        c.parent = a
        await session.delete(b)
        await session.commit()
        expected = {("a", None), ("c", a.id)}
    assert set(await rows(session_factory, Node.label, Node.parent_id)) == expected


async def test_post_update_breaks_a_two_row_cycle(session_factory: Any, sql_log: Any) -> None:
    async with session_factory() as session:
        alice = Person(name="alice")
        bob = Person(name="bob")
        alice.best_friend = bob
        bob.best_friend = alice
        session.add_all([alice, bob])
        sql_log.clear()
        await session.flush()
        assert alice.best_friend_id == bob.id and bob.best_friend_id == alice.id
        assert dml(sql_log.statements, "insert", "orm_person")
        assert dml(sql_log.statements, "update", "orm_person"), "post_update sends an UPDATE"
        await session.commit()
        expected = {("alice", bob.id), ("bob", alice.id)}
    assert set(await rows(session_factory, Person.name, Person.best_friend_id)) == expected


async def test_row_cycle_without_post_update_raises_circular_dependency(
    session_factory: Any,
) -> None:
    async with session_factory() as session:
        a = Node(label="a")
        b = Node(label="b")
        a.parent = b
        b.parent = a
        session.add_all([a, b])
        with pytest.raises(exc.CircularDependencyError) as info:
            await session.flush()
        assert len(info.value.cycle) >= 2
        await session.rollback()
        session.add(Node(label="fine"))
        await session.commit()
    assert await rows(session_factory, Node.label) == [("fine",)]


async def test_many_to_many_rows_written_after_both_sides(
    session_factory: Any, sql_log: Any
) -> None:
    async with session_factory() as session:
        post = Post(title="p", tags=[Tag(name="a"), Tag(name="b")])
        session.add(post)
        sql_log.clear()
        await session.flush()
        assoc = dml(sql_log.statements, "insert", "orm_post_tag")
        assert len(assoc) == 1, "association rows are one batched INSERT"
        last_entity = max(
            sql_log.statements.index(s)
            for s in dml(sql_log.statements, "insert", "orm_post")
            + dml(sql_log.statements, "insert", "orm_tag")
        )
        assert sql_log.statements.index(assoc[0]) > last_entity
        await session.commit()
        expected = {(post.id, t.id) for t in post.tags}
    assert set(await rows(session_factory, post_tag.c.post_id, post_tag.c.tag_id)) == expected


async def test_stale_update_raises_stale_data_error(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        await session.commit()
        async with session_factory() as other:
            await other.execute(delete(User).where(User.id == uid))
            await other.commit()
        user.name = "ghost"
        with pytest.raises(exc.StaleDataError):
            await session.flush()
        await session.rollback()


async def test_stale_delete_raises_stale_data_error(session_factory: Any) -> None:
    [uid] = await seed_users(session_factory, "alice")
    async with session_factory() as session:
        user = await session.get(User, uid)
        await session.commit()
        async with session_factory() as other:
            await other.execute(delete(User).where(User.id == uid))
            await other.commit()
        await session.delete(user)
        with pytest.raises(exc.StaleDataError):
            await session.flush()
        await session.rollback()


async def test_failed_flush_applies_nothing(session_factory: Any) -> None:
    async with session_factory() as session:
        session.add(Tag(name="taken"))
        await session.commit()
    async with session_factory() as session:
        # Rows of earlier batches in the failing flush must not survive into
        # the session's next transaction (SQLite keeps a transaction open after
        # a failed statement unless it is rolled back).
        session.add_all([User(name="would-be"), Post(title="would-be")])
        session.add(Tag(name="taken"))  # unique violation
        with pytest.raises(exc.IntegrityError):
            await session.flush()
        await session.rollback()
        session.add(User(name="after"))
        await session.commit()
    assert await rows(session_factory, User.name) == [("after",)]
    assert await rows(session_factory, Post.title) == []
    assert await rows(session_factory, Tag.name) == [("taken",)]


async def test_foreign_keys_filled_from_related_objects_on_update(session_factory: Any) -> None:
    a_id, b_id = await seed_users(session_factory, "a", "b")
    async with session_factory() as session:
        a = await session.get(User, a_id)
        post = Post(title="p", author=a)
        session.add(post)
        await session.flush()
        assert post.author_id == a_id
        post.author = await session.get(User, b_id)
        await session.flush()
        assert post.author_id == b_id
        await session.commit()
    assert await rows(session_factory, Post.author_id) == [(b_id,)]


async def test_keys_are_copied_for_kept_rows_while_other_rows_are_deleted(
    session_factory: Any,
) -> None:
    # one flush: a post moves to another author while an unrelated user is deleted
    a_id, b_id, c_id = await seed_users(session_factory, "a", "b", "c")
    async with session_factory() as session:
        a = await session.get(User, a_id)
        session.add(Post(title="p", author=a))
        await session.commit()
    async with session_factory() as session:
        post = (await session.scalars(select(Post))).one()
        await session.refresh(post, ["author"])
        b = await session.get(User, b_id)
        c = await session.get(User, c_id)
        post.author = b
        await session.delete(c)  # its collections load in the commit's flush: no autoflush first
        await session.commit()
        assert post.author_id == b_id
    assert await rows(session_factory, Post.author_id) == [(b_id,)]
    assert await rows(session_factory, User.id) == [(a_id,), (b_id,)]


async def test_orm_update_then_flush_does_not_resend_synchronized_values(
    session_factory: Any, sql_log: Any
) -> None:
    [uid] = await seed_users(session_factory, "sandy")
    async with session_factory() as session:
        sandy = await session.get(User, uid)
        await session.execute(update(User).where(User.id == uid).values(fullname="bulk"))
        sql_log.clear()
        await session.flush()
        assert sql_log.statements == []
        assert sandy.fullname == "bulk"
        assert sandy not in session.dirty


async def test_large_flush_concurrent_with_other_inserts_matches_every_key(
    session_factory: Any,
) -> None:
    total = 5000
    big_done = asyncio.Event()
    side_labels: list[str] = []

    async def big_flush() -> dict[int, str]:
        try:
            async with session_factory() as session:
                widgets = [Widget(label=f"big-{i:05}", weight=i) for i in range(total)]
                session.add_all(widgets)
                await session.flush()
                ids = {w.id: w.label for w in widgets}
                await session.commit()
                return ids
        finally:
            big_done.set()

    async def side_inserts() -> dict[int, str]:
        ids: dict[int, str] = {}
        round_ = 0
        while not big_done.is_set() or round_ == 0:
            async with session_factory() as session:
                widgets = [Widget(label=f"side-{round_:03}-{j}", weight=-1) for j in range(10)]
                session.add_all(widgets)
                await session.commit()
                ids.update({w.id: w.label for w in widgets})
                side_labels.extend(w.label for w in widgets)
            round_ += 1
            await asyncio.sleep(0)
        return ids

    async with asyncio.timeout(30):
        big_ids, side_ids = await asyncio.gather(big_flush(), side_inserts())

    assert len(big_ids) == total
    assert not set(big_ids) & set(side_ids)
    stored = dict(await rows(session_factory, Widget.id, Widget.label))
    assert len(stored) == total + len(side_labels)
    assert all(stored[key] == label for key, label in big_ids.items())
    assert all(stored[key] == label for key, label in side_ids.items())
