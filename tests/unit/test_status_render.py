"""Rendering a window's and a component's status: stamps made once, conditions kept stable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from statuspage_operator.api.conditions import Reason, Verdict, render_conditions
from statuspage_operator.api.status import component_status, window_status
from statuspage_operator.domain.maintenance import Window, window_state
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.status import ComponentStatus

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OK = Verdict.ok()


def rendered_window(
    start: datetime,
    end: datetime,
    now: datetime,
    previous: dict[str, object],
    cancelled: bool = False,
) -> dict[str, object]:
    """A window's desired status at `now`, given the status it had."""
    state = window_state(Window(first=Occurrence(start, end), cancelled=cancelled), now)
    return window_status(state, previous, OK, 1, now)


def test_started_at_is_stamped_at_the_transition_only() -> None:
    """startedAt is set when the window goes InProgress and kept on later renders."""
    first = rendered_window(NOW, NOW + HOUR, NOW, {"phase": "Scheduled"})
    assert first["startedAt"] == "2026-12-01T12:00:00Z"
    again = rendered_window(NOW, NOW + HOUR, NOW + timedelta(minutes=5), first)
    assert again == first


def test_completion_is_stamped_once() -> None:
    """completedAt is set when the window ends and not moved by a later render."""
    running = rendered_window(NOW - HOUR, NOW, NOW - timedelta(minutes=1), {"phase": "Scheduled"})
    done = rendered_window(NOW - HOUR, NOW, NOW, running)
    later = rendered_window(NOW - HOUR, NOW, NOW + HOUR, done)
    assert done["phase"] == "Completed"
    assert done["completedAt"] == later["completedAt"] == "2026-12-01T12:00:00Z"
    assert done["currentOccurrence"] is None
    assert done["lastOccurrence"] == {
        "start": "2026-12-01T11:00:00Z",
        "end": "2026-12-01T12:00:00Z",
    }


def test_cancel_in_progress_keeps_the_cut_occurrence() -> None:
    """Cancelled mid-run: lastOccurrence runs from its start to the cancellation."""
    running = rendered_window(NOW - HOUR, NOW + HOUR, NOW - timedelta(minutes=30), {})
    cancelled = rendered_window(NOW - HOUR, NOW + HOUR, NOW, running, cancelled=True)
    assert cancelled["phase"] == "Cancelled"
    assert cancelled["lastOccurrence"] == {
        "start": "2026-12-01T11:00:00Z",
        "end": "2026-12-01T12:00:00Z",
    }
    later = rendered_window(NOW - HOUR, NOW + HOUR, NOW + HOUR, cancelled, cancelled=True)
    assert later["lastOccurrence"] == cancelled["lastOccurrence"]


def test_condition_keeps_its_transition_time_while_unchanged() -> None:
    """lastTransitionTime moves only when the condition's status does."""
    first = render_conditions(OK, 1, NOW, None)
    same = render_conditions(OK, 2, NOW + HOUR, first)
    missing = Verdict(False, Reason.COMPONENT_NOT_FOUND, "component x not found")
    flipped = render_conditions(missing, 2, NOW + 2 * HOUR, same)
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert same[0]["observedGeneration"] == 2
    assert flipped[0]["lastTransitionTime"] == "2026-12-01T14:00:00Z"
    assert [c["type"] for c in flipped] == ["Ready"]


def test_stalled_appears_only_when_true() -> None:
    """A spec that can never work adds Stalled; a healthy object has Ready only."""
    stalled = Verdict(False, Reason.INVALID_SPEC, "spec.x: bad", stalled=True)
    conditions = render_conditions(stalled, 3, NOW, None)
    assert [(c["type"], c["status"], c["reason"]) for c in conditions] == [
        ("Ready", "False", "InvalidSpec"),
        ("Stalled", "True", "InvalidSpec"),
    ]


def test_component_change_time_moves_with_the_status() -> None:
    """lastStatusChangeTime is kept while the status stays, set anew when it changes."""
    first = component_status(ComponentStatus.OPERATIONAL, (), (), {}, OK, 1, NOW)
    same = component_status(ComponentStatus.OPERATIONAL, (), (), first, OK, 1, NOW + HOUR)
    changed = component_status(
        ComponentStatus.UNDER_MAINTENANCE, ("w",), (), same, OK, 1, NOW + 2 * HOUR
    )
    assert same["lastStatusChangeTime"] == first["lastStatusChangeTime"]
    assert changed["lastStatusChangeTime"] == "2026-12-01T14:00:00Z"
    assert changed["activeMaintenanceWindows"] == ["w"]


def test_component_history_is_written_with_the_change_only() -> None:
    """A status change records its interval in the same status; no change, no new history."""
    first = component_status(ComponentStatus.OPERATIONAL, (), (), {}, OK, 1, NOW)
    assert first["history"] is None
    down = component_status(ComponentStatus.MAJOR_OUTAGE, (), ("i",), first, OK, 1, NOW + HOUR)
    again = component_status(ComponentStatus.MAJOR_OUTAGE, (), ("i",), down, OK, 1, NOW + 2 * HOUR)
    up = component_status(ComponentStatus.OPERATIONAL, (), (), again, OK, 1, NOW + 3 * HOUR)
    assert down["history"] == [{"status": "MajorOutage", "since": "2026-12-01T13:00:00Z"}]
    assert again["history"] == down["history"]
    assert up["history"] == [
        {"status": "MajorOutage", "since": "2026-12-01T13:00:00Z", "until": "2026-12-01T15:00:00Z"}
    ]


def test_the_columns_show_the_occurrence_the_phase_is_about() -> None:
    """status.occurrence: the next one while scheduled, the running one, then the last one."""
    span = {"start": "2026-12-01T13:00:00Z", "end": "2026-12-01T14:00:00Z"}
    scheduled = rendered_window(NOW + HOUR, NOW + 2 * HOUR, NOW, {})
    running = rendered_window(NOW + HOUR, NOW + 2 * HOUR, NOW + HOUR, scheduled)
    done = rendered_window(NOW + HOUR, NOW + 2 * HOUR, NOW + 3 * HOUR, running)
    assert scheduled["occurrence"] == running["occurrence"] == done["occurrence"] == span


def test_a_cancelled_window_shows_what_it_cancelled() -> None:
    """Cancelled while scheduled: the occurrence it was to run; while running: the cut one."""
    scheduled = rendered_window(NOW + HOUR, NOW + 2 * HOUR, NOW, {})
    cancelled = rendered_window(NOW + HOUR, NOW + 2 * HOUR, NOW, scheduled, cancelled=True)
    assert cancelled["occurrence"] == scheduled["occurrence"]
    running = rendered_window(NOW - HOUR, NOW + HOUR, NOW - timedelta(minutes=30), {})
    cut = rendered_window(NOW - HOUR, NOW + HOUR, NOW, running, cancelled=True)
    assert cut["occurrence"] == {"start": "2026-12-01T11:00:00Z", "end": "2026-12-01T12:00:00Z"}


def test_stamped_times_are_whole_seconds() -> None:
    """The operator's stamps drop sub-seconds: no microseconds in status or the timeline."""
    instant = NOW + timedelta(seconds=3, microseconds=999_999)
    started = rendered_window(NOW, NOW + HOUR, instant, {"phase": "Scheduled"})
    assert started["startedAt"] == "2026-12-01T12:00:03Z"
