"""INSERT / UPDATE / DELETE compiled per dialect (no database)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from heron import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
)
from heron import delete as delete_
from heron import update as update_
from heron.exc import ArgumentError

from .helpers import PG, SQLITE, lite, pg


def test_insert_values_single_row(schema: Any) -> None:
    stmt = insert(schema.users).values(name="a", age=3)
    assert pg(stmt) == "INSERT INTO users (name, age) VALUES ($1, $2)"
    assert stmt.compile(PG).params == ["a", 3]
    assert lite(insert(schema.users).values({schema.users.c.name: "b"})) == (
        "INSERT INTO users (name) VALUES (?)"
    )


def test_insert_multi_row_values_and_returning(schema: Any) -> None:
    users = schema.users
    stmt = insert(users).values([{"name": "a", "age": 1}, {"name": "b", "age": 2}])
    stmt = stmt.returning(users.c.id)
    assert pg(stmt) == "INSERT INTO users (name, age) VALUES ($1, $2), ($3, $4) RETURNING id"
    assert lite(stmt) == "INSERT INTO users (name, age) VALUES (?, ?), (?, ?) RETURNING id"
    assert stmt.compile(SQLITE).params == ["a", 1, "b", 2]


def test_insert_columns_come_from_execution_parameters(schema: Any) -> None:
    plan = insert(schema.users)._plan_execution(SQLITE, [{"name": "a"}, {"name": "b"}])
    assert plan.sql == "INSERT INTO users (name) VALUES (?)"
    assert plan.many and [list(p) for p in plan.params] == [["a"], ["b"]]
    single = insert(schema.users)._plan_execution(PG, {"name": "a", "age": 5})
    assert single.sql == "INSERT INTO users (name, age) VALUES ($1, $2)"
    assert single.params == ["a", 5]


def test_insert_applies_python_defaults() -> None:
    counter = itertools.count(1)
    t = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("n", Integer, default=lambda: next(counter)),
        Column("kind", String(5), default="x"),
        Column("at", DateTime, default=func.now()),
    )
    plan = insert(t)._plan_execution(SQLITE, [{"id": 1}, {"id": 2}])
    assert plan.sql == "INSERT INTO t (id, n, kind, at) VALUES (?, ?, ?, CURRENT_TIMESTAMP)"
    assert plan.params == [[1, 1, "x"], [2, 2, "x"]]
    multi = insert(t).values([{"id": 3}, {"id": 4}])._plan_execution(PG, None)
    assert (
        multi.sql
        == "INSERT INTO t (id, n, kind, at) VALUES ($1, $2, $3, now()), ($4, $5, $6, now())"
    )
    assert multi.params == [3, 3, "x", 4, 4, "x"]


def test_insert_from_select(schema: Any) -> None:
    users, addresses = schema.users, schema.addresses
    stmt = insert(addresses).from_select(["user_id", "email"], select(users.c.id, users.c.name))
    assert lite(stmt) == (
        "INSERT INTO addresses (user_id, email) SELECT users.id, users.name FROM users"
    )


def test_upserts(schema: Any) -> None:
    users = schema.users
    stmt = insert(users).values(id=1, name="x")
    nothing = stmt.on_conflict_do_nothing(index_elements=["id"])
    assert pg(nothing) == "INSERT INTO users (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING"
    update = stmt.on_conflict_do_update(
        index_elements=[users.c.id],
        set_={"name": stmt.excluded.name, "age": users.c.age + 1},
        where=users.c.age < 10,
    )
    assert lite(update) == (
        "INSERT INTO users (id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET "
        "name = excluded.name, age = users.age + ? WHERE users.age < ?"
    )
    assert update.compile(SQLITE).params == [1, "x", 1, 10]
    from_select = (
        insert(users)
        .from_select(["id", "name"], select(users.c.id, users.c.name))
        .on_conflict_do_nothing()
    )
    assert lite(from_select).endswith("FROM users WHERE true ON CONFLICT DO NOTHING")


def test_update_and_delete(schema: Any) -> None:
    users = schema.users
    stmt = update_(users).where(users.c.id == 5).values(name="n", age=users.c.age + 1)
    assert pg(stmt) == "UPDATE users SET name = $1, age = users.age + $2 WHERE users.id = $3"
    assert stmt.compile(PG).params == ["n", 1, 5]
    returning = stmt.returning(users.c.id, users.c.name)
    assert pg(returning).endswith(" RETURNING id, name")
    d = delete_(users).where(users.c.name.in_(["a", "b"])).returning(users.c.id)
    assert pg(d) == "DELETE FROM users WHERE users.name = ANY($1::VARCHAR[]) RETURNING id"
    assert lite(delete_(users)) == "DELETE FROM users"
    assert lite(delete_(users).filter_by(name="x")) == "DELETE FROM users WHERE users.name = ?"


def test_update_executemany_with_bindparam_in_where(schema: Any) -> None:
    users = schema.users
    stmt = update_(users).where(users.c.id == bindparam("uid"))
    plan = stmt._plan_execution(SQLITE, [{"uid": 1, "name": "a"}, {"uid": 2, "name": "b"}])
    assert plan.sql == "UPDATE users SET name = ? WHERE users.id = ?"
    assert plan.params == [["a", 1], ["b", 2]]


def test_update_applies_onupdate() -> None:
    t = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("v", Integer),
        Column("touched", Integer, onupdate=lambda: 42),
    )
    stmt = update_(t).values(v=1)
    assert lite(stmt) == "UPDATE t SET v = ?, touched = ?"
    assert stmt.compile(SQLITE).bind() == [1, 42]


def test_dml_keeps_entity_and_table(schema: Any) -> None:
    class Entity:
        @classmethod
        def __clause_element__(cls) -> Any:
            return schema.users

    for build in (insert, update_, delete_):
        stmt = build(Entity)
        assert stmt.entity is Entity
        assert stmt.table is schema.users


def test_values_with_unknown_column_names_the_columns(schema: Any) -> None:
    with pytest.raises(ArgumentError, match=r"no column 'nmae'.*id, name, age"):
        insert(schema.users).values(nmae="x")
    with pytest.raises(ArgumentError, match="no column 'bogus'"):
        update_(schema.users).values(bogus=1)
    with pytest.raises(ArgumentError, match="'bogus' match no column"):
        insert(schema.users)._plan_execution(SQLITE, {"bogus": 1})


def test_update_without_values_is_an_error(schema: Any) -> None:
    with pytest.raises(ArgumentError, match="nothing to SET"):
        update_(schema.users).where(schema.users.c.id == 1).compile(SQLITE)


def test_multi_row_rows_must_share_keys(schema: Any) -> None:
    stmt = insert(schema.users).values([{"name": "a"}, {"name": "b", "age": 1}])
    with pytest.raises(ArgumentError, match="keys of the first row"):
        stmt._plan_execution(SQLITE, None)
