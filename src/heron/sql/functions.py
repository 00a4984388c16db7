"""SQL functions (``func.count()``, ``func.now()``, any other name), window functions, CASE.

Layer 3 (sql). ``func.<name>(...)`` builds a ``Function`` node; well-known
names get a result type (so results are processed: ``func.now()`` gives
aware datetimes, ``func.avg`` Decimals). Names whose SQL differs per database
(``now()`` is ``CURRENT_TIMESTAMP`` on SQLite) are rendered by the dialect's
compiler, also inside ``server_default``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from heron.exc import ArgumentError
from heron.sql.base import shape
from heron.sql.coercions import (
    _as_tuple,
    _is_sql,
    _value,
    coerce_expression,
    coerce_order_by,
    coerce_where,
)
from heron.sql.elements import ClauseElement, ColumnElement, _concat_binds
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

T = TypeVar("T")
_NULLTYPE = NullType()


class Over(ColumnElement[T]):
    """A window function: ``fn(...) OVER (PARTITION BY ... ORDER BY ...)``."""

    __slots__ = ("element", "order_by", "partition_by")
    __visit_name__ = "over"

    def __init__(self, element: ColumnElement[Any], partition_by: Any, order_by: Any) -> None:
        self.element = element
        self.partition_by = tuple(coerce_expression(c) for c in _as_tuple(partition_by))
        self.order_by = tuple(coerce_order_by(c) for c in _as_tuple(order_by))
        self.type = element.type
        parts = (element, *self.partition_by, *self.order_by)
        self._key = shape("over", len(self.partition_by), *[p._key for p in parts])
        self._binds = _concat_binds(parts)

    @property
    def _result_name(self) -> str | None:
        return self.element._result_name

    def _children(self) -> Iterable[ClauseElement]:
        return (self.element, *self.partition_by, *self.order_by)


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


class Case(ColumnElement[T]):
    """``CASE WHEN cond THEN value ... ELSE else_ END`` (or ``CASE value WHEN ...``)."""

    __slots__ = ("else_", "value", "whens")
    __visit_name__ = "case"

    def __init__(
        self,
        whens: Sequence[tuple[ClauseElement, ClauseElement]],
        value: ColumnElement[Any] | None,
        else_: ColumnElement[Any] | None,
    ) -> None:
        self.whens = tuple(whens)
        self.value = value
        self.else_ = else_
        result_type: TypeEngine[Any] = _NULLTYPE
        for _, result in self.whens:
            rtype = getattr(result, "type", None)
            if rtype is not None and not isinstance(rtype, NullType):
                result_type = rtype
                break
        self.type = result_type
        parts: list[ClauseElement] = []
        if value is not None:
            parts.append(value)
        for cond, result in self.whens:
            parts += (cond, result)
        if else_ is not None:
            parts.append(else_)
        self._key = shape(
            "case",
            value is not None,
            else_ is not None,
            *[p._key for p in parts],
        )
        self._binds = _concat_binds(parts)

    def _children(self) -> Iterable[ClauseElement]:
        if self.value is not None:
            yield self.value
        for cond, result in self.whens:
            yield cond
            yield result
        if self.else_ is not None:
            yield self.else_


def case(*whens: Any, value: Any = None, else_: Any = None) -> Case[Any]:
    """A CASE expression.

    Example::

        case((users.c.age < 18, "minor"), (users.c.age < 65, "adult"), else_="senior")
        case({"a": 1, "b": 2}, value=t.c.code, else_=0)

    Args:
        whens: ``(condition, result)`` pairs, or one dict ``{compare_value: result}``
            when ``value`` is given.
        value: compare this expression with each key (simple CASE).
        else_: the result when nothing matched (NULL when omitted).
    """
    pairs: list[tuple[Any, Any]]
    if len(whens) == 1 and isinstance(whens[0], dict):
        pairs = list(whens[0].items())
    else:
        pairs = list(whens)
    if not pairs:
        raise ArgumentError("case() needs at least one (condition, result) pair")
    value_expr = coerce_expression(value) if value is not None else None
    result_types = [getattr(coerce_expression(r), "type", None) for _, r in pairs if _is_sql(r)]
    result_type = next((t for t in result_types if t is not None), None)
    built: list[tuple[ClauseElement, ClauseElement]] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ArgumentError(
                f"case() takes (condition, result) tuples, got {pair!r}; "
                "e.g. case((t.c.x > 5, 'big'), else_='small')"
            )
        cond, result = pair
        if value_expr is not None:
            cond_expr: ClauseElement = _value(value_expr, cond)
        else:
            cond_expr = coerce_where(cond)
        built.append((cond_expr, _value(None, result, result_type)))
    else_expr = _value(None, else_, result_type) if else_ is not None else None
    return Case(built, value_expr, else_expr)


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

__all__ = ["Case", "Function", "FunctionGenerator", "Over", "case", "func"]
