"""Literal SQL: ``text("SELECT ... WHERE id = :id")`` with named bound parameters.

Layer 3 (sql). The text is split once, when built, into literal parts and
``BindParameter`` objects, so executing it binds values like any other
statement; its cache key is the text itself.
"""

from __future__ import annotations

import re
from typing import Any

from heron.exc import ArgumentError
from heron.sql.base import Executable, shape
from heron.sql.coercions import coerce_expression
from heron.sql.elements import _NULLTYPE, BindParameter, ColumnClause, ColumnElement
from heron.sql.selectable import TextualSelect
from heron.sql.types import NullType

_BIND_NAME = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|(?<![:\w\\]):(\w+)(?!:)""")


class TextClause(Executable, ColumnElement[Any]):
    """Literal SQL with ``:name`` parameters (``text("SELECT * FROM t WHERE id = :id")``).

    Write ``\\:`` for a literal colon. ``::`` casts and quoted strings are left
    alone. Executable on its own (result columns come from the driver) or
    usable as a condition or column.
    """

    __visit_name__ = "text"

    def __init__(self, text: str, binds: dict[str, BindParameter[Any]] | None = None) -> None:
        if not isinstance(text, str):
            raise ArgumentError(f"text() takes a SQL string, got {text!r}")
        self.text = text
        parts: list[str | BindParameter[Any]] = []
        bind_map = dict(binds or {})
        pos = 0
        for match in _BIND_NAME.finditer(text):
            name = match.group(1)
            if name is None:
                continue
            parts.append(text[pos : match.start()].replace("\\:", ":"))
            bind = bind_map.get(name)
            if bind is None:
                bind = bind_map[name] = BindParameter(name, named=True)
            parts.append(bind)
            pos = match.end()
        parts.append(text[pos:].replace("\\:", ":"))
        self._parts = tuple(parts)
        self.bind_map = bind_map
        self.type = _NULLTYPE
        found = [p for p in parts if isinstance(p, BindParameter)]
        self._key = shape("text", text, *[b._key for b in found])
        self._binds = tuple(found)

    def bindparams(self, *binds: BindParameter[Any], **values: Any) -> TextClause:
        """Return a copy with values (``x=5``) or typed ``bindparam()`` objects for its names."""
        bind_map = dict(self.bind_map)
        for bind in binds:
            if bind.key not in bind_map:
                raise ArgumentError(
                    f"text() has no parameter :{bind.key}; it has {_names(bind_map)}"
                )
            bind_map[bind.key] = bind
        for name, value in values.items():
            if name not in bind_map:
                raise ArgumentError(f"text() has no parameter :{name}; it has {_names(bind_map)}")
            old = bind_map[name]
            bind_map[name] = BindParameter(
                name, value, None if isinstance(old.type, NullType) else old.type, named=True
            )
        return TextClause(self.text, bind_map)

    def columns(self, *columns: Any, **types: Any) -> Any:
        """Declare the result columns (names and types), making a typed text SELECT."""
        cols: list[ColumnElement[Any]] = [coerce_expression(c) for c in columns]
        cols += [ColumnClause(name, type_) for name, type_ in types.items()]
        return TextualSelect(self, cols)


def text(sql: str) -> TextClause:
    """Literal SQL with ``:name`` bound parameters.

    Example::

        await conn.execute(text("SELECT name FROM users WHERE id = :id"), {"id": 5})
    """
    return TextClause(sql)


def _names(mapping: dict[str, Any]) -> str:
    return ", ".join(f":{name}" for name in mapping) or "none"


__all__ = ["TextClause", "text"]
