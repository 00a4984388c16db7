"""The Session's unit of work: deleting, flushing, and failing cleanly.

Layer 4 (orm). See orm/_session_core.py for how Session is layered.
"""

from __future__ import annotations

import weakref
from collections import deque
from itertools import compress, repeat
from operator import and_, attrgetter, is_, is_not, itemgetter, not_
from typing import TYPE_CHECKING, Any

from heron import exc
from heron._util.gcpause import paused_gc
from heron.engine.connection import Connection
from heron.orm import persistence
from heron.orm import unitofwork as uow
from heron.orm._session_core import _describe, _SessionCore
from heron.orm.loaders import DEFAULT_BATCH, selectin_load
from heron.orm.loading import _speedups
from heron.orm.mapper import Mapper, configure_mappers
from heron.orm.relationships import RelationshipProperty
from heron.orm.state import NO_VALUE, STATE_KEY, InstanceState, instance_state

if TYPE_CHECKING:
    pass


_state_mapper = attrgetter("mapper")
_dict_of = attrgetter("__dict__")
_committed_of = attrgetter("committed")
_key_of = attrgetter("key")
_state_of_dict = itemgetter(STATE_KEY)
_call = weakref.ref.__call__
_modified_of = attrgetter("modified")
_backrefs_of = attrgetter("pending_backrefs")


class _SessionFlush(_SessionCore):
    """delete() and the flush: cascades, deferred loads, statements, bookkeeping."""

    async def delete(self, obj: object) -> None:
        """Mark ``obj`` for deletion at the next flush.

        Loads what the delete cascades need: collections with ``cascade="delete"``
        and, for one-to-many relationships without it, the children whose foreign
        key must be set to NULL (unless ``passive_deletes=True``).
        """
        if self._busy is not None or self._failed is not None:
            self._enter("delete")  # raises, naming the problem
        self._busy = "delete"
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
            self._busy = None

    def _defer_delete_loads(self, st: InstanceState, obj: Any) -> list[RelationshipProperty] | None:
        """Queue the loads deleting ``obj`` needs; return the loaded relationships
        whose children the delete cascades to now (None: none)."""
        d = obj.__dict__
        deferred = self._deferred_loads
        cascading = None
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
                if cascading is None:
                    cascading = [prop]
                else:
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
        for prop in self._defer_delete_loads(st, obj) or ():
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
            back = prop.back
            back_key = back.key if back is not None and not back.uselist else None
            for child in list(old) if prop.uselist else [old]:
                if back_key is not None and child is not None:
                    holder = child.__dict__.get(back_key)
                    if holder is not None and holder is not obj:
                        continue  # moved to another parent: not this delete's to cascade
                members.append(child)
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
        # the mappers of the new rows: one pass over them, reused by the flush
        # steps below unless cascades change the new rows (hot path: W1, W2)
        new_mappers = set(map(_state_mapper, self._new))
        if not all(m.registry.configured for m in new_mappers):
            configure_mappers()
        self._flushing = True
        ctx: persistence.FlushContext | None = None
        try:
            loaded = bool(self._deferred_loads)
            if loaded:
                await self._load_deferred()
            new_states, deleting, cascaded = self._prepare_flush()
            if not new_states and not deleting and not self._strong:
                return
            if cascaded or loaded:
                new_mappers = set(map(_state_mapper, new_states))
            conn = await self._connection(write=not autocommit)
            ctx = persistence.FlushContext(conn, conn.dialect)
            await self._execute_flush(ctx, new_states, deleting, new_mappers)
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
                # still deleted and not loaded meanwhile (C-speed passes:
                # benchmarks W6 defers 10,000 rows here)
                if _speedups is not None:
                    todo = _speedups.unloaded(objs, prop.key, self._deleted)
                else:
                    dicts = list(map(_dict_of, objs))
                    todo = list(
                        compress(
                            objs,
                            map(
                                and_,
                                map(self._deleted.__contains__, map(_state_of_dict, dicts)),
                                map(not_, map(dict.__contains__, dicts, repeat(prop.key))),
                            ),
                        )
                    )
                if todo:
                    # one array parameter carries any number of keys on PostgreSQL
                    dialect = getattr(self.bind, "dialect", None)
                    batch = (
                        10_000
                        if dialect is not None and dialect.supports_any_array
                        else DEFAULT_BATCH
                    )
                    await selectin_load(self, prop, todo, batch, collect=False)  # type: ignore[arg-type]
                if prop.cascade.delete:
                    seen: set[int] = set()
                    for o in objs:
                        await self._cascade_delete(o.__dict__[STATE_KEY], o, prop, seen)

    def _prepare_flush(self) -> tuple[list[InstanceState], list[InstanceState], bool]:
        """The new and the deleted rows to flush, after the save-update cascade
        and orphan detection; and whether those may have changed the new rows."""
        # save-update cascade over modified persistent objects whose relationships
        # changed (pending objects were cascaded by add() and by attribute events)
        seen: set[int] = set()
        strong = self._strong
        if not self._relationship_changes():
            # nothing to cascade over, no orphans (hot path: benchmarks W5/W6)
            return list(self._new), list(self._deleted), False
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
        return list(self._new), list(self._deleted), True

    def _relationship_changes(self) -> bool:
        """Whether a held object has an unflushed relationship change (C-speed passes:
        each held object's committed values against every held mapper's
        relationship keys)."""
        strong = self._strong
        rel_keys = frozenset().union(
            *[m.relationship_keys for m in set(map(_state_mapper, strong))]
        )
        if not rel_keys:
            return False
        changed = list(filter(None, map(_committed_of, strong)))
        return not all(map(rel_keys.isdisjoint, changed))

    async def _execute_flush(
        self,
        ctx: persistence.FlushContext,
        new_states: list[InstanceState],
        deleting: list[InstanceState],
        new_mappers: set[Mapper],
    ) -> None:
        deleting_ids = set(map(id, deleting))
        # children of deleted rows lose their keys; persistent parents push keys
        persistence.null_children_of_deleted(deleting, deleting_ids)
        # only rows not being deleted that hold a loaded relationship can have
        # keys to copy: found at C speed first (hot path: benchmarks W5/W6,
        # 10,000 held rows, none of them such)
        strong = self._strong
        sync_keys = frozenset().union(*[m.sync_keys for m in set(map(_state_mapper, strong))])
        syncing: list[tuple[InstanceState, Any]] = []
        deleted = self._deleted  # every deleted row is also held
        if sync_keys and len(strong) > len(deleted):
            # a list: pulling and pushing keys can hold more objects
            items: Any = strong.items()
            if deleted:
                items = list(compress(items, map(not_, map(deleted.__contains__, strong))))
            values = map(itemgetter(1), items) if deleted else strong.values()
            holding = map(not_, map(sync_keys.isdisjoint, map(_dict_of, values)))
            syncing = list(compress(items, holding))
        with paused_gc(len(syncing)):
            for st, obj in syncing:
                mapper = st.mapper
                if st.key is None or not (mapper.m2o_props or mapper.o2m_props):
                    continue
                if id(st) in deleting_ids:
                    continue
                if mapper.m2o_props:
                    persistence.pull_many_to_one(st, obj)
                if mapper.o2m_props and not mapper.o2m_keys.isdisjoint(obj.__dict__):
                    persistence.push_one_to_many(st, obj, deleting_ids)
        # inserts, level by level: parents before children
        for level in uow.insert_levels(new_states, new_mappers):
            for mapper, states in level:
                objs, dicts = persistence.objects_of(states)
                if mapper.m2o_props:
                    persistence.pull_many_to_one_new(mapper, states, objs, dicts)
                await persistence.insert_group(ctx, mapper, states, objs, dicts)
                if mapper.o2m_props:
                    persistence.push_one_to_many_new(mapper, states, deleting_ids, objs, dicts)
        # updates (including keys set by the inserts above)
        with paused_gc(len(self._strong)):
            updates = uow.collect_updates(self._strong, deleting_ids)
        if updates:
            await persistence.update_groups(ctx, updates)
        # (new_mappers: rows of mappers without post_update or many-to-many
        # relationships are not visited one by one, hot path: W1)
        post = (
            [(st, st.obj()) for st in new_states if st.mapper.post_update_props]
            if any(m.post_update_props for m in new_mappers)
            else []
        )
        # likewise the mappers of the held objects (hot path: W5, W6)
        held_mappers = set(map(_state_mapper, self._strong))
        if any(m.post_update_props for m in held_mappers):
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
        if any(m.m2m_props for m in held_mappers):
            touched += [
                (st, obj)
                for st, obj in self._strong.items()
                if st.key is not None and st.mapper.m2m_props
            ]
        if touched:
            await persistence.association_rows(ctx, touched, deleting)
        if deleting:
            # C-speed passes over the deleted rows (hot path: benchmarks W6)
            live = list(compress(deleting, map(is_not, map(_key_of, deleting), repeat(None))))
            live_mappers = set(map(_state_mapper, live))
            with_post = (
                [(s, s.obj()) for s in live if s.mapper.post_update_props]
                if any(m.post_update_props for m in live_mappers)
                else []
            )
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
        for mapper, states, dicts in ctx.inserted_groups:
            # C-level loops over the batch (deque(map(...), 0) runs a map
            # without building a list)
            pk_keys = mapper.pk_keys
            if mapper.single_pk and _speedups is not None:
                # keys, identity entries and the check below in one C pass
                dirty = _speedups.set_keys(states, dicts, pk_keys[0], self._imap(mapper))
            else:
                if mapper.single_pk:
                    keys: list[Any] = list(map(itemgetter(pk_keys[0]), dicts))
                else:
                    keys = list(map(itemgetter(*pk_keys), dicts))  # tuples: 2+ keys
                deque(map(setattr, states, repeat("key"), keys), 0)
                self._imap(mapper).update(zip(keys, states, strict=True))
                dirty = any(map(_modified_of, states)) or any(map(_backrefs_of, states))
            # rare: a new object changed before it was added, or with deferred
            # collection changes (W2: a parent whose collection was assigned)
            if dirty:
                for st in states:
                    if st.modified:
                        st.modified = False
                    if st.pending_backrefs is not None:
                        st.pending_backrefs = None
        # rollback() resets these keys: the database made them in this transaction
        self._txn_generated.extend(ctx.generated_groups)
        if len(new) == len(ctx.inserted):
            new.clear()
        else:
            for st in ctx.inserted:
                new.pop(st, None)
        self._txn_inserted.extend(ctx.inserted)
        # hot path: benchmarks W6 (10,000 deleted rows)
        deleted = self._deleted
        done = ctx.deleted
        if _speedups is not None:
            # the three steps below in one C pass
            self._txn_deleted.extend(_speedups.mark_deleted(done, self._identity))
        else:
            for st in done:
                st.deleted_flushed = True
            # each row leaves its mapper's identity map, if it is still the
            # entry there (C-speed passes per mapper)
            mappers = set(map(_state_mapper, done))
            for mapper in mappers:
                imap = self._identity.get(mapper)
                if not imap:
                    continue
                of_mapper = done if len(mappers) == 1 else [s for s in done if s.mapper is mapper]
                keys = list(map(_key_of, of_mapper))
                still = map(is_, map(imap.get, keys), of_mapper)
                deque(map(imap.__delitem__, compress(keys, still)), 0)
            self._txn_deleted.extend(zip(done, map(_call, done), strict=True))
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
            # keys the database generated in the failed transaction no longer
            # exist (every batch that got keys, including earlier shape groups
            # of a table whose later group failed, not yet in ctx.inserted)
            for group in ctx.generated_groups:
                for st in group:
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

    async def _autoflush(self) -> None:
        if self.autoflush and not self._no_autoflush and self._has_work():
            await self._flush()
