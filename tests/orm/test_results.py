"""Results of ORM selects: rows, scalars, mappings and the one/first family."""

from __future__ import annotations

from typing import Any

import pytest

from heron import exc, select

from .helpers import seed_users
from .models import User


async def test_entity_rows_scalars_and_mappings_agree(session_factory: Any) -> None:
    await seed_users(session_factory, "ann", "bob")
    async with session_factory() as session:
        stmt = select(User).order_by(User.name)
        rows = (await session.execute(stmt)).all()
        assert [row[0].name for row in rows] == ["ann", "bob"]
        assert [row.User.name for row in rows] == ["ann", "bob"]
        assert rows[0]._mapping["User"] is rows[0][0]
        users = (await session.scalars(stmt)).all()
        assert users == [row[0] for row in rows]  # same identity-mapped instances
        maps = (await session.execute(stmt)).mappings().all()
        assert [m["User"] for m in maps] == users
        assert (await session.execute(stmt)).scalar() is users[0]
        assert (await session.execute(stmt)).first()[0] is users[0]
        one = await session.execute(select(User).where(User.name == "bob"))
        assert one.scalar_one() is users[1]
        with pytest.raises(exc.MultipleResultsFound):
            (await session.execute(stmt)).scalar_one()
        with pytest.raises(exc.NoResultFound):
            (await session.scalars(select(User).where(User.name == "zed"))).one()
        assert [u.name for u in (await session.execute(stmt)).scalars().unique()] == [
            "ann",
            "bob",
        ]
        partitions = list((await session.scalars(stmt)).partitions(1))
        assert partitions == [[users[0]], [users[1]]]
