"""Results of ORM selects that hold instances rather than rows.

Layer 4 (orm). A one-entity select (``select(User)``) keeps its instances in
a plain list: ``scalars()`` hands them out directly, and one-column rows are
made only when rows are asked for (hot path: benchmarks W3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heron.engine.result import Result, ScalarResult, _Cursor


class _ObjectScalars(ScalarResult[Any]):
    """``scalars()`` over a list of instances: no per-row tuples to unpack."""

    __slots__ = ()

    def _convert(self, raw: list[Any]) -> list[Any]:
        return raw


class _EntityResult(Result[Any]):
    """The result of a one-entity ORM select: rows are made only when asked for.

    ``scalars()`` (the common case, ``session.scalars(select(User))``) reads the
    instances directly (hot path: benchmarks W3); iterating rows wraps each
    instance in a one-column Row on demand.
    """

    __slots__ = ("_objects",)

    def __init__(self, keys: Sequence[str], objects: list[Any], rowcount: int) -> None:
        super().__init__(keys, [], None, rowcount)
        self._objects = objects
        self._cursor = _Cursor(objects, True)

    def _convert(self, raw: list[Any]) -> list[Any]:
        return super()._convert([(o,) for o in raw])

    @property
    def _raw_rows(self) -> list[Any]:
        return [(o,) for o in super()._raw_rows]

    def scalars(self, index: int | str = 0) -> ScalarResult[Any]:
        self._cursor.check("scalars()")
        if self._index(index) != 0:
            return super().scalars(index)
        return _ObjectScalars(self._cursor, 0, self._unique)

    def columns(self, *columns: int | str) -> Result[Any]:
        self._cursor.check("columns()")
        rows = [(o,) for o in self._cursor.take(None)]
        return Result(self._keys, rows, None, self.rowcount).columns(*columns)

    def scalar(self) -> Any:
        self._cursor.check("scalar()")
        objs = self._cursor.take(1)
        self._cursor.close()
        return objs[0] if objs else None


def unique_objects(objs: list[Any]) -> list[Any]:
    """``objs`` without repeats (by identity), in order."""
    # later repeats keep the first one's place (dicts keep insertion order)
    return list({id(o): o for o in objs}.values())
