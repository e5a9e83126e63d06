"""The plugin's model: what `status` and `history` show of our objects.

Built on the tolerant read model (api/objects.py), so an object the operator has not processed
yet, or an operator that is down, never stops a responder from seeing what is there: missing
fields become None and the output says what is not known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from statuspage_operator.api.alert_rules import NOT_RECEIVING, PageAlerts
from statuspage_operator.api.objects import (
    ComponentObject,
    IncidentObject,
    PageObject,
    WindowObject,
)
from statuspage_operator.api.tolerant import section
from statuspage_operator.domain.alerting import ListedAlert
from statuspage_operator.domain.incidents import Impact
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.uptime import uptime

Object = Mapping[str, Any]
# A window occurrence, from start to end.
Span = Occurrence


@dataclass(frozen=True, slots=True)
class Page:
    """A StatusPage: what it is called, its zone, and the operator's rollup (None until then)."""

    name: str
    title: str
    zone_name: str
    zone: tzinfo
    zone_known: bool
    indicator: str | None
    description: str | None
    alerts: PageAlerts = NOT_RECEIVING

    @classmethod
    def parse(cls, obj: Object) -> Page:
        """From a StatusPage object."""
        page = PageObject.read(obj)
        # An unknown zone is the operator's to report (Stalled); the plugin falls back to UTC.
        return cls(
            name=page.meta.name,
            title=page.title,
            zone_name=page.time_zone,
            zone=page.zone or UTC,
            zone_known=page.zone is not None,
            indicator=page.indicator,
            description=page.indicator_description,
            alerts=page.alerts,
        )


@dataclass(frozen=True, slots=True)
class Component:
    """A Component as the page lists it."""

    name: str
    display_name: str
    group: str | None
    position: int | None
    status: str | None
    created: datetime | None = None
    history: tuple[Mapping[str, Any], ...] = ()
    status_from: str | None = None  # what decided the status, as the operator wrote it
    alerts_firing: int | None = None  # as the operator counted them (None: no spec.alerts)
    alerts_reason: str | None = None  # the AlertsFiring condition's reason and message
    alerts_message: str | None = None
    listed: tuple[ListedAlert, ...] = ()  # the firing alerts the receiver lists

    @classmethod
    def parse(cls, obj: Object) -> Component:
        """From a Component object."""
        return cls.of(ComponentObject.read(obj))

    @classmethod
    def of(cls, component: ComponentObject) -> Component:
        """From its read model, with the status the operator wrote."""
        return cls(
            name=component.name,
            display_name=component.display_name,
            group=component.group,
            position=component.position,
            status=component.status,
            created=component.meta.created,
            history=component.history,
            status_from=component.from_,
            alerts_firing=component.alerts_firing,
            alerts_reason=component.alerts_condition.get("reason"),
            alerts_message=component.alerts_condition.get("message"),
            listed=component.alerts.listed,
        )

    def uptime(self, now: datetime, zone: tzinfo) -> float | None:
        """The 90-day uptime percentage, as the public page shows it (None: not known)."""
        if self.created is None:
            return None
        try:
            return uptime(self.history, self.created, now, zone).percent
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One incident update; `at` is None until the operator stamps it (or the user set it)."""

    status: str
    message: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Incident:
    """A StatusIncident with its phase, its latest update and when it opened and resolved."""

    name: str
    title: str
    impact: str
    phase: str
    components: tuple[str, ...]
    opened: datetime | None
    latest: Entry | None
    resolved_at: datetime | None
    latest_spec_status: str | None
    draft: bool = False  # not public yet: shown to cluster users only

    @property
    def resolved(self) -> bool:
        """Whether it no longer affects anything."""
        return self.phase == "Resolved"

    @classmethod
    def parse(cls, obj: Object) -> Incident:
        """From a StatusIncident object; spec updates the operator has not stamped yet count."""
        incident = IncidentObject.read(obj)
        entries = [Entry(e.status, e.message, e.at) for e in incident.timeline]
        entries += [Entry(u.status, u.message, u.at) for u in incident.updates[len(entries) :]]
        return cls(
            name=incident.name,
            title=incident.title,
            impact=str(incident.impact or Impact.MINOR),
            phase=str(incident.phase),
            components=tuple(name for name, _ in incident.components),
            opened=(entries[0].at if entries else None) or incident.meta.created,
            latest=entries[-1] if entries else None,
            resolved_at=incident.resolved_at,
            latest_spec_status=str(incident.updates[-1].status) if incident.updates else None,
            draft=incident.draft,
        )


@dataclass(frozen=True, slots=True)
class Window:
    """A MaintenanceWindow with the occurrences the operator reports."""

    name: str
    title: str
    phase: str | None
    components: tuple[str, ...]
    scheduled: Span | None
    current: Span | None
    next: Span | None
    last: Span | None
    completed_at: datetime | None

    @classmethod
    def parse(cls, obj: Object) -> Window:
        """From a MaintenanceWindow object."""
        return cls.of(WindowObject.read(obj))

    @classmethod
    def of(cls, window: WindowObject) -> Window:
        """From its read model, with the phase and occurrences the operator wrote."""
        return cls(
            name=window.name,
            title=window.title,
            phase=window.phase,
            components=window.components,
            scheduled=window.scheduled,
            current=window.current,
            next=window.next,
            last=window.last,
            completed_at=window.completed_at,
        )


def on_page(objects: list[dict[str, Any]], page: str) -> list[dict[str, Any]]:
    """The objects whose spec.page names the page."""
    return [obj for obj in objects if section(obj, "spec").get("page") == page]
