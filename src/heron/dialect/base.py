"""Dialect: what a database's SQL flavour can do, as plain capability flags.

Layer 1. Code in other layers asks a flag (``dialect.supports_returning``)
instead of comparing dialect names; only ``sql/compiler/<name>.py`` renders
per-dialect SQL text. A dialect also owns the compiled-statement cache for
its statements, so one cache serves every engine of the same flavour.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar, Literal

Paramstyle = Literal["numeric_dollar", "qmark"]


class LRUCache:
    """A small bounded mapping that evicts the least recently used entry."""

    __slots__ = ("_data", "capacity", "hits", "misses")

    def __init__(self, capacity: int = 1000) -> None:
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self.capacity = capacity
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> Any:
        """Return the cached value for ``key`` or None, marking it recently used."""
        data = self._data
        try:
            value = data[key]
        except KeyError:
            self.misses += 1
            return None
        data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Any, value: Any) -> None:
        """Store ``value`` under ``key``, evicting the oldest entry when full."""
        data = self._data
        data[key] = value
        data.move_to_end(key)
        if len(data) > self.capacity:
            data.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class Dialect:
    """Capability flags and naming facts for one SQL flavour."""

    name: ClassVar[str] = "base"
    paramstyle: ClassVar[Paramstyle] = "qmark"
    # INSERT/UPDATE/DELETE ... RETURNING
    supports_returning: ClassVar[bool] = True
    # INSERT ... VALUES (...), (...)
    supports_multirow_insert: ClassVar[bool] = True
    # unnest($1::type[], ...) to bind one array per column (bulk DML in one statement)
    supports_unnest: ClassVar[bool] = False
    # bulk COPY of rows into a table (DriverConnection.copy_records)
    supports_copy: ClassVar[bool] = False
    # col = ANY($1) with an array parameter
    supports_any_array: ClassVar[bool] = False
    # SELECT ... FOR UPDATE
    supports_for_update: ClassVar[bool] = False
    # server-side cursors for Result streaming
    supports_server_side_cursors: ClassVar[bool] = False
    # ALTER TABLE ... ADD CONSTRAINT (foreign keys) after CREATE TABLE
    supports_alter_add_constraint: ClassVar[bool] = False
    # IDENTITY / SERIAL vs INTEGER PRIMARY KEY autoincrement
    supports_identity_columns: ClassVar[bool] = False
    # native BOOLEAN / UUID / JSON / timezone-aware timestamps on the wire
    native_boolean: ClassVar[bool] = False
    native_uuid: ClassVar[bool] = False
    native_json: ClassVar[bool] = False
    native_datetime: ClassVar[bool] = False
    native_decimal: ClassVar[bool] = False
    native_interval: ClassVar[bool] = False
    # most bound parameters one statement may carry
    max_bind_params: ClassVar[int] = 32766
    max_identifier_length: ClassVar[int] = 63
    # transactional DDL (CREATE TABLE can be rolled back)
    transactional_ddl: ClassVar[bool] = True
    # text columns cannot hold a NUL character (PostgreSQL); heron checks binds
    rejects_nul_in_text: ClassVar[bool] = False

    def __init__(self) -> None:
        # Compiled statements keyed by statement shape (sql/compiler decides the key).
        self.compiled_cache = LRUCache(2000)

    def placeholder(self, position: int) -> str:
        """Return the placeholder for the 1-based parameter ``position``."""
        if self.paramstyle == "numeric_dollar":
            return f"${position}"
        return "?"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
