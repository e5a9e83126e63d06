"""The API calls on the operator's own draft incidents: create, delete, append a Resolved update.

The spec-guard admission policy (manifests/rbac/spec-guard.yaml) lets the operator's identity do
these only on StatusIncidents labelled as its own (api/drafts.py MANAGED_BY); each call here is
made only on one. A delete and an append carry the resourceVersion the decision was made on, so a
person who published the draft in between wins (409: decided again on the next event). A 409 that
only the incident's status caused (the operator stamping its timeline) is not a change of mind:
the object is read again and, its spec as decided on, the call is made again at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from statuspage_operator.api.names import API_VERSION, PLURALS, Kind
from statuspage_operator.k8s.client import MERGE_PATCH, Client, ConflictError, custom_path

PLURAL = PLURALS[Kind.INCIDENT]
# Status-only conflicts retried at once, at most this many times.
ATTEMPTS = 3


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


async def _still(
    client: Client, namespace: str, name: str, updates: Sequence[Mapping[str, Any]], draft: bool
) -> str | None:
    """The incident's resourceVersion now if its spec still says what the decision was made on
    (these updates; a draft when `draft`), else None."""
    found = await client.request("GET", custom_path(PLURAL, namespace, name))
    spec = found.get("spec") or {}
    if list(spec.get("updates") or ()) != list(updates) or (
        draft and spec.get("draft") is not True
    ):
        return None
    return str(found.get("metadata", {}).get("resourceVersion", "")) or None


async def delete_incident(
    client: Client,
    namespace: str,
    name: str,
    version: str,
    updates: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Delete a draft as it was at `version` (ConflictError if it changed, e.g. published; given
    its `updates`, a change of its status alone is not one)."""
    for attempt in range(ATTEMPTS):
        options = {"preconditions": {"resourceVersion": version}}
        try:
            await client.request("DELETE", custom_path(PLURAL, namespace, name), body=options)
            return
        except ConflictError:
            if updates is None or attempt == ATTEMPTS - 1:
                raise
            now = await _still(client, namespace, name, updates, draft=True)
            if now is None:
                raise
            version = now


async def append_update(
    client: Client,
    namespace: str,
    name: str,
    version: str,
    updates: Sequence[Mapping[str, Any]],
    update: Mapping[str, Any],
) -> dict[str, Any]:
    """Append one update to `updates` (the list at `version`); ConflictError if they changed."""
    for attempt in range(ATTEMPTS):
        patch = {
            "metadata": {"resourceVersion": version},
            "spec": {"updates": [*updates, update]},
        }
        try:
            stored: dict[str, Any] = await client.request(
                "PATCH", custom_path(PLURAL, namespace, name), body=patch, content_type=MERGE_PATCH
            )
            return stored
        except ConflictError:
            now = None
            if attempt < ATTEMPTS - 1:
                now = await _still(client, namespace, name, updates, draft=False)
            if now is None:
                raise
            version = now
    raise AssertionError("unreachable: the last attempt returns or raises")
