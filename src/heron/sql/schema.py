"""Schema objects: MetaData, Table, Column, ForeignKey, constraints and indexes.

Layer 3 (sql). A ``Column`` can exist before it has a name, a type or a table
(the ORM names and types it from the class body, then hands it to
``Table``). A ``ForeignKey`` resolves its target lazily through the
table's ``MetaData``, so tables may be declared in any order. In cache keys a
schema column or table stands for itself (identity), so building the key of
``users.c.id == 5`` costs nothing per column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from heron.exc import ArgumentError
from heron.sql import ddl
from heron.sql.base import ColumnCollection, new_identity
from heron.sql.coercions import coerce_expression
from heron.sql.elements import (
    ClauseElement,
    ColumnClause,
    ColumnElement,
)
from heron.sql.selectable import FromClause
from heron.sql.text import TextClause
from heron.sql.types import Integer, TypeEngine, to_instance

T = TypeVar("T")
_EMPTY: tuple[Any, ...] = ()


class ColumnDefault:
    """A client-side default: a constant, a zero-argument callable, or a SQL expression.

    Attributes:
        arg: the value, callable or expression as given.
        is_callable: ``arg`` is a Python callable, called once per row.
        is_scalar: ``arg`` is a plain value.
        is_clause_element: ``arg`` is a SQL expression rendered into the statement.
        for_update: this is an ``onupdate`` default.
    """

    __slots__ = ("arg", "for_update", "is_callable", "is_clause_element", "is_scalar")

    def __init__(self, arg: Any, for_update: bool = False) -> None:
        if isinstance(arg, ColumnDefault):
            arg = arg.arg
        self.arg: Any = arg
        self.for_update = for_update
        self.is_clause_element = isinstance(arg, ClauseElement) or hasattr(
            arg, "__clause_element__"
        )
        self.is_callable = callable(arg) and not self.is_clause_element
        self.is_scalar = not (self.is_callable or self.is_clause_element)

    def value(self) -> Any:
        """The value for one row (calls the callable)."""
        return self.arg() if self.is_callable else self.arg

    def __repr__(self) -> str:
        return f"ColumnDefault({self.arg!r})"


class DefaultClause:
    """A server-side default rendered into the DDL (``DEFAULT ...``).

    Attributes:
        arg: a string (rendered as a quoted SQL literal) or a SQL expression
            such as ``func.now()`` or ``text("0")``.
    """

    __slots__ = ("arg", "for_update")

    def __init__(self, arg: Any, for_update: bool = False) -> None:
        if isinstance(arg, DefaultClause):
            arg = arg.arg
        self.arg: Any
        if not isinstance(arg, str | ClauseElement):
            arg = _coerce_ddl_expression(arg, "server_default")
        self.arg = arg
        self.for_update = for_update

    def __repr__(self) -> str:
        return f"DefaultClause({self.arg!r})"


def _coerce_ddl_expression(value: Any, what: str) -> ClauseElement:
    if isinstance(value, ClauseElement):
        return value
    if hasattr(value, "__clause_element__"):
        return coerce_expression(value)
    raise ArgumentError(
        f"{what} takes a string or a SQL expression (func.now(), text('0')), got {value!r}"
    )


class Column(ColumnElement[T]):
    """A table column.

    Example::

        Column("id", Integer, primary_key=True)
        Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
        Column(String(50))            # name given later (the ORM names it)

    Args:
        args: optional name, optional type (class or instance; None = decide
            later), then ``ForeignKey`` / ``CheckConstraint`` objects.
        primary_key: part of the primary key.
        nullable: NULL allowed; defaults to ``not primary_key``.
        default: a client-side default: a value, a zero-argument callable, or
            a SQL expression; used by INSERT when no value is given.
        onupdate: like ``default`` but for UPDATE statements.
        server_default: a string literal or SQL expression (``func.now()``) in the DDL.
        unique: a UNIQUE constraint on this column alone.
        index: an index on this column alone.
        autoincrement: ``"auto"`` (a single integer primary key without a
            foreign key or default autoincrements), True or False.
        key: the name in ``table.c`` and in parameter dicts (default: ``name``).
    """

    __visit_name__ = "column"
    _is_column = True

    def __init__(
        self,
        *args: Any,
        primary_key: bool = False,
        nullable: bool | None = None,
        default: Any = None,
        server_default: Any = None,
        onupdate: Any = None,
        server_onupdate: Any = None,
        unique: bool | None = None,
        index: bool | None = None,
        autoincrement: bool | str = "auto",
        key: str | None = None,
        comment: str | None = None,
        info: dict[str, Any] | None = None,
        type_: Any = None,
        name: str | None = None,
    ) -> None:
        rest = list(args)
        if rest and (isinstance(rest[0], str) or rest[0] is None):
            name = rest.pop(0) if name is None else name
        if rest and (rest[0] is None or _is_type(rest[0])):
            type_ = rest.pop(0)
        self.name: str | None = name
        self._explicit_key = key
        # None means "decided later" (the ORM sets it from the annotation).
        self.type = to_instance(type_) if type_ is not None else None  # type: ignore[assignment]
        self.table: Table | None = None
        self.primary_key = primary_key
        self.nullable = (not primary_key) if nullable is None else nullable
        self.default = ColumnDefault(default) if default is not None else None
        self.onupdate = ColumnDefault(onupdate, for_update=True) if onupdate is not None else None
        self.server_default = DefaultClause(server_default) if server_default is not None else None
        self.server_onupdate = (
            DefaultClause(server_onupdate, True) if server_onupdate is not None else None
        )
        self.unique = unique
        self.index = index
        if autoincrement not in ("auto", True, False):
            raise ArgumentError(
                f"autoincrement must be 'auto', True or False, got {autoincrement!r}"
            )
        self.autoincrement = autoincrement
        self.comment = comment
        self.info = dict(info or {})
        self.foreign_keys: set[ForeignKey] = set()
        self.constraints: set[Constraint] = set()
        self._fk_order: list[ForeignKey] = []
        for item in rest:
            if isinstance(item, ForeignKey):
                self._add_foreign_key(item)
            elif isinstance(item, CheckConstraint):
                self.constraints.add(item)
            else:
                raise ArgumentError(
                    f"Column() got {item!r}; after the name and type it takes ForeignKey "
                    "or CheckConstraint objects (use keywords for the rest)"
                )
        # A schema column stands for itself in cache keys.
        self._key = new_identity()
        self._binds = _EMPTY

    def _add_foreign_key(self, fk: ForeignKey) -> None:
        if fk.parent is not None and fk.parent is not self:
            fk = fk._copy()
        fk.parent = self
        self.foreign_keys.add(fk)
        self._fk_order.append(fk)

    @property
    def key(self) -> str:
        """The name in ``table.c`` and in parameter dicts (defaults to ``name``)."""
        return self._explicit_key if self._explicit_key is not None else self.name  # type: ignore[return-value]

    @key.setter
    def key(self, value: str | None) -> None:
        self._explicit_key = value

    @property
    def _result_name(self) -> str | None:
        return self.name

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self.table] if self.table is not None else []

    @property
    def is_autoincrement(self) -> bool:
        """This column gets database-generated integer values (identity/rowid)."""
        table = self.table
        return table is not None and table.autoincrement_column is self

    def references(self, column: Column[Any]) -> bool:
        """True if one of this column's foreign keys points at ``column``."""
        return any(fk.column is column for fk in self.foreign_keys)

    def _copy(self) -> Column[T]:
        """An unattached copy (same settings, fresh foreign keys), e.g. for mixins."""
        new: Column[T] = Column(
            self.name,
            self.type,
            *[fk._copy() for fk in self._fk_order],
            *self.constraints,
            primary_key=self.primary_key,
            nullable=self.nullable,
            default=self.default.arg if self.default is not None else None,
            server_default=self.server_default.arg if self.server_default is not None else None,
            onupdate=self.onupdate.arg if self.onupdate is not None else None,
            server_onupdate=self.server_onupdate.arg if self.server_onupdate is not None else None,
            unique=self.unique,
            index=self.index,
            autoincrement=self.autoincrement,
            key=self._explicit_key,
            comment=self.comment,
            info=self.info,
        )
        return new

    def __repr__(self) -> str:
        table = self.table.name if self.table is not None else None
        where = f"{table}." if table else ""
        return f"Column({where}{self.name}, {self.type!r})"


def _is_type(obj: Any) -> bool:
    return isinstance(obj, TypeEngine) or (isinstance(obj, type) and issubclass(obj, TypeEngine))


class ForeignKey:
    """A reference from a column to another table's column.

    Args:
        column: ``"table.column"`` (``"schema.table.column"``) or the target Column.
        ondelete: ``ON DELETE`` action, e.g. ``"CASCADE"``, ``"SET NULL"``.
        onupdate: ``ON UPDATE`` action.
        name: the constraint name.

    Attributes:
        parent: the column holding this foreign key (set when attached).
        column: the target Column, resolved through the MetaData on first use.
        target_fullname: ``"table.column"`` of the target.
        constraint: the ``ForeignKeyConstraint`` it belongs to (once in a table).
    """

    def __init__(
        self,
        column: str | Column[Any] | Any,
        *,
        ondelete: str | None = None,
        onupdate: str | None = None,
        name: str | None = None,
        deferrable: bool | None = None,
        initially: str | None = None,
        use_alter: bool = False,
    ) -> None:
        if not isinstance(column, str):
            column = getattr(column, "__clause_element__", lambda: column)()
            if not isinstance(column, Column):
                raise ArgumentError(
                    f"ForeignKey() takes 'table.column' or a Column, got {column!r}"
                )
        self._colspec: str | Column[Any] = column
        self.ondelete = ondelete
        self.onupdate = onupdate
        self.name = name
        self.deferrable = deferrable
        self.initially = initially
        self.use_alter = use_alter
        self.parent: Column[Any] | None = None
        self.constraint: ForeignKeyConstraint | None = None
        self._resolved: Column[Any] | None = None

    def _copy(self) -> ForeignKey:
        return ForeignKey(
            self._colspec,
            ondelete=self.ondelete,
            onupdate=self.onupdate,
            name=self.name,
            deferrable=self.deferrable,
            initially=self.initially,
            use_alter=self.use_alter,
        )

    @property
    def target_fullname(self) -> str:
        """``"table.column"`` (with schema if any) of the target."""
        spec = self._colspec
        if isinstance(spec, str):
            return spec
        table = spec.table
        return f"{table.fullname}.{spec.name}" if table is not None else f"?.{spec.name}"

    def _table_and_column_names(self) -> tuple[str, str]:
        spec = self._colspec
        if not isinstance(spec, str):
            table = spec.table
            return (table.fullname if table is not None else "?", spec.name or "?")
        if "." not in spec:
            raise ArgumentError(f"ForeignKey({spec!r}) needs 'table.column'")
        table_name, _, column_name = spec.rpartition(".")
        return table_name, column_name

    @property
    def column(self) -> Column[Any]:
        """The target column (resolved through the parent table's MetaData).

        Raises:
            ArgumentError: the target table or column is unknown.
        """
        if self._resolved is not None:
            return self._resolved
        spec = self._colspec
        if isinstance(spec, Column):
            self._resolved = spec
            return spec
        parent = self.parent
        owner = parent.table if parent is not None else None
        if owner is None:
            raise ArgumentError(
                f"ForeignKey({spec!r}) is not attached to a column of a table yet, "
                "so its target cannot be looked up"
            )
        table_name, column_name = self._table_and_column_names()
        tables = owner.metadata.tables
        table = tables.get(table_name)
        if table is None and owner.schema and "." not in table_name:
            table = tables.get(f"{owner.schema}.{table_name}")
        if table is None:
            raise ArgumentError(
                f"ForeignKey({spec!r}) on {owner.name}.{_name_of(parent)}: "
                f"no table {table_name!r} in this MetaData (tables: "
                f"{', '.join(sorted(tables)) or 'none'}); define it or fix the name"
            )
        target: Column[Any] | None = next((c for c in table.c if c.name == column_name), None)
        if target is None:
            target = table.c.get(column_name)
        if target is None:
            raise ArgumentError(
                f"ForeignKey({spec!r}) on {owner.name}.{_name_of(parent)}: table "
                f"{table.name!r} has no column {column_name!r} (columns: "
                f"{', '.join(c.name or '?' for c in table.c)})"
            )
        self._resolved = target
        return target

    def references(self, table: Table) -> bool:
        """True if this foreign key points at ``table``."""
        return self.column.table is table

    def _target_table_name(self) -> str:
        return self._table_and_column_names()[0]

    def __repr__(self) -> str:
        return f"ForeignKey({self.target_fullname!r})"


def _name_of(column: Column[Any] | None) -> str:
    return column.name or "?" if column is not None else "?"


class Constraint:
    """Base of table constraints; ``name`` is optional.

    Attributes:
        table: the table it belongs to (set when attached).
    """

    def __init__(self, *columns: Any, name: str | None = None) -> None:
        self.name = name
        self._pending = columns
        self.table: Table | None = None
        self.columns: ColumnCollection[Column[Any]] = ColumnCollection()

    def _attach(self, table: Table) -> None:
        self.table = table
        cols: dict[str, Column[Any]] = {}
        for item in self._pending:
            col = _column_in(table, item, type(self).__name__)
            cols[col.key] = col
        self.columns = ColumnCollection(cols)


def _column_in(table: Table, item: Any, what: str) -> Column[Any]:
    if isinstance(item, str):
        col = table.c.get(item)
        if col is None:
            col = next((c for c in table.c if c.name == item), None)
        if col is None:
            raise ArgumentError(
                f"{what} on table {table.name!r} names column {item!r}, which it does not "
                f"have (columns: {', '.join(table.c.keys())})"
            )
        return col  # type: ignore[no-any-return]
    element = item.__clause_element__() if hasattr(item, "__clause_element__") else item
    if not isinstance(element, Column) or element.table is not table:
        raise ArgumentError(f"{what} on table {table.name!r} got {item!r}, not one of its columns")
    return element


class PrimaryKeyConstraint(Constraint):
    """The primary key: ``PrimaryKeyConstraint("a", "b")`` for a composite key.

    Attributes:
        columns: the key's columns in order.
    """


class UniqueConstraint(Constraint):
    """``UNIQUE (columns...)``."""


class CheckConstraint(Constraint):
    """``CHECK (condition)``; a string is raw SQL, an expression is compiled (values inlined)."""

    def __init__(self, sqltext: Any, name: str | None = None) -> None:
        super().__init__(name=name)
        if isinstance(sqltext, str):
            sqltext = TextClause(sqltext)
        self.sqltext = _coerce_ddl_expression(sqltext, "CheckConstraint")

    def _attach(self, table: Table) -> None:
        self.table = table


class ForeignKeyConstraint(Constraint):
    """A (possibly composite) foreign key: ``ForeignKeyConstraint(["a", "b"], ["t.a", "t.b"])``.

    Attributes:
        elements: one ``ForeignKey`` per column pair.
        columns: the local columns.
    """

    def __init__(
        self,
        columns: Sequence[Any],
        refcolumns: Sequence[Any],
        *,
        name: str | None = None,
        ondelete: str | None = None,
        onupdate: str | None = None,
        deferrable: bool | None = None,
        initially: str | None = None,
        use_alter: bool = False,
    ) -> None:
        if len(columns) != len(refcolumns) or not columns:
            raise ArgumentError(
                "ForeignKeyConstraint needs as many referenced columns as local columns"
            )
        super().__init__(*columns, name=name)
        self.ondelete = ondelete
        self.onupdate = onupdate
        self.deferrable = deferrable
        self.initially = initially
        self.use_alter = use_alter
        self.elements = [
            ForeignKey(
                ref,
                ondelete=ondelete,
                onupdate=onupdate,
                name=name,
                deferrable=deferrable,
                initially=initially,
                use_alter=use_alter,
            )
            for ref in refcolumns
        ]
        for fk in self.elements:
            fk.constraint = self

    def _attach(self, table: Table) -> None:
        super()._attach(table)
        for col, fk in zip(self.columns, self.elements, strict=True):
            col._add_foreign_key(fk)

    @property
    def referred_table(self) -> Table:
        """The table the foreign key points at."""
        table = self.elements[0].column.table
        assert table is not None
        return table

    @property
    def column_keys(self) -> list[str]:
        return [c.key for c in self.columns]


class Index:
    """``CREATE [UNIQUE] INDEX name ON table (expressions...)``.

    May be passed to ``Table(...)`` or created afterwards from columns:
    ``Index("ix_users_email", users.c.email, unique=True)``.
    """

    def __init__(self, name: str | None, *expressions: Any, unique: bool = False) -> None:
        self.name = name
        self.unique = unique
        self._pending = expressions
        self.table: Table | None = None
        self.expressions: list[ColumnElement[Any]] = []
        # Built from columns of an existing table: attach to it right away.
        for expression in expressions:
            if isinstance(expression, str):
                continue
            owner = next(
                (f for f in coerce_expression(expression)._from_objects if isinstance(f, Table)),
                None,
            )
            if owner is not None:
                owner._add_index(self)
                break

    def _attach(self, table: Table) -> None:
        self.table = table
        self.expressions = [
            _column_in(table, e, "Index") if isinstance(e, str) else coerce_expression(e)
            for e in self._pending
        ]

    @property
    def columns(self) -> list[ColumnElement[Any]]:
        return list(self.expressions)

    def __repr__(self) -> str:
        return f"Index({self.name!r})"


class Table(FromClause):
    """A database table.

    Example::

        users = Table(
            "users", metadata,
            Column("id", Integer, primary_key=True),
            Column("name", String(50), nullable=False),
        )

    Attributes:
        name, schema, fullname ("schema.name" or "name"), metadata,
        c / columns, primary_key (PrimaryKeyConstraint), foreign_keys,
        constraints, indexes.
    """

    __visit_name__ = "table"

    def __init__(
        self,
        name: str,
        metadata: MetaData,
        *args: Any,
        schema: str | None = None,
        comment: str | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(metadata, MetaData):
            raise ArgumentError(
                f"Table({name!r}, ...) needs a MetaData as second argument, got {metadata!r}"
            )
        self.name = name
        self.schema = schema if schema is not None else metadata.schema
        self.metadata = metadata
        self.comment = comment
        self.info = dict(info or {})
        self.fullname = f"{self.schema}.{name}" if self.schema else name
        if self.fullname in metadata.tables:
            raise ArgumentError(
                f"table {self.fullname!r} is already defined in this MetaData; "
                "use another MetaData or name"
            )
        self._key = new_identity()
        self._binds = _EMPTY
        self._columns = ColumnCollection()
        self.primary_key = PrimaryKeyConstraint()
        self.constraints: set[Constraint] = set()
        self.indexes: set[Index] = set()
        self._constraint_order: list[Constraint] = []
        self._index_order: list[Index] = []
        columns = [a for a in args if isinstance(a, Column)]
        others = [a for a in args if not isinstance(a, Column)]
        cols: dict[str, Column[Any]] = {}
        for col in columns:
            if col.table is not None:
                raise ArgumentError(
                    f"column {col.name!r} already belongs to table {col.table.name!r}; "
                    "a column can be in one table only (copy it with col._copy())"
                )
            if not col.name:
                raise ArgumentError(f"a column of table {name!r} has no name")
            if col.key in cols:
                raise ArgumentError(f"table {name!r} has two columns with key {col.key!r}")
            cols[col.key] = col
        self._columns = ColumnCollection(cols)
        for col in columns:
            col.table = self
        explicit_pk = [a for a in others if isinstance(a, PrimaryKeyConstraint)]
        if explicit_pk:
            self.primary_key = explicit_pk[0]
            self.primary_key._attach(self)
            for col in self.primary_key.columns:
                col.primary_key = True
                col.nullable = False
        else:
            self.primary_key = PrimaryKeyConstraint(*[c for c in columns if c.primary_key])
            self.primary_key._attach(self)
        self._add_constraint(self.primary_key)
        for col in columns:
            for fk in col._fk_order:
                if fk.constraint is None:
                    self._column_fk_constraint(col, fk)
            for check in col.constraints:
                check._attach(self)
                self._add_constraint(check)
            if col.unique:
                unique = UniqueConstraint(col)
                unique._attach(self)
                unique._from_column = True  # type: ignore[attr-defined]
                self._add_constraint(unique)
            if col.index:
                index = Index(None, col, unique=False)
                if index.table is None:
                    self._add_index(index)
        for item in others:
            if isinstance(item, PrimaryKeyConstraint):
                continue
            if isinstance(item, Constraint):
                item._attach(self)
                self._add_constraint(item)
            elif isinstance(item, Index):
                self._add_index(item)
            else:
                raise ArgumentError(
                    f"Table({name!r}) got {item!r}; it takes Column, constraint and Index objects"
                )
        metadata._add_table(self)

    def _column_fk_constraint(self, col: Column[Any], fk: ForeignKey) -> None:
        constraint = ForeignKeyConstraint.__new__(ForeignKeyConstraint)
        Constraint.__init__(constraint, col, name=fk.name)
        constraint.ondelete = fk.ondelete
        constraint.onupdate = fk.onupdate
        constraint.deferrable = fk.deferrable
        constraint.initially = fk.initially
        constraint.use_alter = fk.use_alter
        constraint.elements = [fk]
        fk.constraint = constraint
        Constraint._attach(constraint, self)
        self._add_constraint(constraint)

    def _add_constraint(self, constraint: Constraint) -> None:
        if constraint not in self.constraints:
            self.constraints.add(constraint)
            self._constraint_order.append(constraint)

    def _add_index(self, index: Index) -> None:
        index._attach(self)
        if index.name is None:
            cols = "_".join(getattr(e, "name", None) or "expr" for e in index.expressions)
            index.name = f"ix_{self.name}_{cols}"
        if index not in self.indexes:
            self.indexes.add(index)
            self._index_order.append(index)

    def append_constraint(self, constraint: Constraint) -> None:
        """Add a constraint after the table was built."""
        constraint._attach(self)
        self._add_constraint(constraint)

    @property
    def foreign_keys(self) -> set[ForeignKey]:
        """Every ForeignKey of the table's columns."""
        return {fk for col in self._columns for fk in col.foreign_keys}

    @property
    def foreign_key_constraints(self) -> list[ForeignKeyConstraint]:
        """Foreign-key constraints in declaration order."""
        return [c for c in self._constraint_order if isinstance(c, ForeignKeyConstraint)]

    @property
    def autoincrement_column(self) -> Column[Any] | None:
        """The integer primary-key column the database numbers, if any."""
        pk = list(self.primary_key.columns)
        candidates = [c for c in pk if c.autoincrement is True]
        if candidates:
            return candidates[0] if _is_integer(candidates[0]) else None
        if len(pk) != 1:
            return None
        col = pk[0]
        if (
            col.autoincrement == "auto"
            and _is_integer(col)
            and not col.foreign_keys
            and col.default is None
            and col.server_default is None
        ):
            return col
        return None

    def __repr__(self) -> str:
        return f"Table({self.fullname!r})"


def _is_integer(col: Column[Any]) -> bool:
    return isinstance(col.type, Integer)


class MetaData:
    """A collection of tables, created and dropped together.

    Attributes:
        tables: ``{fullname: Table}``.
        schema: default schema for tables that name none.
    """

    def __init__(self, schema: str | None = None) -> None:
        self.tables: dict[str, Table] = {}
        self.schema = schema

    def _add_table(self, table: Table) -> None:
        self.tables[table.fullname] = table

    def remove(self, table: Table) -> None:
        """Forget ``table``."""
        self.tables.pop(table.fullname, None)

    def clear(self) -> None:
        """Forget every table."""
        self.tables.clear()

    @property
    def sorted_tables(self) -> list[Table]:
        """Tables in foreign-key order: referenced tables before the tables referencing them.

        Tables in a foreign-key cycle keep declaration order among themselves.
        """
        return ddl.sort_tables(list(self.tables.values()))

    async def create_all(
        self, bind: Any, *, tables: Iterable[Table] | None = None, checkfirst: bool = True
    ) -> None:
        """Create the tables (and their indexes) that do not exist yet.

        Args:
            bind: an Engine (a transaction is opened) or a Connection.
            tables: only these tables (default: all).
            checkfirst: skip tables that exist, so running twice is safe.
        """
        await ddl.create_all(self, bind, tables=tables, checkfirst=checkfirst)

    async def drop_all(
        self, bind: Any, *, tables: Iterable[Table] | None = None, checkfirst: bool = True
    ) -> None:
        """Drop the tables that exist, children before parents.

        Args:
            bind: an Engine (a transaction is opened) or a Connection.
            tables: only these tables (default: all).
            checkfirst: skip tables that do not exist, so running twice is safe.
        """
        await ddl.drop_all(self, bind, tables=tables, checkfirst=checkfirst)

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def __repr__(self) -> str:
        return f"MetaData({', '.join(self.tables)})"


def column(name: str, type_: Any = None) -> ColumnClause[Any]:
    """A lightweight named column not tied to a Table (for text() and ad-hoc SQL)."""
    return ColumnClause(name, type_)


__all__ = [
    "CheckConstraint",
    "Column",
    "ColumnDefault",
    "Constraint",
    "DefaultClause",
    "ForeignKey",
    "ForeignKeyConstraint",
    "Index",
    "MetaData",
    "PrimaryKeyConstraint",
    "Table",
    "UniqueConstraint",
]
