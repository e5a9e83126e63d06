"""The page at an instant: the one derivation every reader shows (operator, plugin, page server).

From the parsed specs of a page's components, windows and incidents and `now` (docs/behaviour.md):

- a window maintains the components it lists while an occurrence is in progress (not cancelled)
  and it has `autoUpdateStatus`;
- an unresolved incident gives each component it lists the effect of `incident_effects`
  (impact None changes nothing; a per-component status wins over the impact's); a draft
  (`spec.draft`) is not an incident yet: it names no component and is not counted;
- a component's status is the worst of its manual status, maintenance, those effects and what
  its alerts ask (domain/alerting.py), the alerts counting only while the page receives them,
  the component's automation is not paused, no window in progress maintains it and no unresolved
  incident lists it (a person has taken charge); otherwise they are set aside, still listed;
- what decided the status is said (`Source`), and when the alerts' answer next changes by time
  alone (an expiry, a hold ending), so the operator wakes then and the server's caches expire;
- the page rolls its components up as Statuspage does, and counts its components, unresolved
  incidents and windows in progress;
- for an audience of a Private page (domain/audience.py), the page is derived from what it sees:
  only its components, the incidents and windows that concern them listing only those, and the
  rollup of that.

Written status plays no part, but for `status.alerts`, the alerts receiver's record of what
Alertmanager sent (an input like a spec, never the operator's output): the same specs, alerts and
`now` give the same page, whoever derives it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from statuspage_operator.domain.alerting import (
    NO_ALERTS,
    QUIET,
    AlertRules,
    AlertsAsk,
    ComponentAlerts,
    alerts_at,
    next_change,
)
from statuspage_operator.domain.audience import EVERYTHING, Sight
from statuspage_operator.domain.incidents import Impact, component_effects
from statuspage_operator.domain.maintenance import Window, WindowPhase, WindowState, window_state
from statuspage_operator.domain.rollup import Rollup, rollup
from statuspage_operator.domain.status import ComponentStatus, worst


class Source(StrEnum):
    """What decided a component's status (on a tie, a person's input before the alerts)."""

    INCIDENT = "Incident"
    MAINTENANCE = "Maintenance"
    MANUAL = "Manual"
    ALERTS = "Alerts"


class SetAside(StrEnum):
    """Why a component's alerts do not move it."""

    NO_RECEIVER = "NoReceiver"
    PAUSED = "Paused"
    MAINTENANCE = "UnderMaintenance"
    INCIDENT = "IncidentOpen"


@dataclass(frozen=True, slots=True)
class ComponentInput:
    """What the derivation needs of a component: its name, manual status and alerts.

    `rules` is None when the component has no `spec.alerts` (alerts play no part at all);
    `receiving` whether its page has a receiver Secret (`spec.alerts.receiverSecretRef`).
    """

    name: str
    manual: ComponentStatus | None = None
    alerts: ComponentAlerts = NO_ALERTS
    rules: AlertRules | None = None
    paused: bool = False
    receiving: bool = True


@dataclass(frozen=True, slots=True)
class WindowInput:
    """What the derivation needs of a maintenance window."""

    name: str
    window: Window
    components: tuple[str, ...] = ()
    auto_update_status: bool = True

    def maintains(self, component: str) -> bool:
        """Whether the window changes `component` while it is in progress."""
        return self.auto_update_status and component in self.components


@dataclass(frozen=True, slots=True)
class IncidentInput:
    """What the derivation needs of an incident: what it lists and the status it gives each."""

    name: str
    impact: Impact
    listed: tuple[str, ...] = ()
    effects: Mapping[str, ComponentStatus] = field(default_factory=dict)
    resolved: bool = False
    # A draft (spec.draft) is no incident yet: it names no component and counts for nothing.
    draft: bool = False

    @property
    def open(self) -> bool:
        """Whether it counts: unresolved and published."""
        return not self.resolved and not self.draft

    @classmethod
    def of(
        cls,
        name: str,
        impact: Impact,
        components: Sequence[tuple[str, ComponentStatus | None]],
        resolved: bool = False,
        draft: bool = False,
    ) -> IncidentInput:
        """An incident from its impact and its `(component, own status)` entries."""
        listed = tuple(component for component, _ in components)
        return cls(name, impact, listed, component_effects(impact, components), resolved, draft)


@dataclass(frozen=True, slots=True)
class ComponentState:
    """A component's derived status, and the windows, unresolved incidents and alerts behind it.

    `source` is None when nothing sets the status (Operational by default); `alerts` what the
    alerts ask (QUIET when the component has no `spec.alerts`), `set_aside` why they do not
    count, `alerts_change` when their answer next changes with no new write.
    """

    status: ComponentStatus
    windows: tuple[str, ...]
    incidents: tuple[str, ...]
    source: Source | None = None
    watched: bool = False
    alerts: AlertsAsk = QUIET
    set_aside: SetAside | None = None
    alerts_change: datetime | None = None


@dataclass(frozen=True, slots=True)
class PageState:
    """The page at an instant: rollup, counts, each component's state and each window's."""

    rollup: Rollup
    components: int
    unresolved_incidents: int
    active_maintenances: int
    states: Mapping[str, ComponentState]
    windows: Mapping[str, WindowState]

    @property
    def next_change(self) -> datetime | None:
        """The earliest instant some component's alerts change their answer by time alone."""
        return min((s.alerts_change for s in self.states.values() if s.alerts_change), default=None)


def in_progress(window: Window, now: datetime) -> bool:
    """Whether an occurrence of the window runs at `now` (a cancelled one never does)."""
    return window_state(window, now).phase is WindowPhase.IN_PROGRESS


def _set_aside(component: ComponentInput, maintained: bool, named: bool) -> SetAside | None:
    if not component.receiving:
        return SetAside.NO_RECEIVER
    if component.paused:
        return SetAside.PAUSED
    if maintained:
        return SetAside.MAINTENANCE
    if named:
        return SetAside.INCIDENT
    return None


def _state(
    component: ComponentInput,
    maintaining: Iterable[str],
    incidents: Iterable[IncidentInput],
    now: datetime,
) -> ComponentState:
    name = component.name
    naming = [i for i in incidents if i.open and name in i.listed]
    windows = tuple(sorted(set(maintaining)))
    # In the order a tie is told: what people said before what the alerts ask.
    inputs = [(i.effects[name], Source.INCIDENT) for i in naming if name in i.effects]
    if windows:
        inputs.append((ComponentStatus.UNDER_MAINTENANCE, Source.MAINTENANCE))
    if component.manual is not None:
        inputs.append((component.manual, Source.MANUAL))
    ask, aside, change = QUIET, None, None
    rules = component.rules
    if rules is not None:
        aside = _set_aside(component, bool(windows), bool(naming))
        if aside is not SetAside.NO_RECEIVER:
            ask = alerts_at(component.alerts, rules, now)
            change = next_change(component.alerts, rules, now)
        if aside is None and ask.status is not None:
            inputs.append((ask.status, Source.ALERTS))
    status = worst(s for s, _ in inputs)
    source = next((origin for s, origin in inputs if s is status), None)
    return ComponentState(
        status,
        windows,
        tuple(sorted({i.name for i in naming})),
        source,
        rules is not None,
        ask,
        aside,
        change,
    )


def component_at(
    component: ComponentInput,
    windows: Iterable[WindowInput],
    incidents: Iterable[IncidentInput],
    now: datetime,
) -> ComponentState:
    """One component at `now`, from the windows and incidents of its page (others are ignored)."""
    maintaining = [
        w.name for w in windows if w.maintains(component.name) and in_progress(w.window, now)
    ]
    return _state(component, maintaining, incidents, now)


def restrict(
    components: Iterable[ComponentInput],
    windows: Iterable[WindowInput],
    incidents: Iterable[IncidentInput],
    sight: Sight,
) -> tuple[list[ComponentInput], list[WindowInput], list[IncidentInput]]:
    """What an audience sees of the inputs: its components, and what concerns them, trimmed.

    A component's status depends only on what names it, so a shown component keeps the status
    it has on the whole page.
    """
    if sight.everything:
        return list(components), list(windows), list(incidents)
    return (
        [c for c in components if sight.sees(c.name)],
        [
            replace(w, components=sight.shown(w.components))
            for w in windows
            if sight.concerns(w.components)
        ],
        [
            replace(
                i,
                listed=sight.shown(i.listed),
                effects={n: s for n, s in i.effects.items() if sight.sees(n)},
            )
            for i in incidents
            if sight.concerns(i.listed)
        ],
    )


def page_at(
    components: Iterable[ComponentInput],
    windows: Sequence[WindowInput],
    incidents: Iterable[IncidentInput],
    now: datetime,
    sight: Sight = EVERYTHING,
) -> PageState:
    """The whole page at `now` (as `sight` sees it): each window's and component's state once."""
    if not sight.everything:
        components, windows, incidents = restrict(components, windows, incidents, sight)
    phases = {w.name: window_state(w.window, now) for w in windows}
    maintaining: defaultdict[str, list[str]] = defaultdict(list)
    active = 0
    for window in windows:
        if phases[window.name].phase is WindowPhase.IN_PROGRESS:
            active += 1
            for name in window.components:
                if window.maintains(name):
                    maintaining[name].append(window.name)
    unresolved = [i for i in incidents if i.open]
    naming: defaultdict[str, list[IncidentInput]] = defaultdict(list)
    for incident in unresolved:
        for name in set(incident.listed):
            naming[name].append(incident)
    states = {
        c.name: _state(c, maintaining.get(c.name, ()), naming.get(c.name, ()), now)
        for c in components
    }
    top = rollup((s.status for s in states.values()), (i.impact for i in unresolved))
    return PageState(top, len(states), len(unresolved), active, states, phases)
