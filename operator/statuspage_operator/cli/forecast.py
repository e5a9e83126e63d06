"""`status --at TIME`: the page as it will be at TIME, from the maintenance planned.

A window's phase is a function of its spec and the time, so maintenance at TIME is exact (unless
someone edits the windows before then). Incidents are not planned: the ones open now are counted
as they are now. Components then follow the same worst-of rule as the operator's, and the page
the same rollup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from statuspage_operator.api.specs import ComponentSpec, IncidentSpec, WindowSpec, parse, window_of
from statuspage_operator.cli.model import Component, Page, Span, Window
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import Impact, component_effects
from statuspage_operator.domain.maintenance import window_state
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.rollup import rollup
from statuspage_operator.domain.status import ComponentStatus, effective_status

Object = Mapping[str, Any]


def _span(occurrence: Occurrence | None) -> Span | None:
    return None if occurrence is None else Span(occurrence.start, occurrence.end)


def _spec(obj: Object) -> dict[str, Any] | None:
    spec = obj.get("spec")
    return dict(spec) if isinstance(spec, Mapping) else None


def windows_at(objects: Sequence[Object], at: datetime) -> list[tuple[Window, WindowSpec | None]]:
    """Each window with its phase and occurrences at `at` (an invalid one as it is now)."""
    found: list[tuple[Window, WindowSpec | None]] = []
    for obj in objects:
        shown = Window.parse(obj)
        try:
            spec = parse(WindowSpec, _spec(obj))
            state = window_state(window_of(spec), at)
        except InvalidSpecError:
            found.append((shown, None))
            continue
        found.append(
            (
                replace(
                    shown,
                    phase=str(state.phase),
                    current=_span(state.current),
                    next=_span(state.next),
                    last=_span(state.last),
                ),
                spec,
            )
        )
    return found


def forecast(
    page: Page,
    components: Sequence[Object],
    open_incidents: Sequence[Object],
    windows: Sequence[Object],
    at: datetime,
) -> tuple[Page, list[Component], list[Window]]:
    """The page, its components and its windows as they will be at `at`."""
    planned = windows_at(windows, at)
    under_maintenance = {
        name
        for window, spec in planned
        if spec is not None and spec.auto_update_status and window.phase == "InProgress"
        for name in spec.components
    }
    effects: dict[str, list[ComponentStatus]] = {}
    impacts: list[Impact] = []
    for obj in open_incidents:
        try:
            incident = parse(IncidentSpec, _spec(obj))
        except InvalidSpecError:
            continue
        if incident.impact is not Impact.NONE:
            impacts.append(incident.impact)
        pairs = [(c.name, c.status) for c in incident.components]
        for name, status in component_effects(incident.impact, pairs).items():
            effects.setdefault(name, []).append(status)
    shown: list[Component] = []
    statuses: list[ComponentStatus] = []
    for obj in components:
        component = Component.parse(obj)
        try:
            manual = parse(ComponentSpec, _spec(obj)).manual_status
        except InvalidSpecError:
            manual = None
        status = effective_status(
            manual, component.name in under_maintenance, effects.get(component.name, ())
        )
        statuses.append(status)
        # No uptime for a time to come: history and created are left out.
        shown.append(replace(component, status=str(status), history=(), created=None))
    rolled = rollup(statuses, impacts)
    at_page = replace(page, indicator=str(rolled.indicator), description=rolled.description)
    return at_page, shown, [window for window, _ in planned]
