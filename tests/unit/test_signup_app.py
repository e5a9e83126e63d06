"""statuspage-signup's answers, over fakes of the ledger, the API server and the relay.

What is held here: a forged, expired, replayed or wrong-kind link gets one answer; a sign-up's
answer says nothing of the address; a page without the form is an unknown page; GETs change
nothing; a confirmation is idempotent and never touches a cluster user's Subscriber; every answer
carries the security headers; no address or token reaches the log.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from statuspage_operator.api.names import Kind
from statuspage_operator.api.subscription_tokens import (
    Links,
    SubscriptionKeys,
    TokenKind,
    mint,
    subscription_name,
)
from statuspage_operator.mail import MailError, Relay
from statuspage_operator.server.cache import Cache
from statuspage_operator.server.identity import Trust
from statuspage_operator.signup.app import make_app
from statuspage_operator.signup.kube import subscriber_body
from statuspage_operator.signup.service import Signup
from statuspage_operator.signup.settings import Settings
from unit.signup_fakes import FakeLedger, FakeMailer, FakeSubscribers

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
NS = "team"
KEYS = SubscriptionKeys((b"k" * 32,), b"n" * 32)
RELAY = Relay("127.0.0.1", 25, "none", "status@example.com")
BASE = "https://status.example.com/subscriptions"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CONFIRM = re.compile(r"https://status\.example\.com/subscriptions/confirm/(\S+)")
MANAGE = re.compile(r'/manage/([^"]+)"')
Client = TestClient[Any, Any]


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": NS, "uid": name}, "spec": spec}


def page(name: str = "example", **spec: Any) -> dict[str, Any]:
    defaults = {"title": "Example", "visibility": "Public", "subscriptions": {"byEmail": True}}
    return obj("StatusPage", name, {**defaults, **spec})


def make_cache(*pages: dict[str, Any]) -> Cache:
    """Listed: the pages, components api and db of `example`, a policy publishing NS."""
    cache = Cache()
    cache.replace(Kind.PAGE, pages or (page(),))
    cache.replace(
        Kind.COMPONENT,
        [
            obj("Component", "api", {"page": "example", "displayName": "API"}),
            obj("Component", "db", {"page": "example", "displayName": "Database"}),
        ],
    )
    policy = {"metadata": {"name": "p"}, "spec": {"namespaces": [NS]}}
    cache.replace(Kind.POLICY, [policy])
    return cache


class World:
    """A Signup over fakes, its fakes, and a clock that can move."""

    def __init__(self, cache: Cache | None = None, settings: Settings | None = None) -> None:
        self.ledger = FakeLedger()
        self.subscribers = FakeSubscribers()
        self.mailer = FakeMailer()
        self.now = NOW
        self.signup = Signup(
            cache=cache or make_cache(),
            subscribers=self.subscribers,
            links=Links(BASE),
            trust=Trust.of(["127.0.0.1/32"]),
            settings=settings or Settings(KEYS, RELAY, ()),
            ledger=self.ledger,
            sender=self.mailer,
            clock=lambda: self.now,
        )

    def confirm_token(self) -> str:
        """The token of the last confirmation mailed."""
        part = self.mailer.sent[-1].get_body(("plain",))
        assert part is not None
        found = CONFIRM.search(str(part.get_content()))
        assert found is not None
        return found.group(1)


def run(world: World, scenario: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with TestClient(TestServer(make_app(world.signup))) as client:
            await scenario(client)
            await world.signup.drain(5)

    asyncio.run(main())


async def sign_up(
    client: Client, world: World, email: str = "ann@example.org", *ticked: str, who: str = "1.2.3.4"
) -> tuple[int, str]:
    """POST the form as a client; the status and text; mails sent meanwhile are awaited."""
    body = "&".join([f"email={email}", *(f"components={t}" for t in ticked)])
    headers = {**FORM, "X-Forwarded-For": who}
    response = await client.post(f"/subscribe/{NS}/example", data=body, headers=headers)
    text = await response.text()
    await world.signup.drain(5)
    return response.status, text


def test_sign_up_mails_a_confirmation_without_list_headers() -> None:
    """MAIL: one message to the address, a confirmation link, no List-Unsubscribe."""
    world = World()

    async def scenario(client: Client) -> None:
        status, text = await sign_up(client, world, "ann@example.org", "c:api")
        assert status == 200
        assert "Check your inbox" in text

    run(world, scenario)
    [message] = world.mailer.sent
    assert message["To"] == "ann@example.org"
    assert message["List-Unsubscribe"] is None
    assert world.confirm_token()
    [pending] = world.ledger.pending.values()
    assert pending.mailed
    assert pending.components == ("api",)


def test_the_answer_is_the_same_for_a_new_a_repeated_and_a_subscribed_address() -> None:
    """MAIL, QUIET, and an address with a Subscriber already: one answer, one mail."""
    world = World()
    name = subscription_name(KEYS.naming or b"", NS, "example", "bob@example.org")
    world.subscribers.add(NS, subscriber_body(name, "example", None))

    async def scenario(client: Client) -> None:
        answers = {
            await sign_up(client, world, "ann@example.org", who="1.1.1.1"),
            await sign_up(client, world, "ann@example.org", who="1.1.1.2"),
            await sign_up(client, world, "bob@example.org", who="1.1.1.3"),
        }
        assert len(answers) == 1

    run(world, scenario)
    assert [m["To"] for m in world.mailer.sent] == ["ann@example.org", "bob@example.org"]


@pytest.mark.parametrize(
    ("burst", "pending", "status", "retry"),
    [
        pytest.param(0, 100, 429, "600", id="client-limited"),
        pytest.param(5, 0, 503, "900", id="page-full"),
    ],
)
def test_limits_answer_with_retry_after(burst: int, pending: int, status: int, retry: str) -> None:
    """CLIENT_LIMITED: 429; PAGE_FULL: 503; both with Retry-After, and no mail."""
    world = World(make_cache(page(subscriptions={"byEmail": True, "maxPending": 1})))
    world.ledger.burst = burst
    if pending == 0:
        world.ledger.pending[(NS, "example", "x")] = object()  # type: ignore[assignment]

    async def scenario(client: Client) -> None:
        response = await client.post(
            f"/subscribe/{NS}/example", data="email=ann@example.org", headers=FORM
        )
        assert response.status == status
        assert response.headers["Retry-After"] == retry

    run(world, scenario)
    assert world.mailer.sent == []


def test_the_client_is_the_proxy_s_x_forwarded_for() -> None:
    """Behind the trusted proxy, each X-Forwarded-For client has its own limit."""
    world = World()
    world.ledger.burst = 1

    async def scenario(client: Client) -> None:
        assert (await sign_up(client, world, "a@example.org", who="9.9.9.9"))[0] == 200
        assert (await sign_up(client, world, "b@example.org", who="9.9.9.9"))[0] == 429
        assert (await sign_up(client, world, "c@example.org", who="8.8.8.8"))[0] == 200

    run(world, scenario)
    assert set(world.ledger.clients) == {"9.9.9.9", "8.8.8.8"}


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("not-an-address", id="no-at"),
        pytest.param("a@b@example.org", id="two-ats"),
        pytest.param("ann%0d%0aBcc:%20x@example.org", id="header-injection"),
        pytest.param("", id="empty"),
    ],
)
def test_an_invalid_address_gets_the_form_again_with_a_message(email: str) -> None:
    """400, the form, a message; nothing asked of the ledger."""
    world = World()

    async def scenario(client: Client) -> None:
        status, text = await sign_up(client, world, email)
        assert status == 400
        assert "not an email address" in text
        assert '<form method="post">' in text

    run(world, scenario)
    assert world.ledger.calls == []


def test_pages_without_the_form_answer_as_an_unknown_path() -> None:
    """Unpublished, Private, byEmail false, unknown page, unknown path: one 404 body."""
    world = World(
        make_cache(
            page("hidden", visibility="Unpublished"),
            page("private", visibility="Private"),
            page("quiet", subscriptions={"byEmail": False}),
        )
    )

    async def scenario(client: Client) -> None:
        bodies = set()
        for path in ("hidden", "private", "quiet", "nowhere"):
            for method in ("GET", "POST"):
                response = await client.request(
                    method, f"/subscribe/{NS}/{path}", data="email=a@example.org", headers=FORM
                )
                assert response.status == 404
                bodies.add(await response.text())
        response = await client.get("/elsewhere")
        assert response.status == 404
        bodies.add(await response.text())
        assert len(bodies) == 1

    run(world, scenario)
    assert world.ledger.calls == []


def test_confirm_get_changes_nothing_and_post_subscribes() -> None:
    """GET shows a button; POST makes the Subscriber, then its owned address Secret."""
    world = World()

    async def scenario(client: Client) -> None:
        await sign_up(client, world, "ann@example.org", "c:db")
        token = world.confirm_token()
        response = await client.get(f"/confirm/{token}")
        assert response.status == 200
        assert "Confirm" in await response.text()
        assert world.subscribers.writes == []
        response = await client.post(f"/confirm/{token}")
        assert response.status == 200
        text = await response.text()
        assert "You are subscribed" in text
        assert MANAGE.search(text)

    run(world, scenario)
    name = subscription_name(KEYS.naming or b"", NS, "example", "ann@example.org")
    stored = world.subscribers.objects[(NS, name)]
    assert stored["spec"]["components"] == ["db"]
    secret = world.subscribers.secrets[(NS, name)]
    assert secret["metadata"]["ownerReferences"][0]["uid"] == stored["metadata"]["uid"]
    assert world.ledger.pending == {}


def test_forged_expired_replayed_and_wrong_kind_links_get_one_answer() -> None:
    """Every token that cannot confirm: the same 400 page, for confirm, manage and unsubscribe."""
    world = World()

    async def scenario(client: Client) -> None:
        await sign_up(client, world)
        token = world.confirm_token()
        assert (await client.post(f"/confirm/{token}")).status == 200
        expired = mint(KEYS, TokenKind.CONFIRM, NS, "example", "x" * 22, NOW - timedelta(1))
        other_key = SubscriptionKeys((b"o" * 32,), KEYS.naming)
        forged = mint(other_key, TokenKind.CONFIRM, NS, "example", "x" * 22, NOW + timedelta(1))
        manage = mint(KEYS, TokenKind.MANAGE, NS, "example", "public-x", NOW + timedelta(1), "u")
        answers = []
        for path in (
            f"/confirm/{token}",
            f"/confirm/{expired}",
            f"/confirm/{forged}",
            f"/confirm/{manage}",
            f"/confirm/{'a' * 600}",
            f"/manage/{token}",
            f"/manage/{manage}",
            f"/unsubscribe/{token}",
        ):
            response = await client.post(path, data="", headers=FORM)
            answers.append((response.status, await response.text()))
        assert {status for status, _ in answers} == {400}
        assert len({text for _, text in answers}) == 1

    run(world, scenario)


def test_a_confirmation_cut_short_completes_when_posted_again() -> None:
    """The Secret failed after the Subscriber was made: the next POST makes it, same uid."""
    world = World()
    world.subscribers.fail_secret = True

    async def scenario(client: Client) -> None:
        await sign_up(client, world)
        token = world.confirm_token()
        assert (await client.post(f"/confirm/{token}")).status == 503
        world.subscribers.fail_secret = False
        assert (await client.post(f"/confirm/{token}")).status == 200

    run(world, scenario)
    [(key, stored)] = world.subscribers.objects.items()
    uid = stored["metadata"]["uid"]
    assert world.subscribers.secrets[key]["metadata"]["ownerReferences"][0]["uid"] == uid


def test_a_cluster_users_subscriber_of_that_name_is_left_alone() -> None:
    """A Cluster Subscriber holding the name: the invalid answer, no write of it."""
    world = World()
    name = subscription_name(KEYS.naming or b"", NS, "example", "ann@example.org")
    theirs = world.subscribers.add(NS, {"metadata": {"name": name}, "spec": {"page": "example"}})

    async def scenario(client: Client) -> None:
        await sign_up(client, world)
        response = await client.post(f"/confirm/{world.confirm_token()}")
        assert response.status == 400

    run(world, scenario)
    assert world.subscribers.objects[(NS, name)] == theirs
    assert world.subscribers.secrets == {}


def test_a_full_page_takes_no_more_subscribers() -> None:
    """maxSubscribers public Subscribers: the confirmation is refused, nothing made."""
    world = World(make_cache(page(subscriptions={"byEmail": True, "maxSubscribers": 1})))
    world.subscribers.add(NS, subscriber_body("public-other", "example", None))

    async def scenario(client: Client) -> None:
        await sign_up(client, world)
        response = await client.post(f"/confirm/{world.confirm_token()}")
        assert response.status == 503
        assert "no more subscribers" in await response.text()

    run(world, scenario)
    assert len(world.subscribers.objects) == 1


def test_manage_saves_choices_and_one_click_is_idempotent() -> None:
    """Save narrows (uid precondition); unsubscribe by one-click POST twice: 200 both times."""
    world = World()
    name = subscription_name(KEYS.naming or b"", NS, "example", "ann@example.org")

    async def scenario(client: Client) -> None:
        await sign_up(client, world)
        text = await (await client.post(f"/confirm/{world.confirm_token()}")).text()
        found = MANAGE.search(text)
        assert found is not None
        token = found.group(1)
        page_text = await (await client.get(f"/manage/{token}")).text()
        assert 'value="c:api" checked' in page_text
        response = await client.post(
            f"/manage/{token}", data="components=c:api&action=save", headers=FORM
        )
        assert response.status == 200
        assert world.subscribers.objects[(NS, name)]["spec"]["components"] == ["api"]
        assert (await client.get(f"/unsubscribe/{token}")).status == 200
        assert (NS, name) in world.subscribers.objects
        first = await client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click")
        second = await client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click")
        assert first.status == second.status == 200
        assert await first.text() == await second.text()
        assert (NS, name) not in world.subscribers.objects

    run(world, scenario)


def test_every_answer_carries_the_security_headers() -> None:
    """Form, 404, 405, 413, invalid link: CSP, nosniff, no-referrer, no-store."""
    world = World()

    async def scenario(client: Client) -> None:
        answers = [
            await client.get(f"/subscribe/{NS}/example"),
            await client.get("/nowhere"),
            await client.put(f"/subscribe/{NS}/example"),
            await client.post(f"/subscribe/{NS}/example", data="x" * 5000, headers=FORM),
            await client.post("/confirm/garbage"),
        ]
        assert [a.status for a in answers] == [200, 404, 405, 413, 400]
        for answer in answers:
            csp = answer.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp
            assert "form-action 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.headers["Referrer-Policy"] == "no-referrer"
            assert answer.headers["Cache-Control"] == "no-store"

    run(world, scenario)


def test_not_ready_without_usable_settings() -> None:
    """No relay: /readyz 503, and the form answers 503."""
    world = World(settings=Settings(KEYS, None, ("no relay",)))

    async def scenario(client: Client) -> None:
        assert (await client.get("/readyz")).status == 503
        assert (await client.get(f"/subscribe/{NS}/example")).status == 503
        assert (await client.get("/healthz")).status == 200

    run(world, scenario)


def test_a_permanent_mail_failure_drops_the_sign_up() -> None:
    """A 5xx from the relay: the pending sign-up is done with; the answer is unchanged."""
    world = World()
    world.mailer.error = MailError("the relay refused the message (550)", permanent=True)

    async def scenario(client: Client) -> None:
        assert (await sign_up(client, world))[0] == 200

    run(world, scenario)
    assert world.ledger.pending == {}


def test_resume_mails_what_a_crash_left() -> None:
    """An unmailed pending sign-up is mailed and marked."""
    world = World()
    world.mailer.error = MailError("the relay could not be reached (OSError)", permanent=False)

    async def scenario(client: Client) -> None:
        await sign_up(client, world)
        world.mailer.error = None
        assert await world.signup.resume(NOW) == 1

    run(world, scenario)
    assert len(world.mailer.sent) == 1
    assert all(p.mailed for p in world.ledger.pending.values())


def test_no_address_or_token_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Sign-up, confirm, manage, unsubscribe: the log names pages and outcomes only."""
    world = World()
    tokens: list[str] = []

    async def scenario(client: Client) -> None:
        await sign_up(client, world, "secret-person@example.org")
        tokens.append(world.confirm_token())
        text = await (await client.post(f"/confirm/{tokens[0]}")).text()
        found = MANAGE.search(text)
        assert found is not None
        tokens.append(found.group(1))
        await client.post(f"/unsubscribe/{tokens[1]}")

    with caplog.at_level(logging.DEBUG):
        run(world, scenario)
    # The test server's own access log aside: the process runs without one (access_log=None).
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("statuspage_operator")
    )
    assert "confirmed" in ours
    assert "secret-person" not in ours
    for token in tokens:
        assert token.split(".")[1] not in ours


def test_an_unexpected_mail_failure_leaves_the_sign_up_for_resume() -> None:
    """A sender that breaks: the answer is unchanged, the sign-up stays, unmailed."""
    world = World()

    async def broken(relay: Relay, message: Any) -> None:
        raise RuntimeError("boom")

    world.signup.sender = broken

    async def scenario(client: Client) -> None:
        assert (await sign_up(client, world))[0] == 200

    run(world, scenario)
    [pending] = world.ledger.pending.values()
    assert not pending.mailed


def test_the_inline_style_sheet_is_the_one_the_csp_allows() -> None:
    """A browser hashes the <style> text as sent: escaped quotes would not match and be blocked."""
    world = World()

    async def scenario(client: Client) -> None:
        answer = await client.get(f"/subscribe/{NS}/example")
        page = await answer.text()
        [sheet] = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(sheet.encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in answer.headers["Content-Security-Policy"]

    run(world, scenario)
