"""manifests/signup: statuspage-signup's namespace, rights, admission guard and Deployment.

tests/e2e/test_signup.py runs the process under these rights and the guard, and
tests/e2e/test_rbac_audit.py shows every rule used; here: what must hold of the YAML itself.
"""

from __future__ import annotations

import functools
from typing import Any

from e2e.grants import Grant, granted, service_account
from unit.crd_schema import REPO_ROOT, kustomize

JsonObject = dict[str, Any]
NAMESPACE = "statuspage-signups"
NAME = "statuspage-signup"
SUBJECT = service_account(NAMESPACE, NAME)


@functools.cache
def _base() -> tuple[JsonObject, ...]:
    return tuple(kustomize(REPO_ROOT / "manifests"))


def one(kind: str, name: str = NAME) -> JsonObject:
    """The only object of a kind and name in the install base."""
    found = [d for d in _base() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def test_the_base_installs_it_in_its_own_restricted_namespace() -> None:
    """Namespace statuspage-signups enforces restricted; its objects live there."""
    labels = one("Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for kind in ("ServiceAccount", "Deployment", "Service", "NetworkPolicy", "Role"):
        assert one(kind)["metadata"]["namespace"] == NAMESPACE


def test_it_reads_no_secret_outside_its_namespace() -> None:
    """Cluster-wide, Secrets: create only. Get/list/update/delete only in its own namespace."""
    secrets = {g for g in granted(_base(), SUBJECT) if g.resource == "secrets"}
    assert {g.verb for g in secrets if not g.namespace} == {"create"}
    assert {g.namespace for g in secrets if g.verb != "create"} == {NAMESPACE}
    named = {g for g in secrets if g.names}
    assert named == {
        Grant(
            "",
            "secrets",
            "get",
            frozenset({"statuspage-subscription-key", "statuspage-mail-relay"}),
            NAMESPACE,
        )
    }


def test_it_writes_only_subscribers_among_our_kinds() -> None:
    """Our kinds: read pages, components, policies; write Subscribers, never their status."""
    ours = {g for g in granted(_base(), SUBJECT) if g.group == "statuspage.dev"}
    writes = {(g.resource, g.verb) for g in ours if g.verb not in ("get", "list", "watch")}
    assert writes == {("subscribers", v) for v in ("create", "patch", "delete")}
    reads = {g.resource for g in ours if g.verb == "watch"}
    assert reads == {"statuspages", "components", "publicationpolicies"}


def test_the_guard_applies_to_its_identity_and_denies() -> None:
    """The policy matches the ServiceAccount's username; its binding denies."""
    policy = one("ValidatingAdmissionPolicy", "statuspage-signup-guard")
    [condition] = policy["spec"]["matchConditions"]
    assert f"system:serviceaccount:{NAMESPACE}:{NAME}" in condition["expression"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    binding = one("ValidatingAdmissionPolicyBinding", "statuspage-signup-guard")
    assert binding["spec"]["validationActions"] == ["Deny"]
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert {(tuple(r["resources"]), tuple(r["operations"])) for r in rules} == {
        (("subscribers",), ("CREATE", "UPDATE", "DELETE")),
        (("secrets",), ("CREATE",)),
    }


def test_the_deployment_runs_two_restricted_replicas_of_statuspage_signup() -> None:
    """Two replicas, its ServiceAccount, the entry point, probes, a restricted container."""
    deployment = one("Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    assert spec["replicas"] == 2
    assert pod["serviceAccountName"] == NAME
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["command"] == ["statuspage-signup"]
    assert container["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    args = " ".join(container["args"])
    for flag in ("--public-url=", "--subscription-key-secret=", "--mail-secret=", "--port=9097"):
        assert flag in args


def test_the_network_policy_opens_the_form_and_smtp() -> None:
    """In: 9097 (and metrics); out: DNS, the API server, SMTP 25/465/587."""
    policy = one("NetworkPolicy")["spec"]
    ingress = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    egress = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert ingress == {9097, 9098}
    assert {25, 465, 587, 53, 443} <= egress
