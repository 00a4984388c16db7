"""The keyword ``__init__`` of mapped classes (DESIGN.md §4). Pure: no database."""

from __future__ import annotations

from typing import Any

import pytest

from heron import ForeignKey, String, inspect
from heron.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Owner(Base):
    __tablename__ = "ctor_owner"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    pets: Mapped[list[Pet]] = relationship(back_populates="owner")


class Pet(Base):
    __tablename__ = "ctor_pet"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("ctor_owner.id"))
    owner: Mapped[Owner] = relationship(back_populates="pets")


class Greeting:
    def __init__(self, **kwargs: Any) -> None:
        self.greeted = True
        super().__init__(**kwargs)


class Greeter(Greeting, Base):
    __tablename__ = "ctor_greeter"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(20))


class Custom(Base):
    __tablename__ = "ctor_custom"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(20))

    def __init__(self, name: str) -> None:
        super().__init__(name=name.upper())


def test_column_values_are_set_and_relationships_are_instrumented() -> None:
    pet = Pet()
    owner = Owner(name="o", pets=[pet])
    assert owner.name == "o" and pet.owner is owner
    assert inspect(pet).transient and "id" not in owner.__dict__


def test_unknown_keyword_is_a_type_error_naming_the_class() -> None:
    with pytest.raises(TypeError, match="'nmae' is an invalid keyword argument for Owner"):
        Owner(nmae="x")


def test_an_inherited_or_own_init_is_kept() -> None:
    greeter = Greeter(name="g")
    assert greeter.greeted and greeter.name == "g"
    assert Custom("c").name == "C"
