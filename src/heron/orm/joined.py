"""Joined eager loading: LEFT OUTER JOINs added to the query, rows folded into objects.

Layer 4 (orm). ``plan_joined`` rewrites a ``select(Entity)`` so each joined
relationship's target (under a named alias, so self-referential and repeated
targets work and the statement stays cacheable) is joined and its columns are
appended to the row. With LIMIT/OFFSET the parent query is wrapped in a
subquery first, so the limit counts parents, not joined rows.
``fold_one_pass`` (generated code, one pass over the rows) builds each parent
once and files each related object straight into its owner's collection,
de-duplicating parents and the objects that rows repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from heron.orm.instrumentation import (
    InstrumentedList,
    install_collections,
)
from heron.orm.loaders import LoadTree
from heron.orm.loading import (
    _namespace,
    _parts,
    _speedups,
    c_spec,
    entity_positions,
    new_state_source,
)
from heron.orm.relationships import Direction, RelationshipProperty

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
    # a collection joined at any depth multiplies the rows
    wrap = (stmt._limit is not None or stmt._offset is not None) and _joins_a_collection(top, ())
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


def _joins_a_collection(choices: list[Any], path: tuple[int, ...]) -> bool:
    """Whether the joins ``plan_joined`` makes for ``choices`` include a collection."""
    for prop, _, sub in choices:
        if id(prop) in path and sub is None:
            continue  # not joined (see ``walk``)
        if prop.uselist:
            return True
        target = prop.mapper_target
        if target is not None and _joins_a_collection(
            _joined_choices(target, sub), (*path, id(prop))
        ):
            return True
    return False


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


# -- folding the rows in one pass ------------------------------------------------


def fold_one_pass(
    session: Session,
    rows: Sequence[Sequence[Any]],
    mapper: Mapper,
    steps: list[JoinedStep],
    overwrite: bool,
) -> list[Any]:
    """Build the parents and their joined relationships in one pass; return unique parents.

    Each parent is built once, on its first row, and each related object is
    filed straight into its owner's collection (hot path: benchmarks W8);
    objects that own deeper joins are tracked per step the same way.
    """
    fold = _fold_for(mapper, steps)
    out, seen = fold(rows, session, overwrite, {})
    subs = _sub_steps(steps)
    for j, step in enumerate(steps):
        prop = step.prop
        key = prop.key
        pos = subs[step.parent_step].index(j)
        filled = [e[pos] for e in seen[step.parent_step].values() if e[pos] is not None]
        if prop.uselist:
            # an owner reached by two steps (self-referential chains) keeps the
            # collection it got first, as lazily filled attributes always do
            install_collections(prop, [c for c in filled if key not in c._owner.__dict__])
        else:
            # scalars were set during the pass (first value wins); no row: None
            for owner in filled:
                d = owner.__dict__
                if key not in d:
                    d[key] = None
    return out  # type: ignore[no-any-return]


def _sub_steps(steps: list[JoinedStep]) -> dict[int, list[int]]:
    """Step index -> the steps joined below it (-1: below the top-level entity)."""
    subs: dict[int, list[int]] = {-1: []}
    for j, step in enumerate(steps):
        subs[j] = []
        subs[step.parent_step].append(j)
    return subs


def _fold_for(mapper: Mapper, steps: list[JoinedStep]) -> Any:
    cache_key = ("fold", *((id(s.prop), s.parent_step, tuple(s.positions)) for s in steps))
    fold = mapper.loaders.get(cache_key)
    if fold is None:
        fold = _generate_fold(mapper, steps)
        mapper.loaders[cache_key] = fold
    return fold


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _starts(steps: list[JoinedStep], below: list[int], owner: str, entry: str) -> str:
    """Source that makes ``owner``'s collections for the steps ``below`` it: ``entry``."""
    out = []
    for k in below:
        prop = steps[k].prop
        key = prop.key
        # a collection (the owner itself for a scalar) to fill, or None: loaded
        # already, or holding a pending change
        if prop.uselist:
            fill = f"lnew(IL)\n    c{k}._owner = {owner}\n    c{k}._prop = prop{k}"
        else:
            fill = owner
        out.append(
            f"""if {key!r} in od or (
    pst is not None and pst.committed and {key!r} in pst.committed
):
    c{k} = None
else:
    c{k} = {fill}"""
        )
    out.append(f"{entry} = (" + "".join(f"c{k}, " for k in below) + ")")
    return "\n".join(out)


def _generate_fold(mapper: Mapper, steps: list[JoinedStep]) -> Any:
    parent = _parts(mapper, entity_positions(mapper, 0), " " * 16)
    subs = _sub_steps(steps)
    ns = _namespace(mapper)
    ns.update(
        lnew=list.__new__,
        IL=InstrumentedList,
        lappend=list.append,
        add_once=_add_once,
    )
    spec = c_spec(mapper, entity_positions(mapper, 0))
    if spec is None:
        parent_new = (
            "                obj = new(cls)\n                d = obj.__dict__\n"
            + parent["stores"]
            + "\n"
            + new_state_source(" " * 16, "mapper", "identity")
        )
    else:
        # the C builder (heron/_speedups.c): the same instance, state and entry
        ns["spec"] = spec
        ns["build"] = _speedups.build_one
        parent_new = "                obj = build(spec, row, key, session, identity)"
    children = [_step_source(steps, j, subs, ns) for j in range(len(steps))]
    child_maps = "\n".join(f"    cid{j} = imap(cmapper{j})" for j in range(len(steps)))
    owned = [j for j in range(len(steps)) if subs[j]]
    seen_maps = "".join(f"\n    seen{j} = {{}}\n    seen{j}_get = seen{j}.get" for j in owned)
    seen_all = "{-1: seen" + "".join(f", {j}: seen{j}" for j in owned) + "}"
    src = f"""
def fold(rows, session, overwrite, added):
    imap = session._imap
    identity = imap(mapper)
{child_maps}
    seen = {{}}
    seen_get = seen.get{seen_maps}
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
{parent_new}
            append(obj)
            od = obj.__dict__
            pst = od.get(STATE_KEY)
{_indent(_starts(steps, subs[-1], "obj", "entry = seen[pkey]"), 12)}
{_indent(chr(10).join(children), 8)}
    return out, {seen_all}
"""
    exec(compile(src, f"<heron joined fold {mapper.class_.__name__}>", "exec"), ns)
    return ns["fold"]


def _step_source(
    steps: list[JoinedStep], j: int, subs: dict[int, list[int]], ns: dict[str, Any]
) -> str:
    """Per-row source for step ``j``: build or find its object, file it with its owner."""
    step = steps[j]
    prop = step.prop
    target = prop.mapper_target
    assert target is not None
    ns[f"prop{j}"] = prop
    ns[f"cmapper{j}"] = target
    ns[f"ccls{j}"] = target.class_
    back = prop.back
    back_key = (
        back.key
        if back is not None and not back.uselist and prop.direction is Direction.ONETOMANY
        else None
    )
    child = _parts(target, step.positions, " " * 8)
    if prop.uselist:
        owner = "coll._owner"
        file_existing = f"""if coll is None:
            pass
        elif coll:
            add_once(coll, cobj, {back_key!r}, added)
        else:
            # an empty collection cannot hold it yet (the usual many-to-one case)
            lappend(coll, cobj)"""
        file_new = "lappend(coll, obj)"
    else:
        # a scalar: ``coll`` is the owner; the first value found wins
        owner = "coll"
        file_existing = f"""if coll is not None:
            od = coll.__dict__
            if {prop.key!r} not in od:
                od[{prop.key!r}] = cobj"""
        file_new = f"""od = coll.__dict__
            if {prop.key!r} not in od:
                od[{prop.key!r}] = obj"""
    spec = c_spec(target, step.positions)
    if spec is None:
        child_new = (
            f"        obj = new(ccls{j})\n        d = obj.__dict__\n"
            + child["stores"]
            + "\n"
            + new_state_source(" " * 8, f"cmapper{j}", f"cid{j}")
        )
        set_back = f"\n            d[{back_key!r}] = {owner}" if back_key is not None else ""
    else:
        # the C builder (heron/_speedups.c): the same instance, state and entry
        ns[f"spec{j}"] = spec
        ns["build"] = _speedups.build_one
        child_new = f"        obj = build(spec{j}, row, key, session, cid{j})"
        set_back = (
            f"\n            obj.__dict__[{back_key!r}] = {owner}" if back_key is not None else ""
        )
    set_back_existing = (
        f"\n            cd = cobj.__dict__\n            if {back_key!r} not in cd:"
        f"\n                cd[{back_key!r}] = {owner}"
        if back_key is not None
        else ""
    )
    pos = subs[step.parent_step].index(j)
    if step.parent_step < 0:
        take = f"coll = entry[{pos}]"
    else:
        # no owner on this row (its outer join found nothing): build, file nowhere
        take = f"e = e{step.parent_step}\n    coll = e[{pos}] if e is not None else None"
    below = subs[j]
    if below:
        # this step's objects own deeper joins: their collections, once per object
        own = f"""
    e{j} = seen{j}_get(key)
    if e{j} is None:
        od = cobj.__dict__
        pst = od.get(STATE_KEY)
{_indent(_starts(steps, below, "cobj", f"e{j} = seen{j}[key]"), 8)}"""
        on_null = f"\n    e{j} = None"
        keep = "\n        cobj = obj"
    else:
        own = on_null = keep = ""
    return f"""key = {child["key"]}
if {child["null"]}:
    pass{on_null}
else:
    {take}
    st = cid{j}.get(key)
    cobj = st() if st is not None else None
    if cobj is not None:
        if st.expired_keys is not None:
            refresh_existing(st, cobj, {{{child["values"]}}}, False)
        {file_existing}{set_back_existing}
    else:
{child_new}
        if coll is not None:
            {file_new}{set_back}{keep}{own}"""


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
