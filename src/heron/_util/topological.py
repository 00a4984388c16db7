"""Topological sort of items under (parent, child) dependencies.

Layer 0: pure and imports nothing from heron. Used by ``MetaData.create_all``
(tables in foreign-key order) and by the ORM's unit of work (rows and mappers
in dependency order). The invariant: the output is a deterministic function of
the input order — among items that are ready at the same time, the one that
came first in ``items`` comes first — so equal inputs always give equal plans.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)


class CycleError(ValueError):
    """Raised by ``sort`` when the dependencies contain a cycle.

    Attributes:
        cycle: the items of one cycle, in dependency order (each item depends
            on the one before it, and the first on the last).
        remaining: every item that could not be placed.
    """

    def __init__(self, cycle: Sequence[object], remaining: Sequence[object]) -> None:
        shown = " -> ".join(repr(item) for item in [*cycle, cycle[0]]) if cycle else "?"
        super().__init__(f"dependency cycle: {shown}")
        self.cycle = list(cycle)
        self.remaining = list(remaining)


def _graph(items: Sequence[T], deps: Iterable[tuple[T, T]]) -> dict[T, list[T]]:
    """Children per parent, in first-seen order; self-loops and unknown items dropped."""
    children: dict[T, list[T]] = {item: [] for item in items}
    for parent, child in deps:
        if parent == child or parent not in children or child not in children:
            continue
        kids = children[parent]
        if child not in kids:
            kids.append(child)
    return children


def sort(items: Iterable[T], deps: Iterable[tuple[T, T]]) -> list[T]:
    """Return ``items`` ordered so that every parent precedes its children.

    Args:
        items: the items to order; their order breaks ties.
        deps: ``(parent, child)`` pairs: ``parent`` must come before ``child``.
            Pairs naming an item not in ``items`` and self-references are ignored
            (a self-referencing row or table is the caller's business).

    Raises:
        CycleError: the pairs contain a cycle; ``.cycle`` names one.
    """
    ordered_items = list(dict.fromkeys(items))
    children = _graph(ordered_items, deps)
    indegree = dict.fromkeys(ordered_items, 0)
    for kids in children.values():
        for kid in kids:
            indegree[kid] += 1
    position = {item: index for index, item in enumerate(ordered_items)}
    # Ready items are taken in input order; a sorted list of positions keeps
    # that deterministic without a heap of unorderable items.
    ready = [position[item] for item in ordered_items if indegree[item] == 0]
    result: list[T] = []
    while ready:
        ready.sort(reverse=True)
        item = ordered_items[ready.pop()]
        result.append(item)
        for kid in children[item]:
            indegree[kid] -= 1
            if indegree[kid] == 0:
                ready.append(position[kid])
    if len(result) != len(ordered_items):
        remaining = [item for item in ordered_items if indegree[item] > 0]
        cycles = find_cycles(remaining, ((p, c) for p in remaining for c in children[p]))
        raise CycleError(cycles[0] if cycles else [], remaining)
    return result


def find_cycles(items: Iterable[T], deps: Iterable[tuple[T, T]]) -> list[list[T]]:
    """Return the groups of items that depend on each other in a cycle.

    Each group is a strongly connected component with more than one item,
    listed in an order that follows the dependencies (first item's parent is
    the last item where possible). Groups come in input order of their first
    item. Self-references are not reported.
    """
    ordered_items = list(dict.fromkeys(items))
    children = _graph(ordered_items, deps)
    # Tarjan's algorithm, iterative so deep graphs cannot hit the recursion limit.
    index_of: dict[T, int] = {}
    low: dict[T, int] = {}
    on_stack: set[T] = set()
    stack: list[T] = []
    components: list[list[T]] = []
    counter = 0
    for root in ordered_items:
        if root in index_of:
            continue
        work: list[tuple[T, int]] = [(root, 0)]
        while work:
            node, next_child = work.pop()
            if next_child == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            kids = children[node]
            if next_child < len(kids):
                work.append((node, next_child + 1))
                kid = kids[next_child]
                if kid not in index_of:
                    work.append((kid, 0))
                elif kid in on_stack:
                    low[node] = min(low[node], index_of[kid])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component: list[T] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(_cycle_order(component, children))
    position = {item: index for index, item in enumerate(ordered_items)}
    components.sort(key=lambda group: min(position[item] for item in group))
    return components


def _cycle_order(component: list[T], children: dict[T, list[T]]) -> list[T]:
    """Walk a strongly connected component from its earliest member along edges."""
    members = set(component)
    # Tarjan pops members in reverse discovery order; reverse to start at the root.
    component = component[::-1]
    walk = [component[0]]
    seen = {component[0]}
    node = component[0]
    while True:
        step = next((kid for kid in children[node] if kid in members and kid not in seen), None)
        if step is None:
            break
        walk.append(step)
        seen.add(step)
        node = step
    walk.extend(item for item in component if item not in seen)
    return walk


__all__ = ["CycleError", "find_cycles", "sort"]
