"""Rows -> instances, through the identity map.

Layer 4 (orm). For each mapper and column layout a loader function is
generated once (``exec`` of specialised source), so building 10,000 objects
runs a tight loop: ``object.__new__``, direct ``__dict__`` stores, one state
object and one identity-map entry per row. An instance already in the map is
returned as is; only its unloaded (expired) attributes are filled, so a query
never overwrites pending changes (``populate_existing`` refreshes instead).
Selectin loads use a variant (``group_loader_for``) that also files each
instance into its owner's collection in the same pass.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from heron.orm.state import STATE_KEY, InstanceState, _gone

# The C loop for the per-row work (heron/_speedups.c), when it was built;
# HERON_NO_SPEEDUPS=1 forces the generated Python loaders (the reference).
_speedups: Any
try:
    _speedups = importlib.import_module("heron._speedups")
except ImportError:  # pragma: no cover - a build without a C compiler
    _speedups = None
if os.environ.get("HERON_NO_SPEEDUPS"):
    _speedups = None
if _speedups is not None:
    _speedups.configure(InstanceState, _gone, STATE_KEY)

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
        spec = c_spec(mapper, positions)
        if spec is None:
            loader = _generate(mapper, positions)
        else:
            loader = _c_loader(mapper, spec, positions)
        mapper.loaders[cache_key] = loader
    return loader


def c_spec(mapper: Mapper, positions: Sequence[tuple[str, int]]) -> tuple[Any, ...] | None:
    """What the C loops need to build ``mapper``'s instances from rows laid out
    as ``positions``; None when they cannot (no extension, a composite key)."""
    # (the C spec holds up to 64 columns: wider tables take the Python loaders)
    if _speedups is None or len(mapper.pk_keys) != 1 or len(positions) > 64:
        return None
    index = dict(positions)
    pk = mapper.pk_keys[0]
    if pk not in index:
        return None
    return (
        mapper.class_,
        mapper,
        tuple(k for k, _ in positions),
        tuple(i for _, i in positions),
        index[pk],
    )


def _c_loader(
    mapper: Mapper, spec: tuple[Any, ...], positions: Sequence[tuple[str, int]]
) -> RowLoader:
    """The plain loader over the C loop: same results as ``_generate``'s."""
    pairs = tuple(positions)
    load_c = _speedups.load

    # an identity-mapped instance is reused, only its unloaded attributes filled
    # (or all of them with populate_existing), exactly as the generated loader does
    def keep(st: InstanceState, obj: Any, row: Sequence[Any]) -> Any:
        if st.expired_keys is not None:
            refresh_existing(st, obj, {k: row[i] for k, i in pairs}, False)
        return obj

    def refresh(st: InstanceState, obj: Any, row: Sequence[Any]) -> Any:
        refresh_existing(st, obj, {k: row[i] for k, i in pairs}, True)
        return obj

    def load(rows: Sequence[Sequence[Any]], session: Session, overwrite: bool) -> list[Any]:
        identity = session._identity.get(mapper)
        if identity is None:
            identity = session._identity[mapper] = {}
        if type(rows) is not list:
            rows = list(rows)
        return load_c(spec, rows, session, identity, refresh if overwrite else keep)  # type: ignore[no-any-return]

    return load


def _parts(
    mapper: Mapper,
    positions: Sequence[tuple[str, int]],
    indent: str,
    locals_by_index: dict[int, str] | None = None,
) -> dict[str, str]:
    """Source fragments shared by the generated loaders: key, NULL test, stores, values.

    ``locals_by_index`` names locals that already hold a row value (stored
    from the local instead of reading the row again).
    """
    index = dict(positions)
    held = locals_by_index or {}
    pk_idx = [index[k] for k in mapper.pk_keys]
    if len(pk_idx) == 1:
        # the identity-map key of a single-column primary key is the bare value
        key_expr = f"row[{pk_idx[0]}]"
        null_check = "key is None"
    else:
        key_expr = "(" + ", ".join(f"row[{i}]" for i in pk_idx) + ",)"
        null_check = " or ".join(f"row[{i}] is None" for i in pk_idx)
    return {
        "key": key_expr,
        "null": null_check,
        # the key's own column is stored from the local ``key`` (one row read less)
        "stores": "\n".join(
            f"{indent}d[{k!r}] = " + ("key" if [i] == pk_idx else held.get(i, f"row[{i}]"))
            for k, i in positions
        ),
        "values": ", ".join(f"{k!r}: row[{i}]" for k, i in positions),
    }


def _namespace(mapper: Mapper) -> dict[str, Any]:
    return {
        "cls": mapper.class_,
        "mapper": mapper,
        "new": object.__new__,
        "State": InstanceState,
        "gone": _gone,
        "refresh_existing": refresh_existing,
        "STATE_KEY": STATE_KEY,
    }


# The per-row body both loaders share: an identity-mapped instance is reused
# (only its unloaded attributes filled); otherwise one is built with direct
# __dict__ stores and one state, which is also its weak reference.
_ROW = """
        key = {key}
        if {null}:
{on_null}
        st = identity.get(key)
        if st is not None:
            obj = st()
            if obj is not None:
                if overwrite or st.expired_keys is not None:
                    refresh_existing(st, obj, {{{values}}}, overwrite)
{on_existing}
                continue
        obj = new(cls)
        d = obj.__dict__
{prelude}{stores}
{new_state}
{on_new}"""


def new_state_source(indent: str, mapper: str, identity: str) -> str:
    """Generated source that gives the new instance ``obj`` (``__dict__`` ``d``,
    identity-map key ``key``) its state and files it in ``identity``: every
    slot set, so no read falls back to ``InstanceState.__getattr__``."""
    lines = [
        "st = State(obj, gone)",
        "st.insert_order = 0",
        "st.committed = None",
        "st.modified = False",
        "st.deleted_flushed = False",
        f"st.mapper = {mapper}",
        "st.key = key",
        "st.session = session",
        f"d[{STATE_KEY!r}] = st",
        f"{identity}[key] = st",
    ]
    return "\n".join(indent + line for line in lines)


def _generate(mapper: Mapper, positions: Sequence[tuple[str, int]]) -> RowLoader:
    row = _ROW.format(
        new_state=new_state_source(" " * 8, "mapper", "identity"),
        on_null="            append(None)\n            continue",
        on_existing="                append(obj)",
        on_new="        append(obj)",
        prelude="",
        **_parts(mapper, positions, " " * 8),
    )
    src = f"""
def load(rows, session, overwrite):
    identity = session._identity.get(mapper)
    if identity is None:
        identity = session._identity[mapper] = {{}}
    out = []
    append = out.append
    for row in rows:{row}
    return out
"""
    ns = _namespace(mapper)
    exec(compile(src, f"<heron loader {mapper.class_.__name__}>", "exec"), ns)
    return ns["load"]  # type: ignore[no-any-return]


GroupLoader = Callable[[Sequence[Sequence[Any]], "Session", bool, dict[Any, Any]], None]


def group_loader_for(
    mapper: Mapper,
    positions: Sequence[tuple[str, int]],
    group_idx: Sequence[int],
    existing_keys: Sequence[str] | None,
    back_key: str | None,
) -> GroupLoader:
    """Return the generated loader that also files each instance into its owner's collection.

    ``load(rows, session, overwrite, colls)`` builds (or finds) the instance of
    each row like the plain loader, then appends it to ``colls[group key]``
    (a collection whose ``_owner`` is the parent) and, with ``back_key``, sets
    that many-to-one back-reference -- one pass, no intermediate lists
    (hot path: benchmarks W7). The group key is read from the row at
    ``group_idx``; for an instance already in the identity map it is read from
    its attributes ``existing_keys`` when given (its in-memory foreign key).
    """
    existing = tuple(existing_keys) if existing_keys is not None else None
    cache_key = ("group", tuple(positions), tuple(group_idx), existing, back_key)
    loader = mapper.loaders.get(cache_key)
    if loader is None:
        spec = c_spec(mapper, positions)
        if spec is not None and len(group_idx) == 1 and existing_keys is None:
            loader = _c_group_loader(mapper, spec, positions, group_idx[0], back_key)
        else:
            loader = _generate_group(mapper, positions, group_idx, existing_keys, back_key)
        mapper.loaders[cache_key] = loader
    return loader


def _c_group_loader(
    mapper: Mapper,
    spec: tuple[Any, ...],
    positions: Sequence[tuple[str, int]],
    group_index: int,
    back_key: str | None,
) -> GroupLoader:
    """The group loader over the C loop: same results as ``_generate_group``'s
    (group key read from the row, for identity-mapped instances too)."""
    pairs = tuple(positions)
    load_c = _speedups.load_group

    def load(
        rows: Sequence[Sequence[Any]], session: Session, overwrite: bool, colls: dict[Any, Any]
    ) -> None:
        identity = session._identity.get(mapper)
        if identity is None:
            identity = session._identity[mapper] = {}
        if type(rows) is not list:
            rows = list(rows)

        def existing(st: InstanceState, obj: Any, row: Sequence[Any]) -> None:
            if overwrite or st.expired_keys is not None:
                refresh_existing(st, obj, {k: row[i] for k, i in pairs}, overwrite)
            _add_existing(colls.get(row[group_index]), obj, back_key)

        load_c(spec, rows, session, identity, existing, colls, group_index, back_key)

    return load


def _tuple_src(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else "(" + ", ".join(items) + ",)"


def _generate_group(
    mapper: Mapper,
    positions: Sequence[tuple[str, int]],
    group_idx: Sequence[int],
    existing_keys: Sequence[str] | None,
    back_key: str | None,
) -> GroupLoader:
    group = _tuple_src([f"row[{i}]" for i in group_idx])
    # a one-column group key that is also stored is read from the row once
    held: dict[int, str] = {}
    if len(group_idx) == 1 and group_idx[0] in dict(positions).values():
        held[group_idx[0]] = "group"
    if existing_keys is None:
        existing_group = group
    else:
        existing_group = _tuple_src([f"od.get({k!r})" for k in existing_keys])
    on_existing = "                od = obj.__dict__\n" if existing_keys is not None else ""
    on_existing += f"                add_existing(get({existing_group}), obj, {back_key!r})"
    on_new = "        coll = get(group)\n" if held else f"        coll = get({group})\n"
    on_new += "        if coll is not None:\n"
    on_new += "            lappend(coll, obj)"
    if back_key is not None:
        on_new += f"\n            d[{back_key!r}] = coll._owner"
    row = _ROW.format(
        new_state=new_state_source(" " * 8, "mapper", "identity"),
        on_null="            continue",
        on_existing=on_existing,
        on_new=on_new,
        prelude=f"        group = {group}\n" if held else "",
        **_parts(mapper, positions, " " * 8, held),
    )
    src = f"""
def load(rows, session, overwrite, colls):
    identity = session._identity.get(mapper)
    if identity is None:
        identity = session._identity[mapper] = {{}}
    get = colls.get
    for row in rows:{row}
"""
    ns = _namespace(mapper)
    ns["lappend"] = list.append
    ns["add_existing"] = _add_existing
    exec(compile(src, f"<heron group loader {mapper.class_.__name__}>", "exec"), ns)
    return ns["load"]  # type: ignore[no-any-return]


def _add_existing(coll: Any, obj: Any, back_key: str | None) -> None:
    """File an identity-mapped instance; its back-reference only if it has none."""
    if coll is None:
        return
    list.append(coll, obj)
    if back_key is not None:
        d = obj.__dict__
        if back_key not in d:
            d[back_key] = coll._owner


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
