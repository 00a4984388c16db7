"""Shared fixtures: one engine fixture over both backends, SQL logging, PG isolation.

Fixtures (all function-scoped):

- ``backend``: ``"sqlite"`` or ``"postgresql"``; parametrizes a test over both
  backends (ids ``sqlite`` / ``pg``; the ``pg`` case carries ``pytest.mark.pg``).
- ``engine``: an ``Engine`` on the current backend with default pool settings.
  SQLite: a fresh file database in ``tmp_path``. PostgreSQL: ``PG_URL`` with
  every pooled connection's ``search_path`` set to a fresh schema ``t_<hex>``
  that is dropped (CASCADE) at teardown, so tables of different tests never
  collide; ``application_name`` is set to the schema name too, so a test can
  find its own backends in ``pg_stat_activity``. Disposed at teardown.
- ``engine_factory``: ``engine_factory(**create_engine_kwargs) -> Engine`` on the
  current backend, same database/schema as ``engine``; for tests that need
  their own pool settings. Every engine it made is disposed at teardown.
- ``sqlite_engine`` / ``pg_engine``: one backend only (tests using them are
  marked ``sqlite`` / ``pg`` automatically).
- ``sql_log``: records every statement heron sends (logger ``heron.engine`` at
  INFO). ``sql_log.statements`` lists SQL strings of the statements the caller
  executed; ``sql_log.all_statements`` also has transaction control (BEGIN,
  COMMIT, ROLLBACK, SAVEPOINT ...); ``sql_log.params`` is parallel to
  ``statements``; ``sql_log.clear()`` forgets everything so far.

PostgreSQL comes from ``HERON_TEST_PG_URL`` (default ``PG_URL`` below). When it
cannot be reached, PG tests are skipped with one line saying how to enable
them, or fail when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

PG_URL = os.environ.get("HERON_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test")

# Result of the one reachability probe per test session: None = not probed yet,
# "" = reachable, otherwise the reason it is not.
_pg_down_reason: str | None = None


async def pg_down_reason() -> str:
    """Return "" when PostgreSQL at PG_URL answers, else why not (probed once)."""
    global _pg_down_reason
    if _pg_down_reason is None:
        import asyncpg  # test-only probe; heron itself imports asyncpg only in driver/

        try:
            conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""), timeout=3)
        except Exception as exc:  # any failure means "not usable for tests"
            _pg_down_reason = f"{type(exc).__name__}: {exc}"
        else:
            await conn.close()
            _pg_down_reason = ""
    return _pg_down_reason


async def require_pg() -> None:
    """Skip (or fail under CI) the current test when PostgreSQL is unreachable."""
    reason = await pg_down_reason()
    if not reason:
        return
    message = (
        f"PostgreSQL unreachable at {PG_URL} ({reason}); start it or set "
        "HERON_TEST_PG_URL (default postgresql://root@127.0.0.1:5432/test) to run pg tests"
    )
    if os.environ.get("CI"):
        pytest.fail(message + " [CI is set, so this fails instead of skipping]")
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a single-backend engine fixture with that backend."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "pg_engine" in names:
            item.add_marker(pytest.mark.pg)
        if "sqlite_engine" in names:
            item.add_marker(pytest.mark.sqlite)


class EngineFactory:
    """Creates engines on one backend/database and disposes them all at teardown."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.engines: list[Any] = []
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp_path / 'test.db'}"
            self.schema: str | None = None
        else:
            self.url = PG_URL
            self.schema = f"t_{uuid.uuid4().hex[:12]}"

    def __call__(self, **kwargs: Any) -> Any:
        from heron import create_engine

        if self.schema is not None:
            connect_args = dict(kwargs.pop("connect_args", None) or {})
            settings = dict(connect_args.get("server_settings") or {})
            settings.setdefault("search_path", self.schema)
            # Lets tests find this test's backends in pg_stat_activity.
            settings.setdefault("application_name", self.schema)
            connect_args["server_settings"] = settings
            kwargs["connect_args"] = connect_args
        engine = create_engine(self.url, **kwargs)
        self.engines.append(engine)
        return engine

    async def setup(self) -> None:
        if self.schema is None:
            return
        # Connections may name a schema in search_path before it exists, so the
        # first pooled connection creates it and is then reused by the test.
        engine = self()
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"CREATE SCHEMA {self.schema}")

    async def teardown(self) -> None:
        # Bounded: a test that leaked a connection must not hang the suite.
        async with asyncio.timeout(60):
            try:
                if self.schema is not None:
                    await self._drop_schema()
            finally:
                for engine in self.engines:
                    await engine.dispose()

    async def _drop_schema(self) -> None:
        from heron import create_engine

        # A fresh engine: the test may have disposed or broken its own. Any
        # backend the test left behind (a leaked transaction would block the
        # DROP on its locks) is terminated first.
        cleaner = create_engine(self.url, pool_size=1)
        try:
            async with cleaner.connect(autobegin=False) as conn:
                await conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    [self.schema],
                )
                await conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        finally:
            await cleaner.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="pg", marks=pytest.mark.pg),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name of the current parametrization."""
    return str(request.param)


async def _factory(backend: str, tmp_path: Path) -> AsyncIterator[EngineFactory]:
    if backend == "postgresql":
        await require_pg()
    factory = EngineFactory(backend, tmp_path)
    await factory.setup()
    try:
        yield factory
    finally:
        await factory.teardown()


@pytest.fixture
async def engine_factory(backend: str, tmp_path: Path) -> AsyncIterator[EngineFactory]:
    """``engine_factory(**kwargs)`` makes engines on the current backend (see module doc)."""
    async for factory in _factory(backend, tmp_path):
        yield factory


@pytest.fixture
async def engine(engine_factory: EngineFactory) -> Any:
    """An Engine on the current backend, isolated per test (see module doc)."""
    return engine_factory.engines[0] if engine_factory.engines else engine_factory()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[Any]:
    """An Engine on a fresh SQLite file database."""
    async for factory in _factory("sqlite", tmp_path):
        yield factory()


@pytest.fixture
async def pg_engine(tmp_path: Path) -> AsyncIterator[Any]:
    """An Engine on PostgreSQL with its own schema (skips/fails when PG is down)."""
    async for factory in _factory("postgresql", tmp_path):
        yield factory.engines[0]


class SqlLog(logging.Handler):
    """Collects statements logged on ``heron.engine``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.all_statements: list[str] = []
        self.statements: list[str] = []
        self.params: list[Any] = []
        # statements sent, one entry per round trip (a pipelined executemany is one)
        self.round_trips: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        sql = getattr(record, "heron_sql", None)
        if sql is None:
            return
        # a pipelined executemany that returns rows (the ORM sends selectin
        # batches so) counts as the statements it ran, one per parameter set
        params = getattr(record, "heron_params", None)
        runs = getattr(record, "heron_executions", 1)
        self.round_trips.append(sql)
        if runs > 1 and "SELECT" in sql.upper().split(None, 1)[0]:
            for one in params:
                self.all_statements.append(sql)
                self.statements.append(sql)
                self.params.append(one)
            return
        self.all_statements.append(sql)
        if not getattr(record, "heron_tx", False):
            self.statements.append(sql)
            self.params.append(params)

    def clear(self) -> None:
        """Forget every statement recorded so far."""
        self.all_statements.clear()
        self.statements.clear()
        self.params.clear()
        self.round_trips.clear()


@pytest.fixture
def sql_log() -> Iterator[SqlLog]:
    """Record statements sent by heron; see ``SqlLog`` and the module doc."""
    logger = logging.getLogger("heron.engine")
    handler = SqlLog()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
