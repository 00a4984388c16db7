"""Rendering of INSERT, UPDATE and DELETE (VALUES, defaults, upserts, RETURNING).

Layer 3 (sql). A mixin of ``SQLCompiler``. Which columns an INSERT or UPDATE
lists depends on ``values()`` and, for ``insert(t)`` / ``update(t)`` run
with parameter dicts, on the dict keys (part of the cache key); columns left
out get their Python-side ``default`` / ``onupdate`` as a slot evaluated per
row at bind time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heron.exc import ArgumentError, CompileError
from heron.sql.compiler.compiled import DEFAULT, MULTI, NAMED, Slot
from heron.sql.elements import BindParameter, ColumnElement, and_
from heron.sql.selectable import Select

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from heron.dialect.base import Dialect
    from heron.sql.dml import Delete, Insert, Update


class DMLCompilerMixin:
    """INSERT/UPDATE/DELETE rendering shared by every dialect (see module docstring)."""

    dialect: Dialect
    binds: Sequence[Any]
    params: Mapping[str, Any] | None
    _index: dict[int, int]
    _unqualified: bool
    _literal: bool

    if TYPE_CHECKING:

        def quote(self, name: str) -> str: ...
        def table_name(self, table: Any) -> str: ...
        def process(self, element: Any, **kw: Any) -> str: ...
        def _token(self, slot: Slot) -> str: ...
        def _bind_processor(self, type_: Any) -> Callable[[Any], Any] | None: ...
        def _set_result(self, columns: list[ColumnElement[Any]], select: Any) -> None: ...

    def _named_bind_names(self) -> set[str]:
        return {b.key for b in self.binds if isinstance(b, BindParameter) and b.named}

    def _check_param_keys(self, table: Any, what: str) -> list[str]:
        params = self.params
        if not params:
            return []
        names = self._named_bind_names()
        keys = [k for k in params if k in table.c and k not in names]
        unknown = [k for k in params if k not in table.c and k not in names]
        if unknown:
            raise ArgumentError(
                f"{what}: parameter(s) {', '.join(map(repr, unknown))} match no column of "
                f"{table.name!r} and no bindparam(); columns: {', '.join(table.c.keys())}"
            )
        return keys

    def _returning_sql(self, stmt: Any, toplevel: bool) -> str:
        if not stmt._returning:
            return ""
        if not self.dialect.supports_returning:
            raise CompileError(f"{self.dialect.name} does not support RETURNING")
        self._unqualified = True
        try:
            cols = ", ".join(self.process(c, within_columns=True) for c in stmt._returning)
        finally:
            self._unqualified = False
        if toplevel:
            self._set_result(list(stmt._returning), stmt)
        return f" RETURNING {cols}"

    def _default_sql(self, column: Any, default: Any) -> str:
        if default.is_clause_element:
            saved, self._literal = self._literal, True
            try:
                return self.process(default.arg)
            finally:
                self._literal = saved
        proc = self._bind_processor(column.type)
        return self._token((DEFAULT, -1, column.key, proc, default))

    def visit_insert(self, insert: Insert, *, toplevel: bool = False, **kw: Any) -> str:
        table = insert.table
        head = f"INSERT INTO {self.table_name(table)}"
        if insert._from_select is not None:
            cols, select = insert._from_select
            body = self.process(select)
            if insert._on_conflict is not None and isinstance(select, Select) and not select._where:
                body += self.from_select_conflict_guard()
            text = f"{head} ({', '.join(self.quote(c.name) for c in cols)}) {body}"
        elif insert._multi is not None:
            text = head + self._multi_values_sql(insert)
        elif insert._multi_cells is not None:
            text = head + self._cells_sql(insert)
        else:
            text = head + self._single_values_sql(insert)
        text += self._on_conflict_sql(insert)
        text += self._returning_sql(insert, toplevel)
        return text

    def from_select_conflict_guard(self) -> str:
        """Text added to an INSERT ... SELECT with ON CONFLICT (SQLite's parser needs it)."""
        return ""

    def _single_values_sql(self, insert: Insert) -> str:
        table = insert.table
        values = insert._values or {}
        param_keys = set(self._check_param_keys(table, "insert()"))
        names: list[str] = []
        exprs: list[str] = []
        for col in table.c:
            key = col.key
            if key in param_keys:
                given = values.get(key)
                index = self._index.get(id(given[1]), -1) if given is not None else -1
                exprs.append(self._token((NAMED, index, key, self._bind_processor(col.type), None)))
            elif key in values:
                exprs.append(self.process(values[key][1]))
            elif col.default is not None:
                exprs.append(self._default_sql(col, col.default))
            else:
                continue
            names.append(self.quote(col.name))
        if not names:
            return " DEFAULT VALUES"
        return f" ({', '.join(names)}) VALUES ({', '.join(exprs)})"

    def _multi_values_sql(self, insert: Insert) -> str:
        block = insert._multi
        assert block is not None
        table = insert.table
        given = {c.key for c in block.columns}
        cols = [c for c in table.c if c.key in given]
        cols += [c for c in table.c if c.key not in given and c.default is not None]
        keys: list[str] = []
        procs: list[Any] = []
        defaults: list[Any] = []
        pieces: list[str | None] = []
        for col in cols:
            default = col.default if col.key not in given else None
            if default is not None and default.is_clause_element:
                pieces.append(self._default_sql(col, default))
                continue
            keys.append(col.key)
            procs.append(self._bind_processor(col.type))
            defaults.append(default)
            pieces.append(None)
        index = self._index.get(id(block), -1)
        extra = (tuple(keys), tuple(procs), tuple(defaults), tuple(pieces), len(block.rows))
        token = self._token((MULTI, index, "rows", None, extra))
        return f" ({', '.join(self.quote(c.name) for c in cols)}) VALUES {token}"

    def _cells_sql(self, insert: Insert) -> str:
        rows = insert._multi_cells
        assert rows is not None
        keys = list(rows[0])
        table = insert.table
        rendered = []
        for number, row in enumerate(rows):
            if list(row) != keys:
                raise ArgumentError(
                    f"row {number} of the multi-row insert has keys {list(row)}; "
                    f"every row needs the keys of the first row: {keys}"
                )
            rendered.append(f"({', '.join(self.process(row[k][1]) for k in keys)})")
        names = ", ".join(self.quote(table.c[k].name) for k in keys)
        return f" ({names}) VALUES {', '.join(rendered)}"

    def _on_conflict_sql(self, insert: Insert) -> str:
        conflict = insert._on_conflict
        if conflict is None:
            return ""
        target = ""
        if insert._conflict_elements:
            self._unqualified = True
            try:
                target = f" ({', '.join(self.process(e) for e in insert._conflict_elements)})"
            finally:
                self._unqualified = False
        if conflict[0] == "nothing":
            return f" ON CONFLICT{target} DO NOTHING"
        _, assignments, where = conflict
        sets = []
        for _, (col, value) in assignments:
            sets.append(f"{self.quote(col.name)} = {self.process(value)}")
        text = f" ON CONFLICT{target} DO UPDATE SET {', '.join(sets)}"
        if where is not None:
            text += f" WHERE {self.process(where)}"
        return text

    def visit_update(self, update: Update, *, toplevel: bool = False, **kw: Any) -> str:
        table = update.table
        param_keys = [
            k for k in self._check_param_keys(table, "update()") if k not in update._values
        ]
        sets = []
        for col, value in update._values.values():
            sets.append(f"{self.quote(col.name)} = {self.process(value)}")
        for key in param_keys:
            col = table.c[key]
            token = self._token((NAMED, -1, key, self._bind_processor(col.type), None))
            sets.append(f"{self.quote(col.name)} = {token}")
        set_keys = set(update._values) | set(param_keys)
        for col in table.c:
            if col.onupdate is not None and col.key not in set_keys:
                sets.append(f"{self.quote(col.name)} = {self._default_sql(col, col.onupdate)}")
        if not sets:
            raise ArgumentError(
                f"update({table.name}) has nothing to SET; call .values(...) or pass a "
                "parameter dict with column keys"
            )
        text = f"UPDATE {self.table_name(table)} SET {', '.join(sets)}"
        if update._where:
            text += " WHERE " + self.process(and_(*update._where))
        return text + self._returning_sql(update, toplevel)

    def visit_delete(self, delete: Delete, *, toplevel: bool = False, **kw: Any) -> str:
        table = delete.table
        text = f"DELETE FROM {self.table_name(table)}"
        if delete._where:
            text += " WHERE " + self.process(and_(*delete._where))
        return text + self._returning_sql(delete, toplevel)
