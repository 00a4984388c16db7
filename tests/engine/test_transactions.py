"""Autobegin, commit/rollback, explicit begin, savepoints, engine.begin, one-task guard."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from heron import Engine, exc
from heron.engine import TransactionState


async def count(engine: Engine) -> int:
    async with engine.connect() as conn:
        return int((await conn.exec_driver_sql("SELECT count(*) FROM items")).scalar())


async def names(engine: Engine) -> list[str]:
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql("SELECT name FROM items ORDER BY id")
        return list(result.scalars().all())


def insert_sql(engine: Engine) -> str:
    p = engine.dialect.placeholder
    return f"INSERT INTO items (id, name) VALUES ({p(1)}, {p(2)})"


async def test_first_statement_autobegins_and_close_rolls_back(items: Engine) -> None:
    async with items.connect() as conn:
        assert not conn.in_transaction()
        await conn.exec_driver_sql(insert_sql(items), [1, "a"])
        assert conn.in_transaction()
        assert conn.get_transaction() is not None
        assert conn.get_transaction().implicit  # type: ignore[union-attr]
    assert await count(items) == 0


async def test_commit_persists_and_next_statement_autobegins_again(items: Engine) -> None:
    async with items.connect() as conn:
        await conn.exec_driver_sql(insert_sql(items), [1, "a"])
        await conn.commit()
        assert not conn.in_transaction()
        await conn.exec_driver_sql(insert_sql(items), [2, "b"])
        assert conn.in_transaction()
        await conn.rollback()
        assert not conn.in_transaction()
    assert await names(items) == ["a"]


async def test_commit_and_rollback_without_a_transaction_are_no_ops(engine: Engine) -> None:
    async with engine.connect() as conn:
        await conn.commit()
        await conn.rollback()
        assert not conn.in_transaction()


async def test_autobegin_off_runs_each_statement_in_autocommit(items: Engine) -> None:
    async with items.connect(autobegin=False) as conn:
        await conn.exec_driver_sql(insert_sql(items), [1, "a"])
        assert not conn.in_transaction()
    assert await names(items) == ["a"]


async def test_explicit_begin_commits_on_success(items: Engine) -> None:
    async with items.connect() as conn:
        async with conn.begin() as trans:
            assert trans.is_active
            await conn.exec_driver_sql(insert_sql(items), [1, "a"])
        assert trans.state is TransactionState.COMMITTED
        assert not conn.in_transaction()
    assert await names(items) == ["a"]


async def test_explicit_begin_rolls_back_on_error(items: Engine) -> None:
    async with items.connect() as conn:
        with pytest.raises(RuntimeError):
            async with conn.begin() as trans:
                await conn.exec_driver_sql(insert_sql(items), [1, "a"])
                raise RuntimeError("boom")
        assert trans.state is TransactionState.ROLLED_BACK
        assert not conn.in_transaction()
    assert await count(items) == 0


async def test_awaited_begin_returns_the_started_transaction(items: Engine) -> None:
    async with items.connect() as conn:
        trans = await conn.begin()
        assert trans.is_active and conn.get_transaction() is trans
        await conn.exec_driver_sql(insert_sql(items), [1, "a"])
        await trans.commit()
        with pytest.raises(exc.TransactionStateError, match="committed"):
            await trans.commit()
    assert await count(items) == 1


async def test_begin_while_autobegun_names_the_cause(engine: Engine) -> None:
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
        with pytest.raises(exc.TransactionStateError, match="begun automatically"):
            await conn.begin()


async def test_engine_begin_commits_or_rolls_back(items: Engine) -> None:
    async with items.begin() as conn:
        await conn.exec_driver_sql(insert_sql(items), [1, "a"])
    with pytest.raises(ZeroDivisionError):
        async with items.begin() as conn:
            await conn.exec_driver_sql(insert_sql(items), [2, "b"])
            1 / 0  # noqa: B018
    assert await names(items) == ["a"]
    assert items.pool.stats().checked_out == 0


async def test_savepoint_rolls_back_only_its_block(items: Engine) -> None:
    async with items.begin() as conn:
        await conn.exec_driver_sql(insert_sql(items), [1, "outer"])
        with pytest.raises(exc.IntegrityError):
            async with conn.begin_nested() as sp:
                await conn.exec_driver_sql(insert_sql(items), [2, "inner"])
                await conn.exec_driver_sql(insert_sql(items), [1, "duplicate"])
        assert sp.state is TransactionState.ROLLED_BACK
        assert not conn.in_nested_transaction()
        # The outer transaction is still usable after ROLLBACK TO SAVEPOINT (on PG too).
        await conn.exec_driver_sql(insert_sql(items), [3, "after"])
    assert await names(items) == ["outer", "after"]


async def test_savepoint_released_on_success(items: Engine) -> None:
    async with items.begin() as conn:
        async with conn.begin_nested() as sp:
            await conn.exec_driver_sql(insert_sql(items), [1, "a"])
            assert conn.in_nested_transaction()
        assert sp.state is TransactionState.COMMITTED
    assert await names(items) == ["a"]


async def test_nested_savepoints(items: Engine) -> None:
    async with items.begin() as conn:
        async with conn.begin_nested():
            await conn.exec_driver_sql(insert_sql(items), [1, "level1"])
            with pytest.raises(KeyError):
                async with conn.begin_nested():
                    await conn.exec_driver_sql(insert_sql(items), [2, "level2"])
                    raise KeyError("undo level 2")
            async with conn.begin_nested():
                await conn.exec_driver_sql(insert_sql(items), [3, "level2b"])
    assert await names(items) == ["level1", "level2b"]


async def test_begin_nested_without_transaction_autobegins_root(items: Engine) -> None:
    async with items.connect() as conn:
        async with conn.begin_nested():
            await conn.exec_driver_sql(insert_sql(items), [1, "a"])
        assert conn.in_transaction()
        await conn.rollback()
    assert await count(items) == 0


async def test_outer_rollback_closes_inner_savepoints(items: Engine) -> None:
    async with items.connect() as conn:
        outer = await conn.begin_nested()
        inner = await conn.begin_nested()
        await conn.rollback()
        assert outer.state is TransactionState.CLOSED
        assert inner.state is TransactionState.CLOSED
        assert not conn.in_transaction()


async def test_releasing_outer_savepoint_closes_inner(items: Engine) -> None:
    async with items.begin() as conn:
        outer = await conn.begin_nested()
        inner = await conn.begin_nested()
        await conn.exec_driver_sql(insert_sql(items), [1, "a"])
        await outer.commit()
        assert inner.state is TransactionState.CLOSED
        assert not conn.in_nested_transaction()
    assert await count(items) == 1


async def test_statements_after_close_are_refused(engine: Engine) -> None:
    conn = await engine.connect()
    await conn.close()
    await conn.close()  # idempotent
    assert conn.closed
    with pytest.raises(exc.SessionClosedError, match="closed"):
        await conn.exec_driver_sql("SELECT 1")


async def test_connection_not_checked_out_is_refused(engine: Engine) -> None:
    conn = engine.connect()
    with pytest.raises(exc.InvalidRequestError, match="async with engine"):
        await conn.exec_driver_sql("SELECT 1")


async def test_execute_refuses_a_plain_string(engine: Engine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(exc.ArgumentError, match="exec_driver_sql"):
            await conn.execute("SELECT 1")  # type: ignore[arg-type]


async def test_second_task_using_a_busy_connection_gets_transaction_state_error(
    engine: Engine, sql: Any
) -> None:
    slow = sql.slow
    async with asyncio.timeout(20):
        async with engine.connect() as conn:
            started = asyncio.Event()

            async def hog() -> None:
                started.set()
                await conn.exec_driver_sql(slow)

            task = asyncio.create_task(hog())
            await started.wait()
            await asyncio.sleep(0)  # let hog() enter the statement
            with pytest.raises(exc.TransactionStateError, match=r"exec_driver_sql\(\)"):
                await conn.exec_driver_sql("SELECT 1")
            with pytest.raises(exc.TransactionStateError, match="another task"):
                await conn.commit()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert conn.invalidated
    assert engine.pool.stats().checked_out == 0


async def test_failed_commit_on_postgres_is_reported(pg_engine: Engine) -> None:
    async with pg_engine.connect() as conn:
        with pytest.raises(exc.ProgrammingError):
            await conn.exec_driver_sql("SELECT * FROM no_such_table")
        with pytest.raises(exc.OperationalError, match="rolled back"):
            await conn.commit()
        assert not conn.in_transaction()
        assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1


async def test_executemany_inserts_every_row(items: Engine) -> None:
    rows = [(i, f"n{i}") for i in range(50)]
    async with items.begin() as conn:
        await conn.exec_driver_sql(insert_sql(items), rows)
    assert await count(items) == 50


async def test_executemany_is_atomic_inside_a_transaction(items: Engine) -> None:
    with pytest.raises(exc.IntegrityError):
        async with items.begin() as conn:
            await conn.exec_driver_sql(insert_sql(items), [(1, "a"), (2, "b"), (1, "dup")])
    assert await count(items) == 0


async def test_tuple_params_are_one_execution(engine: Engine) -> None:
    p = engine.dialect.placeholder
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql(f"SELECT {p(1)} + 0, {p(2)} + 0", (1, 2))
        assert result.one() == (1, 2)
