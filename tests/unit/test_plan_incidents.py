"""plan_incident: the timeline stamped once, the phase, and each update announced once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuspage_operator.api.conditions import Reason, Verdict
from statuspage_operator.api.specs import IncidentSpec, parse
from statuspage_operator.api.times import format_time
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.notifications import INCIDENT_HORIZON
from statuspage_operator.plans.conditions import StatusPlan
from statuspage_operator.plans.incidents import IncidentFacts, plan_incident
from unit.fakes import merge_patch

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=20)
EARLIER = NOW - timedelta(hours=1)


def update(status: str, message: str, at: datetime | None = None) -> dict[str, str]:
    entry = {"status": status, "message": message}
    if at is not None:
        entry["at"] = format_time(at)
    return entry


def make_facts(
    updates: list[dict[str, str]],
    status: dict[str, Any] | None = None,
    verdict: Verdict | None = None,
) -> IncidentFacts:
    spec = parse(
        IncidentSpec,
        {
            "page": "p",
            "title": "API errors",
            "impact": "Major",
            "components": [{"name": "api"}],
            "updates": updates,
        },
    )
    return IncidentFacts("i", "uid-i", 1, status or {}, spec, verdict or Verdict.ok())


def written(plan: StatusPlan, before: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = merge_patch(before or {}, plan.status)
    return status


def test_updates_are_stamped_with_their_own_time_else_now() -> None:
    """A backfilled update keeps its `at`; one without is stamped when first seen."""
    plan = plan_incident(
        make_facts([update("Investigating", "looking", EARLIER), update("Identified", "found")]),
        NOW,
    )
    assert [e["at"] for e in plan.status["timeline"]] == [format_time(EARLIER), format_time(NOW)]
    assert plan.status["phase"] == "Identified"
    assert plan.status["lastUpdateTime"] == format_time(NOW)


def test_a_stamp_never_moves() -> None:
    """Planned again later, the updates already stamped keep their time."""
    updates = [update("Investigating", "looking")]
    status = written(plan_incident(make_facts(updates), NOW))
    again = plan_incident(make_facts(updates, status), LATER)
    assert again.status["timeline"] == status["timeline"]
    assert again.notices == ()


def test_each_new_update_is_announced_once_by_its_index() -> None:
    """The third update after two recorded: one IncidentUpdated, about index 2."""
    updates = [update("Investigating", "looking"), update("Identified", "found")]
    status = written(plan_incident(make_facts(updates), NOW))
    updates.append(update("Monitoring", "fixed"))
    plan = plan_incident(make_facts(updates, status), LATER)
    [notice] = plan.notices
    assert notice.reason == "IncidentUpdated"
    assert notice.message == f"Monitoring at {format_time(LATER)}: fixed"
    assert (notice.subject, notice.until) == ("2", LATER + INCIDENT_HORIZON)
    assert [e["at"] for e in plan.status["timeline"]][:2] == [format_time(NOW)] * 2


@pytest.mark.parametrize(
    ("updates", "expected"),
    [
        pytest.param([], [], id="no-updates"),
        pytest.param([update("Investigating", "a")], ["IncidentUpdated"], id="first"),
        pytest.param(
            [update("Investigating", "a"), update("Resolved", "b")],
            ["IncidentUpdated", "IncidentUpdated", "IncidentResolved"],
            id="opened-and-resolved",
        ),
    ],
)
def test_notices_of_a_new_incident(updates: list[dict[str, str]], expected: list[str]) -> None:
    """Every update is news; resolving adds the IncidentResolved Event (not subscriber news)."""
    plan = plan_incident(make_facts(updates), NOW)
    assert [n.reason for n in plan.notices] == expected
    assert [n.subject for n in plan.notices if n.reason == "IncidentUpdated"] == [
        str(i) for i in range(len(updates))
    ]


def test_resolving_stamps_resolved_at_once() -> None:
    """resolvedAt is the Resolved update's time; planned again, no second IncidentResolved."""
    updates = [update("Investigating", "a")]
    status = written(plan_incident(make_facts(updates), NOW))
    updates.append(update("Resolved", "ok"))
    plan = plan_incident(make_facts(updates, status), LATER)
    assert plan.status["resolvedAt"] == format_time(LATER)
    assert [n.reason for n in plan.notices] == ["IncidentUpdated", "IncidentResolved"]
    again = plan_incident(make_facts(updates, written(plan, status)), LATER + timedelta(hours=1))
    assert again.notices == ()


def test_with_no_updates_it_is_investigating() -> None:
    """An incident opened without updates is Investigating, with an empty timeline."""
    plan = plan_incident(make_facts([]), NOW)
    assert (plan.status["phase"], plan.status["timeline"]) == ("Investigating", [])


def test_a_missing_component_is_warned_of_once() -> None:
    """ComponentNotFound: Ready False and one Warning, not repeated."""
    verdict = Verdict(False, Reason.COMPONENT_NOT_FOUND, "component api not found on page p")
    plan = plan_incident(make_facts([], verdict=verdict), NOW)
    assert [(n.reason, n.warning) for n in plan.notices] == [("ComponentNotFound", True)]
    again = plan_incident(make_facts([], written(plan), verdict), LATER)
    assert again.notices == ()


def test_an_invalid_spec_is_stalled() -> None:
    """Stalled with the field path, no timeline written."""
    error = InvalidSpecError("spec.updates[0].status", "not a phase")
    plan = plan_incident(IncidentFacts("i", "uid-i", 1, {}, error), NOW)
    assert set(plan.status) == {"conditions", "observedGeneration"}
    assert plan.status["conditions"][1]["type"] == "Stalled"
    assert [n.reason for n in plan.notices] == ["InvalidSpec"]


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.booleans(), st.sampled_from(["Investigating", "Identified", "Monitoring"])),
        max_size=10,
    )
)
def test_every_update_is_announced_once_and_keeps_its_stamp(
    steps: list[tuple[bool, str]],
) -> None:
    """Any mix of new updates and re-plans a minute apart: one notice per index, stamps fixed."""
    updates: list[dict[str, str]] = []
    status: dict[str, Any] = {}
    subjects: list[str] = []
    stamps: dict[int, str] = {}
    for minute, (add, phase) in enumerate(steps):
        if add:
            updates.append(update(phase, f"update {len(updates)}"))
        plan = plan_incident(make_facts(list(updates), status), NOW + timedelta(minutes=minute))
        status = written(plan, status)
        subjects += [n.subject for n in plan.notices if n.reason == "IncidentUpdated"]
        for index, entry in enumerate(status["timeline"]):
            assert stamps.setdefault(index, entry["at"]) == entry["at"]
    assert subjects == [str(i) for i in range(len(updates))]
