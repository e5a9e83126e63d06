"""The receiver's HTTP answers and writes, against a fake API server (no cluster)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from statuspage_operator.alerts.app import Receiver, make_app
from statuspage_operator.alerts.auth import SecretCache
from statuspage_operator.alerts.ratelimit import RateLimiter
from statuspage_operator.alerts.store import Store
from statuspage_operator.alerts.view import View
from statuspage_operator.api.names import Kind
from unit.alerts_fakes import FakeApiServer, make_component, make_page, make_secret

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TOKEN = "s3cret-token"
Client = TestClient[Any, Any]


def make_view(api: FakeApiServer, *pages: dict[str, Any]) -> View:
    """A listed view of the pages and the fake's components."""
    view = View()
    view.replace(Kind.PAGE, pages)
    view.replace(Kind.COMPONENT, list(api.objects.values()))
    return view


def notification(*services: str, status: str = "firing", key: str = "g") -> dict[str, Any]:
    """A webhook notification, version 4, one alert per service."""
    return {
        "version": "4",
        "groupKey": key,
        "status": status,
        "receiver": "statuspage",
        "groupLabels": {"alertname": "HighErrors"},
        "commonLabels": {"alertname": "HighErrors"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "HighErrors", "service": s, "severity": "critical"},
                "annotations": {"summary": f"{s} fails"},
                "startsAt": "2026-12-03T11:50:00.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.invalid/graph",
                "fingerprint": f"fp-{s}",
            }
            for s in services
        ],
    }


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def setup(rate: float = 100.0, burst: int = 100, **secret: str) -> tuple[FakeApiServer, Receiver]:
    """A fake API server with api and db components of page `example`, and its receiver."""
    api = FakeApiServer()
    api.add(make_component("api", ['service="api"']))
    api.add(make_component("db", ['service="db"']))
    api.secrets[("team", "receiver")] = make_secret(**(secret or {"token": TOKEN}))
    view = make_view(api, make_page(), make_page("quiet", secret=None))
    receiver = Receiver(
        view=view,
        secrets=SecretCache(api.read_secret, ttl=60),
        store=Store(api, view),
        limiter=RateLimiter(rate, burst),
        clock=lambda: NOW,
        max_body=64 * 1024,
    )
    return api, receiver


def run(receiver: Receiver, check: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with TestClient(TestServer(make_app(receiver))) as client:
            await check(client)

    asyncio.run(main())


def test_a_notification_is_folded_into_the_components_it_concerns() -> None:
    """200; api gets the alert in one write; db is not written."""
    api, receiver = setup()

    async def check(client: Client) -> None:
        response = await client.post(
            "/alerts/team/example", json=notification("api"), headers=bearer()
        )
        assert response.status == 200
        assert (await response.json())["written"] == ["api"]

    run(receiver, check)
    assert api.patches == 1
    assert api.objects[("team", "api")]["status"]["alerts"]["firing"] == 1
    assert api.objects[("team", "db")]["status"] == {}


def test_the_same_notification_again_writes_nothing() -> None:
    """A retry (or the HA peer) is answered 200 with no write."""
    api, receiver = setup()

    async def check(client: Client) -> None:
        for _ in range(3):
            response = await client.post(
                "/alerts/team/example", json=notification("api"), headers=bearer()
            )
            assert response.status == 200

    run(receiver, check)
    assert api.patches == 1


def test_a_conflict_is_read_again_and_folded_again() -> None:
    """Someone else wrote the component: 409, GET, fold, one write on the fresh version."""
    api, receiver = setup()
    api.touch("team", "api")

    async def check(client: Client) -> None:
        response = await client.post(
            "/alerts/team/example", json=notification("api"), headers=bearer()
        )
        assert response.status == 200

    run(receiver, check)
    assert (api.conflicts, api.patches) == (1, 1)


def test_two_replicas_with_one_notification_write_once() -> None:
    """Two receivers over one API server, both sent the group: one write, one 409-then-nothing."""
    api, first = setup()
    # The second replica's view was listed before the first one wrote.
    view = make_view(api, make_page())
    second = Receiver(
        view=view,
        secrets=SecretCache(api.read_secret),
        store=Store(api, view),
        limiter=RateLimiter(100, 100),
        clock=lambda: NOW,
    )
    body = notification("api")

    async def check_first(client: Client) -> None:
        assert (
            await client.post("/alerts/team/example", json=body, headers=bearer())
        ).status == 200

    async def check_second(client: Client) -> None:
        response = await client.post("/alerts/team/example", json=body, headers=bearer())
        assert response.status == 200
        assert (await response.json())["unchanged"] == ["api"]

    run(first, check_first)
    run(second, check_second)
    assert (api.patches, api.conflicts) == (1, 1)


def test_refusals_look_alike_whatever_the_reason() -> None:
    """No header, a wrong token, a page with no receiver, an unknown page: the same 401."""
    _, receiver = setup()

    async def check(client: Client) -> None:
        body = notification("api")
        answers = [
            await client.post("/alerts/team/example", json=body),
            await client.post("/alerts/team/example", json=body, headers=bearer("wrong")),
            await client.post("/alerts/team/quiet", json=body, headers=bearer()),
            await client.post("/alerts/team/nosuch", json=body, headers=bearer()),
            await client.post("/alerts/other/example", json=body, headers=bearer()),
        ]
        assert [a.status for a in answers] == [401] * 5
        assert len({await a.read() for a in answers}) == 1

    run(receiver, check)


def test_basic_credentials_are_accepted() -> None:
    """username and password in the Secret: Basic auth."""
    api, receiver = setup(username="am", password="pw")

    async def check(client: Client) -> None:
        good = base64.b64encode(b"am:pw").decode()
        bad = base64.b64encode(b"am:nope").decode()
        body = notification("api")
        wrong = await client.post(
            "/alerts/team/example", json=body, headers={"Authorization": f"Basic {bad}"}
        )
        assert wrong.status == 401
        right = await client.post(
            "/alerts/team/example", json=body, headers={"Authorization": f"Basic {good}"}
        )
        assert right.status == 200

    run(receiver, check)
    assert api.patches == 1


def test_a_malformed_payload_is_a_400_that_says_why() -> None:
    """Not JSON, another version, a bad alert status: 400 with the reason; nothing written."""
    api, receiver = setup()

    async def check(client: Client) -> None:
        cases = [
            (b"{", "not JSON"),
            (json.dumps({**notification("api"), "version": "3"}).encode(), "version"),
            (
                json.dumps({**notification("api"), "alerts": [{"status": "odd"}]}).encode(),
                "alerts.0.status",
            ),
        ]
        for body, reason in cases:
            response = await client.post("/alerts/team/example", data=body, headers=bearer())
            assert response.status == 400
            assert reason in (await response.json())["message"]

    run(receiver, check)
    assert api.patches == 0


def test_a_body_over_the_limit_is_a_413() -> None:
    """Past max_body, declared or not: 413, nothing written."""
    api, receiver = setup()

    async def check(client: Client) -> None:
        big = json.dumps({**notification("api"), "pad": "x" * 70_000}).encode()
        response = await client.post("/alerts/team/example", data=big, headers=bearer())
        assert response.status == 413

        async def chunks() -> Any:
            for _ in range(20):
                yield b"x" * 8192

        response = await client.post("/alerts/team/example", data=chunks(), headers=bearer())
        assert response.status == 413

    run(receiver, check)
    assert api.patches == 0


def test_a_flood_is_a_429_with_retry_after_and_spares_other_pages() -> None:
    """Beyond the burst: 429 and Retry-After; another page still gets 200."""
    api, receiver = setup(rate=0.01, burst=2)
    api.add(make_component("web", ['service="web"'], page="other"))
    api.secrets[("team", "receiver")] = make_secret(token=TOKEN)
    receiver.view.upsert(Kind.PAGE, make_page("other"))
    receiver.view.upsert(Kind.COMPONENT, api.objects[("team", "web")])

    async def check(client: Client) -> None:
        body = notification("api")
        codes = [
            (await client.post("/alerts/team/example", json=body, headers=bearer())).status
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        refused = await client.post("/alerts/team/example", json=body, headers=bearer())
        assert int(refused.headers["Retry-After"]) >= 1
        other = await client.post("/alerts/team/other", json=notification("web"), headers=bearer())
        assert other.status == 200

    run(receiver, check)


def test_a_failed_write_is_a_503_alertmanager_retries() -> None:
    """The API server fails: 503 with Retry-After."""
    api, receiver = setup()
    api.failing = True

    async def check(client: Client) -> None:
        response = await client.post(
            "/alerts/team/example", json=notification("api"), headers=bearer()
        )
        assert response.status == 503
        assert "Retry-After" in response.headers

    run(receiver, check)


def test_not_ready_until_listed() -> None:
    """Before pages and components are listed: /readyz and the webhook answer 503."""
    _, receiver = setup()
    receiver.view = View()

    async def check(client: Client) -> None:
        assert (await client.get("/readyz")).status == 503
        response = await client.post(
            "/alerts/team/example", json=notification("api"), headers=bearer()
        )
        assert response.status == 503

    run(receiver, check)


def test_the_secret_is_read_once_per_ttl() -> None:
    """Ten requests, wrong token or right: one Secret read."""
    api, receiver = setup()

    async def check(client: Client) -> None:
        for token in ["wrong", TOKEN] * 5:
            await client.post(
                "/alerts/team/example", json=notification("api"), headers=bearer(token)
            )

    run(receiver, check)
    assert api.secret_reads == 1


def test_one_notification_writes_each_component_once() -> None:
    """A group whose alerts concern api and db: one write each, whatever the alert count."""
    api, receiver = setup()
    body = notification("api", "db", "api", "db", "web")
    for index, alert in enumerate(body["alerts"]):
        alert["fingerprint"] = f"fp-{index}"

    async def check(client: Client) -> None:
        response = await client.post("/alerts/team/example", json=body, headers=bearer())
        assert response.status == 200
        assert sorted((await response.json())["written"]) == ["api", "db"]

    run(receiver, check)
    assert api.patches == 2
    assert api.objects[("team", "api")]["status"]["alerts"]["firing"] == 2


def test_logs_carry_no_credentials_and_no_alert_contents(caplog: pytest.LogCaptureFixture) -> None:
    """Accepted, refused, failed: the log names the page and a hash, never the token or labels."""
    api, receiver = setup()
    body = notification("api", key='{}:{alertname="HighErrors"}')

    async def check(client: Client) -> None:
        await client.post("/alerts/team/example", json=body, headers=bearer())
        await client.post("/alerts/team/example", json=body, headers=bearer("wr0ng-t0ken"))
        api.failing = True
        await client.post("/alerts/team/example", json=notification("db"), headers=bearer())

    with caplog.at_level(logging.DEBUG, logger="statuspage_operator"):
        run(receiver, check)
    text = caplog.text
    assert "team/example group" in text
    for secret in (TOKEN, "wr0ng-t0ken", "HighErrors", "api fails", "fp-api", "prometheus.invalid"):
        assert secret not in text


def test_a_component_deleted_meanwhile_is_skipped() -> None:
    """Gone from the API server before the watch said so: 200, nothing written, no error."""
    api, receiver = setup()
    del api.objects[("team", "api")]

    async def check(client: Client) -> None:
        response = await client.post(
            "/alerts/team/example", json=notification("api"), headers=bearer()
        )
        assert response.status == 200
        assert (await response.json())["unchanged"] == ["api"]

    run(receiver, check)
    assert api.patches == 0
