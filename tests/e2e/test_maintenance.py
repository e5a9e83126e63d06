"""Maintenance windows against the real control plane, with the operator running."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, component, condition, wait_for
from e2e.objects import in_seconds, make_component, make_window

# A busy 2-core machine must not flake these; the tight figures live in `make bench`.
TOLERANCE = 2.5

pytestmark = pytest.mark.usefixtures("operator")


def phase(kube: Kube, namespace: str, name: str) -> str | None:
    """A window's phase."""
    return kube.status("mw", name, namespace).get("phase")


def wait_phase(kube: Kube, namespace: str, name: str, expected: str, timeout: float) -> float:
    """Wait for a window's phase; return the wall-clock time at which it was seen."""
    wait_for(lambda: phase(kube, namespace, name) == expected, timeout, what=f"{name} {expected}")
    return time.time()


def reasons(kube: Kube, namespace: str, name: str) -> list[str]:
    """The reasons of the Events recorded on an object, oldest first."""
    events = sorted(kube.events(namespace, name), key=lambda e: e["metadata"]["creationTimestamp"])
    return [e["reason"] for e in events]


def test_window_starts_and_completes_on_time(kube: Kube, namespace: str, page: str) -> None:
    """A window a few seconds ahead goes InProgress at start and Completed at end."""
    start, end = in_seconds(4), in_seconds(8)
    kube.apply(namespace, make_window("soon", start, end, ["api"]))
    assert wait_phase(kube, namespace, "soon", "Scheduled", 3)
    started = wait_phase(kube, namespace, "soon", "InProgress", 10)
    assert abs(started - start.timestamp()) < TOLERANCE
    assert component(kube, namespace, "api") == "UnderMaintenance"
    assert component(kube, namespace, "db") == "Operational"
    # The page gathers a burst of changes into one write, 200 ms after the first.
    wait_for(lambda: kube.status("sp", page, namespace)["indicator"] == "Maintenance", 2)
    completed = wait_phase(kube, namespace, "soon", "Completed", 10)
    assert abs(completed - end.timestamp()) < TOLERANCE
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 3, what="api back")
    status = kube.status("mw", "soon", namespace)
    assert status["lastOccurrence"]["start"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
    assert "currentOccurrence" not in status
    wait_for(lambda: reasons(kube, namespace, "soon").count("MaintenanceCompleted") == 1, 5)
    assert reasons(kube, namespace, "soon") == ["MaintenanceStarted", "MaintenanceCompleted"]


def test_overlapping_windows_keep_maintenance(kube: Kube, namespace: str, page: str) -> None:
    """The end of one window never clears maintenance another still holds."""
    kube.apply(
        namespace,
        make_window("first", in_seconds(-5), in_seconds(3), ["api"]),
        make_window("second", in_seconds(-5), in_seconds(30), ["api"]),
    )
    wait_for(lambda: component(kube, namespace, "api") == "UnderMaintenance", 5)
    wait_phase(kube, namespace, "first", "Completed", 8)
    time.sleep(0.5)
    assert component(kube, namespace, "api") == "UnderMaintenance"
    status = kube.status("comp", "api", namespace)
    assert status["activeMaintenanceWindows"] == ["second"]


def test_window_in_the_past_completes_without_touching_components(
    kube: Kube, namespace: str, page: str
) -> None:
    """A window created entirely in the past goes straight to Completed."""
    kube.apply(namespace, make_window("old", in_seconds(-600), in_seconds(-300), ["api"]))
    wait_phase(kube, namespace, "old", "Completed", 5)
    assert component(kube, namespace, "api") == "Operational"
    assert "MaintenanceStarted" not in reasons(kube, namespace, "old")


def test_restart_after_the_end_completes_once(
    kube: Kube, namespace: str, page: str, operator: OperatorProcess
) -> None:
    """Killed during a window, restarted after its end: Completed, each Event once."""
    kube.apply(namespace, make_window("crash", in_seconds(-1), in_seconds(3), ["api"]))
    wait_phase(kube, namespace, "crash", "InProgress", 5)
    wait_for(lambda: component(kube, namespace, "api") == "UnderMaintenance", 5)
    operator.stop(signal.SIGKILL)
    try:
        time.sleep(4)
        assert phase(kube, namespace, "crash") == "InProgress"
    finally:
        operator.start()
    wait_phase(kube, namespace, "crash", "Completed", 10)
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 5)
    time.sleep(1)
    assert reasons(kube, namespace, "crash") == ["MaintenanceStarted", "MaintenanceCompleted"]


def test_restart_reschedules_a_future_window(
    kube: Kube, namespace: str, page: str, operator: OperatorProcess
) -> None:
    """A window due while the operator was down starts at once when it comes back."""
    kube.apply(namespace, make_window("later", in_seconds(3), in_seconds(60), ["db"]))
    wait_phase(kube, namespace, "later", "Scheduled", 5)
    operator.stop()
    try:
        time.sleep(4)
    finally:
        operator.start()
    wait_phase(kube, namespace, "later", "InProgress", 10)
    wait_for(lambda: component(kube, namespace, "db") == "UnderMaintenance", 5)


def test_editing_times_reschedules(kube: Kube, namespace: str, page: str) -> None:
    """Moving a scheduled window's start closer makes it start at the new time."""
    kube.apply(namespace, make_window("moved", in_seconds(3600), in_seconds(7200), ["api"]))
    wait_phase(kube, namespace, "moved", "Scheduled", 5)
    start = in_seconds(3)
    kube.apply(namespace, make_window("moved", start, in_seconds(60), ["api"]))
    started = wait_phase(kube, namespace, "moved", "InProgress", 8)
    assert abs(started - start.timestamp()) < TOLERANCE


def test_shortening_a_window_in_progress_ends_it(kube: Kube, namespace: str, page: str) -> None:
    """An end moved to the past ends the window in progress at once."""
    start = in_seconds(-10)
    kube.apply(namespace, make_window("short", start, in_seconds(3600), ["api"]))
    wait_phase(kube, namespace, "short", "InProgress", 5)
    kube.apply(namespace, make_window("short", start, in_seconds(-1), ["api"]))
    wait_phase(kube, namespace, "short", "Completed", 5)
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 5)


def test_cancelling_a_window_in_progress(kube: Kube, namespace: str, page: str) -> None:
    """cancelled: true ends a window in progress now and restores its components."""
    kube.apply(namespace, make_window("stop", in_seconds(-10), in_seconds(3600), ["api"]))
    wait_for(lambda: component(kube, namespace, "api") == "UnderMaintenance", 5)
    kube.run(
        "patch", "mw", "stop", "-n", namespace, "--type=merge", "-p", '{"spec":{"cancelled":true}}'
    )
    wait_phase(kube, namespace, "stop", "Cancelled", 5)
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 5)
    wait_for(lambda: "MaintenanceCancelled" in reasons(kube, namespace, "stop"), 5)


def test_cancelling_a_scheduled_window(kube: Kube, namespace: str, page: str) -> None:
    """Cancelling a scheduled window only changes its phase."""
    kube.apply(
        namespace, make_window("nope", in_seconds(3600), in_seconds(7200), ["api"], cancelled=True)
    )
    wait_phase(kube, namespace, "nope", "Cancelled", 5)
    assert component(kube, namespace, "api") == "Operational"


def test_deleting_a_window_in_progress_restores_components(
    kube: Kube, namespace: str, page: str
) -> None:
    """The finalizer holds deletion until the components no longer show the window."""
    kube.apply(namespace, make_window("gone", in_seconds(-10), in_seconds(3600), ["api"]))
    wait_for(lambda: component(kube, namespace, "api") == "UnderMaintenance", 5)
    window = kube.get("mw", "gone", namespace)
    assert window is not None
    assert "statuspage.dev/finalizer" in window["metadata"]["finalizers"]
    kube.run("delete", "mw", "gone", "-n", namespace, "--timeout=10s")
    assert component(kube, namespace, "api") == "Operational"


def test_completed_window_carries_no_finalizer(kube: Kube, namespace: str, page: str) -> None:
    """A completed window sheds its finalizer: it can be deleted without the operator."""
    kube.apply(namespace, make_window("done", in_seconds(-60), in_seconds(-30), ["api"]))
    wait_phase(kube, namespace, "done", "Completed", 5)
    kube.apply(namespace, make_window("ending", in_seconds(-5), in_seconds(2), ["api"]))
    wait_phase(kube, namespace, "ending", "Completed", 8)
    for name in ("done", "ending"):
        # The status goes first at an edge; the finalizer comes off within a few seconds.
        wait_for(
            lambda name=name: (  # type: ignore[misc]
                not (kube.get("mw", name, namespace) or {})["metadata"].get("finalizers")
            ),
            5,
            what=f"{name} without finalizer",
        )


def test_missing_component_is_reported_and_heals(kube: Kube, namespace: str, page: str) -> None:
    """A window naming a missing component applies to the rest and heals when it appears."""
    kube.apply(
        namespace, make_window("partial", in_seconds(-5), in_seconds(3600), ["api", "cache"])
    )
    ready = wait_for(lambda: condition(kube.status("mw", "partial", namespace), "Ready") or None, 5)
    assert ready["status"] == "False"
    assert ready["reason"] == "ComponentNotFound"
    assert "cache" in ready["message"]
    assert component(kube, namespace, "api") == "UnderMaintenance"
    kube.apply(namespace, make_component("cache"))
    wait_for(lambda: component(kube, namespace, "cache") == "UnderMaintenance", 5)
    wait_for(
        lambda: condition(kube.status("mw", "partial", namespace), "Ready").get("status") == "True",
        5,
    )


def test_missing_page_is_reported(kube: Kube, namespace: str) -> None:
    """A window whose page does not exist is Ready False with reason PageNotFound."""
    kube.apply(namespace, make_window("orphan", in_seconds(3600), in_seconds(7200), page="nope"))
    ready = wait_for(lambda: condition(kube.status("mw", "orphan", namespace), "Ready") or None, 5)
    assert (ready["status"], ready["reason"]) == ("False", "PageNotFound")


def test_kubectl_wait_for_ready(kube: Kube, namespace: str, page: str) -> None:
    """`kubectl wait --for=condition=Ready` works for a window scheduled next week."""
    next_week = datetime.now(UTC) + timedelta(days=7)
    kube.apply(
        namespace, make_window("nextweek", next_week, next_week + timedelta(hours=1), ["db"])
    )
    kube.run("wait", "--for=condition=Ready", "--timeout=15s", "mw/nextweek", "-n", namespace)
    kube.run(
        "wait", "--for=condition=Ready", "--timeout=15s", "sp/example", "comp/db", "-n", namespace
    )


def test_printer_columns(kube: Kube, namespace: str, page: str) -> None:
    """`kubectl get` shows the phase, start and end of a window and the page's indicator."""
    start = datetime(2031, 1, 5, 2, 0, tzinfo=UTC)
    kube.apply(namespace, make_window("shown", start, start + timedelta(hours=2), ["db"]))
    wait_phase(kube, namespace, "shown", "Scheduled", 5)
    lines = kube.run("get", "mw", "shown", "-n", namespace).stdout.splitlines()
    header, row = lines[0].split(), lines[1].split()
    assert header[:6] == ["NAME", "PAGE", "PHASE", "START", "END", "READY"]
    assert row[:6] == [
        "shown",
        "example",
        "Scheduled",
        "2031-01-05T02:00:00Z",
        "2031-01-05T04:00:00Z",
        "True",
    ]
    page_row = kube.run("get", "sp", "example", "-n", namespace).stdout.splitlines()[1]
    assert "All Systems Operational" in page_row


def test_cel_rejects_end_before_start(kube: Kube, namespace: str) -> None:
    """The API server rejects a window whose end is not after its start."""
    bad = make_window("backwards", in_seconds(3600), in_seconds(60))
    result = kube.run("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(bad), check=False)
    assert result.returncode != 0
    assert "spec.endTime" in result.stderr
    assert "must be later than spec.startTime" in result.stderr


def test_namespace_deletion_with_a_window_in_progress_is_prompt(
    kube: Kube, page: str, namespace: str
) -> None:
    """Deleting a namespace whose window holds a finalizer completes promptly."""
    kube.apply(namespace, make_window("busy", in_seconds(-10), in_seconds(3600), ["api"]))
    wait_for(lambda: component(kube, namespace, "api") == "UnderMaintenance", 5)
    kube.run("delete", "namespace", namespace, "--wait=false")
    wait_for(
        lambda: kube.run("get", "namespace", namespace, check=False).returncode != 0,
        timeout=30,
        what="the namespace to go",
    )
