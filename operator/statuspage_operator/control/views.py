"""Derived views over the store at an instant: what a component and a page show right now.

Components and pages are computed from the windows' and incidents' specs and `now`, never from
their status fields, so the order in which objects are reconciled cannot matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from statuspage_operator.api.names import Kind
from statuspage_operator.api.specs import ComponentSpec, IncidentSpec, WindowSpec
from statuspage_operator.control.store import Record, Store
from statuspage_operator.domain.incidents import Impact, IncidentPhase, component_effects
from statuspage_operator.domain.maintenance import WindowPhase, window_state
from statuspage_operator.domain.rollup import Rollup, rollup
from statuspage_operator.domain.status import ComponentStatus, effective_status


@dataclass(frozen=True, slots=True)
class ComponentView:
    """A component's derived status and what causes it."""

    status: ComponentStatus
    windows: tuple[str, ...]
    incidents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PageView:
    """A page's rollup and counts."""

    rollup: Rollup
    components: int
    unresolved_incidents: int
    active_maintenances: int


def window_phase(record: Record, now: datetime) -> WindowPhase | None:
    """A window's phase at `now`; None while its spec is invalid or it is being deleted."""
    if record.window is None or record.deleting:
        return None
    return window_state(record.window, now).phase


def incident_is_open(record: Record) -> bool:
    """Whether an incident still affects its page (not Resolved, not being deleted)."""
    return (
        not record.deleting
        and record.spec is not None
        and record.incident_phase is not IncidentPhase.RESOLVED
    )


def component_view(store: Store, component: Record, now: datetime) -> ComponentView:
    """The worst of the manual status, maintenance in progress and open incidents."""
    spec = component.spec
    assert isinstance(spec, ComponentSpec)
    namespace, name = component.key.namespace, component.key.name
    windows = sorted(
        w.key.name
        for w in store.naming(namespace, name, Kind.WINDOW)
        if isinstance(w.spec, WindowSpec)
        and w.spec.page == spec.page
        and w.spec.auto_update_status
        and window_phase(w, now) is WindowPhase.IN_PROGRESS
    )
    incidents: list[str] = []
    statuses: list[ComponentStatus] = []
    for incident in store.naming(namespace, name, Kind.INCIDENT):
        if not isinstance(incident.spec, IncidentSpec) or incident.spec.page != spec.page:
            continue
        if not incident_is_open(incident):
            continue
        incidents.append(incident.key.name)
        effects = component_effects(
            incident.spec.impact, [(c.name, c.status) for c in incident.spec.components]
        )
        if name in effects:
            statuses.append(effects[name])
    status = effective_status(spec.manual_status, bool(windows), statuses)
    return ComponentView(status, tuple(windows), tuple(sorted(incidents)))


def page_view(store: Store, namespace: str, page: str, now: datetime) -> PageView:
    """Statuspage's rollup over the page's components, with its counts."""
    statuses = [
        component_view(store, c, now).status
        for c in store.of_page(namespace, page, Kind.COMPONENT)
        if isinstance(c.spec, ComponentSpec) and not c.deleting
    ]
    open_incidents = [
        i for i in store.of_page(namespace, page, Kind.INCIDENT) if incident_is_open(i)
    ]
    impacts = [i.spec.impact for i in open_incidents if isinstance(i.spec, IncidentSpec)]
    active = sum(
        1
        for w in store.of_page(namespace, page, Kind.WINDOW)
        if window_phase(w, now) is WindowPhase.IN_PROGRESS
    )
    return PageView(
        rollup(statuses, [i for i in impacts if i is not Impact.NONE]),
        len(statuses),
        len(open_incidents),
        active,
    )
