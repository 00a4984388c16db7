"""ORM-enabled ``update(Entity)`` / ``delete(Entity)`` and identity-map synchronisation.

Layer 4 (orm). ``synchronize_session`` (execution option) says how instances
already in the session learn what the statement did: ``"evaluate"`` runs the
WHERE criteria in Python over the identity map, ``"fetch"`` adds
``RETURNING <primary key>`` to learn the matched rows, ``"auto"`` (default)
evaluates when it can and fetches otherwise, ``False`` does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heron import exc
from heron.orm.evaluator import Unevaluatable, compile_criteria, compile_value
from heron.orm.state import STATE_KEY

if TYPE_CHECKING:
    from heron.engine.connection import Connection
    from heron.engine.result import Result
    from heron.orm.mapper import Mapper
    from heron.orm.session import Session

_CHOICES = ("auto", "evaluate", "fetch", False, None)


async def execute_orm_dml(
    session: Session, conn: Connection, statement: Any, params: Any, opts: dict[str, Any]
) -> Result[Any]:
    """Run an ORM UPDATE/DELETE and bring the identity map in line with it."""
    from heron.sql import and_
    from heron.sql.dml import Update

    mapper: Mapper = statement.entity.__mapper__
    sync = opts.get("synchronize_session", "auto")
    if sync not in _CHOICES:
        raise exc.ArgumentError(
            f"synchronize_session={sync!r} is not one of 'auto', 'evaluate', 'fetch', False"
        )
    is_update = isinstance(statement, Update)
    many = isinstance(params, list)
    pred = None
    setters: list[tuple[str, Any]] = []
    if sync in ("auto", "evaluate") and not many:
        try:
            where = statement._where
            pred = compile_criteria(mapper, and_(*where), params) if where else (lambda obj: True)
            if is_update:
                for col, expr in statement._values.values():
                    key = mapper.column_keys_by_column.get(id(col))
                    if key is None:
                        raise Unevaluatable(f"column {col.name} is not mapped")
                    setters.append((key, compile_value(mapper, expr, params)))
        except Unevaluatable as error:
            if sync == "evaluate":
                raise exc.ArgumentError(
                    f"synchronize_session='evaluate' cannot evaluate this statement's "
                    f"criteria in Python ({error}); use synchronize_session='fetch' (or "
                    "'auto', which falls back to it)"
                ) from None
            pred = None
            setters = []
    if sync == "evaluate" and many:
        raise exc.ArgumentError(
            "synchronize_session='evaluate' cannot be used with a list of parameter sets; "
            "use 'fetch' or False"
        )
    fetched: list[tuple[Any, ...]] | None = None
    if pred is None and sync in ("auto", "fetch") and not many:
        user_returning = list(statement._returning)
        stmt = statement.returning(*mapper.primary_key)
        result = await conn.execute(stmt, params)
        n = len(mapper.primary_key)
        rows = result._raw_rows
        fetched = [tuple(r[len(user_returning) : len(user_returning) + n]) for r in rows]
        if user_returning:
            from heron.engine.result import Result as _Result

            keys = result.keys()[: len(user_returning)]
            result = _Result(keys, [tuple(r[: len(user_returning)]) for r in rows], None, len(rows))
        else:
            result.rowcount = len(rows)
    else:
        result = await conn.execute(statement, params)
    if sync in (False, None):
        return result
    if pred is not None:
        _sync_evaluated(session, mapper, pred, setters, is_update)
    elif fetched is not None:
        _sync_fetched(session, mapper, fetched, statement, is_update, params)
    return result


def _instances(session: Session, mapper: Mapper) -> list[Any]:
    out = []
    for st in list(session._identity.get(mapper, {}).values()):
        if not st.deleted_flushed:
            obj = st.obj()
            if obj is not None:
                out.append(obj)
    return out


def _sync_evaluated(
    session: Session, mapper: Mapper, pred: Any, setters: list[tuple[str, Any]], is_update: bool
) -> None:
    for obj in _instances(session, mapper):
        st = obj.__dict__[STATE_KEY]
        matched = pred(obj)
        if matched is None:
            # an attribute the criteria need is not loaded: forget what we know
            session._expire_state(st, obj, None)
            continue
        if not matched:
            continue
        if not is_update:
            _mark_deleted(session, st, obj)
            continue
        _apply(session, st, obj, setters)


def _apply(session: Session, st: Any, obj: Any, setters: list[tuple[str, Any]]) -> None:
    d = obj.__dict__
    try:
        values = [(key, get(d)) for key, get in setters]
    except Exception:
        # an operand is unloaded (or the expression fails in Python): expire instead
        session._expire_state(st, obj, [k for k, _ in setters])
        return
    # the transaction (or savepoint) wrote these values: rolling it back expires them
    session._txn_updated.append(st)
    for key, value in values:
        d[key] = value
        if st.committed:
            st.committed.pop(key, None)
        if st.expired_keys:
            st.expired_keys.discard(key)


def _sync_fetched(
    session: Session,
    mapper: Mapper,
    keys: list[tuple[Any, ...]],
    statement: Any,
    is_update: bool,
    params: Any,
) -> None:
    setters: list[tuple[str, Any]] | None = None
    if is_update:
        # SET values computable in Python are applied; the rest are expired
        try:
            setters = [
                (mapper.column_keys_by_column[id(col)], compile_value(mapper, expr, params))
                for col, expr in statement._values.values()
            ]
        except (Unevaluatable, KeyError):
            setters = None
    for ident in keys:
        st = session._identity.get(mapper, {}).get(mapper.key_of_ident(ident))
        if st is None:
            continue
        obj = st.obj()
        if obj is None:
            continue
        if not is_update:
            _mark_deleted(session, st, obj)
            continue
        if setters is not None:
            _apply(session, st, obj, setters)
            continue
        names = [
            mapper.column_keys_by_column[id(col)]
            for col, _ in statement._values.values()
            if id(col) in mapper.column_keys_by_column
        ]
        session._expire_state(st, obj, names)


def _mark_deleted(session: Session, st: Any, obj: Any) -> None:
    session._forget_identity(st)
    st.deleted_flushed = True
    session._strong.pop(st, None)
    session._deleted.pop(st, None)
    session._txn_deleted.append((st, obj))
