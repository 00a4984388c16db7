"""Class <-> table: attribute keys, columns, primary key, relationships.

Layer 4 (orm). A ``Mapper`` is built by the declarative base when a class is
defined; its relationships are configured later, once every class they name
exists (``configure_mappers()``, run automatically on first use). It also
generates the per-mapper code that turns rows into instances.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from heron import exc
from heron.orm.relationships import Direction, RelationshipProperty
from heron.orm.state import NO_VALUE, History, InstanceState

if TYPE_CHECKING:
    from heron.sql.schema import Column, MetaData, Table


class FkPath:
    """Attribute keys of this table's foreign key to ``target_table``'s primary key."""

    __slots__ = ("keys", "target_table")

    def __init__(self, target_table: Table, keys: tuple[str, ...]) -> None:
        self.target_table = target_table
        self.keys = keys


class Registry:
    """Every mapper of one declarative base, by class name and table."""

    def __init__(self, metadata: MetaData) -> None:
        self.metadata = metadata
        self.classes: dict[str, type] = {}
        self.mappers: list[Mapper] = []
        self.configured = True

    def add(self, mapper: Mapper) -> None:
        name = mapper.class_.__name__
        self.classes[name] = mapper.class_
        self.classes[f"{mapper.class_.__module__}.{name}"] = mapper.class_
        self.mappers.append(mapper)
        self.configured = False

    def configure(self) -> None:
        """Configure every relationship; raises MappingError on the first mistake."""
        if self.configured:
            return
        for mapper in list(self.mappers):
            for prop in list(mapper.relationships.values()):
                prop.configure()
        for mapper in self.mappers:
            mapper._post_configure()
        self.configured = True


# weak: a declarative base that is gone (e.g. defined inside a test) is forgotten
_all_registries: weakref.WeakSet[Registry] = weakref.WeakSet()


def configure_mappers() -> None:
    """Configure every relationship of every declarative base now.

    Runs automatically on first use of a mapped class in a session; call it
    yourself to surface mapping mistakes at import time.
    """
    for registry in list(_all_registries):
        registry.configure()


class Mapper:
    """How one class maps to one table."""

    def __init__(
        self,
        class_: type,
        table: Table,
        registry: Registry,
        columns: dict[str, Column[Any]],
        relationships: dict[str, RelationshipProperty],
    ) -> None:
        self.class_ = class_
        self.table = table
        self.registry = registry
        self.metadata = registry.metadata
        # attribute key -> column, in table column order
        order = {id(c): i for i, c in enumerate(table.columns)}
        self.columns: dict[str, Column[Any]] = dict(
            sorted(columns.items(), key=lambda kv: order.get(id(kv[1]), 1 << 30))
        )
        self.column_keys: tuple[str, ...] = tuple(self.columns)
        self.column_key_set: frozenset[str] = frozenset(self.column_keys)
        self.server_default_keys: frozenset[str] = frozenset(
            k for k, c in self.columns.items() if c.server_default is not None
        )
        self.column_keys_by_column: dict[int, str] = {id(c): k for k, c in self.columns.items()}
        self.primary_key: list[Column[Any]] = list(table.primary_key.columns)
        if not self.primary_key:
            raise exc.MappingError(
                f"{class_.__name__} has no primary key: mark a column with "
                "mapped_column(primary_key=True) (or Column(..., primary_key=True))"
            )
        missing = [c for c in self.primary_key if id(c) not in self.column_keys_by_column]
        if missing:
            raise exc.MappingError(
                f"{class_.__name__}: primary-key column(s) {[c.name for c in missing]} "
                "are not mapped"
            )
        self.pk_keys: tuple[str, ...] = tuple(
            self.column_keys_by_column[id(c)] for c in self.primary_key
        )
        # identity-map keys are the bare primary-key value for a single-column
        # key (no tuple to build or hash per row) and a tuple otherwise
        self.single_pk = len(self.pk_keys) == 1
        self.pk_key_set = frozenset(self.pk_keys)
        # the bound-parameter names of get_statement()
        self.get_param_names = tuple(f"pk_{i}" for i in range(len(self.pk_keys)))
        self.relationships: dict[str, RelationshipProperty] = {}
        for key, prop in relationships.items():
            self.add_relationship(key, prop, install=False)
        self._refresh_keys()
        # a single integer primary key the database generates
        self.autoincrement_key: str | None = None
        if len(self.primary_key) == 1:
            pk = self.primary_key[0]
            if _is_autoincrement(pk):
                self.autoincrement_key = self.pk_keys[0]
        self.loaders: dict[Any, Any] = {}
        self.rel_list: list[RelationshipProperty] = list(self.relationships.values())
        self.fk_paths: list[FkPath] = []
        self.has_eager = False
        self.m2o_props: list[RelationshipProperty] = []
        self.o2m_props: list[RelationshipProperty] = []
        self.m2m_props: list[RelationshipProperty] = []
        self.post_update_props: list[RelationshipProperty] = []
        self.save_update_props: list[RelationshipProperty] = []
        self.save_update_keys: frozenset[str] = frozenset()
        self.save_update_key_tuple: tuple[str, ...] = ()
        self.o2m_keys: frozenset[str] = frozenset()
        self.sync_keys: frozenset[str] = frozenset()
        self.relationship_keys: frozenset[str] = frozenset()
        self.delete_props: list[RelationshipProperty] = []
        self.nulling_props: list[RelationshipProperty] = []
        self.insert_dep_props: list[RelationshipProperty] = []
        self.insert_dep_keys: frozenset[str] = frozenset()
        registry.add(self)

    def _refresh_keys(self) -> None:
        self.all_attribute_keys: frozenset[str] = frozenset(self.column_keys) | frozenset(
            self.relationships
        )

    def add_relationship(self, key: str, prop: RelationshipProperty, install: bool = True) -> None:
        """Attach a relationship (also used for backref-created ones)."""
        from heron.orm.instrumentation import RelationshipAttribute

        prop.key = key
        prop.parent = self
        self.relationships[key] = prop
        if install:
            attr: RelationshipAttribute[Any] = RelationshipAttribute(self.class_, key, prop)
            attr.mapper = self
            setattr(self.class_, key, attr)
            self._refresh_keys()
            self.registry.configured = False

    def _post_configure(self) -> None:
        # relationships in a stable order, split by direction for the flush
        self.rel_list = list(self.relationships.values())
        self.fk_paths = self._fk_paths()
        self.has_eager = any(
            p.lazy in ("selectin", "joined", "noload", "raise") for p in self.rel_list
        )
        # relationships by what the flush does with them (empty lists skip loops)
        writable = [p for p in self.rel_list if not p.viewonly]
        self.m2o_props = [p for p in writable if p.direction is Direction.MANYTOONE]
        self.o2m_props = [p for p in writable if p.direction is Direction.ONETOMANY]
        self.m2m_props = [p for p in writable if p.direction is Direction.MANYTOMANY]
        self.post_update_props = [p for p in writable if p.post_update]
        self.save_update_props = [p for p in self.rel_list if p.cascade.save_update]
        self.save_update_keys = frozenset(p.key for p in self.save_update_props)
        self.save_update_key_tuple = tuple(p.key for p in self.save_update_props)
        self.o2m_keys = frozenset(p.key for p in self.o2m_props)
        # relationships whose loaded value a flush may copy keys along
        self.sync_keys = frozenset(p.key for p in self.m2o_props) | self.o2m_keys
        self.relationship_keys = frozenset(self.relationships)
        # what delete() must follow: delete cascades, and one-to-many children
        # whose keys become NULL (unless the database does it: passive_deletes)
        self.delete_props = [
            p
            for p in writable
            if p.cascade.delete or (p.direction is Direction.ONETOMANY and not p.passive_deletes)
        ]
        # one-to-many children that lose their key when this row is deleted
        self.nulling_props = [p for p in self.o2m_props if not p.cascade.delete]
        # relationships that order inserts (a set test on __dict__ skips the rest)
        # a one-to-many whose many-to-one partner is kept in sync by backrefs adds
        # no edges of its own: the children's side records each link once
        self.insert_dep_props = [p for p in self.m2o_props if not p.post_update] + [
            p for p in self.o2m_props if not p.post_update and not _mirrored(p)
        ]
        self.insert_dep_keys = frozenset(p.key for p in self.insert_dep_props)

    def _fk_paths(self) -> list[FkPath]:
        """Foreign keys of this table that reference a mapped table's whole primary key."""
        by_target: dict[int, list[tuple[Column[Any], Column[Any]]]] = {}
        singles: list[FkPath] = []
        for key, col in self.columns.items():
            for fk in col.foreign_keys:
                ref = fk.column
                target_pk = list(ref.table.primary_key.columns)  # type: ignore[union-attr]
                if len(target_pk) == 1:
                    if ref is target_pk[0]:
                        singles.append(FkPath(ref.table, (key,)))
                else:
                    by_target.setdefault(id(ref.table), []).append((col, ref))
        for pairs in by_target.values():
            table = pairs[0][1].table
            by_ref = {id(ref): self.column_keys_by_column[id(col)] for col, ref in pairs}
            pk = list(table.primary_key.columns)  # type: ignore[union-attr]
            if all(id(c) in by_ref for c in pk):
                singles.append(FkPath(table, tuple(by_ref[id(c)] for c in pk)))  # type: ignore[arg-type]
        return singles

    def key_of_ident(self, ident: tuple[Any, ...]) -> Any:
        """The identity-map key for a primary-key tuple."""
        return ident[0] if self.single_pk else ident

    def ident_of_key(self, key: Any) -> tuple[Any, ...]:
        """The primary-key tuple for an identity-map key."""
        return (key,) if self.single_pk else key

    def get_statement(self) -> Any:
        """``SELECT * FROM table WHERE pk = :pk_0 ...``, built once (compiled once)."""
        stmt = self.loaders.get("__get__")
        if stmt is None:
            from heron.sql import bindparam, select

            stmt = select(self.class_).where(
                *[
                    c == bindparam(name)
                    for name, c in zip(self.get_param_names, self.primary_key, strict=True)
                ]
            )
            self.loaders["__get__"] = stmt
        return stmt

    def key_for_column(self, column: Column[Any]) -> str:
        """Attribute key of a mapped column (its name when unmapped)."""
        return self.column_keys_by_column.get(id(column)) or str(column.name)

    def attribute_history(self, state: InstanceState, key: str) -> History:
        """History of one attribute: what changed since load or the last flush."""
        obj = state.obj()
        if obj is None:
            return History([], [], [])
        current = obj.__dict__.get(key, NO_VALUE)
        committed = state.committed or {}
        prop = self.relationships.get(key)
        if prop is not None and prop.uselist:
            cur = list(current) if current is not NO_VALUE else []
            if state.key is None:
                return History(cur, [], [])
            if key not in committed or committed[key] is NO_VALUE:
                return History([], cur, [])
            old = committed[key]
            old_ids = {id(o) for o in old}
            cur_ids = {id(o) for o in cur}
            return History(
                [o for o in cur if id(o) not in old_ids],
                [o for o in cur if id(o) in old_ids],
                [o for o in old if id(o) not in cur_ids],
            )
        if state.key is None:
            return History([] if current is NO_VALUE else [current], [], [])
        if key in committed:
            old = committed[key]
            if current is NO_VALUE:
                return History([], [], [] if old is NO_VALUE else [old])
            if old is not NO_VALUE and _same(old, current):
                return History([], [current], [])
            return History([current], [], [] if old is NO_VALUE else [old])
        if current is NO_VALUE:
            return History([], [], [])
        return History([], [current], [])

    def __repr__(self) -> str:
        return f"<Mapper {self.class_.__name__} -> {self.table.name}>"


def _mirrored(prop: RelationshipProperty) -> bool:
    """A one-to-many whose partner many-to-one holds the same links (kept in sync)."""
    back = prop.back
    return (
        back is not None
        and back.direction is Direction.MANYTOONE
        and not back.uselist
        and not back.post_update
        and not back.viewonly
    )


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def _is_autoincrement(col: Column[Any]) -> bool:
    auto = getattr(col, "autoincrement", "auto")
    if auto is False:
        return False
    if col.foreign_keys:
        return False
    if col.default is not None:
        return False
    pt = _python_type(col)
    return pt is int


def _python_type(col: Column[Any]) -> Any:
    try:
        return col.type.python_type
    except (NotImplementedError, AttributeError):
        return None
