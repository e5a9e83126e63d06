"""End-to-end fixtures: one real control plane per session, the CRDs, RBAC, the operator.

The operator runs as a subprocess under the `operator` user, bound only to the ClusterRoles in
manifests/rbac, so every e2e test also proves that role is enough.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from controlplane.cluster import OPERATOR_USER, LocalCluster, build_binaries, free_port
from e2e.kube import Kube, component, wait_for
from e2e.objects import make_component, make_page, make_policy

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = str(Path(sys.executable).parent / "statuspage-operator")
CRD_NAMES = [
    f"crd/{plural}.statuspage.dev"
    for plural in (
        "statuspages",
        "components",
        "maintenancewindows",
        "statusincidents",
        "subscribers",
        "publicationpolicies",
    )
]


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """A real etcd + kube-apiserver + kube-controller-manager for the whole session."""
    with LocalCluster(build_binaries()) as running:
        yield running


def install(admin: Kube) -> Kube:
    """Our CRDs, every ClusterRole of manifests/rbac bound to the operator's user, the spec guard;
    returns `admin`."""
    admin.run("apply", "-k", str(ROOT / "crds"))
    admin.run("wait", "--for=condition=Established", "--timeout=60s", *CRD_NAMES)
    rendered = yaml.safe_load_all(admin.run("kustomize", str(ROOT / "manifests" / "rbac")).stdout)
    roles = [d for d in rendered if d["kind"] == "ClusterRole"]
    admin.run("apply", "-f", "-", stdin=yaml.safe_dump_all(roles))
    # The admission policy that denies the operator any spec write: every e2e test proves it.
    admin.run("apply", "-f", str(ROOT / "manifests" / "rbac" / "spec-guard.yaml"))
    for role in roles:
        name = role["metadata"]["name"]
        admin.run(
            "create",
            "clusterrolebinding",
            f"{name}-test",
            f"--clusterrole={name}",
            f"--user={OPERATOR_USER}",
        )
    return admin


@pytest.fixture(scope="session")
def kube(cluster: LocalCluster) -> Kube:
    """kubectl as the admin user, with our CRDs installed and the operator's role bound."""
    return install(Kube(cluster.kubeconfig))


EGRESS_ALLOW_LOOPBACK = ("--egress-allow=127.0.0.0/8", "--egress-allow=::1")


class OperatorProcess:
    """The operator as a subprocess: start, stop gracefully, or kill it like a crash."""

    def __init__(self, kube: Kube, log: Path) -> None:
        # Its own kubeconfig whose current context is the operator user.
        kubeconfig = log.parent / "kubeconfig-operator"
        text = kube.kubeconfig.read_text().replace(
            "current-context: admin", "current-context: operator"
        )
        kubeconfig.write_text(text)
        self.kube = Kube(kubeconfig, "operator")
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()
        self.extra_args: list[str] = []
        # The suite's receivers listen on loopback, which the operator refuses by default.
        self.egress_args: list[str] = list(EGRESS_ALLOW_LOOPBACK)

    def start(self) -> None:
        """Start the operator; wait until it has listed the cluster (or stands by for the Lease)."""
        started = len(self.log.read_text(errors="replace")) if self.log.exists() else 0
        args = [
            OPERATOR,
            f"--metrics-port={self.metrics_port}",
            *self.egress_args,
            *self.extra_args,
        ]
        if os.environ.get("OPERATOR_DEBUG"):
            args.append("--verbose")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self.kube.env(), "PYTHONUNBUFFERED": "1"},
            )

        def ready() -> bool:
            text = self.log.read_text(errors="replace")[started:]
            return "listed " in text or "standing by for the lease" in text

        wait_for(ready, timeout=60, what="the operator to start watching")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it (SIGTERM) or kill it (SIGKILL)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def metrics_url(self) -> str:
        """Where its Prometheus metrics are served."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def tail(self, lines: int = 40) -> str:
        """The last lines of the operator's log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def operator(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """The operator, running for the whole session (tests that restart it start it again)."""
    running = OperatorProcess(kube, tmp_path_factory.mktemp("operator") / "operator.log")
    running.start()
    yield running
    running.stop()
    print("\n--- operator log (tail) ---\n" + running.tail())


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace per test, deleted (without waiting) afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def page(kube: Kube, namespace: str) -> str:
    """A page `example` with two components, api and db, reconciled."""
    kube.apply(namespace, make_page(), make_component("api"), make_component("db"))
    wait_for(lambda: component(kube, namespace, "db") == "Operational", what="components ready")
    return "example"


def publish(kube: Kube, namespace: str, hostnames: list[str] | None = None) -> str:
    """A PublicationPolicy letting the namespace publish by path (and use these hostnames).

    Cluster-scoped, so a namespace's deletion leaves it: `published` deletes it after the test.
    """
    name = f"publish-{namespace}"
    grants = dict.fromkeys(hostnames or (), namespace)
    kube.run("apply", "-f", "-", stdin=yaml.safe_dump(make_policy(name, [namespace], grants)))
    return name


@pytest.fixture
def published(kube: Kube, namespace: str) -> Iterator[str]:
    """The test's namespace may publish pages by path; returns the namespace."""
    name = publish(kube, namespace)
    yield namespace
    kube.run("delete", "publicationpolicy", name, "--wait=false", check=False)
