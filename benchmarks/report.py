"""Report results: a text table (medians, ratios to raw asyncpg), JSON, and a PNG chart."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.registry import BASELINE
from benchmarks.runner import WorkloadResult


def ratio(result: WorkloadResult, system: str) -> float | None:
    """Median of ``system`` over the median of raw asyncpg, when both ran."""
    base = result.systems.get(BASELINE)
    mine = result.systems.get(system)
    if base is None or mine is None or not base.median or mine.median is None:
        return None
    return mine.median / base.median


def table(results: list[WorkloadResult]) -> str:
    """Render the results as an aligned text table."""
    header = ("workload", "system", "median s", "min s", "max s", f"x {BASELINE}", "target")
    rows: list[tuple[str, ...]] = []
    for result in results:
        first = True
        for system, data in result.systems.items():
            name = result.name if first else ""
            first = False
            if data.error or not data.samples:
                rows.append((name, system, "failed", "", "", "", data.error or ""))
                continue
            r = ratio(result, system)
            target = result.targets.get(system)
            verdict = ""
            if target is not None and r is not None:
                verdict = f"<= {target:.2f}x {'met' if r <= target else 'MISSED'}"
            rows.append(
                (
                    name,
                    system,
                    f"{data.median:.4f}",
                    f"{min(data.samples):.4f}",
                    f"{max(data.samples):.4f}",
                    "" if r is None else f"{r:.2f}x",
                    verdict,
                )
            )
        for system, reason in result.skipped.items():
            rows.append(("", system, "skipped", "", "", "", reason))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def to_json(results: list[WorkloadResult], meta: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, plus the environment, as plain JSON data."""
    return {
        "meta": {
            **meta,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": {p: _version(p) for p in ("heron", "asyncpg", "aiosqlite", "SQLAlchemy")},
        },
        "baseline": BASELINE,
        "workloads": [
            {
                "name": r.name,
                "description": r.description,
                "params": r.params,
                "targets": r.targets,
                "skipped": r.skipped,
                "systems": {
                    s: {
                        "samples": d.samples,
                        "median": d.median,
                        "ratio": ratio(r, s),
                        "peak_bytes": d.peak_bytes,
                        "error": d.error,
                    }
                    for s, d in r.systems.items()
                },
            }
            for r in results
        ],
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON."""
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_chart(path: Path, results: list[WorkloadResult]) -> str | None:
    """Draw ratios to raw asyncpg per workload and system; return why not, if skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib, or 'scripts/run.sh bench')"
    systems: list[str] = []
    for result in results:
        for system in result.systems:
            if system not in systems:
                systems.append(system)
    if not systems:
        return "nothing was measured"
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * len(results)), 4.5))
    for i, system in enumerate(systems):
        xs, ys = [], []
        for j, result in enumerate(results):
            r = ratio(result, system)
            if r is not None:
                xs.append(j + i * width - 0.4 + width / 2)
                ys.append(r)
        ax.bar(xs, ys, width, label=system)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(results)), [r.name for r in results])
    ax.set_ylabel(f"median time / raw {BASELINE} (lower is better)")
    ax.set_title("heron benchmarks")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None
