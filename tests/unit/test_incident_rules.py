"""Incident phase, timeline stamping, resolve and reopen, effects on components."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statuspage_operator.domain.incidents import (
    Impact,
    IncidentPhase,
    Stamped,
    Update,
    component_effects,
    derive,
)
from statuspage_operator.domain.status import ComponentStatus

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
INV, IDE, MON, RES = (
    IncidentPhase.INVESTIGATING,
    IncidentPhase.IDENTIFIED,
    IncidentPhase.MONITORING,
    IncidentPhase.RESOLVED,
)


def update(status: IncidentPhase, message: str = "m", at: datetime | None = None) -> Update:
    """An update as a user writes it."""
    return Update(status, message, at)


def test_no_updates_is_investigating() -> None:
    """An incident with no updates is Investigating, with an empty timeline."""
    state = derive([], [], NOW)
    assert (state.phase, state.timeline, state.resolved_at) == (INV, (), None)


def test_phase_is_the_latest_update() -> None:
    """The phase is the status of the last update."""
    assert derive([update(INV), update(IDE), update(MON)], [], NOW).phase is MON


def test_new_updates_are_stamped_now_unless_backfilled() -> None:
    """An update without `at` gets now; one with `at` keeps the user's time."""
    earlier = NOW - timedelta(hours=2)
    state = derive([update(INV, at=earlier), update(IDE)], [], NOW)
    assert [e.at for e in state.timeline] == [earlier, NOW]


def test_stamped_times_never_change() -> None:
    """Entries already in the timeline keep their time when later updates arrive."""
    first = derive([update(INV)], [], NOW)
    later = NOW + timedelta(minutes=30)
    second = derive([update(INV), update(MON)], first.timeline, later)
    assert [e.at for e in second.timeline] == [NOW, later]


def test_resolved_at_is_when_it_became_resolved() -> None:
    """resolvedAt is the time of the first update of the trailing Resolved run."""
    t1, t2 = NOW - timedelta(minutes=10), NOW - timedelta(minutes=5)
    state = derive([update(INV, at=t1), update(RES, at=t2), update(RES, "again")], [], NOW)
    assert state.resolved
    assert state.resolved_at == t2


def test_reopening_clears_resolved_at() -> None:
    """A non-Resolved update after Resolved reopens the incident."""
    state = derive([update(INV), update(RES), update(IDE, "back")], [], NOW)
    assert state.phase is IDE
    assert state.resolved_at is None


def test_changed_entry_is_restamped() -> None:
    """A timeline entry that does not match the update at its position is stamped anew."""
    old = (Stamped(INV, "old text", NOW - timedelta(hours=1)),)
    state = derive([update(INV, "new text")], old, NOW)
    assert state.timeline[0].at == NOW


@pytest.mark.parametrize(
    ("impact", "expected"),
    [
        pytest.param(Impact.NONE, {}, id="none-changes-nothing"),
        pytest.param(
            Impact.MINOR,
            {"api": ComponentStatus.DEGRADED_PERFORMANCE, "db": ComponentStatus.MAJOR_OUTAGE},
            id="minor-defaults-degraded",
        ),
        pytest.param(
            Impact.CRITICAL,
            {"api": ComponentStatus.MAJOR_OUTAGE, "db": ComponentStatus.MAJOR_OUTAGE},
            id="critical-defaults-major",
        ),
    ],
)
def test_component_effects(impact: Impact, expected: dict[str, ComponentStatus]) -> None:
    """Each listed component gets its own status, else the one implied by the impact."""
    listed = [("api", None), ("db", ComponentStatus.MAJOR_OUTAGE)]
    assert component_effects(impact, listed) == expected
