"""Driver layer (1): the only code that imports a database library.

Driver modules (``heron.driver.asyncpg``, ``heron.driver.aiosqlite``) are
imported by the engine when a URL names them; importing this package imports
neither library.
"""

from __future__ import annotations

from heron.driver.base import Driver, DriverConnection, DriverCursor, DriverURL, RawRow

__all__ = ["Driver", "DriverConnection", "DriverCursor", "DriverURL", "RawRow"]
