"""Statuspage's public API v2, same shapes: what existing clients and exporters read.

Every key of Statuspage's published examples is always present (null when we have no value).
Enums are Statuspage's snake_case. Ids are stable: derived from object uids, and for a recurring
window from its uid and the occurrence's start. Non-standard: `uptime` on components in
`components.json` only (percentage over 90 days and the daily bars).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.domain.uptime import Uptime
from statuspage_operator.server.shown import (
    ComponentView,
    GroupView,
    IncidentView,
    MaintenanceStatus,
    MaintenanceView,
    PageView,
    UpdateView,
)

JsonObject = dict[str, Any]
INCIDENT_LIMIT = 50

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@functools.lru_cache(maxsize=64)
def snake(value: str) -> str:
    """`DegradedPerformance` -> `degraded_performance`, `None` -> `none`."""
    return _CAMEL.sub("_", value).lower()


def when(instant: datetime | None) -> str | None:
    """Statuspage's timestamps: ISO 8601 with milliseconds and an offset."""
    if instant is None:
        return None
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_object(view: PageView) -> JsonObject:
    """The `page` object every endpoint starts with."""
    return {
        "id": view.id,
        "name": view.title,
        "url": view.url,
        "time_zone": view.zone_name,
        "updated_at": when(view.updated),
    }


def status_object(view: PageView) -> JsonObject:
    """The `status` object: indicator and description."""
    return {"indicator": snake(view.indicator.value), "description": view.indicator_description}


def _component(
    view: PageView, component: ComponentView, group_id: str | None, with_uptime: bool
) -> JsonObject:
    found: JsonObject = {
        "id": component.id,
        "name": component.display_name,
        "status": snake(component.status.value),
        "created_at": when(component.created),
        "updated_at": when(component.updated),
        "position": component.position,
        "description": component.description,
        "showcase": True,
        "start_date": component.created.astimezone(view.zone).date().isoformat(),
        "group_id": group_id,
        "page_id": view.id,
        "group": False,
        "only_show_if_degraded": False,
    }
    if with_uptime:
        found["uptime"] = _uptime(component.uptime)
    return found


# The uptime of a component is the same object from one rendering to the next while its history
# and the minute do not change (server/view.py memoises it): its 90 days are turned into JSON once.
_UPTIMES: dict[int, tuple[Uptime, JsonObject]] = {}
_UPTIMES_HELD = 1100  # one page of Statuspage's maximum size; each holds about 30 KB


def _uptime(uptime: Uptime) -> JsonObject:
    held = _UPTIMES.get(id(uptime))
    if held is not None and held[0] is uptime:
        return held[1]
    found: JsonObject = {
        "percent": None if uptime.percent is None else round(uptime.percent, 4),
        "days": [
            {
                "date": bar.day.isoformat(),
                "percent": None if bar.uptime is None else round(100 * bar.uptime, 4),
                "status": None if bar.worst is None else snake(bar.worst.value),
            }
            for bar in uptime.days
        ],
    }
    if len(_UPTIMES) >= _UPTIMES_HELD:
        _UPTIMES.clear()
    _UPTIMES[id(uptime)] = (uptime, found)
    return found


def _group(view: PageView, group: GroupView) -> JsonObject:
    return {
        "id": group.id,
        "name": group.name,
        "status": snake(group.status.value),
        "created_at": when(group.created),
        "updated_at": when(group.updated),
        "position": group.components[0].position,
        "description": None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": view.id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [member.id for member in group.components],
    }


def components(view: PageView, with_uptime: bool = False) -> list[JsonObject]:
    """Components and groups, in page order, flat as Statuspage lists them."""
    found: list[JsonObject] = []
    for entry in view.layout:
        if isinstance(entry, GroupView):
            found.append(_group(view, entry))
            found += [_component(view, c, entry.id, with_uptime) for c in entry.components]
        else:
            found.append(_component(view, entry, None, with_uptime))
    return found


def _update(
    update: UpdateView,
    parent: str,
    affected: list[JsonObject] | None,
) -> JsonObject:
    return {
        "id": update.id,
        "status": update.status.lower(),
        "body": update.message,
        "incident_id": parent,
        "created_at": when(update.at),
        "updated_at": when(update.at),
        "display_at": when(update.at),
        "affected_components": affected,
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def _affected(pairs: Iterable[tuple[ComponentView, ComponentStatus | None]]) -> list[JsonObject]:
    # Only the components the incident changes: one of impact None changes none.
    return [
        {
            "code": component.id,
            "name": component.display_name,
            "old_status": "operational",
            "new_status": snake(effect.value),
        }
        for component, effect in pairs
        if effect is not None
    ]


def incident(view: PageView, found: IncidentView) -> JsonObject:
    """One incident; its updates newest first; the first update names the affected components."""
    oldest = found.updates[-1].id if found.updates else None
    affected = _affected(found.components)
    return {
        "id": found.id,
        "name": found.title,
        "status": found.phase.value.lower(),
        "created_at": when(found.created),
        "updated_at": when(found.updated),
        "monitoring_at": when(found.monitoring_at),
        "resolved_at": when(found.resolved_at),
        "impact": found.impact.value.lower(),
        "shortlink": view.url,
        "started_at": when(found.started),
        "page_id": view.id,
        "incident_updates": [
            _update(u, found.id, affected if u.id == oldest else None) for u in found.updates
        ],
        "components": [
            _component(view, component, None, False) for component, _ in found.components
        ],
    }


def maintenance(view: PageView, found: MaintenanceView) -> JsonObject:
    """One occurrence of a maintenance window, as a Statuspage scheduled maintenance."""
    return {
        "id": found.id,
        "name": found.title,
        "status": found.status.value,
        "created_at": when(found.created),
        "updated_at": when(found.updated),
        "monitoring_at": None,
        "resolved_at": when(found.end) if found.status is MaintenanceStatus.COMPLETED else None,
        "impact": "maintenance",
        "shortlink": view.url,
        "started_at": when(found.start),
        "page_id": view.id,
        "incident_updates": [_update(u, found.id, None) for u in found.updates],
        "components": [_component(view, c, None, False) for c in found.components],
        "scheduled_for": when(found.start),
        "scheduled_until": when(found.end),
    }


def _upcoming_and_active(view: PageView) -> list[MaintenanceView]:
    return view.maintenances_in(MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.SCHEDULED)


def summary_json(view: PageView) -> JsonObject:
    """`summary.json`: page, components, unresolved incidents, active and upcoming maintenance."""
    return {
        "page": page_object(view),
        "components": components(view),
        "incidents": [incident(view, i) for i in view.unresolved],
        "scheduled_maintenances": [maintenance(view, m) for m in _upcoming_and_active(view)],
        "status": status_object(view),
    }


def status_json(view: PageView) -> JsonObject:
    """`status.json`."""
    return {"page": page_object(view), "status": status_object(view)}


def components_json(view: PageView) -> JsonObject:
    """`components.json`, with the non-standard `uptime`."""
    return {"page": page_object(view), "components": components(view, with_uptime=True)}


def incidents_json(view: PageView) -> JsonObject:
    """`incidents.json`: the 50 most recent incidents, newest first."""
    return {
        "page": page_object(view),
        "incidents": [incident(view, i) for i in view.incidents[:INCIDENT_LIMIT]],
    }


def unresolved_json(view: PageView) -> JsonObject:
    """`incidents/unresolved.json`."""
    return {"page": page_object(view), "incidents": [incident(view, i) for i in view.unresolved]}


def _maintenances(view: PageView, shown: Iterable[MaintenanceView]) -> JsonObject:
    return {
        "page": page_object(view),
        "scheduled_maintenances": [maintenance(view, m) for m in shown],
    }


def scheduled_json(view: PageView) -> JsonObject:
    """`scheduled-maintenances.json`: the 50 most recent occurrences, newest start first."""
    newest = sorted(view.maintenances, key=lambda m: (m.start, m.id), reverse=True)
    return _maintenances(view, newest[:INCIDENT_LIMIT])


def upcoming_json(view: PageView) -> JsonObject:
    """`scheduled-maintenances/upcoming.json`: scheduled occurrences, soonest first."""
    return _maintenances(view, view.maintenances_in(MaintenanceStatus.SCHEDULED))


def active_json(view: PageView) -> JsonObject:
    """`scheduled-maintenances/active.json`: occurrences in progress."""
    return _maintenances(view, view.maintenances_in(MaintenanceStatus.IN_PROGRESS))


ENDPOINTS = {
    "summary.json": summary_json,
    "status.json": status_json,
    "components.json": components_json,
    "incidents.json": incidents_json,
    "incidents/unresolved.json": unresolved_json,
    "scheduled-maintenances.json": scheduled_json,
    "scheduled-maintenances/upcoming.json": upcoming_json,
    "scheduled-maintenances/active.json": active_json,
}
