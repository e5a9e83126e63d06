"""Around the edges, over the fake API server: spec edits, deletions, lost Events, lateness."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.control import metrics
from statuspage_operator.control.components import PAGE_BUSY_GAP, PAGE_DELAY
from statuspage_operator.control.runtime import Runtime
from unit.fake_time import FakeStop, eventually
from unit.fakes import FakeClient, resource
from unit.plan_builders import window_spec
from unit.running import NS, add_window, body, feed, make_world, run

HOUR = timedelta(hours=1)


def phase(client: FakeClient, name: str = "w") -> object:
    return client.status(Kind.WINDOW, NS, name).get("phase")


def shown(client: FakeClient) -> object:
    return client.status(Kind.COMPONENT, NS, "api").get("status")


def lateness_count() -> float:
    value = metrics.REGISTRY.get_sample_value("statuspage_transition_lateness_seconds_count")
    return value or 0.0


def test_a_spec_edit_wakes_the_daemon_and_moves_the_window_at_once() -> None:
    """Its start moved to now while the daemon sleeps: the watch event wakes it; it starts now."""
    client, clock = make_world()
    start = clock.now + 2 * HOUR
    add_window(client, "w", start, HOUR)

    async def scenario(runtime: Runtime) -> tuple[object, object]:
        live = body(client, Kind.WINDOW, "w")
        stop = FakeStop()
        daemon = asyncio.create_task(runtime.windows.follow(live, stop))
        await eventually(lambda: phase(client) == "Scheduled")
        edited = client.edit(Kind.WINDOW, NS, "w", window_spec(clock.now, clock.now + HOUR))
        # kopf's live body follows the watch; the event handler wakes the daemon.
        live.clear()
        live.update(edited)
        await feed(runtime, Kind.WINDOW, "MODIFIED", edited)
        await eventually(lambda: phase(client) == "InProgress")
        stop.set()
        runtime.windows.wake((NS, "w"))
        await asyncio.wait_for(daemon, 5)
        return phase(client), shown(client)

    assert run(client, clock, scenario) == ("InProgress", "UnderMaintenance")
    assert client.reasons("w") == ["MaintenanceStarted"]


def test_deleting_a_window_in_progress_restores_its_components() -> None:
    """release(): the window leaves the view and api is Operational again."""
    client, clock = make_world()
    add_window(client, "w", clock.now - timedelta(minutes=5), HOUR)

    async def scenario(runtime: Runtime) -> object:
        window = body(client, Kind.WINDOW, "w")
        await runtime.windows.settle(window, clock())
        during = shown(client)
        await runtime.windows.release(window)
        return during

    assert run(client, clock, scenario) == "UnderMaintenance"
    assert shown(client) == "Operational"


def test_deleting_an_open_incident_restores_its_components() -> None:
    """release(): the incident leaves the view and api is Operational again."""
    client, clock = make_world()
    spec = {
        "page": "p",
        "title": "t",
        "impact": "Critical",
        "components": [{"name": "api"}],
        "updates": [{"status": "Investigating", "message": "a"}],
    }

    async def scenario(runtime: Runtime) -> object:
        incident = client.add(resource(Kind.INCIDENT, NS, "i", spec))
        await feed(runtime, Kind.INCIDENT, "ADDED", incident)
        during = shown(client)
        await runtime.incidents.release(incident)
        return during

    assert run(client, clock, scenario) == "MajorOutage"
    assert shown(client) == "Operational"


def test_an_event_refused_stays_recorded_and_goes_out_with_the_next_watch_event() -> None:
    """Started could not be posted (403): its notice stays in status; the replay posts it once."""
    client, clock = make_world()
    add_window(client, "w", clock.now - timedelta(minutes=5), HOUR)
    client.fail_next("POST", "/events", status=403)

    async def scenario(runtime: Runtime) -> list[str]:
        await runtime.windows.settle(body(client, Kind.WINDOW, "w"), clock())
        await runtime.writer.announcer.drain()
        before = client.reasons("w")
        # The status write's own watch event, then a re-list of the same object.
        await feed(runtime, Kind.WINDOW, "MODIFIED", body(client, Kind.WINDOW, "w"))
        await runtime.writer.announcer.drain()
        await feed(runtime, Kind.WINDOW, None, body(client, Kind.WINDOW, "w"))
        return before

    assert run(client, clock, scenario) == []
    assert client.reasons("w") == ["MaintenanceStarted"]
    assert client.count("POST", "/events") == 2


def test_a_transient_event_failure_is_retried() -> None:
    """A 500 on the Event post: tried again, posted once."""
    client, clock = make_world()
    add_window(client, "w", clock.now - timedelta(minutes=5), HOUR)
    client.fail_next("POST", "/events", status=500)
    run(client, clock, lambda rt: rt.windows.settle(body(client, Kind.WINDOW, "w"), clock()))
    assert client.count("POST", "/events") == 2
    assert client.reasons("w") == ["MaintenanceStarted"]


@pytest.mark.parametrize(
    ("late", "observed"),
    [
        pytest.param(timedelta(seconds=2), 1, id="at-the-edge"),
        pytest.param(timedelta(hours=2, minutes=30), 0, id="catch-up-is-not-lateness"),
    ],
)
def test_lateness_is_measured_only_around_the_edge(late: timedelta, observed: int) -> None:
    """Two seconds after the start is lateness; a window first seen long after is not."""
    client, clock = make_world()
    start = clock.now + timedelta(minutes=10)
    add_window(client, "w", start, 3 * HOUR)
    run(client, clock, lambda rt: rt.windows.settle(body(client, Kind.WINDOW, "w"), clock()))
    clock.set(start + late)
    before = lateness_count()
    run(client, clock, lambda rt: rt.windows.settle(body(client, Kind.WINDOW, "w"), clock()))
    assert phase(client) == "InProgress"
    assert lateness_count() - before == observed


def test_a_page_under_a_stream_of_changes_is_rolled_up_once_a_busy_gap() -> None:
    """The first change of a quiet page is written after PAGE_DELAY; while changes keep coming,
    at most one rollup per PAGE_BUSY_GAP (a burst of 1,000 windows rolled it up every 0.2 s)."""
    client, clock = make_world()

    async def scenario(runtime: Runtime) -> list[float]:
        loop = asyncio.get_running_loop()
        rolled: list[float] = []
        original = runtime.components.recompute_page

        async def recompute_page(namespace: str, name: str, now: datetime) -> None:
            rolled.append(loop.time())
            await original(namespace, name, now)

        runtime.components.recompute_page = recompute_page  # type: ignore[method-assign]
        began = loop.time()
        deadline = began + PAGE_BUSY_GAP * 2 + PAGE_DELAY
        while loop.time() < deadline:
            runtime.components.touch_page(NS, "p")
            await asyncio.sleep(0.05)
        await asyncio.sleep(PAGE_BUSY_GAP + PAGE_DELAY)
        return [t - began for t in rolled]

    rolled = run(client, clock, scenario)
    assert PAGE_DELAY <= rolled[0] < PAGE_DELAY + 0.1
    gaps = [b - a for a, b in itertools.pairwise(rolled)]
    assert gaps
    assert all(gap >= PAGE_BUSY_GAP - 0.01 for gap in gaps), gaps
    # Nothing touched is left unwritten: the last rollup comes after the last touch.
    assert rolled[-1] >= PAGE_BUSY_GAP * 2 + PAGE_DELAY - 0.05
