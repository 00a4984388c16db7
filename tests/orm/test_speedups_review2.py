"""Second review of heron/_speedups.c: the newer entry points (Init,
pull_keys, nothing_to_push, group_by_mapper, new_collections,
install_collections, mark_deleted).

Behaviour tests run with and without the extension (HERON_NO_SPEEDUPS=1):
they state the Python reference's behaviour. Reference-count tests call the
C functions the way their callers in orm/ do and skip without them.
"""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any, Optional

import pytest

from heron import ForeignKey
from heron.orm import DeclarativeBase, Mapped, loading, mapped_column, relationship
from heron.orm.instrumentation import InstrumentedList
from heron.orm.state import STATE_KEY

from .models import Address, User

needs_c = pytest.mark.skipif(loading._speedups is None, reason="heron._speedups is not loaded")
N = 2000


def _fresh(text: str) -> str:
    """A string object nothing else holds (not interned), for exact refcounts."""
    return "".join([text[:1], text[1:]])


def _counts(*objs: Any) -> list[int]:
    gc.collect()
    return [sys.getrefcount(o) for o in objs]


# -- models: a relationship added later by backref= ------------------------------


class R2Base(DeclarativeBase):
    pass


class R2Parent(R2Base):
    __tablename__ = "rv2_parent"
    id: Mapped[int] = mapped_column(primary_key=True)
    # adds R2Child.parent when mappers are configured (not a keyword of R2Child's __init__)
    children: Mapped[list[R2Child]] = relationship(backref="parent")


class R2Tag(R2Base):
    __tablename__ = "rv2_tag"
    id: Mapped[int] = mapped_column(primary_key=True)


class R2Child(R2Base):
    __tablename__ = "rv2_child"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("rv2_parent.id"))  # noqa: UP045
    tag_id: Mapped[Optional[int]] = mapped_column(ForeignKey("rv2_tag.id"))  # noqa: UP045
    tag: Mapped[R2Tag] = relationship()


# -- Init: behaviour -------------------------------------------------------------


def test_init_general_path_sets_keywords_in_reference_order() -> None:
    """A keyword the generated __init__ does not name (here a backref added at
    configure time) sends the call to DeclarativeBase.__init__. The Python
    __init__ hands it the keywords as columns, declared relationships, then the
    rest; the C Init passes the caller's order. So when a declared
    relationship's setter raises, the C path has already run the backref
    setter: the failed constructor's object is left in another object's
    collection (Python: untouched)."""
    R2Base.registry.configure()
    p = R2Parent(id=1)
    with pytest.raises(Exception, match="expects a R2Tag instance"):
        R2Child(parent=p, tag=5)  # parent: backref (rest); tag: declared, raises
    assert p.children == []


def test_init_paths_agree_with_reference() -> None:
    """What is the same on both paths: positional arguments and unknown keywords
    raise TypeError, re-init of an object with a state records history, the
    fast path writes columns then relationships in declaration order (a
    raising setter leaves the columns and earlier relationships written),
    inspect.signature and __wrapped__."""
    import inspect

    with pytest.raises(TypeError):
        User(1)
    with pytest.raises(TypeError, match="'bogus' is an invalid keyword"):
        User(name="x", bogus=1)
    sig = inspect.signature(User)
    assert list(sig.parameters)[:3] == ["fullname", "id", "name"]
    assert "addresses" in sig.parameters
    u = User(id=1, name="a")
    u.__init__(name="b")  # state? none yet: plain store
    assert u.name == "b"
    # a raising relationship setter: columns already written, like the reference
    obj = User.__new__(User)
    with pytest.raises(Exception, match="expects a Address instance"):
        obj.__init__(profile=None, addresses=[5], name="n")
    assert obj.__dict__["name"] == "n"
    assert "profile" not in obj.__dict__  # declared after addresses: not reached


# -- Init: reference counts ------------------------------------------------------


@needs_c
def test_init_leaks_nothing() -> None:
    """Init on its fast path (columns; columns and relationships), its general
    path (unknown keyword, positional argument, re-init of an object with a
    state) and with a raising relationship setter, 2,000 times."""
    User.__mapper__.registry.configure()
    init = User.__dict__["__init__"]
    assert type(init).__name__ == "Init"
    name, full, email = _fresh("rv2_name"), _fresh("rv2_full"), _fresh("rv2_email")
    marker = object()
    kw_key = _fresh("bogus")
    # warm up (shared-keys tables, caches)
    User(id=0, name=name, fullname=full, addresses=[Address(id=0, email_address=email)])
    shared = (init, User.__mapper__, User.__mapper__.registry, name, full, email, marker)
    before = _counts(*shared)
    refs: list[weakref.ref[Any]] = []
    for i in range(N):
        a = Address(id=i, email_address=email)
        u = User(id=i, name=name, fullname=full, addresses=[a])
        assert u.addresses[0] is a and a.user is u
        u2 = User(name=name)
        with pytest.raises(TypeError):
            User(**{kw_key: marker, "name": name})
        with pytest.raises(TypeError):
            User(marker, name=name)
        u.__init__(fullname=name)  # has a state: general path
        assert u.fullname is name
        with pytest.raises(Exception, match="expects a Address instance"):
            User(name=name, addresses=[marker])
        with pytest.raises(Exception, match="expects a User instance"):
            Address(email_address=email, user=marker)
        refs += [weakref.ref(a), weakref.ref(u), weakref.ref(u2)]
        del a, u, u2
    gc.collect()
    assert all(r() is None for r in refs)
    assert _counts(*shared) == before


# -- the flush / load helpers: reference counts ----------------------------------


class _Obj:
    pass


class _Sess:
    def __init__(self) -> None:
        self._identity: dict[Any, Any] = {}


def _new_states(sp: Any, objs: list[Any], mapper: Any, session: Any) -> list[Any]:
    """InstanceStates for new objects, the way Session.add_all makes them."""
    sp.add_new(objs, 0, _Obj, mapper, (), None, session, {}, 1)
    return [o.__dict__[STATE_KEY] for o in objs]


@needs_c
def test_pull_keys_and_nothing_to_push_leak_nothing() -> None:
    """pull_keys and nothing_to_push, True, False and raising, 2,000 times."""
    sp = loading._speedups
    mapper, session = _Sess(), _Sess()
    rel, fk, src, coll_key, back = (
        _fresh("rv2_rel"),
        _fresh("rv2_fk"),
        _fresh("rv2_src"),
        _fresh("rv2_coll"),
        _fresh("rv2_back"),
    )
    value = object()
    warm = _Obj()
    warm.__dict__.update({rel: None, fk: None, src: None, coll_key: None, back: None})
    shared = (mapper, session, rel, fk, src, coll_key, back, value)
    before: list[int] = []
    refs: list[weakref.ref[Any]] = []
    for n in range(N + 1):
        if n == 1:  # after one round: the class's shared-keys table is complete
            before = _counts(*shared)
        objs = [_Obj(), _Obj(), _Obj()]
        targets = [_Obj(), _Obj(), _Obj()]
        states = _new_states(sp, objs, mapper, session)
        member_states = _new_states(sp, targets, mapper, session)
        dicts = [o.__dict__ for o in objs]
        for o, t in zip(objs, targets, strict=True):
            t.__dict__[src] = value
            o.__dict__[rel] = t
        assert sp.pull_keys(states, dicts, rel, (fk,), (src,)) is True
        assert all(d[fk] is value for d in dicts)
        dicts[1][rel] = None
        assert sp.pull_keys(states, dicts, rel, (fk,), (src,)) is False
        dicts[1][rel] = 5  # no __dict__
        with pytest.raises(AttributeError):
            sp.pull_keys(states, dicts, rel, (fk,), (src,))
        # collections: each member a new object pointing back
        for o, t in zip(objs, targets, strict=True):
            o.__dict__[coll_key] = [t]
            t.__dict__[back] = o
        assert sp.nothing_to_push(states, objs, dicts, coll_key, back) is True
        targets[2].__dict__[back] = None
        assert sp.nothing_to_push(states, objs, dicts, coll_key, back) is False
        dicts[2][coll_key] = [5]
        with pytest.raises(AttributeError):
            sp.nothing_to_push(states, objs, dicts, coll_key, back)
        assert member_states[0]() is targets[0]
        refs += [weakref.ref(o) for o in [*objs, *targets]]
        del objs, targets, states, member_states, dicts, o, t
    gc.collect()  # owner <-> member cycles
    assert all(r() is None for r in refs)
    assert _counts(*shared) == before


@needs_c
def test_group_mark_deleted_and_collections_leak_nothing() -> None:
    """group_by_mapper, mark_deleted, new_collections and install_collections,
    with their error paths, 2,000 times."""
    sp = loading._speedups
    m1, m2, session, prop = _Sess(), _Sess(), _Sess(), object()
    key, coll_key = _fresh("rv2_key"), _fresh("rv2_coll")
    shared_value = (_fresh("rv2_v"), 1)
    warm = _Obj()
    warm.__dict__.update({key: None, coll_key: None})
    shared = (m1, m2, session, prop, key, coll_key, shared_value)
    before: list[int] = []
    refs: list[weakref.ref[Any]] = []
    for i in range(N + 1):
        if i == 1:  # after one round: the class's shared-keys table is complete
            before = _counts(*shared)
        objs = [_Obj() for _ in range(4)]
        states = _new_states(sp, objs[:2], m1, session) + _new_states(sp, objs[2:], m2, session)
        mixed = [states[0], states[2], states[1], states[3]]
        groups = sp.group_by_mapper(mixed)
        assert list(groups) == [m1, m2]
        assert groups[m1] == [states[0], states[1]] and groups[m2] == [states[2], states[3]]
        with pytest.raises(TypeError):
            sp.group_by_mapper([states[0], object()])
        # mark_deleted: rows in the identity map (one entry replaced: stays)
        for n, st in enumerate(states):
            st.key = (i, n)
        identity = {m1: {st.key: st for st in states[:2]}, m2: {states[2].key: states[2]}}
        identity[m2][states[3].key] = states[0]
        pairs = sp.mark_deleted(states, identity)
        assert pairs == [(st, o) for st, o in zip(states, objs, strict=True)]
        assert all(st.deleted_flushed is True for st in states)
        assert identity == {m1: {}, m2: {states[3].key: states[0]}}
        with pytest.raises(TypeError):
            sp.mark_deleted([states[0], None], identity)
        # new_collections: objs 0 and 2 share a key value, obj 3 has none
        objs[0].__dict__[key] = objs[2].__dict__[key] = shared_value
        objs[1].__dict__[key] = (i, 1)
        colls, shared_pairs = sp.new_collections(objs, key, InstrumentedList, prop)
        assert list(colls) == [shared_value, (i, 1), None]
        assert shared_pairs == [(objs[2], shared_value)]
        assert colls[None]._owner is objs[3] and colls[None]._prop is prop
        objs[1].__dict__[key] = [i]  # unhashable
        with pytest.raises(TypeError):
            sp.new_collections(objs, key, InstrumentedList, prop)
        with pytest.raises(AttributeError):
            sp.new_collections([objs[0], 5], key, InstrumentedList, prop)
        # install_collections: stops after an owner with deferred changes
        filled = list(colls.values())
        states[1].pending_backrefs = {coll_key: [("append", objs[0])]}
        assert sp.install_collections(filled, 0, coll_key) == 1
        assert sp.install_collections(filled, 2, coll_key) == 3
        assert all(c._owner.__dict__[coll_key] is c for c in filled)
        states[1].pending_backrefs = None
        with pytest.raises(AttributeError):
            sp.install_collections([*filled, []], 0, coll_key)
        refs += [weakref.ref(o) for o in objs]  # the collections: counted through prop
        del objs, states, mixed, groups, identity, pairs, colls, shared_pairs, filled, st
    gc.collect()
    assert all(r() is None for r in refs)
    assert _counts(*shared) == before
