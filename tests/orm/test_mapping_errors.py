"""Invalid model declarations raise heron.exc.MappingError with a useful message.

heron may find a problem when the class is created or when mappers are
configured (on first use, or by ``heron.orm.configure_mappers()``); each test
accepts either by putting class creation and first use (instantiating the
classes) inside ``pytest.raises``. ``configure_mappers()`` itself configures
every live base, so it has one test of its own. Every broken model lives on its
own throwaway base, and each test then checks that the well-formed models in
``models.Base`` still work against the database: one bad declaration must not
poison unrelated mappings.

No ``from __future__ import annotations`` here, as in models.py: the models are
written the way DESIGN.md §4 shows them.
"""

import gc
from collections.abc import Callable
from typing import Any

import pytest

import heron.orm
from heron import Column, ForeignKey, Integer, String, exc, select
from heron.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .models import User


def _declare_and_configure(declare: Callable[[], tuple[type, ...]]) -> exc.MappingError:
    with pytest.raises(exc.MappingError) as info:
        for cls in declare():
            cls()  # first use configures the base's mappers
    return info.value


async def _shared_models_still_work(session_factory: Any) -> None:
    gc.collect()
    async with session_factory() as session:
        session.add(User(name="still fine"))
        await session.commit()
        names = (await session.scalars(select(User.name))).all()
    assert names == ["still fine"]


async def test_model_without_primary_key_is_rejected(session_factory: Any) -> None:
    def declare() -> tuple[type, ...]:
        class KeylessBase(DeclarativeBase):
            pass

        class Keyless(KeylessBase):
            __tablename__ = "orm_err_keyless"
            name: Mapped[str] = mapped_column(String(20))

        return (Keyless,)

    error = _declare_and_configure(declare)
    assert "Keyless" in str(error)
    assert "primary key" in str(error).lower()
    await _shared_models_still_work(session_factory)


async def test_relationship_to_unknown_class_is_rejected(session_factory: Any) -> None:
    def declare() -> tuple[type, ...]:
        class GhostBase(DeclarativeBase):
            pass

        class Haunted(GhostBase):
            __tablename__ = "orm_err_haunted"
            id: Mapped[int] = mapped_column(primary_key=True)
            ghosts: Mapped[list["NoSuchGhost"]] = relationship()  # noqa: F821

        return (Haunted,)

    error = _declare_and_configure(declare)
    assert "NoSuchGhost" in str(error)
    await _shared_models_still_work(session_factory)


async def test_ambiguous_foreign_keys_suggest_foreign_keys_argument(session_factory: Any) -> None:
    def declare() -> tuple[type, ...]:
        class ShipBase(DeclarativeBase):
            pass

        class Port(ShipBase):
            __tablename__ = "orm_err_port"
            id: Mapped[int] = mapped_column(primary_key=True)

        class Voyage(ShipBase):
            __tablename__ = "orm_err_voyage"
            id: Mapped[int] = mapped_column(primary_key=True)
            origin_id: Mapped[int] = mapped_column(ForeignKey("orm_err_port.id"))
            destination_id: Mapped[int] = mapped_column(ForeignKey("orm_err_port.id"))
            origin: Mapped["Port"] = relationship()

        return (Voyage,)

    error = _declare_and_configure(declare)
    message = str(error)
    assert "origin" in message
    assert "foreign_keys" in message
    await _shared_models_still_work(session_factory)


async def test_relationship_without_any_foreign_key_path_is_rejected(
    session_factory: Any,
) -> None:
    def declare() -> tuple[type, ...]:
        class IslandBase(DeclarativeBase):
            pass

        class Island(IslandBase):
            __tablename__ = "orm_err_island"
            id: Mapped[int] = mapped_column(primary_key=True)
            boats: Mapped[list["Boat"]] = relationship()

        class Boat(IslandBase):
            __tablename__ = "orm_err_boat"
            id: Mapped[int] = mapped_column(primary_key=True)

        return (Island, Boat)

    error = _declare_and_configure(declare)
    assert "boats" in str(error)
    await _shared_models_still_work(session_factory)


async def test_self_referential_many_to_one_without_remote_side_is_rejected(
    session_factory: Any,
) -> None:
    def declare() -> tuple[type, ...]:
        class TreeBase(DeclarativeBase):
            pass

        class Branch(TreeBase):
            __tablename__ = "orm_err_branch"
            id: Mapped[int] = mapped_column(primary_key=True)
            parent_id: Mapped[int | None] = mapped_column(ForeignKey("orm_err_branch.id"))
            parent: Mapped["Branch"] = relationship(back_populates="children")
            children: Mapped[list["Branch"]] = relationship(back_populates="parent")

        return (Branch,)

    error = _declare_and_configure(declare)
    assert "remote_side" in str(error)
    await _shared_models_still_work(session_factory)


async def test_back_populates_naming_no_attribute_is_rejected(session_factory: Any) -> None:
    def declare() -> tuple[type, ...]:
        class LibBase(DeclarativeBase):
            pass

        class Library(LibBase):
            __tablename__ = "orm_err_library"
            id: Mapped[int] = mapped_column(primary_key=True)
            books: Mapped[list["Book"]] = relationship(back_populates="no_such_attr")

        class Book(LibBase):
            __tablename__ = "orm_err_book"
            id: Mapped[int] = mapped_column(primary_key=True)
            library_id: Mapped[int] = mapped_column(ForeignKey("orm_err_library.id"))

        return (Library, Book)

    error = _declare_and_configure(declare)
    assert "no_such_attr" in str(error)
    await _shared_models_still_work(session_factory)


async def test_classic_table_without_primary_key_is_rejected(session_factory: Any) -> None:
    def declare() -> tuple[type, ...]:
        class ClassicBase(DeclarativeBase):
            pass

        class Loose(ClassicBase):
            __tablename__ = "orm_err_loose"
            value = Column(Integer)

        return (Loose,)

    error = _declare_and_configure(declare)
    assert "Loose" in str(error)
    await _shared_models_still_work(session_factory)


async def test_configure_mappers_reports_a_broken_base_and_forgets_it_once_dropped(
    session_factory: Any,
) -> None:
    gc.collect()
    heron.orm.configure_mappers()  # throwaway bases of earlier tests are gone

    class DanglingBase(DeclarativeBase):
        pass

    class Dangling(DanglingBase):
        __tablename__ = "orm_err_dangling"
        id: Mapped[int] = mapped_column(primary_key=True)
        things: Mapped[list["NoSuchThing"]] = relationship()  # noqa: F821

    with pytest.raises(exc.MappingError) as info:
        heron.orm.configure_mappers()
    assert "NoSuchThing" in str(info.value)

    del info, Dangling, DanglingBase
    gc.collect()
    heron.orm.configure_mappers()  # a dropped base no longer counts
    await _shared_models_still_work(session_factory)
