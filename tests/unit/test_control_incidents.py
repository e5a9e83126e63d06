"""Incidents, components and pages over the fake API server: stamps, effects, rollup, Events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.times import format_time
from statuspage_operator.control.runtime import Runtime
from unit.fake_time import FakeClock
from unit.fakes import FakeClient, resource
from unit.running import NS, body, feed, make_world, run

LATER = timedelta(minutes=20)


def incident_spec(*updates: dict[str, str], impact: str = "Major") -> dict[str, Any]:
    return {
        "page": "p",
        "title": "API errors",
        "impact": impact,
        "components": [{"name": "api"}],
        "updates": list(updates),
    }


def update(status: str, message: str) -> dict[str, str]:
    return {"status": status, "message": message}


async def open_incident(runtime: Runtime, client: FakeClient, spec: dict[str, Any]) -> None:
    """A user applies an incident while the operator runs."""
    await feed(runtime, Kind.INCIDENT, "ADDED", client.add(resource(Kind.INCIDENT, NS, "i", spec)))


def shown(client: FakeClient, component: str = "api") -> object:
    return client.status(Kind.COMPONENT, NS, component).get("status")


def timeline(client: FakeClient) -> list[tuple[str, str]]:
    return [(e["status"], e["at"]) for e in client.status(Kind.INCIDENT, NS, "i")["timeline"]]


def test_updates_are_stamped_and_announced_once_each() -> None:
    """Each update gets the time it was first seen, kept ever after, and one Event."""
    client, clock = make_world()
    first = clock.now

    async def scenario(runtime: Runtime) -> list[object]:
        seen: list[object] = []
        await open_incident(runtime, client, incident_spec(update("Investigating", "a")))
        seen.append(shown(client))
        clock.advance(LATER.total_seconds())
        spec = incident_spec(update("Investigating", "a"), update("Identified", "b"))
        await feed(runtime, Kind.INCIDENT, "MODIFIED", client.edit(Kind.INCIDENT, NS, "i", spec))
        # The same event again (a re-list): nothing new to stamp or announce.
        await feed(runtime, Kind.INCIDENT, None, body(client, Kind.INCIDENT, "i"))
        seen.append(shown(client))
        return seen

    assert run(client, clock, scenario) == ["PartialOutage", "PartialOutage"]
    assert timeline(client) == [
        ("Investigating", format_time(first)),
        ("Identified", format_time(first + LATER)),
    ]
    assert client.reasons("i") == ["IncidentUpdated", "IncidentUpdated"]
    notices = client.status(Kind.INCIDENT, NS, "i")["notices"]
    assert [n.get("subject") for n in notices] == ["0", "1"]


def test_resolving_restores_the_components_first() -> None:
    """The Resolved update: api is Operational again before the incident says Resolved."""
    client, clock = make_world()

    async def scenario(runtime: Runtime) -> None:
        await open_incident(runtime, client, incident_spec(update("Investigating", "a")))
        clock.advance(LATER.total_seconds())
        spec = incident_spec(update("Investigating", "a"), update("Resolved", "ok"))
        await feed(runtime, Kind.INCIDENT, "MODIFIED", client.edit(Kind.INCIDENT, NS, "i", spec))

    run(client, clock, scenario)
    assert shown(client) == "Operational"
    status = client.status(Kind.INCIDENT, NS, "i")
    assert (status["phase"], status["resolvedAt"]) == ("Resolved", format_time(clock.now))
    assert client.reasons("i") == ["IncidentUpdated", "IncidentUpdated", "IncidentResolved"]
    patched = [p for p in client.patched() if p in ("components/api", "statusincidents/i")]
    assert patched[-2:] == ["components/api", "statusincidents/i"]
    assert client.reasons("api") == ["ComponentStatusChanged"]


def test_an_invalid_incident_is_stalled_and_warned_of_once() -> None:
    """A spec the schema let through but the operator cannot use: Stalled, one Warning."""
    client, clock = make_world()
    client.add(resource(Kind.INCIDENT, NS, "i", {"page": "p", "title": "t", "impact": "Huge"}))

    async def scenario(runtime: Runtime) -> None:
        await feed(runtime, Kind.INCIDENT, None, body(client, Kind.INCIDENT, "i"))
        clock.advance(60)
        await feed(runtime, Kind.INCIDENT, None, body(client, Kind.INCIDENT, "i"))

    run(client, clock, scenario)
    conditions = client.status(Kind.INCIDENT, NS, "i")["conditions"]
    assert [(c["type"], c["reason"]) for c in conditions] == [
        ("Ready", "InvalidSpec"),
        ("Stalled", "InvalidSpec"),
    ]
    assert client.reasons("i") == ["InvalidSpec"]
    assert shown(client) is None


def test_an_incident_heals_when_its_component_appears() -> None:
    """ComponentNotFound until the component comes; then Ready, and the component shows it."""
    client, clock = make_world("db")
    client.add(resource(Kind.INCIDENT, NS, "i", incident_spec(update("Investigating", "a"))))

    async def scenario(runtime: Runtime) -> object:
        await feed(runtime, Kind.INCIDENT, None, body(client, Kind.INCIDENT, "i"))
        before = client.status(Kind.INCIDENT, NS, "i")["conditions"][0]["reason"]
        api = client.add(resource(Kind.COMPONENT, NS, "api", {"page": "p"}))
        await runtime.component_event("ADDED", api)
        return before

    assert run(client, clock, scenario) == "ComponentNotFound"
    assert client.status(Kind.INCIDENT, NS, "i")["conditions"][0]["reason"] == "Reconciled"
    assert shown(client) == "PartialOutage"


def test_a_component_on_a_missing_page_heals_when_the_page_appears() -> None:
    """PageNotFound on the component, with one Warning; Ready once the page is there."""
    client, clock = FakeClient(), FakeClock()
    client.add(resource(Kind.COMPONENT, NS, "api", {"page": "p"}))

    async def scenario(runtime: Runtime) -> object:
        await runtime.component_event(None, body(client, Kind.COMPONENT, "api"))
        before = client.status(Kind.COMPONENT, NS, "api")["conditions"][0]["reason"]
        await runtime.page_event("ADDED", client.add(resource(Kind.PAGE, NS, "p", {"title": "P"})))
        return before

    assert run(client, clock, scenario) == "PageNotFound"
    assert client.status(Kind.COMPONENT, NS, "api")["conditions"][0]["reason"] == "Reconciled"
    assert client.reasons("api") == ["PageNotFound"]


def test_the_page_rolls_up_its_components() -> None:
    """The safety net writes each component, then the page's indicator and counts."""
    client, clock = make_world()

    async def scenario(runtime: Runtime) -> None:
        await open_incident(runtime, client, incident_spec(update("Investigating", "a")))
        await runtime.components.resync_page(NS, "p")

    run(client, clock, scenario)
    page = client.status(Kind.PAGE, NS, "p")
    assert (page["indicator"], page["components"], page["unresolvedIncidents"]) == ("Minor", 2, 1)
    assert shown(client, "db") == "Operational"


def test_a_transient_failure_of_a_component_write_is_retried() -> None:
    """A 500 on api's status: tried again, and api shows the incident."""
    client, clock = make_world()
    client.fail_next("PATCH", "/components/api/status", status=500)
    spec = incident_spec(update("Investigating", "a"))
    run(client, clock, lambda runtime: open_incident(runtime, client, spec))
    assert client.patched().count("components/api") == 2
    assert shown(client) == "PartialOutage"
