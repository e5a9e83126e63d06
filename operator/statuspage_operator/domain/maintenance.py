"""Maintenance windows: the phase is a function of the spec and `now`.

The rules are docs/behaviour.md's "Maintenance windows".

Start inclusive, end exclusive. A one-off window is one occurrence; a recurring one is a Series
(recurrence.py). Nothing here remembers what happened before: after a restart the same inputs give
the same answer, which is what makes every transition happen once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from statuspage_operator.domain.occurrence import Around, Occurrence
from statuspage_operator.domain.recurrence import Series


class WindowPhase(StrEnum):
    """Where a window is in its life."""

    SCHEDULED = "Scheduled"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


@dataclass(frozen=True, slots=True)
class Window:
    """The time-related part of a window's spec, parsed and validated."""

    first: Occurrence
    cancelled: bool = False
    series: Series | None = None


@dataclass(frozen=True, slots=True)
class WindowState:
    """A window's phase at an instant, its occurrences, and when that will next change."""

    phase: WindowPhase
    current: Occurrence | None
    next: Occurrence | None
    last: Occurrence | None
    next_edge: datetime | None


def _around(window: Window, now: datetime) -> Around:
    if window.series is not None:
        return window.series.around(now)
    first = window.first
    if now < first.start:
        return Around(current=None, next=first, last=None)
    if first.contains(now):
        return Around(current=first, next=None, last=None)
    return Around(current=None, next=None, last=first)


def window_state(window: Window, now: datetime) -> WindowState:
    """The phase at `now` and the next instant at which it changes (None: never again)."""
    around = _around(window, now)
    if window.cancelled:
        return WindowState(WindowPhase.CANCELLED, None, None, around.last, None)
    if around.current is not None:
        return WindowState(
            WindowPhase.IN_PROGRESS, around.current, around.next, around.last, around.current.end
        )
    if around.next is not None:
        return WindowState(WindowPhase.SCHEDULED, None, around.next, around.last, around.next.start)
    return WindowState(WindowPhase.COMPLETED, None, None, around.last, None)


# How far ahead overlaps are looked for, and at most how many occurrences of a series are compared.
OVERLAP_HORIZON = timedelta(days=366)
OVERLAP_OCCURRENCES = 1000


def upcoming(window: Window, now: datetime, until: datetime) -> list[Occurrence]:
    """The occurrences not over at `now` that start before `until`, in order (capped)."""
    if window.cancelled:
        return []
    if window.series is None:
        first = window.first
        return [first] if first.end > now and first.start < until else []
    series = window.series
    found = series.occurrences_between(now - series.duration, until, OVERLAP_OCCURRENCES + 1)
    return [occurrence for occurrence in found if occurrence.end > now][:OVERLAP_OCCURRENCES]


def first_overlap(ours: list[Occurrence], theirs: list[Occurrence]) -> Occurrence | None:
    """The first span in which an occurrence of each runs (None: they never overlap).

    Both lists are in order of start, as `upcoming` gives them; ends touching is no overlap.
    """
    i = j = 0
    while i < len(ours) and j < len(theirs):
        a, b = ours[i], theirs[j]
        start, end = max(a.start, b.start), min(a.end, b.end)
        if start < end:
            return Occurrence(start, end)
        if a.end <= b.end:
            i += 1
        else:
            j += 1
    return None


def next_reminder(
    state: WindowState, remind_before: timedelta | None
) -> tuple[Occurrence, datetime] | None:
    """The occurrence to remind of next, and the instant its reminder is due (None: none).

    Reminders are edges like starts and ends: the daemon wakes at `start - remind_before`.
    """
    if remind_before is None or state.next is None:
        return None
    if state.phase in (WindowPhase.COMPLETED, WindowPhase.CANCELLED):
        return None
    return state.next, state.next.start - remind_before
