"""Command line: choose workloads and systems, run, print the table, write JSON and a chart.

    python -m benchmarks --url postgresql://root@127.0.0.1:5432/test \\
        --systems heron,asyncpg,sqlalchemy --workloads pool_small_queries --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import workloads as _workloads  # noqa: F401  (registers every workload)
from benchmarks.registry import REGISTRY, SYSTEMS, Context
from benchmarks.report import table, to_json, write_chart, write_json
from benchmarks.runner import WorkloadResult, progress, run_workload

DEFAULT_URL = os.environ.get(
    "HERON_BENCH_URL",
    os.environ.get("HERON_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test"),
)


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--param wants key=value, got {text!r}")
    parsed: Any = value
    for convert in (int, float):
        try:
            parsed = convert(value)
            break
        except ValueError:
            continue
    return key, parsed


def _choose(text: str | None, known: list[str], what: str) -> list[str]:
    if not text:
        return list(known)
    chosen = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen


def _plain_pg_url(url: str) -> str:
    # Every system gets the same database; asyncpg wants the plain scheme.
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure heron against raw asyncpg and SQLAlchemy on the same database.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL URL (default: %(default)s)")
    parser.add_argument("--systems", help=f"comma list of: {', '.join(SYSTEMS)} (default: all)")
    parser.add_argument("--workloads", help="comma list of workloads (default: all); see --list")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per system")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds per system first")
    parser.add_argument(
        "--param",
        action="append",
        type=_parse_param,
        default=[],
        metavar="KEY=VALUE",
        help="override a workload parameter (repeatable), e.g. --param queries=500",
    )
    parser.add_argument("--memory", action="store_true", help="also record peak heap per system")
    parser.add_argument("--out", default="bench-results", help="output directory for JSON/PNG")
    parser.add_argument("--no-chart", action="store_true", help="do not draw the PNG chart")
    parser.add_argument("--list", action="store_true", help="list workloads and systems, then exit")
    return parser


def _list() -> None:
    print("workloads:")
    for name, cls in REGISTRY.items():
        systems = ", ".join(cls.implementations)
        print(f"  {name:<24} {cls.description}")
        print(f"  {'':<24} systems: {systems}; params: {cls.defaults}")
    print("systems:")
    for system in SYSTEMS.values():
        missing = system.missing()
        note = f"  [not installed: {', '.join(missing)}]" if missing else ""
        print(f"  {system.name:<24} {system.description}{note}")


async def _run(args: argparse.Namespace) -> list[WorkloadResult]:
    names = _choose(args.workloads, list(REGISTRY), "workloads")
    systems = _choose(args.systems, list(SYSTEMS), "systems")
    ctx = Context(url=_plain_pg_url(args.url), params=dict(args.param))
    results = []
    for name in names:
        results.append(
            await run_workload(
                REGISTRY[name],
                ctx,
                systems,
                repeat=args.repeat,
                warmup=args.warmup,
                memory=args.memory,
            )
        )
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; return the process exit code."""
    args = build_parser().parse_args(argv)
    if args.list:
        _list()
        return 0
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    started = time.strftime("%Y%m%d-%H%M%S")
    results = asyncio.run(_run(args))
    print(table(results))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "started": started,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "url": args.url.split("@")[-1],  # never store credentials
        "argv": sys.argv[1:] if argv is None else argv,
    }
    json_path = out / f"bench-{started}.json"
    write_json(json_path, to_json(results, meta))
    progress(f"wrote {json_path}")
    if not args.no_chart:
        png_path = out / f"bench-{started}.png"
        why_not = write_chart(png_path, results)
        progress(f"chart skipped: {why_not}" if why_not else f"wrote {png_path}")
    return 0
