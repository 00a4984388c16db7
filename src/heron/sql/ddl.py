"""Schema statements (CREATE/DROP TABLE and INDEX, ALTER TABLE) and create_all/drop_all.

Layer 3 (sql). Tables are created in foreign-key order (a topological sort
from ``heron._util.topological``). Foreign keys between tables that depend on
each other in a cycle cannot be declared inline on PostgreSQL, so there they
are added afterwards with ``ALTER TABLE ... ADD CONSTRAINT`` (and dropped
first by ``drop_all``); SQLite does not check foreign-key targets at CREATE
time, so it keeps them inline. The invariant: ``create_all``/``drop_all``
with ``checkfirst=True`` (the default) are idempotent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from heron._util.topological import find_cycles, sort
from heron.sql.base import Executable, compiler_for
from heron.sql.elements import ClauseElement
from heron.sql.text import TextClause

if TYPE_CHECKING:
    from heron.dialect.base import Dialect
    from heron.sql.schema import ForeignKeyConstraint, Index, MetaData, Table


class DDLElement(Executable, ClauseElement):
    """A schema statement; executed as is, never cached, no parameters."""

    _is_ddl = True

    def __init__(self) -> None:
        self._key = None
        self._binds = ()


class CreateTable(DDLElement):
    """``CREATE TABLE`` with columns and inline constraints.

    Args:
        table: the table.
        skip_foreign_keys: constraints left out (added later by ALTER TABLE).
        if_not_exists: render ``IF NOT EXISTS``.
    """

    __visit_name__ = "create_table"

    def __init__(
        self,
        table: Table,
        *,
        skip_foreign_keys: Iterable[ForeignKeyConstraint] = (),
        if_not_exists: bool = False,
    ) -> None:
        super().__init__()
        self.element = table
        self.skip_foreign_keys = {id(c) for c in skip_foreign_keys}
        self.if_not_exists = if_not_exists


class DropTable(DDLElement):
    """``DROP TABLE [IF EXISTS]``."""

    __visit_name__ = "drop_table"

    def __init__(self, table: Table, *, if_exists: bool = False) -> None:
        super().__init__()
        self.element = table
        self.if_exists = if_exists


class CreateIndex(DDLElement):
    """``CREATE [UNIQUE] INDEX [IF NOT EXISTS]``."""

    __visit_name__ = "create_index"

    def __init__(self, index: Index, *, if_not_exists: bool = False) -> None:
        super().__init__()
        self.element = index
        self.if_not_exists = if_not_exists


class DropIndex(DDLElement):
    """``DROP INDEX [IF EXISTS]``."""

    __visit_name__ = "drop_index"

    def __init__(self, index: Index, *, if_exists: bool = False) -> None:
        super().__init__()
        self.element = index
        self.if_exists = if_exists


class AddConstraint(DDLElement):
    """``ALTER TABLE ... ADD CONSTRAINT`` (foreign keys in a cycle, PostgreSQL)."""

    __visit_name__ = "add_constraint"

    def __init__(self, constraint: ForeignKeyConstraint) -> None:
        super().__init__()
        self.element = constraint


class DropConstraint(DDLElement):
    """``ALTER TABLE [IF EXISTS] ... DROP CONSTRAINT [IF EXISTS]``."""

    __visit_name__ = "drop_constraint"

    def __init__(self, constraint: ForeignKeyConstraint, *, if_exists: bool = False) -> None:
        super().__init__()
        self.element = constraint
        self.if_exists = if_exists


def foreign_key_name(constraint: ForeignKeyConstraint, dialect: Dialect | None = None) -> str:
    """The constraint's name, or the deterministic one heron gives it (PostgreSQL's pattern)."""
    if constraint.name:
        return constraint.name
    table = constraint.table
    assert table is not None
    cols = "_".join(c.name or "col" for c in constraint.columns)
    name = f"{table.name}_{cols}_fkey"
    limit = dialect.max_identifier_length if dialect is not None else 63
    return name[:limit]


# -- ordering -------------------------------------------------------------------------


def _dependencies(tables: list[Table]) -> list[tuple[Table, Table, ForeignKeyConstraint]]:
    """``(referenced, referencing, constraint)`` for foreign keys among ``tables``."""
    known = {id(t) for t in tables}
    out: list[tuple[Table, Table, ForeignKeyConstraint]] = []
    for table in tables:
        for constraint in table.foreign_key_constraints:
            target = _target_table(constraint)
            if target is None or target is table or id(target) not in known:
                continue
            out.append((target, table, constraint))
    return out


def _target_table(constraint: ForeignKeyConstraint) -> Table | None:
    try:
        return constraint.elements[0].column.table
    except Exception:  # an unresolvable FK only fails when the DDL is rendered
        return None


def split_cycles(tables: list[Table]) -> tuple[list[Table], list[ForeignKeyConstraint]]:
    """Order tables parents-first and pick the foreign keys that close a cycle.

    Returns:
        ``(ordered_tables, cyclic_constraints)``: every foreign key between two
        tables of one cycle (and every ``use_alter=True`` one) is in the second
        list and ignored for the order.
    """
    deps = _dependencies(tables)
    cycles = find_cycles(tables, [(a, b) for a, b, _ in deps])
    group_of: dict[int, int] = {}
    for index, group in enumerate(cycles):
        for table in group:
            group_of[id(table)] = index
    cyclic: list[ForeignKeyConstraint] = []
    edges: list[tuple[Table, Table]] = []
    for parent, child, constraint in deps:
        same = group_of.get(id(parent), -1)
        if constraint.use_alter or (same != -1 and same == group_of.get(id(child), -2)):
            cyclic.append(constraint)
        else:
            edges.append((parent, child))
    return sort(tables, edges), cyclic


def sort_tables(tables: list[Table]) -> list[Table]:
    """Tables with referenced tables first (cycles broken, declaration order kept)."""
    return split_cycles(tables)[0]


# -- create_all / drop_all ----------------------------------------------------------------


@asynccontextmanager
async def _connection(bind: Any) -> AsyncIterator[Any]:
    # An Engine opens a transaction for the whole batch; a Connection is used
    # as is (the caller owns its transaction).
    if hasattr(bind, "exec_driver_sql") or hasattr(bind, "_plan_and_execute"):
        yield bind
        return
    async with bind.begin() as conn:
        yield conn


def _dialect_of(conn: Any) -> Dialect:
    dialect = getattr(conn, "dialect", None)
    if dialect is None:
        dialect = conn.engine.dialect
    return dialect  # type: ignore[no-any-return]


async def existing_tables(conn: Any, tables: Iterable[Table]) -> set[str]:
    """Fullnames of ``tables`` that exist in the database ``conn`` is connected to."""
    dialect = _dialect_of(conn)
    compiler_class = compiler_for(dialect)
    found: set[str] = set()
    schemas = {t.schema for t in tables}
    for schema in sorted(schemas, key=lambda s: s or ""):
        sql, params = compiler_class.table_names_query(schema)
        result = await conn.execute(TextClause(sql), params)
        for row in result.all():
            found.add(f"{schema}.{row[0]}" if schema else str(row[0]))
    return found


async def create_all(
    metadata: MetaData, bind: Any, *, tables: Iterable[Table] | None = None, checkfirst: bool = True
) -> None:
    """Create missing tables, then their indexes, then cycle-closing foreign keys."""
    chosen = list(tables) if tables is not None else list(metadata.tables.values())
    async with _connection(bind) as conn:
        dialect = _dialect_of(conn)
        ordered, cyclic = split_cycles(chosen)
        if not dialect.supports_alter_add_constraint:
            cyclic = []
        existing = await existing_tables(conn, ordered) if checkfirst else set()
        created = [t for t in ordered if t.fullname not in existing]
        created_ids = {id(t) for t in created}
        for table in created:
            await conn.execute(CreateTable(table, skip_foreign_keys=cyclic))
        for table in created:
            for index in table._index_order:
                await conn.execute(CreateIndex(index, if_not_exists=checkfirst))
        for constraint in cyclic:
            if constraint.table is not None and id(constraint.table) in created_ids:
                await conn.execute(AddConstraint(constraint))


async def drop_all(
    metadata: MetaData, bind: Any, *, tables: Iterable[Table] | None = None, checkfirst: bool = True
) -> None:
    """Drop existing tables, children first (cycle-closing foreign keys dropped before)."""
    chosen = list(tables) if tables is not None else list(metadata.tables.values())
    async with _connection(bind) as conn:
        dialect = _dialect_of(conn)
        ordered, cyclic = split_cycles(chosen)
        existing = await existing_tables(conn, ordered) if checkfirst else None
        if cyclic:
            for sql in compiler_for(dialect).drop_cycle_preamble():
                await conn.exec_driver_sql(sql)
        if dialect.supports_alter_add_constraint:
            for constraint in cyclic:
                table = constraint.table
                if table is not None and (existing is None or table.fullname in existing):
                    await conn.execute(DropConstraint(constraint, if_exists=True))
        for table in reversed(ordered):
            if existing is None or table.fullname in existing:
                await conn.execute(DropTable(table))


__all__ = [
    "AddConstraint",
    "CreateIndex",
    "CreateTable",
    "DDLElement",
    "DropConstraint",
    "DropIndex",
    "DropTable",
    "create_all",
    "drop_all",
    "sort_tables",
    "split_cycles",
]
