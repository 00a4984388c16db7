"""Engine layer (2): URLs, the connection pool, Connection, transactions, results."""

from __future__ import annotations

from heron.engine.connection import Connection
from heron.engine.engine import Engine, EngineBegin, create_engine
from heron.engine.interfaces import Executable, ExecutionPlan
from heron.engine.pool import Pool, PoolStats
from heron.engine.result import (
    AsyncMappingResult,
    AsyncResult,
    AsyncScalarResult,
    MappingResult,
    Result,
    Row,
    RowMapping,
    ScalarResult,
)
from heron.engine.transaction import NestedTransaction, Transaction, TransactionState
from heron.engine.url import URL, make_url

__all__ = [
    "URL",
    "AsyncMappingResult",
    "AsyncResult",
    "AsyncScalarResult",
    "Connection",
    "Engine",
    "EngineBegin",
    "Executable",
    "ExecutionPlan",
    "MappingResult",
    "NestedTransaction",
    "Pool",
    "PoolStats",
    "Result",
    "Row",
    "RowMapping",
    "ScalarResult",
    "Transaction",
    "TransactionState",
    "create_engine",
    "make_url",
]
