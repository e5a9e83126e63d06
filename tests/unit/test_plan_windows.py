"""plan_window: status, notices, reminder and next edge from facts and a fixed `now`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuspage_operator.api.times import format_time
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.maintenance import WindowPhase
from statuspage_operator.plans.windows import WindowFacts, plan_window, transition_reasons
from unit.plan_builders import (
    END,
    MISSING_PAGE,
    NOW,
    START,
    make_facts,
    reasons,
    settled_at,
    written,
)


@pytest.mark.parametrize(
    ("phase", "old", "expected"),
    [
        pytest.param(WindowPhase.IN_PROGRESS, "Scheduled", ["MaintenanceStarted"], id="start"),
        pytest.param(WindowPhase.COMPLETED, "InProgress", ["MaintenanceCompleted"], id="end"),
        pytest.param(WindowPhase.SCHEDULED, "InProgress", ["MaintenanceCompleted"], id="between"),
        pytest.param(
            WindowPhase.IN_PROGRESS,
            "InProgress",
            ["MaintenanceCompleted", "MaintenanceStarted"],
            id="back-to-back",
        ),
        pytest.param(WindowPhase.SCHEDULED, None, [], id="new"),
        pytest.param(WindowPhase.CANCELLED, "Scheduled", ["MaintenanceCancelled"], id="cancel"),
        pytest.param(WindowPhase.COMPLETED, "Scheduled", ["MaintenanceCompleted"], id="missed"),
    ],
)
def test_transition_reasons(phase: WindowPhase, old: str | None, expected: list[str]) -> None:
    """Each move announces what happened, and nothing else."""
    assert transition_reasons(phase, old) == expected


@pytest.mark.parametrize(
    ("now", "status", "phase", "notices", "edge"),
    [
        pytest.param(NOW, {}, "Scheduled", [], START, id="new-to-come"),
        pytest.param(
            START, {"phase": "Scheduled"}, "InProgress", ["MaintenanceStarted"], END, id="start"
        ),
        pytest.param(
            START + timedelta(minutes=1),
            {"phase": "Scheduled"},
            "InProgress",
            ["MaintenanceStarted"],
            END,
            id="start-a-minute-late",
        ),
        pytest.param(
            END,
            {"phase": "InProgress", "currentOccurrence": {"start": format_time(START)}},
            "Completed",
            ["MaintenanceCompleted"],
            None,
            id="end",
        ),
        pytest.param(
            END + timedelta(hours=5),
            {"phase": "Scheduled"},
            "Completed",
            ["MaintenanceCompleted"],
            None,
            id="whole-occurrence-missed-is-one-notice",
        ),
        pytest.param(
            END, {}, "Completed", ["MaintenanceCompleted"], None, id="created-in-the-past"
        ),
        pytest.param(
            START - timedelta(seconds=1), {"phase": "Scheduled"}, "Scheduled", [], START, id="early"
        ),
    ],
)
def test_phase_notices_and_next_edge(
    now: datetime,
    status: dict[str, Any],
    phase: str,
    notices: list[str],
    edge: datetime | None,
) -> None:
    """The phase follows spec and now; the move is announced; the next edge is a start or end."""
    plan = plan_window(make_facts(status), now)
    assert plan.status["phase"] == phase
    assert reasons(plan) == notices
    assert plan.edge == edge


def test_a_start_moves_components_first_and_measures_from_the_start() -> None:
    """At the start its components go first; the boundary crossed is the start."""
    plan = plan_window(make_facts({"phase": "Scheduled"}), START + timedelta(seconds=2))
    assert (plan.moved, plan.components_first, plan.boundary) == (True, True, START)
    assert plan.status["startedAt"] == format_time(START + timedelta(seconds=2))
    assert plan.status["currentOccurrence"] == {
        "start": format_time(START),
        "end": format_time(END),
    }
    [started] = plan.notices
    assert (started.subject, started.until) == (format_time(START), END)


def test_an_end_is_measured_from_the_end() -> None:
    """The boundary of an end is the occurrence's end; completedAt is when it was seen."""
    status = settled_at(START)
    plan = plan_window(make_facts(status), END)
    assert plan.boundary == END
    assert plan.status["completedAt"] == format_time(END)
    assert plan.status["lastOccurrence"] == {"start": format_time(START), "end": format_time(END)}


def test_a_missed_occurrence_is_no_lateness() -> None:
    """Scheduled straight to Completed (the operator was down): no boundary to measure."""
    plan = plan_window(make_facts({"phase": "Scheduled"}), END + timedelta(hours=1))
    assert plan.moved
    assert plan.boundary is None


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"autoUpdateStatus": False}, id="auto-update-off"),
        pytest.param({"components": []}, id="no-components"),
    ],
)
def test_components_go_first_only_when_the_window_shows_on_them(spec: dict[str, Any]) -> None:
    """A window that changes no component moves without recomputing any."""
    plan = plan_window(make_facts({"phase": "Scheduled"}, **spec), START)
    assert plan.moved
    assert not plan.components_first


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(timedelta(minutes=-30), id="before"),
        pytest.param(timedelta(0), id="at-start"),
        pytest.param(timedelta(minutes=30), id="during"),
        pytest.param(timedelta(hours=1), id="at-end"),
        pytest.param(timedelta(days=2), id="long-after"),
    ],
)
def test_planning_again_at_the_same_now_changes_nothing(offset: timedelta) -> None:
    """Level-triggered: after its own write, the plan at the same instant is empty."""
    now = START + offset
    status = settled_at(now, notifySubscribers=True, remindBefore="15m")
    again = plan_window(make_facts(status, notifySubscribers=True, remindBefore="15m"), now)
    assert again.notices == ()
    assert not again.moved
    assert written(again, status) == status


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.lists(st.integers(min_value=0, max_value=60 * 30), min_size=1, max_size=8),
    hourly=st.booleans(),
)
def test_each_start_and_end_is_announced_once_however_often_it_is_planned(
    minutes: list[int], hourly: bool
) -> None:
    """Any sequence of wakings: every Started notice names a distinct occurrence, once."""
    extra: dict[str, Any] = {"recurrence": {"rrule": "FREQ=HOURLY;INTERVAL=3"}} if hourly else {}
    facts = make_facts({}, **extra)
    status: dict[str, Any] = {}
    seen: list[tuple[str, str]] = []
    for at in sorted(minutes):
        plan = plan_window(replace(facts, current=status), NOW + timedelta(minutes=at))
        status = written(plan, status)
        seen += [(n.reason, n.subject) for n in plan.notices]
    starts = [subject for reason, subject in seen if reason == "MaintenanceStarted"]
    ends = [subject for reason, subject in seen if reason == "MaintenanceCompleted"]
    assert len(starts) == len(set(starts))
    assert len(ends) == len(set(ends))


def test_back_to_back_occurrences_end_and_start_at_one_edge() -> None:
    """An hourly one-hour window: at each hour one occurrence ends as the next begins."""
    spec: dict[str, Any] = {"recurrence": {"rrule": "FREQ=HOURLY"}}
    status = settled_at(START + timedelta(minutes=10), **spec)
    plan = plan_window(make_facts(status, **spec), END)
    assert reasons(plan) == ["MaintenanceCompleted", "MaintenanceStarted"]
    assert [n.subject for n in plan.notices] == [format_time(START), format_time(END)]
    assert plan.status["phase"] == "InProgress"
    assert plan.edge == END + timedelta(hours=1)


def test_cancelled_while_in_progress_cuts_the_occurrence_short() -> None:
    """The occurrence that ran ends now; the notice is about it; components go first."""
    status = settled_at(START + timedelta(minutes=10))
    now = START + timedelta(minutes=20)
    plan = plan_window(make_facts(status, generation=2, cancelled=True), now)
    assert plan.status["phase"] == "Cancelled"
    assert plan.status["lastOccurrence"] == {"start": format_time(START), "end": format_time(now)}
    assert plan.components_first
    [cancelled] = plan.notices
    assert (cancelled.reason, cancelled.subject) == ("MaintenanceCancelled", format_time(START))
    assert plan.edge is None


def test_cancelled_before_it_ran_shows_the_occurrence_it_cancelled() -> None:
    """The Start and End columns keep showing the occurrence that will not happen."""
    plan = plan_window(make_facts({}, cancelled=True), NOW)
    assert plan.status["phase"] == "Cancelled"
    assert plan.status["occurrence"] == {"start": format_time(START), "end": format_time(END)}


def test_a_silent_window_is_not_announced_as_scheduled() -> None:
    """Scheduled notices exist for subscribers: only windows that notify have them."""
    assert reasons(plan_window(make_facts({}), NOW)) == []
    loud = plan_window(make_facts({}, notifySubscribers=True), NOW)
    [scheduled] = loud.notices
    assert scheduled.reason == "MaintenanceScheduled"
    assert (scheduled.subject, scheduled.until) == (format_time(START), START)


@pytest.mark.parametrize(
    ("spec", "page_default", "due"),
    [
        pytest.param({"remindBefore": "30m"}, None, START - timedelta(minutes=30), id="own"),
        pytest.param({}, timedelta(minutes=45), START - timedelta(minutes=45), id="page-default"),
        pytest.param(
            {"remindBefore": "10m"},
            timedelta(minutes=45),
            START - timedelta(minutes=10),
            id="own-wins",
        ),
        pytest.param({}, None, None, id="none"),
        pytest.param({"remindBefore": "soon"}, timedelta(minutes=45), None, id="invalid-is-none"),
    ],
)
def test_the_reminder_is_an_edge(
    spec: dict[str, Any], page_default: timedelta | None, due: datetime | None
) -> None:
    """The daemon wakes at `start - remindBefore` (its own, else the page's), before the start."""
    facts = make_facts(
        {"phase": "Scheduled"}, notifySubscribers=True, page_remind_before=page_default, **spec
    )
    plan = plan_window(facts, NOW - timedelta(hours=1))
    assert plan.edge == (due or START)


def test_a_silent_window_has_no_reminder() -> None:
    """remindBefore is for subscribers: a window that does not notify has no reminder edge."""
    plan = plan_window(make_facts({"phase": "Scheduled"}, remindBefore="30m"), NOW)
    assert plan.edge == START


def test_the_reminder_is_sent_once_at_its_instant() -> None:
    """At `start - remindBefore`: a Reminder notice and lastReminder; planned again, nothing."""
    spec: dict[str, Any] = {"notifySubscribers": True, "remindBefore": "30m"}
    due = START - timedelta(minutes=30)
    status = settled_at(due - timedelta(minutes=1), **spec)
    plan = plan_window(make_facts(status, **spec), due)
    [reminder] = plan.notices
    assert reminder.reason == "MaintenanceReminder"
    assert f"starts at {format_time(START)}" in reminder.message
    assert (reminder.subject, reminder.until) == (format_time(START), START)
    assert plan.status["lastReminder"] == format_time(START)
    assert plan.edge == START
    again = plan_window(make_facts(written(plan, status), **spec), due + timedelta(minutes=5))
    assert again.notices == ()


def test_a_reminder_missed_while_down_is_sent_before_the_start() -> None:
    """Catching up between the reminder's instant and the start: sent then, deadline the start."""
    spec: dict[str, Any] = {"notifySubscribers": True, "remindBefore": "30m"}
    plan = plan_window(make_facts({"phase": "Scheduled"}, **spec), START - timedelta(minutes=5))
    assert reasons(plan) == ["MaintenanceReminder"]


def test_missing_references_are_warned_of_once() -> None:
    """PageNotFound: Ready False with the reason, a Warning the first time only."""
    plan = plan_window(make_facts({}, verdict=MISSING_PAGE), NOW)
    [ready] = plan.status["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "PageNotFound")
    assert reasons(plan) == ["PageNotFound"]
    again = plan_window(make_facts(written(plan), verdict=MISSING_PAGE), NOW)
    assert again.notices == ()


def test_an_invalid_spec_is_stalled_and_warned_of_once() -> None:
    """No phase, no edge: Stalled with the field path, one Warning."""
    error = InvalidSpecError("spec.endTime", "must be later than spec.startTime")
    facts = WindowFacts("w", "uid-w", 1, {}, error)
    plan = plan_window(facts, NOW)
    assert [c["type"] for c in plan.status["conditions"]] == ["Ready", "Stalled"]
    assert plan.edge is None
    assert not plan.moved
    assert [(n.reason, n.warning) for n in plan.notices] == [("InvalidSpec", True)]
    again = WindowFacts("w", "uid-w", 1, written(plan), error)
    assert plan_window(again, NOW).notices == ()


def test_the_same_notice_gets_the_same_event_name() -> None:
    """Planned twice from the same status at the same instant: one Event name (posted once)."""
    first = plan_window(make_facts({"phase": "Scheduled"}), START)
    second = plan_window(make_facts({"phase": "Scheduled"}), START)
    assert [n.event for n in first.notices] == [n.event for n in second.notices]
    other = plan_window(make_facts({"phase": "Scheduled"}, name="v"), START)
    assert first.notices[0].event != other.notices[0].event
