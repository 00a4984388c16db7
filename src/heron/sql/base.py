"""Shared machinery of executable statements: generative copies, options, execution.

Layer 3 (sql). Statements are immutable: every builder method returns a
shallow copy (``_generate``), so a half-built query is a reusable value. An
``Executable`` implements the engine's ``_plan_execution`` seam by handing
itself to the compiler module (installed as ``_plan_hook`` when
``heron.sql.compiler`` is imported, which ``heron.sql`` always does).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from heron.exc import ArgumentError

if TYPE_CHECKING:
    from heron.dialect.base import Dialect
    from heron.engine.interfaces import ExecutionPlan

C = TypeVar("C")

# -- shapes ----------------------------------------------------------------------------
# Every construct's cache key is a small int naming its SHAPE: the tuple
# (kind, child shape ids, identifiers, types) is interned here when the node is
# built. Equal shapes share one id, so a statement's key is a short tuple of
# ints: hashing and comparing it on a cache hit costs next to nothing,
# whatever the statement's size (benchmarks/bench_compile.py). Ids come from
# a counter and are never reused, so the table may be dropped when it grows
# too big: shapes then get new ids and at worst compile once more.
_SHAPES: dict[Any, int] = {}
_SHAPE_LIMIT = 250_000
_next_id = itertools.count(1).__next__


def shape(*key: Any) -> int:
    """The shape id of ``key`` (shape ids of children, names, flags: all hashable)."""
    found = _SHAPES.get(key)
    if found is None:
        if len(_SHAPES) >= _SHAPE_LIMIT:
            _SHAPES.clear()
        found = _SHAPES[key] = _next_id()
    return found


def new_identity() -> int:
    """A shape id of its own, for objects whose identity is their shape (Table, Column)."""
    return _next_id()


Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None

_plan_hook: Callable[[Any, Dialect, Params], ExecutionPlan] | None = None


class Generative:
    """Immutable builder: methods return a changed shallow copy, never mutate ``self``."""

    def _generate(self) -> Self:
        cls = self.__class__
        new = cls.__new__(cls)
        state = self.__dict__.copy()
        # Cache-key memos belong to this exact object only.
        state.pop("_memo", None)
        state.pop("_ikey", None)
        state.pop("_skey", None)
        state.pop("_template", None)
        new.__dict__.update(state)
        for slot in _slots_to_copy(cls):
            try:
                object.__setattr__(new, slot, object.__getattribute__(self, slot))
            except AttributeError:
                continue
        return new


class StatementKey:
    """Cache key of a whole statement, computed lazily once per statement object.

    Statements (SELECT and DML) assemble their key from their parts' shape
    ids in ``_compute_key``; the result is memoised here (``Generative``
    drops the memo on copy, so a changed copy computes its own).
    """

    def _cache_parts(self) -> tuple[Any, tuple[Any, ...]]:
        """``(shape tuple, binds)``; the tuple is the statement's cache key as is."""
        memo = self.__dict__.get("_memo")
        if memo is None:
            memo = self.__dict__["_memo"] = self._compute_key()
        return memo

    @property
    def _key(self) -> Any:
        # Interned only when nested in another statement (subquery, CTE, ...).
        key = self.__dict__.get("_ikey")
        if key is None:
            key = self.__dict__["_ikey"] = shape(*self._cache_parts()[0])
        return key

    @property
    def _binds(self) -> tuple[Any, ...]:
        return self._cache_parts()[1]

    def _compute_key(self) -> tuple[Any, tuple[Any, ...]]:
        raise NotImplementedError


_SLOT_CACHE: dict[type, tuple[str, ...]] = {}


def _slots_to_copy(cls: type) -> tuple[str, ...]:
    """Slot-stored key/binds of a class (statements compute them as properties instead)."""
    found = _SLOT_CACHE.get(cls)
    if found is None:
        found = _SLOT_CACHE[cls] = tuple(
            name
            for name in ("_key", "_binds")
            if not isinstance(getattr(cls, name, None), property)
        )
    return found


class Executable(Generative):
    """A statement ``Connection.execute`` accepts (select, insert, update, delete, text, DDL)."""

    _execution_options: Mapping[str, Any] = {}
    _with_options: tuple[Any, ...] = ()
    # INSERT/UPDATE/DELETE: the SQL depends on the parameter names given at execution.
    _is_dml = False

    def execution_options(self, **options: Any) -> Self:
        """Return a copy carrying execution options (merged with earlier ones).

        The options are stored in ``stmt._execution_options`` for the engine
        and the ORM (e.g. ``synchronize_session``); they do not change the SQL.
        """
        new = self._generate()
        new._execution_options = {**self._execution_options, **options}
        return new

    def get_execution_options(self) -> dict[str, Any]:
        """The execution options set so far."""
        return dict(self._execution_options)

    def _plan_execution(self, dialect: Dialect, params: Params) -> ExecutionPlan:
        """Compile through the dialect's statement cache and bind ``params``."""
        if _plan_hook is None:  # pragma: no cover - heron.sql always installs it
            raise RuntimeError("heron.sql.compiler is not loaded")
        return _plan_hook(self, dialect, params)


class ColumnCollection(Generic[C]):
    """Columns by key: ``t.c.name``, ``t.c["name"]``, iteration in order, ``in``.

    ``"name" in t.c`` tests a key, ``column in t.c`` tests membership by identity.
    """

    __slots__ = ("_cols",)

    def __init__(self, columns: Mapping[str, C] | None = None) -> None:
        self._cols: dict[str, C] = dict(columns or {})

    def __getattr__(self, key: str) -> C:
        # Only called for names that are not real attributes: the column keys.
        try:
            return self._cols[key]
        except KeyError:
            if key.startswith("__"):
                raise AttributeError(key) from None
            raise AttributeError(
                f"no column {key!r}; the columns are {', '.join(self._cols) or 'none'}"
            ) from None

    def __getitem__(self, key: str | int) -> C:
        if isinstance(key, int):
            return list(self._cols.values())[key]
        try:
            return self._cols[key]
        except KeyError:
            raise KeyError(
                f"no column {key!r}; the columns are {', '.join(self._cols) or 'none'}"
            ) from None

    def __iter__(self) -> Iterator[C]:
        return iter(self._cols.values())

    def __len__(self) -> int:
        return len(self._cols)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._cols
        return any(col is item for col in self._cols.values())

    def get(self, key: str, default: Any = None) -> Any:
        """The column under ``key``, or ``default``."""
        return self._cols.get(key, default)

    def keys(self) -> list[str]:
        """Column keys in order."""
        return list(self._cols)

    def values(self) -> list[C]:
        """Columns in order."""
        return list(self._cols.values())

    def items(self) -> list[tuple[str, C]]:
        """``(key, column)`` pairs in order."""
        return list(self._cols.items())

    def __repr__(self) -> str:
        return f"ColumnCollection({', '.join(self._cols)})"

    def __getstate__(self) -> dict[str, Any]:
        return {"_cols": self._cols}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_cols", state["_cols"])


# Compiler classes by dialect name; heron.sql.compiler registers them on import.
_compilers: dict[str, Any] = {}


def compiler_for(dialect: Dialect) -> Any:
    """The compiler class for ``dialect`` (by its name; SQL per flavour lives in sql/compiler)."""
    try:
        return _compilers[dialect.name]
    except KeyError:
        raise ArgumentError(
            f"no SQL compiler for dialect {dialect.name!r}; known: {', '.join(_compilers)}"
        ) from None


def unknown_name_error(what: str, name: str, candidates: Sequence[str]) -> ArgumentError:
    """An ArgumentError naming the unknown ``name`` and the valid candidates."""
    shown = ", ".join(candidates) or "none"
    return ArgumentError(f"{what} has no column {name!r}; choose from: {shown}")
