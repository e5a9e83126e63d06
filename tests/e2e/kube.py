"""Small helpers for end-to-end tests: kubectl, reading objects, waiting for a condition."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

KUBECTL = str(Path(sys.executable).parent / "kubectl")
T = TypeVar("T")


@dataclass(frozen=True)
class Kube:
    """kubectl against one kubeconfig, as one user (context)."""

    kubeconfig: Path
    context: str = "admin"

    def as_user(self, context: str) -> Kube:
        """The same cluster as another user."""
        return Kube(self.kubeconfig, context)

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raise with its stderr when `check` and it fails."""
        result = subprocess.run(
            [KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--context={self.context}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def token_kubeconfig(
        self, namespace: str, account: str, path: Path, duration: str = "2h", context: str = ""
    ) -> Kube:
        """kubectl (and a kubeconfig at `path` for a process) as a ServiceAccount, by a token;
        its context (and user) is named `context`, else after the account."""
        name = context or account
        token = self.run(
            "create", "token", account, "-n", namespace, f"--duration={duration}"
        ).stdout.strip()
        cluster = yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": cluster["name"], "user": name}}],
            "current-context": name,
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return Kube(path, name)

    def apply(self, namespace: str, *objects: dict[str, Any]) -> None:
        """kubectl apply the objects into a namespace."""
        self.run("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(objects))

    def get(self, resource: str, name: str, namespace: str) -> dict[str, Any] | None:
        """One object as a dict, or None if it does not exist."""
        result = self.run("get", resource, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        found: dict[str, Any] = json.loads(result.stdout)
        return found

    def status(self, resource: str, name: str, namespace: str) -> dict[str, Any]:
        """The status of an object ({} when absent)."""
        found = self.get(resource, name, namespace)
        return dict((found or {}).get("status") or {})

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Events recorded for an object."""
        result = self.run(
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            f"involvedObject.name={name}",
            "-o",
            "json",
        )
        items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
        return items

    def env(self) -> dict[str, str]:
        """Environment for a subprocess talking to this cluster as this user."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}


def wait_for(
    probe: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll until `probe` returns something truthy; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last: {last!r}")


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    """One condition of a status by type ({} when absent)."""
    for entry in status.get("conditions") or ():
        if entry.get("type") == kind:
            return dict(entry)
    return {}


def component(kube: Kube, namespace: str, name: str) -> str | None:
    """A component's status as the operator last wrote it."""
    return kube.status("comp", name, namespace).get("status")
