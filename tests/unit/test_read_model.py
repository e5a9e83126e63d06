"""The tolerant read model (api/objects.py): every object reads; bad fields are None."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from statuspage_operator.api.objects import (
    ComponentObject,
    IncidentObject,
    PageObject,
    WindowObject,
    derive_page,
)
from statuspage_operator.domain.incidents import Impact, IncidentPhase
from statuspage_operator.domain.maintenance import WindowPhase
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.status import ComponentStatus

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "metadata",
        "spec",
        "status",
        "name",
        "page",
        "components",
        "updates",
        "timeline",
        "impact",
        "status",
        "position",
        "startTime",
        "history",
        "currentOccurrence",
    ]
)
# Objects shaped like ours, with any value anywhere.
OBJECTS = st.recursive(
    JSON, lambda children: st.dictionaries(FIELDS, children, max_size=4), max_leaves=20
)


@settings(max_examples=100, deadline=None)
@given(OBJECTS)
def test_any_object_reads(obj: Any) -> None:
    """Whatever the API server returns, every kind reads and the page derives without error."""
    raw = obj if isinstance(obj, dict) else {"spec": obj}
    PageObject.read(raw)
    component, window, incident = (
        ComponentObject.read(raw),
        WindowObject.read(raw),
        IncidentObject.read(raw),
    )
    derive_page([component], [window], [incident], NOW)


def test_missing_fields_read_as_none() -> None:
    """An object without spec or status: names fall back, the rest is None or the default."""
    bare = {"metadata": {"name": "x"}}
    page = PageObject.read(bare)
    assert (page.title, page.time_zone, page.indicator) == ("x", "UTC", None)
    component = ComponentObject.read(bare)
    assert (component.display_name, component.status, component.manual) == ("x", None, None)
    incident = IncidentObject.read(bare)
    assert (incident.impact, incident.phase, incident.resolved) == (
        Impact.MINOR,
        IncidentPhase.INVESTIGATING,
        False,
    )
    window = WindowObject.read(bare)
    assert (window.window, window.input(), window.auto_update_status) == (None, None, True)


def test_wrong_values_read_as_none() -> None:
    """Values of the wrong type or outside the enums are None; the object still reads."""
    component = ComponentObject.read(
        {
            "metadata": {"name": "api", "creationTimestamp": "yesterday"},
            "spec": {"page": 3, "position": True, "manualStatus": "Broken", "group": ""},
            "status": {"status": "Fine", "history": "none", "lastStatusChangeTime": 5},
        }
    )
    assert component.page is None
    assert (component.position, component.manual, component.group) == (None, None, None)
    assert (component.status, component.history, component.last_change) == (None, (), None)
    assert component.meta.created is None
    page = PageObject.read({"metadata": {"name": "p"}, "spec": {"timeZone": "Mars/Olympus"}})
    assert (page.time_zone, page.zone) == ("Mars/Olympus", None)


def test_incident_reads_as_the_operator_derives() -> None:
    """Phase from the spec's latest readable update; a spec the operator cannot use is no input."""
    incident = IncidentObject.read(
        {
            "metadata": {"name": "i"},
            "spec": {
                "impact": "Major",
                "components": [{"name": "api", "status": "MajorOutage"}, {"name": "db"}, {}],
                "updates": [
                    {"status": "Investigating", "message": "a"},
                    {"status": "Resolved", "message": "b", "at": "2026-05-10T11:00:00Z"},
                    {"status": "Fixed", "message": "c"},
                ],
            },
            "status": {"timeline": [{"status": "Investigating", "message": "a", "at": "bad"}]},
        }
    )
    assert incident.components == (("api", ComponentStatus.MAJOR_OUTAGE), ("db", None))
    assert incident.resolved
    assert incident.timeline == ()
    # The operator cannot use this spec (an unknown update status, a component without name).
    assert incident.input() is None
    clean = IncidentObject.read(
        {
            "metadata": {"name": "k"},
            "spec": {
                "page": "p",
                "title": "Clean",
                "impact": "Major",
                "components": [{"name": "api", "status": "MajorOutage"}, {"name": "db"}],
            },
        }
    )
    found = clean.input()
    assert found is not None
    assert dict(found.effects) == {
        "api": ComponentStatus.MAJOR_OUTAGE,
        "db": ComponentStatus.PARTIAL_OUTAGE,
    }
    unknown = IncidentObject.read({"metadata": {"name": "j"}, "spec": {"impact": "Huge"}})
    assert unknown.impact is None
    assert unknown.input() is None


def test_window_keeps_what_the_operator_wrote() -> None:
    """A valid spec gives the domain window; the written phase and occurrences are kept."""
    spec = {
        "page": "p",
        "title": "Upgrade",
        "components": ["db"],
        "startTime": "2026-05-10T11:00:00Z",
        "endTime": "2026-05-10T13:00:00Z",
        "autoUpdateStatus": False,
    }
    window = WindowObject.read(
        {
            "metadata": {"name": "w"},
            "spec": spec,
            "status": {
                "phase": "InProgress",
                "currentOccurrence": {
                    "start": "2026-05-10T11:00:00Z",
                    "end": "2026-05-10T13:00:00Z",
                },
                "lastOccurrence": {"start": "2026-05-10T11:00:00Z", "end": "2026-05-10T10:00:00Z"},
            },
        }
    )
    span = Occurrence(datetime(2026, 5, 10, 11, tzinfo=UTC), datetime(2026, 5, 10, 13, tzinfo=UTC))
    assert (window.components, window.auto_update_status) == (("db",), False)
    assert (window.phase, window.current, window.last) == (WindowPhase.IN_PROGRESS, span, None)
    assert window.window is not None
    assert window.scheduled == span
    # A spec the operator cannot use (a component that is not a name) gives no window to derive.
    broken = WindowObject.read({"metadata": {"name": "b"}, "spec": {**spec, "components": [7]}})
    assert (broken.window, broken.input(), broken.components) == (None, None, ())


def test_a_spec_the_operator_cannot_use_takes_no_part() -> None:
    """As in the operator: such an incident changes nothing, such a component is not rolled up."""
    broken_incident = IncidentObject.read(
        {
            "metadata": {"name": "i"},
            "spec": {
                "page": "p",
                "title": "Broken",
                "impact": "Critical",
                "components": [{"name": "db", "status": "Broken"}],
            },
        }
    )
    broken_component = ComponentObject.read(
        {"metadata": {"name": "api"}, "spec": {"page": "p", "manualStatus": "Broken"}}
    )
    db = ComponentObject.read({"metadata": {"name": "db"}, "spec": {"page": "p"}})
    assert (broken_incident.usable, broken_component.usable, db.usable) == (False, False, True)
    page = derive_page([broken_component, db], [], [broken_incident], NOW)
    assert {name: state.status for name, state in page.states.items()} == {
        "db": ComponentStatus.OPERATIONAL
    }
    assert (page.components, page.unresolved_incidents) == (1, 0)
