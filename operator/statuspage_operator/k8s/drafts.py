"""The API calls on the operator's own draft incidents: create, delete, append a Resolved update.

The spec-guard admission policy (manifests/rbac/spec-guard.yaml) lets the operator's identity do
these only on StatusIncidents labelled as its own (api/drafts.py MANAGED_BY); each call here is
made only on one. A delete and an append carry the resourceVersion the decision was made on, so a
person who published the draft in between wins (409: decided again on the next event).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from statuspage_operator.api.names import API_VERSION, PLURALS, Kind
from statuspage_operator.k8s.client import MERGE_PATCH, Client, ConflictError, custom_path

PLURAL = PLURALS[Kind.INCIDENT]


async def create_incident(
    client: Client, namespace: str, body: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Create a draft; the object as stored, or None if one of that name exists (AlreadyExists)."""
    metadata = {**body.get("metadata", {}), "namespace": namespace}
    full = {**body, "apiVersion": API_VERSION, "kind": "StatusIncident", "metadata": metadata}
    try:
        return await client.request("POST", custom_path(PLURAL, namespace), body=full)
    except ConflictError:
        return None


async def delete_incident(client: Client, namespace: str, name: str, version: str) -> None:
    """Delete an incident as it was at `version` (ConflictError if it changed, e.g. published)."""
    options = {"preconditions": {"resourceVersion": version}}
    await client.request("DELETE", custom_path(PLURAL, namespace, name), body=options)


async def append_update(
    client: Client,
    namespace: str,
    name: str,
    version: str,
    updates: Sequence[Mapping[str, Any]],
    update: Mapping[str, Any],
) -> dict[str, Any]:
    """Append one update to `updates` (the list at `version`); ConflictError if it changed."""
    patch = {
        "metadata": {"resourceVersion": version},
        "spec": {"updates": [*updates, update]},
    }
    return await client.request(
        "PATCH", custom_path(PLURAL, namespace, name), body=patch, content_type=MERGE_PATCH
    )
