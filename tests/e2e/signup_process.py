"""statuspage-signup as a subprocess for e2e tests and benches, under its own ServiceAccount.

`install_signup` applies manifests/signup as they are (namespace, ServiceAccount, ClusterRole,
Role, the admission policy; not the Deployment: nothing would run it) and the two Secrets; the
process runs with a token of that ServiceAccount, so every test that runs it also proves those
rights (and the policy) are enough.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controlplane.cluster import free_port
from e2e.kube import Kube, wait_for
from statuspage_operator.api.subscription_tokens import SubscriptionKeys
from unit.crd_schema import REPO_ROOT, kustomize

SIGNUP = str(Path(sys.executable).parent / "statuspage-signup")
NAMESPACE = "statuspage-signups"
ACCOUNT = "statuspage-signup"
KEY_SECRET = "statuspage-subscription-key"
MAIL_SECRET = "statuspage-mail-relay"
SENDER = "status@example.com"
NOT_APPLIED = {"Deployment", "Service", "NetworkPolicy"}
Http = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Installed:
    """What the tests know that the process reads from its Secrets."""

    keys: SubscriptionKeys
    kubeconfig: Path
    as_signup: Kube

    @property
    def naming(self) -> bytes:
        """The naming key."""
        assert self.keys.naming is not None
        return self.keys.naming


def _secret(name: str, **data: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def install_signup(admin: Kube, relay_url: str, directory: Path) -> Installed:
    """manifests/signup (but what runs pods), fresh keys, the relay; a kubeconfig of its token."""
    rendered = list(kustomize(REPO_ROOT / "manifests" / "signup"))
    applied = [d for d in rendered if d["kind"] not in NOT_APPLIED]
    admin.run("apply", "-f", "-", stdin=yaml.safe_dump_all(applied))
    key, naming = secrets.token_bytes(32), secrets.token_bytes(32)
    admin.apply(
        NAMESPACE,
        _secret(KEY_SECRET, key=key, naming=naming),
        _secret(MAIL_SECRET, url=relay_url.encode(), **{"from": SENDER.encode()}),
    )
    path = directory / "kubeconfig"
    as_signup = admin.token_kubeconfig(NAMESPACE, ACCOUNT, path, context="signup")
    guarded(as_signup)
    return Installed(SubscriptionKeys((key,), naming), path, as_signup)


def guarded(as_signup: Kube) -> None:
    """Wait until the API server enforces the admission policy (it loads a new one within a few
    seconds): a dry run of a Subscriber it must refuse, as the signup identity."""
    probe = {
        "apiVersion": "statuspage.dev/v1alpha1",
        "kind": "Subscriber",
        "metadata": {"name": "guard-probe"},
        "spec": {"page": "probe", "urlSecretRef": {"name": "x", "key": "url"}},
    }

    def refused() -> bool:
        result = as_signup.run(
            "create",
            "--dry-run=server",
            "-n",
            NAMESPACE,
            "-f",
            "-",
            stdin=yaml.safe_dump(probe),
            check=False,
        )
        return "statuspage-signup-guard" in result.stderr

    wait_for(refused, 30, interval=0.25, what="the admission policy enforced")


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Http:
    """GET (or POST a body to) a URL: status, headers, body; errors are returned, not raised."""
    call = urllib.request.Request(
        url, data=body, method="GET" if body is None else "POST", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def form_body(*pairs: tuple[str, str]) -> bytes:
    """A form-urlencoded body."""
    return urllib.parse.urlencode(pairs).encode()


class SignupProcess:
    """statuspage-signup on loopback with its own kubeconfig; 127.0.0.1 is its trusted proxy, so
    a test names its client with X-Forwarded-For."""

    def __init__(self, kubeconfig: Path, log: Path, *args: str, ready: bool = True) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.log = log
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                SIGNUP,
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--metrics-port={self.metrics_port}",
                f"--public-url={self.base}",
                f"--subscription-key-secret={NAMESPACE}/{KEY_SECRET}",
                f"--mail-secret={NAMESPACE}/{MAIL_SECRET}",
                "--trusted-proxy=127.0.0.1/32",
                *args,
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"},
        )
        if ready:
            wait_for(self.ready, timeout=60, interval=0.2, what="statuspage-signup to be ready")

    def ready(self) -> bool:
        """Whether /readyz answers 200."""
        try:
            return request(self.base + "/readyz")[0] == 200
        except OSError:
            return False

    def subscribe(
        self, namespace: str, page: str, email: str, client: str, *components: str
    ) -> Http:
        """POST the form as the client `client` (X-Forwarded-For through the trusted proxy)."""
        body = form_body(("email", email), *(("components", c) for c in components))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Forwarded-For": client,
        }
        return request(f"{self.base}/subscribe/{namespace}/{page}", body, headers)

    def post(self, url: str, body: bytes = b"") -> Http:
        """POST a form body to a link."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return request(url, body, headers)

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
