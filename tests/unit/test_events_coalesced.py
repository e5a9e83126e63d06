"""A flapping object's Events over the fake API server: ten of its own an hour, then one digest
counted in place; each change announced once, across a crash too."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.notices import make_notices
from statuspage_operator.control.edges import follow_edges
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.control.writer import Announcer, WritesInFlight
from unit.fake_time import FakeClock
from unit.fakes import FakeClient
from unit.running import NS, add_window, body, make_world, run

FLAPS = ("MajorOutage", "Operational")


async def feed_flaps(runtime: Runtime, client: FakeClient, clock: FakeClock, times: int) -> None:
    """What the component's watch handler does with each edit (each one a change)."""
    if not client.status(Kind.COMPONENT, NS, "api"):
        # Its first status is no change: no Event.
        await runtime.component_event("ADDED", body(client, Kind.COMPONENT, "api"))
    for _ in range(times):
        clock.advance(20)
        stored = body(client, Kind.COMPONENT, "api")
        flipped = FLAPS[1] if stored["spec"].get("manualStatus") == FLAPS[0] else FLAPS[0]
        spec = {**stored["spec"], "manualStatus": flipped}
        await runtime.component_event("MODIFIED", client.edit(Kind.COMPONENT, NS, "api", spec))


def about_api(client: FakeClient) -> list[dict[str, Any]]:
    """The Events about component api."""
    return [e for e in client.events() if e["involvedObject"]["name"] == "api"]


def test_a_flapping_component_gets_ten_events_and_one_digest() -> None:
    """25 changes in 10 minutes: 10 Events of their own, then one digest counting the other 15."""
    client, clock = make_world()

    async def scenario(runtime: Runtime) -> None:
        await feed_flaps(runtime, client, clock, 25)

    run(client, clock, scenario)
    events = about_api(client)
    own = [e for e in events if e["reason"] == "ComponentStatusChanged"]
    [digest] = [e for e in events if e["reason"] == "ChangesCoalesced"]
    assert len(own) == 10
    assert digest["count"] == 15
    assert digest["message"].startswith("15 more changes since 12:00Z")
    # The latest state: the 25th edit set MajorOutage.
    assert digest["message"].endswith("ComponentStatusChanged: Operational -> MajorOutage")
    assert digest["lastTimestamp"] == "2026-05-10T12:08:20Z"
    budget = client.status(Kind.COMPONENT, NS, "api")["eventBudget"]
    assert budget == {"hour": "2026-05-10T12:00:00Z", "posted": 10, "folded": 15}
    # One call per change: 10 own Events and the digest created, then 14 updates in place.
    path = "/api/v1/namespaces/ns/events"
    assert (client.count("POST", path), client.count("PATCH", path)) == (11, 14)
    assert client.count("GET", path) == 0


def test_the_next_hour_has_its_own_budget() -> None:
    """After an hour of flapping, the next hour starts with Events of their own again."""
    client, clock = make_world()

    async def scenario(runtime: Runtime) -> None:
        await feed_flaps(runtime, client, clock, 12)
        clock.advance(3600)
        await feed_flaps(runtime, client, clock, 2)

    run(client, clock, scenario)
    reasons = [e["reason"] for e in about_api(client)]
    assert reasons.count("ComponentStatusChanged") == 12
    assert reasons.count("ChangesCoalesced") == 1


def digest_of(client: FakeClient) -> dict[str, Any]:
    """Component api's one digest Event."""
    [digest] = [e for e in about_api(client) if e["reason"] == "ChangesCoalesced"]
    return digest


def test_a_crash_before_the_digest_update_is_finished_by_the_replay_once() -> None:
    """Digest updates refused until a SIGKILL: the next process replays them, counted once."""
    client, clock = make_world()

    async def flapping(runtime: Runtime) -> None:
        await feed_flaps(runtime, client, clock, 13)
        await runtime.writer.announcer.drain()
        # The next two changes' digest updates are refused, then the process dies.
        client.fail_next("PATCH", "/events/", status=403, times=1000)
        await feed_flaps(runtime, client, clock, 2)

    run(client, clock, flapping)
    client.faults.clear()
    assert digest_of(client)["count"] == 3
    recorded = client.status(Kind.COMPONENT, NS, "api")["notices"]
    assert [n.get("fold") for n in recorded] == [4, 5]

    async def restarted(runtime: Runtime) -> None:
        stored = body(client, Kind.COMPONENT, "api")
        runtime.writer.replay(Kind.COMPONENT, stored)
        await runtime.writer.announcer.drain()
        # The watch's own event of the same object: nothing more.
        runtime.writer.replay(Kind.COMPONENT, stored)

    run(client, clock, restarted)
    assert [e["reason"] for e in about_api(client)].count("ComponentStatusChanged") == 10
    assert digest_of(client)["count"] == 5
    assert digest_of(client)["message"].startswith("5 more changes")


def test_an_older_fold_never_lowers_the_digest() -> None:
    """A replayed earlier change leaves the digest as the later one wrote it."""
    client, clock = make_world()

    async def scenario(runtime: Runtime) -> None:
        await feed_flaps(runtime, client, clock, 15)
        await runtime.writer.announcer.drain()
        ref = {"kind": "Component", "namespace": NS, "name": "api", "uid": "x"}
        digest = digest_of(client)
        await client.fold_event(
            ref,
            digest["metadata"]["name"],
            "ChangesCoalesced",
            "older",
            (clock.now, clock.now),
            2,
        )

    run(client, clock, scenario)
    assert digest_of(client)["count"] == 5
    assert digest_of(client)["message"].startswith("5 more changes")


def test_a_concurrent_digest_update_is_read_again() -> None:
    """A digest changed under the update (409): read again, then raised to the new count."""
    client, clock = make_world()

    async def scenario(runtime: Runtime) -> None:
        await feed_flaps(runtime, client, clock, 12)
        await runtime.writer.announcer.drain()
        client.fail_next("PATCH", "/events/", status=409)
        await feed_flaps(runtime, client, clock, 1)

    run(client, clock, scenario)
    assert digest_of(client)["count"] == 3
    assert client.count("PATCH", "/api/v1/namespaces/ns/events/") == 3


def test_the_busiest_window_allowed_makes_at_most_eleven_events_an_hour_per_object() -> None:
    """Every 5 minutes for a minute, for an hour: 24 moves each of window and component, and
    at most 10 Events + 1 digest for each, the digest counting the rest."""
    client, clock = make_world()
    start = clock.now + timedelta(minutes=1)
    recurrence = {"rrule": "FREQ=MINUTELY;INTERVAL=5;COUNT=12", "timeZone": "UTC"}
    add_window(client, "w", start, timedelta(minutes=1), recurrence=recurrence)

    async def scenario(runtime: Runtime) -> None:
        live = body(client, Kind.WINDOW, "w")

        async def settle(now: datetime) -> datetime | None:
            return await runtime.windows.settle(live, now)

        def stopped() -> bool:
            return client.status(Kind.WINDOW, NS, "w").get("phase") == "Completed"

        await follow_edges(settle, clock, clock.sleep, stopped)

    run(client, clock, scenario)
    for name, reason in (("w", "MaintenanceCompleted"), ("api", "ComponentStatusChanged")):
        events = [e for e in client.events() if e["involvedObject"]["name"] == name]
        own = [e for e in events if e["reason"] != "ChangesCoalesced"]
        [digest] = [e for e in events if e["reason"] == "ChangesCoalesced"]
        assert len(own) == 10, name
        assert len(own) + digest["count"] == 24, name
        assert reason in digest["message"]


def test_warnings_no_status_records_are_coalesced_too() -> None:
    """A Subscriber's Warnings (announced, never recorded): 10 Events, then the digest."""
    client, clock = FakeClient(), FakeClock()
    ref = {"kind": "Subscriber", "namespace": NS, "name": "hook", "uid": "uid-hook"}

    async def scenario() -> None:
        announcer = Announcer(client, clock, WritesInFlight())
        for i in range(12):
            clock.advance(30)
            problem = f"incident.created not delivered after 3 attempts: HTTP {500 + i % 2}"
            notices = make_notices(
                "hook", "uid-hook", clock.now, [("DeliveryFailed", problem, True)]
            )
            announcer.announce(ref, notices)
            await asyncio.sleep(0)
        await announcer.drain()

    asyncio.run(scenario())
    reasons = [e["reason"] for e in client.events()]
    assert reasons == ["DeliveryFailed"] * 10 + ["ChangesCoalesced"]
    digest = client.events()[-1]
    assert (digest["count"], digest["type"]) == (2, "Warning")
    assert digest["message"].endswith(
        "DeliveryFailed: incident.created not delivered after 3 attempts: HTTP 501"
    )
