"""What Alertmanager says fires for a component: the values the receiver keeps and readers read.

The alerts receiver (statuspage-alerts) folds each webhook notification of an alert group into a
component's `ComponentAlerts` (domain/alertgroups.py) and stores it in `status.alerts`
(api/alerts.py renders and parses it); the operator, the page server and the plugin derive from
it what the alerts ask of the component at an instant (docs/behaviour.md, "Status from alerts").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from statuspage_operator.domain.status import ComponentStatus

# At most this many firing alerts are listed per component; the rest are counted.
MAX_LISTED = 50
# At most this many groups are kept per component (the most severe, then the most recent).
MAX_GROUPS = 64

DEFAULT_SEVERITIES: Mapping[str, ComponentStatus] = {
    "critical": ComponentStatus.MAJOR_OUTAGE,
    "warning": ComponentStatus.DEGRADED_PERFORMANCE,
}


@dataclass(frozen=True, slots=True)
class Held:
    """A severity that stopped firing in a group, still counted until `until` (the hold)."""

    severity: str
    until: datetime


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """One Alertmanager alert group, as far as it concerns one component.

    `key` is a hash of Alertmanager's groupKey; `since` the earliest start of its firing alerts
    (its episode); `seen` when Alertmanager last sent it; `ended` the latest end of an alert it
    sent as resolved (a firing alert that started before it is a stale repeat); `firing` how many
    of its alerts that concern the component fire, `severities` the same by severity label ("" for
    none).
    """

    key: str
    seen: datetime
    name: str = ""
    summary: str = ""
    external_url: str = ""
    since: datetime | None = None
    ended: datetime | None = None
    firing: int = 0
    severities: Mapping[str, int] = field(default_factory=dict)
    held: tuple[Held, ...] = ()


@dataclass(frozen=True, slots=True)
class ListedAlert:
    """One firing alert shown with the component."""

    fingerprint: str
    group: str
    since: datetime | None = None
    severity: str = ""
    summary: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class ComponentAlerts:
    """Everything the receiver keeps for one component (`status.alerts`)."""

    groups: tuple[AlertGroup, ...] = ()
    listed: tuple[ListedAlert, ...] = ()
    firing: int = 0


NO_ALERTS = ComponentAlerts()
