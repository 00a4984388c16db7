"""Every column type stores and returns values unchanged, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from heron import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    Uuid,
    insert,
    select,
)
from heron.exc import ArgumentError

from .helpers import Color

UTC = dt.UTC
PLUS_5 = dt.timezone(dt.timedelta(hours=5, minutes=30))

CASES: list[tuple[str, Any, list[Any]]] = [
    ("integer", Integer, [0, 1, -1, 2**31 - 1, -(2**31)]),
    ("bigint", BigInteger, [2**63 - 1, -(2**63), 0]),
    ("smallint", SmallInteger, [2**15 - 1, -(2**15)]),
    ("float", Float, [0.0, 1.5, -2.25, 1e300, -1e-300]),
    (
        "numeric",
        Numeric(20, 4),
        [
            decimal.Decimal("0.0000"),
            decimal.Decimal("-12345.6789"),
            decimal.Decimal("12345678901.2345"),
        ],
    ),
    (
        "string",
        String(200),
        [
            "",
            "plain",
            "ünïcödé ✓ 漢字 🙂",
            "O'Brien; DROP TABLE x; --",
            'back\\slash "quoted" %_ :name $1 ?',
        ],
    ),
    ("text", Text, ["x" * 200_000, "line\nbreak\ttab\r\n"]),
    ("boolean", Boolean, [True, False]),
    (
        "datetime",
        DateTime,
        [
            dt.datetime(2000, 1, 1),
            dt.datetime(1970, 1, 1, 0, 0, 0, 1),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        ],
    ),
    ("date", Date, [dt.date(1, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31)]),
    ("time", Time, [dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 30, 1)]),
    (
        "interval",
        Interval,
        [dt.timedelta(0), dt.timedelta(days=-3, seconds=5), dt.timedelta(days=900, microseconds=7)],
    ),
    ("json", JSON, [{"a": [1, 2.5, None, True]}, [1, "two"], "text", 5, 1.5, {"ü": "✓"}]),
    ("binary", LargeBinary, [b"", b"\x00\x01\xff" * 1000]),
    ("uuid", Uuid, [uuid.UUID(int=0), uuid.uuid4()]),
    ("enum", Enum(Color), [Color.red, Color.blue_green]),
]


@pytest.mark.parametrize(("name", "type_", "values"), CASES, ids=[c[0] for c in CASES])
async def test_type_round_trip(engine: Any, name: str, type_: Any, values: list[Any]) -> None:
    table = Table(
        f"rt_{name}",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("v", type_),
    )
    await table.metadata.create_all(engine)
    rows = [{"id": i, "v": v} for i, v in enumerate([*values, None])]
    async with engine.begin() as conn:
        await conn.execute(insert(table), rows)
        got = (await conn.execute(select(table.c.v).order_by(table.c.id))).scalars().all()
        returned = await conn.execute(
            insert(table).values(id=1000, v=values[0]).returning(table.c.v)
        )
        assert returned.scalar() == values[0]
    assert got == [*values, None]
    for value, back in zip(values, got, strict=False):
        # exact types, except JSON documents and asyncpg's uuid.UUID subclass
        assert type(back) is type(value) or name == "json" or isinstance(back, type(value))


async def test_numeric_returns_decimal_quantized_to_scale(engine: Any) -> None:
    t = Table(
        "nums", MetaData(), Column("id", Integer, primary_key=True), Column("n", Numeric(10, 2))
    )
    await t.metadata.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(t).values(id=1, n=decimal.Decimal("12.30")))
        await conn.execute(insert(t).values(id=2, n=7))
        got = (await conn.execute(select(t.c.n).order_by(t.c.id))).scalars().all()
    assert got == [decimal.Decimal("12.30"), decimal.Decimal("7.00")]
    assert all(isinstance(v, decimal.Decimal) for v in got)
    assert str(got[0]) == "12.30"


async def test_aware_datetimes_come_back_as_the_same_instant(engine: Any) -> None:
    t = Table(
        "tz",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", DateTime(timezone=True)),
    )
    await t.metadata.create_all(engine)
    values = [
        dt.datetime(2024, 3, 10, 12, 0, tzinfo=PLUS_5),
        dt.datetime(2024, 3, 10, 12, 0, tzinfo=UTC),
        dt.datetime(1999, 12, 31, 23, 59, 59, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-8))),
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(t), [{"id": i, "at": v} for i, v in enumerate(values)])
        await conn.execute(insert(t).values(id=10, at=dt.datetime(2024, 1, 1, 8, 0)))  # naive: UTC
        got = (await conn.execute(select(t.c.at).order_by(t.c.id))).scalars().all()
        # Comparisons use the stored instant: the +05:30 value is the earliest on that day.
        earliest = await conn.scalar(
            select(t.c.id)
            .where(t.c.at >= dt.datetime(2024, 3, 10, tzinfo=UTC))
            .order_by(t.c.at)
            .limit(1)
        )
    assert got[:3] == values
    assert all(v.tzinfo is not None and v.utcoffset() == dt.timedelta(0) for v in got)
    assert got[3] == dt.datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    assert earliest == 0


async def test_naive_datetime_column_keeps_wall_time(engine: Any) -> None:
    t = Table("naive", MetaData(), Column("id", Integer, primary_key=True), Column("at", DateTime))
    await t.metadata.create_all(engine)
    value = dt.datetime(2021, 6, 1, 10, 30, 15, 5)
    async with engine.begin() as conn:
        await conn.execute(insert(t).values(id=1, at=value))
        await conn.execute(insert(t).values(id=2, at=dt.datetime(2021, 6, 1, 12, 0, tzinfo=PLUS_5)))
        got = (await conn.execute(select(t.c.at).order_by(t.c.id))).scalars().all()
    assert got == [value, dt.datetime(2021, 6, 1, 6, 30)]
    assert got[0].tzinfo is None


async def test_enum_is_stored_by_name(engine: Any) -> None:
    t = Table(
        "colors", MetaData(), Column("id", Integer, primary_key=True), Column("c", Enum(Color))
    )
    await t.metadata.create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(t).values(id=1, c=Color.blue_green))
        raw = (await conn.exec_driver_sql("SELECT c FROM colors")).scalar()
        assert raw == "blue_green"
        found = await conn.scalar(select(t.c.id).where(t.c.c.in_([Color.blue_green, Color.red])))
        assert found == 1
        with pytest.raises(ArgumentError, match="not a member of Color"):
            await conn.execute(insert(t).values(id=2, c="purple"))


async def test_nul_character_rejected_on_postgresql_naming_the_column(pg_engine: Any) -> None:
    t = Table("nul", MetaData(), Column("id", Integer, primary_key=True), Column("body", Text))
    await t.metadata.create_all(pg_engine)
    async with pg_engine.begin() as conn:
        with pytest.raises(ArgumentError, match=r"'body'.*NUL character"):
            await conn.execute(insert(t).values(id=1, body="a\x00b"))
        with pytest.raises(ArgumentError, match=r"'body'.*NUL character"):
            await conn.execute(
                insert(t).values([{"id": 2, "body": "ok"}, {"id": 3, "body": "\x00"}])
            )


async def test_nul_character_round_trips_on_sqlite(sqlite_engine: Any) -> None:
    t = Table("nul", MetaData(), Column("id", Integer, primary_key=True), Column("body", Text))
    await t.metadata.create_all(sqlite_engine)
    async with sqlite_engine.begin() as conn:
        await conn.execute(insert(t).values(id=1, body="a\x00b"))
        assert await conn.scalar(select(t.c.body)) == "a\x00b"
