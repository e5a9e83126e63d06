"""The API calls the operator makes itself, where kopf's timing is wrong for us.

kopf applies a handler's `patch` when the handler returns: a daemon sleeping until its window's
end, or a window's handler writing its components' status, needs its writes now. Events need
fixed names (posting twice must be harmless), which kopf's event poster does not give. The Lease
needs reads and writes kopf does not make.

These go over one aiohttp session (aiohttp comes with kopf), with the credentials kopf logged in
with. Not the official client: importing it costs 33 MB of the operator's memory, and its calls
would need a thread pool.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from statuspage_operator.api.names import API_VERSION, GROUP, PLURALS, VERSION, Kind
from statuspage_operator.api.times import format_time

logger = logging.getLogger(__name__)
COMPONENT = "statuspage-operator"
MERGE_PATCH = "application/merge-patch+json"
# Each object as its metadata only (name, uid, labels, ...): no spec, no status.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
# A watch's objects as their metadata only.
METADATA_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
CONNECTIONS = 32
# Connections stay open between bursts: aiohttp's default (15 s) closed them, and each burst
# began with up to 32 TLS handshakes (6% of the operator's time in a profiled burst). Below
# kube-apiserver's own idle timeout (90 s), so that it never closes one we are about to use.
KEEPALIVE = 60.0
# No limit on waiting for a free connection (a burst queues for the pool), but on the socket.
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)


class ApiError(Exception):
    """The API server refused a request."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason

    @property
    def transient(self) -> bool:
        """Worth a retry: throttled or a server-side failure."""
        return self.status == 429 or self.status >= 500


class NotFoundError(ApiError):
    """The object is gone (404): nothing left to write."""


class ConflictError(ApiError):
    """The object changed under us, or already exists (409)."""


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to talk to it (from kopf's login)."""

    server: str
    ssl_context: ssl.SSLContext | None
    headers: dict[str, str]


Relogin = Callable[[], Awaitable[Credentials]]


def transient(error: BaseException) -> bool:
    """Whether a failed call is worth retrying (throttling, a server or network failure)."""
    if isinstance(error, ApiError):
        return error.transient
    return isinstance(error, aiohttp.ClientError | TimeoutError | OSError)


def custom_path(plural: str, namespace: str, name: str = "", sub: str = "") -> str:
    """Our group's objects of a plural in a namespace; or one of them, or its subresource."""
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


class Client:
    """Async calls to the API server; one connection pool, re-login on 401."""

    def __init__(self, credentials: Credentials, relogin: Relogin | None = None) -> None:
        self._credentials = credentials
        self._relogin = relogin
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=CONNECTIONS,
                ssl=self._credentials.ssl_context or True,
                keepalive_timeout=KEEPALIVE,
            )
            self._session = aiohttp.ClientSession(
                base_url=self._credentials.server.rstrip("/"),
                connector=connector,
                headers={**self._credentials.headers, "User-Agent": COMPONENT},
                timeout=TIMEOUT,
            )
        return self._session

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()

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
        """One call; the response's JSON, or an ApiError (NotFoundError, ConflictError)."""
        # orjson: a status write's answer is the whole object (about 3 KB, mostly
        # managedFields); decoding it took 51 us with json, 15 us with orjson (encoding 46 / 4).
        data = None if body is None else orjson.dumps(body)
        for attempt in (1, 2):
            session = self._open()
            async with session.request(
                method,
                path,
                data=data,
                params=params,
                headers={"Content-Type": content_type, "Accept": accept},
            ) as response:
                if response.status == 401 and attempt == 1 and self._relogin is not None:
                    self._credentials = await self._relogin()
                    await session.close()
                    continue
                if response.status >= 400:
                    raise _error(response.status, await response.text())
                raw = await response.read()
                found: dict[str, Any] = orjson.loads(raw) if raw.strip() else {}
                return found
        raise ApiError(401, "Unauthorized")

    # -- our kinds ---------------------------------------------------------------------------

    async def patch_status(
        self, kind: Kind, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch `.status`; returns the object as stored."""
        return await self.request(
            "PATCH",
            custom_path(PLURALS[kind], namespace, name, "status"),
            body={"status": status},
            content_type=MERGE_PATCH,
        )

    async def list_pages(
        self, kind: Kind, namespaces: list[str], limit: int = 500
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every object of a kind (in some namespaces, or all), a page of `limit` at a time."""
        async for items in self.list_plural(PLURALS[kind], namespaces, limit):
            yield items

    async def list_plural(
        self, plural: str, namespaces: list[str], limit: int = 500, accept: str = "application/json"
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every object of one of our group's plurals, a page of `limit` at a time.

        The pages of one namespace (or of all) are one snapshot, at the first page's version.
        """
        paths = [custom_path(plural, ns) for ns in namespaces] or [
            f"/apis/{GROUP}/{VERSION}/{plural}"
        ]
        for path in paths:
            token = ""
            while True:
                params = {"limit": str(limit)}
                if token:
                    params["continue"] = token
                page = await self.request("GET", path, params=params, accept=accept)
                yield list(page.get("items") or [])
                token = (page.get("metadata") or {}).get("continue") or ""
                if not token:
                    break

    async def list_metadata(
        self, plural: str, namespaces: list[str], limit: int = 500
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The metadata of every object of one of our plurals (no spec, no status), by pages.

        About 1 KB an object as JSON, mostly managedFields, about 50 B gzipped on the wire
        (docs/operations.md): what a sweep needs to know what exists. A continue token that
        expired raises ApiError 410; the caller lists again.
        """
        async for items in self.list_plural(plural, namespaces, limit, METADATA_LIST):
            yield items

    async def watch_metadata(
        self, path: str, params: dict[str, str], read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch of `path` (a collection), objects as metadata only, until the
        API server ends it; ApiError if it refuses (401 included: list again to log in anew).

        `read_timeout`: a silent stream is given up after this long (the API server sends a
        BOOKMARK about every minute when asked with allowWatchBookmarks).
        """
        session = self._open()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout)
        async with session.get(
            path,
            params={**params, "watch": "true"},
            headers={"Accept": METADATA_ONE},
            timeout=timeout,
        ) as response:
            if response.status >= 400:
                raise _error(response.status, await response.text())
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)

    # -- Events ------------------------------------------------------------------------------

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
        """Create a core/v1 Event with a fixed name; False if it already exists (posted before)."""
        event = _event(ref, name, reason, message, (at, at), 1, warning)
        return await self._create_event(ref["namespace"], event) is not None

    async def fold_event(
        self,
        ref: dict[str, str],
        name: str,
        reason: str,
        message: str,
        span: tuple[datetime, datetime],
        count: int,
        *,
        warning: bool = False,
        known: str | None = None,
    ) -> str | None:
        """Create the Event `name` with this count, or raise its count to it; never lower it.

        `known`: the Event's resourceVersion as this process last wrote it (with a lower count),
        so it is patched without being read first. Returns its resourceVersion after, if known.
        """
        namespace = ref["namespace"]
        event = _event(ref, name, reason, message, span, count, warning)
        path = f"/api/v1/namespaces/{namespace}/events/{name}"
        version = known
        if version is None:
            created = await self._create_event(namespace, event)
            if created is not None:
                return _version(created)
        changes = {key: event[key] for key in ("message", "type", "count", "lastTimestamp")}
        while True:
            if version is None:
                stored = await self.request("GET", path)
                if int(stored.get("count") or 0) >= count:
                    return None
                version = _version(stored)
            # Guarded by resourceVersion: a concurrent update makes this one read again.
            patch = {"metadata": {"resourceVersion": version}, **changes}
            try:
                patched = await self.request("PATCH", path, body=patch, content_type=MERGE_PATCH)
            except ConflictError:
                version = None
                continue
            return _version(patched)

    async def _create_event(self, namespace: str, event: dict[str, Any]) -> dict[str, Any] | None:
        """POST an Event: the Event as stored, {} if dropped, None if one of its name exists."""
        try:
            return await self.request("POST", f"/api/v1/namespaces/{namespace}/events", body=event)
        except ConflictError:
            return None
        except ApiError as error:
            # A namespace being deleted refuses new Events; that is expected, not a problem.
            if error.status != 403 or "being terminated" not in error.reason:
                raise
            logger.debug(
                "namespace %s is terminating: Event %s dropped",
                namespace,
                event["metadata"]["name"],
            )
            return {}

    # -- Leases ------------------------------------------------------------------------------

    def _lease_path(self, namespace: str, name: str = "") -> str:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        return f"{path}/{name}" if name else path

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Lease, or None if there is none."""
        try:
            return await self.request("GET", self._lease_path(namespace, name))
        except NotFoundError:
            return None

    async def create_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        """Create a Lease (ConflictError if someone else just did)."""
        return await self.request("POST", self._lease_path(namespace), body=lease)

    async def replace_lease(
        self, namespace: str, name: str, lease: dict[str, Any]
    ) -> dict[str, Any]:
        """Replace a Lease, guarded by its resourceVersion (ConflictError if it moved)."""
        return await self.request("PUT", self._lease_path(namespace, name), body=lease)


def _version(obj: dict[str, Any]) -> str | None:
    """An object's resourceVersion, if it has one."""
    found = (obj.get("metadata") or {}).get("resourceVersion")
    return str(found) if found else None


def _event(
    ref: dict[str, str],
    name: str,
    reason: str,
    message: str,
    span: tuple[datetime, datetime],
    count: int,
    warning: bool,
) -> dict[str, Any]:
    """A core/v1 Event about `ref`, seen `count` times from span[0] to span[1]."""
    namespace = ref["namespace"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": ref["kind"],
            "name": ref["name"],
            "namespace": namespace,
            "uid": ref.get("uid"),
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "firstTimestamp": format_time(span[0]),
        "lastTimestamp": format_time(span[1]),
        "count": count,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
    }


def _error(status: int, text: str) -> ApiError:
    try:
        reason = str(json.loads(text).get("message") or text)
    except (ValueError, AttributeError):
        reason = text
    reason = reason[:500]
    if status == 404:
        return NotFoundError(status, reason)
    if status == 409:
        return ConflictError(status, reason)
    return ApiError(status, reason)
