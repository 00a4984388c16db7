"""PostgreSQL flavour facts (asyncpg's ``$n`` parameters)."""

from __future__ import annotations

from typing import ClassVar

from heron.dialect.base import Dialect, Paramstyle


class PostgresDialect(Dialect):
    """PostgreSQL 12+ through asyncpg."""

    name: ClassVar[str] = "postgresql"
    paramstyle: ClassVar[Paramstyle] = "numeric_dollar"
    supports_returning = True
    supports_multirow_insert = True
    supports_unnest = True
    supports_any_array = True
    supports_copy = True
    supports_for_update = True
    supports_server_side_cursors = True
    supports_alter_add_constraint = True
    supports_identity_columns = True
    native_boolean = True
    native_uuid = True
    native_json = False  # asyncpg sends json/jsonb as text unless a codec is set
    native_datetime = True
    native_decimal = True
    native_interval = True
    max_bind_params = 32767
    max_identifier_length = 63
    transactional_ddl = True
    rejects_nul_in_text = True
