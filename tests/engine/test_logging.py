"""echo=True and the heron.engine logger: one INFO record per statement sent."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from heron import Engine


def heron_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "heron.engine"]


async def test_echo_logs_each_statement_with_its_parameters(
    engine_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine: Engine = engine_factory(echo=True)
    p = engine.dialect.placeholder
    logger = logging.getLogger("heron.engine")
    old_level = logger.level
    logger.setLevel(logging.WARNING)  # echo must log even when the level says not to
    try:
        async with engine.connect(autobegin=False) as conn:
            await conn.exec_driver_sql(f"SELECT {p(1)} + 1 AS answer", [41])
    finally:
        logger.setLevel(old_level)
    records = heron_records(caplog)
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    assert f"SELECT {p(1)} + 1 AS answer" in records[0].getMessage()
    assert "41" in records[0].getMessage()


async def test_executemany_is_one_record(
    engine_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine: Engine = engine_factory(echo=True)
    p = engine.dialect.placeholder
    async with engine.connect(autobegin=False) as conn:
        await conn.exec_driver_sql("CREATE TABLE logged (x INTEGER)")
        caplog.clear()
        await conn.exec_driver_sql(f"INSERT INTO logged VALUES ({p(1)})", [(1,), (2,), (3,)])
    records = heron_records(caplog)
    assert len(records) == 1
    assert "INSERT INTO logged" in records[0].getMessage()


async def test_transaction_control_is_logged_too(
    engine_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine: Engine = engine_factory(echo=True)
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
        await conn.commit()
    messages = [r.getMessage() for r in heron_records(caplog)]
    assert messages == ["BEGIN (implicit)", "SELECT 1", "COMMIT"]


async def test_no_records_without_echo_or_info_level(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="heron.engine")
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    assert heron_records(caplog) == []


async def test_info_level_logs_without_echo(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="heron.engine")
    async with engine.connect(autobegin=False) as conn:
        await conn.exec_driver_sql("SELECT 1")
    assert [r.getMessage() for r in heron_records(caplog)] == ["SELECT 1"]


async def test_sql_log_fixture_separates_transaction_control(
    engine: Engine, sql_log: Any
) -> None:
    p = engine.dialect.placeholder
    async with engine.connect() as conn:
        await conn.exec_driver_sql(f"SELECT {p(1)} + 0", [5])
        async with conn.begin_nested():
            await conn.exec_driver_sql("SELECT 2")
        await conn.commit()
    assert sql_log.statements == [f"SELECT {p(1)} + 0", "SELECT 2"]
    assert sql_log.params == [[5], None]
    assert sql_log.all_statements == [
        "BEGIN (implicit)",
        f"SELECT {p(1)} + 0",
        "SAVEPOINT heron_sp_1",
        "SELECT 2",
        "RELEASE SAVEPOINT heron_sp_1",
        "COMMIT",
    ]
    sql_log.clear()
    assert sql_log.statements == [] and sql_log.all_statements == []
