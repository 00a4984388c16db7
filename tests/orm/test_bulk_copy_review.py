"""Review findings for the COPY bulk-insert path and the reworked insert flush."""

from __future__ import annotations

import decimal
import enum
from typing import Any

from tests.orm.test_bulk_copy import N, Parent, copies, copy_engine  # noqa: F401

from heron import JSON, Enum, ForeignKey, Numeric, String, inspect, select
from heron.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from heron.sql import bulk


async def test_default_changed_twice_in_one_transaction_is_noticed(
    copy_engine: Any,  # noqa: F811
) -> None:
    async with Session(copy_engine) as s:
        conn = await s.connection()
        await conn.exec_driver_sql("ALTER TABLE copy_parent ALTER COLUMN status SET DEFAULT 'b'")
        first = [Parent(name="first") for _ in range(N)]
        s.add_all(first)
        await s.flush()
        assert {p.status for p in first} == {"b"}
        await conn.exec_driver_sql("ALTER TABLE copy_parent ALTER COLUMN status SET DEFAULT 'c'")
        second = [Parent(name="second") for _ in range(N)]
        s.add_all(second)
        await s.flush()
        stored = (
            (
                await conn.exec_driver_sql(
                    "SELECT DISTINCT status FROM copy_parent WHERE name = 'second'"
                )
            )
            .scalars()
            .all()
        )
        assert stored == ["c"]
        assert {p.status for p in second} == {"c"}


async def test_savepoint_rollback_keeps_application_keys_of_a_copied_batch(
    copy_engine: Any,  # noqa: F811
) -> None:
    mine = [Parent(id=100000 + i, name="mine") for i in range(N)]
    generated = [Parent(name="gen") for _ in range(N)]
    async with Session(copy_engine) as s:
        async with s.begin_nested() as sp:
            s.add_all(mine + generated)
            await s.flush()
            await sp.rollback()
        assert all(p.id is None for p in generated)
        assert [p.id for p in mine] == [100000 + i for i in range(N)]


async def test_quoted_names_and_schema_go_by_copy(pg_engine: Any, sql_log: Any) -> None:
    async with pg_engine.begin() as conn:
        await conn.exec_driver_sql('CREATE SCHEMA IF NOT EXISTS "Copy Other"')
    try:

        class QBase(DeclarativeBase):
            pass

        class Quoted(QBase):
            __tablename__ = "Quoted Table"
            __table_args__ = {"schema": "Copy Other"}

            id: Mapped[int] = mapped_column(name="Id", primary_key=True)
            order: Mapped[str] = mapped_column(String(20), name="order")
            Label: Mapped[str | None] = mapped_column(String(20), name="Label", server_default="x")

        await QBase.metadata.create_all(pg_engine)
        objs = [Quoted(order=f"o{i}") for i in range(N)]
        async with Session(pg_engine) as s:
            s.add_all(objs)
            await s.commit()
        async with Session(pg_engine) as s:
            rows = (await s.execute(select(Quoted).order_by(Quoted.id))).scalars().all()
            assert [(r.id, r.order, r.Label) for r in rows] == [(o.id, o.order, "x") for o in objs]
        assert any(q.startswith("COPY") for q in sql_log.statements)
    finally:
        async with pg_engine.begin() as conn:
            await conn.exec_driver_sql('DROP SCHEMA "Copy Other" CASCADE')


class EBase(DeclarativeBase):
    pass


class EParent(EBase):
    __tablename__ = "rv_parent"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    kids: Mapped[list[EKid]] = relationship(back_populates="parent")


class EKid(EBase):
    __tablename__ = "rv_kid"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("rv_parent.id"))
    parent: Mapped[EParent] = relationship(back_populates="kids")


async def test_new_child_of_expired_parent_gets_its_key(session_factory: Any) -> None:
    s = session_factory()
    async with s:
        engine = s.bind
        await EBase.metadata.create_all(engine)
        p = EParent(name="p")
        s.add(p)
        await s.commit()
        kids = [EKid(parent=p) for _ in range(3)]
        s.add_all(kids)
        await s.flush()
        assert [k.parent_id for k in kids] == [p.id] * 3
        assert all(inspect(k).persistent for k in kids)


class SBase(DeclarativeBase):
    pass


class Shaped(SBase):
    __tablename__ = "rv_shaped"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(10), server_default="new")


async def test_failed_flush_resets_generated_keys_of_an_earlier_shape_group(
    session_factory: Any,
) -> None:
    s = session_factory()
    async with s:
        await SBase.metadata.create_all(s.bind)
        ok = [Shaped(name="a") for _ in range(3)]
        # another shape (status set), whose NOT NULL name fails after the first
        # shape's rows went in
        bad = Shaped(name=None, status="s")
        s.add_all([*ok, bad])
        try:
            await s.flush()
        except Exception:
            pass
        else:
            raise AssertionError("the flush should fail")
        assert [o.id for o in ok] == [None, None, None]
        await s.rollback()
        assert [o.id for o in ok] == [None, None, None]
        assert all(inspect(o).transient for o in ok)


_counter = iter(range(10**9))


class Mood(enum.Enum):
    HAPPY = "h"
    SAD = "s"


class DBase(DeclarativeBase):
    pass


class Defaulted(DBase):
    __tablename__ = "rv_defaulted"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(default=lambda: next(_counter))
    kind: Mapped[str] = mapped_column(String(10), default="k")
    status: Mapped[str | None] = mapped_column(String(10), server_default="new")
    mood: Mapped[Mood | None] = mapped_column(Enum(Mood), server_default="HAPPY")
    amount: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 2), server_default="0")


async def test_mixed_shapes_and_python_defaults_match_the_insert(
    pg_engine: Any, sql_log: Any, monkeypatch: Any
) -> None:
    await DBase.metadata.create_all(pg_engine)

    def make(base: int) -> list[Defaulted]:
        out = []
        for i in range(4 * N):
            if i % 4 == 0:
                out.append(Defaulted())
            elif i % 4 == 1:
                out.append(Defaulted(status=None, mood=None))
            elif i % 4 == 2:
                out.append(Defaulted(id=base + i))
            else:
                out.append(Defaulted(id=base + i, status="set", kind="x"))
        return out

    results = []
    for base, copy in ((100000, True), (200000, False)):
        if not copy:
            monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 10**9)
        sql_log.clear()
        objs = make(base)
        async with Session(pg_engine) as s:
            s.add_all(objs)
            await s.flush()
            assert bool(copies(sql_log, "rv_defaulted")) is copy
            held = [(o.kind, o.status, o.mood, o.amount) for o in objs]
            ids = [o.id for o in objs]
            await s.commit()
        async with Session(pg_engine) as s:
            rows = {
                r.id: (r.kind, r.status, r.mood, r.amount)
                for r in (await s.execute(select(Defaulted))).scalars().all()
            }
        assert [rows[i] for i in ids] == held
        assert len({o.seq for o in objs}) == len(objs)
        results.append(held)
    assert results[0] == results[1]


class JBase(DeclarativeBase):
    pass


class JDoc(JBase):
    __tablename__ = "rv_jdoc"

    id: Mapped[int] = mapped_column(primary_key=True)
    doc: Mapped[Any] = mapped_column(JSON, server_default="{}")


async def test_server_default_json_values_are_not_shared_between_copied_rows(
    pg_engine: Any, sql_log: Any
) -> None:
    await JBase.metadata.create_all(pg_engine)
    objs = [JDoc() for _ in range(N)]
    async with Session(pg_engine) as s:
        s.add_all(objs)
        await s.flush()
        assert copies(sql_log, "rv_jdoc")
        assert objs[0].doc == {} and objs[1].doc == {}
        objs[0].doc["mine"] = 1
        # each row read back its own value (as RETURNING gives): one object's
        # dict is not every other object's
        assert objs[1].doc == {}


async def test_renamed_key_sequence_after_the_facts_were_learnt(
    copy_engine: Any,  # noqa: F811
    sql_log: Any,
) -> None:
    async with Session(copy_engine) as s:
        s.add_all([Parent(name="before") for _ in range(N)])
        await s.commit()
    async with copy_engine.begin() as conn:
        # the column's default refers to the sequence itself (by oid), so the
        # INSERT keeps using it under its new name; a new sequence takes the old one
        await conn.exec_driver_sql("ALTER SEQUENCE copy_parent_id_seq RENAME TO renamed_seq")
        await conn.exec_driver_sql("CREATE SEQUENCE copy_parent_id_seq START 1")
    sql_log.clear()
    parents = [Parent(name="after") for _ in range(N)]
    async with Session(copy_engine) as s:
        s.add_all(parents)
        await s.commit()
    async with copy_engine.connect() as conn:
        last = (await conn.exec_driver_sql("SELECT last_value FROM renamed_seq")).scalar()
    # keys come from the sequence the column's default uses, as for the INSERT
    assert [p.id for p in parents] == list(range(N + 1, 2 * N + 1))
    assert last == 2 * N
