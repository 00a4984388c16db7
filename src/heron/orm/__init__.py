"""heron's ORM: declarative mapping, Session, unit of work, relationship loading."""

from __future__ import annotations

from heron._util.gcpause import configure_gc
from heron.orm.decl import DeclarativeBase, Mapped, MappedColumn, mapped_column, relationship
from heron.orm.instrumentation import InstrumentedList
from heron.orm.loaders import Load, joinedload, lazyload, noload, raiseload, selectinload
from heron.orm.mapper import Mapper, configure_mappers
from heron.orm.session import Session, object_session, sessionmaker
from heron.orm.state import InstanceState

AsyncSession = Session

__all__ = [
    "AsyncSession",
    "DeclarativeBase",
    "InstanceState",
    "InstrumentedList",
    "Load",
    "Mapped",
    "MappedColumn",
    "Mapper",
    "Session",
    "configure_gc",
    "configure_mappers",
    "joinedload",
    "lazyload",
    "mapped_column",
    "noload",
    "object_session",
    "raiseload",
    "relationship",
    "selectinload",
    "sessionmaker",
]
