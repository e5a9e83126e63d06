"""control/drafts.py over the fake API server: create then record, AlreadyExists taken as done,
a person's publication winning a race, and what a failed step leaves for the next try."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from statuspage_operator.api.alerts import render_alerts
from statuspage_operator.api.drafts import MANAGED_BY, draft_name
from statuspage_operator.api.names import Kind
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.domain.alerting import AlertGroup, ComponentAlerts
from unit.fake_time import FakeClock
from unit.fakes import FakeClient, resource
from unit.running import NS, body, run

PAGE_ALERTS = {"receiverSecretRef": {"name": "alerts"}, "draftIncidents": True}


def world(clock: FakeClock, firing: int = 2) -> tuple[FakeClient, AlertGroup]:
    """A page asking for drafts, `api` with one group firing (or not) in its status.alerts."""
    client = FakeClient()
    client.add(resource(Kind.PAGE, NS, "p", {"title": "P", "alerts": PAGE_ALERTS}))
    api = resource(Kind.COMPONENT, NS, "api", {"page": "p", "alerts": {"matchers": ["a=b"]}})
    group = AlertGroup(
        key="k1",
        seen=clock.now,
        name="HighErrorRate",
        since=clock.now - timedelta(minutes=3),
        firing=firing,
        severities={"critical": firing} if firing else {},
    )
    groups = (group,) if firing else ()
    api["status"] = {"alerts": render_alerts(ComponentAlerts(groups=groups, firing=firing))}
    client.add(api)
    return client, group


def owned(client: FakeClient) -> list[dict[str, Any]]:
    return [
        o
        for (plural, _, _), o in client.objects.items()
        if plural == "statusincidents" and MANAGED_BY in (o["metadata"].get("labels") or {})
    ]


def records(client: FakeClient) -> list[dict[str, str]]:
    return list(body(client, Kind.PAGE, "p").get("status", {}).get("alertIncidents") or [])


def set_alerts(client: FakeClient, runtime: Runtime, *groups: AlertGroup) -> None:
    """The receiver's write, as the watch shows it to the operator's view."""
    stored = client.objects[("components", NS, "api")]
    firing = sum(g.firing for g in groups)
    stored["status"]["alerts"] = render_alerts(ComponentAlerts(groups=groups, firing=firing))
    runtime.view.components[(NS, "api")].recorded.update(stored)


def test_a_draft_is_created_then_recorded() -> None:
    """One create, then the record in the page's status."""
    clock = FakeClock()
    client, group = world(clock)

    async def scenario(runtime: Runtime) -> None:
        assert await runtime.drafts.reconcile(NS, "p")
        assert await runtime.drafts.reconcile(NS, "p")

    run(client, clock, scenario)
    name = draft_name("k1", group.since or clock.now)
    assert [o["metadata"]["name"] for o in owned(client)] == [name]
    assert client.count("POST", "/statusincidents") == 1
    assert [r["incident"] for r in records(client)] == [name]


def test_an_existing_draft_is_recorded_not_made_again() -> None:
    """Created before a crash, unrecorded: the create is an AlreadyExists, taken as done."""
    clock = FakeClock()
    client, group = world(clock)
    name = draft_name("k1", group.since or clock.now)
    made = resource(Kind.INCIDENT, NS, name, {"page": "p", "title": "T", "draft": True})
    made["metadata"]["labels"] = {MANAGED_BY: "statuspage-operator"}
    uid = client.add(made)["metadata"]["uid"]

    async def scenario(runtime: Runtime) -> None:
        assert await runtime.drafts.reconcile(NS, "p")

    run(client, clock, scenario)
    [incident] = owned(client)
    assert incident["metadata"]["uid"] == uid
    assert [r["incident"] for r in records(client)] == [name]


def test_a_draft_published_meanwhile_is_not_deleted() -> None:
    """The group ended, but a person published the draft after the operator saw it: the delete's
    precondition fails, the record stays, and the next try resolves it instead."""
    clock = FakeClock()
    client, group = world(clock)
    name = draft_name("k1", group.since or clock.now)

    async def scenario(runtime: Runtime) -> None:
        assert await runtime.drafts.reconcile(NS, "p")
        set_alerts(client, runtime)
        client.edit(
            Kind.INCIDENT, NS, name, {**body(client, Kind.INCIDENT, name)["spec"], "draft": False}
        )
        assert not await runtime.drafts.reconcile(NS, "p")
        assert body(client, Kind.INCIDENT, name)["spec"]["draft"] is False
        assert [r["incident"] for r in records(client)] == [name]
        # The watch brings the published incident: now it is resolved, once.
        runtime.drafts.observe_incident("MODIFIED", body(client, Kind.INCIDENT, name))
        assert await runtime.drafts.reconcile(NS, "p")
        assert await runtime.drafts.reconcile(NS, "p")

    run(client, clock, scenario)
    updates = body(client, Kind.INCIDENT, name)["spec"]["updates"]
    assert [u["status"] for u in updates] == ["Investigating", "Resolved"]
    assert records(client) == []


def test_a_failed_create_is_not_recorded() -> None:
    """The API server refused the create: no record, so the next try creates it."""
    clock = FakeClock()
    client, _ = world(clock)
    client.fail_next("POST", "/statusincidents", status=500)

    async def scenario(runtime: Runtime) -> None:
        assert not await runtime.drafts.reconcile(NS, "p")
        assert records(client) == []
        assert await runtime.drafts.reconcile(NS, "p")

    run(client, clock, scenario)
    assert len(owned(client)) == 1
    assert len(records(client)) == 1


def test_a_page_without_a_receiver_opens_nothing() -> None:
    """No spec.alerts.receiverSecretRef: the page takes no alerts, and opens no draft."""
    clock = FakeClock()
    client, _ = world(clock)
    page = client.objects[("statuspages", NS, "p")]
    page["spec"]["alerts"] = {"draftIncidents": True}

    async def scenario(runtime: Runtime) -> None:
        assert await runtime.drafts.reconcile(NS, "p")

    run(client, clock, scenario)
    assert owned(client) == []
    assert records(client) == []


def test_a_create_refused_for_good_is_recorded_not_retried() -> None:
    """A 422 (or the guard's 403) is not retried at every change: the episode is recorded."""
    clock = FakeClock()
    client, _ = world(clock)
    client.fail_next("POST", "/statusincidents", status=422)

    async def scenario(runtime: Runtime) -> None:
        assert await runtime.drafts.reconcile(NS, "p")
        assert await runtime.drafts.reconcile(NS, "p")

    run(client, clock, scenario)
    assert owned(client) == []
    assert client.count("POST", "/statusincidents") == 1
    assert len(records(client)) == 1


def test_an_end_refused_for_good_drops_the_record() -> None:
    """Deleting the draft is refused (its label just went): the record goes, nothing retries."""
    clock = FakeClock()
    client, group = world(clock)
    name = draft_name("k1", group.since or clock.now)

    async def scenario(runtime: Runtime) -> None:
        assert await runtime.drafts.reconcile(NS, "p")
        set_alerts(client, runtime)
        client.fail_next("DELETE", f"/statusincidents/{name}", status=403)
        assert await runtime.drafts.reconcile(NS, "p")

    run(client, clock, scenario)
    assert [o["metadata"]["name"] for o in owned(client)] == [name]
    assert records(client) == []
