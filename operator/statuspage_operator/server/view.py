"""One page as the public sees it at an instant, built from the cached objects.

What the page shows is derived from the specs at `now` by the operator's own derivation
(domain/page.py): component statuses (alerts included, from `status.alerts` and the page's
`spec.alerts`), the indicator, incident phases and effects, window phases and occurrences. So the
server, the plugin and the operator agree, and a page is right at the instant a window starts even
while the operator is down or behind. Only what the operator alone knows comes from what it wrote:
stamped update times (`status.timeline`), status history for uptime (`status.history`,
`lastStatusChangeTime`), when a window was started and where a cancelled one was cut short. A
recurring window shows its occurrence in progress, its next ones (up to UPCOMING_PER_WINDOW within
UPCOMING_HORIZON) and the last one that ended.

Bounded for any spec: a window adds at most UPCOMING_PER_WINDOW + 2 occurrences whatever its rule
(a FREQ=SECONDLY series is never expanded over the horizon), and a page shows at most
MAINTENANCES_PER_PAGE of them: those in progress first, then the soonest to come, then the most
recently ended.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol

from statuspage_operator.api.names import Kind
from statuspage_operator.api.objects import (
    ComponentObject,
    IncidentObject,
    PageObject,
    WindowObject,
    derive_page,
    spec_window,
)
from statuspage_operator.api.signup_form import choices, offers_form, shown_of
from statuspage_operator.api.subscription_tokens import Links
from statuspage_operator.domain.audience import EVERYTHING, Sight
from statuspage_operator.domain.incidents import Impact, IncidentPhase, derive
from statuspage_operator.domain.maintenance import Window, WindowPhase, WindowState
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.order import layout, page_order
from statuspage_operator.domain.page import PageState
from statuspage_operator.domain.status import ComponentStatus, worst
from statuspage_operator.domain.uptime import Uptime, uptime
from statuspage_operator.server.cache import JsonObject, Key
from statuspage_operator.server.shown import (
    ComponentView,
    GroupView,
    IncidentView,
    MaintenanceStatus,
    MaintenanceView,
    SignupForm,
    UpdateView,
)
from statuspage_operator.server.shown import PageView as PageView

UPCOMING_PER_WINDOW = 3
UPCOMING_HORIZON = timedelta(days=90)
MAINTENANCES_PER_PAGE = 500
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


@functools.lru_cache(maxsize=65_536)
def stable_id(*parts: str) -> str:
    """A Statuspage-like id (12 lowercase letters and digits), the same for the same parts."""
    number = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:10], "big")
    chars = []
    for _ in range(12):
        number, digit = divmod(number, 36)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


class Source(Protocol):
    """Where a page's objects are read from: the cache, or a snapshot of one page in it."""

    def page(self, key: Key) -> JsonObject | None:
        """The StatusPage `key`."""

    def members_of(self, key: Key, kind: Kind) -> list[JsonObject]:
        """The objects of a kind that name the page."""


class WindowMemo:
    """Parsed windows by (uid, generation): compiling a series is worth doing once."""

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._parsed: dict[tuple[str, int], Window | None] = {}

    def get(self, obj: Mapping[str, Any]) -> Window | None:
        """The domain window of an object; None if its spec cannot work."""
        metadata = obj.get("metadata") or {}
        generation = metadata.get("generation")
        key = (str(metadata.get("uid", "")), generation if isinstance(generation, int) else 0)
        if key not in self._parsed:
            if len(self._parsed) >= self._size:
                self._parsed.clear()
            self._parsed[key] = spec_window(obj)
        return self._parsed[key]


def _status(component: ComponentObject, state: PageState) -> ComponentStatus:
    derived = state.states.get(component.name)
    if derived is not None:
        return derived.status
    # A spec the operator cannot use: it is Stalled, and its status stays as last written.
    return component.status or ComponentStatus.OPERATIONAL


def _component(
    component: ComponentObject, status: ComponentStatus, now: datetime, zone: tzinfo
) -> ComponentView:
    created = component.meta.created or now
    history = [dict(entry) for entry in component.history]
    written = component.status
    if (
        written is not None
        and written is not ComponentStatus.OPERATIONAL
        and not any("until" not in entry for entry in history)
    ):
        # Written before the operator kept a history: the current status since its last change.
        since = component.last_change or created
        history.append({"status": written.value, "since": since.isoformat()})
    return ComponentView(
        id=stable_id(component.meta.uid),
        name=component.name,
        display_name=component.display_name,
        description=component.description,
        group=component.group,
        position=component.position,
        status=status,
        created=created,
        updated=component.last_change or created,
        uptime=_uptime(json.dumps(history), created, _minute(now, created), zone),
    )


def _minute(now: datetime, created: datetime) -> datetime:
    minute = now.replace(second=0, microsecond=0)
    return minute if minute > created else now


@functools.lru_cache(maxsize=8192)
def _uptime(history: str, created: datetime, now: datetime, zone: tzinfo) -> Uptime:
    # Per minute: a page re-rendered after one component changed recomputes only that one.
    return uptime(json.loads(history), created, now, zone)


def _layout(
    namespace: str, page: str, components: Sequence[ComponentView]
) -> tuple[ComponentView | GroupView, ...]:
    shown: list[ComponentView | GroupView] = []
    for group, members in layout(components):
        if group is None:
            shown.extend(members)
            continue
        shown.append(
            GroupView(
                id=stable_id(namespace, page, "group", group),
                name=group,
                status=worst(member.status for member in members),
                components=tuple(members),
                created=min(member.created for member in members),
                updated=max(member.updated for member in members),
            )
        )
    return tuple(shown)


def _incident(
    incident: IncidentObject, by_name: Mapping[str, ComponentView], now: datetime
) -> IncidentView:
    uid = incident.meta.uid
    created = incident.meta.created or now
    # The phase and resolvedAt from the spec's updates; times as the operator stamped them (an
    # update it has not stamped yet is shown at its own `at`, else now).
    state = derive(incident.updates, incident.timeline, now)
    entries = state.timeline
    updates = tuple(
        UpdateView(
            stable_id(uid, "update", str(index)), entry.status.value, entry.message, entry.at
        )
        for index, entry in reversed(list(enumerate(entries)))
    )
    found = incident.input()
    effects = found.effects if found is not None else {}
    monitoring = [e.at for e in entries if e.status is IncidentPhase.MONITORING]
    return IncidentView(
        id=stable_id(uid),
        name=incident.name,
        title=incident.title,
        phase=state.phase,
        impact=incident.impact or Impact.MINOR,
        created=created,
        started=min(e.at for e in entries) if entries else created,
        updated=max([created, *(e.at for e in entries)]),
        resolved_at=state.resolved_at,
        monitoring_at=monitoring[-1] if monitoring else None,
        updates=updates,
        components=tuple(
            (by_name[name], effects.get(name)) for name, _ in incident.components if name in by_name
        ),
    )


def _occurrences(
    window: WindowObject, state: WindowState | None, now: datetime
) -> list[tuple[MaintenanceStatus, Occurrence]]:
    if state is None:
        # A spec that cannot work has no phase; only what it ran before, as the operator wrote it.
        return [] if window.last is None else [(MaintenanceStatus.COMPLETED, window.last)]
    last = state.last
    if state.phase is WindowPhase.CANCELLED:
        # Where a cancellation cut an occurrence short is known only to the operator.
        last = window.last or last
    shown: list[tuple[MaintenanceStatus, Occurrence]] = []
    if last is not None:
        shown.append((MaintenanceStatus.COMPLETED, last))
    if state.phase is WindowPhase.CANCELLED:
        return shown
    if state.current is not None:
        shown.append((MaintenanceStatus.IN_PROGRESS, state.current))
    if state.next is not None:
        upcoming = [state.next]
        series = window.window.series if window.window is not None else None
        if series is not None:
            upcoming += series.occurrences_between(
                state.next.end, now + UPCOMING_HORIZON, UPCOMING_PER_WINDOW - 1
            )
        shown += [(MaintenanceStatus.SCHEDULED, occurrence) for occurrence in upcoming]
    return shown


def _maintenances(
    window: WindowObject,
    state: WindowState | None,
    by_name: Mapping[str, ComponentView],
    now: datetime,
) -> list[MaintenanceView]:
    uid = window.meta.uid
    created = window.meta.created or now
    components = tuple(by_name[name] for name in window.components if name in by_name)
    views = []
    for status, occurrence in _occurrences(window, state, now):
        ident = stable_id(uid, occurrence.start.isoformat())
        steps = [
            UpdateView(
                stable_id(ident, "scheduled"),
                "scheduled",
                window.description or window.title,
                min(created, occurrence.start),
            )
        ]
        if status is not MaintenanceStatus.SCHEDULED:
            started = window.started_at or occurrence.start
            if not occurrence.start <= started < occurrence.end:
                started = occurrence.start
            steps.append(
                UpdateView(stable_id(ident, "in_progress"), "in_progress", window.title, started)
            )
        if status is MaintenanceStatus.COMPLETED:
            steps.append(
                UpdateView(stable_id(ident, "completed"), "completed", window.title, occurrence.end)
            )
        views.append(
            MaintenanceView(
                id=ident,
                name=window.name,
                title=window.title,
                description=window.description,
                status=status,
                start=occurrence.start,
                end=occurrence.end,
                created=created,
                updated=steps[-1].at,
                updates=tuple(reversed(steps)),
                components=components,
            )
        )
    return views


_SHOWN_FIRST = {MaintenanceStatus.IN_PROGRESS: 0, MaintenanceStatus.SCHEDULED: 1}


def _bounded(views: Iterable[MaintenanceView]) -> list[MaintenanceView]:
    """At most MAINTENANCES_PER_PAGE: in progress, then soonest to come, then latest ended."""
    found = list(views)
    if len(found) <= MAINTENANCES_PER_PAGE:
        return found

    def rank(view: MaintenanceView) -> tuple[int, float]:
        order = _SHOWN_FIRST.get(view.status, 2)
        # Scheduled: soonest first; ended: latest first (in progress: any order, all kept first).
        at = view.start.timestamp() if order < 2 else -view.end.timestamp()
        return order, at

    return heapq.nsmallest(MAINTENANCES_PER_PAGE, found, key=rank)


def build(
    cache: Source,
    key: Key,
    now: datetime,
    memo: WindowMemo,
    base_url: str,
    sight: Sight = EVERYTHING,
    private: bool = False,
    signup: Links | None = None,
) -> PageView:
    """The page `key` at `now` as `sight` sees it; raise KeyError if there is no such page.

    With `signup` (statuspage-signup's links), a page that offers the form to everyone shows it.
    """
    raw = cache.page(key)
    if raw is None:
        raise KeyError(key)
    namespace, name = key
    page = PageObject.read(raw)
    zone_name, zone = (page.time_zone, page.zone) if page.zone is not None else ("UTC", UTC)
    listed = [ComponentObject.read(obj) for obj in cache.members_of(key, Kind.COMPONENT)]
    windows = [WindowObject.read(obj, memo.get) for obj in cache.members_of(key, Kind.WINDOW)]
    # A draft is shown to no one: not on the page, in any JSON, feed or badge.
    read = [
        incident
        for obj in cache.members_of(key, Kind.INCIDENT)
        if not (incident := IncidentObject.read(obj)).draft
    ]
    if not sight.everything:
        # The audience rule (domain/audience.py), as the derivation applies it to the inputs.
        listed = [c for c in listed if sight.sees(c.name)]
        windows = [w for w in windows if sight.concerns(w.components)]
        read = [i for i in read if sight.concerns(name for name, _ in i.components)]
    state = derive_page(listed, windows, read, now, sight, page.alerts)
    # Incidents and windows list only what is in by_name: the shown components.
    components = sorted(
        (_component(c, _status(c, state), now, zone) for c in listed), key=page_order
    )
    by_name = {component.name: component for component in components}
    incidents = sorted(
        (_incident(incident, by_name, now) for incident in read),
        key=lambda incident: (incident.started, incident.id),
        reverse=True,
    )
    maintenances = sorted(
        _bounded(
            view
            for window in windows
            for view in _maintenances(window, state.windows.get(window.name), by_name, now)
        ),
        key=lambda view: (view.start, view.id),
    )
    created = page.meta.created or now
    updated = max(
        [
            created,
            *(component.updated for component in components),
            *(incident.updated for incident in incidents),
            *(m.updated for m in maintenances if m.updated <= now),
        ]
    )
    return PageView(
        key=key,
        id=stable_id(page.meta.uid),
        title=page.title,
        description=page.description,
        zone_name=zone_name,
        zone=zone,
        url=page.url or f"{base_url}/{namespace}/{name}/",
        now=now,
        updated=updated,
        indicator=state.rollup.indicator,
        indicator_description=state.rollup.description,
        layout=_layout(namespace, name, components),
        components=tuple(components),
        incidents=tuple(incidents),
        maintenances=tuple(maintenances),
        private=private,
        changes_at=state.next_change,
        signup=_signup(raw, key, components, signup, private),
    )


def _signup(
    raw: JsonObject,
    key: Key,
    components: Sequence[ComponentView],
    signup: Links | None,
    private: bool,
) -> SignupForm | None:
    # Only for everyone: never on a view made for an audience (api/signup_form.py offers_form).
    if signup is None or private or not offers_form(raw.get("spec") or {}):
        return None
    return SignupForm(signup.subscribe(*key), tuple(choices(shown_of(components))))
