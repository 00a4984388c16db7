"""SQLite driver: connection settings, deferred BEGIN, one thread hop per statement."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite
import pytest

from heron import Engine, exc

pytestmark = pytest.mark.sqlite


async def pragma(conn: Any, name: str) -> Any:
    return (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()


async def test_file_connections_use_wal_foreign_keys_and_busy_timeout(
    sqlite_engine: Engine,
) -> None:
    async with sqlite_engine.connect(autobegin=False) as conn:
        assert await pragma(conn, "journal_mode") == "wal"
        assert await pragma(conn, "foreign_keys") == 1
        assert await pragma(conn, "busy_timeout") == 5000


async def test_read_only_transaction_sends_no_begin(sqlite_engine: Engine) -> None:
    async with sqlite_engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
        assert conn.in_transaction()
        # The BEGIN is still pending: SQLite itself is in autocommit mode.
        assert not conn._driver._raw.in_transaction  # type: ignore[union-attr]
        await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        assert conn._driver._raw.in_transaction  # type: ignore[union-attr]
        await conn.rollback()
    async with sqlite_engine.connect() as conn:
        with pytest.raises(exc.ProgrammingError, match="no such table"):
            await conn.exec_driver_sql("SELECT * FROM t")


async def test_concurrent_read_then_write_transactions_do_not_fail(
    sqlite_engine: Engine,
) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE counter (n INTEGER)")
        await conn.exec_driver_sql("INSERT INTO counter VALUES (0)")

    async def increment() -> None:
        async with sqlite_engine.begin() as conn:
            n = (await conn.exec_driver_sql("SELECT n FROM counter")).scalar()
            await asyncio.sleep(0.01)  # let the other transaction read too
            await conn.exec_driver_sql("UPDATE counter SET n = ? WHERE n = ?", [n + 1, n])

    async with asyncio.timeout(20):
        # With an eager BEGIN both would hold read snapshots and the second
        # writer would fail with "database is locked" (SQLITE_BUSY_SNAPSHOT).
        await asyncio.gather(*(increment() for _ in range(5)))
    async with sqlite_engine.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT count(*) FROM counter")).scalar() == 1


async def test_savepoint_starts_the_pending_transaction(sqlite_engine: Engine) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    async with sqlite_engine.connect() as conn:
        await conn.begin()
        async with conn.begin_nested():
            await conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        await conn.rollback()
        assert (await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar() == 0


async def test_manual_begin_is_rolled_back_on_release(sqlite_engine: Engine) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    async with sqlite_engine.connect(autobegin=False) as conn:
        await conn.exec_driver_sql("BEGIN")
        await conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    async with sqlite_engine.connect(autobegin=False) as conn:
        assert (await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar() == 0


async def test_executemany_with_returning_returns_every_row(sqlite_engine: Engine) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)")
        driver = conn._driver
        assert driver is not None
        keys, rows = await driver.fetchmany(
            "INSERT INTO t (x) VALUES (?) RETURNING id, x", [(10,), (20,), (30,)]
        )
    assert list(keys) == ["id", "x"]
    assert [tuple(r) for r in rows] == [(1, 10), (2, 20), (3, 30)]


def test_private_aiosqlite_names_heron_relies_on_exist() -> None:
    # heron ships work to aiosqlite's thread through these; fail loudly if they move.
    assert callable(aiosqlite.Connection._execute)
    conn = aiosqlite.connect(":memory:")
    assert hasattr(conn, "_connection") and hasattr(conn, "_running")
