"""SQLite SQL: ``?`` parameters, IN lists expanded per execution, INTEGER PRIMARY KEY.

Layer 3 (sql). Only what differs from ``base.SQLCompiler`` lives here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from heron.sql.compiler.base import SQLCompiler
from heron.sql.elements import BinaryExpression
from heron.sql.selectable import CompoundSelect, Select, SelectBase


class SqliteCompiler(SQLCompiler):
    """Renders statements for SQLite (3.35+ for RETURNING)."""

    dialect_name: ClassVar[str] = "sqlite"
    # SQLite has TRUE/FALSE only as aliases since 3.23; 1/0 work everywhere.
    true_sql: ClassVar[str] = "1"
    false_sql: ClassVar[str] = "0"
    inline_autoincrement_pk = True

    @classmethod
    def table_names_query(cls, schema: str | None) -> tuple[str, dict[str, Any] | None]:
        master = f'"{schema}".sqlite_master' if schema else "sqlite_master"
        return f"SELECT name FROM {master} WHERE type = 'table'", None

    @classmethod
    def drop_cycle_preamble(cls) -> list[str]:
        # Tables in a cycle cannot be dropped one by one while rows reference
        # each other; deferring the checks to COMMIT (when all are gone) works
        # inside a transaction, unlike PRAGMA foreign_keys.
        return ["PRAGMA defer_foreign_keys = ON"]

    def render_ilike(self, binary: BinaryExpression[Any]) -> str:
        # No ILIKE in SQLite: compare lower-cased (ASCII-only, like SQLite's LOWER).
        left = self.process(binary.left)
        right = self.process(binary.right)
        op = "NOT LIKE" if binary.operator == "NOT ILIKE" else "LIKE"
        return f"lower({left}) {op} lower({right})"

    def limit_sql(self, limit: Any, offset: Any) -> str:
        if offset is not None and limit is None:
            # SQLite only accepts OFFSET after a LIMIT; -1 means "no limit".
            return f"LIMIT -1 OFFSET {self.process(offset)}"
        return super().limit_sql(limit, offset)

    def compound_member_sql(self, member: SelectBase, text: str) -> str:
        # SQLite rejects parenthesised UNION members; wrap those with their own
        # ORDER BY / LIMIT in a subquery instead.
        if isinstance(member, CompoundSelect) or (
            isinstance(member, Select)
            and (member._order_by or member._limit is not None or member._offset is not None)
        ):
            return f"SELECT * FROM ({text})"
        return text

    def from_select_conflict_guard(self) -> str:
        # "INSERT ... SELECT ... ON CONFLICT" is ambiguous to SQLite's parser
        # unless the SELECT has a WHERE clause.
        return " WHERE true"

    def function_sql(self, name: str, element: Any) -> str | None:
        if name == "now" and not element.clauses:
            return "CURRENT_TIMESTAMP"
        return super().function_sql(name, element)

    # -- DDL -----------------------------------------------------------------------------
    def autoincrement_column_ddl(self, column: Any) -> str:
        # Exactly "INTEGER PRIMARY KEY" makes the column the rowid alias.
        return f"{self.quote(column.name)} INTEGER NOT NULL PRIMARY KEY"

    # -- types ---------------------------------------------------------------------------
    def type_float(self, type_: Any) -> str:
        return "FLOAT"

    def type_boolean(self, type_: Any) -> str:
        return "BOOLEAN"

    def type_datetime(self, type_: Any) -> str:
        return "DATETIME"

    def type_interval(self, type_: Any) -> str:
        # Whole microseconds; the name gives INTEGER affinity.
        return "INTERVAL"

    def type_json(self, type_: Any) -> str:
        # TEXT affinity: a NUMERIC-affinity column would turn the document "5" into 5.
        return "TEXT"

    def type_largebinary(self, type_: Any) -> str:
        return "BLOB"

    def type_uuid(self, type_: Any) -> str:
        return "CHAR(36)"
