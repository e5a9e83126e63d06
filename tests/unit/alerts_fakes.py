"""Fakes at the receiver's edge: the API server's components (with resourceVersions) and Secrets."""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from statuspage_operator.alerts.store import ConflictError, GoneError

JsonObject = dict[str, Any]


def make_component(
    name: str, matchers: list[str], page: str = "example", namespace: str = "team"
) -> JsonObject:
    """A Component taking alerts, as the API server returns it."""
    return {
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "spec": {"page": page, "alerts": {"matchers": matchers}},
        "status": {},
    }


def make_page(
    name: str = "example", secret: str | None = "receiver", namespace: str = "team", **alerts: Any
) -> JsonObject:
    """A StatusPage, taking alerts when `secret` is set."""
    spec: JsonObject = {"title": name}
    if secret is not None:
        spec["alerts"] = {"receiverSecretRef": {"name": secret}, **alerts}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def make_secret(labelled: bool = True, /, **data: str) -> JsonObject:
    """A Secret as the API returns it (data base64-encoded)."""
    labels = {"statuspage.dev/alerts-receiver": "true"} if labelled else {}
    return {
        "metadata": {"labels": labels},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


@dataclass
class FakeApiServer:
    """Components by (namespace, name), a resourceVersion per write, 409 on a stale one."""

    objects: dict[tuple[str, str], JsonObject] = field(default_factory=dict)
    secrets: dict[tuple[str, str], JsonObject] = field(default_factory=dict)
    patches: int = 0
    conflicts: int = 0
    failing: bool = False
    secret_reads: int = 0
    _version: int = 1

    def add(self, obj: JsonObject) -> JsonObject:
        """Store an object (as created)."""
        metadata = obj["metadata"]
        self.objects[(metadata["namespace"], metadata["name"])] = copy.deepcopy(obj)
        return obj

    async def get(self, namespace: str, name: str) -> Mapping[str, Any]:
        found = self.objects.get((namespace, name))
        if found is None:
            raise GoneError(name)
        return copy.deepcopy(found)

    async def patch_status(
        self, namespace: str, name: str, body: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        if self.failing:
            raise RuntimeError("the API server is down")
        found = self.objects.get((namespace, name))
        if found is None:
            raise GoneError(name)
        if body["metadata"]["resourceVersion"] != found["metadata"]["resourceVersion"]:
            self.conflicts += 1
            raise ConflictError(name)
        assert set(body) == {"metadata", "status"}
        assert set(body["status"]) == {"alerts"}
        self.patches += 1
        self._version += 1
        found["status"] = {**found.get("status", {}), **copy.deepcopy(body["status"])}
        found["metadata"]["resourceVersion"] = str(self._version)
        return copy.deepcopy(found)

    def touch(self, namespace: str, name: str) -> None:
        """Someone else wrote the object (its resourceVersion moves)."""
        self._version += 1
        self.objects[(namespace, name)]["metadata"]["resourceVersion"] = str(self._version)

    async def read_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        self.secret_reads += 1
        return self.secrets.get((namespace, name))
