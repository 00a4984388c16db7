"""Property test: random edits of an object graph read back as a plain model predicts.

Schema (models.GraphBase): owners 1-n items (delete-orphan, NOT NULL FK),
nodes self-referential (children get parent NULL when the parent is deleted),
nodes n-m items. Hypothesis draws a list of operations; they run in one long
session, interleaved with flush, commit and rollback. A dictionary model tracks
what the database must hold; after every commit (and every rollback) a fresh
session reads all rows and must match the committed model exactly.

Small budget on purpose (both backends, a few seconds each). Shrinking is off
to keep a failing run inside the time budget; the falsifying operation list is
printed by hypothesis and the failing step is named in the assertion message.
"""

from __future__ import annotations

import asyncio
import copy
import os
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from heron import select
from heron.orm import sessionmaker

from .models import GItem, GNode, GOwner, GraphBase, g_node_item

OPS = [
    "add_owner",
    "add_item",
    "add_node",
    "rename",
    "move_item",
    "reparent",
    "link",
    "unlink",
    "delete_owner",
    "delete_item",
    "delete_node",
    "flush",
    "commit",
    "rollback",
]

operations = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 10_000), st.integers(0, 10_000)),
    min_size=1,
    max_size=30,
)


@dataclass
class Model:
    """What the database must hold once the session's changes are committed.

    Entities are keyed by the ORM object's id(); values keep the object so the
    database ids can be read after a commit.
    """

    owners: dict[int, dict[str, Any]] = field(default_factory=dict)
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[int, dict[str, Any]] = field(default_factory=dict)
    links: set[tuple[int, int]] = field(default_factory=set)  # (node key, item key)

    def snapshot(self) -> Model:
        return Model(
            owners=copy.copy({k: dict(v) for k, v in self.owners.items()}),
            items=copy.copy({k: dict(v) for k, v in self.items.items()}),
            nodes=copy.copy({k: dict(v) for k, v in self.nodes.items()}),
            links=set(self.links),
        )

    def expected_rows(self) -> dict[str, set[tuple[Any, ...]]]:
        def db_id(entities: dict[int, dict[str, Any]], key: int | None) -> int | None:
            return None if key is None else entities[key]["obj"].id

        return {
            "owners": {(o["obj"].id, o["name"]) for o in self.owners.values()},
            "items": {
                (i["obj"].id, i["label"], db_id(self.owners, i["owner"]))
                for i in self.items.values()
            },
            "nodes": {
                (n["obj"].id, n["label"], db_id(self.nodes, n["parent"]))
                for n in self.nodes.values()
            },
            "links": {(self.nodes[n]["obj"].id, self.items[i]["obj"].id) for n, i in self.links},
        }


async def read_rows(factory: Any) -> dict[str, set[tuple[Any, ...]]]:
    async with factory() as session:

        async def fetch(*cols: Any) -> set[tuple[Any, ...]]:
            return {tuple(r) for r in (await session.execute(select(*cols))).all()}

        return {
            "owners": await fetch(GOwner.id, GOwner.name),
            "items": await fetch(GItem.id, GItem.label, GItem.owner_id),
            "nodes": await fetch(GNode.id, GNode.label, GNode.parent_id),
            "links": await fetch(g_node_item.c.node_id, g_node_item.c.item_id),
        }


def _pick(keys: list[int], n: int) -> int | None:
    return keys[n % len(keys)] if keys else None


def _descendants(model: Model, key: int) -> set[int]:
    found = {key}
    changed = True
    while changed:
        changed = False
        for k, n in model.nodes.items():
            if n["parent"] in found and k not in found:
                found.add(k)
                changed = True
    return found


class Runner:
    def __init__(self, session: Any, factory: Any) -> None:
        self.session = session
        self.factory = factory
        self.model = Model()
        self.committed = Model()
        self.counter = 0
        self.log: list[str] = []

    def _name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    async def check(self, when: str) -> None:
        expected = self.committed.expected_rows()
        actual = await read_rows(self.factory)
        assert actual == expected, f"after {when}; steps so far: {self.log}"

    async def step(self, op: str, a: int, b: int) -> None:
        m, s = self.model, self.session
        if op.startswith("delete_"):
            # Session.delete() of a pending object is an error (as in SQLAlchemy),
            # and a cascade over pending children is ill-defined; flush first.
            await s.flush()
        owners, items, nodes = list(m.owners), list(m.items), list(m.nodes)
        if op == "add_owner":
            obj = GOwner(name=self._name("o"))
            s.add(obj)
            m.owners[id(obj)] = {"obj": obj, "name": obj.name}
        elif op == "add_item" and owners:
            owner = m.owners[_pick(owners, a)]
            obj = GItem(label=self._name("i"), owner=owner["obj"])
            s.add(obj)
            m.items[id(obj)] = {"obj": obj, "label": obj.label, "owner": id(owner["obj"])}
        elif op == "add_node":
            parent = _pick([*nodes, None], a) if nodes else None
            obj = GNode(label=self._name("n"), parent=m.nodes[parent]["obj"] if parent else None)
            s.add(obj)
            m.nodes[id(obj)] = {"obj": obj, "label": obj.label, "parent": parent}
        elif op == "rename":
            kinds = [k for k, v in (("o", owners), ("i", items), ("n", nodes)) if v]
            if not kinds:
                return
            kind = kinds[a % len(kinds)]
            if kind == "o":
                entry = m.owners[_pick(owners, b)]
                entry["obj"].name = entry["name"] = self._name("o")
            elif kind == "i":
                entry = m.items[_pick(items, b)]
                entry["obj"].label = entry["label"] = self._name("i")
            else:
                entry = m.nodes[_pick(nodes, b)]
                entry["obj"].label = entry["label"] = self._name("n")
        elif op == "move_item" and items and owners:
            item = m.items[_pick(items, a)]
            owner_key = _pick(owners, b)
            item["obj"].owner = m.owners[owner_key]["obj"]
            item["owner"] = owner_key
        elif op == "reparent" and nodes:
            key = _pick(nodes, a)
            allowed = [k for k in nodes if k not in _descendants(m, key)] + [None]
            parent = allowed[b % len(allowed)]
            m.nodes[key]["obj"].parent = m.nodes[parent]["obj"] if parent else None
            m.nodes[key]["parent"] = parent
        elif op in ("link", "unlink") and nodes and items:
            node_key, item_key = _pick(nodes, a), _pick(items, b)
            pair = (node_key, item_key)
            collection = await m.nodes[node_key]["obj"].awaitable_attrs.items
            item_obj = m.items[item_key]["obj"]
            if op == "link" and pair not in m.links:
                collection.append(item_obj)
                m.links.add(pair)
            elif op == "unlink" and pair in m.links:
                collection.remove(item_obj)
                m.links.discard(pair)
        elif op == "delete_owner" and owners:
            key = _pick(owners, a)
            await s.delete(m.owners.pop(key)["obj"])
            for item_key in [k for k, v in m.items.items() if v["owner"] == key]:
                self._forget_item(item_key)
        elif op == "delete_item" and items:
            key = _pick(items, a)
            await s.delete(m.items[key]["obj"])
            self._forget_item(key)
        elif op == "delete_node" and nodes:
            key = _pick(nodes, a)
            await s.delete(m.nodes.pop(key)["obj"])
            for child in m.nodes.values():
                if child["parent"] == key:
                    child["parent"] = None
            m.links = {p for p in m.links if p[0] != key}
        elif op == "flush":
            await s.flush()
        elif op == "commit":
            await s.commit()
            self.committed = m.snapshot()
            await self.check("commit")
        elif op == "rollback":
            await s.rollback()
            self.model = self.committed.snapshot()
            await self.check("rollback")
        else:
            return
        self.log.append(f"{op}({a},{b})")

    def _forget_item(self, key: int) -> None:
        del self.model.items[key]
        self.model.links = {p for p in self.model.links if p[1] != key}


@settings(
    max_examples=int(os.environ.get("HERON_PROPERTY_EXAMPLES", "15")),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
async def test_random_graph_edits_read_back_as_model_predicts(
    engine: Any, ops: list[tuple[str, int, int]]
) -> None:
    async with asyncio.timeout(60):
        await GraphBase.metadata.drop_all(engine)
        await GraphBase.metadata.create_all(engine)
        factory = sessionmaker(engine)
        async with factory() as session:
            runner = Runner(session, factory)
            for op, a, b in ops:
                await runner.step(op, a, b)
            await runner.step("commit", 0, 0)
