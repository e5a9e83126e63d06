"""Alerts in the one derivation (domain/page.py): precedence, what decided, what is set aside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statuspage_operator.domain.alerting import (
    AlertGroup,
    AlertRules,
    ComponentAlerts,
    Held,
)
from statuspage_operator.domain.audience import Sight
from statuspage_operator.domain.incidents import Impact
from statuspage_operator.domain.maintenance import Window
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.page import (
    ComponentInput,
    IncidentInput,
    SetAside,
    Source,
    WindowInput,
    component_at,
    page_at,
)
from statuspage_operator.domain.rollup import Indicator
from statuspage_operator.domain.status import ComponentStatus

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
OP = ComponentStatus.OPERATIONAL
UM = ComponentStatus.UNDER_MAINTENANCE
DP = ComponentStatus.DEGRADED_PERFORMANCE
MO = ComponentStatus.MAJOR_OUTAGE
RULES = AlertRules(timedelta(hours=1))


def firing(severity: str = "critical", seen: timedelta = timedelta(minutes=-1)) -> ComponentAlerts:
    """One group with one alert of a severity, last sent `seen` from NOW."""
    group = AlertGroup("g1", NOW + seen, firing=1, severities={severity: 1})
    return ComponentAlerts((group,), (), 1)


def make_component(
    alerts: ComponentAlerts | None = None,
    manual: ComponentStatus | None = None,
    *,
    paused: bool = False,
    receiving: bool = True,
    watched: bool = True,
) -> ComponentInput:
    """The component `api` with alerts (unwatched: no spec.alerts)."""
    rules = RULES if watched else None
    return ComponentInput("api", manual, alerts or ComponentAlerts(), rules, paused, receiving)


MAINTAINING = WindowInput(
    "patching", Window(Occurrence(NOW - timedelta(hours=1), NOW + timedelta(hours=1))), ("api",)
)
NOT_MAINTAINING = WindowInput(
    "quiet",
    Window(Occurrence(NOW - timedelta(hours=1), NOW + timedelta(hours=1))),
    ("api",),
    auto_update_status=False,
)
INCIDENT = IncidentInput.of("slow", Impact.MINOR, [("api", None)])
NOTICE = IncidentInput.of("notice", Impact.NONE, [("api", None)])
RESOLVED = IncidentInput.of("old", Impact.CRITICAL, [("api", None)], resolved=True)


@pytest.mark.parametrize(
    ("component", "windows", "incidents", "status", "source", "aside"),
    [
        pytest.param(make_component(), [], [], OP, None, None, id="quiet"),
        pytest.param(make_component(firing()), [], [], MO, Source.ALERTS, None, id="alerts-move"),
        pytest.param(
            make_component(firing("warning"), MO), [], [], MO, Source.MANUAL, None, id="manual-wins"
        ),
        pytest.param(
            make_component(firing(), MO), [], [], MO, Source.MANUAL, None, id="tie-goes-to-manual"
        ),
        pytest.param(
            make_component(firing(), DP), [], [], MO, Source.ALERTS, None, id="alerts-worse"
        ),
        pytest.param(
            make_component(firing()),
            [MAINTAINING],
            [],
            UM,
            Source.MAINTENANCE,
            SetAside.MAINTENANCE,
            id="maintenance-sets-aside",
        ),
        pytest.param(
            make_component(firing()),
            [NOT_MAINTAINING],
            [],
            MO,
            Source.ALERTS,
            None,
            id="window-without-auto-update-does-not",
        ),
        pytest.param(
            make_component(firing()),
            [],
            [INCIDENT],
            DP,
            Source.INCIDENT,
            SetAside.INCIDENT,
            id="incident-stands",
        ),
        pytest.param(
            make_component(firing()),
            [],
            [NOTICE],
            OP,
            None,
            SetAside.INCIDENT,
            id="impact-none-incident-still-takes-charge",
        ),
        pytest.param(
            make_component(firing()), [], [RESOLVED], MO, Source.ALERTS, None, id="resolved-no"
        ),
        pytest.param(
            make_component(firing(), paused=True),
            [],
            [],
            OP,
            None,
            SetAside.PAUSED,
            id="paused",
        ),
        pytest.param(
            make_component(firing(), receiving=False),
            [],
            [],
            OP,
            None,
            SetAside.NO_RECEIVER,
            id="page-without-receiver",
        ),
        pytest.param(
            make_component(firing(), watched=False), [], [], OP, None, None, id="no-spec-alerts"
        ),
        pytest.param(
            make_component(firing(), OP), [], [], MO, Source.ALERTS, None, id="manual-operational"
        ),
        pytest.param(make_component(None, OP), [], [], OP, Source.MANUAL, None, id="manual-only"),
    ],
)
def test_precedence(
    component: ComponentInput,
    windows: list[WindowInput],
    incidents: list[IncidentInput],
    status: ComponentStatus,
    source: Source | None,
    aside: SetAside | None,
) -> None:
    """docs/behaviour.md's table: alerts count only when nothing sets them aside."""
    state = component_at(component, windows, incidents, NOW)
    assert (state.status, state.source, state.set_aside) == (status, source, aside)


def test_set_aside_alerts_are_still_counted() -> None:
    """During maintenance the alerts are listed and counted, and move nothing."""
    state = component_at(make_component(firing()), [MAINTAINING], [], NOW)
    assert (state.alerts.firing, state.alerts.status, state.status) == (1, MO, UM)


def test_no_receiver_ignores_what_is_left() -> None:
    """Without a receiver, alerts left in status are not read at all."""
    state = component_at(make_component(firing(), receiving=False), [], [], NOW)
    assert (state.alerts.firing, state.alerts_change) == (0, None)


def test_page_and_component_agree_and_roll_up() -> None:
    """page_at gives each component the state component_at gives it; the rollup follows."""
    components = [make_component(firing()), ComponentInput("db")]
    page = page_at(components, [], [], NOW)
    assert page.states["api"] == component_at(components[0], [], [], NOW)
    assert page.rollup.indicator is Indicator.MAJOR


def test_next_change_of_the_page_is_its_earliest() -> None:
    """The page changes when its first component's alerts do: an expiry or a hold ending."""
    held = AlertGroup("g2", NOW, held=(Held("critical", NOW + timedelta(minutes=5)),))
    api = make_component(firing(seen=timedelta(minutes=-50)))
    db = ComponentInput("db", None, ComponentAlerts((held,)), RULES)
    page = page_at([api, db], [], [], NOW)
    assert page.states["db"].status is MO
    assert page.next_change == NOW + timedelta(minutes=5)
    assert page.states["api"].alerts_change == NOW + timedelta(minutes=10)


def test_an_audience_sees_the_same_status() -> None:
    """A component's alerts are part of its status: an audience that sees it sees the same."""
    components = [make_component(firing()), ComponentInput("db")]
    sight = Sight(("ops",), frozenset({"api"}))
    seen = page_at(components, [], [], NOW, sight)
    assert seen.states["api"].status is MO
    assert set(seen.states) == {"api"}
