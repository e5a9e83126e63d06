"""What people filter and plan with, against the real API server: field selectors, the columns
of a recurring window, and overlapping maintenance."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from e2e.kube import Kube, condition, wait_for
from e2e.objects import make_component, make_incident, make_page, make_window, stamp

pytestmark = pytest.mark.usefixtures("operator")

SAMPLES_NOW = Path(__file__).resolve().parents[2] / "manifests" / "samples-now"


def names(kube: Kube, namespace: str, resource: str, selector: str) -> list[str]:
    """`kubectl get RESOURCE --field-selector SELECTOR -o name`, without the kind prefix."""
    out = kube.run("get", resource, "-n", namespace, "--field-selector", selector, "-o", "name")
    return sorted(line.split("/", 1)[1] for line in out.stdout.split())


def test_field_selectors_filter_by_page_and_status(kube: Kube, namespace: str) -> None:
    """spec.page and status.phase for windows; phase and impact for incidents; components."""
    now = datetime.now(UTC)
    kube.apply(
        namespace,
        make_page(),
        make_page("other"),
        make_component("api"),
        make_component("db"),
        make_component("web", page="other"),
        make_window("running", now - timedelta(minutes=5), now + timedelta(hours=1), ["api"]),
        make_window("later", now + timedelta(days=1), now + timedelta(days=1, hours=1), ["db"]),
        make_window(
            "elsewhere", now - timedelta(minutes=5), now + timedelta(hours=1), page="other"
        ),
        make_incident("outage", [{"name": "db"}], impact="Major"),
        make_incident(
            "over", [], updates=[{"status": "Resolved", "message": "It is over."}], impact="Minor"
        ),
    )
    wait_for(
        lambda: names(kube, namespace, "mw", "status.phase=InProgress") == ["elsewhere", "running"],
        what="windows InProgress",
    )
    assert names(kube, namespace, "mw", "spec.page=example,status.phase=InProgress") == ["running"]
    assert names(kube, namespace, "mw", "spec.page=example,status.phase=Scheduled") == ["later"]
    wait_for(
        lambda: names(kube, namespace, "si", "status.phase=Resolved") == ["over"],
        what="incident resolved",
    )
    assert names(kube, namespace, "si", "spec.page=example,status.phase!=Resolved") == ["outage"]
    assert names(kube, namespace, "si", "spec.impact=Major") == ["outage"]
    wait_for(
        lambda: (
            names(kube, namespace, "comp", "spec.page=example,status.status!=Operational")
            == ["api", "db"]
        ),
        what="components under maintenance and in an outage",
    )
    assert names(kube, namespace, "comp", "status.status=UnderMaintenance") == ["api"]
    assert names(kube, namespace, "comp", "spec.page=other") == ["web"]


def test_a_weekly_series_shows_its_next_occurrence_in_the_default_columns(
    kube: Kube, namespace: str
) -> None:
    """`kubectl get mw`: Start and End of the next occurrence; the first start only with -o wide."""
    first = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    kube.apply(
        namespace,
        make_page(),
        make_component("api"),
        make_window(
            "weekly",
            first,
            first + timedelta(hours=1),
            ["api"],
            recurrence={"rrule": "FREQ=WEEKLY", "timeZone": "UTC"},
        ),
    )
    following = first + timedelta(weeks=3)
    wait_for(lambda: kube.status("mw", "weekly", namespace).get("occurrence"), what="occurrence")
    table = kube.run("get", "mw", "weekly", "-n", namespace).stdout
    header, row = table.splitlines()
    assert header.split()[:5] == ["NAME", "PAGE", "PHASE", "START", "END"]
    assert row.split()[:5] == [
        "weekly",
        "example",
        "Scheduled",
        stamp(following),
        stamp(following + timedelta(hours=1)),
    ]
    assert stamp(first) not in table
    wide = kube.run("get", "mw", "weekly", "-n", namespace, "-o", "wide").stdout
    assert "FIRST-START" in wide
    assert stamp(first) in wide
    assert "FREQ=WEEKLY" in wide


def test_an_overlapping_window_names_the_other_and_warns_once(kube: Kube, namespace: str) -> None:
    """The second window on api at the same time gets a note and one Warning; it still applies."""
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    kube.apply(
        namespace,
        make_page(),
        make_component("api"),
        make_component("db"),
        make_window("first", start, start + timedelta(hours=2), ["api"]),
        make_window("apart", start, start + timedelta(hours=2), ["db"]),
    )
    wait_for(lambda: kube.status("mw", "first", namespace).get("phase"), what="first reconciled")
    kube.apply(
        namespace,
        make_window("second", start + timedelta(hours=1), start + timedelta(hours=3), ["api"]),
    )
    status = wait_for(
        lambda: (s := kube.status("mw", "second", namespace)).get("overlaps") and s,
        what="the overlap noted",
    )
    assert status["overlaps"] == [
        {
            "window": "first",
            "components": ["api"],
            "start": stamp(start + timedelta(hours=1)),
            "end": stamp(start + timedelta(hours=2)),
        }
    ]
    assert status["phase"] == "Scheduled"
    # The window that was there first notes it when its own spec is applied again (an edit),
    # with a Warning then: its planner is looking.
    assert "overlaps" not in kube.status("mw", "first", namespace)
    kube.run(
        "patch", "mw", "first", "-n", namespace, "--type=merge", "-p",
        '{"spec": {"description": "the first one"}}',
    )  # fmt: skip
    wait_for(
        lambda: (
            [o["window"] for o in kube.status("mw", "first", namespace).get("overlaps") or ()]
            == ["second"]
        ),
        what="the first window noting the second",
    )
    warnings = wait_for(
        lambda: [
            e for e in kube.events(namespace, "second") if e["reason"] == "MaintenanceOverlaps"
        ],
        what="the Warning Event",
    )
    [warning] = warnings
    assert warning["type"] == "Warning"
    assert "maintenancewindow/first on api" in warning["message"]
    # An edit that keeps the overlap does not warn again; `apart` overlaps nothing.
    kube.run(
        "patch", "mw", "second", "-n", namespace, "--type=merge", "-p",
        '{"spec": {"description": "moved by a minute"}}',
    )  # fmt: skip
    wait_for(
        lambda: kube.status("mw", "second", namespace).get("observedGeneration") == 2,
        what="the edit reconciled",
    )
    events = kube.events(namespace, "second")
    assert [e["reason"] for e in events].count("MaintenanceOverlaps") == 1
    first_events = [e["reason"] for e in kube.events(namespace, "first")]
    assert first_events.count("MaintenanceOverlaps") == 1
    assert "overlaps" not in kube.status("mw", "apart", namespace)


def test_the_samples_show_the_walkthrough_on_any_day(kube: Kube, namespace: str) -> None:
    """What `make run` applies: a window a minute away, one in days, a weekly series' next one,
    and a page published through a policy naming the namespace."""
    env = {**os.environ, "SAMPLES_NAMESPACE": namespace}
    subprocess.run([str(SAMPLES_NOW / "times.sh")], check=True, env=env)
    applied = datetime.now(UTC)
    kube.run("apply", "-n", namespace, "-k", str(SAMPLES_NOW))

    def occurrence(name: str) -> tuple[str, datetime, datetime] | None:
        status = kube.status("mw", name, namespace)
        shown = status.get("occurrence")
        if not shown:
            return None
        start, end = (
            datetime.fromisoformat(shown[k].replace("Z", "+00:00")) for k in ("start", "end")
        )
        return status["phase"], start, end

    phase, start, end = wait_for(lambda: occurrence("cdn-cache-flush"), what="cdn-cache-flush")
    assert phase == "Scheduled"
    assert timedelta(seconds=50) < start - applied <= timedelta(seconds=60)
    assert end - start == timedelta(minutes=10)
    phase, start, _ = wait_for(lambda: occurrence("database-upgrade"), what="database-upgrade")
    assert phase == "Scheduled"
    assert timedelta(days=2) < start - applied < timedelta(days=4)
    phase, start, end = wait_for(lambda: occurrence("weekly-patching"), what="weekly-patching")
    # Sunday 02:00-03:00 Berlin: the next one, or the one running if this is that hour.
    assert (phase == "Scheduled" and applied < start <= applied + timedelta(days=7)) or (
        phase == "InProgress" and start <= applied < end
    ), (phase, start, end)
    wait_for(
        lambda: (
            condition(kube.status("sp", "example", namespace), "Published").get("status") == "True"
        ),
        what="the sample page published",
    )
    assert (start.weekday(), end - start) == (6, timedelta(hours=1))
    assert [
        line.split()[0]
        for line in kube.run("get", "sp", "-n", namespace, "--no-headers").stdout.splitlines()
    ] == ["example"]
    wait_for(
        lambda: kube.status("si", "api-errors", namespace).get("phase") == "Identified",
        what="the sample incident",
    )
    # No ConfigMap of the times is applied: it only carried them into the windows.
    configmaps = kube.run("get", "configmap", "-n", namespace, "-o", "name").stdout
    assert "sample-times" not in configmaps
