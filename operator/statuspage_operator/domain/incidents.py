"""Incidents: phase from the latest update, a stable timeline, and the effect on components."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from statuspage_operator.domain.status import ComponentStatus


class Impact(StrEnum):
    """How bad an incident is, from none to critical."""

    NONE = "None"
    MINOR = "Minor"
    MAJOR = "Major"
    CRITICAL = "Critical"


class IncidentPhase(StrEnum):
    """An update's status; the incident's phase is its latest update's."""

    INVESTIGATING = "Investigating"
    IDENTIFIED = "Identified"
    MONITORING = "Monitoring"
    RESOLVED = "Resolved"


STATUS_FROM_IMPACT: Mapping[Impact, ComponentStatus] = {
    Impact.NONE: ComponentStatus.OPERATIONAL,
    Impact.MINOR: ComponentStatus.DEGRADED_PERFORMANCE,
    Impact.MAJOR: ComponentStatus.PARTIAL_OUTAGE,
    Impact.CRITICAL: ComponentStatus.MAJOR_OUTAGE,
}


@dataclass(frozen=True, slots=True)
class Update:
    """One update as the user wrote it; `at` is optional (backfill)."""

    status: IncidentPhase
    message: str
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Stamped:
    """One timeline entry: an update with the time it happened."""

    status: IncidentPhase
    message: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IncidentState:
    """What the operator derives from the updates."""

    phase: IncidentPhase
    timeline: tuple[Stamped, ...]
    resolved_at: datetime | None
    last_update_time: datetime | None

    @property
    def resolved(self) -> bool:
        """Whether the incident no longer affects anything."""
        return self.phase is IncidentPhase.RESOLVED


def stamp(
    updates: Sequence[Update], timeline: Sequence[Stamped], now: datetime
) -> tuple[Stamped, ...]:
    """Give every update a time: the one already stamped, else the user's `at`, else `now`.

    A stamped time never changes: entries already in the timeline keep theirs as long as the
    update at that position is the same one.
    """
    stamped: list[Stamped] = []
    for index, update in enumerate(updates):
        known = timeline[index] if index < len(timeline) else None
        if known is not None and (known.status, known.message) == (update.status, update.message):
            stamped.append(known)
        else:
            stamped.append(Stamped(update.status, update.message, update.at or now))
    return tuple(stamped)


def derive(updates: Sequence[Update], timeline: Sequence[Stamped], now: datetime) -> IncidentState:
    """Phase, timeline, resolvedAt and lastUpdateTime of an incident at `now`."""
    entries = stamp(updates, timeline, now)
    if not entries:
        return IncidentState(IncidentPhase.INVESTIGATING, (), None, None)
    phase = entries[-1].status
    resolved_at = None
    if phase is IncidentPhase.RESOLVED:
        # When it became Resolved: the first of the trailing run of Resolved updates.
        for entry in reversed(entries):
            if entry.status is not IncidentPhase.RESOLVED:
                break
            resolved_at = entry.at
    return IncidentState(phase, entries, resolved_at, entries[-1].at)


def component_effects(
    impact: Impact, components: Sequence[tuple[str, ComponentStatus | None]]
) -> dict[str, ComponentStatus]:
    """The status an unresolved incident gives each component it lists.

    A component's own status wins over the one implied by the impact; impact None changes nothing.
    """
    if impact is Impact.NONE:
        return {}
    default = STATUS_FROM_IMPACT[impact]
    return {name: status or default for name, status in components}
