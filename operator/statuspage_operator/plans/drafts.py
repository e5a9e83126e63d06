"""A page's draft incidents from alert groups: which to open, which to delete or resolve.

The source of truth is the groups the alerts receiver keeps in components' `status.alerts`. A
group fires on a component while its entry counts firing alerts and was seen within the page's
`expireAfter`. Each episode of a group (its key and `since`) firing on a component that asks for
drafts (its own `spec.alerts.draftIncidents`, else its page's) gets one draft, named from the
episode, and a record in the page's status; the record, not the incident, says it was opened, so
a draft a person deleted is not opened again. When the episode fires on no component any more
(resolved, replaced by a new episode, or expired), a draft never published is deleted, a
published one gets a Resolved update, and the record goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from statuspage_operator.api.drafts import Opened, draft_name, incident_body
from statuspage_operator.domain.alerting import DEFAULT_SEVERITIES, AlertGroup, ComponentAlerts
from statuspage_operator.domain.incidents import Impact
from statuspage_operator.domain.status import ComponentStatus, worst

# The CRD's bound on status.alertIncidents.
MAX_RECORDS = 256

_IMPACT: Mapping[ComponentStatus, Impact] = {
    ComponentStatus.MAJOR_OUTAGE: Impact.MAJOR,
    ComponentStatus.PARTIAL_OUTAGE: Impact.MAJOR,
    ComponentStatus.DEGRADED_PERFORMANCE: Impact.MINOR,
}

Episode = tuple[str, datetime]


@dataclass(frozen=True, slots=True)
class AskingComponent:
    """A component whose alerts may open drafts: whether it asks, its severities, its groups."""

    name: str
    asks: bool
    alerts: ComponentAlerts
    severities: Mapping[str, ComponentStatus] = field(default_factory=lambda: DEFAULT_SEVERITIES)


@dataclass(frozen=True, slots=True)
class OwnedIncident:
    """One of the operator's own incidents, as last seen: a draft still, resolved already."""

    draft: bool
    resolved: bool


@dataclass(frozen=True, slots=True)
class DraftFacts:
    """What a page's draft plan is made from."""

    page: str
    expire_after: timedelta
    components: tuple[AskingComponent, ...]
    opened: tuple[Opened, ...]
    owned: Mapping[str, OwnedIncident]


@dataclass(frozen=True, slots=True)
class DraftPlan:
    """What to do: create these bodies, delete or resolve these incidents; then the records."""

    create: tuple[dict[str, Any], ...] = ()
    delete: tuple[str, ...] = ()
    resolve: tuple[str, ...] = ()
    records: tuple[Opened, ...] = ()
    # The next instant at which a group expires, with no event to say so.
    wake: datetime | None = None


def fires(group: AlertGroup, expire_after: timedelta, now: datetime) -> bool:
    """Whether a group's entry fires at `now`: firing alerts, seen within `expire_after`."""
    return group.firing > 0 and group.since is not None and now - group.seen < expire_after


def _status(component: AskingComponent, group: AlertGroup) -> ComponentStatus | None:
    mapped = [component.severities[s] for s in group.severities if s in component.severities]
    return worst(mapped) if mapped else None


def plan_drafts(facts: DraftFacts, now: datetime) -> DraftPlan:
    """The drafts to open and to end at `now`, and the page's records once that is done."""
    episodes: dict[Episode, list[tuple[AskingComponent, AlertGroup]]] = {}
    wake: datetime | None = None
    for component in facts.components:
        if not component.asks:
            continue
        for group in component.alerts.groups:
            since = group.since
            # A severity the component maps to no status moves nothing, and opens nothing.
            if since is None or not fires(group, facts.expire_after, now):
                continue
            if _status(component, group) is None:
                continue
            episodes.setdefault((group.key, since), []).append((component, group))
            expiry = group.seen + facts.expire_after
            wake = expiry if wake is None else min(wake, expiry)
    recorded = {(r.group, r.since): r for r in facts.opened}
    kept = [r for episode, r in recorded.items() if episode in episodes]
    room = MAX_RECORDS - len(kept)
    create = []
    for episode in sorted(episodes, key=lambda e: (e[1], e[0])):
        if episode in recorded or room <= 0:
            continue
        create.append(_body(facts.page, episode, episodes[episode]))
        kept.append(Opened(episode[0], episode[1], draft_name(*episode)))
        room -= 1
    delete, resolve = [], []
    for episode, record in recorded.items():
        if episode in episodes:
            continue
        incident = facts.owned.get(record.incident)
        if incident is None or incident.resolved:
            continue
        if incident.draft:
            delete.append(record.incident)
        else:
            resolve.append(record.incident)
    return DraftPlan(
        create=tuple(create),
        delete=tuple(delete),
        resolve=tuple(resolve),
        records=tuple(sorted(kept, key=lambda r: (r.since, r.group))),
        wake=wake,
    )


def _body(
    page: str, episode: Episode, entries: list[tuple[AskingComponent, AlertGroup]]
) -> dict[str, Any]:
    key, since = episode
    statuses = {component.name: _status(component, group) for component, group in entries}
    known = [s for s in statuses.values() if s is not None]
    impact = _IMPACT.get(worst(known), Impact.MINOR) if known else Impact.MINOR
    # The entries of one group agree on its name, summary and link (one notification made them).
    first = min((group for _, group in entries), key=lambda g: g.seen)
    return incident_body(
        page,
        key,
        since,
        first.name or f"Alert group {key[:10]}",
        first.summary,
        first.external_url,
        impact,
        statuses,
    )
