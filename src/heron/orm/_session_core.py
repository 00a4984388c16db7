"""The Session's core: its state, the one-task guard, connections, adding and
expunging objects, and the identity map.

Layer 4 (orm). ``Session`` (orm/session.py) is built in layers, each a class
deriving from the one before: this core, the flush (_session_flush.py),
loading and queries (_session_query.py), then transactions on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from heron import exc
from heron._util.gcpause import paused_gc
from heron.engine.connection import Connection
from heron.engine.transaction import Transaction, TransactionState
from heron.orm.loading import _speedups, entity_loader
from heron.orm.mapper import Mapper, configure_mappers
from heron.orm.relationships import RelationshipProperty
from heron.orm.state import NO_VALUE, STATE_KEY, InstanceState, _gone, instance_state
from heron.orm.transaction import _Savepoint

if TYPE_CHECKING:
    from heron.engine.engine import Engine



class _SessionCore:
    """Session state, connections, adding and expunging, the identity map.

    Every instance is a ``Session``; where a layer hands ``self`` to code typed
    for ``Session`` (states, loaders) a ``type: ignore`` says so to mypy.
    """

    def __init__(
        self,
        bind: Engine | Connection | None = None,
        *,
        autoflush: bool = True,
        expire_on_commit: bool = False,
        n_plus_one: str | None = None,
        join_transaction_mode: str = "conservative",
    ) -> None:
        if join_transaction_mode not in ("conservative", "create_savepoint"):
            raise exc.ArgumentError(
                f"join_transaction_mode={join_transaction_mode!r}: use 'conservative' or "
                "'create_savepoint'"
            )
        if n_plus_one not in (None, "raise", "warn"):
            raise exc.ArgumentError(f"n_plus_one={n_plus_one!r}: use None (off), 'warn' or 'raise'")
        self.bind = bind
        self.autoflush = autoflush
        self.expire_on_commit = expire_on_commit
        # mapper -> identity-map key (Mapper.key_of_ident) -> state
        self._identity: dict[Mapper, dict[Any, InstanceState]] = {}
        self._new: dict[InstanceState, Any] = {}
        self._deleted: dict[InstanceState, Any] = {}
        # instances with unflushed changes are held strongly; the rest weakly
        self._strong: dict[InstanceState, Any] = {}
        self._conn: Connection | None = None
        self._conn_cm: Any = None
        self._owns_conn = True
        self._txn_open = False
        self._explicit = False
        self._txn_inserted: list[InstanceState] = []
        # batches of states in _txn_inserted whose keys the database generated
        self._txn_generated: list[list[InstanceState]] = []
        self._txn_deleted: list[tuple[InstanceState, Any]] = []
        self._txn_updated: list[InstanceState] = []
        self._commit_done = False
        # one-to-many collections of deleted objects to load before the flush
        self._deferred_loads: dict[int, tuple[RelationshipProperty, list[Any]]] = {}
        self._savepoints: list[_Savepoint] = []
        self._failed: BaseException | None = None
        self._busy: str | None = None
        self._no_autoflush = 0
        self._flushing = False
        self._insert_counter = 0
        # bound to an outside Connection in "create_savepoint" mode, the
        # session's transaction is a SAVEPOINT of the caller's transaction
        self._savepoint_mode = join_transaction_mode == "create_savepoint"
        self._outer_sp: Any = None
        self.n_plus_one = n_plus_one
        self._batch_counter = 0
        self._lazy_seen: dict[tuple[int, str], int] = {}

    # -- operation guard -----------------------------------------------------
    def _enter(self, name: str, *, allow_failed: bool = False) -> None:
        if self._busy is not None:
            raise exc.TransactionStateError(
                f"this Session is busy with {self._busy}() in another task; a Session serves "
                "one task at a time — give each task its own Session (sessionmaker())"
            )
        if self._failed is not None and not allow_failed:
            raise exc.PendingRollbackError(
                f"this Session's transaction was rolled back after an error during flush "
                f"({type(self._failed).__name__}: {self._failed}); call "
                "`await session.rollback()` before using it again"
            )
        self._busy = name

    def _leave(self) -> None:
        self._busy = None

    # -- connections ----------------------------------------------------------
    async def _connection(self, write: bool) -> Connection:
        conn = self._conn
        if conn is None:
            bind = self.bind
            if bind is None:
                raise exc.InvalidRequestError(
                    "this Session has no bind; create it with Session(engine) or "
                    "sessionmaker(engine)"
                )
            if isinstance(bind, Connection):
                conn = bind
                self._owns_conn = False
            else:
                # autobegin off: reads before the first write need no BEGIN/ROLLBACK
                conn = await Connection(bind, autobegin=False).start()
                self._owns_conn = True
            self._conn = conn
        if (write or self._explicit) and not self._txn_open:
            if self._savepoint_mode and not self._owns_conn:
                self._outer_sp = await conn.begin_nested()
            elif not conn.in_transaction():
                await conn.begin()
            self._txn_open = True
        return conn

    async def _release(self, commit: bool) -> None:
        conn = self._conn
        if conn is None:
            self._txn_open = False
            return
        self._commit_done = False
        try:
            if self._txn_open:
                target: Any = self._outer_sp if self._outer_sp is not None else conn
                self._outer_sp = None
                if commit:
                    tx = target if isinstance(target, Transaction) else conn.get_transaction()
                    try:
                        await target.commit()
                    finally:
                        # COMMIT is shielded from cancellation: it may have
                        # completed even when the await was cancelled
                        self._commit_done = tx is None or tx.state is TransactionState.COMMITTED
                else:
                    await target.rollback()
            elif commit:
                self._commit_done = True
        finally:
            self._txn_open = False
            self._explicit = False
            self._savepoints.clear()
            if self._owns_conn:
                self._conn = None
                await conn.close()
            elif not commit:
                pass

    async def connection(self) -> Connection:
        """Return the session's connection, beginning its transaction."""
        return await self._connection(write=True)

    # -- adding and removing -------------------------------------------------
    def add(self, obj: object) -> None:
        """Place ``obj`` in the session (pending until flushed); cascades to related objects."""
        self._check_not_busy("add")
        self._add(obj, set())

    def add_all(self, objs: Sequence[object]) -> None:
        """Add every object of ``objs``."""
        self._check_not_busy("add_all")
        if _speedups is not None:
            self._add_all_c(objs if type(objs) is list else list(objs))
            return
        seen: set[int] = set()
        new = self._new
        # the mapper (and its checks) of the previous object's class, reused
        # while the class repeats
        last_cls: Any = None
        mapper: Any = None
        cascade_keys: frozenset[str] = frozenset()
        with paused_gc(len(objs)):
            # hot path: benchmarks W1. New objects of a configured mapper with no
            # related objects set need only a state; everything else takes _add.
            # the counter lives in a local while this loop owns it
            counter = self._insert_counter
            try:
                for obj in objs:
                    cls = type(obj)
                    if cls is not last_cls:
                        mapper = getattr(cls, "__mapper__", None)
                        if mapper is None or not mapper.registry.configured:
                            last_cls = None
                            counter = self._add_counted(obj, seen, counter)
                            continue
                        last_cls = cls
                        cascade_keys = mapper.save_update_keys
                    d = obj.__dict__
                    if STATE_KEY in d or not cascade_keys.isdisjoint(d):
                        counter = self._add_counted(obj, seen, counter)
                        continue
                    st = InstanceState(obj, _gone)
                    st.mapper = mapper
                    st.key = None
                    st.committed = None
                    st.modified = False
                    st.deleted_flushed = False
                    counter += 1
                    st.insert_order = counter
                    st.session = self  # type: ignore[assignment]
                    d[STATE_KEY] = st
                    new[st] = obj
            finally:
                self._insert_counter = counter

    def _add_all_c(self, objs: list[object]) -> None:
        """``add_all`` over the C loop (heron/_speedups.c ``add_new``): runs of new
        objects of one configured mapper with nothing to cascade get their
        states in C; any other object takes ``_add``, as in the Python loop."""
        add_new = _speedups.add_new
        seen: set[int] = set()
        new = self._new
        n = len(objs)
        with paused_gc(n):
            counter = self._insert_counter
            try:
                i = 0
                while i < n:
                    obj = objs[i]
                    cls = type(obj)
                    mapper = getattr(cls, "__mapper__", None)
                    if mapper is not None and mapper.registry.configured:
                        i, counter = add_new(
                            objs, i, cls, mapper, mapper.save_update_key_tuple, None, self, new,
                            counter,
                        )
                        if i == n:
                            break
                        obj = objs[i]
                        if type(obj) is not cls:
                            continue  # another class: its own run
                        st = obj.__dict__.get(STATE_KEY)
                        if (
                            st is not None
                            and st.session is None
                            and st.key is None
                            and st.mapper is mapper
                        ):
                            # transient with a state (made when a collection was
                            # assigned at construction: W2): _add's attach
                            # path, then its save-update cascade
                            seen.add(id(obj))
                            counter += 1
                            st.insert_order = counter
                            st.session = self
                            new[st] = obj
                            self._insert_counter = counter
                            self._cascade_save(obj, mapper, seen)
                            counter = self._insert_counter
                            i += 1
                            continue
                    counter = self._add_counted(objs[i], seen, counter)
                    i += 1
            finally:
                self._insert_counter = counter

    def _add_counted(self, obj: object, seen: set[int], counter: int) -> int:
        """``_add`` from inside add_all's loop, which keeps the insert counter in a local."""
        self._insert_counter = counter
        try:
            self._add(obj, seen)
        finally:
            counter = self._insert_counter
        return counter

    def _check_not_busy(self, name: str) -> None:
        if self._busy is not None and not self._flushing:
            raise exc.TransactionStateError(
                f"{name}() called while this Session is busy with {self._busy}() in another "
                "task; a Session serves one task at a time"
            )

    def _add(self, obj: object, seen: set[int]) -> None:
        oid = id(obj)
        if oid in seen:
            return
        seen.add(oid)
        # hot path: benchmarks W2 (new objects cascaded from their parents)
        d = getattr(obj, "__dict__", None)
        st = d.get(STATE_KEY) if d is not None else None
        if st is None and d is not None:
            mapper = getattr(type(obj), "__mapper__", None)
            if mapper is not None and mapper.registry.configured:
                # InstanceState(obj, mapper), with this session's fields set at once
                st = InstanceState(obj, _gone)
                st.mapper = mapper
                st.key = None
                st.committed = None
                st.modified = False
                st.deleted_flushed = False
                self._insert_counter += 1
                st.insert_order = self._insert_counter
                st.session = self  # type: ignore[assignment]
                d[STATE_KEY] = st
                self._new[st] = obj
                if not mapper.save_update_keys.isdisjoint(d):
                    self._cascade(obj, st, "save_update", seen)
                return
        try:
            if st is None:
                st = instance_state(obj)
        except exc.ArgumentError:
            raise exc.ArgumentError(
                f"cannot add {obj!r}: {type(obj).__name__} is not a mapped class; map it by "
                "subclassing your DeclarativeBase with a __tablename__"
            ) from None
        mapper = st.mapper
        if not mapper.registry.configured:
            configure_mappers()
        if st.session is not None and st.session is not self:
            raise exc.InvalidRequestError(
                f"{_describe(obj)} is already attached to another Session; expunge it "
                "from that session (or close it) before adding it here"
            )
        if st.session is None:
            if st.key is None:
                self._insert_counter += 1
                st.insert_order = self._insert_counter
                st.session = self
                self._new[st] = obj
            else:
                if st.deleted_flushed:
                    raise exc.InvalidRequestError(
                        f"{_describe(obj)} was deleted; it cannot be added again. Create a new "
                        "object with the same values instead"
                    )
                imap = self._imap(mapper)
                existing = imap.get(st.key)
                if existing is not None and existing is not st and existing.obj() is not None:
                    raise exc.InvalidRequestError(
                        f"cannot re-attach {_describe(obj)}: another instance with the same "
                        "identity is already in this Session; use `await session.merge(obj)`"
                    )
                st.session = self
                imap[st.key] = st
                if st.modified or st.pending_backrefs:
                    self._strong[st] = obj
        elif st in self._deleted and st.key is not None and not st.deleted_flushed:
            pass
        self._cascade(obj, st, "save_update", seen)

    def _cascade_save(self, obj: object, mapper: Mapper, seen: set[int]) -> None:
        """The save-update cascade of ``obj`` (in this session; its mapper configured).

        ``_cascade(obj, st, "save_update", seen)`` with ``_add``'s new-object
        path inlined. Hot path: benchmarks W2 (``add_all`` of parents whose
        collections hold new children that point back at them).
        """
        d = obj.__dict__
        new = self._new
        for prop in mapper.save_update_props:
            value = d.get(prop.key, NO_VALUE)
            if value is NO_VALUE or value is None:
                continue
            # a copy of a collection: adding may change it; a scalar needs none
            members = list(value) if prop.uselist else (value,)
            # the previous member's class and its mapper's checks, reused
            last_cls: Any = None
            cmapper: Any = None
            add_new = _speedups.add_new if _speedups is not None and prop.uselist else None
            i = 0
            n = len(members)
            while i < n:
                child = members[i]
                if add_new is not None:
                    # runs of new members with nothing to cascade but the
                    # back-reference to obj: their states made in C
                    # (heron/_speedups.c add_new); the loop body below is the
                    # same path in Python, and takes every other member
                    cls = type(child)
                    cm = getattr(cls, "__mapper__", None)
                    if cm is not None and cm.registry.configured:
                        i, self._insert_counter = add_new(
                            members, i, cls, cm, cm.save_update_key_tuple, obj, self, new,
                            self._insert_counter,
                        )
                        if i == n:
                            break
                        child = members[i]
                        if type(child) is not cls:
                            continue  # another class: its own run
                i += 1
                cd = child.__dict__
                cst = cd.get(STATE_KEY)
                if cst is not None:
                    if cst.deleted_flushed or cst.session is self:
                        # already here (its own cascade ran when it came), or
                        # still in a loaded collection after its DELETE
                        continue
                    self._add(child, seen)
                    continue
                cls = type(child)
                if cls is not last_cls:
                    cmapper = getattr(cls, "__mapper__", None)
                    if cmapper is None or not cmapper.registry.configured:
                        last_cls = None
                        self._add(child, seen)
                        continue
                    last_cls = cls
                # _add's new-object path. Not recorded in ``seen``: the state
                # made here marks the child as in this session, which every
                # later visit checks first (and _add re-visits harmlessly)
                cst = InstanceState(child, _gone)
                cst.mapper = cmapper
                cst.key = None
                cst.committed = None
                cst.modified = False
                cst.deleted_flushed = False
                self._insert_counter += 1
                cst.insert_order = self._insert_counter
                cst.session = self  # type: ignore[assignment]
                cd[STATE_KEY] = cst
                new[cst] = child
                if cmapper.save_update_keys.isdisjoint(cd):
                    continue
                # the child's own cascade has nothing to do when each of its
                # related objects is None or obj itself (in this session): the
                # usual back-reference of a new child
                for cprop in cmapper.save_update_props:
                    v = cd.get(cprop.key, NO_VALUE)
                    if not (v is NO_VALUE or v is None or v is obj):
                        self._cascade_save(child, cmapper, seen)
                        # the cascade may have configured or changed mappers
                        last_cls = None
                        break

    def _cascade(self, obj: object, st: InstanceState, kind: str, seen: set[int]) -> None:
        d = obj.__dict__
        mapper = st.mapper
        if kind == "save_update" and mapper.registry.configured:
            if st.session is self:
                self._cascade_save(obj, mapper, seen)
                return
            props: Any = mapper.save_update_props
        else:
            props = mapper.rel_list if mapper.registry.configured else mapper.relationships.values()
        for prop in props:
            if not getattr(prop.cascade, kind):
                continue
            value = d.get(prop.key, NO_VALUE)
            if value is NO_VALUE or value is None:
                continue
            # a copy of a collection: adding may change it; a scalar needs none
            members = list(value) if prop.uselist else (value,)
            for child in members:
                if kind == "save_update":
                    cst = child.__dict__.get(STATE_KEY)
                    if cst is not None and (cst.deleted_flushed or cst.session is self):
                        # already here (its own cascade ran when it came), or
                        # still in a loaded collection after its DELETE
                        continue
                    self._add(child, seen)
                elif kind == "expunge":
                    cst = child.__dict__.get(STATE_KEY)
                    if cst is not None and cst.session is self and id(child) not in seen:
                        seen.add(id(child))
                        self._expunge_state(cst, child)
                        self._cascade(child, cst, "expunge", seen)

    def _cascade_add(self, obj: object) -> None:
        """Save-update cascade from an attribute event on an object in this session."""
        st = obj.__dict__.get(STATE_KEY)
        if st is not None and st.session is self:
            return
        self._add(obj, set())

    def _hold(self, state: InstanceState, obj: object) -> None:
        """Keep an instance with unflushed changes alive until flush."""
        self._strong[state] = obj

    def expunge(self, obj: object) -> None:
        """Remove ``obj`` from the session (cascading along ``expunge`` relationships)."""
        st = instance_state(obj)
        if st.session is not self:
            raise exc.InvalidRequestError(f"{_describe(obj)} is not in this Session")
        self._expunge_state(st, obj)
        self._cascade(obj, st, "expunge", {id(obj)})

    def _expunge_state(self, st: InstanceState, obj: object) -> None:
        st.insert_order = 0
        self._new.pop(st, None)
        self._deleted.pop(st, None)
        self._strong.pop(st, None)
        self._forget_identity(st)
        st.session = None

    def _imap(self, mapper: Mapper) -> dict[Any, InstanceState]:
        """The identity map of one mapper (created on first use)."""
        imap = self._identity.get(mapper)
        if imap is None:
            imap = self._identity[mapper] = {}
        return imap

    def _identity_states(self) -> list[InstanceState]:
        """Every state in the identity map (a list: callers may change the map)."""
        return [st for imap in self._identity.values() for st in imap.values()]

    def _forget_identity(self, st: InstanceState) -> None:
        """Remove ``st`` from the identity map if it is the entry for its key."""
        if st.key is not None:
            imap = self._identity.get(st.mapper)
            if imap is not None and imap.get(st.key) is st:
                del imap[st.key]

    def expunge_all(self) -> None:
        """Detach every object from the session."""
        if self._deferred_loads:
            self._deferred_loads = {}
        for imap in self._identity.values():
            for st in list(imap.values()):
                st.session = None
                st.insert_order = 0
        for st in list(self._new):
            st.session = None
            st.insert_order = 0
        self._identity.clear()
        self._new.clear()
        self._deleted.clear()
        self._strong.clear()

    def _identity_lookup(self, mapper: Mapper, ident: tuple[Any, ...]) -> Any:
        imap = self._identity.get(mapper)
        st = imap.get(mapper.key_of_ident(ident)) if imap is not None else None
        if st is None:
            return None
        return st.obj()

    async def _load_entities(self, stmt: Any, mapper: Mapper) -> list[Any]:
        conn = await self._connection(write=False)
        result = await conn.execute(stmt)
        loader = entity_loader(mapper, 0)
        rows = result._raw_rows
        with paused_gc(len(rows)):
            return loader(rows, self, False)  # type: ignore[arg-type]


def _describe(obj: object) -> str:
    st = obj.__dict__.get(STATE_KEY) if hasattr(obj, "__dict__") else None
    ident = st.identity if st is not None else None
    return f"{type(obj).__name__}(identity={ident!r})"
