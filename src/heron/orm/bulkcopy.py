"""The COPY path for bulk inserts: reserve keys from the sequence, then COPY the rows.

Layer 4 (orm). Used by ``persistence.insert_group`` on dialects with
``supports_copy`` (PostgreSQL) for batches of at least ``bulk.COPY_MIN_ROWS``
rows, and only where it is provably equivalent to the general
``INSERT ... RETURNING`` (docs/orm.md, "Bulk inserts by COPY"): the key
comes from the column's own sequence (``nextval`` once per row, as the
INSERT's default would), every other value the INSERT would read back is a
transaction-stable server default computed in the same transaction, every
column has exactly the type heron binds, and nothing the INSERT honours but
COPY skips (rules, row-level security, INSERT triggers) is present. Anything
else answers False and the caller sends the INSERT.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import re
import uuid
import weakref
from collections import deque
from copy import deepcopy
from dataclasses import dataclass
from itertools import repeat
from operator import setitem
from typing import TYPE_CHECKING, Any

from heron.orm.loading import _speedups
from heron.sql import bulk

if TYPE_CHECKING:
    from heron.engine.engine import Engine
    from heron.orm.mapper import Mapper
    from heron.orm.persistence import FlushContext
    from heron.sql.schema import Column, Table

# Server defaults whose value is the same for every row of one transaction,
# as PostgreSQL prints them (pg_get_expr): constants and the transaction's
# start time, each optionally cast. Anything else (clock_timestamp(),
# random(), nextval of another sequence, ...) differs per row or statement,
# so a table using one for an omitted column keeps the INSERT.
_CAST = r'(?:::(?:"[^"]+"|[a-z_][a-z0-9_ ]*)(?:\(\d+(?:,\d+)?\))?(?:\[\])?)'
_STABLE_DEFAULT = re.compile(
    r"(?:\(?(?:now\(\)|transaction_timestamp\(\)|CURRENT_TIMESTAMP(?:\(\d\))?|CURRENT_DATE"
    r"|LOCALTIMESTAMP(?:\(\d\))?|CURRENT_TIME(?:\(\d\))?|LOCALTIME(?:\(\d\))?"
    r"|'(?:[^'\\]|'')*'|-?\d+(?:\.\d+)?|\(-\d+(?:\.\d+)?\)|true|false|NULL)\)?"
    rf"{_CAST}*)"
)
# format_type() output, to be pasted into CAST(... AS type)
_TYPE_NAME = re.compile(
    r'(?:"[^"]+"|[a-z_][a-z0-9_ ]*)(?:\.(?:"[^"]+"|[a-z_][a-z0-9_ ]*))?'
    r"(?:\(\d+(?:,\d+)?\))?(?: [a-z ]+)?(?:\[\])?"
)


@dataclass(slots=True, frozen=True)
class CopyFacts:
    """What the catalog says about one table, for the COPY decision.

    Attributes:
        oid: the table's oid when learnt (re-checked by every reservation).
        definition: the fingerprint of its definition (re-checked likewise).
        partitioned: whether it is a partitioned table (the fingerprint then
            covers its partitions' triggers).
        schema: the schema the table's name resolved to.
        name: the table's name in the catalog.
        copyable: COPY into it behaves like INSERT (no rules, RLS or INSERT triggers).
        typed: column key -> whether the column exists with exactly heron's type.
        sequence: the oid (as text) of the autoincrement column's sequence, when
            its values come from ``nextval`` of it (serial, or identity BY
            DEFAULT); else None. By oid, as the column's default refers to it:
            a renamed sequence is still the one used.
        defaults: column key -> (default expression, column type) for columns
            whose server default is transaction-stable.
    """

    oid: int
    definition: str
    partitioned: bool
    schema: str
    name: str
    copyable: bool
    typed: dict[str, bool]
    sequence: str | None
    defaults: dict[str, tuple[str, str]]


# engine -> table -> facts. Weak on the engine so a disposed engine's entries
# go with it.
_facts: weakref.WeakKeyDictionary[Engine, dict[Table, CopyFacts]] = weakref.WeakKeyDictionary()


async def _learn(ctx: FlushContext, mapper: Mapper) -> CopyFacts | None:
    keys = list(mapper.columns)
    columns = [mapper.columns[k] for k in keys]
    auto = mapper.autoincrement_key
    key_col = mapper.columns[auto] if auto is not None else None
    result = await ctx.run(bulk.copy_facts_plan(ctx.dialect, mapper.table, columns, key_col))
    rows = result._raw_rows
    if not rows:
        return None
    by_name = {r[4]: r for r in rows}
    typed: dict[str, bool] = {}
    defaults: dict[str, tuple[str, str]] = {}
    sequence = None
    for key, col in zip(keys, columns, strict=True):
        row = by_name.get(col.name)
        if row is None:
            return None
        _, _, _, _, _, type_ok, identity, default, type_name, seq, serial_ok, _, _ = row
        typed[key] = bool(type_ok)
        if key == auto and seq is not None and (identity == "d" or serial_ok):
            # identity ALWAYS is left to the INSERT: COPY would write our
            # values into a column declared never to take written values
            sequence = seq
        elif (
            default is not None
            and _STABLE_DEFAULT.fullmatch(default)
            and _TYPE_NAME.fullmatch(type_name)
        ):
            defaults[key] = (default, type_name)
    first = rows[0]
    return CopyFacts(
        oid=first[0],
        definition=first[11],
        partitioned=bool(first[12]),
        schema=first[1],
        name=first[2],
        copyable=bool(first[3]),
        typed=typed,
        sequence=sequence,
        defaults=defaults,
    )


async def _facts_for(ctx: FlushContext, mapper: Mapper, refresh: bool) -> CopyFacts | None:
    per_engine = _facts.get(ctx.conn.engine)
    if per_engine is None:
        per_engine = _facts[ctx.conn.engine] = {}
    table = mapper.table
    facts = None if refresh else per_engine.get(table)
    if facts is None:
        facts = await _learn(ctx, mapper)
        # a name that resolved to no table is not remembered: the INSERT
        # fails for now, and the table may exist by the next flush
        if facts is not None:
            per_engine[table] = facts
    return facts


async def copy_group(
    ctx: FlushContext,
    mapper: Mapper,
    send_keys: list[str],
    send_cols: list[Column[Any]],
    values: list[list[Any]],
    omit: frozenset[str],
    dicts: list[dict[str, Any]],
) -> bool:
    """Insert one shape group by COPY when that is equivalent to the INSERT; else False.

    ``values`` are column-major and already bind-processed, as for the
    INSERT. On success the omitted columns (the generated key, server
    defaults) are set in ``dicts`` exactly as RETURNING would have set them;
    on a database error nothing is set and the error propagates.
    """
    auto = mapper.autoincrement_key
    count = len(dicts)
    for refresh in (False, True):
        facts = await _facts_for(ctx, mapper, refresh)
        if facts is None or not facts.copyable:
            return False
        # omit holds the autoincrement key exactly when the database generates it
        generated = auto is not None and auto in omit
        if auto is not None and generated and (facts.sequence is None or not facts.typed[auto]):
            return False
        if not all(facts.typed[k] for k in send_keys):
            return False
        default_keys = [k for k in omit if k != auto]
        if any(k not in facts.defaults for k in default_keys):
            return False
        plan = bulk.reserve_plan(
            ctx.dialect,
            mapper.table,
            facts.oid,
            facts.definition,
            facts.partitioned,
            facts.sequence if generated else None,
            count,
            [facts.defaults[k] for k in default_keys],
        )
        rows = (await ctx.run(plan))._raw_rows
        if rows:
            break
        # the name now resolves to another table (search_path changed, or the
        # table was re-created), or its definition changed: learn it again
    else:
        return False
    reserved = list(rows[0])
    columns = mapper.columns
    copy_keys = list(send_keys)
    copy_values = list(values)
    if generated:
        assert auto is not None
        keys = reserved.pop(0)
        key_col = columns[auto]
        copy_keys.append(auto)
        # bind-process the keys like any value sent, and read them back the
        # way a RETURNING row would be read
        bind = key_col.type.bind_processor(ctx.dialect)
        copy_values.append(keys if bind is None else list(map(bind, keys)))
        result = key_col.type.result_processor(ctx.dialect)
        if result is not None:
            keys = list(map(result, keys))
    names = [_column_name(columns[k]) for k in copy_keys]
    assert all(len(v) == count for v in copy_values), "one value per row and column"
    # rows made one at a time as the COPY consumes them: no 10,000 tuples
    # alive at once for the garbage collector to walk
    records = zip(*copy_values, strict=False)  # lengths asserted above
    await ctx.conn.copy_records(facts.name, names, records, schema=facts.schema)
    # written only now: a failed COPY leaves the objects as they were.
    # The key and every immutable default go in with one pass over the rows
    # (the C extension's set_columns) or one C-level map each (deque(map(
    # setitem, ...), 0) runs the map without a list).
    set_keys: list[str] = []
    set_values: list[Any] = []  # a list: per row; anything else: every row's
    if generated:
        assert auto is not None
        set_keys.append(auto)
        set_values.append(keys if type(keys) is list else list(keys))
    mutable: list[tuple[str, Any, Any]] = []
    for k, raw in zip(default_keys, reserved, strict=True):
        proc = columns[k].type.result_processor(ctx.dialect)
        value = raw if proc is None else proc(raw)
        if isinstance(value, _IMMUTABLE):
            set_keys.append(k)
            set_values.append(value)
        else:
            mutable.append((k, raw, proc))
    if _speedups is not None:
        _speedups.set_columns(dicts, tuple(set_keys), tuple(set_values))
    else:
        for k, value in zip(set_keys, set_values, strict=True):
            each: Any = value if type(value) is list else repeat(value, count)
            deque(map(setitem, dicts, repeat(k), each), 0)
    for k, raw, proc in mutable:
        # a mutable value (a JSON dict or list, an array) is read once per
        # row, as RETURNING would give it: no object shared between rows
        per_row = map(deepcopy if proc is None else proc, repeat(raw, count))
        deque(map(setitem, dicts, repeat(k), per_row), 0)
    return True


# result values one object may stand for in every row (nothing can change them)
_IMMUTABLE = (
    str,
    int,
    float,
    bytes,
    bool,
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    enum.Enum,
    type(None),
)


def _column_name(column: Column[Any]) -> str:
    name = column.name
    assert name is not None, "columns in a table always have names"
    return name
