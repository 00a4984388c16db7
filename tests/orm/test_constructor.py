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


class Odd(Base):
    """Column keys that cannot be parameter names (and one named ``self``)."""

    __tablename__ = "ctor_odd"

    id: Mapped[int] = mapped_column(primary_key=True)
    self: Mapped[str | None] = mapped_column(String(20))
    _heron_note: Mapped[str | None] = mapped_column(String(20))


def test_keywords_match_by_name_and_positional_arguments_are_refused() -> None:
    pet = Pet(owner_id=None, id=7)
    assert pet.__dict__["id"] == 7 and pet.__dict__["owner_id"] is None
    assert "owner" not in pet.__dict__  # not given: not set
    with pytest.raises(TypeError):
        Owner("positional")  # type: ignore[misc]


def test_columns_and_relationships_together_keep_both_sides_in_sync() -> None:
    pets = [Pet(), Pet()]
    owner = Owner(pets=pets, name="o", id=3)
    assert owner.id == 3 and owner.name == "o"
    assert list(owner.pets) == pets and all(p.owner is owner for p in pets)
    other = Owner(name="p")
    moved = Pet(owner=other, id=9)
    assert moved.owner is other and list(other.pets) == [moved]


def test_unknown_keyword_with_known_ones_is_still_refused() -> None:
    with pytest.raises(TypeError, match="'colour' is an invalid keyword argument for Pet"):
        Pet(id=1, colour="black")


def test_column_keys_that_are_not_parameter_names_still_construct() -> None:
    odd = Odd(id=1, self="me", _heron_note="n")
    assert (odd.id, odd.self, odd._heron_note) == (1, "me", "n")
    with pytest.raises(TypeError, match="'nope' is an invalid keyword argument for Odd"):
        Odd(nope=1)


def test_reinit_of_an_object_with_a_state_takes_the_general_path() -> None:
    owner = Owner(name="a")
    inspect(owner)  # gives it a state
    owner.__init__(name="b")  # type: ignore[misc]
    assert owner.name == "b"
