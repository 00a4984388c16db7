"""Engine and create_engine: a URL, its driver and dialect, and a connection pool.

Layer 2. ``create_engine`` validates everything it is given up front (URL,
pool sizes), loads the driver module named by the URL scheme -- so SQLite
users never import asyncpg -- and opens no connection until the first
checkout. One Dialect instance is shared by every engine of a flavour so
compiled statements are cached once.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from heron import exc
from heron.dialect.base import Dialect
from heron.dialect.postgresql import PostgresDialect
from heron.dialect.sqlite import SqliteDialect
from heron.engine.connection import Connection, logger
from heron.engine.pool import Pool
from heron.engine.url import URL, make_url

if TYPE_CHECKING:
    from heron.driver.base import Driver, DriverConnection

# driver name (from the URL scheme) -> (module, class, pip package)
_DRIVERS: dict[str, tuple[str, str, str]] = {
    "asyncpg": ("heron.driver.asyncpg", "AsyncpgDriver", "asyncpg"),
    "aiosqlite": ("heron.driver.aiosqlite", "AiosqliteDriver", "aiosqlite"),
}

_DIALECT_CLASSES: dict[str, type[Dialect]] = {
    "postgresql": PostgresDialect,
    "sqlite": SqliteDialect,
}
_dialects: dict[str, Dialect] = {}


def _load_driver(name: str) -> Driver:
    module_name, class_name, package = _DRIVERS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise exc.ConfigurationError(
            f"The {name} driver cannot be imported ({error}); install it with "
            f"'pip install {package}'"
        ) from error
    driver: Driver = getattr(module, class_name)()
    return driver


def _dialect_for(name: str) -> Dialect:
    dialect = _dialects.get(name)
    if dialect is None:
        dialect = _dialects[name] = _DIALECT_CLASSES[name]()
    return dialect


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise exc.ConfigurationError(
            f"{name} must be an integer >= {minimum}, got {value!r}"
        )
    return value


def _check_seconds(name: str, value: Any, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        allowed = "a positive number of seconds" + (" or None" if optional else "")
        raise exc.ConfigurationError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def _enable_echo() -> None:
    # Like SQLAlchemy's echo=True: make INFO records visible when the
    # application configured no logging of its own.
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger.addHandler(handler)


class Engine:
    """Connections to one database: a URL, a driver, a dialect and a pool.

    Example::

        engine = heron.create_engine("postgresql://root@127.0.0.1:5432/test")
        async with engine.connect() as conn:
            print((await conn.exec_driver_sql("SELECT 1")).scalar())
        await engine.dispose()

    Attributes:
        url: the parsed URL.
        dialect: the shared Dialect for this database flavour.
        pool: the connection pool (``pool.stats()`` for a snapshot).
        echo: whether every statement is logged on ``heron.engine``.
    """

    def __init__(
        self,
        url: URL,
        driver: Driver,
        dialect: Dialect,
        *,
        pool_size: int,
        max_overflow: int,
        pool_timeout: float | None,
        pool_recycle: float | None,
        pool_pre_ping: bool,
        echo: bool,
        connect_args: Mapping[str, Any],
    ) -> None:
        """Build an engine; prefer ``create_engine``, which validates the arguments."""
        self.url = url
        self.driver = driver
        self.dialect = dialect
        self.echo = echo
        self._connect_args = dict(connect_args)
        self.pool = Pool(
            self._open,
            pool_size=pool_size,
            max_overflow=max_overflow,
            timeout=pool_timeout,
            recycle=pool_recycle,
            pre_ping=pool_pre_ping,
            replaceable=not url.is_memory,
        )

    @property
    def name(self) -> str:
        """The dialect name: ``postgresql`` or ``sqlite``."""
        return self.dialect.name

    async def _open(self) -> DriverConnection:
        return await self.driver.connect(self.url, self._connect_args)

    def connect(self, *, autobegin: bool = True) -> Connection:
        """Return a Connection; ``async with`` (or ``await``) checks it out of the pool.

        Args:
            autobegin: begin a transaction on the first statement (default).
                With False, statements outside ``begin()`` run in autocommit
                mode: one round trip each, no BEGIN/ROLLBACK.
        """
        return Connection(self, autobegin=autobegin)

    def begin(self) -> EngineBegin:
        """Return an async context manager: a connection inside a transaction.

        Commits when the block succeeds, rolls back when it raises, and
        returns the connection either way::

            async with engine.begin() as conn:
                await conn.execute(insert(users), [{"name": "a"}])
        """
        return EngineBegin(self)

    async def dispose(self) -> None:
        """Close every pooled connection; ones checked out close when returned.

        The engine stays usable: later checkouts open fresh connections.
        """
        await self.pool.dispose()

    def __repr__(self) -> str:
        return f"<Engine {self.url.render()}>"


class EngineBegin:
    """``async with engine.begin() as conn``: checkout + BEGIN, then COMMIT/ROLLBACK + return."""

    __slots__ = ("_conn", "_engine")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    async def __aenter__(self) -> Connection:
        conn = await Connection(self._engine).start()
        try:
            await conn.begin().start()
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        try:
            if exc_type is None and conn.in_transaction():
                await conn.commit()
        finally:
            # On error (or a failed COMMIT) close() rolls back, shielded.
            await conn.close()


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 0,
    pool_timeout: float = 30.0,
    pool_recycle: float | None = None,
    pool_pre_ping: bool = False,
    echo: bool = False,
    connect_args: Mapping[str, Any] | None = None,
) -> Engine:
    """Create an Engine for ``url``; no connection is opened until first use.

    Example::

        engine = heron.create_engine("sqlite:///app.db", pool_size=5)

    Args:
        url: ``postgresql://user:pw@host:port/db`` (also ``postgres://``,
            ``postgresql+asyncpg://``), ``sqlite:///relative.db``,
            ``sqlite:////absolute.db``, ``sqlite:///:memory:`` (also
            ``sqlite+aiosqlite://``).
        pool_size: connections kept open (``:memory:`` always uses one shared
            connection).
        max_overflow: extra connections allowed under load; one returned
            while ``pool_size`` connections already sit idle is closed.
        pool_timeout: seconds a checkout waits before ``PoolTimeoutError``.
        pool_recycle: replace connections older than this many seconds.
        pool_pre_ping: ping on checkout, replacing dead connections silently.
        echo: log every statement and its parameters on ``heron.engine``.
        connect_args: passed to the driver's connect call (for asyncpg e.g.
            ``{"server_settings": {"search_path": "app"}}``).

    Raises:
        ConfigurationError: malformed or unknown URL, impossible pool settings,
            or the driver is not installed.
    """
    parsed = make_url(url)
    pool_size = _check_int("pool_size", pool_size, 1)
    max_overflow = _check_int("max_overflow", max_overflow, 0)
    timeout = _check_seconds("pool_timeout", pool_timeout, optional=False)
    recycle = _check_seconds("pool_recycle", pool_recycle, optional=True)
    if parsed.is_memory:
        # One shared connection: every checkout must see the same database.
        pool_size, max_overflow = 1, 0
    driver = _load_driver(parsed.driver)
    if echo:
        _enable_echo()
    return Engine(
        parsed,
        driver,
        _dialect_for(driver.dialect_name),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=timeout,
        pool_recycle=recycle,
        pool_pre_ping=bool(pool_pre_ping),
        echo=bool(echo),
        connect_args=connect_args or {},
    )
