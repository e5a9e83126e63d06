"""What `history` lists: the "last N days" in the page's zone, and the events that fall in them.

"Last N days" is N calendar days in the page's time zone, today included: from local midnight
N-1 days before today until now (`--days 1` is today so far). That is how a status page's history
reads ("May 10", "May 9", ...), and it does not depend on the hour the command runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum

from statuspage_operator.cli.model import Incident, Span, Window


class Kind(StrEnum):
    """What a history entry is about, as the resource name kubectl uses."""

    INCIDENT = "statusincident"
    WINDOW = "maintenancewindow"


@dataclass(frozen=True, slots=True)
class Event:
    """One line of history: an incident resolved or a maintenance that ended."""

    at: datetime
    kind: Kind
    name: str
    title: str
    outcome: str
    impact: str | None = None
    span: Span | None = None


def history_start(now: datetime, zone: tzinfo, days: int) -> datetime:
    """Local midnight (in `zone`) of the first of the last `days` calendar days, as UTC."""
    if days < 1:
        raise ValueError("days must be at least 1")
    first_day = now.astimezone(zone).date() - timedelta(days=days - 1)
    # A midnight skipped by a DST change resolves (fold=0) to the first instant of that day.
    return datetime.combine(first_day, time(0), tzinfo=zone).astimezone(UTC)


def _incident_event(incident: Incident) -> Event | None:
    if not incident.resolved or incident.resolved_at is None:
        return None
    return Event(
        incident.resolved_at,
        Kind.INCIDENT,
        incident.name,
        incident.title,
        "Resolved",
        impact=incident.impact,
    )


def _window_event(window: Window) -> Event | None:
    """A window's most recent end: completion, cancellation, or a recurring occurrence's end."""
    if window.phase == "Cancelled":
        at = window.completed_at or (window.last.end if window.last else None)
        span = window.last or window.scheduled
        outcome = "Cancelled"
    elif window.phase == "Completed":
        # The occurrence's end, not when the operator noticed it (it may have been down).
        at = window.last.end if window.last else window.completed_at
        span = window.last
        outcome = "Completed"
    elif window.last is not None:
        at, span, outcome = window.last.end, window.last, "Completed"
    else:
        return None
    if at is None:
        return None
    return Event(at, Kind.WINDOW, window.name, window.title, outcome, span=span)


def past_events(
    incidents: Iterable[Incident], windows: Iterable[Window], since: datetime
) -> list[Event]:
    """Resolved incidents and ended maintenance since `since`, newest first."""
    candidates = [_incident_event(i) for i in incidents] + [_window_event(w) for w in windows]
    events = [event for event in candidates if event is not None and event.at >= since]
    # Newest first; among equal times, in a stable order (kind, then name).
    events.sort(key=lambda event: (event.kind, event.name))
    events.sort(key=lambda event: event.at, reverse=True)
    return events


def unresolved(incidents: Iterable[Incident]) -> list[Incident]:
    """Incidents still open, however old: newest first, then by name."""
    open_ones = sorted((i for i in incidents if not i.resolved), key=lambda i: i.name)
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(open_ones, key=lambda i: i.opened or epoch, reverse=True)
