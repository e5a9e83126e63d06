"""What the manifests grant an identity, and what an API server's audit log shows it used.

Both sides reduce to `Grant`s: (API group, resource with its subresource, verb), and for a rule
with `resourceNames`, the names. A rule added to the manifests later is checked with no change
here: `granted()` reads every Role and ClusterRole bound to the subject from the rendered YAML.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Grant:
    """One verb on one resource of one API group; `names` empty means any name."""

    group: str
    resource: str
    verb: str
    names: frozenset[str] = frozenset()
    namespace: str = ""

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        named = f" named {sorted(self.names)}" if self.names else ""
        return f"{self.verb} {self.resource}.{self.group or 'core'}{named}{where}"


@dataclass(frozen=True)
class Request:
    """One request of the audit log, as authorized."""

    user: str
    group: str
    resource: str
    verb: str
    name: str
    namespace: str
    allowed: bool

    def uses(self, grant: Grant) -> bool:
        """Whether this request needed the grant (and the grant allows it)."""
        return (
            self.allowed
            and (self.group, self.resource, self.verb) == (grant.group, grant.resource, grant.verb)
            and (not grant.names or self.name in grant.names)
            and (not grant.namespace or self.namespace == grant.namespace)
        )


def service_account(namespace: str, name: str) -> JsonObject:
    """A binding subject, as the manifests write it."""
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def username(subject: JsonObject) -> str:
    """The user name the API server gives a ServiceAccount subject."""
    return f"system:serviceaccount:{subject['namespace']}:{subject['name']}"


def granted(objects: Iterable[JsonObject], subject: JsonObject) -> set[Grant]:
    """Every grant the RoleBindings and ClusterRoleBindings among `objects` give `subject`."""
    objects = list(objects)
    roles = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in objects
        if d["kind"] in ("Role", "ClusterRole")
    }
    grants: set[Grant] = set()
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if subject not in binding.get("subjects", []):
            continue
        namespace = binding["metadata"].get("namespace", "")
        ref = binding["roleRef"]
        role_namespace = namespace if ref["kind"] == "Role" else ""
        role = roles.get((ref["kind"], role_namespace, ref["name"]))
        assert role is not None, f"{binding['metadata']['name']} binds a role the manifests lack"
        grants.update(_expand(role.get("rules") or [], namespace))
    return grants


def _expand(rules: list[JsonObject], namespace: str) -> Iterator[Grant]:
    for rule in rules:
        assert "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    names = frozenset(rule.get("resourceNames") or ())
                    yield Grant(group, resource, verb, names, namespace)


def requests(log: Path, users: set[str]) -> list[Request]:
    """The resource requests of some users in a JSON audit log (one event per line)."""
    found: list[Request] = []
    for line in log.read_text().splitlines():
        event = json.loads(line)
        user = event["user"]["username"]
        ref = event.get("objectRef")
        if user not in users or ref is None or event.get("stage") == "RequestReceived":
            continue
        resource = ref.get("resource", "")
        if ref.get("subresource"):
            resource += f"/{ref['subresource']}"
        decision = (event.get("annotations") or {}).get("authorization.k8s.io/decision")
        found.append(
            Request(
                user=user,
                group=ref.get("apiGroup", ""),
                resource=resource,
                verb=event["verb"],
                name=ref.get("name", ""),
                namespace=ref.get("namespace", ""),
                allowed=decision == "allow",
            )
        )
    return found


def audit_policy(users: Iterable[str]) -> JsonObject:
    """An audit policy: request metadata for these users, nothing for anyone else."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "Metadata", "users": sorted(users)},
            {"level": "None"},
        ],
    }
