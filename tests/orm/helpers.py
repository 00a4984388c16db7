"""Small helpers shared by the ORM tests: reading SQL logs and the database."""

from __future__ import annotations

import re
from typing import Any

from heron import select

from .models import User


def norm(sql: str) -> str:
    """Lower-case, unquote identifiers and collapse whitespace."""
    return " ".join(sql.replace('"', "").replace("`", "").lower().split())


def dml(statements: list[str], verb: str, table: str) -> list[str]:
    """Statements of one kind against one table.

    verb is "insert", "update", "delete" or "select"; table is matched as a whole
    word, so "orm_post" does not match "orm_post_tag".
    """
    heads = {
        "insert": rf"insert into {table}\b",
        "update": rf"update {table}\b",
        "delete": rf"delete from {table}\b",
    }
    found = []
    for sql in statements:
        text = norm(sql)
        if verb == "select":
            if text.startswith(("select", "with")) and re.search(rf"\b{table}\b", text):
                found.append(sql)
        elif re.match(heads[verb], text):
            found.append(sql)
    return found


def mentions(statements: list[str], table: str) -> list[str]:
    """Statements naming ``table`` anywhere (as a whole word)."""
    return [s for s in statements if re.search(rf"\b{table}\b", norm(s))]


async def seed_users(session_factory: Any, *names: str) -> list[int]:
    """Commit one User per name (fullname "<Name> Full") and return their ids."""
    async with session_factory() as session:
        users = [User(name=n, fullname=f"{n.title()} Full") for n in names]
        session.add_all(users)
        await session.commit()
        return [u.id for u in users]


async def rows(session_factory: Any, *columns: Any, order_by: Any = None) -> list[tuple[Any, ...]]:
    """Read columns in a fresh session; rows as plain tuples."""
    async with session_factory() as session:
        stmt = select(*columns)
        if order_by is not None:
            stmt = stmt.order_by(order_by)
        result = await session.execute(stmt)
        return [tuple(r) for r in result.all()]


async def user_names(session_factory: Any) -> list[str]:
    """Names of every committed User, ordered by id, read in a fresh session."""
    return [r[0] for r in await rows(session_factory, User.name, order_by=User.id)]
