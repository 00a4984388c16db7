"""Operator names and their SQL precedence.

Layer 3 (sql). Expression nodes carry an operator name from this module; the
compiler renders it and decides parentheses from ``PRECEDENCE`` alone, so the
expression tree never needs explicit grouping nodes. The operator methods
users call (``==``, ``in_``, ``like`` ...) live on ``ColumnOperators`` in
``elements.py``.
"""

from __future__ import annotations

# Binary operators rendered as ``left <op> right``.
EQ = "="
NE = "!="
LT = "<"
LE = "<="
GT = ">"
GE = ">="
IS = "IS"
IS_NOT = "IS NOT"
LIKE = "LIKE"
NOT_LIKE = "NOT LIKE"
ILIKE = "ILIKE"
NOT_ILIKE = "NOT ILIKE"
IN = "IN"
NOT_IN = "NOT IN"
BETWEEN = "BETWEEN"
NOT_BETWEEN = "NOT BETWEEN"
ADD = "+"
SUB = "-"
MUL = "*"
DIV = "/"
MOD = "%"
CONCAT = "||"
AND = "AND"
OR = "OR"

# Unary operators (prefix) and modifiers (postfix).
NOT = "NOT"
NEG = "-"
DISTINCT = "DISTINCT"
EXISTS = "EXISTS"
DESC = "DESC"
ASC = "ASC"
NULLS_FIRST = "NULLS FIRST"
NULLS_LAST = "NULLS LAST"

COMPARISONS = frozenset({EQ, NE, LT, LE, GT, GE, IS, IS_NOT})

# Higher binds tighter. Comparisons and friends are non-associative in
# PostgreSQL, so the compiler parenthesises them whenever they nest.
PRECEDENCE: dict[str, int] = {
    OR: 1,
    AND: 2,
    NOT: 3,
    EQ: 5,
    NE: 5,
    LT: 5,
    LE: 5,
    GT: 5,
    GE: 5,
    IS: 5,
    IS_NOT: 5,
    LIKE: 5,
    NOT_LIKE: 5,
    ILIKE: 5,
    NOT_ILIKE: 5,
    IN: 5,
    NOT_IN: 5,
    BETWEEN: 5,
    NOT_BETWEEN: 5,
    CONCAT: 6,
    ADD: 7,
    SUB: 7,
    MUL: 8,
    DIV: 8,
    MOD: 8,
}

# Operators where ``(a op b) op c`` == ``a op (b op c)``: no parentheses needed
# when the same operator nests.
ASSOCIATIVE = frozenset({AND, OR, ADD, MUL, CONCAT})
# Operators that may chain on the left without parentheses (``a - b - c``).
LEFT_ASSOCIATIVE = frozenset({ADD, SUB, MUL, DIV, MOD, CONCAT, AND, OR})

# Negations the compiler may use instead of wrapping in NOT (...).
NEGATIONS: dict[str, str] = {
    EQ: NE,
    NE: EQ,
    LT: GE,
    GE: LT,
    GT: LE,
    LE: GT,
    IS: IS_NOT,
    IS_NOT: IS,
    LIKE: NOT_LIKE,
    NOT_LIKE: LIKE,
    ILIKE: NOT_ILIKE,
    NOT_ILIKE: ILIKE,
    IN: NOT_IN,
    NOT_IN: IN,
    BETWEEN: NOT_BETWEEN,
    NOT_BETWEEN: BETWEEN,
}
