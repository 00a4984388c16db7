"""Helpers for engine tests: backend-neutral SQL and PostgreSQL backend probes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from heron import Engine


class Sql:
    """SQL snippets that differ between the two backends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"

    def p(self, n: int) -> str:
        """Placeholder number ``n`` (1-based)."""
        return self.engine.dialect.placeholder(n)

    @property
    def slow(self) -> str:
        """A query that runs for several seconds unless cancelled."""
        if self.pg:
            return "SELECT pg_sleep(30)"
        return (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 3000000000) SELECT count(*) FROM c"
        )

    async def create_items(self, conn: Any) -> None:
        """Create table ``items(id int primary key, name text not null)``."""
        await conn.exec_driver_sql(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)"
        )

    async def wait_until(self, predicate: Any, what: str) -> None:
        """Poll an async predicate until it is true; fail the test after 10 s."""
        try:
            async with asyncio.timeout(10):
                while True:  # polling the database: there is no event to wait on
                    if await predicate():
                        return
                    await asyncio.sleep(0.01)
        except TimeoutError:
            pytest.fail(f"timed out waiting for {what}")

    async def pg_backends(self, engine: Engine, *, state_like: str = "%") -> int:
        """Count this test's other PostgreSQL backends whose state matches ``state_like``."""
        async with engine.connect(autobegin=False) as conn:
            result = await conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "current_setting('application_name') AND pid <> pg_backend_pid() "
                "AND state LIKE $1",
                [state_like],
            )
            return int(result.scalar())


    async def pg_query_running(self, engine: Engine, prefix: str) -> bool:
        """Whether one of this test's backends is running a query starting with ``prefix``."""
        async with engine.connect(autobegin=False) as conn:
            result = await conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "current_setting('application_name') AND pid <> pg_backend_pid() "
                "AND state = 'active' AND query LIKE $1",
                [prefix + "%"],
            )
            return bool(result.scalar())


@pytest.fixture
def sql(engine: Engine) -> Sql:
    """Backend-neutral SQL helpers for the ``engine`` fixture."""
    return Sql(engine)


@pytest.fixture
async def items(engine: Engine, sql: Sql) -> Engine:
    """The ``engine`` with an empty ``items`` table created and committed."""
    async with engine.begin() as conn:
        await sql.create_items(conn)
    return engine
