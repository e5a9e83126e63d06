"""The alerts receiver as a subprocess for e2e tests and benches, under its own ServiceAccount.

The ServiceAccount is bound only to manifests/alerts' ClusterRoles, so every test that runs it
also proves those rights are enough.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from controlplane.cluster import free_port
from e2e.kube import KUBECTL, Kube, wait_for

ROOT = Path(__file__).resolve().parents[2]
RECEIVER = str(Path(sys.executable).parent / "statuspage-alerts")
SA_NAMESPACE = "statuspage-alerts-e2e"
Http = tuple[int, dict[str, str], bytes]


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Http:
    """GET (or POST a body to) a URL: status, headers, body; errors are returned, not raised."""
    method = "GET" if body is None else "POST"
    call = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def make_alerts_kubeconfig(kube: Kube, directory: Path) -> Path:
    """A kubeconfig with a ServiceAccount token bound only to manifests/alerts' ClusterRoles."""
    for name in ("clusterrole.yaml", "secrets.yaml"):
        roles = [
            d
            for d in yaml.safe_load_all((ROOT / "manifests" / "alerts" / name).read_text())
            if d and d["kind"] == "ClusterRole"
        ]
        kube.run("apply", "-f", "-", stdin=yaml.safe_dump_all(roles))
    kube.run("create", "namespace", SA_NAMESPACE, check=False)
    kube.run("create", "serviceaccount", "statuspage-alerts", "-n", SA_NAMESPACE, check=False)
    for role in ("statuspage-alerts", "statuspage-alerts-secrets"):
        kube.run(
            "create",
            "clusterrolebinding",
            f"{role}-e2e",
            f"--clusterrole={role}",
            f"--serviceaccount={SA_NAMESPACE}:statuspage-alerts",
            check=False,
        )
    path = directory / "kubeconfig"
    return kube.token_kubeconfig(
        SA_NAMESPACE, "statuspage-alerts", path, context="alerts"
    ).kubeconfig


class ReceiverProcess:
    """statuspage-alerts on loopback with its own kubeconfig."""

    def __init__(self, kubeconfig: Path, log: Path, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.log = log
        self.process = subprocess.Popen(
            [
                RECEIVER,
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--metrics-port={self.metrics_port}",
                *args,
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"},
        )
        wait_for(self.ready, timeout=60, what="the receiver to list pages and components")

    def ready(self) -> bool:
        """Whether /readyz answers 200."""
        try:
            return request(self.url("/readyz"))[0] == 200
        except OSError:
            return False

    def url(self, path: str) -> str:
        """An absolute URL on the receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def webhook(self, namespace: str, page: str) -> str:
        """Where Alertmanager posts a page's notifications."""
        return self.url(f"/alerts/{namespace}/{page}")

    def post(self, namespace: str, page: str, body: Any, token: str | None = None) -> Http:
        """POST a notification (a JSON value, or raw bytes) as Alertmanager would."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return request(self.webhook(namespace, page), data, headers)

    def metric(self, name: str, **labels: str) -> float:
        """One sample of its /metrics (0 when absent)."""
        _, _, body = request(f"http://127.0.0.1:{self.metrics_port}/metrics")
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        pattern = rf"^{re.escape(name)}(?:\{{{re.escape(wanted)}\}})? ([0-9.e+-]+)$"
        found = re.search(pattern, body.decode(), re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """SIGTERM (or another signal); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class AlertWrites:
    """Every change of one component's status.alerts, seen by `kubectl get --watch`.

    Counted from the API server's own events, not the receiver's metrics: each distinct
    status.alerts a MODIFIED event carries is one write of it (the operator's status writes
    leave status.alerts as it is, so they do not count).
    """

    def __init__(self, kube: Kube, namespace: str, name: str, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [
                KUBECTL,
                f"--kubeconfig={kube.kubeconfig}",
                f"--context={kube.context}",
                "get",
                "components.statuspage.dev",
                name,
                "-n",
                namespace,
                "--watch",
                "--output-watch-events",
                "-o",
                "json",
            ],
            stdout=log.open("wb"),
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: log.stat().st_size > 0, what="the watch's first event")

    def stop(self) -> int:
        """Stop watching; how many times status.alerts changed."""
        self.process.terminate()
        self.process.wait(timeout=10)
        text = self.log.read_text()
        decoder = json.JSONDecoder()
        seen: list[Any] = []
        index = 0
        while index < len(text):
            if text[index].isspace():
                index += 1
                continue
            event, index = decoder.raw_decode(text, index)
            alerts = (event["object"].get("status") or {}).get("alerts")
            if not seen or alerts != seen[-1]:
                seen.append(alerts)
        return len(seen) - 1


def receiver_secret(name: str, token: str, labelled: bool = True) -> dict[str, Any]:
    """A receiver Secret holding a bearer token."""
    labels = {"statuspage.dev/alerts-receiver": "true"} if labelled else {}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": labels},
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }
