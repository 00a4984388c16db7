"""SQL compilers per dialect and the compiled-statement cache (layer 3).

Importing this package registers the compilers and installs the hooks the
expression classes call (``compile()``, ``_plan_execution``).
"""

from __future__ import annotations

from heron.sql import base as _base
from heron.sql import elements as _elements
from heron.sql.compiler.base import SQLCompiler
from heron.sql.compiler.compiled import Compiled, compile_statement, plan_execution
from heron.sql.compiler.postgresql import PostgresCompiler
from heron.sql.compiler.sqlite import SqliteCompiler

_base._compilers[PostgresCompiler.dialect_name] = PostgresCompiler
_base._compilers[SqliteCompiler.dialect_name] = SqliteCompiler
_base._plan_hook = plan_execution
_elements._compile_hook = compile_statement

compiler_for = _base.compiler_for
# ``compile(stmt, dialect)``: same as ``stmt.compile(dialect)``.
compile = compile_statement

__all__ = [
    "Compiled",
    "PostgresCompiler",
    "SQLCompiler",
    "SqliteCompiler",
    "compile",
    "compile_statement",
    "compiler_for",
    "plan_execution",
]
