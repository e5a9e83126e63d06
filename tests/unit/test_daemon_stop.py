"""A window's daemon returns by itself when kopf sets its stop flag: kopf never cancels it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from statuspage_operator.api.names import Kind
from statuspage_operator.control.runtime import Runtime
from unit.fake_time import FakeStop
from unit.running import NS, add_window, make_world


def test_a_sleeping_daemon_returns_as_soon_as_it_is_stopped() -> None:
    """Asleep until an edge an hour away, it returns within a moment of the stop."""
    client, clock = make_world("api")
    add_window(client, "w", clock.now + timedelta(hours=1), timedelta(hours=1))

    async def run() -> float:
        runtime = Runtime(client, clock)
        await runtime.prime([])
        body = client.get(Kind.WINDOW, NS, "w")
        assert body is not None
        stopped = FakeStop()
        daemon = asyncio.create_task(runtime.windows.follow(body, stopped))
        loop = asyncio.get_running_loop()
        # The fake answers at once: a few turns of the loop settle the window and put it to sleep.
        await asyncio.sleep(0.1)
        assert client.count("PATCH", "/w/status") == 1
        assert (NS, "w") in runtime.view.wakers
        assert not daemon.done()
        asked = loop.time()
        stopped.set()
        await asyncio.wait_for(daemon, 1.0)
        took = loop.time() - asked
        assert (NS, "w") not in runtime.view.wakers
        await runtime.close()
        return took

    assert asyncio.run(run()) < 0.5
    window = client.get(Kind.WINDOW, NS, "w")
    assert window is not None
    assert window["status"]["phase"] == "Scheduled"
