"""Results: Row, Result, ScalarResult, MappingResult and their streaming twins.

Layer 2. A ``Result`` holds a statement's rows, fetched eagerly, as the
driver's raw rows (result processors already applied) plus one shared
``Row`` class per column-name tuple; ``Row`` objects are made only when a
caller asks for them. The ORM reads ``result._raw_rows`` and ``result.keys()``
directly. ``AsyncResult`` streams from a cursor in chunks with the same API,
awaited. Reading methods consume rows like a cursor: ``all()`` twice gives the
rows, then ``[]``; ``first()``/``one()``/``scalar()`` close the result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from heron import exc

if TYPE_CHECKING:
    from heron.driver.base import DriverCursor
    from heron.engine.interfaces import ResultProcessor

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

RawRow = Sequence[Any]

# Names a Row class reserves for its own API; a column with one of these
# names is reached through ``row._mapping`` or by index instead.
# Columns named "count" or "index" do shadow the tuple methods: the column is
# what a reader of ``row.count`` means.
_RESERVED = frozenset({"_mapping", "_fields", "_tuple", "_asdict", "_keymap"})

_AMBIGUOUS = -1


class Row(tuple[Any, ...], Generic[T_co]):
    """One result row: a tuple with attribute and mapping access by column name.

    ``row.name``, ``row[0]``, ``row._mapping["name"]``, ``row._fields``,
    ``row._tuple()``. Rows are hashable and compare equal to plain tuples.
    Each distinct tuple of column names gets one cached subclass whose
    attributes are ``itemgetter`` properties, so a row costs what a tuple costs.
    """

    __slots__ = ()

    _fields: tuple[str, ...] = ()
    # column name -> index, or _AMBIGUOUS when two columns share the name
    _keymap: dict[str, int] = {}

    @property
    def _mapping(self) -> RowMapping:
        """A read-only mapping of column name to value for this row."""
        return RowMapping(self)

    def _tuple(self) -> tuple[Any, ...]:
        """Return the row as a plain tuple."""
        return tuple(self)

    def _asdict(self) -> dict[str, Any]:
        """Return ``{column name: value}`` (the last column wins on duplicate names)."""
        return dict(zip(self._fields, self, strict=True))

    def __getattr__(self, name: str) -> Any:
        # Only reached when no column property matched: name the columns there are.
        index = self._keymap.get(name)
        if index == _AMBIGUOUS:
            raise exc.InvalidRequestError(
                f"Ambiguous column name {name!r} in row; use row._mapping or an index"
            )
        if index is not None:  # a reserved name such as "count"
            return self[index]
        raise AttributeError(
            f"Row has no column {name!r}; columns are {', '.join(self._fields) or '(none)'}"
        )

    def __repr__(self) -> str:
        return repr(tuple(self))

    def __reduce__(self) -> tuple[Any, ...]:
        # Row classes are made at runtime; pickle by column names instead.
        return (_rebuild_row, (self._fields, tuple(self)))


def _rebuild_row(fields: tuple[str, ...], values: tuple[Any, ...]) -> Row[Any]:
    return row_class(fields)(values)


_row_classes: dict[tuple[str, ...], type[Row[Any]]] = {}
_ROW_CLASS_CACHE_SIZE = 1000


def row_class(keys: Sequence[str]) -> type[Row[Any]]:
    """Return the cached Row subclass for a tuple of column names.

    Built once per distinct column-name tuple (hot path: a query run 10,000
    times builds its row class once).
    """
    key = tuple(keys)
    cls = _row_classes.get(key)
    if cls is not None:
        return cls
    keymap: dict[str, int] = {}
    for index, name in enumerate(key):
        keymap[name] = _AMBIGUOUS if name in keymap else index
    namespace: dict[str, Any] = {"__slots__": (), "_fields": key, "_keymap": keymap}
    for name, index in keymap.items():
        if index != _AMBIGUOUS and name.isidentifier() and name not in _RESERVED:
            if not name.startswith("__"):
                namespace[name] = property(itemgetter(index))
    cls = type("Row", (Row,), namespace)
    if len(_row_classes) >= _ROW_CLASS_CACHE_SIZE:
        _row_classes.pop(next(iter(_row_classes)))
    _row_classes[key] = cls
    return cls


class RowMapping(Mapping[str, Any]):
    """A row seen as a read-only mapping of column name to value."""

    __slots__ = ("_row",)

    def __init__(self, row: Row[Any]) -> None:
        self._row = row

    def __getitem__(self, key: object) -> Any:
        row = self._row
        keymap = row._keymap
        index = keymap.get(key) if isinstance(key, str) else None
        if index is None and not isinstance(key, str):
            # Column-like objects from the SQL layer carry their name.
            name = getattr(key, "key", None) or getattr(key, "name", None)
            if isinstance(name, str):
                index = keymap.get(name)
        if index is None:
            raise KeyError(key)
        if index == _AMBIGUOUS:
            raise exc.InvalidRequestError(
                f"Ambiguous column name {key!r} in row; select it with a label"
            )
        return row[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._row._fields)

    def __len__(self) -> int:
        return len(self._row._fields)

    def __contains__(self, key: object) -> bool:
        return key in self._row._keymap

    def __repr__(self) -> str:
        return repr(dict(zip(self._row._fields, self._row, strict=True)))


def apply_processors(
    rows: Sequence[RawRow], processors: Sequence[ResultProcessor | None] | None
) -> list[RawRow]:
    """Return ``rows`` with each column's processor applied (once per non-None one)."""
    if not processors:
        return rows if isinstance(rows, list) else list(rows)
    pairs = [(i, p) for i, p in enumerate(processors) if p is not None]
    if not pairs:
        return rows if isinstance(rows, list) else list(rows)
    out: list[RawRow] = []
    append = out.append
    # hot path: benchmarks (hydration): one list per row, one call per processed cell.
    if len(pairs) == 1:
        (i, proc), = pairs
        for row in rows:
            values = list(row)
            values[i] = proc(values[i])
            append(values)
    else:
        for row in rows:
            values = list(row)
            for i, proc in pairs:
                values[i] = proc(values[i])
            append(values)
    return out


def _no_result(what: str) -> NoReturn:
    raise exc.NoResultFound(f"No row was found when one was required ({what})")


def _many_results(what: str) -> NoReturn:
    raise exc.MultipleResultsFound(
        f"Multiple rows were found when exactly one was required ({what})"
    )


Unique = tuple[set[Any], Callable[[Any], Any] | None]


def _identity(item: Any) -> Any:
    return item


def _mapping_row(item: RowMapping) -> Any:
    return item._row


def _dedupe(items: list[T], unique: Unique, default_key: Callable[[Any], Any]) -> list[T]:
    """Keep items whose key (``strategy(item)`` or ``default_key(item)``) is new."""
    seen, strategy = unique
    key_of = strategy if strategy is not None else default_key
    out = []
    for item in items:
        key = key_of(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


class _Cursor:
    """Shared reading position over a list of raw rows (views share one cursor)."""

    __slots__ = ("closed", "pos", "returns_rows", "rows")

    def __init__(self, rows: list[RawRow], returns_rows: bool) -> None:
        self.rows = rows
        self.pos = 0
        self.closed = False
        self.returns_rows = returns_rows

    def check(self, what: str) -> None:
        if not self.returns_rows:
            raise exc.ResourceClosedError(
                f"Cannot call {what}: this result does not return rows "
                "(the statement had no RETURNING); read result.rowcount instead"
            )
        if self.closed:
            raise exc.ResourceClosedError(
                f"Cannot call {what}: the result is closed (first(), one(), scalar() and "
                "close() end a result); keep the rows from the first call"
            )

    def take(self, size: int | None) -> list[RawRow]:
        start = self.pos
        end = len(self.rows) if size is None else min(len(self.rows), start + size)
        self.pos = end
        if start == 0 and end == len(self.rows):
            return self.rows
        return self.rows[start:end]

    def close(self) -> None:
        self.closed = True
        self.rows = []
        self.pos = 0


class _View(Generic[T]):
    """Reading methods shared by Result, ScalarResult and MappingResult."""

    __slots__ = ("_cursor", "_unique")

    _cursor: _Cursor
    _unique: Unique | None

    def _convert(self, raw: list[RawRow]) -> list[T]:
        raise NotImplementedError

    def _filter(self, items: list[T]) -> list[T]:
        return items if self._unique is None else _dedupe(items, self._unique, _identity)

    def _fetch(self, size: int | None, what: str) -> list[T]:
        cursor = self._cursor
        cursor.check(what)
        if self._unique is None or size is None:
            return self._filter(self._convert(cursor.take(size)))
        out: list[T] = []
        while len(out) < size:
            raw = cursor.take(size - len(out))
            if not raw:
                break
            out.extend(self._filter(self._convert(raw)))
        return out

    def _only(self, what: str, *, required: bool) -> T | None:
        items = self._fetch(2, what)
        self._cursor.close()
        if not items:
            if required:
                _no_result(what)
            return None
        if len(items) > 1:
            _many_results(what)
        return items[0]

    def all(self) -> list[T]:
        """Return every remaining item."""
        return self._fetch(None, "all()")

    def fetchall(self) -> list[T]:
        """Return every remaining item (same as ``all()``)."""
        return self._fetch(None, "fetchall()")

    def fetchmany(self, size: int | None = None) -> list[T]:
        """Return up to ``size`` more items (default 1)."""
        return self._fetch(1 if size is None else size, "fetchmany()")

    def fetchone(self) -> T | None:
        """Return the next item, or None when there are no more."""
        items = self._fetch(1, "fetchone()")
        return items[0] if items else None

    def first(self) -> T | None:
        """Return the first item or None, and close the result."""
        items = self._fetch(1, "first()")
        self._cursor.close()
        return items[0] if items else None

    def one(self) -> T:
        """Return exactly one item and close the result.

        Raises:
            NoResultFound: there is no row.
            MultipleResultsFound: there is more than one row.
        """
        return self._only("one()", required=True)  # type: ignore[return-value]

    def one_or_none(self) -> T | None:
        """Return one item, None when there is none, and close the result.

        Raises:
            MultipleResultsFound: there is more than one row.
        """
        return self._only("one_or_none()", required=False)

    def partitions(self, size: int | None = None) -> Iterator[list[T]]:
        """Yield lists of up to ``size`` items (default 100) until the rows run out."""
        step = size or 100
        while True:
            chunk = self._fetch(step, "partitions()")
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        """Discard the remaining rows; further reads raise ``ResourceClosedError``."""
        self._cursor.close()

    def __iter__(self) -> Iterator[T]:
        return iter(self._fetch(None, "iteration"))


class Result(_View[Row[T_co]], Generic[T_co]):
    """The rows of one executed statement, fetched eagerly.

    Build one from raw driver output with ``Result(keys, rows, processors,
    rowcount)``; the ORM reads ``result._raw_rows`` (processed raw rows, each a
    sequence indexable like ``keys()``) without making ``Row`` objects.

    Example::

        result = await conn.execute(select(users))
        for row in result:
            print(row.id, row.name)

    Attributes:
        rowcount: rows matched by an UPDATE/DELETE (or inserted), -1 when unknown.
    """

    __slots__ = ("_keys", "_row_cls", "rowcount")

    def __init__(
        self,
        keys: Sequence[str],
        rows: Sequence[RawRow],
        processors: Sequence[ResultProcessor | None] | None = None,
        rowcount: int = -1,
        *,
        returns_rows: bool = True,
    ) -> None:
        """Wrap ``rows`` (sequences in ``keys`` order) and apply ``processors`` once."""
        self._keys = keys
        self._cursor = _Cursor(apply_processors(rows, processors), returns_rows)
        self._unique = None
        self._row_cls: type[Row[Any]] | None = None
        self.rowcount = rowcount

    @property
    def _raw_rows(self) -> list[RawRow]:
        """The remaining processed raw rows (no Row objects are made)."""
        cursor = self._cursor
        return cursor.rows if cursor.pos == 0 else cursor.rows[cursor.pos :]

    @property
    def returns_rows(self) -> bool:
        """Whether the statement produced rows (a SELECT or RETURNING)."""
        return self._cursor.returns_rows

    def keys(self) -> list[str]:
        """Return the column names, in order."""
        return list(self._keys)

    def _convert(self, raw: list[RawRow]) -> list[Row[T_co]]:
        cls = self._row_cls
        if cls is None:
            cls = self._row_cls = row_class(self._keys)
        return list(map(cls, raw))

    def unique(self, strategy: Callable[[Any], Any] | None = None) -> Result[T_co]:
        """Drop rows equal to one already returned (or with an equal ``strategy(row)``)."""
        self._unique = (set(), strategy)
        return self

    def _index(self, column: int | str) -> int:
        if isinstance(column, int):
            if not -len(self._keys) <= column < len(self._keys):
                raise exc.ArgumentError(
                    f"Column index {column} is out of range for a result with "
                    f"{len(self._keys)} columns"
                )
            return column
        try:
            return list(self._keys).index(column)
        except ValueError:
            raise exc.ArgumentError(
                f"No column {column!r} in this result; columns are {', '.join(self._keys)}"
            ) from None

    def columns(self, *columns: int | str) -> Result[Any]:
        """Return a result of the remaining rows limited to ``columns`` (names or indexes)."""
        self._cursor.check("columns()")
        indexes = [self._index(c) for c in columns]
        picked = [tuple(row[i] for i in indexes) for row in self._cursor.take(None)]
        return Result([self._keys[i] for i in indexes], picked)

    def scalars(self, index: int | str = 0) -> ScalarResult[Any]:
        """Return a view yielding one column (default the first) of each remaining row."""
        self._cursor.check("scalars()")
        return ScalarResult(self._cursor, self._index(index), self._unique)

    def mappings(self) -> MappingResult:
        """Return a view yielding each remaining row as a ``RowMapping``."""
        self._cursor.check("mappings()")
        return MappingResult(self, self._unique)

    def scalar(self) -> Any:
        """Return the first column of the first row (None when there is no row); close."""
        # hot path: benchmarks/workloads/pool.py -- no Row object is made.
        cursor = self._cursor
        cursor.check("scalar()")
        rows = cursor.rows
        value = rows[cursor.pos][0] if cursor.pos < len(rows) else None
        cursor.close()
        return value

    def scalar_one(self) -> Any:
        """Return the first column of the only row; close.

        Raises:
            NoResultFound, MultipleResultsFound: not exactly one row.
        """
        return self.scalars().one()

    def scalar_one_or_none(self) -> Any:
        """Return the first column of the only row, or None when there is none; close."""
        return self.scalars().one_or_none()

    def __repr__(self) -> str:
        return f"<Result keys={list(self._keys)} rowcount={self.rowcount}>"


class ScalarResult(_View[T]):
    """One column of each row: ``all()`` returns values, not rows."""

    __slots__ = ("_index",)

    def __init__(
        self,
        cursor: _Cursor,
        index: int,
        unique: Unique | None = None,
    ) -> None:
        self._cursor = cursor
        self._index = index
        self._unique = unique

    def _convert(self, raw: list[RawRow]) -> list[T]:
        index = self._index
        return [row[index] for row in raw]

    def unique(self, strategy: Callable[[Any], Any] | None = None) -> ScalarResult[T]:
        """Drop values equal to one already returned."""
        self._unique = (set(), strategy)
        return self


class MappingResult(_View[RowMapping]):
    """Each row as a ``RowMapping`` (``dict``-like, keyed by column name)."""

    __slots__ = ("_result",)

    def __init__(
        self,
        result: Result[Any],
        unique: Unique | None = None,
    ) -> None:
        self._result = result
        self._cursor = result._cursor
        self._unique = unique

    def _convert(self, raw: list[RawRow]) -> list[RowMapping]:
        return [RowMapping(row) for row in self._result._convert(raw)]

    def _filter(self, items: list[RowMapping]) -> list[RowMapping]:
        # RowMapping is unhashable (a Mapping); rows stand in for it.
        return items if self._unique is None else _dedupe(items, self._unique, _mapping_row)

    def keys(self) -> list[str]:
        """Return the column names, in order."""
        return self._result.keys()

    def unique(self, strategy: Callable[[Any], Any] | None = None) -> MappingResult:
        """Drop rows equal to one already returned."""
        self._unique = (set(), strategy)
        return self


# --- streaming ---------------------------------------------------------------


class _Stream:
    """Pulls raw rows from a driver cursor in chunks (shared by the async views).

    ``done``: the cursor is released (exhausted or closed); ``closed``: a
    closing call (first/one/scalar/close) ended the stream, so reads raise.
    """

    __slots__ = (
        "buffer",
        "chunk_size",
        "closed",
        "done",
        "driver_cursor",
        "on_close",
        "processors",
    )

    def __init__(
        self,
        driver_cursor: DriverCursor,
        processors: Sequence[ResultProcessor | None] | None,
        chunk_size: int,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.driver_cursor = driver_cursor
        self.processors = processors
        self.chunk_size = chunk_size
        self.buffer: list[RawRow] = []
        self.closed = False
        self.done = False
        self.on_close = on_close

    def check(self, what: str) -> None:
        if self.closed:
            raise exc.ResourceClosedError(
                f"Cannot call {what}: the streamed result is closed (first(), one(), "
                "scalar() and close() end a stream)"
            )

    async def take(self, size: int | None) -> list[RawRow]:
        out: list[RawRow] = []
        while size is None or len(out) < size:
            if not self.buffer:
                if self.done:
                    break
                chunk = await self.driver_cursor.fetch(self.chunk_size)
                if not chunk:
                    await self.release()
                    break
                self.buffer = apply_processors(chunk, self.processors)
            need = len(self.buffer) if size is None else size - len(out)
            out.extend(self.buffer[:need])
            del self.buffer[:need]
        return out

    async def release(self) -> None:
        if self.done:
            return
        self.done = True
        try:
            await self.driver_cursor.close()
        finally:
            callback, self.on_close = self.on_close, None
            if callback is not None:
                await callback()

    async def close(self) -> None:
        self.closed = True
        self.buffer = []
        await self.release()


class _AsyncView(Generic[T]):
    """Awaitable reading methods shared by the streaming results."""

    __slots__ = ("_stream", "_unique")

    _stream: _Stream
    _unique: Unique | None

    def _convert(self, raw: list[RawRow]) -> list[T]:
        raise NotImplementedError

    def _filter(self, items: list[T]) -> list[T]:
        return items if self._unique is None else _dedupe(items, self._unique, _identity)

    async def _fetch(self, size: int | None, what: str) -> list[T]:
        stream = self._stream
        stream.check(what)
        out: list[T] = []
        while size is None or len(out) < size:
            raw = await stream.take(None if size is None else size - len(out))
            if not raw:
                break
            out.extend(self._filter(self._convert(raw)))
        return out

    async def _only(self, what: str, *, required: bool) -> T | None:
        try:
            items = await self._fetch(2, what)
        finally:
            await self._stream.close()
        if not items:
            if required:
                _no_result(what)
            return None
        if len(items) > 1:
            _many_results(what)
        return items[0]

    async def all(self) -> list[T]:
        """Fetch and return every remaining item."""
        return await self._fetch(None, "all()")

    async def fetchall(self) -> list[T]:
        """Fetch and return every remaining item."""
        return await self._fetch(None, "fetchall()")

    async def fetchmany(self, size: int | None = None) -> list[T]:
        """Return up to ``size`` more items (default: the stream's chunk size)."""
        return await self._fetch(size or self._stream.chunk_size, "fetchmany()")

    async def fetchone(self) -> T | None:
        """Return the next item or None."""
        items = await self._fetch(1, "fetchone()")
        return items[0] if items else None

    async def first(self) -> T | None:
        """Return the first item or None, and close the stream."""
        try:
            items = await self._fetch(1, "first()")
        finally:
            await self._stream.close()
        return items[0] if items else None

    async def one(self) -> T:
        """Return exactly one item and close the stream (raises like ``Result.one``)."""
        return await self._only("one()", required=True)  # type: ignore[return-value]

    async def one_or_none(self) -> T | None:
        """Return one item or None and close the stream."""
        return await self._only("one_or_none()", required=False)

    async def partitions(self, size: int | None = None) -> AsyncIterator[list[T]]:
        """Yield lists of up to ``size`` items (default: the chunk size)."""
        step = size or self._stream.chunk_size
        while True:
            chunk = await self._fetch(step, "partitions()")
            if not chunk:
                return
            yield chunk

    async def close(self) -> None:
        """Close the cursor (and end the stream's own transaction, if it opened one)."""
        await self._stream.close()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            chunk = await self._fetch(self._stream.chunk_size, "iteration")
            if not chunk:
                return
            for item in chunk:
                yield item


class AsyncResult(_AsyncView[Row[T_co]], Generic[T_co]):
    """Rows streamed from a server-side cursor (buffered on SQLite); use ``async for``.

    Example::

        result = await conn.stream(select(users))
        async for row in result:
            ...
    """

    __slots__ = ("_keys", "_row_cls")

    def __init__(self, keys: Sequence[str], stream: _Stream) -> None:
        self._keys = keys
        self._stream = stream
        self._unique = None
        self._row_cls = row_class(keys)

    def keys(self) -> list[str]:
        """Return the column names, in order."""
        return list(self._keys)

    def _convert(self, raw: list[RawRow]) -> list[Row[T_co]]:
        return list(map(self._row_cls, raw))

    def unique(self, strategy: Callable[[Any], Any] | None = None) -> AsyncResult[T_co]:
        """Drop rows equal to one already returned."""
        self._unique = (set(), strategy)
        return self

    def scalars(self, index: int | str = 0) -> AsyncScalarResult[Any]:
        """Return a streaming view of one column (default the first)."""
        if isinstance(index, str):
            try:
                index = list(self._keys).index(index)
            except ValueError:
                raise exc.ArgumentError(
                    f"No column {index!r} in this result; columns are {', '.join(self._keys)}"
                ) from None
        return AsyncScalarResult(self._stream, index, self._unique)

    def mappings(self) -> AsyncMappingResult:
        """Return a streaming view of each row as a ``RowMapping``."""
        return AsyncMappingResult(self)

    async def scalar(self) -> Any:
        """Return the first column of the first row (or None) and close the stream."""
        row = await self.first()
        return None if row is None else row[0]

    async def scalar_one(self) -> Any:
        """Return the first column of the only row and close the stream."""
        return await self.scalars().one()

    async def scalar_one_or_none(self) -> Any:
        """Return the first column of the only row or None and close the stream."""
        return await self.scalars().one_or_none()


class AsyncScalarResult(_AsyncView[T]):
    """One column of each streamed row."""

    __slots__ = ("_index",)

    def __init__(
        self,
        stream: _Stream,
        index: int,
        unique: Unique | None = None,
    ) -> None:
        self._stream = stream
        self._index = index
        self._unique = unique

    def _convert(self, raw: list[RawRow]) -> list[T]:
        index = self._index
        return [row[index] for row in raw]

    def unique(self, strategy: Callable[[Any], Any] | None = None) -> AsyncScalarResult[T]:
        """Drop values equal to one already returned."""
        self._unique = (set(), strategy)
        return self


class AsyncMappingResult(_AsyncView[RowMapping]):
    """Each streamed row as a ``RowMapping``."""

    __slots__ = ("_result",)

    def __init__(self, result: AsyncResult[Any]) -> None:
        self._result = result
        self._stream = result._stream
        self._unique = None

    def _convert(self, raw: list[RawRow]) -> list[RowMapping]:
        return [RowMapping(row) for row in self._result._convert(raw)]

    def keys(self) -> list[str]:
        """Return the column names, in order."""
        return self._result.keys()
