"""Result, Row, ScalarResult and MappingResult: built from raw rows and from both backends."""

from __future__ import annotations

from typing import Any

import pytest

from heron import Engine, Result, Row, exc
from heron.engine.result import row_class


def make(rows: list[tuple[Any, ...]], keys: tuple[str, ...] = ("id", "name")) -> Result[Any]:
    return Result(keys, rows)


ROWS = [(1, "a"), (2, "b"), (3, "c")]


# --- Row ---------------------------------------------------------------------


def test_row_access_by_name_index_and_mapping() -> None:
    row = make(ROWS).first()
    assert row is not None
    assert row.id == 1 and row.name == "a"
    assert row[0] == 1 and row[-1] == "a" and row[0:2] == (1, "a")
    assert row._mapping["name"] == "a"
    assert dict(row._mapping) == {"id": 1, "name": "a"}
    assert row._fields == ("id", "name")
    assert row._tuple() == (1, "a") and type(row._tuple()) is tuple
    assert row._asdict() == {"id": 1, "name": "a"}


def test_row_equals_and_hashes_like_a_tuple() -> None:
    row = make(ROWS).first()
    assert row == (1, "a")
    assert hash(row) == hash((1, "a"))
    assert {row, (1, "a")} == {(1, "a")}
    assert isinstance(row, Row) and isinstance(row, tuple)


def test_row_unknown_attribute_names_the_columns() -> None:
    row = make(ROWS).first()
    with pytest.raises(AttributeError, match="columns are id, name"):
        _ = row.missing  # type: ignore[union-attr]


def test_row_column_named_like_tuple_methods_wins() -> None:
    row = make([(3, 7)], ("count", "index")).one()
    assert row.count == 3
    assert row.index == 7


def test_row_with_duplicate_names_refuses_ambiguous_access() -> None:
    row = make([(1, 2)], ("id", "id")).one()
    assert row[1] == 2
    with pytest.raises(exc.InvalidRequestError, match="Ambiguous"):
        _ = row.id
    with pytest.raises(exc.InvalidRequestError, match="Ambiguous"):
        _ = row._mapping["id"]


def test_row_pickles_and_copies() -> None:
    import copy
    import pickle

    row = make(ROWS).first()
    clone = pickle.loads(pickle.dumps(row))
    assert clone == row and clone.name == "a" and clone._fields == ("id", "name")
    assert copy.copy(row).id == 1


def test_row_classes_are_shared_per_key_tuple() -> None:
    assert row_class(["a", "b"]) is row_class(("a", "b"))
    assert row_class(["a", "b"]) is not row_class(["b", "a"])


def test_row_mapping_accepts_column_like_objects() -> None:
    class Col:
        key = "name"

    row = make(ROWS).first()
    assert row._mapping[Col()] == "a"
    assert "name" in row._mapping and "nope" not in row._mapping


# --- Result ------------------------------------------------------------------


def test_all_then_all_again_is_empty() -> None:
    result = make(ROWS)
    assert result.all() == ROWS
    assert result.all() == []


def test_iteration_and_fetch_methods_share_a_cursor() -> None:
    result = make(ROWS)
    assert result.fetchone() == (1, "a")
    assert result.fetchmany(1) == [(2, "b")]
    assert [tuple(r) for r in result] == [(3, "c")]
    assert result.fetchone() is None


def test_first_closes_the_result() -> None:
    result = make(ROWS)
    assert result.first() == (1, "a")
    with pytest.raises(exc.ResourceClosedError, match="closed"):
        result.all()


def test_first_of_empty_is_none() -> None:
    assert make([]).first() is None


def test_one_variants() -> None:
    assert make(ROWS[:1]).one() == (1, "a")
    assert make([]).one_or_none() is None
    assert make(ROWS[:1]).one_or_none() == (1, "a")
    with pytest.raises(exc.NoResultFound):
        make([]).one()
    with pytest.raises(exc.MultipleResultsFound):
        make(ROWS).one()
    with pytest.raises(exc.MultipleResultsFound):
        make(ROWS).one_or_none()


def test_scalar_variants() -> None:
    assert make(ROWS).scalar() == 1
    assert make([]).scalar() is None
    assert make(ROWS[:1]).scalar_one() == 1
    assert make([]).scalar_one_or_none() is None
    with pytest.raises(exc.NoResultFound):
        make([]).scalar_one()
    with pytest.raises(exc.MultipleResultsFound):
        make(ROWS).scalar_one()


def test_scalars_by_index_and_name() -> None:
    assert make(ROWS).scalars().all() == [1, 2, 3]
    assert make(ROWS).scalars(1).all() == ["a", "b", "c"]
    assert make(ROWS).scalars("name").first() == "a"
    with pytest.raises(exc.ArgumentError, match="No column 'nope'"):
        make(ROWS).scalars("nope")


def test_mappings() -> None:
    result = make(ROWS)
    mappings = result.mappings()
    assert mappings.keys() == ["id", "name"]
    assert [dict(m) for m in mappings.all()] == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
        {"id": 3, "name": "c"},
    ]
    with pytest.raises(exc.MultipleResultsFound):
        make(ROWS).mappings().one()


def test_unique_on_rows_scalars_and_mappings() -> None:
    rows = [(1, "a"), (1, "a"), (2, "b"), (1, "a")]
    assert make(rows).unique().all() == [(1, "a"), (2, "b")]
    assert make(rows).scalars().unique().all() == [1, 2]
    assert len(make(rows).mappings().unique().all()) == 2
    by_name = make([(1, "a"), (2, "a"), (3, "b")]).unique(lambda r: r.name).all()
    assert by_name == [(1, "a"), (3, "b")]


def test_unique_fetchmany_fills_the_batch_with_distinct_rows() -> None:
    result = make([(1, "a"), (1, "a"), (2, "b"), (3, "c")]).unique()
    assert result.fetchmany(2) == [(1, "a"), (2, "b")]
    assert result.fetchmany(2) == [(3, "c")]


def test_partitions() -> None:
    rows = [(i, str(i)) for i in range(5)]
    assert [len(p) for p in make(rows).partitions(2)] == [2, 2, 1]
    assert [p for p in make([]).partitions(2)] == []
    assert [len(p) for p in make(rows).scalars().partitions(3)] == [3, 2]


def test_columns_projects_and_reorders() -> None:
    result = make([(1, "a", True)], ("id", "name", "ok")).columns("ok", 0)
    assert result.keys() == ["ok", "id"]
    row = result.one()
    assert row == (True, 1) and row.ok is True


def test_keys_and_raw_rows() -> None:
    result = make(ROWS)
    assert result.keys() == ["id", "name"]
    assert result._raw_rows == ROWS
    result.fetchone()
    assert result._raw_rows == ROWS[1:]


def test_processors_run_once_per_processed_column() -> None:
    calls: list[Any] = []

    def upper(value: Any) -> Any:
        calls.append(value)
        return None if value is None else value.upper()

    result = Result(("id", "name"), [(1, "a"), (2, None)], [None, upper], 2)
    assert result.all() == [(1, "A"), (2, None)]
    assert calls == ["a", None]
    assert result.rowcount == 2


def test_result_without_rows_reports_rowcount_and_refuses_row_reads() -> None:
    result = Result((), [], rowcount=3, returns_rows=False)
    assert result.rowcount == 3
    assert not result.returns_rows
    with pytest.raises(exc.ResourceClosedError, match="rowcount"):
        result.all()


# --- on a database -----------------------------------------------------------


async def test_result_from_a_query(engine: Engine) -> None:
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql(
            "SELECT 1 AS id, 'x' AS name UNION ALL SELECT 2, 'y' ORDER BY 1"
        )
        assert result.keys() == ["id", "name"]
        rows = result.all()
        assert rows == [(1, "x"), (2, "y")]
        assert [r.name for r in rows] == ["x", "y"]
        assert rows[1]._mapping["id"] == 2


async def test_empty_result_still_has_keys(engine: Engine) -> None:
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql("SELECT 1 AS a, 2 AS b WHERE 1 = 0")
        assert result.keys() == ["a", "b"]
        assert result.all() == []


async def test_rowcount_for_update_and_delete(items: Engine) -> None:
    p = items.dialect.placeholder
    async with items.begin() as conn:
        await conn.exec_driver_sql(
            f"INSERT INTO items (id, name) VALUES ({p(1)}, {p(2)})",
            [(1, "a"), (2, "b"), (3, "c")],
        )
        updated = await conn.exec_driver_sql(f"UPDATE items SET name = 'z' WHERE id < {p(1)}", [3])
        assert updated.rowcount == 2
        assert not updated.returns_rows
        deleted = await conn.exec_driver_sql("DELETE FROM items")
        assert deleted.rowcount == 3


async def test_returning_rows(items: Engine) -> None:
    p = items.dialect.placeholder
    async with items.begin() as conn:
        result = await conn.exec_driver_sql(
            f"INSERT INTO items (id, name) VALUES ({p(1)}, {p(2)}) RETURNING id, name", [7, "q"]
        )
        assert result.one() == (7, "q")


async def test_scalar_from_database(engine: Engine) -> None:
    p = engine.dialect.placeholder
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql(f"SELECT {p(1)} + 1", [41])
        assert result.scalar() == 42
