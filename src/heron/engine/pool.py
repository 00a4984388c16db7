"""The bounded, fair, cancellation-safe connection pool.

Layer 2. Invariants: at most ``pool_size + max_overflow`` driver connections
exist (opening ones count; only a connection replaced by pre-ping/recycle may
briefly overlap its replacement while it closes); waiters are served first come,
first served; every connection handed out comes back exactly once, either
idle and outside a transaction (reused with no reset query) or closed and
its capacity returned. Checkout and release are O(1) and do no I/O on the
common path; I/O (rollback, close, pre-ping, connect) runs only when needed,
and cleanup runs shielded so a cancelled caller cannot interrupt it.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from heron import exc

if TYPE_CHECKING:
    from heron.driver.base import DriverConnection

# Bound on cleanup I/O (rollback before reuse, graceful close): a peer that
# does not answer within this is treated as dead and the socket is aborted.
RESET_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of the pool.

    Attributes:
        size: connections that exist now (idle, checked out, or opening).
        checked_out: connections held by callers (or being handed to one).
        overflow: connections beyond ``pool_size`` (0 when at or under it).
        waiting: tasks waiting for a connection.
    """

    size: int
    checked_out: int
    overflow: int
    waiting: int


class PoolState(enum.Enum):
    """Pool lifecycle: OPEN -> DISPOSING -> OPEN (dispose keeps the pool usable)."""

    OPEN = "open"
    DISPOSING = "disposing"


class PooledConnection:
    """One slot: a live driver connection plus its birth time and generation."""

    __slots__ = ("conn", "created", "generation")

    def __init__(self, conn: DriverConnection, generation: int) -> None:
        self.conn = conn
        self.created = time.monotonic()
        self.generation = generation


async def run_shielded(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion even if the caller is cancelled, then re-raise the cancel.

    Shielded both ways: ``asyncio.shield`` for native cancellation and
    ``asyncio.timeout``, an anyio shielded scope for anyio's level-triggered
    cancel scopes (which would otherwise re-cancel every wait). Being
    cancelled twice only makes the caller wait again; cleanup is never cut
    short.
    """
    task = asyncio.ensure_future(coro)
    cancelled: BaseException | None = None
    with anyio.CancelScope(shield=True):
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError as error:
                if task.done():
                    break
                cancelled = error
    if not task.cancelled():
        task.result()  # cleanup errors surface here (they are rare and never DatabaseError)
    if cancelled is not None:
        raise cancelled


class Pool:
    """A bounded pool of driver connections with FIFO-fair waiting.

    Example::

        slot = await pool.acquire()
        try:
            await slot.conn.fetch("SELECT 1", None)
        finally:
            pool.release(slot)      # only when idle and outside a transaction

    ``Connection`` does the checkout/return dance for users; nothing outside
    the engine touches a ``Pool`` directly except ``stats()`` and ``dispose()``.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[DriverConnection]],
        *,
        pool_size: int,
        max_overflow: int,
        timeout: float | None,
        recycle: float | None,
        pre_ping: bool,
        replaceable: bool = True,
    ) -> None:
        """Create an empty pool; connections open on demand.

        Args:
            connect: opens one driver connection.
            pool_size: connections kept open when idle.
            max_overflow: extra connections allowed under load.
            timeout: seconds a checkout waits before ``PoolTimeoutError``.
            recycle: replace connections older than this many seconds.
            pre_ping: round-trip a ping on checkout and replace dead connections.
            replaceable: False for a shared in-memory SQLite connection, whose
                data would vanish with it; it is then never recycled.
        """
        self._connect = connect
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self._max = pool_size + max_overflow
        self.timeout = timeout
        self.recycle = recycle if replaceable else None
        self.pre_ping = pre_ping
        self._idle: deque[PooledConnection] = deque()
        self._waiters: deque[asyncio.Future[PooledConnection | None]] = deque()
        self._live = 0
        self._checked_out = 0
        self._generation = 0
        self._state = PoolState.OPEN
        self._closing: set[asyncio.Task[None]] = set()
        # True when a checked-out slot needs a look before use (pre_ping,
        # recycle): keeps the common checkout free of clock reads.
        self._inspect = pre_ping or self.recycle is not None

    # --- observability ----------------------------------------------------

    def stats(self) -> PoolStats:
        """Return a snapshot: size, checked out, overflow, waiting."""
        return PoolStats(
            size=self._live,
            checked_out=self._checked_out,
            overflow=max(0, self._live - self.pool_size),
            waiting=len(self._waiters),
        )

    def __repr__(self) -> str:
        s = self.stats()
        return (
            f"<Pool size={s.size}/{self._max} checked_out={s.checked_out} "
            f"waiting={s.waiting} generation={self._generation}>"
        )

    # --- checkout ---------------------------------------------------------

    async def acquire(self) -> PooledConnection:
        """Check out a connection, waiting (fairly) up to ``timeout`` seconds.

        Raises:
            PoolTimeoutError: no connection became free within ``timeout``.
            OperationalError: a new connection could not be opened.
        """
        # hot path: benchmarks/workloads/pool.py -- an idle slot and nobody
        # queued means no suspension, no allocation, no clock read.
        if self._idle and not self._waiters:
            slot = self._idle.pop()
            self._checked_out += 1
            if self._inspect or slot.generation != self._generation or slot.conn.is_closed():
                return await self._vet(slot)
            return slot
        if self._live < self._max and not self._waiters:
            self._live += 1
            self._checked_out += 1
            return await self._open_reserved()
        return await self._wait()

    async def _wait(self) -> PooledConnection:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[PooledConnection | None] = loop.create_future()
        self._waiters.append(waiter)
        timer = None
        if self.timeout is not None:
            timer = loop.call_later(self.timeout, self._expire, waiter)
        try:
            slot = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a slot (or a permit) in the same loop cycle as our
                # cancellation: pass it on rather than leak it.
                self._pass_on(waiter.result())
            else:
                self._forget(waiter)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        # The giver counted us in _checked_out (and _live for a permit).
        if slot is None:
            return await self._open_reserved()
        if self._inspect or slot.generation != self._generation or slot.conn.is_closed():
            return await self._vet(slot)
        return slot

    def _expire(self, waiter: asyncio.Future[PooledConnection | None]) -> None:
        if waiter.done():
            return
        self._forget(waiter)
        waiter.set_exception(
            exc.PoolTimeoutError(
                f"No connection became available within {self.timeout}s: pool_size="
                f"{self.pool_size}, max_overflow={self.max_overflow}, "
                f"{self._checked_out} checked out, {len(self._waiters)} other task(s) "
                "waiting; return connections sooner (async with engine.connect()) or "
                "raise pool_size / max_overflow / pool_timeout"
            )
        )

    def _forget(self, waiter: asyncio.Future[PooledConnection | None]) -> None:
        try:
            self._waiters.remove(waiter)  # O(n), but only on timeout/cancel
        except ValueError:
            pass

    async def _vet(self, slot: PooledConnection) -> PooledConnection:
        """Check a slot before handing it out: generation, age, liveness (pre_ping)."""
        conn = slot.conn
        try:
            fresh = (
                slot.generation == self._generation
                and not conn.is_closed()
                and (self.recycle is None or time.monotonic() - slot.created < self.recycle)
            )
            if fresh and self.pre_ping:
                try:
                    await conn.ping()
                except exc.DatabaseError:
                    fresh = False
        except BaseException:
            # Cancelled mid-ping: the slot's state is unknown; close it and
            # give its capacity back.
            self._checked_out -= 1
            self._live -= 1
            self._close_soon(conn)
            self._grant_permit()
            raise
        if fresh:
            return slot
        # Replace it in place: the capacity stays reserved for this caller.
        self._close_soon(conn)
        return await self._open_reserved()

    async def _open_reserved(self) -> PooledConnection:
        """Open a connection into capacity already counted in _live/_checked_out."""
        try:
            conn = await self._connect()
        except BaseException:
            self._live -= 1
            self._checked_out -= 1
            self._grant_permit()
            raise
        return PooledConnection(conn, self._generation)

    # --- return -----------------------------------------------------------

    def release(self, slot: PooledConnection) -> None:
        """Return a slot known to be idle and outside a transaction (no I/O).

        Hands it straight to the oldest waiter, else keeps it idle. A slot of
        an older generation (the pool was disposed meanwhile) is closed.
        """
        if slot.generation != self._generation:
            self._checked_out -= 1
            self._live -= 1
            self._close_soon(slot.conn)
            self._grant_permit()
            return
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(slot)  # stays counted as checked out
                return
        self._checked_out -= 1
        if len(self._idle) >= self.pool_size:
            # An overflow connection with nobody waiting: close it (as SQLAlchemy does).
            self._live -= 1
            self._close_soon(slot.conn)
            return
        self._idle.append(slot)

    def _pass_on(self, slot: PooledConnection | None) -> None:
        if slot is not None:
            self.release(slot)
            return
        # An unused permit: give it to the next waiter or drop the capacity.
        self._live -= 1
        self._checked_out -= 1
        self._grant_permit()

    def _grant_permit(self) -> None:
        """Let the oldest waiter open a new connection in freed capacity."""
        waiters = self._waiters
        while waiters and self._live < self._max:
            waiter = waiters.popleft()
            if not waiter.done():
                self._live += 1
                self._checked_out += 1
                waiter.set_result(None)
                return

    async def reset_and_release(self, slot: PooledConnection, *, recover: bool) -> None:
        """Roll back (or recover after a cancelled statement), then return or discard.

        Run under ``run_shielded``. ``recover`` means an operation was cut off
        mid-flight: the driver decides whether the connection can be saved.
        """
        conn = slot.conn
        reusable = False
        try:
            async with asyncio.timeout(RESET_TIMEOUT):
                if recover:
                    reusable = await conn.recover()
                elif not conn.is_closed():
                    await conn.rollback()
                    reusable = not conn.is_closed() and not conn.in_transaction()
        except Exception:
            reusable = False
        if reusable:
            self.release(slot)
        else:
            await self.discard(slot)

    async def discard(self, slot: PooledConnection) -> None:
        """Close a checked-out slot whose state is unknown, then free its capacity.

        The capacity is freed only after the close, so the bound holds for
        sockets too.
        """
        try:
            await _close_quietly(slot.conn)
        finally:
            self._checked_out -= 1
            self._live -= 1
            self._grant_permit()

    def _close_soon(self, conn: DriverConnection) -> None:
        # Closing must not block the caller; dispose() awaits stragglers.
        task = asyncio.get_running_loop().create_task(_close_quietly(conn))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # --- disposal -----------------------------------------------------------

    async def dispose(self) -> None:
        """Close every idle connection; checked-out ones close when returned.

        The pool stays usable: later checkouts open new connections (the
        generation counter tells old slots from new ones).
        """
        self._state = PoolState.DISPOSING
        try:
            self._generation += 1
            idle, self._idle = self._idle, deque()
            self._live -= len(idle)
            for slot in idle:
                self._close_soon(slot.conn)
            self._grant_permit()
            while self._closing:
                await asyncio.gather(*list(self._closing), return_exceptions=True)
        finally:
            self._state = PoolState.OPEN


async def _close_quietly(conn: DriverConnection) -> None:
    """Close gracefully within RESET_TIMEOUT, else abort; raise nothing but a cancel."""
    try:
        async with asyncio.timeout(RESET_TIMEOUT):
            await conn.close()
    except Exception:
        conn.terminate()
    except BaseException:
        conn.terminate()
        raise
