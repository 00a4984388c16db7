"""Rows -> instances, through the identity map.

Layer 4 (orm). For each mapper and column layout a loader function is
generated once (``exec`` of specialised source), so building 10,000 objects
runs a tight loop: ``object.__new__``, direct ``__dict__`` stores, one state
object and one identity-map entry per row. An instance already in the map is
returned as is; only its unloaded (expired) attributes are filled, so a query
never overwrites pending changes (``populate_existing`` refreshes instead).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from heron.orm.state import STATE_KEY, InstanceState, _gone

new_ref = weakref.ref.__new__

if TYPE_CHECKING:
    from heron.orm.mapper import Mapper
    from heron.orm.session import Session

RowLoader = Callable[[Sequence[Sequence[Any]], "Session", bool], list[Any]]


def refresh_existing(st: InstanceState, obj: Any, values: dict[str, Any], overwrite: bool) -> None:
    """Fill an identity-mapped instance from a row without touching pending changes."""
    d = obj.__dict__
    committed = st.committed
    expired = st.expired_keys
    for key, value in values.items():
        if committed and key in committed:
            continue  # a pending change wins over the database row
        if overwrite or key not in d:
            d[key] = value
        if expired:
            expired.discard(key)
    if expired is not None and not expired:
        st.expired_keys = None


def loader_for(mapper: Mapper, positions: Sequence[tuple[str, int]]) -> RowLoader:
    """Return the generated loader for ``mapper`` reading ``(key, row index)`` pairs."""
    cache_key = tuple(positions)
    loader = mapper.loaders.get(cache_key)
    if loader is None:
        loader = _generate(mapper, positions)
        mapper.loaders[cache_key] = loader
    return loader


def _generate(mapper: Mapper, positions: Sequence[tuple[str, int]]) -> RowLoader:
    index = dict(positions)
    pk_idx = [index[k] for k in mapper.pk_keys]
    if len(pk_idx) == 1:
        # the identity-map key of a single-column primary key is the bare value
        key_expr = f"row[{pk_idx[0]}]"
        null_check = "key is None"
    else:
        key_expr = "(" + ", ".join(f"row[{i}]" for i in pk_idx) + ",)"
        null_check = " or ".join(f"row[{i}] is None" for i in pk_idx)
    stores = "\n".join(f"        d[{k!r}] = row[{i}]" for k, i in positions)
    values = ", ".join(f"{k!r}: row[{i}]" for k, i in positions)
    src = f"""
def load(rows, session, overwrite):
    identity = session._identity.get(mapper)
    if identity is None:
        identity = session._identity[mapper] = {{}}
    out = []
    append = out.append
    for row in rows:
        key = {key_expr}
        if {null_check}:
            append(None)
            continue
        st = identity.get(key)
        if st is not None:
            obj = st.obj()
            if obj is not None:
                if overwrite or st.expired_keys is not None:
                    refresh_existing(st, obj, {{{values}}}, overwrite)
                append(obj)
                continue
        obj = new(cls)
        d = obj.__dict__
{stores}
        st = new_ref(State, obj, gone)
        st.insert_order = 0
        st.committed = None
        st.modified = False
        st.deleted_flushed = False
        st.mapper = mapper
        st.key = key
        st.session = session
        d[STATE_KEY] = st
        identity[key] = st
        append(obj)
    return out
"""
    ns: dict[str, Any] = {
        "cls": mapper.class_,
        "mapper": mapper,
        "new": object.__new__,
        "new_ref": new_ref,
        "State": InstanceState,
        "gone": _gone,
        "refresh_existing": refresh_existing,
        "STATE_KEY": STATE_KEY,
    }
    exec(compile(src, f"<heron loader {mapper.class_.__name__}>", "exec"), ns)
    return ns["load"]  # type: ignore[no-any-return]


def entity_loader(mapper: Mapper, offset: int = 0) -> RowLoader:
    """The loader for ``select(Entity)`` columns starting at row index ``offset`` (cached)."""
    loader = mapper.loaders.get(offset)
    if loader is None:
        loader = loader_for(mapper, entity_positions(mapper, offset))
        mapper.loaders[offset] = loader
    return loader


def entity_positions(mapper: Mapper, offset: int) -> list[tuple[str, int]]:
    """(key, row index) pairs for ``select(Entity)``, whose columns come in table order."""
    out = []
    for i, col in enumerate(mapper.table.columns):
        key = mapper.column_keys_by_column.get(id(col))
        if key is not None:
            out.append((key, offset + i))
    return out
