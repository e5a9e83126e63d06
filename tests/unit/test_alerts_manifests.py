"""The alerts receiver's manifests: its rights are exactly the calls its code makes."""

from __future__ import annotations

import functools
import re
from typing import Any

from e2e.grants import Grant, granted, service_account
from statuspage_operator.alerts.main import PORT, parse_args
from unit.crd_schema import REPO_ROOT, kustomize

JsonObject = dict[str, Any]
NAME = "statuspage-alerts"
SUBJECT = service_account("statuspage-system", NAME)
PACKAGE = REPO_ROOT / "operator" / "statuspage_operator"
GROUP = "statuspage.dev"
# The kubernetes client's methods the receiver may call, and the grant each needs.
CALLS = {
    "get_namespaced_custom_object": Grant(GROUP, "components", "get"),
    "patch_namespaced_custom_object_status": Grant(GROUP, "components/status", "patch"),
    "read_namespaced_secret": Grant("", "secrets", "get"),
}


@functools.cache
def _base() -> tuple[JsonObject, ...]:
    return tuple(kustomize(REPO_ROOT / "manifests"))


def one(kind: str) -> JsonObject:
    """The receiver's only object of a kind in the install base."""
    found = [d for d in _base() if d["kind"] == kind and d["metadata"]["name"] == NAME]
    assert len(found) == 1, f"{len(found)} {kind} named {NAME}"
    return found[0]


def used_by_the_code() -> set[Grant]:
    """Grants for every client call in alerts/kube.py and every kind alerts/main.py watches."""
    kube = (PACKAGE / "alerts" / "kube.py").read_text()
    calls = set(re.findall(r"self\._(?:custom|core)\.(\w+)", kube))
    assert calls <= set(CALLS), f"a call this test does not know: {calls - set(CALLS)}"
    main = (PACKAGE / "alerts" / "main.py").read_text()
    kinds = re.search(r"for kind in \(([^)]*)\)", main)
    assert kinds is not None
    plurals = {"Kind.PAGE": "statuspages", "Kind.COMPONENT": "components"}
    watched = [k.strip() for k in kinds.group(1).split(",") if k.strip()]
    assert set(watched) <= set(plurals)
    watches = {Grant(GROUP, plurals[k], verb) for k in watched for verb in ("list", "watch")}
    return {CALLS[c] for c in calls} | watches


def test_the_role_is_exactly_what_the_code_calls() -> None:
    """list/watch pages and components, get a component, patch its status, get a Secret."""
    assert granted(_base(), SUBJECT) == used_by_the_code()


def test_the_receiver_writes_no_spec_and_no_other_kind() -> None:
    """Its only write is components/status."""
    writes = {g for g in granted(_base(), SUBJECT) if g.verb not in ("get", "list", "watch")}
    assert writes == {Grant(GROUP, "components/status", "patch")}


def test_the_deployment_runs_two_replicas_of_the_receiver() -> None:
    """Two replicas, its own ServiceAccount, the entry point, readiness on /readyz."""
    deployment = one("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert spec["serviceAccountName"] == NAME
    assert container["command"] == [NAME]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert f"--port={PORT}" in container["args"]
    parse_args(container["args"])


def test_the_service_and_policy_open_the_webhook_port() -> None:
    """The Service and the NetworkPolicy both name the port the receiver listens on."""
    [port] = one("Service")["spec"]["ports"]
    assert port["port"] == PORT
    policies = [
        d
        for d in _base()
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == f"{NAME}-ingress"
    ]
    [policy] = policies
    ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert PORT in ports
