"""The page indicator and description: Statuspage's rollup of leaf components.

The table is docs/behaviour.md's "Page indicator".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from statuspage_operator.domain.incidents import Impact
from statuspage_operator.domain.status import ComponentStatus


class Indicator(StrEnum):
    """Statuspage's page indicator."""

    NONE = "None"
    MINOR = "Minor"
    MAJOR = "Major"
    CRITICAL = "Critical"
    MAINTENANCE = "Maintenance"


OPERATIONAL = "All Systems Operational"
MINOR_OUTAGE = "Minor Service Outage"
PARTIAL_OUTAGE = "Partial System Outage"
MAJOR_OUTAGE = "Major System Outage"
DEGRADED = "Degraded System Service"
PARTIALLY_DEGRADED = "Partially Degraded Service"
UNDER_MAINTENANCE = "Service Under Maintenance"


@dataclass(frozen=True, slots=True)
class Rollup:
    """What the page shows at the top."""

    indicator: Indicator
    description: str


_SINGLE: dict[ComponentStatus, Rollup] = {
    ComponentStatus.OPERATIONAL: Rollup(Indicator.NONE, OPERATIONAL),
    ComponentStatus.UNDER_MAINTENANCE: Rollup(Indicator.MAINTENANCE, UNDER_MAINTENANCE),
    ComponentStatus.DEGRADED_PERFORMANCE: Rollup(Indicator.MINOR, PARTIALLY_DEGRADED),
    ComponentStatus.PARTIAL_OUTAGE: Rollup(Indicator.MAJOR, PARTIAL_OUTAGE),
    ComponentStatus.MAJOR_OUTAGE: Rollup(Indicator.CRITICAL, MAJOR_OUTAGE),
}

_BY_IMPACT: dict[Impact, Rollup] = {
    Impact.NONE: Rollup(Indicator.NONE, OPERATIONAL),
    Impact.MINOR: Rollup(Indicator.MINOR, MINOR_OUTAGE),
    Impact.MAJOR: Rollup(Indicator.MAJOR, PARTIAL_OUTAGE),
    Impact.CRITICAL: Rollup(Indicator.CRITICAL, MAJOR_OUTAGE),
}


def _many(statuses: Sequence[ComponentStatus]) -> Rollup:
    def every(status: ComponentStatus) -> bool:
        return all(s == status for s in statuses)

    def some(status: ComponentStatus) -> bool:
        return status in statuses

    if every(ComponentStatus.MAJOR_OUTAGE):
        return Rollup(Indicator.CRITICAL, MAJOR_OUTAGE)
    if some(ComponentStatus.MAJOR_OUTAGE):
        return Rollup(Indicator.MAJOR, PARTIAL_OUTAGE)
    if every(ComponentStatus.PARTIAL_OUTAGE):
        return Rollup(Indicator.MAJOR, PARTIAL_OUTAGE)
    if some(ComponentStatus.PARTIAL_OUTAGE):
        return Rollup(Indicator.MINOR, MINOR_OUTAGE)
    if every(ComponentStatus.DEGRADED_PERFORMANCE):
        return Rollup(Indicator.MINOR, DEGRADED)
    if some(ComponentStatus.DEGRADED_PERFORMANCE):
        return Rollup(Indicator.MINOR, PARTIALLY_DEGRADED)
    if some(ComponentStatus.UNDER_MAINTENANCE):
        return Rollup(Indicator.MAINTENANCE, UNDER_MAINTENANCE)
    return Rollup(Indicator.NONE, OPERATIONAL)


def rollup(
    components: Iterable[ComponentStatus], unresolved_impacts: Iterable[Impact] = ()
) -> Rollup:
    """The page's indicator from its leaf components' statuses.

    With no component, the worst impact of an unresolved incident decides (None if there is none).
    """
    statuses = list(components)
    if not statuses:
        impacts = list(unresolved_impacts)
        worst_impact = max(impacts, key=list(Impact).index, default=Impact.NONE)
        return _BY_IMPACT[worst_impact]
    if len(statuses) == 1:
        return _SINGLE[statuses[0]]
    return _many(statuses)
