"""`status --at TIME`: the page as it will be at TIME, from the maintenance planned.

A window's phase is a function of its spec and the time, so maintenance at TIME is exact (unless
someone edits the windows before then). Incidents are not planned: the ones open now are counted
as they are now. The page is the operator's derivation (domain/page.py) at TIME: the same
worst-of rule for components and the same rollup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from statuspage_operator.api.objects import (
    ComponentObject,
    IncidentObject,
    WindowObject,
    derive_page,
)
from statuspage_operator.cli.model import Component, Page, Window

Object = Mapping[str, Any]


def forecast(
    page: Page,
    components: Sequence[Object],
    incidents: Sequence[Object],
    windows: Sequence[Object],
    at: datetime,
) -> tuple[Page, list[Component], list[Window]]:
    """The page, its components and its windows as they will be at `at`."""
    listed = [ComponentObject.read(obj) for obj in components]
    planned = [WindowObject.read(obj) for obj in windows]
    read = [IncidentObject.read(obj) for obj in incidents]
    state = derive_page(listed, planned, read, at, alerts=page.alerts)
    # No uptime for a time to come: history and created are left out.
    shown = []
    for component in listed:
        derived = state.states.get(component.name)
        # A spec the operator cannot use has no status to come: shown as it is now.
        at_now = Component.of(component)
        if derived is not None:
            source = str(derived.source) if derived.source is not None else None
            at_now = replace(at_now, status=derived.status, status_from=source)
        shown.append(replace(at_now, history=(), created=None))
    at_windows = []
    for window in planned:
        phase = state.windows.get(window.name)
        if phase is None:
            # A spec that cannot work has no phase to come: shown as it is now.
            at_windows.append(Window.of(window))
            continue
        at_windows.append(
            replace(
                Window.of(window),
                phase=phase.phase,
                current=phase.current,
                next=phase.next,
                last=phase.last,
            )
        )
    rolled = state.rollup
    at_page = replace(page, indicator=rolled.indicator, description=rolled.description)
    return at_page, shown, at_windows
