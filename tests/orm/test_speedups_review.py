"""Review of heron/_speedups.c: reference counts of the C entry points, and
behaviours where the C path differs from the Python reference path.

Each test runs on both backends (``session_factory``) where a database is
needed; the direct-call tests use the extension's functions as their callers
in orm/ do.
"""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any, Optional

import pytest

from heron import select
from heron.orm import DeclarativeBase, Mapped, joinedload, loading, mapped_column, selectinload
from heron.orm.state import STATE_KEY

from .models import Address, User

needs_c = pytest.mark.skipif(loading._speedups is None, reason="heron._speedups is not loaded")
N = 2000


def _fresh(text: str) -> str:
    """A string object nothing else holds (not interned), for exact refcounts."""
    return "".join([text[:1], text[1:]])


# -- wide tables: fixed-size arrays in C ----------------------------------------

_WIDE = 70  # columns besides the key: more than Spec.idx[64] holds
_VERY_WIDE = 300  # more than gather()'s lists[256]


class WideBase(DeclarativeBase):
    pass


def _wide_class(name: str, table: str, n: int) -> Any:
    ns: dict[str, Any] = {
        "__tablename__": table,
        "__annotations__": {"id": Mapped[int]},
        "id": mapped_column(primary_key=True),
    }
    for i in range(n):
        ns["__annotations__"][f"c{i}"] = Mapped[Optional[int]]  # noqa: UP045
    return type(name, (WideBase,), ns)


Wide = _wide_class("Wide", "rv_sp_wide", _WIDE)
VeryWide = _wide_class("VeryWide", "rv_sp_very_wide", _VERY_WIDE)


async def test_table_with_more_than_64_columns_loads(session_factory: Any) -> None:
    """c_spec hands the C loaders every column; parse_spec rejects more than 64
    ("bad spec", TypeError) instead of the loader falling back to Python."""
    async with session_factory() as s:
        await WideBase.metadata.create_all(s.bind)
        s.add_all([Wide(id=i, **{f"c{k}": i * k for k in range(_WIDE)}) for i in range(1, 4)])
        await s.commit()
    async with session_factory() as s:
        rows = (await s.scalars(select(Wide).order_by(Wide.id))).all()
        assert [r.id for r in rows] == [1, 2, 3]
        assert rows[2].c69 == 3 * 69
        got = await s.get(Wide, 2)
        assert got is rows[1]


async def test_table_with_more_than_256_columns_flushes(session_factory: Any) -> None:
    """persistence.insert_group gathers every column with the C gather(), which
    refuses more than 256 keys (ValueError): the flush fails where the Python
    path works."""
    async with session_factory() as s:
        await WideBase.metadata.create_all(s.bind)
        s.add_all([VeryWide(id=i, c0=i) for i in range(1, 4)])
        await s.commit()
    async with session_factory() as s:
        got = await s.get(VeryWide, 3)
        assert got is not None and got.c0 == 3 and got.c299 is None


# -- reference counts: nothing leaks, everything built is freed ---------------------


async def _seed(session_factory: Any, users: int = 5, per_user: int = 2) -> None:
    async with session_factory() as s:
        for i in range(1, users + 1):
            u = User(id=i, name=f"u{i}")
            u.addresses = [
                Address(id=i * 10 + j, email_address=f"{i}.{j}@x") for j in range(per_user)
            ]
            s.add(u)
        await s.commit()


def _counts(*objs: Any) -> list[int]:
    gc.collect()
    return [sys.getrefcount(o) for o in objs]


@needs_c
@pytest.mark.parametrize("option", ["plain", "selectin", "joined"])
async def test_loads_leak_no_references(session_factory: Any, option: str) -> None:
    """load / load_group / build_one, new and identity-mapped rows, 40 queries:
    the mapper and session get back to their counts and every instance is freed."""
    await _seed(session_factory)
    opts = {
        "plain": (),
        "selectin": (selectinload(User.addresses),),
        "joined": (joinedload(User.addresses),),
    }[option]
    async with session_factory() as s:
        stmt = select(User).order_by(User.id).options(*opts)
        # warm up: loaders generated and cached, identity maps made
        await s.scalars(stmt)
        gc.collect()
        before = _counts(User.__mapper__, Address.__mapper__, s)
        refs: list[weakref.ref[Any]] = []
        for i in range(40):  # a leak of one reference per load shows as 40
            users = (await s.scalars(stmt)).all()
            if i % 2:
                # identity-mapped rows on the next round (the `existing` callback)
                kept = users
            else:
                kept = None
            refs.extend(weakref.ref(u) for u in users)
            del users
            if kept is None:
                gc.collect()
        del kept
        after = _counts(User.__mapper__, Address.__mapper__, s)
        assert after == before
        assert all(r() is None for r in refs)
        assert not s._identity.get(User.__mapper__)
        assert not s._identity.get(Address.__mapper__)


@needs_c
def test_direct_load_calls_leak_nothing() -> None:
    """load, load_group and build_one called directly, with new rows, mapped rows,
    NULL keys, tuple rows and failing rows: exact refcounts of what is passed in."""
    sp = loading._speedups

    class Sess:
        def __init__(self) -> None:
            self._identity: dict[Any, Any] = {}

    class Obj:
        pass

    class Coll(list):  # type: ignore[type-arg]
        _owner: Any

    mapper = Sess()  # any object: the state only stores it
    session = Sess()
    k_id, k_val, back = _fresh("rv_id"), _fresh("rv_val"), _fresh("rv_back")
    sentinel, owner = object(), object()
    spec = (Obj, mapper, (k_id, k_val), (0, 1), 0)

    def keep(st: Any, obj: Any, row: Any) -> Any:
        return obj

    # the first instance fills Obj's shared-keys table (holds the key strings once)
    warm = sp.load(spec, [[0, sentinel]], session, {}, keep)[0]
    warm.__dict__[back] = None
    del warm
    shared = (mapper, session, k_id, k_val, back, sentinel, owner, spec, keep)
    before = _counts(*shared)
    for i in range(N):
        identity: dict[Any, Any] = {}
        out = sp.load(
            spec, [[i, sentinel], (i + N, sentinel), [None, sentinel]], session, identity, keep
        )
        again = sp.load(spec, [(i, sentinel)], session, identity, keep)
        assert again[0] is out[0] and out[2] is None
        refs = [weakref.ref(o) for o in out[:2]]
        coll = Coll()
        coll._owner = owner
        sp.load_group(
            spec,
            [
                [i + 2 * N, sentinel, 7],
                (i, sentinel, 7),
                [None, sentinel, 7],
                [i + 3 * N, sentinel, 8],
            ],
            session,
            identity,
            lambda st, obj, row: None,
            {7: coll},
            2,
            back,
        )
        assert coll[0].__dict__[back] is owner
        refs.append(weakref.ref(coll[0]))
        one = sp.build_one(spec, (i + 4 * N, sentinel), i + 4 * N, session, identity)
        refs.append(weakref.ref(one))
        with pytest.raises(IndexError):
            sp.load(spec, [[i + 5 * N, sentinel], [i + 6 * N]], session, identity, keep)
        with pytest.raises(AttributeError):
            sp.load_group(
                spec, [[i + 7 * N, sentinel, 7]], session, identity, keep, {7: Coll()}, 2, back
            )
        with pytest.raises(RuntimeError):
            sp.load(spec, [[i, sentinel]], session, identity, _raise)
        del out, again, coll, one, identity
        assert all(r() is None for r in refs)
    assert _counts(*shared) == before


def _raise(*args: Any) -> Any:
    raise RuntimeError("existing")


@needs_c
def test_direct_flush_helpers_leak_nothing() -> None:
    """add_new, set_keys, gather and set_columns called directly 2,000 times."""
    sp = loading._speedups

    class Obj:
        pass

    class Other:
        pass

    class Sess:
        def __init__(self) -> None:
            self._identity: dict[Any, Any] = {}

    mapper, session = Sess(), Sess()
    k1, k2 = _fresh("rv_k1"), _fresh("rv_k2")
    sentinel, owner, missing = object(), object(), object()
    warm = Obj()
    warm.__dict__[k1] = warm.__dict__[k2] = None
    shared = (mapper, session, k1, k2, sentinel, owner, missing)
    before = _counts(*shared)
    for i in range(N):
        objs: list[Any] = [Obj(), Obj(), Obj(), Other(), Obj()]
        objs[1].__dict__[k1] = owner
        objs[2].__dict__[k2] = None
        new: dict[Any, Any] = {}
        assert sp.add_new(objs, 0, Obj, mapper, (k1, k2), owner, session, new, 10) == (3, 13)
        objs[4].__dict__[k1] = sentinel
        assert sp.add_new(objs, 4, Obj, mapper, (k1, k2), owner, session, new, 13) == (4, 13)
        states = [o.__dict__[STATE_KEY] for o in objs[:3]]
        dicts = [o.__dict__ for o in objs[:3]]
        for n, d in enumerate(dicts):
            d[k1] = (i, n, sentinel)
        identity: dict[Any, Any] = {}
        assert sp.set_keys(states, dicts, k1, identity) is False
        with pytest.raises(KeyError):
            sp.set_keys(states, dicts, _fresh("rv_nokey"), identity)
        cols = sp.gather(dicts, (k1, k2), missing)
        assert cols[1] == ([missing, missing, None], 2)
        sp.set_columns(dicts, (k2, k1), ([sentinel] * 3, sentinel))
        with pytest.raises(ValueError):
            sp.set_columns(dicts, (k2,), ([sentinel],))
        refs = [weakref.ref(o) for o in objs]
        del objs, new, states, dicts, identity, cols, d
        assert all(r() is None for r in refs)
    assert _counts(*shared) == before


@needs_c
async def test_add_all_and_flush_leak_nothing(session_factory: Any) -> None:
    """Session.add_all (add_new), its cascade (add_new with an owner), the flush
    (gather, set_keys): the mappers and session keep their counts, objects go."""
    async with session_factory() as s:
        # warm up
        s.add_all([User(name="w", addresses=[Address(email_address="w")])])
        await s.commit()
        gc.collect()
        before = _counts(User.__mapper__, Address.__mapper__, s)
        refs: list[weakref.ref[Any]] = []
        for _ in range(20):
            users = [
                User(name=f"n{i}", addresses=[Address(email_address=f"{i}.{j}") for j in range(3)])
                for i in range(20)
            ]
            s.add_all(users)
            await s.commit()
            refs.extend(weakref.ref(u) for u in users)
            refs.extend(weakref.ref(a) for u in users for a in u.addresses)
            del users
        after = _counts(User.__mapper__, Address.__mapper__, s)
        assert after == before
        assert all(r() is None for r in refs)
