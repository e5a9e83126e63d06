"""What Alertmanager says fires for a component: the values the receiver keeps and readers read.

The alerts receiver (statuspage-alerts) folds each webhook notification of an alert group into a
component's `ComponentAlerts` (domain/alertgroups.py) and stores it in `status.alerts`
(api/alerts.py renders and parses it); the operator, the page server and the plugin derive from
it what the alerts ask of the component at an instant (docs/behaviour.md, "Status from alerts").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from statuspage_operator.domain.status import ComponentStatus, worst

# At most this many firing alerts are listed per component; the rest are counted.
MAX_LISTED = 50
# At most this many groups are kept per component (the most severe, then the most recent).
MAX_GROUPS = 64
# next_change looks at most at this many instants where nothing may change (see there).
MAX_PROBES = 16

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


@dataclass(frozen=True, slots=True)
class AlertRules:
    """How a component reads its alerts: the page's expiry and the component's severity map."""

    expire_after: timedelta = timedelta(hours=6)
    severities: Mapping[str, ComponentStatus] = field(default_factory=lambda: DEFAULT_SEVERITIES)


@dataclass(frozen=True, slots=True)
class AlertsAsk:
    """What a component's alerts ask of it at an instant.

    `status` is the worst status its severities in force map to (None: nothing mapped, so the
    alerts move nothing); `firing` how many alerts fire in the groups still in force; `held` the
    severities still held after they stopped firing; `listed` the firing alerts of those groups.
    """

    status: ComponentStatus | None = None
    firing: int = 0
    held: tuple[str, ...] = ()
    severities: Mapping[str, int] = field(default_factory=dict)
    listed: tuple[ListedAlert, ...] = ()

    @property
    def active(self) -> bool:
        """Whether anything fires or is held: the alerts have something to say."""
        return self.firing > 0 or bool(self.held)


QUIET = AlertsAsk()


def _in_force(group: AlertGroup, rules: AlertRules, now: datetime) -> bool:
    # A group Alertmanager stopped repeating (a lost resolve) is ignored once it expires. A
    # difference, not a sum: a `seen` near the end of time must not overflow.
    return now - group.seen < rules.expire_after


def _expiry(group: AlertGroup, rules: AlertRules) -> datetime | None:
    try:
        return group.seen + rules.expire_after
    except OverflowError:
        return None


def alerts_at(alerts: ComponentAlerts, rules: AlertRules, now: datetime) -> AlertsAsk:
    """What the alerts ask at `now`: groups not seen for `expire_after` are ignored; firing and
    held severities map through the rules (an unmapped one moves nothing); the worst wins."""
    groups = [g for g in alerts.groups if _in_force(g, rules, now)]
    if not groups:
        return QUIET
    severities: dict[str, int] = {}
    held: set[str] = set()
    for group in groups:
        for severity, count in group.severities.items():
            if count > 0:
                severities[severity] = severities.get(severity, 0) + count
        held.update(h.severity for h in group.held if h.until > now)
    mapped = [rules.severities[s] for s in (*severities, *held) if s in rules.severities]
    keys = {g.key for g in groups}
    return AlertsAsk(
        status=worst(mapped) if mapped else None,
        firing=sum(g.firing for g in groups),
        held=tuple(sorted(held - set(severities))),
        severities=dict(sorted(severities.items())),
        listed=tuple(a for a in alerts.listed if a.group in keys),
    )


def _before(held: Held, expiry: datetime | None) -> bool:
    return expiry is None or held.until < expiry


def next_change(alerts: ComponentAlerts, rules: AlertRules, now: datetime) -> datetime | None:
    """The earliest instant after `now` at which `alerts_at` changes with no new write: a group
    expiring, or a hold ending (None: nothing changes until the receiver writes again). Never
    later than the change; earlier only past MAX_PROBES instants that change nothing."""
    instants: set[datetime] = set()
    for group in alerts.groups:
        if _in_force(group, rules, now):
            expiry = _expiry(group, rules)
            if expiry is not None:
                instants.add(expiry)
            instants.update(h.until for h in group.held if now < h.until and _before(h, expiry))
    # Only a candidate where the answer really changes: a hold of a severity that still fires
    # elsewhere, or a quiet group expiring, would wake the operator for nothing. Bounded: past
    # MAX_PROBES candidates that change nothing, the next one is returned (a wake-up that finds
    # nothing to do, and looks again), so a status of 64 groups with 16 holds each stays cheap.
    answer = alerts_at(alerts, rules, now)
    for probe, at in enumerate(sorted(instants)):
        if probe >= MAX_PROBES or alerts_at(alerts, rules, at) != answer:
            return at
    return None
