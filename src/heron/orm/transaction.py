"""The session's explicit transactions: ``begin()``, ``begin_nested()``, ``sessionmaker.begin()``.

Layer 4 (orm). A savepoint remembers how much the session's transaction
record held when it started, so rolling it back undoes only what was flushed
inside it (``Session._restore_after_rollback`` with the savepoint's share).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heron.orm.session import Session


class _SessionTransaction:
    """``async with session.begin():`` — commit at exit, rollback on error."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def __aenter__(self) -> Session:
        return self.session

    async def __aexit__(self, exc_type: Any, exc_val: Any, tb: Any) -> None:
        if exc_type is None:
            await self.session.commit()
        else:
            await self.session.rollback()

    def __await__(self) -> Any:
        async def _noop() -> _SessionTransaction:
            return self

        return _noop().__await__()


class _Savepoint:
    """A SAVEPOINT; undoing it reverts only what was flushed inside it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._tx: Any = None
        self._marks = (0, 0, 0)
        self.active = False
        # a flush inside it failed and already rolled it back in the database
        self.failed_flush = False

    async def start(self) -> _Savepoint:
        s = self.session
        s._enter("begin_nested")
        try:
            await s._flush()
            conn = await s._connection(write=True)
            self._tx = await conn.begin_nested()
            self._marks = (len(s._txn_inserted), len(s._txn_deleted), len(s._txn_updated))
            s._savepoints.append(self)
            self.active = True
        finally:
            s._leave()
        return self

    def __await__(self) -> Any:
        return self.start().__await__()

    async def __aenter__(self) -> _Savepoint:
        return await self.start()

    async def __aexit__(self, exc_type: Any, exc_val: Any, tb: Any) -> None:
        if not self.active:
            return
        if exc_type is None:
            await self.commit()
        else:
            await self.rollback()

    async def commit(self) -> None:
        """Flush and release the savepoint."""
        s = self.session
        s._enter("commit")
        try:
            await s._flush()
            await self._tx.commit()
        finally:
            self._end()
            s._leave()

    async def rollback(self) -> None:
        """Roll back to the savepoint, undoing only what was flushed inside it."""
        s = self.session
        s._enter("rollback", allow_failed=True)
        try:
            if self not in s._savepoints:
                # the whole transaction ended underneath it: only session.rollback()
                # can set the session straight, so the failure stays recorded
                return
            if not self.failed_flush:
                await self._tx.rollback()
            ins_mark, del_mark, upd_mark = self._marks
            inserted = s._txn_inserted[ins_mark:]
            deleted = s._txn_deleted[del_mark:]
            updated = s._txn_updated[upd_mark:]
            del s._txn_inserted[ins_mark:]
            del s._txn_deleted[del_mark:]
            del s._txn_updated[upd_mark:]
            s._restore_after_rollback(inserted, deleted, updated)
            s._failed = None
        finally:
            self._end()
            s._leave()

    def _end(self) -> None:
        self.active = False
        if self in self.session._savepoints:
            self.session._savepoints.remove(self)


class _SessionBegin:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def __aenter__(self) -> Session:
        self.session._explicit = True
        return self.session

    async def __aexit__(self, exc_type: Any, exc_val: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()
