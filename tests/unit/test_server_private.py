"""Private pages on the page server: who sees what, through which headers, and nothing cached
across audiences (on an in-memory cache, a real socket and a fixed NOW)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from statuspage_operator.api.feed_tokens import feed_token
from statuspage_operator.api.names import Kind
from statuspage_operator.server.app import Server, make_app
from statuspage_operator.server.identity import Trust
from unit.test_server_app import BASE, NOW, Check, make, make_cache

KEY = b"k" * 32
LOOPBACK = Trust.of(["127.0.0.1/32"])
AUDIENCES = [
    {"name": "core", "groups": ["core"], "components": ["api", "database"]},
    {"name": "web", "users": ["wendy"], "components": ["website"]},
]
CORE = {"X-Forwarded-User": "carl", "X-Forwarded-Groups": "dev, core"}
WENDY = {"X-Forwarded-User": "wendy"}


def private_cache(audiences: list[dict[str, Any]] | None = None) -> Any:
    """The sample page of test_server_app, made Private with two audiences."""
    cache = make_cache()
    page = cache.page(("default", "example"))
    assert page is not None
    spec = {**page["spec"], "visibility": "Private", "audiences": AUDIENCES}
    if audiences is not None:
        spec["audiences"] = audiences
    cache.upsert(Kind.PAGE, make("example", spec))
    return cache


def serve(check: Check, trust: Trust = LOOPBACK, cache: Any = None) -> None:
    """Run `check` against the app on a real socket, the test client's peer being 127.0.0.1."""
    server = Server(cache or private_cache(), clock=lambda: NOW, trust=trust, feed_keys=(KEY,))

    async def run() -> None:
        async with TestClient(TestServer(make_app(server))) as client:
            await check(client, server)

    asyncio.run(run())


async def shown(client: TestClient[Any, Any], headers: dict[str, str]) -> list[str]:
    """The components summary.json shows to a request with these headers."""
    response = await client.get(f"{BASE}api/v2/summary.json", headers=headers)
    assert response.status == 200
    return [c["name"] for c in (await response.json())["components"] if not c["group"]]


@pytest.mark.parametrize(
    "path", ["", "api/v2/summary.json", "history.atom", "badge.svg", "api/v2/status.json"]
)
@pytest.mark.parametrize(
    ("trust", "headers"),
    [
        pytest.param(LOOPBACK, {}, id="anonymous"),
        pytest.param(LOOPBACK, {"X-Forwarded-User": "mallory"}, id="in-no-audience"),
        pytest.param(Trust.of(["10.0.0.0/8"]), CORE, id="forged-from-an-untrusted-peer"),
        pytest.param(Trust(), CORE, id="forged-with-no-trusted-proxy"),
    ],
)
def test_nothing_for_who_may_not_see(trust: Trust, headers: dict[str, str], path: str) -> None:
    """Such a request gets exactly what a request for an unknown page gets."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        private = await client.get(BASE + path, headers=headers)
        unknown = await client.get("/default/nope/" + path, headers=headers)
        assert private.status == unknown.status == 404
        assert await private.read() == await unknown.read()
        assert dict(private.headers) | {"Date": "", "Content-Length": ""} == dict(
            unknown.headers
        ) | {"Date": "", "Content-Length": ""}

    serve(check, trust)


def test_the_redirect_to_the_slash_tells_nothing() -> None:
    """`/ns/page` without its slash is redirected whoever asks, so it reveals no private page."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        anonymous = await client.get(BASE.rstrip("/"), allow_redirects=False)
        allowed = await client.get(BASE.rstrip("/"), headers=CORE, allow_redirects=False)
        assert (anonymous.status, allowed.status) == (308, 308)
        assert anonymous.headers["Location"] == allowed.headers["Location"] == BASE

    serve(check)


def test_an_audience_sees_only_its_components_and_what_concerns_them() -> None:
    """core: api and database, the API incident; no maintenance (it is of website and cdn)."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        response = await client.get(f"{BASE}api/v2/summary.json", headers=CORE)
        summary = await response.json()
        assert [c["name"] for c in summary["components"]] == ["Core", "API", "database"]
        assert [i["name"] for i in summary["incidents"]] == ["API errors"]
        assert summary["scheduled_maintenances"] == []
        assert summary["status"]["indicator"] == "minor"
        incidents = await (await client.get(f"{BASE}api/v2/incidents.json", headers=CORE)).json()
        # The resolved incident names no component: it concerns everyone.
        assert [i["name"] for i in incidents["incidents"]] == ["API errors", "Old outage"]
        html = await (await client.get(BASE, headers=WENDY)).text()
        assert "history.atom" not in html  # without a token it would answer 404
        assert "Website deploy" in html
        assert "API errors" not in html
        assert "CDN" not in html

    serve(check)


def test_renderings_are_never_shared_across_audiences() -> None:
    """Each audience set is rendered on its own, whatever asked first; responses are private."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        assert await shown(client, CORE) == ["API", "database"]
        assert await shown(client, WENDY) == ["website"]
        both = {"X-Forwarded-User": "wendy", "X-Forwarded-Groups": "core"}
        assert await shown(client, both) == ["API", "database", "website"]
        assert await shown(client, CORE) == ["API", "database"]
        for path in ("", "api/v2/summary.json", "badge.svg"):
            response = await client.get(BASE + path, headers=CORE)
            assert response.headers["Cache-Control"] == "private, max-age=10"
            assert "Access-Control-Allow-Origin" not in response.headers

    serve(check)


def test_the_badge_is_of_what_the_audience_sees() -> None:
    """core sees a degraded API; wendy a website under maintenance."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        core = await (await client.get(f"{BASE}badge.svg", headers=CORE)).text()
        wendy = await (await client.get(f"{BASE}badge.svg", headers=WENDY)).text()
        assert "minor" in core.lower() or "degraded" in core.lower()
        assert "maintenance" in wendy.lower()
        assert core != wendy

    serve(check)


def test_no_audiences_shows_everything_to_any_authenticated_user() -> None:
    """Without spec.audiences, any user the proxy names sees the whole page."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        names = await shown(client, {"X-Forwarded-User": "anyone"})
        assert names == ["API", "database", "website", "CDN <edge>"]
        assert (await client.get(f"{BASE}api/v2/summary.json")).status == 404

    serve(check, cache=private_cache([]))


@pytest.mark.parametrize(
    ("token", "status"),
    [
        pytest.param(feed_token(KEY, "default", "example", "core"), 200, id="core"),
        pytest.param(feed_token(KEY, "default", "other", "core"), 404, id="another-page"),
        pytest.param(feed_token(b"x" * 32, "default", "example", "core"), 404, id="another-key"),
        pytest.param(feed_token(KEY, "default", "example", "ops"), 404, id="no-such-audience"),
        pytest.param("", 404, id="empty"),
    ],
)
def test_a_private_feed_needs_its_audience_token(token: str, status: int) -> None:
    """A feed reader cannot log in: the token in the URL is its audience; a wrong one, nothing."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        response = await client.get(f"{BASE}history.atom", params={"token": token})
        assert response.status == status
        if status == 200:
            body = await response.text()
            assert "API errors" in body
            assert "Website deploy" not in body
            assert response.headers["Cache-Control"] == "private, max-age=60"

    serve(check)


def test_a_token_opens_only_feeds() -> None:
    """The same token on the JSON API or the HTML shows nothing."""
    token = feed_token(KEY, "default", "example", "core")

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        for path in ("", "api/v2/summary.json", "badge.svg"):
            assert (await client.get(BASE + path, params={"token": token})).status == 404

    serve(check)


def test_a_public_page_ignores_identity() -> None:
    """Audiences filter only Private pages: a page without visibility Private shows all."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        assert await shown(client, {}) == ["API", "database", "website", "CDN <edge>"]
        response = await client.get(f"{BASE}api/v2/summary.json", headers=CORE)
        assert response.headers["Cache-Control"] == "public, max-age=10"
        assert 'href="history.atom"' in await (await client.get(BASE)).text()

    serve(check, cache=make_cache())


def test_a_changed_audience_takes_effect_on_the_next_request() -> None:
    """Nothing held for an identity outlives the page object it was computed from."""

    async def check(client: TestClient[Any, Any], server: Server) -> None:
        assert await shown(client, CORE) == ["API", "database"]
        page = server.cache.page(("default", "example"))
        assert page is not None
        audiences = [{"name": "core", "groups": ["core"], "components": ["cdn"]}]
        server.cache.upsert(Kind.PAGE, make("example", {**page["spec"], "audiences": audiences}))
        assert await shown(client, CORE) == ["CDN <edge>"]
        server.cache.upsert(Kind.PAGE, make("example", {**page["spec"], "audiences": []}))
        assert len(await shown(client, CORE)) == 4

    serve(check)
