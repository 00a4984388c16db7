"""Fixtures for the SQL-layer tests: a small schema (users, addresses, order, nodes)."""

from __future__ import annotations

from typing import Any

import pytest

from heron import Column, ForeignKey, Integer, MetaData, String, Table


@pytest.fixture
def schema() -> Any:
    """users / addresses / orders (FKs to users) / nodes (self-referencing)."""
    md = MetaData()
    users = Table(
        "users",
        md,
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False),
        Column("age", Integer),
    )
    addresses = Table(
        "addresses",
        md,
        Column("id", Integer, primary_key=True),
        Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
        Column("email", String(100)),
    )
    orders = Table(
        "order",
        md,
        Column("id", Integer, primary_key=True),
        Column("buyer_id", Integer, ForeignKey("users.id")),
        Column("seller_id", Integer, ForeignKey("users.id")),
    )
    nodes = Table(
        "nodes",
        md,
        Column("id", Integer, primary_key=True),
        Column("parent_id", Integer, ForeignKey("nodes.id")),
        Column("name", String(20)),
    )

    class Schema:
        pass

    s = Schema()
    s.md, s.users, s.addresses, s.orders, s.nodes = md, users, addresses, orders, nodes  # type: ignore[attr-defined]
    return s
