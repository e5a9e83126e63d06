"""Windows settled for good live outside kopf's watch; an edit brings one back.

kopf keeps the parsed body of every object of a kind that has a daemon (kopf-notes, "Memory per
object"), with its managedFields, whether a daemon runs for it or not: at 10,000 windows, 9,000
of them long over, 10,010 bodies held (docs/operations.md, Memory at 10,000 windows). So a window
settled for good (plans/settled.py) is labelled `statuspage.dev/settled: "<generation>"` by the
watch handler, in the same JSON patch as kopf's removal of its finalizer, and kopf watches only
windows without that label (handlers/lifecycle.py). The API server tells kopf's watch DELETED
as the label appears, and kopf forgets the window.

The API server's DELETED for an object leaving a selector carries the object as it was before
(without the label), so it cannot tell a window leaving from one deleted: the operator remembers
the uids it labelled until kopf's DELETED and this module's ADDED for them have come
(`labelling`, `leaving`). A label it did not put, seen ADDED, comes off.

This module keeps the way back open. It watches the metadata of the labelled windows (nothing
is kept per window) and takes the label off a window whose generation is not the label's (its
spec was edited: rescheduled, cancelled, uncancelled) or that was modified at all while out of
kopf's sight. kopf's watch then reports the window ADDED, and the handlers and its daemon judge
it like any other. After a watch gap it lists again (410 Gone), which shows every generation as
it is. The start-up list of every window (Runtime.prime, through Windows.observe) catches what
only the whole object shows: a labelled window whose status is not settled for its generation.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from statuspage_operator.api.names import GROUP, PLURALS, SETTLED_LABEL, VERSION, Kind
from statuspage_operator.control.retry import STATUS_WRITES, retrying
from statuspage_operator.control.view import Key
from statuspage_operator.k8s.client import (
    MERGE_PATCH,
    METADATA_LIST,
    ApiError,
    Client,
    NotFoundError,
    custom_path,
    transient,
)
from statuspage_operator.plans.settled import stale

logger = logging.getLogger(__name__)

PLURAL = PLURALS[Kind.WINDOW]
# What kopf's watch of windows selects: the ones not settled for good.
UNSETTLED = f"!{SETTLED_LABEL}"
PAGE_SIZE = 500
# The API server ends each watch after this long; the next resumes from the last version seen.
WATCH_SECONDS = 240
# Bookmarks come about every minute: a stream silent for longer is dead.
READ_TIMEOUT = 90.0
RETRY = 5.0
CONCURRENCY = 8
# After this many windows left kopf's memory, and none for TRIM_QUIET seconds, the freed heap is
# given back: glibc keeps freed heap for reuse, and after a cold start over 9,000 finished
# windows it stayed counted (302-319 MB without this, 280 MB with it).
TRIM_AFTER = 200
TRIM_QUIET = 5.0
# Uids labelled and not yet seen leave (kopf's DELETED) and arrive (this watch's ADDED): bounded,
# as a label refused by a conflict is tried again under the same uid, and a gap loses an ADDED.
LABELLING = 20_000


def collection(namespace: str | None) -> str:
    """The windows of a namespace, or of all."""
    if namespace:
        return custom_path(PLURAL, namespace)
    return f"/apis/{GROUP}/{VERSION}/{PLURAL}"


class SettledWatch:
    """The metadata watch of labelled windows; takes the label off those that changed."""

    def __init__(self, client: Client, trim: Callable[[], None] = lambda: None) -> None:
        self.client = client
        self.trim = trim
        self._left = 0
        self._trimming: asyncio.Task[None] | None = None
        self._another = asyncio.Event()
        # uid -> [not yet seen leaving kopf's watch, not yet seen ADDED here]
        self._labelling: OrderedDict[str, list[bool]] = OrderedDict()
        self._queued: set[Key] = set()
        self._unlabelling: dict[Key, asyncio.Task[None]] = {}
        self._watches: list[asyncio.Task[None]] = []
        self._calls: asyncio.Semaphore | None = None
        self.unlabelled = 0
        self.relists = 0

    def unlabel(self, key: Key) -> None:
        """Take the label off a window, so that kopf's watch shows it again (no I/O here).

        Before start() (the start-up list), the window waits for it.
        """
        if key in self._unlabelling:
            return
        if not self._watches:
            self._queued.add(key)
            return
        self._unlabelling[key] = asyncio.create_task(self._unlabel(key), name=f"unlabel {key}")

    def labelling(self, uid: str) -> None:
        """The operator puts the label on this window (kopf's patch is on its way)."""
        self._labelling[uid] = [True, True]
        self._labelling.move_to_end(uid)
        while len(self._labelling) > LABELLING:
            self._labelling.popitem(last=False)

    def _seen(self, uid: str, which: int) -> bool:
        """Whether the operator labelled this uid and this side had not seen it yet."""
        pending = self._labelling.get(uid)
        if pending is None or not pending[which]:
            return False
        pending[which] = False
        if not any(pending):
            del self._labelling[uid]
        return True

    def leaving(self, uid: str) -> bool:
        """kopf's watch said DELETED: whether that is the label the operator put (the window
        is still there) rather than a deletion."""
        found = self._seen(uid, 0)
        if found:
            self.left()
        return found

    def left(self) -> None:
        """A window left kopf's watch (and memory): give the heap back after a burst of them."""
        self._left += 1
        self._another.set()
        if self._left >= TRIM_AFTER and self._trimming is None:
            self._trimming = asyncio.create_task(self._trim(), name="trim after settled")

    async def _trim(self) -> None:
        try:
            while True:
                self._another.clear()
                try:
                    await asyncio.wait_for(self._another.wait(), TRIM_QUIET)
                except TimeoutError:
                    break
            count, self._left = self._left, 0
            self.trim()
            logger.info("%d windows settled for good left the watch: memory released", count)
        finally:
            self._trimming = None

    def start(self, namespaces: list[str]) -> None:
        """Watch the labelled windows of these namespaces (all when empty) until stop()."""
        self._calls = asyncio.Semaphore(CONCURRENCY)
        for path in [collection(ns) for ns in namespaces] or [collection(None)]:
            self._watches.append(asyncio.create_task(self._run(path), name=f"settled {path}"))
        queued, self._queued = self._queued, set()
        for key in sorted(queued):
            self.unlabel(key)

    async def stop(self) -> None:
        """Stop watching; abandon the labels still to take off (the next start finds them)."""
        tasks = [*self._watches, *self._unlabelling.values()]
        if self._trimming is not None:
            tasks.append(self._trimming)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watches.clear()
        self._unlabelling.clear()

    async def _unlabel(self, key: Key) -> None:
        namespace, name = key
        path = custom_path(PLURAL, namespace, name)
        body = {"metadata": {"labels": {SETTLED_LABEL: None}}}

        async def call() -> dict[str, Any]:
            return await self.client.request("PATCH", path, body=body, content_type=MERGE_PATCH)

        try:
            assert self._calls is not None
            async with self._calls:
                await retrying(
                    STATUS_WRITES,
                    call,
                    what=f"taking the settled label off MaintenanceWindow {namespace}/{name}",
                )
            self.unlabelled += 1
            logger.info(
                "MaintenanceWindow %s/%s changed while settled: watched again", namespace, name
            )
        except NotFoundError:
            pass
        except Exception:
            # Not lost for good: the next start-up list, or a later edit, finds it again.
            logger.exception("taking the settled label off MaintenanceWindow %s/%s", *key)
        finally:
            self._unlabelling.pop(key, None)

    def _event(self, event_type: str | None, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        ours = event_type == "ADDED" and self._seen(str(meta.get("uid", "")), 1)
        if stale(event_type, meta) or (event_type == "ADDED" and not ours):
            self.unlabel((str(meta.get("namespace", "")), str(meta.get("name", ""))))

    async def _run(self, path: str) -> None:
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._list(path)
                version = await self._watch(path, version)
            except ApiError as error:
                if error.status == 410:
                    # Resumed too late: what changed meanwhile shows in a new list.
                    logger.info("settled windows: watch expired (410 Gone); listing again")
                else:
                    logger.warning("settled windows: %s; listing again in %.0f s", error, RETRY)
                    await asyncio.sleep(RETRY)
                self.relists += 1
                version = None
            except Exception as error:
                if not transient(error):
                    logger.exception("settled windows: watch failed; listing again")
                    version = None
                else:
                    # A cut or silent stream: resume where it was (410 if too late).
                    logger.debug("settled windows: watch ended (%s); resuming", error)
                await asyncio.sleep(RETRY if version is None else 0.5)

    async def _list(self, path: str) -> str:
        """Every labelled window now (metadata only); the list's resourceVersion."""
        token, version = "", ""
        while True:
            params = {"limit": str(PAGE_SIZE), "labelSelector": SETTLED_LABEL}
            if token:
                params["continue"] = token
            page = await self.client.request("GET", path, params=params, accept=METADATA_LIST)
            for item in page.get("items") or ():
                self._event(None, item)
            meta = page.get("metadata") or {}
            version = str(meta.get("resourceVersion", ""))
            token = str(meta.get("continue") or "")
            if not token:
                return version

    async def _watch(self, path: str, version: str) -> str:
        """One watch from `version` until the API server ends it; the last version seen."""
        params = {
            "labelSelector": SETTLED_LABEL,
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        async for event in self.client.watch_metadata(path, params, READ_TIMEOUT):
            event_type = str(event.get("type"))
            obj = event.get("object") or {}
            if event_type == "ERROR":
                raise ApiError(int(obj.get("code") or 500), str(obj.get("message", "")))
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if event_type != "BOOKMARK":
                self._event(event_type, obj)
        return version
