"""`make bench`: subscriber notifications against a real local control plane.

- lateness from a window's scheduled start or end to the webhook's arrival, 1 subscriber
  (60 windows, each at its own instant): p50 / p99 (target p99 <= 200 ms);
- a burst: 1,000 windows sharing one start x 5 subscribers (maintenance.started): every webhook
  received, none twice, the throughput, the time until all windows are InProgress, and the
  operator's RSS.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from controlplane.cluster import OPERATOR_USER, LocalCluster, build_binaries  # noqa: E402
from e2e.conftest import ROOT, OperatorProcess  # noqa: E402
from e2e.kube import Kube, wait_for  # noqa: E402
from e2e.objects import make_component, make_page, make_window  # noqa: E402
from e2e.test_notifications import Receiver, secret, subscriber  # noqa: E402

LATENESS_WINDOWS = 60
BURST_WINDOWS = 1000
BURST_SUBSCRIBERS = 5


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def report(name: str, value: str, target: str = "") -> None:
    """One figure a line."""
    print(f"{name:<66} {value:>10}  {target}", flush=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def apply_many(kube: Kube, namespace: str, objects: list[dict[str, object]]) -> None:
    """kubectl apply in chunks (one call per 200 objects)."""
    for i in range(0, len(objects), 200):
        kube.apply(namespace, *objects[i : i + 200])


def lateness(kube: Kube, receiver: Receiver) -> None:
    """One subscriber, windows at distinct instants: arrival minus the scheduled instant."""
    namespace = "lateness"
    kube.run("create", "namespace", namespace)
    url = f"json://127.0.0.1:{receiver.port}/{namespace}/one"
    kube.apply(
        namespace,
        make_page(),
        make_component("api"),
        secret("one", url=url),
        subscriber("one", "one", events=["maintenance.started", "maintenance.completed"]),
    )
    time.sleep(2)
    base = datetime.now(UTC) + timedelta(seconds=10)
    windows = [
        make_window(
            f"w{i}",
            base + timedelta(seconds=i * 0.25),
            base + timedelta(seconds=i * 0.25 + 5),
            ["api"],
            notifySubscribers=True,
        )
        for i in range(LATENESS_WINDOWS)
    ]
    apply_many(kube, namespace, windows)
    path = f"/{namespace}/one"
    wait_for(lambda: len(receiver.to(path)) >= 2 * LATENESS_WINDOWS, 60, what="all webhooks")
    late = []
    for hook in receiver.to(path):
        incident = hook.body["incident"]
        event = hook.body["meta"]["event"]
        key = "scheduled_for" if event == "maintenance.started" else "scheduled_until"
        instant = datetime.fromisoformat(incident[key].replace("Z", "+00:00")).timestamp()
        late.append((hook.at - instant) * 1000)
    report(
        f"notice lateness, 1 subscriber, {len(late)} notices, p50 / p99",
        f"{percentile(late, 50):.0f} / {percentile(late, 99):.0f} ms",
        "(target p99 <= 200 ms)",
    )


def burst(kube: Kube, receiver: Receiver, operator: OperatorProcess) -> None:
    """1,000 windows sharing a start, 5 subscribers."""
    namespace = "burst"
    kube.run("create", "namespace", namespace)
    names = [f"s{i}" for i in range(BURST_SUBSCRIBERS)]
    kube.apply(
        namespace,
        make_page(),
        *[make_component(f"c{i}") for i in range(100)],
        *[secret(n, url=f"json://127.0.0.1:{receiver.port}/{namespace}/{n}") for n in names],
        *[subscriber(n, n, events=["maintenance.started"]) for n in names],
    )
    time.sleep(2)
    start = datetime.now(UTC) + timedelta(seconds=40)
    windows = [
        make_window(
            f"w{i}", start, start + timedelta(hours=1), [f"c{i % 100}"], notifySubscribers=True
        )
        for i in range(BURST_WINDOWS)
    ]
    apply_many(kube, namespace, windows)
    expected = BURST_WINDOWS * BURST_SUBSCRIBERS
    prefix = f"/{namespace}/"
    time.sleep(max(0.0, start.timestamp() - time.time()))

    def in_progress() -> int:
        items = json.loads(kube.run("get", "mw", "-n", namespace, "-o", "json").stdout)["items"]
        return sum((i.get("status") or {}).get("phase") == "InProgress" for i in items)

    wait_for(lambda: in_progress() == BURST_WINDOWS, 120, interval=0.5, what="all InProgress")
    all_in = time.time() - start.timestamp()
    wait_for(
        lambda: len([h for h in receiver.hooks if h.path.startswith(prefix)]) >= expected,
        300,
        interval=0.5,
        what="all webhooks",
    )
    time.sleep(3)
    hooks = [h for h in receiver.hooks if h.path.startswith(prefix)]
    keys = Counter(h.headers["Idempotency-Key"] for h in hooks)
    last = max(h.at for h in hooks) - start.timestamp()
    report(
        f"burst {BURST_WINDOWS} windows x {BURST_SUBSCRIBERS}: webhooks received",
        f"{len(keys)}",
        f"(of {expected})",
    )
    report("burst: webhooks received twice", f"{sum(n - 1 for n in keys.values())}", "(target 0)")
    report("burst: all windows InProgress after the start", f"{all_in:.1f} s")
    report("burst: last webhook after the start", f"{last:.1f} s", f"({expected / last:.0f}/s)")
    assert operator.process is not None
    report("burst: operator RSS", f"{rss_mb(operator.process.pid):.0f} MB")


def main() -> None:
    """Start a control plane, the operator and a receiver; run both scenarios."""
    with LocalCluster(build_binaries()) as cluster:
        kube = Kube(cluster.kubeconfig)
        kube.run("apply", "-k", str(ROOT / "crds"))
        kube.run(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/subscribers.statuspage.dev",
            "crd/maintenancewindows.statuspage.dev",
        )
        kube.run("apply", "-f", str(ROOT / "manifests" / "rbac" / "clusterrole.yaml"))
        kube.run(
            "create",
            "clusterrolebinding",
            "statuspage-operator-bench",
            "--clusterrole=statuspage-operator",
            f"--user={OPERATOR_USER}",
        )
        receiver = Receiver()
        receiver.start()
        log = Path(tempfile.mkdtemp()) / "operator.log"
        operator = OperatorProcess(kube, log)
        operator.extra_args = ["--notify-retry-base=0.2"]
        operator.start()
        try:
            lateness(kube, receiver)
            burst(kube, receiver, operator)
        finally:
            operator.stop()


if __name__ == "__main__":
    main()
