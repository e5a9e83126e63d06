"""Components and pages: recomputed from the view whenever something that affects them changes.

A component's status is the worst of its manual status, the windows in progress and the open
incidents that list it (domain.md); a page rolls its components up as Statuspage does. Both are
written only when they differ. A page changes with every window of a burst, so its write waits
200 ms and covers the whole burst.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from statuspage_operator.api.conditions import Reason, Verdict
from statuspage_operator.api.names import Kind
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.api.status import component_status, invalid_status, page_status
from statuspage_operator.control import metrics
from statuspage_operator.control.view import Change, Key, View
from statuspage_operator.control.writer import Writer
from statuspage_operator.domain.errors import InvalidSpecError

logger = logging.getLogger(__name__)

PAGE_DELAY = 0.2


def condition_changed(previous: dict[str, object], verdict: Verdict) -> bool:
    """Whether the Ready condition about to be written differs from the one before (for Events)."""
    conditions = previous.get("conditions") or []
    assert isinstance(conditions, list)
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    return (
        ready is None
        or ready.get("reason") != verdict.reason
        or ready.get("message") != verdict.message
    )


def warnings(previous: dict[str, object], verdict: Verdict) -> list[tuple[str, str, bool]]:
    """A Warning Event when the object newly has a problem (or a different one)."""
    if verdict.ready or not condition_changed(previous, verdict):
        return []
    return [(verdict.reason, verdict.message, True)]


def invalid(
    name: str, uid: str, current: dict[str, Any], error: Exception, generation: int, now: datetime
) -> tuple[dict[str, Any], list[Notice]]:
    """The status of an object whose spec cannot work (Stalled), and a Warning when it is new."""
    verdict = Verdict(False, Reason.INVALID_SPEC, str(error), stalled=True)
    desired = invalid_status(current, verdict, generation, now)
    return desired, make_notices(name, uid, now, warnings(current, verdict))


class Components:
    """Writes components' and pages' status from the view."""

    def __init__(self, view: View, writer: Writer, clock: Callable[[], datetime]) -> None:
        self.view = view
        self.writer = writer
        self.clock = clock
        self._pending_pages: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def close(self) -> None:
        """Drop the page writes still waiting (the next start recomputes every page)."""
        for task in self._tasks:
            task.cancel()

    async def recompute(self, namespace: str, names: Iterable[str], now: datetime) -> bool:
        """Recompute some components of a namespace; True if any status changed."""
        changed = False
        for name in sorted(set(names)):
            changed |= await self.recompute_one(namespace, name, now)
        return changed

    async def recompute_one(self, namespace: str, name: str, now: datetime) -> bool:
        """Write one component's status if it differs; True if its `status` changed."""
        with self.writer.recomputing_component():
            return await self._recompute_one(namespace, name, now)

    async def _recompute_one(self, namespace: str, name: str, now: datetime) -> bool:
        async with self.writer.lock((Kind.COMPONENT, namespace, name)):
            entry = self.view.components.get((namespace, name))
            if entry is None:
                return False
            metrics.count_reconcile(Kind.COMPONENT)
            current = entry.recorded.status
            body = {"metadata": {"namespace": namespace, "name": name, "uid": entry.uid}}
            if entry.spec is None:
                error = entry.error or InvalidSpecError("spec", "missing")
                desired, notices = invalid(name, entry.uid, current, error, entry.generation, now)
                stored = await self.writer.write(Kind.COMPONENT, body, current, desired, notices)
                if stored is not None:
                    entry.recorded.update(stored)
                return False
            view = self.view.component_view(namespace, name, now)
            assert view is not None
            page = entry.spec.page
            if (namespace, page) in self.view.pages:
                verdict = Verdict.ok()
            else:
                verdict = Verdict(
                    False,
                    Reason.PAGE_NOT_FOUND,
                    f"page {page} not found in namespace {namespace}; create it, or fix spec.page",
                )
            old = current.get("status")
            desired = component_status(
                view.status, view.windows, view.incidents, current, verdict, entry.generation, now
            )
            items: list[tuple[str, str, bool]] = []
            if old is not None and old != desired["status"]:
                items.append(
                    (Reason.COMPONENT_STATUS_CHANGED, f"{old} -> {desired['status']}", False)
                )
            items += warnings(current, verdict)
            notices = make_notices(name, entry.uid, now, items)
            stored = await self.writer.write(Kind.COMPONENT, body, current, desired, notices)
            if stored is None:
                return False
            entry.recorded.update(stored)
        if old != desired["status"]:
            self.touch_page(namespace, page)
            return True
        return False

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
        await asyncio.sleep(PAGE_DELAY)
        self._pending_pages.discard(key)
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
            body = {"metadata": {"namespace": namespace, "name": name, "uid": entry.uid}}
            if entry.error is not None:
                desired, notices = invalid(
                    name, entry.uid, current, entry.error, entry.generation, now
                )
            else:
                view = self.view.page_view(namespace, name, now)
                desired = page_status(
                    view.rollup,
                    view.components,
                    view.unresolved_incidents,
                    view.active_maintenances,
                    current,
                    Verdict.ok(),
                    entry.generation,
                    now,
                )
                notices = []
            stored = await self.writer.write(Kind.PAGE, body, current, desired, notices)
            if stored is not None:
                entry.recorded.update(stored)

    async def resync_page(self, namespace: str, name: str) -> None:
        """The safety net: every component of the page, then the page itself, from scratch."""
        now = self.clock()
        await self.recompute(namespace, self.view.members(namespace, name), now)
        await self.recompute_page(namespace, name, now)
