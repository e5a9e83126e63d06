"""Alertmanager's matcher syntax, and what a list of matchers selects."""

from __future__ import annotations

import pytest

from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.matchers import Op, parse_matcher, parse_matchers, select


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('service="api"', "service", Op.EQUAL, "api"),
        ("service=api", "service", Op.EQUAL, "api"),
        ('severity!="info"', "severity", Op.NOT_EQUAL, "info"),
        ('instance=~"db-[0-9]+"', "instance", Op.REGEX, "db-[0-9]+"),
        ('job !~ "node|kubelet"', "job", Op.NOT_REGEX, "node|kubelet"),
        ('{team="payments"}', "team", Op.EQUAL, "payments"),
        ('"service.name"="api"', "service.name", Op.EQUAL, "api"),
        ('summary="say \\"hi\\"\\n"', "summary", Op.EQUAL, 'say "hi"\n'),
        ('env=""', "env", Op.EQUAL, ""),
    ],
)
def test_parses_alertmanager_syntax(text: str, name: str, op: Op, value: str) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)
    # What it prints parses back to itself.
    assert parse_matcher(str(matcher)) == matcher


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ('="api"', "label name is missing"),
        ("service", "expected an operator"),
        ('service=="api"', "after the value"),
        ('service="api', "not closed"),
        ('service="a\\tb"', "unknown escape"),
        ('instance=~"(db"', "not an RE2 regular expression: missing )"),
        ('instance=~"(?=lookahead)"', "not an RE2 regular expression"),
        ("x=" + "a" * 2000, "longer than 1024"),
    ],
)
def test_refuses_what_does_not_parse(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_matcher(text)


def test_spec_errors_name_the_bad_matcher() -> None:
    with pytest.raises(InvalidSpecError) as raised:
        parse_matchers("spec.alerts.matchers", ['service="api"', "severity"])
    assert raised.value.field == "spec.alerts.matchers[1]"
    assert "'severity'" in raised.value.problem


def test_regexes_are_anchored_and_missing_labels_are_empty() -> None:
    db = parse_matchers("m", ['instance=~"db-[0-9]+"'])
    assert select(db, {"instance": "db-12"})
    assert not select(db, {"instance": "db-12.example"})
    assert not select(db, {"instance": "old-db-12"})
    absent = parse_matchers("m", ['env=""'])
    assert select(absent, {"service": "api"})
    assert not select(absent, {"env": "prod"})
    not_info = parse_matchers("m", ['severity!~"info|none"'])
    assert select(not_info, {"severity": "critical"})
    assert select(not_info, {})
    assert not select(not_info, {"severity": "info"})


def test_every_matcher_must_select_and_none_selects_nothing() -> None:
    both = parse_matchers("m", ['service="api"', 'severity!="info"'])
    assert select(both, {"service": "api", "severity": "critical"})
    assert not select(both, {"service": "api", "severity": "info"})
    assert not select(both, {"service": "web", "severity": "critical"})
    assert not select((), {"service": "api"})


def test_pathological_patterns_take_linear_time() -> None:
    # Catastrophic for a backtracking engine ((a+)+$ on 'aaaa...b'); RE2 answers at once.
    evil = parse_matchers("m", ['x=~"(a+)+"'])
    assert not select(evil, {"x": "a" * 50_000 + "b"})


def test_api_form_of_a_silence_matcher() -> None:
    assert parse_matcher('job!~"node.*"').to_api() == {
        "name": "job",
        "value": "node.*",
        "isRegex": True,
        "isEqual": False,
    }
