"""The operator's Published condition over the fake API server: what it says, when it changes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.control.components import PAGE_BUSY_GAP, PAGE_DELAY
from statuspage_operator.control.runtime import Runtime
from unit.fake_time import FakeClock
from unit.fakes import FakeClient, resource
from unit.running import run

HOST = "status.example.com"


def add_page(client: FakeClient, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    """A StatusPage, Public unless told otherwise."""
    return client.add(
        resource(Kind.PAGE, namespace, name, {"title": name, "visibility": "Public", **spec})
    )


def add_policy(client: FakeClient, name: str, **spec: Any) -> dict[str, Any]:
    """A cluster-scoped PublicationPolicy."""
    return client.add(resource(Kind.POLICY, "", name, spec))


def condition(client: FakeClient, namespace: str, name: str, kind: str) -> dict[str, Any]:
    """One condition of a page as stored ({} when absent)."""
    conditions = client.status(Kind.PAGE, namespace, name).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


async def pages_seen(runtime: Runtime, client: FakeClient) -> None:
    """Every page's watch event, as kopf hands them over after its list; then the writes."""
    for namespace, name in client.keys(Kind.PAGE):
        page = client.get(Kind.PAGE, namespace, name)
        assert page is not None
        await runtime.page_event(None, page)
    await settled()


async def settled() -> None:
    """Let the delayed page writes of a burst happen (a page rolled up a moment ago waits for
    the rest of its busy gap)."""
    await asyncio.sleep(PAGE_BUSY_GAP + PAGE_DELAY * 2)


def test_a_public_page_of_an_allowed_namespace_is_published() -> None:
    """Published=True, saying where it is served; Ready is True too."""
    client, clock = FakeClient(), FakeClock()
    add_policy(
        client,
        "teams",
        namespaces=["team-a"],
        hostnames=[{"hostname": HOST, "namespace": "team-a"}],
    )
    add_page(client, "team-a", "example", hostnames=[HOST])
    run(client, clock, lambda runtime: pages_seen(runtime, client))
    published = condition(client, "team-a", "example", "Published")
    assert (published["status"], published["reason"]) == ("True", "Published")
    assert published["message"] == f"served by path /team-a/example/, on host {HOST}"
    assert condition(client, "team-a", "example", "Ready")["status"] == "True"


def test_an_unpublished_page_says_how_to_publish_it() -> None:
    """The default visibility is Unpublished: False, reason Unpublished, naming the field."""
    client, clock = FakeClient(), FakeClock()
    add_policy(client, "teams", namespaces=["team-a"])
    client.add(resource(Kind.PAGE, "team-a", "draft", {"title": "Draft"}))
    run(client, clock, lambda runtime: pages_seen(runtime, client))
    published = condition(client, "team-a", "draft", "Published")
    assert (published["status"], published["reason"]) == ("False", "Unpublished")
    assert "spec.visibility: Public" in published["message"]


def test_a_policy_arriving_publishes_the_page() -> None:
    """A page of a namespace no policy lists is NamespaceNotAllowed until a policy lists it."""
    client, clock = FakeClient(), FakeClock()
    add_page(client, "team-a", "example")

    async def scenario(runtime: Runtime) -> list[str]:
        await pages_seen(runtime, client)
        seen = [condition(client, "team-a", "example", "Published")["reason"]]
        policy = add_policy(client, "teams", namespaces=["team-a"])
        runtime.policy_event(None, policy)
        await settled()
        seen.append(condition(client, "team-a", "example", "Published")["reason"])
        runtime.policy_event("DELETED", policy)
        await settled()
        seen.append(condition(client, "team-a", "example", "Published")["reason"])
        return seen

    assert run(client, clock, scenario) == [
        "NamespaceNotAllowed",
        "Published",
        "NamespaceNotAllowed",
    ]


def test_a_refused_hostname_leaves_ready_alone() -> None:
    """HostnameNotGranted is Published=False; the page is still served by path and Ready."""
    client, clock = FakeClient(), FakeClock()
    add_policy(client, "teams", namespaces=["team-a"])
    add_page(client, "team-a", "example", hostnames=[HOST])
    run(client, clock, lambda runtime: pages_seen(runtime, client))
    published = condition(client, "team-a", "example", "Published")
    assert (published["status"], published["reason"]) == ("False", "HostnameNotGranted")
    assert published["message"].startswith("served by path /team-a/example/; hostname")
    assert condition(client, "team-a", "example", "Ready")["status"] == "True"


def test_two_pages_of_a_namespace_claiming_one_hostname_both_report_the_conflict() -> None:
    """Neither holds it; removing it from one gives it to the other (whose condition follows)."""
    client, clock = FakeClient(), FakeClock()
    add_policy(client, "teams", hostnames=[{"hostname": HOST, "namespace": "team-a"}])
    add_page(client, "team-a", "old", hostnames=[HOST])
    add_page(client, "team-a", "new", hostnames=[HOST])

    async def scenario(runtime: Runtime) -> tuple[list[str], str, str]:
        await pages_seen(runtime, client)
        before = [condition(client, "team-a", n, "Published")["reason"] for n in ("old", "new")]
        changed = client.edit(Kind.PAGE, "team-a", "new", {"title": "new", "visibility": "Public"})
        await runtime.page_event("MODIFIED", changed)
        await settled()
        old = condition(client, "team-a", "old", "Published")
        return before, old["reason"], condition(client, "team-a", "new", "Published")["reason"]

    before, old, new = run(client, clock, scenario)
    assert before == ["HostnameConflict", "HostnameConflict"]
    assert (old, new) == ("Published", "NamespaceNotAllowed")


def test_a_refusal_names_nothing_of_another_namespace() -> None:
    """A page claiming a hostname another namespace holds is told only that it is not granted."""
    client, clock = FakeClient(), FakeClock()
    add_policy(
        client,
        "teams",
        namespaces=["team-b"],
        hostnames=[{"hostname": HOST, "namespace": "team-a"}],
    )
    add_page(client, "team-a", "secret-launch", hostnames=[HOST])
    add_page(client, "team-b", "example", hostnames=[HOST])
    run(client, clock, lambda runtime: pages_seen(runtime, client))
    published = condition(client, "team-b", "example", "Published")
    assert published["reason"] == "HostnameNotGranted"
    assert "secret-launch" not in published["message"]
    assert "team-a" not in published["message"]
    assert condition(client, "team-a", "secret-launch", "Published")["reason"] == "Published"


def test_conflicting_grants_name_the_policies() -> None:
    """A hostname granted to two namespaces is held by none; the message names both policies."""
    client, clock = FakeClient(), FakeClock()
    add_policy(
        client, "one", namespaces=["team-a"], hostnames=[{"hostname": HOST, "namespace": "team-a"}]
    )
    add_policy(client, "two", hostnames=[{"hostname": HOST, "namespace": "team-b"}])
    add_page(client, "team-a", "example", hostnames=[HOST])
    run(client, clock, lambda runtime: pages_seen(runtime, client))
    published = condition(client, "team-a", "example", "Published")
    assert published["reason"] == "HostnameConflict"
    assert "PublicationPolicy one, two" in published["message"]
    assert "team-b" not in published["message"]


def test_a_policy_deleted_unseen_is_swept_and_the_page_unpublished() -> None:
    """A policy deleted during a watch gap (no DELETED event) is dropped by the sweep."""
    client, clock = FakeClient(), FakeClock()
    add_policy(client, "teams", namespaces=["team-a"])
    add_page(client, "team-a", "example")

    async def scenario(runtime: Runtime) -> tuple[str, int, str]:
        await pages_seen(runtime, client)
        before = condition(client, "team-a", "example", "Published")["reason"]
        client.delete(Kind.POLICY, "", "teams")
        dropped = await runtime.sweeper.sweep([])
        await settled()
        return before, dropped, condition(client, "team-a", "example", "Published")["reason"]

    assert run(client, clock, scenario) == ("Published", 1, "NamespaceNotAllowed")


def test_a_grant_conflict_is_logged_once_for_the_admin(caplog: pytest.LogCaptureFixture) -> None:
    """The operator's log names the hostname and the policies when a conflict appears."""
    client, clock = FakeClient(), FakeClock()

    async def scenario(runtime: Runtime) -> None:
        grant = [{"hostname": HOST, "namespace": "team-a"}]
        runtime.policy_event(None, add_policy(client, "one", hostnames=grant))
        other = [{"hostname": HOST, "namespace": "team-b"}]
        runtime.policy_event(None, add_policy(client, "two", hostnames=other))
        runtime.policy_event(None, add_policy(client, "two", hostnames=other))

    with caplog.at_level(logging.WARNING):
        run(client, clock, scenario)
    said = [r.getMessage() for r in caplog.records if HOST in r.getMessage()]
    assert said == [
        f"hostname {HOST} is granted to more than one namespace (PublicationPolicy one, two): "
        "granted to none"
    ]
