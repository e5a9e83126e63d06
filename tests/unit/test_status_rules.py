"""Component status (worst of) and the page rollup, as docs/behaviour.md states them."""

from __future__ import annotations

import pytest

from statuspage_operator.domain.incidents import Impact
from statuspage_operator.domain.rollup import Indicator, Rollup, rollup
from statuspage_operator.domain.status import ComponentStatus, effective_status

OP = ComponentStatus.OPERATIONAL
UM = ComponentStatus.UNDER_MAINTENANCE
DP = ComponentStatus.DEGRADED_PERFORMANCE
PO = ComponentStatus.PARTIAL_OUTAGE
MO = ComponentStatus.MAJOR_OUTAGE


@pytest.mark.parametrize(
    ("manual", "maintenance", "incidents", "expected"),
    [
        pytest.param(None, False, [], OP, id="nothing-is-operational"),
        pytest.param(None, True, [], UM, id="maintenance-alone"),
        pytest.param(None, True, [DP], DP, id="incident-beats-maintenance"),
        pytest.param(OP, True, [], UM, id="maintenance-beats-manual-operational"),
        pytest.param(MO, True, [DP], MO, id="manual-outage-beats-all"),
        pytest.param(None, False, [DP, PO, DP], PO, id="worst-incident-wins"),
        pytest.param(DP, False, [], DP, id="manual-alone"),
    ],
)
def test_effective_status_is_the_worst(
    manual: ComponentStatus | None,
    maintenance: bool,
    incidents: list[ComponentStatus],
    expected: ComponentStatus,
) -> None:
    """The effective status is the worst of manual, maintenance and incidents."""
    assert effective_status(manual, maintenance, incidents) is expected


@pytest.mark.parametrize(
    ("statuses", "indicator", "description"),
    [
        pytest.param([], Indicator.NONE, "All Systems Operational", id="no-components"),
        pytest.param([OP], Indicator.NONE, "All Systems Operational", id="one-operational"),
        pytest.param([UM], Indicator.MAINTENANCE, "Service Under Maintenance", id="one-maint"),
        pytest.param([DP], Indicator.MINOR, "Partially Degraded Service", id="one-degraded"),
        pytest.param([PO], Indicator.MAJOR, "Partial System Outage", id="one-partial"),
        pytest.param([MO], Indicator.CRITICAL, "Major System Outage", id="one-major"),
        pytest.param([MO, MO], Indicator.CRITICAL, "Major System Outage", id="all-major"),
        pytest.param([MO, OP], Indicator.MAJOR, "Partial System Outage", id="any-major"),
        pytest.param([PO, PO], Indicator.MAJOR, "Partial System Outage", id="all-partial"),
        pytest.param([PO, DP], Indicator.MINOR, "Minor Service Outage", id="any-partial"),
        pytest.param([DP, DP], Indicator.MINOR, "Degraded System Service", id="all-degraded"),
        pytest.param([DP, UM], Indicator.MINOR, "Partially Degraded Service", id="any-degraded"),
        pytest.param([UM, OP], Indicator.MAINTENANCE, "Service Under Maintenance", id="any-maint"),
        pytest.param([OP, OP], Indicator.NONE, "All Systems Operational", id="all-operational"),
    ],
)
def test_rollup_follows_statuspage(
    statuses: list[ComponentStatus], indicator: Indicator, description: str
) -> None:
    """The page indicator follows Statuspage's rules in order."""
    assert rollup(statuses) == Rollup(indicator, description)


def test_rollup_without_components_uses_the_worst_open_incident() -> None:
    """With no component, an unresolved incident's impact sets the indicator."""
    result = rollup([], [Impact.MINOR, Impact.MAJOR])
    assert result == Rollup(Indicator.MAJOR, "Partial System Outage")


def test_rollup_with_components_ignores_incident_impact() -> None:
    """With components, only their statuses count (incidents act through them)."""
    assert rollup([OP], [Impact.CRITICAL]) == Rollup(Indicator.NONE, "All Systems Operational")
