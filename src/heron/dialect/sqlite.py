"""SQLite flavour facts (aiosqlite, ``?`` parameters, SQLite 3.35+ for RETURNING)."""

from __future__ import annotations

from typing import ClassVar

from heron.dialect.base import Dialect, Paramstyle


class SqliteDialect(Dialect):
    """SQLite through aiosqlite."""

    name: ClassVar[str] = "sqlite"
    paramstyle: ClassVar[Paramstyle] = "qmark"
    supports_returning = True
    supports_multirow_insert = True
    supports_unnest = False
    supports_any_array = False
    supports_for_update = False
    supports_server_side_cursors = False
    supports_alter_add_constraint = False
    supports_identity_columns = False
    native_boolean = False
    native_uuid = False
    native_json = False
    native_datetime = False
    native_decimal = False
    native_interval = False
    max_bind_params = 32766
    max_identifier_length = 1000
    transactional_ddl = True
