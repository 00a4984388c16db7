"""URL parsing and create_engine argument validation (no database needed)."""

from __future__ import annotations

import sys

import pytest

import heron
from heron import create_engine, exc
from heron.engine.url import make_url


@pytest.mark.parametrize(
    ("text", "backend", "driver"),
    [
        ("postgresql://u:p@db.example:5433/app", "postgresql", "asyncpg"),
        ("postgres://u@localhost/app", "postgresql", "asyncpg"),
        ("postgresql+asyncpg://u@localhost/app", "postgresql", "asyncpg"),
        ("sqlite:///app.db", "sqlite", "aiosqlite"),
        ("sqlite+aiosqlite:///app.db", "sqlite", "aiosqlite"),
    ],
)
def test_known_schemes_parse_to_backend_and_driver(text: str, backend: str, driver: str) -> None:
    url = make_url(text)
    assert (url.backend, url.driver) == (backend, driver)


def test_postgres_url_parts_are_unquoted() -> None:
    url = make_url("postgresql://us%40er:p%3Ass@db.example:5433/my%20db?sslmode=disable")
    assert url.username == "us@er"
    assert url.password == "p:ss"
    assert url.host == "db.example"
    assert url.port == 5433
    assert url.database == "my db"
    assert dict(url.query) == {"sslmode": "disable"}


def test_rendered_url_hides_the_password() -> None:
    url = make_url("postgresql://user:secret@host/db")
    assert "secret" not in url.render()
    assert "secret" not in repr(url)
    assert "secret" in url.render(hide_password=False)


@pytest.mark.parametrize(
    ("text", "database", "memory"),
    [
        ("sqlite:///relative/app.db", "relative/app.db", False),
        ("sqlite:////abs/app.db", "/abs/app.db", False),
        ("sqlite:///:memory:", ":memory:", True),
        ("sqlite://", ":memory:", True),
        ("sqlite+aiosqlite:///:memory:", ":memory:", True),
    ],
)
def test_sqlite_paths(text: str, database: str, memory: bool) -> None:
    url = make_url(text)
    assert url.database == database
    assert url.is_memory is memory


@pytest.mark.parametrize(
    "text", ["mysql://u@h/db", "oracle+cx://x", "http://example.com", "postgresql+psycopg://u@h/d"]
)
def test_unknown_scheme_lists_known_schemes(text: str) -> None:
    with pytest.raises(exc.ConfigurationError) as info:
        create_engine(text)
    message = str(info.value)
    for scheme in ("postgresql", "postgres", "postgresql+asyncpg", "sqlite", "sqlite+aiosqlite"):
        assert scheme in message


@pytest.mark.parametrize("text", ["", "not a url", "localhost:5432/db", "://x"])
def test_malformed_url_says_what_was_expected(text: str) -> None:
    with pytest.raises(exc.ConfigurationError) as info:
        create_engine(text)
    assert "expected" in str(info.value)
    assert "sqlite:///" in str(info.value)


def test_malformed_url_error_never_shows_the_password() -> None:
    with pytest.raises(exc.ConfigurationError) as info:
        create_engine("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(info.value)


def test_bad_port_is_a_configuration_error() -> None:
    with pytest.raises(exc.ConfigurationError, match="port"):
        create_engine("postgresql://u@host:notaport/db")


def test_sqlite_url_with_a_host_is_rejected() -> None:
    with pytest.raises(exc.ConfigurationError, match="no host"):
        create_engine("sqlite://somehost/app.db")


def test_non_string_url_is_rejected() -> None:
    with pytest.raises(exc.ConfigurationError, match="string"):
        create_engine(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"pool_size": 0}, "pool_size"),
        ({"pool_size": -3}, "pool_size"),
        ({"pool_size": 2.5}, "pool_size"),
        ({"pool_size": True}, "pool_size"),
        ({"max_overflow": -1}, "max_overflow"),
        ({"pool_timeout": 0}, "pool_timeout"),
        ({"pool_timeout": -1.0}, "pool_timeout"),
        ({"pool_timeout": None}, "pool_timeout"),
        ({"pool_recycle": 0}, "pool_recycle"),
        ({"pool_recycle": "1h"}, "pool_recycle"),
    ],
)
def test_impossible_pool_settings_are_configuration_errors(kwargs: dict, name: str) -> None:
    with pytest.raises(exc.ConfigurationError, match=name):
        create_engine("sqlite:///:memory:", **kwargs)


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        create_engine("nope://")


async def test_create_engine_opens_no_connection() -> None:
    engine = create_engine("sqlite:///:memory:", pool_size=3)
    assert engine.pool.stats() == heron.engine.PoolStats(0, 0, 0, 0)
    assert engine.name == "sqlite"
    await engine.dispose()


def test_memory_database_uses_one_shared_connection() -> None:
    engine = create_engine("sqlite:///:memory:", pool_size=7, max_overflow=3)
    assert (engine.pool.pool_size, engine.pool.max_overflow) == (1, 0)


def test_engines_of_one_flavour_share_a_dialect() -> None:
    a = create_engine("sqlite:///:memory:")
    b = create_engine("sqlite:///other.db")
    assert a.dialect is b.dialect


def test_sqlite_engine_does_not_import_asyncpg() -> None:
    # Run in a fresh interpreter: this process may have imported asyncpg already.
    import subprocess

    code = (
        "import sys, heron; heron.create_engine('sqlite:///:memory:'); "
        "import heron.driver.aiosqlite; sys.exit(1 if 'asyncpg' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
