"""Status writes and their Events: only what differs, one object at a time, Events after status.

kopf serialises handlers per object, but a window's daemon also writes its components' status and
a page is written for many objects' sake, so writes to one object are serialised here (a lock per
object, dropped when unused). A write carries its notices (api/notices.py); their Events are posted
once the burst of status writes has gone out, so what the page shows is never held up by them.
Each notice's place in its object's hourly Event budget (its own Event, or folded into the hour's
ChangesCoalesced digest: api/event_budget.py) is decided by the write that records it.
Subscriber notifications hear of the same notices (the `Listener`), on a write and on a replay.

Built in this order, each given what it needs: WritesInFlight, Announcer, the listener, Writer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from statuspage_operator.api.conditions import Reason
from statuspage_operator.api.event_budget import FIELD as BUDGET_FIELD
from statuspage_operator.api.event_budget import (
    Tally,
    budget,
    digest_message,
    digest_name,
    hour_of,
    parse_tally,
)
from statuspage_operator.api.names import Kind
from statuspage_operator.api.notices import (
    REPLAY_HORIZON,
    Notice,
    parse_notices,
    render_notices,
    replayable,
)
from statuspage_operator.control import metrics
from statuspage_operator.control.retry import ACTING, EVENTS, STATUS_WRITES, retrying
from statuspage_operator.control.view import Body, version_of
from statuspage_operator.k8s.client import Client, NotFoundError

logger = logging.getLogger(__name__)

ObjectKey = tuple[Kind, str, str]
EVENT_PATIENCE = 5.0
# Past this many objects' tallies, those of earlier hours are forgotten.
TALLIES = 1024
COMPONENTS_PATIENCE = 1.0
# Up to this many windows at an edge at once write their components and themselves together;
# beyond, it is a shared edge: the components first, the windows after them.
TOGETHER = 8
# Replayed notices (found recorded in a listed status) are posted this many at a time.
REPLAY_SLOTS = 4
# Events that waited out EVENT_PATIENCE while status writes kept going are posted this many at
# a time: at a burst's sixth second, 1,100 of them at once held up its last window writes.
BUSY_SLOTS = 4


def ref_of(kind: Kind, body: Body) -> dict[str, str]:
    """An object reference for Events."""
    meta = body.get("metadata", {})
    return {
        "kind": str(kind),
        "namespace": str(meta.get("namespace", "")),
        "name": str(meta.get("name", "")),
        "uid": str(meta.get("uid", "")),
    }


class WritesInFlight:
    """How many status writes are on their way: Events and deliveries wait until none is."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Count one write while it is on its way."""
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if not self._count:
                self._idle.set()

    async def idle(self, patience: float = EVENT_PATIENCE) -> bool:
        """Wait until no status write is in flight (at most `patience` seconds); False if not.

        Called before every Event and delivery: when nothing is in flight it returns at once,
        without the task that `wait_for` would create. While a leader cannot know it holds the
        Lease (retry.ACTING shut) it first waits, however long: a delivery is an act too.
        """
        if ACTING.shut:
            await ACTING.passed()
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), patience)
        except TimeoutError:
            return False
        return True


class Listener(Protocol):
    """Who else hears of the notices a status records: subscriber notifications."""

    def offer(self, kind: Kind, body: Body, notices: Sequence[Notice]) -> None:
        """Notices recorded in an object's status (by a write, or found by a replay)."""

    def owes(self, event: str) -> bool:
        """Whether a notice still has work in flight: a later write keeps it recorded."""


class Writer:
    """Patches `/status` with what differs, remembering our writes until their events arrive."""

    def __init__(
        self,
        client: Client,
        clock: Callable[[], datetime],
        announcer: Announcer,
        listener: Listener,
        in_flight: WritesInFlight,
    ) -> None:
        self.client = client
        self.clock = clock
        self.announcer = announcer
        self.listener = listener
        self.in_flight = in_flight
        self._locks: dict[ObjectKey, tuple[asyncio.Lock, list[int]]] = {}
        # Our last write per window or incident, until a watch event at least as new arrives.
        self._written: dict[ObjectKey, tuple[int, dict[str, Any]]] = {}
        self._recomputing = 0
        self._edges = 0
        self._components_done = asyncio.Event()
        self._components_done.set()

    @contextlib.contextmanager
    def recomputing_component(self, at_edge: bool) -> Iterator[None]:
        """Mark a component being recomputed; one a window's edge moves lets windows go after it.

        Only edges count: a component recomputed for an incident, an alert or a spec edit holds
        no window up, or a steady stream of them (100 edits a second) would make every edge wait
        out the whole patience.
        """
        if not at_edge:
            yield
            return
        self._recomputing += 1
        self._components_done.clear()
        try:
            yield
        finally:
            self._recomputing -= 1
            if not self._recomputing:
                self._components_done.set()

    @contextlib.contextmanager
    def edge(self) -> Iterator[bool]:
        """One window at its edge, moving components: yields whether it writes itself together
        with them (few windows are at an edge now) or after them (a shared edge)."""
        self._edges += 1
        try:
            yield self._edges <= TOGETHER
        finally:
            self._edges -= 1

    async def after_components(self, patience: float = COMPONENTS_PATIENCE) -> None:
        """Wait until no component an edge moves is being recomputed (at most `patience` s).

        At a shared edge a thousand daemons wake together: without this, their own status writes
        would take the connections the components need, and the page would show maintenance late.
        A lone edge finds only its own components, already written: it does not wait.
        """
        if self._components_done.is_set():
            return
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

    def replay(self, kind: Kind, body: Body, *, listed: bool = False) -> None:
        """After a restart: announce what a status records and may not have been announced.

        `listed`: the body comes from a listing (start-up, or kopf's list after a watch broke),
        not from a change: its Events most likely exist, and go after everything else.
        Subscribers are offered every recorded notice: their catch-up rule and their record of
        deliveries decide (never the Events' horizon).
        """
        status = body.get("status") or {}
        if not status.get("notices"):
            return
        recorded = parse_notices(status)
        self.announcer.announce(
            ref_of(kind, body),
            self.announcer.unconfirmed(recorded, self.clock()),
            recorded=True,
            later=listed,
        )
        self.listener.offer(kind, body, recorded)

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
            # Each notice's place (own Event or the hour's digest) is decided here and written
            # with it, so a replay after a restart announces it the same way.
            notices, tally = budget(parse_tally(current), notices)
            if tally is not None:
                patch[BUDGET_FIELD] = tally.to_status()
            recorded = parse_notices(current)
            unconfirmed = self.announcer.unconfirmed(recorded, self.clock())
            carried = [n for n in recorded if n in unconfirmed or self.listener.owes(n.event)]
            patch["notices"] = render_notices([*carried, *notices])
        if not patch:
            return None
        meta = body.get("metadata", {})
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        with self.in_flight.writing():
            stored = await self._patch(kind, namespace, name, patch)
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
        self.announcer.announce(ref_of(kind, stored), notices, recorded=True)
        if notices:
            self.listener.offer(kind, stored, notices)
        return stored

    async def _patch(
        self, kind: Kind, namespace: str, name: str, patch: dict[str, Any]
    ) -> Body | None:
        def count(_: Exception) -> None:
            metrics.RECONCILE_ERRORS.labels(kind=str(kind)).inc()

        try:
            return await retrying(
                STATUS_WRITES,
                partial(self.client.patch_status, kind, namespace, name, patch),
                what=f"writing the status of {kind} {namespace}/{name}",
                on_retry=count,
            )
        except NotFoundError:
            return None
        except Exception as error:
            # The last failure counts too: one that is never retried (a 422) shows in the metric.
            count(error)
            raise


class Announcer:
    """Posts each notice's Event once, after the status writes in flight, in the background."""

    def __init__(
        self, client: Client, clock: Callable[[], datetime], in_flight: WritesInFlight
    ) -> None:
        self._client = client
        self._clock = clock
        self._in_flight = in_flight
        # Event names known to exist (posted by us now or before a restart), with their time.
        self._confirmed: dict[str, datetime] = {}
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._digests: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        # Per digest Event: the count this process last wrote and the resourceVersion it got.
        self._digest_versions: dict[str, tuple[int, str | None]] = {}
        # The Event budgets of objects whose notices no status records, by uid.
        self._tallies: dict[str, Tally] = {}
        # Notices replayed from a listing, posted REPLAY_SLOTS at a time by as many tasks.
        self._replays: collections.deque[tuple[dict[str, str], Notice]] = collections.deque()
        self._replayers = 0
        self._busy = asyncio.Semaphore(BUSY_SLOTS)

    def unconfirmed(self, notices: Sequence[Notice], now: datetime) -> list[Notice]:
        """Notices whose Event is not known to exist yet, still worth announcing."""
        return [n for n in notices if n.event not in self._confirmed and replayable(n, now)]

    def announce(
        self,
        ref: dict[str, str],
        notices: Sequence[Notice],
        *,
        recorded: bool = False,
        later: bool = False,
    ) -> None:
        """Post the notices' Events soon (each once).

        `recorded`: the notices are in the object's status, their place in its Event budget
        decided with them (the Writer). Others (a Subscriber's Warnings) are placed here, by a
        tally this process keeps: they are never replayed, so nothing needs to outlive it.
        `later`: replayed from a listing, posted a few at a time in a queue of their own. After
        a restart that list holds thousands of Events that already exist (each answered 409):
        posted all at once, they took the API server from the windows due at that moment.
        """
        if not recorded and notices:
            uid = ref.get("uid", "")
            notices, tally = budget(self._tallies.get(uid), notices)
            if tally is not None:
                self._tallies[uid] = tally
            if len(self._tallies) > TALLIES:
                hour = hour_of(self._clock())
                self._tallies = {k: t for k, t in self._tallies.items() if t.hour == hour}
        for notice in notices:
            if notice.event in self._confirmed or notice.event in self._pending:
                continue
            self._pending.add(notice.event)
            if later:
                self._replays.append((ref, notice))
                if self._replayers < REPLAY_SLOTS:
                    self._replayers += 1
                    self._track(asyncio.create_task(self._replaying(), name="replayed Events"))
                continue
            self._track(asyncio.create_task(self._post(ref, notice), name=f"event {notice.event}"))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replaying(self) -> None:
        try:
            while self._replays:
                await self._post(*self._replays.popleft())
        finally:
            self._replayers -= 1

    async def _post(self, ref: dict[str, str], notice: Notice) -> None:
        try:
            # Status first: during a burst the Events wait for the status writes to go out;
            # past their patience, a few at a time beside the writes still going.
            if not await self._in_flight.idle():
                async with self._busy:
                    await self._send(ref, notice)
                return
            await self._send(ref, notice)
        finally:
            self._pending.discard(notice.event)

    async def _send(self, ref: dict[str, str], notice: Notice) -> None:
        post: Callable[[], Awaitable[object]]
        if notice.fold:
            post = partial(self._fold, ref, notice)
        else:
            post = partial(
                self._client.post_event,
                ref,
                notice.event,
                notice.reason,
                notice.message,
                notice.at,
                warning=notice.warning,
            )
        try:
            await retrying(EVENTS, post, what=f"posting Event {notice.event}")
        except NotFoundError:
            pass
        except Exception as error:
            # Left unconfirmed: the next write of the object carries it again.
            logger.warning("could not post Event %s: %s", notice.event, error)
            return
        self._confirmed[notice.event] = notice.at
        self._prune()

    async def _fold(self, ref: dict[str, str], notice: Notice) -> None:
        """Count the notice into its hour's digest Event, unless a later one already is."""
        name = digest_name(ref["name"], ref.get("uid", ""), notice.at)
        # One update of a digest at a time: each knows the count the one before it wrote.
        lock, users = self._digests.setdefault(name, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                count, version = self._digest_versions.get(name, (0, None))
                if notice.fold <= count:
                    return
                version = await self._client.fold_event(
                    ref,
                    name,
                    str(Reason.CHANGES_COALESCED),
                    digest_message(notice),
                    (hour_of(notice.at), notice.at),
                    notice.fold,
                    warning=notice.warning,
                    known=version,
                )
                self._digest_versions[name] = (notice.fold, version)
                if len(self._digest_versions) > TALLIES:
                    # Forgotten, a digest is only read again before its next update.
                    self._digest_versions.clear()
        finally:
            users[0] -= 1
            if not users[0]:
                del self._digests[name]

    def _prune(self) -> None:
        # Past the horizon a notice is neither replayed nor carried: its name can be forgotten.
        if len(self._confirmed) % 256 == 0:
            oldest = self._clock() - REPLAY_HORIZON
            for event, at in list(self._confirmed.items()):
                if at < oldest:
                    del self._confirmed[event]

    async def drain(self) -> None:
        """Give the Events still pending a moment to go out (clean shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=EVENT_PATIENCE)
