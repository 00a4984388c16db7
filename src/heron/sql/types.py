"""Column types: Python type, DDL name per dialect, and value conversion.

Layer 3 (sql). A type converts values only where a driver needs it (JSON,
UUID and dates on SQLite, Enum names, ...). Conversions are handed out as
closures by ``bind_processor(dialect)`` / ``result_processor(dialect)``, which
return None when nothing is needed; the compiler asks once per column per
compiled statement, so no per-value type lookup happens on the hot path.
Processors receive every value, None included, and pass None through.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import types as pytypes
import uuid
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, Union, get_args, get_origin

from heron.exc import ArgumentError
from heron.sql.base import shape

if TYPE_CHECKING:
    from heron.dialect.base import Dialect

T = TypeVar("T")
Processor = Callable[[Any], Any]

_UTC = dt.UTC


class TypeEngine(Generic[T]):
    """Base of every column type.

    Attributes:
        python_type: the Python type values of this column have (for validation).
    """

    python_type: ClassVar[type] = object
    # Lets operators choose '||' for '+' and LIKE helpers know their operand.
    _is_string: ClassVar[bool] = False
    _is_numeric: ClassVar[bool] = False

    @cached_property
    def _key(self) -> int:
        """Hashable identity of the type's shape (class and parameters) for cache keys."""
        return shape(type(self))

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        """Return a function converting a Python value for the driver, or None."""
        return None

    def result_processor(self, dialect: Dialect) -> Processor | None:
        """Return a function converting a driver value to Python, or None."""
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TypeEngine) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NullType(TypeEngine[Any]):
    """The type of an expression whose type is unknown (untyped literals, text()).

    On SQLite its bind processor adapts the Python values sqlite3 cannot store
    (datetime, Decimal, UUID, ...) by looking at the value's type — the only
    per-value lookup, and only for parameters heron knows nothing about.
    """

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_datetime:
            return None
        return _adapt_unknown_for_sqlite


class Integer(TypeEngine[int]):
    """A 32-bit integer (``INTEGER``)."""

    python_type = int
    _is_numeric = True


class BigInteger(Integer):
    """A 64-bit integer (``BIGINT``)."""


class SmallInteger(Integer):
    """A 16-bit integer (``SMALLINT``)."""


class Float(TypeEngine[float]):
    """A double-precision floating-point number."""

    python_type = float
    _is_numeric = True


class Numeric(TypeEngine[decimal.Decimal]):
    """An exact decimal number, returned as ``Decimal`` on every backend.

    SQLite keeps numbers with NUMERIC affinity, i.e. up to 15 significant
    digits exactly; PostgreSQL keeps ``NUMERIC(precision, scale)`` exactly.

    Args:
        precision: total digits, or None for unconstrained.
        scale: digits after the decimal point; results are quantized to it.
    """

    python_type = decimal.Decimal
    _is_numeric = True

    def __init__(self, precision: int | None = None, scale: int | None = None) -> None:
        self.precision = precision
        self.scale = scale

    @cached_property
    def _key(self) -> int:
        return shape(type(self), self.precision, self.scale)

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_decimal:
            return None

        def process(value: Any) -> Any:
            # sqlite3 cannot bind Decimal; its text form keeps every digit and
            # NUMERIC affinity turns it into a number for comparisons.
            if isinstance(value, decimal.Decimal):
                return str(value)
            return value

        return process

    def result_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_decimal:
            return None
        quantum = decimal.Decimal(1).scaleb(-self.scale) if self.scale is not None else None

        def process(value: Any) -> Any:
            if value is None or isinstance(value, decimal.Decimal):
                return value
            # repr of a float is its shortest round-tripping form, so 0.1 stays 0.1.
            result = decimal.Decimal(repr(value) if isinstance(value, float) else str(value))
            if quantum is not None and result.is_finite():
                result = result.quantize(quantum)
            return result

        return process

    def __repr__(self) -> str:
        return f"Numeric({self.precision}, {self.scale})"


class String(TypeEngine[str]):
    """Text of at most ``length`` characters (``VARCHAR(length)``).

    On PostgreSQL a NUL character cannot be stored; the bind processor
    rejects it up front with an ``ArgumentError`` naming the column instead of
    the server's encoding error.
    """

    python_type = str
    _is_string = True

    def __init__(self, length: int | None = None) -> None:
        self.length = length

    @cached_property
    def _key(self) -> int:
        return shape(type(self), self.length)

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        if not dialect.rejects_nul_in_text:
            return None
        return _reject_nul

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.length})" if self.length else f"{type(self).__name__}()"
        )


class Text(String):
    """Text of any length (``TEXT``)."""

    def __init__(self) -> None:
        super().__init__(None)


def _reject_nul(value: Any) -> Any:
    if type(value) is str and "\x00" in value:
        raise NulCharacterError()
    return value


def process_column(proc: Processor, values: list[Any]) -> list[Any]:
    """Apply a bind processor to a column of values: ``list(map(proc, values))``.

    The NUL check (PostgreSQL text's only processor) returns its input
    unchanged, so a column of plain strings is checked by one C-level join
    and scan instead of one call per value (hot path: benchmarks W1).
    """
    if proc is _reject_nul:
        try:
            if "\x00" not in "".join(values):
                return values
        except TypeError:  # None or other non-str values: value by value
            pass
    return list(map(proc, values))


class NulCharacterError(ArgumentError):
    """Internal signal: a NUL character in text; re-raised naming the column."""

    def __init__(self, column: str | None = None) -> None:
        where = f" for column {column!r}" if column else ""
        super().__init__(
            f"text value{where} contains a NUL character (\\x00), which PostgreSQL cannot "
            "store in text columns; strip it or use LargeBinary"
        )
        self.column = column


class Boolean(TypeEngine[bool]):
    """True/False; stored as 0/1 where the database has no boolean type."""

    python_type = bool

    def result_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_boolean:
            return None

        def process(value: Any) -> Any:
            return None if value is None else bool(value)

        return process


class DateTime(TypeEngine[dt.datetime]):
    """A date and time; ``timezone=True`` stores an instant and returns aware values.

    With ``timezone=True`` naive values are taken as UTC and results come back
    as aware datetimes in UTC on both backends. On SQLite values are ISO text
    (``YYYY-MM-DD HH:MM:SS.ffffff``), normalised to UTC for ``timezone=True``,
    so they sort and compare correctly and match ``CURRENT_TIMESTAMP``. An
    aware value bound to a ``timezone=False`` column is converted to UTC and
    stored naive.
    """

    python_type = dt.datetime

    def __init__(self, timezone: bool = False) -> None:
        self.timezone = timezone

    @cached_property
    def _key(self) -> int:
        return shape(type(self), self.timezone)

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_datetime:
            return _to_aware_utc if self.timezone else _to_naive_utc
        timezone = self.timezone

        def process(value: Any) -> Any:
            if isinstance(value, dt.datetime):
                if value.tzinfo is not None:
                    value = value.astimezone(_UTC).replace(tzinfo=None)
                return f"{value:%Y-%m-%d %H:%M:%S.%f}"
            if isinstance(value, dt.date) and not timezone:
                return f"{value:%Y-%m-%d} 00:00:00.000000"
            return value

        return process

    def result_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_datetime:
            return None
        if self.timezone:

            def process_aware(value: Any) -> Any:
                if value is None or isinstance(value, dt.datetime):
                    return value
                parsed = dt.datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=_UTC)
                return parsed.astimezone(_UTC)

            return process_aware

        def process(value: Any) -> Any:
            if value is None or isinstance(value, dt.datetime):
                return value
            return dt.datetime.fromisoformat(value)

        return process

    def __repr__(self) -> str:
        return f"DateTime(timezone={self.timezone})"


def _to_aware_utc(value: Any) -> Any:
    # asyncpg would read a naive value as machine-local time; heron's rule is UTC.
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=_UTC)
    return value


def _to_naive_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(_UTC).replace(tzinfo=None)
    return value


class Date(TypeEngine[dt.date]):
    """A calendar date (ISO text on SQLite)."""

    python_type = dt.date

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_datetime:
            return None

        def process(value: Any) -> Any:
            if isinstance(value, dt.datetime):
                value = value.date()
            if isinstance(value, dt.date):
                return value.isoformat()
            return value

        return process

    def result_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_datetime:
            return None

        def process(value: Any) -> Any:
            if value is None or isinstance(value, dt.date):
                return value
            return dt.date.fromisoformat(value[:10])

        return process


class Time(TypeEngine[dt.time]):
    """A time of day (ISO text on SQLite)."""

    python_type = dt.time

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_datetime:
            return None

        def process(value: Any) -> Any:
            if isinstance(value, dt.time):
                return f"{value:%H:%M:%S.%f}"
            return value

        return process

    def result_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_datetime:
            return None

        def process(value: Any) -> Any:
            if value is None or isinstance(value, dt.time):
                return value
            return dt.time.fromisoformat(value)

        return process


class Interval(TypeEngine[dt.timedelta]):
    """A duration; whole microseconds in an integer column on SQLite."""

    python_type = dt.timedelta

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_interval:
            return None

        def process(value: Any) -> Any:
            if isinstance(value, dt.timedelta):
                return value // _MICROSECOND
            return value

        return process

    def result_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_interval:
            return None

        def process(value: Any) -> Any:
            if value is None or isinstance(value, dt.timedelta):
                return value
            return dt.timedelta(microseconds=int(value))

        return process


_MICROSECOND = dt.timedelta(microseconds=1)


class JSON(TypeEngine[Any]):
    """A JSON document (``JSONB`` on PostgreSQL, text on SQLite).

    Python None is SQL NULL; every other value is serialised with ``json.dumps``.
    """

    python_type = object

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_json:
            return None
        dumps = json.dumps

        def process(value: Any) -> Any:
            return None if value is None else dumps(value)

        return process

    def result_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_json:
            return None
        loads = json.loads

        def process(value: Any) -> Any:
            return None if value is None or not isinstance(value, str | bytes) else loads(value)

        return process


class LargeBinary(TypeEngine[bytes]):
    """Bytes (``BYTEA`` on PostgreSQL, ``BLOB`` on SQLite); both drivers return ``bytes``."""

    python_type = bytes


class Uuid(TypeEngine[uuid.UUID]):
    """A UUID (native on PostgreSQL, 36-character text on SQLite)."""

    python_type = uuid.UUID

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_uuid:
            return None

        def process(value: Any) -> Any:
            if isinstance(value, uuid.UUID):
                return str(value)
            if isinstance(value, str):
                return str(uuid.UUID(value))
            return value

        return process

    def result_processor(self, dialect: Dialect) -> Processor | None:
        if dialect.native_uuid:
            # asyncpg returns a uuid.UUID subclass that hashes and compares
            # equal to the stdlib one: converting each value would only cost.
            return None

        def process(value: Any) -> Any:
            return None if value is None else uuid.UUID(value)

        return process


E = TypeVar("E", bound=enum.Enum)


class Enum(TypeEngine[E]):
    """A Python ``enum.Enum``, stored as the member's NAME in a ``VARCHAR``.

    Args:
        enum_class: the Enum subclass.
        length: the VARCHAR length; defaults to the longest member name.
    """

    def __init__(self, enum_class: type[E], length: int | None = None) -> None:
        if not (isinstance(enum_class, type) and issubclass(enum_class, enum.Enum)):
            raise ArgumentError(f"Enum() needs an enum.Enum subclass, got {enum_class!r}")
        self.enum_class = enum_class
        names = list(enum_class.__members__)
        self.length = length or max((len(name) for name in names), default=1)

    @property
    def python_type(self) -> type:  # type: ignore[override]  # per instance, not per class
        return self.enum_class

    @cached_property
    def _key(self) -> int:
        return shape(type(self), self.enum_class, self.length)

    def bind_processor(self, dialect: Dialect) -> Processor | None:
        enum_class = self.enum_class
        members = enum_class.__members__

        def process(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, enum_class):
                return value.name
            if isinstance(value, str) and value in members:
                return value
            raise ArgumentError(
                f"{value!r} is not a member of {enum_class.__name__}; "
                f"use one of {', '.join(members)}"
            )

        return process

    def result_processor(self, dialect: Dialect) -> Processor | None:
        members = self.enum_class.__members__

        def process(value: Any) -> Any:
            return None if value is None else members[value]

        return process

    def __repr__(self) -> str:
        return f"Enum({self.enum_class.__name__})"


# -- value adaptation for untyped parameters on SQLite ------------------------------


def _adapt_unknown_for_sqlite(value: Any) -> Any:
    adapt = _SQLITE_ADAPTERS.get(type(value))
    if adapt is None:
        if isinstance(value, enum.Enum):
            return value.name
        return value
    return adapt(value)


_SQLITE_ADAPTERS: dict[type, Processor] = {
    dt.datetime: lambda v: (
        f"{(v.astimezone(_UTC).replace(tzinfo=None) if v.tzinfo else v):%Y-%m-%d %H:%M:%S.%f}"
    ),
    dt.date: lambda v: v.isoformat(),
    dt.time: lambda v: f"{v:%H:%M:%S.%f}",
    dt.timedelta: lambda v: v // _MICROSECOND,
    decimal.Decimal: str,
    uuid.UUID: str,
    dict: json.dumps,
}


# -- Python type -> column type ------------------------------------------------------

_ANNOTATION_TYPES: dict[type, Callable[[], TypeEngine[Any]]] = {
    bool: Boolean,
    int: Integer,
    float: Float,
    str: String,
    bytes: LargeBinary,
    decimal.Decimal: Numeric,
    dt.datetime: DateTime,
    dt.date: Date,
    dt.time: Time,
    dt.timedelta: Interval,
    uuid.UUID: Uuid,
    dict: JSON,
    list: JSON,
}


def type_for_annotation(python_type: Any) -> TypeEngine[Any]:
    """Return a new column type for a Python type (as written in ``Mapped[...]``).

    ``int`` -> Integer, ``str`` -> String, ``bool`` -> Boolean, ``float`` ->
    Float, ``Decimal`` -> Numeric, ``datetime`` -> DateTime, ``date`` -> Date,
    ``time`` -> Time, ``timedelta`` -> Interval, ``UUID`` -> Uuid, ``bytes`` ->
    LargeBinary, ``dict``/``list`` (also parametrised) -> JSON, an Enum subclass
    -> Enum. Strip ``X | None`` first with ``unwrap_optional``.

    Raises:
        ArgumentError: no column type is known for ``python_type``.
    """
    origin = get_origin(python_type)
    if origin is not None and origin in (dict, list):
        return JSON()
    if isinstance(python_type, type):
        if issubclass(python_type, enum.Enum):
            return Enum(python_type)
        for klass in python_type.__mro__:
            factory = _ANNOTATION_TYPES.get(klass)
            if factory is not None:
                return factory()
    raise ArgumentError(
        f"no column type is known for {python_type!r}; pass one explicitly, "
        "e.g. mapped_column(String(50)) or Column('x', JSON)"
    )


def unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """Split ``X | None`` / ``Optional[X]`` into ``(X, True)``; anything else is ``(it, False)``.

    A union of several non-None types is returned unchanged (with the flag
    telling whether None was among them).
    """
    origin = get_origin(annotation)
    if origin is Union or origin is pytypes.UnionType:
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(args) != len(get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return annotation, optional
    return annotation, False


def to_instance(type_: Any) -> TypeEngine[Any]:
    """Accept a type class or instance (``Integer`` or ``Integer()``); return an instance."""
    if type_ is None:
        return NullType()
    if isinstance(type_, TypeEngine):
        return type_
    if isinstance(type_, type) and issubclass(type_, TypeEngine):
        return type_()
    raise ArgumentError(f"expected a column type such as Integer or String(50), got {type_!r}")


def type_for_value(value: Any) -> TypeEngine[Any]:
    """The type a literal value gets when nothing else says (NullType when unsure)."""
    klass = type(value)
    if klass is dt.datetime and value.tzinfo is not None:
        return _AWARE_DATETIME
    cached = _VALUE_TYPES.get(klass)
    if cached is not None:
        return cached
    if isinstance(value, enum.Enum):
        return Enum(klass)
    return _NULLTYPE


_NULLTYPE = NullType()
_AWARE_DATETIME = DateTime(timezone=True)
_VALUE_TYPES: dict[type, TypeEngine[Any]] = {
    bool: Boolean(),
    int: Integer(),
    float: Float(),
    str: String(),
    bytes: LargeBinary(),
    decimal.Decimal: Numeric(),
    dt.datetime: DateTime(timezone=False),
    dt.date: Date(),
    dt.time: Time(),
    dt.timedelta: Interval(),
    uuid.UUID: Uuid(),
}

__all__ = [
    "JSON",
    "BigInteger",
    "Boolean",
    "Date",
    "DateTime",
    "Enum",
    "Float",
    "Integer",
    "Interval",
    "LargeBinary",
    "NullType",
    "Numeric",
    "SmallInteger",
    "String",
    "Text",
    "Time",
    "TypeEngine",
    "Uuid",
    "to_instance",
    "type_for_annotation",
    "type_for_value",
    "unwrap_optional",
]
