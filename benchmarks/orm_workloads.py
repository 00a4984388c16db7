"""PERFORMANCE.md's ORM workloads W1-W9 on PostgreSQL: raw asyncpg, heron, SQLAlchemy.

    python -m benchmarks.orm_workloads --url postgresql://root@127.0.0.1:5432/test \\
        --workloads W1,W3 --repeat 5 --systems asyncpg,heron,sqlalchemy

Every workload has a ``seed`` that puts the database in its starting state
(``TRUNCATE ... RESTART IDENTITY`` plus COPY of the seed rows, then ANALYZE),
run before *every* timed run and never timed; ``run`` is the timed part and
returns what it built; ``verify`` checks that result and the database
afterwards (not timed). Repeats are interleaved (A B C A B C ...) after one
untimed warm-up run per system.

Systems:

- ``asyncpg``: the floor, the fastest honest hand-written code for the same
  work on one connection opened beforehand: it builds the same objects (plain
  ``__slots__`` classes), reserves keys with ``nextval`` and COPYs rows
  (W1/W2), updates/deletes with one ``unnest``/``ANY`` statement (W5/W6), runs
  the same two queries or the same join and assembles parent -> children by
  hand (W7/W8; parent -> children only, no child -> parent links). W9 uses an
  ``asyncpg.create_pool`` of 10 with a no-op reset: every transaction ends in
  COMMIT and leaves nothing on the connection, so the as-shipped reset query
  on release (``RESET ALL``, ``UNLISTEN *``, ...) is pure overhead.
- ``asyncpg_pool`` (W4, W9; optional): the same raw code through an asyncpg
  pool as shipped (reset query on every release); in W4 one
  ``pool.acquire()`` per get -- what a web handler would do.
- ``heron``: idiomatic heron (``sessionmaker(engine)``, one session per unit
  of work), default options.
- ``sqlalchemy``: idiomatic SQLAlchemy 2.x asyncio ORM (``async_sessionmaker``
  with ``expire_on_commit=False``, otherwise defaults: a transaction per
  session, even for reads).

All ORMs map ``User.addresses`` with the default cascade and no
``passive_deletes``. W6 deletes users that have no addresses (the addresses
table is empty), so no foreign key is in the way; an ORM may still look for
children to detach (heron: one ``IN`` query for all deleted users; SQLAlchemy:
one lazy load per deleted user).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import asyncpg

from benchmarks import orm_schema as schema
from benchmarks.orm_schema import (
    ADDRESSES,
    ADDRESSES_SEQ,
    USERS,
    USERS_SEQ,
    HeronAddress,
    HeronUser,
    RawAddress,
    RawUser,
    address_email,
    user_fullname,
    user_name,
)

BASELINE = "asyncpg"
DEFAULT_URL = os.environ.get(
    "HERON_BENCH_URL",
    os.environ.get("HERON_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test"),
)
POOL_SIZE = 10

SELECT_USERS = f"SELECT id, name, fullname, created_at FROM {USERS}"
SELECT_USER = f"SELECT id, name, fullname, created_at FROM {USERS} WHERE id = $1"


def changed(name: str) -> str:
    """The new ``fullname`` W5 gives every user."""
    return name + " (changed)"


# -- systems ------------------------------------------------------------------------------------


SYSTEM_REQUIRES: dict[str, tuple[str, ...]] = {
    "asyncpg": ("asyncpg",),
    "asyncpg_pool": ("asyncpg",),
    "heron": (),
    "sqlalchemy": ("sqlalchemy", "greenlet"),
}


def missing_modules(system: str) -> list[str]:
    return [m for m in SYSTEM_REQUIRES.get(system, ()) if importlib.util.find_spec(m) is None]


def _sa_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class Impl:
    """One system's implementation of one workload; only ``run`` is timed."""

    def __init__(self, workload: OrmWorkload) -> None:
        self.workload = workload
        self.url = workload.url
        self.params = workload.params

    async def open(self) -> None:
        """Connect and warm up (not timed)."""

    async def run(self) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        """Release what ``open`` created."""


class RawImpl(Impl):
    """Raw asyncpg on one connection opened beforehand."""

    conn: Any

    async def open(self) -> None:
        self.conn = await asyncpg.connect(self.url)

    async def close(self) -> None:
        await self.conn.close()


async def _no_reset(conn: Any) -> None:
    return None


class RawPoolImpl(Impl):
    """Raw asyncpg through ``asyncpg.create_pool`` (as shipped unless ``reset`` is set)."""

    reset: ClassVar[Callable[..., Any] | None] = None
    pool: Any

    async def open(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.reset is not None:
            kwargs["reset"] = self.reset
        self.pool = await asyncpg.create_pool(
            self.url, min_size=POOL_SIZE, max_size=POOL_SIZE, **kwargs
        )

    async def close(self) -> None:
        await self.pool.close()


class HeronImpl(Impl):
    """heron: ``create_engine`` (pool of 10, filled before timing) and ``sessionmaker``."""

    async def open(self) -> None:
        import heron
        from heron.orm import configure_mappers, sessionmaker

        configure_mappers()
        self.engine = heron.create_engine(self.url, pool_size=POOL_SIZE)
        conns = [await self.engine.connect() for _ in range(POOL_SIZE)]
        for conn in conns:
            await conn.close()
        self.Session = sessionmaker(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()


class SqlalchemyImpl(Impl):
    """SQLAlchemy asyncio ORM: pool of 10 (filled before timing), ``expire_on_commit=False``."""

    async def open(self) -> None:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        self.User, self.Address = schema.sqlalchemy_models()
        self.engine = create_async_engine(_sa_url(self.url), pool_size=POOL_SIZE, max_overflow=0)
        conns = [await self.engine.connect() for _ in range(POOL_SIZE)]
        for conn in conns:
            await conn.close()
        self.Session = async_sessionmaker(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        await self.engine.dispose()


# -- workloads ------------------------------------------------------------------------------------


class OrmWorkload:
    """A workload: ``seed`` before every run, one ``Impl`` per system, ``verify`` after."""

    key: ClassVar[str] = ""  # "W1"
    title: ClassVar[str] = ""
    target: ClassVar[float] = 1.5
    defaults: ClassVar[dict[str, int]] = {}
    impls: ClassVar[dict[str, type[Impl]]]

    def __init__(self, url: str, params: dict[str, Any] | None = None) -> None:
        self.url = url
        given = params or {}
        self.params = {k: int(given.get(k, v)) for k, v in self.defaults.items()}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.impls = {}

    @classmethod
    def impl(cls, *systems: str) -> Callable[[type[Impl]], type[Impl]]:
        def decorate(impl_cls: type[Impl]) -> type[Impl]:
            for system in systems:
                cls.impls[system] = impl_cls
            return impl_cls

        return decorate

    async def seed(self, conn: Any) -> None:
        """Put the database in this workload's starting state (before every run)."""
        await schema.reset(conn)

    async def verify(self, conn: Any, result: Any) -> None:
        """Check ``run``'s result and the database (after every run)."""


WORKLOADS: dict[str, type[OrmWorkload]] = {}


def workload(cls: type[OrmWorkload]) -> type[OrmWorkload]:
    WORKLOADS[cls.key] = cls
    return cls


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


async def _check_users_match(conn: Any, users: list[Any], expected: int) -> None:
    """``users`` are ``expected`` objects whose keys name their own rows."""
    check(len(users) == expected, f"{len(users)} objects, expected {expected}")
    db = dict(await conn.fetch(f"SELECT id, name FROM {USERS}"))
    ids = {u.id for u in users}
    check(len(ids) == expected and None not in ids, "keys missing or repeated on the objects")
    wrong = [u.id for u in users if db.get(u.id) != u.name]
    check(not wrong, f"{len(wrong)} objects carry another row's key, e.g. id={wrong[:3]}")


def _check_graph(users: list[Any], n_users: int, per_user: int) -> None:
    """The W7/W8 result: every user with exactly its seeded addresses."""
    check(len(users) == n_users, f"{len(users)} users, expected {n_users}")
    check(len({u.id for u in users}) == n_users, "users repeated")
    for u in users:
        addrs = u.addresses
        check(len(addrs) == per_user, f"user {u.id} has {len(addrs)} addresses")
        emails = {a.email for a in addrs}
        check(emails == {address_email(u.id, j) for j in range(per_user)}, f"user {u.id} emails")
        for a in addrs:
            check(a.user_id == u.id, f"address {a.id} not linked to user {u.id}")
            # the reverse side, where the system fills it (heron does; SQLAlchemy leaves
            # it to a lazy load that finds the parent in the identity map)
            loaded = getattr(a, "__dict__", {}).get("user", u)
            check(loaded is u, f"address {a.id}: .user is not its parent")


# W1 ---------------------------------------------------------------------------------------------


@workload
class W1(OrmWorkload):
    key = "W1"
    title = "insert 10,000 objects, keys back on the objects"
    defaults = {"n": 10_000}

    async def verify(self, conn: Any, result: Any) -> None:
        await _check_users_match(conn, result, self.params["n"])
        count = await conn.fetchval(f"SELECT count(*) FROM {USERS}")
        check(count == self.params["n"], f"{count} rows")


@W1.impl("asyncpg")
class W1Raw(RawImpl):
    async def run(self) -> Any:
        n = self.params["n"]
        users = [RawUser(None, user_name(i), user_fullname(i)) for i in range(1, n + 1)]
        # reserve the keys (one round trip), then COPY the rows with them
        ids = await self.conn.fetchval(
            f"SELECT array(SELECT nextval('{USERS_SEQ}') FROM generate_series(1, $1))", n
        )
        for user, key in zip(users, ids, strict=True):
            user.id = key
        await self.conn.copy_records_to_table(
            USERS,
            records=[(u.id, u.name, u.fullname) for u in users],
            columns=["id", "name", "fullname"],
        )
        return users


@W1.impl("heron")
class W1Heron(HeronImpl):
    async def run(self) -> Any:
        n = self.params["n"]
        users = [HeronUser(name=user_name(i), fullname=user_fullname(i)) for i in range(1, n + 1)]
        async with self.Session() as session:
            session.add_all(users)
            await session.commit()
        return users


@W1.impl("sqlalchemy")
class W1Sqlalchemy(SqlalchemyImpl):
    async def run(self) -> Any:
        n = self.params["n"]
        User = self.User
        users = [User(name=user_name(i), fullname=user_fullname(i)) for i in range(1, n + 1)]
        async with self.Session() as session:
            session.add_all(users)
            await session.commit()
        return users


# W2 ---------------------------------------------------------------------------------------------


@workload
class W2(OrmWorkload):
    key = "W2"
    title = "insert 1,000 parents x 10 children via the relationship"
    defaults = {"users": 1_000, "per_user": 10}

    async def verify(self, conn: Any, result: Any) -> None:
        n, per = self.params["users"], self.params["per_user"]
        await _check_users_match(conn, result, n)
        db = {r[0]: (r[1], r[2]) for r in await conn.fetch(f"SELECT * FROM {ADDRESSES}")}
        check(len(db) == n * per, f"{len(db)} address rows, expected {n * per}")
        seen = 0
        for u in result:
            check(len(u.addresses) == per, f"user {u.id}: {len(u.addresses)} addresses")
            for a in u.addresses:
                seen += 1
                check(a.user_id == u.id, f"address {a.id}: user_id {a.user_id} != {u.id}")
                check(db.get(a.id) == (u.id, a.email), f"address {a.id} does not match its row")
        check(seen == n * per, "addresses missing")


def _w2_email(i: int, j: int) -> str:
    return f"new{i}.{j}@example.com"


@W2.impl("asyncpg")
class W2Raw(RawImpl):
    async def run(self) -> Any:
        n, per = self.params["users"], self.params["per_user"]
        users = []
        addresses = []
        for i in range(1, n + 1):
            user = RawUser(None, user_name(i), user_fullname(i))
            children = [RawAddress(None, None, _w2_email(i, j)) for j in range(per)]
            for child in children:
                child.user = user
            user.addresses = children
            addresses += children
            users.append(user)
        conn = self.conn
        user_ids, address_ids = await conn.fetchrow(
            f"SELECT array(SELECT nextval('{USERS_SEQ}') FROM generate_series(1, $1)),"
            f" array(SELECT nextval('{ADDRESSES_SEQ}') FROM generate_series(1, $2))",
            n,
            len(addresses),
        )
        for user, key in zip(users, user_ids, strict=True):
            user.id = key
        for child, key in zip(addresses, address_ids, strict=True):
            child.id = key
            child.user_id = child.user.id
        async with conn.transaction():
            await conn.copy_records_to_table(
                USERS,
                records=[(u.id, u.name, u.fullname) for u in users],
                columns=["id", "name", "fullname"],
            )
            await conn.copy_records_to_table(
                ADDRESSES,
                records=[(a.id, a.user_id, a.email) for a in addresses],
                columns=["id", "user_id", "email"],
            )
        return users


@W2.impl("heron")
class W2Heron(HeronImpl):
    async def run(self) -> Any:
        n, per = self.params["users"], self.params["per_user"]
        users = [
            HeronUser(
                name=user_name(i),
                fullname=user_fullname(i),
                addresses=[HeronAddress(email=_w2_email(i, j)) for j in range(per)],
            )
            for i in range(1, n + 1)
        ]
        async with self.Session() as session:
            session.add_all(users)
            await session.commit()
        return users


@W2.impl("sqlalchemy")
class W2Sqlalchemy(SqlalchemyImpl):
    async def run(self) -> Any:
        n, per = self.params["users"], self.params["per_user"]
        User, Address = self.User, self.Address
        users = [
            User(
                name=user_name(i),
                fullname=user_fullname(i),
                addresses=[Address(email=_w2_email(i, j)) for j in range(per)],
            )
            for i in range(1, n + 1)
        ]
        async with self.Session() as session:
            session.add_all(users)
            await session.commit()
        return users


# W3 ---------------------------------------------------------------------------------------------


@workload
class W3(OrmWorkload):
    key = "W3"
    title = "load 10,000 objects"
    defaults = {"n": 10_000}

    async def seed(self, conn: Any) -> None:
        await schema.reset(conn, self.params["n"])

    async def verify(self, conn: Any, result: Any) -> None:
        await _check_users_match(conn, result, self.params["n"])
        check(all(u.fullname == user_fullname(u.id) for u in result), "wrong fullname")


def _raw_users(rows: list[Any]) -> list[RawUser]:
    out = []
    append = out.append
    for id_, name, fullname, created_at in rows:
        append(RawUser(id_, name, fullname, created_at))
    return out


@W3.impl("asyncpg")
class W3Raw(RawImpl):
    async def run(self) -> Any:
        return _raw_users(await self.conn.fetch(SELECT_USERS))


@W3.impl("heron")
class W3Heron(HeronImpl):
    async def run(self) -> Any:
        from heron import select

        async with self.Session() as session:
            return (await session.scalars(select(HeronUser))).all()


@W3.impl("sqlalchemy")
class W3Sqlalchemy(SqlalchemyImpl):
    async def run(self) -> Any:
        from sqlalchemy import select

        async with self.Session() as session:
            return (await session.scalars(select(self.User))).all()


# W4 ---------------------------------------------------------------------------------------------


@workload
class W4(OrmWorkload):
    key = "W4"
    title = "2,000 get() by key, fresh session each"
    defaults = {"n": 2_000, "rows": 10_000}

    def keys(self) -> list[int]:
        n, rows = self.params["n"], self.params["rows"]
        step = max(1, rows // n)
        return [1 + (i * step) % rows for i in range(n)]

    async def seed(self, conn: Any) -> None:
        await schema.reset(conn, self.params["rows"])

    async def verify(self, conn: Any, result: Any) -> None:
        check([u.id for u in result] == self.keys(), "wrong objects returned")
        check(all(u.name == user_name(u.id) for u in result), "wrong names")


@W4.impl("asyncpg")
class W4Raw(RawImpl):
    async def run(self) -> Any:
        fetchrow = self.conn.fetchrow
        out = []
        for key in self.workload.keys():  # type: ignore[attr-defined]
            row = await fetchrow(SELECT_USER, key)
            out.append(RawUser(row[0], row[1], row[2], row[3]))
        return out


@W4.impl("asyncpg_pool")
class W4RawPool(RawPoolImpl):
    async def run(self) -> Any:
        pool = self.pool
        out = []
        for key in self.workload.keys():  # type: ignore[attr-defined]
            async with pool.acquire() as conn:
                row = await conn.fetchrow(SELECT_USER, key)
            out.append(RawUser(row[0], row[1], row[2], row[3]))
        return out


@W4.impl("heron")
class W4Heron(HeronImpl):
    async def run(self) -> Any:
        Session = self.Session
        out = []
        for key in self.workload.keys():  # type: ignore[attr-defined]
            async with Session() as session:
                out.append(await session.get(HeronUser, key))
        return out


@W4.impl("sqlalchemy")
class W4Sqlalchemy(SqlalchemyImpl):
    async def run(self) -> Any:
        Session, User = self.Session, self.User
        out = []
        for key in self.workload.keys():  # type: ignore[attr-defined]
            async with Session() as session:
                out.append(await session.get(User, key))
        return out


# W5 ---------------------------------------------------------------------------------------------


@workload
class W5(OrmWorkload):
    key = "W5"
    title = "load 10,000, change one column each, commit"
    defaults = {"n": 10_000}

    async def seed(self, conn: Any) -> None:
        await schema.reset(conn, self.params["n"])

    async def verify(self, conn: Any, result: Any) -> None:
        n = self.params["n"]
        check(len(result) == n, f"{len(result)} objects")
        done = await conn.fetchval(
            f"SELECT count(*) FROM {USERS} WHERE fullname = name || ' (changed)'"
        )
        check(done == n, f"{done} of {n} rows updated")


@W5.impl("asyncpg")
class W5Raw(RawImpl):
    async def run(self) -> Any:
        conn = self.conn
        users = _raw_users(await conn.fetch(SELECT_USERS))
        for user in users:
            user.fullname = changed(user.name)
        status = await conn.execute(
            f"UPDATE {USERS} AS u SET fullname = v.fullname"
            " FROM unnest($1::int[], $2::varchar[]) AS v(id, fullname) WHERE u.id = v.id",
            [u.id for u in users],
            [u.fullname for u in users],
        )
        check(status == f"UPDATE {len(users)}", status)
        return users


@W5.impl("heron")
class W5Heron(HeronImpl):
    async def run(self) -> Any:
        from heron import select

        async with self.Session() as session:
            users = (await session.scalars(select(HeronUser))).all()
            for user in users:
                user.fullname = changed(user.name)
            await session.commit()
        return users


@W5.impl("sqlalchemy")
class W5Sqlalchemy(SqlalchemyImpl):
    async def run(self) -> Any:
        from sqlalchemy import select

        async with self.Session() as session:
            users = (await session.scalars(select(self.User))).all()
            for user in users:
                user.fullname = changed(user.name)
            await session.commit()
        return users


# W6 ---------------------------------------------------------------------------------------------


@workload
class W6(OrmWorkload):
    key = "W6"
    title = "load 10,000, delete each, commit (users without addresses)"
    defaults = {"n": 10_000}

    async def seed(self, conn: Any) -> None:
        await schema.reset(conn, self.params["n"])  # no addresses: no FK in the way

    async def verify(self, conn: Any, result: Any) -> None:
        n = self.params["n"]
        check(len(result) == n, f"{len(result)} objects")
        left = await conn.fetchval(f"SELECT count(*) FROM {USERS}")
        check(left == 0, f"{left} rows left")


@W6.impl("asyncpg")
class W6Raw(RawImpl):
    async def run(self) -> Any:
        conn = self.conn
        users = _raw_users(await conn.fetch(SELECT_USERS))
        status = await conn.execute(
            f"DELETE FROM {USERS} WHERE id = ANY($1::int[])", [u.id for u in users]
        )
        check(status == f"DELETE {len(users)}", status)
        return users


@W6.impl("heron")
class W6Heron(HeronImpl):
    async def run(self) -> Any:
        from heron import select

        async with self.Session() as session:
            users = (await session.scalars(select(HeronUser))).all()
            for user in users:
                await session.delete(user)
            await session.commit()
        return users


@W6.impl("sqlalchemy")
class W6Sqlalchemy(SqlalchemyImpl):
    async def run(self) -> Any:
        from sqlalchemy import select

        async with self.Session() as session:
            users = (await session.scalars(select(self.User))).all()
            for user in users:
                await session.delete(user)
            await session.commit()
        return users


# W7 / W8 ------------------------------------------------------------------------------------------


class _Graph(OrmWorkload):
    defaults = {"users": 1_000, "per_user": 10}

    async def seed(self, conn: Any) -> None:
        await schema.reset(conn, self.params["users"], self.params["per_user"])

    async def verify(self, conn: Any, result: Any) -> None:
        _check_graph(result, self.params["users"], self.params["per_user"])


@workload
class W7(_Graph):
    key = "W7"
    title = "1,000 users + 10,000 addresses, selectin"


@workload
class W8(_Graph):
    key = "W8"
    title = "1,000 users + 10,000 addresses, joined"


@W7.impl("asyncpg")
class W7Raw(RawImpl):
    async def run(self) -> Any:
        conn = self.conn
        users = []
        by_id: dict[int, RawUser] = {}
        for id_, name, fullname, created_at in await conn.fetch(SELECT_USERS):
            user = RawUser(id_, name, fullname, created_at)
            user.addresses = []
            by_id[id_] = user
            users.append(user)
        rows = await conn.fetch(
            f"SELECT id, user_id, email FROM {ADDRESSES} WHERE user_id = ANY($1::int[])",
            list(by_id),
        )
        for id_, user_id, email in rows:
            by_id[user_id].addresses.append(RawAddress(id_, user_id, email))
        return users


@W7.impl("heron")
class W7Heron(HeronImpl):
    async def run(self) -> Any:
        from heron import select
        from heron.orm import selectinload

        stmt = select(HeronUser).options(selectinload(HeronUser.addresses))
        async with self.Session() as session:
            return (await session.scalars(stmt)).all()


@W7.impl("sqlalchemy")
class W7Sqlalchemy(SqlalchemyImpl):
    async def run(self) -> Any:
        from sqlalchemy import select
        from sqlalchemy.orm import selectinload

        stmt = select(self.User).options(selectinload(self.User.addresses))
        async with self.Session() as session:
            return (await session.scalars(stmt)).all()


@W8.impl("asyncpg")
class W8Raw(RawImpl):
    async def run(self) -> Any:
        rows = await self.conn.fetch(
            f"SELECT u.id, u.name, u.fullname, u.created_at, a.id, a.user_id, a.email"
            f" FROM {USERS} AS u LEFT OUTER JOIN {ADDRESSES} AS a ON u.id = a.user_id"
        )
        users = []
        by_id: dict[int, RawUser] = {}
        get = by_id.get
        for id_, name, fullname, created_at, aid, user_id, email in rows:
            user = get(id_)
            if user is None:
                user = RawUser(id_, name, fullname, created_at)
                user.addresses = []
                by_id[id_] = user
                users.append(user)
            if aid is not None:
                user.addresses.append(RawAddress(aid, user_id, email))
        return users


@W8.impl("heron")
class W8Heron(HeronImpl):
    async def run(self) -> Any:
        from heron import select
        from heron.orm import joinedload

        stmt = select(HeronUser).options(joinedload(HeronUser.addresses))
        async with self.Session() as session:
            # heron returns one row per parent already; .unique() is SQLAlchemy's requirement
            return (await session.scalars(stmt)).all()


@W8.impl("sqlalchemy")
class W8Sqlalchemy(SqlalchemyImpl):
    async def run(self) -> Any:
        from sqlalchemy import select
        from sqlalchemy.orm import joinedload

        stmt = select(self.User).options(joinedload(self.User.addresses))
        async with self.Session() as session:
            return (await session.scalars(stmt)).unique().all()


# W9 ---------------------------------------------------------------------------------------------


@workload
class W9(OrmWorkload):
    key = "W9"
    title = "200 tasks x 20 read-modify-write transactions, pool of 10"
    target = 1.2
    defaults = {"tasks": 200, "per_task": 20, "rows": 10_000}

    def key_of(self, task: int, j: int) -> int:
        """Distinct keys for every transaction of a run: no lock waits between tasks."""
        return task * self.params["per_task"] + j + 1

    async def seed(self, conn: Any) -> None:
        need = self.params["tasks"] * self.params["per_task"]
        await schema.reset(conn, max(self.params["rows"], need))

    async def verify(self, conn: Any, result: Any) -> None:
        total = self.params["tasks"] * self.params["per_task"]
        check(result == total, f"{result} transactions, expected {total}")
        done = await conn.fetchval(
            f"SELECT count(*) FROM {USERS} WHERE fullname = 'User Number ' || id || '!'"
        )
        check(done == total, f"{done} of {total} rows updated once")

    async def fan_out(self, one: Callable[[int], Any]) -> int:
        per = self.params["per_task"]

        async def task(t: int) -> int:
            for j in range(per):
                await one(self.key_of(t, j))
            return per

        return sum(await asyncio.gather(*(task(t) for t in range(self.params["tasks"]))))


@W9.impl("asyncpg_pool")
class W9RawPool(RawPoolImpl):
    async def one(self, key: int) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            id_, name, fullname, created_at = await conn.fetchrow(SELECT_USER, key)
            user = RawUser(id_, name, fullname, created_at)
            user.fullname = (user.fullname or "") + "!"
            status = await conn.execute(
                f"UPDATE {USERS} SET fullname = $2 WHERE id = $1", user.id, user.fullname
            )
            check(status == "UPDATE 1", status)

    async def run(self) -> Any:
        return await self.workload.fan_out(self.one)  # type: ignore[attr-defined]


@W9.impl("asyncpg")
class W9Raw(W9RawPool):
    """The floor: every transaction ends with COMMIT and nothing else is left on the
    connection (no LISTEN, SET, cursors, advisory locks), so the reset is a no-op."""

    reset = staticmethod(_no_reset)


@W9.impl("heron")
class W9Heron(HeronImpl):
    async def one(self, key: int) -> None:
        async with self.Session() as session:
            user = await session.get(HeronUser, key)
            user.fullname = (user.fullname or "") + "!"
            await session.commit()

    async def run(self) -> Any:
        return await self.workload.fan_out(self.one)  # type: ignore[attr-defined]


@W9.impl("sqlalchemy")
class W9Sqlalchemy(SqlalchemyImpl):
    async def one(self, key: int) -> None:
        async with self.Session() as session:
            user = await session.get(self.User, key)
            user.fullname = (user.fullname or "") + "!"
            await session.commit()

    async def run(self) -> Any:
        return await self.workload.fan_out(self.one)  # type: ignore[attr-defined]


# -- runner ---------------------------------------------------------------------------------------

DEFAULT_SYSTEMS = ["asyncpg", "heron", "sqlalchemy"]
ALL_SYSTEMS = list(SYSTEM_REQUIRES)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _timed(impl: Impl) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = await impl.run()
    return time.perf_counter() - start, result


async def run_workload(
    cls: type[OrmWorkload],
    url: str,
    systems: list[str],
    *,
    repeat: int,
    warmup: int = 1,
    params: dict[str, Any] | None = None,
    profile: str | None = None,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """Seed, run (timed), verify -- ``repeat`` interleaved rounds over ``systems``."""
    wl = cls(url, params)
    out: dict[str, Any] = {
        "title": cls.title,
        "target": cls.target,
        "params": dict(wl.params),
        "systems": {},
        "skipped": {},
    }
    impls: dict[str, Impl] = {}
    for system in systems:
        impl_cls = cls.impls.get(system)
        missing = missing_modules(system)
        if impl_cls is None:
            if system in DEFAULT_SYSTEMS:
                out["skipped"][system] = "no implementation"
        elif missing:
            out["skipped"][system] = f"not installed: {', '.join(missing)}"
        else:
            impls[system] = impl_cls(wl)
    for system, why in out["skipped"].items():
        progress(f"[{cls.key}] skipping {system}: {why}")
    admin = await asyncpg.connect(url)
    opened: list[Impl] = []
    try:
        await schema.create_schema(admin)
        for system, impl in list(impls.items()):
            try:
                await impl.open()
                opened.append(impl)
                for _ in range(warmup):
                    await wl.seed(admin)
                    await wl.verify(admin, await impl.run())
                out["systems"][system] = {"samples": []}
            except Exception as error:  # report it, keep the other systems going
                out["systems"][system] = {"error": f"{type(error).__name__}: {error}"}
                progress(f"[{cls.key}] {system} failed: {type(error).__name__}: {error}")
                del impls[system]
        for rnd in range(1, repeat + 1):
            for system, impl in list(impls.items()):
                await wl.seed(admin)
                try:
                    seconds, result = await _timed(impl)
                    await wl.verify(admin, result)
                except Exception as error:
                    out["systems"][system] = {"error": f"{type(error).__name__}: {error}"}
                    progress(f"[{cls.key}] {system} failed: {type(error).__name__}: {error}")
                    del impls[system]
                    continue
                del result
                out["systems"][system]["samples"].append(seconds)
                progress(f"[{cls.key}] round {rnd}/{repeat} {system:<16} {seconds * 1000:9.1f} ms")
        if profile is not None and profile in impls:
            await _profile(wl, impls[profile], admin, profile, profile_dir or Path("."))
    finally:
        for impl in opened:
            await impl.close()
        await schema.drop_schema(admin)
        await admin.close()
    base = out["systems"].get(BASELINE, {}).get("samples")
    base_median = statistics.median(base) if base else None
    for data in out["systems"].values():
        samples = data.get("samples")
        if not samples:
            continue
        data["median"] = statistics.median(samples)
        data["min"] = min(samples)
        data["max"] = max(samples)
        data["ratio"] = data["median"] / base_median if base_median else None
    return out


def _dump(profiler: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(path))


async def _profile(
    wl: OrmWorkload, impl: Impl, admin: Any, system: str, directory: Path, runs: int = 3
) -> None:
    """cProfile ``runs`` extra runs of ``impl`` (after the timed rounds, so timings are
    unaffected); dump the stats and print the hottest heron functions to stderr."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    for _ in range(runs):
        await wl.seed(admin)
        gc.collect()
        profiler.enable()
        result = await impl.run()
        profiler.disable()
        await wl.verify(admin, result)
        del result
    path = directory / f"orm-{wl.key}-{system}.prof"
    _dump(profiler, path)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values()) / runs
    ours = [
        (tt / runs, ct / runs, nc // runs, f"{fn.split('/src/')[-1]}:{line}", name)
        for (fn, line, name), (_cc, nc, tt, ct, _callers) in stats.items()
        if "/heron/" in fn or fn.startswith("<heron")
    ]
    progress(f"[{wl.key}] {system}: profiled {total * 1000:.1f} ms/run (wrote {path})")
    progress("   self ms    cum ms    calls  function")
    for tt, ct, nc, where, name in sorted(ours, reverse=True)[:15]:
        progress(f"  {tt * 1000:8.2f}  {ct * 1000:8.2f}  {nc:7d}  {where} {name}")


def _fmt_ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f}"


def table(results: dict[str, dict[str, Any]], systems: list[str]) -> str:
    """Medians (ms), ratios to raw asyncpg, and SQLAlchemy's median over heron's."""
    header = ["workload"]
    for system in systems:
        header.append(f"{system} ms")
        if system != BASELINE:
            header.append(f"{system} x")
    header += ["heron target", "sqlalchemy/heron"]
    rows = [header]
    for key, res in results.items():
        row = [f"{key} {res['title']}"]
        sysdata = res["systems"]
        for system in systems:
            data = sysdata.get(system)
            if data is None:
                row.append("skipped" if system in res["skipped"] else "-")
                if system != BASELINE:
                    row.append("")
                continue
            if "error" in data:
                row.append("FAILED")
                if system != BASELINE:
                    row.append("")
                continue
            row.append(_fmt_ms(data.get("median")))
            if system != BASELINE:
                ratio = data.get("ratio")
                row.append("" if ratio is None else f"{ratio:.2f}x")
        heron = sysdata.get("heron", {})
        ratio = heron.get("ratio")
        target = res["target"]
        if ratio is None:
            row.append(f"<= {target}x")
        else:
            row.append(f"<= {target}x {'met' if ratio <= target else 'MISSED'}")
        sa = sysdata.get("sqlalchemy", {})
        if heron.get("median") and sa.get("median"):
            row.append(f"{sa['median'] / heron['median']:.1f}x")
        else:
            row.append("")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("heron", "asyncpg", "SQLAlchemy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _parse_params(items: list[str]) -> dict[str, int]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--param wants key=value, got {item!r}")
        params[key] = int(value)
    return params


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.orm_workloads",
        description="PERFORMANCE.md's ORM workloads W1-W9: raw asyncpg vs heron vs SQLAlchemy.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL URL (default: %(default)s)")
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma list (default: %(default)s)"
    )
    parser.add_argument(
        "--systems",
        default=",".join(DEFAULT_SYSTEMS),
        help=f"comma list of {', '.join(ALL_SYSTEMS)} (default: %(default)s)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per system")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds per system first")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="e.g. --param n=1000"
    )
    parser.add_argument("--out", default="bench-results/orm.json", help="JSON output path")
    parser.add_argument(
        "--profile",
        metavar="SYSTEM",
        help="after the timed rounds, cProfile 3 more runs of SYSTEM (e.g. heron) per workload:"
        " .prof files next to --out, hottest heron functions on stderr",
    )
    return parser


async def _main(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    keys = [k.strip().upper() for k in args.workloads.split(",") if k.strip()]
    unknown = [k for k in keys if k not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workloads {unknown}; known: {', '.join(WORKLOADS)}")
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    bad = [s for s in systems if s not in SYSTEM_REQUIRES]
    if bad:
        raise SystemExit(f"unknown systems {bad}; known: {', '.join(ALL_SYSTEMS)}")
    if BASELINE not in systems:
        systems.insert(0, BASELINE)  # ratios need the floor
    params = _parse_params(args.param)
    results = {}
    for key in keys:
        results[key] = await run_workload(
            WORKLOADS[key],
            args.url,
            systems,
            repeat=args.repeat,
            warmup=args.warmup,
            params=params,
            profile=args.profile,
            profile_dir=Path(args.out).parent,
        )
    return results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    url = args.url.replace("postgresql+asyncpg://", "postgresql://", 1)
    args.url = url
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    results = asyncio.run(_main(args))
    shown = [s for s in ALL_SYSTEMS if any(s in r["systems"] for r in results.values())]
    print(table(results, shown))
    for key, res in results.items():
        for system, why in res["skipped"].items():
            print(f"note: {key} {system} skipped ({why})")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "started": started,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "database": url.split("@")[-1],  # never store credentials
        "versions": _versions(),
        "machine": platform.platform(),
        "unit": "seconds",
    }
    path.write_text(json.dumps({"meta": meta, "workloads": results}, indent=2) + "\n")
    progress(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
