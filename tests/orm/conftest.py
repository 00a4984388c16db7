"""ORM fixtures on top of tests/conftest.py's ``engine`` (both backends).

- ``orm_engine``: the ``engine`` with every table of ``models.Base`` created.
- ``session_factory``: ``sessionmaker(orm_engine)`` (expire_on_commit=False).

Sessions are opened in the test bodies (``async with session_factory() as s``),
so every test shows its own session lifecycle.

Every coroutine test in this folder runs under ``asyncio.timeout(TEST_TIMEOUT)``
(see ``pytest_collection_modifyitems``): a hang in the implementation fails one
test instead of stalling the run.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from heron.orm import sessionmaker

from .models import Base

TEST_TIMEOUT = 60.0
_HERE = Path(__file__).parent


def _with_timeout(func: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        async with asyncio.timeout(TEST_TIMEOUT):
            return await func(*args, **kwargs)

    return wrapper


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Wrap each coroutine test of tests/orm in an ``asyncio.timeout``.

    Hypothesis tests are left alone: they put the timeout around each example.
    """
    for item in items:
        if not isinstance(item, pytest.Function) or _HERE not in item.path.parents:
            continue
        func = item.obj
        if inspect.iscoroutinefunction(func) and not getattr(func, "is_hypothesis_test", False):
            item.obj = _with_timeout(func)


@pytest.fixture
async def orm_engine(engine: Any) -> Any:
    """The backend's engine with the tables of ``models.Base`` created."""
    await Base.metadata.create_all(engine)
    return engine


@pytest.fixture
def session_factory(orm_engine: Any) -> Any:
    """``sessionmaker(orm_engine)`` with the default settings."""
    return sessionmaker(orm_engine)
