"""The ORM benchmarks' schema (PERFORMANCE.md), its seeding, and the mapped classes.

Tables ``bench_users`` / ``bench_addresses`` are created and seeded with raw
asyncpg (never through a system under test), so every system starts from the
same database state. Three object models map them:

- ``RawUser`` / ``RawAddress``: plain ``__slots__`` classes, what hand-written
  asyncpg code builds;
- heron's declarative ``HeronUser`` / ``HeronAddress``;
- SQLAlchemy's, built on first use by ``sqlalchemy_models()`` so this module
  imports without SQLAlchemy installed.

All three map ``User.addresses`` one-to-many with the default cascade
("save-update, merge") and ``back_populates``; no ``passive_deletes``.
"""

from __future__ import annotations

import datetime
from functools import cache
from typing import Any

from heron import ForeignKey, String, func
from heron.orm import DeclarativeBase, Mapped, mapped_column, relationship

try:  # optional: the module works without SQLAlchemy (that system is then skipped)
    import sqlalchemy as sa
    from sqlalchemy import orm as sa_orm
except ImportError:  # pragma: no cover
    sa = sa_orm = None  # type: ignore[assignment]

USERS = "bench_users"
ADDRESSES = "bench_addresses"
USERS_SEQ = f"{USERS}_id_seq"
ADDRESSES_SEQ = f"{ADDRESSES}_id_seq"

DDL = [
    f"DROP TABLE IF EXISTS {ADDRESSES}",
    f"DROP TABLE IF EXISTS {USERS}",
    f"""CREATE TABLE {USERS} (
        id serial PRIMARY KEY,
        name varchar(50) NOT NULL,
        fullname varchar(100),
        created_at timestamp DEFAULT now()
    )""",
    f"""CREATE TABLE {ADDRESSES} (
        id serial PRIMARY KEY,
        user_id int NOT NULL REFERENCES {USERS}(id),
        email varchar(100) NOT NULL
    )""",
]


def user_name(i: int) -> str:
    return f"user {i}"


def user_fullname(i: int) -> str:
    return f"User Number {i}"


def address_email(user_id: int, j: int) -> str:
    return f"user{user_id}.{j}@example.com"


async def create_schema(conn: Any) -> None:
    """(Re)create both tables."""
    for statement in DDL:
        await conn.execute(statement)


async def drop_schema(conn: Any) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {ADDRESSES}")
    await conn.execute(f"DROP TABLE IF EXISTS {USERS}")


async def reset(conn: Any, users: int = 0, addresses_per_user: int = 0) -> None:
    """Empty both tables (``RESTART IDENTITY``), then seed ``users`` users with ids
    1..users and ``addresses_per_user`` addresses each (ids 1..), and ANALYZE."""
    await conn.execute(f"TRUNCATE {ADDRESSES}, {USERS} RESTART IDENTITY")
    if users:
        now = datetime.datetime(2024, 1, 1, 12, 0, 0)
        await conn.copy_records_to_table(
            USERS,
            records=[(i, user_name(i), user_fullname(i), now) for i in range(1, users + 1)],
            columns=["id", "name", "fullname", "created_at"],
        )
        await conn.execute(f"SELECT setval('{USERS_SEQ}', $1)", users)
    if users and addresses_per_user:
        records = []
        aid = 0
        for uid in range(1, users + 1):
            for j in range(addresses_per_user):
                aid += 1
                records.append((aid, uid, address_email(uid, j)))
        await conn.copy_records_to_table(
            ADDRESSES, records=records, columns=["id", "user_id", "email"]
        )
        await conn.execute(f"SELECT setval('{ADDRESSES_SEQ}', $1)", aid)
    await conn.execute(f"ANALYZE {USERS}, {ADDRESSES}")


# -- plain objects (raw asyncpg) ------------------------------------------------------------


class RawUser:
    __slots__ = ("addresses", "created_at", "fullname", "id", "name")

    def __init__(
        self,
        id: int | None,
        name: str,
        fullname: str | None,
        created_at: datetime.datetime | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.fullname = fullname
        self.created_at = created_at


class RawAddress:
    __slots__ = ("email", "id", "user", "user_id")

    def __init__(self, id: int | None, user_id: int | None, email: str) -> None:
        self.id = id
        self.user_id = user_id
        self.email = email


# -- heron --------------------------------------------------------------------------------------


class HeronBase(DeclarativeBase):
    pass


class HeronUser(HeronBase):
    __tablename__ = USERS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    fullname: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime.datetime | None] = mapped_column(server_default=func.now())
    addresses: Mapped[list[HeronAddress]] = relationship(back_populates="user")


class HeronAddress(HeronBase):
    __tablename__ = ADDRESSES

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(f"{USERS}.id"))
    email: Mapped[str] = mapped_column(String(100))
    user: Mapped[HeronUser] = relationship(back_populates="addresses")


# -- SQLAlchemy -----------------------------------------------------------------------------


@cache
def sqlalchemy_models() -> tuple[type, type]:
    """SQLAlchemy's (User, Address), declared on first use (needs SQLAlchemy >= 2.0)."""
    if sa is None:
        raise RuntimeError("SQLAlchemy is not installed")
    orm = sa_orm

    class Base(orm.DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = USERS

        id: sa_orm.Mapped[int] = orm.mapped_column(primary_key=True)
        name: sa_orm.Mapped[str] = orm.mapped_column(sa.String(50))
        fullname: sa_orm.Mapped[str | None] = orm.mapped_column(sa.String(100))
        created_at: sa_orm.Mapped[datetime.datetime | None] = orm.mapped_column(
            server_default=sa.func.now()
        )
        addresses: sa_orm.Mapped[list[Address]] = orm.relationship(back_populates="user")

    class Address(Base):
        __tablename__ = ADDRESSES

        id: sa_orm.Mapped[int] = orm.mapped_column(primary_key=True)
        user_id: sa_orm.Mapped[int] = orm.mapped_column(sa.ForeignKey(f"{USERS}.id"))
        email: sa_orm.Mapped[str] = orm.mapped_column(sa.String(100))
        user: sa_orm.Mapped[User] = orm.relationship(back_populates="addresses")

    orm.configure_mappers()
    return User, Address
