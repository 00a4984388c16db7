"""The everyday API: ``heron.__all__`` and ``heron.orm.__all__`` are sorted and real."""

from __future__ import annotations

import heron
import heron.orm
from heron import exc


def test_heron_all_is_sorted_and_every_name_exists() -> None:
    assert heron.__all__ == sorted(heron.__all__)
    for name in heron.__all__:
        assert hasattr(heron, name), name


def test_orm_all_is_sorted_and_every_name_exists() -> None:
    assert heron.orm.__all__ == sorted(heron.orm.__all__)
    for name in heron.orm.__all__:
        assert hasattr(heron.orm, name), name


def test_design_names_are_exported() -> None:
    for name in ("create_engine", "select", "insert", "update", "delete", "inspect", "func"):
        assert name in heron.__all__, name
    for name in (
        "DeclarativeBase",
        "Mapped",
        "mapped_column",
        "relationship",
        "Session",
        "sessionmaker",
        "selectinload",
        "joinedload",
        "lazyload",
        "raiseload",
        "noload",
    ):
        assert name in heron.orm.__all__, name


def test_every_public_error_derives_from_heron_error() -> None:
    for name in exc.__all__:
        cls = getattr(exc, name)
        if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, Warning):
            assert issubclass(cls, exc.HeronError), name
