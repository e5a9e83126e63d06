"""`kubectl statuspage status` and alerts: where a status comes from, and what fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from statuspage_operator.api.alerts import render_alerts
from statuspage_operator.cli.forecast import forecast
from statuspage_operator.cli.model import Component, Page
from statuspage_operator.cli.render import render_status
from statuspage_operator.domain.alerting import AlertGroup, ComponentAlerts, ListedAlert

NOW = datetime(2026, 5, 10, 12, 7, tzinfo=UTC)  # 14:07 CEST
SPEC: dict[str, Any] = {"title": "Example Inc.", "timeZone": "Europe/Berlin"}
RECEIVING = {**SPEC, "alerts": {"receiverSecretRef": {"name": "a"}, "expireAfter": "1h"}}


def page_object(spec: dict[str, Any] = RECEIVING) -> dict[str, Any]:
    return {"metadata": {"name": "example"}, "spec": spec, "status": {}}


def api_object(seen: datetime = NOW) -> dict[str, Any]:
    """`api`, moved by one critical alert the receiver listed, as the operator wrote it."""
    group = AlertGroup("g1", seen, firing=2, severities={"critical": 2})
    listed = (
        ListedAlert(
            "fp1", "g1", NOW - timedelta(minutes=7), "critical", "5xx above 5%", "http://p/1"
        ),
        ListedAlert("fp2", "g1", None, "", "", ""),
    )
    condition = {
        "type": "AlertsFiring",
        "status": "True",
        "reason": "Moving",
        "message": "2 alerts fire (critical: 2); they ask MajorOutage",
    }
    return {
        "metadata": {"name": "api"},
        "spec": {"page": "example", "displayName": "API", "alerts": {"matchers": ["a=b"]}},
        "status": {
            "status": "MajorOutage",
            "statusFrom": "Alerts",
            "alertsFiring": 2,
            "conditions": [condition],
            "alerts": render_alerts(ComponentAlerts((group,), listed, 2)),
        },
    }


def db_object() -> dict[str, Any]:
    return {
        "metadata": {"name": "db"},
        "spec": {"page": "example", "manualStatus": "DegradedPerformance"},
        "status": {"status": "DegradedPerformance", "statusFrom": "Manual"},
    }


def test_status_shows_the_source_and_the_firing_alerts() -> None:
    """The component says `from alerts`; a section lists what fires with since, severity, link."""
    page = Page.parse(page_object())
    components = [Component.parse(api_object()), Component.parse(db_object())]
    text = render_status(page, components, [], [], NOW)
    assert "  API  Major Outage (from alerts)\n" in text
    assert "  db   Degraded Performance\n" in text
    assert (
        "Firing alerts:\n"
        "  API: 2 firing: Moving: 2 alerts fire (critical: 2); they ask MajorOutage\n"
        "    critical, since 2026-05-10 14:00 CEST: 5xx above 5% http://p/1\n"
        "    no severity: alert fp2\n"
    ) in text


def test_a_page_without_alerts_shows_no_alert_section() -> None:
    """Nothing fires: the output is what it was before alerts existed."""
    page = Page.parse(page_object(SPEC))
    text = render_status(page, [Component.parse(db_object())], [], [], NOW)
    assert "Firing alerts" not in text


def test_status_at_a_later_time_lets_a_lost_resolve_expire() -> None:
    """`--at` derives alerts as they will be with no new write: past expireAfter, they are gone."""
    page = Page.parse(page_object())
    seen = NOW - timedelta(minutes=30)
    _, soon, _ = forecast(page, [api_object(seen)], [], [], NOW + timedelta(minutes=10))
    _, later, _ = forecast(page, [api_object(seen)], [], [], NOW + timedelta(minutes=31))
    assert (soon[0].status, soon[0].status_from) == ("MajorOutage", "Alerts")
    assert (later[0].status, later[0].status_from) == ("Operational", None)
