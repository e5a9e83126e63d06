"""Overlaps: live neighbours on a shared component at the same time, listed and told once."""

from __future__ import annotations

from datetime import timedelta

from statuspage_operator.api.specs import WindowSpec, parse, window_of
from statuspage_operator.api.times import format_time
from statuspage_operator.plans.overlaps import Neighbour, overlap_warning
from statuspage_operator.plans.windows import plan_window
from unit.plan_builders import (
    END,
    NOW,
    START,
    make_facts,
    neighbour,
    reasons,
    window_spec,
    written,
)


def test_overlaps_are_listed_when_the_spec_is_applied_with_one_warning() -> None:
    """A new spec looks at every live neighbour: the ones sharing a component at the same time."""
    neighbours = (
        neighbour("first", START - timedelta(minutes=30), START + timedelta(minutes=30)),
        neighbour("apart", END, END + timedelta(hours=1)),
        neighbour("elsewhere", START, END, components=("db",)),
        neighbour("other-page", START, END, page="q"),
    )
    plan = plan_window(make_facts({}, neighbours=neighbours), NOW)
    assert plan.status["overlaps"] == [
        {
            "window": "first",
            "components": ["api"],
            "start": format_time(START),
            "end": format_time(START + timedelta(minutes=30)),
        }
    ]
    [warning] = plan.notices
    assert (warning.reason, warning.warning) == ("MaintenanceOverlaps", True)
    assert "maintenancewindow/first on api" in warning.message


def test_at_an_edge_only_the_listed_overlaps_are_followed() -> None:
    """Same generation: a neighbour not listed is not added, a listed one that ended drops out."""
    listed = neighbour("first", START - timedelta(minutes=30), START + timedelta(minutes=30))
    newcomer = neighbour("newcomer", START, END)
    status = written(plan_window(make_facts({}, neighbours=(listed,)), NOW))
    plan = plan_window(make_facts(status, neighbours=(listed, newcomer)), START)
    assert [o["window"] for o in plan.status["overlaps"]] == ["first"]
    assert "MaintenanceOverlaps" not in reasons(plan)
    later = plan_window(
        make_facts(written(plan, status), neighbours=(listed, newcomer)),
        START + timedelta(minutes=30),
    )
    assert later.status["overlaps"] is None


def test_a_spec_edit_looks_for_overlaps_again_and_warns_only_of_new_ones() -> None:
    """A new generation sees the newcomer; the Warning names it and not the one already known."""
    listed = neighbour("first", START - timedelta(minutes=30), START + timedelta(minutes=30))
    newcomer = neighbour("newcomer", START, END)
    status = written(plan_window(make_facts({}, neighbours=(listed,)), NOW))
    plan = plan_window(make_facts(status, generation=2, neighbours=(listed, newcomer)), NOW)
    assert [o["window"] for o in plan.status["overlaps"]] == ["first", "newcomer"]
    [warning] = plan.notices
    assert "newcomer" in warning.message
    assert "maintenancewindow/first" not in warning.message


def test_ends_touching_is_no_overlap() -> None:
    """Half-open occurrences: one ending as the other starts share no instant."""
    plan = plan_window(make_facts({}, neighbours=(neighbour("before", NOW, START),)), NOW)
    assert plan.status["overlaps"] is None
    assert plan.notices == ()


def test_a_weekly_series_overlaps_on_the_occurrence_that_meets_the_window() -> None:
    """The overlap is found weeks on, on the series' occurrence that meets the one-off window."""
    weekly = parse(
        WindowSpec,
        window_spec(
            NOW - timedelta(days=7),
            NOW - timedelta(days=7) + timedelta(hours=2),
            recurrence={"rrule": "FREQ=WEEKLY"},
        ),
    )
    series = Neighbour("weekly", "p", ("api",), window_of(weekly))
    later = NOW + timedelta(days=21, hours=1)
    facts = make_facts({}, neighbours=(series,), start=later, end=later + timedelta(hours=4))
    [found] = plan_window(facts, NOW).status["overlaps"]
    assert (found["start"], found["end"]) == (
        format_time(later),
        format_time(NOW + timedelta(days=21, hours=2)),
    )


def test_the_overlap_note_keeps_three_and_the_warning_counts_the_others() -> None:
    """Five neighbours at once: the earliest three are listed, the Warning says two more."""
    neighbours = tuple(neighbour(f"w{i}", START + timedelta(minutes=i), END) for i in range(5))
    plan = plan_window(make_facts({}, neighbours=neighbours), NOW)
    assert [o["window"] for o in plan.status["overlaps"]] == ["w0", "w1", "w2"]
    [warning] = plan.notices
    assert "maintenancewindow/w2 on api" in warning.message
    assert "maintenancewindow/w3" not in warning.message
    assert "(and 2 more)" in warning.message


def test_no_overlap_warning_for_windows_already_listed() -> None:
    """The Warning tells only what is new to the recorded status."""
    spec = parse(WindowSpec, window_spec())
    listed = [{"window": "a", "components": ["api"], "start": "x", "end": "y"}]
    assert overlap_warning(spec, {"overlaps": listed}, listed, 1) == []
