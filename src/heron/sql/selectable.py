"""FROM objects and SELECT: aliases, joins, subqueries, CTEs, select(), UNION.

Layer 3 (sql). A ``Select`` keeps what the caller passed (``_raw_columns``,
e.g. an ORM class or attribute) next to the coerced SQL elements, and builds
its cache key lazily, once per statement object, from its parts' keys (see
``elements``). Joins are resolved when ``join()`` is called, so a missing or
ambiguous foreign-key path is an ``ArgumentError`` at build time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

from heron.exc import ArgumentError
from heron.sql.base import ColumnCollection, Executable, StatementKey, shape, unknown_name_error
from heron.sql.coercions import _unwrap, coerce_expression, coerce_order_by, coerce_where
from heron.sql.elements import (
    _BOOLEAN,
    EMPTY_GROUP,
    BindParameter,
    ClauseElement,
    ColumnElement,
    DerivedColumn,
    Group,
    Label,
    _concat_binds,
    and_,
    group,
)
from heron.sql.types import Integer, NullType

if TYPE_CHECKING:
    from heron.sql.compiler.compiled import Compiled
    from heron.sql.text import TextClause

_TP = TypeVar("_TP")
T = TypeVar("T")
T0 = TypeVar("T0")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
_INTEGER = Integer()


class FromClause(ClauseElement):
    """Something that can appear in FROM: a table, alias, join, subquery or CTE.

    Attributes:
        c: the columns, by key (also ``.columns``).
        name: the name it is referred to by, or None (anonymous).
    """

    __visit_name__ = "from"
    name: str | None = None
    _columns: ColumnCollection[Any]

    @property
    def c(self) -> ColumnCollection[Any]:
        return self._columns

    @property
    def columns(self) -> ColumnCollection[Any]:
        return self._columns

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self]

    def _covered(self) -> Iterable[FromClause]:
        """This FROM and every FROM inside it (a join covers its tables)."""
        yield self

    def corresponding_column(self, column: ColumnElement[Any]) -> ColumnElement[Any] | None:
        """This FROM's column standing for ``column`` (itself, or via an alias), or None."""
        for own in self._columns:
            if own is column:
                return own
        for own in self._columns:
            if isinstance(own, DerivedColumn) and _derives_from(own, column):
                return own
        return None

    def alias(self, name: str | None = None) -> Alias:
        """An alias of this FROM (``users AS u``); anonymous names are made at compile time."""
        return Alias(self, name)

    def join(
        self, right: Any, onclause: Any = None, *, isouter: bool = False, full: bool = False
    ) -> Join:
        """``self JOIN right ON onclause`` (inferred from a single foreign-key path)."""
        target = coerce_from(right)
        on = coerce_where(onclause) if onclause is not None else join_condition(self, target)
        return Join(self, target, on, isouter=isouter, full=full)

    def outerjoin(self, right: Any, onclause: Any = None, *, full: bool = False) -> Join:
        """``self LEFT OUTER JOIN right ON ...``."""
        return self.join(right, onclause, isouter=True, full=full)

    def select(self) -> Select[Any]:
        """``SELECT * FROM self`` (every column, listed)."""
        return Select(self)


def _derives_from(derived: DerivedColumn[Any], column: ColumnElement[Any]) -> bool:
    element: Any = derived.element
    for _ in range(32):
        if element is column:
            return True
        if isinstance(element, Label):
            element = element.element
        elif isinstance(element, DerivedColumn):
            element = element.element
        else:
            return False
    return False


class Alias(FromClause):
    """``element AS name``: a table (or other FROM) under another name.

    Attributes:
        element: the aliased FROM object.
    """

    __visit_name__ = "alias"

    def __init__(self, element: FromClause, name: str | None = None) -> None:
        self.element = element
        self.name = name
        self._key = shape(self.__visit_name__, element._key, name)
        # An anonymous alias is identified by the object itself: two anonymous
        # aliases of one table are two FROM entries, so their identity pattern
        # must reach the cache key (see compiler.base.statement_key).
        self._binds = (self, *element._binds) if name is None else element._binds
        self._columns = ColumnCollection(
            {key: DerivedColumn(self, col.name, key, col) for key, col in element.c.items()}
        )

    @property
    def primary_key(self) -> list[ColumnElement[Any]]:
        """The columns standing for the element's primary-key columns."""
        return [c for c in self._columns if getattr(c, "primary_key", False)]

    @property
    def foreign_keys(self) -> list[Any]:
        """Foreign keys of the underlying columns."""
        return [fk for c in self._columns for fk in getattr(c, "foreign_keys", ())]

    @property
    def original(self) -> FromClause:
        """The innermost aliased FROM (a Table for ``table.alias()``)."""
        element = self.element
        while isinstance(element, Alias):
            element = element.element
        return element

    def __repr__(self) -> str:
        return f"<Alias {self.name or 'anon'} of {self.element!r}>"


def alias(selectable: Any, name: str | None = None) -> Alias:
    """An alias of a table or other FROM object: ``u = alias(users, "u")``."""
    return coerce_from(selectable).alias(name)


class Subquery(Alias):
    """``(SELECT ...) AS name``; its columns are ``.c``."""

    __visit_name__ = "subquery"

    def __init__(self, element: SelectBase, name: str | None = None) -> None:
        self.element = element  # type: ignore[assignment]  # a SELECT, not a FROM
        self.name = name
        self._key = shape(self.__visit_name__, element._key, name)
        self._binds = (self, *element._binds) if name is None else element._binds
        self._columns = ColumnCollection(
            {
                key: DerivedColumn(self, col_name, key, col)
                for key, col_name, col in element._subquery_columns()
            }
        )


class CTE(Subquery):
    """A common table expression: ``WITH name AS (SELECT ...)``; use it like a table.

    For a recursive CTE, build the anchor, then ``cte.union_all(recursive_select)``
    where the recursive select refers to the anchor CTE's columns.
    """

    __visit_name__ = "cte"

    def __init__(
        self, element: SelectBase, name: str | None = None, recursive: bool = False
    ) -> None:
        self.recursive = recursive
        super().__init__(element, name)
        self._key = shape(self.__visit_name__, element._key, name, recursive)

    def union_all(self, *selects: Any) -> CTE:
        """The CTE with ``UNION ALL <selects>`` appended to its body (same name)."""
        return CTE(CompoundSelect("UNION ALL", self.element, *selects), self.name, self.recursive)

    def union(self, *selects: Any) -> CTE:
        """The CTE with ``UNION <selects>`` appended to its body (same name)."""
        return CTE(CompoundSelect("UNION", self.element, *selects), self.name, self.recursive)


class Join(FromClause):
    """``left [LEFT OUTER | FULL OUTER] JOIN right ON onclause``."""

    __visit_name__ = "join"

    def __init__(
        self,
        left: FromClause,
        right: FromClause,
        onclause: ColumnElement[Any],
        *,
        isouter: bool = False,
        full: bool = False,
    ) -> None:
        self.left = left
        self.right = right
        self.onclause = onclause
        self.isouter = isouter or full
        self.full = full
        self._key = shape("join", left._key, right._key, onclause._key, self.isouter, full)
        self._binds = _concat_binds((left, right, onclause))
        columns: dict[str, Any] = {}
        for part in (left, right):
            for key, col in part.c.items():
                if key in columns:
                    table_name = getattr(getattr(col, "table", None), "name", None) or "anon"
                    key = f"{table_name}_{key}"
                columns.setdefault(key, col)
        self._columns = ColumnCollection(columns)

    def _covered(self) -> Iterable[FromClause]:
        yield self
        yield from self.left._covered()
        yield from self.right._covered()

    def corresponding_column(self, column: ColumnElement[Any]) -> ColumnElement[Any] | None:
        return self.left.corresponding_column(column) or self.right.corresponding_column(column)


def coerce_from(obj: Any) -> FromClause:
    """Return ``obj`` as a FROM object (tables, aliases, ORM classes), or raise."""
    if isinstance(obj, FromClause):
        return obj
    unwrapped = _unwrap(obj)
    if isinstance(unwrapped, FromClause):
        return unwrapped
    if isinstance(unwrapped, SelectBase):
        raise ArgumentError(
            "a select() was given where a table is expected; use stmt.subquery() "
            "(or stmt.cte()) to select from it"
        )
    if isinstance(unwrapped, str):
        raise ArgumentError(
            f"table name {unwrapped!r} given as a string; pass the Table object "
            "(or text() for raw SQL)"
        )
    raise ArgumentError(f"{obj!r} is not a table or other FROM object")


def _tables_of(from_: FromClause) -> list[FromClause]:
    """Leaf FROM objects (tables, aliases, subqueries) of a FROM, left to right."""
    if isinstance(from_, Join):
        return _tables_of(from_.left) + _tables_of(from_.right)
    return [from_]


def _describe_pairs(pairs: Sequence[tuple[ColumnElement[Any], ColumnElement[Any]]]) -> str:
    return " AND ".join(f"{_colname(a)} = {_colname(b)}" for a, b in pairs)


def _colname(col: Any) -> str:
    table = getattr(col, "table", None)
    table_name = getattr(table, "name", None) or "anon"
    return f"{table_name}.{col.name}"


def join_candidates(
    left: FromClause, right: FromClause
) -> list[list[tuple[ColumnElement[Any], ColumnElement[Any]]]]:
    """Foreign-key paths between two FROMs: one list of (left col, right col) per constraint."""
    paths: dict[tuple[int, bool], list[tuple[ColumnElement[Any], ColumnElement[Any]]]] = {}
    for own, other, flip in ((right, left, True), (left, right, False)):
        for col in own.c:
            for fk in getattr(col, "foreign_keys", ()):
                target = fk.column
                match = other.corresponding_column(target)
                if match is None:
                    continue
                constraint = fk.constraint if fk.constraint is not None else fk
                pair = (match, col) if flip else (col, match)
                paths.setdefault((id(constraint), flip), []).append(pair)
    return list(paths.values())


def join_condition(left: FromClause, right: FromClause) -> ColumnElement[bool]:
    """The ON clause for one foreign-key path between ``left`` and ``right``.

    Raises:
        ArgumentError: there is no path, or more than one (naming them).
    """
    paths = join_candidates(left, right)
    if not paths:
        raise ArgumentError(
            f"no foreign key links {_fromname(left)} and {_fromname(right)}; "
            "pass the ON clause: join(target, onclause)"
        )
    if len(paths) > 1:
        shown = "; ".join(_describe_pairs(p) for p in paths)
        raise ArgumentError(
            f"more than one foreign key links {_fromname(left)} and {_fromname(right)} "
            f"({shown}); pass the ON clause: join(target, onclause)"
        )
    return and_(*[a == b for a, b in paths[0]])


def _fromname(from_: FromClause) -> str:
    if isinstance(from_, Join):
        return " JOIN ".join(_fromname(t) for t in _tables_of(from_))
    return from_.name or f"anonymous {type(from_).__name__.lower()}"


# -- SELECT -----------------------------------------------------------------------------------


class SelectBase(StatementKey, Executable, ClauseElement):  # type: ignore[override]  # _binds: read-only here
    """What select(), union() and text().columns() share: subquery/CTE/scalar forms."""

    _is_select_statement = True
    _memo: tuple[Any, tuple[Any, ...]]

    def _result_columns(self) -> list[ColumnElement[Any]]:
        """The expressions this statement returns, FROMs expanded to their columns."""
        raise NotImplementedError

    def _subquery_columns(self) -> list[tuple[str, str, ColumnElement[Any]]]:
        """``(key, name, element)`` of each result column as seen from a subquery."""
        out: list[tuple[str, str, ColumnElement[Any]]] = []
        used: set[str] = set()
        for index, col in enumerate(self._result_columns()):
            name = col._result_name or f"anon_{index + 1}"
            key = getattr(col, "key", None) if not isinstance(col, Label) else col.name
            if not isinstance(key, str):
                key = name
            base, n = name, 1
            while name in used:
                name = f"{base}_{n}"
                n += 1
            if key in {k for k, _, _ in out}:
                key = name
            used.add(name)
            out.append((key, name, col))
        return out

    @property
    def selected_columns(self) -> ColumnCollection[ColumnElement[Any]]:
        """The result columns by key (FROM objects expanded)."""
        return ColumnCollection({key: col for key, _, col in self._subquery_columns()})

    def subquery(self, name: str | None = None) -> Subquery:
        """This statement as a FROM: ``(SELECT ...) AS name``."""
        return Subquery(self, name)

    def alias(self, name: str | None = None) -> Subquery:
        """Same as ``subquery(name)``."""
        return Subquery(self, name)

    def cte(self, name: str | None = None, recursive: bool = False) -> CTE:
        """This statement as a common table expression (``WITH name AS (...)``)."""
        return CTE(self, name, recursive)

    def scalar_subquery(self) -> ScalarSelect[Any]:
        """This one-column statement as a value: ``(SELECT ...)`` in an expression."""
        return ScalarSelect(self)

    def exists(self) -> Exists:
        """``EXISTS (this statement)``."""
        return Exists(self)

    def label(self, name: str) -> Label[Any]:
        """The scalar subquery labelled ``name``."""
        return Label(name, ScalarSelect(self))

    def union(self, *others: Any) -> CompoundSelect:
        """``self UNION others``."""
        return CompoundSelect("UNION", self, *others)

    def union_all(self, *others: Any) -> CompoundSelect:
        """``self UNION ALL others``."""
        return CompoundSelect("UNION ALL", self, *others)

    def intersect(self, *others: Any) -> CompoundSelect:
        """``self INTERSECT others``."""
        return CompoundSelect("INTERSECT", self, *others)

    def except_(self, *others: Any) -> CompoundSelect:
        """``self EXCEPT others``."""
        return CompoundSelect("EXCEPT", self, *others)

    def compile(self, dialect: Any = None) -> Compiled:
        return ClauseElement.compile(self, dialect)


def _limit_param(value: Any, what: str) -> BindParameter[Any] | None:
    if value is None:
        return None
    if isinstance(value, BindParameter):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"{what}() takes an int (or None), got {value!r}")
    return BindParameter(what, value, _INTEGER)


class Select(SelectBase, Generic[_TP]):
    """A SELECT statement; build it with ``select(...)`` and chain methods.

    Attributes:
        _raw_columns: the entities exactly as passed (tables, ORM classes,
            ORM attributes, columns, expressions), for the ORM.
        _with_options: ``options()`` arguments, for the ORM.
        _execution_options: ``execution_options()`` values.
    """

    __visit_name__ = "select"

    def __init__(self, *entities: Any) -> None:
        if len(entities) == 1 and isinstance(entities[0], list | tuple):
            raise ArgumentError(
                "select() takes columns as separate arguments: select(a, b), not select([a, b])"
            )
        self._raw_columns: tuple[Any, ...] = entities
        # Each part is a Group: a tuple that carries its elements' shape ids and
        # binds, extended by the builder methods, so the statement's cache key
        # is assembled from a dozen ints instead of a walk over the tree.
        self._columns_: Group = group(_coerce_column_or_from(e) for e in entities)
        self._where: Group = EMPTY_GROUP
        self._from_obj: Group = EMPTY_GROUP
        self._group_by: Group = EMPTY_GROUP
        self._having: Group = EMPTY_GROUP
        self._order_by: Group = EMPTY_GROUP
        self._limit: BindParameter[Any] | None = None
        self._offset: BindParameter[Any] | None = None
        self._distinct = False
        self._distinct_on: Group = EMPTY_GROUP
        self._for_update: tuple[Any, ...] | None = None
        self._for_update_of: tuple[FromClause, ...] = ()
        self._last_joined: FromClause | None = None

    # -- cache key ----------------------------------------------------------------------
    def _compute_key(self) -> tuple[Any, tuple[Any, ...]]:
        # hot path: benchmarks/bench_compile.py (once per statement object): each
        # part already carries its shape ids and binds, so this only assembles.
        c, f, w, o = self._columns_, self._from_obj, self._where, self._order_by
        g, h, d = self._group_by, self._having, self._distinct_on
        limit, offset = self._limit, self._offset
        key = (
            "select",
            c.key,
            f.key,
            w.key,
            g.key,
            h.key,
            o.key,
            d.key,
            None if limit is None else limit._key,
            None if offset is None else offset._key,
            self._distinct,
            self._for_update,
        )
        if g or h or d:
            binds = (*c.binds, *f.binds, *w.binds, *o.binds, *g.binds, *h.binds, *d.binds)
        else:
            binds = (*c.binds, *f.binds, *w.binds, *o.binds)
        if limit is not None or offset is not None:
            binds = (*binds, *[p for p in (limit, offset) if p is not None])
        return key, binds

    # -- columns ------------------------------------------------------------------------
    def _result_columns(self) -> list[ColumnElement[Any]]:
        out: list[ColumnElement[Any]] = []
        for element in self._columns_:
            if isinstance(element, FromClause):
                out.extend(element.c)
            else:
                out.append(element)
        return out

    @property
    def column_descriptions(self) -> list[dict[str, Any]]:
        """One dict per entity passed to select(): name, type, expr, entity."""
        out: list[dict[str, Any]] = []
        for raw, element in zip(self._raw_columns, self._columns_, strict=True):
            if isinstance(element, FromClause):
                out.append(
                    {
                        "name": element.name,
                        "type": raw,
                        "expr": raw,
                        "entity": raw,
                        "aliased": False,
                    }
                )
            else:
                assert isinstance(element, ColumnElement)
                table = getattr(element, "table", None)
                out.append(
                    {
                        "name": element._result_name,
                        "type": element.type,
                        "expr": raw,
                        "entity": table,
                        "aliased": False,
                    }
                )
        return out

    def add_columns(self, *entities: Any) -> Select[Any]:
        """A copy selecting more columns or entities."""
        new = self._generate()
        new._raw_columns = self._raw_columns + entities
        new._columns_ = group((_coerce_column_or_from(e) for e in entities), self._columns_)
        return new

    def with_only_columns(self, *entities: Any) -> Select[Any]:
        """A copy selecting exactly these columns (FROMs already set stay)."""
        new = self._generate()
        if not self._from_obj:
            # Keep the FROM objects the old column list implied.
            new._from_obj = group(_froms_of(self._columns_))
        new._raw_columns = entities
        new._columns_ = group(_coerce_column_or_from(e) for e in entities)
        return new

    # -- criteria ------------------------------------------------------------------------
    def where(self, *criteria: Any) -> Select[_TP]:
        """A copy with more WHERE conditions (ANDed with earlier ones)."""
        new = self._generate()
        new._where = group((coerce_where(c) for c in criteria), self._where)
        return new

    def filter(self, *criteria: Any) -> Select[_TP]:
        """Same as ``where``."""
        return self.where(*criteria)

    def filter_by(self, **kwargs: Any) -> Select[_TP]:
        """WHERE ``name == value`` for columns of the last joined (or first) entity.

        Raises:
            ArgumentError: a name is not a column of that entity (naming the choices).
        """
        entity = self._filter_by_entity()
        criteria = []
        for name, value in kwargs.items():
            col = entity.c.get(name)
            if col is None:
                raise unknown_name_error(f"filter_by(): {_fromname(entity)}", name, entity.c.keys())
            criteria.append(col == value)
        return self.where(*criteria)

    def _filter_by_entity(self) -> FromClause:
        if self._last_joined is not None:
            return self._last_joined
        froms = list(self._from_obj) or _froms_of(self._columns_)
        if not froms:
            raise ArgumentError("filter_by() needs a table to look names up in; select one first")
        first = froms[0]
        return _tables_of(first)[0] if isinstance(first, Join) else first

    def having(self, *criteria: Any) -> Select[_TP]:
        """A copy with more HAVING conditions."""
        new = self._generate()
        new._having = group((coerce_where(c) for c in criteria), self._having)
        return new

    # -- FROM -------------------------------------------------------------------------------
    def select_from(self, *froms: Any) -> Select[_TP]:
        """A copy with explicit FROM objects (before the ones implied by the columns)."""
        new = self._generate()
        new._from_obj = group((coerce_from(f) for f in froms), self._from_obj)
        return new

    def join(
        self, target: Any, onclause: Any = None, *, isouter: bool = False, full: bool = False
    ) -> Select[_TP]:
        """A copy joining ``target`` to the FROM it has a foreign key with.

        ``onclause`` is inferred from a single foreign-key path when omitted.

        Raises:
            ArgumentError: no FROM, or more than one, can be joined to
                ``target`` without an ON clause (the message names them).
        """
        hook = getattr(target, "__join_target__", None)
        if hook is not None and onclause is None:
            # ORM relationship attributes supply their target and ON clause.
            target, onclause = hook()
        right = coerce_from(target)
        on = coerce_where(onclause) if onclause is not None else None
        froms = list(self._from_obj) or _froms_of(self._columns_)
        # A target already implied by the columns is covered by the join now.
        froms = [f for f in froms if f is not right]
        index = self._join_left_index(froms, right, on)
        if on is None:
            on = join_condition(froms[index], right)
        new = self._generate()
        if index == len(froms):
            raise ArgumentError(f"nothing to join {_fromname(right)} to; use select_from() first")
        froms[index] = Join(froms[index], right, on, isouter=isouter, full=full)
        new._from_obj = group(froms)
        new._last_joined = right
        return new

    def _join_left_index(
        self, froms: list[FromClause], right: FromClause, on: ColumnElement[Any] | None
    ) -> int:
        if not froms:
            raise ArgumentError(
                f"nothing to join {_fromname(right)} to; select columns or use select_from() first"
            )
        if on is not None:
            referenced = {id(f) for f in on._from_objects}
            for index, from_ in enumerate(froms):
                if any(id(t) in referenced for t in from_._covered()):
                    return index
            return 0
        candidates = [i for i, f in enumerate(froms) if join_candidates(f, right)]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ArgumentError(
                f"no foreign key links {_fromname(right)} to "
                f"{', '.join(_fromname(f) for f in froms)}; pass the ON clause: "
                "join(target, onclause)"
            )
        raise ArgumentError(
            f"{_fromname(right)} can be joined to more than one FROM "
            f"({', '.join(_fromname(froms[i]) for i in candidates)}); pass the ON clause: "
            "join(target, onclause)"
        )

    def outerjoin(self, target: Any, onclause: Any = None, *, full: bool = False) -> Select[_TP]:
        """``LEFT OUTER JOIN`` (``full=True``: FULL OUTER JOIN); see ``join``."""
        return self.join(target, onclause, isouter=True, full=full)

    # -- ordering, paging ------------------------------------------------------------------
    def order_by(self, *clauses: Any) -> Select[_TP]:
        """A copy with more ORDER BY terms; ``order_by(None)`` clears them."""
        new = self._generate()
        if len(clauses) == 1 and clauses[0] is None:
            new._order_by = EMPTY_GROUP
        else:
            new._order_by = group((coerce_order_by(c) for c in clauses), self._order_by)
        return new

    def group_by(self, *clauses: Any) -> Select[_TP]:
        """A copy with more GROUP BY terms."""
        new = self._generate()
        new._group_by = group((coerce_order_by(c) for c in clauses), self._group_by)
        return new

    def limit(self, limit: int | None) -> Select[_TP]:
        """A copy returning at most ``limit`` rows (sent as a bound parameter)."""
        new = self._generate()
        new._limit = _limit_param(limit, "limit")
        return new

    def offset(self, offset: int | None) -> Select[_TP]:
        """A copy skipping the first ``offset`` rows (sent as a bound parameter)."""
        new = self._generate()
        new._offset = _limit_param(offset, "offset")
        return new

    def distinct(self, *on: Any) -> Select[_TP]:
        """``SELECT DISTINCT``; with expressions, ``DISTINCT ON (...)`` (PostgreSQL only)."""
        new = self._generate()
        new._distinct = True
        new._distinct_on = group((coerce_expression(c) for c in on), self._distinct_on)
        return new

    def with_for_update(
        self,
        *,
        nowait: bool = False,
        read: bool = False,
        skip_locked: bool = False,
        of: Any = None,
    ) -> Select[_TP]:
        """``FOR UPDATE`` (``read=True``: ``FOR SHARE``) on PostgreSQL.

        SQLite has no row locks (a writer locks the whole database), so the
        clause is left out there: the same code runs on both backends.
        """
        new = self._generate()
        of_tables = tuple(
            coerce_from(t)
            for t in ((of,) if not isinstance(of, list | tuple) else of)
            if t is not None
        )
        new._for_update = (nowait, read, skip_locked, tuple(t._key for t in of_tables))
        new._for_update_of = of_tables
        return new

    def options(self, *options: Any) -> Select[_TP]:
        """A copy carrying ORM loader options (stored in ``_with_options``)."""
        new = self._generate()
        new._with_options = self._with_options + options
        return new

    def __repr__(self) -> str:
        return f"<Select {self}>"


def _coerce_column_or_from(entity: Any) -> ClauseElement:
    if isinstance(entity, ColumnElement | FromClause):
        return entity
    unwrapped = _unwrap(entity)
    if isinstance(unwrapped, FromClause | ColumnElement):
        return unwrapped
    if isinstance(unwrapped, SelectBase):
        raise ArgumentError(
            "a select() was passed to select(); use stmt.scalar_subquery() for a value "
            "or stmt.subquery() to select from it"
        )
    return coerce_expression(unwrapped)


def _froms_of(elements: Iterable[ClauseElement]) -> list[FromClause]:
    seen: dict[int, FromClause] = {}
    for element in elements:
        for from_ in element._from_objects:
            seen.setdefault(id(from_), from_)
    return list(seen.values())


class _TypedClause(Protocol[T]):
    """Anything whose ``__clause_element__()`` is a typed column (ORM attributes)."""

    def __clause_element__(self) -> ColumnElement[T]: ...


# One entity: a mapped class (rows of instances), a typed column or ORM attribute.
_Entity = type[T] | ColumnElement[T] | _TypedClause[T]


@overload
def select(__e0: _Entity[T0], /) -> Select[tuple[T0]]: ...
@overload
def select(__e0: _Entity[T0], __e1: _Entity[T1], /) -> Select[tuple[T0, T1]]: ...
@overload
def select(
    __e0: _Entity[T0], __e1: _Entity[T1], __e2: _Entity[T2], /
) -> Select[tuple[T0, T1, T2]]: ...
@overload
def select(*entities: Any) -> Select[Any]: ...
def select(*entities: Any) -> Select[Any]:
    """Build a SELECT.

    Example::

        stmt = (
            select(users.c.id, users.c.name)
            .where(users.c.name.startswith("a"))
            .order_by(users.c.id)
            .limit(10)
        )
        rows = (await conn.execute(stmt)).all()

    Args:
        entities: columns, expressions, tables (all their columns), or
            objects with ``__clause_element__`` (ORM classes and attributes).

    Raises:
        ArgumentError: an argument is not SQL (``select(42)``: use
            ``literal(42)``; ``select("x")``: use ``text("x")``).
    """
    return Select(*entities)


class ScalarSelect(ColumnElement[T]):
    """``(SELECT ...)`` used as a value; its type is the selected column's."""

    __visit_name__ = "scalar_select"

    def __init__(self, element: SelectBase) -> None:
        self.element = element
        columns = element._result_columns()
        self.type = (
            columns[0].type if len(columns) == 1 and columns[0].type is not None else NullType()
        )
        self._key = shape("scalar", element._key)
        self._binds = element._binds

    @property
    def _from_objects(self) -> list[FromClause]:
        return []

    def _children(self) -> Iterable[ClauseElement]:
        return ()


class Exists(ColumnElement[bool]):
    """``EXISTS (SELECT ...)``; ``exists().where(cond)`` builds the inner select."""

    __visit_name__ = "exists"

    def __init__(self, element: SelectBase) -> None:
        self.element = element
        self.type = _BOOLEAN
        self._key = shape("exists", element._key)
        self._binds = element._binds

    @property
    def _from_objects(self) -> list[FromClause]:
        return []

    def where(self, *criteria: Any) -> Exists:
        """``EXISTS`` with more conditions on the inner select."""
        inner = self.element
        if not isinstance(inner, Select):
            raise ArgumentError("where() on exists() needs exists() built from a select()")
        return Exists(inner.where(*criteria))

    def select_from(self, *froms: Any) -> Exists:
        """``EXISTS`` with explicit FROM objects on the inner select."""
        inner = self.element
        if not isinstance(inner, Select):
            raise ArgumentError("select_from() on exists() needs exists() built from a select()")
        return Exists(inner.select_from(*froms))


def exists(*what: Any) -> Exists:
    """``EXISTS (subquery)``.

    Example::

        select(users).where(exists().where(addresses.c.user_id == users.c.id))
        select(exists(select(users.c.id).where(users.c.name == "x")))
    """
    if len(what) == 1 and isinstance(what[0], SelectBase):
        return Exists(what[0])
    return Exists(Select(*what))


class CompoundSelect(SelectBase):
    """``select UNION [ALL] select ...`` with its own ORDER BY / LIMIT / OFFSET."""

    __visit_name__ = "compound_select"

    def __init__(self, keyword: str, *selects: Any) -> None:
        if len(selects) < 2:
            raise ArgumentError(f"{keyword.lower()}() needs at least two selects")
        for item in selects:
            if not isinstance(item, SelectBase):
                raise ArgumentError(f"{keyword.lower()}() takes select() statements, got {item!r}")
        widths = {len(s._result_columns()) for s in selects}
        if len(widths) > 1:
            raise ArgumentError(f"all selects in {keyword} must return the same number of columns")
        self.keyword = keyword
        self.selects: tuple[SelectBase, ...] = tuple(selects)
        self._order_by: Group = EMPTY_GROUP
        self._limit: BindParameter[Any] | None = None
        self._offset: BindParameter[Any] | None = None

    def _compute_key(self) -> tuple[Any, tuple[Any, ...]]:
        key = (
            "compound",
            self.keyword,
            tuple(s._key for s in self.selects),
            tuple(o._key for o in self._order_by),
            self._limit._key if self._limit is not None else None,
            self._offset._key if self._offset is not None else None,
        )
        binds = _concat_binds((*self.selects, *self._order_by))
        if self._limit is not None:
            binds = (*binds, self._limit)
        if self._offset is not None:
            binds = (*binds, self._offset)
        return key, binds

    def _result_columns(self) -> list[ColumnElement[Any]]:
        return self.selects[0]._result_columns()

    def order_by(self, *clauses: Any) -> CompoundSelect:
        """A copy with more ORDER BY terms (name result columns, e.g. via ``selected_columns``)."""
        new = self._generate()
        new._order_by = group((coerce_order_by(c) for c in clauses), self._order_by)
        return new

    def limit(self, limit: int | None) -> CompoundSelect:
        """A copy returning at most ``limit`` rows."""
        new = self._generate()
        new._limit = _limit_param(limit, "limit")
        return new

    def offset(self, offset: int | None) -> CompoundSelect:
        """A copy skipping the first ``offset`` rows."""
        new = self._generate()
        new._offset = _limit_param(offset, "offset")
        return new


def union(*selects: Any) -> CompoundSelect:
    """``s1 UNION s2 ...`` (duplicates removed)."""
    return CompoundSelect("UNION", *selects)


def union_all(*selects: Any) -> CompoundSelect:
    """``s1 UNION ALL s2 ...`` (duplicates kept)."""
    return CompoundSelect("UNION ALL", *selects)


def intersect(*selects: Any) -> CompoundSelect:
    """``s1 INTERSECT s2 ...``."""
    return CompoundSelect("INTERSECT", *selects)


def except_(*selects: Any) -> CompoundSelect:
    """``s1 EXCEPT s2 ...``."""
    return CompoundSelect("EXCEPT", *selects)


class TextualSelect(SelectBase):
    """``text(...).columns(...)``: raw SQL with declared result columns and types."""

    __visit_name__ = "textual_select"

    def __init__(self, text: TextClause, columns: Sequence[ColumnElement[Any]]) -> None:
        self.text = text
        self.column_list = tuple(columns)

    def _compute_key(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            "textual",
            self.text._key,
            tuple(c._key for c in self.column_list),
        ), self.text._binds

    def _result_columns(self) -> list[ColumnElement[Any]]:
        return list(self.column_list)

    def bindparams(self, *binds: Any, **values: Any) -> TextualSelect:
        """A copy with values for the text's parameters (see ``TextClause.bindparams``)."""
        return TextualSelect(self.text.bindparams(*binds, **values), self.column_list)
