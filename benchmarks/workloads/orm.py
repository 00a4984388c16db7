"""PERFORMANCE.md's ORM workloads W1-W9 in the harness: ``orm_w1`` ... ``orm_w9``.

A thin adapter over ``benchmarks.orm_workloads`` (which also has its own
runner, ``python -m benchmarks.orm_workloads``): the same seeds, the same
per-system code, the same checks.

Most of these workloads change the database (insert, update, delete), so
every timed run starts from a freshly seeded state: ``prepare()`` re-seeds
it (and checks the previous run's result), untimed, before every run,
warm-up runs included.

System names follow the harness: ``asyncpg`` is the raw floor (W4: one
connection; W9: an asyncpg pool *as shipped*), ``asyncpg_noreset`` is W9's
pool with a no-op reset (``orm_workloads``' W9 floor), ``heron`` and
``sqlalchemy`` are the ORMs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import asyncpg

from benchmarks import orm_schema as schema
from benchmarks import orm_workloads as ow
from benchmarks.registry import Implementation, Workload, register

PER_RUN_PREPARE = hasattr(Implementation, "prepare")
READ_ONLY = {"W3", "W4", "W7", "W8"}

# harness system -> orm_workloads system, per workload where they differ
SYSTEM_MAP: dict[str, dict[str, str]] = {
    "W9": {"asyncpg": "asyncpg_pool", "asyncpg_noreset": "asyncpg"},
}


class OrmHarnessWorkload(Workload):
    """One ``orm_workloads`` workload as a harness workload."""

    orm_cls: ClassVar[type[ow.OrmWorkload]]

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.orm = self.orm_cls(ctx.url, self.params)

    async def setup(self) -> None:
        conn = await asyncpg.connect(self.ctx.url)
        try:
            await schema.create_schema(conn)
            await self.orm.seed(conn)
        finally:
            await conn.close()

    async def teardown(self) -> None:
        conn = await asyncpg.connect(self.ctx.url)
        try:
            await schema.drop_schema(conn)
        finally:
            await conn.close()


class OrmAdapter(Implementation):
    """Runs an ``orm_workloads`` implementation; seeds and checks outside the clock."""

    orm_system: ClassVar[str]

    async def open(self) -> None:
        workload = self.workload
        assert isinstance(workload, OrmHarnessWorkload)
        self.orm = workload.orm
        self.inner = self.orm.impls[self.orm_system](self.orm)
        self.admin = await asyncpg.connect(self.ctx.url)
        self.last: Any = None
        self.prepared = False
        await self.inner.open()

    async def _check_last(self) -> None:
        if self.last is not None:
            last, self.last = self.last, None
            await self.orm.verify(self.admin, last)

    async def prepare(self) -> None:
        """Before every timed run: check the previous run, then re-seed (not timed)."""
        await self._check_last()
        await self.orm.seed(self.admin)
        self.prepared = True

    async def run(self) -> None:
        if self.orm.key not in READ_ONLY:
            if not self.prepared:
                raise RuntimeError(
                    f"{self.orm.key} changes the database: the runner must await "
                    "Implementation.prepare() before every timed run"
                )
            self.prepared = False
        # read-only workloads without prepare(): only the last run is checked, in close()
        self.last = None
        self.last = await self.inner.run()

    async def close(self) -> None:
        try:
            await self._check_last()
        finally:
            await self.inner.close()
            await self.admin.close()


def _register(orm_cls: type[ow.OrmWorkload]) -> type[Workload]:
    key = orm_cls.key
    workload_cls = type(
        f"Orm{key}",
        (OrmHarnessWorkload,),
        {
            "name": f"orm_{key.lower()}",
            "description": f"{key} {orm_cls.title}",
            "defaults": dict(orm_cls.defaults),
            "targets": {"heron": orm_cls.target},
            "orm_cls": orm_cls,
        },
    )
    mapping = SYSTEM_MAP.get(key, {})
    for harness_system in ("asyncpg", "asyncpg_noreset", "heron", "sqlalchemy"):
        orm_system = mapping.get(harness_system, harness_system)
        if orm_system not in orm_cls.impls:
            continue
        adapter = type(f"Orm{key}_{harness_system}", (OrmAdapter,), {"orm_system": orm_system})
        workload_cls.implementation(harness_system)(adapter)
    return register(workload_cls)


for _cls in ow.WORKLOADS.values():
    if PER_RUN_PREPARE or _cls.key in READ_ONLY:
        _register(_cls)
