"""Coercion rules and operator semantics: what a Python value or object becomes in SQL.

Layer 3 (sql). ``coerce_*`` turn whatever the caller passed (columns, ORM
attributes via ``__clause_element__``, Python values) into expression nodes,
or raise an ``ArgumentError`` that says what to write instead. The
``_compare`` / ``_in`` / ``_arith`` / ``_affix`` functions implement the
operators of ``ColumnOperators``: NULL comparisons become IS, lists need
``in_()``, values become bound parameters typed like the column they meet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from heron.exc import ArgumentError
from heron.sql import operators as ops
from heron.sql.elements import (
    _BOOLEAN,
    _FALSE,
    _NULL,
    _NULLTYPE,
    _TRUE,
    BinaryExpression,
    BindParameter,
    ClauseElement,
    ClauseList,
    ColumnElement,
    InList,
    LikeAffix,
    Tuple,
    _LabelReference,
)
from heron.sql.types import NullType, String, TypeEngine


def _compare(left: ColumnElement[Any], operator: str, other: Any) -> ColumnElement[bool]:
    if other is None:
        if operator == ops.EQ or operator == ops.IS:
            return BinaryExpression(left, _NULL, ops.IS, _BOOLEAN)
        if operator == ops.NE or operator == ops.IS_NOT:
            return BinaryExpression(left, _NULL, ops.IS_NOT, _BOOLEAN)
    elif isinstance(other, list | set | frozenset) or (
        isinstance(other, tuple) and not isinstance(left, Tuple)
    ):
        if operator in (ops.EQ, ops.NE):
            fix = "in_" if operator == ops.EQ else "not_in"
            raise ArgumentError(
                f"cannot compare {_describe(left)} with a {type(other).__name__} using "
                f"{'==' if operator == ops.EQ else '!='}; use .{fix}({other!r}) instead"
            )
        raise ArgumentError(f"cannot compare {_describe(left)} with a {type(other).__name__}")
    if isinstance(left, Tuple) and isinstance(other, tuple):
        if len(other) != len(left.clauses):
            raise ArgumentError(
                f"tuple of {len(other)} compared with a row value of {len(left.clauses)}"
            )
        right: ClauseElement = Tuple(
            *[_value(c, v) for c, v in zip(left.clauses, other, strict=True)]
        )
    else:
        right = _value(left, other)
    return BinaryExpression(left, right, operator, _BOOLEAN)


def _arith(
    element: ColumnElement[Any], operator: str, other: Any, *, reverse: bool = False
) -> ColumnElement[Any]:
    other_expr = _value(element, other)
    ltype = element.type or _NULLTYPE
    rtype = getattr(other_expr, "type", None) or _NULLTYPE
    if operator == ops.CONCAT:
        result_type: TypeEngine[Any] = ltype if ltype._is_string else String()
    else:
        result_type = ltype if not isinstance(ltype, NullType) else rtype
    if reverse:
        return BinaryExpression(other_expr, element, operator, result_type)
    return BinaryExpression(element, other_expr, operator, result_type)


def _in(left: ColumnElement[Any], other: Any, *, negate: bool) -> ColumnElement[bool]:
    operator = ops.NOT_IN if negate else ops.IN
    if getattr(other, "_is_select_statement", False):
        other = other.scalar_subquery()
    if isinstance(other, ColumnElement) and other.__visit_name__ == "scalar_select":
        return BinaryExpression(left, other, operator, _BOOLEAN)
    if isinstance(other, BindParameter):
        if not other.expanding:
            raise ArgumentError(
                "in_() with a bindparam() needs bindparam(name, expanding=True) so the "
                "parameter can hold a list"
            )
        if isinstance(other.type, NullType) and left.type is not None:
            other = BindParameter(
                other.key, other.value, left.type, named=other.named, expanding=True
            )
        return InList(left, other, negate)
    if isinstance(other, str | bytes) or not isinstance(other, Iterable):
        raise ArgumentError(
            f"in_() takes a list of values or a select(), got {other!r}; "
            f"for a single value use == instead"
        )
    values = list(other)
    # one test per distinct type, not per value (selectin passes thousands of keys)
    if any(
        issubclass(kind, ClauseElement) or hasattr(kind, "__clause_element__")
        for kind in set(map(type, values))
    ):
        # Expressions inside the list: render them one by one (no expanding).
        items = ClauseList([_value(left, v) for v in values])
        return BinaryExpression(left, items, operator, _BOOLEAN)
    name = getattr(left, "key", None)
    param: BindParameter[Any] = BindParameter(
        name if isinstance(name, str) else "param", values, left.type or _NULLTYPE, expanding=True
    )
    return InList(left, param, negate)


def _escape_like(value: str) -> str:
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


# Pattern builders applied to a bound value at execution time (BindParameter.transform).
LIKE_TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "startswith": lambda v: None if v is None else _escape_like(v) + "%",
    "endswith": lambda v: None if v is None else "%" + _escape_like(v),
    "contains": lambda v: None if v is None else "%" + _escape_like(v) + "%",
}


def _affix(left: ColumnElement[Any], other: Any, kind: str) -> ColumnElement[bool]:
    if isinstance(other, BindParameter):
        right: ClauseElement = BindParameter(
            other.key, other.value, other.type, named=other.named, transform=kind
        )
    elif _is_sql(other):
        right = coerce_expression(other)
    else:
        if not isinstance(other, str):
            raise ArgumentError(f"{kind}() takes a string, got {other!r}")
        right = BindParameter(
            getattr(left, "key", None), other, left.type or _NULLTYPE, transform=kind
        )
    return LikeAffix(left, right, kind)


# -- coercion ---------------------------------------------------------------------------------


def _is_sql(obj: Any) -> bool:
    return isinstance(obj, ClauseElement) or hasattr(obj, "__clause_element__")


def _unwrap(obj: Any) -> Any:
    # ORM attributes and mapped classes reduce to SQL constructs through
    # __clause_element__; follow the chain until it stops.
    seen = 0
    while not isinstance(obj, ClauseElement) and hasattr(obj, "__clause_element__"):
        obj = obj.__clause_element__()
        seen += 1
        if seen > 10:
            break
    return obj


def _describe(obj: Any) -> str:
    name = getattr(obj, "name", None)
    table = getattr(obj, "table", None)
    if isinstance(name, str) and table is not None and getattr(table, "name", None):
        return f"column {table.name}.{name}"
    if isinstance(name, str):
        return f"column {name}"
    return "the expression"


def coerce_expression(obj: Any) -> ColumnElement[Any]:
    """Return ``obj`` as a column expression, or raise ArgumentError saying what to do."""
    if isinstance(obj, ColumnElement):
        return obj
    obj = _unwrap(obj)
    if isinstance(obj, ColumnElement):
        return obj
    if getattr(obj, "_is_select_statement", False):
        raise ArgumentError(
            "a select() was given where a single value is expected; "
            "use stmt.scalar_subquery() (or stmt.subquery() as a FROM)"
        )
    if isinstance(obj, ClauseElement):
        raise ArgumentError(
            f"{type(obj).__name__} is not a column expression; select its columns "
            "(table.c.name) instead"
        )
    if isinstance(obj, str):
        raise ArgumentError(
            f"plain string {obj!r} given where a SQL expression is expected; "
            f"use text({obj!r}) for raw SQL, or literal({obj!r}) for a value"
        )
    raise ArgumentError(
        f"{obj!r} is not a SQL expression; use literal({obj!r}) for a value, "
        "or a column such as table.c.name"
    )


def coerce_where(obj: Any) -> ColumnElement[Any]:
    """Return ``obj`` as a condition; plain strings point to ``text()``."""
    if isinstance(obj, ColumnElement):
        return obj
    if obj is True:
        return _TRUE
    if obj is False:
        return _FALSE
    return coerce_expression(obj)


def coerce_order_by(obj: Any) -> ColumnElement[Any]:
    """ORDER BY / GROUP BY element; a string names a label or column of the statement."""
    if isinstance(obj, str):
        return _LabelReference(obj)
    return coerce_expression(obj)


def _value(against: ColumnElement[Any] | None, value: Any, type_: Any = None) -> ColumnElement[Any]:
    """A SQL expression as is, or a Python value as a bound parameter typed like ``against``."""
    if isinstance(value, ColumnElement):
        return value
    if _is_sql(value):
        return coerce_expression(value)
    if value is None:
        return _NULL
    if type_ is None and against is not None:
        type_ = against.type
        if type_ is None or isinstance(type_, NullType):
            type_ = None
    key = getattr(against, "key", None) if against is not None else None
    return BindParameter(key if isinstance(key, str) else None, value, type_)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)
