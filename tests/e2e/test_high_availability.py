"""Two replicas with leader election: one acts; killing it mid-burst loses and repeats nothing."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, wait_for
from e2e.objects import in_seconds, make_component, make_page, make_window

LEASE_SECONDS = 4
WINDOWS = 16


def holder(kube: Kube, namespace: str) -> str:
    """The Lease's current holder ('' when none)."""
    lease = kube.get("lease", "statuspage-operator", namespace)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


@pytest.fixture
def replicas(
    kube: Kube, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> Iterator[list[OperatorProcess]]:
    """Two leader-electing replicas; the session's standalone operator steps aside meanwhile."""
    kube.run(
        "create",
        "role",
        "lease",
        "-n",
        namespace,
        "--verb=get,create,update",
        "--resource=leases.coordination.k8s.io",
    )
    kube.run(
        "create",
        "rolebinding",
        "lease",
        "-n",
        namespace,
        "--role=lease",
        "--user=statuspage-operator",
    )
    operator.stop()
    pair = []
    for index in range(2):
        replica = OperatorProcess(kube, tmp_path / f"replica-{index}.log")
        replica.extra_args = [
            "--leader-elect",
            f"--leader-election-namespace={namespace}",
            f"--lease-duration={LEASE_SECONDS}",
        ]
        pair.append(replica)
    try:
        yield pair
    finally:
        for replica in pair:
            replica.stop()
        operator.start()


def test_standby_takes_over_without_missing_or_repeating(
    kube: Kube, namespace: str, replicas: list[OperatorProcess]
) -> None:
    """Kill the leader during a burst: the standby finishes every window, each Event once."""
    first, second = replicas
    first.start()
    wait_for(lambda: "became the leader" in first.log.read_text(), 15, what="first leads")
    second.start()
    kube.apply(namespace, make_page(), make_component("api"), make_component("db"))
    windows = [
        make_window(
            f"w{i}", in_seconds(3 + 0.5 * i), in_seconds(5 + 0.5 * i), ["api", "db"][i % 2 :][:1]
        )
        for i in range(WINDOWS)
    ]
    kube.apply(namespace, *windows)
    time.sleep(5)
    assert "became the leader" not in second.log.read_text()
    killed = time.monotonic()
    first.stop(signal.SIGKILL)
    wait_for(
        lambda: "became the leader" in second.log.read_text(),
        LEASE_SECONDS * 3,
        what="the standby to take over",
    )
    takeover = time.monotonic() - killed
    print(f"\ntakeover after SIGKILL of the leader: {takeover:.1f} s (lease {LEASE_SECONDS} s)")
    assert holder(kube, namespace) != ""

    def all_completed() -> bool:
        return all(
            kube.status("mw", f"w{i}", namespace).get("phase") == "Completed"
            for i in range(WINDOWS)
        )

    wait_for(all_completed, 30, interval=0.5, what="every window Completed")
    wait_for(lambda: kube.status("comp", "api", namespace).get("status") == "Operational", 5)
    time.sleep(2)
    events = json.loads(kube.run("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    per_window = Counter(
        (e["involvedObject"]["name"], e["reason"])
        for e in events
        if e["involvedObject"]["kind"] == "MaintenanceWindow"
    )
    repeated = {key: count for key, count in per_window.items() if count > 1}
    assert repeated == {}
    completed = {name for name, reason in per_window if reason == "MaintenanceCompleted"}
    assert completed == {f"w{i}" for i in range(WINDOWS)}
