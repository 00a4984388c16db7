"""The compiled-statement cache: keyed by shape, never by values."""

from __future__ import annotations

from typing import Any

from heron import and_, bindparam, literal, select, text
from heron.dialect import SqliteDialect


def _fresh() -> SqliteDialect:
    return SqliteDialect()


def test_same_shape_with_other_values_compiles_once(schema: Any) -> None:
    dialect = _fresh()
    users = schema.users
    plans = [
        select(users)
        .where(users.c.id == n, users.c.name.in_(["a"] * n))
        ._plan_execution(dialect, None)
        for n in range(1, 6)
    ]
    cache = dialect.compiled_cache
    assert len(cache) == 1
    assert cache.misses == 1 and cache.hits == 4
    assert plans[2].params == [3, "a", "a", "a"]
    assert plans[2].sql.count("?") == 4


def test_in_lists_of_any_length_share_one_entry_on_both_dialects(schema: Any) -> None:
    from heron.dialect import PostgresDialect

    for dialect in (_fresh(), PostgresDialect()):
        c = schema.users.c
        for n in (1, 2, 50, 500):
            select(c.id).where(c.id.in_(list(range(n))))._plan_execution(dialect, None)
        assert len(dialect.compiled_cache) == 1


def test_different_shapes_get_different_entries(schema: Any) -> None:
    dialect = _fresh()
    c = schema.users.c
    for stmt in (
        select(c.id).where(c.id == 1),
        select(c.id).where(c.id > 1),
        select(c.name).where(c.id == 1),
        select(c.id).where(c.id == 1).limit(1),
        select(c.id).where(c.id.in_([])),
        select(c.id).where(c.id.in_([1])),
    ):
        stmt._plan_execution(dialect, None)
    assert len(dialect.compiled_cache) == 6


def test_reused_expression_object_reads_one_value_for_two_placeholders(schema: Any) -> None:
    dialect = _fresh()
    c = schema.users.c
    shared = literal(7)
    same = select(c.id).where(c.age == shared, c.id == shared)
    other = select(c.id).where(c.age == literal(1), c.id == literal(2))
    assert same._plan_execution(dialect, None).params == [7, 7]
    # Same SQL text, but a different identity pattern: it must not reuse the entry
    # in a way that reads the first value twice.
    assert other._plan_execution(dialect, None).params == [1, 2]
    assert same._plan_execution(dialect, None).params == [7, 7]


def test_anonymous_alias_identity_is_part_of_the_shape(schema: Any) -> None:
    dialect = _fresh()
    users = schema.users
    a, b = users.alias(), users.alias()
    two = select(a.c.id, b.c.id)._plan_execution(dialect, None)
    one = select(a.c.id, a.c.id)._plan_execution(dialect, None)
    assert "users_2" in two.sql and "users_2" not in one.sql


def test_bindparam_statement_compiled_once_and_run_with_many_values(schema: Any) -> None:
    dialect = _fresh()
    users = schema.users
    stmt = select(users.c.name).where(users.c.id == bindparam("uid"))
    for uid in range(5):
        plan = stmt._plan_execution(dialect, {"uid": uid})
        assert plan.params == [uid]
    assert dialect.compiled_cache.misses == 1


def test_text_cache_key_is_its_sql() -> None:
    dialect = _fresh()
    for n in range(3):
        plan = text("SELECT :a + :a").bindparams(a=n)._plan_execution(dialect, None)
        assert plan.params == [n, n]
    assert len(dialect.compiled_cache) == 1


def test_where_with_many_conditions_keeps_values_in_order(schema: Any) -> None:
    dialect = _fresh()
    c = schema.users.c
    for base in (0, 100):
        stmt = select(c.id).where(and_(*[c.id != base + i for i in range(10)]))
        assert stmt._plan_execution(dialect, None).params == [base + i for i in range(10)]
    assert len(dialect.compiled_cache) == 1


def test_a_reused_statement_keeps_its_template_but_copies_and_other_dialects_do_not(
    schema: Any,
) -> None:
    from heron.dialect import PostgresDialect

    dialect = _fresh()
    users = schema.users
    stmt = select(users.c.id).where(users.c.id == bindparam("x"))
    first = stmt._plan_execution(dialect, {"x": 1})
    again = stmt._plan_execution(dialect, {"x": 2})
    assert again.sql == first.sql and again.params == [2]
    assert dialect.compiled_cache.misses == 1 and dialect.compiled_cache.hits == 1
    # a generative copy is a new statement: it must not reuse the template
    narrowed = stmt.where(users.c.name == "a")
    plan = narrowed._plan_execution(dialect, {"x": 3})
    assert "name" in plan.sql and plan.params == [3, "a"]
    assert stmt._plan_execution(dialect, {"x": 4}).sql == first.sql
    # the same object on another dialect compiles for that dialect
    assert "$1" in stmt._plan_execution(PostgresDialect(), {"x": 5}).sql
    assert "?" in stmt._plan_execution(dialect, {"x": 6}).sql
