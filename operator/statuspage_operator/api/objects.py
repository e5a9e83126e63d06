"""The tolerant read model of our objects, for the readers that are not the operator.

The page server and the kubectl plugin read objects as the API server returns them: some not
processed yet (no status), some written by an older version, an operator that may be down. So
nothing here raises: a missing or malformed field becomes None (or the documented default), and
an object always reads. Each kind gives the derivation's inputs (`domain/page.py`) from its spec,
read as the operator reads it, and keeps what only the operator knows (stamped times, history,
occurrences it recorded) as written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from statuspage_operator.api.alert_rules import (
    NOT_RECEIVING,
    PageAlerts,
    component_input,
    page_alerts_of,
    parse_component,
)
from statuspage_operator.api.alerts import alerts_of
from statuspage_operator.api.specs import (
    ComponentSpec,
    IncidentSpec,
    WindowSpec,
    parse,
    window_of,
)
from statuspage_operator.api.tolerant import Raw, instant, member, occurrence, section, text
from statuspage_operator.domain.alerting import NO_ALERTS, ComponentAlerts
from statuspage_operator.domain.audience import EVERYTHING, Audience, Sight
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import Impact, IncidentPhase, Stamped, Update
from statuspage_operator.domain.maintenance import Window, WindowPhase
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.page import (
    ComponentInput,
    IncidentInput,
    PageState,
    WindowInput,
    page_at,
)
from statuspage_operator.domain.publication import Visibility
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.domain.zones import zone_of


def usable(model: type[ComponentSpec] | type[IncidentSpec], obj: Raw) -> bool:
    """Whether the operator can use the object's spec (it ignores one it cannot: Stalled)."""
    try:
        if model is ComponentSpec:
            parse_component(section(obj, "spec"))
        else:
            parse(model, dict(section(obj, "spec")))
    except InvalidSpecError:
        return False
    return True


def _items(value: Any) -> list[Raw]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _names(value: Any) -> frozenset[str]:
    return (
        frozenset(v for v in value if isinstance(v, str))
        if isinstance(value, list)
        else frozenset()
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _condition(status: Raw, kind: str) -> dict[str, str]:
    """A condition's reason and message, as text ({} when absent)."""
    for entry in _items(status.get("conditions")):
        if entry.get("type") == kind:
            return {k: v for k in ("reason", "message") if (v := text(entry.get(k))) is not None}
    return {}


def audiences_of(value: Any) -> tuple[Audience, ...]:
    """StatusPage.spec.audiences as read; an entry without a name is left out."""
    return tuple(
        Audience(
            name,
            _names(entry.get("users")),
            _names(entry.get("groups")),
            _names(entry["components"]) if isinstance(entry.get("components"), list) else None,
        )
        for entry in _items(value)
        if (name := text(entry.get("name"))) is not None
    )


@dataclass(frozen=True, slots=True)
class Meta:
    """The metadata every reader uses."""

    name: str
    namespace: str
    uid: str
    created: datetime | None

    @classmethod
    def read(cls, obj: Raw) -> Meta:
        """From an object's metadata; the uid falls back to the name."""
        meta = section(obj, "metadata")
        name = text(meta.get("name")) or ""
        return cls(
            name=name,
            namespace=text(meta.get("namespace")) or "",
            uid=text(meta.get("uid")) or name,
            created=instant(meta.get("creationTimestamp")),
        )


@dataclass(frozen=True, slots=True)
class PageObject:
    """A StatusPage: title, zone, address, and the rollup the operator wrote (None until then)."""

    meta: Meta
    title: str
    description: str | None
    time_zone: str
    zone: tzinfo | None  # None: not an IANA zone (the operator reports it; readers use UTC)
    url: str | None
    indicator: str | None
    indicator_description: str | None
    private: bool = False  # spec.visibility Private: only for authenticated audiences
    audiences: tuple[Audience, ...] = ()
    alerts: PageAlerts = NOT_RECEIVING  # what it says of its components' alerts

    @classmethod
    def read(cls, obj: Raw) -> PageObject:
        """From a StatusPage object."""
        meta, spec, status = Meta.read(obj), section(obj, "spec"), section(obj, "status")
        time_zone = text(spec.get("timeZone")) or "UTC"
        return cls(
            private=spec.get("visibility") == Visibility.PRIVATE,
            alerts=page_alerts_of(spec),
            audiences=audiences_of(spec.get("audiences")),
            meta=meta,
            title=text(spec.get("title")) or meta.name,
            description=text(spec.get("description")),
            time_zone=time_zone,
            zone=zone_of(time_zone),
            url=text(spec.get("url")),
            indicator=text(status.get("indicator")),
            indicator_description=text(status.get("description")),
        )


@dataclass(frozen=True, slots=True)
class ComponentObject:
    """A Component: how it is listed, its manual status, and what the operator wrote."""

    meta: Meta
    page: str | None
    display_name: str
    description: str | None
    group: str | None
    position: int | None
    manual: ComponentStatus | None
    status: ComponentStatus | None  # as written; None until the operator reports
    last_change: datetime | None
    history: tuple[Raw, ...]
    usable: bool  # False: the operator cannot use the spec, and leaves the component out
    spec: ComponentSpec | None = None  # as the operator reads it (None: unusable)
    alerts: ComponentAlerts = NO_ALERTS  # status.alerts, as the receiver wrote it
    from_: str | None = None  # status.statusFrom, as the operator wrote it
    alerts_firing: int | None = None  # status.alertsFiring, as the operator wrote it
    alerts_condition: Mapping[str, str] = field(default_factory=dict)  # reason and message

    @property
    def name(self) -> str:
        """The object's name."""
        return self.meta.name

    @classmethod
    def read(cls, obj: Raw) -> ComponentObject:
        """From a Component object."""
        meta, spec, status = Meta.read(obj), section(obj, "spec"), section(obj, "status")
        parsed: ComponentSpec | None
        try:
            parsed = parse_component(spec)
        except InvalidSpecError:
            parsed = None
        position = spec.get("position")
        if isinstance(position, bool) or not isinstance(position, int):
            position = None
        return cls(
            meta=meta,
            page=text(spec.get("page")),
            display_name=text(spec.get("displayName")) or meta.name,
            description=text(spec.get("description")),
            group=text(spec.get("group")),
            position=position,
            manual=member(ComponentStatus, spec.get("manualStatus")),
            status=member(ComponentStatus, status.get("status")),
            last_change=instant(status.get("lastStatusChangeTime")),
            history=tuple(_items(status.get("history"))),
            usable=parsed is not None,
            spec=parsed,
            alerts=alerts_of(status),
            from_=text(status.get("statusFrom")),
            alerts_firing=_count(status.get("alertsFiring")),
            alerts_condition=_condition(status, "AlertsFiring"),
        )

    def input(self, page: PageAlerts = NOT_RECEIVING) -> ComponentInput | None:
        """What the derivation needs of it, its page saying what alerts may do; None when the
        operator cannot use its spec."""
        if self.spec is None:
            return None
        return component_input(self.name, self.spec, self.alerts, page)


def spec_window(obj: Raw) -> Window | None:
    """The domain window of a MaintenanceWindow's spec, None when the spec cannot work."""
    try:
        return window_of(parse(WindowSpec, dict(section(obj, "spec"))))
    except (InvalidSpecError, ValueError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class WindowObject:
    """A MaintenanceWindow: its spec (`window` None when it cannot work) and what was written."""

    meta: Meta
    page: str | None
    title: str
    description: str | None
    components: tuple[str, ...]
    auto_update_status: bool
    scheduled: Occurrence | None  # spec.startTime to spec.endTime
    window: Window | None
    phase: WindowPhase | None  # as written
    current: Occurrence | None
    next: Occurrence | None
    last: Occurrence | None
    started_at: datetime | None
    completed_at: datetime | None

    @property
    def name(self) -> str:
        """The object's name."""
        return self.meta.name

    @classmethod
    def read(cls, obj: Raw, windows: Callable[[Raw], Window | None] = spec_window) -> WindowObject:
        """From a MaintenanceWindow object; `windows` parses the spec (a cache may stand in)."""
        meta, spec, status = Meta.read(obj), section(obj, "spec"), section(obj, "status")
        components = spec.get("components")
        auto = spec.get("autoUpdateStatus")
        return cls(
            meta=meta,
            page=text(spec.get("page")),
            title=text(spec.get("title")) or meta.name,
            description=text(spec.get("description")),
            components=tuple(c for c in components if isinstance(c, str))
            if isinstance(components, list)
            else (),
            auto_update_status=auto if isinstance(auto, bool) else True,
            scheduled=occurrence({"start": spec.get("startTime"), "end": spec.get("endTime")}),
            window=windows(obj),
            phase=member(WindowPhase, status.get("phase")),
            current=occurrence(status.get("currentOccurrence")),
            next=occurrence(status.get("nextOccurrence")),
            last=occurrence(status.get("lastOccurrence")),
            started_at=instant(status.get("startedAt")),
            completed_at=instant(status.get("completedAt")),
        )

    def input(self) -> WindowInput | None:
        """What the derivation needs of it; None when its spec cannot work (it changes nothing)."""
        if self.window is None:
            return None
        return WindowInput(self.name, self.window, self.components, self.auto_update_status)


@dataclass(frozen=True, slots=True)
class IncidentObject:
    """A StatusIncident: impact, components, updates as written in the spec, and the timeline."""

    meta: Meta
    page: str | None
    title: str
    impact: Impact | None  # None: not an impact (the operator ignores such a spec)
    components: tuple[tuple[str, ComponentStatus | None], ...]
    updates: tuple[Update, ...]
    timeline: tuple[Stamped, ...]  # as the operator stamped it
    resolved_at: datetime | None  # as written
    usable: bool  # False: the operator cannot use the spec, and it changes nothing
    draft: bool = False  # spec.draft: shown to no one, changes nothing until published

    @property
    def name(self) -> str:
        """The object's name."""
        return self.meta.name

    @property
    def phase(self) -> IncidentPhase:
        """The latest update's status, as the operator derives it (Investigating: none yet)."""
        return self.updates[-1].status if self.updates else IncidentPhase.INVESTIGATING

    @property
    def resolved(self) -> bool:
        """Whether the latest update resolves it."""
        return self.phase is IncidentPhase.RESOLVED

    @classmethod
    def read(cls, obj: Raw) -> IncidentObject:
        """From a StatusIncident object; updates with an unknown status are left out."""
        meta, spec, status = Meta.read(obj), section(obj, "spec"), section(obj, "status")
        impact = spec.get("impact", Impact.MINOR.value)
        updates = [
            Update(phase, str(u.get("message", "")), instant(u.get("at")))
            for u in _items(spec.get("updates"))
            if (phase := member(IncidentPhase, u.get("status"))) is not None
        ]
        timeline = [
            Stamped(phase, str(e.get("message", "")), at)
            for e in _items(status.get("timeline"))
            if (phase := member(IncidentPhase, e.get("status"))) is not None
            and (at := instant(e.get("at"))) is not None
        ]
        return cls(
            meta=meta,
            page=text(spec.get("page")),
            title=text(spec.get("title")) or meta.name,
            impact=member(Impact, impact),
            components=tuple(
                (name, member(ComponentStatus, c.get("status")))
                for c in _items(spec.get("components"))
                if (name := text(c.get("name"))) is not None
            ),
            updates=tuple(updates),
            timeline=tuple(timeline),
            resolved_at=instant(status.get("resolvedAt")),
            usable=usable(IncidentSpec, obj),
            draft=spec.get("draft") is True,
        )

    def input(self) -> IncidentInput | None:
        """What the derivation needs of it; None when the operator cannot use its spec."""
        if self.impact is None or not self.usable:
            return None
        return IncidentInput.of(
            self.name, self.impact, self.components, self.resolved, draft=self.draft
        )


def derive_page(
    components: Sequence[ComponentObject],
    windows: Sequence[WindowObject],
    incidents: Sequence[IncidentObject],
    now: datetime,
    sight: Sight = EVERYTHING,
    alerts: PageAlerts = NOT_RECEIVING,
) -> PageState:
    """The operator's derivation of a page at `now` (as `sight` sees it), from its objects.

    An object whose spec the operator cannot use takes no part, as in the operator: a window or
    incident changes nothing, a component is not rolled up (and has no derived state). `alerts`
    is what the page says of its components' alerts (by default none moves a component, as when
    the page is missing).
    """
    return page_at(
        [found for component in components if (found := component.input(alerts)) is not None],
        [given for window in windows if (given := window.input()) is not None],
        [taken for incident in incidents if (taken := incident.input()) is not None],
        now,
        sight,
    )
