"""Helpers for the SQL-layer tests: per-dialect compile shortcuts."""

from __future__ import annotations

import enum
from typing import Any

from heron.dialect import PostgresDialect, SqliteDialect

PG = PostgresDialect()
SQLITE = SqliteDialect()


def pg(stmt: Any) -> str:
    """SQL text for PostgreSQL."""
    return str(stmt.compile(PG).sql)


def lite(stmt: Any) -> str:
    """SQL text for SQLite."""
    return str(stmt.compile(SQLITE).sql)


class Color(enum.Enum):
    red = 1
    green = 2
    blue_green = 3
