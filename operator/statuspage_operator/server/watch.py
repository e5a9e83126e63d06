"""List, then watch, each of our kinds (a page's four and PublicationPolicy) into the cache.

The alerts receiver (alerts/main.py) watches pages and components the same way into its own view.

Why the kubernetes client's watch and not kopf's `@kopf.on.event`: not the rights. kopf runs with
this server's read-only role (list/watch on our four kinds) when `settings.scanning.disabled`
is set and it is cluster-wide (tried: it lists and watches them, with no CRD or namespace access).
It is the re-list. When a watch resumes too late (410 Gone), kopf lists again and reports each
listed object as an event, but an object deleted during the gap gets no event, and handlers are
not told when the listing ends: a page deleted then would stay on the public site. Here a re-list
replaces the kind's objects, so objects deleted meanwhile are dropped. The protocol is the
client's own: list (in pages) for a resourceVersion, watch from it with bookmarks, resume from the
last version seen, list again on 410.

The client is synchronous, so each kind runs in a daemon thread; batches of events are handed to
the event loop, which alone touches the cache.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError

from statuspage_operator.api.names import GROUP, PLURALS, VERSION, Kind
from statuspage_operator.server.cache import Key, key_of

logger = logging.getLogger(__name__)
PAGE_SIZE = 500
WATCH_TIMEOUT = 290  # seconds; the API server ends a watch by itself after 30-60 minutes
RETRY_DELAY = 2.0
Listener = Callable[[Kind], None]


class Sink(Protocol):
    """Where the objects go: the server's Cache, or the alerts receiver's View."""

    def replace(self, kind: Kind, objs: Iterable[Mapping[str, Any]]) -> None:
        """A fresh list of a kind."""

    def upsert(self, kind: Kind, obj: Mapping[str, Any]) -> None:
        """An object added or changed."""

    def delete(self, kind: Kind, key: Key) -> None:
        """An object gone."""


class KindWatcher:
    """One kind: the list and the watch in a thread, events applied on the loop."""

    def __init__(
        self,
        api_client: client.ApiClient,
        kind: Kind,
        cache: Sink,
        loop: asyncio.AbstractEventLoop,
        namespace: str | None = None,
        on_change: Listener | None = None,
    ) -> None:
        self._custom = client.CustomObjectsApi(api_client)
        self.kind = kind
        self._cache = cache
        self._loop = loop
        self._namespace = namespace
        self._on_change = on_change
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind}", daemon=True)
        self.relists = 0
        self._version: str | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop; it ends at its next event or timeout (it is a daemon)."""
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()

    def _call(self, *, stream: bool = False) -> Callable[..., Any]:
        plural = PLURALS[self.kind]
        namespace = self._namespace
        if namespace is not None:
            namespaced = self._custom.list_namespaced_custom_object

            def call(**kwargs: Any) -> Any:
                return namespaced(GROUP, VERSION, namespace, plural, **kwargs)

        else:
            cluster = self._custom.list_cluster_custom_object

            def call(**kwargs: Any) -> Any:
                return cluster(GROUP, VERSION, plural, **kwargs)

        # Without a `:return:` in its docstring, Watch.stream hands events over as plain dicts.
        return call

    def _list(self) -> str:
        items: list[dict[str, Any]] = []
        token: str | None = None
        version = ""
        while True:
            kwargs: dict[str, Any] = {"limit": PAGE_SIZE}
            if token:
                kwargs["_continue"] = token
            page = cast(dict[str, Any], self._call()(**kwargs))
            metadata = page.get("metadata") or {}
            items.extend(page.get("items") or [])
            version = str(metadata.get("resourceVersion", ""))
            token = metadata.get("continue") or None
            if token is None:
                break
        self._apply(lambda: self._cache.replace(self.kind, items))
        logger.info("listed %d %s", len(items), PLURALS[self.kind])
        return version

    def _apply(self, change: Callable[[], None]) -> None:
        def run() -> None:
            change()
            if self._on_change is not None:
                self._on_change(self.kind)

        if self._stop.is_set() or self._loop.is_closed():
            return  # stopping: the cache is not read any more
        self._loop.call_soon_threadsafe(run)

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                self._version = version
                version = self._stream(version)
            except ProtocolError:
                # The stream was cut (the API server or a proxy closed it): resume where it was.
                logger.debug("%s: watch stream ended early; resuming", self.kind)
                version = self._version
            except ApiException as error:
                if error.status == 410:
                    logger.info("%s: watch expired (410 Gone); listing again", self.kind)
                    self.relists += 1
                    version = None
                    continue
                logger.warning("%s: %s; retrying", self.kind, error.reason)
                version = None
                self._stop.wait(RETRY_DELAY)
            except Exception:
                logger.exception("%s: watch failed; listing again", self.kind)
                version = None
                self._stop.wait(RETRY_DELAY)

    def _stream(self, version: str) -> str:
        self._watch = watch.Watch()
        stream = self._watch.stream(
            self._call(),
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_TIMEOUT,
        )
        for event in stream:
            if self._stop.is_set():
                break
            kind = event.get("type")
            obj = event.get("raw_object") or {}
            version = str((obj.get("metadata") or {}).get("resourceVersion", version))
            self._version = version
            if kind == "ERROR":
                code = obj.get("code")
                raise ApiException(status=code, reason=str(obj.get("message", "")))
            if kind in ("ADDED", "MODIFIED"):
                self._apply(functools.partial(self._cache.upsert, self.kind, obj))
            elif kind == "DELETED":
                self._apply(functools.partial(self._cache.delete, self.kind, key_of(obj)))
        return version
