"""heron's ORM: declarative mapping, Session, unit of work, relationship loading."""

from __future__ import annotations

from heron.orm.decl import DeclarativeBase, Mapped, MappedColumn, mapped_column, relationship
from heron.orm.instrumentation import InstrumentedList
from heron.orm.mapper import Mapper, configure_mappers
from heron.orm.session import Session, object_session, sessionmaker
from heron.orm.state import InstanceState

AsyncSession = Session

__all__ = [
    "AsyncSession",
    "DeclarativeBase",
    "InstanceState",
    "InstrumentedList",
    "Mapped",
    "MappedColumn",
    "Mapper",
    "Session",
    "configure_mappers",
    "mapped_column",
    "object_session",
    "relationship",
    "sessionmaker",
]
