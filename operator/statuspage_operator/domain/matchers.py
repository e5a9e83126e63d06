"""Alertmanager's label matchers: `name="value"`, `name!="value"`, `name=~"re"`, `name!~"re"`.

The syntax is Alertmanager's own (its `matchers` in routes, inhibitions and `amtool`), so a
user pastes what they already write there: a label name (bare, or double-quoted for UTF-8
names), an operator, and a value (double-quoted with `\\"`, `\\\\` and `\\n` escapes, or bare when
it has no space, comma, brace or quote). A list of matchers selects what every one of them
matches; a label an alert does not carry has the value "" (so `name=""` matches its absence).

Regular expressions are RE2, as in Alertmanager, anchored at both ends, and run by RE2 itself
(google-re2): the same answer as Alertmanager's for the same text, and time linear in the input
whatever the pattern, so no pattern and no label value can stall the process.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from statuspage_operator.domain.errors import InvalidSpecError

# Bounds on what one matcher may cost: its text, and the memory RE2 may give its program.
MAX_MATCHER = 1024
MAX_MATCHERS = 32
_RE2_MEMORY = 1 << 20


class Op(enum.StrEnum):
    """A matcher's operator."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


# Longest first, so `!=` is not read as `!` and `=~` not as `=`.
_OPS = (Op.REGEX, Op.NOT_REGEX, Op.NOT_EQUAL, Op.EQUAL)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}
_BARE_STOP = frozenset(' \t\n,{}"')


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _RE2_MEMORY
    return options


@dataclass(frozen=True, slots=True)
class Matcher:
    """One parsed matcher."""

    name: str
    op: Op
    value: str
    _pattern: Any = field(default=None, compare=False, repr=False)

    @property
    def is_regex(self) -> bool:
        """Whether the value is a regular expression."""
        return self.op in (Op.REGEX, Op.NOT_REGEX)

    @property
    def is_equal(self) -> bool:
        """Whether a match selects (`=`, `=~`) rather than excludes (`!=`, `!~`)."""
        return self.op in (Op.EQUAL, Op.REGEX)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with these labels is selected."""
        value = labels.get(self.name, "")
        if not self.is_regex:
            return (value == self.value) == self.is_equal
        return (self._pattern.fullmatch(value) is not None) == self.is_equal

    def to_api(self) -> dict[str, Any]:
        """As Alertmanager's API v2 takes it (a silence's `matchers`)."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }

    def __str__(self) -> str:
        value = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{value}"'


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The double-quoted string at `start`; returns it unescaped and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in _ESCAPES:
                raise ValueError(f"unknown escape at position {i + 1}")
            out.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(char)
        i += 1
    raise ValueError("a quoted string is not closed")


def _bare(text: str, start: int, stop: frozenset[str]) -> tuple[str, int]:
    i = start
    while i < len(text) and text[i] not in stop:
        i += 1
    return text[start:i], i


def parse_matcher(text: str) -> Matcher:
    """One matcher; raise ValueError saying what is wrong with it."""
    if len(text) > MAX_MATCHER:
        raise ValueError(f"longer than {MAX_MATCHER} characters")
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1].strip()
    if not body:
        raise ValueError("empty")
    if body[0] == '"':
        name, i = _quoted(body, 0)
    else:
        name, i = _bare(body, 0, _BARE_STOP | frozenset("=!~"))
    if not name:
        raise ValueError("a label name is missing before the operator")
    rest = body[i:].lstrip()
    op = next((o for o in _OPS if rest.startswith(o)), None)
    if op is None:
        raise ValueError("expected an operator (=, !=, =~ or !~) after the label name")
    rest = rest[len(op) :].lstrip()
    if rest.startswith('"'):
        value, end = _quoted(rest, 0)
    else:
        value, end = _bare(rest, 0, _BARE_STOP)
    if rest[end:].strip():
        raise ValueError(f"unexpected {rest[end:].strip()!r} after the value")
    pattern = None
    if op in (Op.REGEX, Op.NOT_REGEX):
        try:
            pattern = re2.compile(value, _options())
        except re2.error as error:
            detail = error.args[0] if error.args else error
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            raise ValueError(f"not an RE2 regular expression: {detail}") from None
    return Matcher(name, op, value, pattern)


def parse_matchers(field_path: str, texts: Sequence[str]) -> tuple[Matcher, ...]:
    """A list of matchers from a spec; raise InvalidSpecError naming the bad one."""
    if len(texts) > MAX_MATCHERS:
        raise InvalidSpecError(field_path, f"at most {MAX_MATCHERS} matchers")
    parsed: list[Matcher] = []
    for index, text in enumerate(texts):
        try:
            parsed.append(parse_matcher(text))
        except ValueError as error:
            raise InvalidSpecError(f"{field_path}[{index}]", f"{text!r}: {error}") from None
    return tuple(parsed)


def select(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher selects the labels (an empty list selects nothing)."""
    listed = tuple(matchers)
    return bool(listed) and all(m.matches(labels) for m in listed)
