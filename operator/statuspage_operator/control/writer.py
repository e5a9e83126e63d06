"""Status writes and their Events: only what differs, one object at a time, Events after status.

kopf serialises handlers per object, but a window's daemon also writes its components' status and
a page is written for many objects' sake, so writes to one object are serialised here (a lock per
object, dropped when unused). A write carries its notices (api/notices.py); their Events are posted
once the burst of status writes has gone out, so what the page shows is never held up by them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.notices import (
    REPLAY_HORIZON,
    Notice,
    parse_notices,
    render_notices,
    replayable,
)
from statuspage_operator.control import metrics
from statuspage_operator.control.view import Body, version_of
from statuspage_operator.k8s.client import Client, NotFoundError, transient

logger = logging.getLogger(__name__)

ObjectKey = tuple[Kind, str, str]
ATTEMPTS = 5
EVENT_PATIENCE = 5.0
COMPONENTS_PATIENCE = 1.0


def ref_of(kind: Kind, body: Body) -> dict[str, str]:
    """An object reference for Events."""
    meta = body.get("metadata", {})
    return {
        "kind": str(kind),
        "namespace": str(meta.get("namespace", "")),
        "name": str(meta.get("name", "")),
        "uid": str(meta.get("uid", "")),
    }


class Writer:
    """Patches `/status` with what differs, remembering our writes until their events arrive."""

    def __init__(self, client: Client, clock: Callable[[], datetime]) -> None:
        self.client = client
        self.clock = clock
        self.announcer = Announcer(client, self)
        # Told of every notice recorded by a write or found by a replay (subscriber
        # notifications ride on the same record as the Events).
        self.on_notices: Callable[[Kind, Body, Sequence[Notice]], None] | None = None
        # Whether a notice still has notifications in flight: a later write keeps it recorded.
        self.owes: Callable[[str], bool] = lambda event: False
        self._locks: dict[ObjectKey, tuple[asyncio.Lock, list[int]]] = {}
        # Our last write per window or incident, until a watch event at least as new arrives.
        self._written: dict[ObjectKey, tuple[int, dict[str, Any]]] = {}
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._recomputing = 0
        self._components_done = asyncio.Event()
        self._components_done.set()

    @contextlib.contextmanager
    def recomputing_component(self) -> Iterator[None]:
        """Mark a component being recomputed: windows at an edge let it go first."""
        self._recomputing += 1
        self._components_done.clear()
        try:
            yield
        finally:
            self._recomputing -= 1
            if not self._recomputing:
                self._components_done.set()

    async def after_components(self, patience: float = COMPONENTS_PATIENCE) -> None:
        """Wait until no component is being recomputed (at most `patience` seconds).

        At a shared edge a thousand daemons wake together: without this, their own status writes
        would take the connections the components need, and the page would show maintenance late.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._components_done.wait(), patience)

    @contextlib.asynccontextmanager
    async def lock(self, key: ObjectKey) -> AsyncIterator[None]:
        """Hold one object's write lock."""
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]

    def current(self, key: ObjectKey, body: Body) -> dict[str, Any]:
        """The object's status: the body's, or our own later write if its event is still due."""
        written = self._written.get(key)
        if written is not None:
            if written[0] > version_of(body):
                return written[1]
            del self._written[key]
        return dict(body.get("status") or {})

    def forget(self, key: ObjectKey) -> None:
        """The object is gone."""
        self._written.pop(key, None)

    async def idle(self, patience: float = EVENT_PATIENCE) -> bool:
        """Wait until no status write is in flight (at most `patience` seconds); False if not.

        Called before every Event and delivery: when nothing is in flight it returns at once,
        without the task that `wait_for` would create.
        """
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), patience)
        except TimeoutError:
            return False
        return True

    async def write(
        self,
        kind: Kind,
        body: Body,
        current: dict[str, Any],
        desired: dict[str, Any],
        notices: Sequence[Notice] = (),
        *,
        remember: bool = False,
    ) -> Body | None:
        """Merge-patch the fields of `desired` that differ (None removes one), with the notices.

        Notices not yet announced are carried over, so a write never drops one. Returns the
        object as stored, or None when nothing differed or the object is gone.
        """
        patch = {k: v for k, v in desired.items() if current.get(k) != v}
        if notices:
            recorded = parse_notices(current)
            unconfirmed = self.announcer.unconfirmed(recorded, self.clock())
            carried = [n for n in recorded if n in unconfirmed or self.owes(n.event)]
            patch["notices"] = render_notices([*carried, *notices])
        if not patch:
            return None
        meta = body.get("metadata", {})
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        self._inflight += 1
        self._idle.clear()
        try:
            stored = await self._patch(kind, namespace, name, patch)
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()
        if stored is None:
            return None
        if remember:
            self._written[(kind, namespace, name)] = (
                version_of(stored),
                dict(stored.get("status") or {}),
            )
        for notice in notices:
            metrics.TRANSITIONS.labels(kind=str(kind), reason=notice.reason).inc()
            level = logging.WARNING if notice.warning else logging.INFO
            logger.log(
                level, "%s %s/%s: %s: %s", kind, namespace, name, notice.reason, notice.message
            )
        self.announcer.announce(ref_of(kind, stored), notices)
        if self.on_notices is not None and notices:
            self.on_notices(kind, stored, notices)
        return stored

    async def _patch(
        self, kind: Kind, namespace: str, name: str, patch: dict[str, Any]
    ) -> Body | None:
        for attempt in range(ATTEMPTS):
            try:
                return await self.client.patch_status(kind, namespace, name, patch)
            except NotFoundError:
                return None
            except Exception as error:
                metrics.RECONCILE_ERRORS.labels(kind=str(kind)).inc()
                if not transient(error) or attempt == ATTEMPTS - 1:
                    raise
                delay = 0.2 * 4**attempt * (1 + random.random() / 10)
                logger.warning(
                    "writing the status of %s %s/%s failed (%s); retrying in %.1fs",
                    kind,
                    namespace,
                    name,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
        return None


class Announcer:
    """Posts each notice's Event once, after the status writes in flight, in the background."""

    def __init__(self, client: Client, writer: Writer) -> None:
        self._client = client
        self._writer = writer
        # Event names known to exist (posted by us now or before a restart), with their time.
        self._confirmed: dict[str, datetime] = {}
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def unconfirmed(self, notices: Sequence[Notice], now: datetime) -> list[Notice]:
        """Notices whose Event is not known to exist yet, still worth announcing."""
        return [n for n in notices if n.event not in self._confirmed and replayable(n, now)]

    def replay(self, kind: Kind, body: Body) -> None:
        """After a restart: announce what a status records and may not have been announced."""
        status = body.get("status") or {}
        if status.get("notices"):
            recorded = parse_notices(status)
            notices = self.unconfirmed(recorded, self._writer.clock())
            self.announce(ref_of(kind, body), notices)
            # Subscribers: every recorded notice; the notifier's catch-up rule and its record
            # of deliveries decide (never the Events' horizon).
            if self._writer.on_notices is not None:
                self._writer.on_notices(kind, body, recorded)

    def announce(self, ref: dict[str, str], notices: Sequence[Notice]) -> None:
        """Post the notices' Events soon (each once)."""
        for notice in notices:
            if notice.event in self._confirmed or notice.event in self._pending:
                continue
            self._pending.add(notice.event)
            task = asyncio.create_task(self._post(ref, notice), name=f"event {notice.event}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, ref: dict[str, str], notice: Notice) -> None:
        try:
            # Status first: during a burst the Events wait for the status writes to go out.
            await self._writer.idle()
            for attempt in range(ATTEMPTS):
                try:
                    await self._client.post_event(
                        ref,
                        notice.event,
                        notice.reason,
                        notice.message,
                        notice.at,
                        warning=notice.warning,
                    )
                    break
                except NotFoundError:
                    break
                except Exception as error:
                    if not transient(error) or attempt == ATTEMPTS - 1:
                        # Left unconfirmed: the next write of the object carries it again.
                        logger.warning("could not post Event %s: %s", notice.event, error)
                        return
                    await asyncio.sleep(0.5 * 2**attempt)
            self._confirmed[notice.event] = notice.at
            self._prune()
        finally:
            self._pending.discard(notice.event)

    def _prune(self) -> None:
        # Past the horizon a notice is neither replayed nor carried: its name can be forgotten.
        if len(self._confirmed) % 256 == 0:
            oldest = self._writer.clock() - REPLAY_HORIZON
            for event, at in list(self._confirmed.items()):
                if at < oldest:
                    del self._confirmed[event]

    async def drain(self) -> None:
        """Give the Events still pending a moment to go out (clean shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=EVENT_PATIENCE)
