"""The operator and status.alerts, over the fake API server: a receiver write, a wake-up, errors."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from statuspage_operator.api.alerts import render_alerts
from statuspage_operator.api.names import Kind
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.domain.alerting import AlertGroup, ComponentAlerts, Held, ListedAlert
from unit.fake_time import FakeClock, eventually
from unit.fakes import FakeClient, resource
from unit.running import NS, body, run

RECEIVING = {"title": "P", "alerts": {"receiverSecretRef": {"name": "alerts"}}}
WATCHED = {"page": "p", "alerts": {"matchers": ['service="api"']}}


def make_alerting_world(page: dict[str, Any] = RECEIVING) -> tuple[FakeClient, FakeClock]:
    """A page `p` (receiving unless told) with `api` (spec.alerts) and `db` (none)."""
    client, clock = FakeClient(), FakeClock()
    client.add(resource(Kind.PAGE, NS, "p", page))
    client.add(resource(Kind.COMPONENT, NS, "api", WATCHED))
    client.add(resource(Kind.COMPONENT, NS, "db", {"page": "p"}))
    return client, clock


def critical(clock: FakeClock) -> ComponentAlerts:
    """One critical alert, sent now."""
    group = AlertGroup("g1", clock.now, firing=1, severities={"critical": 1})
    return ComponentAlerts((group,), (ListedAlert("fp", "g1", clock.now, "critical"),), 1)


async def listed(runtime: Runtime, client: FakeClient) -> None:
    """kopf's first listing reaches the operator: every component is written once."""
    for name in ("api", "db"):
        await runtime.component_event(None, body(client, Kind.COMPONENT, name))


async def receive(runtime: Runtime, client: FakeClient, alerts: ComponentAlerts) -> None:
    """The receiver writes status.alerts; its watch event reaches the operator."""
    stored = await client.patch_status(Kind.COMPONENT, NS, "api", {"alerts": render_alerts(alerts)})
    await runtime.component_event("MODIFIED", stored)


def alerts_condition(client: FakeClient, name: str = "api") -> dict[str, Any]:
    conditions = client.status(Kind.COMPONENT, NS, name).get("conditions") or []
    return next((c for c in conditions if c["type"] == "AlertsFiring"), {})


def test_a_receiver_write_moves_the_component_and_its_page() -> None:
    """status.alerts written by someone else is an event: the component and page follow."""
    client, clock = make_alerting_world()

    async def scenario(runtime: Runtime) -> dict[str, Any]:
        await listed(runtime, client)
        await receive(runtime, client, critical(clock))
        await eventually(lambda: client.status(Kind.PAGE, NS, "p").get("indicator") == "Major")
        return client.status(Kind.COMPONENT, NS, "api")

    status = run(client, clock, scenario)
    assert (status["status"], status["statusFrom"], status["alertsFiring"]) == (
        "MajorOutage",
        "Alerts",
        1,
    )
    assert alerts_condition(client)["reason"] == "Moving"
    assert client.reasons("api") == ["ComponentStatusChanged"]
    # The receiver's field is left as it wrote it; a component without spec.alerts has none.
    assert status["alerts"]["listed"][0]["fingerprint"] == "fp"
    db = client.status(Kind.COMPONENT, NS, "db")
    assert ("alertsFiring" in db, alerts_condition(client, "db")) == (False, {})


def test_the_end_of_a_hold_is_written_with_no_event() -> None:
    """A held severity counts until its end; the operator wakes then, with no write from anyone."""
    client, clock = make_alerting_world()
    # Times are recorded in whole seconds: the hold ends at the next one, 50 ms from now.
    until = clock.now + timedelta(seconds=1)
    clock.advance(0.95)

    async def scenario(runtime: Runtime) -> tuple[object, object, object]:
        held = AlertGroup("g1", until - timedelta(seconds=1), held=(Held("critical", until),))
        await receive(runtime, client, ComponentAlerts((held,)))
        first = client.status(Kind.COMPONENT, NS, "api")["status"]
        waking = runtime.components.waking((NS, "api"))
        # No event, no write: only the wake-up's own sleep lets the clock reach `until`.
        await asyncio.sleep(0.06)
        clock.advance(0.06)
        await eventually(lambda: client.status(Kind.COMPONENT, NS, "api")["status"] != first)
        return first, waking, runtime.components.waking((NS, "api"))

    assert run(client, clock, scenario) == ("MajorOutage", until, None)
    assert client.status(Kind.COMPONENT, NS, "api")["status"] == "Operational"


def test_a_page_that_starts_receiving_moves_its_components() -> None:
    """Alerts left in status count once the page names a receiver Secret, and not before."""
    client, clock = make_alerting_world({"title": "P"})

    async def scenario(runtime: Runtime) -> tuple[object, object, object]:
        await receive(runtime, client, critical(clock))
        before = client.status(Kind.COMPONENT, NS, "api")["status"]
        reason = alerts_condition(client)["reason"]
        edited = client.edit(Kind.PAGE, NS, "p", RECEIVING)
        await runtime.page_event("MODIFIED", edited)
        return before, reason, client.status(Kind.COMPONENT, NS, "api")["status"]

    assert run(client, clock, scenario) == ("Operational", "NoReceiver", "MajorOutage")


def test_a_matcher_that_does_not_parse_stalls_only_its_component() -> None:
    """InvalidSpec names the matcher; the component is left out, the others work."""
    client, clock = make_alerting_world()
    bad = {"page": "p", "alerts": {"matchers": ['a="b"', 'job=~"(("']}}

    async def scenario(runtime: Runtime) -> None:
        await listed(runtime, client)
        await runtime.component_event("MODIFIED", client.edit(Kind.COMPONENT, NS, "api", bad))
        edited = client.edit(Kind.COMPONENT, NS, "db", {"page": "p", "manualStatus": "MajorOutage"})
        await runtime.component_event("MODIFIED", edited)

    run(client, clock, scenario)
    conditions = client.status(Kind.COMPONENT, NS, "api")["conditions"]
    stalled = next(c for c in conditions if c["type"] == "Stalled")
    assert stalled["reason"] == "InvalidSpec"
    assert stalled["message"].startswith("spec.alerts.matchers[1]: 'job=~\"((\"': not an RE2")
    assert client.status(Kind.COMPONENT, NS, "db")["status"] == "MajorOutage"
    # Left out, it keeps the status last written.
    assert client.status(Kind.COMPONENT, NS, "api")["status"] == "Operational"


def test_a_page_expiry_that_cannot_work_is_invalid() -> None:
    """expireAfter 0s would ignore every alert: the page says so, its components move nothing."""
    page = {"title": "P", "alerts": {"receiverSecretRef": {"name": "a"}, "expireAfter": "0s"}}
    client, clock = make_alerting_world(page)

    async def scenario(runtime: Runtime) -> None:
        await receive(runtime, client, critical(clock))
        await eventually(lambda: bool(client.status(Kind.PAGE, NS, "p").get("conditions")))

    run(client, clock, scenario)
    ready = client.ready(Kind.PAGE, NS, "p")
    assert (ready["reason"], ready["message"]) == (
        "InvalidSpec",
        "spec.alerts.expireAfter: must be longer than 0s",
    )
    assert alerts_condition(client)["reason"] == "NoReceiver"


def test_a_deleted_component_is_not_woken() -> None:
    """Its wake-up goes with it. Paused, it keeps one: the count it shows still changes."""
    client, clock = make_alerting_world()
    held = AlertGroup("g1", clock.now, held=(Held("critical", clock.now + timedelta(hours=1)),))

    async def scenario(runtime: Runtime) -> tuple[object, object, object]:
        await listed(runtime, client)
        await receive(runtime, client, ComponentAlerts((held,)))
        armed = runtime.components.waking((NS, "api"))
        paused = {"page": "p", "alerts": {"matchers": ['service="api"'], "paused": True}}
        await runtime.component_event("MODIFIED", client.edit(Kind.COMPONENT, NS, "api", paused))
        still = runtime.components.waking((NS, "api"))
        await runtime.component_event("DELETED", client.delete(Kind.COMPONENT, NS, "api"))
        return armed, still, runtime.components.waking((NS, "api"))

    armed, still, gone = run(client, clock, scenario)
    assert armed == clock.now + timedelta(hours=1)
    assert (still, gone) == (armed, None)
