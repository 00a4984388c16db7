"""PostgreSQL through asyncpg: the only module that imports asyncpg.

Layer 1. Imported on first use of a ``postgresql://`` URL. Statements with
parameters go through asyncpg's per-connection prepared-statement cache
(``fetch`` / ``execute`` with arguments) and executemany is asyncpg's
pipelined one. Transactions are plain ``BEGIN`` / ``COMMIT`` / ``ROLLBACK``
statements; whether one is open is read from the protocol's ReadyForQuery
status, so it is right even when a user sends ``BEGIN`` by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import asyncpg
import asyncpg.exceptions

from heron import exc
from heron.driver.base import (
    DriverURL,
    RawRow,
    copy_statement,
    error_for_sqlstate,
    make_error,
    rowcount_from_status,
)

# Exceptions that mean "the database or the link failed"; anything else is a
# heron or caller bug and must not be disguised as a DatabaseError.
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


def translate_error(
    error: BaseException, statement: str | None, params: Any, conn: Any = None
) -> exc.DatabaseError:
    """Map an asyncpg (or socket) exception to heron's error tree, by SQLSTATE.

    An interface error on a connection that is now closed is a lost link
    (OperationalError), not a misuse.
    """
    cls: type[exc.DatabaseError]
    if isinstance(error, asyncpg.PostgresError):
        cls = error_for_sqlstate(getattr(error, "sqlstate", None))
    elif isinstance(error, asyncpg.exceptions.DataError):
        # Client-side: a parameter could not be encoded for its PostgreSQL type.
        cls = exc.DataError
    elif isinstance(error, asyncpg.InterfaceError):
        closed = conn is not None and conn.is_closed()
        cls = exc.OperationalError if closed else exc.InterfaceError
    elif isinstance(error, OSError | TimeoutError):
        cls = exc.OperationalError
    elif isinstance(error, asyncpg.exceptions.InternalClientError):
        closed = conn is not None and conn.is_closed()
        cls = exc.OperationalError if closed else exc.InterfaceError
    else:
        cls = exc.DatabaseError
    return make_error(cls, error, statement, params)


def _dsn(url: DriverURL) -> str:
    auth = ""
    if url.username:
        auth = quote(url.username, safe="")
        if url.password:
            auth += ":" + quote(url.password, safe="")
        auth += "@"
    host = url.host or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{url.port}" if url.port else ""
    database = quote(url.database or "", safe="")
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in url.query.items())
    return f"postgresql://{auth}{host}{port}/{database}" + (f"?{query}" if query else "")


class AsyncpgCursor:
    """A server-side cursor (a portal inside the caller's transaction)."""

    __slots__ = ("_conn", "_cursor", "keys")

    def __init__(self, conn: AsyncpgConnection, cursor: Any, keys: Sequence[str]) -> None:
        self._conn = conn
        self._cursor = cursor
        self.keys = keys

    async def fetch(self, size: int) -> list[RawRow]:
        """Return up to ``size`` rows from the portal; [] when exhausted."""
        if self._cursor is None:
            return []
        try:
            rows: list[RawRow] = await self._cursor.fetch(size)
        except _DRIVER_ERRORS as error:
            raise translate_error(error, None, None) from error
        if len(rows) < size:
            self._cursor = None
        return rows

    async def close(self) -> None:
        """Forget the portal; PostgreSQL closes it when the transaction ends."""
        self._cursor = None


class AsyncpgConnection:
    """A ``DriverConnection`` over one ``asyncpg.Connection``."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def _error(self, error: BaseException, sql: str, params: Any) -> exc.DatabaseError:
        if isinstance(error, asyncpg.exceptions.InternalClientError) and not isinstance(
            error, asyncpg.exceptions.OutdatedSchemaCacheError
        ):
            # The protocol state machine is confused (e.g. a FATAL message from
            # a terminated backend arrived mid-call): the link cannot be trusted.
            self._conn.terminate()
        return translate_error(error, sql, params, self._conn)

    # hot path: benchmarks/workloads/pool.py -- keep each method one await deep.
    async def execute(self, sql: str, params: Sequence[Any] | None) -> int:
        """Run a statement without rows; return its row count (-1 for DDL)."""
        try:
            if params:
                status: str = await self._conn.execute(sql, *params)
            else:
                # No arguments: simple-query protocol, so multi-statement scripts work.
                status = await self._conn.execute(sql)
        except _DRIVER_ERRORS as error:
            raise self._error(error, sql, params) from error
        return rowcount_from_status(status)

    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> int:
        """Pipeline one statement over many parameter sets (atomic in asyncpg)."""
        try:
            await self._conn.executemany(sql, params)
        except _DRIVER_ERRORS as error:
            raise self._error(error, sql, params) from error
        return -1  # asyncpg discards the per-statement command tags

    async def fetch(
        self, sql: str, params: Sequence[Any] | None
    ) -> tuple[Sequence[str], list[RawRow]]:
        """Run a query through the statement cache; return (keys, Records)."""
        try:
            if params:
                rows: list[RawRow] = await self._conn.fetch(sql, *params)
            else:
                rows = await self._conn.fetch(sql)
            if rows:
                return tuple(rows[0].keys()), rows  # type: ignore[attr-defined]
            return await self._keys_for(sql), rows
        except _DRIVER_ERRORS as error:
            raise self._error(error, sql, params) from error

    async def fetchmany(
        self, sql: str, params: Sequence[Sequence[Any]]
    ) -> tuple[Sequence[str], list[RawRow]]:
        """Pipeline a RETURNING statement over many parameter sets; return all rows."""
        try:
            rows: list[RawRow] = await self._conn.fetchmany(sql, params)
            if rows:
                return tuple(rows[0].keys()), rows  # type: ignore[attr-defined]
            return await self._keys_for(sql), rows
        except _DRIVER_ERRORS as error:
            raise self._error(error, sql, params) from error

    async def query(
        self, sql: str, params: Sequence[Any] | None
    ) -> tuple[Sequence[str], list[RawRow], int]:
        """Run SQL text of unknown kind: rows, keys and the command tag in one round trip.

        asyncpg's public API returns either rows (``fetch``) or the command tag
        (``execute``), never both, so this calls the internal ``_execute`` that
        both are built on; it uses the same statement cache.
        """
        try:
            rows, status, _ = await self._conn._execute(
                sql, params or (), 0, None, return_status=True
            )
            if rows:
                keys: Sequence[str] = tuple(rows[0].keys())
            else:
                keys = await self._keys_for(sql)
        except _DRIVER_ERRORS as error:
            raise self._error(error, sql, params) from error
        count = rowcount_from_status(status.decode()) if status else -1
        return keys, rows, count

    async def _keys_for(self, sql: str) -> tuple[str, ...]:
        # Column names of a statement that returned no rows. The statement was
        # just prepared, so asyncpg's cache answers without a round trip; the
        # public prepare() is the fallback should that internal ever change.
        get_statement = getattr(self._conn, "_get_statement", None)
        if get_statement is not None:
            try:
                state = await get_statement(sql, None)
                return tuple(attr.name for attr in state._get_attributes())
            except AttributeError:
                pass
        prepared = await self._conn.prepare(sql)
        return tuple(attr.name for attr in prepared.get_attributes())

    async def copy_records(
        self,
        table: str,
        schema: str | None,
        columns: Sequence[str],
        records: Iterable[Sequence[Any]],
    ) -> int:
        """COPY ``records`` into ``table`` (binary format, asyncpg's encoders per column type)."""
        try:
            status: str = await self._conn.copy_records_to_table(
                table, records=records, columns=list(columns), schema_name=schema
            )
        except _DRIVER_ERRORS as error:
            raise self._error(error, copy_statement(table, schema, columns), None) from error
        except (ValueError, TypeError, OverflowError) as error:
            # A value its column's codec cannot encode: asyncpg raises the
            # codec's own error here (it aborts the COPY first), where a bound
            # parameter gives asyncpg's DataError. Same condition, same class.
            raise make_error(
                exc.DataError, error, copy_statement(table, schema, columns), None
            ) from error
        return rowcount_from_status(status)

    async def cursor(self, sql: str, params: Sequence[Any] | None) -> AsyncpgCursor:
        """Open a server-side cursor; the caller holds the transaction it lives in."""
        try:
            cursor = await self._conn.cursor(sql, *(params or ()))
            keys = await self._keys_for(sql)
        except _DRIVER_ERRORS as error:
            raise self._error(error, sql, params) from error
        return AsyncpgCursor(self, cursor, keys)

    async def _control(self, sql: str) -> str:
        try:
            status: str = await self._conn.execute(sql)
        except _DRIVER_ERRORS as error:
            raise self._error(error, sql, None) from error
        return status

    async def begin(self) -> None:
        """Send BEGIN."""
        await self._control("BEGIN")

    async def commit(self) -> None:
        """Send COMMIT; raise if PostgreSQL turned it into a ROLLBACK."""
        status = await self._control("COMMIT")
        if status == "ROLLBACK":
            # PostgreSQL silently rolls back a COMMIT of a failed transaction;
            # reporting success here would hide lost writes.
            raise exc.OperationalError(
                "COMMIT was rolled back by PostgreSQL because an earlier statement in "
                "the transaction failed; call rollback() after a failed statement",
                statement="COMMIT",
            )

    async def rollback(self) -> None:
        """Send ROLLBACK when a transaction is open."""
        if self._conn.is_in_transaction():
            await self._control("ROLLBACK")

    async def savepoint(self, name: str) -> None:
        """Send SAVEPOINT ``name``."""
        await self._control(f"SAVEPOINT {name}")

    async def release_savepoint(self, name: str) -> None:
        """Send RELEASE SAVEPOINT ``name``."""
        await self._control(f"RELEASE SAVEPOINT {name}")

    async def rollback_to_savepoint(self, name: str) -> None:
        """Send ROLLBACK TO SAVEPOINT ``name``."""
        await self._control(f"ROLLBACK TO SAVEPOINT {name}")

    def in_transaction(self) -> bool:
        """Read the transaction status from the last ReadyForQuery message."""
        return bool(self._conn.is_in_transaction())

    def is_closed(self) -> bool:
        """Whether asyncpg knows the connection is closed or lost."""
        return bool(self._conn.is_closed())

    async def ping(self) -> None:
        """Run ``SELECT 1``: one round trip once its prepared statement is cached.

        Not by the simple protocol: asyncpg's simple-query path expects a
        command tag only, and a row-returning query there failed now and then
        with "'NoneType' object has no attribute 'decode'" (seen in CI).
        """
        try:
            await self._conn.fetchval("SELECT 1")
        except _DRIVER_ERRORS as error:
            raise self._error(error, "SELECT 1", None) from error

    async def recover(self) -> bool:
        """A query cancelled mid-flight leaves the protocol state unknown: never reuse."""
        return False

    async def close(self) -> None:
        """Close gracefully (waits for an in-flight cancel request); terminate on failure."""
        if self._conn.is_closed():
            return
        try:
            await self._conn.close(timeout=5)
        except Exception:
            self._conn.terminate()

    def terminate(self) -> None:
        """Abort the socket without waiting."""
        self._conn.terminate()


class AsyncpgDriver:
    """Opens asyncpg connections for ``postgresql://`` URLs."""

    name = "asyncpg"
    dialect_name = "postgresql"
    paramstyle = "numeric_dollar"

    async def connect(self, url: DriverURL, connect_args: Mapping[str, Any]) -> AsyncpgConnection:
        """Open one connection; ``connect_args`` go to ``asyncpg.connect`` unchanged.

        Raises:
            OperationalError: the server cannot be reached or refused the login.
        """
        try:
            conn = await asyncpg.connect(_dsn(url), **connect_args)
        except _DRIVER_ERRORS as error:
            raise translate_error(error, None, None) from error
        return AsyncpgConnection(conn)
