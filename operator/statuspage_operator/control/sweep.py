"""The sweep: drop from the view what no longer exists, so it stays true after a watch gap.

The view is fed by kopf's events. After `410 Gone` kopf lists again and hands every listed object to
the handlers (event type None), but reports no deletion for objects removed during the gap, and
never says when a listing ended. The same holds for the operator's own list at start-up: an object
deleted between it and kopf's list is never reported. So the operator lists the metadata of its
kinds itself (about 50 bytes an object on the wire) and drops what the list no longer shows, with
the effects a DELETED event would have had (Runtime.forget).

When (Plan): kopf's listings are bursts of type-None events. At start-up, sweep once kopf's first
listing is `quiet` (or `quiet` after the start if it lists nothing). A burst after the first sweep
is a re-list: sweep shortly after it began (after `delay`, so every kind's re-list snapshot is
taken). A burst still going when a sweep began (10,000 objects handed out over a minute) gets one
more sweep once it is `quiet`. A periodic sweep is the safety net for what bursts cannot show (a
kind whose every object went during the gap lists nothing).

What (stale): an object held whose name the list lacks, or lists with another uid (deleted and
created again: kopf reports the new one, the old must go as if DELETED had come). Objects reported
by kopf after the list began are kept: they may be newer than the list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

from statuspage_operator.control import metrics
from statuspage_operator.control.retry import RetryPolicy
from statuspage_operator.control.view import Key
from statuspage_operator.k8s.client import ApiError, Client, NotFoundError, transient

logger = logging.getLogger(__name__)

# Swept after a re-list began: by then every kind's re-list has its snapshot (they reconnect
# together after a network gap).
DELAY = 2.0
# No listed object for this long: a listing (a burst of type-None events) is over.
QUIET = 10.0
# The safety net; `--sweep-interval`.
INTERVAL = 600.0
# A failed sweep is tried again after this long, twice as long after each failure in a row, at
# most RETRY_MAX: a connection cut once is mended in seconds, an API server away for long is not
# listed every 2 s.
RETRY = 2.0
RETRY_MAX = 30.0

Held = Callable[[str], dict[Key, str]]
Forget = Callable[[str, Key, str], Awaitable[bool]]


@dataclass
class Plan:
    """When to sweep, from when kopf handed over listed objects (monotonic seconds)."""

    interval: float = INTERVAL
    delay: float = DELAY
    quiet: float = QUIET
    retry: float = RETRY
    retry_max: float = RETRY_MAX
    start: float = 0.0
    last_listed: float | None = None
    last_sweep: float | None = None
    # A listed object came after the last sweep began (or since start): its listing needs one.
    unswept: bool = False
    # A sweep due soon: after a re-list began, or again after one failed.
    due: float | None = None
    retrying: bool = False
    # Sweeps failed in a row.
    failures: int = 0

    def starting(self, now: float) -> None:
        """kopf is about to list every kind: sweep once it is over, even if it lists nothing."""
        self.start = now
        self.last_listed = now
        self.unswept = True

    def listed(self, now: float) -> bool:
        """kopf handed over a listed object; True if the next sweep may now be sooner."""
        new = self.last_listed is None or now - self.last_listed > self.quiet
        sooner = new or not self.unswept
        self.last_listed = now
        self.unswept = True
        if new and self.last_sweep is not None:
            self.due = min(self.due if self.due is not None else math.inf, now + self.delay)
        return sooner

    def next(self) -> float:
        """When the next sweep is due."""
        last = self.last_sweep if self.last_sweep is not None else self.start
        candidates = [last + self.interval]
        if self.due is not None:
            candidates.append(self.due)
        if self.unswept and self.last_listed is not None:
            candidates.append(self.last_listed + self.quiet)
        return min(candidates)

    def begin(self, now: float) -> str:
        """A sweep begins (its lists are made from now on); returns why: the metric's trigger."""
        if self.retrying:
            trigger = "retry"
        elif self.due is not None or self.unswept:
            trigger = "listing"
        else:
            trigger = "interval"
        self.last_sweep = now
        self.due = None
        self.unswept = False
        self.retrying = False
        return trigger

    def failed(self, now: float) -> float:
        """A sweep failed: try again in a while, not at the next interval; returns how long."""
        after = min(self.retry_max, RetryPolicy(self.retry).delay(self.failures + 1))
        self.failures += 1
        self.due = now + after
        self.retrying = True
        return after

    def succeeded(self) -> None:
        """A sweep went through: the next failure is retried soon again."""
        self.failures = 0


def stale(
    held: Mapping[Key, str], listed: Mapping[Key, str], reported: Collection[Key]
) -> list[tuple[Key, str]]:
    """Held objects (key -> uid) the list shows gone, except those reported since it began."""
    return sorted(
        (key, uid) for key, uid in held.items() if listed.get(key) != uid and key not in reported
    )


@dataclass
class Sweeper:
    """Lists the metadata of our kinds and drops from the view what no longer exists.

    `kinds` maps each kind swept to its plural. `held(kind)` says what the operator holds of a
    kind (key -> uid); `forget(kind, key, uid)` drops one object with the effects of its deletion,
    if that uid is still held, and says whether it did.
    """

    client: Client
    held: Held
    forget: Forget
    kinds: Mapping[str, str]
    clock: Callable[[], float] = time.monotonic
    plan: Plan = field(default_factory=Plan)
    page_size: int = 500
    # Objects kopf reported since a sweep began listing their kind, by kind.
    _reported: dict[str, set[Key]] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def reported(self, kind: str, event_type: str | None, key: Key) -> None:
        """kopf handed an object to a handler (called before the handler acts on it)."""
        sweeping = self._reported.get(kind)
        if sweeping is not None:
            sweeping.add(key)
        if event_type is None and self.plan.listed(self.clock()):
            self._wake.set()

    def start(self, namespaces: list[str], interval: float, on_first: Callable[[], None]) -> None:
        """Sweep in the background until stop(); `interval` <= 0: only after kopf's listings."""
        self.plan.interval = interval if interval > 0 else math.inf
        self.plan.starting(self.clock())
        self._task = asyncio.create_task(self._run(namespaces, on_first), name="sweep")

    async def stop(self) -> None:
        """Stop sweeping (a sweep under way is abandoned: the next start lists anew)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self, namespaces: list[str], on_first: Callable[[], None]) -> None:
        first = True
        while True:
            wait = self.plan.next() - self.clock()
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), None if math.isinf(wait) else wait)
                continue
            trigger = self.plan.begin(self.clock())
            try:
                await self.sweep(namespaces, trigger)
            except Exception as error:
                after = self.plan.failed(self.clock())
                if not transient(error):
                    logger.exception("sweep failed; trying again in %.0f s", after)
                else:
                    logger.warning("sweep failed: %s; trying again in %.0f s", error, after)
                continue
            self.plan.succeeded()
            if first:
                first = False
                on_first()

    async def sweep(self, namespaces: list[str], trigger: str = "interval") -> int:
        """One sweep of every kind; returns how many objects it dropped."""
        started = time.perf_counter()
        dropped = 0
        for kind in self.kinds:
            dropped += await self._sweep_one(kind, namespaces)
        seconds = time.perf_counter() - started
        metrics.SWEEPS.labels(trigger=trigger).inc()
        metrics.SWEEP_SECONDS.observe(seconds)
        logger.log(
            logging.INFO if dropped or trigger != "interval" else logging.DEBUG,
            "swept (%s) in %.2f s: %d gone",
            trigger,
            seconds,
            dropped,
        )
        return dropped

    async def _sweep_one(self, kind: str, namespaces: list[str]) -> int:
        reported: set[Key] = set()
        self._reported[kind] = reported
        try:
            listed = await self._list(self.kinds[kind], namespaces)
            if listed is None:
                return 0
            dropped = 0
            for key, uid in stale(self.held(kind), listed, reported):
                # No await between the decision and forget()'s own check of the uid: a handler
                # cannot slip in between.
                if key in reported:
                    continue
                if await self.forget(kind, key, uid):
                    dropped += 1
                    metrics.SWEPT.labels(kind=kind).inc()
                    logger.info("%s %s/%s is gone, unreported by the watch: dropped", kind, *key)
            return dropped
        finally:
            del self._reported[kind]

    async def _list(self, plural: str, namespaces: list[str]) -> dict[Key, str] | None:
        """Key -> uid of every object of a plural now; None if the kind is not installed."""
        for _ in range(3):
            listed: dict[Key, str] = {}
            try:
                async for items in self.client.list_metadata(plural, namespaces, self.page_size):
                    for item in items:
                        meta = item.get("metadata") or {}
                        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
                        listed[key] = str(meta.get("uid", ""))
            except NotFoundError:
                return None
            except ApiError as error:
                # The continue token expired (compaction overtook a slow list): list again.
                if error.status != 410:
                    raise
                continue
            return listed
        raise ApiError(410, f"listing {plural} expired three times")
