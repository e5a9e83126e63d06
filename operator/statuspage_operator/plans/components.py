"""A component's plan: the status its view derives, with the Event of a change.

The derivation itself (the worst of its manual status, the windows in progress, the open
incidents that list it and its alerts) is the view's; the plan renders it with what decided it
and the AlertsFiring condition (api/alert_status.py), keeps `lastStatusChangeTime` and the uptime
history moving only when the status does, and says whether the page must follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from statuspage_operator.api.alert_status import Alerted, alert_fields
from statuspage_operator.api.conditions import Reason
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.api.specs import ComponentSpec
from statuspage_operator.api.status import Status, component_status
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.plans.conditions import Item, page_verdict, plan_invalid, warnings


class Derived(Alerted, Protocol):
    """A component's derived status and what causes it (the view's component view)."""

    @property
    def status(self) -> ComponentStatus: ...

    @property
    def windows(self) -> tuple[str, ...]: ...

    @property
    def incidents(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class ComponentFacts:
    """What a component's plan is made from.

    `derived` is None only when the spec is invalid (the view derives nothing for it).
    """

    namespace: str
    name: str
    uid: str
    generation: int
    current: Mapping[str, Any]
    spec: ComponentSpec | InvalidSpecError
    derived: Derived | None = None
    page_found: bool = True


@dataclass(frozen=True, slots=True)
class ComponentPlan:
    """What to write for a component; `changed`: its status moved, so its page follows."""

    status: Status
    notices: tuple[Notice, ...]
    changed: bool = False


def plan_component(facts: ComponentFacts, now: datetime) -> ComponentPlan:
    """The component's status at `now`, and a ComponentStatusChanged Event when it moves."""
    current, spec = facts.current, facts.spec
    if isinstance(spec, InvalidSpecError) or facts.derived is None:
        error = spec if isinstance(spec, InvalidSpecError) else InvalidSpecError("spec", "missing")
        invalid = plan_invalid(facts.name, facts.uid, current, error, facts.generation, now)
        return ComponentPlan(invalid.status, invalid.notices)
    derived = facts.derived
    verdict = page_verdict(facts.namespace, spec.page, facts.page_found)
    old = current.get("status")
    existing = current.get("conditions")
    desired = component_status(
        derived.status,
        derived.windows,
        derived.incidents,
        current,
        verdict,
        facts.generation,
        now,
        alert_fields(derived, spec.page, facts.generation, now, existing),
    )
    items: list[Item] = []
    if old is not None and old != desired["status"]:
        items.append((Reason.COMPONENT_STATUS_CHANGED, f"{old} -> {desired['status']}", False))
    items += warnings(current, verdict)
    notices = tuple(make_notices(facts.name, facts.uid, now, items))
    return ComponentPlan(desired, notices, changed=old != desired["status"])
