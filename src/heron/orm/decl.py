"""Declarative mapping: ``DeclarativeBase``, ``Mapped``, ``mapped_column``, ``relationship``.

Layer 4 (orm). Subclassing a ``DeclarativeBase`` subclass with a
``__tablename__`` builds its ``Table`` (from ``Mapped[...]`` annotations,
``mapped_column()`` and classic ``Column`` attributes, mixins included) and its
``Mapper``, and installs the attribute descriptors. Relationship targets are
resolved later, when every class is known.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from keyword import iskeyword
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, Union, overload

from heron import exc
from heron.orm.instrumentation import AwaitableAttrs, ColumnAttribute, RelationshipAttribute
from heron.orm.loading import _speedups
from heron.orm.mapper import Mapper, Registry, _all_registries
from heron.orm.relationships import RelationshipProperty
from heron.orm.state import NO_VALUE, STATE_KEY
from heron.sql.schema import Column, MetaData, Table
from heron.sql.types import TypeEngine, type_for_annotation

T = TypeVar("T")


class Mapped(Generic[T]):
    """Annotation for a mapped attribute: ``name: Mapped[str]``.

    At runtime the class attribute is replaced by a descriptor; for type
    checkers, instance access gives ``T`` and class access a SQL expression.
    """

    if TYPE_CHECKING:

        @overload
        def __get__(self, instance: None, owner: Any) -> ColumnAttribute[T]: ...

        @overload
        def __get__(self, instance: object, owner: Any) -> T: ...

        def __get__(self, instance: object | None, owner: Any) -> Any: ...

        def __set__(self, instance: Any, value: T) -> None: ...


class MappedColumn:
    """What ``mapped_column()`` returns: the recipe for one Column per mapped class."""

    __slots__ = ("args", "column", "kwargs", "nullable_given", "type_given")

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.args = args
        self.kwargs = kwargs
        self.type_given = bool(args) and _is_type(args[0])
        self.nullable_given = kwargs.get("nullable") is not None
        # the Column most recently built (what remote_side=[id] in a class body means)
        self.column: Column[Any] | None = None

    def build(self, key: str, annotation: _Annotation | None) -> Column[Any]:
        args = list(self.args)
        kw = dict(self.kwargs)
        name = kw.pop("name", None) or key
        type_: Any = None
        if args and _is_type(args[0]):
            type_ = args.pop(0)
        if type_ is None:
            if annotation is None or annotation.python_type is None:
                raise exc.MappingError(
                    f"column {key!r} has no type: annotate it as Mapped[int] (or another "
                    "Python type) or pass one to mapped_column(String(50))"
                )
            type_ = _type_from_python(annotation.python_type, key)
        if kw.get("nullable") is None:
            kw.pop("nullable", None)
            if kw.get("primary_key"):
                kw["nullable"] = False
            elif annotation is not None:
                kw["nullable"] = annotation.optional
            else:
                kw["nullable"] = True
        self.column = Column(name, type_, *args, **kw)
        return self.column


def mapped_column(*args: Any, **kwargs: Any) -> Any:
    """Declare a mapped column: ``id: Mapped[int] = mapped_column(primary_key=True)``.

    Positional arguments: an optional type (``String(30)``) and ``ForeignKey``
    objects. Keywords: ``primary_key``, ``nullable`` (default: from the
    annotation, ``X | None`` meaning nullable), ``default`` (value or callable),
    ``server_default``, ``unique``, ``index``, ``autoincrement``, ``name``,
    ``onupdate``.
    """
    return MappedColumn(args, kwargs)


def relationship(argument: Any = None, **kwargs: Any) -> Any:
    """Declare a relationship to another mapped class.

    Example::

        addresses: Mapped[list["Address"]] = relationship(
            back_populates="user", cascade="all, delete-orphan")

    Keywords: ``back_populates``, ``backref``, ``uselist``, ``secondary``,
    ``lazy`` ("select", "joined", "selectin", "raise", "noload"), ``cascade``,
    ``order_by``, ``foreign_keys``, ``remote_side``, ``passive_deletes``,
    ``post_update``, ``viewonly``.
    """
    return RelationshipProperty(argument, **kwargs)


def _is_type(value: Any) -> bool:
    return isinstance(value, TypeEngine) or (
        isinstance(value, type) and issubclass(value, TypeEngine)
    )


def _type_from_python(python_type: Any, key: str) -> Any:
    try:
        return type_for_annotation(python_type)
    except (exc.ArgumentError, KeyError, TypeError) as e:
        raise exc.MappingError(
            f"column {key!r}: no SQL type known for Python type {python_type!r}; pass one "
            f"explicitly, e.g. mapped_column(String(50))"
        ) from e


# -- annotations -------------------------------------------------------------


class _Annotation:
    __slots__ = ("collection", "optional", "python_type", "target")

    def __init__(self) -> None:
        self.python_type: Any = None
        self.optional = False
        self.collection: bool | None = None
        self.target: Any = None  # class or class name, for relationships


def _strip_quotes(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    return text


def _split_mapped(text: str) -> str | None:
    text = _strip_quotes(text)
    idx = text.find("Mapped[")
    if idx < 0 or not text.endswith("]"):
        return None
    return text[idx + len("Mapped[") : -1].strip()


def _parse_text(inner: str, namespace: dict[str, Any]) -> _Annotation:
    ann = _Annotation()
    inner = _strip_quotes(inner)
    low = inner
    for prefix in ("Optional[",):
        if low.startswith(prefix) and low.endswith("]"):
            ann.optional = True
            inner = low[len(prefix) : -1].strip()
    parts = [p.strip() for p in _split_top(inner, "|")]
    if len(parts) > 1 and "None" in parts:
        ann.optional = True
        parts = [p for p in parts if p != "None"]
        inner = " | ".join(parts)
    inner = _strip_quotes(inner)
    for coll in ("list[", "List[", "set[", "Set[", "typing.List["):
        if inner.startswith(coll) and inner.endswith("]"):
            ann.collection = True
            ann.target = _strip_quotes(inner[len(coll) : -1])
            return ann
    try:
        value = eval(inner, namespace)  # annotations are the class author's own code
    except Exception:
        ann.target = inner
        ann.collection = False
        return ann
    _fill_from_object(ann, value)
    return ann


def _split_top(text: str, sep: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def _fill_from_object(ann: _Annotation, value: Any) -> None:
    origin = typing.get_origin(value)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(value) if a is not type(None)]
        if len(args) < len(typing.get_args(value)):
            ann.optional = True
        value = args[0] if len(args) == 1 else value
        origin = typing.get_origin(value)
    if origin in (list, set):
        ann.collection = True
        (arg,) = typing.get_args(value)
        ann.target = arg.__forward_arg__ if isinstance(arg, typing.ForwardRef) else arg
        return
    if isinstance(value, typing.ForwardRef):
        ann.target = value.__forward_arg__
        ann.collection = False
        return
    if isinstance(value, str):
        ann.target = value
        ann.collection = False
        return
    ann.python_type = value
    if isinstance(value, type) and (
        hasattr(value, "__mapper__") or issubclass(value, DeclarativeBase)
    ):
        ann.target = value
        ann.collection = False


def _parse_annotation(raw: Any, namespace: dict[str, Any]) -> _Annotation | None:
    if isinstance(raw, str):
        inner = _split_mapped(raw)
        if inner is None:
            return None
        return _parse_text(inner, namespace)
    origin = typing.get_origin(raw)
    if origin is None or not (isinstance(origin, type) and issubclass(origin, Mapped)):
        return None
    (arg,) = typing.get_args(raw)
    ann = _Annotation()
    if isinstance(arg, typing.ForwardRef):
        return _parse_text(arg.__forward_arg__, namespace)
    _fill_from_object(ann, arg)
    return ann


# -- the base ----------------------------------------------------------------


class DeclarativeBase:
    """Subclass once to get a declarative base; subclass that to map classes.

    Example::

        class Base(DeclarativeBase):
            pass

        class User(Base):
            __tablename__ = "user_account"
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(String(30))
    """

    metadata: ClassVar[MetaData]
    registry: ClassVar[Registry]
    __mapper__: ClassVar[Mapper]
    __table__: ClassVar[Table]
    __tablename__: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if DeclarativeBase in cls.__bases__:
            if "metadata" not in cls.__dict__:
                cls.metadata = MetaData()
            cls.registry = Registry(cls.metadata)
            _all_registries.add(cls.registry)
            return
        if cls.__dict__.get("__abstract__", False):
            return
        if "__tablename__" not in cls.__dict__ and "__table__" not in cls.__dict__:
            raise exc.MappingError(
                f"{cls.__name__} has no __tablename__; give it one, or mark it "
                "__abstract__ = True if it only provides columns to subclasses"
            )
        if any(hasattr(b, "__mapper__") and "__mapper__" in b.__dict__ for b in cls.__mro__[1:]):
            raise exc.MappingError(
                f"{cls.__name__} subclasses a mapped class; table inheritance is not supported "
                "yet: share columns through a mixin class or an __abstract__ base instead"
            )
        _map_class(cls)

    def __init__(self, /, **kwargs: Any) -> None:
        mapper = type(self).__mapper__
        if mapper.registry.configured is False:
            mapper.registry.configure()
        cls = type(self)
        d = self.__dict__
        # a new object has no state yet: column values go straight in (no history)
        columns = mapper.column_key_set if STATE_KEY not in d else frozenset()
        if columns.issuperset(kwargs):
            # hot path: benchmarks W1 -- only column values, set in one C call
            d.update(kwargs)
            return
        for key, value in kwargs.items():
            if key in columns:
                d[key] = value
                continue
            if key not in mapper.all_attribute_keys and not hasattr(cls, key):
                raise TypeError(
                    f"{key!r} is an invalid keyword argument for {cls.__name__}; "
                    f"mapped attributes are {sorted(mapper.all_attribute_keys)}"
                )
            setattr(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        # hot path: benchmarks W5 (attribute set). Only column keys are tracked
        # here; relationships are data descriptors and track themselves.
        mapper = type(self).__mapper__
        if key in mapper.column_key_set:
            d = self.__dict__
            state = d.get(STATE_KEY)
            if state is not None:
                if state.key is not None:
                    committed = state.committed
                    if committed is None:
                        state.committed = {key: d.get(key, NO_VALUE)}
                    elif key not in committed:
                        committed[key] = d.get(key, NO_VALUE)
                    if state.expired_keys:
                        state.expired_keys.discard(key)
                if not state.modified:
                    state.modified = True
                    session = state.session
                    if session is not None:
                        session._strong[state] = self  # held until flushed (Session._hold)
            d[key] = value
        else:
            object.__setattr__(self, key, value)

    if _speedups is not None:
        # the same method in C (heron/_speedups.c SetAttr; the Python one
        # above is its __wrapped__): hot path, benchmarks W5
        __setattr__ = _speedups.SetAttr(NO_VALUE, __setattr__)

    @property
    def awaitable_attrs(self) -> AwaitableAttrs:
        """``await obj.awaitable_attrs.NAME`` loads NAME if it is not loaded, then returns it."""
        return AwaitableAttrs(self)

    @classmethod
    def __clause_element__(cls) -> Table:
        return cls.__table__


def _namespace_for(cls: type) -> dict[str, Any]:
    module = sys.modules.get(cls.__module__)
    ns: dict[str, Any] = dict(vars(module)) if module is not None else {}
    ns.setdefault("Mapped", Mapped)
    ns[cls.__name__] = cls
    return ns


def _map_class(cls: Any) -> None:
    base = next(b for b in cls.__mro__ if DeclarativeBase in b.__bases__)
    registry: Registry = base.registry
    metadata: MetaData = base.metadata
    columns: dict[str, Column[Any]] = {}
    rels: dict[str, RelationshipProperty] = {}
    explicit_table = cls.__dict__.get("__table__")

    # walk bases first (mixins and abstract bases), then the class itself
    for klass in reversed(cls.__mro__):
        if klass is object or klass is DeclarativeBase or klass is base:
            continue
        if klass is not cls and hasattr(klass, "__mapper__"):
            continue
        ns = _namespace_for(klass)
        anns = inspect.get_annotations(klass)
        seen: set[str] = set()
        for key, raw in anns.items():
            seen.add(key)
            parsed = _parse_annotation(raw, ns)
            value = klass.__dict__.get(key, NO_VALUE)
            if parsed is None:
                if isinstance(value, (MappedColumn, RelationshipProperty)):
                    parsed = None
                else:
                    continue
            _declare(cls, key, parsed, value, columns, rels)
        for key, value in klass.__dict__.items():
            if key in seen or key.startswith("__"):
                continue
            if isinstance(value, (MappedColumn, RelationshipProperty, Column)):
                _declare(cls, key, None, value, columns, rels)

    if explicit_table is not None:
        table = explicit_table
        for col in table.columns:
            columns.setdefault(col.key, col)
    else:
        args = cls.__dict__.get("__table_args__", ())
        kw: dict[str, Any] = {}
        if isinstance(args, dict):
            kw, args = args, ()
        elif args and isinstance(args[-1], dict):
            kw, args = args[-1], args[:-1]
        table = Table(cls.__tablename__, metadata, *columns.values(), *args, **kw)
    cls.__table__ = table
    mapper = Mapper(cls, table, registry, columns, rels)
    cls.__mapper__ = mapper
    for key, col in mapper.columns.items():
        attr: ColumnAttribute[Any] = ColumnAttribute(cls, key, col)
        attr.mapper = mapper
        setattr(cls, key, attr)
    for key, prop in rels.items():
        rattr: RelationshipAttribute[Any] = RelationshipAttribute(cls, key, prop)
        rattr.mapper = mapper
        setattr(cls, key, rattr)
    if cls.__init__ is DeclarativeBase.__init__:
        cls.__init__ = _class_init(mapper)


def _class_init(mapper: Mapper) -> Any:
    """``DeclarativeBase.__init__`` for one mapped class, its lookups bound once.

    Hot path: benchmarks W1/W2 (10,000 constructions). The column and
    relationship keys are keyword-only parameters, so Python matches them
    without building a kwargs dict; on a new object column values go
    straight into its ``__dict__`` and relationships through their
    attributes, after the columns (a column store fires no event, so the
    order is not observable). Anything else (unknown names, an object that already has a
    state, mappers not configured yet) takes the general ``__init__``.
    Installed only where the class would inherit that one.
    """
    general = DeclarativeBase.__init__
    keys = sorted(mapper.column_key_set)
    # relationships declared on the class (a backref added later arrives in **rest)
    rel_keys = [k for k in mapper.relationships if k not in mapper.column_key_set]
    names = [*keys, *rel_keys]
    if not all(k.isidentifier() and not iskeyword(k) and not k.startswith("_heron") for k in names):
        init = _kwargs_init(mapper, general)
    else:
        params = "".join(f"{k}=_heron_unset, " for k in names)
        given = ", ".join(f"({k!r}, {k})" for k in names)
        stores = "".join(
            f"    if {k} is not _heron_unset:\n        _heron_d[{k!r}] = {k}\n" for k in keys
        )
        # relationships through their attributes' __set__ (what assignment
        # runs, one call instead of three), after the columns (they fire events)
        stores += "".join(
            f"    if {k} is not _heron_unset:\n        _heron_set_{k}(_heron_self, {k})\n"
            for k in rel_keys
        )
        src = (
            f"def __init__(_heron_self, *, {params}**_heron_rest):\n"
            "    _heron_d = _heron_self.__dict__\n"
            "    if (_heron_rest or not _heron_registry.configured\n"
            "            or _heron_state_key in _heron_d):\n"
            f"        _heron_general(_heron_self, **_heron_given(({given},), _heron_rest))\n"
            "        return\n"
            f"{stores}"
        )
        ns: dict[str, Any] = {
            "_heron_unset": _UNSET,
            "_heron_registry": mapper.registry,
            "_heron_state_key": STATE_KEY,
            "_heron_general": general,
            "_heron_given": _given_kwargs,
        }
        for k in rel_keys:
            ns[f"_heron_set_{k}"] = mapper.class_.__dict__[k].__set__
        exec(compile(src, f"<heron __init__ {mapper.class_.__name__}>", "exec"), ns)
        init = ns["__init__"]
    init.__doc__ = general.__doc__
    init.__qualname__ = f"{mapper.class_.__qualname__}.__init__"
    if _speedups is not None and init.__code__.co_kwonlyargcount:
        # the same __init__ in C (heron/_speedups.c Init): no Python frame and
        # no keyword matching per object; the function above stays as its
        # __wrapped__, so inspect.signature(cls) shows the keyword parameters
        setters = tuple((k, ns[f"_heron_set_{k}"]) for k in rel_keys)
        return _speedups.Init(frozenset(keys), setters, mapper.registry, init)
    return init


# default of the generated __init__'s parameters: "not given"
_UNSET: Any = object()


def _given_kwargs(pairs: tuple[tuple[str, Any], ...], rest: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments a generated ``__init__`` was called with."""
    kwargs = {k: v for k, v in pairs if v is not _UNSET}
    kwargs.update(rest)
    return kwargs


def _kwargs_init(mapper: Mapper, general: Any) -> Any:
    """The ``**kwargs`` form, for column keys that cannot be parameter names."""
    columns = mapper.column_key_set
    registry = mapper.registry

    def __init__(self: Any, /, **kwargs: Any) -> None:
        d = self.__dict__
        if registry.configured and STATE_KEY not in d and columns.issuperset(kwargs):
            d.update(kwargs)
            return
        general(self, **kwargs)

    return __init__


def _declare(
    cls: type,
    key: str,
    parsed: _Annotation | None,
    value: Any,
    columns: dict[str, Column[Any]],
    rels: dict[str, RelationshipProperty],
) -> None:
    if isinstance(value, RelationshipProperty):
        if value.key and value.parent is not None:
            # declared on a mixin: each mapped class needs its own property
            value = _copy_relationship(value)
        if parsed is not None:
            value.annotation_target = parsed.target if parsed.target is not None else None
            if isinstance(value.annotation_target, type):
                value.annotation_target = value.annotation_target.__name__
            value.annotation_uselist = parsed.collection
        rels[key] = value
        columns.pop(key, None)
        return
    if isinstance(value, Column):
        col = value
        if col.table is not None:
            col = col._copy() if hasattr(col, "_copy") else col
        if col.name is None:
            col.name = key
        if getattr(col, "key", None) in (None, col.name) and hasattr(col, "key"):
            col.key = key
        if getattr(col, "type", None) is None and parsed is not None and parsed.python_type:
            col.type = _type_from_python(parsed.python_type, key)
        columns[key] = col
        return
    if isinstance(value, MappedColumn):
        col = value.build(key, parsed)
        col.key = key
        columns[key] = col
        return
    if value is NO_VALUE and parsed is not None:
        if parsed.python_type is None or parsed.collection:
            raise exc.MappingError(
                f"{cls.__name__}.{key} is annotated as a relationship to {parsed.target!r} "
                "but has no relationship() declaration; add `= relationship(...)`"
            )
        if isinstance(parsed.python_type, type) and hasattr(parsed.python_type, "__mapper__"):
            raise exc.MappingError(
                f"{cls.__name__}.{key} is annotated with a mapped class but has no "
                "relationship(); add `= relationship(...)`"
            )
        col = MappedColumn((), {}).build(key, parsed)
        col.key = key
        columns[key] = col
        return
    # a plain class attribute with a Mapped annotation and a default value
    if parsed is not None and parsed.python_type is not None:
        col = MappedColumn((), {"default": value}).build(key, parsed)
        col.key = key
        columns[key] = col


def _copy_relationship(prop: RelationshipProperty) -> RelationshipProperty:
    return RelationshipProperty(
        prop.argument,
        secondary=prop.secondary_arg,
        back_populates=prop.back_populates,
        backref=prop.backref,
        uselist=prop.uselist_arg,
        lazy=prop.lazy,
        cascade=prop.cascade_arg,
        order_by=prop.order_by_arg,
        foreign_keys=prop.foreign_keys_arg,
        remote_side=prop.remote_side_arg,
        passive_deletes=prop.passive_deletes,
        post_update=prop.post_update,
        viewonly=prop.viewonly,
    )
