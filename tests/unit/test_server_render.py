"""Renderings off the event loop: the loop answers while one runs; one is shared (no cluster)."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from statuspage_operator.server.app import Server, make_app
from statuspage_operator.server.sliced_json import dumps
from unit.test_server_app import BASE, NOW, make_cache

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


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(JSON)
def test_sliced_json_is_json_dumps(value: Any) -> None:
    """Written in slices, a value has exactly the bytes of one compact json.dumps."""
    assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
