"""The hooks the ORM builds on: __clause_element__ coercion, raw entities, ColumnOperators."""

from __future__ import annotations

from typing import Any

from heron import delete, insert, select, update
from heron.sql.elements import ColumnElement, ColumnOperators
from heron.sql.schema import Column

from .helpers import lite


class Attr(ColumnOperators):
    """Stands in for the ORM's InstrumentedAttribute."""

    def __init__(self, column: Column[Any]) -> None:
        self.column = column

    def __clause_element__(self) -> ColumnElement[Any]:
        return self.column


def _entity(table: Any) -> type:
    class Entity:
        @classmethod
        def __clause_element__(cls) -> Any:
            return table

    for col in table.c:
        setattr(Entity, col.key, Attr(col))
    return Entity


def test_mapped_class_selects_its_table_and_keeps_raw_entities(schema: Any) -> None:
    User = _entity(schema.users)
    Address = _entity(schema.addresses)
    stmt: Any = select(User, User.name).join(Address).where(User.name == "x")  # type: ignore[attr-defined]
    assert lite(stmt) == (
        "SELECT users.id, users.name, users.age, users.name FROM users "
        "JOIN addresses ON users.id = addresses.user_id WHERE users.name = ?"
    )
    assert stmt._raw_columns == (User, User.name)  # type: ignore[attr-defined]
    assert lite(select(User).filter_by(name="a")).endswith("WHERE users.name = ?")


def test_every_operator_works_through_the_mixin(schema: Any) -> None:
    User = _entity(schema.users)
    name, age = User.name, User.age  # type: ignore[attr-defined]
    exprs = [
        name == "a",
        name != "a",
        age < 1,
        age <= 1,
        age > 1,
        age >= 1,
        name.in_(["a"]),
        name.not_in(["a"]),
        name.is_(None),
        name.is_not(None),
        name.like("a%"),
        name.ilike("a%"),
        name.startswith("a"),
        name.endswith("a"),
        name.contains("a"),
        age.between(1, 2),
        (age + 1) > 2,
        -age < 0,
        ~(age == 1),
        (age == 1) & (name == "b"),
        (age == 1) | (name == "b"),
    ]
    for expr in exprs:
        assert "users." in lite(select(schema.users.c.id).where(expr))
    ordered: Any = select(User).order_by(name.desc(), age.asc(), name.label("n"))
    assert "ORDER BY users.name DESC, users.age ASC" in lite(ordered)
    assert hash(name) == object.__hash__(name)
    assert {name: 1}[name] == 1


def test_dml_keeps_entity_and_resolves_table(schema: Any) -> None:
    User = _entity(schema.users)
    for stmt in (
        insert(User).values(name="a"),
        update(User).where(User.id == 1).values({User.name: "b"}),  # type: ignore[attr-defined]
        delete(User).where(User.id == 1),  # type: ignore[attr-defined]
    ):
        assert stmt.entity is User
        assert stmt.table is schema.users
    assert lite(update(User).values({User.name: "b"})) == "UPDATE users SET name = ?"  # type: ignore[attr-defined]


def test_columns_can_be_made_before_their_name_type_and_table() -> None:
    from heron import ForeignKey, Integer, MetaData, String, Table

    col: Column[Any] = Column(None, primary_key=True)
    assert col.name is None and col.type is None and col.table is None
    col.name = "id"
    col.key = "ident"
    col.type = Integer()
    other = Column(String(20), nullable=True)
    other.name = "label"
    fk = Column(None, ForeignKey("t.id"))
    fk.name = "parent"
    t = Table("t", MetaData(), col, other, fk)
    assert t.c.ident is col and t.c["label"] is other
    assert "ident" in t.c and col in t.c
    assert list(t.primary_key.columns) == [col]
    assert next(iter(fk.foreign_keys)).column is col
    assert next(iter(fk.foreign_keys)).target_fullname == "t.id"
    assert col.default is None and other.nullable is True and col.nullable is False
    assert t.autoincrement_column is col
    copy = other._copy()
    assert copy.table is None and copy.name == "label"
