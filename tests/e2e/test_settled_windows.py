"""Windows settled for good leave kopf's watch, and come back when edited (control/settled.py).

kopf watches only windows without the label `statuspage.dev/settled`, as the selector below
does; its memory of a window is measured by tests/bench/memory.py, not here. These tests hold
the behaviour: the label and when it comes, the way back, and restarts around it.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, component, wait_for
from e2e.objects import in_seconds, make_window

LABEL = "statuspage.dev/settled"
FINALIZER = "statuspage.dev/finalizer"
# A busy 2-core machine must not flake these; the tight figures live in `make bench`.
TOLERANCE = 2.5

pytestmark = pytest.mark.usefixtures("operator")


def metadata(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    found = kube.get("mw", name, namespace)
    assert found is not None
    return dict(found["metadata"])


def label(kube: Kube, namespace: str, name: str) -> str | None:
    """The window's settled label, None without one."""
    return (metadata(kube, namespace, name).get("labels") or {}).get(LABEL)


def phase(kube: Kube, namespace: str, name: str) -> str | None:
    return kube.status("mw", name, namespace).get("phase")


def watched_by_kopf(kube: Kube, namespace: str) -> set[str]:
    """The windows kopf's watch shows: its own label selector."""
    listed = kube.run("get", "mw", "-n", namespace, "-l", f"!{LABEL}", "-o", "json").stdout
    return {item["metadata"]["name"] for item in json.loads(listed)["items"]}


def reasons(kube: Kube, namespace: str, name: str) -> list[str]:
    events = sorted(kube.events(namespace, name), key=lambda e: e["metadata"]["creationTimestamp"])
    return [e["reason"] for e in events]


def wait_label(kube: Kube, namespace: str, name: str, value: str | None, timeout: float) -> None:
    wait_for(
        lambda: label(kube, namespace, name) == value,
        timeout,
        what=f"{name} labelled {value}",
    )


def test_a_finished_window_is_labelled_and_leaves_the_watch(
    kube: Kube, namespace: str, page: str
) -> None:
    """Completed at its end, created in the past, cancelled: labelled with its generation, no
    finalizer, out of the watch; a window to come or one whose component is missing is not."""
    kube.apply(
        namespace,
        make_window("ending", in_seconds(-5), in_seconds(2), ["api"]),
        make_window("past", in_seconds(-60), in_seconds(-30), ["api"]),
        make_window("off", in_seconds(3600), in_seconds(7200), ["db"], cancelled=True),
        make_window("ahead", in_seconds(3600), in_seconds(7200), ["db"]),
        make_window("orphan", in_seconds(-60), in_seconds(-30), ["nosuch"]),
    )
    for name in ("ending", "past", "off"):
        wait_label(kube, namespace, name, "1", 10)
        assert not metadata(kube, namespace, name).get("finalizers")
    assert phase(kube, namespace, "ending") == "Completed"
    assert phase(kube, namespace, "off") == "Cancelled"
    wait_for(lambda: phase(kube, namespace, "orphan") == "Completed", 5)
    time.sleep(1)
    assert label(kube, namespace, "ahead") is None
    assert label(kube, namespace, "orphan") is None, "Ready=False: it still waits for its component"
    assert watched_by_kopf(kube, namespace) == {"ahead", "orphan"}
    assert reasons(kube, namespace, "ending") == ["MaintenanceStarted", "MaintenanceCompleted"]


def test_a_rescheduled_finished_window_moves_at_its_edges(
    kube: Kube, namespace: str, page: str
) -> None:
    """A labelled window moved into the future comes back: its daemon starts and ends it at its
    new instants, its components follow, and it is labelled again for its new generation."""
    kube.apply(namespace, make_window("again", in_seconds(-60), in_seconds(-30), ["api"]))
    wait_label(kube, namespace, "again", "1", 10)
    start, end = in_seconds(10), in_seconds(14)
    kube.apply(namespace, make_window("again", start, end, ["api"]))
    wait_label(kube, namespace, "again", None, 5)
    wait_for(lambda: phase(kube, namespace, "again") == "Scheduled", 8)
    wait_for(lambda: phase(kube, namespace, "again") == "InProgress", 15)
    assert abs(time.time() - start.timestamp()) < TOLERANCE
    assert component(kube, namespace, "api") == "UnderMaintenance"
    assert FINALIZER in metadata(kube, namespace, "again").get("finalizers", [])
    wait_for(lambda: phase(kube, namespace, "again") == "Completed", 10)
    assert abs(time.time() - end.timestamp()) < TOLERANCE
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 5)
    wait_label(kube, namespace, "again", "2", 10)
    assert not metadata(kube, namespace, "again").get("finalizers")
    # One Completed for the occurrence it was created with (in the past), one of each for the new.
    wait_for(lambda: reasons(kube, namespace, "again").count("MaintenanceCompleted") == 2, 5)
    time.sleep(1)
    assert sorted(reasons(kube, namespace, "again")) == [
        "MaintenanceCompleted",
        "MaintenanceCompleted",
        "MaintenanceStarted",
    ]


def test_a_status_written_by_someone_else_is_undone(kube: Kube, namespace: str, page: str) -> None:
    """Out of kopf's sight, a labelled window is still watched: a foreign status write brings
    it back, the operator writes it right and labels it again."""
    kube.apply(namespace, make_window("done", in_seconds(-60), in_seconds(-30), ["api"]))
    wait_label(kube, namespace, "done", "1", 10)
    patch = json.dumps({"status": {"phase": "InProgress"}})
    kube.run(
        "patch", "mw", "done", "-n", namespace, "--subresource=status", "--type=merge", "-p", patch
    )
    wait_for(lambda: phase(kube, namespace, "done") == "Completed", 10, what="Completed again")
    wait_label(kube, namespace, "done", "1", 10)
    assert component(kube, namespace, "api") == "Operational"


def test_a_label_set_by_hand_on_a_live_window_comes_off(
    kube: Kube, namespace: str, page: str
) -> None:
    """Someone labels a window to come as settled: the label comes off, and the window still
    starts at its start (its daemon is spawned again)."""
    start = in_seconds(5)
    kube.apply(namespace, make_window("soon", start, in_seconds(60), ["db"]))
    wait_for(lambda: phase(kube, namespace, "soon") == "Scheduled", 5)
    kube.run("label", "mw", "soon", "-n", namespace, f"{LABEL}=1")
    wait_label(kube, namespace, "soon", None, 5)
    wait_for(lambda: phase(kube, namespace, "soon") == "InProgress", 10)
    assert abs(time.time() - start.timestamp()) < TOLERANCE
    wait_for(lambda: component(kube, namespace, "db") == "UnderMaintenance", 5)


def test_a_window_completed_while_the_operator_was_down_is_labelled(
    kube: Kube, namespace: str, page: str, operator: OperatorProcess
) -> None:
    """Killed in a window, started after its end: Completed, labelled, no finalizer, each Event
    once; and a labelled window edited while it was down comes back at start."""
    kube.apply(
        namespace,
        make_window("crash", in_seconds(-1), in_seconds(3), ["api"]),
        make_window("edited", in_seconds(-60), in_seconds(-30), ["db"]),
    )
    wait_for(lambda: phase(kube, namespace, "crash") == "InProgress", 5)
    wait_label(kube, namespace, "edited", "1", 10)
    operator.stop(signal.SIGKILL)
    try:
        kube.apply(namespace, make_window("edited", in_seconds(-5), in_seconds(600), ["db"]))
        time.sleep(4)
    finally:
        operator.start()
    wait_label(kube, namespace, "crash", "1", 15)
    assert phase(kube, namespace, "crash") == "Completed"
    assert not metadata(kube, namespace, "crash").get("finalizers")
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 5)
    wait_label(kube, namespace, "edited", None, 10)
    wait_for(lambda: phase(kube, namespace, "edited") == "InProgress", 10)
    wait_for(lambda: component(kube, namespace, "db") == "UnderMaintenance", 5)
    time.sleep(1)
    assert reasons(kube, namespace, "crash") == ["MaintenanceStarted", "MaintenanceCompleted"]


DENY_LABEL = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {name}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: ["statuspage.dev"]
        apiVersions: ["*"]
        operations: ["UPDATE"]
        resources: ["maintenancewindows"]
  validations:
    - expression: >-
        !has(object.metadata.labels)
        || !('statuspage.dev/settled' in object.metadata.labels)
      message: test {name} refuses the settled label
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {name}
spec:
  policyName: {name}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: {namespace}
"""


@pytest.fixture
def label_refused(kube: Kube, namespace: str) -> Iterator[str]:
    """An admission policy that refuses the settled label in the test's namespace, for now."""
    name = f"deny-settled-{uuid.uuid4().hex[:6]}"
    documents = list(yaml.safe_load_all(DENY_LABEL.format(name=name, namespace=namespace)))
    kube.run("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    kube.apply(namespace, make_window("canary", in_seconds(3600), in_seconds(7200)))

    def refused() -> bool:
        result = kube.run("label", "mw", "canary", "-n", namespace, f"{LABEL}=0", check=False)
        if result.returncode == 0:
            kube.run("label", "mw", "canary", "-n", namespace, f"{LABEL}-")
        return result.returncode != 0

    wait_for(refused, 60, 0.5, what="the policy to be in force")
    try:
        yield name
    finally:
        kube.run("delete", "validatingadmissionpolicybinding", name, check=False)
        kube.run("delete", "validatingadmissionpolicy", name, check=False)


def test_killed_between_the_terminal_status_and_the_label(
    kube: Kube,
    namespace: str,
    page: str,
    operator: OperatorProcess,
    label_refused: str,
) -> None:
    """The terminal status is written, the label (and the finalizer's removal with it) is not;
    the operator is killed there. Started again: labelled, no finalizer, each Event once."""
    kube.apply(namespace, make_window("edge", in_seconds(-1), in_seconds(3), ["api"]))
    wait_for(lambda: phase(kube, namespace, "edge") == "Completed", 10)
    time.sleep(2)
    assert label(kube, namespace, "edge") is None
    assert FINALIZER in metadata(kube, namespace, "edge").get("finalizers", [])
    operator.stop(signal.SIGKILL)
    try:
        kube.run("delete", "validatingadmissionpolicybinding", label_refused)
        kube.run("delete", "validatingadmissionpolicy", label_refused)
        wait_for(
            lambda: (
                kube.run(
                    "label", "mw", "canary", "-n", namespace, f"{LABEL}=0", check=False
                ).returncode
                == 0
            ),
            60,
            0.5,
            what="the policy to be gone",
        )
    finally:
        operator.start()
    wait_label(kube, namespace, "edge", "1", 15)
    assert not metadata(kube, namespace, "edge").get("finalizers")
    assert component(kube, namespace, "api") == "Operational"
    time.sleep(1)
    assert reasons(kube, namespace, "edge") == ["MaintenanceStarted", "MaintenanceCompleted"]
