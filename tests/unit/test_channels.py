"""Sending under the egress policy: webhooks (aiohttp) and Apprise against a loopback receiver the
test's policy allows, a fake DNS for names, and failures told only as categories."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web

from statuspage_operator.api.names import Kind
from statuspage_operator.control.notifications import Notifier
from statuspage_operator.control.notifications.channels import (
    Channels,
    DestinationError,
    parse_destination,
    redact,
)
from statuspage_operator.control.notifications.egress import EgressPolicy
from statuspage_operator.control.notifications.failures import (
    Failure,
    SendError,
    failure_of_apprise,
)
from statuspage_operator.control.view import PageEntry, View
from statuspage_operator.control.writer import Announcer, WritesInFlight
from unit.fake_time import eventually
from unit.fakes import FakeClient
from unit.test_egress import FakeDNS
from unit.test_notifier import CONSENT, FACTS, INCIDENT, NOW, NS, incident_notices, subscriber

T = TypeVar("T")
LOOPBACK = EgressPolicy.parse(["127.0.0.0/8"])
# Apprise, loaded for form://, still imports imghdr.
apprise_warnings = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


class Receiver:
    """A loopback HTTP server: records each request's path and Host; some paths misbehave."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.seen.append((request.path, request.host.split(":")[0]))
        if request.path == "/redirect":
            raise web.HTTPTemporaryRedirect(f"http://localhost:{self.port}/landing")
        if request.path == "/fail":
            return web.Response(status=503, reason="Upstream 10.1.2.3 down", text="secret body")
        if request.path == "/missing":
            return web.Response(status=404)
        if request.path == "/slow":
            await asyncio.sleep(2)
        return web.Response(text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


async def attempt(channels: Channels, url: str) -> Failure | None:
    """One send; its failure category, or None when delivered."""
    try:
        await channels.send(parse_destination(url, channels.policy), "t", "x", b"{}", {})
    except SendError as error:
        return error.failure
    finally:
        await channels.close()
    return None


def dns_to_loopback() -> FakeDNS:
    return FakeDNS({"hooks.example.com.": ["127.0.0.1"], "rebind.example.com.": ["127.0.0.1"]})


@pytest.mark.parametrize(
    ("path", "failure"),
    [
        pytest.param("/ok", None, id="delivered"),
        pytest.param("/fail", Failure.SERVER, id="5xx"),
        pytest.param("/missing", Failure.CLIENT, id="4xx"),
        pytest.param("/redirect", Failure.REDIRECT, id="redirect-not-followed"),
    ],
)
def test_a_webhook_s_outcome_is_a_category(path: str, failure: Failure | None) -> None:
    """The far end's answer as a category; a redirect (into a refused name) is not followed."""

    async def scenario() -> tuple[Failure | None, list[str]]:
        async with Receiver() as receiver:
            got = await attempt(Channels(LOOPBACK), f"json://127.0.0.1:{receiver.port}{path}")
            return got, receiver.paths()

    got, paths = run(scenario)
    assert got == failure
    assert paths == [path]


def test_a_webhook_connects_to_the_address_its_name_was_checked_as() -> None:
    """The name resolves (once, under the policy) to the address connected to."""
    dns = dns_to_loopback()

    async def scenario() -> tuple[Failure | None, list[tuple[str, str]]]:
        async with Receiver() as receiver:
            channels = Channels(LOOPBACK, dns.lookup())
            got = await attempt(channels, f"json://hooks.example.com:{receiver.port}/ok")
            return got, receiver.seen

    assert run(scenario) == (None, [("/ok", "hooks.example.com")])
    assert dns.asked == ["hooks.example.com."]


@pytest.mark.parametrize(
    ("url", "asked"),
    [
        pytest.param("json://169.254.169.254/latest", [], id="link-local-literal"),
        pytest.param("json://[::ffff:127.0.0.1]:9/x", [], id="mapped-loopback"),
        pytest.param("jsons://kubernetes.default.svc/x", [], id="svc"),
        pytest.param("json://rebind.example.com/x", ["rebind.example.com."], id="rebinding"),
    ],
)
def test_a_refused_webhook_is_refused_by_policy_before_any_connection(
    url: str, asked: list[str]
) -> None:
    """With the default policy, nothing internal is connected to (the DNS is fake)."""
    dns = dns_to_loopback()
    channels = Channels(EgressPolicy(), dns.lookup())
    destination = parse_destination(url)
    with pytest.raises(SendError) as refused:
        run(lambda: channels.send(destination, "t", "x", b"{}", {}))
    assert refused.value.failure is Failure.REFUSED
    assert str(refused.value) == "refused by policy"
    assert dns.asked == asked
    run(channels.close)


def test_slow_and_tls_failures_have_their_category() -> None:
    """No answer in time: timeout; TLS spoken to a plain HTTP server: TLS error."""
    quick = aiohttp.ClientTimeout(total=0.5)

    async def scenario() -> tuple[Failure | None, Failure | None]:
        async with Receiver() as receiver:
            url = f"127.0.0.1:{receiver.port}"
            slow = await attempt(Channels(LOOPBACK, timeout=quick), f"json://{url}/slow")
            tls = await attempt(Channels(LOOPBACK), f"jsons://{url}/ok")
            return slow, tls

    assert run(scenario) == (Failure.TIMEOUT, Failure.TLS)


def test_unreachable_and_unresolvable_webhooks_have_their_category() -> None:
    """A closed port: connection refused; a name DNS does not know: DNS."""
    dns = FakeDNS({})

    async def scenario() -> tuple[Failure | None, Failure | None]:
        async with Receiver() as receiver:
            port = receiver.port
        closed = await attempt(Channels(LOOPBACK), f"json://127.0.0.1:{port}/x")
        unknown = await attempt(Channels(LOOPBACK, dns.lookup()), "json://nowhere.example.com/x")
        return closed, unknown

    assert run(scenario) == (Failure.CONNECTION_REFUSED, Failure.DNS)


@apprise_warnings
def test_apprise_follows_a_redirect_only_where_the_policy_allows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """form:// (requests inside Apprise) is pinned: the redirect to `localhost` is refused.
    Apprise's own words, which name the host, stay out of the operator's log (at INFO: its
    --verbose debug lines are HTTP libraries' own)."""
    dns = dns_to_loopback()

    async def scenario() -> tuple[Failure | None, list[str]]:
        async with Receiver() as receiver:
            channels = Channels(LOOPBACK, sync_lookup=dns.sync)
            got = await attempt(channels, f"form://hooks.example.com:{receiver.port}/redirect")
            return got, receiver.paths()

    with caplog.at_level(logging.INFO):
        assert run(scenario) == (Failure.REFUSED, ["/redirect"])
    assert "hooks.example.com" not in caplog.text
    assert "localhost" not in caplog.text


@apprise_warnings
def test_apprise_delivers_to_an_allowed_address_and_refuses_the_rest() -> None:
    """form:// reaches the allowed loopback receiver; a name resolving inside is refused."""
    dns = dns_to_loopback()

    async def scenario() -> tuple[Failure | None, Failure | None, list[str]]:
        async with Receiver() as receiver:
            port = receiver.port
            ok = await attempt(
                Channels(LOOPBACK, sync_lookup=dns.sync), f"form://127.0.0.1:{port}/ok"
            )
            refused = await attempt(
                Channels(EgressPolicy(), sync_lookup=dns.sync),
                f"form://rebind.example.com:{port}/ok",
            )
            return ok, refused, receiver.paths()

    assert run(scenario) == (None, Failure.REFUSED, ["/ok"])


@apprise_warnings
@pytest.mark.parametrize(
    ("url", "says"),
    [
        pytest.param("form://h.example.com/?+X-Admin=1", "+/- options", id="header"),
        pytest.param("form://h.example.com/?-message", "+/- options", id="drop-field"),
        pytest.param("xml://h.example.com/?method=DELETE", "other than POST", id="delete"),
        pytest.param("forms://h.example.com/?method=put", "other than POST", id="put"),
        pytest.param("rsyslog://h.example.com", "unknown scheme rsyslog://", id="rsyslog"),
        pytest.param("json://localhost:8080/x", "refused by policy", id="localhost"),
        pytest.param("jsons://hook.ns.svc.cluster.local/x", "refused by policy", id="svc"),
    ],
)
def test_destinations_that_are_never_sent_to(url: str, says: str) -> None:
    """Schemes off the allow-list, state-changing options, refused hosts: what to fix."""
    with pytest.raises(DestinationError) as error:
        parse_destination(url, EgressPolicy())
    assert says in str(error.value)
    assert "h.example.com" not in str(error.value)


@apprise_warnings
@pytest.mark.parametrize(
    "url",
    [
        "form://h.example.com/?method=post",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "mailtos://user:pw@example.com?to=ops@example.com",
        "json://hooks.example.com/x",
    ],
)
def test_allowed_destinations_parse(url: str) -> None:
    """Allowed schemes with harmless options are accepted."""
    assert parse_destination(url, EgressPolicy()).url == url


def test_redact_shows_only_the_scheme_and_a_tag() -> None:
    """No host, user, password, port, path token or query; the same URL, the same tag."""
    url = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js?avatar=no"
    shown = redact(url)
    assert shown.startswith("discord://…#")
    for part in ("4174216298", "JHMHI8qBe7bk2ZwO5U711o3dV_js", "avatar"):
        assert part not in shown
    assert redact(url) == shown
    assert redact("json://u:p@10.0.0.1:8080/x") != redact("json://u:p@10.0.0.2:8080/x")


@pytest.mark.parametrize(
    ("lines", "failure"),
    [
        pytest.param(
            ["Failed to send Slack notification: Bad Request - error=400."], Failure.CLIENT
        ),
        pytest.param(["Failed to send ntfy notification: error=502."], Failure.SERVER),
        pytest.param(["Connection timed out"], Failure.TIMEOUT),
        pytest.param(["A Connection error occurred sending Email notification."], Failure.FAILED),
    ],
)
def test_apprise_s_words_become_a_category(lines: list[str], failure: Failure) -> None:
    """Apprise only logs why; the category is read from it, the words are dropped."""
    assert failure_of_apprise(lines) is failure


def test_a_name_resolving_inside_fails_its_deliveries_as_refused_by_policy() -> None:
    """The Subscriber is Ready (its name is not the cluster's), each delivery is refused at
    resolution, and the condition says only "refused by policy"."""
    dns = FakeDNS({"hooks.example.com.": ["93.184.216.34", "169.254.169.254"]})

    async def scenario() -> tuple[str, dict[str, Any]]:
        api, view, in_flight = FakeClient(), View(), WritesInFlight()
        view.set_page((NS, "example"), PageEntry("uid-page", 1, None, facts=FACTS))
        announcer = Announcer(api, lambda: NOW, in_flight)
        channels = Channels(EgressPolicy(), dns.lookup())
        notifier = Notifier(api, lambda: NOW, view, announcer, in_flight, 0.001, channels)
        api.add_secret(NS, "hook", {"url": "json://hooks.example.com/x"}, CONSENT)
        await notifier.subscriber_event("ADDED", api.add(subscriber("hook")))
        before = str(api.ready("subscribers", NS, "hook")["status"])
        notifier.offer(Kind.INCIDENT, INCIDENT, incident_notices()[:1])
        await eventually(lambda: api.ready("subscribers", NS, "hook")["status"] == "False")
        await notifier.close()
        return before, api.ready("subscribers", NS, "hook")

    before, after = run(scenario)
    assert before == "True"
    assert after["reason"] == "DeliveryFailed"
    assert after["message"].endswith("after 3 attempts: refused by policy")
    assert dns.asked == ["hooks.example.com."] * 3
