"""The engine: a store, a work queue, a scheduler and workers that reconcile keys.

Watch events and the scheduler only say *which* objects to look at; a worker computes the
desired status from the store and the wall clock, and writes only what differs. Level-triggered:
whatever happened before (a restart, a missed event, an object created in the past), the same
inputs end in the same state, and a transition is made once because the status it would write is
already there the second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from statuspage_operator.api.names import FINALIZER, Kind
from statuspage_operator.control import metrics
from statuspage_operator.control.scheduler import Scheduler
from statuspage_operator.control.store import Key, Record, Store
from statuspage_operator.control.workqueue import WorkQueue
from statuspage_operator.k8s.client import Client, ConflictError, NotFoundError

logger = logging.getLogger(__name__)

Reconciler = Callable[["Engine", Record, datetime], Awaitable[None]]
RESYNC_PERIOD = timedelta(minutes=10)
MAX_BACKOFF = 60.0
# A page's counts change with every window of a burst: gather them into one write.
PAGE_DELAY = timedelta(milliseconds=200)
EVENT_WORKERS = 2
EVENT_PATIENCE = 5.0


def utc_now() -> datetime:
    """The wall clock, the only place the operator reads it."""
    return datetime.now(UTC)


class Engine:
    """Holds the state of the running operator and the loop that drives reconciliation."""

    def __init__(
        self,
        client: Client,
        reconcilers: dict[Kind, Reconciler],
        *,
        clock: Callable[[], datetime] = utc_now,
        workers: int = 16,
    ) -> None:
        self.client = client
        self.store = Store()
        self.clock = clock
        self.queue: WorkQueue[Key] = WorkQueue()
        self.scheduler: Scheduler[Key] = Scheduler(clock, self._due)
        self._reconcilers = reconcilers
        self._workers = workers
        self._failures: dict[Key, int] = {}
        self._events: asyncio.Queue[tuple[dict[str, str], str, str, bool]] = asyncio.Queue()
        # Per-key locks, kept only while someone holds or waits for them (memory at 10,000).
        self._locks: dict[Key, tuple[asyncio.Lock, list[int]]] = {}
        metrics.register_components(self._component_statuses)
        self.reconciles = 0
        self.errors = 0

    def _component_statuses(self) -> Iterator[str]:
        for record in list(self.store.records.values()):
            if record.key.kind is Kind.COMPONENT and "status" in record.status:
                yield str(record.status["status"])

    # -- inputs ----------------------------------------------------------------------------

    def observe(self, kind: Kind, event_type: str | None, body: dict[str, Any]) -> None:
        """A watch event: update the store, queue what it affects."""
        self.queue.add(self.store.apply(kind, event_type, body))

    def prime(self, kind: Kind, bodies: Iterable[dict[str, Any]]) -> None:
        """The initial list of a kind, before the workers start."""
        for body in bodies:
            self.store.apply(kind, None, body)

    def enqueue(self, keys: Iterable[Key]) -> None:
        """Reconcile these keys soon."""
        self.queue.add(keys)

    def enqueue_page(self, namespace: str, page: str) -> None:
        """Reconcile a page shortly, once for a whole burst of changes."""
        key = Key(Kind.PAGE, namespace, page)
        when = self.clock() + PAGE_DELAY
        scheduled = self.scheduler.edge_of(key)
        if scheduled is None or scheduled > when:
            self.scheduler.schedule(key, when)

    def _due(self, keys: Iterable[Key]) -> None:
        """Keys whose edge has come: the components a page shows go first, then the windows."""
        due = list(keys)
        components: list[Key] = []
        for key in due:
            record = self.store.get(key) if key.kind is Kind.WINDOW else None
            if record is not None:
                components += [
                    Key(Kind.COMPONENT, key.namespace, name) for name in record.component_names
                ]
        self.queue.add(components)
        self.queue.add(due)

    # -- outputs (used by reconcilers) -----------------------------------------------------

    async def write_status(self, record: Record, desired: dict[str, Any]) -> bool:
        """Merge-patch the fields of `desired` that differ; None removes a field."""
        current = record.status
        patch = {k: v for k, v in desired.items() if current.get(k) != v}
        if not patch:
            return False
        key = record.key
        body = await self.client.patch_status(key.kind, key.namespace, key.name, patch)
        self.store.refresh(body, key.kind)
        return True

    async def ensure_finalizer(self, record: Record, wanted: bool) -> Record:
        """Add or remove our finalizer; returns the record as stored after the write."""
        present = FINALIZER in record.finalizers
        if present == wanted:
            return record
        finalizers = [f for f in record.finalizers if f != FINALIZER]
        if wanted:
            finalizers.append(FINALIZER)
        key = record.key
        body = await self.client.set_finalizers(
            key.kind, key.namespace, key.name, finalizers, record.resource_version
        )
        self.store.refresh(body, key.kind)
        return self.store.get(key) or record

    def event(self, record: Record, reason: str, message: str, *, warning: bool = False) -> None:
        """Post an Event on the object, after the status writes waiting to be made; log it."""
        key = record.key
        metrics.TRANSITIONS.labels(kind=str(key.kind), reason=reason).inc()
        level = logging.WARNING if warning else logging.INFO
        logger.log(level, "%s %s/%s: %s: %s", key.kind, key.namespace, key.name, reason, message)
        self._events.put_nowait((record.ref(), reason, message, warning))

    async def reconcile_now(self, key: Key) -> None:
        """Reconcile a key inline (e.g. components before a finalizer goes), under its lock."""
        await self._reconcile(key)

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the workers, the scheduler and the periodic resync until cancelled."""
        self.queue.add(self.store.keys([Kind.WINDOW, Kind.INCIDENT]))
        self.queue.add(self.store.keys([Kind.COMPONENT, Kind.PAGE]))
        tasks = [
            asyncio.create_task(self._worker(), name=f"worker-{i}") for i in range(self._workers)
        ]
        tasks += [
            asyncio.create_task(self._post_events(), name=f"events-{i}")
            for i in range(EVENT_WORKERS)
        ]
        tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        tasks.append(asyncio.create_task(self._resync(), name="resync"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _resync(self) -> None:
        # A safety net: every object is looked at now and then, whatever the watches said.
        while True:
            await asyncio.sleep(RESYNC_PERIOD.total_seconds())
            self.queue.add(self.store.keys())

    async def _post_events(self) -> None:
        # Status first: during a burst, Events wait (up to EVENT_PATIENCE) for the queue to drain.
        while True:
            ref, reason, message, warning = await self._events.get()
            waited = 0.0
            while not self.queue.idle and waited < EVENT_PATIENCE:
                await asyncio.sleep(0.05)
                waited += 0.05
            await self.client.post_event(ref, reason, message, self.clock(), warning=warning)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self._reconcile(key)
            finally:
                self.queue.done(key)

    @contextlib.asynccontextmanager
    async def _exclusive(self, key: Key) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]

    async def _reconcile(self, key: Key) -> None:
        async with self._exclusive(key):
            record = self.store.get(key)
            if record is None:
                self._failures.pop(key, None)
                return
            self.reconciles += 1
            metrics.count_reconcile(key.kind)
            try:
                await self._reconcilers[key.kind](self, record, self.clock())
            except NotFoundError:
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._retry(key, error)
            else:
                self._failures.pop(key, None)

    def _retry(self, key: Key, error: Exception) -> None:
        self.errors += 1
        metrics.RECONCILE_ERRORS.labels(kind=str(key.kind)).inc()
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(MAX_BACKOFF, 0.2 * 2 ** (failures - 1)) * (1 + random.random() / 10)
        level = logging.DEBUG if isinstance(error, ConflictError) else logging.WARNING
        logger.log(
            level,
            "reconciling %s %s/%s failed (%s); retrying in %.1fs",
            key.kind,
            key.namespace,
            key.name,
            error,
            delay,
            exc_info=level == logging.WARNING,
        )
        self.scheduler.schedule(key, self.clock() + timedelta(seconds=delay))
