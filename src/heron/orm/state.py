"""Per-instance lifecycle and change bookkeeping.

Layer 4 (orm). An ``InstanceState`` rides in each mapped instance's
``__dict__`` under ``_heron_state``. It holds no snapshot of loaded values:
the first write to an attribute saves that attribute's committed value in
``committed`` (copy-on-write), so loading 10,000 rows costs nothing here and
a flush only looks at what changed.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from heron import exc

if TYPE_CHECKING:
    from heron.orm.mapper import Mapper
    from heron.orm.session import Session

STATE_KEY = "_heron_state"


class _NoValue:
    """Marker for 'attribute had no value' (distinct from None)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Any = _NoValue()


def _gone(state: InstanceState) -> None:
    """An instance was garbage collected: its row leaves its session's identity map.

    Only unmodified instances can go: the session holds the others strongly.
    """
    session = state.session
    if session is not None:
        key = state.key
        if key is not None:
            identity = session._identity.get(state.mapper)
            if identity is not None and identity.get(key) is state:
                del identity[key]


class History:
    """What changed on one attribute since it was loaded or last flushed."""

    __slots__ = ("added", "deleted", "unchanged")

    def __init__(self, added: list[Any], unchanged: list[Any], deleted: list[Any]) -> None:
        self.added = added
        self.unchanged = unchanged
        self.deleted = deleted

    def has_changes(self) -> bool:
        """Return True when anything was added or deleted."""
        return bool(self.added or self.deleted)

    def __iter__(self) -> Any:
        return iter((self.added, self.unchanged, self.deleted))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, History):
            return tuple(self) == tuple(other)
        if isinstance(other, tuple):
            return tuple(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"History(added={self.added!r}, unchanged={self.unchanged!r}, deleted={self.deleted!r})"
        )


class AttributeState:
    """``inspect(obj).attrs[name]``: the value and history of one attribute."""

    __slots__ = ("key", "state")

    def __init__(self, state: InstanceState, key: str) -> None:
        self.state = state
        self.key = key

    @property
    def loaded_value(self) -> Any:
        """The value in the instance, or NO_VALUE when it is not loaded."""
        obj = self.state.obj()
        if obj is None:
            return NO_VALUE
        return obj.__dict__.get(self.key, NO_VALUE)

    @property
    def value(self) -> Any:
        """The current value (raises if unloaded, exactly like attribute access)."""
        return getattr(self.state.obj(), self.key)

    @property
    def history(self) -> History:
        """Added / unchanged / deleted values since load or the last flush."""
        return self.state.mapper.attribute_history(self.state, self.key)


class _Attrs:
    __slots__ = ("state",)

    def __init__(self, state: InstanceState) -> None:
        self.state = state

    def __getitem__(self, key: str) -> AttributeState:
        if key not in self.state.mapper.all_attribute_keys:
            raise KeyError(key)
        return AttributeState(self.state, key)

    def __getattr__(self, key: str) -> AttributeState:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def keys(self) -> list[str]:
        return list(self.state.mapper.all_attribute_keys)

    def __iter__(self) -> Any:
        return (AttributeState(self.state, k) for k in self.state.mapper.all_attribute_keys)


# what an unset slot of InstanceState reads as
_SLOT_DEFAULTS: dict[str, Any] = {
    "committed": None,
    "modified": False,
    "deleted_flushed": False,
    "insert_order": 0,
    "key": None,
    "session": None,
}


class InstanceState(weakref.ref):  # type: ignore[type-arg]
    """Lifecycle state of one mapped instance.

    The five states of the seeds follow from three facts: whether the instance
    has an identity key (a row), whether a session holds it, and whether its
    deletion was flushed.

    The state *is* the weak reference to its instance (``state()`` or
    ``state.obj()`` returns it, or None once collected): the identity map
    holds states, so instances it does not otherwise keep alive can go, and
    one object per row serves as both bookkeeping and reference.
    """

    # The fields every state sets, and the two an attribute write sets, are
    # slots (every creator initialises them). The rest are class-level
    # defaults: an instance gets its own (lazily created) __dict__ only when
    # one of them is first written, so loading 10,000 rows or changing one
    # column of each allocates nothing per state beyond the state itself
    # (PERFORMANCE.md: ~1.2 us per object for all ORM work on load).
    __slots__ = (
        "__dict__",
        "committed",
        "deleted_flushed",
        "insert_order",
        "key",
        "mapper",
        "modified",
        "session",
    )
    # identity semantics: a weakref would otherwise compare and hash its referent
    __hash__ = object.__hash__

    mapper: Mapper
    # the identity-map key (Mapper.key_of_ident); None before the row exists
    key: Any
    session: Session | None
    # > 0 for rows this session inserted (their collections start known-empty)
    insert_order: int
    # attribute key -> value before the first unflushed change
    committed: dict[str, Any] | None
    # True while the instance has unflushed changes (the session holds it strongly)
    modified: bool
    expired_keys: set[str] | None = None
    # True once its DELETE was flushed
    deleted_flushed: bool
    # relationship key -> list of ("append"|"remove", obj) applied when loaded
    pending_backrefs: dict[str, list[tuple[str, Any]]] | None = None
    # relationship keys a raiseload() option forbids loading
    raise_keys: set[str] | None = None
    # (query token, object count) when the session's N+1 guard is on
    load_batch: tuple[int, int] | None = None

    def __getattr__(self, name: str) -> Any:
        # Only reached for a slot its creator left unset (generated loaders set
        # every slot; this keeps any other creator correct, if slower).
        try:
            return _SLOT_DEFAULTS[name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    @property
    def obj(self) -> InstanceState:
        """The weak reference itself: ``state.obj()`` returns the instance (or None)."""
        return self

    # -- the five states ---------------------------------------------------
    @property
    def transient(self) -> bool:
        """No row and no session."""
        return self.key is None and self.session is None

    @property
    def pending(self) -> bool:
        """Added to a session, not yet flushed."""
        return self.key is None and self.session is not None

    @property
    def persistent(self) -> bool:
        """Has a row and a session, and is not deleted."""
        return self.key is not None and self.session is not None and not self.deleted_flushed

    @property
    def deleted(self) -> bool:
        """Its DELETE was flushed; the transaction has not committed yet."""
        return self.key is not None and self.session is not None and self.deleted_flushed

    @property
    def detached(self) -> bool:
        """Has a row but no session."""
        return self.key is not None and self.session is None

    @property
    def was_deleted(self) -> bool:
        """True once its DELETE was flushed (also after commit, when detached)."""
        return self.deleted_flushed

    # -- identity ----------------------------------------------------------
    @property
    def identity(self) -> tuple[Any, ...] | None:
        """Primary-key values as a tuple, or None before the row exists."""
        if self.key is None:
            return None
        return self.mapper.ident_of_key(self.key)

    @property
    def identity_key(self) -> tuple[Any, ...] | None:
        """``(class, identity)``: the keys of ``Session.identity_map``."""
        if self.key is None:
            return None
        return (self.mapper.class_, self.mapper.ident_of_key(self.key))

    @property
    def object(self) -> Any:
        """The instance (None if it was garbage collected)."""
        return self.obj()

    @property
    def expired_attributes(self) -> set[str]:
        """Names of attributes that were expired and are not loaded yet."""
        return set(self.expired_keys) if self.expired_keys else set()

    @property
    def unloaded(self) -> set[str]:
        """Attribute names with no value in the instance."""
        obj = self.obj()
        if obj is None:
            return set()
        d = obj.__dict__
        return {k for k in self.mapper.all_attribute_keys if k not in d}

    @property
    def attrs(self) -> _Attrs:
        """Per-attribute view: ``state.attrs["name"].history``."""
        return _Attrs(self)

    @property
    def has_identity(self) -> bool:
        """True when the instance has a row (persistent, deleted or detached)."""
        return self.key is not None

    @property
    def class_(self) -> type:
        """The mapped class."""
        return self.mapper.class_

    def __repr__(self) -> str:
        for name in ("transient", "pending", "persistent", "deleted", "detached"):
            if getattr(self, name):
                break
        return f"<InstanceState {self.mapper.class_.__name__} {name} key={self.key!r}>"


def instance_state(obj: object) -> InstanceState:
    """Return the state of a mapped instance, creating it for a new transient one.

    Raises:
        ArgumentError: ``obj`` is not an instance of a mapped class.
    """
    try:
        return obj.__dict__[STATE_KEY]  # type: ignore[no-any-return]
    except KeyError:
        return create_state(obj)
    except AttributeError:
        raise exc.ArgumentError(
            f"{obj!r} is not an instance of a mapped class; "
            "map its class by subclassing your DeclarativeBase"
        ) from None


def create_state(obj: object) -> InstanceState:
    """Give a mapped instance known to have no state yet its (transient) state.

    ``instance_state`` without the failed lookup: for callers that looked
    already (``d.get(STATE_KEY)``), a raised KeyError being the costly part.

    Raises:
        ArgumentError: ``obj``'s class is not mapped.
    """
    mapper = getattr(type(obj), "__mapper__", None)
    if mapper is None:
        raise exc.ArgumentError(
            f"{type(obj).__name__} is not a mapped class; "
            "map it by subclassing your DeclarativeBase and giving it a __tablename__"
        )
    state = new_state(obj, mapper)
    obj.__dict__[STATE_KEY] = state
    return state


def new_state(obj: object, mapper: Mapper) -> InstanceState:
    """A transient state for ``obj`` (not yet stored in its ``__dict__``).

    ``InstanceState`` has no Python ``__new__``/``__init__``: calling the
    class runs weakref's own C constructor (``InstanceState(obj, _gone)``),
    which the generated loaders do directly (hot path: one per row), and
    every creator sets each slot itself.
    """
    st = InstanceState(obj, _gone)
    st.insert_order = 0
    st.committed = None
    st.modified = False
    st.deleted_flushed = False
    st.mapper = mapper
    st.key = None
    st.session = None
    return st


def state_or_none(obj: object) -> InstanceState | None:
    """Return the state of ``obj`` if it already has one."""
    d = getattr(obj, "__dict__", None)
    if d is None:
        return None
    return d.get(STATE_KEY)  # type: ignore[no-any-return]
