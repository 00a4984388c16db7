"""SQLite through aiosqlite: the only module that imports aiosqlite.

Layer 1. Imported on first use of a ``sqlite://`` URL. Each connection lives
in aiosqlite's worker thread; every heron operation is one function shipped
to that thread (execute, read the description, fetch all, read the row count:
one thread hop), through aiosqlite's private ``_execute``. The private names
used (``_execute``, ``_connection``, ``_running``) are pinned by the driver tests.

Transactions follow Python's sqlite3 module: the connection is in autocommit
mode (``isolation_level=None``) and ``begin()`` only marks a BEGIN as pending;
the plain, deferred ``BEGIN`` is sent in the same hop as the first statement
that may write. A transaction that only read therefore never took a lock, and
concurrent read-then-write transactions queue on the write lock (busy
timeout) instead of failing with "database is locked" on a stale snapshot.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import aiosqlite

from heron import exc
from heron.driver.base import DriverURL, RawRow, make_error

BUSY_TIMEOUT_MS = 5000

# Statements that start with these keywords only read, so they need no
# transaction of their own; anything else (DML, DDL, WITH ...) sends the
# pending BEGIN first. Unknown shapes err on the side of beginning.
_READ_PREFIXES = ("SELECT", "VALUES", "EXPLAIN")

# Python types sqlite3 binds natively; used to tell "bad parameter value"
# (DataError) from "bad SQL or call" (ProgrammingError) without reading messages.
_NATIVE_TYPES = frozenset({type(None), int, float, str, bytes, bytearray, memoryview})

# Primary SQLite result codes (extended code & 0xFF) -> heron error.
_RESULT_CODES: dict[int, type[exc.DatabaseError]] = {
    1: exc.ProgrammingError,  # SQLITE_ERROR: syntax error, no such table/column
    5: exc.OperationalError,  # SQLITE_BUSY
    6: exc.OperationalError,  # SQLITE_LOCKED
    7: exc.OperationalError,  # SQLITE_NOMEM
    8: exc.OperationalError,  # SQLITE_READONLY
    9: exc.OperationalError,  # SQLITE_INTERRUPT
    10: exc.OperationalError,  # SQLITE_IOERR
    11: exc.OperationalError,  # SQLITE_CORRUPT
    13: exc.OperationalError,  # SQLITE_FULL
    14: exc.OperationalError,  # SQLITE_CANTOPEN
    18: exc.DataError,  # SQLITE_TOOBIG
    19: exc.IntegrityError,  # SQLITE_CONSTRAINT
    20: exc.DataError,  # SQLITE_MISMATCH
    23: exc.OperationalError,  # SQLITE_AUTH
    25: exc.ProgrammingError,  # SQLITE_RANGE: bind index out of range
    26: exc.OperationalError,  # SQLITE_NOTADB
}

# Fallback by sqlite3 exception class when no result code is attached.
_CLASSES: tuple[tuple[type[Exception], type[exc.DatabaseError]], ...] = (
    (sqlite3.IntegrityError, exc.IntegrityError),
    (sqlite3.DataError, exc.DataError),
    (sqlite3.ProgrammingError, exc.ProgrammingError),
    (sqlite3.NotSupportedError, exc.ProgrammingError),
    (sqlite3.OperationalError, exc.OperationalError),
    (sqlite3.InterfaceError, exc.InterfaceError),
)


def _has_unbindable(params: Any) -> bool:
    if not isinstance(params, Sequence) or isinstance(params, str | bytes):
        return False
    rows = params if params and isinstance(params[0], list | tuple) else [params]
    for row in rows:
        if not isinstance(row, Sequence):
            continue
        for value in row:
            kind = type(value)
            if kind in _NATIVE_TYPES or (kind, sqlite3.PrepareProtocol) in sqlite3.adapters:
                continue
            if not hasattr(value, "__conform__"):
                return True
    return False


def translate_error(error: BaseException, statement: str | None, params: Any) -> exc.DatabaseError:
    """Map a sqlite3 exception to heron's error tree, by SQLite result code first."""
    cls: type[exc.DatabaseError] = exc.DatabaseError
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _RESULT_CODES:
        cls = _RESULT_CODES[code & 0xFF]
    elif isinstance(error, sqlite3.ProgrammingError | sqlite3.InterfaceError) and _has_unbindable(
        params
    ):
        # sqlite3 reports an unsupported parameter type as a ProgrammingError
        # without a result code; it is a bad value, as asyncpg's DataError is.
        cls = exc.DataError
    else:
        for sqlite_cls, heron_cls in _CLASSES:
            if isinstance(error, sqlite_cls):
                cls = heron_cls
                break
    return make_error(cls, error, statement, params)


def _is_read(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(_READ_PREFIXES)


# --- functions shipped to the worker thread (one hop each) -------------------


def _run_execute(raw: sqlite3.Connection, begin: bool, sql: str, params: Any) -> int:
    if begin:
        raw.execute("BEGIN")
    cursor = raw.execute(sql, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _run_executemany(raw: sqlite3.Connection, begin: bool, sql: str, params: Any) -> int:
    if begin:
        raw.execute("BEGIN")
    cursor = raw.executemany(sql, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _run_fetch(
    raw: sqlite3.Connection, begin: bool, sql: str, params: Any
) -> tuple[tuple[str, ...], list[Any]]:
    if begin:
        raw.execute("BEGIN")
    cursor = raw.execute(sql, params)
    try:
        rows = cursor.fetchall()
        description = cursor.description
    finally:
        cursor.close()
    return (tuple(d[0] for d in description) if description else ()), rows


def _run_query(
    raw: sqlite3.Connection, begin: bool, sql: str, params: Any
) -> tuple[tuple[str, ...], list[Any], int]:
    if begin:
        raw.execute("BEGIN")
    cursor = raw.execute(sql, params)
    try:
        description = cursor.description
        rows = cursor.fetchall() if description else []
        count = cursor.rowcount
    finally:
        cursor.close()
    return (tuple(d[0] for d in description) if description else ()), rows, count


def _run_fetchmany(
    raw: sqlite3.Connection, begin: bool, sql: str, params: Any
) -> tuple[tuple[str, ...], list[Any]]:
    # sqlite3's executemany discards RETURNING rows, so loop inside the thread.
    if begin:
        raw.execute("BEGIN")
    rows: list[Any] = []
    description = None
    for one in params:
        cursor = raw.execute(sql, one)
        try:
            rows.extend(cursor.fetchall())
            description = cursor.description
        finally:
            cursor.close()
    return (tuple(d[0] for d in description) if description else ()), rows


def _run_script(raw: sqlite3.Connection, *statements: str) -> None:
    for sql in statements:
        raw.execute(sql)


def _setup(raw: sqlite3.Connection, is_file: bool) -> None:
    raw.execute("PRAGMA foreign_keys=ON")
    raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if not is_file or raw.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    # Switching to WAL needs an exclusive lock and SQLite does not run the busy
    # handler for it, so connections opened at once on a fresh file retry here.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            raw.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            busy = (getattr(error, "sqlite_errorcode", 0) & 0xFF) in (5, 6)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _noop() -> None:
    return None


def _submit(aio: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Ship ``fn(*args)`` to the connection's worker thread (one hop)."""
    return aio._execute(fn, *args)  # type: ignore[no-untyped-call]  # aiosqlite leaves it untyped


class SqliteCursor:
    """The buffered stand-in for a server-side cursor: SQLite rows are local anyway."""

    __slots__ = ("_rows", "keys")

    def __init__(self, keys: Sequence[str], rows: list[RawRow]) -> None:
        self.keys = keys
        self._rows = rows

    async def fetch(self, size: int) -> list[RawRow]:
        """Return the next ``size`` buffered rows."""
        chunk = self._rows[:size]
        del self._rows[:size]
        return chunk

    async def close(self) -> None:
        """Drop the buffered rows."""
        self._rows = []


class SqliteConnection:
    """A ``DriverConnection`` over one aiosqlite connection (one worker thread)."""

    __slots__ = ("_aio", "_pending_begin", "_raw")

    def __init__(self, aio: aiosqlite.Connection, raw: sqlite3.Connection) -> None:
        self._aio = aio
        self._raw = raw
        self._pending_begin = False

    async def _call(self, fn: Any, sql: str, params: Any) -> Any:
        # hot path: every statement is exactly one hop to the worker thread.
        begin = self._pending_begin and not _is_read(sql)
        try:
            result = await _submit(self._aio, fn, self._raw, begin, sql, params)
        except (sqlite3.Error, ValueError) as error:
            if isinstance(error, ValueError) and not isinstance(error, sqlite3.Error):
                # aiosqlite raises ValueError("Connection closed") after close.
                raise exc.InterfaceError(str(error), orig=error, statement=sql) from error
            if begin and self._raw.in_transaction:
                self._pending_begin = False  # BEGIN went through; the statement failed
            raise translate_error(error, sql, params) from error
        if begin:
            self._pending_begin = False
        return result

    async def execute(self, sql: str, params: Sequence[Any] | None) -> int:
        """Run one statement; return ``cursor.rowcount``."""
        return int(await self._call(_run_execute, sql, params if params is not None else ()))

    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> int:
        """Run one DML statement per parameter set; return the summed row count."""
        return int(await self._call(_run_executemany, sql, params))

    async def fetch(
        self, sql: str, params: Sequence[Any] | None
    ) -> tuple[Sequence[str], list[RawRow]]:
        """Run a query; return (keys, tuples)."""
        keys, rows = await self._call(_run_fetch, sql, params if params is not None else ())
        return keys, rows

    async def fetchmany(
        self, sql: str, params: Sequence[Sequence[Any]]
    ) -> tuple[Sequence[str], list[RawRow]]:
        """Run a RETURNING statement once per parameter set, in one thread hop."""
        keys, rows = await self._call(_run_fetchmany, sql, params)
        return keys, rows

    async def query(
        self, sql: str, params: Sequence[Any] | None
    ) -> tuple[Sequence[str], list[RawRow], int]:
        """Run SQL text of unknown kind: (keys, rows, rowcount) in one thread hop."""
        keys, rows, count = await self._call(
            _run_query, sql, params if params is not None else ()
        )
        return keys, rows, count

    async def copy_records(
        self,
        table: str,
        schema: str | None,
        columns: Sequence[str],
        records: Iterable[Sequence[Any]],
    ) -> int:
        """SQLite has no COPY protocol (its dialect's ``supports_copy`` is False)."""
        raise exc.InvalidRequestError(
            "SQLite has no bulk COPY; insert rows with insert(table) instead"
        )

    async def cursor(self, sql: str, params: Sequence[Any] | None) -> SqliteCursor:
        """Buffer every row (SQLite has no server to keep them on)."""
        keys, rows = await self.fetch(sql, params)
        return SqliteCursor(keys, rows)

    async def _script(self, *statements: str) -> None:
        try:
            await _submit(self._aio, _run_script, self._raw, *statements)
        except sqlite3.Error as error:
            raise translate_error(error, "; ".join(statements), None) from error

    async def begin(self) -> None:
        """Mark a BEGIN as pending; it is sent with the first statement that may write."""
        self._pending_begin = True

    async def commit(self) -> None:
        """COMMIT if a BEGIN was sent; a read-only transaction needs no round trip."""
        if self._pending_begin:
            self._pending_begin = False
        elif self._raw.in_transaction:
            await self._script("COMMIT")

    async def rollback(self) -> None:
        """ROLLBACK if a BEGIN was sent."""
        self._pending_begin = False
        if self._raw.in_transaction:
            await self._script("ROLLBACK")

    async def savepoint(self, name: str) -> None:
        """Send SAVEPOINT (with the pending BEGIN first, so it nests in the transaction)."""
        if self._pending_begin:
            await self._script("BEGIN", f"SAVEPOINT {name}")
            self._pending_begin = False
        else:
            await self._script(f"SAVEPOINT {name}")

    async def release_savepoint(self, name: str) -> None:
        """Send RELEASE SAVEPOINT."""
        await self._script(f"RELEASE SAVEPOINT {name}")

    async def rollback_to_savepoint(self, name: str) -> None:
        """Send ROLLBACK TO SAVEPOINT."""
        await self._script(f"ROLLBACK TO SAVEPOINT {name}")

    def in_transaction(self) -> bool:
        """Whether a BEGIN is pending or SQLite is outside autocommit mode."""
        return self._pending_begin or self._raw.in_transaction

    def is_closed(self) -> bool:
        """Whether the connection was closed or its worker thread told to stop."""
        return self._aio._connection is None or not self._aio._running

    async def ping(self) -> None:
        """Run ``SELECT 1`` (SQLite has no link to lose, but the file may be gone)."""
        await self._call(_run_fetch, "SELECT 1", ())

    async def recover(self) -> bool:
        """Interrupt a statement still running in the worker thread, then roll back.

        The worker runs one function at a time in order, so once a no-op
        queued behind the abandoned statement has run, that statement is over.
        The interrupt is repeated because one sent before the statement started
        is a no-op in SQLite.
        """
        if self.is_closed():
            return False
        barrier = asyncio.ensure_future(_submit(self._aio, _noop))
        try:
            while not barrier.done():
                self._raw.interrupt()
                await asyncio.wait({barrier}, timeout=0.02)
            barrier.result()
            self._pending_begin = False
            if self._raw.in_transaction:
                await self._script("ROLLBACK")
        except Exception:
            return False
        finally:
            if not barrier.done():
                barrier.cancel()
        return not self._raw.in_transaction

    async def close(self) -> None:
        """Close the connection and stop its worker thread; safe to call twice."""
        try:
            await self._aio.close()
        except Exception:
            self.terminate()

    def terminate(self) -> None:
        """Interrupt any running statement and stop the worker without awaiting it."""
        if self.is_closed():
            return
        self._raw.interrupt()
        self._aio.stop()  # queues close-and-exit behind the interrupted statement


class AiosqliteDriver:
    """Opens aiosqlite connections for ``sqlite://`` URLs."""

    name = "aiosqlite"
    dialect_name = "sqlite"
    paramstyle = "qmark"

    async def connect(self, url: DriverURL, connect_args: Mapping[str, Any]) -> SqliteConnection:
        """Open one connection with foreign keys on, a busy timeout and WAL for files.

        ``connect_args`` go to ``sqlite3.connect`` (through aiosqlite).
        """
        database = url.database or ":memory:"
        kwargs = dict(connect_args)
        kwargs["isolation_level"] = None  # heron sends BEGIN itself
        if database.startswith("file:"):
            kwargs.setdefault("uri", True)
        is_file = database != ":memory:" and "mode=memory" not in database
        aio = aiosqlite.connect(database, **kwargs)
        try:
            await aio
            raw = aio._connection
            assert raw is not None
            await _submit(aio, _setup, raw, is_file)
        except sqlite3.Error as error:
            await aio.close()
            raise translate_error(error, None, None) from error
        except BaseException:
            await aio.close()
            raise
        return SqliteConnection(aio, raw)
