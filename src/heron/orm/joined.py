"""Joined eager loading: LEFT OUTER JOINs added to the query, rows folded into objects.

Layer 4 (orm). ``plan_joined`` rewrites a ``select(Entity)`` so each joined
relationship's target (under a named alias, so self-referential and repeated
targets work and the statement stays cacheable) is joined and its columns are
appended to the row. With LIMIT/OFFSET the parent query is wrapped in a
subquery first, so the limit counts parents, not joined rows. When every
join starts at the top-level entity, ``fold_top_level`` (generated code, one
pass) builds each parent once and files related objects straight into their
owners' collections; deeper plans use ``fold_joined``, which builds each
step's objects from those columns and fills the owners' attributes, the
caller collapsing duplicate parent rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from heron.orm.instrumentation import (
    InstrumentedList,
    install_collections,
    install_loaded_collection,
)
from heron.orm.loaders import LoadTree, _needs_load
from heron.orm.loading import _namespace, _parts, entity_positions, loader_for
from heron.orm.relationships import Direction, RelationshipProperty
from heron.orm.state import STATE_KEY

if TYPE_CHECKING:
    from heron.orm.mapper import Mapper
    from heron.orm.session import Session


@dataclass
class JoinedStep:
    """One joined relationship: where its columns sit in the row and whose objects own it."""

    prop: RelationshipProperty
    parent_step: int  # -1: the top-level entity
    offset: int
    positions: list[tuple[str, int]] = field(default_factory=list)


def _col(from_: Any, column: Any) -> Any:
    return from_.c[column.name] if from_ is not column.table else column


def _joined_choices(
    mapper: Mapper, tree: LoadTree | None
) -> list[tuple[RelationshipProperty, dict[str, Any], LoadTree | None]]:
    out = []
    for prop in mapper.rel_list:
        if tree is not None:
            strategy, kw, sub = tree.choice(prop)
        else:
            strategy, kw, sub = prop.lazy, {}, None
        if strategy == "joined":
            out.append((prop, kw, sub))
    return out


def plan_joined(
    stmt: Any, mapper: Mapper, tree: LoadTree, width: int
) -> tuple[Any, list[JoinedStep]]:
    """Add the joins for ``mapper``'s joined loads to ``stmt``; return it and the steps."""
    from heron.sql import and_, select

    top = _joined_choices(mapper, tree)
    if not top:
        return stmt, []
    parent_from: Any = mapper.table
    wrap = (stmt._limit is not None or stmt._offset is not None) and any(
        p.uselist for p, _, _ in top
    )
    if wrap and len(stmt._raw_columns) == 1:
        # LIMIT/OFFSET must count parents: select them in a subquery first
        subq = stmt.subquery(f"{mapper.table.name}_anon")
        order = []
        for clause in stmt._order_by:
            order.append(_translate(subq, clause))
        new = select(*subq.c)
        if order and all(o is not None for o in order):
            new = new.order_by(*order)
        stmt = new
        parent_from = subq
    steps: list[JoinedStep] = []
    counter = [0]
    offset = width

    def walk(
        m: Mapper, from_: Any, choices: list[Any], parent_step: int, path: tuple[int, ...]
    ) -> None:
        nonlocal stmt, offset
        for prop, kw, sub in choices:
            if id(prop) in path and sub is None:
                continue  # self-referential: one level unless chained explicitly
            target = prop.mapper_target
            assert target is not None
            counter[0] += 1
            alias = target.table.alias(f"{target.table.name}_j{counter[0]}")
            inner = bool(kw.get("innerjoin") or prop.innerjoin) and not prop.uselist
            if prop.direction is Direction.MANYTOMANY:
                sec = prop.secondary.alias(f"{prop.secondary.name}_j{counter[0]}")
                on1 = and_(*[sec.c[s.name] == _col(from_, r) for r, s in prop.secondary_pairs])
                on2 = and_(
                    *[alias.c[r.name] == sec.c[s.name] for r, s in prop.secondary_target_pairs]
                )
                stmt = stmt.join(sec, on1, isouter=not inner).join(alias, on2, isouter=not inner)
            elif prop.direction is Direction.ONETOMANY:
                on = and_(*[alias.c[fk.name] == _col(from_, ref) for ref, fk in prop.pairs])
                stmt = stmt.join(alias, on, isouter=not inner)
            else:
                on = and_(*[alias.c[ref.name] == _col(from_, fk) for ref, fk in prop.pairs])
                stmt = stmt.join(alias, on, isouter=not inner)
            stmt = stmt.add_columns(*alias.c)
            step = JoinedStep(prop, parent_step, offset)
            for i, col in enumerate(target.table.columns):
                key = target.column_keys_by_column.get(id(col))
                if key is not None:
                    step.positions.append((key, offset + i))
            offset += len(target.table.columns)
            if prop.order_by:
                order = [_translate(alias, c) for c in prop.order_by]
                if all(o is not None for o in order):
                    stmt = stmt.order_by(*order)
            steps.append(step)
            index = len(steps) - 1
            walk(target, alias, _joined_choices(target, sub), index, (*path, id(prop)))

    walk(mapper, parent_from, top, -1, ())
    return stmt, steps


def _translate(from_: Any, clause: Any) -> Any:
    """The same ORDER BY term against an alias or subquery (plain columns and DESC/ASC)."""
    from heron.sql.elements import UnaryExpression

    element = clause.__clause_element__() if hasattr(clause, "__clause_element__") else clause
    if isinstance(element, UnaryExpression) and element.modifier is not None:
        inner = _translate(from_, element.element)
        if inner is None:
            return None
        return UnaryExpression(inner, modifier=element.modifier)
    found = from_.corresponding_column(element)
    if found is None and getattr(element, "name", None) in from_.c:
        found = from_.c[element.name]
    return found


def fold_joined(
    session: Session, rows: Sequence[Sequence[Any]], parents: list[Any], steps: list[JoinedStep]
) -> list[list[Any]]:
    """Build each step's objects from ``rows`` and fill the owners' attributes."""
    per_step: list[list[Any]] = []
    for step in steps:
        target = step.prop.mapper_target
        assert target is not None
        objs = loader_for(target, step.positions)(rows, session, False)
        per_step.append(objs)
        owners = parents if step.parent_step < 0 else per_step[step.parent_step]
        prop = step.prop
        collected: dict[int, tuple[Any, list[Any], set[int]]] = {}
        for owner, child in zip(owners, objs, strict=True):
            if owner is None:
                continue
            entry = collected.get(id(owner))
            if entry is None:
                entry = (owner, [], set())
                collected[id(owner)] = entry
            if child is not None and id(child) not in entry[2]:
                entry[2].add(id(child))
                entry[1].append(child)
        back = prop.back
        for owner, members, _ in collected.values():
            if not _needs_load(owner, prop):
                continue
            if prop.uselist:
                install_loaded_collection(owner, prop, members)
            else:
                owner.__dict__[prop.key] = members[0] if members else None
            if back is not None and not back.uselist and prop.direction is Direction.ONETOMANY:
                for child in members:
                    if back.key not in child.__dict__:
                        child.__dict__[back.key] = owner
    return per_step


# -- one pass for joins below the top-level entity only ---------------------------


def fold_top_level(
    session: Session,
    rows: Sequence[Sequence[Any]],
    mapper: Mapper,
    steps: list[JoinedStep],
    overwrite: bool,
) -> list[Any]:
    """Build the parents and their joined relationships in one pass; return unique parents.

    For plans whose joins all start at the top-level entity (the usual
    ``joinedload(User.addresses)``): each parent is built once, on its first
    row, and each related object is filed straight into its owner's
    collection (hot path: benchmarks W8). Deeper plans use ``fold_joined``.
    """
    fold = _fold_for(mapper, steps)
    out, seen = fold(rows, session, overwrite, {})
    entries = list(seen.values())
    for j, step in enumerate(steps):
        prop = step.prop
        filled = [entry[j] for entry in entries if entry[j] is not None]
        if prop.uselist:
            install_collections(prop, filled)
        else:
            key = prop.key
            for coll in filled:
                d = coll._owner.__dict__
                # a back-reference filled in this pass already holds the value
                if key not in d:
                    d[key] = coll[0] if coll else None
    return out  # type: ignore[no-any-return]


def _fold_for(mapper: Mapper, steps: list[JoinedStep]) -> Any:
    cache_key = ("fold", *((id(s.prop), tuple(s.positions)) for s in steps))
    fold = mapper.loaders.get(cache_key)
    if fold is None:
        fold = _generate_fold(mapper, steps)
        mapper.loaders[cache_key] = fold
    return fold


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _generate_fold(mapper: Mapper, steps: list[JoinedStep]) -> Any:
    parent = _parts(mapper, entity_positions(mapper, 0), " " * 16)
    ns = _namespace(mapper)
    ns.update(
        lnew=list.__new__,
        IL=InstrumentedList,
        lappend=list.append,
        add_once=_add_once,
    )
    starts = []
    children = []
    for j, step in enumerate(steps):
        prop = step.prop
        target = prop.mapper_target
        assert target is not None
        ns[f"prop{j}"] = prop
        ns[f"cmapper{j}"] = target
        ns[f"ccls{j}"] = target.class_
        key = prop.key
        # the collection to fill, or None: loaded already, or holding a pending change
        starts.append(
            f"""if {key!r} in od or (
    pst is not None and pst.committed and {key!r} in pst.committed
):
    c{j} = None
else:
    c{j} = lnew(IL)
    c{j}._owner = obj
    c{j}._prop = prop{j}"""
        )
        back = prop.back
        back_key = (
            back.key
            if back is not None and not back.uselist and prop.direction is Direction.ONETOMANY
            else None
        )
        child = _parts(target, step.positions, " " * 8)
        set_back = f"\n            d[{back_key!r}] = coll._owner" if back_key is not None else ""
        set_back_existing = (
            f"\n            cd = cobj.__dict__\n            if {back_key!r} not in cd:"
            f"\n                cd[{back_key!r}] = coll._owner"
            if back_key is not None
            else ""
        )
        children.append(
            f"""key = {child["key"]}
if not ({child["null"]}):
    coll = entry[{j}]
    st = cid{j}.get(key)
    cobj = st() if st is not None else None
    if cobj is not None:
        if st.expired_keys is not None:
            refresh_existing(st, cobj, {{{child["values"]}}}, False)
        if coll is None:
            pass
        elif coll:
            add_once(coll, cobj, {back_key!r}, added)
        else:
            # an empty collection cannot hold it yet (the usual many-to-one case)
            lappend(coll, cobj){set_back_existing}
    else:
        obj = new(ccls{j})
        d = obj.__dict__
{child["stores"]}
        st = new_ref(State, obj, gone)
        st.insert_order = 0
        st.mapper = cmapper{j}
        st.key = key
        st.session = session
        d[{STATE_KEY!r}] = st
        cid{j}[key] = st
        if coll is not None:
            lappend(coll, obj){set_back}"""
        )
    child_maps = "\n".join(f"    cid{j} = imap(cmapper{j})" for j in range(len(steps)))
    entry = "(" + ", ".join(f"c{j}" for j in range(len(steps))) + ",)"
    src = f"""
def fold(rows, session, overwrite, added):
    imap = session._imap
    identity = imap(mapper)
{child_maps}
    seen = {{}}
    seen_get = seen.get
    out = []
    append = out.append
    had_none = False
    for row in rows:
        pkey = {parent["key"]}
        entry = seen_get(pkey)
        if entry is None:
            key = pkey
            if {parent["null"]}:
                if not had_none:
                    append(None)
                    had_none = True
                continue
            st = identity.get(key)
            obj = st() if st is not None else None
            if obj is not None:
                if overwrite or st.expired_keys is not None:
                    refresh_existing(st, obj, {{{parent["values"]}}}, overwrite)
            else:
                obj = new(cls)
                d = obj.__dict__
{parent["stores"]}
                st = new_ref(State, obj, gone)
                st.insert_order = 0
                st.mapper = mapper
                st.key = key
                st.session = session
                d[{STATE_KEY!r}] = st
                identity[key] = st
            append(obj)
            od = obj.__dict__
            pst = od.get(STATE_KEY)
{_indent(chr(10).join(starts), 12)}
            entry = seen[pkey] = {entry}
{_indent(chr(10).join(children), 8)}
    return out, seen
"""
    exec(compile(src, f"<heron joined fold {mapper.class_.__name__}>", "exec"), ns)
    return ns["fold"]


def _add_once(
    coll: InstrumentedList, obj: Any, back_key: str | None, added: dict[int, Any]
) -> None:
    """File an already-built object unless ``coll`` holds it (rows repeat it in a join)."""
    entry = added.get(id(coll))
    if entry is None:
        ids = {id(o) for o in coll}
    else:
        ids, n = entry
        if len(coll) > n:
            ids.update(id(o) for o in coll[n:])
    if id(obj) not in ids:
        list.append(coll, obj)
        ids.add(id(obj))
        if back_key is not None:
            d = obj.__dict__
            if back_key not in d:
                d[back_key] = coll._owner
    added[id(coll)] = (ids, len(coll))
