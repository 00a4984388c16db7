"""heron's pytest plugin: a Session inside an outer transaction, commits as savepoints."""

from __future__ import annotations

from typing import Any

import pytest

from heron import String, select
from heron.orm import DeclarativeBase, Mapped, mapped_column


class PluginBase(DeclarativeBase):
    pass


class PluginItem(PluginBase):
    __tablename__ = "plugin_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


@pytest.fixture
def heron_engine(engine: Any) -> Any:
    """Users override the plugin's engine fixture like this; here: both backends."""
    return engine


async def test_session_commit_is_a_savepoint_inside_the_outer_transaction(
    heron_connection: Any, heron_session: Any
) -> None:
    await PluginBase.metadata.create_all(heron_connection)
    heron_session.add(PluginItem(name="a"))
    await heron_session.commit()
    # committed as far as the code under test can tell ...
    names = (await heron_session.scalars(select(PluginItem.name))).all()
    assert names == ["a"]
    # ... yet the outer transaction, rolled back after the test, is still open
    assert heron_connection.in_transaction()
    heron_session.add(PluginItem(name="b"))
    await heron_session.flush()
    await heron_session.rollback()  # back to the last savepoint only
    rows = await heron_connection.exec_driver_sql("SELECT name FROM plugin_item")
    assert [r[0] for r in rows.all()] == ["a"]
