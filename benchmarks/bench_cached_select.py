"""A cached ``select`` executed through heron vs the same SQL through asyncpg directly.

Run: ``python -m benchmarks.bench_cached_select`` (PostgreSQL at
``HERON_BENCH_PG_URL``, default ``postgresql://root@127.0.0.1:5432/test``).

Each round runs N primary-key lookups returning one row of four columns on
one connection, outside an explicit transaction (``autobegin=False``), so
both sides send exactly one statement per lookup:

- asyncpg: ``conn.fetch(sql, id)`` (asyncpg's prepared-statement cache);
- heron, reused statement: ``conn.execute(stmt, {"uid": id}).all()`` with
  ``stmt = select(t).where(t.c.id == bindparam("uid"))`` built once;
- heron, built per call: ``select(t).where(t.c.id == id)`` built for every
  lookup (a cache hit on a new statement object each time).

Rounds are interleaved and medians reported, as ratios to asyncpg (wall
time), with the client process's CPU time alongside.
Target (issue #3): heron within 10% of asyncpg for the cached select.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

import asyncpg

from heron import Column, Integer, MetaData, String, Table, bindparam, create_engine, select

PG_URL = os.environ.get("HERON_BENCH_PG_URL", "postgresql://root@127.0.0.1:5432/test")
TABLE = "bench_cached_select"


def _table() -> Table:
    return Table(
        TABLE,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False),
        Column("fullname", String(100)),
        Column("score", Integer),
    )


async def _setup() -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await conn.execute(
            f"CREATE TABLE {TABLE} (id integer primary key, name varchar(50) not null, "
            "fullname varchar(100), score integer)"
        )
        await conn.executemany(
            f"INSERT INTO {TABLE} VALUES ($1, $2, $3, $4)",
            [(i, f"user{i}", f"User Number {i}", i % 7) for i in range(1, 1001)],
        )
    finally:
        await conn.close()


async def run(n: int, rounds: int) -> dict[str, Any]:
    """Median seconds per round of ``n`` lookups for each variant, and ratios."""
    await _setup()
    t = _table()
    raw = await asyncpg.connect(PG_URL)
    engine = create_engine(PG_URL, pool_size=1)
    samples: dict[str, list[float]] = {"asyncpg": [], "heron_reused": [], "heron_built": []}
    cpu: dict[str, list[float]] = {k: [] for k in samples}
    sql = f"SELECT id, name, fullname, score FROM {TABLE} WHERE id = $1"
    reused = select(t).where(t.c.id == bindparam("uid"))
    try:
        async with engine.connect(autobegin=False) as conn:

            async def raw_round() -> None:
                for i in range(n):
                    await raw.fetch(sql, i % 1000 + 1)

            async def reused_round() -> None:
                for i in range(n):
                    (await conn.execute(reused, {"uid": i % 1000 + 1})).all()

            async def built_round() -> None:
                for i in range(n):
                    (await conn.execute(select(t).where(t.c.id == i % 1000 + 1))).all()

            variants = {
                "asyncpg": raw_round,
                "heron_reused": reused_round,
                "heron_built": built_round,
            }
            for fn in variants.values():  # warm up: prepared statements, caches
                await fn()
            for _ in range(rounds):
                for name, fn in variants.items():
                    start, start_cpu = time.perf_counter(), time.process_time()
                    await fn()
                    samples[name].append(time.perf_counter() - start)
                    cpu[name].append(time.process_time() - start_cpu)
    finally:
        await raw.close()
        await engine.dispose()
        cleanup = await asyncpg.connect(PG_URL)
        await cleanup.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await cleanup.close()
    medians = {k: statistics.median(v) for k, v in samples.items()}
    cpu_medians = {k: statistics.median(v) for k, v in cpu.items()}
    base = medians["asyncpg"]
    return {
        "n": n,
        "median_s": {k: round(v, 5) for k, v in medians.items()},
        "ratio": {k: round(v / base, 3) for k, v in medians.items()},
        # Client CPU per round (this process only): steadier than wall time
        # when other work shares the machine.
        "cpu_s": {k: round(v, 5) for k, v in cpu_medians.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="cached select: heron vs asyncpg")
    parser.add_argument("-n", type=int, default=2000, help="lookups per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.n, args.rounds))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.n} primary-key lookups per round, median of {args.rounds} rounds")
    for name, seconds in result["median_s"].items():
        print(
            f"  {name:<14}{seconds:>9.4f} s   {result['ratio'][name]:>6.3f}x asyncpg"
            f"   (client CPU {result['cpu_s'][name]:.4f} s)"
        )
    print("target: heron within 1.10x of asyncpg")


if __name__ == "__main__":
    main()
