"""Component status: the five values, their order, and the worst-of rule.

The rule is docs/behaviour.md's "Component status".
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class ComponentStatus(StrEnum):
    """What a status page shows for a component, from best to worst."""

    OPERATIONAL = "Operational"
    UNDER_MAINTENANCE = "UnderMaintenance"
    DEGRADED_PERFORMANCE = "DegradedPerformance"
    PARTIAL_OUTAGE = "PartialOutage"
    MAJOR_OUTAGE = "MajorOutage"


# An outage outranks maintenance: users would rather see the outage.
SEVERITY_ORDER: tuple[ComponentStatus, ...] = tuple(ComponentStatus)


def worst(inputs: Iterable[ComponentStatus]) -> ComponentStatus:
    """Return the worst of the inputs; no input means operational."""
    return max(inputs, key=SEVERITY_ORDER.index, default=ComponentStatus.OPERATIONAL)


def effective_status(
    manual: ComponentStatus | None,
    under_maintenance: bool,
    incident_statuses: Iterable[ComponentStatus],
) -> ComponentStatus:
    """A component's status: the worst of its manual status, maintenance and open incidents."""
    inputs = list(incident_statuses)
    if manual is not None:
        inputs.append(manual)
    if under_maintenance:
        inputs.append(ComponentStatus.UNDER_MAINTENANCE)
    return worst(inputs)
