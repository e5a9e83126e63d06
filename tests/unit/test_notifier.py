"""Subscriber notifications without a cluster: the real package against fakes at the edge (an
in-memory API server, a recording channel), a fixed clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from aiohttp import web

from statuspage_operator.api.names import Kind
from statuspage_operator.api.news import PageFacts
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.control.notifications import (
    EgressPolicy,
    Notifier,
    waits_for_destination,
)
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.control.view import PageEntry, View
from statuspage_operator.control.writer import Announcer, WritesInFlight
from statuspage_operator.domain.audience import Audience
from statuspage_operator.k8s.client import ApiError
from unit.fake_channels import FakeChannels
from unit.fake_time import eventually
from unit.fakes import FakeClient, resource

NS = "default"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FACTS = PageFacts("Example", "UTC", None, None)
T = TypeVar("T")
CONSENT = {"statuspage.dev/subscriber": "true"}
LOOPBACK = EgressPolicy.parse(["127.0.0.0/8"])


def url(name: str) -> str:
    return f"json://hooks.example.com/{name}"


def subscriber(name: str, **spec: Any) -> dict[str, Any]:
    """A Subscriber of page `example` whose URL is in Secret `name`, key `url`."""
    full = {"page": "example", "urlSecretRef": {"name": name, "key": "url"}, **spec}
    return resource("Subscriber", NS, name, full)


@dataclass
class Harness:
    """The notifier as the runtime wires it, on fakes."""

    api: FakeClient
    channels: FakeChannels
    view: View
    announcer: Announcer
    notifier: Notifier

    async def subscribe(self, name: str, secret: bool = True, **spec: Any) -> None:
        """A Subscriber (and its Secret) appears."""
        if secret:
            self.api.add_secret(NS, name, {"url": url(name)}, CONSENT)
        await self.notifier.subscriber_event("ADDED", self.api.add(subscriber(name, **spec)))

    def status(self, name: str) -> dict[str, Any]:
        """A Subscriber's status as stored."""
        return self.api.status("subscribers", NS, name)

    def ready(self, name: str) -> dict[str, Any]:
        """A Subscriber's Ready condition as stored."""
        return self.api.ready("subscribers", NS, name)

    def warnings(self) -> list[tuple[str, str]]:
        """(object, reason) of the Warning Events posted."""
        return [
            (e["involvedObject"]["name"], e["reason"])
            for e in self.api.events()
            if e["type"] == "Warning"
        ]


def make_harness(api: FakeClient | None = None, retry_base: float = 0.001) -> Harness:
    """A page `example` in the view; the notifier with quick retries."""
    api = api or FakeClient()
    channels = FakeChannels()
    view = View()
    view.set_page((NS, "example"), PageEntry("uid-page", 1, None, facts=FACTS))
    in_flight = WritesInFlight()
    announcer = Announcer(api, lambda: NOW, in_flight)
    notifier = Notifier(api, lambda: NOW, view, announcer, in_flight, retry_base, channels=channels)
    return Harness(api, channels, view, announcer, notifier)


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


TIMELINE = [
    {"status": "Investigating", "message": "Looking.", "at": "2026-12-01T11:50:00Z"},
    {"status": "Identified", "message": "A bad deploy.", "at": "2026-12-01T11:55:00Z"},
    {"status": "Resolved", "message": "Rolled back.", "at": "2026-12-01T11:58:00Z"},
]
INCIDENT_SPEC = {"page": "example", "title": "Errors", "components": [{"name": "api"}]}
INCIDENT = {
    "metadata": {"namespace": NS, "name": "boom", "uid": "uid-boom"},
    "spec": INCIDENT_SPEC,
    "status": {"timeline": TIMELINE},
}


def incident_notices() -> list[Notice]:
    """The notices of the incident's three updates."""
    items = [("IncidentUpdated", str(u["message"]), False) for u in TIMELINE]
    made = make_notices("boom", "uid-boom", NOW, items)
    return [notice.about(str(i), None) for i, notice in enumerate(made)]


def test_a_subscriber_waiting_for_its_secret_is_ready_once_it_appears() -> None:
    """SecretNotFound (a Warning, and the timer's filter matches), then Ready after a recheck."""

    async def scenario() -> Harness:
        h = make_harness()
        await h.subscribe("hook", secret=False)
        assert h.ready("hook")["reason"] == "SecretNotFound"
        assert "Secret hook not found" in h.ready("hook")["message"]
        assert waits_for_destination(h.status("hook"))
        await h.notifier.recheck(NS, "hook")
        assert h.ready("hook")["reason"] == "SecretNotFound"
        h.api.add_secret(NS, "hook", {"url": url("hook")}, CONSENT)
        await h.notifier.recheck(NS, "hook")
        await h.announcer.drain()
        return h

    h = run(scenario)
    assert h.ready("hook")["status"] == "True"
    assert not waits_for_destination(h.status("hook"))
    assert h.warnings() == [("hook", "SecretNotFound")]


# Apprise, loaded to judge an unknown scheme, still imports imghdr.
@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("value", "says"),
    [
        pytest.param("nosuch://x/y", "unknown scheme nosuch://", id="scheme"),
        pytest.param("just words", "has no scheme", id="not-a-url"),
        pytest.param("json://", "has no host", id="no-host"),
    ],
)
def test_a_bad_url_says_what_to_fix_and_is_checked_again(value: str, says: str) -> None:
    """InvalidDestination with what is wrong, never the URL; rechecked while so."""

    async def scenario() -> Harness:
        h = make_harness()
        h.api.add_secret(NS, "hook", {"url": value}, CONSENT)
        await h.subscribe("hook", secret=False)
        return h

    h = run(scenario)
    ready = h.ready("hook")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidDestination")
    assert says in ready["message"]
    assert waits_for_destination(h.status("hook"))


def test_a_recheck_that_meets_a_busy_api_server_waits_for_the_next() -> None:
    """A 503 reading the Secret is logged, not raised: kopf's timer tries again."""

    async def scenario() -> tuple[str, int]:
        h = make_harness()
        await h.subscribe("hook", secret=False)
        h.api.fail_next("GET", "/secrets/hook$", 503)
        await h.notifier.recheck(NS, "hook")
        return str(h.ready("hook")["reason"]), h.api.faults_left()

    assert run(scenario) == ("SecretNotFound", 0)


def test_a_namespace_the_operator_may_not_read_says_so_and_is_checked_again() -> None:
    """A 403 (RBAC narrowed to other namespaces) is the Subscriber's condition, not a crash;
    once bound, the next recheck finds the Secret."""

    async def scenario() -> tuple[dict[str, Any], bool, dict[str, Any]]:
        h = make_harness()
        h.api.add_secret(NS, "hook", {"url": url("hook")}, CONSENT)
        h.api.fail_next("GET", "/secrets/hook$", 403)
        await h.subscribe("hook", secret=False)
        forbidden = h.ready("hook")
        waiting = waits_for_destination(h.status("hook"))
        await h.notifier.recheck(NS, "hook")
        return forbidden, waiting, h.ready("hook")

    forbidden, waiting, bound = run(scenario)
    assert forbidden["reason"] == "SecretNotFound"
    assert "may not read Secrets in namespace default" in forbidden["message"]
    assert waiting
    assert bound["status"] == "True"


def test_a_recheck_refused_for_good_raises_for_kopf_to_report() -> None:
    """Any other refusal (here 400) is no passing trouble: it is raised."""

    async def scenario() -> None:
        h = make_harness()
        await h.subscribe("hook", secret=False)
        h.api.fail_next("GET", "/secrets/hook$", 400)
        await h.notifier.recheck(NS, "hook")

    with pytest.raises(ApiError, match="400"):
        run(scenario)


def test_subscribers_follow_their_page_s_coming_and_going() -> None:
    """PageNotFound when the page leaves the view, Ready when it is back."""

    async def scenario() -> list[str]:
        h = make_harness()
        await h.subscribe("hook")
        seen = [h.ready("hook")["reason"]]
        h.view.set_page((NS, "example"), None)
        await h.notifier.heal(NS, "example")
        seen.append(h.ready("hook")["reason"])
        h.view.set_page((NS, "example"), PageEntry("uid-page", 2, None, facts=FACTS))
        await h.notifier.heal(NS, "example")
        seen.append(h.ready("hook")["reason"])
        return seen

    assert run(scenario) == ["Reconciled", "PageNotFound", "Reconciled"]


def test_a_subscriber_of_an_audience_its_page_lacks_says_so() -> None:
    """AudienceNotFound (it would hear nothing) until the page names the audience."""

    async def scenario() -> list[tuple[str, str]]:
        h = make_harness()
        await h.subscribe("hook", audience="core")
        seen = [(h.ready("hook")["reason"], h.ready("hook")["message"])]
        core = Audience("core", frozenset({"alice"}), frozenset(), frozenset({"api"}))
        private = PageFacts("Example", "UTC", None, None, (core,))
        h.view.set_page((NS, "example"), PageEntry("uid-page", 2, None, facts=private))
        await h.notifier.heal(NS, "example")
        seen.append((h.ready("hook")["reason"], h.ready("hook")["message"]))
        return seen

    assert run(scenario) == [
        (
            "AudienceNotFound",
            "page example has no audience core in spec.audiences; add it to the page (a "
            "Private page), or fix spec.audience",
        ),
        ("Reconciled", "Reconciled"),
    ]


def test_incident_updates_arrive_in_order_each_once_and_are_recorded() -> None:
    """Created, updated, resolved in order; offered again, nothing more; recorded by key."""

    async def scenario() -> Harness:
        h = make_harness()
        await h.subscribe("hook")
        h.notifier.offer(Kind.INCIDENT, INCIDENT, incident_notices())
        await eventually(lambda: h.status("hook").get("sent") == 3)
        h.notifier.offer(Kind.INCIDENT, INCIDENT, incident_notices())
        await asyncio.sleep(0.02)
        return h

    h = run(scenario)
    assert h.channels.to(url("hook")) == [
        "incident.created",
        "incident.updated",
        "incident.resolved",
    ]
    keys = [headers["Idempotency-Key"] for _, headers, _ in h.channels.sent]
    recorded = {entry["key"] for entry in h.status("hook")["delivered"]}
    assert recorded == set(keys)
    assert len(recorded) == 3
    assert h.status("hook")["lastDelivery"]["event"] == "incident.resolved"


def test_after_a_restart_a_recorded_key_is_not_sent_again() -> None:
    """A new notifier primed from the stored Subscriber sends nothing it recorded."""

    async def scenario() -> tuple[int, int]:
        first = make_harness()
        await first.subscribe("hook")
        first.notifier.offer(Kind.INCIDENT, INCIDENT, incident_notices()[:2])
        await eventually(lambda: first.status("hook").get("sent") == 2)
        await first.notifier.close()
        again = make_harness(first.api)
        again.notifier.prime(first.api.get("subscribers", NS, "hook") or {})
        again.notifier.offer(Kind.INCIDENT, INCIDENT, incident_notices())
        await eventually(lambda: again.status("hook").get("sent") == 3)
        return len(first.channels.sent), len(again.channels.sent)

    assert run(scenario) == (2, 1)


def test_a_failing_endpoint_is_tried_three_times_then_says_so() -> None:
    """DeliveryFailed with the channel's error and a Warning; the other subscriber receives."""

    async def scenario() -> Harness:
        h = make_harness()
        h.channels.failing.add(url("bad"))
        await h.subscribe("bad")
        await h.subscribe("good")
        h.notifier.offer(Kind.INCIDENT, INCIDENT, incident_notices()[:1])
        await eventually(lambda: h.ready("bad").get("reason") == "DeliveryFailed")
        await eventually(lambda: h.status("good").get("sent") == 1)
        await h.announcer.drain()
        return h

    h = run(scenario)
    assert h.channels.attempts == 3 + 1
    ready = h.ready("bad")
    assert "incident.created not delivered after 3 attempts" in ready["message"]
    assert ready["message"].endswith(": 5xx")
    assert "hooks.example.com" not in ready["message"]
    assert h.status("bad")["failed"] == 1
    assert h.warnings() == [("bad", "DeliveryFailed")]
    assert h.channels.to(url("good")) == ["incident.created"]


def test_a_subscriber_filtering_components_hears_only_of_its_own() -> None:
    """components: [db] hears nothing of an incident on api."""

    async def scenario() -> Harness:
        h = make_harness()
        await h.subscribe("db-only", components=["db"])
        await h.subscribe("all")
        h.notifier.offer(Kind.INCIDENT, INCIDENT, incident_notices()[:1])
        await eventually(lambda: h.status("all").get("sent") == 1)
        return h

    h = run(scenario)
    assert h.channels.to(url("db-only")) == []
    assert "sent" not in h.status("db-only") or h.status("db-only")["sent"] == 0


def test_a_notice_s_deliveries_are_owed_until_sent() -> None:
    """owes(): a later status write keeps the notice while its deliveries are in flight."""

    async def scenario() -> tuple[bool, bool]:
        h = make_harness()
        await h.subscribe("hook")
        [notice] = incident_notices()[:1]
        h.notifier.offer(Kind.INCIDENT, INCIDENT, [notice])
        during = h.notifier.owes(notice.event)
        await eventually(lambda: h.status("hook").get("sent") == 1)
        return during, h.notifier.owes(notice.event)

    assert run(scenario) == (True, False)


def test_the_record_write_is_retried_through_a_busy_api_server() -> None:
    """Two 503s on the record's write: it is written all the same."""

    async def scenario() -> int:
        h = make_harness()
        await h.subscribe("hook")
        patches = h.api.count("PATCH")
        # The Secret is cached from the check: the record's write is the next call.
        h.api.fail_next("PATCH", "/subscribers/hook/status$", 503, times=2)
        h.notifier.offer(Kind.INCIDENT, INCIDENT, incident_notices()[:1])
        await eventually(lambda: h.status("hook").get("sent") == 1)
        return h.api.count("PATCH") - patches

    assert run(scenario) == 3


@pytest.mark.parametrize(
    ("ready", "waits"),
    [
        pytest.param({"status": "False", "reason": "SecretNotFound"}, True, id="secret-missing"),
        pytest.param({"status": "False", "reason": "InvalidDestination"}, True, id="bad-url"),
        pytest.param({"status": "False", "reason": "PageNotFound"}, False, id="page-missing"),
        pytest.param({"status": "False", "reason": "DeliveryFailed"}, False, id="failed-send"),
        pytest.param({"status": "True", "reason": "Reconciled"}, False, id="ready"),
        pytest.param(None, False, id="no-status-yet"),
    ],
)
def test_only_a_subscriber_waiting_for_its_secret_is_checked_again(
    ready: dict[str, str] | None, waits: bool
) -> None:
    """The recheck timer's filter: a missing Secret or a bad URL, nothing else."""
    status = {"conditions": [{"type": "Ready", **ready}]} if ready else {}
    assert waits_for_destination(status) is waits


async def serve(received: list[dict[str, Any]]) -> tuple[web.AppRunner, int]:
    """A webhook receiver on loopback: records each body it is posted."""

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


def test_the_runtime_s_wiring_announces_and_delivers_what_a_write_records() -> None:
    """A status write's notice: its Event, and a webhook to the page's subscriber. After a
    restart, a replay of that status sends only the notice not delivered yet, and posts no
    Event twice."""

    async def scenario() -> tuple[list[str], list[str], int]:
        api, received = FakeClient(), list[dict[str, Any]]()
        runner, port = await serve(received)
        api.add_secret(NS, "hook", {"url": f"json://127.0.0.1:{port}/hook"}, CONSENT)
        hook = api.add(subscriber("hook"))
        incident = api.add(resource(Kind.INCIDENT, NS, "boom", dict(INCIDENT_SPEC)))
        first, second = incident_notices()[:2]
        runtime = Runtime(api, lambda: NOW, egress=LOOPBACK)
        runtime.view.set_page((NS, "example"), PageEntry("uid-page", 1, None, facts=FACTS))
        await runtime.subscriber_event("ADDED", hook)
        desired = {"timeline": TIMELINE}
        await runtime.writer.write(Kind.INCIDENT, incident, {}, desired, [first])
        await eventually(lambda: api.status("subscribers", NS, "hook").get("sent") == 1)
        await runtime.close()
        # A crash after the next status write, before its Event and delivery.
        notices = api.status(Kind.INCIDENT, NS, "boom")["notices"]
        status = {"notices": [*notices, second.to_status()]}
        stored = await api.patch_status(Kind.INCIDENT, NS, "boom", status)
        again = Runtime(api, lambda: NOW, egress=LOOPBACK)
        again.view.set_page((NS, "example"), PageEntry("uid-page", 1, None, facts=FACTS))
        again.notifier.prime(api.get("subscribers", NS, "hook") or {})
        again.writer.replay(Kind.INCIDENT, stored)
        await eventually(lambda: api.status("subscribers", NS, "hook").get("sent") == 2)
        await again.close()
        await runner.cleanup()
        events = [body["meta"]["event"] for body in received]
        posted = [e["metadata"]["name"] for e in api.events()]
        return events, posted, len(api.events())

    events, posted, count = run(scenario)
    assert events == ["incident.created", "incident.updated"]
    assert len(set(posted)) == count == 2


def test_an_unlabelled_secret_reads_exactly_as_a_missing_one() -> None:
    """Secrets by consent: without the label, the same condition, word for word, as none."""

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        h = make_harness()
        await h.subscribe("hook", secret=False)
        missing = h.ready("hook")
        h.api.add_secret(NS, "hook", {"url": url("hook")}, {"statuspage.dev/subscriber": "yes"})
        await h.notifier.recheck(NS, "hook")
        unlabelled = h.ready("hook")
        h.api.add_secret(NS, "hook", {"url": url("hook")}, CONSENT)
        await h.notifier.recheck(NS, "hook")
        return missing, unlabelled, h.ready("hook")

    missing, unlabelled, labelled = run(scenario)
    assert (unlabelled["reason"], unlabelled["message"]) == (missing["reason"], missing["message"])
    assert missing["reason"] == "SecretNotFound"
    assert 'not labelled statuspage.dev/subscriber: "true"' in missing["message"]
    assert labelled["status"] == "True"
