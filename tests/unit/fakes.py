"""Fakes at the edge: an in-memory API server behind the operator's own client, and a clock.

`FakeClient` is the operator's `Client` with its one network call, `request()`, answered from
memory: our kinds (list with pages, status merge patches with resourceVersions), core Events (a
second post of one name is a 409, as on a real server), Secrets and Leases. Everything above it
(writer, announcer, notifier, runtime) runs unchanged. Faults are injected per call with
`fail_next()`, so retries are tested without a cluster. `FakeClock` moves only when told, or
when its `sleep()` is awaited (a daemon's sleep until its next edge takes no time).
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from statuspage_operator.api.names import API_VERSION, PLURALS, Kind
from statuspage_operator.k8s.client import METADATA_LIST, ApiError, Client, Credentials, _error

PLURAL_KINDS = {plural: str(kind) for kind, plural in PLURALS.items()} | {
    "subscribers": "Subscriber"
}
_CUSTOM = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$"
)
_CORE = re.compile(
    r"^/api/v1/namespaces/(?P<namespace>[^/]+)/(?P<plural>events|secrets)(?:/(?P<name>[^/]+))?$"
)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, None removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


@dataclass
class Call:
    """One request the client made."""

    method: str
    path: str
    body: Any = None


@dataclass
class Fault:
    """An error to answer instead of the real thing, for calls that match."""

    method: str
    pattern: str
    status: int
    times: int


@dataclass
class FakeClock:
    """A wall clock that moves only when told."""

    now: datetime = field(default_factory=lambda: datetime(2026, 5, 10, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward; returns the new now."""
        self.now += timedelta(seconds=seconds)
        return self.now

    def set(self, now: datetime) -> None:
        """Jump to an instant (forward or back, as a stepped wall clock does)."""
        self.now = now

    async def sleep(self, seconds: float) -> None:
        """A sleep that takes no time: the clock moves on by `seconds` and the loop turns once."""
        self.advance(seconds)
        await asyncio.sleep(0)


class FakeStop:
    """kopf's `stopped` flag as a daemon sees it: truthy once set, and awaitable."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __bool__(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> bool:
        """Until it is set."""
        return await self._event.wait()

    def set(self) -> None:
        """Ask the daemon to stop."""
        self._event.set()


class FakeClient(Client):
    """The operator's client over an in-memory API server."""

    def __init__(self) -> None:
        super().__init__(Credentials("http://fake.invalid", None, {}))
        # (plural, namespace, name) -> object; plural is ours, or "events", "secrets", "leases".
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self._version = 100
        self._uids = 0

    # -- setting up --------------------------------------------------------------------------

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object as `kubectl apply` would (uid, generation, resourceVersion given)."""
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        if "uid" not in meta:
            self._uids += 1
            meta["uid"] = f"uid-{self._uids}"
        meta["resourceVersion"] = self._next_version()
        plural = self._plural_of(stored)
        self.objects[(plural, meta["namespace"], meta["name"])] = stored
        return copy.deepcopy(stored)

    def edit(self, kind: Kind, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Replace an object's spec as `kubectl apply` would: a new generation."""
        stored = self.objects[(PLURALS[kind], namespace, name)]
        stored["spec"] = copy.deepcopy(spec)
        stored["metadata"]["generation"] = int(stored["metadata"].get("generation") or 0) + 1
        stored["metadata"]["resourceVersion"] = self._next_version()
        return copy.deepcopy(stored)

    def add_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """A Secret with base64-encoded `data`."""
        self.objects[("secrets", namespace, name)] = {
            "metadata": {"namespace": namespace, "name": name},
            "data": dict(data),
        }

    def get(self, kind: Kind | str, namespace: str, name: str) -> dict[str, Any] | None:
        """An object as stored now (a copy), by kind or plural."""
        plural = PLURALS[kind] if isinstance(kind, Kind) else kind
        found = self.objects.get((plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Events posted, in order of posting."""
        return [
            copy.deepcopy(obj)
            for (plural, ns, _), obj in self.objects.items()
            if plural == "events" and (namespace is None or ns == namespace)
        ]

    def status(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        """An object's status as stored now ({} when it has none or is gone)."""
        found = self.get(kind, namespace, name)
        return dict((found or {}).get("status") or {})

    def reasons(self, name: str | None = None) -> list[str]:
        """The reasons of the Events posted (about one object, if named), in order."""
        return [
            str(e["reason"])
            for e in self.events()
            if name is None or e["involvedObject"]["name"] == name
        ]

    def patched(self) -> list[str]:
        """`<plural>/<name>` of every status patch made, in order (faulted ones included)."""
        found = []
        for call in self.calls:
            match = _CUSTOM.match(call.path)
            if call.method == "PATCH" and match is not None and match["sub"] == "status":
                found.append(f"{match['plural']}/{match['name']}")
        return found

    def fail_next(self, method: str, pattern: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` calls of `method` whose path matches `pattern` with `status`."""
        self.faults.append(Fault(method, pattern, status, times))

    def count(self, method: str, pattern: str = "") -> int:
        """How many calls of a method (whose path matches) were made."""
        return sum(1 for c in self.calls if c.method == method and re.search(pattern, c.path))

    # -- the API server ----------------------------------------------------------------------

    async def close(self) -> None:
        """Nothing to close."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict[str, Any]:
        """Answer one call from memory, or with an injected fault."""
        self.calls.append(Call(method, path, copy.deepcopy(body)))
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and re.search(fault.pattern, path):
                fault.times -= 1
                raise _error(fault.status, f"injected {fault.status}")
        core = _CORE.match(path)
        if core is not None:
            return self._core(method, core["plural"], core["namespace"], core["name"], body)
        custom = _CUSTOM.match(path)
        if custom is None:
            raise ApiError(404, f"no route for {path}")
        plural, namespace, name = custom["plural"], custom["namespace"] or "", custom["name"]
        if name is None:
            if method == "POST":
                return self._create(plural, namespace, body)
            found = self._list(plural, namespace, params or {})
            if accept == METADATA_LIST:
                found["items"] = [{"metadata": item["metadata"]} for item in found["items"]]
            return found
        key = (plural, namespace, name)
        if method == "GET":
            return self._existing(key)
        if method == "PUT":
            return self._replace(key, body)
        if method == "PATCH" and custom["sub"] == "status":
            stored = self._existing(key)
            stored["status"] = merge_patch(stored.get("status") or {}, body.get("status"))
            stored["metadata"]["resourceVersion"] = self._next_version()
            return copy.deepcopy(stored)
        raise ApiError(405, f"{method} {path} is not served by the fake")

    def _core(
        self, method: str, plural: str, namespace: str, name: str | None, body: Any
    ) -> dict[str, Any]:
        if plural == "secrets":
            if method != "GET" or name is None:
                raise ApiError(403, "forbidden: the operator may only get Secrets")
            return self._existing(("secrets", namespace, name))
        if method != "POST":
            raise ApiError(405, "the fake serves only Event creation")
        return self._create("events", namespace, body)

    def _create(self, plural: str, namespace: str, body: Any) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if (plural, namespace, name) in self.objects:
            raise _error(409, f'{plural} "{name}" already exists')
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = self._next_version()
        self.objects[(plural, namespace, name)] = stored
        return copy.deepcopy(stored)

    def _replace(self, key: tuple[str, str, str], body: Any) -> dict[str, Any]:
        stored = self._existing(key)
        if body["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]:
            raise _error(409, "the object has been modified")
        replaced = copy.deepcopy(body)
        replaced["metadata"]["resourceVersion"] = self._next_version()
        self.objects[key] = replaced
        return copy.deepcopy(replaced)

    def _list(self, plural: str, namespace: str, params: dict[str, str]) -> dict[str, Any]:
        names = sorted(
            key for key in self.objects if key[0] == plural and namespace in ("", key[1])
        )
        start = int(params.get("continue") or 0)
        limit = int(params.get("limit") or len(names) or 1)
        chunk = names[start : start + limit]
        more = start + limit < len(names)
        return {
            "apiVersion": API_VERSION,
            "items": [copy.deepcopy(self.objects[key]) for key in chunk],
            "metadata": {
                "resourceVersion": str(self._version),
                "continue": str(start + limit) if more else "",
            },
        }

    def _existing(self, key: tuple[str, str, str]) -> dict[str, Any]:
        found = self.objects.get(key)
        if found is None:
            raise _error(404, f'{key[0]} "{key[2]}" not found')
        return found if key[0] != "secrets" else copy.deepcopy(found)

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    @staticmethod
    def _plural_of(obj: dict[str, Any]) -> str:
        kind = obj.get("kind")
        for plural, name in PLURAL_KINDS.items():
            if name == kind:
                return plural
        raise ValueError(f"unknown kind {kind!r}")


def resource(kind: Kind | str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A new object of one of our kinds (Kind, or "Subscriber"), as a user would apply it."""
    return {
        "apiVersion": API_VERSION,
        "kind": str(kind),
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec,
    }


def deleted(client: FakeClient, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
    """Remove an object as `kubectl delete` would (no finalizers here); returns its last body."""
    return client.objects.pop((PLURALS[kind], namespace, name))


Clock = Callable[[], datetime]
