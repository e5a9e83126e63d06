"""The running operator's state, made at start-up and handed to the handlers through kopf's memo.

Each handler module calls into one of these; this module wires them and holds what spans kinds:
the watch events of pages and components (they decide what the others show), healing objects
whose page or components were missing, and forgetting objects deleted unseen (control/sweep.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from statuspage_operator.api.alert_rules import PageAlerts, page_alerts, parse_component
from statuspage_operator.api.alerts import FIELD as ALERTS
from statuspage_operator.api.names import PLURALS, Kind
from statuspage_operator.api.news import PageFacts, page_facts
from statuspage_operator.api.publication import PUBLISHED, claim_of, policy_of, say
from statuspage_operator.api.specs import ComponentSpec, PageSpec, check_zone, parse
from statuspage_operator.control import metrics
from statuspage_operator.control.alertmanager import AlertmanagerClient, no_auth, secret_auth
from statuspage_operator.control.components import Components
from statuspage_operator.control.drafts import Drafts
from statuspage_operator.control.incidents import Incidents
from statuspage_operator.control.notifications import (
    RETRY_BASE,
    Channels,
    EgressPolicy,
    Mailboxes,
    Notifier,
)
from statuspage_operator.control.publication import PolicyEntry
from statuspage_operator.control.silences import Silences
from statuspage_operator.control.sweep import Sweeper
from statuspage_operator.control.view import Body, ComponentEntry, Key, PageEntry, View
from statuspage_operator.control.windows import Windows, key_of
from statuspage_operator.control.writer import Announcer, Writer, WritesInFlight
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.publication import Claim
from statuspage_operator.k8s import subscribers
from statuspage_operator.k8s.client import Client, NotFoundError
from statuspage_operator.k8s.subscribers import list_subscribers
from statuspage_operator.plans.conditions import plan_heal

logger = logging.getLogger(__name__)


# Catching up after downtime shares the connections with kopf; it never takes them all.
CATCH_UP_CONCURRENCY = 16
# What a sweep lists, in the order it drops: what names others before what is named.
SWEPT: dict[str, str] = {
    # Cluster-scoped: swept only when the operator watches every namespace (else not listed).
    Kind.POLICY: PLURALS[Kind.POLICY],
    subscribers.KIND: subscribers.PLURAL,
    Kind.INCIDENT: PLURALS[Kind.INCIDENT],
    Kind.WINDOW: PLURALS[Kind.WINDOW],
    Kind.COMPONENT: PLURALS[Kind.COMPONENT],
    Kind.PAGE: PLURALS[Kind.PAGE],
}


class _Uid(Protocol):
    @property
    def uid(self) -> str: ...


def release_free_memory() -> None:
    """Give the garbage of start-up (two lists of everything, a handler per object) back.

    glibc keeps freed heap for reuse; after the one-off peak of a start-up over 10,000 objects
    it would stay counted in the pod's memory until the next restart.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def utc_now() -> datetime:
    """The wall clock: the only place the operator reads it."""
    return datetime.now(UTC)


def _gone(event_type: str | None, body: Body) -> bool:
    return event_type == "DELETED" or bool(body.get("metadata", {}).get("deletionTimestamp"))


def _identity(body: Body) -> tuple[str, int]:
    meta = body.get("metadata", {})
    return str(meta.get("uid", "")), int(meta.get("generation") or 0)


def _page_checked(body: Body) -> tuple[InvalidSpecError | None, PageAlerts | None]:
    try:
        spec = parse(PageSpec, body.get("spec"))
        check_zone("spec.timeZone", spec.time_zone)
        return None, page_alerts(spec.alerts)
    except InvalidSpecError as error:
        return error, None


def _page_facts(body: Body) -> PageFacts | None:
    try:
        return page_facts(body.get("spec"))
    except InvalidSpecError:
        return None


def _page_entry(body: Body) -> PageEntry:
    uid, generation = _identity(body)
    error, alerts = _page_checked(body)
    entry = PageEntry(uid, generation, error, facts=_page_facts(body), alerts=alerts)
    entry.recorded.update(body)
    return entry


def _remind_before(entry: PageEntry | None) -> timedelta | None:
    facts = entry.facts if entry is not None else None
    return facts.remind_before if facts is not None else None


def _component_entry(body: Body) -> ComponentEntry:
    uid, generation = _identity(body)
    spec: ComponentSpec | None = None
    error: InvalidSpecError | None = None
    try:
        spec = parse_component(body.get("spec"))
    except InvalidSpecError as problem:
        error = problem
    entry = ComponentEntry(uid, generation, spec, error)
    entry.recorded.update(body)
    return entry


class Runtime:
    """The view, the writer and the rules of each kind."""

    def __init__(
        self,
        client: Client,
        clock: Callable[[], datetime] = utc_now,
        *,
        notify_retry_base: float = RETRY_BASE,
        egress: EgressPolicy | None = None,
        alertmanager_url: str | None = None,
        alertmanager_secret: str | None = None,
        mail_secret: str | None = None,
        subscription_key_secret: str | None = None,
        signup_url: str | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.view = View()
        # Each is given what it needs: Events and deliveries wait for the status writes in
        # flight; the writer announces and offers to subscribers what its writes record.
        in_flight = WritesInFlight()
        announcer = Announcer(client, clock, in_flight)
        mailboxes = Mailboxes(client, mail_secret, subscription_key_secret, signup_url)
        self.notifier = Notifier(
            client,
            clock,
            self.view,
            announcer,
            in_flight,
            notify_retry_base,
            Channels(egress),
            mailboxes,
        )
        self.writer = Writer(client, clock, announcer, self.notifier, in_flight)
        self.components = Components(self.view, self.writer, clock)
        self.windows = Windows(
            self.view, self.writer, self.components, clock, self.notifier.remind_before
        )
        self.incidents = Incidents(self.view, self.writer, self.components, clock)
        self.drafts = Drafts(client, self.view, self.writer, clock)
        alertmanager = None
        if alertmanager_url:
            auth = secret_auth(client, alertmanager_secret) if alertmanager_secret else no_auth
            alertmanager = AlertmanagerClient(alertmanager_url, auth)
        self.silences = Silences(alertmanager, self.writer, self.windows, clock)
        metrics.register_components(self.view.component_statuses)
        self._catching_up: asyncio.Task[None] | None = None
        self.sweeper = Sweeper(client, self.held, self.forget, SWEPT)

    async def prime(self, namespaces: list[str]) -> str:
        """Fill the view with one list of every kind, before kopf's watchers start.

        kopf lists each kind in parallel: a component listed before the windows that put it
        under maintenance would be written Operational, then UnderMaintenance again, at every
        restart; a window listed before its page would be PageNotFound for a moment. With the
        view primed, the first event of each object is judged against all the others. Objects
        deleted between this list and kopf's are dropped by the sweep after kopf's listing.
        """
        now = self.clock()
        counts = [await self._prime_policies()]
        behind: list[Body] = []
        for kind in (Kind.PAGE, Kind.COMPONENT, Kind.WINDOW, Kind.INCIDENT):
            count = 0
            async for items in self.client.list_pages(kind, namespaces):
                for body in items:
                    self._prime_one(kind, body, now)
                    if kind is Kind.WINDOW and self.windows.behind(body, now):
                        behind.append(body)
                count += len(items)
            counts.append(f"{count} {kind}")
            if kind is Kind.PAGE:
                self.view.publications.refresh()
                self._tell_conflicts({})
                # Subscribers (and their record of deliveries) before any notice is replayed.
                count = 0
                try:
                    async for items in list_subscribers(self.client, namespaces):
                        for body in items:
                            self.notifier.prime(body)
                        count += len(items)
                except NotFoundError:
                    logger.warning("the Subscriber CRD is not installed: no notifications")
                counts.append(f"{count} Subscriber")
        # Windows whose edge passed while the operator was down move now, from this list,
        # rather than when kopf gets to them among thousands of others (its daemon then finds
        # nothing left to do).
        self._catching_up = asyncio.create_task(self._catch_up(behind), name="catch up")
        return ", ".join(counts)

    async def _catch_up(self, bodies: list[Body]) -> None:
        concurrency = asyncio.Semaphore(CATCH_UP_CONCURRENCY)

        async def settle(body: Body) -> None:
            async with concurrency:
                try:
                    await self.windows.settle(body, self.clock())
                except Exception as error:
                    # Not lost: kopf hands the window to its handlers soon, and they settle it.
                    logger.warning("catching up %s/%s failed: %s", *key_of(body), error)

        await asyncio.gather(*(settle(body) for body in bodies))

    async def _prime_policies(self) -> str:
        # Before the pages, so that no page is written Published=False for a moment at start-up.
        count = 0
        try:
            async for items in self.client.list_plural(PLURALS[Kind.POLICY], []):
                for body in items:
                    policy = policy_of(body)
                    self.view.publications.policies[policy.name] = policy
                    uid = str(body.get("metadata", {}).get("uid", ""))
                    self.view.publications.entries[("", policy.name)] = PolicyEntry(uid)
                count += len(items)
        except NotFoundError:
            logger.warning("the PublicationPolicy CRD is not installed: no page is published")
        return f"{count} {Kind.POLICY}"

    def _prime_one(self, kind: Kind, body: Body, now: datetime) -> None:
        key = key_of(body)
        if kind is Kind.PAGE:
            self.silences.page_event(None, body)
            self.view.set_page(key, _page_entry(body))
            self.view.publications.claims[key] = claim_of(*key, body.get("spec"))
            self.drafts.observe_page(None, body)
        elif kind is Kind.COMPONENT:
            if not _gone(None, body):
                self.view.set_component(key, _component_entry(body))
        elif kind is Kind.WINDOW:
            self.windows.observe(None, body, now)
        else:
            self.incidents.observe(None, body)
            self.drafts.observe_incident(None, body)

    # -- objects deleted unseen (control/sweep.py) --------------------------------------------

    def reported(self, kind: str, event_type: str | None, body: Body) -> None:
        """kopf hands an object to its handler (call this first).

        A sweep under way keeps it; a listed one (type None) may begin a re-list, after which a
        sweep drops what the re-list did not show.
        """
        self.sweeper.reported(kind, event_type, key_of(body))

    def _holding(self, kind: str) -> Mapping[Key, _Uid]:
        if kind == Kind.PAGE:
            return self.view.pages
        if kind == Kind.COMPONENT:
            return self.view.components
        if kind == Kind.WINDOW:
            return self.view.windows
        if kind == Kind.INCIDENT:
            return self.view.incidents
        if kind == Kind.POLICY:
            return self.view.publications.entries
        return self.notifier.subscribers.entries

    def held(self, kind: str) -> dict[Key, str]:
        """What the operator holds of a kind, waiting for a page or component too: key -> uid."""
        found = {(ns, name): w.uid for (k, ns, name), w in self.view.waiting.items() if k == kind}
        found.update((key, entry.uid) for key, entry in self._holding(kind).items())
        return found

    async def forget(self, kind: str, key: Key, uid: str) -> bool:
        """Drop an object deleted unseen, if `uid` is what is held; then what its DELETED would do.

        The object leaves memory before the first await: a handler running meanwhile (kopf
        reporting the object created again) finds it gone and adds the new one.
        """
        namespace, name = key
        entry = self._holding(kind).get(key)
        if entry is None and kind in PLURALS:
            entry = self.view.waiting.get((Kind(kind), *key))
        if entry is None or entry.uid != uid:
            return False
        body = {"metadata": {"namespace": namespace, "name": name, "uid": uid}}
        if kind == Kind.PAGE:
            held = self.view.pages.get(key)
            self.view.set_page(key, None)
            self._claim(key, None)
            await self._page_facts_changed(namespace, name, held, None)
            await self.components.recompute(
                namespace, self.view.members(namespace, name), self.clock()
            )
            await self.heal(namespace)
        elif kind == Kind.COMPONENT:
            for page in self.view.set_component(key, None):
                self.components.touch_page(namespace, page)
            self.components.wake_at(key, None)
            await self.heal(namespace)
        elif kind == Kind.WINDOW:
            await self.components.apply(
                namespace, self.windows.observe("DELETED", body, self.clock())
            )
        elif kind == Kind.INCIDENT:
            await self.components.apply(namespace, self.incidents.observe("DELETED", body))
        elif kind == Kind.POLICY:
            self.policy_event("DELETED", body)
        else:
            await self.notifier.subscriber_event("DELETED", body)
        return True

    async def close(self) -> None:
        """Let pending Events go out, then stop the client's threads."""
        if self._catching_up is not None:
            self._catching_up.cancel()
        self.components.close()
        self.drafts.close()
        await self.silences.close()
        await self.notifier.close()
        await self.writer.announcer.drain()
        await self.client.close()

    # -- pages and components ----------------------------------------------------------------

    async def page_event(self, event_type: str | None, body: Body) -> None:
        """A page appeared, changed or went: its members and waiting objects learn of it."""
        namespace, name = key = key_of(body)
        uid, generation = _identity(body)
        held = self.view.pages.get(key)
        self.drafts.observe_page("DELETED" if _gone(event_type, body) else event_type, body)
        self.drafts.touch(namespace, name)
        self.silences.page_event(event_type, body)
        if _gone(event_type, body):
            if held is None:
                return
            self.view.set_page(key, None)
            self._claim(key, None)
            await self._page_facts_changed(namespace, name, held, None)
        elif held is not None and (held.uid, held.generation) == (uid, generation):
            held.recorded.update(body)
            status = held.recorded.status
            if status.get("observedGeneration") != generation or not self._says_published(
                key, status
            ):
                self.components.touch_page(namespace, name)
            return
        else:
            entry = _page_entry(body)
            self.view.set_page(key, entry)
            self._claim(key, claim_of(namespace, name, body.get("spec")))
            await self._page_facts_changed(namespace, name, held, entry)
            await self.components.recompute_page(namespace, name, self.clock())
            # Its members' alerts count by what the page says of them.
            if held is not None and held.uid == uid and held.alerts == entry.alerts:
                return
        # The page appeared or went: its members' PageNotFound changes.
        now = self.clock()
        await self.components.recompute(namespace, self.view.members(namespace, name), now)
        await self.heal(namespace)

    def _says_published(self, key: Key, status: Mapping[str, Any]) -> bool:
        """Whether a recorded status's Published condition tells the current decision."""
        said = say(*key, self.view.publications.outcome(key))
        for condition in status.get("conditions") or ():
            if isinstance(condition, dict) and condition.get("type") == PUBLISHED:
                return (condition.get("reason"), condition.get("message")) == (
                    said.reason,
                    said.message,
                )
        return False

    def _claim(self, key: Key, claim: Claim | None) -> None:
        """A page's claim changed: the other pages whose publication it changes are rewritten.

        The page itself is rewritten by its caller.
        """
        for other in self.view.publications.set_claim(key, claim) - {key}:
            self.components.touch_page(*other)

    def policy_event(self, event_type: str | None, body: Body) -> None:
        """A PublicationPolicy appeared, changed or went: rewrite the pages it changes."""
        name = str(body.get("metadata", {}).get("name", ""))
        policy = None if _gone(event_type, body) else policy_of(body)
        uid = str(body.get("metadata", {}).get("uid", ""))
        before = self.view.publications.decision.conflicts
        for key in self.view.publications.set_policy(name, policy, uid):
            self.components.touch_page(*key)
        self._tell_conflicts(before)

    def _tell_conflicts(self, before: Mapping[str, tuple[str, ...]]) -> None:
        # The cluster admin's own mistake, said where the admin looks (pages say it to owners).
        for hostname, policies in self.view.publications.decision.conflicts.items():
            if before.get(hostname) != policies:
                logger.warning(
                    "hostname %s is granted to more than one namespace (PublicationPolicy %s): "
                    "granted to none",
                    hostname,
                    ", ".join(policies),
                )

    async def _page_facts_changed(
        self, namespace: str, name: str, held: PageEntry | None, entry: PageEntry | None
    ) -> None:
        """Subscribers say whether their page exists; its windows' reminders follow its default."""
        if _remind_before(held) != _remind_before(entry):
            for (ns, window), live in self.view.windows.items():
                if ns == namespace and live.spec.page == name:
                    self.windows.wake((ns, window))
        await self.notifier.heal(namespace, name)

    async def component_event(self, event_type: str | None, body: Body) -> None:
        """A component appeared, changed or went: recompute it, its page and what waited for it."""
        namespace, name = key = key_of(body)
        uid, generation = _identity(body)
        held = self.view.components.get(key)
        if _gone(event_type, body):
            if held is None:
                return
            pages = self.view.set_component(key, None)
            self.components.wake_at(key, None)
        elif held is not None and (held.uid, held.generation) == (uid, generation):
            alerts = held.recorded.status.get(ALERTS)
            held.recorded.update(body)
            # Someone else's status write is undone; our own finds nothing to change.
            await self.components.recompute_one(namespace, name, self.clock())
            if held.spec is not None and held.recorded.status.get(ALERTS) != alerts:
                # The receiver wrote the component's alert groups: the page's drafts follow.
                self.drafts.touch(namespace, held.spec.page)
            return
        else:
            pages = self.view.set_component(key, _component_entry(body))
            await self.components.recompute_one(namespace, name, self.clock())
        for page in pages:
            self.components.touch_page(namespace, page)
            self.drafts.touch(namespace, page)
        await self.heal(namespace)

    async def subscriber_event(self, event_type: str | None, body: Body) -> None:
        """A Subscriber appeared, changed or went."""
        await self.notifier.subscriber_event(event_type, body)

    async def heal(self, namespace: str) -> None:
        """Objects whose page or components were missing: write their condition anew."""
        now = self.clock()
        for (kind, _, name), waiting in self.view.waiting_in(namespace):
            if kind is Kind.WINDOW and (namespace, name) in self.view.wakers:
                self.windows.wake((namespace, name))
                continue
            verdict = self.view.references(kind, namespace, waiting.page, waiting.names)
            key = (kind, namespace, name)
            body = {
                "metadata": {
                    "namespace": namespace,
                    "name": name,
                    "uid": waiting.uid,
                    "generation": waiting.generation,
                    "resourceVersion": str(waiting.recorded.version),
                },
                "status": waiting.recorded.status,
            }
            async with self.writer.lock(key):
                # Our own later write counts, if its event has not come yet.
                current = self.writer.current(key, body)
                desired = plan_heal(current, verdict, waiting.generation, now)
                if desired is None:
                    continue
                stored = await self.writer.write(kind, body, current, desired, remember=True)
            self.view.track(kind, body, stored, waiting.page, waiting.names, verdict.ready)
