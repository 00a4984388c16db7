"""Batched row statements for the ORM's unit of work: insert, update, delete by key.

Layer 3 (sql). Each function returns ``ExecutionPlan`` objects ready for
``Connection.execute``. Where the dialect can bind arrays (``supports_unnest``)
one statement carries every row as one array parameter per column, so the
SQL text, and hence the prepared statement, is the same whatever the row
count; elsewhere rows go in fixed-size multi-row batches (the last batch may
be shorter). Values are always bound parameters.

Generated keys: ``insert_plans(..., returning=...)`` inserts rows in
their input order (``INSERT ... SELECT ... ORDER BY ordinality`` on
PostgreSQL, one ``VALUES`` list on SQLite), so identity/serial/rowid values
ascend in input order and the caller matches keys by sorting them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from heron.engine.interfaces import ExecutionPlan, ResultProcessor
from heron.exc import CompileError

if TYPE_CHECKING:
    from heron.dialect.base import Dialect
    from heron.sql.schema import Column, Table

# Rows per statement where arrays cannot be bound. Fixed so the statement text
# repeats and the driver's statement cache hits.
BATCH_ROWS = 500


class PlannedStatement:
    """An ``Executable`` wrapping a ready plan (what ``Connection.execute`` accepts)."""

    __slots__ = ("plan",)

    def __init__(self, plan: ExecutionPlan) -> None:
        self.plan = plan

    def _plan_execution(self, dialect: Dialect, params: Any) -> ExecutionPlan:
        return self.plan


_namers: dict[int, Any] = {}
# SQL text per statement shape (keyed by the Table object itself, so a new
# table that reuses a freed id cannot hit): flushes repeat a few shapes, and
# rendering quotes and type names each time cost more than the lookup
_sql_cache: dict[tuple[Any, ...], str] = {}
_SQL_CACHE_LIMIT = 2000


def _cached(key: tuple[Any, ...], render: Any) -> str:
    sql = _sql_cache.get(key)
    if sql is None:
        if len(_sql_cache) >= _SQL_CACHE_LIMIT:
            _sql_cache.clear()
        sql = _sql_cache[key] = render()
    return sql


def _names(dialect: Dialect) -> Any:
    """A compiler instance used only for identifier quoting and type names."""
    namer = _namers.get(id(dialect))
    if namer is None:
        from heron.sql.compiler import compiler_for

        namer = compiler_for(dialect)(dialect, (), None)
        _namers[id(dialect)] = namer
    return namer


def _name(column: Column[Any]) -> str:
    name = column.name
    assert name is not None, "columns in a table always have names"
    return name


def _q(dialect: Dialect, name: str) -> str:
    return _names(dialect).quote(name)  # type: ignore[no-any-return]


def _table(dialect: Dialect, table: Table) -> str:
    return _names(dialect).table_name(table)  # type: ignore[no-any-return]


# a type modifier: VARCHAR(50), NUMERIC(10, 2)
_TYPMOD = re.compile(r"\(\s*\d+\s*(?:,\s*\d+\s*)?\)")


def _array_type(dialect: Dialect, column: Column[Any]) -> str:
    # Without the type modifier: an explicit cast to VARCHAR(5)[] would cut a
    # longer string silently, where the column's own (assignment) cast, as
    # in a single-row INSERT or a COPY, rejects it.
    return f"{_TYPMOD.sub('', _names(dialect).type_sql(column.type))}[]"


def _result_processors(
    dialect: Dialect, cols: Sequence[Column[Any]]
) -> list[ResultProcessor | None] | None:
    procs = [c.type.result_processor(dialect) for c in cols]
    return procs if any(p is not None for p in procs) else None


def _chunks(rows: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def batch_size(dialect: Dialect, ncols: int) -> int:
    """Rows per multi-row statement for ``ncols`` parameters per row."""
    return max(1, min(BATCH_ROWS, dialect.max_bind_params // max(ncols, 1)))


def insert_plans(
    dialect: Dialect,
    table: Table,
    columns: Sequence[Column[Any]],
    values: Sequence[Sequence[Any]],
    count: int,
    returning: Sequence[Column[Any]] = (),
) -> list[ExecutionPlan]:
    """Plans inserting ``count`` rows given column-major ``values`` (one list per column).

    Values are already bind-processed. With ``returning``, each plan returns
    those columns, rows inserted in input order so generated keys ascend in
    input order.
    """
    tname = _table(dialect, table)
    cols = ", ".join(_q(dialect, _name(c)) for c in columns)
    ret = ""
    keys = None
    procs = None
    if returning:
        ret = " RETURNING " + ", ".join(_q(dialect, _name(c)) for c in returning)
        keys = [_name(c) for c in returning]
        procs = _result_processors(dialect, returning)
    if not columns:
        # every column defaulted: one statement per row
        sql = f"INSERT INTO {tname} DEFAULT VALUES{ret}"
        return [
            ExecutionPlan(sql, [], returns_rows=bool(returning), keys=keys, processors=procs)
            for _ in range(count)
        ]
    if dialect.supports_unnest and count > 1:
        n = len(columns)

        def render() -> str:
            casts = ", ".join(f"${i + 1}::{_array_type(dialect, c)}" for i, c in enumerate(columns))
            aliases = ", ".join(f"c{i}" for i in range(n))
            return (
                f"INSERT INTO {tname} ({cols}) SELECT {aliases} FROM unnest({casts}) "
                f"WITH ORDINALITY AS v({aliases}, o) ORDER BY o{ret}"
            )

        sql = _cached(("insert", dialect.name, table, cols, ret), render)
        arrays = [v if isinstance(v, list) else list(v) for v in values]
        return [
            ExecutionPlan(sql, arrays, returns_rows=bool(returning), keys=keys, processors=procs)
        ]
    rows = list(zip(*values, strict=True))
    plans = []
    size = batch_size(dialect, len(columns))
    ncols = len(columns)
    for chunk in _chunks(rows, size):
        marks = _value_rows(dialect, ncols, len(chunk))
        sql = f"INSERT INTO {tname} ({cols}) VALUES {marks}{ret}"
        params = [v for row in chunk for v in row]
        plans.append(
            ExecutionPlan(sql, params, returns_rows=bool(returning), keys=keys, processors=procs)
        )
    return plans


def _value_rows(dialect: Dialect, ncols: int, nrows: int) -> str:
    """``($1, $2), ($3, $4)`` / ``(?, ?), (?, ?)`` for ``nrows`` rows of ``ncols`` values."""
    rows = []
    position = 1
    for _ in range(nrows):
        rows.append("(" + ", ".join(dialect.placeholder(position + i) for i in range(ncols)) + ")")
        position += ncols
    return ", ".join(rows)


def update_plans(
    dialect: Dialect,
    table: Table,
    key_columns: Sequence[Column[Any]],
    set_columns: Sequence[Column[Any]],
    values: Sequence[Sequence[Any]],
    count: int,
) -> list[tuple[ExecutionPlan, int]]:
    """Plans updating ``set_columns`` by key, from column-major ``values``
    (one list per set column, then one per key column).

    Returns (plan, expected row count) pairs, so the caller can check that
    every row matched.
    """
    tname = _table(dialect, table)
    n_set = len(set_columns)
    all_cols = [*set_columns, *key_columns]
    if count == 1:
        # one row: a plain UPDATE is cheaper to run than the array form

        def render_one() -> str:
            sets = ", ".join(
                f"{_q(dialect, _name(c))} = {dialect.placeholder(i + 1)}"
                for i, c in enumerate(set_columns)
            )
            where = " AND ".join(
                f"{_q(dialect, _name(c))} = {dialect.placeholder(n_set + i + 1)}"
                for i, c in enumerate(key_columns)
            )
            return f"UPDATE {tname} SET {sets} WHERE {where}"

        key = ("update1", dialect.name, table, *(_name(c) for c in all_cols), n_set)
        sql = _cached(key, render_one)
        return [(ExecutionPlan(sql, [v[0] for v in values]), 1)]
    if dialect.supports_unnest:
        arrays = [v if isinstance(v, list) else list(v) for v in values]

        def render() -> str:
            casts = ", ".join(
                f"${i + 1}::{_array_type(dialect, c)}" for i, c in enumerate(all_cols)
            )
            aliases = ", ".join(f"c{i}" for i in range(len(all_cols)))
            sets = ", ".join(f"{_q(dialect, _name(c))} = v.c{i}" for i, c in enumerate(set_columns))
            where = " AND ".join(
                f"{tname}.{_q(dialect, _name(c))} = v.c{n_set + i}"
                for i, c in enumerate(key_columns)
            )
            return f"UPDATE {tname} SET {sets} FROM unnest({casts}) AS v({aliases}) WHERE {where}"

        key = ("update", dialect.name, table, *(_name(c) for c in all_cols), n_set)
        return [(ExecutionPlan(_cached(key, render), arrays), count)]
    rows = list(zip(*values, strict=True))
    out = []
    size = batch_size(dialect, len(all_cols))
    sets = ", ".join(
        f"{_q(dialect, _name(c))} = v.column{i + 1}" for i, c in enumerate(set_columns)
    )
    where = " AND ".join(
        f"{tname}.{_q(dialect, _name(c))} = v.column{n_set + i + 1}"
        for i, c in enumerate(key_columns)
    )
    one = "(" + ", ".join("?" for _ in all_cols) + ")"
    for chunk in _chunks(rows, size):
        values = ", ".join(one for _ in chunk)
        sql = f"UPDATE {tname} SET {sets} FROM (VALUES {values}) AS v WHERE {where}"
        params = [v for row in chunk for v in row]
        out.append((ExecutionPlan(sql, params), len(chunk)))
    return out


def delete_plans(
    dialect: Dialect,
    table: Table,
    key_columns: Sequence[Column[Any]],
    rows: Sequence[Sequence[Any]],
) -> list[tuple[ExecutionPlan, int]]:
    """Plans deleting rows whose ``key_columns`` equal each tuple in ``rows``."""
    if len(key_columns) == 1:
        return delete_by_key_plans(dialect, table, key_columns[0], [r[0] for r in rows])
    tname = _table(dialect, table)
    if dialect.supports_unnest:
        arrays = [[row[i] for row in rows] for i in range(len(key_columns))]
        casts = ", ".join(f"${i + 1}::{_array_type(dialect, c)}" for i, c in enumerate(key_columns))
        cols = ", ".join(_q(dialect, _name(c)) for c in key_columns)
        sql = f"DELETE FROM {tname} WHERE ({cols}) IN (SELECT * FROM unnest({casts}))"
        return [(ExecutionPlan(sql, arrays), len(rows))]
    out = []
    size = batch_size(dialect, len(key_columns))
    cols = ", ".join(_q(dialect, _name(c)) for c in key_columns)
    one = "(" + ", ".join("?" for _ in key_columns) + ")"
    for chunk in _chunks(rows, size):
        values = ", ".join(one for _ in chunk)
        sql = f"DELETE FROM {tname} WHERE ({cols}) IN (VALUES {values})"
        out.append((ExecutionPlan(sql, [v for row in chunk for v in row]), len(chunk)))
    return out


def delete_by_key_plans(
    dialect: Dialect, table: Table, column: Column[Any], keys: list[Any]
) -> list[tuple[ExecutionPlan, int]]:
    """Plans deleting rows whose one key ``column`` is in ``keys`` (bare values)."""
    tname = _table(dialect, table)
    name = _q(dialect, _name(column))
    if dialect.supports_unnest:
        sql = f"DELETE FROM {tname} WHERE {name} = ANY($1::{_array_type(dialect, column)})"
        return [(ExecutionPlan(sql, [keys]), len(keys))]
    out = []
    for chunk in _chunks(keys, batch_size(dialect, 1)):
        marks = ", ".join("?" * len(chunk))
        sql = f"DELETE FROM {tname} WHERE {name} IN ({marks})"
        out.append((ExecutionPlan(sql, list(chunk)), len(chunk)))
    return out


def select_by_keys_sql(
    dialect: Dialect,
    table: Table,
    columns: Sequence[Column[Any]],
    key_columns: Sequence[Column[Any]],
    count: int,
) -> str:
    """``SELECT columns FROM table WHERE key IN (...)`` for ``count`` keys (one array on PG)."""
    tname = _table(dialect, table)
    cols = ", ".join(f"{tname}.{_q(dialect, _name(c))}" for c in columns)
    if len(key_columns) == 1:
        kc = key_columns[0]
        if dialect.supports_unnest:
            cond = f"{tname}.{_q(dialect, _name(kc))} = ANY($1::{_array_type(dialect, kc)})"
        else:
            cond = f"{tname}.{_q(dialect, _name(kc))} IN ({', '.join('?' for _ in range(count))})"
    else:
        kcols = ", ".join(f"{tname}.{_q(dialect, _name(c))}" for c in key_columns)
        if dialect.supports_unnest:
            casts = ", ".join(
                f"${i + 1}::{_array_type(dialect, c)}" for i, c in enumerate(key_columns)
            )
            cond = f"({kcols}) IN (SELECT * FROM unnest({casts}))"
        else:
            one = "(" + ", ".join("?" for _ in key_columns) + ")"
            cond = f"({kcols}) IN (VALUES {', '.join(one for _ in range(count))})"
    return f"SELECT {cols} FROM {tname} WHERE {cond}"


# -- COPY support (dialects with ``supports_copy``: PostgreSQL) -------------------

# Fewer rows than this go by INSERT: the COPY path costs two round trips (key
# reservation, COPY) against the INSERT's one. Measured flushing N new users
# (interleaved): about even at 100 rows, COPY ~0.9x the INSERT's time at
# 200-500 rows, ~0.85x at 1,000 and ~0.45x at 10,000 (docs/orm.md).
COPY_MIN_ROWS = 200

# A fingerprint of the table's definition: the row versions (xmin and ctid:
# xmin alone repeats when one transaction changes a row twice, e.g. two
# ALTER ... SET DEFAULT in the session's transaction) of its columns', their
# defaults' and its (and its partitions') triggers' catalog rows, and the
# table's kind, RLS and rules flags (not its pg_class row version, which
# TRUNCATE, VACUUM FULL and CLUSTER change too). Any DDL that could change the
# COPY decision (a default, a type, a trigger, RLS, a rule) changes it, so a
# changed fingerprint tells the cached facts are stale. {oid} is an oid
# expression.
_DEFINITION_SQL = """(SELECT string_agg(v, ',' ORDER BY v) FROM (
    SELECT relkind::text || relrowsecurity::text || relhasrules::text AS v
      FROM pg_class WHERE oid = {oid}
    UNION ALL SELECT xmin::text || ctid::text FROM pg_attribute WHERE attrelid = {oid}
    UNION ALL SELECT xmin::text || ctid::text FROM pg_attrdef WHERE adrelid = {oid}
    UNION ALL SELECT xmin::text || ctid::text FROM pg_trigger WHERE tgrelid = {oid}{partitions}
  ) defs)"""
# the triggers of a partitioned table's partitions (planning this costs, so
# only partitioned tables pay for it)
_PARTITION_TRIGGERS_SQL = """
    UNION ALL SELECT xmin::text || ctid::text FROM pg_trigger
      WHERE {guard}tgrelid IN (SELECT relid FROM pg_partition_tree({oid}) WHERE relid <> {oid})"""


def _definition_sql(oid: str, partitioned: bool | None) -> str:
    """The definition fingerprint of the table ``oid``.

    ``partitioned`` None (the catalog query): partitions' triggers are
    included when the table ``c`` being read is partitioned.
    """
    if partitioned is False:
        part = ""
    else:
        guard = "c.relkind = 'p' AND " if partitioned is None else ""
        part = _PARTITION_TRIGGERS_SQL.format(oid=oid, guard=guard)
    return _DEFINITION_SQL.format(oid=oid, partitions=part)


# What the COPY path needs to know about one table, resolved through the
# current search_path, one row per mapped column: the table itself (oid,
# schema, name); whether COPY behaves like INSERT for it (a plain or
# partitioned table without rules, row-level security or user INSERT
# triggers, on it or any partition, which COPY would skip or could not
# honour); per column whether it exists, is not generated and has exactly the
# type heron binds, its identity kind, its default as PostgreSQL prints it
# and its declared type; for the autoincrement column ($2) its sequence (by
# oid, as the default names it: a renamed sequence stays the one used) and
# whether the default is ``nextval`` of that very sequence; and the table's
# definition fingerprint and whether it is partitioned.
COPY_FACTS_SQL = f"""\
SELECT c.oid::int8, n.nspname, c.relname,
  c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND NOT c.relhasrules
    AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                    WHERE (t.tgrelid = c.oid
                           OR t.tgrelid IN (SELECT relid FROM pg_partition_tree(c.oid)))
                      AND NOT t.tgisinternal AND (t.tgtype & 4) <> 0),
  x.name, coalesce(a.atttypid = to_regtype(x.typ) AND a.attgenerated = '', false),
  a.attidentity::text,
  pg_get_expr(d.adbin, d.adrelid), format_type(a.atttypid, a.atttypmod),
  s.seq::regclass::oid::text,
  s.seq IS NOT NULL
    AND pg_get_expr(d.adbin, d.adrelid) = format('nextval(%L::regclass)', s.seq::regclass::text),
  {_definition_sql("c.oid", None)}, c.relkind = 'p'
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN unnest($3::text[], $4::text[]) AS x(name, typ)
LEFT JOIN pg_attribute a
  ON a.attrelid = c.oid AND a.attname = x.name AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN LATERAL (
  SELECT pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), x.name) AS seq
  WHERE x.name = $2
) s ON true
WHERE c.oid = to_regclass($1)"""


def copy_facts_plan(
    dialect: Dialect, table: Table, columns: Sequence[Column[Any]], key: Column[Any] | None
) -> ExecutionPlan:
    """The catalog query behind the COPY path's decision for ``table`` (see COPY_FACTS_SQL)."""
    return ExecutionPlan(
        COPY_FACTS_SQL,
        [
            _table(dialect, table),
            _name(key) if key is not None else None,
            [_name(c) for c in columns],
            [_type_name_or_none(dialect, c) for c in columns],
        ],
        returns_rows=True,
    )


def _type_name_or_none(dialect: Dialect, column: Column[Any]) -> str | None:
    # a type heron cannot name is never "exactly the column's type" (NULL)
    try:
        return _names(dialect).type_sql(column.type)  # type: ignore[no-any-return]
    except CompileError:
        return None


def reserve_plan(
    dialect: Dialect,
    table: Table,
    oid: int,
    definition: str,
    partitioned: bool,
    sequence: str | None,
    count: int,
    defaults: Sequence[tuple[str, str]],
) -> ExecutionPlan:
    """One row: ``count`` values of ``sequence`` (an array; first, when a sequence is
    given), then each ``(expression, type)`` default cast to its column's type.

    The row only comes back while ``table``'s name still resolves to ``oid``
    (search_path may have changed since the oid was learnt) and the table's
    definition fingerprint is still ``definition`` (no DDL since). The
    default expressions are catalog text the caller vetted as
    transaction-stable (constants, ``now()``), so one value stands for every row.
    """
    exprs = [f"CAST(({expr}) AS {type_})" for expr, type_ in defaults]
    params: list[Any] = [_table(dialect, table), oid, definition]
    if sequence is not None:
        exprs.insert(0, "array(SELECT nextval($4::regclass) FROM generate_series(1, $5))")
        params += [sequence, count]
    sql = (
        f"SELECT {', '.join(exprs) or '1'} WHERE to_regclass($1)::oid::int8 = $2 "
        f"AND {_definition_sql('$2::oid', partitioned)} = $3"
    )
    return ExecutionPlan(sql, params, returns_rows=True)
