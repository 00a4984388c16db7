"""Pool bounds, fairness, timeouts, overflow, pre-ping, recycle, dispose, :memory: sharing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from heron import Engine, create_engine, exc
from heron.engine import PoolStats


async def settle(engine: Engine, *, waiting: int) -> None:
    """Yield to the loop until ``waiting`` tasks wait on the pool (bounded)."""
    async with asyncio.timeout(5):
        while True:  # the pool has no event for "a waiter queued"
            if engine.pool.stats().waiting == waiting:
                return
            await asyncio.sleep(0)


async def test_two_hundred_tasks_never_exceed_five_connections(engine_factory: Any) -> None:
    engine: Engine = engine_factory(pool_size=5)
    p = engine.dialect.placeholder
    peak = 0
    connections: set[int] = set()

    async def work(i: int) -> int:
        nonlocal peak
        async with engine.connect() as conn:
            peak = max(peak, engine.pool.stats().checked_out)
            connections.add(id(conn._driver))
            await asyncio.sleep(0)  # hold it across a scheduling point
            return int((await conn.exec_driver_sql(f"SELECT {p(1)} + 0", [i])).scalar())

    async with asyncio.timeout(60):
        results = await asyncio.gather(*(work(i) for i in range(200)))
    assert results == list(range(200))
    assert 1 < peak <= 5
    assert len(connections) <= 5
    stats = engine.pool.stats()
    assert stats.checked_out == 0 and stats.waiting == 0 and stats.size <= 5


async def test_waiters_are_served_first_come_first_served(engine_factory: Any) -> None:
    engine: Engine = engine_factory(pool_size=1)
    order: list[int] = []
    async with asyncio.timeout(20):
        holder = await engine.connect()
        tasks = []
        for i in range(10):

            async def wait_turn(i: int = i) -> None:
                async with engine.connect():
                    order.append(i)

            tasks.append(asyncio.create_task(wait_turn()))
            await settle(engine, waiting=i + 1)  # task i is queued before task i+1 starts
        await holder.close()
        await asyncio.gather(*tasks)
    assert order == list(range(10))


async def test_newcomer_does_not_overtake_a_waiter(engine_factory: Any) -> None:
    engine: Engine = engine_factory(pool_size=1)
    order: list[str] = []
    async with asyncio.timeout(20):
        holder = await engine.connect()

        async def take(name: str) -> None:
            async with engine.connect():
                order.append(name)

        first = asyncio.create_task(take("waiter"))
        await settle(engine, waiting=1)
        await holder.close()  # handed straight to the waiter, not left idle
        second = asyncio.create_task(take("newcomer"))
        await asyncio.gather(first, second)
    assert order == ["waiter", "newcomer"]


async def test_pool_timeout_error_reports_pool_size_and_checked_out(
    engine_factory: Any,
) -> None:
    engine: Engine = engine_factory(pool_size=2, pool_timeout=0.05)
    async with asyncio.timeout(10):
        a = await engine.connect()
        b = await engine.connect()
        with pytest.raises(exc.PoolTimeoutError) as info:
            await engine.connect()
        await a.close()
        await b.close()
    message = str(info.value)
    assert "pool_size=2" in message
    assert "2 checked out" in message
    assert isinstance(info.value, TimeoutError)
    assert engine.pool.stats() == PoolStats(size=2, checked_out=0, overflow=0, waiting=0)


async def test_overflow_connections_open_under_load_and_close_on_return(
    engine_factory: Any,
) -> None:
    engine: Engine = engine_factory(pool_size=1, max_overflow=2, pool_timeout=0.05)
    async with asyncio.timeout(10):
        conns = [await engine.connect() for _ in range(3)]
        assert engine.pool.stats() == PoolStats(size=3, checked_out=3, overflow=2, waiting=0)
        with pytest.raises(exc.PoolTimeoutError):
            await engine.connect()
        for conn in conns:
            await conn.close()
    assert engine.pool.stats() == PoolStats(size=1, checked_out=0, overflow=0, waiting=0)


async def test_idle_connection_is_reused_without_reset_statements(
    engine: Engine, sql_log: Any
) -> None:
    async with engine.connect(autobegin=False) as conn:
        first = conn._driver
        await conn.exec_driver_sql("SELECT 1")
    async with engine.connect(autobegin=False) as conn:
        assert conn._driver is first
        await conn.exec_driver_sql("SELECT 2")
    assert sql_log.all_statements == ["SELECT 1", "SELECT 2"]


async def test_connection_returned_inside_a_transaction_is_rolled_back(
    engine: Engine, sql_log: Any
) -> None:
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    assert sql_log.all_statements == ["BEGIN (implicit)", "SELECT 1", "ROLLBACK"]
    async with engine.connect() as conn:
        assert not conn._driver.in_transaction()  # type: ignore[union-attr]


async def test_dispose_closes_idle_connections_and_pool_stays_usable(engine: Engine) -> None:
    async with engine.connect() as conn:
        old = conn._driver
    assert engine.pool.stats().size == 1
    await engine.dispose()
    assert old is not None and old.is_closed()
    assert engine.pool.stats() == PoolStats(0, 0, 0, 0)
    async with engine.connect() as conn:
        assert conn._driver is not old
        assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1


async def test_connection_checked_out_during_dispose_is_closed_on_return(
    engine: Engine,
) -> None:
    conn = await engine.connect()
    driver = conn._driver
    await engine.dispose()
    assert driver is not None and not driver.is_closed()
    await conn.close()
    await engine.dispose()  # waits for the background close
    assert driver.is_closed()
    assert engine.pool.stats() == PoolStats(0, 0, 0, 0)


async def test_pool_recycle_replaces_old_connections(engine_factory: Any) -> None:
    engine: Engine = engine_factory(pool_recycle=0.001)
    async with engine.connect() as conn:
        old = conn._driver
    await asyncio.sleep(0.01)
    async with engine.connect() as conn:
        assert conn._driver is not old
    await engine.dispose()
    assert old is not None and old.is_closed()


async def test_pre_ping_keeps_healthy_connections(engine_factory: Any) -> None:
    engine: Engine = engine_factory(pool_pre_ping=True)
    async with engine.connect() as conn:
        first = conn._driver
    async with engine.connect() as conn:  # pinged, found alive, reused
        assert conn._driver is first
        assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1


async def test_pre_ping_replaces_a_terminated_backend(pg_engine: Engine) -> None:
    from heron import create_engine as make

    url = pg_engine.url
    settings = dict(pg_engine._connect_args["server_settings"])
    engine = make(url, pool_size=1, pool_pre_ping=True, connect_args={"server_settings": settings})
    try:
        async with asyncio.timeout(20):
            async with engine.connect() as conn:
                pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
            async with pg_engine.connect(autobegin=False) as admin:
                killed = await admin.exec_driver_sql("SELECT pg_terminate_backend($1)", [pid])
                assert killed.scalar() is True
            async with engine.connect() as conn:
                new_pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
            assert new_pid != pid
            assert engine.pool.stats() == PoolStats(1, 0, 0, 0)
    finally:
        await engine.dispose()


async def test_dead_connection_is_discarded_after_the_error(pg_engine: Engine) -> None:
    async with asyncio.timeout(20):
        async with pg_engine.connect(autobegin=False) as conn:
            pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
            async with pg_engine.connect(autobegin=False) as admin:
                await admin.exec_driver_sql("SELECT pg_terminate_backend($1)", [pid])
            with pytest.raises(exc.OperationalError):
                await conn.exec_driver_sql("SELECT pg_sleep(0.5)")
        async with pg_engine.connect(autobegin=False) as conn:
            assert (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar() != pid
        assert pg_engine.pool.stats().checked_out == 0


async def test_unreachable_database_raises_operational_error_and_frees_capacity() -> None:
    engine = create_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=1)
    try:
        for _ in range(2):  # the failed open gave its slot back
            with pytest.raises(exc.OperationalError):
                async with asyncio.timeout(10):
                    await engine.connect()
        assert engine.pool.stats() == PoolStats(0, 0, 0, 0)
    finally:
        await engine.dispose()


async def test_memory_database_is_shared_and_checkouts_take_turns() -> None:
    engine = create_engine("sqlite:///:memory:", pool_timeout=5)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            await conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        order: list[str] = []
        async with asyncio.timeout(10):
            first = await engine.connect()

            async def second() -> int:
                async with engine.connect() as conn:
                    order.append("second")
                    return int((await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar())

            task = asyncio.create_task(second())
            await settle(engine, waiting=1)
            order.append("first")
            await first.close()
            assert await task == 1
        assert order == ["first", "second"]
        assert engine.pool.stats().size == 1
    finally:
        await engine.dispose()


async def test_pool_stats_is_a_frozen_snapshot(engine: Engine) -> None:
    stats = engine.pool.stats()
    with pytest.raises(AttributeError):
        stats.size = 3  # type: ignore[misc]
    before = (stats.size, stats.checked_out)
    async with engine.connect():
        assert engine.pool.stats().checked_out == 1
    assert (stats.size, stats.checked_out) == before
