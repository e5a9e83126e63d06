"""List, then watch, one kind across all namespaces: client-go's informer, small.

Why not `@kopf.on.event`: kopf keeps a memory record per object and runs a worker per object's
event stream, which at 10,000 windows costs more than our whole target for memory and most of the
CPU of a burst. Our store needs only the objects' bodies, so one watch stream per kind feeds it.

The watch runs in a daemon thread (the client is synchronous) and hands events to the event loop.
A 410 Gone (the resourceVersion is too old) means: list again and replay, with DELETED for objects
that vanished meanwhile; the store is idempotent, so a replay changes only what did change.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from statuspage_operator.api.names import GROUP, PLURALS, VERSION, Kind

logger = logging.getLogger(__name__)
Sink = Callable[[Kind, str | None, dict[str, Any]], None]
WATCH_TIMEOUT = 300
PAGE_SIZE = 500


class Informer:
    """Keeps one kind's objects flowing into a sink: an initial list, then watch events."""

    def __init__(self, api_client: client.ApiClient, kind: Kind, sink: Sink) -> None:
        self._custom = client.CustomObjectsApi(api_client)
        self.kind = kind
        self._kind = kind
        self._sink = sink
        self._stopped = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._known: set[tuple[str, str]] = set()

    def list_page(self, token: str | None) -> tuple[list[dict[str, Any]], str | None, str]:
        """One page of the list: its items, the next page's token, the list's resourceVersion.

        Page by page, so that a large list never sits in memory whole (at 10,000 objects the
        decoded bodies weigh far more than what the store keeps of them).
        """
        kwargs: dict[str, Any] = {"limit": PAGE_SIZE}
        if token:
            kwargs["_continue"] = token
        page = cast(
            dict[str, Any],
            self._custom.list_cluster_custom_object(GROUP, VERSION, PLURALS[self._kind], **kwargs),
        )
        metadata = page.get("metadata", {})
        items: list[dict[str, Any]] = page.get("items", [])
        for item in items:
            item.setdefault("kind", str(self._kind))
        return items, metadata.get("continue") or None, str(metadata.get("resourceVersion", ""))

    async def prime(self, sink: Callable[[list[dict[str, Any]]], None]) -> str:
        """The initial list, handed to `sink` a page at a time; returns its resourceVersion."""
        loop = asyncio.get_running_loop()
        token: str | None = None
        self._known = set()
        while True:
            items, token, version = await loop.run_in_executor(None, self.list_page, token)
            self._known |= {_identity(item) for item in items}
            sink(items)
            if token is None:
                return version

    def start(self, version: str) -> None:
        """Watch from `version` in a daemon thread until stop()."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run, args=(version,), name=f"watch-{self._kind}", daemon=True
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the watch thread still runs (it retries every error, so it should)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop at the next event or server timeout."""
        self._stopped.set()

    def _emit(self, event_type: str | None, body: dict[str, Any]) -> None:
        assert self._loop is not None
        body.setdefault("kind", str(self._kind))
        self._loop.call_soon_threadsafe(self._sink, self._kind, event_type, body)

    def _relist(self) -> str:
        listed: set[tuple[str, str]] = set()
        token: str | None = None
        while True:
            items, token, version = self.list_page(token)
            for item in items:
                listed.add(_identity(item))
                self._emit(None, item)
            if token is None:
                break
        for namespace, name in self._known - listed:
            self._emit("DELETED", {"metadata": {"namespace": namespace, "name": name}})
        self._known = listed
        return version

    def _run(self, version: str) -> None:
        backoff = 0.5
        while not self._stopped.is_set():
            try:
                version = self._watch(version)
                backoff = 0.5
            except _GoneError:
                logger.info("%s watch expired; listing again", self._kind)
                version = self._relist()
            except Exception as error:
                logger.warning(
                    "%s watch failed (%s); retrying in %.1fs", self._kind, error, backoff
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                try:
                    version = self._relist()
                except Exception as relist_error:
                    logger.warning("%s re-list failed: %s", self._kind, relist_error)

    def _watch(self, version: str) -> str:
        stream = watch.Watch()
        try:
            for event in stream.stream(
                self._custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                PLURALS[self._kind],
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_TIMEOUT,
            ):
                event_type = event.get("type")
                body = event.get("object") or event.get("raw_object") or {}
                if event_type == "ERROR":
                    if body.get("code") == 410:
                        raise _GoneError
                    raise RuntimeError(body.get("message", "watch error"))
                version = str(body.get("metadata", {}).get("resourceVersion", version))
                if event_type == "BOOKMARK":
                    continue
                identity = _identity(body)
                if event_type == "DELETED":
                    self._known.discard(identity)
                else:
                    self._known.add(identity)
                self._emit(event_type, body)
                if self._stopped.is_set():
                    break
        except ApiException as error:
            if error.status == 410:
                raise _GoneError from error
            raise
        finally:
            stream.stop()
        return version


class _GoneError(Exception):
    """The watch's resourceVersion is too old (410 Gone)."""


def _identity(body: dict[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata", {})
    return str(meta.get("namespace", "")), str(meta.get("name", ""))
