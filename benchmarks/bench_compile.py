"""Compile cost: a 5-table join with 10 WHERE conditions, cold vs statement-cache hit.

Run: ``python -m benchmarks.bench_compile`` (no database needed; ``--json`` for JSON).

Per statement, medians in microseconds:

- build: constructing the ``select(...)`` (join inference included);
- cold: getting its compiled template with an empty cache (cache key + compile);
- hit: getting the template for a NEW statement object of the same shape
  with other values (cache key + lookup), what an application that builds
  ``select(...)`` per request pays instead of compiling;
- hit (same object): re-executing one statement object (key memoised);
- plan: the whole ``_plan_execution`` on a cache hit (hit + reading and
  converting the bound values into the driver's parameter list), which is
  paid on every execution whether the cache is warm or not.

Target (issue #3): hit at least 50x cheaper than cold.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from heron import Column, ForeignKey, Integer, MetaData, String, Table, select
from heron.dialect import PostgresDialect, SqliteDialect
from heron.sql.compiler.compiled import get_template


def build_schema() -> list[Table]:
    """t0 <- t1 <- t2 <- t3 <- t4, each referencing the previous one."""
    md = MetaData()
    tables = [Table("t0", md, Column("id", Integer, primary_key=True), Column("name", String(50)))]
    for i in range(1, 5):
        tables.append(
            Table(
                f"t{i}",
                md,
                Column("id", Integer, primary_key=True),
                Column("parent_id", ForeignKey(f"t{i - 1}.id")),
                Column("name", String(50)),
                Column("score", Integer),
            )
        )
    return tables


def build_statement(tables: list[Table], seed: int) -> Any:
    """The measured statement; ``seed`` changes every value, never the shape."""
    t0, t1, t2, t3, t4 = tables
    return (
        select(t0.c.id, t0.c.name, t1.c.name, t2.c.score, t3.c.name, t4.c.score)
        .select_from(t0)
        .join(t1)
        .join(t2)
        .join(t3)
        .join(t4)
        .where(
            t0.c.id > seed,
            t0.c.name != f"n{seed}",
            t1.c.name.like(f"a{seed}%"),
            t2.c.score >= seed,
            t2.c.score < seed + 100,
            t3.c.name.in_([f"x{seed}", f"y{seed}", "z"]),
            t4.c.score.between(seed, seed + 10),
            (t1.c.id == t2.c.parent_id) | (t2.c.score == seed),
            t3.c.id.is_not(None),
            t4.c.name.startswith(f"p{seed}"),
        )
        .order_by(t0.c.id.desc())
        .limit(50)
    )


def _timed_us(work: Callable[[Any], object], prepare: Callable[[int], Any], n: int) -> float:
    """Mean µs of ``work(prepare(i))``, timing only ``work``.

    Each statement is built right before it is timed, as an application
    builds a statement and executes it at once (its objects are still in the
    CPU cache); the cost of reading the clock is measured and subtracted.
    """
    clock = time.perf_counter
    gc.collect()
    gc.disable()
    try:
        total = overhead = 0.0
        for i in range(n):
            item = prepare(i)
            start = clock()
            overhead -= start - clock()
            start = clock()
            work(item)
            total += clock() - start
        return max(total - overhead, 0.0) / n * 1e6
    finally:
        gc.enable()


def measure(dialect_factory: Callable[[], Any], rounds: int = 9, n: int = 300) -> dict[str, float]:
    """Medians over ``rounds`` of ``n`` statements each (see module docstring)."""
    tables = build_schema()
    dialect = dialect_factory()
    cache = dialect.compiled_cache
    samples: dict[str, list[float]] = {k: [] for k in ("build", "cold", "hit", "same", "plan")}

    def fresh(i: int) -> Any:
        return build_statement(tables, i)

    def fresh_cold(i: int) -> Any:
        cache.clear()
        return build_statement(tables, i)

    def template(stmt: Any) -> object:
        return get_template(stmt, dialect, None)

    def plan(stmt: Any) -> object:
        return stmt._plan_execution(dialect, None)

    same = build_statement(tables, 0)
    for _ in range(rounds):
        samples["build"].append(_timed_us(lambda i: build_statement(tables, i), lambda i: i, n))
        samples["cold"].append(_timed_us(template, fresh_cold, n))
        template(same)
        samples["hit"].append(_timed_us(template, fresh, n))
        samples["same"].append(_timed_us(template, lambda i: same, n))
        samples["plan"].append(_timed_us(plan, fresh, n))
    r = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "build_us": round(r["build"], 2),
        "cold_us": round(r["cold"], 2),
        "hit_us": round(r["hit"], 2),
        "hit_same_object_us": round(r["same"], 2),
        "plan_on_hit_us": round(r["plan"], 2),
        "cold_over_hit": round(r["cold"] / r["hit"], 1),
        "cold_over_hit_same_object": round(r["cold"] / r["same"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="compile cold vs cache hit")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    results = {
        "postgresql": measure(PostgresDialect, rounds=args.rounds),
        "sqlite": measure(SqliteDialect, rounds=args.rounds),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("5-table join, 10 WHERE conditions: median µs per statement")
    print(f"{'dialect':<11}{'build':>8}{'cold':>8}{'hit':>7}{'same':>7}{'plan':>7}{'cold/hit':>10}")
    for name, r in results.items():
        print(
            f"{name:<11}{r['build_us']:>8.1f}{r['cold_us']:>8.1f}{r['hit_us']:>7.2f}"
            f"{r['hit_same_object_us']:>7.2f}{r['plan_on_hit_us']:>7.2f}{r['cold_over_hit']:>9.1f}x"
        )
    print("target: cold/hit >= 50x (hit = cache key + lookup for a new statement object)")


if __name__ == "__main__":
    main()
