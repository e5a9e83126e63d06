"""The fake API server answers as a real one would, so the control layer runs on it unchanged."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.k8s.client import METADATA_LIST, ApiError, ConflictError, NotFoundError
from unit.fake_time import FakeClock
from unit.fakes import FakeClient, merge_patch, resource
from unit.running import NS, add_window, make_world


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


async def names(client: FakeClient, limit: int) -> list[list[str]]:
    """The names on each page of a metadata-only list of components."""
    return [
        [item["metadata"]["name"] for item in items]
        async for items in client.list_metadata("components", [NS], limit)
    ]


def test_a_list_s_pages_are_one_snapshot() -> None:
    """Created or deleted while a list is paged: only the next list sees it, as on a server."""
    client = FakeClient()
    for name in ("a", "b", "c"):
        client.add(resource(Kind.COMPONENT, NS, name, {"page": "p"}))
    snapshots: list[str] = []

    def racing(plural: str) -> None:
        snapshots.append(plural)
        client.delete(Kind.COMPONENT, NS, "c")
        client.add(resource(Kind.COMPONENT, NS, "b2", {"page": "p"}))
        client.after_snapshot = None

    client.after_snapshot = racing
    during = asyncio.run(names(client, 2))
    after = asyncio.run(names(client, 2))
    assert (during, after) == ([["a", "b"], ["c"]], [["a", "b"], ["b2"]])
    assert snapshots == ["components"]
    assert client.lists(METADATA_LIST) == 2


def test_a_fault_on_later_pages_spares_the_first() -> None:
    """An expired continue token: the first page comes, the next is refused with the fault."""
    client = FakeClient()
    for name in ("a", "b"):
        client.add(resource(Kind.COMPONENT, NS, name, {"page": "p"}))
    client.fail_next("GET", "/components$", 410, later_pages=True)
    pages: list[list[dict[str, Any]]] = []

    async def listing() -> None:
        async for items in client.list_metadata("components", [NS], 1):
            pages.append(items)

    with pytest.raises(ApiError, match="410"):
        asyncio.run(listing())
    assert [[item["metadata"]["name"] for item in page] for page in pages] == [["a"]]
    assert client.faults_left() == 0
    assert asyncio.run(names(client, 1)) == [["a"], ["b"]]


def test_an_unknown_continue_token_has_expired() -> None:
    """A continue token the server no longer holds is a 410, as after a compaction."""
    client = FakeClient()
    path = "/apis/statuspage.dev/v1alpha1/namespaces/ns/components"

    async def read() -> None:
        await client.request("GET", path, params={"limit": "1", "continue": "9:1"})

    with pytest.raises(ApiError, match="410"):
        asyncio.run(read())


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
    client, clock = make_world("api")
    add_window(client, "w", clock.now - timedelta(minutes=5), timedelta(hours=1))

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
