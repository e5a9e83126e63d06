"""Draft incidents from alert groups: gather a page's groups, plan (plans/drafts.py), act, record.

Touched whenever a page or one of its components changes (a burst is planned once, 200 ms after
its first change), and woken when a group expires with no event to say so. One page at a time:
its plan, creations, deletions and Resolved updates, then its `status.alertIncidents`.

Crash safety: a draft's name comes from its episode, so creating it again after a SIGKILL between
the creation and the record is an AlreadyExists, taken as done. A record outlives its draft, so a
draft a person deleted is not opened again while its episode lasts. Deletions and Resolved updates
carry the resourceVersion they were decided on: a person publishing meanwhile wins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from statuspage_operator.api.alerts import alerts_of
from statuspage_operator.api.drafts import (
    Opened,
    owned,
    parse_opened,
    render_opened,
    resolved_update,
)
from statuspage_operator.api.names import Kind
from statuspage_operator.api.specs import PageAlertsSpec, PageSpec, parse, parse_duration
from statuspage_operator.control.view import Body, Key, View
from statuspage_operator.control.windows import key_of
from statuspage_operator.control.writer import Writer
from statuspage_operator.domain.alerting import DEFAULT_SEVERITIES
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import IncidentPhase
from statuspage_operator.k8s import drafts as calls
from statuspage_operator.k8s.client import Client, ConflictError, NotFoundError, transient
from statuspage_operator.plans.drafts import (
    AskingComponent,
    DraftFacts,
    DraftPlan,
    OwnedIncident,
    plan_drafts,
)

logger = logging.getLogger(__name__)

DELAY = 0.2
RETRY = 5.0
# A wake-up just after the expiry it waits for, so the expiry has passed when it plans.
WAKE_PAD = 0.1
DEFAULT_EXPIRE_AFTER = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Seen:
    """One of the operator's own incidents as last seen in the watch or in our own write."""

    page: str
    version: str
    incident: OwnedIncident
    updates: tuple[Mapping[str, Any], ...]


def _seen(body: Body) -> Seen:
    spec = body.get("spec") or {}
    updates = tuple(u for u in spec.get("updates") or () if isinstance(u, Mapping))
    resolved = bool(updates) and updates[-1].get("status") == IncidentPhase.RESOLVED
    return Seen(
        str(spec.get("page", "")),
        str(body.get("metadata", {}).get("resourceVersion", "")),
        OwnedIncident(draft=spec.get("draft") is True, resolved=resolved),
        updates,
    )


def page_settings(body: Body) -> PageAlertsSpec | None:
    """The page's alerts settings when it takes alerts at all (a receiver Secret), else None."""
    try:
        alerts = parse(PageSpec, body.get("spec")).alerts
    except InvalidSpecError:
        return None
    if alerts is None or alerts.receiver_secret_ref is None:
        return None
    return alerts


def _expire_after(settings: PageAlertsSpec | None) -> timedelta:
    """The page's expireAfter (the CRD's default when it does not parse; nothing fires without
    settings)."""
    if settings is None:
        return timedelta(0)
    try:
        parsed = parse_duration("spec.alerts.expireAfter", settings.expire_after)
    except InvalidSpecError:
        parsed = None
    return parsed or DEFAULT_EXPIRE_AFTER


class Drafts:
    """Each page's drafts from its components' alert groups."""

    def __init__(
        self, client: Client, view: View, writer: Writer, clock: Callable[[], datetime]
    ) -> None:
        self.client = client
        self.view = view
        self.writer = writer
        self.clock = clock
        self.settings: dict[Key, PageAlertsSpec] = {}
        self.owned: dict[Key, Seen] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self._pending: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wakes: dict[Key, asyncio.TimerHandle] = {}

    def close(self) -> None:
        """Drop what waits (the next start plans every page again)."""
        for task in self._tasks:
            task.cancel()
        for handle in self._wakes.values():
            handle.cancel()

    # -- what it learns from the watches -------------------------------------------------------

    def observe_page(self, event_type: str | None, body: Body) -> None:
        """A page appeared, changed or went: its alerts settings."""
        key = key_of(body)
        settings = None if event_type == "DELETED" else page_settings(body)
        if settings is None:
            self.settings.pop(key, None)
        else:
            self.settings[key] = settings

    def observe_incident(self, event_type: str | None, body: Body) -> None:
        """Keep what matters of the operator's own incidents (no one else's)."""
        key = key_of(body)
        if event_type == "DELETED" or not owned(body.get("metadata") or {}):
            self.owned.pop(key, None)
        else:
            self.owned[key] = _seen(body)

    # -- planning --------------------------------------------------------------------------------

    def touch(self, namespace: str, page: str, delay: float = DELAY) -> None:
        """Plan the page's drafts shortly, once for a whole burst of changes."""
        key = (namespace, page)
        if key in self._pending or not self._concerns(key):
            return
        self._pending.add(key)
        task = asyncio.create_task(self._later(key, delay), name=f"drafts {namespace}/{page}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _concerns(self, key: Key) -> bool:
        entry = self.view.pages.get(key)
        return key in self.settings or (
            entry is not None and bool(parse_opened(entry.recorded.status))
        )

    async def _later(self, key: Key, delay: float) -> None:
        await asyncio.sleep(delay)
        self._pending.discard(key)
        try:
            done = await self.reconcile(*key)
        except Exception:
            logger.exception("planning the drafts of page %s/%s failed", *key)
            done = False
        if not done:
            self._retry(key)

    def _retry(self, key: Key) -> None:
        loop = asyncio.get_running_loop()
        self._wake_at(key, loop.time() + RETRY)

    def _wake_at(self, key: Key, when: float) -> None:
        old = self._wakes.pop(key, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._wakes[key] = loop.call_at(when, self._woken, key)

    def _woken(self, key: Key) -> None:
        self._wakes.pop(key, None)
        self.touch(*key, delay=0)

    def facts(self, namespace: str, page: str) -> DraftFacts | None:
        """What the page's plan is made from, from the view (None: the page is not known)."""
        entry = self.view.pages.get((namespace, page))
        if entry is None:
            return None
        settings = self.settings.get((namespace, page))
        components = []
        if settings is not None:
            for name in self.view.members(namespace, page):
                found = self.view.components.get((namespace, name))
                spec = found.spec.alerts if found is not None and found.spec else None
                if found is None or spec is None or spec.paused:
                    continue
                asks = (
                    settings.draft_incidents
                    if spec.draft_incidents is None
                    else spec.draft_incidents
                )
                severities = DEFAULT_SEVERITIES if spec.severities is None else spec.severities
                alerts = alerts_of(found.recorded.status)
                components.append(AskingComponent(name, asks, alerts, severities))
        owned_here = {
            name: seen.incident for (ns, name), seen in self.owned.items() if ns == namespace
        }
        return DraftFacts(
            page,
            _expire_after(settings),
            tuple(components),
            parse_opened(entry.recorded.status),
            owned_here,
        )

    async def reconcile(self, namespace: str, page: str) -> bool:
        """Plan the page's drafts and carry the plan out; False if some step must be retried."""
        key = (namespace, page)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            facts = self.facts(namespace, page)
            if facts is None:
                return True
            now = self.clock()
            plan = plan_drafts(facts, now)
            records, done = await self._act(namespace, facts, plan)
            await self._record(namespace, page, records)
            if plan.wake is not None and done:
                loop = asyncio.get_running_loop()
                delay = (plan.wake - now).total_seconds() + WAKE_PAD
                self._wake_at(key, loop.time() + max(0.0, delay))
            return done

    async def _act(
        self, namespace: str, facts: DraftFacts, plan: DraftPlan
    ) -> tuple[tuple[Opened, ...], bool]:
        """Create, delete, resolve; the records that stand after (a failed step keeps its own)."""
        records = list(plan.records)
        done = True
        for body in plan.create:
            name = str(body["metadata"]["name"])
            try:
                stored = await calls.create_incident(self.client, namespace, body)
            except Exception as error:
                if not transient(error):
                    # Refused for good (the guard, the schema): recorded all the same, as a draft
                    # a person deleted, so it is not asked for again at every change.
                    logger.warning("draft %s/%s refused: %s", namespace, name, error)
                    continue
                logger.warning("opening draft %s/%s failed: %s", namespace, name, error)
                records = [r for r in records if r.incident != name]
                done = False
                continue
            if stored is not None:
                logger.info("opened draft incident %s/%s for an alert group", namespace, name)
                # Known before its watch event: an episode ending at once still finds it.
                self.owned[(namespace, name)] = _seen(stored)
        by_name = {r.incident: r for r in facts.opened}
        for name in (*plan.delete, *plan.resolve):
            seen = self.owned.get((namespace, name))
            if seen is None:
                continue
            try:
                if name in plan.delete:
                    await calls.delete_incident(
                        self.client, namespace, name, seen.version, seen.updates
                    )
                    logger.info(
                        "deleted unpublished draft %s/%s: its alerts ended", namespace, name
                    )
                else:
                    stored = await calls.append_update(
                        self.client, namespace, name, seen.version, seen.updates, resolved_update()
                    )
                    self.owned[(namespace, name)] = _seen(stored)
                    logger.info("resolved incident %s/%s: its alerts ended", namespace, name)
            except NotFoundError:
                continue
            except Exception as error:
                if not isinstance(error, ConflictError) and not transient(error):
                    # Refused for good (its label gone, its updates full): left as it is.
                    logger.warning("ending incident %s/%s refused: %s", namespace, name, error)
                    continue
                # Changed meanwhile (published, updated) or not reached: decided again.
                logger.info("ending incident %s/%s waits: %s", namespace, name, error)
                records.append(by_name[name])
                done = False
        return tuple(sorted(records, key=lambda r: (r.since, r.group))), done

    async def _record(self, namespace: str, page: str, records: tuple[Opened, ...]) -> None:
        async with self.writer.lock((Kind.PAGE, namespace, page)):
            entry = self.view.pages.get((namespace, page))
            if entry is None:
                return
            body = {"metadata": {"namespace": namespace, "name": page, "uid": entry.uid}}
            current = entry.recorded.status
            desired = {"alertIncidents": render_opened(records)}
            stored = await self.writer.write(Kind.PAGE, body, current, desired)
            if stored is not None:
                entry.recorded.update(stored)
