"""The page at an instant (domain/page.py), the component order (domain/order.py), zones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import Impact
from statuspage_operator.domain.maintenance import Window
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.order import layout
from statuspage_operator.domain.page import (
    ComponentInput,
    IncidentInput,
    WindowInput,
    component_at,
    page_at,
)
from statuspage_operator.domain.rollup import Indicator
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.domain.zones import check_zone, zone_of

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
OP = ComponentStatus.OPERATIONAL
UM = ComponentStatus.UNDER_MAINTENANCE
DP = ComponentStatus.DEGRADED_PERFORMANCE
PO = ComponentStatus.PARTIAL_OUTAGE
MO = ComponentStatus.MAJOR_OUTAGE


def make_window(
    name: str,
    *components: str,
    start: timedelta = timedelta(hours=-1),
    auto: bool = True,
    cancelled: bool = False,
) -> WindowInput:
    """A one-off window of two hours starting `start` from NOW."""
    occurrence = Occurrence(NOW + start, NOW + start + timedelta(hours=2))
    return WindowInput(name, Window(occurrence, cancelled=cancelled), components, auto)


def make_incident(
    name: str,
    impact: Impact,
    *components: tuple[str, ComponentStatus | None],
    resolved: bool = False,
) -> IncidentInput:
    """An incident listing components with their own status (None: the impact's)."""
    return IncidentInput.of(name, impact, components, resolved)


@pytest.mark.parametrize(
    ("windows", "incidents", "expected"),
    [
        pytest.param([], [], OP, id="nothing-is-operational"),
        pytest.param([make_window("w", "api")], [], UM, id="window-in-progress"),
        pytest.param([make_window("w", "api", auto=False)], [], OP, id="auto-update-off"),
        pytest.param([make_window("w", "api", cancelled=True)], [], OP, id="cancelled"),
        pytest.param([make_window("w", "api", start=timedelta(hours=1))], [], OP, id="to-come"),
        pytest.param([make_window("w", "api", start=timedelta(hours=-2))], [], OP, id="end-excl"),
        pytest.param([make_window("w", "db")], [], OP, id="window-of-another-component"),
        pytest.param([], [make_incident("i", Impact.MAJOR, ("api", None))], PO, id="impact"),
        pytest.param([], [make_incident("i", Impact.MINOR, ("api", MO))], MO, id="own-status-wins"),
        pytest.param([], [make_incident("i", Impact.NONE, ("api", MO))], OP, id="impact-none"),
        pytest.param(
            [],
            [make_incident("i", Impact.CRITICAL, ("api", None), resolved=True)],
            OP,
            id="resolved",
        ),
        pytest.param(
            [make_window("w", "api")],
            [make_incident("i", Impact.MINOR, ("api", None))],
            DP,
            id="incident-beats-maintenance",
        ),
    ],
)
def test_component_at(
    windows: list[WindowInput], incidents: list[IncidentInput], expected: ComponentStatus
) -> None:
    """A component is the worst of maintenance in progress and open incidents' effects."""
    assert component_at(ComponentInput("api"), windows, incidents, NOW).status is expected


def test_component_names_what_takes_part() -> None:
    """The windows maintaining it and every open incident listing it, impact None included."""
    state = component_at(
        ComponentInput("api", DP),
        [make_window("w2", "api"), make_window("w1", "api"), make_window("off", "api", auto=False)],
        [make_incident("quiet", Impact.NONE, ("api", None)), make_incident("other", Impact.MAJOR)],
        NOW,
    )
    assert (state.status, state.windows, state.incidents) == (DP, ("w1", "w2"), ("quiet",))


def test_page_at_counts_and_rolls_up() -> None:
    """Counts every component, open incident and window in progress; rolls components up."""
    page = page_at(
        [ComponentInput("api"), ComponentInput("db"), ComponentInput("web", OP)],
        [
            make_window("w", "db"),
            make_window("silent", auto=False),
            make_window("later", "api", start=timedelta(days=1)),
        ],
        [
            make_incident("i", Impact.MAJOR, ("api", None), ("ghost", None)),
            make_incident("none", Impact.NONE),
            make_incident("old", Impact.CRITICAL, ("web", None), resolved=True),
        ],
        NOW,
    )
    assert {name: state.status for name, state in page.states.items()} == {
        "api": PO,
        "db": UM,
        "web": OP,
    }
    assert (page.components, page.unresolved_incidents, page.active_maintenances) == (3, 2, 2)
    assert (page.rollup.indicator, page.rollup.description) == (
        Indicator.MINOR,
        "Minor Service Outage",
    )
    assert set(page.windows) == {"w", "silent", "later"}


def test_page_without_components_shows_the_worst_open_impact() -> None:
    """No component: the worst impact of the unresolved incidents decides."""
    page = page_at(
        [],
        [],
        [make_incident("a", Impact.MINOR), make_incident("b", Impact.CRITICAL, resolved=True)],
        NOW,
    )
    assert page.rollup.indicator is Indicator.MINOR


def test_page_and_component_agree() -> None:
    """page_at gives each component the state component_at gives it alone."""
    components = [ComponentInput("api", DP), ComponentInput("db")]
    windows = [make_window("w", "api", "db")]
    incidents = [make_incident("i", Impact.CRITICAL, ("db", None))]
    page = page_at(components, windows, incidents, NOW)
    for component in components:
        assert page.states[component.name] == component_at(component, windows, incidents, NOW)


@dataclass(frozen=True)
class Shown:
    """A component as the order reads it."""

    name: str
    display_name: str
    position: int | None = None
    group: str | None = None


def test_order_position_then_casefolded_name_then_name() -> None:
    """Missing positions last; display names casefolded (ß is ss); the name breaks ties."""
    components = [
        Shown("z", "Straße"),
        Shown("a", "STRASSE"),
        Shown("m", "zeta", position=2),
        Shown("b", "Beta", position=1),
        Shown("c", "alpha"),
    ]
    names = [c.name for _, members in layout(components) for c in members]
    assert names == ["b", "m", "c", "a", "z"]


def test_layout_places_a_group_at_its_first_member() -> None:
    """Groups and ungrouped components interleave; an empty group name is no group."""
    components = [
        Shown("api", "API", 1, "Core"),
        Shown("web", "Website", 2),
        Shown("db", "Database", 3, "Core"),
        Shown("cdn", "CDN", 0, ""),
    ]
    blocks = [(group, [c.name for c in members]) for group, members in layout(components)]
    assert blocks == [(None, ["cdn"]), ("Core", ["api", "db"]), (None, ["web"])]


@pytest.mark.parametrize(
    ("name", "known"),
    [
        pytest.param("Europe/Berlin", True, id="iana"),
        pytest.param("UTC", True, id="utc"),
        pytest.param("Mars/Olympus", False, id="unknown"),
        pytest.param("../../etc/passwd", False, id="path"),
        pytest.param("", False, id="empty"),
        pytest.param(42, False, id="not-text"),
        pytest.param("A" * 300, False, id="too-long"),
    ],
)
def test_zone_of(name: object, known: bool) -> None:
    """One lookup: an IANA zone, or None for anything else (never an error)."""
    assert (zone_of(name) is not None) is known


def test_check_zone_names_the_field() -> None:
    """A spec's unknown zone is an error naming the field."""
    with pytest.raises(InvalidSpecError, match=r"spec\.timeZone: unknown time zone 'Mars/Olympus'"):
        check_zone("spec.timeZone", "Mars/Olympus")
