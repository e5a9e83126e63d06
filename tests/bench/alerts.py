"""The Alertmanager receiver against a real local control plane and a real Alertmanager.

    cd /work/main && PYTHONPATH=operator:tests .venv/bin/python tests/bench/alerts.py [--alerts 200]

- the size of a real Alertmanager notification of 1,000 alerts (realistic labels and
  annotations), caught by a plain HTTP sink: what the receiver's body limit must hold;
- latency, 200 alerts each in its own group over 10 components, posted to Alertmanager's API one
  after another: from the POST to Alertmanager to `status.alerts` showing the group (seen in a
  watch, as a reader sees it), p50 / p99 (target p99 under 1 s); and the receiver's own
  fold-to-write time from its histogram;
- 1,000 alerts in one group: from the POST to `firing: 1000` seen, and the writes it cost;
- writes per alert (status writes / alerts) and the receiver's CPU seconds over the run.

Alertmanager's group_wait is 0 and group_interval 1 s, so the figures are the pipeline's, not
Alertmanager's batching. The machine's cores are shared by etcd, the API server, Alertmanager,
the receiver and this process.
"""

from __future__ import annotations

import argparse
import http.server
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kubernetes import client, watch  # noqa: E402

from alertmanager import Alertmanager, stamp, webhook_config  # noqa: E402
from bench.run import cpu_seconds, prepare  # noqa: E402
from controlplane.cluster import LocalCluster, build_binaries, free_port  # noqa: E402
from e2e.alerts_receiver import (  # noqa: E402
    ReceiverProcess,
    make_alerts_kubeconfig,
    receiver_secret,
)
from e2e.kube import Kube, wait_for  # noqa: E402
from e2e.objects import make_component, make_page  # noqa: E402

NAMESPACE = "bench-alerts"
TOKEN = "bench-token"
COMPONENTS = 10


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def report(name: str, value: str, target: str = "") -> None:
    """One figure a line."""
    print(f"{name:<58} {value:>14}  {target}", flush=True)


def realistic(i: int, now: datetime, alertname: str = "KubePodNotReady") -> dict[str, Any]:
    """An alert as kube-prometheus-stack's rules make them (labels and annotations)."""
    return {
        "labels": {
            "alertname": alertname,
            "severity": "critical",
            "service": f"svc-{i % COMPONENTS}",
            "namespace": "production",
            "pod": f"checkout-7d9f8b6c5d-{i:05d}",
            "container": "checkout",
            "instance": f"10.42.{i // 250}.{i % 250}:8080",
            "job": "kube-state-metrics",
            "prometheus": "monitoring/kube-prometheus-stack-prometheus",
            "cluster": "prod-eu-west-1",
        },
        "annotations": {
            "summary": "Pod has been in a non-ready state for more than 15 minutes.",
            "description": f"Pod production/checkout-7d9f8b6c5d-{i:05d} has been in a non-ready "
            "state for longer than 15 minutes on cluster prod-eu-west-1.",
            "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodnotready",
        },
        "startsAt": stamp(now - timedelta(seconds=i)),
        "endsAt": stamp(now + timedelta(hours=1)),
        "generatorURL": "http://prometheus.monitoring.svc:9090/graph?g0.expr=kube_pod_status_ready"
        "%7Bcondition%3D%22true%22%7D+%3D%3D+0&g0.tab=1",
    }


def bulk_alert(i: int, now: datetime) -> dict[str, Any]:
    """One of 1,000 alerts of one group, all on svc-0."""
    alert = realistic(i, now, alertname="Bulk")
    alert["labels"]["service"] = "svc-0"
    return alert


def measure_payload(workdir: Path) -> int:
    """Bytes of a real notification of 1,000 alerts."""
    sizes: dict[int, int] = {}  # alerts in a notification -> its bytes

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            sizes[len(json.loads(body)["alerts"])] = len(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    manager = Alertmanager.start(
        webhook_config(f"http://127.0.0.1:{port}/", group_wait="1s"), workdir
    )
    try:
        now = datetime.now(UTC)
        manager.post_alerts([realistic(i, now) for i in range(1000)])
        wait_for(lambda: 1000 in sizes, timeout=30, what="a notification of the 1,000")
    finally:
        manager.stop()
        server.shutdown()
    return sizes[1000]


class GroupWatch:
    """The first time each group name (and each firing count) is seen in components' status."""

    def __init__(self) -> None:
        self.groups: dict[str, float] = {}
        self.firing: dict[int, float] = {}
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        time.sleep(0.5)

    def _run(self) -> None:
        api = client.CustomObjectsApi()
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(
                    api.list_namespaced_custom_object,
                    "statuspage.dev",
                    "v1alpha1",
                    NAMESPACE,
                    "components",
                    timeout_seconds=60,
                ):
                    alerts = (event["object"].get("status") or {}).get("alerts") or {}
                    now = time.time()
                    for group in alerts.get("groups") or ():
                        self.groups.setdefault(group.get("name", ""), now)
                    self.firing.setdefault(int(alerts.get("firing") or 0), now)
            except Exception:
                time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=200, help="alerts of the latency run")
    args = parser.parse_args()
    with LocalCluster(build_binaries()) as cluster, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kube: Kube = prepare(cluster)
        size = measure_payload(work / "sink")
        report("notification of 1,000 alerts (bytes)", f"{size:,}", "limit 8 MiB")
        kubeconfig = make_alerts_kubeconfig(kube, work)
        kube.run("create", "namespace", NAMESPACE)
        alerts = {"receiverSecretRef": {"name": "am"}, "expireAfter": "1h"}
        kube.apply(
            NAMESPACE,
            receiver_secret("am", TOKEN),
            make_page(alerts=alerts),
            *(
                make_component(f"svc-{i}", alerts={"matchers": [f'service="svc-{i}"']})
                for i in range(COMPONENTS)
            ),
        )
        receiver = ReceiverProcess(kubeconfig, work / "receiver.log", "--rate=100", "--burst=500")
        pid = receiver.process.pid
        time.sleep(1)
        manager = Alertmanager.start(
            webhook_config(receiver.webhook(NAMESPACE, "example"), token=TOKEN), work / "am"
        )
        groups = GroupWatch()
        cpu = cpu_seconds(pid)
        try:
            posted: dict[str, float] = {}
            now = datetime.now(UTC)
            for i in range(args.alerts):
                name = f"Latency{i:04d}"
                posted[f"alertname={name}"] = time.time()
                manager.post_alerts([realistic(i, now, alertname=name)])
                time.sleep(0.05)
            wait_for(
                lambda: len(set(posted) & set(groups.groups)) == len(posted),
                timeout=60,
                what="every group written",
            )
            latencies = [groups.groups[name] - at for name, at in posted.items()]
            report(
                f"POST to Alertmanager -> status.alerts, {args.alerts} groups p50",
                f"{percentile(latencies, 50) * 1000:.0f} ms",
            )
            report("  p99", f"{percentile(latencies, 99) * 1000:.0f} ms", "target < 1000 ms")
            fold = receiver.metric("statuspage_alerts_fold_write_seconds_sum") / max(
                1.0, receiver.metric("statuspage_alerts_fold_write_seconds_count")
            )
            report("  receiver fold-to-write, mean", f"{fold * 1000:.1f} ms")
            writes = receiver.metric("statuspage_alerts_writes_total", result="written")
            report("  writes per alert", f"{writes / args.alerts:.2f}", "target <= 1")
            before = writes
            started = time.time()
            now = datetime.now(UTC)
            manager.post_alerts([bulk_alert(i, now) for i in range(1000)])
            # svc-0 already has the latency run's alerts i % COMPONENTS == 0.
            expected = 1000 + len(range(0, args.alerts, COMPONENTS))
            wait_for(lambda: expected in groups.firing, timeout=60, what="1,000 firing")
            seen = groups.firing[expected] - started
            report("1,000 alerts in one group: POST -> firing seen", f"{seen * 1000:.0f} ms")
            bulk = receiver.metric("statuspage_alerts_writes_total", result="written") - before
            report("  writes for the 1,000", f"{bulk:.0f}", "a few")
            report("receiver CPU over the run", f"{cpu_seconds(pid) - cpu:.2f} s")
        finally:
            groups.stop()
            manager.stop()
            receiver.stop()


if __name__ == "__main__":
    main()
