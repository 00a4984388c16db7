"""Session: identity map, unit of work and transaction, for one task at a time.

Layer 4 (orm). Every method that may touch the database is a coroutine;
attribute access never is. The session takes a connection on first use and
gives it back at commit, rollback and close. It sends BEGIN only before its
first write (a flush, a DML statement, ``SELECT ... FOR UPDATE``) or when
asked with ``begin()``: a read-only session costs one round trip per query,
not three (docs/orm.md, "Transactions").

The class is assembled in layers, each deriving from the one before:
``_session_core`` (state, connections, adding and expunging, the identity
map), ``_session_flush`` (delete and the unit of work's flush),
``_session_query`` (expiry, refresh, loading, get/execute/stream, merge);
this module adds transactions and the collection views.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, overload

from heron import exc
from heron.engine.connection import Connection
from heron.orm import unitofwork as uow
from heron.orm._session_query import _SessionQuery
from heron.orm.state import STATE_KEY, InstanceState
from heron.orm.transaction import _Savepoint, _SessionBegin, _SessionTransaction

if TYPE_CHECKING:
    from heron.engine.engine import Engine


class Session(_SessionQuery):
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

    # -- context management ------------------------------------------------
    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

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


def _relationship_changed(st: InstanceState) -> bool:
    if st.pending_backrefs:
        return True
    committed = st.committed
    if not committed:
        return False
    return any(k in st.mapper.relationships for k in committed)


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
