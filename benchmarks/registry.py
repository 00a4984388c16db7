"""Workloads, their per-system implementations, and the systems they can run on.

A workload is a small class: ``setup``/``teardown`` prepare shared state
(schema, rows) with raw asyncpg, and one ``Implementation`` per system does
the measured work. Only ``Implementation.run`` is timed; ``open`` (create a
pool, warm it up) and ``close`` are not.

    @register
    class LoadUsers(Workload):
        name = "w3_load"
        description = "load 10,000 objects"
        defaults = {"rows": 10_000}

    @LoadUsers.implementation("asyncpg")
    class LoadUsersAsyncpg(Implementation):
        async def open(self) -> None: ...
        async def run(self) -> None: ...
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

BASELINE = "asyncpg"


@dataclass(frozen=True)
class System:
    """Something a workload can run on."""

    name: str
    description: str
    requires: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        """Importable modules this system needs but are not installed."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in [
        System("asyncpg", "raw asyncpg (its own pool where pooled; the floor)", ("asyncpg",)),
        System(
            "asyncpg_noreset",
            "raw asyncpg pool with a no-op reset (no reset query on release)",
            ("asyncpg",),
        ),
        System("heron", "heron; statements outside transactions where the work allows"),
        System("heron_tx", "heron with its default autobegin (BEGIN ... ROLLBACK per checkout)"),
        System(
            "sqlalchemy",
            "SQLAlchemy 2.x asyncio (AUTOCOMMIT where the work allows)",
            ("sqlalchemy", "greenlet"),
        ),
        System(
            "sqlalchemy_tx",
            "SQLAlchemy 2.x asyncio with its default transaction per connection",
            ("sqlalchemy", "greenlet"),
        ),
    ]
}


@dataclass
class Context:
    """What every workload gets: the database URL and its parameters."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)


class Implementation:
    """One system's way of doing a workload. Only ``run`` is timed."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.ctx = workload.ctx
        self.params = workload.params

    async def open(self) -> None:
        """Create pools/engines and warm them up (not timed)."""

    async def prepare(self) -> None:
        """Put the database in the state one run needs (not timed; before every run)."""

    async def run(self) -> None:
        """Do the measured work once."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release everything ``open`` created (not timed)."""


ImplT = TypeVar("ImplT", bound=type[Implementation])


class Workload:
    """A named unit of work measured on several systems.

    Attributes:
        name: the registry key (``--workloads`` value).
        description: one line for ``--list`` and the report.
        defaults: parameters, overridable with ``--param key=value``.
        targets: system -> the highest acceptable ratio to raw asyncpg.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    targets: ClassVar[dict[str, float]] = {}
    implementations: ClassVar[dict[str, type[Implementation]]]

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        overrides = {k: v for k, v in ctx.params.items() if k in self.defaults}
        self.params = {**self.defaults, **overrides}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.implementations = {}

    @classmethod
    def implementation(cls, system: str) -> Callable[[ImplT], ImplT]:
        """Register the decorated class as this workload's implementation for ``system``."""
        if system not in SYSTEMS:
            raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")

        def decorate(impl: ImplT) -> ImplT:
            cls.implementations[system] = impl
            return impl

        return decorate

    async def setup(self) -> None:
        """Prepare shared state before any system runs (not timed)."""

    async def teardown(self) -> None:
        """Undo ``setup``."""


REGISTRY: dict[str, type[Workload]] = {}

WorkloadT = TypeVar("WorkloadT", bound=type[Workload])


def register(cls: WorkloadT) -> WorkloadT:
    """Add a workload class to the registry under its ``name``."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"workload name {cls.name!r} is empty or taken")
    REGISTRY[cls.name] = cls
    return cls
