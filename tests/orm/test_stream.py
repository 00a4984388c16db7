"""``session.stream()`` / ``session.stream_scalars()``: ORM rows fetched ``yield_per``
at a time (a server-side cursor on PostgreSQL), each partition built through the
identity map and eager-loaded before it is handed out."""

from __future__ import annotations

from typing import Any

from heron import insert, select, text
from heron.orm import joinedload, selectinload, sessionmaker

from .helpers import norm
from .models import Address, Base, User


async def seed(session_factory: Any, users: int = 25, per_user: int = 2) -> None:
    async with session_factory() as session:
        await session.execute(
            insert(User), [{"id": i + 1, "name": f"u{i:02}"} for i in range(users)]
        )
        await session.execute(
            insert(Address),
            [
                {"email_address": f"u{i:02}-{j}@x", "user_id": i + 1}
                for i in range(users)
                for j in range(per_user)
            ],
        )
        await session.commit()


def address_queries(statements: list[str]) -> list[str]:
    return [s for s in statements if " from orm_address" in norm(s)]


def emails(user: Any) -> list[str]:
    return sorted(a.email_address for a in user.addresses)


async def test_stream_scalars_runs_selectinload_once_per_partition(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        stmt = (
            select(User)
            .options(selectinload(User.addresses))
            .order_by(User.id)
            .execution_options(yield_per=10)
        )
        users = [u async for u in await session.stream_scalars(stmt)]
        assert [u.name for u in users] == [f"u{i:02}" for i in range(25)]
        assert all(emails(u) == [f"{u.name}-0@x", f"{u.name}-1@x"] for u in users)
        assert all(a.user is u for u in users for a in u.addresses)
        assert len(address_queries(sql_log.statements)) == 3
        assert len(sql_log.statements) == 4


async def test_each_partition_is_eager_loaded_before_it_is_handed_out(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory)
    async with session_factory() as session:
        sql_log.clear()
        result = await session.stream(
            select(User).options(selectinload(User.addresses)).order_by(User.id),
            execution_options={"yield_per": 10},
        )
        sizes = []
        seen_queries = []
        async for partition in result.scalars().partitions():
            sizes.append(len(partition))
            seen_queries.append(len(address_queries(sql_log.statements)))
            assert all(len(u.addresses) == 2 for u in partition)
        assert sizes == [10, 10, 5]
        # one address query per partition, issued as that partition was built
        assert seen_queries == [1, 2, 3]


async def test_streamed_rows_are_identity_map_instances(session_factory: Any, sql_log: Any) -> None:
    await seed(session_factory, users=5, per_user=1)
    async with session_factory() as session:
        known = await session.get(User, 3)
        assert known is not None
        known.fullname = "pending"
        with session.no_autoflush:
            result = await session.stream(
                select(User).order_by(User.id).execution_options(yield_per=2)
            )
            rows = [row async for row in result]
        assert [r[0].id for r in rows] == [1, 2, 3, 4, 5]
        assert rows[2][0] is known
        assert known.fullname == "pending"  # streaming never overwrites pending changes
        assert rows[0].User is await session.get(User, 1)


async def test_stream_joinedload_still_loads_every_partition(
    session_factory: Any, sql_log: Any
) -> None:
    await seed(session_factory, users=7, per_user=3)
    async with session_factory() as session:
        sql_log.clear()
        stmt = (
            select(User)
            .options(joinedload(User.addresses))
            .order_by(User.id)
            .execution_options(yield_per=3)
        )
        users = [u async for u in await session.stream_scalars(stmt)]
        assert [u.id for u in users] == list(range(1, 8))
        assert all(len(u.addresses) == 3 for u in users)


async def test_stream_of_plain_columns_gives_rows(session_factory: Any) -> None:
    await seed(session_factory, users=4, per_user=1)
    async with session_factory() as session:
        result = await session.stream(
            select(User.id, User.name).order_by(User.id).execution_options(yield_per=3)
        )
        assert [tuple(r) async for r in result] == [(i + 1, f"u{i:02}") for i in range(4)]


async def test_stream_uses_a_server_side_cursor_on_postgresql(pg_engine: Any) -> None:
    await Base.metadata.create_all(pg_engine)
    factory = sessionmaker(pg_engine)
    await seed(factory, users=25, per_user=1)
    async with factory() as session:
        result = await session.stream_scalars(
            select(User).options(selectinload(User.addresses)).order_by(User.id),
            execution_options={"yield_per": 10},
        )
        first = await result.fetchmany(10)
        assert [u.id for u in first] == list(range(1, 11))
        # the rest is still on the server, in an open cursor of this session
        open_cursors = await session.scalar(text("SELECT count(*) FROM pg_cursors"))
        assert open_cursors >= 1
        identity_users = [k for k in session.identity_map if k[0] is User]
        assert len(identity_users) == 10
        rest = await result.all()
        assert [u.id for u in rest] == list(range(11, 26))
        assert all(len(u.addresses) == 1 for u in first + rest)
