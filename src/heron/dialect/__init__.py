"""SQL-flavour facts per database, as capability flags (layer 1)."""

from __future__ import annotations

from heron.dialect.base import Dialect
from heron.dialect.postgresql import PostgresDialect
from heron.dialect.sqlite import SqliteDialect

__all__ = ["Dialect", "PostgresDialect", "SqliteDialect"]
