"""SQL functions: ``func.count()``, ``func.lower(x)``, ``func.now()`` and any other name.

Layer 3 (sql). ``func.<name>(...)`` builds a ``Function`` node; well-known
names get a result type (so results are processed: ``func.now()`` gives
aware datetimes, ``func.avg`` Decimals). Names whose SQL differs per database
(``now()`` is ``CURRENT_TIMESTAMP`` on SQLite) are rendered by the dialect's
compiler, also inside ``server_default``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from heron.sql.base import shape
from heron.sql.elements import (
    ClauseElement,
    ColumnElement,
    Over,
    _concat_binds,
    _value,
)
from heron.sql.types import (
    DateTime,
    Float,
    Integer,
    NullType,
    Numeric,
    String,
    TypeEngine,
    to_instance,
)

_NULLTYPE = NullType()


class Function(ColumnElement[Any]):
    """``name(arg, ...)``; the result column is keyed by the function's name.

    Attributes:
        name: the function name as written (``"count"``, ``"my_schema.fn"``).
        clauses: the arguments.
    """

    __visit_name__ = "function"

    def __init__(self, name: str, *args: Any, type_: Any = None) -> None:
        self.name = name
        self.clauses: tuple[ColumnElement[Any], ...] = tuple(_value(None, a) for a in args)
        if type_ is not None:
            self.type = to_instance(type_)
        else:
            self.type = _result_type(name.lower(), self.clauses)
        self._key = shape("fn", name, self.type._key, *[c._key for c in self.clauses])
        self._binds = _concat_binds(self.clauses)

    @property
    def _result_name(self) -> str | None:
        return self.name.rpartition(".")[2]

    def _children(self) -> Iterable[ClauseElement]:
        return self.clauses

    def over(self, *, partition_by: Any = None, order_by: Any = None) -> Over[Any]:
        """This function as a window function: ``fn() OVER (PARTITION BY ... ORDER BY ...)``."""
        return Over(self, partition_by, order_by)


def _first_type(args: tuple[ColumnElement[Any], ...]) -> TypeEngine[Any]:
    for arg in args:
        t = arg.type
        if t is not None and not isinstance(t, NullType):
            return t
    return _NULLTYPE


def _result_type(name: str, args: tuple[ColumnElement[Any], ...]) -> TypeEngine[Any]:
    if name in ("count", "length", "char_length", "row_number", "rank", "dense_rank"):
        return Integer()
    if name in ("now", "current_timestamp", "localtimestamp"):
        return DateTime(timezone=True)
    if name in ("lower", "upper", "trim", "concat", "substr", "substring", "replace"):
        return String()
    if name == "avg":
        return Float() if isinstance(_first_type(args), Float) else Numeric()
    if name in ("sum", "min", "max", "coalesce", "abs", "round", "nullif", "greatest", "least"):
        return _first_type(args)
    return _NULLTYPE


class _FunctionBuilder:
    """``func.<name>`` for a name not typed below; ``func.schema.name`` nests."""

    __slots__ = ("_names",)

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names

    def __getattr__(self, name: str) -> _FunctionBuilder:
        if name.startswith("__"):
            raise AttributeError(name)
        return _FunctionBuilder((*self._names, name))

    def __call__(self, *args: Any, type_: Any = None) -> Function:
        return Function(".".join(self._names), *args, type_=type_)


class FunctionGenerator:
    """The ``func`` namespace.

    Common functions are typed methods; any other attribute builds a function
    of that name (``func.jsonb_build_object(...)``, ``func.my_schema.fn(...)``).

    Example::

        select(func.count()).select_from(users)
        select(users.c.name, func.lower(users.c.email).label("email"))
        Column("created", DateTime(timezone=True), server_default=func.now())
    """

    def count(self, expression: Any = None) -> Function:
        """``count(expression)``; ``count(*)`` without an argument."""
        if expression is None:
            return Function("count")
        return Function("count", expression)

    def now(self) -> Function:
        """The current timestamp (``now()``; ``CURRENT_TIMESTAMP`` on SQLite)."""
        return Function("now")

    def current_timestamp(self) -> Function:
        """``CURRENT_TIMESTAMP``."""
        return Function("current_timestamp")

    def sum(self, expression: Any) -> Function:
        """``sum(expression)``."""
        return Function("sum", expression)

    def min(self, expression: Any) -> Function:
        """``min(expression)``."""
        return Function("min", expression)

    def max(self, expression: Any) -> Function:
        """``max(expression)``."""
        return Function("max", expression)

    def avg(self, expression: Any) -> Function:
        """``avg(expression)`` (Decimal results for exact types)."""
        return Function("avg", expression)

    def lower(self, expression: Any) -> Function:
        """``lower(expression)``."""
        return Function("lower", expression)

    def upper(self, expression: Any) -> Function:
        """``upper(expression)``."""
        return Function("upper", expression)

    def length(self, expression: Any) -> Function:
        """``length(expression)`` in characters."""
        return Function("length", expression)

    def coalesce(self, *expressions: Any) -> Function:
        """``coalesce(a, b, ...)``: the first non-NULL argument."""
        return Function("coalesce", *expressions)

    def abs(self, expression: Any) -> Function:
        """``abs(expression)``."""
        return Function("abs", expression)

    def row_number(self) -> Function:
        """``row_number()`` (use with ``.over(...)``)."""
        return Function("row_number")

    def __getattr__(self, name: str) -> _FunctionBuilder:
        # Any other SQL function by name; typed methods above cover the usual ones.
        if name.startswith("__"):
            raise AttributeError(name)
        return _FunctionBuilder((name,))


func = FunctionGenerator()

__all__ = ["Function", "FunctionGenerator", "func"]
