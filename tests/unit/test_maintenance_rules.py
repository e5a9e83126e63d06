"""A one-off window's phase and next edge as a function of the spec and a fixed now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statuspage_operator.domain.maintenance import (
    Window,
    WindowPhase,
    first_overlap,
    upcoming,
    window_state,
)
from statuspage_operator.domain.occurrence import Occurrence

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def make_window(start: datetime, end: datetime, *, cancelled: bool = False) -> Window:
    """A one-off window."""
    return Window(first=Occurrence(start, end), cancelled=cancelled)


@pytest.mark.parametrize(
    ("start", "end", "phase", "edge"),
    [
        pytest.param(NOW + HOUR, NOW + 2 * HOUR, WindowPhase.SCHEDULED, NOW + HOUR, id="future"),
        pytest.param(NOW, NOW + HOUR, WindowPhase.IN_PROGRESS, NOW + HOUR, id="start-inclusive"),
        pytest.param(NOW - HOUR, NOW + HOUR, WindowPhase.IN_PROGRESS, NOW + HOUR, id="during"),
        pytest.param(NOW - HOUR, NOW, WindowPhase.COMPLETED, None, id="end-exclusive"),
        pytest.param(NOW - 2 * HOUR, NOW - HOUR, WindowPhase.COMPLETED, None, id="past"),
    ],
)
def test_phase_and_next_edge(
    start: datetime, end: datetime, phase: WindowPhase, edge: datetime | None
) -> None:
    """Start inclusive, end exclusive; the next edge is the next boundary to come."""
    state = window_state(make_window(start, end), NOW)
    assert (state.phase, state.next_edge) == (phase, edge)


def test_occurrences_follow_the_phase() -> None:
    """In progress: current set; scheduled: next set; completed: last set."""
    occurrence = Occurrence(NOW - HOUR, NOW + HOUR)
    during = window_state(Window(first=occurrence), NOW)
    before = window_state(Window(first=occurrence), NOW - 2 * HOUR)
    after = window_state(Window(first=occurrence), NOW + 2 * HOUR)
    assert (during.current, during.next, during.last) == (occurrence, None, None)
    assert (before.current, before.next, before.last) == (None, occurrence, None)
    assert (after.current, after.next, after.last) == (None, None, occurrence)


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(-3 * HOUR, id="cancelled-before"),
        pytest.param(timedelta(0), id="cancelled-during"),
        pytest.param(3 * HOUR, id="cancelled-after"),
    ],
)
def test_cancelled_is_final(offset: timedelta) -> None:
    """A cancelled window is Cancelled whenever you look, with no edge to wait for."""
    state = window_state(make_window(NOW - HOUR, NOW + HOUR, cancelled=True), NOW + offset)
    assert (state.phase, state.current, state.next_edge) == (WindowPhase.CANCELLED, None, None)


def test_same_inputs_same_answer() -> None:
    """The phase is a function of spec and now: asking twice gives the same state."""
    window = make_window(NOW - HOUR, NOW + HOUR)
    assert window_state(window, NOW) == window_state(window, NOW)


def test_first_overlap_of_two_lists_of_occurrences() -> None:
    """The first span in which both run; touching ends are no overlap."""
    ours = [Occurrence(NOW, NOW + HOUR), Occurrence(NOW + 5 * HOUR, NOW + 7 * HOUR)]
    touching = [Occurrence(NOW + HOUR, NOW + 2 * HOUR)]
    later = [*touching, Occurrence(NOW + 6 * HOUR, NOW + 9 * HOUR)]
    assert first_overlap(ours, touching) is None
    assert first_overlap(ours, later) == Occurrence(NOW + 6 * HOUR, NOW + 7 * HOUR)
    assert first_overlap(later, ours) == Occurrence(NOW + 6 * HOUR, NOW + 7 * HOUR)
    assert first_overlap([], later) is None


def test_upcoming_occurrences_of_a_one_off_window() -> None:
    """What is not over yet and starts before the horizon; nothing once cancelled."""
    window = make_window(NOW - HOUR, NOW + HOUR)
    assert upcoming(window, NOW, NOW + 24 * HOUR) == [window.first]
    assert upcoming(window, NOW + HOUR, NOW + 24 * HOUR) == []
    assert upcoming(make_window(NOW + 3 * HOUR, NOW + 4 * HOUR), NOW, NOW + 2 * HOUR) == []
    assert upcoming(make_window(NOW, NOW + HOUR, cancelled=True), NOW, NOW + 24 * HOUR) == []
