"""Bulk inserts by COPY on PostgreSQL (orm/bulkcopy.py): taken when equivalent, same results.

Each test compares the COPY path with the general ``INSERT ... RETURNING`` on
the same data (the threshold ``bulk.COPY_MIN_ROWS`` raised for the INSERT
run), or checks that a table where COPY would not be equivalent keeps the
INSERT. SQLite has no COPY: its engine refuses ``copy_records``.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import logging
import uuid
from typing import Any

import pytest

from heron import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    LargeBinary,
    Numeric,
    String,
    Uuid,
    exc,
    func,
    inspect,
    select,
)
from heron.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from heron.sql import bulk

N = bulk.COPY_MIN_ROWS + 50


class Base(DeclarativeBase):
    pass


class Mood(enum.Enum):
    HAPPY = "h"
    SAD = "s"


class Parent(Base):
    __tablename__ = "copy_parent"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime.datetime | None] = mapped_column(server_default=func.now())
    status: Mapped[str | None] = mapped_column(String(10), server_default="new")
    children: Mapped[list[Child]] = relationship(back_populates="parent")


class Child(Base):
    __tablename__ = "copy_child"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("copy_parent.id"))
    label: Mapped[str] = mapped_column(String(20))
    parent: Mapped[Parent] = relationship(back_populates="children")


class Typed(Base):
    __tablename__ = "copy_typed"

    id: Mapped[int] = mapped_column(primary_key=True)
    doc: Mapped[Any] = mapped_column(JSON, nullable=True)
    mood: Mapped[Mood | None] = mapped_column(Enum(Mood))
    amount: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 2))
    at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    ref: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    flag: Mapped[bool | None] = mapped_column(Boolean)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)


@pytest.fixture
async def copy_engine(pg_engine: Any) -> Any:
    await Base.metadata.create_all(pg_engine)
    return pg_engine


@pytest.fixture
def insert_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Call to send every later flush by INSERT (the COPY path's threshold out of reach)."""

    def apply() -> None:
        monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 10**9)

    return apply


def copies(sql_log: Any, table: str) -> list[str]:
    return [s for s in sql_log.statements if s.startswith("COPY") and f'"{table}"' in s]


def inserts(sql_log: Any, table: str) -> list[str]:
    return [s for s in sql_log.statements if s.startswith(f"INSERT INTO {table}")]


async def test_large_batch_goes_by_copy_with_keys_and_server_defaults(
    copy_engine: Any, sql_log: Any
) -> None:
    parents = [Parent(name=f"p{i}") for i in range(N)]
    async with Session(copy_engine) as s:
        s.add_all(parents)
        await s.flush()
        assert copies(sql_log, "copy_parent") and not inserts(sql_log, "copy_parent")
        ids = [p.id for p in parents]
        assert ids == sorted(ids) and len(set(ids)) == N
        rows = (await s.execute(select(Parent.__table__).order_by(Parent.id))).all()
        assert [(r.id, r.name, r.created_at, r.status) for r in rows] == [
            (p.id, p.name, p.created_at, p.status) for p in parents
        ]
        assert parents[0].status == "new" and parents[0].created_at is not None
        assert all(inspect(p).persistent for p in parents)
        assert await s.get(Parent, parents[7].id) is parents[7]
        await s.commit()


async def test_rows_with_application_keys_go_by_copy_with_their_keys(
    copy_engine: Any, sql_log: Any
) -> None:
    parents = [Parent(id=10_000 + i, name=f"p{i}") for i in range(N)]
    async with Session(copy_engine) as s:
        s.add_all(parents)
        await s.commit()
    assert copies(sql_log, "copy_parent") and not inserts(sql_log, "copy_parent")
    assert not any(q.startswith("SELECT array(") for q in sql_log.statements)  # no keys reserved
    async with copy_engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql(
                "SELECT id, name, created_at, status FROM copy_parent ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [(p.id, p.name, p.created_at, p.status) for p in parents]
    assert parents[0].id == 10_000 and parents[0].status == "new"


async def test_copy_and_insert_give_the_same_rows_and_values(
    copy_engine: Any, sql_log: Any, insert_only: Any
) -> None:
    def make() -> list[Typed]:
        return [
            Typed(
                doc={"i": i, "tags": ["a", None], "s": "é"},
                mood=Mood.SAD if i % 2 else Mood.HAPPY,
                amount=decimal.Decimal("12.345") + i,  # rounded to the column's scale
                at=datetime.datetime(
                    2024, 1, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
                ),
                ref=uuid.UUID(int=i),
                flag=bool(i % 3),
                blob=bytes([i % 256, 0]),
            )
            for i in range(N)
        ]

    by_copy, by_insert = make(), make()
    async with Session(copy_engine) as s:
        s.add_all(by_copy)
        await s.commit()
    assert copies(sql_log, "copy_typed")
    insert_only()
    sql_log.clear()
    async with Session(copy_engine) as s:
        s.add_all(by_insert)
        await s.commit()
    assert inserts(sql_log, "copy_typed") and not copies(sql_log, "copy_typed")

    columns = [c for c in Typed.__table__.c if c.name != "id"]
    async with copy_engine.connect() as conn:
        rows = (await conn.execute(select(*columns).order_by(Typed.id))).all()
    assert len(rows) == 2 * N
    assert rows[:N] == rows[N:]
    assert rows[1].amount == decimal.Decimal("13.35") and rows[1].mood is Mood.SAD
    async with Session(copy_engine) as s:
        loaded = (await s.scalars(select(Typed).where(Typed.id == by_copy[5].id))).one()
        assert (loaded.doc, loaded.ref, loaded.at) == (
            by_copy[5].doc,
            by_copy[5].ref,
            by_copy[5].at,
        )


async def test_relationship_children_get_parent_keys_by_copy(
    copy_engine: Any, sql_log: Any
) -> None:
    parents = [Parent(name=f"p{i}", children=[Child(label=f"c{i}")]) for i in range(N)]
    async with Session(copy_engine) as s:
        s.add_all(parents)
        await s.commit()
    assert copies(sql_log, "copy_parent") and copies(sql_log, "copy_child")
    async with copy_engine.connect() as conn:
        pairs = (
            await conn.exec_driver_sql("SELECT id, parent_id, label FROM copy_child ORDER BY id")
        ).all()
    assert [tuple(r) for r in pairs] == [
        (p.children[0].id, p.id, p.children[0].label) for p in parents
    ]


async def test_nul_character_fails_the_same_way_by_copy_and_insert(
    copy_engine: Any, insert_only: Any
) -> None:
    errors = []
    for by_insert in (False, True):
        if by_insert:
            insert_only()
        objs = [Parent(name="ok") for _ in range(N)] + [Parent(name="bad\x00")]
        async with Session(copy_engine) as s:
            s.add_all(objs)
            with pytest.raises(exc.HeronError) as info:
                await s.flush()
            errors.append((type(info.value), str(info.value)))
            await s.rollback()
            assert all(inspect(o).transient and o.id is None for o in objs)
    assert errors[0] == errors[1]
    async with copy_engine.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT count(*) FROM copy_parent")).scalar() == 0


async def test_database_error_during_copy_is_translated_and_nothing_is_written(
    copy_engine: Any, sql_log: Any
) -> None:
    children = [Child(label=f"c{i}", parent_id=10**6 + i) for i in range(N)]  # no such parents
    async with Session(copy_engine) as s:
        s.add_all(children)
        with pytest.raises(exc.IntegrityError) as info:
            await s.flush()
        assert info.value.statement is not None and info.value.statement.startswith("COPY")
        with pytest.raises(exc.PendingRollbackError):
            await s.flush()
        await s.rollback()
        assert all(c.id is None and inspect(c).transient for c in children)
        # the session works again, and the batch goes in once it is valid
        parent = Parent(name="p")
        s.add(parent)
        await s.flush()
        for c in children:
            c.parent_id = parent.id
        s.add_all(children)
        await s.commit()
    async with copy_engine.connect() as conn:
        count = (await conn.exec_driver_sql("SELECT count(*) FROM copy_child")).scalar()
    assert count == N


async def test_too_long_string_is_rejected_by_copy_and_by_multirow_insert(
    copy_engine: Any, insert_only: Any
) -> None:
    for by_insert in (False, True):
        if by_insert:
            insert_only()
        objs = [Parent(name="x" * 21) for _ in range(N)]  # String(20)
        async with Session(copy_engine) as s:
            s.add_all(objs)
            with pytest.raises(exc.DataError):
                await s.flush()
            await s.rollback()


async def test_out_of_range_integer_fails_client_side_during_copy(copy_engine: Any) -> None:
    children = [Child(label="c", parent_id=2**40) for _ in range(N)]
    async with Session(copy_engine) as s:
        s.add_all(children)
        with pytest.raises(exc.DataError):
            await s.flush()
        await s.rollback()
        parent = Parent(name="after")
        s.add(parent)
        await s.commit()
    assert parent.id is not None


async def test_rollback_turns_copied_objects_back_to_transient(copy_engine: Any) -> None:
    parents = [Parent(name=f"p{i}") for i in range(N)]
    async with Session(copy_engine) as s:
        s.add_all(parents)
        await s.flush()
        assert parents[0].id is not None
        await s.rollback()
        assert all(p.id is None and inspect(p).transient for p in parents)
        s.add_all(parents)
        await s.commit()
    assert all(inspect(p).detached or inspect(p).persistent for p in parents)
    assert all(p.id is not None for p in parents)


async def test_savepoint_rollback_undoes_a_copied_batch_only(copy_engine: Any) -> None:
    kept = Parent(name="kept")
    batch = [Parent(name=f"p{i}") for i in range(N)]
    async with Session(copy_engine) as s:
        s.add(kept)
        await s.flush()
        async with s.begin_nested() as sp:
            s.add_all(batch)
            await s.flush()
            assert batch[0].id is not None
            await sp.rollback()
        assert all(p.id is None and inspect(p).transient for p in batch)
        assert inspect(kept).persistent
        await s.commit()
    async with copy_engine.connect() as conn:
        names = (await conn.exec_driver_sql("SELECT name FROM copy_parent")).scalars().all()
    assert names == ["kept"]


async def _recreate(engine: Any, ddl: list[str]) -> None:
    async with engine.begin() as conn:
        await conn.exec_driver_sql("DROP TABLE copy_child")
        await conn.exec_driver_sql("DROP TABLE copy_parent")
        for statement in ddl:
            await conn.exec_driver_sql(statement)


@pytest.mark.parametrize(
    "ddl",
    [
        # the key from a sequence the column does not own
        [
            "CREATE SEQUENCE other_seq",
            "CREATE TABLE copy_parent (id int PRIMARY KEY DEFAULT nextval('other_seq'), "
            "name varchar(20) NOT NULL, created_at timestamp DEFAULT now(), "
            "status varchar(10) DEFAULT 'new')",
        ],
        # identity ALWAYS: the INSERT never writes the key itself
        [
            "CREATE TABLE copy_parent (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "name varchar(20) NOT NULL, created_at timestamp DEFAULT now(), "
            "status varchar(10) DEFAULT 'new')"
        ],
        # a server default that differs per row / statement
        [
            "CREATE TABLE copy_parent (id serial PRIMARY KEY, name varchar(20) NOT NULL, "
            "created_at timestamp DEFAULT clock_timestamp(), status varchar(10) DEFAULT 'new')"
        ],
        # a column type other than the one heron binds
        [
            "CREATE TABLE copy_parent (id serial PRIMARY KEY, name text NOT NULL, "
            "created_at timestamp DEFAULT now(), status varchar(10) DEFAULT 'new')"
        ],
        # an INSERT trigger, which could change what RETURNING reports
        [
            "CREATE TABLE copy_parent (id serial PRIMARY KEY, name varchar(20) NOT NULL, "
            "created_at timestamp DEFAULT now(), status varchar(10) DEFAULT 'new')",
            "CREATE FUNCTION copy_upper() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.status := upper(NEW.status); RETURN NEW; END $$",
            "CREATE TRIGGER copy_upper BEFORE INSERT ON copy_parent "
            "FOR EACH ROW EXECUTE FUNCTION copy_upper()",
        ],
        # a trigger on a partition: fires for rows routed there
        [
            "CREATE TABLE copy_parent (id serial PRIMARY KEY, name varchar(20) NOT NULL, "
            "created_at timestamp DEFAULT now(), status varchar(10) DEFAULT 'new') "
            "PARTITION BY RANGE (id)",
            "CREATE TABLE copy_parent_all PARTITION OF copy_parent "
            "FOR VALUES FROM (MINVALUE) TO (MAXVALUE)",
            "CREATE FUNCTION copy_upper() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.status := upper(NEW.status); RETURN NEW; END $$",
            "CREATE TRIGGER copy_upper BEFORE INSERT ON copy_parent_all "
            "FOR EACH ROW EXECUTE FUNCTION copy_upper()",
        ],
    ],
    ids=[
        "foreign-sequence",
        "identity-always",
        "volatile-default",
        "other-type",
        "trigger",
        "partition-trigger",
    ],
)
async def test_tables_where_copy_is_not_equivalent_keep_the_insert(
    copy_engine: Any, sql_log: Any, ddl: list[str]
) -> None:
    await _recreate(copy_engine, ddl)
    parents = [Parent(name=f"p{i}") for i in range(N)]
    async with Session(copy_engine) as s:
        s.add_all(parents)
        await s.commit()
    assert inserts(sql_log, "copy_parent") and not copies(sql_log, "copy_parent")
    async with copy_engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql(
                "SELECT id, name, created_at, status FROM copy_parent ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [(p.id, p.name, p.created_at, p.status) for p in parents]


async def test_partitioned_table_goes_by_copy(copy_engine: Any, sql_log: Any) -> None:
    await _recreate(
        copy_engine,
        [
            "CREATE TABLE copy_parent (id serial PRIMARY KEY, name varchar(20) NOT NULL, "
            "created_at timestamp DEFAULT now(), status varchar(10) DEFAULT 'new') "
            "PARTITION BY RANGE (id)",
            "CREATE TABLE copy_parent_low PARTITION OF copy_parent FOR VALUES FROM (1) TO (100)",
            "CREATE TABLE copy_parent_high PARTITION OF copy_parent "
            "FOR VALUES FROM (100) TO (MAXVALUE)",
        ],
    )
    parents = [Parent(name=f"p{i}") for i in range(N)]
    async with Session(copy_engine) as s:
        s.add_all(parents)
        await s.commit()
    assert copies(sql_log, "copy_parent") and not inserts(sql_log, "copy_parent")
    async with copy_engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql(
                "SELECT id, name, created_at, status FROM copy_parent ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [(p.id, p.name, p.created_at, p.status) for p in parents]


@pytest.mark.parametrize(
    "ddl",
    [
        ["ALTER TABLE copy_parent ALTER COLUMN created_at SET DEFAULT clock_timestamp()"],
        [
            "CREATE FUNCTION copy_upper() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.status := upper(NEW.status); RETURN NEW; END $$",
            "CREATE TRIGGER copy_upper BEFORE INSERT ON copy_parent "
            "FOR EACH ROW EXECUTE FUNCTION copy_upper()",
        ],
        [
            "ALTER TABLE copy_parent ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE copy_parent FORCE ROW LEVEL SECURITY",
            "CREATE POLICY copy_all ON copy_parent USING (true) WITH CHECK (true)",
        ],
    ],
    ids=["volatile-default", "trigger", "row-level-security"],
)
async def test_ddl_after_the_first_copy_is_noticed(
    copy_engine: Any, sql_log: Any, ddl: list[str]
) -> None:
    async with Session(copy_engine) as s:
        s.add_all([Parent(name="before") for _ in range(N)])
        await s.commit()
    assert copies(sql_log, "copy_parent")
    async with copy_engine.begin() as conn:
        for statement in ddl:
            await conn.exec_driver_sql(statement)
    sql_log.clear()
    parents = [Parent(name="after") for _ in range(N)]
    async with Session(copy_engine) as s:
        s.add_all(parents)
        await s.commit()
    assert inserts(sql_log, "copy_parent") and not copies(sql_log, "copy_parent")
    async with copy_engine.connect() as conn:
        stored = (
            await conn.exec_driver_sql(
                "SELECT id, created_at, status FROM copy_parent WHERE name = 'after' ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in stored] == [(p.id, p.created_at, p.status) for p in parents]


async def test_truncate_keeps_the_learnt_facts(copy_engine: Any, sql_log: Any) -> None:
    for _ in range(2):
        async with Session(copy_engine) as s:
            s.add_all([Parent(name="p") for _ in range(N)])
            await s.commit()
        async with copy_engine.begin() as conn:
            await conn.exec_driver_sql("TRUNCATE copy_parent CASCADE")
    assert len(copies(sql_log, "copy_parent")) == 2
    assert len([q for q in sql_log.statements if "pg_get_serial_sequence" in q]) == 1


async def test_search_path_change_copies_into_the_table_the_insert_would_use(
    copy_engine: Any, sql_log: Any
) -> None:
    async with copy_engine.connect() as conn:
        schema = (await conn.exec_driver_sql("SELECT current_schema()")).scalar()
        await conn.exec_driver_sql(f"CREATE SCHEMA {schema}_b")
        await conn.exec_driver_sql(f"SET search_path TO {schema}_b")
        await Base.metadata.create_all(conn)
        await conn.exec_driver_sql(f"ALTER SEQUENCE {schema}_b.copy_parent_id_seq RESTART 1000")
        await conn.commit()
        try:
            for target in (schema, f"{schema}_b"):
                await conn.exec_driver_sql(f"SET search_path TO {target}")
                await conn.commit()
                parents = [Parent(name=target[-8:]) for _ in range(N)]
                async with Session(conn) as s:
                    s.add_all(parents)
                    await s.commit()
                count = (
                    await conn.exec_driver_sql(
                        f"SELECT count(*) FROM {target}.copy_parent WHERE name = $1",
                        [target[-8:]],
                    )
                ).scalar()
                assert count == N
            assert parents[0].id >= 1000
            assert len(copies(sql_log, "copy_parent")) == 2
        finally:
            await conn.exec_driver_sql(f"SET search_path TO {schema}")
            await conn.exec_driver_sql(f"DROP SCHEMA {schema}_b CASCADE")
            await conn.commit()


async def test_small_batches_keep_the_insert(copy_engine: Any, sql_log: Any) -> None:
    async with Session(copy_engine) as s:
        s.add_all([Parent(name="p") for _ in range(bulk.COPY_MIN_ROWS - 1)])
        await s.commit()
    assert inserts(sql_log, "copy_parent") and not copies(sql_log, "copy_parent")


async def test_connection_copy_records(pg_engine: Any, sql_log: Any) -> None:
    async with pg_engine.connect() as conn:
        await conn.exec_driver_sql("CREATE TABLE copy_t (a int, b text)")
        count = await conn.copy_records("copy_t", ["a", "b"], [(1, "x"), (2, None)])
        rows = (await conn.exec_driver_sql("SELECT a, b FROM copy_t ORDER BY a")).all()
        await conn.rollback()
    assert count == 2 and [tuple(r) for r in rows] == [(1, "x"), (2, None)]
    assert sql_log.statements[1] == 'COPY "copy_t" ("a", "b") FROM STDIN (FORMAT binary)'


async def test_sqlite_has_no_copy(sqlite_engine: Any) -> None:
    async with sqlite_engine.connect() as conn:
        with pytest.raises(exc.InvalidRequestError, match="COPY"):
            await conn.copy_records("t", ["a"], [(1,)])


class _CancelOn(logging.Handler):
    """Cancels a task when a statement starting with ``prefix`` is about to be sent."""

    def __init__(self, prefix: str) -> None:
        super().__init__(logging.INFO)
        self.prefix = prefix
        self.task: asyncio.Task[None] | None = None
        self.hit = False

    def emit(self, record: logging.LogRecord) -> None:
        sql = getattr(record, "heron_sql", "")
        if self.task is not None and not self.hit and sql.startswith(self.prefix):
            self.hit = True
            self.task.cancel()


@pytest.mark.parametrize("prefix", ["SELECT array(", "COPY"], ids=["reservation", "copy"])
async def test_cancelled_copy_leaves_nothing_and_the_engine_usable(
    copy_engine: Any, prefix: str
) -> None:
    parents = [Parent(name=f"p{i}") for i in range(5 * N)]

    async def flush() -> None:
        async with Session(copy_engine) as s:
            s.add_all(parents)
            await s.commit()

    canceller = _CancelOn(prefix)
    logger = logging.getLogger("heron.engine")
    old_level = logger.level
    logger.addHandler(canceller)
    logger.setLevel(logging.INFO)
    try:
        canceller.task = asyncio.create_task(flush())
        with pytest.raises(asyncio.CancelledError):
            await canceller.task
    finally:
        logger.removeHandler(canceller)
        logger.setLevel(old_level)
    assert canceller.hit
    assert all(p.id is None for p in parents)
    async with copy_engine.connect() as conn:
        count = (await conn.exec_driver_sql("SELECT count(*) FROM copy_parent")).scalar()
    assert count == 0
    async with Session(copy_engine) as s:
        s.add_all([Parent(name="after") for _ in range(N)])
        await s.commit()
    async with copy_engine.connect() as conn:
        count = (await conn.exec_driver_sql("SELECT count(*) FROM copy_parent")).scalar()
    assert count == N
