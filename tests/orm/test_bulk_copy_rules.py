"""Which server defaults the COPY path computes itself (orm/bulkcopy.py), as PostgreSQL
prints them. Pure: no database."""

from __future__ import annotations

import pytest

from heron.orm.bulkcopy import _STABLE_DEFAULT, _TYPE_NAME


@pytest.mark.parametrize(
    "expr",
    [
        "now()",
        "CURRENT_TIMESTAMP",
        "CURRENT_TIMESTAMP(3)",
        "CURRENT_DATE",
        "LOCALTIMESTAMP",
        "transaction_timestamp()",
        "(now())::timestamp without time zone",
        "'new'::character varying",
        "'it''s'::text",
        "'-1.5'::numeric",
        "'{}'::jsonb",
        "0",
        "(-1)",
        "true",
        "NULL::integer",
    ],
)
def test_transaction_stable_defaults_are_computed(expr: str) -> None:
    assert _STABLE_DEFAULT.fullmatch(expr)


@pytest.mark.parametrize(
    "expr",
    [
        "clock_timestamp()",
        "statement_timestamp()",
        "random()",
        "gen_random_uuid()",
        "nextval('other_seq'::regclass)",
        "(now() + '1 day'::interval)",
        "'a'::text || 'b'::text",
        "E'a\\\\b'::text",
        "'x'); DROP TABLE t; --",
    ],
)
def test_other_defaults_keep_the_insert(expr: str) -> None:
    assert not _STABLE_DEFAULT.fullmatch(expr)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("timestamp without time zone", True),
        ("timestamp(3) without time zone", True),
        ("character varying(10)", True),
        ("numeric(10,2)", True),
        ("integer[]", True),
        ('"Mood"', True),
        ("public.mood", True),
        ("integer); DROP TABLE t; --", False),
    ],
)
def test_type_names_pasted_into_casts(name: str, ok: bool) -> None:
    assert bool(_TYPE_NAME.fullmatch(name)) is ok
