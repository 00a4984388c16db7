"""pytest plugin: each test gets a Session inside a transaction rolled back at the end.

Layer: testing (uses orm and engine). Registered through the ``pytest11``
entry point, so installing heron makes these fixtures available:

- ``heron_engine``: an Engine for ``--heron-url`` / the ``heron_url`` ini
  option / ``HERON_TEST_URL`` (override the fixture to build your own, e.g.
  to create your tables once);
- ``heron_connection``: a Connection with an outer transaction that is rolled
  back when the test ends, whatever the test did;
- ``heron_session``: a ``Session`` bound to that connection; its
  ``commit()`` releases a SAVEPOINT instead of committing, and its
  ``rollback()`` rolls back to it, so code under test behaves as in production
  and nothing outlives the test.

Works under pytest-asyncio (async fixtures) and anyio alike: the fixtures are
plain async generators.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from heron.engine import Connection, Engine, create_engine
from heron.orm.session import Session


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--heron-url`` and the ``heron_url`` ini option."""
    group = parser.getgroup("heron")
    group.addoption("--heron-url", default=None, help="database URL for heron_engine")
    parser.addini("heron_url", "database URL for the heron_engine fixture", default="")


def _url(config: pytest.Config) -> str:
    url = config.getoption("--heron-url", default=None) or config.getini("heron_url")
    return str(url or os.environ.get("HERON_TEST_URL") or "sqlite:///:memory:")


async def _engine(request: Any) -> AsyncIterator[Engine]:
    engine = create_engine(_url(request.config))
    try:
        yield engine
    finally:
        await engine.dispose()


async def _connection(heron_engine: Engine) -> AsyncIterator[Connection]:
    conn = await heron_engine.connect()
    try:
        await conn.begin()
        yield conn
    finally:
        await conn.rollback()
        await conn.close()


async def _session(heron_connection: Connection) -> AsyncIterator[Session]:
    session = Session(heron_connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        await session.close()


def _fixture(func: Any, name: str) -> Any:
    try:
        import pytest_asyncio
    except ImportError:  # anyio's pytest plugin runs plain async fixtures
        return pytest.fixture(name=name)(func)
    return pytest_asyncio.fixture(name=name)(func)


heron_engine = _fixture(_engine, "heron_engine")
heron_connection = _fixture(_connection, "heron_connection")
heron_session = _fixture(_session, "heron_session")
