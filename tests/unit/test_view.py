"""The operator's memory: which windows and incidents it holds, and what components show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.api.notices import event_name, make_notices, parse_notices, render_notices
from statuspage_operator.api.specs import ComponentSpec, IncidentSpec, parse
from statuspage_operator.control.incidents import open_and_affecting
from statuspage_operator.control.view import (
    ComponentEntry,
    IncidentEntry,
    PageEntry,
    Recorded,
    View,
)
from statuspage_operator.control.windows import Windows, settled_for_good

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NS = "ns"


def stamp(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def window_body(name: str, start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    status = extra.pop("status", {})
    return {
        "metadata": {"namespace": NS, "name": name, "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "page": "p",
            "title": name,
            "components": ["api"],
            "startTime": stamp(start),
            "endTime": stamp(end),
            **extra,
        },
        "status": status,
    }


def make_view() -> View:
    view = View()
    view.set_page((NS, "p"), PageEntry("uid-p", 1, None))
    for name in ("api", "db"):
        spec = parse(ComponentSpec, {"page": "p"})
        view.set_component((NS, name), ComponentEntry(f"uid-{name}", 1, spec, None))
    return view


def make_windows(view: View) -> Windows:
    return Windows(view, None, None, lambda: NOW)  # type: ignore[arg-type]


def test_window_to_come_is_held_and_a_past_one_is_not() -> None:
    """Only windows that can still change are held in memory."""
    view = make_view()
    windows = make_windows(view)
    soon = window_body("soon", NOW + timedelta(minutes=5), NOW + timedelta(hours=1))
    old = window_body("old", NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    change = windows.observe("ADDED", soon, NOW)
    assert change is not None
    assert change.components == {"api"}
    assert windows.observe("ADDED", old, NOW) is None
    assert windows.is_live(soon)
    assert not windows.is_live(old)


def test_cancelled_window_is_not_held() -> None:
    """A cancelled window can change nothing: no daemon, no finalizer."""
    windows = make_windows(make_view())
    body = window_body("c", NOW + timedelta(minutes=5), NOW + timedelta(hours=1), cancelled=True)
    windows.observe("ADDED", body, NOW)
    assert not windows.is_live(body)


def test_window_leaves_when_its_end_passes() -> None:
    """The next event after the end drops the window and names its components."""
    view = make_view()
    windows = make_windows(view)
    body = window_body("w", NOW - timedelta(minutes=5), NOW + timedelta(minutes=5))
    windows.observe("ADDED", body, NOW)
    assert view.component_view(NS, "api", NOW).status == "UnderMaintenance"  # type: ignore[union-attr]
    change = windows.observe("MODIFIED", body, NOW + timedelta(minutes=6))
    assert change is not None
    assert change.components == {"api"}
    assert not windows.is_live(body)


def test_settled_window_is_not_parsed_again() -> None:
    """Completed for the current generation, without a Stalled condition: settled for good."""
    body = window_body("w", NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    body["status"] = {"phase": "Completed", "observedGeneration": 1}
    assert settled_for_good(body)
    body["metadata"]["generation"] = 2
    assert not settled_for_good(body)


def test_incident_outranks_maintenance() -> None:
    """A major incident's PartialOutage beats UnderMaintenance; both are named."""
    view = make_view()
    make_windows(view).observe(
        "ADDED", window_body("w", NOW - timedelta(minutes=5), NOW + timedelta(minutes=5)), NOW
    )
    spec = parse(
        IncidentSpec,
        {"page": "p", "title": "t", "impact": "Major", "components": [{"name": "api"}]},
    )
    view.set_incident((NS, "i"), IncidentEntry.of("uid-i", 1, spec))
    shown = view.component_view(NS, "api", NOW)
    assert shown is not None
    assert (shown.status, shown.windows, shown.incidents) == ("PartialOutage", ("w",), ("i",))
    page = view.page_view(NS, "p", NOW)
    assert (page.components, page.unresolved_incidents, page.active_maintenances) == (2, 1, 1)
    assert page.rollup.indicator == "Minor"


def test_missing_component_and_page_are_named() -> None:
    """References name what is missing, and heal when it appears."""
    view = make_view()
    verdict = view.references(Kind.WINDOW, NS, "p", ("api", "cache"))
    assert (verdict.ready, verdict.reason) == (False, "ComponentNotFound")
    assert "cache" in verdict.message
    assert view.references(Kind.WINDOW, NS, "nope", ()).reason == "PageNotFound"
    spec = parse(ComponentSpec, {"page": "p"})
    view.set_component((NS, "cache"), ComponentEntry("uid-cache", 1, spec, None))
    assert view.references(Kind.WINDOW, NS, "p", ("api", "cache")).ready


def test_notices_round_trip_with_stable_event_names() -> None:
    """The same notice always gets the same Event name; status keeps it exactly."""
    notices = make_notices("w", "uid-w", NOW, [("MaintenanceStarted", "started", False)])
    assert notices[0].event == event_name("w", "uid-w", "MaintenanceStarted", NOW, 0)
    assert notices[0].event != event_name("w", "uid-w", "MaintenanceStarted", NOW, 1)
    assert parse_notices({"notices": render_notices(notices)}) == notices


def test_only_open_affecting_incidents_need_the_finalizer() -> None:
    """Resolved, impact None, or no components: deletion has nothing to restore."""
    base = {"components": [{"name": "api"}], "impact": "Minor", "updates": []}
    assert open_and_affecting(base)
    assert not open_and_affecting({**base, "impact": "None"})
    assert not open_and_affecting({**base, "components": []})
    assert not open_and_affecting({**base, "updates": [{"status": "Resolved", "message": "x"}]})


def test_a_late_event_does_not_undo_our_write() -> None:
    """A status seen in an older event than our write's response is ignored."""
    recorded = Recorded()
    recorded.update(
        {"metadata": {"resourceVersion": "10"}, "status": {"status": "UnderMaintenance"}}
    )
    recorded.update({"metadata": {"resourceVersion": "9"}, "status": {"status": "Operational"}})
    assert recorded.status == {"status": "UnderMaintenance"}


@pytest.mark.parametrize(
    ("start", "end", "status", "behind"),
    [
        pytest.param(-5, 5, {"phase": "Scheduled"}, True, id="started-while-down"),
        pytest.param(-50, -5, {"phase": "InProgress"}, True, id="ended-while-down"),
        pytest.param(-50, -5, {}, False, id="never-ran"),
        pytest.param(-50, -5, {"phase": "Scheduled"}, False, id="whole-occurrence-passed"),
        pytest.param(5, 50, {"phase": "Scheduled"}, False, id="still-to-come"),
        pytest.param(-50, -5, {"phase": "Completed", "observedGeneration": 1}, False, id="settled"),
    ],
)
def test_windows_to_catch_up_after_downtime(
    start: int, end: int, status: dict[str, Any], behind: bool
) -> None:
    """Only windows that are or were in progress are moved straight from the start-up list."""
    body = window_body("w", NOW + timedelta(minutes=start), NOW + timedelta(minutes=end))
    body["status"] = status
    assert make_windows(make_view()).behind(body, NOW) is behind


def test_an_edit_the_page_does_not_show_touches_nothing() -> None:
    """A new description or incidentRef derives no component or page again; new components do."""
    view = make_view()
    windows = make_windows(view)
    body = window_body("w", NOW + timedelta(minutes=5), NOW + timedelta(hours=1))
    assert windows.observe("ADDED", body, NOW) is not None
    described = window_body(
        "w", NOW + timedelta(minutes=5), NOW + timedelta(hours=1), description="Longer."
    )
    described["metadata"]["generation"] = 2
    change = windows.observe("MODIFIED", described, NOW)
    assert change is not None  # a new generation: the daemon is woken to record it
    assert (change.pages, change.components) == (set(), set())
    moved = window_body("w", NOW + timedelta(minutes=5), NOW + timedelta(hours=2))
    moved["metadata"]["generation"] = 3
    change = windows.observe("MODIFIED", moved, NOW)
    assert change is not None
    assert (change.pages, change.components) == ({"p"}, {"api"})

    spec = {"page": "p", "title": "t", "impact": "Major", "components": [{"name": "api"}]}
    view.set_incident((NS, "i"), IncidentEntry.of("uid-i", 1, parse(IncidentSpec, spec)))
    linked = parse(IncidentSpec, {**spec, "incidentRef": "INC-7"})
    change = view.set_incident((NS, "i"), IncidentEntry.of("uid-i", 2, linked))
    assert (change.pages, change.components) == (set(), set())
    wider = parse(IncidentSpec, {**spec, "components": [{"name": "api"}, {"name": "db"}]})
    change = view.set_incident((NS, "i"), IncidentEntry.of("uid-i", 3, wider))
    assert (change.pages, change.components) == ({"p"}, {"api", "db"})


def test_a_page_reads_only_its_own_windows_and_incidents() -> None:
    """The rollup of a page counts what is on it, found by the page index, and follows moves."""
    view = make_view()
    view.set_page((NS, "q"), PageEntry("uid-q", 1, None))
    windows = make_windows(view)
    running = window_body("w", NOW - timedelta(minutes=5), NOW + timedelta(minutes=5))
    windows.observe("ADDED", running, NOW)
    elsewhere = window_body("v", NOW - timedelta(minutes=5), NOW + timedelta(minutes=5))
    elsewhere["spec"]["page"] = "q"
    windows.observe("ADDED", elsewhere, NOW)
    assert view.page_view(NS, "p", NOW).active_maintenances == 1
    assert set(view.page_view(NS, "q", NOW).windows) == {"v"}
    moved = dict(running, spec={**running["spec"], "page": "q"})
    moved["metadata"] = {**running["metadata"], "generation": 2}
    windows.observe("MODIFIED", moved, NOW)
    assert view.page_view(NS, "p", NOW).active_maintenances == 0
    assert set(view.page_view(NS, "q", NOW).windows) == {"v", "w"}
    view.set_window((NS, "w"), None)
    assert set(view.page_view(NS, "q", NOW).windows) == {"v"}
