"""Components and pages: recomputed from the view whenever something that affects them changes.

A component's status is the worst of its manual status, the windows in progress and the open
incidents that list it (docs/behaviour.md, "Component status"); a page rolls its components up as
Statuspage does. Both are written only when they differ. A component whose alerts change their
answer by time alone (a group expiring, a hold ending: domain/alerting.py `next_change`) is
recomputed at that instant by an asyncio timer held here, one per such component; a restart loses
nothing, as the start-up recompute of every component sets them again. A page changes with every
window of a burst, so its write waits 200 ms and covers the whole burst. Each write is gather ->
plan -> write: the view's derivation is gathered, plans.components and plans.pages render it with
its conditions and Events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.publication import say
from statuspage_operator.control import metrics
from statuspage_operator.control.view import Change, ComponentEntry, Key, PageEntry, View
from statuspage_operator.control.writer import Writer
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.page import ComponentState
from statuspage_operator.plans.components import ComponentFacts, plan_component
from statuspage_operator.plans.pages import PageFacts, plan_page

logger = logging.getLogger(__name__)

PAGE_DELAY = 0.2
# While changes keep coming, a page is rolled up at most once in this many seconds: during a
# burst of 1,000 windows on one page its rollup ran every 0.2 s, 21% of the operator's time.
PAGE_BUSY_GAP = 1.0
# A wake-up at an alerts' change sleeps at most this long before it looks at the clock again
# (a clock step), and lands this long after the instant, so that the instant has passed.
WAKE_CAP = 300.0
WAKE_PAD = 0.05


class Components:
    """Writes components' and pages' status from the view."""

    def __init__(self, view: View, writer: Writer, clock: Callable[[], datetime]) -> None:
        self.view = view
        self.writer = writer
        self.clock = clock
        self._pending_pages: set[Key] = set()
        # When each page was last rolled up (monotonic), while that is within PAGE_BUSY_GAP.
        self._rolled: dict[Key, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wakes: dict[Key, tuple[datetime, asyncio.Task[None]]] = {}

    def close(self) -> None:
        """Drop the page writes and wake-ups still waiting (the next start recomputes all)."""
        for task in self._tasks:
            task.cancel()
        for _, task in self._wakes.values():
            task.cancel()
        self._wakes.clear()

    def wake_at(self, key: Key, when: datetime | None) -> None:
        """Recompute a component at `when` (None: never by time alone), replacing the last."""
        held = self._wakes.get(key)
        if held is not None:
            if held[0] == when:
                return
            held[1].cancel()
            del self._wakes[key]
        if when is not None:
            task = asyncio.create_task(self._wake(key, when), name=f"alerts {key[0]}/{key[1]}")
            self._wakes[key] = (when, task)

    def waking(self, key: Key) -> datetime | None:
        """When a component will be recomputed by time alone (None: not)."""
        held = self._wakes.get(key)
        return held[0] if held is not None else None

    async def _wake(self, key: Key, when: datetime) -> None:
        delay = (when - self.clock()).total_seconds() + WAKE_PAD
        await asyncio.sleep(min(max(delay, 0.0), WAKE_CAP))
        held = self._wakes.get(key)
        if held is not None and held[1] is asyncio.current_task():
            del self._wakes[key]
        try:
            await self.recompute_one(*key, self.clock())
        except Exception:
            logger.exception("recomputing component %s/%s at its alerts' change failed", *key)
            # Not lost: the page's safety net recomputes it within minutes.

    async def recompute(
        self, namespace: str, names: Iterable[str], now: datetime, at_edge: bool = False
    ) -> bool:
        """Recompute some components of a namespace; True if any status changed.

        `at_edge`: a window's start or end moves them (windows at the same edge write after).
        """
        changed = False
        for name in sorted(set(names)):
            changed |= await self.recompute_one(namespace, name, now, at_edge)
        return changed

    async def recompute_one(
        self, namespace: str, name: str, now: datetime, at_edge: bool = False
    ) -> bool:
        """Write one component's status if it differs; True if its `status` changed."""
        with self.writer.recomputing_component(at_edge):
            return await self._recompute_one(namespace, name, now)

    async def _recompute_one(self, namespace: str, name: str, now: datetime) -> bool:
        async with self.writer.lock((Kind.COMPONENT, namespace, name)):
            entry = self.view.components.get((namespace, name))
            if entry is None:
                self.wake_at((namespace, name), None)
                return False
            metrics.count_reconcile(Kind.COMPONENT)
            current = entry.recorded.status
            derived = self.view.component_view(namespace, name, now)
            self.wake_at((namespace, name), derived.alerts_change if derived else None)
            facts = self._component_facts(namespace, name, entry, current, derived)
            plan = plan_component(facts, now)
            body = {"metadata": {"namespace": namespace, "name": name, "uid": entry.uid}}
            stored = await self.writer.write(
                Kind.COMPONENT, body, current, plan.status, plan.notices
            )
            if stored is None:
                return False
            entry.recorded.update(stored)
        if plan.changed and entry.spec is not None:
            self.touch_page(namespace, entry.spec.page)
            return True
        return False

    def _component_facts(
        self,
        namespace: str,
        name: str,
        entry: ComponentEntry,
        current: dict[str, Any],
        derived: ComponentState | None,
    ) -> ComponentFacts:
        if entry.spec is None:
            error = entry.error or InvalidSpecError("spec", "missing")
            return ComponentFacts(namespace, name, entry.uid, entry.generation, current, error)
        return ComponentFacts(
            namespace,
            name,
            entry.uid,
            entry.generation,
            current,
            entry.spec,
            derived=derived,
            page_found=(namespace, entry.spec.page) in self.view.pages,
        )

    async def apply(self, namespace: str, change: Change | None) -> None:
        """Recompute what a change of the view touches: its components, then its pages."""
        if change is None:
            return
        await self.recompute(namespace, change.components, self.clock())
        for page in change.pages:
            self.touch_page(namespace, page)

    def touch_page(self, namespace: str, page: str) -> None:
        """Recompute a page shortly, once for a whole burst of changes."""
        key = (namespace, page)
        if key in self._pending_pages:
            return
        self._pending_pages.add(key)
        task = asyncio.create_task(self._page_later(key), name=f"page {namespace}/{page}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _page_later(self, key: Key) -> None:
        loop = asyncio.get_running_loop()
        last = self._rolled.get(key)
        delay = PAGE_DELAY if last is None else max(PAGE_DELAY, last + PAGE_BUSY_GAP - loop.time())
        await asyncio.sleep(delay)
        self._pending_pages.discard(key)
        now = loop.time()
        self._rolled = {k: t for k, t in self._rolled.items() if t > now - PAGE_BUSY_GAP}
        self._rolled[key] = now
        try:
            await self.recompute_page(*key, self.clock())
        except Exception:
            logger.exception("writing the status of page %s/%s failed", *key)

    async def recompute_page(self, namespace: str, name: str, now: datetime) -> None:
        """Statuspage's rollup of the page's components, and its counts."""
        async with self.writer.lock((Kind.PAGE, namespace, name)):
            entry = self.view.pages.get((namespace, name))
            if entry is None:
                return
            metrics.count_reconcile(Kind.PAGE)
            current = entry.recorded.status
            plan = plan_page(self._page_facts(namespace, name, entry, current, now), now)
            body = {"metadata": {"namespace": namespace, "name": name, "uid": entry.uid}}
            stored = await self.writer.write(Kind.PAGE, body, current, plan.status, plan.notices)
            if stored is not None:
                entry.recorded.update(stored)

    def _page_facts(
        self, namespace: str, name: str, entry: PageEntry, current: dict[str, Any], now: datetime
    ) -> PageFacts:
        outcome = self.view.publications.outcome((namespace, name))
        said = say(namespace, name, outcome)
        if entry.error is not None:
            return PageFacts(name, entry.uid, entry.generation, current, entry.error, said=said)
        rolled = self.view.page_view(namespace, name, now)
        return PageFacts(name, entry.uid, entry.generation, current, rolled=rolled, said=said)

    async def resync_page(self, namespace: str, name: str) -> None:
        """The safety net: every component of the page, then the page itself, from scratch."""
        now = self.clock()
        await self.recompute(namespace, self.view.members(namespace, name), now)
        await self.recompute_page(namespace, name, now)
