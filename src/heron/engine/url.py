"""Database URLs: parse and validate ``create_engine``'s first argument.

Layer 2. A URL names a backend and a driver by its scheme; parsing never
imports a driver. Every malformed or unknown URL raises ``ConfigurationError``
saying what was expected and which schemes heron knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, unquote, urlsplit

from heron.exc import ConfigurationError

# scheme as written -> (backend, driver)
SCHEMES: dict[str, tuple[str, str]] = {
    "postgresql": ("postgresql", "asyncpg"),
    "postgres": ("postgresql", "asyncpg"),
    "postgresql+asyncpg": ("postgresql", "asyncpg"),
    "sqlite": ("sqlite", "aiosqlite"),
    "sqlite+aiosqlite": ("sqlite", "aiosqlite"),
}

MEMORY = ":memory:"

_EXAMPLES = (
    "postgresql://user:password@host:5432/dbname, sqlite:///relative/path.db, "
    "sqlite:////absolute/path.db or sqlite:///:memory:"
)


def _known() -> str:
    return ", ".join(SCHEMES)


@dataclass(frozen=True, slots=True)
class URL:
    """A parsed database URL.

    Attributes:
        scheme: the scheme as written (``postgres``, ``sqlite+aiosqlite`` ...).
        backend: ``postgresql`` or ``sqlite``.
        driver: the driver module name (``asyncpg`` or ``aiosqlite``).
        username, password, host, port: connection parameters (PostgreSQL).
        database: database name, or the SQLite file path (``:memory:`` for memory).
        query: extra options from the query string, passed to the driver.
    """

    scheme: str
    backend: str
    driver: str
    username: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_memory(self) -> bool:
        """Whether this is an in-memory SQLite database (one shared connection)."""
        if self.backend != "sqlite":
            return False
        db = self.database or MEMORY
        return db == MEMORY or "mode=memory" in db

    def render(self, *, hide_password: bool = True) -> str:
        """Return the URL as text, with the password masked unless asked otherwise."""
        if self.backend == "sqlite":
            return f"{self.scheme}:///{self.database or MEMORY}"
        auth = ""
        if self.username:
            auth = self.username
            if self.password:
                auth += ":" + ("***" if hide_password else self.password)
            auth += "@"
        port = f":{self.port}" if self.port else ""
        query = "&".join(f"{k}={v}" for k, v in self.query.items())
        tail = f"?{query}" if query else ""
        return f"{self.scheme}://{auth}{self.host or ''}{port}/{self.database or ''}{tail}"

    def __repr__(self) -> str:
        return f"URL({self.render()!r})"


def make_url(text: str | URL) -> URL:
    """Parse ``text`` into a URL.

    Example::

        make_url("postgresql://root@127.0.0.1:5432/test").database  # "test"
        make_url("sqlite:///:memory:").is_memory                     # True

    Raises:
        ConfigurationError: the text is not a URL, or its scheme is unknown.
    """
    if isinstance(text, URL):
        return text
    if not isinstance(text, str):
        raise ConfigurationError(
            f"A database URL must be a string, not {type(text).__name__}; "
            f"expected something like {_EXAMPLES}"
        )
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme:
        raise ConfigurationError(
            f"Cannot parse database URL {_mask(text)!r}: expected '<scheme>://...' "
            f"such as {_EXAMPLES}; known schemes: {_known()}"
        )
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"Unknown database URL scheme {scheme!r} in {_mask(text)!r}; "
            f"known schemes: {_known()}"
        )
    backend, driver = SCHEMES[scheme]
    if backend == "sqlite":
        return _sqlite_url(text, scheme, driver, rest)
    return _server_url(text, scheme, backend, driver)


def _sqlite_url(text: str, scheme: str, driver: str, rest: str) -> URL:
    path, _, query_text = rest.partition("?")
    if path and not path.startswith("/"):
        raise ConfigurationError(
            f"SQLite URLs have no host: got {text!r}; expected {_EXAMPLES}"
        )
    database = unquote(path[1:]) if path else MEMORY
    query = dict(parse_qsl(query_text))
    return URL(
        scheme=scheme,
        backend="sqlite",
        driver=driver,
        database=database or MEMORY,
        query=MappingProxyType(query),
    )


def _server_url(text: str, scheme: str, backend: str, driver: str) -> URL:
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError as error:
        raise ConfigurationError(
            f"Invalid port in database URL {_mask(text)!r}: {error}; expected {_EXAMPLES}"
        ) from error
    database = unquote(parts.path[1:]) if parts.path.startswith("/") else None
    query = dict(parse_qsl(parts.query))
    return URL(
        scheme=scheme,
        backend=backend,
        driver=driver,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        host=parts.hostname,
        port=port,
        database=database or None,
        query=MappingProxyType(query),
    )


def _mask(text: str) -> str:
    # Never echo a password back in an error message.
    try:
        parts = urlsplit(text)
        if parts.password:
            return text.replace(f":{parts.password}@", ":***@", 1)
    except ValueError:
        pass
    return text
