"""Static types of SQL constructs (checked by mypy, not run by pytest)."""

from __future__ import annotations

from typing import Any, assert_type

from heron import Column, Integer, MetaData, Table, select
from heron.sql.elements import ColumnElement
from heron.sql.selectable import Select


class User:
    pass


t = Table("t", MetaData(), Column("id", Integer))
name: ColumnElement[str] = t.c.id
assert_type(select(User), Select[tuple[User]])
assert_type(select(User, name), Select[tuple[User, str]])
assert_type(select(t), Select[Any])
assert_type(select(User).where(name == "x").limit(1), Select[tuple[User]])
