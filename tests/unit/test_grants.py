"""The audit test's two readers (e2e/grants.py): grants from RBAC objects, requests from a log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from e2e.grants import Grant, Request, granted, requests, service_account, username

ACCOUNT = service_account("system", "op")
USER = "system:serviceaccount:system:op"


def role(kind: str, name: str, *rules: dict[str, Any], namespace: str = "") -> dict[str, Any]:
    """A Role or ClusterRole."""
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": meta, "rules": list(rules)}


def binding(kind: str, role_kind: str, name: str, namespace: str = "") -> dict[str, Any]:
    """A binding of a role to ACCOUNT."""
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name}
    return {"kind": kind, "metadata": meta, "roleRef": ref, "subjects": [ACCOUNT]}


def event(verb: str, resource: str, decision: str = "allow", **ref: str) -> dict[str, Any]:
    """One audit event of USER, as kube-apiserver writes it at the Metadata level."""
    return {
        "kind": "Event",
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": USER},
        "objectRef": {"resource": resource, **ref},
        "annotations": {"authorization.k8s.io/decision": decision},
    }


def test_username_of_a_service_account() -> None:
    """The API server's name for a ServiceAccount."""
    assert username(ACCOUNT) == USER


def test_granted_expands_bound_rules_only() -> None:
    """Every group x resource x verb of bound roles; an unbound role gives nothing."""
    objects = [
        role(
            "ClusterRole", "main", {"apiGroups": ["g"], "resources": ["a", "b"], "verbs": ["list"]}
        ),
        binding("ClusterRoleBinding", "ClusterRole", "main"),
        role("ClusterRole", "unbound", {"apiGroups": [""], "resources": ["x"], "verbs": ["get"]}),
    ]
    assert granted(objects, ACCOUNT) == {Grant("g", "a", "list"), Grant("g", "b", "list")}


def test_granted_keeps_names_and_the_namespace_of_a_role_binding() -> None:
    """A Role's rule with resourceNames, bound in its namespace, keeps both."""
    rule = {"apiGroups": ["c"], "resources": ["leases"], "resourceNames": ["me"], "verbs": ["get"]}
    objects = [
        role("Role", "lease", rule, namespace="system"),
        binding("RoleBinding", "Role", "lease", namespace="system"),
    ]
    assert granted(objects, ACCOUNT) == {Grant("c", "leases", "get", frozenset({"me"}), "system")}


def test_requests_reads_allowed_and_forbidden(tmp_path: Path) -> None:
    """Subresources join their resource; the authorization decision is kept; other users and
    non-resource requests are left out."""
    lines = [
        event("patch", "windows", apiGroup="g", subresource="status", name="w", namespace="n"),
        event("get", "secrets", decision="forbid", name="s", namespace="n"),
        {**event("list", "pods"), "user": {"username": "someone-else"}},
        {**event("get", "x"), "objectRef": None},
    ]
    log = tmp_path / "audit.log"
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert requests(log, {USER}) == [
        Request(USER, "g", "windows/status", "patch", "w", "n", allowed=True),
        Request(USER, "", "secrets", "get", "s", "n", allowed=False),
    ]


@pytest.mark.parametrize(
    ("request_", "used"),
    [
        pytest.param(Request(USER, "c", "leases", "get", "me", "system", True), True, id="match"),
        pytest.param(Request(USER, "c", "leases", "get", "you", "system", True), False, id="name"),
        pytest.param(Request(USER, "c", "leases", "get", "me", "other", True), False, id="ns"),
        pytest.param(
            Request(USER, "c", "leases", "update", "me", "system", True), False, id="verb"
        ),
        pytest.param(
            Request(USER, "c", "leases", "get", "me", "system", False), False, id="denied"
        ),
    ],
)
def test_a_request_uses_a_grant_only_if_it_fits(request_: Request, used: bool) -> None:
    """Same group, resource and verb, a granted name, the role's namespace, and allowed."""
    grant = Grant("c", "leases", "get", frozenset({"me"}), "system")
    assert request_.uses(grant) is used
