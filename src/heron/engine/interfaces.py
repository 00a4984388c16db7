"""The seam between the engine and anything it can execute.

Layer 2. The engine knows nothing of the expression tree: it executes any
object with ``_plan_execution(dialect, params)`` (sql statements implement
it, with their compiled-statement cache behind it) and plain SQL strings via
``Connection.exec_driver_sql``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from heron.dialect.base import Dialect

# Converts one raw value from the driver into its Python value (None stays None
# unless the processor says otherwise; processors are only set where needed).
ResultProcessor = Callable[[Any], Any]


@dataclass(slots=True)
class ExecutionPlan:
    """One statement ready for the driver.

    Attributes:
        sql: SQL text in the dialect's paramstyle.
        params: positional parameters for one execution, or a list of such
            sequences when ``many`` is true (executemany).
        many: send ``params`` as an executemany.
        returns_rows: the statement yields rows (SELECT, or DML with RETURNING).
        keys: result column names, in order (None: take them from the driver).
        processors: one result processor per result column, or None for columns
            that need no conversion; None when no column needs one.
        is_ddl: a schema statement (the driver may choose not to prepare it).
    """

    sql: str
    params: Sequence[Any] | list[Sequence[Any]]
    many: bool = False
    returns_rows: bool = False
    keys: Sequence[str] | None = None
    processors: Sequence[ResultProcessor | None] | None = None
    is_ddl: bool = False


@runtime_checkable
class Executable(Protocol):
    """Anything ``Connection.execute`` accepts."""

    def _plan_execution(
        self,
        dialect: Dialect,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    ) -> ExecutionPlan:
        """Compile (or fetch from cache) and bind ``params``; see ExecutionPlan."""
        ...
