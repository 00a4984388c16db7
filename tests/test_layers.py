"""The layer rule: imports point down only (STYLE.md §1).

Ranks: exc/_util 0, driver/dialect 1, engine 2, sql 3, orm 4, testing 5.
Every module's imports are read with ``ast`` (including imports inside
functions and under TYPE_CHECKING); an import of a higher-ranked package
fails the test, naming the module and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "heron"

RANKS = {
    "exc": 0,
    "_util": 0,
    "driver": 1,
    "dialect": 1,
    "engine": 2,
    "sql": 3,
    "orm": 4,
    "inspection": 4,
    "testing": 5,
}


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "heron" or len(parts) < 2:
        return None
    return parts[1]


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_point_down_only(path: Path) -> None:
    own = path.relative_to(SRC).parts[0].removesuffix(".py")
    own_rank = RANKS[own]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            package = _package_of(name)
            if package is None or package not in RANKS:
                continue
            assert RANKS[package] <= own_rank, (
                f"{path.relative_to(SRC)} (layer {own}) imports {name} from a higher layer; "
                "declare a Protocol in the lower layer instead (STYLE.md §1)"
            )


def test_only_driver_modules_import_the_database_drivers() -> None:
    offenders = []
    for path in _modules():
        if path.relative_to(SRC).parts[0] == "driver":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            else:
                continue
            if any(m.split(".")[0] in ("asyncpg", "aiosqlite", "sqlite3") for m in mods):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
