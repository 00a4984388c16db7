"""pool_small_queries: many tasks, tiny queries, one pool -- the engine's hot path.

``tasks`` concurrent tasks each run ``queries`` times: check out a connection,
run ``SELECT $1::int + 1``, read the value, return the connection. Pool size
``pool_size`` everywhere. Target (issue #2): heron <= 1.10x asyncpg's own pool.

Systems: ``asyncpg`` is ``asyncpg.create_pool`` as shipped (it sends a reset
query on every release); ``asyncpg_noreset`` is the same pool with a no-op
reset, i.e. pure pool mechanics; ``heron`` runs the statements outside a
transaction (``connect(autobegin=False)``), like raw asyncpg; ``heron_tx`` is
heron's default autobegin (BEGIN, SELECT, ROLLBACK on return);
``sqlalchemy`` uses AUTOCOMMIT and ``sqlalchemy_tx`` its default.
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.registry import Implementation, Workload, register

SQL = "SELECT $1::int + 1"


@register
class PoolSmallQueries(Workload):
    """50 tasks x N small queries through a pool of 10."""

    name = "pool_small_queries"
    description = "50 tasks each run N x (checkout, SELECT $1::int + 1, return), pool of 10"
    defaults = {"tasks": 50, "queries": 200, "pool_size": 10}
    targets = {"heron": 1.10}

    def expected(self) -> int:
        """Sum of every returned value, to check the work was really done."""
        per_task = sum(i + 1 for i in range(self.params["queries"]))
        return per_task * self.params["tasks"]


class _Fanout(Implementation):
    """Shared shape: ``tasks`` coroutines each doing ``queries`` checkouts."""

    async def one(self, i: int) -> int:
        raise NotImplementedError

    async def worker(self) -> int:
        total = 0
        one = self.one
        for i in range(self.params["queries"]):
            total += await one(i)
        return total

    async def run(self) -> None:
        totals = await asyncio.gather(*(self.worker() for _ in range(self.params["tasks"])))
        workload = self.workload
        assert isinstance(workload, PoolSmallQueries)
        if sum(totals) != workload.expected():
            raise AssertionError("wrong results: the workload did not run every query")


@PoolSmallQueries.implementation("asyncpg")
class AsyncpgPool(_Fanout):
    reset: Any = None

    async def open(self) -> None:
        import asyncpg

        size = self.params["pool_size"]
        kwargs: dict[str, Any] = {}
        if self.reset is not None:
            kwargs["reset"] = self.reset
        self.pool = await asyncpg.create_pool(self.ctx.url, min_size=size, max_size=size, **kwargs)

    async def one(self, i: int) -> int:
        async with self.pool.acquire() as conn:
            value: int = await conn.fetchval(SQL, i)
            return value

    async def close(self) -> None:
        await self.pool.close()


async def _no_reset(conn: Any) -> None:
    return None


@PoolSmallQueries.implementation("asyncpg_noreset")
class AsyncpgPoolNoReset(AsyncpgPool):
    reset = staticmethod(_no_reset)


@PoolSmallQueries.implementation("heron")
class HeronPool(_Fanout):
    autobegin = False

    async def open(self) -> None:
        import heron

        self.engine = heron.create_engine(self.ctx.url, pool_size=self.params["pool_size"])
        # Fill the pool before timing, as asyncpg's min_size does.
        conns = [await self.engine.connect() for _ in range(self.params["pool_size"])]
        for conn in conns:
            await conn.close()

    async def one(self, i: int) -> int:
        async with self.engine.connect(autobegin=self.autobegin) as conn:
            result = await conn.exec_driver_sql(SQL, [i])
            value: int = result.scalar()
            return value

    async def close(self) -> None:
        await self.engine.dispose()


@PoolSmallQueries.implementation("heron_tx")
class HeronPoolAutobegin(HeronPool):
    autobegin = True


@PoolSmallQueries.implementation("sqlalchemy")
class SqlalchemyPool(_Fanout):
    isolation_level: str | None = "AUTOCOMMIT"

    async def open(self) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        url = self.ctx.url.replace("postgresql://", "postgresql+asyncpg://", 1)
        kwargs: dict[str, Any] = {}
        if self.isolation_level:
            kwargs["isolation_level"] = self.isolation_level
        size = self.params["pool_size"]
        self.engine = create_async_engine(url, pool_size=size, max_overflow=0, **kwargs)
        conns = [await self.engine.connect() for _ in range(size)]
        for conn in conns:
            await conn.close()

    async def one(self, i: int) -> int:
        async with self.engine.connect() as conn:
            result = await conn.exec_driver_sql(SQL, (i,))
            value: int = result.scalar()
            return value

    async def close(self) -> None:
        await self.engine.dispose()


@PoolSmallQueries.implementation("sqlalchemy_tx")
class SqlalchemyPoolDefault(SqlalchemyPool):
    isolation_level = None
