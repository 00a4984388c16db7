"""Misuse caught while a statement is built raises ArgumentError saying what to do."""

from __future__ import annotations

from typing import Any

import pytest

from heron import Column, ForeignKey, Integer, MetaData, Table, exists, insert, select, text
from heron.exc import ArgumentError, HeronError


def test_comparing_a_column_to_a_list_suggests_in(schema: Any) -> None:
    c = schema.users.c
    with pytest.raises(ArgumentError, match=r"use \.in_\(\[1, 2\]\)"):
        _ = c.id == [1, 2]
    with pytest.raises(ArgumentError, match=r"use \.not_in"):
        _ = c.id != (1, 2)
    with pytest.raises(ArgumentError, match=r"in_"):
        _ = c.id == {1}


def test_filter_by_unknown_name_lists_candidates(schema: Any) -> None:
    with pytest.raises(ArgumentError, match=r"no column 'nam'.*id, name, age"):
        select(schema.users).filter_by(nam="x")


def test_non_sql_objects_point_to_literal_or_text(schema: Any) -> None:
    with pytest.raises(ArgumentError, match=r"literal\(42\)"):
        select(42)
    with pytest.raises(ArgumentError, match=r"text\('x = 1'\)"):
        select(schema.users).where("x = 1")
    with pytest.raises(ArgumentError, match="separate arguments"):
        select([schema.users.c.id])
    with pytest.raises(ArgumentError, match="scalar_subquery"):
        select(schema.users.c.id).where(schema.users.c.id == select(schema.users.c.id))


def test_ambiguous_or_missing_join_path_names_candidates(schema: Any) -> None:
    users, orders, nodes = schema.users, schema.orders, schema.nodes
    with pytest.raises(ArgumentError, match=r"more than one foreign key.*buyer_id.*seller_id"):
        select(users).join(orders)
    with pytest.raises(ArgumentError, match="no foreign key links"):
        select(users).join(nodes)
    ok = select(users.c.id).join(orders, users.c.id == orders.c.buyer_id)
    assert "JOIN" in str(ok)


def test_python_truth_of_expressions_is_refused(schema: Any) -> None:
    c = schema.users.c
    with pytest.raises(TypeError, match="and_"):
        bool(c.id > 1)
    assert bool(c.id == c.id) is True
    assert (c.id == c.name) is not None
    assert c.id in [c.name, c.id]


def test_in_with_a_plain_value_or_bindparam_without_expanding(schema: Any) -> None:
    from heron import bindparam

    c = schema.users.c
    with pytest.raises(ArgumentError, match="list of values"):
        c.id.in_(5)
    with pytest.raises(ArgumentError, match="expanding=True"):
        c.id.in_(bindparam("ids"))


def test_missing_bindparam_value_names_it(schema: Any) -> None:
    from heron import bindparam
    from heron.dialect import SqliteDialect

    stmt = select(schema.users).where(schema.users.c.id == bindparam("uid"))
    with pytest.raises(ArgumentError, match="'uid'"):
        stmt._plan_execution(SqliteDialect(), None)
    with pytest.raises(ArgumentError, match="no parameter :b"):
        text("select :a").bindparams(b=1)


def test_schema_misuse() -> None:
    md = MetaData()
    col: Column[Any] = Column("id", Integer, primary_key=True)
    Table("a", md, col)
    with pytest.raises(ArgumentError, match="already belongs to table 'a'"):
        Table("b", md, col)
    with pytest.raises(ArgumentError, match="already defined"):
        Table("a", md, Column("id", Integer))
    with pytest.raises(ArgumentError, match=r"needs 'table.column'"):
        Table("c", md, Column("x", ForeignKey("nodot")))
        next(iter(md.tables["c"].c.x.foreign_keys)).column  # noqa: B018


def test_every_error_is_a_heron_error(schema: Any) -> None:
    with pytest.raises(HeronError):
        insert(schema.users).values(bogus=1)
    with pytest.raises(ArgumentError):
        exists(schema.users.c.id).where("id = 1")
