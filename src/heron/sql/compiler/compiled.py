"""Compiled statements, the statement cache, and binding values on a cache hit.

Layer 3 (sql). ``plan_execution`` is the engine seam: it derives a statement's
cache key (its shape: ``_key`` plus, when the same object sits in two places,
the identity pattern of ``_binds``), looks the compiled template up in the
dialect's LRU cache, compiles on a miss, and reads the values for this
execution straight from ``_binds``. A template never holds values, so one
template serves every statement of the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from heron.dialect.sqlite import SqliteDialect
from heron.engine.interfaces import ExecutionPlan
from heron.exc import ArgumentError
from heron.sql.base import compiler_for
from heron.sql.elements import NO_VALUE
from heron.sql.types import NulCharacterError, _reject_nul

if TYPE_CHECKING:
    from heron.dialect.base import Dialect

# Slot kinds: where one placeholder's value comes from.
BIND = 0  # binds[index].value
NAMED = 1  # params[name], else binds[index].value when it has one
DEFAULT = 2  # a column default (extra: ColumnDefault), evaluated per row
MULTI = 3  # a multi-row VALUES block (extra: (keys, processors, defaults)): many values
EXPANDING = 4  # a list rendered as one placeholder per item at bind time (extra: width)

# One slot: (kind, index into _binds or -1, parameter name, processor or None, extra)
Slot = tuple[int, int, str, Any, Any]


class Template:
    """What the cache stores: SQL text (or segments) and where each value comes from."""

    __slots__ = (
        "fast",
        "fast_named",
        "fast_procs",
        "is_ddl",
        "keys",
        "nul_checks",
        "placeholder",
        "processors",
        "returns_rows",
        "segments",
        "slots",
        "sql",
    )

    def __init__(
        self,
        sql: str,
        slots: Sequence[Slot],
        *,
        segments: list[str] | None,
        placeholder: Any,
        returns_rows: bool,
        keys: Sequence[str] | None,
        processors: Sequence[Any] | None,
        is_ddl: bool = False,
    ) -> None:
        self.sql = sql
        self.slots = tuple(slots)
        self.segments = segments
        self.placeholder = placeholder
        self.returns_rows = returns_rows
        self.keys = tuple(keys) if keys is not None else None
        self.processors = tuple(processors) if processors is not None else None
        self.is_ddl = is_ddl
        # NUL checks (PostgreSQL text) run as one loop over positions, not as a
        # processor call per value.
        nul = [
            i for i, slot in enumerate(self.slots) if slot[3] is _reject_nul and slot[0] != MULTI
        ]
        if nul:
            self.slots = tuple(
                (k, i, n, None, e) if pos in nul else (k, i, n, p, e)
                for pos, (k, i, n, p, e) in enumerate(self.slots)
            )
        self.nul_checks = tuple((pos, self.slots[pos][2]) for pos in nul)
        # hot path: benchmarks/bench_compile.py. When every value is read from
        # the statement itself (no named parameter, default or VALUES rows),
        # values are one list comprehension plus the few conversions needed.
        simple = all(s[0] == BIND or (s[0] == EXPANDING and not s[4][1]) for s in self.slots)
        self.fast = tuple(s[1] for s in self.slots) if simple else None
        # Every value from the parameter dict (insert(t) / update(t) executemany).
        named = bool(self.slots) and all(s[0] == NAMED and s[1] < 0 for s in self.slots)
        self.fast_named = tuple(s[2] for s in self.slots) if named else None
        self.fast_procs = tuple(
            (pos, s[3])
            for pos, s in enumerate(self.slots)
            if (simple or named) and s[3] is not None
        )

    def values(self, binds: Sequence[Any], params: Mapping[str, Any] | None) -> list[Any]:
        """The positional values for one execution (expanding lists kept as lists)."""
        fast = self.fast
        if fast is not None:
            out = [binds[i].value for i in fast]
            for pos, proc in self.fast_procs:
                out[pos] = proc(out[pos])
        elif self.fast_named is not None and params is not None:
            try:
                out = [params[name] for name in self.fast_named]
            except KeyError:
                out = self._values(binds, params)  # raises, naming the parameter
            for pos, proc in self.fast_procs:
                out[pos] = proc(out[pos])
        else:
            out = self._values(binds, params)
        for pos, name in self.nul_checks:
            value = out[pos]
            if type(value) is str and "\x00" in value:
                raise NulCharacterError(name)
        return out

    def values_many(self, binds: Sequence[Any], rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Positional values for an executemany, one sequence per parameter dict."""
        names = self.fast_named
        if names is not None and not self.fast_procs:
            # hot path: bulk INSERT through executemany; rows read by itemgetter in C.
            getter = itemgetter(*names)
            try:
                out: list[Any] = (
                    list(map(getter, rows)) if len(names) > 1 else [(v,) for v in map(getter, rows)]
                )
            except KeyError:
                out = []
            if len(out) == len(rows):
                for pos, name in self.nul_checks:
                    _check_nul([t[pos] for t in out], name)
                return out
        values_of = self.values
        return [values_of(binds, row) for row in rows]

    def _values(self, binds: Sequence[Any], params: Mapping[str, Any] | None) -> list[Any]:
        out: list[Any] = []
        append = out.append
        try:
            for kind, index, name, proc, extra in self.slots:
                if kind == BIND:
                    value = binds[index].value
                elif kind == NAMED or (kind == EXPANDING and extra[1]):
                    if params is not None and name in params:
                        value = params[name]
                    else:
                        value = binds[index].value if index >= 0 else NO_VALUE
                        if value is NO_VALUE:
                            raise ArgumentError(
                                f"no value for bound parameter {name!r}; pass it in the "
                                f"execution parameters, e.g. execute(stmt, {{{name!r}: ...}})"
                            )
                elif kind == EXPANDING:
                    value = binds[index].value
                elif kind == DEFAULT:
                    value = extra.value()
                else:
                    _multi_values(out, binds[index], extra)
                    continue
                append(value if proc is None else proc(value))
        except NulCharacterError as exc:
            if exc.column is None:
                raise NulCharacterError(_slot_name(self.slots, len(out))) from None
            raise
        return out

    def render(self, values: list[Any]) -> tuple[str, list[Any]]:
        """SQL and flat values when the statement has expanding lists (rendered per call)."""
        segments = self.segments
        if segments is None:
            return self.sql, values
        placeholder = self.placeholder
        parts: list[str] = [segments[0]]
        flat: list[Any] = []
        qmark = placeholder(1) == "?"
        for i, (kind, _, _, _, extra) in enumerate(self.slots):
            value = values[i]
            if kind == EXPANDING:
                width = extra[0]
                if qmark and width == 1:
                    # hot path: "?, ?, ?" needs no numbering
                    items = list(value)
                    flat.extend(items)
                    parts.append(", ".join(["?"] * len(items)))
                    parts.append(segments[i + 1])
                    continue
                groups = []
                for item in value:
                    if width == 1:
                        flat.append(item)
                        groups.append(placeholder(len(flat)))
                    else:
                        if not isinstance(item, Sequence) or len(item) != width:
                            raise ArgumentError(
                                f"in_() on a row of {width} takes tuples of {width}"
                            )
                        marks = []
                        for part in item:
                            flat.append(part)
                            marks.append(placeholder(len(flat)))
                        groups.append(f"({', '.join(marks)})")
                parts.append(", ".join(groups))
            else:
                flat.append(value)
                parts.append(placeholder(len(flat)))
            parts.append(segments[i + 1])
        return "".join(parts), flat


def _slot_name(slots: Sequence[Slot], position: int) -> str:
    return slots[position][2] if position < len(slots) else "?"


def _multi_values(out: list[Any], block: Any, extra: Any) -> None:
    # hot path: the ORM's batched INSERT ... RETURNING. Rows are flattened by
    # itemgetter in C; conversions run per column over a slice; NUL checks
    # search one joined string per column. Anything unusual (missing keys,
    # defaults) takes the row-by-row path, which also words the errors.
    keys, procs, defaults = extra[0], extra[1], extra[2]
    rows = block.rows
    width = len(keys)
    if width and not any(d is not None for d in defaults):
        getter = itemgetter(*keys)
        try:
            if width == 1:
                flat = list(map(getter, rows))
            else:
                flat = list(chain.from_iterable(map(getter, rows)))
        except KeyError:
            flat = None
        # No KeyError: every row has the keys; equal total size: none has more.
        if flat is not None and sum(map(len, rows)) == len(rows) * len(block.columns):
            for pos, proc in enumerate(procs):
                if proc is _reject_nul:
                    _check_nul(flat[pos::width], keys[pos])
                elif proc is not None:
                    flat[pos::width] = [proc(v) for v in flat[pos::width]]
            out.extend(flat)
            return
    _multi_values_slow(out, block, extra)


def _check_nul(values: list[Any], name: str) -> None:
    try:
        found = "\x00" in "\x01".join(filter(None, values))
    except TypeError:  # not all text: check one by one
        found = any(type(v) is str and "\x00" in v for v in values)
    if found:
        raise NulCharacterError(name)


def _multi_values_slow(out: list[Any], block: Any, extra: Any) -> None:
    keys, procs, defaults = extra[0], extra[1], extra[2]
    given = len(block.columns)
    append = out.append
    columns = [
        (key, None if proc is _reject_nul else proc, default, proc is _reject_nul)
        for key, proc, default in zip(keys, procs, defaults, strict=True)
    ]
    for row in block.rows:
        if len(row) != given:
            _row_keys_error(block, row)
        for key, proc, default, nul in columns:
            try:
                value = row[key]
            except KeyError:
                if default is None:
                    _row_keys_error(block, row)
                value = default.value()
            if nul and type(value) is str and "\x00" in value:
                raise NulCharacterError(key)
            append(value if proc is None else proc(value))


def _row_keys_error(block: Any, row: Any) -> None:
    expected = [c.key for c in block.columns]
    raise ArgumentError(
        f"a row of the multi-row insert has keys {sorted(row)}; every row needs exactly "
        f"the keys of the first row: {expected}"
    )


class Compiled:
    """A statement compiled for one dialect, with the values it was built with.

    Attributes:
        sql: the SQL text in the dialect's paramstyle.
        positional_names: a name per placeholder, in order (column key,
            ``bindparam`` name, or ``param``).
        params: the positional values this statement binds by itself (named
            parameters without a value are missing from it: use ``bind()``).
    """

    __slots__ = ("_binds", "dialect", "template")

    def __init__(self, template: Template, binds: Sequence[Any], dialect: Dialect) -> None:
        self.template = template
        self._binds = binds
        self.dialect = dialect

    @property
    def sql(self) -> str:
        """The SQL text; with an expanding IN list, rendered for this statement's values."""
        template = self.template
        if template.segments is not None:
            try:
                return template.render(template.values(self._binds, None))[0]
            except ArgumentError:
                return template.sql
        return template.sql

    @property
    def positional_names(self) -> list[str]:
        return [slot[2] for slot in self.template.slots]

    @property
    def keys(self) -> tuple[str, ...] | None:
        """Result column names, for statements that return rows."""
        return self.template.keys

    def bind(self, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Positional values for one execution with ``params`` for named parameters."""
        return self.template.values(self._binds, params)

    def render(self, params: Mapping[str, Any] | None = None) -> tuple[str, list[Any]]:
        """``(sql, values)`` for one execution, IN lists expanded where needed."""
        return self.template.render(self.template.values(self._binds, params))

    @property
    def params(self) -> list[Any]:
        """The positional values of this statement alone (processed, IN lists expanded).

        A ``bindparam()`` without a value shows as None here; pass it to ``bind()``.
        """
        try:
            return self.render(None)[1]
        except ArgumentError:
            values = [
                self._binds[index].value if index >= 0 and kind != MULTI else None
                for kind, index, _, _, _ in self.template.slots
            ]
            return [None if v is NO_VALUE else v for v in values]

    def __str__(self) -> str:
        return self.sql

    def __repr__(self) -> str:
        return f"<Compiled {self.sql!r}>"


def statement_key(stmt: Any, params: Mapping[str, Any] | None) -> tuple[Any, tuple[Any, ...]]:
    """The statement's cache key and the bound values in key order.

    The identity pattern of ``_binds`` joins the key only when one object
    occurs twice (a reused expression, an anonymous alias referenced twice),
    because then the template must read one value for two placeholders, or
    two FROM entries are one.
    """
    # hot path: benchmarks/bench_compile.py
    state = getattr(stmt, "__dict__", None)
    if state is not None:
        memo = state.get("_skey")
        if memo is not None and not (params and stmt._is_dml):
            return memo  # type: ignore[no-any-return]
        parts = getattr(stmt, "_compute_key", None)
        key, binds = parts() if parts is not None else (stmt._key, stmt._binds)
    else:
        key, binds = stmt._key, stmt._binds
    # Binds and FROM markers hash by identity, so a set finds a repeated object.
    # (ids, not the objects: their __hash__ is Python-level, ids hash in C)
    if len(binds) > 1 and len(set(map(id, binds))) != len(binds):
        first: dict[int, int] = {}
        key = (key, tuple(first.setdefault(id(b), n) for n, b in enumerate(binds)))
    result = (key, binds)
    if state is not None:
        state["_skey"] = result
        if params and getattr(stmt, "_is_dml", False):
            # The columns of insert(t) / update(t) executed with a dict depend on its keys.
            return (key, tuple(params)), binds
    return result


def get_template(
    stmt: Any, dialect: Dialect, params: Mapping[str, Any] | None
) -> tuple[Template, tuple[Any, ...]]:
    """The compiled template for ``stmt`` (from the cache when its shape was seen) and its binds."""
    # A statement object executed again (Session.get()'s, a module-level query)
    # keeps its template: no key to hash, no LRU bookkeeping.
    state = getattr(stmt, "__dict__", None)
    reusable = state is not None and not (params and getattr(stmt, "_is_dml", False))
    if reusable:
        memo = state.get("_template")  # type: ignore[union-attr]
        if memo is not None and memo[0] is dialect:
            dialect.compiled_cache.hits += 1
            return memo[1], memo[2]
    key, binds = statement_key(stmt, params)
    cache = dialect.compiled_cache
    template: Template | None = cache.get(key)
    if template is None:
        compiler = compiler_for(dialect)(dialect, binds, params)
        template = compiler.compile_statement(stmt)
        cache.put(key, template)
    if reusable:
        state["_template"] = (dialect, template, binds)  # type: ignore[index]
    return template, binds


def compile_statement(stmt: Any, dialect: Dialect | None = None) -> Compiled:
    """Compile ``stmt`` for ``dialect`` (default: SQLite flavour) through the cache."""
    if dialect is None:
        dialect = _default_dialect()
    if getattr(stmt, "_is_ddl", False):
        return Compiled(
            compiler_for(dialect)(dialect, (), None).compile_statement(stmt), (), dialect
        )
    template, binds = get_template(stmt, dialect, None)
    return Compiled(template, binds, dialect)


_default: list[Dialect] = []


def _default_dialect() -> Dialect:
    # str(stmt) and stmt.compile() without a dialect use the SQLite flavour.
    if not _default:
        _default.append(SqliteDialect())
    return _default[0]


def plan_execution(
    stmt: Any,
    dialect: Dialect,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> ExecutionPlan:
    """The engine seam: SQL, positional values and result info for one execution."""
    if getattr(stmt, "_is_ddl", False):
        template = compiler_for(dialect)(dialect, (), None).compile_statement(stmt)
        return ExecutionPlan(template.sql, [], is_ddl=True)
    if params is None or isinstance(params, Mapping):
        template, binds = get_template(stmt, dialect, params)
        values = template.values(binds, params)
        sql = template.sql
        if template.segments is not None:
            sql, values = template.render(values)
        return ExecutionPlan(
            sql,
            values,
            returns_rows=template.returns_rows,
            keys=template.keys,
            processors=template.processors,
        )
    rows = list(params)
    if not rows:
        raise ArgumentError("execute() got an empty list of parameter dicts")
    template, binds = get_template(stmt, dialect, rows[0])
    if template.segments is not None:
        raise ArgumentError(
            "an IN list that expands per execution cannot be sent as executemany; "
            "execute the statement once per parameter dict"
        )
    return ExecutionPlan(
        template.sql,
        template.values_many(binds, rows),
        many=True,
        returns_rows=template.returns_rows,
        keys=template.keys,
        processors=template.processors,
    )
