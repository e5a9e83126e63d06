"""SIGKILL at the awkward moments: in the middle of a burst of transitions, between status
writes and their Events. Nothing is lost, nothing is repeated."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import datetime

import pytest

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, wait_for
from e2e.objects import in_seconds, make_component, make_page, make_window

WINDOWS = 40
COMPONENTS = ["api", "db", "cdn", "web", "queue"]


def window_events(kube: Kube, namespace: str) -> Counter[tuple[str, str]]:
    """(window, reason) of every Event on the namespace's windows."""
    events = json.loads(kube.run("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return Counter(
        (e["involvedObject"]["name"], e["reason"])
        for e in events
        if e["involvedObject"]["kind"] == "MaintenanceWindow"
    )


def phases(kube: Kube, namespace: str) -> Counter[str]:
    """How many of the namespace's windows are in each phase."""
    items = json.loads(kube.run("get", "mw", "-n", namespace, "-o", "json").stdout)["items"]
    return Counter(str((item.get("status") or {}).get("phase")) for item in items)


def sleep_until(instant: datetime) -> None:
    time.sleep(max(0.0, instant.timestamp() - time.time()))


@pytest.mark.usefixtures("operator")
def test_sigkill_during_bursts_loses_and_repeats_no_event(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    """40 windows share a start and an end; the operator is killed just after each edge."""
    kube.apply(namespace, make_page(), *[make_component(c) for c in COMPONENTS])
    start, end = in_seconds(8), in_seconds(16)
    kube.apply(
        namespace,
        *[
            make_window(f"w{i}", start, end, [COMPONENTS[i % len(COMPONENTS)]])
            for i in range(WINDOWS)
        ],
    )
    wait_for(lambda: phases(kube, namespace)["Scheduled"] == WINDOWS, 8, what="all Scheduled")
    for edge, phase in ((start, "InProgress"), (end, "Completed")):
        # Status goes out first and Events after: 150 ms in, some are written, some announced.
        sleep_until(edge)
        time.sleep(0.15)
        operator.stop(signal.SIGKILL)
        written = phases(kube, namespace)[phase]
        announced = sum(
            count
            for (_, reason), count in window_events(kube, namespace).items()
            if reason == ("MaintenanceStarted" if phase == "InProgress" else "MaintenanceCompleted")
        )
        print(f"\nkilled after {phase} edge: {written} written, {announced} Events posted")
        operator.start()
        wait_for(lambda p=phase: phases(kube, namespace)[p] == WINDOWS, 15, what=phase)  # type: ignore[misc]
    wait_for(
        lambda: sum(window_events(kube, namespace).values()) >= 2 * WINDOWS,
        15,
        what="every Event",
    )
    time.sleep(2)
    counted = window_events(kube, namespace)
    assert {key: n for key, n in counted.items() if n > 1} == {}
    for reason in ("MaintenanceStarted", "MaintenanceCompleted"):
        assert {name for name, r in counted if r == reason} == {f"w{i}" for i in range(WINDOWS)}
