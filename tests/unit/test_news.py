"""A notice recorded in a status, as the news its page's subscribers get (api/news.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.api.news import PageFacts, news_of, page_facts
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.notifications import NotificationEvent

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
E = NotificationEvent
FACTS = PageFacts("Example", "Europe/Berlin", "https://status.example.com/", None)


def notice(reason: str, message: str = "", subject: str = "") -> Notice:
    """One notice made now, about `subject`."""
    [made] = make_notices("obj", "uid-1", NOW, [(reason, message, False)])
    return made.about(subject, None) if subject else made


def make_window(**spec: Any) -> dict[str, Any]:
    """A window of page example on api, two hours from NOW."""
    return {
        "metadata": {"namespace": "default", "name": "db-upgrade", "uid": "uid-1"},
        "spec": {
            "page": "example",
            "title": "Database upgrade",
            "components": ["api"],
            "startTime": "2026-12-01T12:00:00Z",
            "endTime": "2026-12-01T14:00:00Z",
            "notifySubscribers": True,
            **spec,
        },
    }


def make_incident(timeline: list[dict[str, str]], **spec: Any) -> dict[str, Any]:
    """An incident of page example on api with a stamped timeline."""
    return {
        "metadata": {"namespace": "default", "name": "boom", "uid": "uid-2"},
        "spec": {
            "page": "example",
            "title": "Errors",
            "impact": "Major",
            "components": [{"name": "api"}],
            **spec,
        },
        "status": {"timeline": timeline},
    }


TIMELINE = [
    {"status": "Investigating", "message": "Looking.", "at": "2026-12-01T11:00:00Z"},
    {"status": "Identified", "message": "A bad deploy.", "at": "2026-12-01T11:30:00Z"},
    {"status": "Resolved", "message": "Rolled back.", "at": "2026-12-01T11:45:00Z"},
]


def test_window_news_is_in_the_page_s_words() -> None:
    """Title, components, occurrence; the page's title, zone and link."""
    news = news_of(Kind.WINDOW, make_window(), notice("MaintenanceStarted"), "example", FACTS)
    assert news is not None
    assert (news.event, news.title, news.components) == (
        E.MAINTENANCE_STARTED,
        "Database upgrade",
        ("api",),
    )
    assert (news.start, news.end) == (NOW, NOW + 2 * HOUR)
    assert (news.page_title, news.time_zone, news.page_url) == (
        "Example",
        "Europe/Berlin",
        "https://status.example.com/",
    )
    assert (news.object_uid, news.name, news.at) == ("uid-1", "db-upgrade", NOW)


def test_a_recurring_window_s_news_is_about_the_notice_s_occurrence() -> None:
    """The subject is the occurrence's start; its length is the first occurrence's."""
    later = "2026-12-08T12:00:00Z"
    news = news_of(
        Kind.WINDOW, make_window(), notice("MaintenanceStarted", subject=later), "example", FACTS
    )
    assert news is not None
    assert (news.start, news.end) == (NOW + 7 * 24 * HOUR, NOW + 7 * 24 * HOUR + 2 * HOUR)


@pytest.mark.parametrize(
    ("reason", "spec"),
    [
        pytest.param("MaintenanceStarted", {"notifySubscribers": False}, id="silent-window"),
        pytest.param("MaintenanceStarted", {"notifySubscribers": None}, id="switch-unset"),
        pytest.param("MaintenanceOverlaps", {}, id="warning-is-event-only"),
    ],
)
def test_window_notices_that_are_no_news(reason: str, spec: dict[str, Any]) -> None:
    """A silent window, or a notice for Events only: no news."""
    window = make_window(**spec)
    if spec.get("notifySubscribers") is None:
        del window["spec"]["notifySubscribers"]
    assert news_of(Kind.WINDOW, window, notice(reason), "example", FACTS) is None


@pytest.mark.parametrize(
    ("index", "event", "status", "message"),
    [
        pytest.param(0, E.INCIDENT_CREATED, "Investigating", "Looking.", id="first-creates"),
        pytest.param(1, E.INCIDENT_UPDATED, "Identified", "A bad deploy.", id="next-updates"),
        pytest.param(2, E.INCIDENT_RESOLVED, "Resolved", "Rolled back.", id="resolved"),
    ],
)
def test_incident_news_is_the_update_it_announces(
    index: int, event: NotificationEvent, status: str, message: str
) -> None:
    """The timeline entry named by the subject: its event, status, message, time; the impact."""
    news = news_of(
        Kind.INCIDENT,
        make_incident(TIMELINE),
        notice("IncidentUpdated", subject=str(index)),
        "example",
        FACTS,
    )
    assert news is not None
    assert (news.event, news.status, news.message, news.impact) == (event, status, message, "Major")
    assert news.at == datetime.fromisoformat(TIMELINE[index]["at"])
    assert news.components == ("api",)


@pytest.mark.parametrize(
    ("incident", "subject"),
    [
        pytest.param(make_incident(TIMELINE[:1]), "3", id="update-not-stamped-yet"),
        pytest.param(make_incident(TIMELINE, notifySubscribers=False), "0", id="silent-incident"),
        pytest.param(make_incident(TIMELINE), "", id="no-subject"),
    ],
)
def test_incident_notices_that_are_no_news(incident: dict[str, Any], subject: str) -> None:
    """An update the timeline does not hold, or a silent incident: no news."""
    made = notice("IncidentUpdated", subject=subject)
    assert news_of(Kind.INCIDENT, incident, made, "example", FACTS) is None


def test_incident_resolved_is_an_event_only() -> None:
    """IncidentResolved itself is no news: the Resolved update says it."""
    made = notice("IncidentResolved", subject="2")
    assert news_of(Kind.INCIDENT, make_incident(TIMELINE), made, "example", FACTS) is None


def test_component_news_carries_the_old_and_new_status() -> None:
    """`Operational -> MajorOutage` as old and new status, under the display name."""
    component = {
        "metadata": {"namespace": "default", "name": "api", "uid": "uid-3"},
        "spec": {"page": "example", "displayName": "Public API"},
    }
    made = notice("ComponentStatusChanged", "Operational -> MajorOutage")
    news = news_of(Kind.COMPONENT, component, made, "example", FACTS)
    assert news is not None
    assert (news.event, news.title, news.components) == (
        E.COMPONENT_STATUS_CHANGED,
        "Public API",
        ("api",),
    )
    assert (news.old_status, news.status) == ("Operational", "MajorOutage")
    other = notice("ComponentNotFound", "gone")
    assert news_of(Kind.COMPONENT, component, other, "example", FACTS) is None


def test_page_facts_come_from_its_spec() -> None:
    """Title, zone, link and the reminder default, parsed."""
    spec = {
        "title": "Example",
        "timeZone": "Europe/Berlin",
        "url": "https://status.example.com/",
        "remindBefore": "1h30m",
    }
    assert page_facts(spec) == PageFacts(
        "Example", "Europe/Berlin", "https://status.example.com/", timedelta(minutes=90)
    )
    assert page_facts({"title": "Bare"}) == PageFacts("Bare", "UTC", None, None)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        pytest.param(
            {"title": "Example", "remindBefore": "soon"}, "spec.remindBefore", id="remind"
        ),
        pytest.param({"timeZone": "UTC"}, "spec.title", id="no-title"),
    ],
)
def test_page_facts_that_do_not_parse_name_the_field(spec: dict[str, Any], field: str) -> None:
    """InvalidSpecError with the field's path."""
    with pytest.raises(InvalidSpecError, match=field):
        page_facts(spec)


def test_an_unknown_page_is_shown_by_its_name_in_utc() -> None:
    """News of a page the view does not hold: its name, UTC, no link."""
    news = news_of(
        Kind.WINDOW, make_window(), notice("MaintenanceStarted"), "example", PageFacts.unknown("x")
    )
    assert news is not None
    assert (news.page_title, news.time_zone, news.page_url) == ("x", "UTC", None)
