"""Expression nodes (columns, bound values, operators, labels, casts) and ColumnOperators.

Layer 3 (sql). Every node is immutable and computes two things when it is
built: ``_key``, the interned id of its SHAPE (structure, identifiers and
types, never values; see ``base.shape``), and ``_binds``, the bound
parameters below it in a fixed order. A statement's cache key is then a short
tuple of its parts' ids, so a compiled-statement cache hit costs a hash and a
lookup, and the values for a hit are read straight from ``_binds`` without
walking the tree again. What Python values become is decided in
``coercions.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from heron.sql import operators as ops
from heron.sql.base import shape
from heron.sql.types import (
    Boolean,
    NullType,
    TypeEngine,
    to_instance,
    type_for_value,
)

if TYPE_CHECKING:
    from heron.dialect.base import Dialect
    from heron.sql.compiler.compiled import Compiled
    from heron.sql.selectable import FromClause

T = TypeVar("T")
_NULLTYPE = NullType()
_BOOLEAN = Boolean()
_EMPTY: tuple[Any, ...] = ()


class _NoValue:
    """Marker: a bindparam() whose value must come from the execution parameters."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()

# Set by heron.sql.compiler when it is imported (heron.sql imports it), so this
# module does not import the compiler, which imports this module.
_compile_hook: Callable[[ClauseElement, Dialect | None], Compiled] | None = None


class ClauseElement:
    """Base of every SQL construct.

    Attributes:
        _key: hashable shape of this construct (no values) for the compiled cache.
        _binds: bound parameters (and anonymous FROM objects) below this
            construct, in the fixed order the cache key implies.
    """

    __slots__ = ("_binds", "_key")
    __visit_name__: ClassVar[str] = "clause"
    _key: Any
    _binds: tuple[Any, ...]

    def __clause_element__(self) -> ClauseElement:
        return self

    def _children(self) -> Iterable[ClauseElement]:
        """Direct sub-expressions (compile-time only: FROM discovery)."""
        return _EMPTY

    @property
    def _from_objects(self) -> list[FromClause]:
        """FROM clauses this construct refers to, in first-seen order."""
        seen: dict[int, FromClause] = {}
        for child in self._children():
            for item in child._from_objects:
                seen.setdefault(id(item), item)
        return list(seen.values())

    def compile(self, dialect: Dialect | None = None) -> Compiled:
        """Compile for ``dialect`` (default: SQLite flavour) through the statement cache.

        Returns:
            A ``Compiled`` with ``.sql``, ``.positional_names``, ``.params``
            and ``bind(params)``.
        """
        if _compile_hook is None:  # pragma: no cover - heron.sql always installs it
            raise RuntimeError("heron.sql.compiler is not loaded")
        return _compile_hook(self, dialect)

    def __str__(self) -> str:
        return str(self.compile().sql)


class ColumnOperators:
    """SQL operators, all implemented on top of ``self.__clause_element__()``.

    Inherit it and define ``__clause_element__`` returning a ``ColumnElement``
    (the ORM's class attributes do) to get ``==``, ``in_``, ``like``,
    ``desc`` ... for free. The hash stays identity-based although ``==``
    builds SQL.
    """

    __slots__ = ()

    def __clause_element__(self) -> ColumnElement[Any]:
        raise NotImplementedError

    __hash__ = object.__hash__

    # -- comparisons ------------------------------------------------------------
    def __eq__(self, other: object) -> ColumnElement[bool]:  # type: ignore[override]
        return _compare(self.__clause_element__(), ops.EQ, other)

    def __ne__(self, other: object) -> ColumnElement[bool]:  # type: ignore[override]
        return _compare(self.__clause_element__(), ops.NE, other)

    def __lt__(self, other: Any) -> ColumnElement[bool]:
        return _compare(self.__clause_element__(), ops.LT, other)

    def __le__(self, other: Any) -> ColumnElement[bool]:
        return _compare(self.__clause_element__(), ops.LE, other)

    def __gt__(self, other: Any) -> ColumnElement[bool]:
        return _compare(self.__clause_element__(), ops.GT, other)

    def __ge__(self, other: Any) -> ColumnElement[bool]:
        return _compare(self.__clause_element__(), ops.GE, other)

    def is_(self, other: Any) -> ColumnElement[bool]:
        """``IS other`` (usually ``is_(None)``)."""
        return _compare(self.__clause_element__(), ops.IS, other)

    def is_not(self, other: Any) -> ColumnElement[bool]:
        """``IS NOT other`` (usually ``is_not(None)``)."""
        return _compare(self.__clause_element__(), ops.IS_NOT, other)

    def in_(self, other: Any) -> ColumnElement[bool]:
        """``IN``: a list of values, a ``select()``, or an expanding ``bindparam()``.

        An empty list matches no row. Lists are one bound parameter (an array
        on PostgreSQL, expanded at execution on SQLite), so lists of any
        length share one compiled statement.
        """
        return _in(self.__clause_element__(), other, negate=False)

    def not_in(self, other: Any) -> ColumnElement[bool]:
        """``NOT IN``; an empty list matches every row."""
        return _in(self.__clause_element__(), other, negate=True)

    def like(self, other: Any) -> ColumnElement[bool]:
        """``LIKE pattern`` (``%`` and ``_`` are wildcards)."""
        return _compare(self.__clause_element__(), ops.LIKE, other)

    def not_like(self, other: Any) -> ColumnElement[bool]:
        """``NOT LIKE pattern``."""
        return _compare(self.__clause_element__(), ops.NOT_LIKE, other)

    def ilike(self, other: Any) -> ColumnElement[bool]:
        """Case-insensitive LIKE (``ILIKE`` on PostgreSQL, ``LOWER() LIKE LOWER()`` on SQLite)."""
        return _compare(self.__clause_element__(), ops.ILIKE, other)

    def not_ilike(self, other: Any) -> ColumnElement[bool]:
        """Case-insensitive NOT LIKE."""
        return _compare(self.__clause_element__(), ops.NOT_ILIKE, other)

    def startswith(self, other: Any) -> ColumnElement[bool]:
        """Match values starting with ``other`` (``%`` and ``_`` in it match literally)."""
        return _affix(self.__clause_element__(), other, "startswith")

    def endswith(self, other: Any) -> ColumnElement[bool]:
        """Match values ending with ``other`` (``%`` and ``_`` in it match literally)."""
        return _affix(self.__clause_element__(), other, "endswith")

    def contains(self, other: Any) -> ColumnElement[bool]:
        """Match values containing ``other`` (``%`` and ``_`` in it match literally)."""
        return _affix(self.__clause_element__(), other, "contains")

    def between(self, lower: Any, upper: Any) -> ColumnElement[bool]:
        """``BETWEEN lower AND upper`` (both ends included)."""
        left = self.__clause_element__()
        pair = ClauseList((_value(left, lower), _value(left, upper)), " AND ")
        return BinaryExpression(left, pair, ops.BETWEEN, _BOOLEAN)

    # -- arithmetic and strings -----------------------------------------------------
    def __add__(self, other: Any) -> ColumnElement[Any]:
        left = self.__clause_element__()
        op = ops.CONCAT if (left.type or _NULLTYPE)._is_string else ops.ADD
        return _arith(left, op, other)

    def __radd__(self, other: Any) -> ColumnElement[Any]:
        right = self.__clause_element__()
        op = ops.CONCAT if (right.type or _NULLTYPE)._is_string else ops.ADD
        return _arith(right, op, other, reverse=True)

    def __sub__(self, other: Any) -> ColumnElement[Any]:
        return _arith(self.__clause_element__(), ops.SUB, other)

    def __rsub__(self, other: Any) -> ColumnElement[Any]:
        return _arith(self.__clause_element__(), ops.SUB, other, reverse=True)

    def __mul__(self, other: Any) -> ColumnElement[Any]:
        return _arith(self.__clause_element__(), ops.MUL, other)

    def __rmul__(self, other: Any) -> ColumnElement[Any]:
        return _arith(self.__clause_element__(), ops.MUL, other, reverse=True)

    def __truediv__(self, other: Any) -> ColumnElement[Any]:
        return _arith(self.__clause_element__(), ops.DIV, other)

    def __rtruediv__(self, other: Any) -> ColumnElement[Any]:
        return _arith(self.__clause_element__(), ops.DIV, other, reverse=True)

    def __mod__(self, other: Any) -> ColumnElement[Any]:
        return _arith(self.__clause_element__(), ops.MOD, other)

    def __rmod__(self, other: Any) -> ColumnElement[Any]:
        return _arith(self.__clause_element__(), ops.MOD, other, reverse=True)

    def concat(self, other: Any) -> ColumnElement[str]:
        """String concatenation (``||``)."""
        return _arith(self.__clause_element__(), ops.CONCAT, other)

    def __neg__(self) -> ColumnElement[Any]:
        element = self.__clause_element__()
        return UnaryExpression(element, operator=ops.NEG, type_=element.type)

    # -- boolean ----------------------------------------------------------------------
    def __invert__(self) -> ColumnElement[bool]:
        return not_(self.__clause_element__())

    def __and__(self, other: Any) -> ColumnElement[bool]:
        return and_(self.__clause_element__(), other)

    def __or__(self, other: Any) -> ColumnElement[bool]:
        return or_(self.__clause_element__(), other)

    # -- naming and ordering ------------------------------------------------------------
    def label(self, name: str) -> Label[Any]:
        """``expr AS name``; the result column is keyed by ``name``."""
        return Label(name, self.__clause_element__())

    def desc(self) -> UnaryExpression[Any]:
        """Descending order."""
        return UnaryExpression(self.__clause_element__(), modifier=ops.DESC)

    def asc(self) -> UnaryExpression[Any]:
        """Ascending order."""
        return UnaryExpression(self.__clause_element__(), modifier=ops.ASC)

    def nulls_first(self) -> UnaryExpression[Any]:
        """Put NULLs first in ORDER BY (combine with ``desc()``: ``col.desc().nulls_first()``)."""
        return UnaryExpression(self.__clause_element__(), modifier=ops.NULLS_FIRST)

    def nulls_last(self) -> UnaryExpression[Any]:
        """Put NULLs last in ORDER BY."""
        return UnaryExpression(self.__clause_element__(), modifier=ops.NULLS_LAST)

    def distinct(self) -> UnaryExpression[Any]:
        """``DISTINCT expr`` (inside an aggregate: ``func.count(col.distinct())``)."""
        element = self.__clause_element__()
        return UnaryExpression(element, operator=ops.DISTINCT, type_=element.type)

    def cast(self, type_: Any) -> Cast[Any]:
        """``CAST(expr AS type)``."""
        return Cast(self.__clause_element__(), type_)

    def op(
        self, opstring: str, *, return_type: Any = None
    ) -> Callable[[Any], BinaryExpression[Any]]:
        """A custom binary operator: ``col.op("->>")("key")``."""
        left = self.__clause_element__()
        result_type = to_instance(return_type) if return_type is not None else left.type

        def build(other: Any) -> BinaryExpression[Any]:
            return BinaryExpression(left, _value(left, other), opstring, result_type, custom=True)

        return build


class ColumnElement(ColumnOperators, ClauseElement, Generic[T]):
    """A SQL expression that has a value (and a type), usable as a result column.

    Attributes:
        type: the expression's column type.
    """

    __slots__ = ("type",)
    __visit_name__ = "column_element"
    type: TypeEngine[Any]
    # Conditions from comparisons may be used as Python booleans (see BinaryExpression).

    def __clause_element__(self) -> ColumnElement[T]:
        return self

    @property
    def _result_name(self) -> str | None:
        """The name a result column gets (None: anonymous)."""
        return None

    def __bool__(self) -> bool:
        raise TypeError(
            "a SQL expression has no Python truth value; combine conditions with "
            "and_()/or_() (or & and |) instead of 'and'/'or'"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"


class ColumnClause(ColumnElement[T]):
    """A named column, optionally of a table or FROM object (``column("x")``).

    Its shape is its name, type and parent; schema ``Column`` objects use
    identity instead (see ``schema.Column``).
    """

    __slots__ = ("name", "table")
    __visit_name__ = "column"

    def __init__(self, name: str, type_: Any = None, table: FromClause | None = None) -> None:
        self.name = name
        self.type = to_instance(type_)
        self.table = table
        self._key = shape("column", name, self.type._key, table._key if table is not None else None)
        self._binds = table._binds if table is not None else _EMPTY

    @property
    def key(self) -> str:
        return self.name

    @property
    def _result_name(self) -> str | None:
        return self.name

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self.table] if self.table is not None else []


class DerivedColumn(ColumnElement[T]):
    """A column of an alias, subquery or CTE: ``parent.name``, pointing back to ``element``.

    Attributes:
        name: the column name inside the derived FROM object.
        key: the ``.c`` key.
        table: the alias / subquery / CTE.
        element: the column or expression it stands for inside ``table``.
    """

    __slots__ = ("element", "key", "name", "table")
    __visit_name__ = "derived_column"

    def __init__(self, table: FromClause, name: str, key: str, element: ColumnElement[Any]) -> None:
        self.table = table
        self.name = name
        self.key = key
        self.element = element
        self.type = element.type
        self._key = shape("dcol", table._key, name)
        self._binds = table._binds

    @property
    def _result_name(self) -> str | None:
        return self.name

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self.table]

    @property
    def foreign_keys(self) -> Any:
        """The underlying column's foreign keys (used to infer join conditions)."""
        return getattr(self.element, "foreign_keys", ())

    @property
    def primary_key(self) -> bool:
        return bool(getattr(self.element, "primary_key", False))


class BindParameter(ColumnElement[T]):
    """A bound parameter: the only way a value reaches the database.

    Attributes:
        key: the parameter name (user-given for ``bindparam()``, else a hint
            such as the column name, used in ``positional_names``).
        value: the value, or ``NO_VALUE`` when it must come from the
            execution parameters.
        named: True for ``bindparam("name")``: execution parameters with this
            name supply (or override) the value.
        expanding: the value is a list (``IN``): an array on PostgreSQL, a
            list of placeholders rendered at execution time on SQLite.
        transform: a ``startswith``/``endswith``/``contains`` pattern builder
            applied to the value at bind time.
    """

    __slots__ = ("expanding", "key", "named", "transform", "value")
    __visit_name__ = "bindparam"

    def __init__(
        self,
        key: str | None,
        value: Any = NO_VALUE,
        type_: Any = None,
        *,
        named: bool = False,
        expanding: bool = False,
        transform: str | None = None,
    ) -> None:
        self.key = key or "param"
        self.value = value
        if type_ is None:
            type_ = type_for_value(value) if value is not NO_VALUE else _NULLTYPE
        else:
            type_ = to_instance(type_)
        self.type = type_
        self.named = named
        self.expanding = expanding
        self.transform = transform
        self._key = shape("bind", key if named else None, type_._key, expanding, transform)

    @property
    def _binds(self) -> tuple[Any, ...]:  # type: ignore[override]
        # Computed, not stored: a stored (self,) would make every bound
        # parameter a reference cycle that only the cyclic GC can free.
        return (self,)


def bindparam(
    key: str,
    value: Any = NO_VALUE,
    type_: Any = None,
    *,
    expanding: bool = False,
) -> BindParameter[Any]:
    """A named placeholder whose value comes from the execution parameters.

    Example::

        stmt = select(users).where(users.c.id == bindparam("uid"))
        await conn.execute(stmt, {"uid": 5})   # compiled once, run with any uid

    Args:
        key: the parameter name.
        value: a default value when the execution parameters lack ``key``.
        type_: the column type (processors); inferred from comparisons.
        expanding: the value is a list, for ``col.in_(bindparam("ids", expanding=True))``.
    """
    return BindParameter(key, value, type_, named=True, expanding=expanding)


def literal(value: Any, type_: Any = None) -> BindParameter[Any]:
    """A Python value as a bound parameter usable where an expression is expected."""
    return BindParameter("param", value, type_)


class _Keyword(ColumnElement[T]):
    """A fixed keyword: NULL, TRUE, FALSE (rendered per dialect)."""

    __slots__ = ("keyword",)
    __visit_name__ = "keyword"

    def __init__(self, keyword: str, type_: TypeEngine[Any]) -> None:
        self.keyword = keyword
        self.type = type_
        self._key = shape("kw", keyword)
        self._binds = _EMPTY


_NULL: _Keyword[None] = _Keyword("NULL", _NULLTYPE)
_TRUE: _Keyword[bool] = _Keyword("TRUE", _BOOLEAN)
_FALSE: _Keyword[bool] = _Keyword("FALSE", _BOOLEAN)


def null() -> ColumnElement[None]:
    """SQL ``NULL``."""
    return _NULL


def true() -> ColumnElement[bool]:
    """SQL true (``TRUE`` on PostgreSQL, ``1`` on SQLite)."""
    return _TRUE


def false() -> ColumnElement[bool]:
    """SQL false (``FALSE`` on PostgreSQL, ``0`` on SQLite)."""
    return _FALSE


class ClauseList(ClauseElement):
    """Elements rendered with a separator (function arguments, BETWEEN bounds)."""

    __slots__ = ("clauses", "separator")
    __visit_name__ = "clause_list"

    def __init__(self, clauses: Sequence[ClauseElement], separator: str = ", ") -> None:
        self.clauses = tuple(clauses)
        self.separator = separator
        self._key = shape("list", separator, *[c._key for c in self.clauses])
        self._binds = _concat_binds(self.clauses)

    def _children(self) -> Iterable[ClauseElement]:
        return self.clauses


class BinaryExpression(ColumnElement[T]):
    """``left <operator> right``.

    ``==`` and ``!=`` between two columns may be used as a Python boolean
    (identity of the two sides), so columns work in ``in`` tests and as dict
    keys; every other truth test raises.
    """

    __slots__ = ("custom", "left", "operator", "right")
    __visit_name__ = "binary"

    def __init__(
        self,
        left: ClauseElement,
        right: ClauseElement,
        operator: str,
        type_: TypeEngine[Any],
        *,
        custom: bool = False,
    ) -> None:
        self.left = left
        self.right = right
        self.operator = operator
        self.type = type_
        self.custom = custom
        if custom:
            self._key = shape(operator, left._key, right._key, type_._key)
        else:
            self._key = shape(operator, left._key, right._key)
        lb = left._binds
        rb = right._binds
        self._binds = lb + rb if rb else lb

    def _children(self) -> Iterable[ClauseElement]:
        return (self.left, self.right)

    def __bool__(self) -> bool:
        if self.operator == ops.EQ:
            return self.left is self.right
        if self.operator == ops.NE:
            return self.left is not self.right
        return ColumnElement.__bool__(self)


class BooleanClauseList(ColumnElement[bool]):
    """Conditions joined by AND or OR."""

    __slots__ = ("clauses", "operator")
    __visit_name__ = "boolean_list"

    def __init__(self, operator: str, clauses: Sequence[ColumnElement[Any]]) -> None:
        self.operator = operator
        self.clauses = tuple(clauses)
        self.type = _BOOLEAN
        self._key = shape(operator, *[c._key for c in self.clauses])
        self._binds = _concat_binds(self.clauses)

    def _children(self) -> Iterable[ClauseElement]:
        return self.clauses


class UnaryExpression(ColumnElement[T]):
    """A prefix operator (NOT, -, DISTINCT) or a postfix modifier (DESC, NULLS LAST)."""

    __slots__ = ("element", "modifier", "operator")
    __visit_name__ = "unary"

    def __init__(
        self,
        element: ClauseElement,
        *,
        operator: str | None = None,
        modifier: str | None = None,
        type_: TypeEngine[Any] | None = None,
    ) -> None:
        self.element = element
        self.operator = operator
        self.modifier = modifier
        self.type = type_ if type_ is not None else getattr(element, "type", None) or _NULLTYPE
        self._key = shape("unary", operator, modifier, element._key)
        self._binds = element._binds

    def _children(self) -> Iterable[ClauseElement]:
        return (self.element,)

    def desc(self) -> UnaryExpression[Any]:
        return UnaryExpression(self, modifier=ops.DESC)

    def asc(self) -> UnaryExpression[Any]:
        return UnaryExpression(self, modifier=ops.ASC)


class Label(ColumnElement[T]):
    """``element AS name``."""

    __slots__ = ("element", "name")
    __visit_name__ = "label"

    def __init__(self, name: str, element: Any) -> None:
        element = coerce_expression(element)
        self.name = name
        self.element = element
        self.type = element.type or _NULLTYPE
        self._key = shape("label", name, element._key)
        self._binds = element._binds

    @property
    def key(self) -> str:
        return self.name

    @property
    def _result_name(self) -> str | None:
        return self.name

    def _children(self) -> Iterable[ClauseElement]:
        return (self.element,)


class Cast(ColumnElement[T]):
    """``CAST(element AS type)``."""

    __slots__ = ("element",)
    __visit_name__ = "cast"

    def __init__(self, element: Any, type_: Any) -> None:
        self.type = to_instance(type_)
        self.element = _value(None, element, self.type)
        self._key = shape("cast", self.element._key, self.type._key)
        self._binds = self.element._binds

    @property
    def _result_name(self) -> str | None:
        return self.element._result_name if isinstance(self.element, ColumnElement) else None

    def _children(self) -> Iterable[ClauseElement]:
        return (self.element,)


def cast(expression: Any, type_: Any) -> Cast[Any]:
    """``CAST(expression AS type_)``; the result is processed as ``type_``."""
    return Cast(expression, type_)


class Tuple(ColumnElement[Any]):
    """A row value ``(a, b, ...)``, e.g. ``tuple_(t.c.a, t.c.b).in_([(1, 2), (3, 4)])``."""

    __slots__ = ("clauses",)
    __visit_name__ = "tuple"

    def __init__(self, *clauses: Any) -> None:
        self.clauses = tuple(coerce_expression(c) for c in clauses)
        self.type = _NULLTYPE
        self._key = shape("tuple", *[c._key for c in self.clauses])
        self._binds = _concat_binds(self.clauses)

    def _children(self) -> Iterable[ClauseElement]:
        return self.clauses


def tuple_(*clauses: Any) -> Tuple:
    """A row value ``(a, b, ...)`` for comparisons and ``in_()``."""
    return Tuple(*clauses)


class InList(ColumnElement[bool]):
    """``left IN <list>`` with the list as ONE expanding parameter.

    Rendered ``left = ANY($1)`` on PostgreSQL for a single column, and
    ``left IN (?, ?, ...)`` with the placeholders added at execution time
    otherwise; an empty literal list is rendered as a constant false (true for
    NOT IN) so it never errors and needs no parameter.
    """

    __slots__ = ("left", "negate", "param")
    __visit_name__ = "in_list"

    def __init__(self, left: ColumnElement[Any], param: BindParameter[Any], negate: bool) -> None:
        self.left = left
        self.param = param
        self.negate = negate
        self.type = _BOOLEAN
        empty = param.value is not NO_VALUE and not param.value
        self._key = shape("in", negate, empty, left._key, param._key)
        self._binds = left._binds + param._binds

    @property
    def is_empty(self) -> bool:
        value = self.param.value
        return value is not NO_VALUE and not value

    def _children(self) -> Iterable[ClauseElement]:
        return (self.left, self.param)


class LikeAffix(ColumnElement[bool]):
    """``left LIKE <pattern> ESCAPE '/'`` built from a prefix/suffix/substring.

    A plain value is escaped and wrapped at bind time (its ``%`` and ``_``
    match literally); an expression is concatenated with ``'%'`` in SQL.
    """

    __slots__ = ("kind", "left", "right")
    __visit_name__ = "like_affix"

    def __init__(self, left: ColumnElement[Any], right: ClauseElement, kind: str) -> None:
        self.left = left
        self.right = right
        self.kind = kind
        self.type = _BOOLEAN
        self._key = shape("affix", kind, left._key, right._key)
        self._binds = left._binds + right._binds

    def _children(self) -> Iterable[ClauseElement]:
        return (self.left, self.right)


class _LabelReference(ColumnElement[Any]):
    """A bare name in ORDER BY/GROUP BY, e.g. ``order_by("total")`` after ``.label("total")``."""

    __slots__ = ("name",)
    __visit_name__ = "label_reference"

    def __init__(self, name: str) -> None:
        self.name = name
        self.type = _NULLTYPE
        self._key = shape("labelref", name)
        self._binds = _EMPTY


# -- conjunctions -------------------------------------------------------------------


def and_(*clauses: Any) -> ColumnElement[bool]:
    """Join conditions with AND (``and_()`` with none is true)."""
    return _boolean(ops.AND, clauses)


def or_(*clauses: Any) -> ColumnElement[bool]:
    """Join conditions with OR (``or_()`` with none is false)."""
    return _boolean(ops.OR, clauses)


def _boolean(operator: str, clauses: Sequence[Any]) -> ColumnElement[bool]:
    flat: list[ColumnElement[Any]] = []
    for clause in clauses:
        element = coerce_where(clause)
        # and_(a, and_(b, c)) renders as a AND b AND c: flatten the same operator.
        if isinstance(element, BooleanClauseList) and element.operator == operator:
            flat.extend(element.clauses)
        else:
            flat.append(element)
    if not flat:
        return _TRUE if operator == ops.AND else _FALSE
    if len(flat) == 1:
        return flat[0]
    return BooleanClauseList(operator, flat)


def not_(clause: Any) -> ColumnElement[bool]:
    """Negate a condition (``~cond`` does the same)."""
    element = coerce_where(clause)
    if isinstance(element, BinaryExpression) and element.operator in ops.NEGATIONS:
        return BinaryExpression(
            element.left, element.right, ops.NEGATIONS[element.operator], element.type
        )
    if isinstance(element, InList):
        return InList(element.left, element.param, not element.negate)
    if element is _TRUE:
        return _FALSE
    if element is _FALSE:
        return _TRUE
    if isinstance(element, UnaryExpression) and element.operator == ops.NOT:
        inner: ColumnElement[bool] = element.element  # type: ignore[assignment]
        return inner
    return UnaryExpression(element, operator=ops.NOT, type_=_BOOLEAN)


def desc(column: Any) -> UnaryExpression[Any]:
    """Descending order: ``order_by(desc(t.c.x))``."""
    return UnaryExpression(coerce_order_by(column), modifier=ops.DESC)


def asc(column: Any) -> UnaryExpression[Any]:
    """Ascending order."""
    return UnaryExpression(coerce_order_by(column), modifier=ops.ASC)


def distinct(expression: Any) -> UnaryExpression[Any]:
    """``DISTINCT expr``, e.g. ``func.count(distinct(t.c.x))``."""
    element = coerce_expression(expression)
    return UnaryExpression(element, operator=ops.DISTINCT, type_=element.type)


def nulls_first(column: Any) -> UnaryExpression[Any]:
    """``expr NULLS FIRST`` in ORDER BY."""
    return UnaryExpression(coerce_order_by(column), modifier=ops.NULLS_FIRST)


def nulls_last(column: Any) -> UnaryExpression[Any]:
    """``expr NULLS LAST`` in ORDER BY."""
    return UnaryExpression(coerce_order_by(column), modifier=ops.NULLS_LAST)


def _concat_binds(elements: Iterable[ClauseElement]) -> tuple[Any, ...]:
    binds: tuple[Any, ...] = _EMPTY
    for element in elements:
        b = element._binds
        if b:
            binds = binds + b if binds else b
    return binds


class Group(tuple[Any, ...]):
    """A statement part (WHERE terms, columns...) with its shape ids and binds precomputed.

    Attributes:
        key: the elements' shape ids, in order.
        binds: the elements' binds, concatenated in order.
    """

    key: tuple[int, ...]
    binds: tuple[Any, ...]


def group(elements: Iterable[ClauseElement], base: Group | None = None) -> Group:
    """A Group of ``base``'s elements followed by ``elements``."""
    added = tuple(elements)
    if base is None or not base:
        result = Group(added)
        result.key = tuple([e._key for e in added])
        result.binds = _concat_binds(added)
        return result
    result = Group((*base, *added))
    result.key = base.key + tuple([e._key for e in added])
    more = _concat_binds(added)
    result.binds = base.binds + more if more else base.binds
    return result


EMPTY_GROUP = group(())


# Operator semantics and coercion rules live in coercions.py, which builds the
# node classes above; importing it last lets the two modules use each other.
from heron.sql.coercions import (  # noqa: E402
    _affix,
    _arith,
    _compare,
    _in,
    _value,
    coerce_expression,
    coerce_order_by,
    coerce_where,
)

__all__ = [
    "NO_VALUE",
    "BinaryExpression",
    "BindParameter",
    "BooleanClauseList",
    "Cast",
    "ClauseElement",
    "ClauseList",
    "ColumnClause",
    "ColumnElement",
    "ColumnOperators",
    "DerivedColumn",
    "InList",
    "Label",
    "Tuple",
    "UnaryExpression",
    "and_",
    "asc",
    "bindparam",
    "cast",
    "desc",
    "distinct",
    "false",
    "literal",
    "not_",
    "null",
    "nulls_first",
    "nulls_last",
    "or_",
    "true",
    "tuple_",
]
