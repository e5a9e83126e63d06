"""What the operator keeps in memory: pages, components, and what can change a component.

Fed by kopf's `@kopf.on.event` handlers (idempotent: after a 410 Gone kopf re-lists and replays
every object). A dict by component, not `@kopf.index`: an index's start-up grows quadratically with
the object count (measured in the README). Only windows that can still change something (to come
or in progress) and open incidents are held, so 9,000 completed windows cost nothing here.

Components and pages are derived from the windows' and incidents' specs and `now`, never from their
status, so the order in which events arrive cannot matter. The one status read is a component's
`status.alerts`, the receiver's (parsed once per event, AlertsRecorded), with its page's alerts
settings.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from statuspage_operator.api.alert_rules import PageAlerts, component_input
from statuspage_operator.api.alerts import alerts_of
from statuspage_operator.api.conditions import Reason, Verdict, missing_message
from statuspage_operator.api.names import Kind
from statuspage_operator.api.news import PageFacts
from statuspage_operator.api.specs import ComponentSpec, IncidentSpec, WindowSpec
from statuspage_operator.control.publication import Publications
from statuspage_operator.domain.alerting import NO_ALERTS, ComponentAlerts
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import component_effects
from statuspage_operator.domain.maintenance import Window
from statuspage_operator.domain.page import (
    ComponentInput,
    ComponentState,
    IncidentInput,
    PageState,
    WindowInput,
    component_at,
    in_progress,
    page_at,
)
from statuspage_operator.domain.status import ComponentStatus

Key = tuple[str, str]
Body = Mapping[str, Any]


def version_of(body: Body) -> int:
    """A body's resourceVersion as a number (etcd's are); 0 when it is not one."""
    try:
        return int(body.get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


@dataclass(slots=True)
class Recorded:
    """A status as last seen in a watch event or in the response to our own write.

    Kept as compact JSON: a third of the memory of the parsed dict.
    """

    status_json: str = "{}"
    version: int = 0

    @property
    def status(self) -> dict[str, Any]:
        """The status as a dict."""
        status: dict[str, Any] = json.loads(self.status_json)
        return status

    def update(self, body: Body) -> None:
        """Take a newer body's status; an older one (a late event) is ignored."""
        version = version_of(body)
        if version and version < self.version:
            return
        self.version = version
        self.status_json = json.dumps(body.get("status") or {}, separators=(",", ":"))


@dataclass(slots=True)
class AlertsRecorded(Recorded):
    """A component's status as last seen, with its `status.alerts` parsed (the receiver's)."""

    alerts: ComponentAlerts = NO_ALERTS

    def update(self, body: Body) -> None:
        """Take a newer body's status and its alerts; an older one (a late event) is ignored."""
        version = version_of(body)
        if version and version < self.version:
            return
        Recorded.update(self, body)
        self.alerts = alerts_of(body.get("status"))


@dataclass(slots=True)
class PageEntry:
    """A StatusPage; its facts for subscribers and reminders (None while they do not parse),
    and what it says of its components' alerts (None while that does not parse)."""

    uid: str
    generation: int
    error: InvalidSpecError | None
    recorded: Recorded = field(default_factory=Recorded)
    facts: PageFacts | None = None
    alerts: PageAlerts | None = None


@dataclass(slots=True)
class ComponentEntry:
    """A Component: its spec (None while invalid), its status and its alerts."""

    uid: str
    generation: int
    spec: ComponentSpec | None
    error: InvalidSpecError | None
    recorded: AlertsRecorded = field(default_factory=AlertsRecorded)


@dataclass(frozen=True, slots=True)
class WindowEntry:
    """A maintenance window that can still put components under maintenance."""

    uid: str
    generation: int
    spec: WindowSpec
    window: Window

    def in_progress(self, now: datetime) -> bool:
        """Whether an occurrence runs at `now`."""
        return in_progress(self.window, now)


@dataclass(frozen=True, slots=True)
class IncidentEntry:
    """An unresolved incident and the status it gives each component it lists."""

    uid: str
    generation: int
    spec: IncidentSpec
    effects: dict[str, ComponentStatus]

    @classmethod
    def of(cls, uid: str, generation: int, spec: IncidentSpec) -> IncidentEntry:
        """The entry of an open incident."""
        pairs = [(c.name, c.status) for c in spec.components]
        return cls(uid, generation, spec, component_effects(spec.impact, pairs))


@dataclass(slots=True)
class Change:
    """What a change of the view touches: pages to roll up, components to recompute."""

    pages: set[str] = field(default_factory=set)
    components: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Waiting:
    """A window or incident whose page or components are missing: what it needs to heal."""

    uid: str
    generation: int
    page: str
    names: tuple[str, ...]
    recorded: Recorded


@dataclass
class View:
    """Every page and component, the live windows and the open incidents, by namespace and name."""

    pages: dict[Key, PageEntry] = field(default_factory=dict)
    components: dict[Key, ComponentEntry] = field(default_factory=dict)
    windows: dict[Key, WindowEntry] = field(default_factory=dict)
    incidents: dict[Key, IncidentEntry] = field(default_factory=dict)
    # Window daemons waiting for their next edge, to be woken when something they show changes.
    wakers: dict[Key, asyncio.Event] = field(default_factory=dict)
    _members: defaultdict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    _naming: defaultdict[Key, set[tuple[Kind, str]]] = field(
        default_factory=lambda: defaultdict(set)
    )
    # The live windows and open incidents of each page (namespace, page): a page's rollup reads
    # only its own, not every window of the namespace.
    _on_page: defaultdict[Key, set[tuple[Kind, str]]] = field(
        default_factory=lambda: defaultdict(set)
    )
    # Windows and incidents whose page or components are missing, to heal when they appear.
    waiting: dict[tuple[Kind, str, str], Waiting] = field(default_factory=dict)
    # Every page's claim and every PublicationPolicy: what each page's Published condition says.
    publications: Publications = field(default_factory=Publications)

    # -- changes ---------------------------------------------------------------------------

    def set_page(self, key: Key, entry: PageEntry | None) -> None:
        """A page appeared, changed or went (None)."""
        if entry is None:
            self.pages.pop(key, None)
        else:
            self.pages[key] = entry

    def set_component(self, key: Key, entry: ComponentEntry | None) -> set[str]:
        """A component appeared, changed or went (None); returns the pages it was or is on."""
        namespace, name = key
        pages: set[str] = set()
        old = self.components.pop(key, None)
        if old is not None and old.spec is not None:
            pages.add(old.spec.page)
            _discard(self._members, (namespace, old.spec.page), name)
        if entry is not None:
            self.components[key] = entry
            if entry.spec is not None:
                pages.add(entry.spec.page)
                self._members[(namespace, entry.spec.page)].add(name)
        return pages

    def set_window(self, key: Key, entry: WindowEntry | None) -> Change:
        """Hold a live window, or drop it (None); returns the pages and components it touches.

        An edit that changes nothing the page and its components show (a title, a description)
        touches nothing: no component or page is derived again for it.
        """
        old = self.windows.pop(key, None)
        if entry is not None:
            self.windows[key] = entry
        change = self._relink(
            Kind.WINDOW,
            key,
            (old.spec.page, old.spec.components) if old else None,
            (entry.spec.page, entry.spec.components) if entry else None,
        )
        name = key[1]
        if (
            old
            and entry
            and (old.spec.page, _window_input(name, old))
            == (
                entry.spec.page,
                _window_input(name, entry),
            )
        ):
            return Change()
        return change

    def set_incident(self, key: Key, entry: IncidentEntry | None) -> Change:
        """Hold an open incident, or drop it (None); returns the pages and components it touches.

        An edit that changes nothing the page and its components show (its incidentRef, a
        title) touches nothing.
        """
        old = self.incidents.pop(key, None)
        if entry is not None:
            self.incidents[key] = entry
        change = self._relink(
            Kind.INCIDENT,
            key,
            (old.spec.page, tuple(c.name for c in old.spec.components)) if old else None,
            (entry.spec.page, tuple(c.name for c in entry.spec.components)) if entry else None,
        )
        name = key[1]
        if (
            old
            and entry
            and (old.spec.page, _incident_input(name, old))
            == (
                entry.spec.page,
                _incident_input(name, entry),
            )
        ):
            return Change()
        return change

    def _relink(
        self,
        kind: Kind,
        key: Key,
        before: tuple[str, tuple[str, ...]] | None,
        after: tuple[str, tuple[str, ...]] | None,
    ) -> Change:
        namespace, name = key
        change = Change()
        for link in (before, after):
            if link is not None:
                change.pages.add(link[0])
                change.components.update(link[1])
        if before is not None:
            _discard(self._on_page, (namespace, before[0]), (kind, name))
            for component in before[1]:
                _discard(self._naming, (namespace, component), (kind, name))
        if after is not None:
            self._on_page[(namespace, after[0])].add((kind, name))
            for component in after[1]:
                self._naming[(namespace, component)].add((kind, name))
        return change

    def track(
        self,
        kind: Kind,
        body: Body,
        stored: Body | None,
        page: str,
        names: tuple[str, ...],
        ready: bool,
    ) -> None:
        """Remember a window or incident whose page or components are missing, until found."""
        meta = body.get("metadata", {})
        key = (kind, str(meta.get("namespace", "")), str(meta.get("name", "")))
        if ready:
            self.waiting.pop(key, None)
            return
        recorded = Recorded()
        recorded.update(body)
        if stored is not None:
            recorded.update(stored)
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        self.waiting[key] = Waiting(uid, generation, page, names, recorded)

    # -- reading ---------------------------------------------------------------------------

    def members(self, namespace: str, page: str) -> list[str]:
        """Names of the components of a page."""
        return sorted(self._members.get((namespace, page), ()))

    def naming(self, namespace: str, component: str) -> set[tuple[Kind, str]]:
        """Live windows and open incidents that list a component."""
        return set(self._naming.get((namespace, component), ()))

    def waiting_in(self, namespace: str) -> list[tuple[tuple[Kind, str, str], Waiting]]:
        """Objects of a namespace waiting for a page or component to appear."""
        return [(key, w) for key, w in self.waiting.items() if key[1] == namespace]

    def references(self, kind: Kind, namespace: str, page: str, names: tuple[str, ...]) -> Verdict:
        """Ready unless the page or some listed components are missing (or on another page)."""
        if (namespace, page) not in self.pages:
            return Verdict(
                False,
                Reason.PAGE_NOT_FOUND,
                f"page {page} not found in namespace {namespace}; create it, or fix spec.page",
            )
        missing = []
        for name in names:
            entry = self.components.get((namespace, name))
            if entry is None or entry.spec is None or entry.spec.page != page:
                missing.append(name)
        if missing:
            return Verdict(False, Reason.COMPONENT_NOT_FOUND, missing_message(kind, missing, page))
        return Verdict.ok()

    def _inputs(
        self, namespace: str, page: str, component: str | None = None
    ) -> tuple[list[WindowInput], list[IncidentInput]]:
        """The page's live windows and open incidents, as the derivation takes them.

        Found through the indexes (by page, or by component with `component`), not by a scan.
        """
        # In name order: what is derived from them (and written) does not depend on set order.
        naming = sorted(
            self._on_page.get((namespace, page), ())
            if component is None
            else self._naming.get((namespace, component), ())
        )
        windows = [
            (n, w)
            for kind, n in naming
            if kind is Kind.WINDOW and (w := self.windows.get((namespace, n))) is not None
        ]
        incidents = [
            (n, i)
            for kind, n in naming
            if kind is Kind.INCIDENT and (i := self.incidents.get((namespace, n))) is not None
        ]
        return (
            [_window_input(n, w) for n, w in windows if w.spec.page == page],
            [_incident_input(n, i) for n, i in incidents if i.spec.page == page],
        )

    def component_view(self, namespace: str, name: str, now: datetime) -> ComponentState | None:
        """The worst of the manual status, maintenance in progress and open incidents."""
        entry = self.components.get((namespace, name))
        if entry is None or entry.spec is None:
            return None
        windows, incidents = self._inputs(namespace, entry.spec.page, name)
        found = self._component_input(namespace, name, entry, entry.spec)
        return component_at(found, windows, incidents, now)

    def page_view(self, namespace: str, page: str, now: datetime) -> PageState:
        """Statuspage's rollup over the page's components, with its counts."""
        components = [
            self._component_input(namespace, name, entry, entry.spec)
            for name in self.members(namespace, page)
            if (entry := self.components.get((namespace, name))) is not None
            and entry.spec is not None
        ]
        windows, incidents = self._inputs(namespace, page)
        return page_at(components, windows, incidents, now)

    def _component_input(
        self, namespace: str, name: str, entry: ComponentEntry, spec: ComponentSpec
    ) -> ComponentInput:
        page = self.pages.get((namespace, spec.page))
        alerts = entry.recorded.alerts if spec.alerts is not None else NO_ALERTS
        return component_input(name, spec, alerts, page.alerts if page is not None else None)

    def component_statuses(self) -> Iterator[str]:
        """Every component's last written status (for the metrics gauge)."""
        for entry in list(self.components.values()):
            status = entry.recorded.status.get("status")
            if status is not None:
                yield str(status)


def _window_input(name: str, entry: WindowEntry) -> WindowInput:
    spec = entry.spec
    return WindowInput(name, entry.window, spec.components, spec.auto_update_status)


def _incident_input(name: str, entry: IncidentEntry) -> IncidentInput:
    listed = tuple(c.name for c in entry.spec.components)
    return IncidentInput(name, entry.spec.impact, listed, entry.effects)


def _discard(index: defaultdict[Key, set[Any]], slot: Key, member: object) -> None:
    members = index.get(slot)
    if members is not None:
        members.discard(member)
        if not members:
            del index[slot]
