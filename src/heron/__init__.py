"""heron: an async ORM for Python, written from scratch for asyncio."""

from __future__ import annotations

__all__: list[str] = []
