"""A maintenance window's plan: its status, the notices of its move, and when to look again.

From the parsed spec, the status as recorded and `now`: the phase, the components to move first
when the phase changes, the Events of the transition (scheduled, started, completed, cancelled),
the reminder at `start - remindBefore`, the overlaps with other live windows of its page, and the
next edge (a start, an end or a reminder). Rendering twice at the same `now` plans nothing new,
so an extra waking of the daemon writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from statuspage_operator.api.conditions import Reason, Verdict
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.api.specs import WindowSpec, parse_duration
from statuspage_operator.api.status import Status, window_status
from statuspage_operator.api.times import format_time, parse_time
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.maintenance import (
    Window,
    WindowPhase,
    WindowState,
    next_reminder,
    window_state,
)
from statuspage_operator.domain.notifications import (
    Moment,
    NotificationEvent,
    deadline,
    event_of,
)
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.plans.conditions import READY, Item, plan_invalid, warnings
from statuspage_operator.plans.overlaps import (
    MAX_OVERLAPS,
    Neighbour,
    find_overlaps,
    overlap_warning,
)

Parsed = tuple[WindowSpec, Window] | InvalidSpecError


@dataclass(frozen=True, slots=True)
class WindowFacts:
    """What a window's plan is made from, gathered from the object and the operator's memory.

    The defaults are what there is to gather for an invalid spec: no references to judge.
    """

    name: str
    uid: str
    generation: int
    current: Mapping[str, Any]
    parsed: Parsed
    verdict: Verdict = READY
    neighbours: tuple[Neighbour, ...] = ()
    page_remind_before: timedelta | None = None


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """What to write for a window, and what to do around the write."""

    status: Status
    notices: tuple[Notice, ...]
    # When to plan again (None: never, by time alone).
    edge: datetime | None = None
    # The phase or the occurrence in progress changes: its components and page show it.
    moved: bool = False
    # Its components are recomputed before its own status is written: the page shows them.
    components_first: bool = False
    # The start or end this move crossed, to measure how late it came.
    boundary: datetime | None = None


def transition_reasons(phase: WindowPhase, old_phase: object) -> list[Reason]:
    """The Events of a move from `old_phase` (as written) to `phase`."""
    if phase is WindowPhase.SCHEDULED:
        return [Reason.MAINTENANCE_COMPLETED] if old_phase == WindowPhase.IN_PROGRESS else []
    if phase is WindowPhase.IN_PROGRESS:
        if old_phase == WindowPhase.IN_PROGRESS:
            # One occurrence ended as the next began.
            return [Reason.MAINTENANCE_COMPLETED, Reason.MAINTENANCE_STARTED]
        return [Reason.MAINTENANCE_STARTED]
    if phase is WindowPhase.COMPLETED:
        return [Reason.MAINTENANCE_COMPLETED]
    return [Reason.MAINTENANCE_CANCELLED]


def remind_before(spec: WindowSpec, page_default: timedelta | None) -> timedelta | None:
    """Its own remindBefore, else its page's; none if invalid or the window is silent."""
    if not spec.notify_subscribers:
        return None
    try:
        own = parse_duration("spec.remindBefore", spec.remind_before)
    except InvalidSpecError:
        return None
    return own if own is not None else page_default


def _message(reason: Reason, spec: WindowSpec, occurrence: Occurrence | None = None) -> str:
    names = ", ".join(spec.components) or "no components"
    verb = {
        Reason.MAINTENANCE_SCHEDULED: "scheduled",
        Reason.MAINTENANCE_STARTED: "started",
        Reason.MAINTENANCE_COMPLETED: "completed",
        Reason.MAINTENANCE_CANCELLED: "cancelled",
    }.get(reason)
    if verb is None and occurrence is not None:
        verb = f"starts at {format_time(occurrence.start)}"
    return f"Maintenance {spec.title!r} {verb} ({names})"


def _about(
    reason: str, state: WindowState, previous: Mapping[str, Any], now: datetime
) -> tuple[str, datetime]:
    """What a window's notice is about (its occurrence's start) and its catch-up deadline."""
    occurrence: Occurrence | None = None
    if reason in (Reason.MAINTENANCE_SCHEDULED, Reason.MAINTENANCE_REMINDER):
        occurrence = state.next
    elif reason == Reason.MAINTENANCE_STARTED:
        occurrence = state.current
    elif reason == Reason.MAINTENANCE_COMPLETED:
        occurrence = state.last
    elif reason == Reason.MAINTENANCE_CANCELLED:
        cut = previous.get("currentOccurrence") or {}
        if cut.get("start") and cut.get("end"):
            occurrence = Occurrence(parse_time(cut["start"]), now)
        else:
            occurrence = state.next or state.last
    event = event_of(reason)
    if event is None or occurrence is None:
        return "", now
    if event is NotificationEvent.MAINTENANCE_CANCELLED:
        moment = Moment(now, occurrence.start, None)
    else:
        moment = Moment(now, occurrence.start, occurrence.end)
    return format_time(occurrence.start), deadline(event, moment)


def _boundary(state: WindowState, old_phase: object) -> datetime | None:
    """The start or end a move crossed (None: a cancellation, or nothing ran)."""
    if state.current is not None:
        return state.current.start
    if old_phase == WindowPhase.IN_PROGRESS and state.last is not None:
        return state.last.end
    return None


def _transition_items(
    spec: WindowSpec, state: WindowState, old_phase: object, moved: bool
) -> list[Item]:
    """A new window's Scheduled notice (for subscribers only), and the Events of its move."""
    items: list[Item] = []
    # Scheduled and reminder notices exist for subscribers: a silent window has none.
    if spec.notify_subscribers and old_phase is None and state.phase is WindowPhase.SCHEDULED:
        items.append(
            (Reason.MAINTENANCE_SCHEDULED, _message(Reason.MAINTENANCE_SCHEDULED, spec), False)
        )
    if moved:
        items += [
            (reason, _message(reason, spec), False)
            for reason in transition_reasons(state.phase, old_phase)
        ]
    return items


def _reminder(
    spec: WindowSpec,
    state: WindowState,
    current: Mapping[str, Any],
    page_default: timedelta | None,
    now: datetime,
) -> tuple[datetime | None, Occurrence | None]:
    """The reminder's instant while it is to come, or the occurrence to remind of now (once)."""
    reminder = next_reminder(state, remind_before(spec, page_default))
    if reminder is None:
        return None, None
    occurrence, due_at = reminder
    if due_at > now:
        return due_at, None
    if current.get("lastReminder") == format_time(occurrence.start):
        return None, None
    return None, occurrence


def plan_window(facts: WindowFacts, now: datetime) -> WindowPlan:
    """The window's status, notices and next edge at `now`."""
    if isinstance(facts.parsed, InvalidSpecError):
        invalid = plan_invalid(
            facts.name, facts.uid, facts.current, facts.parsed, facts.generation, now
        )
        return WindowPlan(invalid.status, invalid.notices)
    spec, window = facts.parsed
    current = facts.current
    state = window_state(window, now)
    old_phase = current.get("phase")
    desired = window_status(state, current, facts.verdict, facts.generation, now)
    if desired["occurrence"] is None:
        # Cancelled before any occurrence ran: the columns show the one it cancelled.
        desired["occurrence"] = {
            "start": format_time(window.first.start),
            "end": format_time(window.first.end),
        }
    applied = current.get("observedGeneration") != facts.generation
    # Looked for when the spec is applied; at an edge only the ones listed are followed.
    among = None if applied else {o.get("window") for o in current.get("overlaps") or ()}
    found = find_overlaps(facts.name, spec, window, facts.neighbours, now, among)
    desired["overlaps"] = found[:MAX_OVERLAPS] or None
    moved = old_phase != desired["phase"] or current.get("currentOccurrence") != desired.get(
        "currentOccurrence"
    )
    items = _transition_items(spec, state, old_phase, moved)
    due_at, remind = _reminder(spec, state, current, facts.page_remind_before, now)
    edge = min((e for e in (state.next_edge, due_at) if e is not None), default=None)
    if remind is not None:
        desired["lastReminder"] = format_time(remind.start)
        items.append(
            (
                Reason.MAINTENANCE_REMINDER,
                _message(Reason.MAINTENANCE_REMINDER, spec, remind),
                False,
            )
        )
    about = [_about(reason, state, current, now) for reason, _, _ in items]
    items += warnings(current, facts.verdict)
    if applied:
        # Told once, when this window's spec is applied: the planner is looking then.
        items += overlap_warning(spec, current, desired["overlaps"] or [], len(found))
    notices = tuple(
        notice.about(*about[i]) if i < len(about) else notice
        for i, notice in enumerate(make_notices(facts.name, facts.uid, now, items))
    )
    return WindowPlan(
        status=desired,
        notices=notices,
        edge=edge,
        moved=moved,
        components_first=moved and spec.auto_update_status and bool(spec.components),
        boundary=_boundary(state, old_phase) if moved else None,
    )
