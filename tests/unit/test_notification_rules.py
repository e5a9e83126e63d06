"""The pure rules of subscriber notifications: events, filters, the catch-up rule, keys, text."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from statuspage_operator.api.specs import parse_duration
from statuspage_operator.api.webhook import News, encode, render_text, render_webhook, sign
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.maintenance import Window, next_reminder, window_state
from statuspage_operator.domain.notifications import (
    DEFAULT_EVENTS,
    Interest,
    Moment,
    NotificationEvent,
    allowed_by_source,
    deadline,
    delivery_key,
    due,
    event_of,
    prune,
    wants,
)
from statuspage_operator.domain.occurrence import Occurrence

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
E = NotificationEvent


def occurrence(start: datetime, hours: float = 2) -> Occurrence:
    """An occurrence from `start`, lasting `hours`."""
    return Occurrence(start, start + timedelta(hours=hours))


@pytest.mark.parametrize(
    ("reason", "index", "status", "expected"),
    [
        pytest.param("MaintenanceStarted", None, None, E.MAINTENANCE_STARTED, id="started"),
        pytest.param("MaintenanceReminder", None, None, E.MAINTENANCE_REMINDER, id="reminder"),
        pytest.param("IncidentUpdated", 0, "Investigating", E.INCIDENT_CREATED, id="first-update"),
        pytest.param("IncidentUpdated", 2, "Monitoring", E.INCIDENT_UPDATED, id="later-update"),
        pytest.param("IncidentUpdated", 3, "Resolved", E.INCIDENT_RESOLVED, id="resolving"),
        pytest.param("IncidentResolved", None, None, None, id="resolved-is-event-only"),
        pytest.param("ComponentNotFound", None, None, None, id="warning-is-event-only"),
        pytest.param("ComponentStatusChanged", None, None, E.COMPONENT_STATUS_CHANGED, id="comp"),
    ],
)
def test_event_of_a_notice(
    reason: str, index: int | None, status: str | None, expected: NotificationEvent | None
) -> None:
    """Each notice maps to at most one subscriber event."""
    assert event_of(reason, index, status) == expected


@pytest.mark.parametrize(
    ("event", "moment", "now", "expected"),
    [
        pytest.param(
            E.MAINTENANCE_REMINDER, Moment(NOW, NOW + HOUR), NOW, True, id="reminder-before"
        ),
        pytest.param(
            E.MAINTENANCE_REMINDER,
            Moment(NOW, NOW),
            NOW + timedelta(seconds=1),
            False,
            id="reminder-never-after-start",
        ),
        pytest.param(
            E.MAINTENANCE_STARTED,
            Moment(NOW, NOW, NOW + 2 * HOUR),
            NOW + HOUR,
            True,
            id="start-late-while-in-progress",
        ),
        pytest.param(
            E.MAINTENANCE_STARTED,
            Moment(NOW, NOW, NOW + 2 * HOUR),
            NOW + 3 * HOUR,
            False,
            id="start-not-after-the-end",
        ),
        pytest.param(
            E.MAINTENANCE_COMPLETED,
            Moment(NOW, NOW - HOUR, NOW),
            NOW + 50 * timedelta(minutes=1),
            True,
            id="end-within-an-hour",
        ),
        pytest.param(
            E.MAINTENANCE_COMPLETED,
            Moment(NOW, NOW - HOUR, NOW),
            NOW + 2 * HOUR,
            False,
            id="end-not-after-an-hour",
        ),
        pytest.param(
            E.INCIDENT_UPDATED, Moment(NOW), NOW + timedelta(days=3), True, id="incident-always"
        ),
    ],
)
def test_catch_up_rule(
    event: NotificationEvent, moment: Moment, now: datetime, expected: bool
) -> None:
    """A late notice is sent only while it still means something."""
    assert due(event, moment, now) is expected


def test_cancelled_without_occurrence_end_is_due_an_hour() -> None:
    """A cancellation's deadline is an hour after it was made."""
    assert deadline(E.MAINTENANCE_CANCELLED, Moment(NOW, NOW + HOUR)) == NOW + HOUR


@pytest.mark.parametrize(
    ("interest", "event", "components", "expected"),
    [
        pytest.param(Interest(), E.MAINTENANCE_STARTED, ["api"], True, id="default-all"),
        pytest.param(Interest(), E.COMPONENT_STATUS_CHANGED, ["api"], False, id="default-no-comp"),
        pytest.param(
            Interest(components=frozenset({"db"})), E.INCIDENT_CREATED, ["api"], False, id="filter"
        ),
        pytest.param(
            Interest(components=frozenset({"db"})),
            E.INCIDENT_CREATED,
            ["api", "db"],
            True,
            id="filter-hit",
        ),
        pytest.param(
            Interest(components=frozenset({"db"})),
            E.MAINTENANCE_STARTED,
            [],
            False,
            id="filter-no-components",
        ),
        pytest.param(
            Interest(since=NOW + HOUR), E.INCIDENT_CREATED, ["api"], False, id="older-than-sub"
        ),
    ],
)
def test_wants(
    interest: Interest, event: NotificationEvent, components: list[str], expected: bool
) -> None:
    """Events, component filter and creation time decide who hears of what."""
    assert wants(interest, event, components, NOW) is expected


def test_default_events_are_all_but_component_changes() -> None:
    """The default is every event but component.statusChanged."""
    assert set(NotificationEvent) - DEFAULT_EVENTS == {E.COMPONENT_STATUS_CHANGED}


def test_notify_switch_silences_maintenance_but_not_component_changes() -> None:
    """notifySubscribers: false keeps a window or incident silent."""
    assert not allowed_by_source(E.MAINTENANCE_STARTED, False)
    assert allowed_by_source(E.COMPONENT_STATUS_CHANGED, False)


def test_delivery_key_is_stable_and_distinct() -> None:
    """Same news, same key; another subscriber, occurrence or event, another key."""
    key = delivery_key("sub", "obj", "2026-12-01T12:00:00Z", "maintenance.started")
    assert key == delivery_key("sub", "obj", "2026-12-01T12:00:00Z", "maintenance.started")
    assert len(key) == 32
    others = {
        delivery_key("sub2", "obj", "2026-12-01T12:00:00Z", "maintenance.started"),
        delivery_key("sub", "obj", "2026-12-08T12:00:00Z", "maintenance.started"),
        delivery_key("sub", "obj", "2026-12-01T12:00:00Z", "maintenance.completed"),
    }
    assert key not in others
    assert len(others) == 3


def test_prune_keeps_what_can_still_matter_and_bounds_the_record() -> None:
    """Keys past their deadline go; over the limit, the soonest to expire go first."""
    record = {"old": NOW - HOUR, "a": NOW + HOUR, "b": NOW + 2 * HOUR, "c": NOW + 3 * HOUR}
    assert prune(record, NOW, 10) == {"a": NOW + HOUR, "b": NOW + 2 * HOUR, "c": NOW + 3 * HOUR}
    assert set(prune(record, NOW, 2)) == {"b", "c"}


def test_next_reminder_is_start_minus_remind_before() -> None:
    """The reminder of the next occurrence is due remindBefore ahead of its start."""
    first = occurrence(NOW + 3 * HOUR)
    state = window_state(Window(first), NOW)
    assert next_reminder(state, HOUR) == (first, NOW + 2 * HOUR)
    assert next_reminder(state, None) is None
    assert next_reminder(window_state(Window(first, cancelled=True), NOW), HOUR) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1h", HOUR, id="hour"),
        pytest.param("1h30m", timedelta(minutes=90), id="mixed"),
        pytest.param("45s", timedelta(seconds=45), id="seconds"),
        pytest.param(None, None, id="unset"),
    ],
)
def test_parse_duration(text: str | None, expected: timedelta | None) -> None:
    """remindBefore durations."""
    assert parse_duration("spec.remindBefore", text) == expected


def test_parse_duration_rejects_nonsense() -> None:
    """A bad duration names the field."""
    with pytest.raises(InvalidSpecError, match=r"spec\.remindBefore"):
        parse_duration("spec.remindBefore", "soon")


def news(event: NotificationEvent = E.MAINTENANCE_STARTED, **fields: object) -> News:
    """News about a window of page example in Europe/Berlin."""
    base: dict[str, object] = {
        "page": "example",
        "page_title": "Example",
        "time_zone": "Europe/Berlin",
        "page_url": "https://status.example.com/",
        "object_uid": "uid-1",
        "name": "db-upgrade",
        "title": "Database upgrade",
        "at": NOW,
        "components": ("database", "api"),
        "start": NOW,
        "end": NOW + 2 * HOUR,
    }
    base.update(fields)
    return News(event, **base)  # type: ignore[arg-type]


def test_text_is_readable_on_a_phone() -> None:
    """Title, when in the page's zone, affected components, link."""
    title, text = render_text(news())
    assert title == "[Example] Maintenance started: Database upgrade"
    assert "When: 2026-12-01 13:00 CET to 15:00 CET (Europe/Berlin)" in text
    assert "Affects: database, api" in text
    assert text.endswith("https://status.example.com/")


def test_incident_text_carries_the_update() -> None:
    """An incident update's message and status lead the text."""
    title, text = render_text(
        news(E.INCIDENT_UPDATED, start=None, end=None, status="Identified", message="Rollback.")
    )
    assert title == "[Example] Identified: Database upgrade"
    assert text.startswith("Rollback.\nAt: 2026-12-01 13:00 CET")


def test_webhook_body_is_statuspage_shaped_and_signed() -> None:
    """`page` and `incident` as Statuspage sends them; the signature is HMAC-SHA256 of the body."""
    body = render_webhook(news(), "key-1")
    assert body["incident"]["status"] == "in_progress"
    assert body["incident"]["impact"] == "maintenance"
    assert body["incident"]["scheduled_for"] == "2026-12-01T12:00:00Z"
    assert body["meta"]["event"] == "maintenance.started"
    payload = encode(body)
    expected = hmac.new(b"k", payload, hashlib.sha256).hexdigest()
    assert sign(payload, b"k") == f"sha256={expected}"


def test_component_webhook_has_a_component_update() -> None:
    """component.statusChanged uses Statuspage's component_update."""
    body = render_webhook(
        news(
            E.COMPONENT_STATUS_CHANGED,
            start=None,
            end=None,
            status="UnderMaintenance",
            old_status="Operational",
        ),
        "key-2",
    )
    assert body["component_update"]["new_status"] == "under_maintenance"
    assert body["component_update"]["old_status"] == "operational"
