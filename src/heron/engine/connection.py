"""Connection: one checked-out driver connection, its transactions and statements.

Layer 2. A Connection runs SQL strings (``exec_driver_sql``) and anything
with ``_plan_execution`` (``execute``), autobegins a transaction on the first
statement (SQLAlchemy 2.0 style), and returns its driver connection to the
pool on ``close()`` -- with no I/O when the connection is idle outside a
transaction, otherwise through a shielded rollback. Invariant: a Connection
serves one task at a time; a second task gets ``TransactionStateError``
naming the operation, and an operation cut off mid-flight (cancellation)
marks the connection's state unknown so it is never reused as if clean.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from heron import exc
from heron.driver.base import copy_statement
from heron.engine.interfaces import Executable, ExecutionPlan
from heron.engine.pool import run_shielded
from heron.engine.result import AsyncResult, Result, ScalarResult, _Stream
from heron.engine.transaction import NestedTransaction, Transaction, TransactionState

if TYPE_CHECKING:
    from typing import Self

    from heron.dialect.base import Dialect
    from heron.driver.base import DriverConnection, DriverCursor, RawRow
    from heron.engine.engine import Engine
    from heron.engine.pool import PooledConnection

logger = logging.getLogger("heron.engine")
_INFO = logging.INFO

STREAM_CHUNK_SIZE = 1000

_NO_ROWS: list[Any] = []


def log_statement(
    echo: bool, sql: str, params: Any, *, tx: bool = False, executions: int = 1
) -> None:
    """Log one statement on ``heron.engine`` at INFO (always when ``echo`` is set).

    The record's message is the SQL text (plus parameters); ``heron_sql``,
    ``heron_params``, ``heron_tx`` (transaction control) and
    ``heron_executions`` (how many times an executemany ran the statement)
    ride along as record attributes for tools such as the test suite's
    ``sql_log``.
    """
    extra = {
        "heron_sql": sql,
        "heron_params": params,
        "heron_tx": tx,
        "heron_executions": executions,
    }
    args: tuple[Any, ...]
    if params is None:
        msg, args = "%s", (sql,)
    else:
        msg, args = "%s\n[parameters: %r]", (sql, params)
    if logger.isEnabledFor(_INFO):
        logger.info(msg, *args, extra=extra)
    elif echo:
        # echo=True logs even when the logger's level is above INFO.
        record = logger.makeRecord(logger.name, _INFO, __file__, 0, msg, args, None, extra=extra)
        logger.handle(record)


def _is_many(params: Any) -> bool:
    # A list whose items are all lists/tuples is an executemany; a tuple is
    # always one execution (so a single array parameter can be passed as ([1, 2],)).
    return (
        type(params) is list
        and bool(params)
        and all(isinstance(p, list | tuple) for p in params)
    )


class Connection:
    """A database connection checked out from an Engine's pool.

    Use it as an async context manager (or ``await engine.connect()`` and
    ``await conn.close()``)::

        async with engine.connect() as conn:
            result = await conn.exec_driver_sql("SELECT $1::int + 1", [41])
            assert result.scalar() == 42
            await conn.commit()

    The first statement begins a transaction (``autobegin``); ``commit()`` /
    ``rollback()`` end it and the next statement begins another. Closing
    rolls back whatever is still open. With ``autobegin=False`` statements
    outside ``begin()`` run in the driver's autocommit mode (one round trip
    each, no BEGIN/ROLLBACK around them).

    Attributes:
        engine: the Engine this connection came from.
        dialect: the engine's Dialect (capability flags, compiled cache).
    """

    __slots__ = (
        "_autobegin",
        "_driver",
        "_echo",
        "_invalid",
        "_op",
        "_root",
        "_savepoints",
        "_slot",
        "_sp_counter",
        "_started",
        "dialect",
        "engine",
    )

    def __init__(self, engine: Engine, *, autobegin: bool = True) -> None:
        self.engine = engine
        self.dialect: Dialect = engine.dialect
        self._echo = engine.echo
        self._autobegin = autobegin
        self._slot: PooledConnection | None = None
        self._driver: DriverConnection | None = None
        # Name of the operation in flight, or None: the cheap two-task check.
        self._op: str | None = None
        self._root: Transaction | None = None
        self._savepoints: list[NestedTransaction] = []
        self._sp_counter = 0
        self._invalid = False
        self._started = False

    # --- lifecycle --------------------------------------------------------

    async def start(self) -> Self:
        """Check out a driver connection from the pool (what ``async with`` does).

        Raises:
            PoolTimeoutError: no connection became free within ``pool_timeout``.
        """
        if self._started:
            raise exc.InvalidRequestError(
                "Connection.start() called twice; use one 'async with engine.connect()' "
                "per connection"
            )
        self._started = True
        slot = await self.engine.pool.acquire()
        self._slot = slot
        self._driver = slot.conn
        return self

    def __await__(self) -> Generator[Any, None, Self]:
        return self.start().__await__()

    async def __aenter__(self) -> Self:
        if not self._started:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether the connection was returned to the pool (or never checked out)."""
        return self._driver is None

    @property
    def invalidated(self) -> bool:
        """Whether an operation was cut off mid-flight, leaving the state unknown."""
        return self._invalid

    async def close(self) -> None:
        """Roll back anything open and return the connection to the pool; idempotent.

        Runs shielded: a caller cancelled here still gets the connection
        returned (or, when its state is unknown, closed and replaced).
        """
        slot = self._slot
        if slot is None:
            return
        if self._op is not None:
            self._refuse("close()")
        self._end_transactions(TransactionState.CLOSED)
        self._slot = None
        driver = self._driver
        self._driver = None
        assert driver is not None
        pool = self.engine.pool
        if not self._invalid and not driver.in_transaction():
            # hot path: idle outside a transaction -> no reset query, no I/O.
            pool.release(slot)
            return
        if not self._invalid:
            log_statement(self._echo, "ROLLBACK", None, tx=True)
        await run_shielded(pool.reset_and_release(slot, recover=self._invalid))

    # --- the one-task guard -------------------------------------------------

    def _refuse(self, what: str) -> None:
        if self._op is not None:
            raise exc.TransactionStateError(
                f"Connection.{what} was called while Connection.{self._op} is in "
                "progress in another task; a Connection serves one task at a time "
                "(check out one connection per task)"
            )
        if self._invalid:
            raise exc.InvalidRequestError(
                f"Cannot call Connection.{what}: an earlier operation was cancelled "
                "mid-flight, so the connection's state is unknown; close it and check "
                "out a new one"
            )
        if not self._started:
            raise exc.InvalidRequestError(
                f"Cannot call Connection.{what} before the connection is checked out; "
                "use 'async with engine.connect() as conn' or 'await engine.connect()'"
            )
        raise exc.SessionClosedError(
            f"Cannot call Connection.{what}: the connection is closed (returned to the "
            "pool); check out a new one with engine.connect()"
        )

    def _failed(self, error: BaseException) -> None:
        # A DatabaseError leaves the connection usable unless the link died;
        # anything else (cancellation above all) leaves its state unknown.
        if not isinstance(error, exc.DatabaseError) or (
            self._driver is not None and self._driver.is_closed()
        ):
            self._invalid = True

    # --- statements -----------------------------------------------------------

    async def exec_driver_sql(self, sql: str, params: Sequence[Any] | None = None) -> Result[Any]:
        """Run a SQL string in the driver's paramstyle (``$1`` on PostgreSQL, ``?`` on SQLite).

        Args:
            sql: the SQL text.
            params: a sequence of values for one execution, or a list of
                sequences for an executemany (a tuple is always one execution).

        Returns:
            A Result: rows for statements that return them, else ``rowcount``.
        """
        # hot path: benchmarks/workloads/pool.py
        driver = self._driver
        if self._op is not None or driver is None or self._invalid:
            self._refuse("exec_driver_sql()")
        assert driver is not None
        self._op = "exec_driver_sql()"
        try:
            if self._root is None and self._autobegin:
                await self._autobegin_root(driver)
            if self._echo or logger.isEnabledFor(_INFO):
                log_statement(self._echo, sql, params)
            if params is not None and _is_many(params):
                count = await driver.executemany(sql, params)
                return Result((), _NO_ROWS, None, count, returns_rows=False)
            keys, rows, count = await driver.query(sql, params)
            if keys:
                return Result(keys, rows, None, count if count >= 0 else len(rows))
            return Result((), _NO_ROWS, None, count, returns_rows=False)
        except BaseException as error:
            self._failed(error)
            raise
        finally:
            self._op = None

    async def execute(
        self,
        statement: Executable,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> Result[Any]:
        """Run a statement construct (anything with ``_plan_execution``).

        Args:
            statement: e.g. ``select(...)``, ``insert(table)``, ``text(...)``.
            params: a mapping of bound values, or a list of mappings for an
                executemany.

        Returns:
            A Result with the rows (processed per column) or the rowcount.
        """
        plan = self._plan(statement, params, "execute()")
        return await self._run_plan(plan)

    async def scalar(
        self,
        statement: Executable,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> Any:
        """Run ``statement`` and return the first column of its first row (or None)."""
        return (await self.execute(statement, params)).scalar()

    async def scalars(
        self,
        statement: Executable,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> ScalarResult[Any]:
        """Run ``statement`` and return its first column as a ScalarResult."""
        return (await self.execute(statement, params)).scalars()

    def _plan(self, statement: Any, params: Any, what: str) -> ExecutionPlan:
        planner = getattr(statement, "_plan_execution", None)
        if planner is None:
            if isinstance(statement, str):
                raise exc.ArgumentError(
                    f"Connection.{what} takes a statement object, not a string; use "
                    "conn.exec_driver_sql(sql, params) or text(sql) for SQL text"
                )
            raise exc.ArgumentError(
                f"Connection.{what} cannot run {type(statement).__name__!r}: it has no "
                "_plan_execution(dialect, params) (is it a heron statement?)"
            )
        plan: ExecutionPlan = planner(self.dialect, params)
        return plan

    async def _run_plan(self, plan: ExecutionPlan) -> Result[Any]:
        driver = self._driver
        if self._op is not None or driver is None or self._invalid:
            self._refuse("execute()")
        assert driver is not None
        self._op = "execute()"
        try:
            if self._root is None and self._autobegin:
                await self._autobegin_root(driver)
            sql = plan.sql
            params = plan.params
            if self._echo or logger.isEnabledFor(_INFO):
                log_statement(
                    self._echo, sql, params, executions=len(params) if plan.many else 1
                )
            rows: list[RawRow]
            if plan.many:
                if plan.returns_rows:
                    keys, rows = await driver.fetchmany(sql, params)
                    return Result(plan.keys or keys, rows, plan.processors, len(rows))
                count = await driver.executemany(sql, params)
                return Result((), _NO_ROWS, None, count, returns_rows=False)
            if plan.returns_rows:
                keys, rows = await driver.fetch(sql, params)
                return Result(plan.keys or keys, rows, plan.processors, len(rows))
            count = await driver.execute(sql, None if plan.is_ddl and not params else params)
            return Result((), _NO_ROWS, None, count, returns_rows=False)
        except BaseException as error:
            self._failed(error)
            raise
        finally:
            self._op = None

    async def copy_records(
        self,
        table: str,
        columns: Sequence[str],
        records: Iterable[Sequence[Any]],
        *,
        schema: str | None = None,
    ) -> int:
        """Load ``records`` into ``table`` with the database's bulk COPY (PostgreSQL).

        Values are sent as they are (no type processing) and must suit the
        columns' database types. One statement: every row is loaded or none.
        Logged on ``heron.engine`` as the ``COPY ... FROM STDIN`` it sends.

        Args:
            table: the table's name (unquoted).
            columns: column names, in the order of each record's values.
            records: one sequence of values per row (any iterable: rows may be
                made as they are sent).
            schema: the table's schema (None: found through ``search_path``).

        Returns:
            The number of rows loaded.

        Raises:
            InvalidRequestError: the dialect has no COPY (``supports_copy``).
        """
        if not self.dialect.supports_copy:
            raise exc.InvalidRequestError(
                f"{self.dialect.name} has no bulk COPY; use insert(table) instead"
            )
        driver = self._driver
        if self._op is not None or driver is None or self._invalid:
            self._refuse("copy_records()")
        assert driver is not None
        self._op = "copy_records()"
        try:
            if self._root is None and self._autobegin:
                await self._autobegin_root(driver)
            if self._echo or logger.isEnabledFor(_INFO):
                log_statement(self._echo, copy_statement(table, schema, columns), None)
            return await driver.copy_records(table, schema, columns, records)
        except BaseException as error:
            self._failed(error)
            raise
        finally:
            self._op = None

    async def stream(
        self,
        statement: Executable | str,
        params: Any = None,
        *,
        chunk_size: int = STREAM_CHUNK_SIZE,
    ) -> AsyncResult[Any]:
        """Run a query and stream its rows: a server-side cursor on PostgreSQL.

        The stream lives in a transaction (PostgreSQL cursors need one): the
        current one, or one begun for it. With ``autobegin=False`` and no
        transaction open, the stream's own transaction is committed when the
        stream is exhausted or closed. On SQLite rows are buffered.

        Example::

            result = await conn.stream(select(users))
            async for row in result:
                ...

        Args:
            statement: a statement construct, or SQL text in the driver's paramstyle.
            params: as for ``execute`` (constructs) or ``exec_driver_sql`` (text).
            chunk_size: rows fetched per round trip.
        """
        if isinstance(statement, str):
            sql, raw_params, processors, keys = statement, params, None, None
        else:
            plan = self._plan(statement, params, "stream()")
            sql, raw_params, processors, keys = plan.sql, plan.params, plan.processors, plan.keys
        driver = self._driver
        if self._op is not None or driver is None or self._invalid:
            self._refuse("stream()")
        assert driver is not None
        self._op = "stream()"
        own: Transaction | None = None
        try:
            if self._root is None:
                await self._autobegin_root(driver)
                if not self._autobegin:
                    own = self._root
            if self._echo or logger.isEnabledFor(_INFO):
                log_statement(self._echo, sql, raw_params)
            cursor = await driver.cursor(sql, raw_params)
        except BaseException as error:
            self._failed(error)
            raise
        finally:
            self._op = None
        on_close = None
        if own is not None:
            transaction = own

            async def on_close() -> None:
                if transaction.is_active and self._driver is not None:
                    await transaction.commit()

        guarded = _GuardedCursor(self, cursor)
        return AsyncResult(keys or cursor.keys, _Stream(guarded, processors, chunk_size, on_close))

    # --- transactions -----------------------------------------------------------

    def begin(self) -> Transaction:
        """Return the root transaction, started by ``async with`` or ``await``.

        Raises:
            TransactionStateError: a transaction is already open (including an
                autobegun one; commit or roll it back first).
        """
        return Transaction(self)

    def begin_nested(self) -> NestedTransaction:
        """Return a savepoint, started by ``async with`` or ``await``.

        Begins the root transaction first when none is open.
        """
        self._sp_counter += 1
        return NestedTransaction(self, f"heron_sp_{self._sp_counter}")

    def in_transaction(self) -> bool:
        """Whether a transaction (begun explicitly or by autobegin) is open."""
        return self._root is not None

    def in_nested_transaction(self) -> bool:
        """Whether a savepoint is open."""
        return bool(self._savepoints)

    def get_transaction(self) -> Transaction | None:
        """Return the open root transaction, if any."""
        return self._root

    async def commit(self) -> None:
        """Commit the open transaction; a no-op when none is open."""
        if self._op is not None or self._driver is None:
            self._refuse("commit()")
        if self._root is not None:
            await self._root.commit()

    async def rollback(self) -> None:
        """Roll back the open transaction; a no-op when none is open."""
        if self._op is not None or self._driver is None:
            self._refuse("rollback()")
        if self._root is not None:
            await self._root.rollback()

    def _end_transactions(self, state: TransactionState, *, keep_root: bool = False) -> None:
        for savepoint in self._savepoints:
            savepoint.state = TransactionState.CLOSED
        self._savepoints.clear()
        if not keep_root and self._root is not None:
            self._root.state = state
            self._root = None

    async def _tx_call(self, what: str, sql: str, call: Any, *args: Any) -> None:
        """Send one transaction-control statement under the one-task guard."""
        driver = self._driver
        if self._op is not None or driver is None or self._invalid:
            self._refuse(what)
        self._op = what
        try:
            if self._echo or logger.isEnabledFor(_INFO):
                log_statement(self._echo, sql, None, tx=True)
            await call(*args)
        except BaseException as error:
            self._failed(error)
            raise
        finally:
            self._op = None

    async def _autobegin_root(self, driver: DriverConnection) -> None:
        # Called with the guard already held by the statement being run.
        root = Transaction(self, implicit=True)
        if self._echo or logger.isEnabledFor(_INFO):
            log_statement(self._echo, "BEGIN (implicit)", None, tx=True)
        await driver.begin()
        root.state = TransactionState.ACTIVE
        self._root = root

    async def _begin_root(self, transaction: Transaction) -> None:
        if self._root is not None:
            raise exc.TransactionStateError(
                "Cannot begin a transaction: one is already open"
                + (" (begun automatically by the first statement)" if self._root.implicit else "")
                + "; commit() or rollback() it first, or use begin_nested() for a savepoint"
            )
        driver = self._driver
        if driver is None:
            self._refuse("begin()")
        assert driver is not None
        await self._tx_call("begin()", "BEGIN", driver.begin)
        transaction.state = TransactionState.ACTIVE
        self._root = transaction

    async def _commit_root(self, transaction: Transaction) -> None:
        driver = self._driver
        if driver is None:
            self._refuse("commit()")
        assert driver is not None
        try:
            await self._tx_call("commit()", "COMMIT", driver.commit)
        except exc.DatabaseError:
            # A failed COMMIT may leave SQLite's transaction open (busy); PostgreSQL's is over.
            if not driver.in_transaction():
                self._end_transactions(TransactionState.ROLLED_BACK)
            raise
        self._end_transactions(TransactionState.COMMITTED)

    async def _rollback_root(self, transaction: Transaction) -> None:
        driver = self._driver
        if driver is None:
            self._refuse("rollback()")
        assert driver is not None
        await self._tx_call("rollback()", "ROLLBACK", driver.rollback)
        self._end_transactions(TransactionState.ROLLED_BACK)

    async def _begin_nested(self, savepoint: NestedTransaction) -> None:
        driver = self._driver
        if driver is None or self._op is not None:
            self._refuse("begin_nested()")
        assert driver is not None
        if self._root is None:
            self._op = "begin_nested()"
            try:
                await self._autobegin_root(driver)
            except BaseException as error:
                self._failed(error)
                raise
            finally:
                self._op = None
        name = savepoint.name
        await self._tx_call("begin_nested()", f"SAVEPOINT {name}", driver.savepoint, name)
        savepoint.state = TransactionState.ACTIVE
        self._savepoints.append(savepoint)

    def _pop_savepoints(self, savepoint: NestedTransaction, state: TransactionState) -> None:
        # Ending a savepoint ends every savepoint opened inside it too.
        index = self._savepoints.index(savepoint)
        for inner in self._savepoints[index + 1 :]:
            inner.state = TransactionState.CLOSED
        del self._savepoints[index:]
        savepoint.state = state

    async def _release_nested(self, savepoint: NestedTransaction) -> None:
        driver = self._driver
        if driver is None:
            self._refuse("release savepoint")
        assert driver is not None
        name = savepoint.name
        await self._tx_call(
            "begin_nested().commit()", f"RELEASE SAVEPOINT {name}", driver.release_savepoint, name
        )
        self._pop_savepoints(savepoint, TransactionState.COMMITTED)

    async def _rollback_nested(self, savepoint: NestedTransaction) -> None:
        driver = self._driver
        if driver is None:
            self._refuse("rollback savepoint")
        assert driver is not None
        name = savepoint.name
        await self._tx_call(
            "begin_nested().rollback()",
            f"ROLLBACK TO SAVEPOINT {name}",
            driver.rollback_to_savepoint,
            name,
        )
        self._pop_savepoints(savepoint, TransactionState.ROLLED_BACK)

    async def _rollback_after_error(self, transaction: Transaction) -> None:
        """Roll back a transaction whose ``async with`` block raised; shielded.

        When the connection's state is unknown (cancelled mid-statement) no
        SQL is sent: closing the connection discards it, which ends the
        transaction on the server.
        """
        if self._invalid or self._driver is None:
            if isinstance(transaction, NestedTransaction):
                if transaction in self._savepoints:
                    self._pop_savepoints(transaction, TransactionState.CLOSED)
            else:
                self._end_transactions(TransactionState.CLOSED)
            return
        await run_shielded(transaction.rollback())

    def __repr__(self) -> str:
        state = "closed" if self._driver is None else "open"
        return f"<Connection {state} in_transaction={self.in_transaction()}>"


class _GuardedCursor:
    """A driver cursor whose fetches take the connection's one-task guard."""

    __slots__ = ("_conn", "_cursor", "keys")

    def __init__(self, conn: Connection, cursor: DriverCursor) -> None:
        self._conn = conn
        self._cursor = cursor
        self.keys = cursor.keys

    async def fetch(self, size: int) -> list[RawRow]:
        conn = self._conn
        if conn._op is not None or conn._driver is None or conn._invalid:
            conn._refuse("stream fetch")
        conn._op = "stream fetch"
        try:
            return await self._cursor.fetch(size)
        except BaseException as error:
            conn._failed(error)
            raise
        finally:
            conn._op = None

    async def close(self) -> None:
        await self._cursor.close()
