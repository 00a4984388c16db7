"""Connection.stream: server-side cursor on PostgreSQL, buffered on SQLite; same API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from heron import Engine, exc


async def fill(engine: Engine, n: int) -> None:
    p = engine.dialect.placeholder
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            f"INSERT INTO items (id, name) VALUES ({p(1)}, {p(2)})",
            [(i, f"n{i}") for i in range(n)],
        )


async def test_async_iteration_yields_every_row_in_chunks(items: Engine) -> None:
    await fill(items, 25)
    async with asyncio.timeout(10), items.connect() as conn:
        result = await conn.stream("SELECT id, name FROM items ORDER BY id", chunk_size=4)
        assert result.keys() == ["id", "name"]
        rows = [row async for row in result]
    assert [r.id for r in rows] == list(range(25))
    assert rows[3].name == "n3"


async def test_partitions_scalars_and_mappings(items: Engine) -> None:
    await fill(items, 10)
    query = "SELECT id, name FROM items ORDER BY id"
    async with asyncio.timeout(10), items.connect() as conn:
        result = await conn.stream(query, chunk_size=3)
        sizes = [len(part) async for part in result.partitions(4)]
        assert sizes == [4, 4, 2]
        ids = await (await conn.stream(query)).scalars().all()
        assert ids == list(range(10))
        names = [m["name"] async for m in (await conn.stream(query)).mappings()]
        assert names[:2] == ["n0", "n1"]


async def test_fetch_methods_and_closing_calls(items: Engine) -> None:
    await fill(items, 5)
    query = "SELECT id FROM items ORDER BY id"
    async with asyncio.timeout(10), items.connect() as conn:
        result = await conn.stream(query, chunk_size=2)
        assert await result.fetchone() == (0,)
        assert await result.fetchmany(3) == [(1,), (2,), (3,)]
        assert await result.fetchall() == [(4,)]
        assert await result.fetchall() == []
        first = await conn.stream(query)
        assert await first.first() == (0,)
        with pytest.raises(exc.ResourceClosedError):
            await first.all()
        assert await (await conn.stream(query)).scalar() == 0
        with pytest.raises(exc.MultipleResultsFound):
            await (await conn.stream(query)).one()
        assert await (await conn.stream(f"{query} LIMIT 1")).scalar_one() == 0
        assert await (await conn.stream("SELECT id FROM items WHERE id < 0")).one_or_none() is None


async def test_stream_runs_in_a_transaction(items: Engine) -> None:
    async with asyncio.timeout(10), items.connect() as conn:
        result = await conn.stream("SELECT id FROM items")
        assert conn.in_transaction()
        assert await result.all() == []


async def test_stream_without_autobegin_ends_its_own_transaction(items: Engine) -> None:
    await fill(items, 3)
    async with asyncio.timeout(10), items.connect(autobegin=False) as conn:
        result = await conn.stream("SELECT id FROM items ORDER BY id", chunk_size=2)
        assert conn.in_transaction()
        assert [r[0] async for r in result] == [0, 1, 2]
        assert not conn.in_transaction()


async def test_stream_uses_a_server_side_cursor_on_postgres(
    pg_engine: Engine, sql_log: Any
) -> None:
    query = "SELECT g FROM generate_series(1, 1000) AS g"
    async with asyncio.timeout(10), pg_engine.connect() as conn:
        result = await conn.stream(query, chunk_size=10)
        first = await result.fetchmany(10)
        assert [r[0] for r in first] == list(range(1, 11))
        # The rest is still on the server, in an open portal of this session.
        portals = await conn.exec_driver_sql("SELECT count(*) FROM pg_cursors")
        assert portals.scalar() >= 1
        rest = await result.scalars().all()
        assert rest == list(range(11, 1001))
    assert sql_log.statements == [query, "SELECT count(*) FROM pg_cursors"]


async def test_stream_fetch_from_another_task_is_refused(items: Engine, sql: Any) -> None:
    async with asyncio.timeout(20), items.connect() as conn:
        result = await conn.stream("SELECT id FROM items")
        started = asyncio.Event()

        async def hog() -> None:
            started.set()
            await conn.exec_driver_sql(sql.slow)

        task = asyncio.create_task(hog())
        await started.wait()
        await asyncio.sleep(0)
        with pytest.raises(exc.TransactionStateError, match="stream fetch"):
            await result.all()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
