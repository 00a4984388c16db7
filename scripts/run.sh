#!/usr/bin/env bash
# One entry point for the README's commands: `demo`, `test`, `bench`.
# It creates .venv (Python 3.11+), installs heron with what the command needs
# (re-installing only when pyproject.toml changed), then runs the command.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${HERON_VENV:-.venv}"

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "heron needs Python 3.11 or newer on PATH" >&2
    return 1
}

bootstrap() {
    local extra="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        "$(find_python)" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
    fi
    local stamp="$VENV/.heron-installed-$extra"
    # the C extension (heron._speedups) is rebuilt by the same install
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] ||
        [ src/heron/_speedups.c -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install --quiet -e ".[$extra]"
        touch "$stamp"
    fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
    demo)
        bootstrap test
        exec "$VENV/bin/python" examples/demo.py "$@"
        ;;
    test)
        bootstrap test
        echo "== ruff"
        "$VENV/bin/ruff" check src tests benchmarks examples
        echo "== mypy --strict src"
        "$VENV/bin/mypy" src/heron
        echo "== pytest"
        "$VENV/bin/python" -m pytest "$@"
        # the C row loops (heron/_speedups.c) ran above; the ORM suite again on
        # the generated Python loaders they must match
        echo "== pytest tests/orm with HERON_NO_SPEEDUPS=1 (pure-Python loaders)"
        HERON_NO_SPEEDUPS=1 exec "$VENV/bin/python" -m pytest -q tests/orm
        ;;
    bench)
        bootstrap "test,bench"
        exec "$VENV/bin/python" -m benchmarks "$@"
        ;;
    *)
        echo "usage: scripts/run.sh demo|test|bench [args...]" >&2
        exit 2
        ;;
esac
