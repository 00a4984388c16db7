"""The SQL compiler: a visitor that renders a statement and records its parameter slots.

Layer 3 (sql). One compiler instance renders one statement for one dialect;
per-dialect differences are methods overridden in ``postgresql.py`` and
``sqlite.py``. Values are never rendered into the text (DDL defaults and
CHECK constraints are the exception: DDL takes no parameters). Each
placeholder is emitted as a token naming a *slot*, i.e. where its value comes
from (an index into the statement's ``_binds``, a parameter name, a column
default); ``_finish`` numbers the tokens in text order, so parts rendered out
of order (CTEs hoisted into WITH) still line up with their values.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from heron.exc import ArgumentError, CompileError, HeronInternalError
from heron.sql import operators as ops
from heron.sql.coercions import LIKE_TRANSFORMS
from heron.sql.compiler.compiled import (
    BIND,
    EXPANDING,
    MULTI,
    NAMED,
    Slot,
    Template,
)
from heron.sql.compiler.ddl import DDLCompilerMixin, column_type
from heron.sql.compiler.dml import DMLCompilerMixin
from heron.sql.elements import (
    NO_VALUE,
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ClauseElement,
    ClauseList,
    ColumnElement,
    DerivedColumn,
    InList,
    Label,
    LikeAffix,
    UnaryExpression,
    and_,
)
from heron.sql.selectable import (
    CTE,
    Alias,
    CompoundSelect,
    FromClause,
    Join,
    Select,
    SelectBase,
    Subquery,
    TextualSelect,
)
from heron.sql.types import NullType, TypeEngine

if TYPE_CHECKING:
    from heron.dialect.base import Dialect

_TOKEN_RE = re.compile("\x00(\\d+)\x00")
_LEGAL = re.compile(r"^[a-z_][a-z0-9_$]*$")

# Words quoted when used as identifiers (PostgreSQL's reserved words plus SQLite's keywords).
RESERVED_WORDS = frozenset(
    """
    abort action add after all alter always analyze and any array as asc asymmetric attach
    authorization autoincrement before begin between binary both by cascade case cast check
    collate column commit conflict constraint create cross current current_catalog current_date
    current_role current_schema current_time current_timestamp current_user database default
    deferrable deferred delete desc detach distinct do drop each else end escape except exclude
    exclusive exists explain fail false fetch filter first following for foreign freeze from full
    generated glob grant group groups having if ignore ilike immediate in index indexed initially
    inner insert instead intersect into is isnull join key last lateral leading left like limit
    localtime localtimestamp match materialized natural no not nothing notnull null nulls of
    offset on only or order others outer over overlaps partition placing plan pragma preceding
    primary query raise range recursive references regexp reindex release rename replace restrict
    returning right rollback row rows savepoint select session_user set similar some symmetric
    system_user table temp temporary then ties to trailing transaction trigger true unbounded
    union unique update user using vacuum values variadic verbose view virtual when where window
    with without
    """.split()
)


_QUERY_WORDS = ("select", "with", "values", "pragma", "explain", "show", "table")
_RETURNING = re.compile(r"\breturning\b", re.IGNORECASE)


def _looks_like_query(sql: str) -> bool:
    head = sql.lstrip().lstrip("(").lstrip()
    first = re.split(r"\s", head, maxsplit=1)[0].lower() if head else ""
    return first in _QUERY_WORDS or bool(_RETURNING.search(sql))


def _result_type(column: ColumnElement[Any]) -> TypeEngine[Any]:
    type_ = column.type
    if type_ is None and getattr(column, "foreign_keys", None):
        # An untyped foreign-key column reads like its target column.
        try:
            type_ = column_type(column)
        except ArgumentError:
            type_ = None
    return type_ if type_ is not None else NullType()


class SQLCompiler(DMLCompilerMixin, DDLCompilerMixin):
    """Renders statements to SQL text plus slot tables (see module docstring).

    Args:
        dialect: the target dialect.
        binds: the statement's ``_binds`` (cache-key order).
        params: the first execution parameter dict, if any (INSERT/UPDATE
            without values take their columns from its keys).
    """

    # Name in the base.compiler_for registry.
    dialect_name: ClassVar[str] = "base"
    true_sql: ClassVar[str] = "TRUE"
    false_sql: ClassVar[str] = "FALSE"

    def __init__(
        self, dialect: Dialect, binds: Sequence[Any], params: Mapping[str, Any] | None
    ) -> None:
        self.dialect = dialect
        self.binds = binds
        self.params = params
        self._index: dict[int, int] = {}
        for position, item in enumerate(binds):
            self._index.setdefault(id(item), position)
        self._slots: list[Slot] = []
        self._ctes: dict[str, str] = {}
        self._cte_pending: set[str] = set()
        self._cte_recursive = False
        self._anon: dict[int, str] = {}
        self._anon_count = 0
        # FROM ids of enclosing selects, innermost last; None is a barrier
        # (a derived table or CTE body cannot see outer FROMs).
        self._correlate: list[set[int] | None] = []
        self._literal = False
        self._unqualified = False
        self._quoted: dict[str, str] = {}
        self._result_keys: list[str] | None = None
        self._result_types: list[TypeEngine[Any]] = []
        self._current_labels: list[set[int]] = []
        self._text_returns_rows = False

    # -- entry points ------------------------------------------------------------------
    def compile_statement(self, stmt: ClauseElement) -> Template:
        """Render ``stmt`` and return its template (text, slots, result info)."""
        is_ddl = bool(getattr(stmt, "_is_ddl", False))
        if is_ddl:
            self._literal = True
        text = self.process(stmt, toplevel=True)
        if self._ctes:
            recursive = "RECURSIVE " if self._cte_recursive else ""
            text = f"WITH {recursive}{', '.join(self._ctes.values())} {text}"
        keys = self._result_keys
        processors = None
        if keys is not None:
            procs = [t.result_processor(self.dialect) for t in self._result_types]
            processors = procs if any(p is not None for p in procs) else None
        returns_rows = keys is not None or self._text_returns_rows
        return self._finish(text, returns_rows, keys, processors, is_ddl)

    def process(self, element: Any, **kw: Any) -> str:
        """Render any construct by its ``__visit_name__``."""
        try:
            visit = getattr(self, "visit_" + element.__visit_name__)
        except AttributeError:
            raise CompileError(
                f"{type(element).__name__} cannot be rendered by {type(self).__name__}"
            ) from None
        result: str = visit(element, **kw)
        return result

    # -- tokens and finishing ---------------------------------------------------------------
    def _token(self, slot: Slot) -> str:
        self._slots.append(slot)
        return f"\x00{len(self._slots) - 1}\x00"

    def _finish(
        self,
        text: str,
        returns_rows: bool,
        keys: Sequence[str] | None,
        processors: Sequence[Any] | None,
        is_ddl: bool,
    ) -> Template:
        pieces = _TOKEN_RE.split(text)
        placeholder = self.dialect.placeholder
        used = [self._slots[int(n)] for n in pieces[1::2]]
        expanding = any(slot[0] == EXPANDING for slot in used)
        if expanding and any(slot[0] == MULTI for slot in used):
            raise CompileError("a multi-row VALUES insert cannot also expand an IN list")
        if expanding:
            return Template(
                "".join(pieces[0::2]),
                used,
                segments=pieces[0::2],
                placeholder=placeholder,
                returns_rows=returns_rows,
                keys=keys,
                processors=processors,
                is_ddl=is_ddl,
            )
        out = [pieces[0]]
        count = 0
        for position, slot in enumerate(used):
            if slot[0] == MULTI:
                rendered, count = self._render_multi(slot, count)
                out.append(rendered)
            else:
                count += 1
                out.append(placeholder(count))
            out.append(pieces[2 * position + 2])
        if count > self.dialect.max_bind_params:
            raise CompileError(
                f"the statement has {count} parameters; {self.dialect.name} allows "
                f"{self.dialect.max_bind_params}: send fewer rows per statement"
            )
        return Template(
            "".join(out),
            used,
            segments=None,
            placeholder=placeholder,
            returns_rows=returns_rows,
            keys=keys,
            processors=processors,
            is_ddl=is_ddl,
        )

    def _render_multi(self, slot: Slot, count: int) -> tuple[str, int]:
        row_pieces, nrows = slot[4][3], slot[4][4]
        placeholder = self.dialect.placeholder
        rows = []
        for _ in range(nrows):
            cells = []
            for piece in row_pieces:
                if piece is None:
                    count += 1
                    cells.append(placeholder(count))
                else:
                    cells.append(piece)
            rows.append(f"({', '.join(cells)})")
        return ", ".join(rows), count

    # -- identifiers ------------------------------------------------------------------------
    def quote(self, name: str) -> str:
        """``name`` as an identifier, quoted when reserved, mixed-case or unusual."""
        quoted = self._quoted.get(name)
        if quoted is None:
            if _LEGAL.match(name) and name not in RESERVED_WORDS:
                quoted = name
            else:
                quoted = '"' + name.replace('"', '""') + '"'
            self._quoted[name] = quoted
        return quoted

    def table_name(self, table: Any) -> str:
        """A table's (schema-qualified) quoted name."""
        schema = getattr(table, "schema", None)
        name = self.quote(table.name)
        return f"{self.quote(schema)}.{name}" if schema else name

    def _from_name(self, from_: Any) -> str:
        """How columns of ``from_`` are qualified: table name, alias or CTE name."""
        visit = from_.__visit_name__
        if visit == "table":
            return self.table_name(from_)
        if visit == "excluded":
            return "excluded"
        if from_.name is not None:
            return self.quote(from_.name)
        return self.quote(self._anon_name(from_))

    def _anon_name(self, from_: Any) -> str:
        name = self._anon.get(id(from_))
        if name is None:
            self._anon_count += 1
            element = getattr(from_, "element", None)
            base = element.name if isinstance(element, FromClause) and element.name else "anon"
            name = f"{base}_{self._anon_count}"
            self._anon[id(from_)] = name
        return name

    # -- values -------------------------------------------------------------------------
    def _bind_processor(self, type_: TypeEngine[Any] | None) -> Callable[[Any], Any] | None:
        if type_ is None:
            return None
        return type_.bind_processor(self.dialect)

    def visit_bindparam(self, bind: BindParameter[Any], **kw: Any) -> str:
        if self._literal:
            if bind.value is NO_VALUE:
                raise CompileError(f"parameter {bind.key!r} has no value to render into DDL")
            return self.render_literal(bind.value, bind.type)
        index = self._index.get(id(bind))
        if index is None:
            raise HeronInternalError(
                f"bound parameter {bind.key!r} missing from the statement's binds"
            )
        proc = self._bind_processor(bind.type)
        if bind.transform is not None:
            transform = LIKE_TRANSFORMS[bind.transform]
            if proc is None:
                proc = transform
            else:
                inner = proc

                def proc(v: Any, t: Any = transform, p: Any = inner) -> Any:
                    return p(t(v))

        if bind.expanding:
            return self.render_expanding(bind, index, proc, width=1)
        return self._token((NAMED if bind.named else BIND, index, bind.key, proc, None))

    def render_expanding(
        self, bind: BindParameter[Any], index: int, proc: Callable[[Any], Any] | None, width: int
    ) -> str:
        """One placeholder per list item, counted at execution time (the SQLite way)."""
        item_proc = proc
        list_proc = None if item_proc is None else (lambda vs, p=item_proc: [p(v) for v in vs])
        return self._token((EXPANDING, index, bind.key, list_proc, (width, bind.named)))

    def render_literal(self, value: Any, type_: TypeEngine[Any] | None = None) -> str:
        """A value inlined into SQL (DDL only, where parameters are impossible)."""
        if type_ is not None and not isinstance(type_, NullType):
            proc = type_.bind_processor(self.dialect)
            if proc is not None:
                value = proc(value)
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return self.true_sql if value else self.false_sql
        if isinstance(value, int | decimal.Decimal):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, enum.Enum):
            value = value.name
        if isinstance(value, dt.datetime | dt.date | dt.time):
            value = (
                value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
            )
        if isinstance(value, uuid.UUID):
            value = str(value)
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        raise CompileError(f"cannot render {value!r} as a SQL literal")

    def visit_keyword(self, element: Any, **kw: Any) -> str:
        if element.keyword == "TRUE":
            return self.true_sql
        if element.keyword == "FALSE":
            return self.false_sql
        return str(element.keyword)

    # -- columns ------------------------------------------------------------------------------
    def visit_column(self, column: Any, **kw: Any) -> str:
        name = self.quote(column.name)
        table = column.table
        if table is None or self._unqualified:
            return name
        return f"{self._from_name(table)}.{name}"

    def visit_derived_column(self, column: DerivedColumn[Any], **kw: Any) -> str:
        if self._unqualified:
            return self.quote(column.name)
        return f"{self._from_name(column.table)}.{self.quote(column.name)}"

    def visit_label(self, label: Label[Any], *, within_columns: bool = False, **kw: Any) -> str:
        if within_columns:
            return f"{self.process(label.element, cast=True)} AS {self.quote(label.name)}"
        if self._current_labels and id(label) in self._current_labels[-1]:
            # ORDER BY / GROUP BY of the select that defines the label: use its name.
            return self.quote(label.name)
        return self.process(label.element, **kw)

    def visit_label_reference(self, element: Any, **kw: Any) -> str:
        return self.quote(element.name)

    # -- operators ---------------------------------------------------------------------------
    def _precedence(self, element: Any) -> int | None:
        if isinstance(element, BinaryExpression):
            if element.custom:
                return 6
            return ops.PRECEDENCE.get(element.operator, 5)
        if isinstance(element, BooleanClauseList):
            return ops.PRECEDENCE[element.operator]
        if isinstance(element, InList | LikeAffix):
            return 5
        if isinstance(element, UnaryExpression):
            if element.operator == ops.NOT:
                return 3
            if element.operator == ops.NEG:
                return 9
        return None

    def _operand(self, element: Any, parent: str, *, right: bool, custom: bool = False) -> str:
        text = self.process(element)
        child = self._precedence(element)
        if child is None:
            return text
        parent_prec = 6 if custom else ops.PRECEDENCE.get(parent, 5)
        child_op = getattr(element, "operator", None)
        if child > parent_prec:
            return text
        if child == parent_prec and not custom:
            if child_op == parent and parent in ops.ASSOCIATIVE:
                return text
            if not right and parent in ops.LEFT_ASSOCIATIVE and child_op in ops.LEFT_ASSOCIATIVE:
                return text
        return f"({text})"

    def visit_binary(self, binary: BinaryExpression[Any], **kw: Any) -> str:
        op = binary.operator
        if op in (ops.IN, ops.NOT_IN):
            left = self._operand(binary.left, op, right=False)
            right = binary.right
            if isinstance(right, ClauseList):
                return f"{left} {op} ({self.process(right)})"
            return f"{left} {op} {self.process(right)}"
        if op in (ops.BETWEEN, ops.NOT_BETWEEN):
            bounds = binary.right
            assert isinstance(bounds, ClauseList)
            low, high = bounds.clauses
            left = self._operand(binary.left, op, right=False)
            return (
                f"{left} {op} {self._operand(low, ops.ADD, right=True)} "
                f"AND {self._operand(high, ops.ADD, right=True)}"
            )
        if op in (ops.ILIKE, ops.NOT_ILIKE):
            return self.render_ilike(binary)
        left = self._operand(binary.left, op, right=False, custom=binary.custom)
        right_sql = self._operand(binary.right, op, right=True, custom=binary.custom)
        if op in (ops.LIKE, ops.NOT_LIKE) and isinstance(binary.right, BindParameter):
            return f"{left} {op} {right_sql}"
        return f"{left} {self.operator_sql(op)} {right_sql}"

    def operator_sql(self, op: str) -> str:
        """The SQL spelling of a binary operator."""
        return "<>" if op == ops.NE else op

    def render_ilike(self, binary: BinaryExpression[Any]) -> str:
        """Case-insensitive LIKE; PostgreSQL has ILIKE, SQLite overrides this."""
        left = self._operand(binary.left, binary.operator, right=False)
        right = self._operand(binary.right, binary.operator, right=True)
        return f"{left} {binary.operator} {right}"

    def visit_like_affix(self, element: LikeAffix, **kw: Any) -> str:
        left = self._operand(element.left, ops.LIKE, right=False)
        right = element.right
        if isinstance(right, BindParameter):
            return f"{left} LIKE {self.process(right)} ESCAPE '/'"
        inner = self._operand(right, ops.CONCAT, right=True)
        pattern = {
            "startswith": f"{inner} || '%'",
            "endswith": f"'%' || {inner}",
            "contains": f"'%' || {inner} || '%'",
        }[element.kind]
        return f"{left} LIKE {pattern}"

    def visit_boolean_list(self, element: BooleanClauseList, **kw: Any) -> str:
        op = element.operator
        return f" {op} ".join(self._operand(c, op, right=True) for c in element.clauses)

    def visit_clause_list(self, element: ClauseList, **kw: Any) -> str:
        return element.separator.join(self.process(c) for c in element.clauses)

    def visit_unary(self, element: UnaryExpression[Any], **kw: Any) -> str:
        inner = element.element
        if element.operator is not None:
            op = element.operator
            if op == ops.NOT:
                text = self.process(inner)
                if self._precedence(inner) is not None:
                    text = f"({text})"
                return f"NOT {text}"
            if op == ops.NEG:
                text = self.process(inner)
                if self._precedence(inner) is not None:
                    text = f"({text})"
                return f"-{text}"
            return f"{op} {self.process(inner)}"
        text = self.process(inner, **kw)
        return f"{text} {element.modifier}"

    def visit_in_list(self, element: InList, **kw: Any) -> str:
        if element.is_empty:
            # in_([]) matches nothing, not_in([]) everything, NULLs included.
            return "1 = 1" if element.negate else "1 != 1"
        left = self._operand(element.left, ops.IN, right=False)
        param = element.param
        keyword = "NOT IN" if element.negate else "IN"
        index = self._index.get(id(param))
        if index is None:
            raise HeronInternalError("IN-list parameter missing from the statement's binds")
        left_el = element.left
        width = len(getattr(left_el, "clauses", ())) if left_el.__visit_name__ == "tuple" else 1
        if width == 1:
            return self.render_in_list(element, left, index)
        if isinstance(left_el, ColumnElement) and left_el.__visit_name__ == "tuple":
            procs = [self._bind_processor(c.type) for c in left_el.clauses]  # type: ignore[attr-defined]
            if any(p is not None for p in procs):

                def proc(rows: Any, procs: list[Any] = procs) -> Any:
                    return [
                        tuple(v if p is None else p(v) for p, v in zip(procs, row, strict=True))
                        for row in rows
                    ]

                token = self._token((EXPANDING, index, param.key, proc, (width, param.named)))
            else:
                token = self._token((EXPANDING, index, param.key, None, (width, param.named)))
            return f"{left} {keyword} ({token})"
        raise CompileError("in_() needs a column or tuple_() on its left side")

    def render_in_list(self, element: InList, left: str, index: int) -> str:
        """``col IN (...)`` for one column; PostgreSQL overrides with ``= ANY($n)``."""
        param = element.param
        token = self.render_expanding(param, index, self._bind_processor(param.type), width=1)
        return f"{left} {'NOT IN' if element.negate else 'IN'} ({token})"

    def visit_tuple(self, element: Any, **kw: Any) -> str:
        return f"({', '.join(self.process(c) for c in element.clauses)})"

    def visit_cast(self, element: Any, **kw: Any) -> str:
        return f"CAST({self.process(element.element)} AS {self.type_sql(element.type)})"

    def visit_case(self, element: Any, **kw: Any) -> str:
        # Results are cast where a dialect needs to know a parameter's type.
        parts = ["CASE"]
        if element.value is not None:
            parts.append(self.process(element.value))
        for cond, result in element.whens:
            parts.append(f"WHEN {self.process(cond)} THEN {self.process(result, cast=True)}")
        if element.else_ is not None:
            parts.append(f"ELSE {self.process(element.else_, cast=True)}")
        parts.append("END")
        return " ".join(parts)

    def visit_function(self, element: Any, **kw: Any) -> str:
        name = element.name
        special = self.function_sql(name.lower(), element)
        if special is not None:
            return special
        args = ", ".join(self.process(c, cast=True) for c in element.clauses)
        if not element.clauses and name.lower() == "count":
            args = "*"
        return f"{name}({args})"

    def function_sql(self, name: str, element: Any) -> str | None:
        """Per-dialect spelling of a function, or None for ``name(args)``."""
        if name in ("current_timestamp", "current_date", "current_time") and not element.clauses:
            return name.upper()
        return None

    def visit_over(self, element: Any, **kw: Any) -> str:
        parts = []
        if element.partition_by:
            parts.append("PARTITION BY " + ", ".join(self.process(c) for c in element.partition_by))
        if element.order_by:
            parts.append("ORDER BY " + ", ".join(self.process(c) for c in element.order_by))
        return f"{self.process(element.element)} OVER ({' '.join(parts)})"

    def visit_text(self, element: Any, *, toplevel: bool = False, **kw: Any) -> str:
        if toplevel:
            # Raw SQL: rows are fetched when it reads like a query; the driver
            # supplies the column names.
            self._text_returns_rows = _looks_like_query(element.text)
        out = []
        for part in element._parts:
            out.append(part if isinstance(part, str) else self.process(part))
        return "".join(out)

    def visit_scalar_select(self, element: Any, **kw: Any) -> str:
        return f"({self.process(element.element, correlate=True)})"

    def visit_exists(self, element: Any, **kw: Any) -> str:
        return f"EXISTS ({self.process(element.element, correlate=True, exists=True)})"

    # -- FROM ----------------------------------------------------------------------------------
    def from_sql(self, from_: FromClause) -> str:
        """A FROM-clause entry (table, alias, subquery, CTE reference, join)."""
        visit = from_.__visit_name__
        if visit == "table":
            return self.table_name(from_)
        if visit == "join":
            return self.visit_join(from_)  # type: ignore[arg-type]
        if visit == "cte":
            return self._cte_reference(from_)  # type: ignore[arg-type]
        if visit == "subquery":
            assert isinstance(from_, Subquery)
            # A derived table cannot see the enclosing query's FROM (no LATERAL).
            self._correlate.append(None)
            try:
                body = self._select_body(from_.element)
            finally:
                self._correlate.pop()
            return f"({body}) AS {self._from_name(from_)}"
        if visit == "alias":
            assert isinstance(from_, Alias)
            return f"{self.from_sql(from_.element)} AS {self._from_name(from_)}"
        raise CompileError(f"{type(from_).__name__} cannot be used in FROM")

    def visit_table(self, table: Any, **kw: Any) -> str:
        return self.table_name(table)

    def visit_join(self, join: Join, **kw: Any) -> str:
        left = self.from_sql(join.left)
        right = self.from_sql(join.right)
        if isinstance(join.right, Join):
            right = f"({right})"
        kind = "FULL OUTER JOIN" if join.full else "LEFT OUTER JOIN" if join.isouter else "JOIN"
        return f"{left} {kind} {right} ON {self.process(join.onclause)}"

    def _cte_reference(self, cte: CTE) -> str:
        name = self._from_name(cte)
        if name not in self._ctes and name not in self._cte_pending:
            self._cte_pending.add(name)
            if cte.recursive:
                self._cte_recursive = True
            self._correlate.append(None)
            try:
                body = self._select_body(cte.element)
            finally:
                self._correlate.pop()
            columns = ""
            if cte.recursive:
                columns = f"({', '.join(self.quote(c.name) for c in cte.c)})"
            self._ctes[name] = f"{name}{columns} AS ({body})"
            self._cte_pending.discard(name)
        return name

    def _select_body(self, element: Any) -> str:
        """A select rendered as a subquery/CTE body: columns labelled as ``.c`` names."""
        return self.process(element, as_subquery=True)

    # -- SELECT ------------------------------------------------------------------------------
    def _select_froms(self, select: Select[Any], correlate: bool) -> list[FromClause]:
        explicit = list(select._from_obj)
        covered: set[int] = {id(x) for f in explicit for x in f._covered()}
        implicit: list[FromClause] = []
        for element in (*select._columns_, *select._where):
            for from_ in element._from_objects:
                if id(from_) not in covered:
                    covered.update(id(x) for x in from_._covered())
                    implicit.append(from_)
        outer = self._outer_froms() if correlate else set()
        if outer and implicit:
            kept = [f for f in implicit if id(f) not in outer]
            if kept or explicit:
                implicit = kept
        return explicit + implicit

    def _outer_froms(self) -> set[int]:
        outer: set[int] = set()
        for level in reversed(self._correlate):
            if level is None:
                break
            outer |= level
        return outer

    def visit_select(
        self,
        select: Select[Any],
        *,
        toplevel: bool = False,
        as_subquery: bool = False,
        correlate: bool = False,
        exists: bool = False,
        compound_member: bool = False,
        **kw: Any,
    ) -> str:
        froms = self._select_froms(select, correlate)
        self._correlate.append({id(x) for f in froms for x in f._covered()})
        try:
            return self._render_select(
                select, froms, toplevel=toplevel, as_subquery=as_subquery, exists=exists
            )
        finally:
            self._correlate.pop()

    def _render_select(
        self,
        select: Select[Any],
        froms: list[FromClause],
        *,
        toplevel: bool,
        as_subquery: bool,
        exists: bool,
    ) -> str:
        columns = select._result_columns()
        parts = ["SELECT"]
        if select._distinct_on:
            parts.append(self.distinct_on_sql(select))
        elif select._distinct:
            parts.append("DISTINCT")
        if exists and not columns:
            parts.append("1")
        else:
            if not columns:
                raise ArgumentError("select() has no columns; pass columns or a table")
            parts.append(self._columns_sql(select, columns, as_subquery))
        if toplevel:
            self._set_result(columns, select)
        if froms:
            parts.append("FROM " + ", ".join(self.from_sql(f) for f in froms))
        if select._where:
            parts.append("WHERE " + self.process(and_(*select._where)))
        labels = {id(c) for c in columns if isinstance(c, Label)}
        self._current_labels.append(labels)
        try:
            if select._group_by:
                parts.append("GROUP BY " + ", ".join(self.process(g) for g in select._group_by))
            if select._having:
                parts.append("HAVING " + self.process(and_(*select._having)))
            if select._order_by:
                parts.append("ORDER BY " + ", ".join(self.process(o) for o in select._order_by))
        finally:
            self._current_labels.pop()
        paging = self.limit_sql(select._limit, select._offset)
        if paging:
            parts.append(paging)
        if select._for_update is not None:
            locking = self.for_update_sql(select)
            if locking:
                parts.append(locking)
        return " ".join(parts)

    def _columns_sql(
        self, select: SelectBase, columns: list[ColumnElement[Any]], as_subquery: bool
    ) -> str:
        if not as_subquery:
            return ", ".join(self.process(c, within_columns=True, cast=True) for c in columns)
        rendered = []
        for (_, name, col), _c in zip(select._subquery_columns(), columns, strict=True):
            text = self.process(col, within_columns=True, cast=True)
            natural = col._result_name if not isinstance(col, Label) else col.name
            if isinstance(col, Label):
                if col.name != name:
                    text = f"{self.process(col.element)} AS {self.quote(name)}"
            elif natural != name:
                text = f"{text} AS {self.quote(name)}"
            rendered.append(text)
        return ", ".join(rendered)

    def _set_result(self, columns: list[ColumnElement[Any]], select: Any) -> None:
        if self._result_keys is not None:
            return
        keys = []
        for index, col in enumerate(columns):
            keys.append(col._result_name or f"anon_{index + 1}")
        self._result_keys = keys
        self._result_types = [_result_type(c) for c in columns]

    def distinct_on_sql(self, select: Select[Any]) -> str:
        """``DISTINCT ON (...)``: PostgreSQL only."""
        raise CompileError(f"DISTINCT ON is not supported by {self.dialect.name}; use distinct()")

    def limit_sql(self, limit: Any, offset: Any) -> str:
        """``LIMIT n OFFSET m`` with bound values."""
        parts = []
        if limit is not None:
            parts.append(f"LIMIT {self.process(limit)}")
        if offset is not None:
            parts.append(f"OFFSET {self.process(offset)}")
        return " ".join(parts)

    def for_update_sql(self, select: Select[Any]) -> str:
        """``FOR UPDATE ...``; empty where the database has no row locks."""
        return ""

    def visit_compound_select(
        self,
        compound: CompoundSelect,
        *,
        toplevel: bool = False,
        as_subquery: bool = False,
        **kw: Any,
    ) -> str:
        members = []
        for index, member in enumerate(compound.selects):
            text = self.process(
                member, as_subquery=as_subquery and index == 0, compound_member=True
            )
            members.append(self.compound_member_sql(member, text))
        if toplevel:
            self._set_result(compound._result_columns(), compound)
        text = f" {compound.keyword} ".join(members)
        if compound._order_by:
            # A compound's ORDER BY may only name its result columns.
            self._unqualified = True
            try:
                text += " ORDER BY " + ", ".join(self.process(o) for o in compound._order_by)
            finally:
                self._unqualified = False
        paging = self.limit_sql(compound._limit, compound._offset)
        if paging:
            text += " " + paging
        return text

    def compound_member_sql(self, member: SelectBase, text: str) -> str:
        """A UNION member; parenthesised when it has its own ORDER BY / LIMIT."""
        if isinstance(member, Select) and (
            member._order_by or member._limit is not None or member._offset is not None
        ):
            return f"({text})"
        if isinstance(member, CompoundSelect):
            return f"({text})"
        return text

    def visit_textual_select(
        self, element: TextualSelect, *, toplevel: bool = False, **kw: Any
    ) -> str:
        if toplevel:
            self._set_result(list(element.column_list), element)
        return self.process(element.text)

    # -- types ---------------------------------------------------------------------------------
    def type_sql(self, type_: TypeEngine[Any] | None) -> str:
        """The DDL name of a column type for this dialect."""
        if type_ is None or isinstance(type_, NullType):
            raise CompileError("a column has no type; give it one, e.g. Column('x', Integer)")
        for klass in type(type_).__mro__:
            method = getattr(self, f"type_{klass.__name__.lower()}", None)
            if method is not None:
                result: str = method(type_)
                return result
        raise CompileError(f"{self.dialect.name} has no column type for {type_!r}")

    def type_integer(self, type_: Any) -> str:
        return "INTEGER"

    def type_biginteger(self, type_: Any) -> str:
        return "BIGINT"

    def type_smallinteger(self, type_: Any) -> str:
        return "SMALLINT"

    def type_numeric(self, type_: Any) -> str:
        if type_.precision is not None:
            if type_.scale is not None:
                return f"NUMERIC({type_.precision}, {type_.scale})"
            return f"NUMERIC({type_.precision})"
        return "NUMERIC"

    def type_string(self, type_: Any) -> str:
        return f"VARCHAR({type_.length})" if type_.length else "VARCHAR"

    def type_text(self, type_: Any) -> str:
        return "TEXT"

    def type_enum(self, type_: Any) -> str:
        return f"VARCHAR({type_.length})"

    def type_date(self, type_: Any) -> str:
        return "DATE"

    def type_time(self, type_: Any) -> str:
        return "TIME"


__all__ = ["RESERVED_WORDS", "SQLCompiler"]
