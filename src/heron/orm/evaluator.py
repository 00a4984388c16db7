"""Evaluate simple WHERE criteria in Python, for ORM UPDATE/DELETE synchronisation.

Layer 4 (orm). ``compile_criteria`` turns a where-clause over one mapped
table into a predicate over instances, following SQL's three-valued logic
(a comparison with NULL is unknown, and unknown does not match). Anything it
cannot evaluate faithfully (LIKE collations, functions, subqueries, columns of
other tables) raises ``Unevaluatable``; the caller then falls back to fetching
the matched keys with RETURNING.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from heron.sql import operators as ops
from heron.sql.elements import NO_VALUE as SQL_NO_VALUE
from heron.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    InList,
    UnaryExpression,
)

if TYPE_CHECKING:
    from heron.orm.mapper import Mapper

Getter = Callable[[dict[str, Any]], Any]


class Unevaluatable(Exception):
    """The criteria cannot be evaluated in Python."""


class _Unloaded(Exception):
    """An attribute the criteria need is not loaded on this instance."""


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    ops.EQ: operator.eq,
    ops.NE: operator.ne,
    ops.LT: operator.lt,
    ops.LE: operator.le,
    ops.GT: operator.gt,
    ops.GE: operator.ge,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    ops.ADD: operator.add,
    ops.SUB: operator.sub,
    ops.MUL: operator.mul,
    ops.MOD: operator.mod,
    ops.CONCAT: operator.add,
}


def compile_criteria(
    mapper: Mapper, criteria: Any, params: Mapping[str, Any] | None
) -> Callable[[Any], bool | None]:
    """Return ``pred(obj)``: True (matches), False (does not) or None (attributes unloaded)."""
    getter = _compile(mapper, criteria, params or {})

    def pred(obj: Any) -> bool | None:
        try:
            return bool(getter(obj.__dict__))
        except _Unloaded:
            return None

    return pred


def compile_value(mapper: Mapper, expr: Any, params: Mapping[str, Any] | None) -> Getter:
    """A getter computing a SET value from an instance's current values."""
    return _compile(mapper, expr, params or {})


def _compile(mapper: Mapper, node: Any, params: Mapping[str, Any]) -> Getter:
    if hasattr(node, "__clause_element__"):
        node = node.__clause_element__()
    key = mapper.column_keys_by_column.get(id(node))
    if key is not None:

        def column(d: dict[str, Any], key: str = key) -> Any:
            try:
                return d[key]
            except KeyError:
                raise _Unloaded from None

        return column
    if isinstance(node, BindParameter):
        value = node.value
        if node.named and node.key in params:
            value = params[node.key]
        if value is SQL_NO_VALUE:
            raise Unevaluatable(f"no value for bindparam {node.key!r}")
        return lambda d: value
    if isinstance(node, BooleanClauseList):
        parts = [_compile(mapper, c, params) for c in node.clauses]
        if node.operator == ops.AND:
            return lambda d: _and(parts, d)
        return lambda d: _or(parts, d)
    if isinstance(node, InList):
        left = _compile(mapper, node.left, params)
        values = node.param.value
        if node.param.named and node.param.key in params:
            values = params[node.param.key]
        if values is SQL_NO_VALUE:
            raise Unevaluatable("IN list without values")
        pool = list(values)
        negate = node.negate

        def in_list(d: dict[str, Any]) -> Any:
            v = left(d)
            if v is None:
                return None
            found = v in pool
            return not found if negate else found

        return in_list
    if isinstance(node, UnaryExpression):
        inner = _compile(mapper, node.element, params)
        if node.operator == ops.NOT and node.modifier is None:
            return lambda d: None if (v := inner(d)) is None else not v
        if node.operator == ops.NEG and node.modifier is None:
            return lambda d: None if (v := inner(d)) is None else -v
        raise Unevaluatable(f"unary {node.operator or node.modifier}")
    if isinstance(node, BinaryExpression):
        left = _compile(mapper, node.left, params)
        right = _compile(mapper, node.right, params)
        op = node.operator
        if op in (ops.IS, ops.IS_NOT):
            negate = op == ops.IS_NOT
            return lambda d: _is(left(d), right(d), negate)
        fn = _COMPARE.get(op) or _ARITH.get(op)
        if fn is None:
            raise Unevaluatable(f"operator {op}")

        def binary(d: dict[str, Any]) -> Any:
            a = left(d)
            b = right(d)
            if a is None or b is None:
                return None
            return fn(a, b)

        return binary
    keyword = getattr(node, "keyword", None) if type(node).__name__ == "_Keyword" else None
    if keyword == "NULL":
        return lambda d: None
    if keyword == "TRUE":
        return lambda d: True
    if keyword == "FALSE":
        return lambda d: False
    raise Unevaluatable(type(node).__name__)


def _is(a: Any, b: Any, negate: bool) -> bool:
    """SQL ``a IS b`` (never unknown: NULL IS NULL is true)."""
    same = a == b if a is not None and b is not None else a is b
    return not same if negate else same


def _and(parts: list[Getter], d: dict[str, Any]) -> Any:
    unknown = False
    for p in parts:
        v = p(d)
        if v is None:
            unknown = True
        elif not v:
            return False
    return None if unknown else True


def _or(parts: list[Getter], d: dict[str, Any]) -> Any:
    unknown = False
    for p in parts:
        v = p(d)
        if v is None:
            unknown = True
        elif v:
            return True
    return None if unknown else False
