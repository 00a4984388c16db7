"""Relationship metadata: direction, join columns, cascades, back-references.

Layer 4 (orm). A ``RelationshipProperty`` is declared with ``relationship()``
and configured once every mapped class is known (``configure_mappers``):
then it knows its direction, the column pairs that join the two tables, and
its partner on the other side. Mistakes are reported here, at mapping time,
with the fix in the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from heron import exc
from heron.orm.state import NO_VALUE, InstanceState

if TYPE_CHECKING:
    from heron.orm.mapper import Mapper
    from heron.sql.schema import Column, Table


class Direction(Enum):
    """Which side holds the foreign key."""

    MANYTOONE = "many-to-one"
    ONETOMANY = "one-to-many"
    MANYTOMANY = "many-to-many"


_ALL = ("save-update", "merge", "refresh-expire", "expunge", "delete")
_KNOWN = {*_ALL, "delete-orphan", "all"}


@dataclass(frozen=True, slots=True)
class Cascade:
    """Parsed ``cascade=`` option."""

    save_update: bool = True
    merge: bool = True
    refresh_expire: bool = False
    expunge: bool = False
    delete: bool = False
    delete_orphan: bool = False

    @classmethod
    def parse(cls, text: str | None, owner: str) -> Cascade:
        """Parse ``"all, delete-orphan"`` style text; unknown words are an error."""
        if text is None:
            return cls()
        words = {w.strip() for w in text.split(",") if w.strip()}
        unknown = words - _KNOWN
        if unknown:
            raise exc.MappingError(
                f"{owner}: unknown cascade option(s) {sorted(unknown)}; "
                f"known options are {sorted(_KNOWN)}"
            )
        if "all" in words:
            words |= set(_ALL)
        return cls(
            save_update="save-update" in words,
            merge="merge" in words,
            refresh_expire="refresh-expire" in words,
            expunge="expunge" in words,
            delete="delete" in words,
            delete_orphan="delete-orphan" in words,
        )


class RelationshipProperty:
    """What ``relationship()`` declares; configured lazily against the registry."""

    def __init__(
        self,
        argument: Any = None,
        *,
        secondary: Any = None,
        back_populates: str | None = None,
        backref: str | tuple[str, dict[str, Any]] | None = None,
        uselist: bool | None = None,
        lazy: str = "select",
        cascade: str | None = None,
        order_by: Any = None,
        foreign_keys: Any = None,
        remote_side: Any = None,
        primaryjoin: Any = None,
        passive_deletes: bool = False,
        post_update: bool = False,
        viewonly: bool = False,
        innerjoin: bool = False,
    ) -> None:
        if lazy not in ("select", "joined", "selectin", "raise", "noload", "dynamic"):
            raise exc.ArgumentError(
                f"relationship(lazy={lazy!r}) is not a loader strategy; use one of "
                "'select', 'joined', 'selectin', 'raise', 'noload'"
            )
        self.argument = argument
        self.secondary_arg = secondary
        self.back_populates = back_populates
        self.backref = backref
        self.uselist_arg = uselist
        self.lazy = lazy
        self.cascade_arg = cascade
        self.order_by_arg = order_by
        self.foreign_keys_arg = foreign_keys
        self.remote_side_arg = remote_side
        self.primaryjoin = primaryjoin
        self.passive_deletes = passive_deletes
        self.post_update = post_update
        self.viewonly = viewonly
        self.innerjoin = innerjoin
        # filled by the mapper / configure()
        self.key: str = ""
        self.parent: Mapper = None  # type: ignore[assignment]
        self.annotation_target: str | None = None
        self.annotation_uselist: bool | None = None
        self.cascade = Cascade.parse(cascade, "relationship")
        self.mapper_target: Mapper | None = None
        self.back: RelationshipProperty | None = None
        self.direction: Direction = Direction.MANYTOONE
        self.uselist = bool(uselist)
        self.secondary: Table | None = None
        # (parent column, child column) pairs: parent-side value flows into child-side column
        self.pairs: list[tuple[Column[Any], Column[Any]]] = []
        # many-to-many: (parent column, secondary column) and (target column, secondary column)
        self.secondary_pairs: list[tuple[Column[Any], Column[Any]]] = []
        self.secondary_target_pairs: list[tuple[Column[Any], Column[Any]]] = []
        self.order_by: list[Any] = []
        self.configured = False

    @property
    def target_name(self) -> str:
        if self.mapper_target is not None:
            return self.mapper_target.class_.__name__
        return str(self.annotation_target or self.argument)

    def __repr__(self) -> str:
        owner = self.parent.class_.__name__ if self.parent is not None else "?"
        return f"{owner}.{self.key}"

    # -- configuration -----------------------------------------------------
    def configure(self) -> None:
        """Resolve the target, direction, join columns and back-reference."""
        if self.configured:
            return
        registry = self.parent.registry
        self.mapper_target = self._resolve_target(registry)
        self.cascade = Cascade.parse(self.cascade_arg, repr(self))
        if self.secondary_arg is not None:
            self._configure_secondary(registry)
        else:
            self._configure_direct()
        if self.uselist_arg is not None:
            self.uselist = self.uselist_arg
        elif self.direction is Direction.MANYTOONE:
            self.uselist = False
        elif self.annotation_uselist is not None:
            self.uselist = self.annotation_uselist
        else:
            self.uselist = True
        if self.direction is Direction.MANYTOONE and self.annotation_uselist:
            raise exc.MappingError(
                f"{self} is annotated as a collection but its foreign key makes it many-to-one; "
                "annotate it as Mapped['Target'] or declare foreign_keys= / remote_side="
            )
        self.order_by = self._resolve_order_by()
        self.configured = True
        try:
            self._configure_back()
        except BaseException:
            self.configured = False
            raise

    def _resolve_target(self, registry: Any) -> Mapper:
        arg = self.argument if self.argument is not None else self.annotation_target
        if arg is None:
            raise exc.MappingError(
                f"{self} names no target class; annotate it as Mapped[list['Target']] "
                "or pass relationship('Target')"
            )
        if callable(arg) and not isinstance(arg, type):
            arg = arg()
        if isinstance(arg, str):
            cls = registry.classes.get(arg)
            if cls is None:
                known = ", ".join(sorted(registry.classes)) or "none"
                raise exc.MappingError(
                    f"{self} refers to class {arg!r}, which is not mapped in this "
                    f"declarative base (mapped classes: {known}); check the spelling or "
                    "import the module that defines it"
                )
            arg = cls
        mapper = getattr(arg, "__mapper__", None)
        if mapper is None:
            raise exc.MappingError(f"{self} targets {arg!r}, which is not a mapped class")
        return mapper  # type: ignore[no-any-return]

    def _columns_arg(self, value: Any) -> list[Column[Any]]:
        if value is None:
            return []
        if (
            callable(value)
            and not hasattr(value, "__clause_element__")
            and not hasattr(value, "table")
        ):
            value = value()
        if isinstance(value, str):
            names = [v.strip() for v in value.strip("[]").split(",") if v.strip()]
            out = []
            for name in names:
                cls_name, _, attr = name.partition(".")
                cls = self.parent.registry.classes.get(cls_name)
                if cls is None:
                    raise exc.MappingError(f"{self}: cannot resolve {name!r}")
                out.append(cls.__mapper__.columns[attr])  # type: ignore[attr-defined]
            return out
        if not isinstance(value, (list, tuple, set)):
            value = [value]
        cols = []
        for v in value:
            if hasattr(v, "__clause_element__"):
                v = v.__clause_element__()
            built = getattr(v, "column", None)
            if built is not None and type(v).__name__ == "MappedColumn":
                v = built
            cols.append(v)
        return cols

    def _configure_direct(self) -> None:
        parent_table = self.parent.table
        target_table = self.mapper_target.table  # type: ignore[union-attr]
        fk_cols = self._columns_arg(self.foreign_keys_arg)
        remote = self._columns_arg(self.remote_side_arg)
        # candidate foreign keys: (fk column, referenced column)
        cands: list[tuple[Column[Any], Column[Any]]] = []
        for table in {id(parent_table): parent_table, id(target_table): target_table}.values():
            for col in table.columns:
                for fk in col.foreign_keys:
                    ref = fk.column
                    if ref.table is parent_table or ref.table is target_table:
                        if table is parent_table and ref.table is not target_table:
                            continue
                        if table is target_table and ref.table is not parent_table:
                            continue
                        cands.append((col, ref))
        if fk_cols:
            fk_ids = {id(c) for c in fk_cols}
            cands = [c for c in cands if id(c[0]) in fk_ids]
        if not cands:
            raise exc.MappingError(
                f"{self}: no foreign key links {parent_table.name} and {target_table.name}; "
                "add a ForeignKey to one of the columns, or pass secondary= for many-to-many"
            )
        self_ref = parent_table is target_table
        if self_ref:
            if remote:
                remote_ids = {id(c) for c in remote}
                # remote side is the referenced (primary key) column: many-to-one
                if all(id(ref) in remote_ids for _, ref in cands):
                    self.direction = Direction.MANYTOONE
                else:
                    self.direction = Direction.ONETOMANY
            elif self.annotation_uselist is False and self.uselist_arg is not True:
                raise exc.MappingError(
                    f"{self} is a self-referential many-to-one ({parent_table.name} refers to "
                    f"itself) and heron cannot tell which side is remote; pass "
                    f"remote_side=[{self.parent.class_.__name__}."
                    f"{self.parent.key_for_column(cands[0][1])}]"
                )
            else:
                self.direction = Direction.ONETOMANY
        else:
            on_parent = [c for c in cands if c[0].table is parent_table]
            on_target = [c for c in cands if c[0].table is target_table]
            if on_parent and on_target:
                raise exc.MappingError(
                    f"{self}: foreign keys run both ways between {parent_table.name} and "
                    f"{target_table.name}; pass foreign_keys= to say which one this "
                    "relationship uses"
                )
            self.direction = Direction.MANYTOONE if on_parent else Direction.ONETOMANY
        # two foreign-key columns pointing at the same referenced column are two
        # paths (e.g. author_id and editor_id): ambiguous unless foreign_keys= says
        if len({id(c[1]) for c in cands}) < len(cands) and not fk_cols:
            names = ", ".join(f"{_qualname(c[0])}" for c in cands)
            raise exc.MappingError(
                f"{self}: several foreign keys could join {parent_table.name} and "
                f"{target_table.name} ({names}); pass foreign_keys=[...] naming the "
                "column this relationship uses"
            )
        # (referenced column, foreign-key column) whatever the direction
        self.pairs = [(ref, col) for col, ref in cands]

    def _configure_secondary(self, registry: Any) -> None:
        sec = self.secondary_arg
        if callable(sec) and not hasattr(sec, "columns"):
            sec = sec()
        if isinstance(sec, str):
            table = self.parent.metadata.tables.get(sec)
            if table is None:
                raise exc.MappingError(f"{self}: secondary table {sec!r} is not in the metadata")
            sec = table
        self.secondary = sec
        self.direction = Direction.MANYTOMANY
        parent_table = self.parent.table
        target_table = self.mapper_target.table  # type: ignore[union-attr]
        to_parent: list[tuple[Column[Any], Column[Any]]] = []
        to_target: list[tuple[Column[Any], Column[Any]]] = []
        for col in sec.columns:
            for fk in col.foreign_keys:
                ref = fk.column
                if ref.table is parent_table:
                    to_parent.append((ref, col))
                if ref.table is target_table:
                    to_target.append((ref, col))
        if parent_table is target_table:
            fk_cols = self._columns_arg(self.foreign_keys_arg)
            if len(to_parent) == 2 and not fk_cols:
                # self-referential many-to-many: first fk is "this side" by declaration order
                to_target = [to_parent[1]]
                to_parent = [to_parent[0]]
        if not to_parent or not to_target:
            raise exc.MappingError(
                f"{self}: secondary table {sec.name} needs foreign keys to both "
                f"{parent_table.name} and {target_table.name}"
            )
        self.secondary_pairs = to_parent
        self.secondary_target_pairs = to_target

    def _resolve_order_by(self) -> list[Any]:
        ob = self.order_by_arg
        if ob is None or ob is False:
            return []
        if callable(ob) and not hasattr(ob, "__clause_element__") and not hasattr(ob, "compare"):
            ob = ob()
        if isinstance(ob, str):
            target = self.mapper_target.class_  # type: ignore[union-attr]
            return [getattr(target, ob.split(".")[-1])]
        if not isinstance(ob, (list, tuple)):
            ob = [ob]
        return list(ob)

    def _configure_back(self) -> None:
        target = self.mapper_target
        assert target is not None
        if self.back_populates:
            other = target.relationships.get(self.back_populates)
            if other is None:
                raise exc.MappingError(
                    f"{self} has back_populates={self.back_populates!r}, but "
                    f"{target.class_.__name__} has no relationship named "
                    f"{self.back_populates!r} (its relationships: "
                    f"{sorted(target.relationships) or 'none'})"
                )
            self.back = other
            if other.back_populates is None and other.backref is None:
                other.back = self
        elif self.backref:
            name, kw = (self.backref, {}) if isinstance(self.backref, str) else self.backref
            if name in target.relationships:
                raise exc.MappingError(
                    f"{self}: backref {name!r} collides with an existing relationship on "
                    f"{target.class_.__name__}; use back_populates instead"
                )
            kw = dict(kw)
            if self.direction is Direction.MANYTOMANY:
                kw.setdefault("secondary", self.secondary)
            elif self.direction is Direction.ONETOMANY:
                kw.setdefault("uselist", False)
                if self.parent is target:
                    kw.setdefault("remote_side", [p for p, _ in self.pairs])
            other = RelationshipProperty(self.parent.class_, back_populates=self.key, **kw)
            target.add_relationship(name, other)
            self.back = other
            other.configure()

    # -- identity-map resolution (no I/O) ----------------------------------
    def resolve_from_identity_map(self, state: InstanceState, obj: object) -> tuple[bool, Any]:
        """For a many-to-one: find the target by foreign key in the session's identity map."""
        if self.direction is not Direction.MANYTOONE or self.secondary is not None:
            return False, None
        d = obj.__dict__
        values = []
        for _, fk_col in self.pairs:
            key = self.parent.column_keys_by_column.get(id(fk_col))
            if key is None or key not in d:
                return False, None
            values.append(d[key])
        if all(v is None for v in values):
            return True, None
        target = self.mapper_target
        assert target is not None
        ident = self._target_identity(values)
        if ident is None:
            return False, None
        session = state.session
        if session is None:
            return False, None
        found = session._identity_lookup(target, ident)
        if found is None:
            return False, None
        return True, found

    def _target_identity(self, values: Sequence[Any]) -> tuple[Any, ...] | None:
        target = self.mapper_target
        assert target is not None
        by_ref = {id(ref): v for (ref, _), v in zip(self.pairs, values, strict=True)}
        out = []
        for pk in target.primary_key:
            if id(pk) not in by_ref:
                return None
            out.append(by_ref[id(pk)])
        return tuple(out)

    def current_value(self, obj: object) -> Any:
        """The loaded value or NO_VALUE."""
        return obj.__dict__.get(self.key, NO_VALUE)


def _qualname(column: Any) -> str:
    """``table.column`` for messages."""
    table = column.table
    return f"{table.name if table is not None else '?'}.{column.name}"
