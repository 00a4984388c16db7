"""Rendering of schema statements (CREATE/DROP TABLE and INDEX, ALTER TABLE constraints).

Layer 3 (sql). A mixin of ``SQLCompiler``: DDL takes no parameters, so the
compiler runs in literal mode and inlines the few values DDL holds (server
defaults, CHECK expressions). Autoincrement and the existence query differ
per dialect and are overridden in ``postgresql.py`` / ``sqlite.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heron.exc import CompileError
from heron.sql.ddl import foreign_key_name
from heron.sql.text import TextClause

if TYPE_CHECKING:
    from heron.dialect.base import Dialect
    from heron.sql.ddl import (
        AddConstraint,
        CreateIndex,
        CreateTable,
        DropConstraint,
        DropIndex,
        DropTable,
    )
    from heron.sql.schema import Column, ForeignKeyConstraint


class DDLCompilerMixin:
    """CREATE/DROP rendering shared by every dialect (see module docstring)."""

    dialect: Dialect
    # SQLite declares an autoincrement key inline as INTEGER PRIMARY KEY.
    inline_autoincrement_pk = False

    if TYPE_CHECKING:

        def quote(self, name: str) -> str: ...
        def table_name(self, table: Any) -> str: ...
        def process(self, element: Any, **kw: Any) -> str: ...
        def type_sql(self, type_: Any) -> str: ...
        def render_literal(self, value: Any, type_: Any = None) -> str: ...

    @classmethod
    def table_names_query(cls, schema: str | None) -> tuple[str, dict[str, Any] | None]:
        """SQL (with ``:name`` parameters) listing table names in ``schema``."""
        raise NotImplementedError

    @classmethod
    def drop_cycle_preamble(cls) -> list[str]:
        """Statements run before dropping tables whose foreign keys form a cycle."""
        return []

    def visit_create_table(self, create: CreateTable, **kw: Any) -> str:
        table = create.element
        autoinc = table.autoincrement_column
        lines = [self.column_ddl(col, autoinc is col) for col in table.c]
        inline_pk = autoinc is not None and self.inline_autoincrement_pk
        for constraint in table._constraint_order:
            kind = type(constraint).__name__
            prefix = f"CONSTRAINT {self.quote(constraint.name)} " if constraint.name else ""
            if kind == "PrimaryKeyConstraint":
                if constraint.columns and not inline_pk:
                    lines.append(f"{prefix}PRIMARY KEY ({self._names(constraint.columns)})")
            elif kind == "UniqueConstraint":
                lines.append(f"{prefix}UNIQUE ({self._names(constraint.columns)})")
            elif kind == "CheckConstraint":
                lines.append(f"{prefix}CHECK ({self.process(constraint.sqltext)})")  # type: ignore[attr-defined]
            elif kind == "ForeignKeyConstraint":
                if id(constraint) in create.skip_foreign_keys:
                    continue
                lines.append(prefix + self.foreign_key_ddl(constraint))  # type: ignore[arg-type]
        exists = "IF NOT EXISTS " if create.if_not_exists else ""
        body = ",\n\t".join(lines)
        return f"CREATE TABLE {exists}{self.table_name(table)} (\n\t{body}\n)"

    def _names(self, columns: Any) -> str:
        return ", ".join(self.quote(c.name) for c in columns)

    def column_ddl(self, column: Column[Any], autoincrement: bool) -> str:
        """One column line of CREATE TABLE."""
        if autoincrement:
            return self.autoincrement_column_ddl(column)
        parts = [self.quote(column.name or "?"), self.type_sql(column_type(column))]
        if column.server_default is not None:
            parts.append("DEFAULT " + self.server_default_sql(column.server_default.arg))
        if not column.nullable:
            parts.append("NOT NULL")
        return " ".join(parts)

    def autoincrement_column_ddl(self, column: Column[Any]) -> str:
        """A column whose integer values the database generates."""
        raise NotImplementedError

    def server_default_sql(self, arg: Any) -> str:
        """``DEFAULT`` text: a string is a quoted literal, text() is raw, else an expression."""
        if isinstance(arg, str):
            return self.render_literal(arg)
        if isinstance(arg, TextClause):
            return self.process(arg)
        return f"({self.process(arg)})"

    def foreign_key_ddl(self, constraint: ForeignKeyConstraint) -> str:
        """``FOREIGN KEY(a) REFERENCES t (b) [ON DELETE ..] [ON UPDATE ..]``."""
        targets = [fk.column for fk in constraint.elements]
        target_table = targets[0].table
        if any(t.table is not target_table for t in targets):
            raise CompileError("a composite foreign key must reference columns of one table")
        text = (
            f"FOREIGN KEY({self._names(constraint.columns)}) REFERENCES "
            f"{self.table_name(target_table)} ({self._names(targets)})"
        )
        if constraint.ondelete:
            text += f" ON DELETE {_action(constraint.ondelete)}"
        if constraint.onupdate:
            text += f" ON UPDATE {_action(constraint.onupdate)}"
        if constraint.deferrable is not None:
            text += " DEFERRABLE" if constraint.deferrable else " NOT DEFERRABLE"
        if constraint.initially:
            text += f" INITIALLY {_action(constraint.initially)}"
        return text

    def visit_drop_table(self, drop: DropTable, **kw: Any) -> str:
        exists = "IF EXISTS " if drop.if_exists else ""
        return f"DROP TABLE {exists}{self.table_name(drop.element)}"

    def visit_create_index(self, create: CreateIndex, **kw: Any) -> str:
        index = create.element
        table = index.table
        if table is None:
            raise CompileError(f"index {index.name!r} is not attached to a table")
        unique = "UNIQUE " if index.unique else ""
        exists = "IF NOT EXISTS " if create.if_not_exists else ""
        saved = getattr(self, "_unqualified", False)
        self._unqualified = True
        try:
            exprs = ", ".join(self.process(e) for e in index.expressions)
        finally:
            self._unqualified = saved
        return (
            f"CREATE {unique}INDEX {exists}{self.quote(index.name or '?')} "
            f"ON {self.table_name(table)} ({exprs})"
        )

    def visit_drop_index(self, drop: DropIndex, **kw: Any) -> str:
        index = drop.element
        exists = "IF EXISTS " if drop.if_exists else ""
        schema = index.table.schema if index.table is not None else None
        name = self.quote(index.name or "?")
        return f"DROP INDEX {exists}{self.quote(schema) + '.' if schema else ''}{name}"

    def visit_add_constraint(self, add: AddConstraint, **kw: Any) -> str:
        constraint = add.element
        name = self.quote(foreign_key_name(constraint, self.dialect))
        return (
            f"ALTER TABLE {self.table_name(constraint.table)} ADD CONSTRAINT {name} "
            f"{self.foreign_key_ddl(constraint)}"
        )

    def visit_drop_constraint(self, drop: DropConstraint, **kw: Any) -> str:
        constraint = drop.element
        name = self.quote(foreign_key_name(constraint, self.dialect))
        exists = "IF EXISTS " if drop.if_exists else ""
        table = self.table_name(constraint.table)
        return f"ALTER TABLE {exists}{table} DROP CONSTRAINT {exists}{name}"


_ACTIONS = frozenset(
    {"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION", "DEFERRED", "IMMEDIATE"}
)


def _action(value: str) -> str:
    # Actions are keywords, not values: accept only the known ones so a typo
    # (or anything else) can never be spliced into the DDL.
    action = " ".join(value.upper().split())
    if action not in _ACTIONS:
        raise CompileError(f"unknown foreign-key action {value!r}; use one of {sorted(_ACTIONS)}")
    return action


def column_type(column: Column[Any]) -> Any:
    """A column's type; an untyped foreign-key column takes its target's type."""
    type_ = column.type
    if type_ is None:
        for fk in column.foreign_keys:
            target = fk.column
            if target.type is not None:
                return target.type
    return type_
