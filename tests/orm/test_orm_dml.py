"""ORM-enabled ``update(Entity)`` / ``delete(Entity)`` through ``session.execute`` and
how ``synchronize_session`` ("auto", "evaluate", "fetch", False) brings the
objects already in the identity map in line with what the statement did.
On SQLite and PostgreSQL; statements counted with ``sql_log``."""

from __future__ import annotations

from typing import Any

import pytest

from heron import and_, delete, exc, func, not_, or_, select, update

from .helpers import norm, rows, seed_users
from .models import User, Widget

WEIGHTS = {"w1": 1, "w2": 5, "w3": 10, "w4": None}


async def seed_widgets(session_factory: Any) -> None:
    async with session_factory() as session:
        session.add_all([Widget(label=label, weight=w) for label, w in WEIGHTS.items()])
        await session.commit()


async def load_widgets(session: Any) -> dict[str, Any]:
    widgets = (await session.scalars(select(Widget))).all()
    return {w.label: w for w in widgets}


async def load_users(session: Any) -> dict[str, Any]:
    return {u.name: u for u in (await session.scalars(select(User))).all()}


def has_returning(sql: str) -> bool:
    return " returning " in norm(sql)


CRITERIA = {
    "gt": lambda: Widget.weight > 4,
    "ne-skips-null": lambda: Widget.weight != 5,
    "in": lambda: Widget.weight.in_([1, 10]),
    "not-in-skips-null": lambda: Widget.weight.not_in([1]),
    "is-null": lambda: Widget.weight.is_(None),
    "is-not-null": lambda: Widget.weight.is_not(None),
    "and": lambda: and_(Widget.weight >= 1, Widget.weight < 10),
    "or": lambda: or_(Widget.weight == 1, Widget.label == "w4"),
    "not-skips-null": lambda: not_(Widget.weight == 5),
    "arithmetic": lambda: Widget.weight + 1 == 6,
    "empty-in": lambda: Widget.weight.in_([]),
}


@pytest.mark.parametrize("sync", ["evaluate", "auto"])
@pytest.mark.parametrize("criteria", list(CRITERIA))
async def test_evaluated_update_matches_the_database_without_a_query(
    session_factory: Any, sql_log: Any, sync: str, criteria: str
) -> None:
    await seed_widgets(session_factory)
    async with session_factory() as session:
        matching = await session.scalar(select(func.count(Widget.id)).where(CRITERIA[criteria]()))
    async with session_factory() as session:
        widgets = await load_widgets(session)
        sql_log.clear()
        result = await session.execute(
            update(Widget)
            .where(CRITERIA[criteria]())
            .values(weight=0)
            .execution_options(synchronize_session=sync)
        )
        assert len(sql_log.statements) == 1
        assert not has_returning(sql_log.statements[0])
        in_memory = sorted((w.label, w.weight) for w in widgets.values())
        assert len(sql_log.statements) == 1  # reading the objects did no I/O
        await session.commit()
    in_db = await rows(session_factory, Widget.label, Widget.weight, order_by=Widget.label)
    assert in_memory == in_db
    assert result.rowcount == matching


async def test_evaluated_update_computes_set_expressions_in_python(
    session_factory: Any, sql_log: Any
) -> None:
    await seed_widgets(session_factory)
    async with session_factory() as session:
        widgets = await load_widgets(session)
        sql_log.clear()
        await session.execute(
            update(Widget).where(Widget.weight > 1).values(weight=Widget.weight * 2 + 100)
        )
        assert {k: w.weight for k, w in widgets.items()} == {
            "w1": 1,
            "w2": 110,
            "w3": 120,
            "w4": None,
        }
        assert len(sql_log.statements) == 1 and not has_returning(sql_log.statements[0])
        await session.commit()
    assert await rows(session_factory, Widget.weight, order_by=Widget.label) == [
        (1,),
        (110,),
        (120,),
        (None,),
    ]


async def test_evaluate_update_applies_values_to_matched_objects_only(
    session_factory: Any, sql_log: Any
) -> None:
    await seed_users(session_factory, "ann", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        sql_log.clear()
        await session.execute(
            update(User)
            .where(User.name == "ann")
            .values(fullname="Evaluated")
            .execution_options(synchronize_session="evaluate")
        )
        assert users["ann"].fullname == "Evaluated"
        assert users["bob"].fullname == "Bob Full"
        assert len(sql_log.statements) == 1
        assert users["ann"] not in session.dirty  # synchronized, not a pending change
        await session.commit()
    assert await rows(session_factory, User.fullname, order_by=User.name) == [
        ("Evaluated",),
        ("Bob Full",),
    ]


async def test_evaluate_cannot_evaluate_like_raises_argument_error_before_sending(
    session_factory: Any, sql_log: Any
) -> None:
    await seed_users(session_factory, "ann", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        sql_log.clear()
        with pytest.raises(exc.ArgumentError, match="evaluate"):
            await session.execute(
                update(User)
                .where(User.name.like("a%"))
                .values(fullname="Nope")
                .execution_options(synchronize_session="evaluate")
            )
        assert not any(norm(s).startswith("update") for s in sql_log.statements)
        assert users["ann"].fullname == "Ann Full"
        # the session still works
        await session.execute(update(User).where(User.name == "bob").values(fullname="B2"))
        await session.commit()
    assert await rows(session_factory, User.fullname, order_by=User.name) == [
        ("Ann Full",),
        ("B2",),
    ]


async def test_auto_falls_back_to_fetch_for_like(session_factory: Any, sql_log: Any) -> None:
    await seed_users(session_factory, "ann", "abe", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        sql_log.clear()
        result = await session.execute(
            update(User).where(User.name.like("a%")).values(fullname="A-person")
        )
        assert len(sql_log.statements) == 1
        assert has_returning(sql_log.statements[0])
        assert result.rowcount == 2
        sql_log.clear()
        assert users["ann"].fullname == "A-person" and users["abe"].fullname == "A-person"
        assert users["bob"].fullname == "Bob Full"
        assert sql_log.statements == []


async def test_fetch_updates_matched_objects_and_expires_sql_computed_values(
    session_factory: Any, sql_log: Any
) -> None:
    await seed_users(session_factory, "ann", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        sql_log.clear()
        result = await session.execute(
            update(User)
            .where(User.name == "ann")
            .values(fullname=func.upper(User.name))
            .execution_options(synchronize_session="fetch")
        )
        assert len(sql_log.statements) == 1
        assert has_returning(sql_log.statements[0])
        assert result.rowcount == 1
        ann = users["ann"]
        with pytest.raises(exc.UnloadedAttributeError, match="fullname"):
            _ = ann.fullname
        assert await ann.awaitable_attrs.fullname == "ANN"
        assert ann.name == "ann"
        assert users["bob"].fullname == "Bob Full"


async def test_fetch_applies_plain_values_without_a_further_query(
    session_factory: Any, sql_log: Any
) -> None:
    await seed_users(session_factory, "ann", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        sql_log.clear()
        await session.execute(
            update(User).where(User.name == "bob").values(fullname="Fetched"),
            execution_options={"synchronize_session": "fetch"},
        )
        assert has_returning(sql_log.statements[0])
        assert users["bob"].fullname == "Fetched"
        assert users["ann"].fullname == "Ann Full"
        assert len(sql_log.statements) == 1


async def test_fetch_keeps_the_statements_own_returning_columns(session_factory: Any) -> None:
    await seed_users(session_factory, "ann", "abe", "bob")
    async with session_factory() as session:
        await load_users(session)
        result = await session.execute(
            update(User)
            .where(User.name.like("a%"))
            .values(fullname="X")
            .returning(User.name)
            .execution_options(synchronize_session="fetch")
        )
        assert sorted(tuple(r) for r in result.all()) == [("abe",), ("ann",)]


@pytest.mark.parametrize("how", ["statement", "execute-kwarg"])
async def test_synchronize_false_leaves_objects_stale(
    session_factory: Any, sql_log: Any, how: str
) -> None:
    await seed_users(session_factory, "ann", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        stmt = update(User).where(User.name == "ann").values(fullname="Behind")
        sql_log.clear()
        if how == "statement":
            result = await session.execute(stmt.execution_options(synchronize_session=False))
        else:
            result = await session.execute(stmt, execution_options={"synchronize_session": False})
        assert result.rowcount == 1
        assert len(sql_log.statements) == 1
        assert not has_returning(sql_log.statements[0])
        assert users["ann"].fullname == "Ann Full"  # stale, on purpose
        await session.refresh(users["ann"])
        assert users["ann"].fullname == "Behind"


async def test_evaluate_expires_objects_whose_criteria_columns_are_unloaded(
    session_factory: Any,
) -> None:
    await seed_users(session_factory, "ann", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        session.expire(users["ann"], ["name"])
        await session.execute(
            update(User)
            .where(User.name == "ann")
            .values(fullname="Matched")
            .execution_options(synchronize_session="evaluate")
        )
        ann = users["ann"]
        # unknown whether it matched: what the session knew is forgotten
        with pytest.raises(exc.UnloadedAttributeError):
            _ = ann.fullname
        assert await ann.awaitable_attrs.fullname == "Matched"
        assert users["bob"].fullname == "Bob Full"


async def test_unknown_synchronize_session_value_is_an_argument_error(
    session_factory: Any,
) -> None:
    await seed_users(session_factory, "ann")
    async with session_factory() as session:
        with pytest.raises(exc.ArgumentError, match="synchronize_session"):
            await session.execute(
                update(User).values(fullname="x").execution_options(synchronize_session="sometimes")
            )


# --- delete ---------------------------------------------------------------------------


@pytest.mark.parametrize("sync", ["auto", "evaluate", "fetch"])
async def test_orm_delete_removes_matched_objects_and_rollback_restores_them(
    session_factory: Any, sql_log: Any, sync: str
) -> None:
    await seed_users(session_factory, "ann", "abe", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        sql_log.clear()
        result = await session.execute(
            delete(User)
            .where(or_(User.name == "ann", User.name == "abe"))
            .execution_options(synchronize_session=sync)
        )
        assert result.rowcount == 2
        assert len(sql_log.statements) == 1
        assert has_returning(sql_log.statements[0]) == (sync == "fetch")
        assert users["ann"] not in session and users["abe"] not in session
        assert users["bob"] in session
        assert await session.get(User, users["ann"].id) is None
        await session.rollback()
        assert users["ann"] in session and users["abe"] in session
        assert await users["ann"].awaitable_attrs.name == "ann"
        assert await session.get(User, users["abe"].id) is users["abe"]
    assert len(await rows(session_factory, User.id)) == 3


async def test_orm_delete_auto_with_like_fetches_and_commit_detaches(
    session_factory: Any, sql_log: Any
) -> None:
    await seed_users(session_factory, "ann", "abe", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        sql_log.clear()
        await session.execute(delete(User).where(User.name.like("a%")))
        assert len(sql_log.statements) == 1 and has_returning(sql_log.statements[0])
        assert users["ann"] not in session and users["abe"] not in session
        assert users["bob"] in session
        await session.commit()
        assert users["ann"] not in session
    assert await rows(session_factory, User.name) == [("bob",)]


async def test_orm_delete_synchronize_false_leaves_objects_in_session(
    session_factory: Any, sql_log: Any
) -> None:
    await seed_users(session_factory, "ann", "bob")
    async with session_factory() as session:
        users = await load_users(session)
        sql_log.clear()
        result = await session.execute(
            delete(User).where(User.name == "ann"),
            execution_options={"synchronize_session": False},
        )
        assert result.rowcount == 1
        assert not has_returning(sql_log.statements[0])
        assert users["ann"] in session  # stale: the row is gone, the object is not
        await session.commit()
    assert await rows(session_factory, User.name) == [("bob",)]


async def test_orm_delete_evaluate_like_is_an_argument_error(session_factory: Any) -> None:
    await seed_users(session_factory, "ann")
    async with session_factory() as session:
        users = await load_users(session)
        with pytest.raises(exc.ArgumentError):
            await session.execute(
                delete(User)
                .where(User.name.like("a%"))
                .execution_options(synchronize_session="evaluate")
            )
        assert users["ann"] in session
    assert await rows(session_factory, User.name) == [("ann",)]
