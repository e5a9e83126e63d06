"""A maintenance window's silence: which one it should have at `now`, and how to get there.

`wanted` decides from the spec, the page's default matchers and `now`: the silence of the
occurrence in progress, else of the next one (a recurring window's next silence is made when the
previous occurrence ends), or none and why (the Silenced condition). `settled` says whether the
status already records that, so an event changes nothing and costs no call to Alertmanager.
`step` decides, from the window's live silences that Alertmanager lists, which one to keep,
move or make, and which to expire: never two for one occurrence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from statuspage_operator.api.conditions import Reason, render_condition
from statuspage_operator.api.silences import CONDITION, FIELD, Record, record_of, render_record
from statuspage_operator.api.status import Status
from statuspage_operator.api.times import format_time
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.maintenance import window_state
from statuspage_operator.domain.matchers import parse_matchers
from statuspage_operator.domain.silences import (
    PageSilences,
    Silence,
    Target,
    covers,
    silences_empty,
)
from statuspage_operator.plans.windows import Parsed

# Every event of a window with a silence is judged: its matchers are parsed once (RE2 compiles).
_matchers = lru_cache(maxsize=1024)(parse_matchers)


@dataclass(frozen=True, slots=True)
class SilenceFacts:
    """What a window's silence is decided from."""

    namespace: str
    name: str
    uid: str
    generation: int
    current: Mapping[str, Any]
    parsed: Parsed
    page: PageSilences | None
    configured: bool
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Wanted:
    """The silence the window should have (None: none), and what the condition says then."""

    target: Target | None
    matchers: tuple[str, ...] = ()
    # The Silenced condition when there is no target (None: no condition at all).
    why: tuple[Reason, str] | None = None
    # Whether a silence of the window left in Alertmanager must be expired.
    expire: bool = False


def silenced(current: Mapping[str, Any]) -> dict[str, Any] | None:
    """The recorded Silenced condition."""
    for condition in current.get("conditions") or ():
        if isinstance(condition, dict) and condition.get("type") == CONDITION:
            return condition
    return None


def _none(reason: Reason, message: str, expire: bool = False) -> Wanted:
    return Wanted(None, why=(reason, message), expire=expire)


def wanted(facts: SilenceFacts, now: datetime) -> Wanted:
    """The window's silence at `now`, or why it has none."""
    involved = record_of(facts.current) is not None or silenced(facts.current) is not None
    if facts.deleted:
        return Wanted(None, expire=involved)
    if isinstance(facts.parsed, InvalidSpecError):
        # The window's own condition says what is wrong; a silence made before stays to its end.
        return Wanted(None, why=_kept(facts.current))
    spec, window = facts.parsed
    state = window_state(window, now)
    occurrence = state.current or state.next
    if occurrence is None:
        if not involved:
            return Wanted(None)
        if window.cancelled:
            return _none(Reason.SILENCE_EXPIRED, "cancelled: its silence is expired", True)
        if record_of(facts.current) is None:
            # It never had a silence (no Alertmanager, say): nothing is left to say.
            return Wanted(None)
        return _none(Reason.SILENCE_EXPIRED, "the last occurrence ended, and its silence with it")
    page = facts.page or PageSilences()
    texts = spec.silence_matchers if spec.silence_matchers is not None else page.matchers
    if not texts:
        if spec.silence_matchers is None and page.uses_alertmanager:
            return _none(
                Reason.NO_MATCHERS,
                "no silence: set spec.silenceMatchers, or the page's spec.alerts.silenceMatchers",
                involved,
            )
        return Wanted(None, expire=involved)
    field = (
        "spec.silenceMatchers"
        if spec.silence_matchers is not None
        else f"StatusPage {spec.page} spec.alerts.silenceMatchers"
    )
    try:
        matchers = _matchers(field, tuple(texts))
    except InvalidSpecError as error:
        return _none(Reason.INVALID_MATCHERS, f"{error}; no silence until it is fixed")
    if silences_empty(matchers):
        return _none(
            Reason.INVALID_MATCHERS,
            f"{field}: every matcher also matches alerts without the label, and Alertmanager "
            'refuses a silence of every alert: add one that needs a label, e.g. team="db"',
        )
    if not facts.configured:
        return _none(
            Reason.NO_ALERTMANAGER,
            "the operator runs without --alertmanager-url: no silence is made "
            "(docs/operations.md, Alertmanager)",
        )
    target = Target.of(
        facts.namespace,
        facts.name,
        facts.uid,
        spec.title,
        matchers,
        occurrence.start,
        occurrence.end,
    )
    return Wanted(target, tuple(texts))


def _kept(current: Mapping[str, Any]) -> tuple[Reason, str] | None:
    condition = silenced(current)
    if condition is None:
        return None
    try:
        return Reason(str(condition.get("reason"))), str(condition.get("message", ""))
    except ValueError:
        return None


def in_place_message(record: Record) -> str:
    """The Silenced condition's message once the silence is in place."""
    return f"silence {record.id} covers {format_time(record.start)} to {format_time(record.end)}"


def settled(want: Wanted, current: Mapping[str, Any]) -> bool:
    """Whether the status already says what `want` asks: nothing to do, nothing to call."""
    record = record_of(current)
    condition = silenced(current)
    said = None if condition is None else (condition.get("reason"), condition.get("message"))
    if want.target is None:
        if want.expire and record is not None:
            return False
        return said == want.why
    if record is None or _span(record.start, record.end) != _span(
        want.target.start, want.target.end
    ):
        return False
    if record.matchers != want.matchers or condition is None:
        return False
    return condition.get("status") == "True" and said == (Reason.SILENCED, in_place_message(record))


def _span(start: datetime, end: datetime) -> tuple[str, str]:
    # As the record keeps them: whole seconds.
    return format_time(start), format_time(end)


def render(
    want: Wanted,
    silence_id: str | None,
    current: Mapping[str, Any],
    generation: int,
    now: datetime,
) -> Status:
    """`status.silence` and the conditions once `want` is done (`silence_id`: what
    Alertmanager answered for the target)."""
    existing = current.get("conditions") or []
    others = [c for c in existing if not (isinstance(c, dict) and c.get("type") == CONDITION)]
    if want.target is not None and silence_id is not None:
        record = Record(silence_id, want.target.start, want.target.end, want.matchers)
        condition = render_condition(
            CONDITION, True, Reason.SILENCED, in_place_message(record), generation, now, existing
        )
        return {FIELD: render_record(record), "conditions": [*others, condition]}
    status: Status = {"conditions": others}
    if want.why is not None:
        reason, message = want.why
        status["conditions"] = [
            *others,
            render_condition(CONDITION, False, reason, message, generation, now, existing),
        ]
    if want.expire:
        status[FIELD] = None
    return status


def unavailable(where: str, error: str, transient: bool, unauthorized: bool) -> tuple[Reason, str]:
    """The Silenced condition's reason and message when Alertmanager fails a call."""
    if unauthorized:
        return Reason.ALERTMANAGER_REFUSED, (
            f"Alertmanager {where} refused the credentials ({error}): check "
            "--alertmanager-secret; tried again until it accepts them"
        )
    if transient:
        return Reason.ALERTMANAGER_UNREACHABLE, (
            f"Alertmanager {where} {error}: the silence is retried; the window's transitions "
            "are not held up"
        )
    return Reason.ALERTMANAGER_REFUSED, (
        f"Alertmanager {where} refused the silence ({error}): fix the matchers"
    )


def failed(
    reason: Reason, message: str, current: Mapping[str, Any], generation: int, now: datetime
) -> Status:
    """The conditions while Alertmanager cannot be reached or refuses (the record is kept)."""
    existing = current.get("conditions") or []
    others = [c for c in existing if not (isinstance(c, dict) and c.get("type") == CONDITION)]
    condition = render_condition(CONDITION, False, reason, message, generation, now, existing)
    return {"conditions": [*others, condition]}


@dataclass(frozen=True, slots=True)
class Step:
    """What to do in Alertmanager: keep a silence, move one, or make one; expire the others."""

    keep: str | None = None
    move: str | None = None
    create: bool = False
    expire: tuple[str, ...] = ()


def step(
    target: Target | None, live: Sequence[Silence], recorded: str | None, now: datetime
) -> Step:
    """From the window's live silences (listed by Alertmanager): one for the target, no other.

    A silence that already covers the target is kept (the one made before a crash is adopted);
    else the occurrence's own, the recorded one or any other of the window is moved to it (a
    reschedule), else one is made.
    """
    if target is None:
        return Step(expire=tuple(sorted(s.id for s in live)))

    def rank(silence: Silence) -> tuple[int, int, str]:
        return (target.key not in silence.comment, silence.id != recorded, silence.id)

    ordered = sorted(live, key=rank)
    good = [s for s in ordered if covers(s, target, now)]
    if good:
        return Step(keep=good[0].id, expire=tuple(s.id for s in ordered if s is not good[0]))
    if ordered:
        return Step(move=ordered[0].id, expire=tuple(s.id for s in ordered[1:]))
    return Step(create=True)
