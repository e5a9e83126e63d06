"""The kubectl plugin's text output and history rules, with a fixed NOW and no cluster."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from statuspage_operator.cli.history import Kind, history_start, past_events, unresolved
from statuspage_operator.cli.main import phase
from statuspage_operator.cli.model import Component, Incident, Page, Span, Window
from statuspage_operator.cli.render import (
    format_instant,
    format_span,
    humanize,
    render_history,
    render_status,
)
from statuspage_operator.domain.incidents import IncidentPhase
from statuspage_operator.domain.order import layout

NOW = datetime(2026, 5, 10, 12, 7, tzinfo=UTC)  # 14:07 CEST
BERLIN = ZoneInfo("Europe/Berlin")


def z(instant: datetime) -> str:
    """RFC 3339 as the API writes it."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ago(**delta: float) -> datetime:
    """NOW minus a timedelta."""
    return NOW - timedelta(**delta)


def make_page(time_zone: str = "Europe/Berlin", **status: Any) -> Page:
    """A parsed StatusPage."""
    spec = {"title": "Example Inc.", "timeZone": time_zone}
    return Page.parse({"metadata": {"name": "example"}, "spec": spec, "status": status})


def make_component(name: str, status: str | None = "Operational", **spec: Any) -> Component:
    """A parsed Component."""
    body = {"metadata": {"name": name}, "spec": {"page": "example", **spec}}
    return Component.parse({**body, "status": {"status": status} if status else {}})


def make_incident(
    name: str,
    updates: list[tuple[str, str, datetime]],
    resolved_at: datetime | None = None,
    **spec: Any,
) -> Incident:
    """A parsed StatusIncident whose updates the operator has stamped."""
    entries = [{"status": s, "message": m, "at": z(at)} for s, m, at in updates]
    status: dict[str, Any] = {"timeline": entries, "phase": updates[-1][0] if updates else None}
    if resolved_at is not None:
        status["resolvedAt"] = z(resolved_at)
    return Incident.parse(
        {
            "metadata": {"name": name, "creationTimestamp": z(ago(days=400))},
            "spec": {
                "page": "example",
                "title": f"Incident {name}",
                "updates": [{"status": s, "message": m} for s, m, _ in updates],
                **spec,
            },
            "status": status,
        }
    )


def make_window(name: str, phase: str, **status: Any) -> Window:
    """A parsed MaintenanceWindow; occurrences as (start, end) pairs."""
    wire = {
        key: {"start": z(value[0]), "end": z(value[1])} if isinstance(value, tuple) else z(value)
        for key, value in status.items()
    }
    return Window.parse(
        {
            "metadata": {"name": name},
            "spec": {
                "page": "example",
                "title": f"Maintenance {name}",
                "components": ["db"],
                "startTime": z(ago(days=100)),
                "endTime": z(ago(days=100) + timedelta(hours=1)),
            },
            "status": {"phase": phase, **wire},
        }
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("DegradedPerformance", "Degraded Performance", id="two-words"),
        pytest.param("Operational", "Operational", id="one-word"),
        pytest.param("UnderMaintenance", "Under Maintenance", id="maintenance"),
    ],
)
def test_humanize(value: str, expected: str) -> None:
    """PascalCase enum values read as words."""
    assert humanize(value) == expected


def test_instant_in_the_page_zone_with_abbreviation() -> None:
    """Times show in the page's zone, to the minute, with the zone's abbreviation."""
    assert format_instant(NOW, BERLIN) == "2026-05-10 14:07 CEST"
    assert format_instant(datetime(2026, 1, 5, 1, 0, tzinfo=UTC), BERLIN) == "2026-01-05 02:00 CET"


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(
            datetime(2026, 5, 10, 8, 0, tzinfo=UTC),
            datetime(2026, 5, 10, 10, 0, tzinfo=UTC),
            "2026-05-10 10:00 to 12:00 CEST",
            id="same-day",
        ),
        pytest.param(
            datetime(2026, 5, 10, 21, 0, tzinfo=UTC),
            datetime(2026, 5, 10, 23, 0, tzinfo=UTC),
            "2026-05-10 23:00 CEST to 2026-05-11 01:00 CEST",
            id="across-midnight",
        ),
        pytest.param(
            datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            "2026-03-29 01:30 CET to 2026-03-29 03:30 CEST",
            id="across-dst",
        ),
    ],
)
def test_span(start: datetime, end: datetime, expected: str) -> None:
    """A span is short within one day and zone offset, in full otherwise."""
    assert format_span(Span(start, end), BERLIN) == expected


def test_layout_interleaves_groups_by_position() -> None:
    """A group sits where its first member would; no position sorts last; ties by name."""
    components = [
        make_component("web", group="Frontend", position=3),
        make_component("api", group="Core", position=1, displayName="API"),
        make_component("status", position=2),
        make_component("db", group="Core", position=5),
        make_component("cdn", group="Frontend", position=3, displayName="CDN"),
        make_component("zeta"),
        make_component("alpha"),
    ]
    blocks = [(group, [c.name for c in members]) for group, members in layout(components)]
    assert blocks == [
        ("Core", ["api", "db"]),
        (None, ["status"]),
        ("Frontend", ["cdn", "web"]),
        (None, ["alpha"]),
        (None, ["zeta"]),
    ]


@pytest.mark.parametrize(
    ("zone", "days", "expected"),
    [
        pytest.param("Europe/Berlin", 1, datetime(2026, 5, 9, 22, 0, tzinfo=UTC), id="today"),
        pytest.param("Europe/Berlin", 7, datetime(2026, 5, 3, 22, 0, tzinfo=UTC), id="week"),
        pytest.param("UTC", 30, datetime(2026, 4, 11, 0, 0, tzinfo=UTC), id="utc-month"),
        pytest.param(
            "Pacific/Kiritimati", 1, datetime(2026, 5, 10, 10, 0, tzinfo=UTC), id="ahead-of-utc"
        ),
        pytest.param(
            "Europe/Berlin", 45, datetime(2026, 3, 26, 23, 0, tzinfo=UTC), id="before-dst"
        ),
    ],
)
def test_history_starts_at_local_midnight(zone: str, days: int, expected: datetime) -> None:
    """The last N days are N calendar days in the page's zone, today included."""
    assert history_start(NOW, ZoneInfo(zone), days) == expected


def test_history_counts_incidents_by_resolved_at() -> None:
    """A resolved incident is in the history when resolvedAt falls in the last N days."""
    recent = make_incident("recent", [("Resolved", "done", ago(days=2))], resolved_at=ago(days=2))
    old = make_incident("old", [("Resolved", "done", ago(days=30))], resolved_at=ago(days=30))
    since = history_start(NOW, BERLIN, 7)
    assert [e.name for e in past_events([recent, old], [], since)] == ["recent"]


def test_unresolved_incidents_are_always_listed() -> None:
    """An incident still open is listed however old it is, and never as an event."""
    ancient = make_incident("ancient", [("Monitoring", "watching", ago(days=300))])
    fresh = make_incident("fresh", [("Investigating", "looking", ago(hours=1))])
    assert [i.name for i in unresolved([ancient, fresh])] == ["fresh", "ancient"]
    assert past_events([ancient, fresh], [], history_start(NOW, BERLIN, 7)) == []


def test_reopened_incident_is_not_history() -> None:
    """A later update reopens an incident: it is open again, not resolved."""
    reopened = make_incident(
        "again",
        [("Resolved", "fixed", ago(hours=3)), ("Investigating", "back", ago(hours=1))],
    )
    assert not reopened.resolved
    assert [i.name for i in unresolved([reopened])] == ["again"]


def test_window_history_uses_the_occurrence_end() -> None:
    """A completed window counts at its occurrence's end, not when the operator noticed."""
    window = make_window(
        "upgrade",
        "Completed",
        lastOccurrence=(ago(days=3, hours=2), ago(days=3)),
        completedAt=ago(days=1),
    )
    [event] = past_events([], [window], history_start(NOW, BERLIN, 7))
    assert (event.kind, event.at, event.outcome) == (Kind.WINDOW, ago(days=3), "Completed")


def test_window_history_kinds() -> None:
    """Cancelled counts when cancelled; a recurring window by its last occurrence; newest first."""
    cancelled = make_window("stopped", "Cancelled", completedAt=ago(hours=5))
    recurring = make_window(
        "weekly",
        "Scheduled",
        lastOccurrence=(ago(days=1, hours=1), ago(days=1)),
        nextOccurrence=(ago(days=-6, hours=1), ago(days=-6)),
    )
    scheduled = make_window("later", "Scheduled", nextOccurrence=(ago(days=-1), ago(hours=-25)))
    old = make_window("old", "Completed", lastOccurrence=(ago(days=31), ago(days=30)))
    events = past_events([], [old, scheduled, recurring, cancelled], history_start(NOW, BERLIN, 7))
    assert [(e.name, e.outcome) for e in events] == [
        ("stopped", "Cancelled"),
        ("weekly", "Completed"),
    ]


def test_incident_parse_counts_updates_not_yet_stamped() -> None:
    """An update the operator has not seen yet already sets the phase and the latest update."""
    incident = make_incident("db", [("Investigating", "looking", ago(hours=1))])
    raw = {
        "metadata": {"name": "db"},
        "spec": {
            "page": "example",
            "title": "Database",
            "updates": [
                {"status": "Investigating", "message": "looking"},
                {"status": "Monitoring", "message": "fixed"},
            ],
        },
        "status": {
            "phase": "Investigating",
            "timeline": [{"status": "Investigating", "message": "looking", "at": z(ago(hours=1))}],
        },
    }
    parsed = Incident.parse(raw)
    assert incident.phase == "Investigating"
    assert parsed.phase == "Monitoring"
    assert parsed.latest is not None
    assert (parsed.latest.message, parsed.latest.at) == ("fixed", None)
    assert parsed.opened == ago(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("monitoring", IncidentPhase.MONITORING, id="lower"),
        pytest.param("RESOLVED", IncidentPhase.RESOLVED, id="upper"),
        pytest.param("Identified", IncidentPhase.IDENTIFIED, id="pascal"),
    ],
)
def test_status_option_is_case_insensitive(text: str, expected: IncidentPhase) -> None:
    """--status accepts any case and normalises to PascalCase."""
    assert phase(text) is expected


def test_status_option_lists_valid_values() -> None:
    """A bad --status names every valid value."""
    with pytest.raises(argparse.ArgumentTypeError, match="Investigating, Identified, Monitoring"):
        phase("Fixed")


def test_render_status() -> None:
    """The page as text: rollup, components by group, open incident, maintenance by time."""
    page = make_page(indicator="Minor", description="Partially Degraded Service")
    components = [
        make_component("api", "DegradedPerformance", group="Core", position=1, displayName="API"),
        make_component("db", "UnderMaintenance", group="Core", position=2, displayName="Database"),
        make_component("website", position=3, displayName="Website"),
    ]
    incident = make_incident(
        "api-errors",
        [
            ("Investigating", "Errors on the API.", ago(hours=2)),
            ("Identified", "A bad replica.\nTaking it out.", ago(hours=1)),
        ],
        components=[{"name": "api"}],
    )
    windows = [
        make_window("upgrade", "InProgress", currentOccurrence=(ago(hours=1), ago(hours=-1))),
        make_window("later", "Scheduled", nextOccurrence=(ago(days=-3), ago(days=-3, hours=-2))),
        make_window("sooner", "Scheduled", nextOccurrence=(ago(days=-1), ago(days=-1, hours=-1))),
        make_window("off", "Cancelled"),
    ]
    assert render_status(page, components, [incident], windows, NOW) == (
        "Example Inc.\n"
        "Status: Partially Degraded Service (indicator: Minor)\n"
        "As of 2026-05-10 14:07 CEST (Europe/Berlin)\n"
        "\n"
        "Components:\n"
        "  Core\n"
        "    API       Degraded Performance\n"
        "    Database  Under Maintenance\n"
        "  Website     Operational\n"
        "\n"
        "Open incidents:\n"
        "  Incident api-errors (statusincident/api-errors)\n"
        "    Identified, impact Minor, since 2026-05-10 12:07 CEST, affects API\n"
        "    Latest update: Identified at 2026-05-10 13:07 CEST: A bad replica. Taking it out.\n"
        "\n"
        "Maintenance in progress:\n"
        "  Maintenance upgrade (maintenancewindow/upgrade)\n"
        "    2026-05-10 13:07 to 15:07 CEST, affects Database\n"
        "\n"
        "Upcoming maintenance:\n"
        "  Maintenance sooner (maintenancewindow/sooner)\n"
        "    2026-05-11 14:07 to 15:07 CEST, affects Database\n"
        "  Maintenance later (maintenancewindow/later)\n"
        "    2026-05-13 14:07 to 16:07 CEST, affects Database\n"
    )


def test_render_status_before_the_operator_reports() -> None:
    """Without status, the page says so instead of guessing; empty sections say none."""
    text = render_status(make_page("Mars/Olympus"), [make_component("api", None)], [], [], NOW)
    assert text.splitlines()[:3] == [
        "Example Inc.",
        "Status: unknown (the operator has not reported yet)",
        "As of 2026-05-10 12:07 UTC (Mars/Olympus is unknown here, times in UTC)",
    ]
    assert "  api  Unknown (not reconciled yet)" in text
    assert text.count("  none") == 3


def test_render_history() -> None:
    """History: the open incidents, then resolved and ended maintenance, newest first."""
    page = make_page()
    since = history_start(NOW, BERLIN, 7)
    incidents = [
        make_incident(
            "api-down",
            [("Resolved", "fixed", ago(hours=6))],
            resolved_at=ago(hours=6),
            impact="Major",
        ),
        make_incident("slow", [("Monitoring", "watching", ago(days=90))]),
    ]
    window = make_window("upgrade", "Completed", lastOccurrence=(ago(days=2, hours=2), ago(days=2)))
    events = past_events(incidents, [window], since)
    text = render_history(page, 7, since, unresolved(incidents), events, NOW)
    assert text == (
        "Example Inc.\n"
        "History of the last 7 days: since 2026-05-04 00:00 CEST\n"
        "As of 2026-05-10 14:07 CEST (Europe/Berlin)\n"
        "\n"
        "Unresolved incidents:\n"
        "  Incident slow (statusincident/slow)\n"
        "    Monitoring, impact Minor, since 2026-02-09 13:07 CET\n"
        "    Latest update: Monitoring at 2026-02-09 13:07 CET: watching\n"
        "\n"
        "Resolved incidents and completed or cancelled maintenance, newest first:\n"
        "  2026-05-10 08:07 CEST  Resolved   statusincident/api-down    Incident api-down"
        " (impact Major)\n"
        "  2026-05-08 14:07 CEST  Completed  maintenancewindow/upgrade  Maintenance upgrade"
        " (2026-05-08 12:07 to 14:07 CEST)\n"
    )


def test_render_history_of_one_day_with_nothing() -> None:
    """--days 1 reads as today; an empty history says none."""
    since = history_start(NOW, BERLIN, 1)
    text = render_history(make_page(), 1, since, [], [], NOW)
    assert "History of today: since 2026-05-10 00:00 CEST" in text
    assert text.endswith("newest first:\n  none\n")


def test_render_status_shows_uptime() -> None:
    """Components with a known creation time show their 90-day uptime, as the public page does."""
    created = z(NOW - timedelta(days=200))
    outage = {"status": "MajorOutage", "since": z(ago(hours=36)), "until": z(ago(hours=36 - 9))}
    body = {
        "metadata": {"name": "api", "creationTimestamp": created},
        "spec": {"page": "example"},
        "status": {"status": "Operational", "history": [outage]},
    }
    quiet = {**body, "metadata": {"name": "db", "creationTimestamp": created}, "status": {}}
    text = render_status(make_page(), [Component.parse(body), Component.parse(quiet)], [], [], NOW)
    assert "  api  Operational                    99.58% uptime (90 days)\n" in text
    assert "  db   Unknown (not reconciled yet)  100.00% uptime (90 days)\n" in text


def test_status_at_a_time_to_come_follows_the_maintenance_planned() -> None:
    """--at: the window running then puts its component under maintenance; the open incident
    counts as it is now; a resolved one does not; the header says what is planned."""
    from statuspage_operator.cli.forecast import forecast

    page_obj = {"metadata": {"name": "example"}, "spec": {"title": "Example Inc."}}

    def component(name: str, **spec: Any) -> dict[str, Any]:
        status = {"status": "Operational"}
        return {"metadata": {"name": name}, "spec": {"page": "example", **spec}, "status": status}

    at = NOW + timedelta(days=3, hours=1)
    window = {
        "metadata": {"name": "upgrade"},
        "spec": {
            "page": "example",
            "title": "Database upgrade",
            "components": ["db"],
            "startTime": z(NOW + timedelta(days=3)),
            "endTime": z(NOW + timedelta(days=3, hours=2)),
        },
        "status": {"phase": "Scheduled"},
    }
    incident = {
        "metadata": {"name": "slow"},
        "spec": {"page": "example", "title": "Slow API", "impact": "Minor",
                 "components": [{"name": "api"}]},
    }  # fmt: skip
    page, components, windows = forecast(
        Page.parse(page_obj),
        [component("api"), component("db"), component("web", manualStatus="MajorOutage")],
        [incident],
        [window],
        at,
    )
    statuses = {c.name: c.status for c in components}
    assert statuses == {
        "api": "DegradedPerformance",
        "db": "UnderMaintenance",
        "web": "MajorOutage",
    }
    assert (page.indicator, page.description) == ("Major", "Partial System Outage")
    [planned] = windows
    assert planned.phase == "InProgress"
    assert planned.current == Span(NOW + timedelta(days=3), NOW + timedelta(days=3, hours=2))
    text = render_status(page, components, [Incident.parse(incident)], windows, at, planned=True)
    assert text.splitlines()[2].startswith("At 2026-05-13 13:07 UTC")
    assert "incidents as they are now" in text.splitlines()[3]
    assert (
        "Database upgrade (maintenancewindow/upgrade)" in text.split("Maintenance in progress")[1]
    )
    assert "uptime" not in text
    # Three hours later, the window is over and db is back.
    _, later, _ = forecast(
        Page.parse(page_obj), [component("db")], [], [window], at + timedelta(hours=2)
    )
    assert [c.status for c in later] == ["Operational"]


def test_status_marks_a_draft_for_cluster_users() -> None:
    """A draft is listed among open incidents, marked as not public, with how to publish it."""
    draft = make_incident(
        "alert-x", [("Investigating", "HighErrorRate fires.", ago(minutes=3))], draft=True
    )
    public = make_incident("boom", [("Identified", "A bad deploy.", ago(minutes=5))])
    text = render_status(make_page(), [], [draft, public], [], ago())
    [draft_line] = [line for line in text.splitlines() if "statusincident/alert-x" in line]
    [public_line] = [line for line in text.splitlines() if "statusincident/boom" in line]
    assert "DRAFT: not public" in draft_line
    assert "kubectl statuspage publish" in draft_line
    assert "DRAFT" not in public_line
