"""Statements executed on SQLite and PostgreSQL: DDL, DML, upserts, CTEs, joins."""

from __future__ import annotations

from typing import Any

import pytest

from heron import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
    update,
)
from heron.exc import IntegrityError


def _schema() -> tuple[MetaData, Table, Table]:
    # Declared child first: create_all must still create the parent first.
    md = MetaData()
    addresses = Table(
        "addresses",
        md,
        Column("id", Integer, primary_key=True),
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        Column("email", String(100), nullable=False, index=True),
    )
    users = Table(
        "users",
        md,
        Column("id", Integer, primary_key=True),
        Column("name", String(200), nullable=False, unique=True),
        Column("age", Integer),
        Column("created", Integer, server_default=func.coalesce(None, 7)),
    )
    return md, users, addresses


async def _tables(conn: Any) -> set[str]:
    from heron.sql.ddl import existing_tables

    _, users, addresses = _schema()
    return await existing_tables(conn, [users, addresses])


async def test_create_all_and_drop_all_twice_in_any_declaration_order(engine: Any) -> None:
    md, users, addresses = _schema()
    await md.create_all(engine)
    await md.create_all(engine)
    async with engine.begin() as conn:
        assert await _tables(conn) == {"users", "addresses"}
        await conn.execute(insert(users).values(id=1, name="a"))
        await conn.execute(insert(addresses).values(user_id=1, email="e"))
        assert await conn.scalar(select(users.c.created)) == 7
    await md.drop_all(engine)
    await md.drop_all(engine)
    async with engine.begin() as conn:
        assert await _tables(conn) == set()


async def test_foreign_key_cycle_is_created_and_dropped(engine: Any) -> None:
    md = MetaData()
    Table("a", md, Column("id", Integer, primary_key=True), Column("b_id", ForeignKey("b.id")))
    Table("b", md, Column("id", Integer, primary_key=True), Column("a_id", ForeignKey("a.id")))
    await md.create_all(engine)
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(md.tables["a"]).values(id=1))
        await conn.execute(insert(md.tables["b"]).values(id=1, a_id=1))
        await conn.execute(update(md.tables["a"]).values(b_id=1))
        with pytest.raises(IntegrityError):
            async with conn.begin_nested():
                await conn.execute(update(md.tables["a"]).values(b_id=99))
    await md.drop_all(engine)
    await md.drop_all(engine)


async def test_insert_select_update_delete_with_rowcount(engine: Any) -> None:
    md, users, _ = _schema()
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(users), [{"name": f"u{i}", "age": i} for i in range(10)])
        ids = (
            (
                await conn.execute(
                    insert(users)
                    .values([{"name": "x", "age": 1}, {"name": "y", "age": 2}])
                    .returning(users.c.id)
                )
            )
            .scalars()
            .all()
        )
        assert len(ids) == 2 and ids[0] != ids[1]
        result = await conn.execute(
            update(users).where(users.c.age < 5).values(age=users.c.age + 100)
        )
        assert result.rowcount == 7
        result = await conn.execute(delete(users).where(users.c.name.in_(["x", "y", "nobody"])))
        assert result.rowcount == 2
        rows = (
            await conn.execute(
                select(users.c.name, users.c.age)
                .where(users.c.age > 100)
                .order_by(users.c.age.desc())
            )
        ).all()
        assert [tuple(r) for r in rows][:2] == [("u4", 104), ("u3", 103)]
        gone = await conn.execute(delete(users).where(users.c.name == "u0").returning(users.c.name))
        assert gone.scalars().all() == ["u0"]


async def test_in_lists_and_empty_lists(engine: Any) -> None:
    md, users, _ = _schema()
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(users), [{"name": n, "age": a} for n, a in [("a", 1), ("b", None)]]
        )
        names = select(users.c.name).order_by(users.c.name)
        assert (await conn.execute(names.where(users.c.age.in_([])))).scalars().all() == []
        assert (await conn.execute(names.where(users.c.age.not_in([])))).scalars().all() == [
            "a",
            "b",
        ]
        assert (await conn.execute(names.where(users.c.name.in_(["b", "z"])))).scalars().all() == [
            "b"
        ]
        many = list(range(2000))
        assert (await conn.execute(names.where(users.c.age.in_(many)))).scalars().all() == ["a"]
        stmt = names.where(users.c.name.in_(bindparam("ns", expanding=True)))
        assert (await conn.execute(stmt, {"ns": ["a", "b"]})).scalars().all() == ["a", "b"]
        assert (await conn.execute(stmt, {"ns": []})).scalars().all() == []


async def test_strings_come_back_verbatim(engine: Any) -> None:
    md, users, _ = _schema()
    await md.create_all(engine)
    nasty = [
        "Robert'); DROP TABLE users;--",
        'double "quotes" and \\backslashes\\ and \\\' ',
        "SELECT * FROM users WHERE 1=1; -- comment",
        "percent % underscore _ colon :name dollar $1 question ?",
        "ünïcödé ✓ \u2028 \U0001f600",
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(users), [{"name": s} for s in nasty])
        for s in nasty:
            assert await conn.scalar(select(users.c.name).where(users.c.name == s)) == s
            assert await conn.scalar(select(users.c.name).where(users.c.name.contains(s[3:9]))) == s
        assert await conn.scalar(select(func.count()).select_from(users)) == len(nasty)


async def test_like_helpers_match_wildcards_literally(engine: Any) -> None:
    md, users, _ = _schema()
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(users), [{"name": n} for n in ["50%", "500", "a_b", "axb", "x/y"]]
        )
        found = select(users.c.name).order_by(users.c.name)
        assert (
            await conn.execute(found.where(users.c.name.startswith("50%")))
        ).scalars().all() == ["50%"]
        assert (await conn.execute(found.where(users.c.name.contains("_")))).scalars().all() == [
            "a_b"
        ]
        assert (await conn.execute(found.where(users.c.name.endswith("/y")))).scalars().all() == [
            "x/y"
        ]
        assert (await conn.execute(found.where(users.c.name.ilike("A%")))).scalars().all() == [
            "a_b",
            "axb",
        ]


async def test_upserts(engine: Any) -> None:
    md, users, _ = _schema()
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(users).values(id=1, name="a", age=1))
        stmt = insert(users).values(id=1, name="a", age=50)
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=[users.c.id]))
        assert await conn.scalar(select(users.c.age)) == 1
        upsert = stmt.on_conflict_do_update(
            index_elements=["id"], set_={"age": stmt.excluded.age + users.c.age}
        )
        returned = await conn.execute(upsert.returning(users.c.age))
        assert returned.scalar() == 51
        await conn.execute(stmt.on_conflict_do_nothing())
        many = insert(users).values(
            [{"id": 1, "name": "a", "age": 0}, {"id": 2, "name": "b", "age": 0}]
        )
        await conn.execute(
            many.on_conflict_do_update(index_elements=["name"], set_={"age": many.excluded.age + 1})
        )
        rows = (await conn.execute(select(users.c.id, users.c.age).order_by(users.c.id))).all()
        assert [tuple(r) for r in rows] == [(1, 1), (2, 0)]


async def test_recursive_cte_walks_a_tree(engine: Any) -> None:
    md = MetaData()
    nodes = Table(
        "nodes",
        md,
        Column("id", Integer, primary_key=True),
        Column("parent_id", ForeignKey("nodes.id")),
        Column("name", String(10)),
    )
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(nodes),
            [
                {"id": 1, "parent_id": None, "name": "root"},
                {"id": 2, "parent_id": 1, "name": "a"},
                {"id": 3, "parent_id": 2, "name": "a1"},
                {"id": 4, "parent_id": 1, "name": "b"},
                {"id": 5, "parent_id": None, "name": "other"},
            ],
        )
        tree = (
            select(nodes.c.id, nodes.c.name, literal(0).label("depth"))
            .where(nodes.c.id == 1)
            .cte("tree", recursive=True)
        )
        tree = tree.union_all(
            select(nodes.c.id, nodes.c.name, (tree.c.depth + 1).label("depth")).join(
                tree, nodes.c.parent_id == tree.c.id
            )
        )
        rows = (
            await conn.execute(
                select(tree.c.name, tree.c.depth).order_by(tree.c.depth, tree.c.name)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("root", 0), ("a", 1), ("b", 1), ("a1", 2)]


async def test_joins_subqueries_and_duplicate_result_names(engine: Any) -> None:
    md, users, addresses = _schema()
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(users), [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
        await conn.execute(
            insert(addresses),
            [{"id": 10, "user_id": 1, "email": "a1"}, {"id": 11, "user_id": 1, "email": "a2"}],
        )
        rows = (
            await conn.execute(
                select(users.c.id, addresses.c.id).join(addresses).order_by(addresses.c.id)
            )
        ).all()
        assert [tuple(r) for r in rows] == [(1, 10), (1, 11)]
        counts = (
            select(addresses.c.user_id, func.count().label("n"))
            .group_by(addresses.c.user_id)
            .subquery()
        )
        stmt = (
            select(users.c.name, func.coalesce(counts.c.n, 0).label("n"))
            .outerjoin(counts, users.c.id == counts.c.user_id)
            .order_by(users.c.name)
        )
        result = await conn.execute(stmt)
        assert [tuple(r) for r in result.all()] == [("a", 2), ("b", 0)]
        both = union_all(select(users.c.name), select(addresses.c.email)).order_by("name")
        assert (await conn.execute(both)).scalars().all() == ["a", "a1", "a2", "b"]
        one = await conn.execute(select(users).where(users.c.id == 1))
        row = one.one()
        assert row.name == "a" and row._mapping["id"] == 1


async def test_text_and_bindparam_reuse(engine: Any) -> None:
    md, users, _ = _schema()
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO users (id, name) VALUES (:id, :name)"),
            [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        )
        by_id = select(users.c.name).where(users.c.id == bindparam("uid"))
        assert await conn.scalar(by_id, {"uid": 2}) == "b"
        assert await conn.scalar(by_id, {"uid": 1}) == "a"
        row = (
            await conn.execute(text("SELECT name FROM users WHERE id = :id").bindparams(id=1))
        ).one()
        assert row[0] == "a"


async def test_index_on_expression_created(engine: Any) -> None:
    md = MetaData()
    t = Table("t", md, Column("id", Integer, primary_key=True), Column("email", String(50)))
    Index("ix_t_lower_email", func.lower(t.c.email), unique=True)
    await md.create_all(engine)
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(t).values(email="A@x"))
        with pytest.raises(IntegrityError):
            async with conn.begin_nested():
                await conn.execute(insert(t).values(email="a@X"))


async def test_text_columns_give_typed_results(engine: Any) -> None:
    import datetime as dt

    from heron import DateTime
    from heron.sql import column

    md, users, _ = _schema()
    await md.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(users).values(id=1, name="a"))
        stmt = text("SELECT id, name FROM users WHERE id = :id").columns(
            column("id", Integer), column("name", String)
        )
        row = (await conn.execute(stmt.bindparams(id=1))).one()
        assert (row.id, row.name) == (1, "a")
        events = Table(
            "events", md, Column("id", Integer, primary_key=True), Column("at", DateTime(True))
        )
        await md.create_all(conn)
        moment = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        await conn.execute(insert(events).values(id=1, at=moment))
        when = text("SELECT at FROM events").columns(at=DateTime(timezone=True))
        opts = when.execution_options(x=1)
        assert opts._execution_options == {"x": 1}
        assert (await conn.execute(opts)).scalar() == moment
