"""The local control plane is a real one: CEL, status subresource, finalizers, GC, RBAC."""

from __future__ import annotations

import json

import pytest

from controlplane.cluster import LocalCluster
from e2e.kube import Kube, wait_for

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.test"},
    "spec": {
        "group": "smoke.test",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer"}},
                                "x-kubernetes-validations": [
                                    {"rule": "self.size < 10", "message": "size must be below 10"}
                                ],
                            },
                            "status": {
                                "type": "object",
                                "properties": {"state": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, size: int, finalizers: tuple[str, ...] = ()) -> dict[str, object]:
    """A Widget object."""
    return {
        "apiVersion": "smoke.test/v1",
        "kind": "Widget",
        "metadata": {"name": name, "finalizers": list(finalizers)},
        "spec": {"size": size},
    }


@pytest.fixture(scope="module")
def widgets(kube: Kube) -> Kube:
    """The Widget CRD, installed and established."""
    kube.run("apply", "-f", "-", stdin=json.dumps(WIDGET_CRD))
    kube.run("wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.smoke.test")
    return kube


def test_version_is_stamped(cluster: LocalCluster, kube: Kube) -> None:
    """/version reports the Kubernetes version we built, not v0.0.0."""
    version = json.loads(kube.run("version", "-o", "json").stdout)["serverVersion"]
    assert version["gitVersion"] == "v1.37.2"


def test_cel_rule_rejects_with_its_message(widgets: Kube, namespace: str) -> None:
    """A CEL rule in the CRD rejects a bad object with the rule's message."""
    result = widgets.run(
        "apply", "-n", namespace, "-f", "-", stdin=json.dumps(widget("big", 12)), check=False
    )
    assert result.returncode != 0
    assert "size must be below 10" in result.stderr


def test_status_subresource_and_finalizer(widgets: Kube, namespace: str) -> None:
    """Status is written through /status; a finalizer holds deletion until it is removed."""
    widgets.apply(namespace, widget("small", 3, finalizers=("smoke.test/hold",)))
    widgets.run(
        "patch",
        "widget",
        "small",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"state": "ready"}}),
    )
    assert widgets.status("widget", "small", namespace) == {"state": "ready"}
    widgets.run("delete", "widget", "small", "-n", namespace, "--wait=false")
    held = widgets.get("widget", "small", namespace)
    assert held is not None
    assert held["metadata"].get("deletionTimestamp")
    widgets.run(
        "patch",
        "widget",
        "small",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"finalizers": None}}),
    )
    wait_for(lambda: widgets.get("widget", "small", namespace) is None, what="widget gone")


def test_namespace_deletion_completes(widgets: Kube) -> None:
    """kube-controller-manager's namespace controller empties and removes a namespace."""
    widgets.run("create", "namespace", "doomed")
    widgets.apply("doomed", widget("w", 1))
    widgets.run("delete", "namespace", "doomed", "--wait=false")
    wait_for(
        lambda: widgets.run("get", "namespace", "doomed", check=False).returncode != 0,
        timeout=60,
        what="namespace doomed to be deleted",
    )


def test_operator_user_is_denied_what_its_role_lacks(kube: Kube) -> None:
    """The operator user may not list Secrets (only get one by name): RBAC is enforced."""
    denied = kube.as_user("operator").run("get", "secrets", "-A", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    allowed = kube.as_user("operator").run("get", "maintenancewindows", "-A")
    assert allowed.returncode == 0
