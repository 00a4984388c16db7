"""The seam between heron and a database driver: protocols, raw rows, error mapping.

Layer 1. A driver turns "SQL text + positional parameters" into raw rows and
row counts, and turns its own exceptions into heron's ``DatabaseError`` tree.
It knows nothing of the expression tree, the pool or dialects; the engine
joins a driver with its dialect. Only ``driver/asyncpg.py`` and
``driver/aiosqlite.py`` import a database library, and each is imported only
when a URL names it.

Who closes what: the engine's pool owns every ``DriverConnection`` and is the
only caller of ``close()`` / ``terminate()``. A ``DriverCursor`` is closed by
the result that streams from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from heron import exc

# A raw row as the driver returns it: an asyncpg Record, a sqlite3 tuple, or a
# list/tuple after result processors ran. Index access and iteration only.
RawRow = Sequence[Any]


class DriverURL(Protocol):
    """What a driver reads from a parsed URL (``heron.engine.url.URL`` fits)."""

    @property
    def host(self) -> str | None: ...

    @property
    def port(self) -> int | None: ...

    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...

    @property
    def database(self) -> str | None: ...

    @property
    def query(self) -> Mapping[str, str]: ...


class DriverCursor(Protocol):
    """A server-side cursor (or a buffered stand-in) that yields rows in chunks."""

    keys: Sequence[str]

    async def fetch(self, size: int) -> list[RawRow]:
        """Return up to ``size`` more rows; an empty list when exhausted."""
        ...

    async def close(self) -> None:
        """Release the cursor; safe to call twice."""
        ...


class DriverConnection(Protocol):
    """One open database connection, used by one task at a time.

    Statements take positional parameters in the driver's paramstyle. Every
    database failure is raised as a ``heron.exc.DatabaseError`` subclass with
    ``.orig``, ``.statement`` and ``.params`` set.
    """

    async def execute(self, sql: str, params: Sequence[Any] | None) -> int:
        """Run one statement that returns no rows; return its row count (-1: unknown).

        With ``params`` None the statement may contain several commands (DDL
        scripts); with parameters it is prepared and cached by the driver.
        """
        ...

    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> int:
        """Run one statement once per parameter set; return the total row count or -1."""
        ...

    async def fetch(
        self, sql: str, params: Sequence[Any] | None
    ) -> tuple[Sequence[str], list[RawRow]]:
        """Run one statement and return ``(column names, rows)``."""
        ...

    async def fetchmany(
        self, sql: str, params: Sequence[Sequence[Any]]
    ) -> tuple[Sequence[str], list[RawRow]]:
        """Run a row-returning statement once per parameter set; return all rows in order."""
        ...

    async def query(
        self, sql: str, params: Sequence[Any] | None
    ) -> tuple[Sequence[str], list[RawRow], int]:
        """Run one statement that may or may not return rows, in one round trip.

        Returns:
            ``(column names, rows, row count)``; no column names means the
            statement returns no rows. Used for SQL text, whose kind is unknown.
        """
        ...

    async def copy_records(
        self,
        table: str,
        schema: str | None,
        columns: Sequence[str],
        records: Iterable[Sequence[Any]],
    ) -> int:
        """Send ``records`` (one value per column) into ``table`` with the bulk COPY protocol.

        Only drivers whose dialect sets ``supports_copy`` implement it; others
        raise ``InvalidRequestError``. One statement: it loads every row or none.

        Returns:
            The number of rows copied.
        """
        ...

    async def cursor(self, sql: str, params: Sequence[Any] | None) -> DriverCursor:
        """Open a cursor over a query's rows (server-side where the database has them).

        The caller must hold a transaction when the database requires one
        (PostgreSQL does).
        """
        ...

    async def begin(self) -> None:
        """Start a transaction (the driver may defer the BEGIN until it is needed)."""
        ...

    async def commit(self) -> None:
        """Commit the current transaction."""
        ...

    async def rollback(self) -> None:
        """Roll back the current transaction; a no-op outside one."""
        ...

    async def savepoint(self, name: str) -> None:
        """Create savepoint ``name`` (starting a deferred transaction first)."""
        ...

    async def release_savepoint(self, name: str) -> None:
        """Release savepoint ``name``."""
        ...

    async def rollback_to_savepoint(self, name: str) -> None:
        """Roll back to savepoint ``name``."""
        ...

    def in_transaction(self) -> bool:
        """Whether a transaction is open (or a deferred BEGIN is pending)."""
        ...

    def is_closed(self) -> bool:
        """Whether the connection is known to be closed or broken."""
        ...

    async def ping(self) -> None:
        """Round-trip a trivial statement; raise ``OperationalError`` if the link is dead."""
        ...

    async def recover(self) -> bool:
        """Bring the connection back to idle after an operation was cancelled.

        Returns:
            True when the connection is idle, outside a transaction and
            reusable; False when its state cannot be known (the caller then
            closes it).
        """
        ...

    async def close(self) -> None:
        """Close gracefully; safe to call twice."""
        ...

    def terminate(self) -> None:
        """Close at once without awaiting (for cleanup that cannot wait)."""
        ...


class Driver(Protocol):
    """Opens connections for one database library.

    Attributes:
        name: the driver's name as written in URLs (``asyncpg``, ``aiosqlite``).
        dialect_name: the ``Dialect.name`` whose SQL this driver speaks; the
            engine picks the dialect class (drivers never import dialects).
        paramstyle: placeholder style the driver expects (``numeric_dollar``
            for ``$1``, ``qmark`` for ``?``).
    """

    name: str
    dialect_name: str
    paramstyle: str

    async def connect(
        self, url: DriverURL, connect_args: Mapping[str, Any]
    ) -> DriverConnection:
        """Open one connection; raise ``OperationalError`` when the database is unreachable."""
        ...


# SQLSTATE class (first two characters) -> heron error. Classes not listed map
# to plain DatabaseError. Follows the PostgreSQL appendix "Error Codes".
SQLSTATE_CLASSES: dict[str, type[exc.DatabaseError]] = {
    "08": exc.OperationalError,  # connection exception
    "0A": exc.ProgrammingError,  # feature not supported
    "21": exc.ProgrammingError,  # cardinality violation
    "22": exc.DataError,  # data exception
    "23": exc.IntegrityError,  # integrity constraint violation
    "25": exc.OperationalError,  # invalid transaction state
    "28": exc.OperationalError,  # invalid authorization
    "3D": exc.OperationalError,  # invalid catalog name (no such database)
    "40": exc.OperationalError,  # transaction rollback (serialization, deadlock)
    "42": exc.ProgrammingError,  # syntax error or access rule violation
    "44": exc.ProgrammingError,  # WITH CHECK OPTION violation
    "53": exc.OperationalError,  # insufficient resources
    "54": exc.OperationalError,  # program limit exceeded
    "55": exc.OperationalError,  # object not in prerequisite state (lock not available)
    "57": exc.OperationalError,  # operator intervention (cancel, admin shutdown)
    "58": exc.OperationalError,  # system error
}


def error_for_sqlstate(sqlstate: str | None) -> type[exc.DatabaseError]:
    """Return the heron error class for a SQLSTATE code (DatabaseError if unknown)."""
    if not sqlstate:
        return exc.DatabaseError
    return SQLSTATE_CLASSES.get(sqlstate[:2], exc.DatabaseError)


def make_error(
    cls: type[exc.DatabaseError],
    orig: BaseException,
    statement: str | None,
    params: Any,
) -> exc.DatabaseError:
    """Build a heron ``DatabaseError`` that wraps the driver's exception ``orig``."""
    message = f"({type(orig).__module__}.{type(orig).__qualname__}) {orig}"
    return cls(message, orig=orig, statement=statement, params=params)


def rowcount_from_status(status: str) -> int:
    """Parse a PostgreSQL command tag ("UPDATE 3", "INSERT 0 1") into a row count."""
    tail = status.rpartition(" ")[2]
    return int(tail) if tail.isdigit() else -1


def copy_statement(table: str, schema: str | None, columns: Sequence[str]) -> str:
    """The ``COPY ... FROM STDIN`` text a bulk copy sends (for logs and errors)."""

    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    target = f"{quote(schema)}.{quote(table)}" if schema else quote(table)
    return f"COPY {target} ({', '.join(quote(c) for c in columns)}) FROM STDIN (FORMAT binary)"
