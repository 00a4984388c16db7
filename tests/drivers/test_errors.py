"""Driver errors become heron's DatabaseError tree, with .orig, .statement and .params."""

from __future__ import annotations

import sqlite3

import pytest

from heron import Engine, exc
from heron.driver.base import error_for_sqlstate, rowcount_from_status


@pytest.fixture
async def table(engine: Engine) -> Engine:
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL UNIQUE)"
        )
        await conn.exec_driver_sql(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, "
            "parent_id INTEGER NOT NULL REFERENCES parent (id))"
        )
    return engine


async def test_unique_violation_is_integrity_error(table: Engine) -> None:
    p = table.dialect.placeholder
    insert = f"INSERT INTO parent (id, name) VALUES ({p(1)}, {p(2)})"
    async with table.connect() as conn:
        await conn.exec_driver_sql(insert, [1, "a"])
        with pytest.raises(exc.IntegrityError) as info:
            await conn.exec_driver_sql(insert, [2, "a"])
    error = info.value
    assert error.statement == insert
    assert list(error.params) == [2, "a"]
    assert error.orig is not None and error.__cause__ is error.orig
    assert insert in str(error)
    assert isinstance(error, exc.DatabaseError)


async def test_not_null_and_foreign_key_violations_are_integrity_errors(table: Engine) -> None:
    p = table.dialect.placeholder
    async with table.connect() as conn:
        with pytest.raises(exc.IntegrityError):
            await conn.exec_driver_sql(f"INSERT INTO parent (id) VALUES ({p(1)})", [1])
        await conn.rollback()
        with pytest.raises(exc.IntegrityError):
            await conn.exec_driver_sql(
                f"INSERT INTO child (id, parent_id) VALUES ({p(1)}, {p(2)})", [1, 999]
            )


async def test_bad_sql_and_unknown_table_are_programming_errors(engine: Engine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(exc.ProgrammingError) as info:
            await conn.exec_driver_sql("SELEC 1")
        assert info.value.statement == "SELEC 1"
        await conn.rollback()
        with pytest.raises(exc.ProgrammingError):
            await conn.exec_driver_sql("SELECT * FROM no_such_table")


async def test_bad_parameter_type_is_data_error(engine: Engine) -> None:
    p = engine.dialect.placeholder
    # PostgreSQL cannot encode text for an integer parameter; SQLite cannot bind
    # an arbitrary object at all.
    value: object = "not a number" if engine.dialect.name == "postgresql" else object()
    async with engine.connect() as conn:
        with pytest.raises(exc.DataError) as info:
            await conn.exec_driver_sql(f"SELECT {p(1)} + 1", [value])
        assert info.value.params == [value]


async def test_wrong_number_of_parameters_is_not_a_data_error(engine: Engine) -> None:
    p = engine.dialect.placeholder
    async with engine.connect() as conn:
        with pytest.raises((exc.ProgrammingError, exc.InterfaceError)):
            await conn.exec_driver_sql(f"SELECT {p(1)} + 0", [1, 2])


async def test_errors_in_executemany_are_translated(table: Engine) -> None:
    p = table.dialect.placeholder
    async with table.connect() as conn:
        with pytest.raises(exc.IntegrityError) as info:
            await conn.exec_driver_sql(
                f"INSERT INTO parent (id, name) VALUES ({p(1)}, {p(2)})", [(1, "a"), (1, "b")]
            )
        assert info.value.params == [(1, "a"), (1, "b")]


async def test_connection_usable_after_an_error_and_rollback(table: Engine) -> None:
    async with table.connect() as conn:
        with pytest.raises(exc.ProgrammingError):
            await conn.exec_driver_sql("SELECT nope FROM parent")
        await conn.rollback()
        assert (await conn.exec_driver_sql("SELECT count(*) FROM parent")).scalar() == 0
        assert not conn.invalidated


async def test_postgres_data_exception_class_22(pg_engine: Engine) -> None:
    async with pg_engine.connect() as conn:
        with pytest.raises(exc.DataError):
            await conn.exec_driver_sql("SELECT 1 / 0")
        await conn.rollback()
        with pytest.raises(exc.DataError):
            await conn.exec_driver_sql("SELECT 'abc'::int")


@pytest.mark.parametrize(
    ("sqlstate", "cls"),
    [
        ("23505", exc.IntegrityError),
        ("23503", exc.IntegrityError),
        ("22012", exc.DataError),
        ("42P01", exc.ProgrammingError),
        ("42601", exc.ProgrammingError),
        ("08006", exc.OperationalError),
        ("57P01", exc.OperationalError),
        ("57014", exc.OperationalError),
        ("53300", exc.OperationalError),
        ("40001", exc.OperationalError),
        ("XX000", exc.DatabaseError),
        (None, exc.DatabaseError),
    ],
)
def test_sqlstate_classes_map_to_heron_errors(sqlstate: str | None, cls: type) -> None:
    assert error_for_sqlstate(sqlstate) is cls


@pytest.mark.parametrize(
    ("status", "count"),
    [("UPDATE 3", 3), ("INSERT 0 1", 1), ("DELETE 0", 0), ("CREATE TABLE", -1), ("", -1)],
)
def test_rowcount_from_command_tag(status: str, count: int) -> None:
    assert rowcount_from_status(status) == count


def test_sqlite_errors_map_by_result_code() -> None:
    from heron.driver.aiosqlite import translate_error

    def fake(cls: type[sqlite3.Error], code: int) -> sqlite3.Error:
        error = cls("x")
        error.sqlite_errorcode = code  # type: ignore[attr-defined]
        return error

    assert isinstance(translate_error(fake(sqlite3.OperationalError, 5), None, None),
                      exc.OperationalError)  # SQLITE_BUSY
    assert isinstance(translate_error(fake(sqlite3.OperationalError, 1), None, None),
                      exc.ProgrammingError)  # SQLITE_ERROR: syntax, no such table
    assert isinstance(translate_error(fake(sqlite3.IntegrityError, 2067), None, None),
                      exc.IntegrityError)  # SQLITE_CONSTRAINT_UNIQUE
    assert isinstance(translate_error(sqlite3.ProgrammingError("x"), None, [1]),
                      exc.ProgrammingError)
