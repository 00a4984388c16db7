"""Generated WHERE clauses compile, run, and agree with the same filter evaluated in Python.

Hypothesis builds conditions over a small table (ints, strings, booleans,
NULLs) from comparisons, IN / NOT IN (empty lists included), BETWEEN, the LIKE
helpers, arithmetic and AND / OR / NOT; each is evaluated with SQL's
three-valued logic in Python and compared with what the database returns.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heron import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    func,
    insert,
    not_,
    or_,
    select,
)

md = MetaData()
props = Table(
    "props",
    md,
    Column("id", Integer, primary_key=True),
    Column("a", Integer),
    Column("b", Integer),
    Column("s", String(10)),
    Column("f", Boolean),
)
A_VALUES = [None, -2, 0, 1, 3, 5]
S_VALUES = [None, "", "a", "ab", "abc", "B", "a%b", "x_y", "q/r"]
ROWS = [
    {"id": i, "a": a, "b": b, "s": s, "f": f}
    for i, (a, b, s, f) in enumerate(
        itertools.islice(
            zip(
                itertools.cycle(A_VALUES),
                itertools.cycle(reversed([*A_VALUES, 4])),
                itertools.cycle(S_VALUES),
                itertools.cycle([None, True, False, True]),
                strict=False,
            ),
            60,
        )
    )
]

# A condition is (sql_expression, python_predicate(row, like_folds_case) -> True/False/None).
Cond = tuple[Any, Callable[[dict[str, Any], bool], bool | None]]

ints = st.integers(-3, 6)
int_cols = st.sampled_from(["a", "b"])
strings = st.sampled_from(["", "a", "b", "B", "%", "_", "/", "ab", "x_", "c"])


def _cmp(op: str, left: Any, right: Any) -> bool | None:
    if left is None or right is None:
        return None
    results: dict[str, bool] = {
        "==": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }
    return results[op]


@st.composite
def comparison(draw: st.DrawFn) -> Cond:
    name = draw(int_cols)
    col = props.c[name]
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
    if draw(st.booleans()):
        value: Any = draw(ints)
        other = None
    else:
        other = "b" if name == "a" else "a"
        value = props.c[other]
    expr = {
        "==": col.__eq__,
        "!=": col.__ne__,
        "<": col.__lt__,
        "<=": col.__le__,
        ">": col.__gt__,
        ">=": col.__ge__,
    }[op](value)
    if other is None:
        return expr, lambda r, _: _cmp(op, r[name], value)
    return expr, lambda r, _: _cmp(op, r[name], r[other])


@st.composite
def null_test(draw: st.DrawFn) -> Cond:
    name = draw(st.sampled_from(["a", "b", "s", "f"]))
    col = props.c[name]
    if draw(st.booleans()):
        return col == None, lambda r, _: r[name] is None  # noqa: E711
    return col.is_not(None), lambda r, _: r[name] is not None


@st.composite
def in_list(draw: st.DrawFn) -> Cond:
    name = draw(st.sampled_from(["a", "s"]))
    values = draw(st.lists(ints if name == "a" else strings, max_size=4))
    negate = draw(st.booleans())
    col = props.c[name]

    def check(r: dict[str, Any], _: bool) -> bool | None:
        if not values:
            return negate
        if r[name] is None:
            return None
        found = r[name] in values
        return not found if negate else found

    return (col.not_in(values) if negate else col.in_(values)), check


@st.composite
def between(draw: st.DrawFn) -> Cond:
    lo, hi = draw(ints), draw(ints)
    name = draw(int_cols)

    def check(r: dict[str, Any], _: bool) -> bool | None:
        v = r[name]
        return None if v is None else lo <= v <= hi

    return props.c[name].between(lo, hi), check


@st.composite
def like(draw: st.DrawFn) -> Cond:
    kind = draw(st.sampled_from(["startswith", "endswith", "contains", "eq"]))
    text = draw(strings)
    col = props.c.s

    def check(r: dict[str, Any], folds_case: bool) -> bool | None:
        v = r["s"]
        if v is None:
            return None
        if kind == "eq":
            return bool(v == text)
        # SQLite's LIKE ignores ASCII case; PostgreSQL's does not.
        hay, needle = (v.lower(), text.lower()) if folds_case else (v, text)
        found: dict[str, bool] = {
            "startswith": hay.startswith(needle),
            "endswith": hay.endswith(needle),
            "contains": needle in hay,
        }
        return found[kind]

    expr = col == text if kind == "eq" else getattr(col, kind)(text)
    return expr, check


@st.composite
def arithmetic(draw: st.DrawFn) -> Cond:
    op = draw(st.sampled_from(["+", "-", "*"]))
    k = draw(ints)
    a, b = props.c.a, props.c.b
    expr = {"+": a + b, "-": a - b, "*": a * b}[op] > k

    def check(r: dict[str, Any], _: bool) -> bool | None:
        if r["a"] is None or r["b"] is None:
            return None
        value = {"+": r["a"] + r["b"], "-": r["a"] - r["b"], "*": r["a"] * r["b"]}[op]
        return bool(value > k)

    return expr, check


@st.composite
def boolean_column(draw: st.DrawFn) -> Cond:
    want = draw(st.booleans())
    return props.c.f == want, lambda r, _: None if r["f"] is None else r["f"] == want


leaves = st.one_of(
    comparison(), null_test(), in_list(), between(), like(), arithmetic(), boolean_column()
)


def _and(x: bool | None, y: bool | None) -> bool | None:
    if x is False or y is False:
        return False
    if x is None or y is None:
        return None
    return True


def _or(x: bool | None, y: bool | None) -> bool | None:
    if x is True or y is True:
        return True
    if x is None or y is None:
        return None
    return False


def _combine(children: st.SearchStrategy[Cond]) -> st.SearchStrategy[Cond]:
    def conj(pair: tuple[Cond, Cond]) -> Cond:
        (e1, p1), (e2, p2) = pair
        return and_(e1, e2), lambda r, c: _and(p1(r, c), p2(r, c))

    def disj(pair: tuple[Cond, Cond]) -> Cond:
        (e1, p1), (e2, p2) = pair
        return (e1 | e2), lambda r, c: _or(p1(r, c), p2(r, c))

    def neg(cond: Cond) -> Cond:
        e, p = cond

        def check(r: dict[str, Any], c: bool) -> bool | None:
            v = p(r, c)
            return None if v is None else not v

        return not_(e), check

    pairs = st.tuples(children, children)
    return st.one_of(
        pairs.map(conj),
        pairs.map(disj),
        children.map(neg),
        pairs.map(
            lambda pair: (
                or_(~pair[0][0], pair[1][0]),
                lambda r, c: _or(
                    None if pair[0][1](r, c) is None else not pair[0][1](r, c), pair[1][1](r, c)
                ),
            )
        ),
    )


conditions = st.recursive(leaves, _combine, max_leaves=6)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cond=conditions)
async def test_generated_where_clauses_agree_with_python(
    engine: Any, backend: str, cond: Cond
) -> None:
    async with engine.begin() as conn:
        await md.create_all(conn)
        if not await conn.scalar(select(func.count()).select_from(props)):
            await conn.execute(insert(props), ROWS)
        expr, predicate = cond
        got = (
            (await conn.execute(select(props.c.id).where(expr).order_by(props.c.id)))
            .scalars()
            .all()
        )
    folds_case = backend == "sqlite"
    expected = [r["id"] for r in ROWS if predicate(r, folds_case) is True]
    assert got == expected, str(expr.compile())
