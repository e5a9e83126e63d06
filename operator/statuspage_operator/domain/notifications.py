"""Subscriber notifications: which notice is which event, who wants it, and until when.

A notice (api/notices.py) is what a change announces; here it becomes a subscriber event
(`maintenance.started`, `incident.updated`, ...). The catch-up rule says until when a notice is
still worth sending, so a notice whose moment passed while the operator was down is sent late
only while it means something:

- a reminder never after the occurrence's start; `maintenance.scheduled` neither;
- a start notice until the occurrence ends;
- an end (completed, cancelled) or component notice within one hour of its moment;
- an incident's updates always (within INCIDENT_HORIZON, the bound of what is recorded).

A whole occurrence missed yields at most one completed notice: the window goes straight from
Scheduled to Completed, and that transition announces only its end.

Budget (docs/behaviour.md, "Notifications coalesced"): one subscriber gets at most
PER_OBJECT_HOURLY notifications about one object in any hour (a sliding hour). Further news of
that object waits, and when the budget frees it goes as one digest: the latest news, saying how
many earlier ones it stands for. Nothing is dropped and nothing is sent twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class NotificationEvent(StrEnum):
    """What a subscriber can be told of."""

    MAINTENANCE_SCHEDULED = "maintenance.scheduled"
    MAINTENANCE_REMINDER = "maintenance.reminder"
    MAINTENANCE_STARTED = "maintenance.started"
    MAINTENANCE_COMPLETED = "maintenance.completed"
    MAINTENANCE_CANCELLED = "maintenance.cancelled"
    INCIDENT_CREATED = "incident.created"
    INCIDENT_UPDATED = "incident.updated"
    INCIDENT_RESOLVED = "incident.resolved"
    COMPONENT_STATUS_CHANGED = "component.statusChanged"


DEFAULT_EVENTS = frozenset(NotificationEvent) - {NotificationEvent.COMPONENT_STATUS_CHANGED}
MAINTENANCE_EVENTS = frozenset(e for e in NotificationEvent if e.startswith("maintenance."))
INCIDENT_EVENTS = frozenset(e for e in NotificationEvent if e.startswith("incident."))

END_GRACE = timedelta(hours=1)
PER_OBJECT_HOURLY = 5
BUDGET_WINDOW = timedelta(hours=1)
# Incident updates are always sent; this bounds how long a delivery is remembered (and so how old
# a recorded update may be and still be sent after a restart).
INCIDENT_HORIZON = timedelta(days=7)

_BY_REASON = {
    "MaintenanceScheduled": NotificationEvent.MAINTENANCE_SCHEDULED,
    "MaintenanceReminder": NotificationEvent.MAINTENANCE_REMINDER,
    "MaintenanceStarted": NotificationEvent.MAINTENANCE_STARTED,
    "MaintenanceCompleted": NotificationEvent.MAINTENANCE_COMPLETED,
    "MaintenanceCancelled": NotificationEvent.MAINTENANCE_CANCELLED,
    "ComponentStatusChanged": NotificationEvent.COMPONENT_STATUS_CHANGED,
}


def event_of(
    reason: str, index: int | None = None, update_status: str | None = None
) -> NotificationEvent | None:
    """The subscriber event of a notice (None: the notice is for Events only).

    An incident's first update creates it, one with status Resolved resolves it, the others
    update it; `IncidentResolved` itself is only an Event (the Resolved update says it).
    """
    if reason == "IncidentUpdated":
        if update_status == "Resolved":
            return NotificationEvent.INCIDENT_RESOLVED
        if index == 0:
            return NotificationEvent.INCIDENT_CREATED
        return NotificationEvent.INCIDENT_UPDATED
    return _BY_REASON.get(reason)


@dataclass(frozen=True, slots=True)
class Moment:
    """When a notice's news happened: the occurrence it is about, or the update's time."""

    at: datetime
    start: datetime | None = None
    end: datetime | None = None


def deadline(event: NotificationEvent, moment: Moment) -> datetime:
    """The last instant at which the notice is still worth sending (the catch-up rule)."""
    if event in (NotificationEvent.MAINTENANCE_REMINDER, NotificationEvent.MAINTENANCE_SCHEDULED):
        return moment.start or moment.at
    if event is NotificationEvent.MAINTENANCE_STARTED:
        return moment.end or moment.at + END_GRACE
    if event in (NotificationEvent.MAINTENANCE_COMPLETED, NotificationEvent.MAINTENANCE_CANCELLED):
        return (moment.end or moment.at) + END_GRACE
    if event in INCIDENT_EVENTS:
        return moment.at + INCIDENT_HORIZON
    return moment.at + END_GRACE


def due(event: NotificationEvent, moment: Moment, now: datetime) -> bool:
    """Whether a notice may still be sent at `now`."""
    return now <= deadline(event, moment)


@dataclass(frozen=True, slots=True)
class Interest:
    """What one subscriber wants: events, an optional component filter, and since when."""

    events: frozenset[NotificationEvent] = DEFAULT_EVENTS
    components: frozenset[str] | None = None
    since: datetime | None = None


def wants(
    interest: Interest,
    event: NotificationEvent,
    components: Iterable[str],
    made_at: datetime,
) -> bool:
    """Whether a subscriber is told of an event about these components, made at `made_at`.

    A subscriber hears of what happened after it was created, never of what came before.
    """
    if event not in interest.events:
        return False
    if interest.since is not None and made_at < interest.since:
        return False
    if interest.components is None:
        return True
    return not interest.components.isdisjoint(components)


def allowed_by_source(event: NotificationEvent, notify_subscribers: bool) -> bool:
    """`notifySubscribers: false` keeps maintenance and incidents silent; components are not
    switched (a subscriber opts into them with its events)."""
    if event is NotificationEvent.COMPONENT_STATUS_CHANGED:
        return True
    return notify_subscribers


def delivery_key(subscriber_uid: str, object_uid: str, subject: str, event: str) -> str:
    """The same news to the same subscriber always has the same key (32 hex)."""
    text = f"{subscriber_uid}/{object_uid}/{subject}/{event}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def prune(record: dict[str, datetime], now: datetime, limit: int) -> dict[str, datetime]:
    """The delivered keys that can still matter: deadline not passed, at most `limit` (newest)."""
    alive = {key: until for key, until in record.items() if until >= now}
    if len(alive) <= limit:
        return alive
    kept = sorted(alive.items(), key=lambda item: item[1], reverse=True)[:limit]
    return dict(kept)


def budget_frees(sent: Iterable[datetime], now: datetime) -> datetime | None:
    """When the next notification about an object may go, after those sent at `sent`.

    None: at once. Else the instant the oldest of the last PER_OBJECT_HOURLY leaves the hour.
    """
    recent = sorted(at for at in sent if at > now - BUDGET_WINDOW)
    if len(recent) < PER_OBJECT_HOURLY:
        return None
    return recent[-PER_OBJECT_HOURLY] + BUDGET_WINDOW
