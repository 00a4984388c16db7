"""INSERT, UPDATE and DELETE statements (with RETURNING and upserts).

Layer 3 (sql). Each statement keeps what the caller passed as ``entity``
(a Table, or an ORM class) and the resolved ``table``. Values given to
``values()`` become bound parameters typed by their column. A list of rows
(``insert(t).values([{...}, ...])``) is kept as plain data, not one node per
value, and flattened at bind time: the cache key holds only the column list
and the row count. Columns missing from a statement get their Python-side
``default`` (INSERT) or ``onupdate`` (UPDATE) when it is bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from heron.exc import ArgumentError
from heron.sql.base import ColumnCollection, Executable, StatementKey, shape, unknown_name_error
from heron.sql.coercions import _unwrap, _value, coerce_expression, coerce_where
from heron.sql.elements import (
    _EMPTY,
    ClauseElement,
    ColumnClause,
    ColumnElement,
    _concat_binds,
)
from heron.sql.selectable import FromClause, SelectBase, coerce_from

if TYPE_CHECKING:
    from heron.sql.compiler.compiled import Compiled


class DMLBase(StatementKey, Executable, ClauseElement):  # type: ignore[override]  # _binds: read-only here
    """Shared by insert/update/delete: target table, RETURNING, lazy cache key.

    Attributes:
        entity: the target exactly as passed (Table or ORM class).
        table: the resolved Table.
    """

    _is_dml = True
    _memo: tuple[Any, tuple[Any, ...]]

    def __init__(self, entity: Any) -> None:
        self.entity = entity
        table = coerce_from(entity)
        if not hasattr(table, "metadata") and not hasattr(table, "element"):
            raise ArgumentError(f"{type(self).__name__.lower()}() needs a table, got {entity!r}")
        self.table: Any = table
        self._returning: tuple[ColumnElement[Any], ...] = ()
        self._returning_raw: tuple[Any, ...] = ()

    def returning(self, *columns: Any) -> Any:
        """A copy returning these columns (or all columns of a table/entity) of affected rows."""
        new = self._generate()
        expanded: list[ColumnElement[Any]] = []
        for col in columns:
            unwrapped = _unwrap(col)
            if isinstance(unwrapped, FromClause):
                expanded.extend(unwrapped.c)
            else:
                expanded.append(coerce_expression(unwrapped))
        new._returning = self._returning + tuple(expanded)
        new._returning_raw = self._returning_raw + columns
        return new

    def _column(self, key: Any) -> Any:
        """The table column for a values()/set_ key (string key, Column or ORM attribute)."""
        table = self.table
        if isinstance(key, str):
            col = table.c.get(key)
            if col is None:
                raise unknown_name_error(f"table {table.name!r}", key, table.c.keys())
            return col
        col = _unwrap(key)
        if col in table.c:
            return col
        raise ArgumentError(f"{key!r} is not a column of table {table.name!r}")

    def _resolve_values(self, values: Mapping[Any, Any]) -> dict[str, tuple[Any, ClauseElement]]:
        out: dict[str, tuple[Any, ClauseElement]] = {}
        for key, value in values.items():
            col = self._column(key)
            out[col.key] = (col, _value(col, value, col.type))
        return out

    def compile(self, dialect: Any = None) -> Compiled:
        return ClauseElement.compile(self, dialect)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"


class MultiValues:
    """The rows of a multi-row ``VALUES`` list, kept as plain dicts until bind time."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: tuple[Any, ...], rows: Sequence[Mapping[str, Any]]) -> None:
        self.columns = columns
        self.rows = rows


class Insert(DMLBase):
    """``INSERT INTO table ...``; build with ``insert(table)``."""

    __visit_name__ = "insert"

    def __init__(self, entity: Any) -> None:
        super().__init__(entity)
        self._values: dict[str, tuple[Any, ClauseElement]] | None = None
        self._multi: MultiValues | None = None
        self._multi_cells: tuple[dict[str, tuple[Any, ClauseElement]], ...] | None = None
        self._from_select: tuple[tuple[Any, ...], SelectBase] | None = None
        self._on_conflict: tuple[Any, ...] | None = None
        self._conflict_elements: tuple[ClauseElement, ...] = ()

    def values(self, *args: Any, **kwargs: Any) -> Insert:
        """A copy with values: a dict, keywords, or a list of dicts (multi-row VALUES).

        Raises:
            ArgumentError: a key is not a column of the table (naming the columns).
        """
        new = self._generate()
        if args and isinstance(args[0], list | tuple) and not kwargs:
            rows = args[0]
            if not rows:
                raise ArgumentError("insert().values([]) got no rows")
            first = rows[0]
            if not isinstance(first, Mapping):
                raise ArgumentError("insert().values([...]) takes a list of dicts")
            columns = tuple(self._column(k) for k in first)
            # Rows are data: only the first row is checked for SQL expressions
            # (scanning every value would cost more than binding them).
            if any(isinstance(v, ClauseElement) for v in first.values()):
                # SQL expressions inside rows: one node per cell (slower, rare).
                new._multi_cells = tuple(self._resolve_values(row) for row in rows)
                new._multi = None
            else:
                # Keys given as columns or ORM attributes become column keys.
                if any(not isinstance(k, str) for k in first):
                    rows = [{self._column(k).key: v for k, v in row.items()} for row in rows]
                new._multi = MultiValues(columns, rows)
                new._multi_cells = None
            new._values = None
            return new
        merged: dict[Any, Any] = {}
        for arg in args:
            if not isinstance(arg, Mapping):
                raise ArgumentError(f"values() takes a dict or keywords, got {arg!r}")
            merged.update(arg)
        merged.update(kwargs)
        resolved = self._resolve_values(merged)
        new._values = {**(self._values or {}), **resolved}
        new._multi = None
        new._multi_cells = None
        return new

    def from_select(self, names: Sequence[Any], select: SelectBase) -> Insert:
        """``INSERT INTO table (names) SELECT ...``."""
        if not isinstance(select, SelectBase):
            raise ArgumentError("from_select() takes a select()")
        new = self._generate()
        new._from_select = (tuple(self._column(n) for n in names), select)
        return new

    @property
    def excluded(self) -> ColumnCollection[ColumnElement[Any]]:
        """The row proposed for insertion, for ``on_conflict_do_update(set_=...)``.

        Example::

            stmt = insert(users).values(id=1, name="x")
            stmt = stmt.on_conflict_do_update(
                index_elements=[users.c.id], set_={"name": stmt.excluded.name}
            )
        """
        return ColumnCollection(
            {col.key: ColumnClause(col.name, col.type, _EXCLUDED) for col in self.table.c}
        )

    def on_conflict_do_nothing(self, index_elements: Sequence[Any] | None = None) -> Insert:
        """``ON CONFLICT [(index_elements)] DO NOTHING`` (PostgreSQL and SQLite 3.24+)."""
        new = self._generate()
        new._conflict_elements = self._conflict_target(index_elements)
        new._on_conflict = ("nothing",)
        return new

    def on_conflict_do_update(
        self,
        index_elements: Sequence[Any] | None = None,
        set_: Mapping[Any, Any] | None = None,
        where: Any = None,
    ) -> Insert:
        """``ON CONFLICT (index_elements) DO UPDATE SET ... [WHERE ...]``.

        Args:
            index_elements: the columns of the unique constraint that conflicts.
            set_: ``{column: value}``; use ``stmt.excluded.<col>`` for the new value.
            where: only update rows matching this condition.
        """
        if not index_elements:
            raise ArgumentError(
                "on_conflict_do_update() needs index_elements=[...] naming the unique columns"
            )
        if not set_:
            raise ArgumentError("on_conflict_do_update() needs set_={column: value}")
        new = self._generate()
        new._conflict_elements = self._conflict_target(index_elements)
        assignments = self._resolve_values(set_)
        where_clause = coerce_where(where) if where is not None else None
        new._on_conflict = ("update", tuple(assignments.items()), where_clause)
        return new

    def _conflict_target(self, elements: Sequence[Any] | None) -> tuple[ClauseElement, ...]:
        if not elements:
            return ()
        return tuple(
            self._column(e)
            if isinstance(e, str) or _unwrap(e) in self.table.c
            else coerce_expression(e)
            for e in elements
        )

    def _compute_key(self) -> tuple[Any, tuple[Any, ...]]:
        parts: list[Any] = ["insert", self.table._key]
        binds: tuple[Any, ...] = _EMPTY
        if self._values is not None:
            parts.append(tuple((k, v._key) for k, (_, v) in self._values.items()))
            binds = _concat_binds(v for _, v in self._values.values())
        elif self._multi is not None:
            parts.append(
                ("multi", tuple(c.key for c in self._multi.columns), len(self._multi.rows))
            )
            binds = (self._multi,)
        elif self._multi_cells is not None:
            parts.append(
                (
                    "cells",
                    tuple(
                        tuple((k, v._key) for k, (_, v) in row.items()) for row in self._multi_cells
                    ),
                )
            )
            binds = _concat_binds(v for row in self._multi_cells for _, v in row.values())
        if self._from_select is not None:
            cols, select = self._from_select
            parts.append(("from", tuple(c.key for c in cols), select._key))
            binds = binds + select._binds
        conflict = self._on_conflict
        if conflict is not None:
            parts.append(tuple(e._key for e in self._conflict_elements))
            binds = binds + _concat_binds(self._conflict_elements)
            if conflict[0] == "update":
                _, assignments, where = conflict
                parts.append(tuple((k, v._key) for k, (_, v) in assignments))
                binds = binds + _concat_binds(v for _, (_, v) in assignments)
                if where is not None:
                    parts.append(where._key)
                    binds = binds + where._binds
            else:
                parts.append("nothing")
        parts.append(tuple(r._key for r in self._returning))
        binds = binds + _concat_binds(self._returning)
        return tuple(parts), binds


class _ExcludedTable(FromClause):
    """The ``excluded`` pseudo-table of an upsert (rendered bare, never in FROM)."""

    __visit_name__ = "excluded"

    def __init__(self) -> None:
        self.name = "excluded"
        self._key = shape(
            "excluded",
        )
        self._binds = _EMPTY
        self._columns = ColumnCollection()

    @property
    def _from_objects(self) -> list[FromClause]:
        return []


_EXCLUDED = _ExcludedTable()


def insert(table: Any) -> Insert:
    """Build an INSERT.

    Example::

        await conn.execute(insert(users).values(name="a"))
        await conn.execute(insert(users), [{"name": "a"}, {"name": "b"}])  # executemany
        rows = await conn.execute(
            insert(users).values([{"name": "a"}, {"name": "b"}]).returning(users.c.id)
        )
    """
    return Insert(table)


class _WhereMixin(DMLBase):
    _where: tuple[ColumnElement[Any], ...] = ()

    def where(self, *criteria: Any) -> Any:
        """A copy with more WHERE conditions (ANDed)."""
        new = self._generate()
        new._where = self._where + tuple(coerce_where(c) for c in criteria)
        return new

    def filter(self, *criteria: Any) -> Any:
        """Same as ``where``."""
        return self.where(*criteria)

    def filter_by(self, **kwargs: Any) -> Any:
        """WHERE ``column == value`` by column key."""
        return self.where(*[self._column(k) == v for k, v in kwargs.items()])


class Update(_WhereMixin):
    """``UPDATE table SET ... WHERE ...``; build with ``update(table)``."""

    __visit_name__ = "update"

    def __init__(self, entity: Any) -> None:
        super().__init__(entity)
        self._values: dict[str, tuple[Any, ClauseElement]] = {}

    def values(self, *args: Any, **kwargs: Any) -> Update:
        """A copy with more SET assignments (a dict or keywords; values may be expressions).

        Raises:
            ArgumentError: a key is not a column of the table.
        """
        merged: dict[Any, Any] = {}
        for arg in args:
            if not isinstance(arg, Mapping):
                raise ArgumentError(f"values() takes a dict or keywords, got {arg!r}")
            merged.update(arg)
        merged.update(kwargs)
        new = self._generate()
        new._values = {**self._values, **self._resolve_values(merged)}
        return new

    def _compute_key(self) -> tuple[Any, tuple[Any, ...]]:
        key = (
            "update",
            self.table._key,
            tuple((k, v._key) for k, (_, v) in self._values.items()),
            tuple(w._key for w in self._where),
            tuple(r._key for r in self._returning),
        )
        binds = _concat_binds(
            [*[v for _, v in self._values.values()], *self._where, *self._returning]
        )
        return key, binds


def update(table: Any) -> Update:
    """Build an UPDATE.

    Example::

        await conn.execute(update(users).where(users.c.id == 5).values(name="b"))
    """
    return Update(table)


class Delete(_WhereMixin):
    """``DELETE FROM table WHERE ...``; build with ``delete(table)``."""

    __visit_name__ = "delete"

    def _compute_key(self) -> tuple[Any, tuple[Any, ...]]:
        key = (
            "delete",
            self.table._key,
            tuple(w._key for w in self._where),
            tuple(r._key for r in self._returning),
        )
        return key, _concat_binds([*self._where, *self._returning])


def delete(table: Any) -> Delete:
    """Build a DELETE.

    Example::

        result = await conn.execute(delete(users).where(users.c.name == "x"))
        result.rowcount
    """
    return Delete(table)


__all__ = ["Delete", "Insert", "MultiValues", "Update", "delete", "insert", "update"]
