"""The plugin's read model: our objects as the API returns them, parsed into small typed values.

Tolerant by design: an object the operator has not processed yet has no status, and an operator
that is down must not stop a responder from seeing what is there. Missing fields become None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statuspage_operator.api.times import parse_time
from statuspage_operator.domain.incidents import IncidentPhase
from statuspage_operator.domain.uptime import uptime

Object = Mapping[str, Any]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _section(obj: Object, key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _name(obj: Object) -> str:
    return str(_section(obj, "metadata").get("name", ""))


def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Span:
    """A window occurrence: from start to end."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, value: Any) -> Span | None:
        """`{start, end}` as the operator writes it, or None."""
        if not isinstance(value, Mapping):
            return None
        start, end = _time(value.get("start")), _time(value.get("end"))
        return cls(start, end) if start and end else None


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

    @classmethod
    def parse(cls, obj: Object) -> Page:
        """From a StatusPage object."""
        spec, status = _section(obj, "spec"), _section(obj, "status")
        zone_name = str(spec.get("timeZone") or "UTC")
        # An unknown zone is the operator's to report (Stalled); the plugin falls back to UTC.
        zone = _zone(zone_name)
        return cls(
            name=_name(obj),
            title=str(spec.get("title") or _name(obj)),
            zone_name=zone_name,
            zone=zone or UTC,
            zone_known=zone is not None,
            indicator=status.get("indicator"),
            description=status.get("description"),
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

    @classmethod
    def parse(cls, obj: Object) -> Component:
        """From a Component object."""
        spec, status = _section(obj, "spec"), _section(obj, "status")
        position = spec.get("position")
        history = status.get("history")
        return cls(
            name=_name(obj),
            display_name=str(spec.get("displayName") or _name(obj)),
            group=spec.get("group") or None,
            position=position if isinstance(position, int) else None,
            status=status.get("status"),
            created=_time(_section(obj, "metadata").get("creationTimestamp")),
            history=tuple(e for e in history if isinstance(e, Mapping))
            if isinstance(history, list)
            else (),
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

    @property
    def resolved(self) -> bool:
        """Whether it no longer affects anything."""
        return self.phase == IncidentPhase.RESOLVED

    @classmethod
    def parse(cls, obj: Object) -> Incident:
        """From a StatusIncident object; spec updates the operator has not stamped yet count."""
        spec, status = _section(obj, "spec"), _section(obj, "status")
        updates = [u for u in spec.get("updates") or () if isinstance(u, Mapping)]
        timeline = [e for e in status.get("timeline") or () if isinstance(e, Mapping)]
        entries = [
            Entry(str(e.get("status")), str(e.get("message")), _time(e.get("at"))) for e in timeline
        ]
        for update in updates[len(entries) :]:
            entries.append(
                Entry(
                    str(update.get("status")), str(update.get("message")), _time(update.get("at"))
                )
            )
        latest_spec = str(updates[-1].get("status")) if updates else None
        phase = latest_spec or status.get("phase") or IncidentPhase.INVESTIGATING
        created = _time(_section(obj, "metadata").get("creationTimestamp"))
        components = tuple(
            str(c.get("name")) for c in spec.get("components") or () if isinstance(c, Mapping)
        )
        return cls(
            name=_name(obj),
            title=str(spec.get("title") or _name(obj)),
            impact=str(spec.get("impact") or "Minor"),
            phase=str(phase),
            components=components,
            opened=(entries[0].at if entries else None) or created,
            latest=entries[-1] if entries else None,
            resolved_at=_time(status.get("resolvedAt")),
            latest_spec_status=latest_spec,
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
        spec, status = _section(obj, "spec"), _section(obj, "status")
        return cls(
            name=_name(obj),
            title=str(spec.get("title") or _name(obj)),
            phase=status.get("phase"),
            components=tuple(str(c) for c in spec.get("components") or ()),
            scheduled=Span.parse({"start": spec.get("startTime"), "end": spec.get("endTime")}),
            current=Span.parse(status.get("currentOccurrence")),
            next=Span.parse(status.get("nextOccurrence")),
            last=Span.parse(status.get("lastOccurrence")),
            completed_at=_time(status.get("completedAt")),
        )


def on_page(objects: list[dict[str, Any]], page: str) -> list[dict[str, Any]]:
    """The objects whose spec.page names the page."""
    return [obj for obj in objects if _section(obj, "spec").get("page") == page]
