"""The Session's reads: expiry and refresh, loading, get/execute/stream, merge.

Layer 4 (orm). See orm/_session_core.py for how Session is layered.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from heron import exc
from heron._util.gcpause import paused_gc
from heron.engine.result import AsyncResult, AsyncScalarResult, Result
from heron.orm._session_core import _describe
from heron.orm._session_flush import _SessionFlush
from heron.orm.dml import execute_orm_dml
from heron.orm.instrumentation import install_loaded_collection
from heron.orm.joined import JoinedStep, fold_one_pass, plan_joined
from heron.orm.loaders import LoadTree, apply_eager
from heron.orm.loading import entity_loader
from heron.orm.mapper import Mapper, configure_mappers
from heron.orm.relationships import Direction, RelationshipProperty
from heron.orm.results import _EntityResult, unique_objects
from heron.orm.state import NO_VALUE, STATE_KEY, InstanceState, instance_state
from heron.orm.stream import OrmStream

if TYPE_CHECKING:
    pass

T = TypeVar("T")


def _mapper_of(entity: Any) -> Mapper:
    mapper = getattr(entity, "__mapper__", None)
    if mapper is None:
        raise exc.ArgumentError(f"{entity!r} is not a mapped class")
    return mapper  # type: ignore[no-any-return]


class _SessionQuery(_SessionFlush):
    """Expiry, refresh, relationship and attribute loads, queries, merge."""

    # -- expiry and refresh -----------------------------------------------------------
    def expire(self, obj: object, attribute_names: Sequence[str] | None = None) -> None:
        """Forget loaded values; the next read raises until they are loaded again."""
        st = instance_state(obj)
        if st.session is not self or st.key is None:
            raise exc.InvalidRequestError(f"{_describe(obj)} is not persistent in this Session")
        if attribute_names is None:
            # cascade along refresh-expire relationships to loaded children
            for child in self._cascade_targets(obj, st, "refresh_expire"):
                cst = child.__dict__[STATE_KEY]
                if cst.session is self and cst.key is not None:
                    self._expire_state(cst, child, None)
        self._expire_state(st, obj, attribute_names)

    def _cascade_targets(self, obj: object, st: InstanceState, kind: str) -> list[Any]:
        out: list[Any] = []
        seen = {id(obj)}
        stack = [(obj, st)]
        while stack:
            o, s = stack.pop()
            for prop in s.mapper.rel_list:
                if not getattr(prop.cascade, kind):
                    continue
                value = o.__dict__.get(prop.key, NO_VALUE)
                if value is NO_VALUE or value is None:
                    continue
                for child in list(value) if prop.uselist else [value]:
                    cst = child.__dict__.get(STATE_KEY)
                    if cst is not None and id(child) not in seen:
                        seen.add(id(child))
                        out.append(child)
                        stack.append((child, cst))
        return out

    def expire_all(self) -> None:
        """Expire every persistent object in the session."""
        for st in self._identity_states():
            obj = st.obj()
            if obj is not None:
                self._expire_state(st, obj, None)

    def _expire_state(self, st: InstanceState, obj: Any, names: Sequence[str] | None) -> None:
        mapper = st.mapper
        d = obj.__dict__
        pk = set(mapper.pk_keys)
        keys = list(names) if names is not None else list(mapper.all_attribute_keys)
        for name in keys:
            if name not in mapper.all_attribute_keys:
                raise exc.ArgumentError(
                    f"{type(obj).__name__} has no mapped attribute {name!r} to expire"
                )
        st.insert_order = 0  # collections may have gained rows: no longer known-empty
        expired = st.expired_keys or set()
        for key in keys:
            if key in pk:
                # primary keys stay readable: the identity does not change
                continue
            d.pop(key, None)
            if st.committed:
                st.committed.pop(key, None)
            if key in mapper.column_key_set:
                expired.add(key)
        st.expired_keys = expired or None
        if st.pending_backrefs and names is None:
            st.pending_backrefs = None
        if not st.committed:
            st.committed = None
            if st.modified and st not in self._deleted:
                st.modified = False
                self._strong.pop(st, None)

    async def refresh(self, obj: object, attribute_names: Sequence[str] | None = None) -> None:
        """Reload attributes from the database (all columns, or the names given).

        Relationship names load that relationship; with no names, loaded
        relationships are expired (load them again when needed).
        """
        self._enter("refresh")
        try:
            st = instance_state(obj)
            if st.session is not self or st.key is None:
                raise exc.InvalidRequestError(
                    f"cannot refresh {_describe(obj)}: it is not persistent in this Session"
                )
            await self._refresh(st, obj, attribute_names, overwrite=True)
        finally:
            self._leave()

    async def _refresh(
        self, st: InstanceState, obj: Any, names: Sequence[str] | None, overwrite: bool
    ) -> None:
        # flush first: pending changes (e.g. a child removed from a collection)
        # must be judged against the collection before the refresh forgets it
        await self._autoflush()
        mapper = st.mapper
        if names is None:
            cols = list(mapper.column_keys)
            rels = []
            for prop in mapper.rel_list:
                obj.__dict__.pop(prop.key, None)
        else:
            unknown = [n for n in names if n not in mapper.all_attribute_keys]
            if unknown:
                raise exc.ArgumentError(
                    f"{type(obj).__name__} has no mapped attribute(s) {unknown}; mapped "
                    f"attributes are {sorted(mapper.all_attribute_keys)}"
                )
            cols = [n for n in names if n in mapper.column_key_set]
            rels = [mapper.relationships[n] for n in names if n in mapper.relationships]
        if cols:
            await self._load_columns(st, obj, cols, overwrite)
        for prop in rels:
            await self._load_relationship(st, obj, prop)

    async def _load_columns(
        self, st: InstanceState, obj: Any, keys: list[str], overwrite: bool
    ) -> None:
        from heron.sql import select

        mapper = st.mapper
        await self._autoflush()
        cols = [mapper.columns[k] for k in keys]
        stmt = select(*cols).where(
            *[c == v for c, v in zip(mapper.primary_key, st.identity or (), strict=True)]
        )
        conn = await self._connection(write=False)
        result = await conn.execute(stmt)
        rows = result._raw_rows
        if not rows:
            raise exc.InvalidRequestError(
                f"could not refresh {_describe(obj)}: its row no longer exists in the database"
            )
        row = rows[0]
        d = obj.__dict__
        committed = st.committed
        for k, v in zip(keys, row, strict=True):
            if overwrite:
                d[k] = v
                if committed:
                    committed.pop(k, None)
            elif k not in d:
                d[k] = v
        if st.expired_keys:
            st.expired_keys.difference_update(keys)
            if not st.expired_keys:
                st.expired_keys = None

    async def _load_attributes(self, st: InstanceState, obj: Any, keys: list[str]) -> None:
        """Load unloaded attributes for ``awaitable_attrs`` (no overwrite of pending changes)."""
        self._enter("load")
        try:
            mapper = st.mapper
            cols = [k for k in keys if k in mapper.column_key_set and k not in obj.__dict__]
            if cols:
                # load every expired column at once: one round trip
                extra = [k for k in (st.expired_keys or ()) if k not in cols]
                await self._load_columns(st, obj, cols + extra, overwrite=False)
            for k in keys:
                prop = mapper.relationships.get(k)
                if prop is not None and k not in obj.__dict__:
                    if prop.lazy == "raise" or (st.raise_keys and k in st.raise_keys):
                        raise exc.UnloadedAttributeError(
                            f"{prop} is set to raise on load (raiseload / lazy='raise'); "
                            f"load it with an eager option such as selectinload({prop}) "
                            "in the query instead"
                        )
                    if self.n_plus_one is not None:
                        self._check_n_plus_one(st, prop)
                    await self._load_relationship(st, obj, prop)
        finally:
            self._leave()

    async def _load_relationship(
        self, st: InstanceState, obj: Any, prop: RelationshipProperty
    ) -> None:
        from heron.sql import select

        target = prop.mapper_target
        assert target is not None
        d = obj.__dict__
        mapper = st.mapper
        if prop.direction is Direction.MANYTOONE:
            fk_keys = [mapper.column_keys_by_column[id(fk)] for _, fk in prop.pairs]
            missing = [k for k in fk_keys if k not in d]
            if missing:
                await self._load_columns(st, obj, missing, overwrite=False)
            found, value = prop.resolve_from_identity_map(st, obj)
            if not found:
                values = [d[k] for k in fk_keys]
                stmt: Any = select(target.class_).where(
                    *[ref == v for (ref, _), v in zip(prop.pairs, values, strict=True)]
                )
                objs = await self._load_entities(stmt, target)
                value = objs[0] if objs else None
            d[prop.key] = value
            return
        pk_vals = {id(c): d.get(k) for k, c in mapper.columns.items()}
        if prop.direction is Direction.ONETOMANY:
            stmt = select(target.class_).where(*[fk == pk_vals[id(ref)] for ref, fk in prop.pairs])
        else:
            from heron.sql import and_

            sec = prop.secondary
            on = and_(*[ref == sec_col for ref, sec_col in prop.secondary_target_pairs])
            stmt = (
                select(target.class_)
                .join(sec, on)
                .where(*[sec_col == pk_vals[id(ref)] for ref, sec_col in prop.secondary_pairs])
            )
        if prop.order_by:
            stmt = stmt.order_by(*prop.order_by)
        else:
            stmt = stmt.order_by(*target.primary_key)
        objs = await self._load_entities(stmt, target)
        if prop.uselist:
            install_loaded_collection(obj, prop, objs)
        else:
            d[prop.key] = objs[0] if objs else None
        back = prop.back
        if back is not None and not back.uselist and prop.direction is Direction.ONETOMANY:
            for child in objs:
                cd = child.__dict__
                if back.key not in cd:
                    cd[back.key] = obj

    def _mark_batch(self, objs: list[Any]) -> None:
        self._batch_counter += 1
        token = (self._batch_counter, len(objs))
        for obj in objs:
            obj.__dict__[STATE_KEY].load_batch = token

    def _check_n_plus_one(self, st: InstanceState, prop: RelationshipProperty) -> None:
        batch = st.load_batch
        if batch is None:
            return
        seen = self._lazy_seen.setdefault((batch[0], prop.key), 0) + 1
        self._lazy_seen[(batch[0], prop.key)] = seen
        if seen == 2:
            message = (
                f"N+1 queries: {prop} is being lazy-loaded one object at a time for the "
                f"{batch[1]} objects one query returned; load them together with "
                f"selectinload({prop.parent.class_.__name__}.{prop.key}) (or joinedload) "
                "in that query's .options()"
            )
            if self.n_plus_one == "raise":
                raise exc.NPlusOneError(message)
            warnings.warn(message, exc.NPlusOneWarning, stacklevel=4)

    async def _load_by_keys(
        self,
        mapper: Mapper,
        cols: list[Any],
        keys: list[tuple[Any, ...]],
        order_by: Sequence[Any] = (),
    ) -> list[Any]:
        """Instances of ``mapper`` whose ``cols`` equal one of ``keys`` (one SELECT)."""
        rows = await self._rows_by_keys(mapper, cols, keys, order_by)
        with paused_gc(len(rows)):
            return entity_loader(mapper, 0)(rows, self, False)  # type: ignore[arg-type]

    async def _rows_by_keys(
        self,
        mapper: Mapper,
        cols: list[Any],
        keys: list[Any],
        order_by: Sequence[Any] = (),
        *,
        bare: bool = False,
    ) -> list[Any]:
        """Rows of ``select(mapper)`` whose ``cols`` equal one of ``keys`` (one SELECT).

        ``keys`` are tuples, or bare values of the one column with ``bare``.
        """
        from heron.sql import and_, or_, select

        if len(cols) == 1:
            cond = cols[0].in_(keys if bare else [k[0] for k in keys])
        else:
            cond = or_(*[and_(*[c == v for c, v in zip(cols, k, strict=True)]) for k in keys])
        stmt: Any = select(mapper.class_).where(cond)
        if order_by:
            stmt = stmt.order_by(*order_by)
        conn = await self._connection(write=False)
        result = await conn.execute(stmt)
        return result._raw_rows

    async def _rows_by_key_batches(
        self, mapper: Mapper, col: Any, batches: list[list[Any]], order_by: Sequence[Any] = ()
    ) -> list[Any]:
        """Rows of ``select(mapper)`` whose ``col`` is in one of the key ``batches``.

        One SELECT per batch, all sent in one pipelined round trip (the driver's
        executemany that returns rows). Only for dialects that bind an IN list
        as one array parameter (``supports_any_array``).
        """
        from heron.sql import bindparam, select

        stmt: Any = select(mapper.class_).where(
            col.in_(bindparam("keys", type_=col.type, expanding=True))
        )
        if order_by:
            stmt = stmt.order_by(*order_by)
        conn = await self._connection(write=False)
        result = await conn.execute(stmt, [{"keys": keys} for keys in batches])
        return result._raw_rows

    async def _m2m_rows(self, prop: RelationshipProperty, keys: list[Any], bare: bool) -> list[Any]:
        """Rows of (secondary key columns, then target columns) for parent ``keys`` (one SELECT)."""
        from heron.sql import and_, or_, select

        target = prop.mapper_target
        assert target is not None and prop.secondary is not None
        sec_cols = [sec for _, sec in prop.secondary_pairs]
        on = and_(*[ref == sec_col for ref, sec_col in prop.secondary_target_pairs])
        if len(sec_cols) == 1:
            cond = sec_cols[0].in_(keys if bare else [k[0] for k in keys])
        else:
            cond = or_(*[and_(*[c == v for c, v in zip(sec_cols, k, strict=True)]) for k in keys])
        stmt = select(*sec_cols, target.class_).join(prop.secondary, on).where(cond)
        if prop.order_by:
            stmt = stmt.order_by(*prop.order_by)
        conn = await self._connection(write=False)
        result = await conn.execute(stmt)
        return result._raw_rows

    # -- queries ----------------------------------------------------------------------
    async def get(
        self,
        entity: type[T],
        ident: Any,
        *,
        populate_existing: bool = False,
    ) -> T | None:
        """Return the instance with primary key ``ident``: from the identity map if there,
        else by one SELECT. None when no such row exists."""
        mapper = _mapper_of(entity)
        if not mapper.registry.configured:
            configure_mappers()
        if mapper.single_pk and type(ident) in _SCALAR_KEYS:
            key: Any = ident  # hot path: benchmarks W4, get(User, 5)
            key_vals: tuple[Any, ...] = (ident,)
        else:
            key_vals = _normalise_ident(mapper, ident)
            key = mapper.key_of_ident(key_vals)
        imap = self._identity.get(mapper)
        st = imap.get(key) if imap is not None else None
        if st is not None and not populate_existing:
            obj = st.obj()
            if obj is not None and not st.expired_keys:
                return obj  # type: ignore[no-any-return]
        self._enter("get")
        try:
            if self.autoflush and self._has_work():
                await self._autoflush()
            stmt = mapper.get_statement()
            params = dict(zip(mapper.get_param_names, key_vals, strict=True))
            conn = await self._connection(write=False)
            result = await conn.execute(stmt, params)
            loader = entity_loader(mapper, 0)
            objs = loader(result._raw_rows, self, populate_existing)  # type: ignore[arg-type]
            if objs and mapper.has_eager:
                # relationship(lazy="selectin"/"joined") defaults apply to get() too
                await apply_eager(self, mapper, objs, None)  # type: ignore[arg-type]
            return objs[0] if objs else None
        finally:
            self._leave()

    async def execute(
        self,
        statement: Any,
        params: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        execution_options: dict[str, Any] | None = None,
    ) -> Result[Any]:
        """Execute a statement; ``select(Entity)`` rows hold instances from the identity map."""
        self._enter("execute")
        try:
            return await self._execute(statement, params, execution_options or {})
        finally:
            self._leave()

    async def _execute(self, statement: Any, params: Any, options: dict[str, Any]) -> Result[Any]:
        await self._autoflush()
        raw_columns = getattr(statement, "_raw_columns", None)
        opts = {**getattr(statement, "_execution_options", {}), **options}
        if raw_columns is not None and not getattr(statement, "_is_dml", False):
            write = bool(getattr(statement, "_for_update", None))
            if not any(hasattr(c, "__mapper__") for c in raw_columns):
                conn = await self._connection(write=write)
                return await conn.execute(statement, params)
            tree = LoadTree.from_options(getattr(statement, "_with_options", ()))
            steps: list[JoinedStep] = []
            to_run = statement
            first = raw_columns[0]
            if len(raw_columns) == 1 and isinstance(first, type) and hasattr(first, "__mapper__"):
                mapper = first.__mapper__
                if not mapper.registry.configured:
                    configure_mappers()
                if mapper.has_eager or tree.children:
                    to_run, steps = plan_joined(statement, mapper, tree, len(mapper.table.columns))
            conn = await self._connection(write=write)
            result = await conn.execute(to_run, params)
            return await self._orm_result(raw_columns, result, opts, tree, steps)
        conn = await self._connection(write=True)
        entity = getattr(statement, "entity", None)
        if (
            entity is not None
            and hasattr(entity, "__mapper__")
            and getattr(statement, "_is_dml", False)
            and hasattr(statement, "_where")
        ):
            return await execute_orm_dml(self, conn, statement, params, opts)  # type: ignore[arg-type]
        return await conn.execute(statement, params)

    async def _orm_result(
        self,
        raw_columns: Sequence[Any],
        result: Result[Any],
        opts: dict[str, Any],
        tree: LoadTree,
        steps: list[JoinedStep],
    ) -> Result[Any]:
        overwrite = bool(opts.get("populate_existing"))
        rows = result._raw_rows
        columns: list[list[Any]] = []
        keys: list[str] = []
        offset = 0
        for ent in raw_columns:
            mapper = getattr(ent, "__mapper__", None)
            if mapper is not None and isinstance(ent, type):
                with paused_gc(len(rows)):
                    if steps:
                        # one pass; joined rows repeat their parent: one object per parent
                        objs = fold_one_pass(self, rows, mapper, steps, overwrite)  # type: ignore[arg-type]
                    else:
                        objs = entity_loader(mapper, offset)(rows, self, overwrite)  # type: ignore[arg-type]
                    if len(raw_columns) == 1:
                        # the rows are done with: free them while the collector is
                        # paused so it never traverses them (benchmarks W3/W8)
                        rows.clear()
                columns.append(objs)
                keys.append(ent.__name__)
                offset += len(mapper.table.columns)
                eager = mapper.has_eager or bool(tree.children)
                if self.n_plus_one is None and not eager:
                    continue  # hot path: benchmarks W3, plain select(Entity)
                live = [o for o in objs if o is not None]
                if self.n_plus_one is not None and len(live) > 1:
                    self._mark_batch(live)
                if eager:
                    # joined results are unique already; plain rows can repeat
                    # an instance only through a join the user wrote
                    await apply_eager(self, mapper, live if steps else unique_objects(live), tree)  # type: ignore[arg-type]
            else:
                idx = offset
                columns.append([r[idx] for r in rows])
                rk = result.keys()
                keys.append(rk[idx] if idx < len(rk) else f"col{idx}")
                offset += 1
        if len(columns) == 1:
            return _EntityResult(keys, columns[0], result.rowcount)
        return Result(keys, list(zip(*columns, strict=True)), None, result.rowcount)

    async def stream(
        self,
        statement: Any,
        params: dict[str, Any] | None = None,
        *,
        execution_options: dict[str, Any] | None = None,
    ) -> AsyncResult[Any]:
        """Stream a query's rows (a server-side cursor on PostgreSQL).

        ``execution_options(yield_per=N)`` (default 1000) sets how many rows
        are fetched, turned into instances and eager-loaded at a time::

            result = await session.stream(select(User).execution_options(yield_per=500))
            async for user in result.scalars():
                ...
        """
        self._enter("stream")
        try:
            await self._autoflush()
            opts = {**getattr(statement, "_execution_options", {}), **(execution_options or {})}
            yield_per = int(opts.get("yield_per") or 1000)
            conn = await self._connection(write=False)
            raw = await conn.stream(statement, params, chunk_size=yield_per)
        finally:
            self._leave()
        raw_columns = getattr(statement, "_raw_columns", None)
        if not raw_columns or not any(hasattr(c, "__mapper__") for c in raw_columns):
            return raw
        for ent in raw_columns:
            mapper = getattr(ent, "__mapper__", None)
            if mapper is not None and not mapper.registry.configured:
                configure_mappers()
        tree = LoadTree.from_options(getattr(statement, "_with_options", ()))
        keys = [getattr(c, "__name__", None) or str(c) for c in raw_columns]
        return AsyncResult(keys, OrmStream(self, raw._stream, raw_columns, tree))  # type: ignore[arg-type]

    async def stream_scalars(
        self,
        statement: Any,
        params: dict[str, Any] | None = None,
        *,
        execution_options: dict[str, Any] | None = None,
    ) -> AsyncScalarResult[Any]:
        """``stream()`` then ``.scalars()``: instances for ``select(Entity)``."""
        result = await self.stream(statement, params, execution_options=execution_options)
        return result.scalars()

    async def scalars(self, statement: Any, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """Execute and return a ``ScalarResult`` of the first column.

        For ``select(Entity)`` that is the instances themselves.
        """
        result = await self.execute(statement, params, **kw)
        return result.scalars()

    async def scalar(self, statement: Any, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """Execute and return the first column of the first row (or None)."""
        result = await self.execute(statement, params, **kw)
        return result.scalar()

    # -- merge ----------------------------------------------------------------------------
    async def merge(self, obj: T, *, load: bool = True) -> T:
        """Copy ``obj``'s state onto the instance with the same identity in this session
        (loading it if needed) and return that instance; ``obj`` itself is not added."""
        self._enter("merge")
        try:
            return await self._merge(obj, {}, load)  # type: ignore[no-any-return]
        finally:
            self._leave()

    async def _merge(self, obj: Any, memo: dict[int, Any], load: bool) -> Any:
        if id(obj) in memo:
            return memo[id(obj)]
        mapper = _mapper_of(type(obj))
        if not mapper.registry.configured:
            configure_mappers()
        d = obj.__dict__
        ident = tuple(d.get(k) for k in mapper.pk_keys)
        target: Any = None
        if all(v is not None for v in ident):
            target = self._identity_lookup(mapper, ident)
            if target is None and load:
                self._leave()
                try:
                    target = await self.get(mapper.class_, ident)
                finally:
                    self._busy = "merge"
        if target is None:
            target = object.__new__(mapper.class_)
            instance_state(target)
            for k in mapper.column_keys:
                if k in d:
                    setattr(target, k, d[k])
            self._add(target, set())
        else:
            for k in mapper.column_keys:
                if k in d and k not in mapper.pk_keys:
                    setattr(target, k, d[k])
        memo[id(obj)] = target
        for prop in mapper.rel_list:
            if not prop.cascade.merge or prop.key not in d:
                continue
            value = d[prop.key]
            if prop.uselist:
                merged = [await self._merge(o, memo, load) for o in value]
                if (
                    target.__dict__.get(prop.key) is None
                    and target.__dict__.get(STATE_KEY).key is not None
                ):
                    await self._load_relationship(target.__dict__[STATE_KEY], target, prop)
                setattr(target, prop.key, merged)
            else:
                setattr(
                    target,
                    prop.key,
                    None if value is None else await self._merge(value, memo, load),
                )
        return target


# primary-key values get() takes as they are (anything else goes through _normalise_ident)
_SCALAR_KEYS = frozenset({int, str})


def _normalise_ident(mapper: Mapper, ident: Any) -> tuple[Any, ...]:
    n = len(mapper.pk_keys)
    if isinstance(ident, dict):
        try:
            return tuple(ident[k] for k in mapper.pk_keys)
        except KeyError:
            raise exc.ArgumentError(
                f"get({mapper.class_.__name__}, {{...}}) needs the keys {list(mapper.pk_keys)}"
            ) from None
    if not isinstance(ident, tuple):
        ident = (ident,)
    if len(ident) != n:
        raise exc.ArgumentError(
            f"{mapper.class_.__name__} has a {n}-column primary key {list(mapper.pk_keys)}; "
            f"get() received {len(ident)} value(s)"
        )
    return ident  # type: ignore[no-any-return]
