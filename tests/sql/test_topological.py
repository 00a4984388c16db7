"""The pure topological sort shared by create_all and the unit of work."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron._util.topological import CycleError, find_cycles, sort


def test_parents_before_children_and_ties_in_input_order() -> None:
    assert sort(["c", "b", "a", "d"], [("a", "b"), ("b", "c")]) == ["a", "b", "c", "d"]
    assert sort(["x", "y", "z"], []) == ["x", "y", "z"]
    assert sort(["a"], [("a", "a")]) == ["a"]


def test_cycle_error_carries_the_cycle() -> None:
    with pytest.raises(CycleError) as info:
        sort(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert set(info.value.cycle) == {"a", "b", "c"}
    assert info.value.cycle[0] == "a"
    assert set(info.value.remaining) == {"a", "b", "c", "d"}


def test_find_cycles_returns_each_strongly_connected_group() -> None:
    groups = find_cycles(
        [1, 2, 3, 4, 5, 6], [(1, 2), (2, 1), (3, 4), (4, 5), (5, 3), (5, 6), (6, 6)]
    )
    assert groups == [[1, 2], [3, 4, 5]]


@given(
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=40),
)
def test_sort_respects_every_edge_of_an_acyclic_graph(edges: list[tuple[int, int]]) -> None:
    items = list(range(13))
    acyclic = [(a, b) for a, b in edges if a < b]
    order = sort(items, acyclic)
    position = {item: i for i, item in enumerate(order)}
    assert sorted(order) == items
    assert all(position[a] < position[b] for a, b in acyclic)
    assert sort(items, acyclic) == order
    assert find_cycles(items, acyclic) == []
