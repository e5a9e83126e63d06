"""A fake at the edge: an in-memory API server behind the operator's own client.

`FakeClient` is the operator's `Client` with its one network call, `request()`, answered from
memory: our kinds and Subscribers (lists in pages of one snapshot, full or metadata-only, status
merge patches with resourceVersions), core Events (a second post of one name is a 409, as on a
real server), Secrets and Leases. Everything above it (writer, announcer, notifier, sweeper,
runtime) runs unchanged. Faults are injected per call with `fail_next()`, so retries are tested
without a cluster; `after_snapshot` lets a change race a metadata list.
"""

from __future__ import annotations

import base64
import copy
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from statuspage_operator.api.names import API_VERSION, PLURALS, Kind
from statuspage_operator.k8s.client import (
    MERGE_PATCH,
    METADATA_LIST,
    ApiError,
    Client,
    Credentials,
    _error,
)

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
    params: dict[str, str] = field(default_factory=dict)
    accept: str = "application/json"


@dataclass
class Fault:
    """An error to answer instead of the real thing, for calls that match."""

    method: str
    pattern: str
    status: int
    times: int
    error: BaseException | None = None
    later_pages: bool = False

    def matches(self, call: Call) -> bool:
        """Whether this fault answers the call (and has answers left)."""
        if self.later_pages and "continue" not in call.params:
            return False
        return (
            self.times > 0
            and self.method == call.method
            and bool(re.search(self.pattern, call.path))
        )


class FakeClient(Client):
    """The operator's client over an in-memory API server."""

    def __init__(self) -> None:
        super().__init__(Credentials("http://fake.invalid", None, {}))
        # (plural, namespace, name) -> object; plural is ours, or "events", "secrets", "leases".
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        # Called with the plural once a metadata list's snapshot is taken (a change racing a sweep).
        self.after_snapshot: Callable[[str], None] | None = None
        # Continue token's prefix -> (resourceVersion, items) of a list not served to its end.
        self._snapshots: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self._snapshot_ids = itertools.count(1)
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
        stored = self.objects[(_plural(kind), namespace, name)]
        stored["spec"] = copy.deepcopy(spec)
        stored["metadata"]["generation"] = int(stored["metadata"].get("generation") or 0) + 1
        stored["metadata"]["resourceVersion"] = self._next_version()
        return copy.deepcopy(stored)

    def delete(self, kind: Kind | str, namespace: str, name: str) -> dict[str, Any]:
        """Remove an object as `kubectl delete` would (no finalizers); returns its last body."""
        return self.objects.pop((_plural(kind), namespace, name))

    def add_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, str],
        labels: dict[str, str] | None = None,
    ) -> None:
        """A Secret whose keys hold these values (stored base64-encoded, as a server does)."""
        self.objects[("secrets", namespace, name)] = {
            "metadata": {"namespace": namespace, "name": name, "labels": dict(labels or {})},
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
        }

    def get(self, kind: Kind | str, namespace: str, name: str) -> dict[str, Any] | None:
        """An object as stored now (a copy), by kind or plural."""
        found = self.objects.get((_plural(kind), namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def keys(self, kind: Kind | str) -> list[tuple[str, str]]:
        """(namespace, name) of every object of a kind (or plural) stored now, sorted."""
        plural = _plural(kind)
        return sorted((ns, name) for (p, ns, name) in self.objects if p == plural)

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Events posted, in order of posting."""
        return [
            copy.deepcopy(obj)
            for (plural, ns, _), obj in self.objects.items()
            if plural == "events" and (namespace is None or ns == namespace)
        ]

    def status(self, kind: Kind | str, namespace: str, name: str) -> dict[str, Any]:
        """An object's status as stored now ({} when it has none or is gone)."""
        found = self.get(kind, namespace, name)
        return dict((found or {}).get("status") or {})

    def ready(self, kind: Kind | str, namespace: str, name: str) -> dict[str, Any]:
        """An object's Ready condition as stored now ({} when it has none)."""
        conditions = self.status(kind, namespace, name).get("conditions") or []
        return dict(next((c for c in conditions if c["type"] == "Ready"), {}))

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

    def fail_next(
        self,
        method: str,
        pattern: str,
        status: int = 500,
        times: int = 1,
        *,
        error: BaseException | None = None,
        later_pages: bool = False,
    ) -> None:
        """Answer the next `times` calls of `method` whose path matches `pattern` with an ApiError
        of `status`, or raise `error` (a connection refused); with `later_pages`, only the pages
        of a list after its first (a continue token expired, the server gone mid-list)."""
        self.faults.append(Fault(method, pattern, status, times, error, later_pages))

    def faults_left(self) -> int:
        """How many injected answers are still to be given."""
        return sum(fault.times for fault in self.faults)

    def count(self, method: str, pattern: str = "") -> int:
        """How many calls of a method (whose path matches) were made."""
        return sum(1 for c in self.calls if c.method == method and re.search(pattern, c.path))

    def lists(self, accept: str = "application/json") -> int:
        """How many lists of `accept` (METADATA_LIST: metadata-only) were begun."""
        return sum(1 for c in self.calls if c.accept == accept and _begins_a_list(c))

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
        call = Call(method, path, copy.deepcopy(body), dict(params or {}), accept)
        self.calls.append(call)
        for fault in self.faults:
            if fault.matches(call):
                fault.times -= 1
                raise fault.error or _error(fault.status, f"injected {fault.status}")
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
            return self._list(plural, namespace, call.params, accept == METADATA_LIST)
        key = (plural, namespace, name)
        if method == "GET":
            return copy.deepcopy(self._existing(key))
        if method == "PUT":
            return self._replace(key, body)
        if method == "PATCH" and custom["sub"] == "status":
            stored = self._existing(key)
            stored["status"] = merge_patch(stored.get("status") or {}, body.get("status"))
            stored["metadata"]["resourceVersion"] = self._next_version()
            return copy.deepcopy(stored)
        if method == "PATCH" and not custom["sub"] and content_type == MERGE_PATCH:
            return self._merge(key, body)
        if method == "DELETE":
            return self._delete(key, body)
        raise ApiError(405, f"{method} {path} is not served by the fake")

    def _merge(self, key: tuple[str, str, str], body: Any) -> dict[str, Any]:
        """A merge patch of the main resource; a resourceVersion in it is a precondition."""
        stored = self._existing(key)
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version is not None and version != stored["metadata"]["resourceVersion"]:
            raise _error(409, "the object has been modified")
        merged = merge_patch(stored, body)
        if merged.get("spec") != stored.get("spec"):
            merged["metadata"]["generation"] = int(stored["metadata"].get("generation") or 0) + 1
        merged["metadata"]["resourceVersion"] = self._next_version()
        self.objects[key] = merged
        return copy.deepcopy(merged)

    def _delete(self, key: tuple[str, str, str], body: Any) -> dict[str, Any]:
        """A delete, with DeleteOptions' resourceVersion and uid preconditions."""
        stored = self._existing(key)
        preconditions = (body or {}).get("preconditions") or {}
        version = preconditions.get("resourceVersion")
        if version is not None and version != stored["metadata"]["resourceVersion"]:
            raise _error(409, "Precondition failed: the object has been modified")
        uid = preconditions.get("uid")
        if uid is not None and uid != stored["metadata"].get("uid"):
            raise _error(409, "Precondition failed: UID in precondition does not match")
        return copy.deepcopy(self.objects.pop(key))

    def _core(
        self, method: str, plural: str, namespace: str, name: str | None, body: Any
    ) -> dict[str, Any]:
        if plural == "secrets":
            if method != "GET" or name is None:
                raise ApiError(403, "forbidden: the operator may only get Secrets")
            return copy.deepcopy(self._existing(("secrets", namespace, name)))
        if method == "POST" and name is None:
            return self._create("events", namespace, body)
        if method == "GET" and name is not None:
            return copy.deepcopy(self._existing(("events", namespace, name)))
        if method == "PATCH" and name is not None:
            # A merge patch carrying a resourceVersion is a precondition, as on a real server.
            stored = self._existing(("events", namespace, name))
            version = (body.get("metadata") or {}).get("resourceVersion")
            if version is not None and version != stored["metadata"]["resourceVersion"]:
                raise _error(409, "the object has been modified")
            merged = merge_patch(stored, body)
            merged["metadata"]["resourceVersion"] = self._next_version()
            self.objects[("events", namespace, name)] = merged
            return copy.deepcopy(merged)
        raise ApiError(405, f"the fake serves no {method} of Events")

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

    def _list(
        self, plural: str, namespace: str, params: dict[str, str], metadata: bool
    ) -> dict[str, Any]:
        """One page; all pages of a list are of the snapshot taken for its first, as on a real
        server (a continue token names the snapshot and where the next page begins)."""
        token = params.get("continue") or ""
        if token:
            snapshot, _, offset = token.partition(":")
            if snapshot not in self._snapshots:
                raise _error(410, "the provided continue parameter is too old")
            version, items = self._snapshots.pop(snapshot)
            start = int(offset)
        else:
            snapshot, version, start = str(next(self._snapshot_ids)), str(self._version), 0
            keys = sorted(k for k in self.objects if k[0] == plural and namespace in ("", k[1]))
            items = [copy.deepcopy(self.objects[key]) for key in keys]
            if metadata:
                items = [{"metadata": item["metadata"]} for item in items]
                if self.after_snapshot is not None:
                    self.after_snapshot(plural)
        limit = int(params.get("limit") or len(items) or 1)
        more = start + limit < len(items)
        if more:
            self._snapshots[snapshot] = (version, items)
        return {
            "apiVersion": API_VERSION,
            "items": items[start : start + limit],
            "metadata": {
                "resourceVersion": version,
                "continue": f"{snapshot}:{start + limit}" if more else "",
            },
        }

    def _existing(self, key: tuple[str, str, str]) -> dict[str, Any]:
        found = self.objects.get(key)
        if found is None:
            raise _error(404, f'{key[0]} "{key[2]}" not found')
        return found

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


def _begins_a_list(call: Call) -> bool:
    match = _CUSTOM.match(call.path)
    listing = match is not None and match["name"] is None and call.method == "GET"
    return listing and "continue" not in call.params


def _plural(kind: Kind | str) -> str:
    return PLURALS[kind] if isinstance(kind, Kind) else kind
