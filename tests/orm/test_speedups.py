"""The C row loops (heron/_speedups.c) against the generated Python loaders.

orm/loading.py uses the C loops when the extension imports (and the primary
key is one column); the generated Python loaders are the reference. The whole
ORM suite also runs once more with ``HERON_NO_SPEEDUPS=1`` (scripts/run.sh
test), so every behaviour is checked on both paths; these tests compare the
two directly, on both backends, and check that the C code keeps no stray
references.
"""

from __future__ import annotations

import gc
import inspect
import os
import sys
import weakref
from typing import Any

import pytest

from heron import ForeignKey, insert, select, update
from heron.orm import (
    DeclarativeBase,
    Mapped,
    joinedload,
    loading,
    mapped_column,
    relationship,
    selectinload,
)
from heron.orm.state import STATE_KEY

from .models import Address, User

SLOTS = ("insert_order", "committed", "modified", "deleted_flushed", "mapper", "key", "session")


def test_extension_is_built_on_ci() -> None:
    """CI measures and tests the C path: the extension must have been compiled."""
    if loading._speedups is None:
        if os.environ.get("HERON_NO_SPEEDUPS"):
            pytest.skip("HERON_NO_SPEEDUPS is set: the Python loaders run")
        if os.environ.get("CI") == "true":
            pytest.fail("heron._speedups was not built (no C compiler?); see setup.py")
        pytest.skip("heron._speedups is not built here (no C compiler); Python loaders run")
    import heron._speedups  # noqa: F401


needs_c = pytest.mark.skipif(loading._speedups is None, reason="heron._speedups is not loaded")


async def _seed(session_factory: Any, users: int = 30, per_user: int = 3) -> None:
    async with session_factory() as s:
        await s.execute(
            insert(User),
            [
                {"id": i, "name": f"u{i}", "fullname": None if i % 2 else f"U {i}"}
                for i in range(1, users + 1)
            ],
        )
        await s.execute(
            insert(Address),
            [
                {"id": i * 10 + j, "email_address": f"{i}.{j}@x", "user_id": i}
                for i in range(1, users + 1)
                for j in range(per_user)
            ],
        )
        await s.commit()


def _snapshot(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """An instance's loaded values (related objects by identity) and its state's slots."""
    d = obj.__dict__
    values: dict[str, Any] = {}
    for k, v in d.items():
        if k == STATE_KEY:
            continue
        if isinstance(v, list):
            values[k] = sorted(o.id for o in v)
        elif hasattr(v, "__mapper__"):
            values[k] = ("->", type(v).__name__, v.id)
        else:
            values[k] = v
    st = d[STATE_KEY]
    slots = {name: getattr(st, name) for name in SLOTS}
    slots["session"] = slots["session"] is not None
    return values, slots


async def _load_all(session_factory: Any, option: Any) -> list[Any]:
    out = []
    async with session_factory() as s:
        users = (await s.scalars(select(User).order_by(User.id).options(option))).all()
        for u in users:
            out.append(_snapshot(u))
            out.extend(_snapshot(a) for a in sorted(u.addresses, key=lambda a: a.id))
    return out


@needs_c
@pytest.mark.parametrize("strategy", ["selectin", "joined"])
async def test_c_loops_build_what_python_builds(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    await _seed(session_factory)
    option = (selectinload if strategy == "selectin" else joinedload)(User.addresses)
    with_c = await _load_all(session_factory, option)
    # the same loads through freshly generated Python loaders
    monkeypatch.setattr(loading, "_speedups", None)
    for mapper in (User.__mapper__, Address.__mapper__):
        monkeypatch.setattr(mapper, "loaders", {})
    import heron.orm.joined as joined

    monkeypatch.setattr(joined, "_speedups", None)
    with_python = await _load_all(session_factory, option)
    assert with_c == with_python
    assert len(with_c) == 30 * 4


async def test_c_loops_keep_no_references(session_factory: Any) -> None:
    """Instances built in C are freed once nothing holds them (no leaked reference),
    and leave their session's identity map through the weakref callback."""
    await _seed(session_factory)
    async with session_factory() as s:
        users = (await s.scalars(select(User).options(selectinload(User.addresses)))).all()
        refs = [weakref.ref(o) for u in users for o in (u, *u.addresses)]
        st = users[0].__dict__[STATE_KEY]
        # the instance's __dict__, the identity map, the local name, getrefcount's argument
        assert sys.getrefcount(st) == 4
        del users, st
        gc.collect()
        assert all(r() is None for r in refs)
        assert not s._identity.get(User.__mapper__)
        assert not s._identity.get(Address.__mapper__)


async def test_c_loop_reuses_identity_mapped_instances(session_factory: Any) -> None:
    """A row whose instance is in the identity map goes through the Python rules:
    pending changes win, expired attributes are filled, populate_existing refreshes."""
    await _seed(session_factory, users=3)
    async with session_factory() as s:
        u1 = await s.get(User, 1)
        assert u1 is not None
        u1.name = "changed"
        u2 = await s.get(User, 2)
        assert u2 is not None
        s.expire(u2, ["fullname"])
        with s.no_autoflush:
            users = (await s.scalars(select(User).order_by(User.id))).all()
        assert users[0] is u1 and users[0].name == "changed"
        assert users[1] is u2 and users[1].fullname == "U 2"
        # a change made behind the session's back shows only with populate_existing
        users_table = User.__table__
        await s.execute(update(users_table).where(users_table.c.id == 3).values(name="renamed"))
        u3 = users[2]
        with s.no_autoflush:
            await s.scalars(select(User).order_by(User.id))
        assert u3.name == "u3"
        with s.no_autoflush:
            again = (
                await s.scalars(
                    select(User).order_by(User.id).execution_options(populate_existing=True)
                )
            ).all()
        assert again[2] is u3 and u3.name == "renamed"
        assert again[0] is u1 and u1.name == "changed"  # a pending change still wins


async def test_c_loop_raises_a_driver_shape_error_cleanly(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row shorter than the loader expects raises IndexError (from C: no crash),
    and nothing half-built stays in the identity map."""
    await _seed(session_factory, users=2)
    async with session_factory() as s:
        loader = loading.entity_loader(User.__mapper__, 0)
        with pytest.raises(IndexError):
            loader([(5, "x")], s, False)
        assert 5 not in s._identity.get(User.__mapper__, {})


@needs_c
def test_mapped_classes_construct_through_the_c_init() -> None:
    """The generated keyword __init__ runs in C (its Python source stays as
    __wrapped__, for inspect.signature) and keeps no references."""
    init = User.__dict__["__init__"]
    assert type(init).__name__ == "Init"
    assert "name" in inspect.signature(User).parameters
    value = "a value only this test holds"
    before = sys.getrefcount(value)
    users = [User(name=value, addresses=[Address(email_address=value)]) for _ in range(500)]
    assert sys.getrefcount(value) == before + 1000
    assert all(u.addresses[0].user is u for u in users)
    refs = [weakref.ref(u) for u in users]
    del users
    gc.collect()
    assert all(r() is None for r in refs)
    assert sys.getrefcount(value) == before


@needs_c
async def test_attribute_sets_go_through_the_c_setattr(session_factory: Any) -> None:
    """DeclarativeBase.__setattr__ runs in C: history, the session's dirty set and
    expired keys behave as in Python (the whole suite checks that on both paths);
    here: it is the C one, and it keeps no references."""
    from heron.orm import DeclarativeBase

    assert type(DeclarativeBase.__dict__["__setattr__"]).__name__ == "SetAttr"
    await _seed(session_factory, users=20)
    value = "".join(["a value only ", "this test holds"])
    before = sys.getrefcount(value)
    async with session_factory() as s:
        users = (await s.scalars(select(User).order_by(User.id))).all()
        s.expire(users[0], ["fullname"])
        for u in users:
            u.fullname = value
            u.not_mapped = value  # object.__setattr__
        assert sys.getrefcount(value) == before + 40
        assert set(s.dirty) == set(users)
        assert not users[0].__dict__[STATE_KEY].expired_keys
        assert users[1].__dict__[STATE_KEY].committed == {"fullname": "U 2"}
        refs = [weakref.ref(u) for u in users]
        await s.commit()
        del users, u
    gc.collect()
    assert all(r() is None for r in refs)
    assert sys.getrefcount(value) == before


@needs_c
async def test_unloaded_picks_what_the_python_filters_pick(session_factory: Any) -> None:
    """``unloaded`` (selectin's and the deferred delete loads' filter): not loaded,
    no pending change to the key, and (when given) held; no references kept."""
    await _seed(session_factory, users=6)
    async with session_factory() as s:
        users = (await s.scalars(select(User).order_by(User.id))).all()
        await users[1].awaitable_attrs.addresses  # loaded
        users[2].__dict__[STATE_KEY].committed = {"addresses": []}  # a pending change
        held = {users[3].__dict__[STATE_KEY]: users[3], users[4].__dict__[STATE_KEY]: users[4]}
        expected_all = [
            u
            for u in users
            if "addresses" not in u.__dict__
            and not (
                u.__dict__[STATE_KEY].committed
                and "addresses" in u.__dict__[STATE_KEY].committed
            )
        ]
        before = [sys.getrefcount(u) for u in users]
        for _ in range(200):
            got = loading._speedups.unloaded(users, "addresses", None)
            assert got == expected_all
            got_held = loading._speedups.unloaded(users, "addresses", held)
            assert got_held == [u for u in expected_all if u.__dict__[STATE_KEY] in held]
        del got, got_held
        assert [sys.getrefcount(u) for u in users] == before
        users[2].__dict__[STATE_KEY].committed = None


class _OneWayBase(DeclarativeBase):
    pass


class OneWayParent(_OneWayBase):
    __tablename__ = "sp_oneway_parent"

    id: Mapped[int] = mapped_column(primary_key=True)
    # no back-reference: the children's key is pushed from the parent after its INSERT
    kids: Mapped[list[OneWayChild]] = relationship()


class OneWayChild(_OneWayBase):
    __tablename__ = "sp_oneway_child"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sp_oneway_parent.id"))


async def test_one_to_many_without_back_reference_gets_its_keys(session_factory: Any) -> None:
    """The flush's "nothing to push" check (one C pass when built) must send new
    parents whose collection has no back-reference to the row-by-row push."""
    async with session_factory() as s:
        await _OneWayBase.metadata.create_all(s.bind)
        parents = [OneWayParent(kids=[OneWayChild() for _ in range(i % 3)]) for i in range(300)]
        s.add_all(parents)
        await s.commit()
        expected = {c.id: p.id for p in parents for c in p.kids}
    assert len(expected) == 300
    async with session_factory() as s:
        rows = (await s.execute(select(OneWayChild.id, OneWayChild.parent_id))).all()
        assert dict(rows) == expected
