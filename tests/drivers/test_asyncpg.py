"""asyncpg driver: statement cache, transaction status, connect options."""

from __future__ import annotations

import pytest

from heron import Engine, create_engine, exc

pytestmark = pytest.mark.pg


async def test_parametrized_statements_are_prepared_once_per_connection(
    pg_engine: Engine,
) -> None:
    query = "SELECT $1::int * 2 AS doubled"
    async with pg_engine.connect(autobegin=False) as conn:
        for i in range(5):
            assert (await conn.exec_driver_sql(query, [i])).scalar() == i * 2
        prepared = await conn.exec_driver_sql(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", [query]
        )
        assert prepared.scalar() == 1


async def test_transaction_status_comes_from_the_server(pg_engine: Engine) -> None:
    async with pg_engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (x int)")
    async with pg_engine.connect(autobegin=False) as conn:
        await conn.exec_driver_sql("BEGIN")  # by hand: heron did not start it
        assert conn._driver.in_transaction()  # type: ignore[union-attr]
        await conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    async with pg_engine.connect(autobegin=False) as conn:
        assert not conn._driver.in_transaction()  # type: ignore[union-attr]
        assert (await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar() == 0


async def test_ddl_script_without_parameters_runs_in_one_call(pg_engine: Engine) -> None:
    async with pg_engine.begin() as conn:
        driver = conn._driver
        assert driver is not None
        await driver.execute("CREATE TABLE a (x int); CREATE TABLE b (y int)", None)
        assert (await conn.exec_driver_sql("SELECT count(*) FROM b")).scalar() == 0


async def test_connect_args_reach_asyncpg(pg_engine: Engine) -> None:
    settings = dict(pg_engine._connect_args["server_settings"])
    settings["application_name"] = "heron-connect-args"
    engine = create_engine(pg_engine.url, connect_args={"server_settings": settings})
    try:
        async with engine.connect() as conn:
            name = await conn.exec_driver_sql("SELECT current_setting('application_name')")
            assert name.scalar() == "heron-connect-args"
    finally:
        await engine.dispose()


async def test_wrong_password_or_database_is_operational_error(pg_engine: Engine) -> None:
    url = pg_engine.url.render(hide_password=False).rsplit("/", 1)[0] + "/no_such_db_heron"
    engine = create_engine(url)
    try:
        with pytest.raises(exc.OperationalError):
            await engine.connect()
    finally:
        await engine.dispose()


async def test_ping_round_trips_on_a_live_connection(pg_engine: Engine) -> None:
    async with pg_engine.connect(autobegin=False) as conn:
        driver = conn._driver
        assert driver is not None
        await driver.ping()
        assert not driver.in_transaction()


def test_private_asyncpg_names_heron_relies_on_exist() -> None:
    import asyncpg

    # exec_driver_sql needs rows and the command tag in one round trip, and the
    # keys of an empty result come from the statement cache; fail loudly if
    # asyncpg moves these.
    assert callable(asyncpg.Connection._execute)
    assert callable(asyncpg.Connection._get_statement)
