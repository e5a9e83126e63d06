"""The fake API server answers as a real one would, so the control layer runs on it unchanged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.api.times import format_time
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.k8s.client import ConflictError, NotFoundError
from unit.fakes import FakeClient, FakeClock, merge_patch, resource

NS = "ns"


def test_merge_patch_removes_keys_set_to_none() -> None:
    """RFC 7386: None deletes, objects merge, lists replace."""
    merged = merge_patch(
        {"a": 1, "b": {"c": 2, "d": 3}, "l": [1]}, {"a": None, "b": {"c": 5}, "l": [2]}
    )
    assert merged == {"b": {"c": 5, "d": 3}, "l": [2]}


def test_a_second_event_of_one_name_conflicts() -> None:
    """Events have fixed names: the second post is refused like on a real server."""
    client = FakeClient()
    ref = {"kind": "Component", "namespace": NS, "name": "api", "uid": "u"}
    now = FakeClock().now

    async def post_twice() -> tuple[bool, bool]:
        first = await client.post_event(ref, "ev.1", "Reason", "message", now)
        second = await client.post_event(ref, "ev.1", "Reason", "message", now)
        return first, second

    assert asyncio.run(post_twice()) == (True, False)
    assert len(client.events(NS)) == 1


def test_injected_fault_then_success() -> None:
    """A fault answers only the calls it matches, as many times as asked."""
    client = FakeClient()
    client.add(resource(Kind.COMPONENT, NS, "api", {"page": "p"}))
    client.fail_next("PATCH", "/components/api/status", status=404)

    async def patch() -> None:
        with pytest.raises(NotFoundError):
            await client.patch_status(Kind.COMPONENT, NS, "api", {"status": "Operational"})
        stored = await client.patch_status(Kind.COMPONENT, NS, "api", {"status": "Operational"})
        assert stored["status"] == {"status": "Operational"}

    asyncio.run(patch())


def test_a_lease_is_created_once() -> None:
    """Creating what exists is a conflict (the Lease race between two replicas)."""
    client = FakeClient()

    async def create_twice() -> None:
        await client.create_lease(NS, {"metadata": {"name": "l"}})
        with pytest.raises(ConflictError):
            await client.create_lease(NS, {"metadata": {"name": "l"}})

    asyncio.run(create_twice())


def test_runtime_puts_a_component_under_maintenance_on_the_fake() -> None:
    """The real Runtime over the fake: prime, settle a window in progress, components follow."""
    client = FakeClient()
    clock = FakeClock()
    start = clock.now - timedelta(minutes=5)
    client.add(resource(Kind.PAGE, NS, "p", {"title": "P"}))
    client.add(resource(Kind.COMPONENT, NS, "api", {"page": "p"}))
    spec = {
        "page": "p",
        "title": "Upgrade",
        "components": ["api"],
        "startTime": format_time(start),
        "endTime": format_time(start + timedelta(hours=1)),
    }
    client.add(resource(Kind.WINDOW, NS, "w", spec))

    async def run() -> None:
        runtime = Runtime(client, clock)
        await runtime.prime([])
        window = client.get(Kind.WINDOW, NS, "w")
        assert window is not None
        await runtime.windows.settle(window, clock())
        await runtime.close()

    asyncio.run(run())
    window = client.get(Kind.WINDOW, NS, "w")
    component = client.get(Kind.COMPONENT, NS, "api")
    assert window is not None
    assert component is not None
    assert window["status"]["phase"] == "InProgress"
    assert component["status"]["status"] == "UnderMaintenance"
    assert [e["reason"] for e in client.events(NS)] == ["MaintenanceStarted"]
