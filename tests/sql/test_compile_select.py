"""SELECT compiled per dialect (no database)."""

from __future__ import annotations

from typing import Any

from heron import String as StringType
from heron import (
    and_,
    bindparam,
    case,
    cast,
    desc,
    distinct,
    exists,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    true,
    tuple_,
    union,
    union_all,
)

from .helpers import PG, SQLITE, lite, pg


def test_select_table_lists_columns_and_binds_values(schema: Any) -> None:
    users = schema.users
    stmt = select(users).where(users.c.id == 5)
    assert pg(stmt) == "SELECT users.id, users.name, users.age FROM users WHERE users.id = $1"
    assert lite(stmt) == "SELECT users.id, users.name, users.age FROM users WHERE users.id = ?"
    assert stmt.compile(PG).params == [5]


def test_where_called_twice_ands_conditions(schema: Any) -> None:
    users = schema.users
    stmt = select(users.c.id).where(users.c.id > 1).where(users.c.name != "x")
    assert pg(stmt) == "SELECT users.id FROM users WHERE users.id > $1 AND users.name <> $2"


def test_statements_are_immutable(schema: Any) -> None:
    users = schema.users
    base = select(users.c.id)
    filtered = base.where(users.c.id == 1)
    assert lite(base) == "SELECT users.id FROM users"
    assert lite(filtered) == "SELECT users.id FROM users WHERE users.id = ?"


def test_reserved_and_mixed_case_identifiers_are_quoted(schema: Any) -> None:
    from heron import Column, Integer, MetaData, Table

    t = Table(
        "user", MetaData(), Column("group", Integer), Column("Name", Integer), Column("ok", Integer)
    )
    assert lite(select(t)) == 'SELECT "user"."group", "user"."Name", "user".ok FROM "user"'
    assert lite(select(schema.orders.c.id)) == 'SELECT "order".id FROM "order"'


def test_join_infers_on_clause_from_foreign_key(schema: Any) -> None:
    users, addresses = schema.users, schema.addresses
    stmt = select(users.c.name, addresses.c.email).join(addresses)
    assert lite(stmt) == (
        "SELECT users.name, addresses.email FROM users "
        "JOIN addresses ON users.id = addresses.user_id"
    )
    outer = select(users.c.name).outerjoin(addresses, users.c.id == addresses.c.user_id)
    assert lite(outer) == (
        "SELECT users.name FROM users LEFT OUTER JOIN addresses ON users.id = addresses.user_id"
    )
    full = select(users.c.name).join(addresses, full=True)
    assert "FULL OUTER JOIN" in pg(full)


def test_join_chain_and_select_from(schema: Any) -> None:
    users, addresses, nodes = schema.users, schema.addresses, schema.nodes
    stmt = select(addresses.c.email).select_from(users).join(addresses)
    assert lite(stmt) == (
        "SELECT addresses.email FROM users JOIN addresses ON users.id = addresses.user_id"
    )
    parent = nodes.alias("parent")
    stmt2 = select(nodes.c.name, parent.c.name).join(parent, nodes.c.parent_id == parent.c.id)
    assert lite(stmt2) == (
        "SELECT nodes.name, parent.name FROM nodes "
        "JOIN nodes AS parent ON nodes.parent_id = parent.id"
    )


def test_anonymous_aliases_get_distinct_names(schema: Any) -> None:
    users = schema.users
    a, b = users.alias(), users.alias()
    stmt = select(a.c.id, b.c.id).where(a.c.id == b.c.age)
    assert lite(stmt) == (
        "SELECT users_1.id, users_2.id FROM users AS users_1, users AS users_2 "
        "WHERE users_1.id = users_2.age"
    )


def test_filter_by_uses_last_joined_entity(schema: Any) -> None:
    users, addresses = schema.users, schema.addresses
    stmt = select(users.c.name).join(addresses).filter_by(email="e")
    assert lite(stmt).endswith("WHERE addresses.email = ?")
    assert lite(select(users).filter_by(name="n", age=3)).endswith(
        "WHERE users.name = ? AND users.age = ?"
    )


def test_order_group_having_limit_offset(schema: Any) -> None:
    users = schema.users
    stmt = (
        select(users.c.name, func.count().label("n"))
        .group_by(users.c.name)
        .having(func.count() > 1)
        .order_by(desc("n"), users.c.name.asc().nulls_last())
        .limit(10)
        .offset(20)
    )
    assert pg(stmt) == (
        "SELECT users.name, count(*) AS n FROM users GROUP BY users.name HAVING count(*) > $1 "
        "ORDER BY n DESC, users.name ASC NULLS LAST LIMIT $2 OFFSET $3"
    )
    assert stmt.compile(PG).params == [1, 10, 20]
    assert lite(select(users.c.id).offset(5)) == "SELECT users.id FROM users LIMIT -1 OFFSET ?"


def test_distinct_and_distinct_on(schema: Any) -> None:
    users = schema.users
    assert lite(select(users.c.name).distinct()) == "SELECT DISTINCT users.name FROM users"
    on = select(users.c.name, users.c.age).distinct(users.c.name)
    assert pg(on) == "SELECT DISTINCT ON (users.name) users.name, users.age FROM users"
    assert lite(select(func.count(distinct(users.c.name)))) == (
        "SELECT count(DISTINCT users.name) FROM users"
    )


def test_operators_render_with_correct_parentheses(schema: Any) -> None:
    users = schema.users
    c = users.c
    stmt = select(c.id).where(
        or_(and_(c.id > 1, c.id < 5), not_(c.name.like("a%")), ~and_(c.age >= 3, c.age <= 4))
    )
    assert lite(stmt) == (
        "SELECT users.id FROM users WHERE users.id > ? AND users.id < ? OR "
        "users.name NOT LIKE ? OR NOT (users.age >= ? AND users.age <= ?)"
    )
    math = select((c.age + 1) * 2 - -c.age, c.age - (c.id - 1), c.age % 3)
    assert lite(math) == (
        "SELECT (users.age + ?) * ? - -users.age, users.age - (users.id - ?), users.age % ? "
        "FROM users"
    )
    assert lite(select(c.name + "!")) == "SELECT users.name || ? FROM users"
    assert lite(select(c.id).where((c.id == 1) | (c.id == 2) & (c.age == 3))) == (
        "SELECT users.id FROM users WHERE users.id = ? OR users.id = ? AND users.age = ?"
    )


def test_null_comparisons_use_is(schema: Any) -> None:
    c = schema.users.c
    assert lite(select(c.id).where(c.age == None)).endswith("users.age IS NULL")  # noqa: E711
    assert lite(select(c.id).where(c.age != None)).endswith("users.age IS NOT NULL")  # noqa: E711
    assert lite(select(c.id).where(c.age.is_(None))).endswith("users.age IS NULL")
    assert lite(select(c.id).where(c.age.is_not(null()))).endswith("users.age IS NOT NULL")


def test_in_list_is_one_parameter_per_list(schema: Any) -> None:
    c = schema.users.c
    stmt = select(c.id).where(c.id.in_([1, 2, 3]))
    assert pg(stmt) == "SELECT users.id FROM users WHERE users.id = ANY($1::INTEGER[])"
    assert stmt.compile(PG).params == [[1, 2, 3]]
    assert lite(stmt) == "SELECT users.id FROM users WHERE users.id IN (?, ?, ?)"
    assert stmt.compile(SQLITE).params == [1, 2, 3]
    assert pg(select(c.id).where(c.name.not_in(["a"]))) == (
        "SELECT users.id FROM users WHERE users.name <> ALL($1::VARCHAR[])"
    )


def test_empty_in_matches_nothing_and_empty_not_in_everything(schema: Any) -> None:
    c = schema.users.c
    assert lite(select(c.id).where(c.id.in_([]))) == "SELECT users.id FROM users WHERE 1 != 1"
    assert pg(select(c.id).where(c.id.not_in([]))) == "SELECT users.id FROM users WHERE 1 = 1"
    assert pg(select(c.id).where(~c.id.in_([]))) == "SELECT users.id FROM users WHERE 1 = 1"


def test_in_subquery_and_tuple_in(schema: Any) -> None:
    users, addresses = schema.users, schema.addresses
    stmt = select(users.c.id).where(users.c.id.in_(select(addresses.c.user_id)))
    assert lite(stmt) == (
        "SELECT users.id FROM users WHERE users.id IN (SELECT addresses.user_id FROM addresses)"
    )
    pair = select(users.c.id).where(tuple_(users.c.id, users.c.name).in_([(1, "a"), (2, "b")]))
    assert pg(pair) == (
        "SELECT users.id FROM users WHERE (users.id, users.name) IN (($1, $2), ($3, $4))"
    )
    assert pair.compile(PG).params == [1, "a", 2, "b"]


def test_like_helpers_escape_wildcards_in_the_value(schema: Any) -> None:
    c = schema.users.c
    stmt = select(c.id).where(c.name.contains("50%_off/"))
    assert lite(stmt) == "SELECT users.id FROM users WHERE users.name LIKE ? ESCAPE '/'"
    assert stmt.compile(SQLITE).params == ["%50/%/_off//%"]
    assert select(c.id).where(c.name.startswith("a")).compile(PG).params == ["a%"]
    assert select(c.id).where(c.name.endswith("a")).compile(PG).params == ["%a"]
    column_pattern = select(c.id).where(c.name.startswith(c.name))
    assert lite(column_pattern).endswith("WHERE users.name LIKE users.name || '%'")


def test_ilike_per_dialect(schema: Any) -> None:
    c = schema.users.c
    stmt = select(c.id).where(c.name.ilike("%A%"))
    assert pg(stmt).endswith("WHERE users.name ILIKE $1")
    assert lite(stmt).endswith("WHERE lower(users.name) LIKE lower(?)")


def test_between_case_cast_literal(schema: Any) -> None:
    c = schema.users.c
    assert lite(select(c.id).where(c.age.between(1, 5))).endswith("users.age BETWEEN ? AND ?")
    grp = case((c.age < 18, "minor"), else_="adult").label("grp")
    assert pg(select(grp)) == (
        "SELECT CASE WHEN users.age < $1 THEN $2::VARCHAR ELSE $3::VARCHAR END AS grp FROM users"
    )
    simple = case({1: "one", 2: "two"}, value=c.id)
    assert lite(select(simple)) == (
        "SELECT CASE users.id WHEN ? THEN ? WHEN ? THEN ? END FROM users"
    )
    assert lite(select(cast(c.age, StringType(10)))) == (
        "SELECT CAST(users.age AS VARCHAR(10)) FROM users"
    )
    assert pg(select(literal(1), literal("a"), true(), null())) == (
        "SELECT $1::INTEGER, $2::VARCHAR, TRUE, NULL"
    )
    assert lite(select(literal(1), true())) == "SELECT ?, 1"


def test_scalar_subquery_and_exists_correlate(schema: Any) -> None:
    users, addresses = schema.users, schema.addresses
    count = (
        select(func.count(addresses.c.id))
        .where(addresses.c.user_id == users.c.id)
        .scalar_subquery()
        .label("n")
    )
    assert lite(select(users.c.name, count)) == (
        "SELECT users.name, (SELECT count(addresses.id) FROM addresses "
        "WHERE addresses.user_id = users.id) AS n FROM users"
    )
    has = exists().where(addresses.c.user_id == users.c.id)
    assert lite(select(users.c.name).where(~has)) == (
        "SELECT users.name FROM users WHERE NOT EXISTS "
        "(SELECT 1 FROM addresses WHERE addresses.user_id = users.id)"
    )
    assert lite(select(exists(select(users.c.id)))) == (
        "SELECT EXISTS (SELECT users.id FROM users)"
    )


def test_subquery_in_from_with_labels(schema: Any) -> None:
    users, addresses = schema.users, schema.addresses
    counts = (
        select(addresses.c.user_id, func.count().label("n"))
        .group_by(addresses.c.user_id)
        .subquery("counts")
    )
    stmt = select(users.c.name, counts.c.n).join(counts, users.c.id == counts.c.user_id)
    assert lite(stmt) == (
        "SELECT users.name, counts.n FROM users JOIN (SELECT addresses.user_id, count(*) AS n "
        "FROM addresses GROUP BY addresses.user_id) AS counts ON users.id = counts.user_id"
    )
    both = select(users.c.id, addresses.c.id).join(addresses).subquery()
    assert list(both.c.keys()) == ["id", "id_1"]
    assert "addresses.id AS id_1" in lite(select(both))


def test_recursive_cte(schema: Any) -> None:
    nodes = schema.nodes
    tree = (
        select(nodes.c.id, nodes.c.name)
        .where(nodes.c.parent_id.is_(None))
        .cte("tree", recursive=True)
    )
    tree = tree.union_all(
        select(nodes.c.id, nodes.c.name).join(tree, nodes.c.parent_id == tree.c.id)
    )
    stmt = select(tree.c.name).order_by(tree.c.id)
    assert lite(stmt) == (
        "WITH RECURSIVE tree(id, name) AS (SELECT nodes.id, nodes.name FROM nodes WHERE "
        "nodes.parent_id IS NULL UNION ALL SELECT nodes.id, nodes.name FROM nodes JOIN tree "
        "ON nodes.parent_id = tree.id) SELECT tree.name FROM tree ORDER BY tree.id"
    )


def test_union_and_union_all(schema: Any) -> None:
    users, addresses = schema.users, schema.addresses
    u = union(select(users.c.id), select(addresses.c.id)).order_by("id").limit(3)
    assert pg(u) == (
        "SELECT users.id FROM users UNION SELECT addresses.id FROM addresses ORDER BY id LIMIT $1"
    )
    limited = union_all(select(users.c.id).limit(1), select(addresses.c.id))
    assert pg(limited).startswith("(SELECT users.id FROM users LIMIT $1) UNION ALL")
    assert lite(limited).startswith("SELECT * FROM (SELECT users.id FROM users LIMIT ?) UNION ALL")


def test_for_update_renders_on_postgresql_and_is_left_out_on_sqlite(schema: Any) -> None:
    users = schema.users
    stmt = select(users.c.id).where(users.c.id == 1).with_for_update(nowait=True)
    assert pg(stmt).endswith("FOR UPDATE NOWAIT")
    assert lite(stmt) == "SELECT users.id FROM users WHERE users.id = ?"
    assert pg(select(users.c.id).with_for_update(read=True, of=users)).endswith(
        "FOR SHARE OF users"
    )


def test_text_with_named_binds(schema: Any) -> None:
    t = text("SELECT * FROM users WHERE id = :id AND name = ':not_a_bind' AND x::int = :x")
    assert pg(t) == "SELECT * FROM users WHERE id = $1 AND name = ':not_a_bind' AND x::int = $2"
    assert t.compile(SQLITE).bind({"id": 1, "x": 2}) == [1, 2]
    stmt = select(schema.users.c.id).where(text("age > :lo"))
    assert lite(stmt) == "SELECT users.id FROM users WHERE age > ?"


def test_bindparam_placeholder_and_execution_values(schema: Any) -> None:
    users = schema.users
    stmt = select(users.c.id).where(users.c.name == bindparam("n"))
    compiled = stmt.compile(PG)
    assert compiled.sql == "SELECT users.id FROM users WHERE users.name = $1"
    assert compiled.positional_names == ["n"]
    assert compiled.bind({"n": "x"}) == ["x"]
    expanding = select(users.c.id).where(users.c.id.in_(bindparam("ids", expanding=True)))
    assert expanding.compile(SQLITE).render({"ids": [4, 5]}) == (
        "SELECT users.id FROM users WHERE users.id IN (?, ?)",
        [4, 5],
    )
    assert expanding.compile(PG).bind({"ids": (4, 5)}) == [[4, 5]]


def test_window_function_and_func_namespace(schema: Any) -> None:
    c = schema.users.c
    stmt = select(func.row_number().over(partition_by=c.name, order_by=c.id))
    assert lite(stmt) == (
        "SELECT row_number() OVER (PARTITION BY users.name ORDER BY users.id) FROM users"
    )
    assert lite(select(func.coalesce(c.age, 0))) == "SELECT coalesce(users.age, ?) FROM users"
    assert pg(select(func.coalesce(c.age, 0))) == (
        "SELECT coalesce(users.age, $1::INTEGER) FROM users"
    )
    assert lite(select(func.now())) == "SELECT CURRENT_TIMESTAMP"
    assert pg(select(func.now())) == "SELECT now()"
    assert lite(select(func.my_schema.my_fn(c.id))) == "SELECT my_schema.my_fn(users.id) FROM users"


def test_str_renders_sqlite_flavour(schema: Any) -> None:
    stmt = select(schema.users.c.id).where(schema.users.c.id == 1)
    assert str(stmt) == "SELECT users.id FROM users WHERE users.id = ?"


def test_selected_columns_and_descriptions(schema: Any) -> None:
    users = schema.users
    stmt = select(users, users.c.name.label("n"))
    assert stmt.selected_columns.keys() == ["id", "name", "age", "n"]
    assert [d["name"] for d in stmt.column_descriptions] == ["users", "n"]
    assert stmt._raw_columns[0] is users
    assert lite(stmt.with_only_columns(users.c.id)) == "SELECT users.id FROM users"
    assert lite(select(users.c.id).add_columns(users.c.age)) == (
        "SELECT users.id, users.age FROM users"
    )


def test_options_and_execution_options_are_stored(schema: Any) -> None:
    stmt = select(schema.users).options("opt1").options("opt2")
    assert stmt._with_options == ("opt1", "opt2")
    a = stmt.execution_options(x=1)
    b = a.execution_options(y=2)
    assert b._execution_options == {"x": 1, "y": 2}
    assert a._execution_options == {"x": 1}
    assert stmt._execution_options == {}
