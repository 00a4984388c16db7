"""Attribute descriptors and instrumented collections; they never perform I/O.

Layer 4 (orm). Column attributes are *non-data* descriptors: a loaded value
lives in the instance ``__dict__`` and is read at plain-attribute speed; the
descriptor only runs when the value is missing, which is exactly when an
unloaded attribute must raise (PERFORMANCE.md). Writes are seen by
``MappedBase.__setattr__`` (decl.py), which saves the committed value once.
Relationship attributes are data descriptors: setting one keeps the other
side of a ``back_populates`` pair in sync in memory, never loading anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, SupportsIndex, TypeVar, overload

from heron import exc
from heron.orm.relationships import Direction
from heron.orm.state import NO_VALUE, STATE_KEY, InstanceState, create_state, instance_state
from heron.sql.elements import ColumnOperators

_new_list = list.__new__

if TYPE_CHECKING:
    from heron.orm.mapper import Mapper
    from heron.orm.relationships import RelationshipProperty
    from heron.sql.schema import Column

T = TypeVar("T")


def unloaded_error(obj: object, key: str, state: InstanceState | None) -> exc.HeronError:
    """Build the error for reading attribute ``key`` that holds no value."""
    cls = type(obj).__name__
    if state is not None and state.session is None and state.key is not None:
        return exc.DetachedInstanceError(
            f"{cls}.{key} is not loaded and {cls} instance {state.identity!r} is detached "
            "(its session was closed or it was expunged); add it to a session with "
            "session.add(obj) and load it with "
            f"`await obj.awaitable_attrs.{key}` or `await session.refresh(obj, [{key!r}])`"
        )
    return exc.UnloadedAttributeError(
        f"{cls}.{key} is not loaded (attribute access never does I/O); load it with "
        f"`await obj.awaitable_attrs.{key}` or `await session.refresh(obj, [{key!r}])`, "
        "or use an eager loader option such as selectinload() when querying"
    )


class QueryableAttribute:
    """Base of the class-level attributes of a mapped class (``User.name``)."""

    is_relationship = False

    def __init__(self, class_: type, key: str) -> None:
        self.class_ = class_
        self.key = key
        self.mapper: Mapper = None  # type: ignore[assignment]  # set by the mapper

    def __repr__(self) -> str:
        return f"{self.class_.__name__}.{self.key}"


class ColumnAttribute(QueryableAttribute, ColumnOperators, Generic[T]):
    """``User.name``: a SQL expression on the class; a plain value on instances."""

    def __init__(self, class_: type, key: str, column: Column[Any]) -> None:
        super().__init__(class_, key)
        self.column = column

    def __clause_element__(self) -> Column[Any]:
        return self.column

    @overload
    def __get__(self, obj: None, cls: type | None = None) -> ColumnAttribute[T]: ...
    @overload
    def __get__(self, obj: object, cls: type | None = None) -> T: ...
    def __get__(self, obj: object | None, cls: type | None = None) -> Any:
        # Only reached when the value is not in obj.__dict__ (non-data descriptor).
        if obj is None:
            return self
        state: InstanceState | None = obj.__dict__.get(STATE_KEY)
        if state is None or state.key is None:
            # transient or pending: an unset column reads as None, as in SQLAlchemy
            return None
        raise unloaded_error(obj, self.key, state)

    __hash__ = QueryableAttribute.__hash__


class RelationshipAttribute(QueryableAttribute, Generic[T]):
    """``User.addresses``: a loader-option target on the class; related objects on instances."""

    is_relationship = True

    def __init__(self, class_: type, key: str, prop: RelationshipProperty) -> None:
        super().__init__(class_, key)
        self.prop = prop

    def __join_target__(self) -> tuple[Any, Any]:
        """``select(User).join(User.addresses)``: the target table and the ON clause."""
        from heron.sql import and_

        prop = self.prop
        if not prop.configured:
            self.mapper.registry.configure()
        target = prop.mapper_target
        assert target is not None
        if prop.secondary is not None:
            raise exc.ArgumentError(
                f"join({self}) crosses the secondary table {prop.secondary.name}; join it "
                "explicitly: .join(secondary).join(Target)"
            )
        on = and_(*[ref == fk for ref, fk in prop.pairs])
        return target.table, on

    @overload
    def __get__(self, obj: None, cls: type | None = None) -> RelationshipAttribute[T]: ...
    @overload
    def __get__(self, obj: object, cls: type | None = None) -> T: ...
    def __get__(self, obj: object | None, cls: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        try:
            return d[self.key]
        except KeyError:
            pass
        state: InstanceState | None = d.get(STATE_KEY)
        prop = self.prop
        if (
            state is None
            or state.key is None
            or (state.insert_order and prop.direction is not Direction.MANYTOONE)
        ):
            # A new object (or one this session just inserted) has no related
            # rows but those already linked to it: start empty.
            value: Any = InstrumentedList(obj, prop) if prop.uselist else None
            if prop.uselist:
                d[self.key] = value
                if state is not None and state.pending_backrefs:
                    _apply_pending(state, obj, prop, value)
            return value
        if prop.lazy == "noload":
            value = InstrumentedList(obj, prop) if prop.uselist else None
            d[self.key] = value
            return value
        if (
            state.session is not None
            and prop.lazy != "raise"
            and not (state.raise_keys and self.key in state.raise_keys)
        ):
            found, target = prop.resolve_from_identity_map(state, obj)
            if found:
                d[self.key] = target
                return target
        raise unloaded_error(obj, self.key, state)

    def __set__(self, obj: object, value: Any) -> None:
        prop = self.prop
        if prop.viewonly:
            raise exc.InvalidRequestError(
                f"{self} is viewonly=True; change the relationship that owns the "
                "foreign key instead"
            )
        if prop.uselist:
            set_collection(obj, prop, value)
        else:
            set_scalar(obj, prop, value, fire=True)

    def __delete__(self, obj: object) -> None:
        self.__set__(obj, [] if self.prop.uselist else None)


# -- change recording ------------------------------------------------------


def _note_change(obj: object, state: InstanceState | None, key: str, old: Any) -> None:
    """Remember ``key``'s committed value once and mark the instance modified."""
    if state is None:
        return
    if state.key is not None:
        committed = state.committed
        if committed is None:
            committed = state.committed = {}
        if key not in committed:
            committed[key] = old
    if not state.modified:
        state.modified = True
        session = state.session
        if session is not None:
            session._hold(state, obj)


def set_scalar(obj: object, prop: RelationshipProperty, value: Any, fire: bool) -> None:
    """Set a scalar relationship, keeping the other side in sync when ``fire``."""
    d = obj.__dict__
    key = prop.key
    old = d.get(key, NO_VALUE)
    if old is value:
        return
    state = d.get(STATE_KEY)
    if state is None and fire:
        state = instance_state(obj)
    if state is not None and old is NO_VALUE and state.key is not None:
        # unloaded many-to-one: the old value is known through the foreign key only
        old_for_history: Any = NO_VALUE
        if fire and state.session is not None and prop.direction is Direction.MANYTOONE:
            # the old parent may be in the identity map (no I/O): take this
            # object out of its collection too, so both sides stay in sync
            found, previous = prop.resolve_from_identity_map(state, obj)
            if found:
                old = previous
    else:
        old_for_history = old
    _note_change(obj, state, key, old_for_history)
    d[key] = value
    if value is not None and prop.mapper_target is not None:
        _check_target(prop, value)
    if state is not None and state.session is not None and value is not None:
        if prop.cascade.save_update:
            vst = value.__dict__.get(STATE_KEY)
            if vst is None or not vst.deleted_flushed:
                state.session._cascade_add(value)
    if not fire:
        return
    back = prop.back
    if back is None:
        return
    if old is not NO_VALUE and old is not None:
        if back.uselist:
            _collection_remove_quiet(old, back, obj)
        else:
            set_scalar(old, back, None, fire=False)
    if value is not None:
        if back.uselist:
            _collection_append_quiet(value, back, obj)
        else:
            prev = value.__dict__.get(back.key, NO_VALUE)
            if prev is not NO_VALUE and prev is not None and prev is not obj:
                set_scalar(prev, prop, None, fire=False)
            set_scalar(value, back, obj, fire=False)


def _check_target(prop: RelationshipProperty, value: Any) -> None:
    target_cls = prop.mapper_target.class_  # type: ignore[union-attr]
    if not isinstance(value, target_cls):
        raise exc.ArgumentError(f"{prop} expects a {target_cls.__name__} instance, got {value!r}")


def _collection_append_quiet(owner: object, prop: RelationshipProperty, member: object) -> None:
    """Append ``member`` to ``owner``'s collection without firing back; defer if unloaded."""
    d = owner.__dict__
    coll = d.get(prop.key)
    if coll is None:
        state = d.get(STATE_KEY)
        if state is None or state.key is None or state.insert_order:
            coll = InstrumentedList(owner, prop)
            d[prop.key] = coll
            if state is not None and state.pending_backrefs:
                _apply_pending(state, owner, prop, coll)
        else:
            _defer(owner, state, prop, "append", member)
            return
    if member not in coll._members():
        coll._append_raw(member)


def _collection_remove_quiet(owner: object, prop: RelationshipProperty, member: object) -> None:
    d = owner.__dict__
    coll = d.get(prop.key)
    if coll is None:
        state = d.get(STATE_KEY)
        if state is not None and state.key is not None:
            _defer(owner, state, prop, "remove", member)
        return
    coll._remove_raw(member)


def _defer(
    owner: object, state: InstanceState, prop: RelationshipProperty, op: str, member: object
) -> None:
    """Remember a change to an unloaded collection; applied when it is loaded."""
    if state.pending_backrefs is None:
        state.pending_backrefs = {}
    state.pending_backrefs.setdefault(prop.key, []).append((op, member))
    if not state.modified:
        state.modified = True
        if state.session is not None:
            state.session._hold(state, owner)


def _apply_pending(
    state: InstanceState, owner: object, prop: RelationshipProperty, coll: InstrumentedList
) -> None:
    ops = state.pending_backrefs.pop(prop.key, None) if state.pending_backrefs else None
    if not ops:
        return
    for op, member in ops:
        if op == "append":
            if member not in coll._members():
                coll._append_raw(member)
        else:
            coll._remove_raw(member)


def install_loaded_collection(
    owner: object, prop: RelationshipProperty, items: list[Any]
) -> InstrumentedList:
    """Put a freshly loaded collection on ``owner``, replaying deferred changes."""
    coll = InstrumentedList(owner, prop, items)
    install_collection(owner, prop, coll)
    return coll


def install_collection(owner: object, prop: RelationshipProperty, coll: InstrumentedList) -> None:
    """Put the loaded collection ``coll`` (owned by ``owner``) on it, replaying deferred changes."""
    d = owner.__dict__
    d[prop.key] = coll
    state = d.get(STATE_KEY)
    if state is not None and state.pending_backrefs:
        _apply_pending(state, owner, prop, coll)


def install_collections(prop: RelationshipProperty, colls: Iterable[InstrumentedList]) -> None:
    """``install_collection`` for many loaded collections, each on its ``_owner``."""
    key = prop.key
    # hot path: benchmarks W7/W8 (one per parent); deferred changes are rare
    for coll in colls:
        owner = coll._owner
        d = owner.__dict__
        d[key] = coll
        state = d.get(STATE_KEY)
        if state is not None and state.pending_backrefs:
            _apply_pending(state, owner, prop, coll)


def new_collection(
    owner: object, prop: RelationshipProperty, items: list[Any] | None = None
) -> InstrumentedList:
    """An ``InstrumentedList`` built without ``__init__`` (no events; loaders fill it raw)."""
    coll: InstrumentedList = _new_list(InstrumentedList)
    coll._owner = owner
    coll._prop = prop
    if items:
        list.extend(coll, items)
    return coll


def set_collection(obj: object, prop: RelationshipProperty, value: Any) -> None:
    """Whole assignment of a collection: the difference is recorded and fired."""
    # a list passes without the ABC check (hot path: benchmarks W2, User(addresses=[...]))
    if type(value) is not list and (
        value is None or isinstance(value, (str, bytes)) or not isinstance(value, Iterable)
    ):
        raise exc.ArgumentError(
            f"{prop} is a collection; assign a list of {prop.target_name} objects, not {value!r}"
        )
    new_items = list(value)
    d = obj.__dict__
    old = d.get(prop.key)
    state = d.get(STATE_KEY) or create_state(obj)
    if old is None and state.key is not None:
        # Replacing an unloaded collection: we cannot know what it held without I/O.
        raise exc.UnloadedAttributeError(
            f"{prop} is not loaded, so assigning a new collection cannot tell which rows to "
            f"detach; load it first with `await obj.awaitable_attrs.{prop.key}`"
        )
    old_items = list(old) if old is not None else []
    coll = old if old is not None else new_collection(obj, prop)
    coll._record(state)
    list.clear(coll)
    list.extend(coll, new_items)
    d[prop.key] = coll
    if not old_items:
        coll._fire_append_many(new_items)
        return
    old_ids = {id(o) for o in old_items}
    new_ids = {id(o) for o in new_items}
    for o in old_items:
        if id(o) not in new_ids:
            coll._fire_remove(o)
    for o in new_items:
        if id(o) not in old_ids:
            coll._fire_append(o)


class InstrumentedList(list[Any]):
    """A list that records appends and removals and keeps back-references in sync.

    The committed contents are copied once, on the first change after a load
    or flush, so history is ``current`` versus that copy.
    """

    __slots__ = ("_owner", "_prop")

    def __init__(
        self, owner: object, prop: RelationshipProperty, items: Iterable[Any] = ()
    ) -> None:
        super().__init__(items)
        self._owner = owner
        self._prop = prop

    # raw helpers: no events
    def _members(self) -> set[int]:
        return {id(o) for o in self}

    def _record(self, state: InstanceState | None = None) -> None:
        owner = self._owner
        if state is None:
            state = owner.__dict__.get(STATE_KEY)
            if state is None:
                state = instance_state(owner)
        key = self._prop.key
        if state.key is not None and (state.committed is None or key not in state.committed):
            _note_change(owner, state, key, list(self))
        elif not state.modified:
            _note_change(owner, state, key, NO_VALUE)

    def _append_raw(self, item: Any) -> None:
        self._record()
        list.append(self, item)

    def _remove_raw(self, item: Any) -> None:
        for i, o in enumerate(self):
            if o is item:
                self._record()
                list.__delitem__(self, i)
                return

    def _fire_append(self, item: Any) -> None:
        prop = self._prop
        if prop.mapper_target is not None:
            _check_target(prop, item)
        owner = self._owner
        state = owner.__dict__.get(STATE_KEY)
        if state is not None and state.session is not None and prop.cascade.save_update:
            ist = item.__dict__.get(STATE_KEY)
            if ist is None or not ist.deleted_flushed:
                state.session._cascade_add(item)
        back = prop.back
        if back is None:
            return
        if back.uselist:
            _collection_append_quiet(item, back, owner)
        else:
            prev = item.__dict__.get(back.key, NO_VALUE)
            if prev is not NO_VALUE and prev is not None and prev is not owner:
                _collection_remove_quiet(prev, prop, item)
            set_scalar(item, back, owner, fire=False)

    def _fire_append_many(self, items: list[Any]) -> None:
        """``_fire_append`` for each of ``items``, in order.

        Hot path: benchmarks W2 (``User(addresses=[...])``). The common case, a
        new owner outside a session whose new members have no state yet, sets
        each member's back-reference in place of two calls per member.
        """
        prop = self._prop
        back = prop.back
        owner = self._owner
        state = owner.__dict__.get(STATE_KEY)
        if (
            back is None
            or back.uselist
            or prop.mapper_target is None
            or (state is not None and state.session is not None and prop.cascade.save_update)
        ):
            for item in items:
                self._fire_append(item)
            return
        back_key = back.key
        target_cls = prop.mapper_target.class_
        back_cls = back.mapper_target.class_ if back.mapper_target is not None else None
        # the owner is every item's back-reference: checked once
        owner_ok = back_cls is None or isinstance(owner, back_cls)
        for item in items:
            if not isinstance(item, target_cls):
                _check_target(prop, item)  # raises, naming the relationship
            d = item.__dict__
            prev = d.get(back_key, NO_VALUE)
            if prev is not NO_VALUE and prev is not None and prev is not owner:
                _collection_remove_quiet(prev, prop, item)
            if prev is owner:
                continue  # set_scalar would find nothing to do
            if d.get(STATE_KEY) is not None:
                set_scalar(item, back, owner, fire=False)
            else:
                # set_scalar(item, back, owner, fire=False) for an item without
                # state: no history, no session to cascade into
                d[back_key] = owner
                if not owner_ok:
                    _check_target(back, owner)  # raises

    def _fire_remove(self, item: Any) -> None:
        back = self._prop.back
        if back is None:
            return
        owner = self._owner
        if back.uselist:
            _collection_remove_quiet(item, back, owner)
        elif item.__dict__.get(back.key, NO_VALUE) is owner:
            set_scalar(item, back, None, fire=False)

    # public list API
    def append(self, item: Any) -> None:
        self._record()
        list.append(self, item)
        self._fire_append(item)

    def extend(self, items: Iterable[Any]) -> None:
        for item in list(items):
            self.append(item)

    def __iadd__(self, items: Iterable[Any]) -> InstrumentedList:  # type: ignore[misc]
        self.extend(items)
        return self

    def insert(self, index: SupportsIndex, item: Any) -> None:
        self._record()
        list.insert(self, index, item)
        self._fire_append(item)

    def remove(self, item: Any) -> None:
        self._record()
        list.remove(self, item)
        self._fire_remove(item)

    def pop(self, index: SupportsIndex = -1) -> Any:
        self._record()
        item = list.pop(self, index)
        self._fire_remove(item)
        return item

    def clear(self) -> None:
        self._record()
        items = list(self)
        list.clear(self)
        for item in items:
            self._fire_remove(item)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._record()
        if isinstance(index, slice):
            old = list.__getitem__(self, index)
            new = list(value)
            list.__setitem__(self, index, new)
        else:
            old = [list.__getitem__(self, index)]
            new = [value]
            list.__setitem__(self, index, value)
        self._diff_fire(old, new)

    def __delitem__(self, index: Any) -> None:
        self._record()
        old = list.__getitem__(self, index)
        list.__delitem__(self, index)
        self._diff_fire(old if isinstance(index, slice) else [old], [])

    def _diff_fire(self, old: list[Any], new: list[Any]) -> None:
        remaining = self._members()
        for o in old:
            if id(o) not in remaining:
                self._fire_remove(o)
        old_ids = {id(o) for o in old}
        for o in new:
            if id(o) not in old_ids:
                self._fire_append(o)

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        return (list, (list(self),))

    def __repr__(self) -> str:
        return list.__repr__(self)


class AwaitableAttrs:
    """``obj.awaitable_attrs.NAME``: an awaitable that loads NAME if needed, then returns it."""

    __slots__ = ("_obj",)

    def __init__(self, obj: object) -> None:
        self._obj = obj

    def __getattr__(self, key: str) -> Any:
        obj = self._obj
        mapper: Mapper = type(obj).__mapper__  # type: ignore[attr-defined]
        if key not in mapper.all_attribute_keys:
            raise AttributeError(
                f"{type(obj).__name__} has no mapped attribute {key!r}; "
                f"mapped attributes are {sorted(mapper.all_attribute_keys)}"
            )
        return _load_attribute(obj, key)


async def _load_attribute(obj: object, key: str) -> Any:
    d = obj.__dict__
    if key in d:
        return d[key]
    state = d.get(STATE_KEY)
    if state is None or state.key is None:
        return getattr(obj, key)
    session = state.session
    if session is None:
        raise unloaded_error(obj, key, state)
    await session._load_attributes(state, obj, [key])
    return getattr(obj, key)
