"""``session.stream()``: ORM rows over a server-side cursor, built partition by partition.

Layer 4 (orm). Rows are fetched ``yield_per`` at a time (a server-side
cursor on PostgreSQL); each partition becomes instances through the identity
map and gets its selectin eager loads before it is handed out, so memory is
bounded by the partition, not the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from heron.orm.loaders import LoadTree, apply_eager
from heron.orm.loading import entity_loader

if TYPE_CHECKING:
    from heron.engine.result import RawRow
    from heron.orm.session import Session


class OrmStream:
    """The chunk source behind an ORM ``AsyncResult`` (same protocol as the engine's)."""

    __slots__ = ("chunk_size", "inner", "layout", "session", "tree")

    def __init__(
        self, session: Session, inner: Any, raw_columns: Sequence[Any], tree: LoadTree
    ) -> None:
        self.session = session
        self.inner = inner
        self.chunk_size: int = inner.chunk_size
        self.tree = tree
        # per raw column: (mapper or None, first row index)
        self.layout: list[tuple[Any, int]] = []
        offset = 0
        for ent in raw_columns:
            mapper = getattr(ent, "__mapper__", None)
            if mapper is not None and isinstance(ent, type):
                self.layout.append((mapper, offset))
                offset += len(mapper.table.columns)
            else:
                self.layout.append((None, offset))
                offset += 1

    def check(self, what: str) -> None:
        self.inner.check(what)

    async def take(self, size: int | None) -> list[RawRow]:
        raw: list[RawRow] = await self.inner.take(size)
        if not raw:
            return raw
        columns: list[list[Any]] = []
        for mapper, offset in self.layout:
            if mapper is None:
                columns.append([r[offset] for r in raw])
                continue
            objs = entity_loader(mapper, offset)(raw, self.session, False)
            live = [o for o in objs if o is not None]
            if mapper.has_eager or self.tree.children:
                await apply_eager(
                    self.session, mapper, list({id(o): o for o in live}.values()), self.tree
                )
            columns.append(objs)
        if len(columns) == 1:
            return [(o,) for o in columns[0]]
        return list(zip(*columns, strict=True))

    async def release(self) -> None:
        await self.inner.release()

    async def close(self) -> None:
        await self.inner.close()
