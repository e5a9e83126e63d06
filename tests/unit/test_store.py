"""The store: which objects a change makes dirty, and stale events ignored."""

from __future__ import annotations

from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.control.store import Key, Store

NS = "ns"


def body(
    kind: str, name: str, spec: dict[str, Any], rv: int = 1, generation: int = 1, **meta: Any
) -> dict[str, Any]:
    """A watch event's object."""
    return {
        "kind": kind,
        "metadata": {
            "namespace": NS,
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
            "generation": generation,
            **meta,
        },
        "spec": spec,
    }


def window(name: str, components: list[str], rv: int = 1, generation: int = 1) -> dict[str, Any]:
    """A MaintenanceWindow body."""
    spec = {
        "page": "p",
        "title": "t",
        "components": components,
        "startTime": "2026-12-01T00:00:00Z",
        "endTime": "2026-12-01T01:00:00Z",
    }
    return body("MaintenanceWindow", name, spec, rv, generation)


def key(kind: Kind, name: str) -> Key:
    """A key in the test namespace."""
    return Key(kind, NS, name)


def test_new_window_dirties_itself_its_page_and_components() -> None:
    """A new window affects its page and every component it lists."""
    store = Store()
    dirty = store.apply(Kind.WINDOW, "ADDED", window("w", ["a", "b"]))
    assert dirty == {
        key(Kind.WINDOW, "w"),
        key(Kind.PAGE, "p"),
        key(Kind.COMPONENT, "a"),
        key(Kind.COMPONENT, "b"),
    }


def test_edit_dirties_components_before_and_after() -> None:
    """Dropping a component from a window recomputes the dropped one too."""
    store = Store()
    store.apply(Kind.WINDOW, "ADDED", window("w", ["a"]))
    dirty = store.apply(Kind.WINDOW, "MODIFIED", window("w", ["b"], rv=2, generation=2))
    assert {key(Kind.COMPONENT, "a"), key(Kind.COMPONENT, "b")} <= dirty


def test_stale_event_is_ignored() -> None:
    """An event older than what we hold (e.g. replayed after our write) changes nothing."""
    store = Store()
    store.apply(Kind.WINDOW, "ADDED", window("w", ["a"], rv=5))
    assert store.apply(Kind.WINDOW, "MODIFIED", window("w", ["b"], rv=4, generation=2)) == set()
    record = store.find(Kind.WINDOW, NS, "w")
    assert record is not None
    assert record.component_names == ("a",)


def test_same_event_twice_is_a_no_op() -> None:
    """Replaying an event after a re-list queues nothing."""
    store = Store()
    store.apply(Kind.WINDOW, "ADDED", window("w", ["a"]))
    assert store.apply(Kind.WINDOW, None, window("w", ["a"])) == set()


def test_new_component_heals_windows_that_name_it() -> None:
    """A component appearing makes the windows naming it reconcile (ComponentNotFound heals)."""
    store = Store()
    store.apply(Kind.WINDOW, "ADDED", window("w", ["late"]))
    dirty = store.apply(Kind.COMPONENT, "ADDED", body("Component", "late", {"page": "p"}))
    assert key(Kind.WINDOW, "w") in dirty


def test_deleted_page_dirties_its_members() -> None:
    """Deleting a page makes its components and windows report PageNotFound."""
    store = Store()
    store.apply(Kind.PAGE, "ADDED", body("StatusPage", "p", {"title": "P"}))
    store.apply(Kind.WINDOW, "ADDED", window("w", []))
    dirty = store.apply(Kind.PAGE, "DELETED", body("StatusPage", "p", {"title": "P"}))
    assert dirty == {key(Kind.WINDOW, "w")}


def test_invalid_spec_is_kept_with_its_error() -> None:
    """A spec that cannot parse is held with an error naming the field."""
    store = Store()
    bad = window("w", [])
    bad["spec"]["startTime"] = "not a time"
    store.apply(Kind.WINDOW, "ADDED", bad)
    record = store.find(Kind.WINDOW, NS, "w")
    assert record is not None
    assert record.error is not None
    assert "spec.startTime" in str(record.error)


def test_page_spec_edit_dirties_only_the_page() -> None:
    """A new page title recomputes the page, not every component and window of it."""
    store = Store()
    store.apply(Kind.PAGE, "ADDED", body("StatusPage", "p", {"title": "P"}))
    store.apply(Kind.WINDOW, "ADDED", window("w", ["a"]))
    edited = body("StatusPage", "p", {"title": "Q"}, rv=2, generation=2)
    assert store.apply(Kind.PAGE, "MODIFIED", edited) == {key(Kind.PAGE, "p")}
