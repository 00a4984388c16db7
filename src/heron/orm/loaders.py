"""Relationship loader strategies and the options that choose them.

Layer 4 (orm). ``selectinload`` runs one extra ``SELECT ... WHERE key IN
(...)`` per relationship per batch of parents; ``joinedload`` adds a LEFT
OUTER JOIN to the query itself (see ``joined.py``); ``lazyload`` leaves the
attribute unloaded until awaited; ``raiseload`` makes even awaiting it an
error; ``noload`` fills it with an empty value. Eager loads only fill
attributes that are not loaded and hold no pending change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from heron import exc
from heron.orm.instrumentation import (
    InstrumentedList,
    RelationshipAttribute,
    install_loaded_collection,
)
from heron.orm.relationships import Direction, RelationshipProperty
from heron.orm.state import STATE_KEY

if TYPE_CHECKING:
    from heron.orm.mapper import Mapper
    from heron.orm.session import Session

DEFAULT_BATCH = 500
# self-referential eager loads stop after this many levels unless told otherwise
DEFAULT_RECURSION = 8

STRATEGIES = ("select", "joined", "selectin", "raise", "noload")


class Load:
    """A loader option: a path of relationships, each with the strategy to use.

    Built by ``selectinload(User.addresses)`` etc.; chain further levels with
    ``.selectinload(Address.user)``, ``.joinedload(...)``, ...
    """

    __slots__ = ("path",)

    def __init__(self, path: tuple[tuple[RelationshipProperty, str, dict[str, Any]], ...]) -> None:
        self.path = path

    def _chain(self, attr: Any, strategy: str, kw: dict[str, Any]) -> Load:
        prop = _prop_of(attr)
        if self.path:
            last = self.path[-1][0]
            if last.mapper_target is not None and prop.parent is not last.mapper_target:
                raise exc.ArgumentError(
                    f"cannot chain {prop} after {last}: {prop} does not start from "
                    f"{last.mapper_target.class_.__name__}"
                )
        return Load((*self.path, (prop, strategy, kw)))

    def selectinload(
        self, attr: Any, *, recursion_depth: int | None = None, batch_size: int | None = None
    ) -> Load:
        """Load ``attr`` of the objects this path reaches with a batched IN query."""
        return self._chain(
            attr, "selectin", {"recursion_depth": recursion_depth, "batch_size": batch_size}
        )

    def joinedload(self, attr: Any, *, innerjoin: bool = False) -> Load:
        """Load ``attr`` with a JOIN in the same statement."""
        return self._chain(attr, "joined", {"innerjoin": innerjoin})

    def lazyload(self, attr: Any) -> Load:
        """Leave ``attr`` unloaded until awaited."""
        return self._chain(attr, "select", {})

    def raiseload(self, attr: Any) -> Load:
        """Make loading ``attr`` an error."""
        return self._chain(attr, "raise", {})

    def noload(self, attr: Any) -> Load:
        """Fill ``attr`` with an empty value without loading."""
        return self._chain(attr, "noload", {})

    def __repr__(self) -> str:
        return "Load(" + " -> ".join(f"{p}:{s}" for p, s, _ in self.path) + ")"


def _prop_of(attr: Any) -> RelationshipProperty:
    if isinstance(attr, RelationshipAttribute):
        mapper = attr.mapper
        if mapper is not None and not mapper.registry.configured:
            mapper.registry.configure()
        return attr.prop
    raise exc.ArgumentError(
        f"loader options take a relationship attribute such as User.addresses, got {attr!r}"
    )


def selectinload(
    attr: Any, *, recursion_depth: int | None = None, batch_size: int | None = None
) -> Load:
    """Eager-load ``attr`` with one ``SELECT ... WHERE key IN (...)`` per batch of parents."""
    return Load(()).selectinload(attr, recursion_depth=recursion_depth, batch_size=batch_size)


def joinedload(attr: Any, *, innerjoin: bool = False) -> Load:
    """Eager-load ``attr`` with a LEFT OUTER JOIN (INNER with ``innerjoin=True``)."""
    return Load(()).joinedload(attr, innerjoin=innerjoin)


def lazyload(attr: Any) -> Load:
    """Leave ``attr`` unloaded until ``await obj.awaitable_attrs.NAME``."""
    return Load(()).lazyload(attr)


def raiseload(attr: Any) -> Load:
    """Reading or awaiting ``attr`` raises ``UnloadedAttributeError``."""
    return Load(()).raiseload(attr)


def noload(attr: Any) -> Load:
    """``attr`` reads as empty (None or an empty collection) and is never loaded."""
    return Load(()).noload(attr)


# -- option trees ---------------------------------------------------------------


class LoadTree:
    """Per-relationship choices below one entity: key -> (strategy, kwargs, subtree)."""

    __slots__ = ("children",)

    def __init__(self) -> None:
        self.children: dict[int, tuple[str, dict[str, Any], LoadTree]] = {}

    @classmethod
    def from_options(cls, options: Sequence[Any]) -> LoadTree:
        root = cls()
        for opt in options:
            if not isinstance(opt, Load):
                continue
            node = root
            for prop, strategy, kw in opt.path:
                entry = node.children.get(id(prop))
                if entry is None:
                    entry = (strategy, kw, LoadTree())
                    node.children[id(prop)] = entry
                else:
                    entry = (strategy, kw, entry[2])
                    node.children[id(prop)] = entry
                node = entry[2]
        return root

    def choice(self, prop: RelationshipProperty) -> tuple[str, dict[str, Any], LoadTree | None]:
        entry = self.children.get(id(prop))
        if entry is None:
            return prop.lazy, {}, None
        return entry


EMPTY_TREE = LoadTree()


async def apply_eager(
    session: Session,
    mapper: Mapper,
    objs: list[Any],
    tree: LoadTree | None,
    depth: int = 0,
    path: frozenset[int] = frozenset(),
) -> None:
    """Run selectin loads (and noload/raise markers) for ``objs`` of ``mapper``."""
    if not objs:
        return
    tree = tree or EMPTY_TREE
    for prop in mapper.rel_list:
        strategy, kw, sub = tree.choice(prop)
        if strategy in ("selectin", "joined"):
            # "joined" relationships were filled by the JOIN when it could be
            # used; whatever is still unloaded (e.g. past a self-referential
            # level) is loaded by selectin here
            limit = kw.get("recursion_depth")
            if limit is None:
                limit = DEFAULT_RECURSION
            self_ref = prop.mapper_target is mapper
            if self_ref and depth >= limit:
                continue
            if sub is None and not self_ref and id(prop) in path:
                continue  # a cycle of eager defaults (A.bs -> B.a -> A.bs): stop here
            if self_ref and (sub is None or (kw.get("recursion_depth") and not sub.children)):
                sub = tree  # self-referential default or recursion_depth: keep going down
            target = prop.mapper_target
            assert target is not None
            deeper = (sub is not None and bool(sub.children)) or target.has_eager
            children = await selectin_load(
                session, prop, objs, kw.get("batch_size") or DEFAULT_BATCH, collect=deeper
            )
            if children and deeper:
                await apply_eager(
                    session,
                    prop.mapper_target,  # type: ignore[arg-type]
                    children,
                    sub,
                    depth + 1,
                    path | {id(prop)},
                )
        elif strategy == "noload":
            for obj in objs:
                d = obj.__dict__
                if prop.key not in d:
                    d[prop.key] = InstrumentedList(obj, prop) if prop.uselist else None
        elif strategy == "raise":
            for obj in objs:
                st = obj.__dict__.get(STATE_KEY)
                if st is not None and prop.key not in obj.__dict__:
                    if st.raise_keys is None:
                        st.raise_keys = set()
                    st.raise_keys.add(prop.key)


def _collect(prop: RelationshipProperty, objs: list[Any]) -> list[Any]:
    out: list[Any] = []
    seen: set[int] = set()
    for obj in objs:
        value = obj.__dict__.get(prop.key)
        if value is None:
            continue
        for child in value if prop.uselist else (value,):
            if id(child) not in seen:
                seen.add(id(child))
                out.append(child)
    return out


def _needs_load(obj: Any, prop: RelationshipProperty) -> bool:
    d = obj.__dict__
    if prop.key in d:
        return False
    st = d.get(STATE_KEY)
    return not (st is not None and st.committed and prop.key in st.committed)


async def selectin_load(
    session: Session,
    prop: RelationshipProperty,
    objs: list[Any],
    batch: int,
    *,
    collect: bool = True,
) -> list[Any]:
    """Load ``prop`` for every object in ``objs`` that lacks it.

    Returns the related objects (de-duplicated) when ``collect``, for loading
    further levels; an empty list otherwise.
    """
    target = prop.mapper_target
    assert target is not None
    parent = prop.parent
    todo = [o for o in objs if _needs_load(o, prop)]
    if todo:
        if prop.direction is Direction.MANYTOONE:
            await _selectin_many_to_one(session, prop, todo, batch)
        else:
            await _selectin_collection(session, prop, parent, todo, batch)
    return _collect(prop, objs) if collect else []


async def _selectin_many_to_one(
    session: Session, prop: RelationshipProperty, todo: list[Any], batch: int
) -> None:
    target = prop.mapper_target
    assert target is not None
    fk_keys = [prop.parent.column_keys_by_column[id(fk)] for _, fk in prop.pairs]
    ref_keys = [target.column_keys_by_column[id(ref)] for ref, _ in prop.pairs]
    wanted: dict[tuple[Any, ...], None] = {}
    for obj in todo:
        d = obj.__dict__
        vals = tuple(d.get(k) for k in fk_keys)
        if any(v is None for v in vals):
            continue
        ident = prop._target_identity(vals)
        if ident is not None and session._identity_lookup(target, ident) is not None:
            continue
        wanted[vals] = None
    found: dict[tuple[Any, ...], Any] = {}
    keys = list(wanted)
    ref_cols = [ref for ref, _ in prop.pairs]
    for i in range(0, len(keys), batch):
        chunk = keys[i : i + batch]
        for obj in await session._load_by_keys(target, ref_cols, chunk):
            found[tuple(obj.__dict__.get(k) for k in ref_keys)] = obj
    for obj in todo:
        d = obj.__dict__
        vals = tuple(d.get(k) for k in fk_keys)
        if any(v is None for v in vals):
            d[prop.key] = None
            continue
        value = found.get(vals)
        if value is None:
            ident = prop._target_identity(vals)
            value = session._identity_lookup(target, ident) if ident is not None else None
        d[prop.key] = value


async def _selectin_collection(
    session: Session, prop: RelationshipProperty, parent: Mapper, todo: list[Any], batch: int
) -> None:
    target = prop.mapper_target
    assert target is not None
    if prop.direction is Direction.ONETOMANY:
        parent_keys = [parent.column_keys_by_column[id(ref)] for ref, _ in prop.pairs]
        match_cols = [fk for _, fk in prop.pairs]
        child_keys = [target.column_keys_by_column[id(fk)] for _, fk in prop.pairs]
    else:
        parent_keys = [parent.column_keys_by_column[id(ref)] for ref, _ in prop.secondary_pairs]
        match_cols = [sec for _, sec in prop.secondary_pairs]
        child_keys = []
    groups: dict[tuple[Any, ...], list[Any]] = {}
    owners: dict[tuple[Any, ...], list[Any]] = {}
    for obj in todo:
        d = obj.__dict__
        owners.setdefault(tuple(d.get(k) for k in parent_keys), []).append(obj)
    keys = [k for k in owners if not any(v is None for v in k)]
    for i in range(0, len(keys), batch):
        chunk = keys[i : i + batch]
        if prop.direction is Direction.ONETOMANY:
            children = await session._load_by_keys(
                target, match_cols, chunk, order_by=prop.order_by
            )
            # hot path: benchmarks W7 (10,000 children grouped by parent key)
            if len(child_keys) == 1:
                (ck,) = child_keys
                for child in children:
                    key = (child.__dict__.get(ck),)
                    members = groups.get(key)
                    if members is None:
                        groups[key] = [child]
                    else:
                        members.append(child)
            else:
                for child in children:
                    cd = child.__dict__
                    groups.setdefault(tuple(cd.get(k) for k in child_keys), []).append(child)
        else:
            pairs = await session._load_m2m(prop, chunk)
            for key, child in pairs:
                groups.setdefault(key, []).append(child)
    back = prop.back
    set_back = back is not None and not back.uselist and prop.direction is Direction.ONETOMANY
    back_key = back.key if back is not None else ""
    for key, objs_for_key in owners.items():
        members = groups.get(key, [])
        for obj in objs_for_key:
            if prop.uselist:
                install_loaded_collection(obj, prop, list(members))
            else:
                obj.__dict__[prop.key] = members[0] if members else None
            if set_back:
                for child in members:
                    cd = child.__dict__
                    if back_key not in cd:
                        cd[back_key] = obj
