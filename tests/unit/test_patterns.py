"""EventBridge event patterns: the case table, the invalid-pattern table, and the API's edges.

patterns_cases.json holds the matching cases; each names the page of the EventBridge user guide or
the aws/event-ruler file it comes from.  tests/integration/test_patterns_moto.py replays the same
table against moto's EventBridge.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from webhook_processor.patterns import Pattern, PatternError, compile

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "patterns_cases.json").read_text(encoding="utf-8")
)

DOCS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/"
R = "aws/event-ruler src/test/software/amazon/event/ruler/"
R_JRC = R + "JsonRuleCompilerTest.java"
R_CIDR = R + "CIDRTest.java"
R_SRC = "aws/event-ruler src/main/software/amazon/event/ruler/"
R_OR_BAD = "aws/event-ruler src/test/data/wrongOrRelationshipRules.json"
R_README = "aws/event-ruler README.md"


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


# --------------------------------------------------------------------------------------------
# The case table
# --------------------------------------------------------------------------------------------


def test_case_table_shape() -> None:
    assert len(CASES) >= 150
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    for case in CASES:
        assert set(case) <= {"name", "source", "pattern", "event", "match", "moto_skip"}, case
        assert case["source"], case["name"]
        assert isinstance(case["match"], bool), case["name"]
        assert {"source", "detail-type", "detail"} <= set(case["event"]), case["name"]


OPERATORS = [
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
    "$or",
]


@pytest.mark.parametrize("operator", OPERATORS)
def test_every_operator_has_positive_and_negative_cases(operator: str) -> None:
    outcomes = {case["match"] for case in CASES if f'"{operator}"' in json.dumps(case["pattern"])}
    assert outcomes == {True, False}


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case(case: dict[str, Any]) -> None:
    assert compile(case["pattern"]).matches(case["event"]) is case["match"]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case_from_json_text(case: dict[str, Any]) -> None:
    """The pattern given as JSON text (numbers parsed as decimals) behaves the same."""
    pattern = compile(json.dumps(case["pattern"]))
    event = json.loads(json.dumps(case["event"]), parse_float=Decimal)
    assert pattern.matches(event) is case["match"]


# --------------------------------------------------------------------------------------------
# Invalid patterns: (pattern, fragment of the error message, source)
# --------------------------------------------------------------------------------------------

INVALID: list[tuple[Any, str, str]] = [
    # structure
    ([1, 2, 3], "an event pattern must be a JSON object", R_JRC + " testCompile"),
    ("[1, 2, 3]", "must be a JSON object", R_JRC + " testCompile"),
    ({}, "empty objects are not allowed", R_SRC + "JsonRuleCompiler.java"),
    ({"a": 1}, "a: pattern values must be arrays or objects", R_JRC + " testCompile"),
    ({"detail": {"state": "running"}}, "detail.state: pattern values must be arrays", DOCS),
    ({"a": None}, "a: pattern values must be arrays or objects, not null", R_JRC),
    ({"a": True}, "a: pattern values must be arrays or objects, not a boolean", R_JRC),
    ({"foo": {}}, "foo: empty objects are not allowed", R_JRC + " testCompile"),
    ({"foo": []}, "foo: empty arrays are not allowed", R_JRC + " testCompile"),
    ({"detail": {"x": {"y": []}}}, "detail.x.y: empty arrays are not allowed", R_JRC),
    ({"a": [["nested"]]}, "a: array elements must be strings, numbers", R_JRC),
    ({"a": [{"x": 2}]}, 'a: unrecognized operator "x"', R_JRC + " testCompile"),
    ({"a": [{"foo": "child"}]}, 'unrecognized operator "foo"', R_JRC + " badPatternTypes"),
    ({"a": [{"exactly": "x"}]}, 'unrecognized operator "exactly"', "not in the EventBridge guide"),
    ({"a": [{}]}, "a: empty operator object", R_SRC + "JsonRuleCompiler.java"),
    ({"a": [{"prefix": "child", "foo": []}]}, "exactly one key", R_JRC + " badPatternTypes"),
    ({"a": [{"suffix": "child", "foo": []}]}, "exactly one key", R_JRC + " badPatternTypes"),
    ({"a": [{"anything-but": "c", "foo": []}]}, "exactly one key", R_JRC + " badPatternTypes"),
    ("{not json", "not valid JSON", "JSON"),
    ('{"a": [NaN]}', "NaN is not a JSON number", "JSON"),
    ({"a": [float("inf")]}, "a: match value Infinity is not a finite JSON number", "JSON"),
    ({1: ["x"]}, "field names must be strings", "JSON"),
    # prefix / suffix / equals-ignore-case / wildcard
    ({"a": [{"prefix": 3}]}, "a: prefix needs a string, not a number", R_JRC + " badPatternTypes"),
    ({"a": [{"prefix": [1, 2]}]}, "prefix needs a string", R_JRC + " badPatternTypes"),
    ({"a": [{"suffix": 3}]}, "a: suffix needs a string", R_JRC + " badPatternTypes"),
    ({"a": [{"equals-ignore-case": 5}]}, "equals-ignore-case needs a string", R_JRC),
    ({"a": [{"equals-ignore-case": ["abc"]}]}, "equals-ignore-case needs a string", R_JRC),
    ({"a": [{"prefix": {"invalid-expression": ["abc"]}}]}, "prefix takes a string or", R_JRC),
    ({"a": [{"prefix": {"equals-ignore-case": 5}}]}, "prefix equals-ignore-case needs", R_JRC),
    ({"a": [{"prefix": {"equals-ignore-case": ["abc"]}}]}, "needs a string", R_JRC),
    ({"a": [{"prefix": {"equals-ignore-case": "a", "test": "d"}}]}, "prefix takes a", R_JRC),
    ({"a": [{"prefix": {"equals-ignore-case": "a"}, "test": "d"}]}, "exactly one key", R_JRC),
    ({"a": [{"suffix": {"invalid-expression": ["abc"]}}]}, "suffix takes a string or", R_JRC),
    ({"a": [{"suffix": {"equals-ignore-case": 5}}]}, "suffix equals-ignore-case needs", R_JRC),
    ({"a": [{"suffix": {"equals-ignore-case": "a", "test": "d"}}]}, "suffix takes a", R_JRC),
    ({"a": [{"wildcard": 5}]}, "a: wildcard needs a string", R_JRC + " badPatternTypes"),
    ({"a": [{"wildcard": ["abc"]}]}, "wildcard needs a string", R_JRC + " badPatternTypes"),
    ({"a": [{"wildcard": "foo**bar"}]}, "consecutive wildcard characters", R_README),
    ({"a": [{"wildcard": "**"}]}, "consecutive wildcard characters", R_README),
    ({"a": [{"wildcard": "foo*bar\\"}]}, "invalid escape", R + "input/WildcardParserTest.java"),
    ({"a": [{"wildcard": "a\\bc"}]}, "only \\* and \\\\ may be escaped", R_README),
    # anything-but
    ({"a": [{"anything-but": ["c0", 111, "c2"]}]}, "all strings or all numbers", R_JRC),
    (
        {"a": [{"anything-but": []}]},
        "anything-but list must not be empty",
        R_SRC + "JsonRuleCompiler",
    ),
    ({"a": [{"anything-but": None}]}, "anything-but takes a string, a number", R_JRC),
    ({"a": [{"anything-but": True}]}, "anything-but takes a string, a number", R_JRC),
    ({"a": [{"anything-but": [None]}]}, "not null", R_SRC + "JsonRuleCompiler.java"),
    ({"a": [{"anything-but": 1e10}]}, "must be between -5e9 and 5e9", R_SRC + "ComparableNumber"),
    ({"a": [{"anything-but": {"foo": 3}}]}, "unsupported anything-but operator", R_JRC),
    ({"a": [{"anything-but": {"exists": True}}]}, "unsupported anything-but operator", R_JRC),
    ({"a": [{"anything-but": {}}]}, "anything-but takes one of prefix", R_SRC + "JsonRuleCompiler"),
    ({"a": [{"anything-but": {"prefix": 27}}]}, "anything-but prefix needs a string", R_JRC),
    ({"a": [{"anything-but": {"prefix": ""}}]}, "must not be an empty string", R_JRC),
    ({"a": [{"anything-but": {"prefix": "foo", "a": 1}}]}, "anything-but takes one of", R_JRC),
    ({"a": [{"anything-but": {"prefix": "foo"}, "x": 1}]}, "exactly one key", R_JRC),
    ({"a": [{"anything-but": {"prefix": ["1", ""]}}]}, "must not be an empty string", R_JRC),
    ({"a": [{"anything-but": {"prefix": [1, 2, 3]}}]}, "prefix needs a string", R_JRC),
    ({"a": [{"anything-but": {"prefix": []}}]}, "anything-but prefix list must not be empty", ""),
    ({"a": [{"anything-but": {"suffix": 27}}]}, "anything-but suffix needs a string", R_JRC),
    ({"a": [{"anything-but": {"suffix": ""}}]}, "must not be an empty string", R_JRC),
    ({"a": [{"anything-but": {"suffix": ["1", ""]}}]}, "must not be an empty string", R_JRC),
    ({"a": [{"anything-but": {"equals-ignore-case": [1, 2]}}]}, "needs a string", R_JRC),
    ({"a": [{"anything-but": {"wildcard": 27}}]}, "anything-but wildcard needs a string", R_JRC),
    ({"a": [{"anything-but": {"wildcard": "foo**bar"}}]}, "consecutive wildcard", R_JRC),
    ({"a": [{"anything-but": {"wildcard": "foo*bar\\"}}]}, "invalid escape", R_JRC),
    ({"a": [{"anything-but": {"wildcard": ["1", "foo**bar"]}}]}, "consecutive wildcard", R_JRC),
    ({"a": [{"anything-but": {"suffix": {"equals-ignore-case": "x"}}}]}, "needs a string", R_JRC),
    # numeric
    (
        {"detail": {"amount": [{"numeric": [">"]}]}},
        "detail.amount: numeric needs an operator",
        R_JRC,
    ),
    ({"a": [{"numeric": ["="]}]}, "numeric needs an operator and a number", R_JRC),
    ({"a": [{"numeric": []}]}, "numeric needs an operator and a number", R_JRC),
    ({"a": [{"numeric": ">"}]}, "numeric needs an operator and a number", R_JRC),
    ({"a": [{"numeric": ["=", True]}]}, "numeric = operand must be a number, not a boolean", R_JRC),
    ({"a": [{"numeric": ["<", "-4e-8"]}]}, "must be a number, not a string", R_JRC),
    ({"a": [{"numeric": [">=", 2.0e22]}]}, "must be between -5e9 and 5e9", R_JRC),
    ({"a": [{"numeric": ["<=", -5000000001]}]}, "must be between -5e9 and 5e9", DOCS),
    ({"a": [{"numeric": ["=", 0.00000033]}]}, "at most 6 digits after the decimal", DOCS),
    (
        {"a": [{"numeric": ["<>", 1, ">", 0]}]},
        'numeric operator must be one of = > >= < <=, not "<>"',
        R_JRC,
    ),
    ({"a": [{"numeric": ["==", 1]}]}, "numeric operator must be one of", R_JRC),
    ({"a": [{"numeric": ["<", 1, ">", 0]}]}, "a numeric range starts with", R_JRC),
    ({"a": [{"numeric": ["=", 1, "<", 5]}]}, "a numeric range starts with", R_JRC),
    ({"a": [{"numeric": [">", 1, ">", 5]}]}, "a numeric range ends with", R_JRC),
    ({"a": [{"numeric": [">", 1, "<", 1]}]}, "must be less than upper bound", R_JRC),
    (
        {"a": [{"numeric": [">=", 5, "<=", 5]}]},
        "must be less than upper bound",
        R_SRC + "Range.java",
    ),
    ({"a": [{"numeric": [">", 30, "<", 1]}]}, "must be less than upper bound", R_JRC),
    ({"a": [{"numeric": [">", 1, "<", 30, False]}]}, "numeric needs an operator", R_JRC),
    # exists
    ({"x": [{"exists": "badString"}]}, 'x: exists takes true or false, not "badString"', R_JRC),
    ({"x": [{"exists": 1}]}, "exists takes true or false", R_JRC + " testExistsExpression"),
    ({"x": [{"exists": True, "extraKey": "v"}]}, "exactly one key", R_JRC),
    # cidr
    ({"ip": [{"cidr": "192.168.0.1/33"}]}, "IPv4 mask bits must be < 32", R_CIDR),
    ({"ip": [{"cidr": "10.0.0.1/32"}]}, "IPv4 mask bits must be < 32", R_SRC + "CIDR.java"),
    ({"ip": [{"cidr": "2001:db8::1/128"}]}, "IPv6 mask bits must be < 128", R_SRC + "CIDR.java"),
    ({"ip": [{"cidr": "2400:6500:FF00::36FB:1F80/222"}]}, "IPv6 mask bits", R_CIDR),
    ({"ip": [{"cidr": "foo"}]}, "one '/' required", R_CIDR),
    ({"ip": [{"cidr": "foo/bar/baz"}]}, "one '/' required", R_CIDR),
    ({"ip": [{"cidr": "10.0.0.0/"}]}, "one '/' required", R_SRC + "CIDR.java"),
    ({"ip": [{"cidr": "192.168.0.1/foo"}]}, "mask bits must be an integer", R_CIDR),
    ({"ip": [{"cidr": "192.168.0.1/-3424"}]}, "mask bits must not be negative", R_CIDR),
    ({"ip": [{"cidr": "snorkle/3"}]}, "invalid IP address 'snorkle'", R_CIDR),
    ({"ip": [{"cidr": "10.10.10.10.10/3"}]}, "invalid IP address", R_CIDR),
    ({"ip": [{"cidr": "2.1.0.-1/3"}]}, "invalid IP address", R_CIDR),
    ({"ip": [{"cidr": "700.168.0.1/8"}]}, "invalid IP address", R_CIDR + " testToStringFailures"),
    ({"ip": [{"cidr": "2400:6500:3:3:3:3:3:3:3:3FF00::36FB:1F80/122"}]}, "invalid IP", R_CIDR),
    ({"ip": [{"cidr": "::ffff:10.0.0.0/104"}]}, "invalid IP address", R_SRC + "Constants.java"),
    ({"ip": [{"cidr": 10}]}, "cidr needs a string", R_SRC + "JsonRuleCompiler.java"),
    # $or
    (
        {"$or": [{"metricName": ["CPUUtilization"]}]},
        "$or: $or needs an array of at least 2",
        R_OR_BAD,
    ),
    (
        {"detail": {"$or": [{"source": ["a"]}, {"detail-type": ["b"]}, [{"foo": ["wrong"]}]]}},
        "detail.$or[2]: $or array elements must be objects, not an array",
        R_OR_BAD,
    ),
    (
        {"$or": {"a": ["x"]}},
        "$or needs an array of objects, not an object",
        R_SRC + "JsonRuleCompiler",
    ),
    ({"$or": []}, "$or needs an array of at least 2 objects", R_README + " $or"),
    ({"detail": {"$or": [{"a": [1]}, {}]}}, "detail.$or[1]: empty objects are not allowed", R_JRC),
    ({"detail": {"$or": [{"a": [1]}, {"b": {}}]}}, "detail.$or[1].b: empty objects", R_JRC),
    (
        {"$or": [{"numeric": 123}, {"prefix": "abc"}]},
        '$or[0].numeric: "numeric" is an operator',
        R_README,
    ),
    (
        {"$or": [{"a": {"prefix": ["x"]}}, {"b": [1]}]},
        '$or[0].a.prefix: "prefix" is an operator',
        R_JRC,
    ),
    ({"$or": [{"a": [1]}, {"b": [{"numeric": ["<"]}]}]}, "$or[1].b: numeric needs", R_JRC),
]


@pytest.mark.parametrize(
    ("pattern", "fragment", "source"), INVALID, ids=[str(i) for i in range(len(INVALID))]
)
def test_invalid_pattern(pattern: Any, fragment: str, source: str) -> None:
    with pytest.raises(PatternError) as caught:
        compile(pattern)
    assert fragment in str(caught.value), source


def test_operator_names_are_plain_fields_outside_or() -> None:
    """Outside $or, a field may be called "prefix" or "numeric" (only $or reserves them)."""
    pattern = compile({"detail": {"prefix": ["x"], "numeric": [1]}})
    assert pattern.matches({"detail": {"prefix": "x", "numeric": 1}})


# --------------------------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------------------------


def test_pattern_error_names_the_key_path() -> None:
    with pytest.raises(PatternError) as caught:
        compile({"detail": {"amount": [{"numeric": ["<"]}]}})
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.path == "detail.amount"
    assert str(error).startswith("detail.amount: numeric needs an operator and a number")
    assert error.reason.startswith("numeric needs an operator and a number")


def test_top_level_error_has_no_path() -> None:
    with pytest.raises(PatternError) as caught:
        compile({})
    assert caught.value.path == ""
    assert str(caught.value) == "empty objects are not allowed"


def test_compile_accepts_json_text_and_bytes() -> None:
    event = {"source": "aws.ec2", "detail-type": "x", "detail": {"n": 0.5}}
    assert compile('{"detail": {"n": [{"numeric": [">", 0.25]}]}}').matches(event)
    assert isinstance(compile(b'{"source": ["aws.ec2"]}'), Pattern)  # type: ignore[arg-type]


def test_event_numbers_may_be_decimals_and_arrays_tuples() -> None:
    pattern = compile({"detail": {"n": [{"numeric": ["=", 1.5]}], "t": ["b"]}})
    assert pattern.matches({"detail": {"n": Decimal("1.50"), "t": ("a", "b")}})
    assert not pattern.matches({"detail": {"n": Decimal("NaN"), "t": ("a", "b")}})


def test_non_json_event_values_are_absent() -> None:
    pattern = compile({"detail": {"when": [{"exists": False}]}})
    assert pattern.matches({"detail": {"when": object()}})


def test_matches_needs_a_dict() -> None:
    with pytest.raises(TypeError):
        compile({"source": ["x"]}).matches(["not", "a", "dict"])  # type: ignore[arg-type]


def test_repr_and_source() -> None:
    source = {"source": ["aws.ec2"]}
    pattern = compile(source)
    assert pattern.source == source
    assert repr(pattern) == 'Pattern({"source": ["aws.ec2"]})'


def test_compiled_pattern_is_reusable() -> None:
    pattern = compile({"detail": {"items": {"sku": ["A"], "qty": [1]}}})
    hit = {"detail": {"items": [{"sku": "A", "qty": 1}]}}
    miss = {"detail": {"items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]}}
    assert [pattern.matches(e) for e in (hit, miss, hit, miss)] == [True, False, True, False]


def test_unused_subtrees_are_not_walked() -> None:
    """Only the paths a pattern names are flattened; huge unrelated payloads stay cheap."""
    big = {"source": "s", "detail": {"blob": [{"x": list(range(50))} for _ in range(2000)]}}
    assert compile({"source": ["s"]}).matches(big)


def test_an_event_nested_as_deep_as_json_parsers_allow_is_matched() -> None:
    """A webhook body can nest 1,024 levels (orjson's limit): past Python's recursion limit."""
    body: Any = 1
    for _ in range(1_023):
        body = [body]
    event = {"detail": {"a": body, "b": {"c": [[["deep"]]]}}}
    assert compile({"detail": {"a": [1]}}).matches(event)
    assert not compile({"detail": {"a": [2]}}).matches(event)
    assert compile({"detail": {"b": {"c": ["deep"]}, "a": [{"exists": True}]}}).matches(event)
