"""Every public heron error, in one module.

Layer: importable from anywhere; imports nothing from heron. The tree::

    HeronError
      ConfigurationError(ValueError)   bad URL, unknown driver, impossible pool sizes
      MappingError                     invalid model declaration, found at class set-up
      ArgumentError(ValueError)        a statement or option built with arguments that cannot work
      CompileError                     statement cannot be rendered for this dialect
      UsageError                       right call, wrong moment
        SessionClosedError, TransactionStateError, PendingRollbackError,
        DetachedInstanceError, UnloadedAttributeError, InvalidRequestError
      PoolError
        PoolTimeoutError(TimeoutError), PoolClosedError
      FlushError
        CircularDependencyError (carries the cycle), StaleDataError (row count mismatch)
      NoResultFound, MultipleResultsFound
      DatabaseError                    the database refused; keeps .orig, .statement, .params
        IntegrityError, DataError, OperationalError, ProgrammingError, InterfaceError
      HeronInternalError               a heron bug; the message asks for a report

Three kinds never blur: the database said no (DatabaseError), the caller used
heron wrongly (everything else), heron is broken (HeronInternalError).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_DOCS = "docs/errors.md"


class HeronError(Exception):
    """Root of every error heron raises."""

    code: str = "heron"

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} (see {_DOCS}#{self.code})"


class ConfigurationError(HeronError, ValueError):
    """Raised for a malformed URL, an unknown driver or impossible pool settings."""

    code = "configuration"


class MappingError(HeronError):
    """Raised when a model declaration cannot work; found when the class is set up."""

    code = "mapping"


class ArgumentError(HeronError, ValueError):
    """Raised when a statement or option is built with arguments that cannot work."""

    code = "argument"


class CompileError(HeronError):
    """Raised when a statement cannot be rendered for the target dialect."""

    code = "compile"


class UsageError(HeronError):
    """Raised for the right call at the wrong moment."""

    code = "usage"


class InvalidRequestError(UsageError):
    """Raised when an operation is not valid for the object's current state."""

    code = "invalid-request"


class SessionClosedError(UsageError):
    """Raised when a closed session or connection is used."""

    code = "session-closed"


class TransactionStateError(UsageError):
    """Raised when a transaction method is called in a state that forbids it,
    or when a second task uses a session or connection while an operation is in flight."""

    code = "transaction-state"


class PendingRollbackError(UsageError):
    """Raised after a failed flush until ``rollback()`` is called."""

    code = "pending-rollback"


class DetachedInstanceError(UsageError):
    """Raised when an unloaded attribute of an object with no session is read."""

    code = "detached-instance"


class UnloadedAttributeError(UsageError):
    """Raised when an attribute that is not loaded is read; reading never does I/O."""

    code = "unloaded-attribute"


class PoolError(HeronError):
    """Base of connection-pool errors."""

    code = "pool"


class PoolTimeoutError(PoolError, TimeoutError):
    """Raised when no connection could be checked out within ``pool_timeout``."""

    code = "pool-timeout"


class PoolClosedError(PoolError):
    """Raised when a disposed pool is used."""

    code = "pool-closed"


class FlushError(HeronError):
    """Raised when the unit of work cannot flush the session's changes."""

    code = "flush"


class CircularDependencyError(FlushError):
    """Raised when rows depend on each other in a cycle that ``post_update`` does not break."""

    code = "circular-dependency"

    def __init__(self, message: str, cycle: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.cycle = list(cycle)


class StaleDataError(FlushError):
    """Raised when an UPDATE or DELETE matched a different number of rows than expected."""

    code = "stale-data"


class NoResultFound(HeronError):
    """Raised by ``one()`` / ``scalar_one()`` when there is no row."""

    code = "no-result-found"


class MultipleResultsFound(HeronError):
    """Raised by ``one()`` / ``one_or_none()`` when there is more than one row."""

    code = "multiple-results-found"


class DatabaseError(HeronError):
    """Raised when the database refused a statement.

    Attributes:
        orig: the driver's own exception.
        statement: the SQL text that was sent.
        params: the parameters that were sent with it.
    """

    code = "database"

    def __init__(
        self,
        message: str,
        *,
        orig: BaseException | None = None,
        statement: str | None = None,
        params: Any = None,
    ) -> None:
        super().__init__(message)
        self.orig = orig
        self.statement = statement
        self.params = params

    def __str__(self) -> str:
        text = Exception.__str__(self)
        if self.statement is not None:
            text += f"\n[SQL: {self.statement}]"
            if self.params is not None:
                shown = repr(self.params)
                if len(shown) > 500:
                    shown = shown[:500] + "..."
                text += f"\n[parameters: {shown}]"
        return f"{text} (see {_DOCS}#{self.code})"


class IntegrityError(DatabaseError):
    """Raised when a constraint (unique, foreign key, not null, check) is violated."""

    code = "integrity"


class DataError(DatabaseError):
    """Raised when a value is invalid for its column or parameter type."""

    code = "data"


class OperationalError(DatabaseError):
    """Raised for connection loss, locks, timeouts and other operational failures."""

    code = "operational"


class ProgrammingError(DatabaseError):
    """Raised for invalid SQL, unknown tables or columns, and similar mistakes."""

    code = "programming"


class InterfaceError(DatabaseError):
    """Raised when the driver interface itself is misused (e.g. a closed connection)."""

    code = "interface"


class HeronInternalError(HeronError):
    """Raised when heron detects a bug in itself; please report it."""

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}. This is a heron bug; please report it with a traceback.")


class ResourceClosedError(UsageError):
    """Raised when a closed result is read, or a result without rows is asked for rows."""

    code = "resource-closed"


__all__ = [
    "ArgumentError",
    "CircularDependencyError",
    "CompileError",
    "ConfigurationError",
    "DataError",
    "DatabaseError",
    "DetachedInstanceError",
    "FlushError",
    "HeronError",
    "HeronInternalError",
    "IntegrityError",
    "InterfaceError",
    "InvalidRequestError",
    "MappingError",
    "MultipleResultsFound",
    "NPlusOneError",
    "NPlusOneWarning",
    "NoResultFound",
    "OperationalError",
    "PendingRollbackError",
    "PoolClosedError",
    "PoolError",
    "PoolTimeoutError",
    "ProgrammingError",
    "ResourceClosedError",
    "SessionClosedError",
    "StaleDataError",
    "TransactionStateError",
    "UnloadedAttributeError",
    "UsageError",
]


class NPlusOneError(UsageError):
    """Raised by a Session with ``n_plus_one="raise"`` when a lazy relationship is
    loaded object by object for the results of one query."""

    code = "n-plus-one"


class NPlusOneWarning(UserWarning):
    """Warned by a Session with ``n_plus_one="warn"`` (see ``NPlusOneError``)."""
