"""Every public error's ``code`` has a heading in docs/errors.md (messages point there)."""

from __future__ import annotations

from pathlib import Path

from heron import exc

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def test_every_error_code_has_a_heading_in_docs() -> None:
    headings = {
        line[3:].strip() for line in DOC.read_text().splitlines() if line.startswith("## ")
    }
    missing = []
    for name in exc.__all__:
        cls = getattr(exc, name)
        code = getattr(cls, "code", None)
        if isinstance(cls, type) and code is not None and code not in headings:
            missing.append(f"{name} ({code})")
    assert missing == []


def test_messages_point_at_their_heading() -> None:
    message = str(exc.PoolTimeoutError("pool exhausted"))
    assert message.endswith("(see docs/errors.md#pool-timeout)")
