"""heron's pytest plugin for users' own async test suites (see ``plugin.py``)."""

from __future__ import annotations

from heron.testing.plugin import heron_connection, heron_engine, heron_session

__all__ = ["heron_connection", "heron_engine", "heron_session"]
