"""Alertmanager silences of maintenance occurrences: what one is, and which one an occurrence has.

Alertmanager has no idempotency key, so the key is written where Alertmanager keeps it: in the
silence's comment, which names the window (namespace/name), its uid and the occurrence's start.
Before creating a silence the operator looks for one carrying that key, so a crash between the
creation and its record in the window's status adopts it instead of making a second.

Alertmanager moves a silence's start to the moment of its creation when it is asked for a start
in the past (a silence made late, after Alertmanager was down), and answers an update of an
active silence's times with a new silence (the old one expired): `covers` accepts the first, and
callers record whatever id Alertmanager answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from statuspage_operator.domain.matchers import Matcher
from statuspage_operator.domain.timestamps import format_time

CREATED_BY = "statuspage-operator"
MAX_TITLE = 200

# A matcher as Alertmanager's API gives it back: name, value, isRegex, isEqual.
MatcherKey = tuple[str, str, bool, bool]


class SilenceState(StrEnum):
    """A silence's state in Alertmanager."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Silence:
    """A silence as Alertmanager reports it."""

    id: str
    state: SilenceState
    matchers: frozenset[MatcherKey]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    @property
    def live(self) -> bool:
        """Pending or active: it silences now or will."""
        return self.state is not SilenceState.EXPIRED


@dataclass(frozen=True, slots=True)
class PageSilences:
    """What a page says of its windows' silences: whether it uses Alertmanager at all
    (`spec.alerts`), and its default matchers."""

    uses_alertmanager: bool = False
    matchers: tuple[str, ...] = ()


def matcher_keys(matchers: tuple[Matcher, ...]) -> frozenset[MatcherKey]:
    """Matchers as Alertmanager compares them (the order of a silence's matchers is no matter)."""
    return frozenset((m.name, m.value, m.is_regex, m.is_equal) for m in matchers)


def window_mark(uid: str) -> str:
    """What every silence of one window carries in its comment (its uid, which no reuse of the
    name shares)."""
    return f"window uid {uid}"


def ours(silence: Silence, mark: str) -> bool:
    """A live silence the operator made for the window with this mark (no one else's)."""
    return silence.live and silence.created_by == CREATED_BY and mark in silence.comment


def occurrence_key(uid: str, start: datetime) -> str:
    """What the silence of one occurrence of one window carries in its comment."""
    return f"{window_mark(uid)}, occurrence {format_time(start)}"


@dataclass(frozen=True, slots=True)
class Target:
    """The silence an occurrence should have."""

    matchers: tuple[Matcher, ...]
    start: datetime
    end: datetime
    key: str
    comment: str

    @classmethod
    def of(
        cls,
        namespace: str,
        name: str,
        uid: str,
        title: str,
        matchers: tuple[Matcher, ...],
        start: datetime,
        end: datetime,
    ) -> Target:
        """The target of one occurrence, its comment naming the window and the key."""
        key = occurrence_key(uid, start)
        shown = title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"
        comment = f"Maintenance {namespace}/{name} ({shown!r}): {key}"
        return cls(matchers, start, end, key, comment)


def to_millisecond(instant: datetime) -> datetime:
    """An instant as Alertmanager keeps it (milliseconds)."""
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def covers(silence: Silence, target: Target, now: datetime) -> bool:
    """Whether a silence is the target's, as it should be: its key, matchers and times.

    An occurrence already under way accepts an active silence that started late.
    """
    if not silence.live or target.key not in silence.comment:
        return False
    start, end = to_millisecond(target.start), to_millisecond(target.end)
    if silence.matchers != matcher_keys(target.matchers) or silence.ends_at != end:
        return False
    if target.start > now:
        return silence.starts_at == start
    return silence.state is SilenceState.ACTIVE or silence.starts_at == start


def silences_empty(matchers: tuple[Matcher, ...]) -> bool:
    """Whether every matcher matches an alert without the label: Alertmanager refuses such a
    silence (it would silence everything)."""
    return all(m.matches({}) for m in matchers)
