"""Executes a flush: batched INSERT ... RETURNING, UPDATE and DELETE.

Layer 4 (orm). Called by ``Session.flush`` inside a transaction; any error
propagates and the session rolls the whole transaction back, so nothing is
half-applied. Objects' bookkeeping (identity keys, committed values) is only
finalised by the session after every statement succeeded.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from itertools import chain, compress, repeat
from operator import attrgetter, is_, is_not, itemgetter, setitem
from typing import TYPE_CHECKING, Any

from heron import exc
from heron._util.gcpause import paused_gc
from heron.orm import bulkcopy
from heron.orm import unitofwork as uow
from heron.orm.instrumentation import _note_change
from heron.orm.loading import _speedups
from heron.orm.relationships import Direction, RelationshipProperty, _qualname
from heron.orm.state import NO_VALUE, STATE_KEY, InstanceState
from heron.sql import bulk
from heron.sql.types import process_column

if TYPE_CHECKING:
    from heron.dialect.base import Dialect
    from heron.engine.connection import Connection
    from heron.orm.mapper import Mapper
    from heron.sql.schema import Column


class FlushContext:
    """Everything one flush needs, and what it did (for the session to finalise)."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self.inserted: list[InstanceState] = []
        # the same states as inserted, as (mapper, states, their __dict__s) in
        # INSERT order (the bookkeeping after the flush reads keys from the dicts)
        self.inserted_groups: list[tuple[Mapper, list[InstanceState], list[dict[str, Any]]]] = []
        self.deleted: list[InstanceState] = []
        # the inserted states whose keys the database generated, per batch
        # (lists: nothing per row is built unless a failure or post_update asks)
        self.generated_groups: list[list[InstanceState]] = []

    def generated_ids(self) -> set[int]:
        """``id()`` of every state whose key the database generated in this flush."""
        return {id(st) for group in self.generated_groups for st in group}

    async def run(self, plan: Any) -> Any:
        return await self.conn.execute(bulk.PlannedStatement(plan))


# -- value helpers --------------------------------------------------------------


def _bind_procs(dialect: Dialect, columns: list[Column[Any]]) -> list[Callable[[Any], Any] | None]:
    return [c.type.bind_processor(dialect) for c in columns]


def _python_type_check(col: Column[Any]) -> type | tuple[type, ...] | None:
    try:
        pt = col.type.python_type
    except (NotImplementedError, AttributeError):
        return None
    if pt is object:
        return None
    if pt is float:
        return (float, int)
    if pt is int:
        return int
    return pt


# -- foreign-key synchronisation -----------------------------------------------


def _set_column(obj: Any, state: InstanceState, key: str, value: Any) -> None:
    """Write a foreign-key value computed by the flush, tracking it like a user write."""
    d = obj.__dict__
    old = d.get(key, NO_VALUE)
    if old is value or (old is not NO_VALUE and type(old) is type(value) and old == value):
        return
    _note_change(obj, state, key, old)
    if state.expired_keys:
        state.expired_keys.discard(key)
    d[key] = value


def pull_many_to_one(state: InstanceState, obj: Any, include_post_update: bool = False) -> None:
    """Copy referenced objects' keys into this row's foreign-key columns."""
    d = obj.__dict__
    committed = state.committed
    for prop in state.mapper.m2o_props:
        if prop.post_update and not include_post_update:
            continue
        value = d.get(prop.key, NO_VALUE)
        if value is NO_VALUE:
            continue
        if state.key is not None and (committed is None or prop.key not in committed):
            continue
        _sync_pairs(prop, value, obj, state, many_to_one=True)


def pull_many_to_one_new(
    mapper: Mapper, states: list[InstanceState], objs: list[Any], dicts: list[dict[str, Any]]
) -> None:
    """``pull_many_to_one`` for rows about to be INSERTed, without change tracking.

    The INSERT writes every column of a new row, and the flush forgets the
    change tracking of rows it inserts, so noting each foreign-key write (and
    holding the object for it) would be undone unread. Hot path: benchmarks W2.
    """
    plan: list[tuple[str, list[tuple[str, str]]]] = []
    own_keys = mapper.column_keys_by_column
    for prop in mapper.m2o_props:
        if prop.post_update:
            continue
        target = prop.mapper_target
        assert target is not None
        pairs = [
            (own_keys[id(fk_col)], target.column_keys_by_column[id(ref_col)])
            for ref_col, fk_col in prop.pairs
            if id(fk_col) in own_keys
        ]
        if pairs:
            plan.append((prop.key, pairs))
    if not plan:
        return
    if _speedups is not None:
        # each relationship's keys in one C pass (stops at the first row that
        # is not a plain new row holding a related object: the loop below)
        pull = _speedups.pull_keys
        if all(
            pull(states, dicts, rel_key, tuple(k for k, _ in pairs), tuple(k for _, k in pairs))
            for rel_key, pairs in plan
        ):
            return
    elif not any(map(_expired_of, states)) and all(map(is_, map(_key_of, states), repeat(None))):
        # plain new rows: each relationship's keys copied column-wise at C
        # speed when every row holds a related object (hot path: W2)
        for rel_key, pairs in plan:
            related = list(map(dict.get, dicts, repeat(rel_key), repeat(NO_VALUE)))
            if any(map(is_, related, repeat(NO_VALUE))) or any(map(is_, related, repeat(None))):
                break
            sources = list(map(_dict_of, related))
            for key, src_key in pairs:
                deque(map(setitem, dicts, repeat(key), map(dict.get, sources, repeat(src_key))), 0)
        else:
            return
    for st in states:
        obj = st()
        if st.key is not None or st.expired_keys:
            pull_many_to_one(st, obj)  # not a plain new row: the general path
            continue
        d = obj.__dict__
        for rel_key, pairs in plan:
            value = d.get(rel_key, NO_VALUE)
            if value is NO_VALUE:
                continue
            if value is None:
                for key, _ in pairs:
                    d[key] = None
            else:
                source = value.__dict__
                for key, src_key in pairs:
                    d[key] = source.get(src_key)


def _sync_pairs(
    prop: RelationshipProperty, source: Any, dest: Any, dest_state: InstanceState, many_to_one: bool
) -> None:
    src_mapper = prop.mapper_target if many_to_one else prop.parent
    dest_mapper = dest_state.mapper
    for ref_col, fk_col in prop.pairs:
        key = dest_mapper.column_keys_by_column.get(id(fk_col))
        if key is None:
            continue
        if source is None:
            _set_column(dest, dest_state, key, None)
            continue
        src_key = src_mapper.column_keys_by_column[id(ref_col)]  # type: ignore[union-attr]
        _set_column(dest, dest_state, key, source.__dict__.get(src_key))


def push_one_to_many(state: InstanceState, obj: Any, deleting: set[int]) -> None:
    """Give the members of this row's one-to-many collections its key (and NULL to removed ones)."""
    for prop in state.mapper.o2m_props:
        value = obj.__dict__.get(prop.key, NO_VALUE)
        if value is NO_VALUE:
            continue
        committed = state.committed
        old = committed.get(prop.key, NO_VALUE) if committed else NO_VALUE
        current = uow.related_for_sync(prop, value)
        if state.key is not None and old is NO_VALUE:
            # unchanged collection of a persistent row: members already point here
            added = [] if committed is None or prop.key not in committed else current
            removed: list[Any] = []
        elif old is NO_VALUE:
            # a new row's collection: every member is new to it (hot path: W2)
            added = current
            removed = []
        else:
            before = uow.related_for_sync(prop, old)
            before_ids = {id(o) for o in before}
            now_ids = {id(o) for o in current}
            added = (
                [o for o in current if id(o) not in before_ids]
                if state.key is not None
                else current
            )
            removed = [o for o in before if id(o) not in now_ids]
        back = prop.back
        back_key = back.key if back is not None else None
        for child in added:
            cd = child.__dict__
            cst = cd.get(STATE_KEY)
            if cst is None or id(cst) in deleting or cst.deleted_flushed:
                continue
            if cst.key is None and back_key is not None and cd.get(back_key) is obj:
                continue  # a new child copies the key itself before its INSERT
            _sync_pairs(prop, obj, child, cst, many_to_one=False)
        for child in removed:
            cst = child.__dict__.get(STATE_KEY)
            if cst is None or id(cst) in deleting or cst.deleted_flushed:
                continue
            back = prop.back
            if back is not None and not back.uselist:
                holder = child.__dict__.get(back.key, NO_VALUE)
                if holder is not NO_VALUE and holder is not None and holder is not obj:
                    continue  # moved to another parent; its own sync sets the key
            _null_foreign_key(prop, child, cst)


def push_one_to_many_new(
    mapper: Mapper,
    states: list[InstanceState],
    deleting: set[int],
    objs: list[Any],
    dicts: list[dict[str, Any]],
) -> None:
    """``push_one_to_many`` for each of a batch of rows just INSERTed.

    For a new row it can only find work for a member that is persistent or
    does not point back at the row (a new member pointing back copies the key
    itself before its own INSERT). When every member of every collection of
    the batch is a new object pointing back, there is nothing to do; that is
    checked at C speed over the whole batch (hot path: benchmarks W2), and
    anything else takes the row-by-row path. ``objs`` and ``dicts`` are the
    rows' objects and ``__dict__``s, as ``insert_group`` returned them.
    """
    if _speedups is not None:
        # the check below, one C pass per relationship
        nothing = _speedups.nothing_to_push
        if all(
            nothing(
                states,
                objs,
                dicts,
                p.key,
                p.back.key if p.back is not None and p.uselist else None,
            )
            for p in mapper.o2m_props
        ):
            return
    else:
        if not any(sum(map(_has, dicts, repeat(k))) for k in mapper.o2m_keys):
            return  # no row holds a collection (hot path: benchmarks W1)
        if _nothing_to_push(mapper, states, objs, dicts):
            return
    o2m_keys = mapper.o2m_keys
    for st, obj, d in zip(states, objs, dicts, strict=True):
        if not o2m_keys.isdisjoint(d):
            push_one_to_many(st, obj, deleting)


def _nothing_to_push(
    mapper: Mapper, states: list[InstanceState], objs: list[Any], dicts: list[dict[str, Any]]
) -> bool:
    if any(map(_committed_of, states)) or not all(map(is_, map(_key_of, states), repeat(None))):
        return False  # not only plain new rows
    for prop in mapper.o2m_props:
        back = prop.back
        if back is None or not prop.uselist:
            return False
        colls: list[Any] = list(map(dict.get, dicts, repeat(prop.key), repeat(NO_VALUE)))
        if any(map(is_, colls, repeat(None))):
            return False
        held = list(map(is_not, colls, repeat(NO_VALUE)))
        owners_with = list(compress(objs, held))
        colls_held = list(compress(colls, held))
        members = list(chain.from_iterable(colls_held))
        if not members:
            continue
        owners = chain.from_iterable(map(repeat, owners_with, map(len, colls_held)))
        member_dicts = list(map(_dict_of, members))
        member_states = list(map(dict.get, member_dicts, repeat(STATE_KEY)))
        if (
            any(map(is_, member_states, repeat(None)))
            or not all(map(is_, map(_key_of, member_states), repeat(None)))
            or not all(map(is_, map(dict.get, member_dicts, repeat(back.key)), owners))
        ):
            return False
    return True


def _null_foreign_key(prop: RelationshipProperty, child: Any, cst: InstanceState) -> None:
    for _, fk_col in prop.pairs:
        if not fk_col.nullable and not fk_col.primary_key:
            raise exc.FlushError(
                f"{type(child).__name__} {cst.identity!r} was removed from {prop} (or its "
                f"parent was deleted), so its foreign key {_qualname(fk_col)} "
                f"would become NULL, but that column is NOT NULL; use "
                f'cascade="all, delete-orphan" on {prop} to delete such children, or '
                "move the child to another parent"
            )
    _sync_pairs(prop, None, child, cst, many_to_one=False)


def _no_members(prop: RelationshipProperty, value: Any) -> bool:
    return value is NO_VALUE or value is None or (prop.uselist and len(value) == 0)


def null_children_of_deleted(states: list[InstanceState], deleting: set[int]) -> None:
    """Children (loaded) of deleted rows that are not deleted themselves lose their key."""
    # hot path: benchmarks W6 (10,000 deleted parents, all with empty collections)
    if _no_children_held(states):
        return
    for state in states:
        props = state.mapper.nulling_props
        if not props:
            continue
        obj = state.obj()
        d = obj.__dict__
        committed = state.committed
        for prop in props:
            value = d.get(prop.key, NO_VALUE)
            old = committed.get(prop.key, NO_VALUE) if committed else NO_VALUE
            if old is NO_VALUE and (
                value is NO_VALUE or value is None or (prop.uselist and len(value) == 0)
            ):
                continue  # nothing loaded, or nothing there
            if _no_members(prop, value) and _no_members(prop, old):
                continue
            _null_children(prop, obj, value, old, deleting)


def _no_children_held(states: list[InstanceState]) -> bool:
    """True when no deleted row can have a child to null: at C speed, no row
    changed a relationship and every collection it would null is absent or
    empty. Anything else (a scalar one-to-many, a change) is left to the
    row-by-row pass."""
    props = {id(p): p for m in set(map(_state_mapper, states)) for p in m.nulling_props}
    if not props:
        return True
    if not all(p.uselist for p in props.values()) or any(map(_committed_of, states)):
        return False
    dicts = list(map(_dict_of, map(_call, states)))
    # a missing key reads as None; a collection is falsy exactly when empty
    return not any(any(map(dict.get, dicts, repeat(p.key))) for p in props.values())


def _null_children(
    prop: RelationshipProperty, obj: Any, value: Any, old: Any, deleting: set[int]
) -> None:
    members = uow.related_for_sync(prop, value) + uow.related_for_sync(prop, old)
    seen: set[int] = set()
    for child in members:
        if id(child) in seen:
            continue
        seen.add(id(child))
        cst = child.__dict__.get(STATE_KEY)
        if cst is None or id(cst) in deleting or cst.key is None or cst.deleted_flushed:
            continue
        back = prop.back
        if back is not None and not back.uselist:
            holder = child.__dict__.get(back.key, NO_VALUE)
            if holder is not NO_VALUE and holder is not None and holder is not obj:
                continue
        _null_foreign_key(prop, child, cst)


# -- statements -------------------------------------------------------------------


def objects_of(states: list[InstanceState]) -> tuple[list[Any], list[dict[str, Any]]]:
    """The objects of new rows' ``states`` and their ``__dict__``s (two C-level
    passes, made once for every step of a flush that needs them)."""
    objs = list(map(_call, states))
    return objs, list(map(_dict_of, objs))


async def insert_group(
    ctx: FlushContext,
    mapper: Mapper,
    states: list[InstanceState],
    objs: list[Any],
    dicts_all: list[dict[str, Any]],
) -> None:
    """INSERT one table's new rows (one level), fetching generated keys and server defaults.

    ``objs`` and ``dicts_all`` are the rows' objects and their ``__dict__``s,
    in ``states`` order (``objects_of``).
    """
    # hot path: benchmarks W1 (insert 10,000 objects). Work is per column
    # where it can be (C-speed list operations), per row only where it must.
    if not states:
        return
    dialect = ctx.dialect
    columns = mapper.columns
    auto = mapper.autoincrement_key
    colset = mapper.column_key_set
    server_default_keys = mapper.server_default_keys
    # rows are grouped by which columns they leave to the database: an unset
    # autoincrement key and unset server-default columns are omitted and returned
    shapes: dict[frozenset[str], list[int]] = {}
    database_side = server_default_keys | ({auto} if auto is not None else set())

    def shape_plan(missing: frozenset[str]) -> tuple[list[tuple[str, Column[Any]]], frozenset[str]]:
        # (columns to fill in Python: client defaults or NULL, columns to omit)
        fill = [
            (k, columns[k])
            for k in missing
            if columns[k].default is not None or k not in database_side
        ]
        omit = frozenset(k for k in missing if columns[k].default is None and k in database_side)
        return fill, omit

    # each column's values, gathered in one pass over the rows by the C
    # extension when it is built (reused below when no value gets filled in)
    gathered: dict[str, list[Any]] | None = None
    with paused_gc(len(objs)):
        count = len(objs)
        if _speedups is not None and len(colset) <= 256:  # gather's most columns
            col_keys = tuple(colset)
            columns_of = _speedups.gather(dicts_all, col_keys, NO_VALUE)
            gathered = {}
            holding = []
            for k, (vals, lacking) in zip(col_keys, columns_of, strict=True):
                gathered[k] = vals
                holding.append((k, count - lacking))
        else:
            # rows holding each column, counted at C speed without allocating
            holding = [(k, sum(map(_has, dicts_all, repeat(k)))) for k in colset]
        uniform = all(n == 0 or n == count for _, n in holding)
        if uniform:
            fill, omit = shape_plan(frozenset(k for k, n in holding if n == 0))
        if not uniform or fill:
            gathered = None  # values will be filled in or rows split by shape
        if uniform and (auto is None or auto in omit):
            # every row leaves the same columns unset, the generated key among
            # them (hot path: W1): one shape
            if fill:
                for d in dicts_all:
                    for key, col in fill:
                        d[key] = None if col.default is None else _default_value(col)
            shapes[omit] = list(range(count))
        else:
            missings = list(map(colset.difference, dicts_all))
            _shapes_by_row(dicts_all, missings, auto, shape_plan, shapes)
    # PostgreSQL: large batches may go by COPY (orm/bulkcopy.py decides)
    copy_ok = dialect.supports_copy and ctx.conn.in_transaction()
    for omit, idxs in shapes.items():
        whole = len(idxs) == len(objs)
        group_objs = objs if whole else [objs[i] for i in idxs]
        group_states = states if whole else [states[i] for i in idxs]
        send_keys = [k for k in columns if k not in omit]
        send_cols = [columns[k] for k in send_keys]
        dicts = dicts_all if whole else [o.__dict__ for o in group_objs]
        if gathered is not None and whole:
            values = [gathered[k] for k in send_keys]
        else:
            values = [list(map(itemgetter(k), dicts)) for k in send_keys]
        check_column_values(mapper, send_keys, send_cols, values, group_objs)
        procs = _bind_procs(dialect, send_cols)
        for i, proc in enumerate(procs):
            if proc is not None:
                values[i] = process_column(proc, values[i])
        generated = auto is not None and auto in omit
        if copy_ok and len(dicts) >= bulk.COPY_MIN_ROWS:
            if await bulkcopy.copy_group(ctx, mapper, send_keys, send_cols, values, omit, dicts):
                if generated:
                    ctx.generated_groups.append(group_states)
                continue
        ret_keys = [k for k in columns if k in omit]
        if ret_keys and not generated:
            # server defaults only: match returned rows by primary key
            ret_keys = list(dict.fromkeys([*mapper.pk_keys, *ret_keys]))
        ret_cols = [columns[k] for k in ret_keys]
        plans = bulk.insert_plans(dialect, mapper.table, send_cols, values, len(dicts), ret_cols)
        if not ret_cols:
            for plan in plans:
                await ctx.run(plan)
            continue
        returned: list[Any] = []
        for plan in plans:
            result = await ctx.run(plan)
            returned.extend(result._raw_rows)
        if len(returned) != len(dicts):
            raise exc.FlushError(
                f"INSERT into {mapper.table.name} returned {len(returned)} rows for "
                f"{len(dicts)} objects"
            )
        if generated:
            assert auto is not None
            # keys ascend in input order (see sql/bulk.py): sort, then zip
            returned.sort(key=itemgetter(ret_keys.index(auto)))
            if len(ret_keys) == 1:
                for d, row in zip(dicts, returned, strict=True):
                    d[auto] = row[0]
            else:
                for d, row in zip(dicts, returned, strict=True):
                    d.update(zip(ret_keys, row, strict=True))
            ctx.generated_groups.append(group_states)
        else:
            npk = len(mapper.pk_keys)
            by_pk = {tuple(r[:npk]): r for r in returned}
            for d in dicts:
                row = by_pk[tuple(d[k] for k in mapper.pk_keys)]
                d.update(zip(ret_keys, row, strict=True))
    ctx.inserted.extend(states)
    ctx.inserted_groups.append((mapper, states, dicts_all))


def _shapes_by_row(
    dicts: list[dict[str, Any]],
    missings: list[frozenset[str]],
    auto: str | None,
    plan: Callable[[frozenset[str]], tuple[list[tuple[str, Column[Any]]], frozenset[str]]],
    shapes: dict[frozenset[str], list[int]],
) -> None:
    """Group rows by the columns they leave to the database, filling the others."""
    # rows almost always share one shape: remember the last one's plan
    last_missing: frozenset[str] | None = None
    last_omit: frozenset[str] = frozenset()
    last_fill: list[tuple[str, Column[Any]]] = []
    for i, (d, missing) in enumerate(zip(dicts, missings, strict=True)):
        if missing != last_missing:
            last_missing = missing
            last_fill, last_omit = plan(missing)
        for key, col in last_fill:
            d[key] = None if col.default is None else _default_value(col)
        omit = last_omit
        if auto is not None and auto not in omit and d.get(auto) is None:
            omit = omit | {auto}
        group = shapes.get(omit)
        if group is None:
            shapes[omit] = [i]
        else:
            group.append(i)


_call = weakref.ref.__call__
_key_of = attrgetter("key")
_dict_of = attrgetter("__dict__")
_state_mapper = attrgetter("mapper")
_committed_of = attrgetter("committed")
_expired_of = attrgetter("expired_keys")
_has = dict.__contains__
_NONE_TYPE = type(None)


def _default_value(col: Column[Any]) -> Any:
    default = col.default
    assert default is not None
    if default.is_clause_element:
        raise exc.FlushError(
            f"column {_qualname(col)} has a SQL-expression default, which the unit of "
            "work does not evaluate; use server_default= for database-side values"
        )
    return default.value()


def check_column_values(
    mapper: Mapper,
    keys: list[str],
    columns: list[Column[Any]],
    values: list[list[Any]],
    objs: list[Any],
) -> None:
    """Reject a wrong Python type or a None in a NOT NULL column before anything is sent.

    Each distinct type is checked once per column (a set of types is cheap to
    build), so validation stays off the per-row path.
    """
    for key, col, vals in zip(keys, columns, values, strict=True):
        expected = _python_type_check(col)
        not_null = not col.nullable and col.server_default is None
        if expected is None and not not_null:
            continue
        # the column's value types, found at C speed; None is there exactly
        # when NoneType is (hot path: benchmarks W1)
        kinds = set(map(type, vals))
        if not_null and _NONE_TYPE in kinds:
            if not (col.primary_key and key == mapper.autoincrement_key):
                obj = objs[vals.index(None)]
                rel = _relationship_for_column(mapper, col)
                hint = f"set {type(obj).__name__}.{rel.key} or {key}" if rel else f"set {key}"
                raise exc.FlushError(
                    f"{type(obj).__name__}.{key} is None, but column {_qualname(col)} is "
                    f"NOT NULL; {hint} before flushing (nothing was written)"
                )
        if expected is None:
            continue
        for kind in kinds:
            if kind is _NONE_TYPE or _type_ok(kind, expected):
                continue
            obj = next(o for o, v in zip(objs, vals, strict=True) if type(v) is kind)
            value = obj.__dict__.get(key)
            raise exc.FlushError(
                f"{type(obj).__name__}.{key} holds {value!r} ({kind.__name__}), but the "
                f"column {_qualname(col)} is {col.type!r} and takes "
                f"{col.type.python_type.__name__} values; nothing was written — call "
                "`await session.rollback()`, fix the value and flush again"
            )


def _type_ok(kind: type, expected: type | tuple[type, ...]) -> bool:
    if kind is bool and expected is int:
        return False  # True is an int in Python, never an intended integer value
    return issubclass(kind, expected)


def _relationship_for_column(mapper: Mapper, col: Column[Any]) -> RelationshipProperty | None:
    for prop in mapper.rel_list:
        if prop.direction is Direction.MANYTOONE and any(fk is col for _, fk in prop.pairs):
            return prop
    return None


UpdateGroups = dict[tuple["Mapper", tuple[str, ...]], list[Any]]


def group_updates(dirty: list[tuple[InstanceState, Any, dict[str, Any]]]) -> UpdateGroups:
    """Group ``(state, obj, changes)`` by (mapper, changed column keys)."""
    groups: UpdateGroups = {}
    for st, obj, changes in dirty:
        groups.setdefault((st.mapper, tuple(changes)), []).append(obj)
    return groups


async def update_groups(ctx: FlushContext, groups: UpdateGroups) -> None:
    """UPDATE dirty rows, one batched statement per (table, changed columns)."""
    dialect = ctx.dialect
    for (mapper, keys), objs in groups.items():
        set_cols = [mapper.columns[k] for k in keys]
        # hot path: benchmarks W5. Column-major, like inserts.
        dicts = [o.__dict__ for o in objs]
        values = [[d.get(k) for d in dicts] for k in keys]
        check_column_values(mapper, list(keys), set_cols, values, objs)
        pk_cols = mapper.primary_key
        for pk_key in mapper.pk_keys:
            column = [d.get(pk_key) for d in dicts]
            if pk_key in keys:
                # the key itself changed: the WHERE uses the committed key
                for i, d in enumerate(dicts):
                    committed = d[STATE_KEY].committed
                    if committed and pk_key in committed and committed[pk_key] is not NO_VALUE:
                        column[i] = committed[pk_key]
            values.append(column)
        for i, proc in enumerate(_bind_procs(dialect, [*set_cols, *pk_cols])):
            if proc is not None:
                values[i] = list(map(proc, values[i]))
        plans = bulk.update_plans(dialect, mapper.table, pk_cols, set_cols, values, len(dicts))
        for plan, expected in plans:
            result = await ctx.run(plan)
            if result.rowcount != expected:
                raise exc.StaleDataError(
                    f"UPDATE of {mapper.table.name} matched {result.rowcount} row(s) but "
                    f"{expected} were expected: a row was deleted or its key changed by "
                    "another transaction; reload the objects and retry"
                )


async def delete_groups(ctx: FlushContext, states: list[InstanceState]) -> None:
    """DELETE rows in dependency order, batched per table, checking row counts."""
    dialect = ctx.dialect
    for level in uow.delete_levels(states):
        for mapper, group in level:
            pk_cols = mapper.primary_key
            pk_procs = _bind_procs(dialect, pk_cols)
            if mapper.single_pk:
                # hot path: benchmarks W6 -- identity-map keys are the key values
                keys = list(map(_key_of, group))
                if pk_procs[0] is not None:
                    keys = list(map(pk_procs[0], keys))
                plans = bulk.delete_by_key_plans(dialect, mapper.table, pk_cols[0], keys)
            else:
                rows = [
                    tuple(p(v) if p else v for v, p in zip(st.key, pk_procs, strict=True))
                    for st in group
                ]
                plans = bulk.delete_plans(dialect, mapper.table, pk_cols, rows)
            for plan, expected in plans:
                result = await ctx.run(plan)
                if result.rowcount != expected:
                    raise exc.StaleDataError(
                        f"DELETE from {mapper.table.name} matched {result.rowcount} row(s) "
                        f"but {expected} were expected: a row was already deleted by another "
                        "transaction"
                    )
            ctx.deleted.extend(group)


async def association_rows(
    ctx: FlushContext,
    states: list[tuple[InstanceState, Any]],
    deleted: list[InstanceState],
) -> None:
    """Insert and delete many-to-many association rows from collection changes."""
    dialect = ctx.dialect
    adds: dict[int, tuple[Any, list[Column[Any]], dict[tuple[Any, ...], None]]] = {}
    dels: dict[int, tuple[Any, list[Column[Any]], dict[tuple[Any, ...], None]]] = {}
    deleted_ids = {id(s) for s in deleted}
    for st, obj in states:
        if id(st) in deleted_ids:
            continue
        for prop in st.mapper.rel_list:
            if prop.direction is not Direction.MANYTOMANY or prop.viewonly:
                continue
            hist = st.mapper.attribute_history(st, prop.key)
            added = list(hist.added)
            removed = list(hist.deleted)
            pend = st.pending_backrefs.get(prop.key) if st.pending_backrefs else None
            if pend:
                for op, member in pend:
                    (added if op == "append" else removed).append(member)
            if not added and not removed:
                continue
            for members, bucket in ((added, adds), (removed, dels)):
                for other in members:
                    ost = other.__dict__.get(STATE_KEY)
                    # rows of objects deleted by the flush (or earlier) are gone already
                    if (
                        ost is None
                        or ost.deleted_flushed
                        or (bucket is adds and id(ost) in deleted_ids)
                    ):
                        continue
                    row, cols = _association_row(prop, obj, other)
                    entry = bucket.setdefault(id(prop.secondary), (prop.secondary, cols, {}))
                    entry[2][_normalise(prop, cols, entry[1], row)] = None
    for sec, cols, rows in dels.values():
        if rows:
            for plan, _ in bulk.delete_plans(dialect, sec, cols, list(rows)):
                await ctx.run(plan)
    for sec, cols, rows in adds.values():
        if rows:
            columns = [list(v) for v in zip(*rows, strict=True)]
            for plan in bulk.insert_plans(dialect, sec, cols, columns, len(rows)):
                await ctx.run(plan)


def _association_row(
    prop: RelationshipProperty, obj: Any, other: Any
) -> tuple[tuple[Any, ...], list[Column[Any]]]:
    cols: list[Column[Any]] = []
    vals: list[Any] = []
    pm = prop.parent
    tm = prop.mapper_target
    for ref, sec_col in prop.secondary_pairs:
        cols.append(sec_col)
        vals.append(obj.__dict__.get(pm.column_keys_by_column[id(ref)]))
    for ref, sec_col in prop.secondary_target_pairs:
        cols.append(sec_col)
        vals.append(other.__dict__.get(tm.column_keys_by_column[id(ref)]))  # type: ignore[union-attr]
    return tuple(vals), cols


def _normalise(
    prop: RelationshipProperty,
    cols: list[Column[Any]],
    canonical: list[Column[Any]],
    row: tuple[Any, ...],
) -> tuple[Any, ...]:
    """Order a row's values like the first column list seen for this secondary table."""
    if cols == canonical or all(a is b for a, b in zip(cols, canonical, strict=True)):
        return row
    pos = {id(c): v for c, v in zip(cols, row, strict=True)}
    return tuple(pos[id(c)] for c in canonical)


async def clear_associations(ctx: FlushContext, states: list[InstanceState]) -> None:
    """Delete association rows of deleted objects, by key (no collection load needed)."""
    # one batched DELETE per relationship, not one per deleted object
    rows_by_prop: dict[int, tuple[RelationshipProperty, list[tuple[Any, ...]]]] = {}
    for st in states:
        for prop in st.mapper.m2m_props:
            if prop.passive_deletes:
                continue
            d = st.obj().__dict__
            keys = prop.parent.column_keys_by_column
            row = tuple(d.get(keys[id(ref)]) for ref, _ in prop.secondary_pairs)
            rows_by_prop.setdefault(id(prop), (prop, []))[1].append(row)
    for prop, rows in rows_by_prop.values():
        assert prop.secondary is not None
        cols = [sec_col for _, sec_col in prop.secondary_pairs]
        for plan, _ in bulk.delete_plans(ctx.dialect, prop.secondary, cols, rows):
            await ctx.run(plan)


async def post_updates(
    ctx: FlushContext, states: list[tuple[InstanceState, Any]], nulling: bool
) -> None:
    """Write post_update foreign keys (after inserts), or clear them (before deletes)."""
    dirty: list[tuple[InstanceState, Any, dict[str, Any]]] = []
    generated = ctx.generated_ids()
    for st, obj in states:
        changes: dict[str, Any] = {}
        for prop in st.mapper.rel_list:
            if not prop.post_update or prop.direction is not Direction.MANYTOONE:
                continue
            if nulling:
                for _, fk_col in prop.pairs:
                    key = st.mapper.column_keys_by_column[id(fk_col)]
                    if obj.__dict__.get(key) is not None:
                        changes[key] = None
                continue
            value = obj.__dict__.get(prop.key, NO_VALUE)
            if value is NO_VALUE:
                continue
            for ref, fk_col in prop.pairs:
                key = st.mapper.column_keys_by_column[id(fk_col)]
                new = (
                    None
                    if value is None
                    else value.__dict__.get(
                        prop.mapper_target.column_keys_by_column[id(ref)]  # type: ignore[union-attr]
                    )
                )
                if obj.__dict__.get(key) != new or st.key is None or id(st) in generated:
                    changes[key] = new
        if changes:
            obj.__dict__.update(changes)
            dirty.append((st, obj, changes))
    if dirty:
        await update_groups(ctx, group_updates(dirty))
