"""One page as the public sees it at an instant, built from the cached objects.

Statuses come from what the operator wrote (component `status.status`, window `status.phase` and
occurrences, incident `status.timeline`/`phase`/`resolvedAt`); the page's indicator is rolled up
here from the components shown (domain.rollup), so the banner always agrees with the list below it.
Only what the operator has not written yet is derived from spec and `now`. A recurring window
shows its occurrence in progress, its next ones (up to UPCOMING_PER_WINDOW within
UPCOMING_HORIZON) and the last one that ended.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statuspage_operator.api.names import Kind
from statuspage_operator.api.specs import WindowSpec, parse, window_of
from statuspage_operator.api.times import parse_time
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import STATUS_FROM_IMPACT, Impact, IncidentPhase
from statuspage_operator.domain.maintenance import Window, WindowPhase, window_state
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.rollup import Indicator, rollup
from statuspage_operator.domain.status import SEVERITY_ORDER, ComponentStatus, worst
from statuspage_operator.domain.uptime import Uptime, uptime
from statuspage_operator.server.cache import Cache, JsonObject, Key

UPCOMING_PER_WINDOW = 3
UPCOMING_HORIZON = timedelta(days=90)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def stable_id(*parts: str) -> str:
    """A Statuspage-like id (12 lowercase letters and digits), the same for the same parts."""
    number = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:10], "big")
    chars = []
    for _ in range(12):
        number, digit = divmod(number, 36)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def _time(value: Any, default: datetime = EPOCH) -> datetime:
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            return default
    return default


def _zone(name: Any) -> tuple[str, tzinfo]:
    if isinstance(name, str):
        try:
            return name, ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    return "UTC", UTC


class MaintenanceStatus(StrEnum):
    """An occurrence as Statuspage names a maintenance's state."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class ComponentView:
    """A component as shown."""

    id: str
    name: str
    display_name: str
    description: str | None
    group: str | None
    position: int | None
    status: ComponentStatus
    created: datetime
    updated: datetime
    uptime: Uptime


@dataclass(frozen=True, slots=True)
class GroupView:
    """A component group: its members, and the worst of their statuses."""

    id: str
    name: str
    status: ComponentStatus
    components: tuple[ComponentView, ...]
    created: datetime
    updated: datetime


@dataclass(frozen=True, slots=True)
class UpdateView:
    """One incident update (or maintenance step)."""

    id: str
    status: str
    message: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as shown; updates newest first."""

    id: str
    name: str
    title: str
    phase: IncidentPhase
    impact: Impact
    created: datetime
    started: datetime
    updated: datetime
    resolved_at: datetime | None
    monitoring_at: datetime | None
    updates: tuple[UpdateView, ...]
    components: tuple[tuple[ComponentView, ComponentStatus], ...]

    @property
    def resolved(self) -> bool:
        """Whether its latest update is Resolved."""
        return self.phase is IncidentPhase.RESOLVED


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    """One occurrence of a maintenance window; updates newest first."""

    id: str
    name: str
    title: str
    description: str | None
    status: MaintenanceStatus
    start: datetime
    end: datetime
    created: datetime
    updated: datetime
    updates: tuple[UpdateView, ...]
    components: tuple[ComponentView, ...]


@dataclass(frozen=True, slots=True)
class PageView:
    """Everything one page shows at `now`."""

    key: Key
    id: str
    title: str
    description: str | None
    zone_name: str
    zone: tzinfo
    url: str
    now: datetime
    updated: datetime
    indicator: Indicator
    indicator_description: str
    layout: tuple[ComponentView | GroupView, ...]
    components: tuple[ComponentView, ...]
    incidents: tuple[IncidentView, ...]  # newest first
    maintenances: tuple[MaintenanceView, ...]  # by start

    @property
    def unresolved(self) -> list[IncidentView]:
        """Incidents not resolved, newest first."""
        return [incident for incident in self.incidents if not incident.resolved]

    def maintenances_in(self, *statuses: MaintenanceStatus) -> list[MaintenanceView]:
        """Occurrences with one of the statuses, by start."""
        return [m for m in self.maintenances if m.status in statuses]

    def local(self, instant: datetime) -> datetime:
        """An instant in the page's time zone."""
        return instant.astimezone(self.zone)

    def history(self, days: int) -> list[tuple[date, list[IncidentView], list[MaintenanceView]]]:
        """The last `days` calendar days in the page's zone, newest first: what ended each day."""
        today = self.local(self.now).date()
        first = today - timedelta(days=days - 1)
        by_day: dict[date, tuple[list[IncidentView], list[MaintenanceView]]] = {
            first + timedelta(days=offset): ([], []) for offset in range(days)
        }
        for incident in self.incidents:
            if incident.resolved_at is not None:
                day = self.local(incident.resolved_at).date()
                if day in by_day:
                    by_day[day][0].append(incident)
        for maintenance in self.maintenances_in(MaintenanceStatus.COMPLETED):
            day = self.local(maintenance.end).date()
            if day in by_day:
                by_day[day][1].append(maintenance)
        return [(day, *by_day[day]) for day in sorted(by_day, reverse=True)]


class WindowMemo:
    """Parsed windows by (uid, generation): compiling a series is worth doing once."""

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._parsed: dict[tuple[str, int], Window | None] = {}

    def get(self, obj: JsonObject) -> Window | None:
        """The domain window of an object; None if its spec cannot work."""
        metadata = obj["metadata"]
        key = (str(metadata.get("uid", "")), int(metadata.get("generation", 0)))
        if key not in self._parsed:
            if len(self._parsed) >= self._size:
                self._parsed.clear()
            try:
                self._parsed[key] = window_of(parse(WindowSpec, obj["spec"]))
            except (InvalidSpecError, ValueError, TypeError):
                self._parsed[key] = None
        return self._parsed[key]


def _component(obj: JsonObject, now: datetime, zone: tzinfo) -> ComponentView:
    metadata, spec, status = obj["metadata"], obj["spec"], obj["status"]
    created = _time(metadata.get("creationTimestamp"), now)
    try:
        current = ComponentStatus(status.get("status", spec.get("manualStatus", "Operational")))
    except ValueError:
        current = ComponentStatus.OPERATIONAL
    history = list(status.get("history") or []) if isinstance(status.get("history"), list) else []
    if current is not ComponentStatus.OPERATIONAL and not any(
        isinstance(entry, dict) and "until" not in entry for entry in history
    ):
        # Written before the operator kept a history: the current status since its last change.
        since = status.get("lastStatusChangeTime") or metadata.get("creationTimestamp")
        history.append({"status": current.value, "since": since})
    position = spec.get("position")
    return ComponentView(
        id=stable_id(str(metadata.get("uid", metadata.get("name")))),
        name=str(metadata.get("name")),
        display_name=str(spec.get("displayName") or metadata.get("name")),
        description=spec.get("description"),
        group=spec.get("group"),
        position=position if isinstance(position, int) else None,
        status=current,
        created=created,
        updated=_time(status.get("lastStatusChangeTime"), created),
        uptime=_uptime(json.dumps(history), created, _minute(now, created), zone),
    )


def _minute(now: datetime, created: datetime) -> datetime:
    minute = now.replace(second=0, microsecond=0)
    return minute if minute > created else now


@functools.lru_cache(maxsize=8192)
def _uptime(history: str, created: datetime, now: datetime, zone: tzinfo) -> Uptime:
    # Per minute: a page re-rendered after one component changed recomputes only that one.
    return uptime(json.loads(history), created, now, zone)


def _order(component: ComponentView) -> tuple[int, str, str]:
    position = component.position if component.position is not None else 2**31
    return position, component.display_name.lower(), component.name


def _layout(
    namespace: str, page: str, components: Sequence[ComponentView]
) -> tuple[ComponentView | GroupView, ...]:
    groups: dict[str, list[ComponentView]] = {}
    entries: list[tuple[tuple[int, str, str], ComponentView | GroupView]] = []
    for component in components:
        if component.group:
            groups.setdefault(component.group, []).append(component)
        else:
            entries.append((_order(component), component))
    for name, members in groups.items():
        group = GroupView(
            id=stable_id(namespace, page, "group", name),
            name=name,
            status=worst(member.status for member in members),
            components=tuple(members),
            created=min(member.created for member in members),
            updated=max(member.updated for member in members),
        )
        entries.append((_order(members[0]), group))
    entries.sort(key=lambda entry: entry[0])
    return tuple(entry for _, entry in entries)


def _incident(obj: JsonObject, by_name: Mapping[str, ComponentView], now: datetime) -> IncidentView:
    metadata, spec, status = obj["metadata"], obj["spec"], obj["status"]
    uid = str(metadata.get("uid", metadata.get("name")))
    created = _time(metadata.get("creationTimestamp"), now)
    raw = status.get("timeline")
    if not isinstance(raw, list):
        raw = spec.get("updates") or []
    entries: list[tuple[IncidentPhase, str, datetime]] = []
    for entry in raw:
        try:
            phase = IncidentPhase(entry.get("status"))
        except (ValueError, AttributeError):
            continue
        entries.append((phase, str(entry.get("message", "")), _time(entry.get("at"), created)))
    try:
        phase = IncidentPhase(status.get("phase") or (entries[-1][0] if entries else ""))
    except ValueError:
        phase = IncidentPhase.INVESTIGATING
    try:
        impact = Impact(spec.get("impact", Impact.MINOR))
    except ValueError:
        impact = Impact.MINOR
    updates = tuple(
        UpdateView(stable_id(uid, "update", str(index)), p.value, message, at)
        for index, (p, message, at) in reversed(list(enumerate(entries)))
    )
    affected: list[tuple[ComponentView, ComponentStatus]] = []
    for entry in spec.get("components") or ():
        component = by_name.get(str(entry.get("name")))
        if component is None:
            continue
        try:
            effect = ComponentStatus(entry["status"]) if entry.get("status") else None
        except ValueError:
            effect = None
        affected.append((component, effect or STATUS_FROM_IMPACT[impact]))
    monitoring = [at for p, _, at in entries if p is IncidentPhase.MONITORING]
    resolved_at = _time(status["resolvedAt"]) if status.get("resolvedAt") else None
    if phase is IncidentPhase.RESOLVED and resolved_at is None and entries:
        resolved_at = entries[-1][2]
    return IncidentView(
        id=stable_id(uid),
        name=str(metadata.get("name")),
        title=str(spec.get("title", metadata.get("name"))),
        phase=phase,
        impact=impact,
        created=created,
        started=min(at for _, _, at in entries) if entries else created,
        updated=max([created, *(at for _, _, at in entries)]),
        resolved_at=resolved_at if phase is IncidentPhase.RESOLVED else None,
        monitoring_at=monitoring[-1] if monitoring else None,
        updates=updates,
        components=tuple(affected),
    )


def _occurrence(value: Any) -> Occurrence | None:
    if not isinstance(value, dict) or "start" not in value or "end" not in value:
        return None
    start, end = _time(value["start"], EPOCH), _time(value["end"], EPOCH)
    return Occurrence(start, end) if end > start > EPOCH else None


def _occurrences(
    obj: JsonObject, window: Window | None, now: datetime
) -> list[tuple[MaintenanceStatus, Occurrence]]:
    status = obj["status"]
    phase_text = status.get("phase")
    current = _occurrence(status.get("currentOccurrence"))
    following = _occurrence(status.get("nextOccurrence"))
    last = _occurrence(status.get("lastOccurrence"))
    if phase_text is None and window is not None:
        state = window_state(window, now)
        phase_text, current, following, last = state.phase, state.current, state.next, state.last
    shown: list[tuple[MaintenanceStatus, Occurrence]] = []
    if last is not None:
        shown.append((MaintenanceStatus.COMPLETED, last))
    if phase_text == WindowPhase.CANCELLED:
        return shown
    if phase_text == WindowPhase.IN_PROGRESS and current is not None:
        shown.append((MaintenanceStatus.IN_PROGRESS, current))
    if following is not None:
        upcoming = [following]
        series = window.series if window is not None else None
        if series is not None:
            later = series.occurrences_between(following.end, now + UPCOMING_HORIZON)
            upcoming += later[: UPCOMING_PER_WINDOW - 1]
        shown += [(MaintenanceStatus.SCHEDULED, occurrence) for occurrence in upcoming]
    return shown


def _maintenances(
    obj: JsonObject, window: Window | None, by_name: Mapping[str, ComponentView], now: datetime
) -> list[MaintenanceView]:
    metadata, spec, status = obj["metadata"], obj["spec"], obj["status"]
    uid = str(metadata.get("uid", metadata.get("name")))
    created = _time(metadata.get("creationTimestamp"), now)
    components = tuple(by_name[name] for name in spec.get("components") or () if name in by_name)
    title = str(spec.get("title", metadata.get("name")))
    description = spec.get("description")
    views = []
    for state, occurrence in _occurrences(obj, window, now):
        ident = stable_id(uid, occurrence.start.isoformat())
        steps = [
            UpdateView(
                stable_id(ident, "scheduled"),
                "scheduled",
                description or title,
                min(created, occurrence.start),
            )
        ]
        if state is not MaintenanceStatus.SCHEDULED:
            started = _time(status.get("startedAt"), occurrence.start)
            if not occurrence.start <= started < occurrence.end:
                started = occurrence.start
            steps.append(UpdateView(stable_id(ident, "in_progress"), "in_progress", title, started))
        if state is MaintenanceStatus.COMPLETED:
            steps.append(
                UpdateView(stable_id(ident, "completed"), "completed", title, occurrence.end)
            )
        views.append(
            MaintenanceView(
                id=ident,
                name=str(metadata.get("name")),
                title=title,
                description=description,
                status=state,
                start=occurrence.start,
                end=occurrence.end,
                created=created,
                updated=steps[-1].at,
                updates=tuple(reversed(steps)),
                components=components,
            )
        )
    return views


def build(cache: Cache, key: Key, now: datetime, memo: WindowMemo, base_url: str) -> PageView:
    """The page `key` at `now`; raise KeyError if there is no such page."""
    page = cache.page(key)
    if page is None:
        raise KeyError(key)
    namespace, name = key
    spec, metadata = page["spec"], page["metadata"]
    zone_name, zone = _zone(spec.get("timeZone", "UTC"))
    components = sorted(
        (_component(obj, now, zone) for obj in cache.members_of(key, Kind.COMPONENT)),
        key=_order,
    )
    by_name = {component.name: component for component in components}
    incidents = sorted(
        (_incident(obj, by_name, now) for obj in cache.members_of(key, Kind.INCIDENT)),
        key=lambda incident: (incident.started, incident.id),
        reverse=True,
    )
    maintenances = sorted(
        (
            view
            for obj in cache.members_of(key, Kind.WINDOW)
            for view in _maintenances(obj, memo.get(obj), by_name, now)
        ),
        key=lambda view: (view.start, view.id),
    )
    unresolved = [incident.impact for incident in incidents if not incident.resolved]
    top = rollup((component.status for component in components), unresolved)
    created = _time(metadata.get("creationTimestamp"), now)
    updated = max(
        [
            created,
            *(component.updated for component in components),
            *(incident.updated for incident in incidents),
            *(m.updated for m in maintenances if m.updated <= now),
        ]
    )
    url = spec.get("url") or f"{base_url}/{namespace}/{name}/"
    return PageView(
        key=key,
        id=stable_id(str(metadata.get("uid", name))),
        title=str(spec.get("title", name)),
        description=spec.get("description"),
        zone_name=zone_name,
        zone=zone,
        url=str(url),
        now=now,
        updated=updated,
        indicator=top.indicator,
        indicator_description=top.description,
        layout=_layout(namespace, name, components),
        components=tuple(components),
        incidents=tuple(incidents),
        maintenances=tuple(maintenances),
    )


def severity(status: ComponentStatus) -> int:
    """0 for Operational up to 4 for MajorOutage."""
    return SEVERITY_ORDER.index(status)


def canonical(value: Any) -> bytes:
    """Compact JSON bytes, the same for the same value."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
