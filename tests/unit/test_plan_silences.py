"""A window's silence, decided: which occurrence, which matchers, why none, and what to do with
the silences Alertmanager lists."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from statuspage_operator.api.conditions import Verdict, render_conditions
from statuspage_operator.api.specs import WindowSpec, parse, window_of
from statuspage_operator.domain.matchers import parse_matchers
from statuspage_operator.domain.silences import (
    PageSilences,
    Silence,
    SilenceState,
    Target,
    covers,
    matcher_keys,
    occurrence_key,
)
from statuspage_operator.plans.silences import (
    SilenceFacts,
    Wanted,
    render,
    settled,
    step,
    unavailable,
    wanted,
)
from unit.fakes import merge_patch
from unit.plan_builders import END, NOW, START, window_spec

MATCHERS = ('team="db"',)
PAGE = PageSilences(True, ('service="shop"',))


def facts(
    status: dict[str, Any] | None = None,
    page: PageSilences | None = PAGE,
    configured: bool = True,
    deleted: bool = False,
    **spec: Any,
) -> SilenceFacts:
    parsed = parse(WindowSpec, window_spec(**spec))
    return SilenceFacts(
        "ns", "w", "uid-w", 1, status or {}, (parsed, window_of(parsed)), page, configured, deleted
    )


def target(
    start: datetime = START, end: datetime = END, texts: tuple[str, ...] = MATCHERS
) -> Target:
    return Target.of("ns", "w", "uid-w", "Upgrade", parse_matchers("m", texts), start, end)


def silence(
    silence_id: str,
    of: Target,
    state: SilenceState = SilenceState.PENDING,
    starts: datetime | None = None,
    ends: datetime | None = None,
    comment: str | None = None,
) -> Silence:
    return Silence(
        silence_id,
        state,
        matcher_keys(of.matchers),
        starts or of.start,
        ends or of.end,
        "statuspage-operator",
        comment if comment is not None else of.comment,
    )


def done(
    want: Wanted, silence_id: str | None, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The status once `want` is written."""
    before = status or {}
    result: dict[str, Any] = merge_patch(before, render(want, silence_id, before, 1, NOW))
    return result


def test_the_next_occurrence_gets_a_silence_with_the_window_s_own_matchers() -> None:
    """Matchers of the window, times of the occurrence, comment naming the window and the key."""
    want = wanted(facts(silenceMatchers=list(MATCHERS)), NOW)
    assert want.target is not None
    assert (want.target.start, want.target.end, want.matchers) == (START, END, MATCHERS)
    assert "ns/w" in want.target.comment
    assert occurrence_key("uid-w", START) in want.target.comment


def test_unset_matchers_are_the_page_s() -> None:
    """No spec.silenceMatchers: the page's spec.alerts.silenceMatchers."""
    want = wanted(facts(), NOW)
    assert want.matchers == PAGE.matchers


def test_the_occurrence_in_progress_before_the_next() -> None:
    """A series in progress: the current occurrence's silence, not the next one's."""
    rrule = {"rrule": "FREQ=DAILY", "timeZone": "UTC"}
    want = wanted(facts(recurrence=rrule), START + timedelta(days=1, minutes=5))
    assert want.target is not None
    assert want.target.start == START + timedelta(days=1)


@pytest.mark.parametrize(
    ("spec", "page", "configured", "reason"),
    [
        pytest.param({"silenceMatchers": ['team=~"(db"']}, PAGE, True, "InvalidMatchers", id="bad"),
        pytest.param(
            {"silenceMatchers": ['team!="db"']}, PAGE, True, "InvalidMatchers", id="matches-all"
        ),
        pytest.param({}, PageSilences(True, ()), True, "NoMatchers", id="page-has-none"),
        pytest.param({}, PAGE, False, "NoAlertmanager", id="no-alertmanager"),
    ],
)
def test_why_there_is_no_silence(
    spec: dict[str, Any], page: PageSilences, configured: bool, reason: str
) -> None:
    """No silence, and the condition says what to fix."""
    want = wanted(facts(page=page, configured=configured, **spec), NOW)
    assert want.target is None
    assert want.why is not None
    assert want.why[0] == reason


@pytest.mark.parametrize(
    ("spec", "page"),
    [
        pytest.param({"silenceMatchers": []}, PAGE, id="explicitly-none"),
        pytest.param({}, None, id="page-without-alerts"),
        pytest.param({}, PageSilences(), id="page-alerts-unset"),
    ],
)
def test_a_window_that_asks_for_nothing_gets_no_condition(
    spec: dict[str, Any], page: PageSilences | None
) -> None:
    """Nothing asked: no target, no condition, settled at once (no call to Alertmanager)."""
    want = wanted(facts(page=page, **spec), NOW)
    assert want == Wanted(None)
    assert settled(want, {})


def test_a_window_in_place_is_settled_and_renders_nothing_new() -> None:
    """Once recorded, the same `now` finds nothing to do: events cost no call."""
    want = wanted(facts(silenceMatchers=list(MATCHERS)), NOW)
    status = done(want, "abc")
    assert status["silence"] == {
        "id": "abc",
        "start": "2026-12-01T13:00:00Z",
        "end": "2026-12-01T14:00:00Z",
        "matchers": list(MATCHERS),
    }
    [condition] = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "Silenced",
        "True",
        "Silenced",
    )
    assert settled(wanted(facts(status, silenceMatchers=list(MATCHERS)), NOW), status)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"startTime": "2026-12-01T13:30:00Z"}, id="start-moved"),
        pytest.param({"silenceMatchers": ['team="web"']}, id="matchers-changed"),
    ],
)
def test_a_reschedule_unsettles(change: dict[str, Any]) -> None:
    """New times or matchers: the recorded silence no longer is the window's."""
    status = done(wanted(facts(silenceMatchers=list(MATCHERS)), NOW), "abc")
    spec = {"silenceMatchers": list(MATCHERS), **change}
    assert not settled(wanted(facts(status, **spec), NOW), status)


def test_cancelled_expires_and_says_so() -> None:
    """Cancel: expire the recorded silence, drop the record, SilenceExpired."""
    status = done(wanted(facts(silenceMatchers=list(MATCHERS)), NOW), "abc")
    want = wanted(facts(status, silenceMatchers=list(MATCHERS), cancelled=True), NOW)
    assert want.target is None
    assert want.expire
    after = done(want, None, status)
    assert "silence" not in after
    assert [c["reason"] for c in after["conditions"]] == ["SilenceExpired"]
    assert settled(wanted(facts(after, silenceMatchers=list(MATCHERS), cancelled=True), NOW), after)


def test_a_deleted_window_expires_what_it_recorded() -> None:
    """Deletion: expire; a window that never had a silence costs nothing."""
    status = done(wanted(facts(silenceMatchers=list(MATCHERS)), NOW), "abc")
    assert wanted(facts(status, deleted=True), NOW).expire
    assert not wanted(facts({}, deleted=True), NOW).expire


def test_step_keeps_the_silence_made_before_a_crash() -> None:
    """The occurrence's silence exists, unrecorded: adopted, nothing created."""
    goal = target()
    assert step(goal, [silence("made", goal)], None, NOW).keep == "made"


def test_step_never_leaves_two() -> None:
    """Two live silences of the window: one kept, the other expired."""
    goal = target()
    other = silence("old", target(START - timedelta(hours=5), START - timedelta(hours=4)))
    found = step(goal, [other, silence("made", goal)], "old", NOW)
    assert (found.keep, found.expire, found.create) == ("made", ("old",), False)


def test_step_moves_the_recorded_silence_to_new_times() -> None:
    """A reschedule: the recorded silence is moved (Alertmanager answers its id)."""
    before = silence("old", target(START + timedelta(hours=3), END + timedelta(hours=3)))
    found = step(target(), [before], "old", NOW)
    assert (found.move, found.create, found.expire) == ("old", False, ())


def test_step_creates_when_there_is_none() -> None:
    """Nothing of the window's in Alertmanager: create."""
    assert step(target(), [], None, NOW).create


def test_step_without_target_expires_every_live_one() -> None:
    """Cancelled or deleted: every live silence of the window goes."""
    goal = target()
    found = step(None, [silence("b", goal), silence("a", goal)], "a", NOW)
    assert found.expire == ("a", "b")


def test_a_silence_started_late_covers_an_occurrence_under_way() -> None:
    """Made after Alertmanager was down: its start is when it was made, and it still counts."""
    goal = target()
    during = START + timedelta(minutes=10)
    late = silence("late", goal, SilenceState.ACTIVE, starts=during - timedelta(minutes=1))
    assert covers(late, goal, during)
    assert not covers(late, goal, START - timedelta(minutes=1))


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param({"ends": END + timedelta(minutes=1)}, id="end"),
        pytest.param({"comment": "someone else's"}, id="comment"),
        pytest.param({"state": SilenceState.EXPIRED}, id="expired"),
    ],
)
def test_a_silence_that_differs_does_not_cover(wrong: dict[str, Any]) -> None:
    """Another end, another key, or expired: not the occurrence's silence."""
    goal = target()
    assert not covers(silence("x", goal, **wrong), goal, NOW)


def test_other_matchers_do_not_cover() -> None:
    """The same times and key with other matchers: moved, not kept."""
    goal = target()
    changed = replace(silence("x", goal), matchers=matcher_keys(parse_matchers("m", ['a="b"'])))
    assert not covers(changed, goal, NOW)
    assert step(goal, [changed], "x", NOW).move == "x"


def test_ready_writes_keep_the_silenced_condition() -> None:
    """The window's own Ready and Stalled writes carry Silenced over as it is."""
    status = done(wanted(facts(silenceMatchers=list(MATCHERS)), NOW), "abc")
    [silenced] = status["conditions"]
    rendered = render_conditions(Verdict.ok(), 2, NOW + timedelta(hours=1), status["conditions"])
    assert [c["type"] for c in rendered] == ["Ready", "Silenced"]
    assert rendered[1] == silenced


def test_a_failure_says_what_to_do_and_never_holds_up_the_window() -> None:
    """Unreachable: retried, transitions unaffected; credentials refused: check the Secret."""
    reason, message = unavailable(
        "http://am:9093", "unreachable: ClientConnectorError", True, False
    )
    assert reason == "AlertmanagerUnreachable"
    assert "not held up" in message
    reason, message = unavailable("http://am:9093", "unauthorized: HTTP 401", False, True)
    assert reason == "AlertmanagerRefused"
    assert "--alertmanager-secret" in message


def test_a_completed_window_says_its_silence_ended_only_if_it_had_one() -> None:
    """Completed: SilenceExpired after a silence; one that never had any drops the condition."""
    after = NOW + timedelta(hours=3)
    status = done(wanted(facts(silenceMatchers=list(MATCHERS)), NOW), "abc")
    assert wanted(facts(status, silenceMatchers=list(MATCHERS)), after).why == (
        "SilenceExpired",
        "the last occurrence ended, and its silence with it",
    )
    never = done(wanted(facts(silenceMatchers=list(MATCHERS), configured=False), NOW), None)
    assert [c["reason"] for c in never["conditions"]] == ["NoAlertmanager"]
    want = wanted(facts(never, silenceMatchers=list(MATCHERS), configured=False), after)
    assert want == Wanted(None)
    assert done(want, None, never)["conditions"] == []
