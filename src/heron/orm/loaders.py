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
from heron._util.gcpause import paused_gc
from heron.orm.instrumentation import (
    InstrumentedList,
    RelationshipAttribute,
    _apply_pending,
    install_collections,
    new_collection,
)
from heron.orm.loading import _speedups, entity_loader, entity_positions, group_loader_for
from heron.orm.relationships import Direction, RelationshipProperty
from heron.orm.state import STATE_KEY

if TYPE_CHECKING:
    from heron.orm.mapper import Mapper
    from heron.orm.session import Session

DEFAULT_BATCH = 500
# selectin builds objects from at most this many fetched rows at once (memory bound)
HELD_ROWS = 20_000
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
    """The objects ``prop`` holds on ``objs``, each once, in first-seen order."""
    key = prop.key
    # id -> object: a dict keeps the first position of each and costs one store per item
    found: dict[int, Any] = {}
    if prop.uselist:
        for obj in objs:
            value = obj.__dict__.get(key)
            if value:
                for child in value:
                    found[id(child)] = child
    else:
        for obj in objs:
            value = obj.__dict__.get(key)
            if value is not None:
                found[id(value)] = value
    return list(found.values())


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
    key = prop.key
    if _speedups is not None and type(objs) is list:
        todo = _speedups.unloaded(objs, key, None)  # the loop below in one C pass
    else:
        todo = []
        for obj in objs:
            # loaded already, or holding a pending change: leave it (hot path: per parent)
            d = obj.__dict__
            if key in d:
                continue
            st = d.get(STATE_KEY)
            if st is not None and st.committed and key in st.committed:
                continue
            todo.append(obj)
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
    await _load_expired_keys(session, prop.parent, todo, fk_keys, batch)
    pk = list(target.primary_key)
    if len(prop.pairs) == 1 and len(pk) == 1 and prop.pairs[0][0] is pk[0]:
        # the foreign key is the target's whole primary key: its value is the identity key
        await _selectin_many_to_one_by_key(session, prop, todo, batch, fk_keys[0])
        return
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


async def _load_expired_keys(
    session: Session, parent: Mapper, objs: list[Any], fk_keys: list[str], batch: int
) -> None:
    """Reload expired objects whose foreign key is not in memory (reached through a
    collection that stayed loaded); a missing key would read as NULL."""
    keys = []
    for obj in objs:
        d = obj.__dict__
        st = d.get(STATE_KEY)
        if st is None or st.key is None or st.expired_keys is None:
            continue
        if any(k not in d for k in fk_keys):
            keys.append((st.key,) if parent.single_pk else tuple(st.key))
    pk = list(parent.primary_key)
    for i in range(0, len(keys), batch):
        # the loader fills the unloaded attributes of identity-mapped instances
        await session._load_by_keys(parent, pk, keys[i : i + batch])


async def _selectin_many_to_one_by_key(
    session: Session, prop: RelationshipProperty, todo: list[Any], batch: int, fk: str
) -> None:
    """Many-to-one over one foreign-key column that is the target's primary key.

    Targets are found through the identity map by the bare key value (hot
    path: one dict lookup per object, no key tuples).
    """
    target = prop.mapper_target
    assert target is not None
    imap = session._imap(target)
    wanted: dict[Any, None] = {}
    for obj in todo:
        value = obj.__dict__.get(fk)
        if value is None or value in wanted:
            continue
        st = imap.get(value)
        if st is None or st() is None:
            wanted[value] = None
    keys = list(wanted)
    ref_cols = [prop.pairs[0][0]]
    # the identity map holds instances weakly: keep the loaded ones alive here
    loaded: list[list[Any]] = []
    for i in range(0, len(keys), batch):
        rows = await session._rows_by_keys(target, ref_cols, keys[i : i + batch], bare=True)
        with paused_gc(len(rows)):
            loaded.append(entity_loader(target, 0)(rows, session, False))
            rows.clear()
    key = prop.key
    for obj in todo:
        d = obj.__dict__
        value = d.get(fk)
        st = imap.get(value) if value is not None else None
        d[key] = st() if st is not None else None


def _collections_by_key(
    prop: RelationshipProperty, todo: list[Any], parent_keys: list[str]
) -> tuple[dict[Any, InstrumentedList], list[tuple[Any, Any]]]:
    """One empty collection per distinct parent key, owned by the first parent with it.

    Keys are bare values for a one-column key, tuples otherwise. Later parents
    sharing a key (a non-unique parent column) are returned as (parent, key)
    to get copies.
    """
    colls: dict[Any, InstrumentedList] = {}
    shared: list[tuple[Any, Any]] = []
    if len(parent_keys) == 1 and _speedups is not None and type(todo) is list:
        return _speedups.new_collections(todo, parent_keys[0], InstrumentedList, prop)  # type: ignore[no-any-return]
    if len(parent_keys) == 1:
        (pk,) = parent_keys
        # new_collection inlined (hot path: one per parent; benchmarks W6
        # loads the children of 10,000 deleted parents this way)
        new_list = list.__new__
        with paused_gc(len(todo)):
            for obj in todo:
                key = obj.__dict__.get(pk)
                if key in colls:
                    shared.append((obj, key))
                else:
                    coll = colls[key] = new_list(InstrumentedList)
                    coll._owner = obj
                    coll._prop = prop
    else:
        for obj in todo:
            d = obj.__dict__
            key = tuple(d.get(k) for k in parent_keys)
            if key in colls:
                shared.append((obj, key))
            else:
                colls[key] = new_collection(obj, prop)
    return colls, shared


async def _selectin_collection(
    session: Session, prop: RelationshipProperty, parent: Mapper, todo: list[Any], batch: int
) -> None:
    target = prop.mapper_target
    assert target is not None
    one_to_many = prop.direction is Direction.ONETOMANY
    pairs = prop.pairs if one_to_many else prop.secondary_pairs
    parent_keys = [parent.column_keys_by_column[id(ref)] for ref, _ in pairs]
    match_cols = [col for _, col in pairs]
    single = len(parent_keys) == 1
    colls, shared = _collections_by_key(prop, todo, parent_keys)
    if single:
        keys = [k for k in colls if k is not None]
    else:
        keys = [k for k in colls if not any(v is None for v in k)]
    if one_to_many:
        positions = entity_positions(target, 0)
        index = dict(positions)
        child_keys = [target.column_keys_by_column[id(fk)] for _, fk in pairs]
        back = prop.back
        loader = group_loader_for(
            target,
            positions,
            [index[k] for k in child_keys],
            # every instance is filed by the row's key, as joined and lazy loads do
            # (one already in the session may hold an unflushed new key)
            None,
            back.key if back is not None and not back.uselist else None,
        )
    else:
        n = len(match_cols)
        loader = group_loader_for(target, entity_positions(target, n), range(n), None, None)
    # Rows of several batches are built in one go (up to HELD_ROWS of them):
    # each paused build costs one collector pass over everything it made, so
    # one pass instead of one per batch (benchmarks W7).
    held: list[list[Any]] = []
    count = 0
    dialect = getattr(session.bind, "dialect", None)
    if (
        one_to_many
        and single
        and len(keys) > batch
        and dialect is not None
        and dialect.supports_any_array
    ):
        # every batch's SELECT in one pipelined round trip (benchmarks W7)
        batches = [keys[i : i + batch] for i in range(0, len(keys), batch)]
        rows = await session._rows_by_key_batches(target, match_cols[0], batches, prop.order_by)
        with paused_gc(len(rows)):
            loader(rows, session, False, colls)
            rows.clear()
        keys = []  # all loaded: nothing left for the batch loop below
    for i in range(0, len(keys), batch):
        chunk = keys[i : i + batch]
        if one_to_many:
            rows = await session._rows_by_keys(
                target, match_cols, chunk, prop.order_by, bare=single
            )
        else:
            rows = await session._m2m_rows(prop, chunk, bare=single)
        held.append(rows)
        count += len(rows)
        if count >= HELD_ROWS or i + batch >= len(keys):
            with paused_gc(count):
                for rows in held:
                    loader(rows, session, False, colls)
                    # free the rows while the collector is paused: never traversed
                    rows.clear()
            held = []
            count = 0
    # copies first: replaying deferred changes below may change the originals
    filled = [*colls.values(), *[new_collection(obj, prop, colls[key]) for obj, key in shared]]
    if prop.uselist:
        if _speedups is not None:
            # one C pass; an owner with deferred changes replays them here, in
            # the order of install_collections' loop
            install = _speedups.install_collections
            i = install(filled, 0, prop.key)
            while i < len(filled):
                owner = filled[i]._owner
                _apply_pending(owner.__dict__[STATE_KEY], owner, prop, filled[i])
                i = install(filled, i + 1, prop.key)
        else:
            install_collections(prop, filled)
    else:
        for coll in filled:
            coll._owner.__dict__[prop.key] = coll[0] if coll else None
