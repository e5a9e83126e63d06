"""The public page server's manifests and CRD fields, without a cluster."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from unit.crd_schema import REPO_ROOT, kustomize, validation_errors

JsonObject = dict[str, Any]
NAME = "statuspage-server"
NAMESPACE = "statuspage-system"
PLURALS = ["statuspages", "components", "maintenancewindows", "statusincidents"]


@functools.cache
def _base() -> tuple[JsonObject, ...]:
    return tuple(kustomize(REPO_ROOT / "manifests"))


def one(kind: str) -> JsonObject:
    """The server's only object of a kind in the install base."""
    found = [d for d in _base() if d["kind"] == kind and d["metadata"]["name"] == NAME]
    assert len(found) == 1, f"{len(found)} {kind} named {NAME}"
    return found[0]


def pod_spec() -> JsonObject:
    """The server Deployment's pod spec."""
    spec: JsonObject = one("Deployment")["spec"]["template"]["spec"]
    return spec


def container() -> JsonObject:
    """The server's container."""
    [only] = pod_spec()["containers"]
    result: JsonObject = only
    return result


def test_base_installs_the_server() -> None:
    """The base has the server's ServiceAccount, role, binding, Deployment and Service."""
    for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"):
        assert one(kind)["metadata"]["labels"]["app.kubernetes.io/name"] == NAME


def test_cluster_role_is_read_only_on_our_four_kinds() -> None:
    """list/watch on the four kinds and PublicationPolicies (the server reads none by name)."""
    read = ["list", "watch"]
    assert one("ClusterRole")["rules"] == [
        {"apiGroups": ["statuspage.dev"], "resources": PLURALS, "verbs": read},
        {"apiGroups": ["statuspage.dev"], "resources": ["publicationpolicies"], "verbs": read},
    ]


def test_binding_names_the_server_account() -> None:
    """The ClusterRole is bound to the server's own ServiceAccount."""
    binding = one("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == NAME
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    assert pod_spec()["serviceAccountName"] == NAME


def test_deployment_serves_with_two_replicas_and_no_leader() -> None:
    """At least two replicas, all serving; a rollout never takes one away first."""
    spec = one("Deployment")["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container()["command"] == ["statuspage-server"]
    assert not any("leader" in arg for arg in container()["args"])


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("runAsNonRoot", True, id="non-root"),
        pytest.param("runAsUser", 65532, id="uid"),
        pytest.param("seccompProfile", {"type": "RuntimeDefault"}, id="seccomp"),
    ],
)
def test_pod_is_restricted(field: str, expected: object) -> None:
    """The pod meets the restricted Pod Security Standard."""
    assert pod_spec()["securityContext"][field] == expected


def test_container_is_restricted() -> None:
    """Read-only root, no escalation, no capabilities, memory limited, no CPU limit."""
    context = container()["securityContext"]
    assert context == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "memory" in container()["resources"]["limits"]
    assert "cpu" not in container()["resources"]["limits"]


def test_probes_use_health_and_readiness() -> None:
    """Liveness on /healthz; readiness and start-up on /readyz (listed everything)."""
    assert container()["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container()["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container()["startupProbe"]["httpGet"]["path"] == "/readyz"


def test_service_targets_the_http_port() -> None:
    """The Service sends port 80 to the pods' named http port."""
    service = one("Service")
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": NAME}
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert ports["http"] == 8080


def page(**spec: Any) -> JsonObject:
    """A StatusPage with a spec."""
    return {
        "apiVersion": "statuspage.dev/v1alpha1",
        "kind": "StatusPage",
        "metadata": {"name": "example"},
        "spec": {"title": "Example", **spec},
    }


def test_page_accepts_hostnames_and_url() -> None:
    """spec.hostnames and spec.url validate."""
    found = page(hostnames=["status.example.com"], url="https://status.example.com/")
    assert validation_errors(found) == []


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"hostnames": ["Status.Example.com"]}, id="upper-case-host"),
        pytest.param({"hostnames": ["a b"]}, id="space-in-host"),
        pytest.param({"hostnames": [f"h{i}.example.com" for i in range(17)]}, id="too-many"),
        pytest.param({"url": "javascript:alert(1)"}, id="script-url"),
    ],
)
def test_page_rejects_bad_hostnames_and_urls(spec: JsonObject) -> None:
    """Host names are lower-case DNS names, at most 16; the URL is http(s)."""
    assert validation_errors(page(**spec))


def test_feed_key_role_reads_one_secret_by_name() -> None:
    """The server may `get` the feed key Secret its Deployment names, and no other Secret."""
    name = "statuspage-server-feed-key"
    [role] = [d for d in _base() if d["kind"] == "Role" and d["metadata"]["name"] == name]
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["statuspage-feed-key"],
            "verbs": ["get"],
        }
    ]
    assert role["metadata"]["namespace"] == NAMESPACE
    [binding] = [d for d in _base() if d["kind"] == "RoleBinding" and d["metadata"]["name"] == name]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": name,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    args = one("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--feed-key-secret={NAMESPACE}/statuspage-feed-key" in args
