"""The metadata watch of settled windows (control/settled.py), over the fake API server."""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from statuspage_operator.api.names import API_VERSION, SETTLED_LABEL
from statuspage_operator.control import settled
from statuspage_operator.control.settled import SettledWatch
from unit.fakes import FakeClient

NS = "ns"


class WatchingClient(FakeClient):
    """The fake API server, with label selectors on lists and scripted watch streams."""

    def __init__(self) -> None:
        super().__init__()
        self.streams: list[list[dict[str, Any]]] = []
        self.watched: list[dict[str, str]] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        found = await super().request(method, path, **kwargs)
        selector = (kwargs.get("params") or {}).get("labelSelector")
        if method == "GET" and selector:
            found["items"] = [
                item
                for item in found["items"]
                if selector in (item["metadata"].get("labels") or {})
            ]
        return found

    async def watch_metadata(
        self, path: str, params: dict[str, str], read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        self.watched.append(dict(params))
        if not self.streams:
            await asyncio.sleep(3600)
        for event in self.streams.pop(0):
            yield copy.deepcopy(event)


def window(name: str, generation: int = 1, label: str | None = "1") -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NS,
        "generation": generation,
        "uid": f"uid-{name}",
    }
    if label is not None:
        meta["labels"] = {SETTLED_LABEL: label}
    return {
        "apiVersion": API_VERSION,
        "kind": "MaintenanceWindow",
        "metadata": meta,
        "spec": {"page": "p"},
        "status": {"phase": "Completed", "observedGeneration": 1},
    }


def labels(client: FakeClient, name: str) -> dict[str, str]:
    stored = client.get("maintenancewindows", NS, name)
    assert stored is not None
    return dict(stored["metadata"].get("labels") or {})


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test in a fresh event loop."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


async def until(probe: Callable[[], bool]) -> None:
    """Poll until true, for at most 10 s (a loaded machine may be slow: no fixed sleeps)."""
    for _ in range(1000):
        if probe():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached within 10 s")


async def run(client: WatchingClient, done: Callable[[SettledWatch], bool]) -> SettledWatch:
    """Watch until `done`, then stop."""
    watch = SettledWatch(client)
    watch.start([NS])
    await until(lambda: done(watch))
    await watch.stop()
    return watch


@in_loop
async def test_a_listed_window_edited_since_its_label_comes_back() -> None:
    """At start: the label of a window whose generation moved on comes off; the others stay."""
    client = WatchingClient()
    client.add(window("kept"))
    client.add(window("edited", generation=2))
    await run(client, lambda watch: watch.unlabelled == 1)
    assert labels(client, "kept") == {SETTLED_LABEL: "1"}
    assert labels(client, "edited") == {}


@in_loop
async def test_a_modified_window_comes_back() -> None:
    """Any change to a labelled window while out of kopf's sight takes its label off."""
    client = WatchingClient()
    stored = client.add(window("w"))
    client.streams = [[{"type": "MODIFIED", "object": {"metadata": stored["metadata"]}}]]
    watch = await run(client, lambda watch: watch.unlabelled == 1)
    assert labels(client, "w") == {}
    assert watch.unlabelled == 1


@in_loop
async def test_the_watch_resumes_from_the_list_and_after_bookmarks() -> None:
    """The watch starts at the list's version, and the next one from the last bookmark."""
    client = WatchingClient()
    client.add(window("w"))
    client.streams = [[{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "555"}}}]]
    await run(client, lambda watch: len(client.watched) >= 2)
    versions = [params["resourceVersion"] for params in client.watched]
    assert versions[:2] == [str(client._version), "555"]
    assert all(params["labelSelector"] == SETTLED_LABEL for params in client.watched)


@in_loop
async def test_an_expired_watch_lists_again() -> None:
    """410 Gone: what changed meanwhile shows in a new list."""
    client = WatchingClient()
    client.add(window("w"))
    gone = {"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}
    client.streams = [[gone]]

    def edit(plural: str) -> None:
        # Once the first list's snapshot is taken: only a second list can show it.
        client.objects[("maintenancewindows", NS, "w")]["metadata"]["generation"] = 2
        client.after_snapshot = None

    client.after_snapshot = edit
    watch = await run(client, lambda watch: watch.unlabelled == 1)
    assert watch.relists == 1
    assert labels(client, "w") == {}


@in_loop
async def test_labels_asked_off_before_start_wait_for_it() -> None:
    """The start-up list may find a wrong label before the watch starts: it comes off then."""
    client = WatchingClient()
    client.add(window("w", generation=1))
    watch = SettledWatch(client)
    watch.unlabel((NS, "w"))
    await asyncio.sleep(0.05)
    assert labels(client, "w") == {SETTLED_LABEL: "1"}
    watch.start([NS])
    await until(lambda: watch.unlabelled == 1)
    await watch.stop()
    assert labels(client, "w") == {}


def test_the_heap_is_given_back_once_after_a_burst_of_windows_leaving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once TRIM_AFTER windows have left and none for TRIM_QUIET seconds: one trim, not many."""
    monkeypatch.setattr(settled, "TRIM_QUIET", 0.2)
    trims: list[float] = []

    async def scenario() -> None:
        watch = SettledWatch(WatchingClient(), trim=lambda: trims.append(1))
        for _ in range(settled.TRIM_AFTER - 1):
            watch.left()
        await asyncio.sleep(0.3)
        assert trims == [], "fewer than TRIM_AFTER"
        for _ in range(settled.TRIM_AFTER):
            watch.left()
        await asyncio.sleep(0)
        assert trims == [], "not before TRIM_QUIET without one leaving"
        await until(lambda: trims == [1])
        await asyncio.sleep(0.3)
        await watch.stop()

    asyncio.run(scenario())
    assert trims == [1]


@in_loop
async def test_a_label_the_operator_did_not_put_comes_off() -> None:
    """ADDED to the labelled windows: kept if the operator labelled it, else taken off."""
    client = WatchingClient()
    ours = client.add(window("ours"))
    theirs = client.add(window("theirs"))
    watch = SettledWatch(client)
    watch.labelling("uid-ours")
    client.streams = [
        [
            {"type": "ADDED", "object": {"metadata": ours["metadata"]}},
            {"type": "ADDED", "object": {"metadata": theirs["metadata"]}},
        ]
    ]
    watch.start([NS])
    await until(lambda: watch.unlabelled == 1 and not client.streams)
    await asyncio.sleep(0.05)
    await watch.stop()
    assert watch.unlabelled == 1
    assert labels(client, "ours") == {SETTLED_LABEL: "1"}
    assert labels(client, "theirs") == {}


def test_kopfs_deleted_is_a_window_leaving_only_if_the_operator_labelled_it() -> None:
    """The DELETED of a window leaving kopf's watch looks like a deletion: the uid tells."""

    async def scenario() -> None:
        watch = SettledWatch(WatchingClient())
        watch.labelling("u1")
        assert watch.leaving("u1")
        assert not watch.leaving("u1"), "once"
        assert not watch.leaving("u2")

    asyncio.run(scenario())
