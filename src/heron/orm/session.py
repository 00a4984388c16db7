"""Session: identity map, unit of work and transaction, for one task at a time.

Layer 4 (orm). Every method that may touch the database is a coroutine;
attribute access never is. The session takes a connection on first use and
gives it back at commit, rollback and close. It sends BEGIN only before its
first write (a flush, a DML statement, ``SELECT ... FOR UPDATE``) or when
asked with ``begin()``: a read-only session costs one round trip per query,
not three (docs/orm.md, "Transactions").
"""

from __future__ import annotations

import warnings
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, TypeVar, overload

from heron import exc
from heron._util.gcpause import paused_gc
from heron.engine.connection import Connection
from heron.engine.result import AsyncResult, AsyncScalarResult, Result
from heron.engine.transaction import Transaction, TransactionState
from heron.orm import persistence
from heron.orm import unitofwork as uow
from heron.orm.dml import execute_orm_dml
from heron.orm.instrumentation import install_loaded_collection, new_collection
from heron.orm.joined import JoinedStep, fold_one_pass, plan_joined
from heron.orm.loaders import DEFAULT_BATCH, LoadTree, apply_eager, selectin_load
from heron.orm.loading import entity_loader
from heron.orm.mapper import Mapper, configure_mappers
from heron.orm.relationships import Direction, RelationshipProperty
from heron.orm.results import _EntityResult, unique_objects
from heron.orm.state import NO_VALUE, STATE_KEY, InstanceState, _gone, instance_state
from heron.orm.stream import OrmStream
from heron.orm.transaction import _Savepoint, _SessionBegin, _SessionTransaction

if TYPE_CHECKING:
    from heron.engine.engine import Engine

T = TypeVar("T")

_new_state = weakref.ref.__new__
_state_mapper = attrgetter("mapper")
_dict_of = attrgetter("__dict__")
_call = weakref.ref.__call__
_modified_of = attrgetter("modified")
_backrefs_of = attrgetter("pending_backrefs")


def _mapper_of(entity: Any) -> Mapper:
    mapper = getattr(entity, "__mapper__", None)
    if mapper is None:
        raise exc.ArgumentError(f"{entity!r} is not a mapped class")
    return mapper  # type: ignore[no-any-return]


class Session:
    """A unit of work over one connection at a time; see DESIGN.md §5.

    Example::

        async with Session(engine) as session:
            session.add(User(name="spongebob"))
            await session.commit()
            user = await session.get(User, 1)

    Args:
        bind: the Engine (or an open Connection, which the session then uses
            without closing it) to run statements on.
        autoflush: flush pending changes before queries that reach the database.
        expire_on_commit: expire every instance after commit (default False).
        n_plus_one: N+1 guard: "warn" or "raise" when a lazy relationship is
            awaited object by object for the objects of one query (off by default).
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

    # -- context management ------------------------------------------------
    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

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
                    st = _new_state(InstanceState, obj, _gone)
                    st.mapper = mapper
                    st.key = None
                    st.committed = None
                    st.modified = False
                    st.deleted_flushed = False
                    counter += 1
                    st.insert_order = counter
                    st.session = self
                    d[STATE_KEY] = st
                    new[st] = obj
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
                st = _new_state(InstanceState, obj, _gone)
                st.mapper = mapper
                st.key = None
                st.committed = None
                st.modified = False
                st.deleted_flushed = False
                self._insert_counter += 1
                st.insert_order = self._insert_counter
                st.session = self
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
            for child in members:
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
                cst = _new_state(InstanceState, child, _gone)
                cst.mapper = cmapper
                cst.key = None
                cst.committed = None
                cst.modified = False
                cst.deleted_flushed = False
                self._insert_counter += 1
                cst.insert_order = self._insert_counter
                cst.session = self
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

    async def delete(self, obj: object) -> None:
        """Mark ``obj`` for deletion at the next flush.

        Loads what the delete cascades need: collections with ``cascade="delete"``
        and, for one-to-many relationships without it, the children whose foreign
        key must be set to NULL (unless ``passive_deletes=True``).
        """
        self._enter("delete")
        try:
            # hot path: benchmarks W6 (10,000 deletes). A persistent object of
            # this session needs no checks beyond these.
            d = getattr(obj, "__dict__", None)
            st = d.get(STATE_KEY) if d is not None else None
            if (
                st is not None
                and st.session is self
                and st.key is not None
                and not st.deleted_flushed
            ):
                self._deleted[st] = obj
                self._strong[st] = obj
                if st.mapper.delete_props:
                    cascading = self._defer_delete_loads(st, obj)
                    if cascading:
                        seen = {id(obj)}
                        for prop in cascading:
                            await self._cascade_delete(st, obj, prop, seen)
            else:
                await self._delete(obj, set())
        finally:
            self._leave()

    def _defer_delete_loads(self, st: InstanceState, obj: Any) -> list[RelationshipProperty]:
        """Queue the loads deleting ``obj`` needs; return the loaded relationships
        whose children the delete cascades to now."""
        d = obj.__dict__
        deferred = self._deferred_loads
        cascading = []
        for prop in st.mapper.delete_props:
            if prop.key not in d:
                if prop.passive_deletes:
                    continue
                # loaded just before the flush, for every deleted parent at once:
                # one IN query per batch (benchmarks W6: 10,000 deletes, not
                # 10,000 SELECTs); the flush then cascades or sets keys to NULL
                entry = deferred.get(id(prop))
                if entry is None:
                    entry = deferred[id(prop)] = (prop, [])
                entry[1].append(obj)
            elif prop.cascade.delete:
                cascading.append(prop)
        return cascading

    async def _delete(self, obj: object, seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        st = instance_state(obj)
        if st.deleted_flushed:
            return  # its DELETE was already flushed (it may linger in a loaded collection)
        if st.key is None:
            if st.session is self:
                self._expunge_state(st, obj)
                return
            raise exc.InvalidRequestError(
                f"{_describe(obj)} is not persisted; only objects loaded from or flushed "
                "to the database can be deleted"
            )
        if st.session is None:
            self._add(obj, set())
        elif st.session is not self:
            raise exc.InvalidRequestError(f"{_describe(obj)} belongs to another Session")
        self._deleted[st] = obj
        self._strong[st] = obj
        for prop in self._defer_delete_loads(st, obj):
            await self._cascade_delete(st, obj, prop, seen)

    async def _cascade_delete(
        self, st: InstanceState, obj: Any, prop: RelationshipProperty, seen: set[int]
    ) -> None:
        """Mark the loaded children of deleted ``obj`` through ``prop`` deleted too."""
        value = obj.__dict__.get(prop.key)
        members = (
            list(value)
            if prop.uselist and value is not None
            else ([value] if value is not None else [])
        )
        # also children removed from the collection before this delete
        committed = st.committed or {}
        old = committed.get(prop.key, NO_VALUE)
        if old is not NO_VALUE and old is not None:
            members += list(old) if prop.uselist else [old]
        for child in members:
            if child.__dict__.get(STATE_KEY) is not None:
                await self._delete(child, seen)

    # -- flush -----------------------------------------------------------------
    async def flush(self) -> None:
        """Send pending INSERT/UPDATE/DELETE statements in one transaction, without committing."""
        self._enter("flush")
        try:
            await self._flush()
        finally:
            self._leave()

    def _has_work(self) -> bool:
        return bool(self._new or self._deleted or self._strong)

    def _one_row_update(self) -> bool:
        """True when the next flush is one UPDATE of one row and no transaction is
        open, so commit() can send it alone: a single statement is atomic by
        itself, and BEGIN and COMMIT would add two round trips (benchmarks W9:
        load a row, change it, commit). Nothing else may be pending, and the
        row's key must not change (that would update children too).
        """
        if (
            len(self._strong) != 1
            or self._new
            or self._deleted
            or self._deferred_loads
            or self._txn_open
            or self._explicit
            or isinstance(self.bind, Connection)
            # a transaction open on the connection (a stream not read to the
            # end begins one) would take the UPDATE and need a COMMIT
            or (self._conn is not None and self._conn.in_transaction())
        ):
            return False
        st = next(iter(self._strong))
        committed = st.committed
        mapper = st.mapper
        return bool(
            committed
            and st.key is not None
            and st.session is self
            and not st.deleted_flushed
            and st.pending_backrefs is None
            and not mapper.post_update_props
            and mapper.column_key_set.issuperset(committed)
            and mapper.pk_key_set.isdisjoint(committed)
        )

    async def _flush(self, autocommit: bool = False) -> None:
        if self._flushing or not self._has_work():
            return
        if not all(m.registry.configured for m in set(map(_state_mapper, self._new))):
            configure_mappers()
        self._flushing = True
        ctx: persistence.FlushContext | None = None
        try:
            if self._deferred_loads:
                await self._load_deferred()
            new_states, deleting = self._prepare_flush()
            if not new_states and not deleting and not self._strong:
                return
            conn = await self._connection(write=not autocommit)
            ctx = persistence.FlushContext(conn, conn.dialect)
            await self._execute_flush(ctx, new_states, deleting)
        except BaseException as e:
            if ctx is not None or self._txn_open or self._conn is not None:
                await self._fail(e, ctx)
            raise
        finally:
            self._flushing = False
        with paused_gc(len(ctx.inserted) if ctx is not None else 0):
            self._finalize_flush(ctx)

    async def _load_deferred(self) -> None:
        # cascading may defer more loads (grandchildren): repeat until none are left
        while self._deferred_loads:
            deferred, self._deferred_loads = self._deferred_loads, {}
            for prop, objs in deferred.values():
                todo = [
                    o
                    for o in objs
                    if o.__dict__[STATE_KEY] in self._deleted and prop.key not in o.__dict__
                ]
                if todo:
                    # one array parameter carries any number of keys on PostgreSQL
                    dialect = getattr(self.bind, "dialect", None)
                    batch = (
                        10_000
                        if dialect is not None and dialect.supports_any_array
                        else DEFAULT_BATCH
                    )
                    if (
                        prop.direction is Direction.ONETOMANY
                        and prop.uselist
                        and len(prop.pairs) == 1
                    ):
                        await self._load_children_of_deleted(prop, todo, batch)
                    else:
                        await selectin_load(self, prop, todo, batch, collect=False)
                if prop.cascade.delete:
                    seen: set[int] = set()
                    for o in objs:
                        await self._cascade_delete(o.__dict__[STATE_KEY], o, prop, seen)

    async def _load_children_of_deleted(
        self, prop: RelationshipProperty, parents: list[Any], batch: int
    ) -> None:
        """Load a one-to-many collection of parents being deleted, so the flush can
        set their children's keys to NULL or delete them.

        A lean selectin for the delete path (benchmarks W6: 10,000 deleted parents,
        most without children): no tuple keys, and a childless parent gets an
        empty collection without the loaded-collection bookkeeping.
        """
        from heron.sql import select

        target = prop.mapper_target
        assert target is not None
        ((ref, fk),) = prop.pairs
        parent_key = prop.parent.column_keys_by_column[id(ref)]
        child_key = target.column_keys_by_column[id(fk)]
        # parent key value -> parent; parents sharing a value (a non-key column)
        # are rare and go to ``more``
        owners: dict[Any, Any] = {}
        more: list[tuple[Any, Any]] = []
        for obj in parents:
            value = obj.__dict__.get(parent_key)
            if value is not None:
                if value in owners:
                    more.append((value, obj))
                else:
                    owners[value] = obj
        keys = list(owners)
        found: dict[Any, list[Any]] = {}
        for i in range(0, len(keys), batch):
            stmt: Any = select(target.class_).where(fk.in_(keys[i : i + batch]))
            if prop.order_by:
                stmt = stmt.order_by(*prop.order_by)
            for child in await self._load_entities(stmt, target):
                found.setdefault(child.__dict__.get(child_key), []).append(child)
        back = prop.back
        back_key = back.key if back is not None and not back.uselist else None
        key = prop.key
        for value, obj in [*owners.items(), *more]:
            children = found.get(value)
            d = obj.__dict__
            if children is None and not d[STATE_KEY].pending_backrefs:
                d[key] = new_collection(obj, prop)
                continue
            install_loaded_collection(obj, prop, list(children or ()))
            if back_key is not None and children:
                for child in children:
                    cd = child.__dict__
                    if back_key not in cd:
                        cd[back_key] = obj

    def _prepare_flush(self) -> tuple[list[InstanceState], list[InstanceState]]:
        # save-update cascade over modified persistent objects whose relationships
        # changed (pending objects were cascaded by add() and by attribute events)
        seen: set[int] = set()
        strong = self._strong
        # states only (no item tuples): cascading may hold more objects meanwhile
        for st in list(strong):
            committed = st.committed
            if st.key is None or not committed or st.mapper.save_update_keys.isdisjoint(committed):
                continue
            obj = strong.get(st)
            if obj is not None and st.session is self and st not in self._deleted:
                self._cascade(obj, st, "save_update", seen)
        deleting_ids = {id(s) for s in self._deleted}
        for child in uow.orphans(strong, deleting_ids):
            cst = child.__dict__[STATE_KEY]
            if cst.key is None:
                if cst.session is self:
                    self._expunge_state(cst, child)
            elif cst.session is self:
                self._deleted[cst] = child
                self._strong[cst] = child
        # _new holds its objects strongly: every state's object is alive
        return list(self._new), list(self._deleted)

    async def _execute_flush(
        self,
        ctx: persistence.FlushContext,
        new_states: list[InstanceState],
        deleting: list[InstanceState],
    ) -> None:
        deleting_ids = {id(s) for s in deleting}
        # children of deleted rows lose their keys; persistent parents push keys
        persistence.null_children_of_deleted(deleting, deleting_ids)
        strong = self._strong
        with paused_gc(len(strong)):
            # a list: pulling and pushing keys can hold more objects
            for st in list(strong):
                mapper = st.mapper
                if st.key is None or not (mapper.m2o_props or mapper.o2m_props):
                    continue
                if id(st) in deleting_ids:
                    continue
                obj = strong[st]
                if mapper.m2o_props:
                    persistence.pull_many_to_one(st, obj)
                if mapper.o2m_props and not mapper.o2m_keys.isdisjoint(obj.__dict__):
                    persistence.push_one_to_many(st, obj, deleting_ids)
        # inserts, level by level: parents before children
        for level in uow.insert_levels(new_states):
            for mapper, states in level:
                if mapper.m2o_props:
                    persistence.pull_many_to_one_new(mapper, states)
                await persistence.insert_group(ctx, mapper, states)
                if mapper.o2m_props:
                    persistence.push_one_to_many_new(mapper, states, deleting_ids)
        # updates (including keys set by the inserts above)
        with paused_gc(len(self._strong)):
            updates = uow.collect_updates(self._strong, deleting_ids)
        if updates:
            await persistence.update_groups(ctx, updates)
        # mappers of the new rows, so rows of mappers without post_update or
        # many-to-many relationships are not visited one by one (hot path: W1)
        new_mappers = set(map(_state_mapper, new_states))
        post = (
            [(st, st.obj()) for st in new_states if st.mapper.post_update_props]
            if any(m.post_update_props for m in new_mappers)
            else []
        )
        post += [
            (st, obj)
            for st, obj in self._strong.items()
            if st.key is not None and id(st) not in deleting_ids and st.mapper.post_update_props
        ]
        if post:
            await persistence.post_updates(ctx, post, nulling=False)
        touched = (
            [(st, st.obj()) for st in new_states if st.mapper.m2m_props]
            if any(m.m2m_props for m in new_mappers)
            else []
        )
        touched += [
            (st, obj)
            for st, obj in self._strong.items()
            if st.key is not None and st.mapper.m2m_props
        ]
        if touched:
            await persistence.association_rows(ctx, touched, deleting)
        if deleting:
            live = [s for s in deleting if s.key is not None]
            with_post = [(s, s.obj()) for s in live if s.mapper.post_update_props]
            if with_post:
                await persistence.post_updates(ctx, with_post, nulling=True)
            await persistence.clear_associations(ctx, live)
            await persistence.delete_groups(ctx, live)

    def _finalize_flush(self, ctx: persistence.FlushContext | None) -> None:
        if ctx is None:
            # nothing was sent: still forget no-op modifications
            for st in list(self._strong):
                if st.key is not None and st not in self._deleted:
                    st.committed = None
                    st.modified = False
                    st.pending_backrefs = None
            self._strong = {
                s: o for s, o in self._strong.items() if s.key is None or s in self._deleted
            }
            return
        # hot path: benchmarks W1. A row inserted just now has no related rows
        # beyond those the session links to it, so its untouched collections
        # read as empty (RelationshipAttribute checks insert_order).
        new = self._new
        for mapper, states in ctx.inserted_groups:
            # C-level loops over the batch (deque(map(...), 0) runs a map
            # without building a list)
            dicts = map(_dict_of, map(_call, states))
            pk_keys = mapper.pk_keys
            if mapper.single_pk:
                keys: list[Any] = list(map(itemgetter(pk_keys[0]), dicts))
            else:
                keys = list(map(itemgetter(*pk_keys), dicts))  # tuples: 2+ keys
            deque(map(setattr, states, repeat("key"), keys), 0)
            # rare: a new object changed before it was added, or with deferred
            # collection changes
            if any(map(_modified_of, states)) or any(map(_backrefs_of, states)):
                for st in states:
                    if st.modified:
                        st.modified = False
                    if st.pending_backrefs is not None:
                        st.pending_backrefs = None
            self._imap(mapper).update(zip(keys, states, strict=True))
        # rollback() resets these keys: the database made them in this transaction
        self._txn_generated.extend(ctx.generated_groups)
        if len(new) == len(ctx.inserted):
            new.clear()
        else:
            for st in ctx.inserted:
                new.pop(st, None)
        self._txn_inserted.extend(ctx.inserted)
        # hot path: benchmarks W6 (10,000 deleted rows)
        txn_deleted = self._txn_deleted
        deleted = self._deleted
        last_mapper = None
        for st in ctx.deleted:
            st.deleted_flushed = True
            key = st.key
            if st.mapper is not last_mapper:
                last_mapper = st.mapper
                imap = self._identity.get(last_mapper) or {}
            if imap.get(key) is st:
                del imap[key]
            txn_deleted.append((st, st.obj()))
        if len(deleted) == len(ctx.deleted):
            deleted.clear()
        else:
            for st in ctx.deleted:
                deleted.pop(st, None)
        # everything written is now the committed state; nothing is held strongly.
        # The persistent objects written (column UPDATEs, all of which come from
        # _strong, and relationship-only changes) are remembered for a rollback.
        txn_updated = self._txn_updated
        for st in self._strong:
            if st.deleted_flushed:
                continue
            if st.key is not None:
                txn_updated.append(st)
            st.committed = None
            st.modified = False
            if st.pending_backrefs is not None:
                st.pending_backrefs = None
        self._strong.clear()

    async def _fail(self, error: BaseException, ctx: persistence.FlushContext | None) -> None:
        """Roll the transaction back after a failed flush; the session then needs rollback()."""
        self._failed = error
        if ctx is not None:
            # keys the database generated in the failed transaction no longer exist
            generated = ctx.generated_ids()
            for st in ctx.inserted:
                if id(st) in generated:
                    obj = st.obj()
                    if obj is not None:
                        for k in st.mapper.pk_keys:
                            obj.__dict__[k] = None
        if self._savepoints and self._txn_open:
            # inside begin_nested(): only the savepoint is lost, as in SQLAlchemy;
            # the session refuses work until that savepoint is rolled back
            # (leaving its block does it) or the whole transaction is
            sp = self._savepoints[-1]
            try:
                await sp._tx.rollback()
                sp.failed_flush = True
                return
            except BaseException:  # the connection is gone: lose the transaction
                pass
        try:
            await self._release(commit=False)
        except BaseException:
            self._conn = None
            self._txn_open = False

    # -- transactions ------------------------------------------------------------
    async def commit(self) -> None:
        """Flush, then commit the transaction and release the connection."""
        self._enter("commit")
        try:
            await self._flush(autocommit=self._one_row_update())
            try:
                await self._release(commit=True)
            except exc.DatabaseError:
                raise  # the database refused the COMMIT: rollback() restores state
            except BaseException:
                # cancelled (or the link died) during COMMIT: it may or may not
                # have happened. Objects keep their keys but leave the session, so
                # a later rollback() cannot undo a COMMIT that did happen.
                if self._commit_done:
                    self._after_commit()
                else:
                    self._forget_transaction()
                    self.expunge_all()
                raise
            self._after_commit()
        finally:
            self._leave()

    def _forget_transaction(self) -> None:
        """Drop the record of what the ended transaction inserted, deleted, updated."""
        if not (self._txn_inserted or self._txn_deleted or self._txn_updated):
            return
        self._txn_inserted = []
        self._txn_generated = []
        self._txn_deleted = []
        self._txn_updated = []

    def _after_commit(self) -> None:
        for st, _ in self._txn_deleted:
            st.session = None
        self._txn_deleted.clear()
        self._txn_inserted.clear()
        self._txn_generated.clear()
        self._txn_updated.clear()
        if self.expire_on_commit:
            for st in self._identity_states():
                obj = st.obj()
                if obj is not None:
                    self._expire_state(st, obj, None)

    async def rollback(self) -> None:
        """Roll back the transaction; expire persistent objects, undo inserts and deletes."""
        self._enter("rollback", allow_failed=True)
        try:
            try:
                await self._release(commit=False)
            finally:
                self._restore_after_rollback(self._txn_inserted, self._txn_deleted)
                self._forget_transaction()
                self._failed = None
        finally:
            self._leave()

    def _restore_after_rollback(
        self,
        inserted: list[InstanceState],
        deleted: list[tuple[InstanceState, Any]],
        updated: list[InstanceState] | None = None,
    ) -> None:
        """Undo the session's view of a rolled-back transaction (``updated=None``)
        or savepoint (``updated``: rows written inside it, the only ones expired)."""
        # objects inserted in the transaction become transient again
        generated = {id(s) for group in self._txn_generated for s in group}
        for st in inserted:
            obj = st.obj()
            self._forget_identity(st)
            st.key = None
            st.session = None
            st.committed = None
            st.modified = False
            self._strong.pop(st, None)
            if obj is not None and id(st) in generated:
                for k in st.mapper.pk_keys:
                    obj.__dict__[k] = None
        if generated and inserted:
            # a state made transient may be inserted again, with its own key
            gone = {id(s) for s in inserted}
            self._txn_generated = [
                kept
                for group in self._txn_generated
                if (kept := [s for s in group if id(s) not in gone])
            ]
        # pending objects are expunged, as in SQLAlchemy
        for st in list(self._new):
            st.session = None
            st.committed = None
            st.modified = False
            self._strong.pop(st, None)
        self._new.clear()
        # deleted objects come back
        for st, obj in deleted:
            st.deleted_flushed = False
            if st.key is None:
                continue  # also inserted in this transaction: it stays transient
            st.session = self
            if obj is not None:
                self._imap(st.mapper)[st.key] = st
        for st in list(self._deleted):
            self._deleted.pop(st)
        self._deferred_loads = {}
        if updated is None:
            to_expire = self._identity_states()
        else:
            # a savepoint: only rows written inside it, restored deletions and
            # unflushed changes are stale; everything else stays loaded
            to_expire = [*updated, *(st for st, _ in deleted), *self._strong]
        for st in to_expire:
            obj = st.obj()
            if obj is not None and st.key is not None and st.session is self:
                self._expire_state(st, obj, None)
        self._strong = {
            s: o for s, o in self._strong.items() if s.key is None and s.session is self
        }

    async def close(self) -> None:
        """Release the connection (rolling back) and detach every object."""
        self._enter("close", allow_failed=True)
        try:
            try:
                await self._release(commit=False)
            finally:
                self.expunge_all()
                self._forget_transaction()
                self._failed = None
        finally:
            self._leave()

    def begin(self) -> _SessionTransaction:
        """Begin a transaction explicitly: ``async with session.begin(): ...`` commits at exit."""
        if self._txn_open or self._explicit:
            raise exc.InvalidRequestError(
                "a transaction is already begun on this Session; commit() or rollback() it "
                "first, or use begin_nested() for a SAVEPOINT"
            )
        self._explicit = True
        return _SessionTransaction(self)

    def begin_nested(self) -> _Savepoint:
        """Begin a SAVEPOINT: ``async with session.begin_nested(): ...``.

        Rolling it back (an error inside the block, or ``await sp.rollback()``)
        undoes only what was flushed inside it.
        """
        return _Savepoint(self)

    def in_transaction(self) -> bool:
        """True when a transaction is open (or explicitly begun)."""
        return self._txn_open or self._explicit

    @property
    @contextmanager
    def no_autoflush(self) -> Iterator[Session]:
        """``with session.no_autoflush:`` suspends autoflush inside the block."""
        self._no_autoflush += 1
        try:
            yield self
        finally:
            self._no_autoflush -= 1

    async def _autoflush(self) -> None:
        if self.autoflush and not self._no_autoflush and self._has_work():
            await self._flush()

    # -- collections -----------------------------------------------------------------
    @property
    def new(self) -> list[Any]:
        """Pending objects (added, not yet flushed)."""
        return [o for o in self._new.values()]

    @property
    def dirty(self) -> list[Any]:
        """Persistent objects with unflushed attribute changes."""
        out = []
        for st, obj in self._strong.items():
            if st.key is None or st in self._deleted or st.deleted_flushed:
                continue
            if uow.changed_columns(st, obj) or _relationship_changed(st):
                out.append(obj)
        return out

    @property
    def deleted(self) -> list[Any]:
        """Objects marked for deletion, not yet flushed."""
        return list(self._deleted.values())

    @property
    def identity_map(self) -> dict[tuple[Any, ...], Any]:
        """A snapshot of the identity map: identity key -> instance."""
        out = {}
        for mapper, imap in list(self._identity.items()):
            for key, st in list(imap.items()):
                obj = st.obj()
                if obj is not None:
                    out[(mapper.class_, mapper.ident_of_key(key))] = obj
        return out

    def __contains__(self, obj: object) -> bool:
        d = getattr(obj, "__dict__", None)
        if d is None:
            return False
        st = d.get(STATE_KEY)
        return st is not None and st.session is self and not st.deleted_flushed

    def __iter__(self) -> Iterator[Any]:
        return iter([*self.new, *self.identity_map.values()])

    def _identity_lookup(self, mapper: Mapper, ident: tuple[Any, ...]) -> Any:
        imap = self._identity.get(mapper)
        st = imap.get(mapper.key_of_ident(ident)) if imap is not None else None
        if st is None:
            return None
        return st.obj()

    # -- expiry and refresh -----------------------------------------------------------
    def expire(self, obj: object, attribute_names: Sequence[str] | None = None) -> None:
        """Forget loaded values; the next read raises until they are loaded again."""
        st = instance_state(obj)
        if st.session is not self or st.key is None:
            raise exc.InvalidRequestError(f"{_describe(obj)} is not persistent in this Session")
        if attribute_names is None:
            # cascade along refresh-expire relationships to loaded children
            for child in self._cascade_targets(obj, st, "refresh_expire"):
                cst = child.__dict__[STATE_KEY]
                if cst.session is self and cst.key is not None:
                    self._expire_state(cst, child, None)
        self._expire_state(st, obj, attribute_names)

    def _cascade_targets(self, obj: object, st: InstanceState, kind: str) -> list[Any]:
        out: list[Any] = []
        seen = {id(obj)}
        stack = [(obj, st)]
        while stack:
            o, s = stack.pop()
            for prop in s.mapper.rel_list:
                if not getattr(prop.cascade, kind):
                    continue
                value = o.__dict__.get(prop.key, NO_VALUE)
                if value is NO_VALUE or value is None:
                    continue
                for child in list(value) if prop.uselist else [value]:
                    cst = child.__dict__.get(STATE_KEY)
                    if cst is not None and id(child) not in seen:
                        seen.add(id(child))
                        out.append(child)
                        stack.append((child, cst))
        return out

    def expire_all(self) -> None:
        """Expire every persistent object in the session."""
        for st in self._identity_states():
            obj = st.obj()
            if obj is not None:
                self._expire_state(st, obj, None)

    def _expire_state(self, st: InstanceState, obj: Any, names: Sequence[str] | None) -> None:
        mapper = st.mapper
        d = obj.__dict__
        pk = set(mapper.pk_keys)
        keys = list(names) if names is not None else list(mapper.all_attribute_keys)
        for name in keys:
            if name not in mapper.all_attribute_keys:
                raise exc.ArgumentError(
                    f"{type(obj).__name__} has no mapped attribute {name!r} to expire"
                )
        st.insert_order = 0  # collections may have gained rows: no longer known-empty
        expired = st.expired_keys or set()
        for key in keys:
            if key in pk:
                # primary keys stay readable: the identity does not change
                continue
            d.pop(key, None)
            if st.committed:
                st.committed.pop(key, None)
            if key in mapper.column_key_set:
                expired.add(key)
        st.expired_keys = expired or None
        if st.pending_backrefs and names is None:
            st.pending_backrefs = None
        if not st.committed:
            st.committed = None
            if st.modified and st not in self._deleted:
                st.modified = False
                self._strong.pop(st, None)

    async def refresh(self, obj: object, attribute_names: Sequence[str] | None = None) -> None:
        """Reload attributes from the database (all columns, or the names given).

        Relationship names load that relationship; with no names, loaded
        relationships are expired (load them again when needed).
        """
        self._enter("refresh")
        try:
            st = instance_state(obj)
            if st.session is not self or st.key is None:
                raise exc.InvalidRequestError(
                    f"cannot refresh {_describe(obj)}: it is not persistent in this Session"
                )
            await self._refresh(st, obj, attribute_names, overwrite=True)
        finally:
            self._leave()

    async def _refresh(
        self, st: InstanceState, obj: Any, names: Sequence[str] | None, overwrite: bool
    ) -> None:
        # flush first: pending changes (e.g. a child removed from a collection)
        # must be judged against the collection before the refresh forgets it
        await self._autoflush()
        mapper = st.mapper
        if names is None:
            cols = list(mapper.column_keys)
            rels = []
            for prop in mapper.rel_list:
                obj.__dict__.pop(prop.key, None)
        else:
            unknown = [n for n in names if n not in mapper.all_attribute_keys]
            if unknown:
                raise exc.ArgumentError(
                    f"{type(obj).__name__} has no mapped attribute(s) {unknown}; mapped "
                    f"attributes are {sorted(mapper.all_attribute_keys)}"
                )
            cols = [n for n in names if n in mapper.column_key_set]
            rels = [mapper.relationships[n] for n in names if n in mapper.relationships]
        if cols:
            await self._load_columns(st, obj, cols, overwrite)
        for prop in rels:
            await self._load_relationship(st, obj, prop)

    async def _load_columns(
        self, st: InstanceState, obj: Any, keys: list[str], overwrite: bool
    ) -> None:
        from heron.sql import select

        mapper = st.mapper
        await self._autoflush()
        cols = [mapper.columns[k] for k in keys]
        stmt = select(*cols).where(
            *[c == v for c, v in zip(mapper.primary_key, st.identity or (), strict=True)]
        )
        conn = await self._connection(write=False)
        result = await conn.execute(stmt)
        rows = result._raw_rows
        if not rows:
            raise exc.InvalidRequestError(
                f"could not refresh {_describe(obj)}: its row no longer exists in the database"
            )
        row = rows[0]
        d = obj.__dict__
        committed = st.committed
        for k, v in zip(keys, row, strict=True):
            if overwrite:
                d[k] = v
                if committed:
                    committed.pop(k, None)
            elif k not in d:
                d[k] = v
        if st.expired_keys:
            st.expired_keys.difference_update(keys)
            if not st.expired_keys:
                st.expired_keys = None

    async def _load_attributes(self, st: InstanceState, obj: Any, keys: list[str]) -> None:
        """Load unloaded attributes for ``awaitable_attrs`` (no overwrite of pending changes)."""
        self._enter("load")
        try:
            mapper = st.mapper
            cols = [k for k in keys if k in mapper.column_key_set and k not in obj.__dict__]
            if cols:
                # load every expired column at once: one round trip
                extra = [k for k in (st.expired_keys or ()) if k not in cols]
                await self._load_columns(st, obj, cols + extra, overwrite=False)
            for k in keys:
                prop = mapper.relationships.get(k)
                if prop is not None and k not in obj.__dict__:
                    if prop.lazy == "raise" or (st.raise_keys and k in st.raise_keys):
                        raise exc.UnloadedAttributeError(
                            f"{prop} is set to raise on load (raiseload / lazy='raise'); "
                            f"load it with an eager option such as selectinload({prop}) "
                            "in the query instead"
                        )
                    if self.n_plus_one is not None:
                        self._check_n_plus_one(st, prop)
                    await self._load_relationship(st, obj, prop)
        finally:
            self._leave()

    async def _load_relationship(
        self, st: InstanceState, obj: Any, prop: RelationshipProperty
    ) -> None:
        from heron.sql import select

        target = prop.mapper_target
        assert target is not None
        d = obj.__dict__
        mapper = st.mapper
        if prop.direction is Direction.MANYTOONE:
            fk_keys = [mapper.column_keys_by_column[id(fk)] for _, fk in prop.pairs]
            missing = [k for k in fk_keys if k not in d]
            if missing:
                await self._load_columns(st, obj, missing, overwrite=False)
            found, value = prop.resolve_from_identity_map(st, obj)
            if not found:
                values = [d[k] for k in fk_keys]
                stmt: Any = select(target.class_).where(
                    *[ref == v for (ref, _), v in zip(prop.pairs, values, strict=True)]
                )
                objs = await self._load_entities(stmt, target)
                value = objs[0] if objs else None
            d[prop.key] = value
            return
        pk_vals = {id(c): d.get(k) for k, c in mapper.columns.items()}
        if prop.direction is Direction.ONETOMANY:
            stmt = select(target.class_).where(*[fk == pk_vals[id(ref)] for ref, fk in prop.pairs])
        else:
            from heron.sql import and_

            sec = prop.secondary
            on = and_(*[ref == sec_col for ref, sec_col in prop.secondary_target_pairs])
            stmt = (
                select(target.class_)
                .join(sec, on)
                .where(*[sec_col == pk_vals[id(ref)] for ref, sec_col in prop.secondary_pairs])
            )
        if prop.order_by:
            stmt = stmt.order_by(*prop.order_by)
        else:
            stmt = stmt.order_by(*target.primary_key)
        objs = await self._load_entities(stmt, target)
        if prop.uselist:
            install_loaded_collection(obj, prop, objs)
        else:
            d[prop.key] = objs[0] if objs else None
        back = prop.back
        if back is not None and not back.uselist and prop.direction is Direction.ONETOMANY:
            for child in objs:
                cd = child.__dict__
                if back.key not in cd:
                    cd[back.key] = obj

    def _mark_batch(self, objs: list[Any]) -> None:
        self._batch_counter += 1
        token = (self._batch_counter, len(objs))
        for obj in objs:
            obj.__dict__[STATE_KEY].load_batch = token

    def _check_n_plus_one(self, st: InstanceState, prop: RelationshipProperty) -> None:
        batch = st.load_batch
        if batch is None:
            return
        seen = self._lazy_seen.setdefault((batch[0], prop.key), 0) + 1
        self._lazy_seen[(batch[0], prop.key)] = seen
        if seen == 2:
            message = (
                f"N+1 queries: {prop} is being lazy-loaded one object at a time for the "
                f"{batch[1]} objects one query returned; load them together with "
                f"selectinload({prop.parent.class_.__name__}.{prop.key}) (or joinedload) "
                "in that query's .options()"
            )
            if self.n_plus_one == "raise":
                raise exc.NPlusOneError(message)
            warnings.warn(message, exc.NPlusOneWarning, stacklevel=4)

    async def _load_by_keys(
        self,
        mapper: Mapper,
        cols: list[Any],
        keys: list[tuple[Any, ...]],
        order_by: Sequence[Any] = (),
    ) -> list[Any]:
        """Instances of ``mapper`` whose ``cols`` equal one of ``keys`` (one SELECT)."""
        rows = await self._rows_by_keys(mapper, cols, keys, order_by)
        with paused_gc(len(rows)):
            return entity_loader(mapper, 0)(rows, self, False)

    async def _rows_by_keys(
        self,
        mapper: Mapper,
        cols: list[Any],
        keys: list[Any],
        order_by: Sequence[Any] = (),
        *,
        bare: bool = False,
    ) -> list[Any]:
        """Rows of ``select(mapper)`` whose ``cols`` equal one of ``keys`` (one SELECT).

        ``keys`` are tuples, or bare values of the one column with ``bare``.
        """
        from heron.sql import and_, or_, select

        if len(cols) == 1:
            cond = _in_values(cols[0], keys if bare else [k[0] for k in keys])
        else:
            cond = or_(*[and_(*[c == v for c, v in zip(cols, k, strict=True)]) for k in keys])
        stmt: Any = select(mapper.class_).where(cond)
        if order_by:
            stmt = stmt.order_by(*order_by)
        conn = await self._connection(write=False)
        result = await conn.execute(stmt)
        return result._raw_rows

    async def _rows_by_key_batches(
        self, mapper: Mapper, col: Any, batches: list[list[Any]], order_by: Sequence[Any] = ()
    ) -> list[Any]:
        """Rows of ``select(mapper)`` whose ``col`` is in one of the key ``batches``.

        One SELECT per batch, all sent in one pipelined round trip (the driver's
        executemany that returns rows). Only for dialects that bind an IN list
        as one array parameter (``supports_any_array``).
        """
        from heron.sql import bindparam, select

        stmt: Any = select(mapper.class_).where(
            col.in_(bindparam("keys", type_=col.type, expanding=True))
        )
        if order_by:
            stmt = stmt.order_by(*order_by)
        conn = await self._connection(write=False)
        result = await conn.execute(stmt, [{"keys": keys} for keys in batches])
        return result._raw_rows

    async def _m2m_rows(self, prop: RelationshipProperty, keys: list[Any], bare: bool) -> list[Any]:
        """Rows of (secondary key columns, then target columns) for parent ``keys`` (one SELECT)."""
        from heron.sql import and_, or_, select

        target = prop.mapper_target
        assert target is not None and prop.secondary is not None
        sec_cols = [sec for _, sec in prop.secondary_pairs]
        on = and_(*[ref == sec_col for ref, sec_col in prop.secondary_target_pairs])
        if len(sec_cols) == 1:
            cond = _in_values(sec_cols[0], keys if bare else [k[0] for k in keys])
        else:
            cond = or_(*[and_(*[c == v for c, v in zip(sec_cols, k, strict=True)]) for k in keys])
        stmt = select(*sec_cols, target.class_).join(prop.secondary, on).where(cond)
        if prop.order_by:
            stmt = stmt.order_by(*prop.order_by)
        conn = await self._connection(write=False)
        result = await conn.execute(stmt)
        return result._raw_rows

    async def _load_entities(self, stmt: Any, mapper: Mapper) -> list[Any]:
        conn = await self._connection(write=False)
        result = await conn.execute(stmt)
        loader = entity_loader(mapper, 0)
        rows = result._raw_rows
        with paused_gc(len(rows)):
            return loader(rows, self, False)

    # -- queries ----------------------------------------------------------------------
    async def get(
        self,
        entity: type[T],
        ident: Any,
        *,
        populate_existing: bool = False,
    ) -> T | None:
        """Return the instance with primary key ``ident``: from the identity map if there,
        else by one SELECT. None when no such row exists."""
        mapper = _mapper_of(entity)
        if not mapper.registry.configured:
            configure_mappers()
        if mapper.single_pk and type(ident) in _SCALAR_KEYS:
            key: Any = ident  # hot path: benchmarks W4, get(User, 5)
            key_vals: tuple[Any, ...] = (ident,)
        else:
            key_vals = _normalise_ident(mapper, ident)
            key = mapper.key_of_ident(key_vals)
        imap = self._identity.get(mapper)
        st = imap.get(key) if imap is not None else None
        if st is not None and not populate_existing:
            obj = st.obj()
            if obj is not None and not st.expired_keys:
                return obj  # type: ignore[no-any-return]
        self._enter("get")
        try:
            if self.autoflush and self._has_work():
                await self._autoflush()
            stmt = mapper.get_statement()
            params = dict(zip(mapper.get_param_names, key_vals, strict=True))
            conn = await self._connection(write=False)
            result = await conn.execute(stmt, params)
            loader = entity_loader(mapper, 0)
            objs = loader(result._raw_rows, self, populate_existing)
            if objs and mapper.has_eager:
                # relationship(lazy="selectin"/"joined") defaults apply to get() too
                await apply_eager(self, mapper, objs, None)
            return objs[0] if objs else None
        finally:
            self._leave()

    async def execute(
        self,
        statement: Any,
        params: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        execution_options: dict[str, Any] | None = None,
    ) -> Result[Any]:
        """Execute a statement; ``select(Entity)`` rows hold instances from the identity map."""
        self._enter("execute")
        try:
            return await self._execute(statement, params, execution_options or {})
        finally:
            self._leave()

    async def _execute(self, statement: Any, params: Any, options: dict[str, Any]) -> Result[Any]:
        await self._autoflush()
        raw_columns = getattr(statement, "_raw_columns", None)
        opts = {**getattr(statement, "_execution_options", {}), **options}
        if raw_columns is not None and not getattr(statement, "_is_dml", False):
            write = bool(getattr(statement, "_for_update", None))
            if not any(hasattr(c, "__mapper__") for c in raw_columns):
                conn = await self._connection(write=write)
                return await conn.execute(statement, params)
            tree = LoadTree.from_options(getattr(statement, "_with_options", ()))
            steps: list[JoinedStep] = []
            to_run = statement
            first = raw_columns[0]
            if len(raw_columns) == 1 and isinstance(first, type) and hasattr(first, "__mapper__"):
                mapper = first.__mapper__
                if not mapper.registry.configured:
                    configure_mappers()
                if mapper.has_eager or tree.children:
                    to_run, steps = plan_joined(statement, mapper, tree, len(mapper.table.columns))
            conn = await self._connection(write=write)
            result = await conn.execute(to_run, params)
            return await self._orm_result(raw_columns, result, opts, tree, steps)
        conn = await self._connection(write=True)
        entity = getattr(statement, "entity", None)
        if (
            entity is not None
            and hasattr(entity, "__mapper__")
            and getattr(statement, "_is_dml", False)
            and hasattr(statement, "_where")
        ):
            return await execute_orm_dml(self, conn, statement, params, opts)
        return await conn.execute(statement, params)

    async def _orm_result(
        self,
        raw_columns: Sequence[Any],
        result: Result[Any],
        opts: dict[str, Any],
        tree: LoadTree,
        steps: list[JoinedStep],
    ) -> Result[Any]:
        overwrite = bool(opts.get("populate_existing"))
        rows = result._raw_rows
        columns: list[list[Any]] = []
        keys: list[str] = []
        offset = 0
        for ent in raw_columns:
            mapper = getattr(ent, "__mapper__", None)
            if mapper is not None and isinstance(ent, type):
                with paused_gc(len(rows)):
                    if steps:
                        # one pass; joined rows repeat their parent: one object per parent
                        objs = fold_one_pass(self, rows, mapper, steps, overwrite)
                    else:
                        objs = entity_loader(mapper, offset)(rows, self, overwrite)
                    if len(raw_columns) == 1:
                        # the rows are done with: free them while the collector is
                        # paused so it never traverses them (benchmarks W3/W8)
                        rows.clear()
                columns.append(objs)
                keys.append(ent.__name__)
                offset += len(mapper.table.columns)
                live = [o for o in objs if o is not None]
                if self.n_plus_one is not None and len(live) > 1:
                    self._mark_batch(live)
                if mapper.has_eager or tree.children:
                    # joined results are unique already; plain rows can repeat
                    # an instance only through a join the user wrote
                    await apply_eager(self, mapper, live if steps else unique_objects(live), tree)
            else:
                idx = offset
                columns.append([r[idx] for r in rows])
                rk = result.keys()
                keys.append(rk[idx] if idx < len(rk) else f"col{idx}")
                offset += 1
        if len(columns) == 1:
            return _EntityResult(keys, columns[0], result.rowcount)
        return Result(keys, list(zip(*columns, strict=True)), None, result.rowcount)

    async def stream(
        self,
        statement: Any,
        params: dict[str, Any] | None = None,
        *,
        execution_options: dict[str, Any] | None = None,
    ) -> AsyncResult[Any]:
        """Stream a query's rows (a server-side cursor on PostgreSQL).

        ``execution_options(yield_per=N)`` (default 1000) sets how many rows
        are fetched, turned into instances and eager-loaded at a time::

            result = await session.stream(select(User).execution_options(yield_per=500))
            async for user in result.scalars():
                ...
        """
        self._enter("stream")
        try:
            await self._autoflush()
            opts = {**getattr(statement, "_execution_options", {}), **(execution_options or {})}
            yield_per = int(opts.get("yield_per") or 1000)
            conn = await self._connection(write=False)
            raw = await conn.stream(statement, params, chunk_size=yield_per)
        finally:
            self._leave()
        raw_columns = getattr(statement, "_raw_columns", None)
        if not raw_columns or not any(hasattr(c, "__mapper__") for c in raw_columns):
            return raw
        for ent in raw_columns:
            mapper = getattr(ent, "__mapper__", None)
            if mapper is not None and not mapper.registry.configured:
                configure_mappers()
        tree = LoadTree.from_options(getattr(statement, "_with_options", ()))
        keys = [getattr(c, "__name__", None) or str(c) for c in raw_columns]
        return AsyncResult(keys, OrmStream(self, raw._stream, raw_columns, tree))  # type: ignore[arg-type]

    async def stream_scalars(
        self,
        statement: Any,
        params: dict[str, Any] | None = None,
        *,
        execution_options: dict[str, Any] | None = None,
    ) -> AsyncScalarResult[Any]:
        """``stream()`` then ``.scalars()``: instances for ``select(Entity)``."""
        result = await self.stream(statement, params, execution_options=execution_options)
        return result.scalars()

    async def scalars(self, statement: Any, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """Execute and return a ``ScalarResult`` of the first column.

        For ``select(Entity)`` that is the instances themselves.
        """
        result = await self.execute(statement, params, **kw)
        return result.scalars()

    async def scalar(self, statement: Any, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """Execute and return the first column of the first row (or None)."""
        result = await self.execute(statement, params, **kw)
        return result.scalar()

    # -- merge ----------------------------------------------------------------------------
    async def merge(self, obj: T, *, load: bool = True) -> T:
        """Copy ``obj``'s state onto the instance with the same identity in this session
        (loading it if needed) and return that instance; ``obj`` itself is not added."""
        self._enter("merge")
        try:
            return await self._merge(obj, {}, load)  # type: ignore[no-any-return]
        finally:
            self._leave()

    async def _merge(self, obj: Any, memo: dict[int, Any], load: bool) -> Any:
        if id(obj) in memo:
            return memo[id(obj)]
        mapper = _mapper_of(type(obj))
        if not mapper.registry.configured:
            configure_mappers()
        d = obj.__dict__
        ident = tuple(d.get(k) for k in mapper.pk_keys)
        target: Any = None
        if all(v is not None for v in ident):
            target = self._identity_lookup(mapper, ident)
            if target is None and load:
                self._leave()
                try:
                    target = await self.get(mapper.class_, ident)
                finally:
                    self._busy = "merge"
        if target is None:
            target = object.__new__(mapper.class_)
            instance_state(target)
            for k in mapper.column_keys:
                if k in d:
                    setattr(target, k, d[k])
            self._add(target, set())
        else:
            for k in mapper.column_keys:
                if k in d and k not in mapper.pk_keys:
                    setattr(target, k, d[k])
        memo[id(obj)] = target
        for prop in mapper.rel_list:
            if not prop.cascade.merge or prop.key not in d:
                continue
            value = d[prop.key]
            if prop.uselist:
                merged = [await self._merge(o, memo, load) for o in value]
                if (
                    target.__dict__.get(prop.key) is None
                    and target.__dict__.get(STATE_KEY).key is not None
                ):
                    await self._load_relationship(target.__dict__[STATE_KEY], target, prop)
                setattr(target, prop.key, merged)
            else:
                setattr(
                    target,
                    prop.key,
                    None if value is None else await self._merge(value, memo, load),
                )
        return target


def _in_values(col: Any, values: list[Any]) -> Any:
    """``col IN (values)`` for key values read from rows: one expanding parameter,
    without checking each value for SQL expressions as ``in_([...])`` must."""
    from heron.sql.elements import BindParameter

    return col.in_(BindParameter(col.key, values, col.type, expanding=True))


def _relationship_changed(st: InstanceState) -> bool:
    if st.pending_backrefs:
        return True
    committed = st.committed
    if not committed:
        return False
    return any(k in st.mapper.relationships for k in committed)


# primary-key values get() takes as they are (anything else goes through _normalise_ident)
_SCALAR_KEYS = frozenset({int, str})


def _normalise_ident(mapper: Mapper, ident: Any) -> tuple[Any, ...]:
    n = len(mapper.pk_keys)
    if isinstance(ident, dict):
        try:
            return tuple(ident[k] for k in mapper.pk_keys)
        except KeyError:
            raise exc.ArgumentError(
                f"get({mapper.class_.__name__}, {{...}}) needs the keys {list(mapper.pk_keys)}"
            ) from None
    if not isinstance(ident, tuple):
        ident = (ident,)
    if len(ident) != n:
        raise exc.ArgumentError(
            f"{mapper.class_.__name__} has a {n}-column primary key {list(mapper.pk_keys)}; "
            f"get() received {len(ident)} value(s)"
        )
    return ident  # type: ignore[no-any-return]


def _describe(obj: object) -> str:
    st = obj.__dict__.get(STATE_KEY) if hasattr(obj, "__dict__") else None
    ident = st.identity if st is not None else None
    return f"{type(obj).__name__}(identity={ident!r})"


class sessionmaker:
    """A factory of configured Sessions: ``Session_ = sessionmaker(engine)``."""

    def __init__(self, bind: Engine | Connection | None = None, **kwargs: Any) -> None:
        self.bind = bind
        self.kwargs = kwargs

    def __call__(self, **overrides: Any) -> Session:
        return Session(self.bind, **{**self.kwargs, **overrides})

    def begin(self) -> _SessionBegin:
        """``async with Session_.begin() as session:`` — commit at exit, rollback on error."""
        return _SessionBegin(self())


@overload
def object_session(obj: None) -> None: ...
@overload
def object_session(obj: object) -> Session | None: ...
def object_session(obj: object | None) -> Session | None:
    """The session ``obj`` belongs to, or None."""
    if obj is None:
        return None
    st = obj.__dict__.get(STATE_KEY)
    return st.session if st is not None else None
