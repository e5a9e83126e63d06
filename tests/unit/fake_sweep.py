"""An API server in memory, answering the calls of the operator's client (a fake at the edge).

Objects are kept by plural and (namespace, name); each write bumps one resourceVersion counter,
as etcd does. Lists answer in pages; a metadata-only list (`accept`) returns metadata only.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from statuspage_operator.api.names import PLURALS, Kind
from statuspage_operator.k8s.client import (
    METADATA_LIST,
    Client,
    Credentials,
    NotFoundError,
)

Key = tuple[str, str]


class FakeApi(Client):
    """Our kinds' objects in memory, their status writes, and the Events posted."""

    def __init__(self) -> None:
        super().__init__(Credentials("https://fake.invalid", None, {}))
        self.objects: dict[str, dict[Key, dict[str, Any]]] = {}
        self.events: list[tuple[str, str, str]] = []
        self.metadata_lists = 0
        self._versions = itertools.count(1)
        # Called with the plural once a metadata list's snapshot is made (a change racing a sweep).
        self.after_snapshot: Callable[[str], None] | None = None
        # Raised, one each, by the next metadata lists after their first page (a failure).
        self.list_failures: list[Exception] = []

    def create(self, kind: Kind | str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a new object (uid, generation and resourceVersion filled in); return it."""
        plural = PLURALS[kind] if isinstance(kind, Kind) else kind
        stored = copy.deepcopy(body)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("namespace", "ns")
        meta["uid"] = str(uuid.uuid4())
        meta["generation"] = 1
        meta["resourceVersion"] = str(next(self._versions))
        stored.setdefault("status", {})
        self.objects.setdefault(plural, {})[(meta["namespace"], meta["name"])] = stored
        return copy.deepcopy(stored)

    def delete(self, kind: Kind | str, namespace: str, name: str) -> None:
        """Remove an object (no event is sent: that is the point)."""
        plural = PLURALS[kind] if isinstance(kind, Kind) else kind
        del self.objects[plural][(namespace, name)]

    def status(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        """An object's stored status."""
        return dict(self.objects[PLURALS[kind]][(namespace, name)].get("status") or {})

    async def close(self) -> None:
        """Nothing to close."""

    async def patch_status(
        self, kind: Kind, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status (None removes a field); 404 if the object is gone."""
        stored = self.objects.get(PLURALS[kind], {}).get((namespace, name))
        if stored is None:
            raise NotFoundError(404, f"{kind} {namespace}/{name} not found")
        current = stored.setdefault("status", {})
        for field, value in status.items():
            if value is None:
                current.pop(field, None)
            else:
                current[field] = copy.deepcopy(value)
        stored["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(stored)

    async def list_plural(
        self, plural: str, namespaces: list[str], limit: int = 500, accept: str = "application/json"
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every object of a plural (in some namespaces, or all), `limit` at a time."""
        metadata = accept == METADATA_LIST
        if metadata:
            self.metadata_lists += 1
        if plural not in self.objects and plural not in PLURALS.values():
            raise NotFoundError(404, f"the server could not find the resource {plural}")
        snapshot = [
            copy.deepcopy({"metadata": body["metadata"]} if metadata else body)
            for (namespace, _), body in sorted(self.objects.get(plural, {}).items())
            if not namespaces or namespace in namespaces
        ]
        if metadata and self.after_snapshot is not None:
            self.after_snapshot(plural)
        for start in range(0, max(len(snapshot), 1), limit):
            if start and metadata and self.list_failures:
                raise self.list_failures.pop(0)
            yield snapshot[start : start + limit]

    async def post_event(
        self,
        ref: dict[str, str],
        name: str,
        reason: str,
        message: str,
        at: datetime,
        *,
        warning: bool = False,
    ) -> bool:
        """Record the Event."""
        self.events.append((ref["name"], reason, message))
        return True
