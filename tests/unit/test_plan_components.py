"""plan_component, plan_page and plan_heal: status from the view's derivation, and conditions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statuspage_operator.api.conditions import Reason, Verdict
from statuspage_operator.api.specs import ComponentSpec, parse
from statuspage_operator.api.times import format_time
from statuspage_operator.domain.alerting import QUIET, AlertsAsk
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.page import SetAside, Source
from statuspage_operator.domain.rollup import rollup
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.plans.components import ComponentFacts, ComponentPlan, plan_component
from statuspage_operator.plans.conditions import plan_heal
from statuspage_operator.plans.pages import PageFacts, plan_page
from unit.fakes import merge_patch

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
OPERATIONAL = ComponentStatus.OPERATIONAL
MAINTENANCE = ComponentStatus.UNDER_MAINTENANCE


@dataclass(frozen=True)
class Derived:
    """What the view derives for a component."""

    status: ComponentStatus
    windows: tuple[str, ...] = ()
    incidents: tuple[str, ...] = ()
    source: Source | None = None
    watched: bool = False
    alerts: AlertsAsk = QUIET
    set_aside: SetAside | None = None


@dataclass(frozen=True)
class Rolled:
    """What the view rolls up for a page."""

    rollup: Any
    components: int
    unresolved_incidents: int
    active_maintenances: int


def component(
    derived: Derived, status: dict[str, Any] | None = None, *, page_found: bool = True
) -> ComponentFacts:
    spec = parse(ComponentSpec, {"page": "p"})
    return ComponentFacts("ns", "api", "uid-api", 1, status or {}, spec, derived, page_found)


def written(plan: ComponentPlan, before: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = merge_patch(before or {}, plan.status)
    return status


def test_the_first_status_is_written_without_an_event() -> None:
    """A new component: Operational, changed (the page follows), nothing to announce."""
    plan = plan_component(component(Derived(OPERATIONAL)), NOW)
    assert plan.status["status"] == "Operational"
    assert plan.changed
    assert plan.notices == ()
    assert plan.status["lastStatusChangeTime"] == format_time(NOW)


def test_a_change_is_announced_and_stamped() -> None:
    """Operational -> UnderMaintenance: one Event, the time and history move, the page follows."""
    status = written(plan_component(component(Derived(OPERATIONAL)), NOW))
    plan = plan_component(component(Derived(MAINTENANCE, windows=("w",)), status), LATER)
    [notice] = plan.notices
    assert (notice.reason, notice.message) == (
        "ComponentStatusChanged",
        "Operational -> UnderMaintenance",
    )
    assert plan.changed
    assert plan.status["lastStatusChangeTime"] == format_time(LATER)
    assert plan.status["activeMaintenanceWindows"] == ["w"]
    assert plan.status["history"] != status.get("history")


def test_no_change_keeps_the_time_and_says_nothing() -> None:
    """The same derived status later: no Event, no page write, the change time kept."""
    status = written(plan_component(component(Derived(OPERATIONAL)), NOW))
    plan = plan_component(component(Derived(OPERATIONAL), status), LATER)
    assert (plan.changed, plan.notices) == (False, ())
    assert written(plan, status) == status


@pytest.mark.parametrize(
    ("page_found", "reason", "warned"),
    [
        pytest.param(True, "Reconciled", [], id="page-there"),
        pytest.param(False, "PageNotFound", ["PageNotFound"], id="page-missing"),
    ],
)
def test_the_page_is_a_reference(page_found: bool, reason: str, warned: list[str]) -> None:
    """A component on a missing page is not Ready, with a Warning saying what to do."""
    plan = plan_component(component(Derived(OPERATIONAL), page_found=page_found), NOW)
    assert plan.status["conditions"][0]["reason"] == reason
    assert [n.reason for n in plan.notices] == warned


def test_an_invalid_component_is_stalled() -> None:
    """No status derived: only the conditions, Stalled, one Warning."""
    error = InvalidSpecError("spec.manualStatus", "not a status")
    plan = plan_component(ComponentFacts("ns", "api", "uid-api", 1, {}, error), NOW)
    assert set(plan.status) == {"conditions", "observedGeneration"}
    assert [n.reason for n in plan.notices] == ["InvalidSpec"]
    assert not plan.changed


def test_a_page_shows_its_rollup_and_counts() -> None:
    """Indicator, description and counts come from the view's rollup."""
    rolled = Rolled(rollup([MAINTENANCE, OPERATIONAL]), 2, 0, 1)
    plan = plan_page(PageFacts("p", "uid-p", 3, {}, rolled=rolled), NOW)
    assert plan.status["indicator"] == str(rolled.rollup.indicator)
    assert (plan.status["components"], plan.status["activeMaintenances"]) == (2, 1)
    assert plan.status["observedGeneration"] == 3
    assert plan.notices == ()


def test_an_invalid_page_is_stalled() -> None:
    """A page with an unknown time zone: Stalled and a Warning."""
    error = InvalidSpecError("spec.timeZone", "unknown time zone 'Mars/Base'")
    plan = plan_page(PageFacts("p", "uid-p", 1, {}, error), NOW)
    assert plan.status["conditions"][1]["type"] == "Stalled"
    assert [n.reason for n in plan.notices] == ["InvalidSpec"]


MISSING = Verdict(False, Reason.PAGE_NOT_FOUND, "page p not found in namespace ns")


def test_heal_writes_ready_when_the_page_appears() -> None:
    """Waiting with PageNotFound, the page is there now: Ready True from now."""
    waiting = merge_patch({}, plan_heal({}, MISSING, 1, NOW))
    healed = plan_heal(waiting, Verdict.ok(), 1, LATER)
    assert healed is not None
    [ready] = healed["conditions"]
    assert (ready["status"], ready["reason"]) == ("True", "Reconciled")
    assert ready["lastTransitionTime"] == format_time(LATER)


def test_heal_writes_nothing_when_the_condition_already_says_so() -> None:
    """Level-triggered: the same verdict again is no write."""
    waiting = merge_patch({}, plan_heal({}, MISSING, 1, NOW))
    assert plan_heal(waiting, MISSING, 1, LATER) is None


def test_heal_keeps_the_transition_time_when_only_the_message_changes() -> None:
    """Still not Ready, another reason: lastTransitionTime is kept (the status did not change)."""
    waiting = merge_patch({}, plan_heal({}, MISSING, 1, NOW))
    other = Verdict(False, Reason.COMPONENT_NOT_FOUND, "component db not found on page p")
    healed = plan_heal(waiting, other, 1, LATER)
    assert healed is not None
    assert healed["conditions"][0]["lastTransitionTime"] == format_time(NOW)
