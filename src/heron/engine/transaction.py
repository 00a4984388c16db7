"""Transactions and savepoints on one Connection, as a declared state machine.

Layer 2. A ``Transaction`` is the connection's root BEGIN ... COMMIT/ROLLBACK;
a ``NestedTransaction`` is a SAVEPOINT inside it. Both are startable objects:
``async with conn.begin():`` or ``trans = await conn.begin()``. The allowed
prior states sit next to each method; a wrong call names itself and the
current state. The SQL is sent by the owning Connection, which guards it
against use from two tasks at once.
"""

from __future__ import annotations

import enum
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from heron import exc

if TYPE_CHECKING:
    from typing import Self

    from heron.engine.connection import Connection


class TransactionState(enum.Enum):
    """Lifecycle: PENDING -> ACTIVE -> COMMITTED | ROLLED_BACK | CLOSED.

    CLOSED: ended from outside -- its connection closed, or an enclosing
    transaction or savepoint ended first.
    """

    PENDING = "not started"
    ACTIVE = "active"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled back"
    CLOSED = "closed"


class Transaction:
    """The root transaction of a Connection.

    Example::

        async with conn.begin():          # COMMIT on success, ROLLBACK on error
            await conn.execute(insert(users), [{"name": "a"}])

    Attributes:
        connection: the Connection it runs on.
        state: a ``TransactionState``.
    """

    __slots__ = ("connection", "implicit", "state")

    def __init__(self, connection: Connection, *, implicit: bool = False) -> None:
        self.connection = connection
        self.state = TransactionState.PENDING
        # Begun by autobegin (the first statement) rather than by begin().
        self.implicit = implicit

    @property
    def is_active(self) -> bool:
        """Whether the transaction is open."""
        return self.state is TransactionState.ACTIVE

    def _require(self, what: str, *allowed: TransactionState) -> None:
        if self.state not in allowed:
            raise exc.TransactionStateError(
                f"Cannot {what} {self._describe()}: it is {self.state.value}"
            )

    def _describe(self) -> str:
        return "the transaction"

    async def start(self) -> Self:
        """Send BEGIN. Allowed from: PENDING."""
        self._require("start", TransactionState.PENDING)
        await self.connection._begin_root(self)
        return self

    def __await__(self) -> Generator[Any, None, Self]:
        return self.start().__await__()

    async def commit(self) -> None:
        """Send COMMIT. Allowed from: ACTIVE."""
        self._require("commit", TransactionState.ACTIVE)
        await self.connection._commit_root(self)

    async def rollback(self) -> None:
        """Send ROLLBACK. Allowed from: ACTIVE; a no-op once ended."""
        if self.state is TransactionState.PENDING:
            self._require("roll back", TransactionState.ACTIVE)
        if self.state is TransactionState.ACTIVE:
            await self.connection._rollback_root(self)

    async def __aenter__(self) -> Self:
        if self.state is TransactionState.PENDING:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.state is not TransactionState.ACTIVE:
            return  # ended inside the block
        if exc_type is None:
            await self.commit()
        else:
            await self.connection._rollback_after_error(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state.value}>"


class NestedTransaction(Transaction):
    """A SAVEPOINT: RELEASE on success, ROLLBACK TO on error.

    Example::

        async with conn.begin_nested():   # SAVEPOINT heron_sp_1
            ...                           # an error here undoes only this block

    Attributes:
        name: the savepoint name.
    """

    __slots__ = ("name",)

    def __init__(self, connection: Connection, name: str) -> None:
        super().__init__(connection)
        self.name = name

    def _describe(self) -> str:
        return f"savepoint {self.name}"

    async def start(self) -> Self:
        """Send SAVEPOINT (autobeginning the root first). Allowed from: PENDING."""
        self._require("start", TransactionState.PENDING)
        await self.connection._begin_nested(self)
        return self

    async def commit(self) -> None:
        """Send RELEASE SAVEPOINT. Allowed from: ACTIVE."""
        self._require("release", TransactionState.ACTIVE)
        await self.connection._release_nested(self)

    async def rollback(self) -> None:
        """Send ROLLBACK TO SAVEPOINT. Allowed from: ACTIVE; a no-op once ended."""
        if self.state is TransactionState.PENDING:
            self._require("roll back", TransactionState.ACTIVE)
        if self.state is TransactionState.ACTIVE:
            await self.connection._rollback_nested(self)
