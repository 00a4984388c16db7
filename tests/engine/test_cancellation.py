"""Cancellation never leaks a connection nor leaves a transaction open on a pooled one.

Each scenario runs under five ways of cancelling: ``task.cancel()``,
``asyncio.timeout``, anyio ``move_on_after``, anyio ``fail_after`` and an anyio
task group whose scope is cancelled. Afterwards the pool must be idle, the
next checkout must find no open transaction, writes made in the cancelled
transaction must be gone, and (PostgreSQL) no backend of this test may still
be inside a transaction or running the cancelled query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from heron import Engine

STYLES = ["task.cancel", "asyncio.timeout", "anyio.move_on_after", "anyio.fail_after", "taskgroup"]

# Long enough for the work to be under way when the cancel lands.
DELAY = 0.2


async def cancel_while(style: str, work: Callable[[asyncio.Event], Awaitable[Any]]) -> None:
    """Run ``work`` and cancel it, ``DELAY`` seconds after it signals it started."""
    started = asyncio.Event()
    async with asyncio.timeout(30):  # nothing here may hang
        if style == "task.cancel":
            task = asyncio.create_task(work(started))
            await started.wait()
            await asyncio.sleep(DELAY)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        elif style == "asyncio.timeout":
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(DELAY):
                    await work(started)
        elif style == "anyio.move_on_after":
            with anyio.move_on_after(DELAY) as scope:
                await work(started)
            assert scope.cancelled_caught
        elif style == "anyio.fail_after":
            with pytest.raises(TimeoutError):
                with anyio.fail_after(DELAY):
                    await work(started)
        else:
            async with anyio.create_task_group() as group:

                async def run() -> None:
                    await work(started)

                group.start_soon(run)
                await started.wait()
                await anyio.sleep(DELAY)
                group.cancel_scope.cancel()


async def assert_clean(engine: Engine, sql: Any, *, rows: int | None = None) -> None:
    """The pool is idle, no transaction survives, and the cancelled writes are gone."""
    stats = engine.pool.stats()
    assert stats.checked_out == 0, stats
    assert stats.waiting == 0, stats
    async with asyncio.timeout(15):
        async with engine.connect() as conn:
            assert not conn._driver.in_transaction()  # type: ignore[union-attr]
            if rows is not None:
                count = await conn.exec_driver_sql("SELECT count(*) FROM items")
                assert count.scalar() == rows
                # The key the cancelled transaction wrote is free again: a
                # leaked transaction would hold its lock and block (PG) or
                # keep the write lock (SQLite) until the timeout above.
                p = sql.p
                await conn.exec_driver_sql(
                    f"INSERT INTO items (id, name) VALUES ({p(1)}, {p(2)})", [1, "again"]
                )
                await conn.rollback()
    if sql.pg:

        async def no_tx() -> bool:
            return await sql.pg_backends(engine, state_like="idle in transaction%") == 0

        async def not_running() -> bool:
            return not await sql.pg_query_running(engine, "SELECT pg_sleep")

        await sql.wait_until(no_tx, "no backend left idle in transaction")
        await sql.wait_until(not_running, "the cancelled query to stop")


@pytest.mark.parametrize("style", STYLES)
async def test_cancelled_while_waiting_for_a_connection(
    engine_factory: Any, sql: Any, style: str
) -> None:
    engine: Engine = engine_factory(pool_size=1, pool_timeout=30)
    holder = await engine.connect()

    async def work(started: asyncio.Event) -> None:
        started.set()
        async with engine.connect():
            pytest.fail("got a connection from an exhausted pool")

    await cancel_while(style, work)
    assert engine.pool.stats().waiting == 0
    await holder.close()
    await assert_clean(engine, sql)
    assert engine.pool.stats().size == 1


@pytest.mark.parametrize("style", STYLES)
async def test_cancelled_while_a_query_runs(items: Engine, sql: Any, style: str) -> None:
    p = sql.p

    async def work(started: asyncio.Event) -> None:
        async with items.connect() as conn:
            await conn.exec_driver_sql(
                f"INSERT INTO items (id, name) VALUES ({p(1)}, {p(2)})", [1, "uncommitted"]
            )
            started.set()
            await conn.exec_driver_sql(sql.slow)
            pytest.fail("the slow query finished")

    await cancel_while(style, work)
    await assert_clean(items, sql, rows=0)


@pytest.mark.parametrize("style", STYLES)
async def test_cancelled_inside_a_transaction_between_statements(
    items: Engine, sql: Any, style: str
) -> None:
    p = sql.p
    used: list[Any] = []

    async def work(started: asyncio.Event) -> None:
        async with items.begin() as conn:
            used.append(conn._driver)
            await conn.exec_driver_sql(
                f"INSERT INTO items (id, name) VALUES ({p(1)}, {p(2)})", [1, "uncommitted"]
            )
            started.set()
            await asyncio.sleep(30)

    await cancel_while(style, work)
    await assert_clean(items, sql, rows=0)
    # Its state was known (idle in a transaction), so it was rolled back and reused.
    async with items.connect() as conn:
        assert conn._driver is used[0]


@pytest.mark.parametrize("style", STYLES)
async def test_cancelled_inside_a_savepoint(items: Engine, sql: Any, style: str) -> None:
    p = sql.p

    async def work(started: asyncio.Event) -> None:
        async with items.connect() as conn:
            async with conn.begin_nested():
                await conn.exec_driver_sql(
                    f"INSERT INTO items (id, name) VALUES ({p(1)}, {p(2)})", [1, "uncommitted"]
                )
                started.set()
                await conn.exec_driver_sql(sql.slow)

    await cancel_while(style, work)
    await assert_clean(items, sql, rows=0)


async def test_waiter_cancelled_after_being_handed_a_connection_passes_it_on(
    engine_factory: Any, sql: Any
) -> None:
    engine: Engine = engine_factory(pool_size=1)
    got: list[str] = []
    async with asyncio.timeout(20):
        holder = await engine.connect()

        async def take(name: str) -> None:
            async with engine.connect():
                got.append(name)

        first = asyncio.create_task(take("first"))
        second = asyncio.create_task(take("second"))
        while True:  # until both wait in the pool's queue
            if engine.pool.stats().waiting == 2:
                break
            await asyncio.sleep(0)
        await holder.close()  # hands the connection to `first` ...
        first.cancel()  # ... which is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await first
        await second
    assert got == ["second"]
    await assert_clean(engine, sql)


async def test_release_survives_repeated_cancellation(items: Engine, sql: Any) -> None:
    p = sql.p
    inside = asyncio.Event()

    async def work() -> None:
        async with items.connect() as conn:
            await conn.exec_driver_sql(
                f"INSERT INTO items (id, name) VALUES ({p(1)}, {p(2)})", [1, "uncommitted"]
            )
            inside.set()
            await asyncio.sleep(30)

    async with asyncio.timeout(20):
        task = asyncio.create_task(work())
        await inside.wait()
        for _ in range(20):  # cancel again and again while the rollback runs
            task.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
    await assert_clean(items, sql, rows=0)


async def test_memory_database_survives_a_cancelled_query() -> None:
    from heron import create_engine

    engine = create_engine("sqlite:///:memory:")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE kept (x INTEGER)")
            await conn.exec_driver_sql("INSERT INTO kept VALUES (1)")

        async def work(started: asyncio.Event) -> None:
            async with engine.connect() as conn:
                started.set()
                await conn.exec_driver_sql(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                    "WHERE x < 3000000000) SELECT count(*) FROM c"
                )

        await cancel_while("task.cancel", work)
        async with asyncio.timeout(10), engine.connect() as conn:
            # The one shared connection was interrupted and kept, not replaced.
            assert (await conn.exec_driver_sql("SELECT count(*) FROM kept")).scalar() == 1
    finally:
        await engine.dispose()
