"""Status from alerts against the real control plane, the operator running.

`status.alerts` is written here exactly as the alerts receiver writes it (a merge patch of
`/status` with `render_alerts`), so these tests need no receiver and no Alertmanager: what they
prove is the operator's and the page server's reading of it (docs/behaviour.md, "Status from
alerts").
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, component, condition, wait_for
from e2e.objects import in_seconds, make_component, make_incident, make_page, make_window
from e2e.test_plugin import ok, plugin
from e2e.test_server import ServerProcess, make_server_kubeconfig
from statuspage_operator.api.alerts import render_alerts
from statuspage_operator.domain.alerting import AlertGroup, ComponentAlerts, Held, ListedAlert

pytestmark = pytest.mark.usefixtures("operator")

MATCHERS = {"matchers": ['service="api"']}


def alerts_page(kube: Kube, namespace: str, **alerts: Any) -> None:
    """A page that receives alerts (the Secret itself is the receiver's), with api and db."""
    spec = {"receiverSecretRef": {"name": "alerts"}, **alerts}
    kube.apply(
        namespace,
        make_page(alerts=spec, visibility="Public"),
        make_component("api", alerts=MATCHERS),
        make_component("db"),
    )
    wait_for(lambda: component(kube, namespace, "db") == "Operational", what="components ready")


def firing(severity: str = "critical", seen: datetime | None = None) -> ComponentAlerts:
    """One group with one firing alert of a severity, sent by Alertmanager at `seen`."""
    at = seen or whole_now()
    group = AlertGroup(
        key="9f0c",
        seen=at,
        name="HighErrorRate",
        summary="5xx above 5%",
        since=at - timedelta(minutes=1),
        firing=1,
        severities={severity: 1},
    )
    alert = ListedAlert("fp01", "9f0c", at, severity, "5xx above 5%", "http://prom/graph")
    return ComponentAlerts((group,), (alert,), 1)


def whole_now() -> datetime:
    """The wall clock in whole seconds, as the status records times."""
    return datetime.now(UTC).replace(microsecond=0)


def write_alerts(kube: Kube, namespace: str, name: str, alerts: ComponentAlerts) -> None:
    """What the receiver writes: a merge patch of `status.alerts` (every key present)."""
    patch = json.dumps({"status": {"alerts": render_alerts(alerts)}})
    kube.run(
        "patch", "comp", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", patch
    )


def alerts_condition(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """The AlertsFiring condition of a component."""
    return condition(kube.status("comp", name, namespace), "AlertsFiring")


def test_critical_moves_the_component_and_the_hold_ends_on_time(kube: Kube, namespace: str) -> None:
    """Critical -> MajorOutage from Alerts; resolved, it stays for the hold, then Operational."""
    alerts_page(kube, namespace, hold="3s")
    write_alerts(kube, namespace, "api", firing())
    wait_for(lambda: component(kube, namespace, "api") == "MajorOutage", 5, what="outage")
    status = kube.status("comp", "api", namespace)
    assert (status["statusFrom"], status["alertsFiring"]) == ("Alerts", 1)
    moving = condition(status, "AlertsFiring")
    assert (moving["status"], moving["reason"]) == ("True", "Moving")
    assert "1 alert fires (critical: 1); they ask MajorOutage" in moving["message"]
    table = kube.run("get", "comp", "-n", namespace).stdout.split("\n")
    assert table[0].split()[:7] == ["NAME", "PAGE", "GROUP", "STATUS", "FROM", "ALERTS", "READY"]
    assert table[1].split()[:6] == ["api", "example", "MajorOutage", "Alerts", "1", "True"]
    assert table[2].split()[:4] == ["db", "example", "Operational", "True"]
    text = ok(plugin(kube, "-n", namespace, "status", "example"))
    assert "  api  Major Outage (from alerts)" in text
    assert "  api: 1 firing: Moving: 1 alert fires (critical: 1); they ask MajorOutage\n" in text
    assert ": 5xx above 5% http://prom/graph\n" in text

    resolved_at = whole_now()
    until = resolved_at + timedelta(seconds=3)
    group = AlertGroup("9f0c", resolved_at, "HighErrorRate", held=(Held("critical", until),))
    write_alerts(kube, namespace, "api", ComponentAlerts((group,)))
    wait_for(lambda: kube.status("comp", "api", namespace).get("alertsFiring") == 0, 5)
    assert component(kube, namespace, "api") == "MajorOutage"  # held, no write needed
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 8, what="hold ends")
    assert time.time() >= until.timestamp()
    status = kube.status("comp", "api", namespace)
    assert "statusFrom" not in status
    assert condition(status, "AlertsFiring")["reason"] == "Quiet"
    # The alert-driven outage is recorded for uptime like any other.
    assert [entry["status"] for entry in status["history"]] == ["MajorOutage"]
    assert "until" in status["history"][0]


def test_a_lost_resolve_expires(kube: Kube, namespace: str) -> None:
    """A group Alertmanager stops sending no longer counts after expireAfter."""
    alerts_page(kube, namespace, expireAfter="4s")
    seen = whole_now()
    write_alerts(kube, namespace, "api", firing(seen=seen))
    wait_for(lambda: component(kube, namespace, "api") == "MajorOutage", 5, what="outage")
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 10, what="expiry")
    assert time.time() >= (seen + timedelta(seconds=4)).timestamp()
    assert kube.status("comp", "api", namespace)["alertsFiring"] == 0


def test_a_hold_that_ends_while_the_operator_is_down(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    """Killed during a hold, the operator finds the hold over when it starts: one change, once."""
    alerts_page(kube, namespace)
    sent = whole_now()
    until = sent + timedelta(seconds=2)
    group = AlertGroup("9f0c", sent, "HighErrorRate", held=(Held("critical", until),))
    write_alerts(kube, namespace, "api", ComponentAlerts((group,)))
    wait_for(lambda: component(kube, namespace, "api") == "MajorOutage", 5, what="held outage")
    operator.stop(signal.SIGKILL)
    try:
        time.sleep(max(0.0, until.timestamp() - time.time()) + 0.5)
        assert component(kube, namespace, "api") == "MajorOutage"
    finally:
        operator.start()
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 10, what="caught up")

    def changes() -> list[str]:
        events = kube.events(namespace, "api")
        return sorted(e["message"] for e in events if e["reason"] == "ComponentStatusChanged")

    wait_for(lambda: len(changes()) >= 2, 10, what="both Events")
    time.sleep(1)
    assert changes() == ["MajorOutage -> Operational", "Operational -> MajorOutage"]


def test_maintenance_in_progress_sets_alerts_aside(kube: Kube, namespace: str) -> None:
    """During maintenance the component stays UnderMaintenance; the alerts stay listed."""
    alerts_page(kube, namespace)
    kube.apply(namespace, make_window("patching", in_seconds(-5), in_seconds(3600), ["api"]))
    wait_for(lambda: component(kube, namespace, "api") == "UnderMaintenance", 5)
    write_alerts(kube, namespace, "api", firing())
    wait_for(lambda: alerts_condition(kube, namespace, "api").get("status") == "True", 5)
    status = kube.status("comp", "api", namespace)
    assert (status["status"], status["statusFrom"]) == ("UnderMaintenance", "Maintenance")
    assert condition(status, "AlertsFiring")["reason"] == "UnderMaintenance"
    assert [a["fingerprint"] for a in status["alerts"]["listed"]] == ["fp01"]


def test_an_incident_naming_the_component_stands(kube: Kube, namespace: str) -> None:
    """An unresolved incident's status stands over the alerts; resolved, the alerts count."""
    alerts_page(kube, namespace)
    kube.apply(namespace, make_incident("slow", [{"name": "api"}], impact="Minor"))
    wait_for(lambda: component(kube, namespace, "api") == "DegradedPerformance", 5)
    write_alerts(kube, namespace, "api", firing())
    wait_for(lambda: alerts_condition(kube, namespace, "api").get("reason") == "IncidentOpen", 5)
    status = kube.status("comp", "api", namespace)
    assert (status["status"], status["statusFrom"]) == ("DegradedPerformance", "Incident")
    patch = [
        {"op": "add", "path": "/spec/updates/-", "value": {"status": "Resolved", "message": "ok"}}
    ]
    kube.run("patch", "si", "slow", "-n", namespace, "--type=json", "-p", json.dumps(patch))
    wait_for(lambda: component(kube, namespace, "api") == "MajorOutage", 5, what="alerts count")


def test_paused_and_manual(kube: Kube, namespace: str) -> None:
    """Paused: alerts move nothing; a manual MajorOutage wins over a warning."""
    alerts_page(kube, namespace)
    kube.apply(namespace, make_component("api", alerts={**MATCHERS, "paused": True}))
    write_alerts(kube, namespace, "api", firing())
    wait_for(lambda: alerts_condition(kube, namespace, "api").get("reason") == "Paused", 5)
    assert component(kube, namespace, "api") == "Operational"
    kube.apply(namespace, make_component("api", alerts=MATCHERS, manualStatus="MajorOutage"))
    write_alerts(kube, namespace, "api", firing("warning"))

    def manual_wins() -> dict[str, Any] | None:
        status = kube.status("comp", "api", namespace)
        return status if condition(status, "AlertsFiring").get("reason") == "Moving" else None

    status = wait_for(manual_wins, 5, what="alerts moving again")
    assert (status["status"], status["statusFrom"]) == ("MajorOutage", "Manual")


def test_a_matcher_that_does_not_parse(kube: Kube, namespace: str) -> None:
    """InvalidSpec names the matcher and RE2's complaint; the other components keep working."""
    alerts_page(kube, namespace)
    kube.apply(namespace, make_component("api", alerts={"matchers": ['job="x"', 'job=~"(("']}))

    def stalled() -> dict[str, Any]:
        return condition(kube.status("comp", "api", namespace), "Stalled")

    found = wait_for(stalled, 5, what="Stalled")
    assert found["reason"] == "InvalidSpec"
    assert found["message"].startswith("spec.alerts.matchers[1]: 'job=~\"((\"': not an RE2")
    kube.apply(namespace, make_component("db", manualStatus="PartialOutage"))
    wait_for(lambda: component(kube, namespace, "db") == "PartialOutage", 5, what="db still works")


@pytest.fixture(scope="module")
def server(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The page server, under its own read-only identity."""
    config = make_server_kubeconfig(kube, tmp_path_factory.mktemp("server"))
    running = ServerProcess(config, tmp_path_factory.mktemp("server-log") / "server.log")
    yield running
    running.stop()


def test_summary_json_shows_the_same(kube: Kube, published: str, server: ServerProcess) -> None:
    """summary.json derives the alert-driven status itself, and shows no alert."""
    namespace = published
    alerts_page(kube, namespace, expireAfter="5s")
    seen = whole_now()
    write_alerts(kube, namespace, "api", firing(seen=seen))
    path = f"/{namespace}/example/api/v2/summary.json"

    def api_status() -> str:
        summary = server.json(path)
        return str(next(c["status"] for c in summary["components"] if c["name"] == "api"))

    wait_for(lambda: api_status() == "major_outage", 5, what="summary.json in outage")
    body = json.dumps(server.json(path))
    assert "fp01" not in body
    assert "5xx above 5%" not in body
    # At the expiry the rendering is redone, whatever the operator writes.
    wait_for(lambda: api_status() == "operational", 10, what="summary.json after expiry")
    assert time.time() >= (seen + timedelta(seconds=5)).timestamp()
