"""fragments.expression / fragments.predicate: one SQL expression, no way out of our parentheses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dbindex_operator.core import errors, fragments

Validator = Callable[[str], str]

BOTH = [
    pytest.param(fragments.expression, id="expression"),
    pytest.param(fragments.predicate, id="predicate"),
]


@pytest.mark.parametrize("validate", BOTH)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("lower(email)", "lower(email)", id="function"),
        pytest.param("  lower(email)\n", "lower(email)", id="stripped"),
        pytest.param("(a + b) * 2", "(a + b) * 2", id="arithmetic"),
        pytest.param("a::text", "a::text", id="cast-colons"),
        pytest.param("CAST(a AS integer)", "CAST(a AS integer)", id="cast-function"),
        pytest.param("(data->'x')::int", "(data->'x')::int", id="jsonb-then-cast"),
        pytest.param(
            "CASE WHEN a > 0 THEN 'pos' ELSE 'neg' END",
            "CASE WHEN a > 0 THEN 'pos' ELSE 'neg' END",
            id="case",
        ),
        pytest.param("name || ')'", "name || ')'", id="literal-close-paren"),
        pytest.param("name || '('", "name || '('", id="literal-open-paren"),
        pytest.param("note || ';'", "note || ';'", id="literal-semicolon"),
        pytest.param("note || '-- x'", "note || '-- x'", id="literal-line-comment"),
        pytest.param("note || '/* x */'", "note || '/* x */'", id="literal-block-comment"),
        pytest.param("note <> 'it''s'", "note <> 'it''s'", id="literal-doubled-quote"),
        pytest.param("E'\\')' || a", "E'\\')' || a", id="escape-string-with-paren"),
        pytest.param("$$a;b)$$ || name", "$$a;b)$$ || name", id="dollar-quoted"),
        pytest.param(
            "$tag$ ) ; -- /* $tag$ || name", "$tag$ ) ; -- /* $tag$ || name", id="tagged-dollar"
        ),
        pytest.param('name COLLATE "C"', 'name COLLATE "C"', id="collate"),
        pytest.param("deleted_at IS NULL", "deleted_at IS NULL", id="is-null"),
        pytest.param("a IS NOT DISTINCT FROM b", "a IS NOT DISTINCT FROM b", id="is-not-distinct"),
        pytest.param("status IN ('a', 'b')", "status IN ('a', 'b')", id="in-list"),
        pytest.param("ARRAY[a, b]", "ARRAY[a, b]", id="array-constructor"),
        pytest.param("tags @> ARRAY['x']", "tags @> ARRAY['x']", id="array-contains"),
        pytest.param("a[1]", "a[1]", id="subscript"),
        pytest.param("data->>'k'", "data->>'k'", id="jsonb-text"),
        pytest.param("data #> '{a,b}'", "data #> '{a,b}'", id="jsonb-path"),
        pytest.param("data ? 'k'", "data ? 'k'", id="jsonb-exists"),
        pytest.param(
            "status = 'active' AND NOT archived",
            "status = 'active' AND NOT archived",
            id="boolean-logic",
        ),
        pytest.param("coalesce(a, 0) > 0", "coalesce(a, 0) > 0", id="coalesce"),
        pytest.param("date_trunc('day', ts)", "date_trunc('day', ts)", id="string-argument"),
        pytest.param("a BETWEEN 1 AND 10", "a BETWEEN 1 AND 10", id="between"),
        pytest.param("name LIKE 'a%'", "name LIKE 'a%'", id="like"),
        pytest.param('"Weird ""Col"""', '"Weird ""Col"""', id="quoted-identifier"),
        pytest.param('"a; DROP TABLE t"', '"a; DROP TABLE t"', id="identifier-with-semicolon"),
        pytest.param("public.f(a)", "public.f(a)", id="qualified-function"),
        pytest.param("ROW(a, b)", "ROW(a, b)", id="row-constructor"),
        pytest.param("((a))", "((a))", id="nested-parens"),
        pytest.param("U&'d\\0061t'", "U&'d\\0061t'", id="unicode-escape-string"),
    ],
)
def test_accepted(validate: Validator, text: str, expected: str) -> None:
    assert validate(text) == expected


@pytest.mark.parametrize("validate", BOTH)
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("", "{} is empty", id="empty"),
        pytest.param(" \n\t ", "{} is empty", id="blank"),
        pytest.param("a\x00", "{} contains a NUL character", id="nul"),
        pytest.param("a" * 8193, "{} is longer than 8192 bytes", id="too-long"),
        pytest.param("é" * 4097, "{} is longer than 8192 bytes", id="too-long-in-bytes"),
        pytest.param("a; DROP TABLE t", "{}: ';' is not allowed", id="statement-separator"),
        pytest.param("a;", "{}: ';' is not allowed", id="trailing-semicolon"),
        pytest.param(";", "{}: ';' is not allowed", id="only-semicolon"),
        pytest.param("a -- comment", "{}: comments are not allowed", id="line-comment"),
        pytest.param("a --\n", "{}: comments are not allowed", id="line-comment-newline"),
        pytest.param("a /* c */", "{}: comments are not allowed", id="block-comment"),
        pytest.param("a /* x /* y */ */", "{}: comments are not allowed", id="nested-comment"),
        pytest.param("a)", "{} has an unbalanced ')'", id="extra-close"),
        pytest.param("(a", "{} has an unbalanced '('", id="extra-open"),
        pytest.param("a) OR (true", "{} has an unbalanced ')'", id="balanced-but-escapes"),
        pytest.param("a)) OR ((b", "{} has an unbalanced ')'", id="double-escape"),
        pytest.param(
            "true) WITH (fillfactor = 10", "{} has an unbalanced ')'", id="escape-to-with"
        ),
        pytest.param("a) ; DROP TABLE t; --", "{} has an unbalanced ')'", id="escape-then-drop"),
        pytest.param("1) UNION (SELECT 2", "{} has an unbalanced ')'", id="escape-to-union"),
        pytest.param("(SELECT 1)", "{} must not contain sub-queries", id="scalar-subquery"),
        pytest.param(
            "EXISTS (SELECT 1 FROM pg_authid)",
            "{} must not contain sub-queries",
            id="exists",
        ),
        pytest.param("a IN (SELECT 1)", "{} must not contain sub-queries", id="in-subquery"),
        pytest.param("a = ANY (SELECT 1)", "{} must not contain sub-queries", id="any-subquery"),
        pytest.param("ARRAY(SELECT 1)", "{} must not contain sub-queries", id="array-subquery"),
        pytest.param(
            "coalesce((SELECT 1), 0)", "{} must not contain sub-queries", id="nested-subquery"
        ),
        pytest.param("a ORDER BY 1", "{} must be a single expression", id="order-by"),
        pytest.param("a LIMIT 1", "{} must be a single expression", id="limit"),
        pytest.param("a OFFSET 1", "{} must be a single expression", id="offset"),
        pytest.param("a GROUP BY a", "{} must be a single expression", id="group-by"),
        pytest.param("a HAVING true", "{} must be a single expression", id="having"),
        pytest.param("a WINDOW w AS ()", "{} must be a single expression", id="window"),
        pytest.param("a FOR UPDATE", "{} must be a single expression", id="for-update"),
        pytest.param(
            "'unterminated",
            '{} is not valid SQL: unterminated quoted string at or near "\'unterminated"',
            id="unterminated-string",
        ),
        pytest.param(
            "$$a",
            '{} is not valid SQL: unterminated dollar-quoted string at or near "$$a"',
            id="unterminated-dollar",
        ),
        pytest.param(
            '"a',
            '{} is not valid SQL: unterminated quoted identifier at or near ""a"',
            id="unterminated-identifier",
        ),
        pytest.param(
            "x'; drop",
            '{} is not valid SQL: unterminated hexadecimal string literal at or near "x\'; drop"',
            id="unterminated-hex",
        ),
        pytest.param(
            "WITH x AS (SELECT 1) SELECT 1",
            '{} is not valid SQL: syntax error at or near "WITH"',
            id="with-statement",
        ),
    ],
)
def test_rejected_by_both(validate: Validator, text: str, problem: str) -> None:
    what = "expression" if validate is fragments.expression else "where"
    with pytest.raises(errors.SpecError) as info:
        validate(text)
    assert info.value.message == problem.format(what)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a, b", "expression must be exactly one expression", id="two-expressions"),
        pytest.param("a AS b", "expression must be exactly one expression", id="alias"),
        pytest.param("a b", "expression must be exactly one expression", id="bare-alias"),
        pytest.param("a WHERE b", "expression must be exactly one expression", id="where-clause"),
        pytest.param("1 FROM t", "expression must be a single expression", id="from-clause"),
        pytest.param("1 FROM t, u", "expression must be a single expression", id="from-join"),
        pytest.param("a INTO t", "expression must be a single expression", id="into"),
        pytest.param("DISTINCT a", "expression must be a single expression", id="distinct"),
        pytest.param("1 UNION SELECT 2", "expression must be exactly one expression", id="union"),
        pytest.param("1 EXCEPT SELECT 2", "expression must be exactly one expression", id="except"),
        pytest.param(
            "a COLLATE", "expression must be exactly one expression", id="dangling-collate"
        ),
        pytest.param("*", "expression must be exactly one expression", id="star"),
        pytest.param("ALL a", "expression must be exactly one expression", id="all-quantifier"),
    ],
)
def test_expression_rejected(text: str, message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        fragments.expression(text)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "a, b", 'where is not valid SQL: syntax error at or near ","', id="two-predicates"
        ),
        pytest.param("a AS b", 'where is not valid SQL: syntax error at or near "AS"', id="alias"),
        pytest.param(
            "1 FROM t", 'where is not valid SQL: syntax error at or near "FROM"', id="from"
        ),
        pytest.param(
            "a INTO t", 'where is not valid SQL: syntax error at or near "INTO"', id="into"
        ),
        pytest.param(
            "true UNION SELECT 2",
            "where must be exactly one boolean expression",
            id="union",
        ),
        pytest.param("*", 'where is not valid SQL: syntax error at or near "*"', id="star"),
    ],
)
def test_predicate_rejected(text: str, message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        fragments.predicate(text)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("validate", "what", "message"),
    [
        pytest.param(
            fragments.expression,
            "columns[2].expression",
            "columns[2].expression: ';' is not allowed",
            id="expression",
        ),
        pytest.param(
            fragments.predicate, "spec.where", "spec.where: ';' is not allowed", id="where"
        ),
    ],
)
def test_field_name_in_message(validate: Callable[..., str], what: str, message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        validate("a; b", what=what)
    assert info.value.message == message


def test_exactly_8192_bytes_is_accepted() -> None:
    text = "a" * 8192
    assert fragments.expression(text) == text
