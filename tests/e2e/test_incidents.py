"""Status incidents against the real control plane: effects, timeline, deletion, restarts."""

from __future__ import annotations

import json
import time

import pytest

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, component, condition, wait_for
from e2e.objects import in_seconds, make_incident, make_window

pytestmark = pytest.mark.usefixtures("operator")


def append(kube: Kube, namespace: str, name: str, status: str, message: str) -> None:
    """Append an update with a JSON patch, as the plugin does."""
    patch = [
        {"op": "add", "path": "/spec/updates/-", "value": {"status": status, "message": message}}
    ]
    kube.run("patch", "si", name, "-n", namespace, "--type=json", "-p", json.dumps(patch))


def test_incident_degrades_its_components(kube: Kube, namespace: str, page: str) -> None:
    """An open incident gives each component its status; the page rolls up."""
    kube.apply(
        namespace,
        make_incident(
            "outage",
            [{"name": "api"}, {"name": "db", "status": "MajorOutage"}],
            impact="Major",
            updates=[{"status": "Investigating", "message": "Looking into errors"}],
        ),
    )
    wait_for(lambda: component(kube, namespace, "db") == "MajorOutage", 5)
    assert component(kube, namespace, "api") == "PartialOutage"
    page_status = wait_for(
        lambda: (s := kube.status("sp", page, namespace)).get("unresolvedIncidents") == 1 and s, 5
    )
    assert (page_status["indicator"], page_status["description"]) == (
        "Major",
        "Partial System Outage",
    )
    status = kube.status("si", "outage", namespace)
    assert status["phase"] == "Investigating"
    assert [e["message"] for e in status["timeline"]] == ["Looking into errors"]


def test_worse_of_maintenance_and_incident(kube: Kube, namespace: str, page: str) -> None:
    """A maintenance window and an incident on one component: the worse status shows."""
    kube.apply(namespace, make_window("maint", in_seconds(-5), in_seconds(3600), ["api"]))
    wait_for(lambda: component(kube, namespace, "api") == "UnderMaintenance", 5)
    kube.apply(namespace, make_incident("slow", [{"name": "api"}], impact="Minor"))
    wait_for(lambda: component(kube, namespace, "api") == "DegradedPerformance", 5)
    append(kube, namespace, "slow", "Resolved", "Fixed")
    wait_for(lambda: component(kube, namespace, "api") == "UnderMaintenance", 5)
    status = kube.status("comp", "api", namespace)
    assert status["activeMaintenanceWindows"] == ["maint"]
    assert status["unresolvedIncidents"] == []


def test_resolve_and_reopen(kube: Kube, namespace: str, page: str) -> None:
    """Resolved drops the effect at once; a later update reopens and clears resolvedAt."""
    kube.apply(namespace, make_incident("flaky", [{"name": "db"}], impact="Critical"))
    wait_for(lambda: component(kube, namespace, "db") == "MajorOutage", 5)
    append(kube, namespace, "flaky", "Resolved", "Recovered")
    wait_for(lambda: component(kube, namespace, "db") == "Operational", 5)
    assert kube.status("si", "flaky", namespace).get("resolvedAt")
    append(kube, namespace, "flaky", "Identified", "It is back")
    wait_for(lambda: component(kube, namespace, "db") == "MajorOutage", 5)
    status = kube.status("si", "flaky", namespace)
    assert status["phase"] == "Identified"
    assert "resolvedAt" not in status


def test_impact_none_changes_nothing(kube: Kube, namespace: str, page: str) -> None:
    """An incident with impact None is shown but leaves its components alone."""
    kube.apply(namespace, make_incident("notice", [{"name": "api"}], impact="None"))
    wait_for(lambda: kube.status("si", "notice", namespace).get("phase") == "Investigating", 5)
    assert component(kube, namespace, "api") == "Operational"
    # The page gathers a burst of changes into one write, 200 ms after the first.
    wait_for(lambda: kube.status("sp", page, namespace)["unresolvedIncidents"] == 1, 2)


def test_deleting_an_open_incident_restores_components(
    kube: Kube, namespace: str, page: str
) -> None:
    """The finalizer holds deletion until the components no longer show the incident."""
    kube.apply(namespace, make_incident("temp", [{"name": "api"}], impact="Major"))
    wait_for(lambda: component(kube, namespace, "api") == "PartialOutage", 5)
    incident = kube.get("si", "temp", namespace)
    assert incident is not None
    assert "statuspage.dev/finalizer" in incident["metadata"]["finalizers"]
    kube.run("delete", "si", "temp", "-n", namespace, "--timeout=10s")
    assert component(kube, namespace, "api") == "Operational"


def test_update_edit_is_rejected(kube: Kube, namespace: str, page: str) -> None:
    """The API server rejects changing a published update (append-only)."""
    kube.apply(
        namespace,
        make_incident("fixed", updates=[{"status": "Investigating", "message": "original"}]),
    )
    patch = [{"op": "replace", "path": "/spec/updates/0/message", "value": "rewritten"}]
    result = kube.run(
        "patch",
        "si",
        "fixed",
        "-n",
        namespace,
        "--type=json",
        "-p",
        json.dumps(patch),
        check=False,
    )
    assert result.returncode != 0
    assert "append-only" in result.stderr


def test_timeline_survives_restart(
    kube: Kube, namespace: str, page: str, operator: OperatorProcess
) -> None:
    """Stamped times never change, also across an operator restart."""
    kube.apply(namespace, make_incident("stable", [{"name": "api"}]))
    append(kube, namespace, "stable", "Identified", "Found it")
    timeline = wait_for(
        lambda: len(t := kube.status("si", "stable", namespace).get("timeline") or []) == 1 and t,
        5,
    )
    operator.stop()
    try:
        time.sleep(1.5)
    finally:
        operator.start()
    append(kube, namespace, "stable", "Monitoring", "Watching")
    later = wait_for(
        lambda: len(t := kube.status("si", "stable", namespace).get("timeline") or []) == 2 and t,
        5,
    )
    assert later[0] == timeline[0]
    assert later[1]["at"] > later[0]["at"]
    ready = condition(kube.status("si", "stable", namespace), "Ready")
    assert ready["status"] == "True"
