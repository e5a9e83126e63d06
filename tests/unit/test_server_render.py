"""Renderings off the event loop: the loop answers while one runs; one is shared (no cluster)."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from statuspage_operator.api.names import Kind
from statuspage_operator.server.app import Server, make_app
from statuspage_operator.server.sliced_json import dumps
from unit.test_server_app import BASE, NOW, make, make_cache

SUMMARY = f"{BASE}api/v2/summary.json"


class HeldClock:
    """A clock that holds whoever reads it until released: a rendering that takes its time."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned = threading.Event()
        self.readers: set[int] = set()

    def __call__(self) -> datetime:
        self.readers.add(threading.get_ident())
        self.entered.set()
        self.release.wait(10)
        self.returned.set()
        return NOW


def serve_held(check: Any) -> None:
    """Run `check(client, server, clock)` against the app, its clock held."""
    clock = HeldClock()
    server = Server(make_cache(), clock=clock)

    async def run() -> None:
        async with TestClient(TestServer(make_app(server))) as client:
            try:
                await check(client, server, clock)
            finally:
                clock.release.set()
        server.close()

    asyncio.run(run())


def test_the_loop_answers_while_a_rendering_runs() -> None:
    """/healthz is answered while a page's rendering is held, which runs in another thread."""

    async def check(client: TestClient[Any, Any], _: Server, clock: HeldClock) -> None:
        page = asyncio.ensure_future(client.get(SUMMARY))
        assert await asyncio.to_thread(clock.entered.wait, 5)
        health = await asyncio.wait_for(client.get("/healthz"), 5)
        assert health.status == 200
        assert not clock.returned.is_set()
        clock.release.set()
        assert (await page).status == 200
        assert threading.get_ident() not in clock.readers

    serve_held(check)


def test_concurrent_requests_share_one_rendering() -> None:
    """Five requests for a representation under way get the one rendering, not five."""

    async def check(client: TestClient[Any, Any], server: Server, clock: HeldClock) -> None:
        first = asyncio.ensure_future(client.get(SUMMARY))
        assert await asyncio.to_thread(clock.entered.wait, 5)
        others = [asyncio.ensure_future(client.get(SUMMARY)) for _ in range(4)]
        # Every request has reached the server before the rendering ends.
        await asyncio.sleep(0.2)
        clock.release.set()
        responses = [await first, *[await other for other in others]]
        assert [response.status for response in responses] == [200] * 5
        assert len({response.headers["ETag"] for response in responses}) == 1
        renderings = server.metrics.registry.get_sample_value(
            "statuspage_server_renderings_total", {"route": "json"}
        )
        assert renderings == 1

    serve_held(check)


def test_waiting_behind_another_rendering_is_not_counted_as_cost() -> None:
    """A cheap rendering queued behind a slow one is not held back from the next change."""
    release, entered = threading.Event(), threading.Event()
    instant = [100.0]

    def clock() -> datetime:
        entered.set()
        release.wait(10)
        instant[0] += 1.0  # building the view "takes" a second
        return NOW

    cache = make_cache()
    server = Server(cache, clock=clock, monotonic=lambda: instant[0])
    status = f"{BASE}api/v2/status.json"

    async def run() -> tuple[bytes, bytes]:
        async with TestClient(TestServer(make_app(server))) as client:
            summary = asyncio.ensure_future(client.get(SUMMARY))
            assert await asyncio.to_thread(entered.wait, 5)
            queued = asyncio.ensure_future(client.get(status))
            await asyncio.sleep(0.2)
            release.set()
            assert (await summary).status == 200
            before = await (await queued).read()
            spec = {"page": "example", "manualStatus": "MajorOutage"}
            cache.upsert(Kind.COMPONENT, make("extra", spec))
            return before, await (await client.get(status)).read()

    before, after = asyncio.run(run())
    server.close()
    assert b'"indicator":"major"' not in before
    assert b'"indicator":"major"' in after


def test_a_failed_rendering_is_not_kept_under_way() -> None:
    """A rendering that fails answers 500 to its requests, and the next request renders again."""
    failures = [RuntimeError("a bug in a representation")]

    def clock() -> datetime:
        if failures:
            raise failures.pop()
        return NOW

    server = Server(make_cache(), clock=clock)

    async def run() -> list[int]:
        async with TestClient(TestServer(make_app(server))) as client:
            return [(await client.get(SUMMARY)).status for _ in range(2)]

    assert asyncio.run(run()) == [500, 200]
    server.close()


def test_a_rendering_off_the_loop_is_the_one_on_it() -> None:
    """The server's rendering (worker thread, sliced JSON) has the bytes and ETag of a plain one."""
    plain = Server(make_cache(), clock=lambda: NOW)
    served = Server(make_cache(), clock=lambda: NOW)
    for representation in ("", "api/v2/components.json", "api/v2/summary.json", "history.atom"):
        expected = plain.rendering(("default", "example"), representation)
        found = asyncio.run(served.render(("default", "example"), representation))
        assert expected is not None
        assert found is not None
        assert (found.body, found.etag) == (expected.body, expected.etag)
        if representation.endswith(".json"):
            compact = json.dumps(json.loads(found.body), separators=(",", ":"), ensure_ascii=False)
            assert found.body == compact.encode()
    served.close()


class Costly:
    """A page clock that records which thread reads it, and a monotonic clock it moves on by `cost`.

    Each view is built once and reads the page clock once: so each rendering seems to take `cost`.
    """

    def __init__(self, cost: float) -> None:
        self.cost = cost
        self.instant = 100.0
        self.readers: list[int] = []

    def clock(self) -> datetime:
        self.readers.append(threading.get_ident())
        self.instant += self.cost
        return NOW

    def monotonic(self) -> float:
        return self.instant


def rerendered(cost: float, grown_by: int = 0) -> list[bool]:
    """For each of two renderings (the first, then after a change): was it on the loop's thread?"""
    costly = Costly(cost)
    cache = make_cache()
    server = Server(cache, clock=costly.clock, monotonic=costly.monotonic)
    key = ("default", "example")

    async def run() -> list[bool]:
        await server.render(key, "api/v2/status.json")
        costly.instant += 3600  # past any re-rendering delay
        for index in range(grown_by):
            spec = {"page": "example", "group": "Grown"}
            cache.upsert(Kind.COMPONENT, make(f"grown-{index}", spec))
        cache.versions["default"] += 1
        await server.render(key, "api/v2/status.json")
        loop = threading.get_ident()
        return [reader == loop for reader in costly.readers]

    on_loop = asyncio.run(run())
    server.close()
    return on_loop


@pytest.mark.parametrize(
    ("cost", "grown_by", "on_loop"),
    [
        pytest.param(0.001, 0, [False, True], id="cheap-then-on-the-loop"),
        pytest.param(1.0, 0, [False, False], id="expensive-stays-in-the-worker"),
        pytest.param(0.001, 60, [False, False], id="grown-page-goes-to-the-worker"),
    ],
)
def test_only_a_rendering_known_to_be_cheap_runs_on_the_loop(
    cost: float, grown_by: int, on_loop: list[bool]
) -> None:
    """The first rendering goes to the worker; again on the loop only if it was cheap."""
    assert rerendered(cost, grown_by) == on_loop


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(JSON)
def test_sliced_json_is_json_dumps(value: Any) -> None:
    """Written in slices, a value has exactly the bytes of one compact json.dumps."""
    assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
