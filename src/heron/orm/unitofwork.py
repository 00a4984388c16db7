"""The flush plan: which rows to insert, update and delete, in what order.

Layer 4 (orm). Pure: these functions look only at session state and
return plans; ``persistence.py`` sends the statements. Inserts are ordered
row by row (parents before children) as levels, so self-referential trees
and cycles between tables need no special case, and each level is sent as
one batch per table. Deletes use the same idea in reverse, with rows linked
through their foreign-key values.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from itertools import compress, repeat
from operator import attrgetter, is_
from typing import TYPE_CHECKING, Any

from heron import exc
from heron._util import topological
from heron.orm.loading import _speedups
from heron.orm.relationships import Direction, RelationshipProperty
from heron.orm.state import NO_VALUE, STATE_KEY, InstanceState

if TYPE_CHECKING:
    from heron.orm.mapper import Mapper

_state_mapper = attrgetter("mapper")


def _state(obj: Any) -> InstanceState:
    return obj.__dict__[STATE_KEY]  # type: ignore[no-any-return]


def insert_levels(
    new_states: list[InstanceState],
    mappers: Set[Mapper] | None = None,
) -> list[list[tuple[Mapper, list[InstanceState]]]]:
    """Order new rows as levels; each level holds (mapper, states) groups.

    A row comes in a later level than every new row it references (through a
    many-to-one) or that lists it in a one-to-many collection. ``post_update``
    relationships add no ordering; they are written by a later UPDATE.

    Raises:
        CircularDependencyError: rows reference each other in a cycle.
    """
    if not new_states:
        return []
    by_table = _table_order(new_states, mappers)
    if by_table is not None:
        return by_table
    new_ids = {id(s) for s in new_states}
    deps: dict[int, list[InstanceState]] = {}
    indegree: dict[int, int] = {}
    any_edge = False
    for st in new_states:
        mapper = st.mapper
        obj = st.obj()
        if obj is None:
            continue
        d = obj.__dict__
        if mapper.insert_dep_keys.isdisjoint(d):
            continue
        for prop in mapper.insert_dep_props:
            value = d.get(prop.key, NO_VALUE)
            if value is NO_VALUE or value is None:
                continue
            if prop.direction is Direction.MANYTOONE:
                other = value.__dict__.get(STATE_KEY)
                if other is not None and other is not st and id(other) in new_ids:
                    deps.setdefault(id(other), []).append(st)
                    indegree[id(st)] = indegree.get(id(st), 0) + 1
                    any_edge = True
            else:
                members = value if prop.uselist else (value,)
                for child in members:
                    other = child.__dict__.get(STATE_KEY)
                    if other is not None and other is not st and id(other) in new_ids:
                        deps.setdefault(id(st), []).append(other)
                        indegree[id(other)] = indegree.get(id(other), 0) + 1
                        any_edge = True
    if not any_edge:
        return [_group(new_states)]
    levels: list[list[tuple[Mapper, list[InstanceState]]]] = []
    current = [s for s in new_states if indegree.get(id(s), 0) == 0]
    placed = 0
    while current:
        placed += len(current)
        levels.append(_group(current))
        nxt: list[InstanceState] = []
        for st in current:
            for child in deps.get(id(st), ()):
                n = indegree[id(child)] - 1
                indegree[id(child)] = n
                if n == 0:
                    nxt.append(child)
        # keep insertion order within a level
        order = {id(s): i for i, s in enumerate(new_states)} if len(nxt) > 1 else None
        if order is not None:
            nxt.sort(key=lambda s: order[id(s)])
        current = nxt
    if placed != len(new_states):
        stuck = [s for s in new_states if indegree.get(id(s), 0) > 0]
        raise exc.CircularDependencyError(
            "these new rows reference each other in a cycle, so none can be inserted "
            f"first: {', '.join(_describe(s) for s in stuck[:6])}; mark one relationship "
            "of the cycle post_update=True to insert with NULL and UPDATE afterwards",
            cycle=[s.obj() for s in stuck],
        )
    return levels


def _table_order(
    new_states: list[InstanceState],
    mappers: Set[Mapper] | None = None,
) -> list[list[tuple[Mapper, list[InstanceState]]]] | None:
    """Order by table when that is enough: one level per mapper, parents first.

    Enough when the relationships among the mappers present form no cycle and
    none refers to its own mapper; then every parent row precedes every child
    row without looking at rows at all (hot path: benchmarks W2). None means
    rows must be ordered one by one.
    """
    if mappers is not None and len(mappers) == 1:
        (only,) = mappers
        groups = [(only, new_states)]  # the caller knows the one mapper (hot path: W1)
    else:
        groups = _group(new_states)
    if len(groups) == 1 and not groups[0][0].insert_dep_props:
        return [groups]
    present = {id(m): m for m, _ in groups}
    edges: list[tuple[int, int]] = []
    for mapper, _ in groups:
        for prop in mapper.insert_dep_props:
            target = prop.mapper_target
            if target is None or id(target) not in present:
                continue
            if target is mapper:
                return None  # self-referential: rows order among themselves
            if prop.direction is Direction.MANYTOONE:
                edges.append((id(target), id(mapper)))
            else:
                edges.append((id(mapper), id(target)))
    try:
        order = topological.sort([id(m) for m, _ in groups], edges)
    except topological.CycleError:
        return None  # a cycle between tables: rows decide
    states_of = {id(m): (m, states) for m, states in groups}
    return [[states_of[mid]] for mid in order]


_mapper_of = attrgetter("mapper")


def _group(states: Iterable[InstanceState]) -> list[tuple[Mapper, list[InstanceState]]]:
    if isinstance(states, list) and states and _speedups is not None:
        return list(_speedups.group_by_mapper(states).items())  # one C pass (W2)
    if isinstance(states, list) and states:
        # hot path: benchmarks W1/W2 -- a few mappers, in order of first
        # appearance, each group picked out at C speed (order kept)
        of_state = list(map(_mapper_of, states))
        mappers = list(dict.fromkeys(of_state))
        if len(mappers) == 1:
            return [(mappers[0], states)]
        if len(mappers) <= 8:
            return [(m, list(compress(states, map(is_, of_state, repeat(m))))) for m in mappers]
    groups: dict[int, tuple[Mapper, list[InstanceState]]] = {}
    for st in states:
        g = groups.get(id(st.mapper))
        if g is None:
            groups[id(st.mapper)] = (st.mapper, [st])
        else:
            g[1].append(st)
    return list(groups.values())


def _describe(st: InstanceState) -> str:
    obj = st.obj()
    return f"{st.mapper.class_.__name__}(identity={st.identity!r}) at {id(obj):#x}"


def delete_levels(states: list[InstanceState]) -> list[list[tuple[Mapper, list[InstanceState]]]]:
    """Order deleted rows so that a row goes before any row it references.

    Links are found through foreign-key values (committed ones when changed),
    so unloaded relationships still order correctly.
    """
    if not states:
        return []
    mappers = set(map(_state_mapper, states))  # C speed (hot path: benchmarks W6)
    tables = {id(m.table) for m in mappers}
    if not any(id(p.target_table) in tables for m in mappers for p in m.fk_paths):
        return [_group(states)]  # no deleted row can reference another
    by_table: dict[int, dict[tuple[Any, ...], InstanceState]] = {}
    for st in states:
        by_table.setdefault(id(st.mapper.table), {})[st.mapper.ident_of_key(st.key)] = st
    refs: dict[int, list[InstanceState]] = {}  # referenced -> referencing rows
    indegree: dict[int, int] = {}
    any_edge = False
    for st in states:
        obj = st.obj()
        if obj is None:
            continue
        d = obj.__dict__
        committed = st.committed or {}
        for fk_info in st.mapper.fk_paths:
            targets = by_table.get(id(fk_info.target_table))
            if not targets:
                continue
            vals = []
            for key in fk_info.keys:
                v = committed.get(key, NO_VALUE)
                if v is NO_VALUE:
                    v = d.get(key)
                vals.append(v)
            other = targets.get(tuple(vals))
            if other is None or other is st:
                continue
            # st references other: st is deleted first
            refs.setdefault(id(st), []).append(other)
            indegree[id(other)] = indegree.get(id(other), 0) + 1
            any_edge = True
    if not any_edge:
        return [_group(states)]
    levels = []
    current = [s for s in states if indegree.get(id(s), 0) == 0]
    placed = 0
    while current:
        placed += len(current)
        levels.append(_group(current))
        nxt = []
        for st in current:
            for other in refs.get(id(st), ()):
                indegree[id(other)] -= 1
                if indegree[id(other)] == 0:
                    nxt.append(other)
        current = nxt
    if placed != len(states):
        stuck = [s for s in states if indegree.get(id(s), 0) > 0]
        raise exc.CircularDependencyError(
            "these deleted rows reference each other in a cycle: "
            f"{', '.join(_describe(s) for s in stuck[:6])}; set one of the foreign keys to "
            "None and flush before deleting, or use post_update=True",
            cycle=[s.obj() for s in stuck],
        )
    return levels


def changed_keys(state: InstanceState, obj: Any) -> tuple[str, ...] | None:
    """Keys of the columns whose value differs from the committed one (None: none)."""
    committed = state.committed
    if not committed:
        return None
    d = obj.__dict__
    colset = state.mapper.column_key_set
    changed: list[str] | None = None
    for key, old in committed.items():
        if key not in colset:
            continue
        new = d.get(key, NO_VALUE)
        if new is NO_VALUE:
            continue
        if old is not NO_VALUE and (old is new or (type(old) is type(new) and old == new)):
            continue
        if changed is None:
            changed = [key]
        else:
            changed.append(key)
    return tuple(changed) if changed is not None else None


def changed_columns(state: InstanceState, obj: Any) -> dict[str, Any] | None:
    """Column values to UPDATE for a persistent instance (None when nothing changed)."""
    keys = changed_keys(state, obj)
    if keys is None:
        return None
    d = obj.__dict__
    return {key: d[key] for key in keys}


def collect_updates(
    strong: dict[InstanceState, Any], skip: set[int]
) -> dict[tuple[Mapper, tuple[str, ...]], list[Any]]:
    """Persistent objects with changed columns, grouped by (mapper, changed keys).

    One pass over the session's modified objects, building only a key tuple
    per changed object (benchmarks W5: 10,000 dirty rows); ``changed_keys``
    is inlined here (a call per object measured as a fifth of the pass).
    """
    if _speedups is not None:
        return _speedups.collect_updates(strong, skip, NO_VALUE)  # type: ignore[no-any-return]
    groups: dict[tuple[Mapper, tuple[str, ...]], list[Any]] = {}
    for st, obj in strong.items():
        committed = st.committed
        if not committed or st.key is None or (skip and id(st) in skip):
            continue
        mapper = st.mapper
        colset = mapper.column_key_set
        d = obj.__dict__
        keys: tuple[str, ...] = ()
        for key, old in committed.items():
            if key not in colset:
                continue
            new = d.get(key, NO_VALUE)
            if new is NO_VALUE:
                continue
            if old is not NO_VALUE and (old is new or (type(old) is type(new) and old == new)):
                continue
            keys += (key,)
        if keys:
            group_key = (mapper, keys)
            members = groups.get(group_key)
            if members is None:
                groups[group_key] = [obj]
            else:
                members.append(obj)
    return groups


def orphans(states: Iterable[InstanceState], deleting: set[int]) -> list[Any]:
    """Children removed from a delete-orphan collection (or whose parent was unset)."""
    out: list[Any] = []
    for st in states:
        committed = st.committed
        if not committed or st.mapper.relationship_keys.isdisjoint(committed):
            continue  # no relationship changed (hot path: benchmarks W5)
        obj = st.obj()
        if obj is None:
            continue
        mapper = st.mapper
        for key, old in committed.items():
            prop = mapper.relationships.get(key)
            if prop is None:
                continue
            if prop.cascade.delete_orphan and prop.direction is not Direction.MANYTOONE:
                if old is NO_VALUE:
                    continue
                before = list(old) if prop.uselist else ([] if old is None else [old])
                cur = obj.__dict__.get(key, NO_VALUE)
                if cur is NO_VALUE:
                    continue  # unloaded (expired) collection: removals are unknown
                now_ids = (
                    {id(o) for o in (cur if prop.uselist else [cur])}
                    if cur is not NO_VALUE
                    else set()
                )
                for child in before:
                    if child is None or id(child) in now_ids:
                        continue
                    back = prop.back
                    if back is not None and not back.uselist:
                        holder = child.__dict__.get(back.key, NO_VALUE)
                        if holder is not None and holder is not NO_VALUE and holder is not obj:
                            continue  # moved to another parent
                    out.append(child)
            elif prop.direction is Direction.MANYTOONE and prop.back is not None:
                back = prop.back
                if back.cascade.delete_orphan and old is not None and old is not NO_VALUE:
                    if obj.__dict__.get(key, NO_VALUE) is None:
                        out.append(obj)
    return [o for o in out if id(_state(o)) not in deleting]


def related_for_sync(prop: RelationshipProperty, value: Any) -> list[Any]:
    """Members of a loaded relationship value as a list."""
    if value is NO_VALUE or value is None:
        return []
    if prop.uselist:
        return list(value)
    return [value]
