"""Run workloads on systems, repeated and interleaved (A B C A B C ...).

Interleaving spreads the machine's drift (other processes, thermal, the
database's own caches) evenly over the systems, so ratios measured in one
run are comparable even when absolute times are noisy.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from benchmarks.registry import SYSTEMS, Context, Implementation, Workload


@dataclass
class SystemResult:
    """Timings of one system on one workload."""

    samples: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


@dataclass
class WorkloadResult:
    """Every system's result for one workload."""

    name: str
    description: str
    params: dict[str, Any]
    targets: dict[str, float]
    systems: dict[str, SystemResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def progress(message: str) -> None:
    """One status line on stderr (stdout is kept for the report)."""
    print(message, file=sys.stderr, flush=True)


async def _timed(impl: Implementation) -> float:
    await impl.prepare()
    gc.collect()
    start = time.perf_counter()
    await impl.run()
    return time.perf_counter() - start


async def _peak_memory(impl: Implementation) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        await impl.prepare()
        tracemalloc.reset_peak()
        await impl.run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def run_workload(
    cls: type[Workload],
    ctx: Context,
    systems: list[str],
    *,
    repeat: int,
    warmup: int,
    memory: bool,
) -> WorkloadResult:
    """Set up ``cls``, time it ``repeat`` times per system (interleaved), tear down."""
    workload = cls(ctx)
    result = WorkloadResult(cls.name, cls.description, dict(workload.params), dict(cls.targets))
    impls: dict[str, Implementation] = {}
    for system in systems:
        impl_cls = cls.implementations.get(system)
        missing = SYSTEMS[system].missing()
        if impl_cls is None:
            result.skipped[system] = "no implementation for this workload"
        elif missing:
            result.skipped[system] = f"not installed ({', '.join(missing)})"
        else:
            impls[system] = impl_cls(workload)
    for system, reason in result.skipped.items():
        progress(f"[{cls.name}] skipping {system}: {reason}")

    progress(f"[{cls.name}] setting up")
    await workload.setup()
    opened: list[Implementation] = []
    try:
        for system, impl in list(impls.items()):
            try:
                await impl.open()
                opened.append(impl)
                for _ in range(warmup):
                    await impl.prepare()
                    await impl.run()
                result.systems[system] = SystemResult()
            except Exception as error:  # report the system as failed, keep the others
                result.systems[system] = SystemResult(error=f"{type(error).__name__}: {error}")
                progress(f"[{cls.name}] {system} failed to start: {error}")
                del impls[system]
        for rep in range(1, repeat + 1):
            for system, impl in impls.items():
                seconds = await _timed(impl)
                result.systems[system].samples.append(seconds)
                progress(f"[{cls.name}] round {rep}/{repeat} {system:<16} {seconds:.4f} s")
        if memory:
            for system, impl in impls.items():
                result.systems[system].peak_bytes = await _peak_memory(impl)
                peak = result.systems[system].peak_bytes or 0
                progress(f"[{cls.name}] {system:<16} peak heap {peak / 1e6:.1f} MB")
    finally:
        for impl in opened:
            await impl.close()
        await workload.teardown()
    return result
