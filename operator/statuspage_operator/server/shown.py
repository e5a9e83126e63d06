"""What a page shows at an instant: the values the HTML, JSON, feed and badge renderers read.

Built by server/view.py from the cached objects; nothing here reads an object or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from statuspage_operator.api.signup_form import Choice
from statuspage_operator.domain.incidents import Impact, IncidentPhase
from statuspage_operator.domain.rollup import Indicator
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.domain.uptime import Uptime
from statuspage_operator.server.cache import Key


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
    # Each component it lists, with the status it gives it (None: it changes nothing).
    components: tuple[tuple[ComponentView, ComponentStatus | None], ...]

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
class SignupForm:
    """The "Get updates" form: where it posts (statuspage-signup), and its tick boxes."""

    action: str
    choices: tuple[Choice, ...]


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
    # A Private page's feeds need a token (kubectl statuspage feed-url): no plain feed links.
    private: bool = False
    # When some component's alerts change what it shows by time alone (None: never).
    changes_at: datetime | None = None
    # The "Get updates" form (None: the page offers none; docs/server.md, "Get updates").
    signup: SignupForm | None = None

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
