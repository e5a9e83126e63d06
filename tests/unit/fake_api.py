"""Fakes at the edge for notification tests: an in-memory API server and a recording channel.

`FakeApi` answers the calls notifications and the status writer make (a Secret by name, a status
merge patch of one of our objects, an Event post) from dictionaries, as the API server would, and
can be told to fail the next calls. `FakeChannels` takes the place of the network: it records what
was sent, fails for the destinations it is told to, and counts the sends in flight at once.
"""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import Callable
from typing import Any

from statuspage_operator.control.notifications.channels import Channels, Destination, SendError
from statuspage_operator.k8s.client import ApiError, Client, ConflictError, NotFoundError

NS = "default"
GROUP_PATH = f"/apis/statuspage.dev/v1alpha1/namespaces/{NS}"


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386: null removes, objects merge, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeApi(Client):
    """Secrets, our objects (by plural and name) and Events of namespace `default`, in memory."""

    def __init__(self) -> None:
        # No connection: every call is answered by `request` below.
        self.secrets: dict[str, dict[str, str]] = {}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.failures: list[ApiError] = []
        self.calls: list[tuple[str, str]] = []
        self._version = 1

    def add_secret(self, name: str, **data: str) -> None:
        """A Secret whose keys hold these values."""
        self.secrets[name] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}

    @property
    def subscribers(self) -> dict[str, dict[str, Any]]:
        """The Subscribers, by name."""
        return self.objects.setdefault("subscribers", {})

    def add(self, plural: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """One of our objects, as stored (created in the past, generation 1)."""
        self._version += 1
        body = {
            "apiVersion": "statuspage.dev/v1alpha1",
            "metadata": {
                "namespace": NS,
                "name": name,
                "uid": f"uid-{name}",
                "generation": 1,
                "resourceVersion": str(self._version),
                "creationTimestamp": "2026-12-01T00:00:00Z",
            },
            "spec": spec,
        }
        self.objects.setdefault(plural, {})[name] = body
        return copy.deepcopy(body)

    def add_subscriber(self, name: str, **spec: Any) -> dict[str, Any]:
        """A Subscriber of page `example` whose URL is in Secret `name`, key `url`."""
        full = {"page": "example", "urlSecretRef": {"name": name, "key": "url"}, **spec}
        return self.add("subscribers", name, full)

    def status(self, name: str) -> dict[str, Any]:
        """A Subscriber's status as stored."""
        return dict(self.subscribers[name].get("status") or {})

    def ready(self, name: str) -> dict[str, Any]:
        """A Subscriber's Ready condition as stored."""
        conditions = self.status(name).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), {})

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
        """The API server's answer to one call."""
        self.calls.append((method, path))
        if self.failures:
            raise self.failures.pop(0)
        if method == "GET" and path.startswith(f"/api/v1/namespaces/{NS}/secrets/"):
            name = path.rsplit("/", 1)[1]
            if name not in self.secrets:
                raise NotFoundError(404, f'secrets "{name}" not found')
            return {"data": dict(self.secrets[name])}
        if method == "PATCH" and path.startswith(f"{GROUP_PATH}/") and path.endswith("/status"):
            plural, name = path.split("/")[-3:-1]
            stored = self.objects.get(plural, {}).get(name)
            if stored is None:
                raise NotFoundError(404, f'{plural} "{name}" not found')
            stored.setdefault("status", {})
            _merge(stored["status"], body["status"])
            self._version += 1
            stored["metadata"]["resourceVersion"] = str(self._version)
            return copy.deepcopy(stored)
        if method == "POST" and path == f"/api/v1/namespaces/{NS}/events":
            if any(e["metadata"]["name"] == body["metadata"]["name"] for e in self.events):
                raise ConflictError(409, "already exists")
            self.events.append(body)
            return dict(body)
        raise AssertionError(f"unexpected call {method} {path}")


class FakeChannels(Channels):
    """Records each send; fails for the URLs in `failing`; `peak` is the most sends at once."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, dict[str, str], bytes]] = []
        self.failing: set[str] = set()
        self.attempts = 0
        self.peak = 0
        self._active = 0

    async def send(
        self,
        destination: Destination,
        title: str,
        text: str,
        payload: bytes,
        headers: dict[str, str],
    ) -> None:
        """One attempt: recorded, or SendError for a failing URL."""
        self.attempts += 1
        self._active += 1
        self.peak = max(self.peak, self._active)
        try:
            # Others may start meanwhile, as they would while a request is on the wire.
            await asyncio.sleep(0.001)
            if destination.url in self.failing:
                raise SendError("the webhook answered HTTP 500 Internal Server Error")
            self.sent.append((destination.url, headers, payload))
        finally:
            self._active -= 1

    def to(self, url: str) -> list[str]:
        """The events sent to one URL, in order."""
        return [headers["X-Statuspage-Event"] for sent, headers, _ in self.sent if sent == url]


async def eventually(check: Callable[[], bool], patience: float = 5.0) -> None:
    """Poll `check` (it reads fakes, which signal nothing) until it holds; AssertionError after
    `patience` seconds."""
    step = 0.002
    for _ in range(int(patience / step)):
        if check():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"not true within {patience} s")
