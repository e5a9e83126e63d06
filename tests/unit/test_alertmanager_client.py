"""The Alertmanager client against a small aiohttp server speaking API v2: calls, credentials read
again after a 401, and every failure a bounded category that never carries a secret."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from statuspage_operator.control.alertmanager import (
    MAX_BODY,
    AlertmanagerClient,
    AlertmanagerError,
    Failure,
)
from statuspage_operator.domain.matchers import parse_matchers
from statuspage_operator.domain.silences import SilenceState, Target

T = TypeVar("T")
START = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
TARGET = Target.of(
    "ns", "w", "uid-w", "Upgrade", parse_matchers("m", ['team="db"', 'job=~"a.*"']), START,
    START + timedelta(hours=1),
)  # fmt: skip
SECRET = "s3cr3t-token"


class FakeAlertmanager:
    """Silences in memory, with a way to misbehave."""

    def __init__(self) -> None:
        self.silences: dict[str, dict[str, Any]] = {}
        self.made = 0
        self.seen: list[web.Request] = []
        self.token: str | None = SECRET
        self.answer: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request)
        wanted = None if self.token is None else f"Bearer {self.token}"
        if request.headers.get("Authorization") != wanted:
            return web.Response(status=401)
        if self.answer is not None:
            return await self.answer(request)
        if request.method == "POST":
            body = await request.json()
            made = body.get("id") or f"id-{self.made}"
            self.made += 1
            self.silences[made] = {
                **body,
                "id": made,
                "status": {"state": "pending"},
                "updatedAt": "2026-12-01T12:00:00.000Z",
            }
            return web.json_response({"silenceID": made})
        if request.method == "DELETE":
            made = request.path.rsplit("/", 1)[1]
            if made not in self.silences:
                return web.Response(status=404)
            self.silences[made]["status"] = {"state": "expired"}
            return web.Response(status=200)
        if request.path.startswith("/api/v2/silence/"):
            found = self.silences.get(request.path.rsplit("/", 1)[1])
            return web.json_response(found) if found else web.Response(status=404)
        return web.json_response(list(self.silences.values()))


def against(
    fake: FakeAlertmanager,
    scenario: Callable[[AlertmanagerClient], Awaitable[T]],
    tokens: list[str] | None = None,
    timeout: float = 10.0,
) -> T:
    """Run a scenario with a client of a fake served on loopback."""
    handed = list(tokens or [SECRET])

    async def auth() -> dict[str, str]:
        token = handed.pop(0) if len(handed) > 1 else handed[0]
        return {"Authorization": f"Bearer {token}"}

    async def main() -> T:
        server = TestServer(fake.app(), host="127.0.0.1")
        await server.start_server()
        client = AlertmanagerClient(
            str(server.make_url("/")), auth, aiohttp.ClientTimeout(total=timeout)
        )
        try:
            return await scenario(client)
        finally:
            await client.close()
            await server.close()

    return asyncio.run(main())


def test_create_list_and_expire() -> None:
    """A silence made as the API takes it, listed back, expired; the filter names the equality
    matchers only."""
    fake = FakeAlertmanager()

    async def scenario(client: AlertmanagerClient) -> tuple[str, SilenceState, SilenceState]:
        made = await client.put(TARGET)
        [listed] = await client.silences(TARGET.matchers)
        await client.expire(made)
        return made, listed.state, (await client.silence(made)).state

    made, before, after = against(fake, scenario)
    body = fake.silences[made]
    assert body["createdBy"] == "statuspage-operator"
    assert (body["startsAt"], body["endsAt"]) == (
        "2026-12-01T13:00:00.000Z",
        "2026-12-01T14:00:00.000Z",
    )
    assert (before, after) == (SilenceState.PENDING, SilenceState.EXPIRED)
    [listing] = [r for r in fake.seen if r.method == "GET" and r.path == "/api/v2/silences"]
    assert listing.query.getall("filter") == ['team="db"']


def test_an_update_answers_the_id_alertmanager_gives() -> None:
    """Moving a silence: whatever id comes back is the one returned (Alertmanager may make a new
    one)."""
    fake = FakeAlertmanager()

    async def renamed(request: web.Request) -> web.StreamResponse:
        return web.json_response({"silenceID": "brand-new"})

    fake.answer = renamed
    assert against(fake, lambda client: client.put(TARGET, "old")) == "brand-new"


def test_credentials_are_read_again_after_a_401() -> None:
    """A rotated Secret: the first token is refused, the one read again is taken."""
    fake = FakeAlertmanager()
    assert against(fake, lambda c: c.put(TARGET), tokens=["rotated-away", SECRET]) == "id-0"
    assert [r.headers["Authorization"] for r in fake.seen if r.method == "POST"] == [
        "Bearer rotated-away",
        f"Bearer {SECRET}",
    ]


def failure_of(
    fake: FakeAlertmanager, tokens: list[str] | None = None, timeout: float = 10.0
) -> AlertmanagerError:
    async def scenario(client: AlertmanagerClient) -> AlertmanagerError:
        with pytest.raises(AlertmanagerError) as raised:
            await client.silences(TARGET.matchers)
        return raised.value

    return against(fake, scenario, tokens, timeout)


def answering(status: int, body: bytes | str, delay: float = 0.0) -> FakeAlertmanager:
    fake = FakeAlertmanager()

    async def answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay)
        return web.Response(status=status, body=body, content_type="application/json")

    fake.answer = answer
    return fake


@pytest.mark.parametrize(
    ("fake", "failure"),
    [
        pytest.param(answering(500, "boom"), Failure.SERVER_ERROR, id="5xx"),
        pytest.param(answering(400, '"bad matcher"'), Failure.REFUSED, id="4xx"),
        pytest.param(answering(200, "not json"), Failure.MALFORMED, id="not-json"),
        pytest.param(answering(200, '{"a": 1}'), Failure.MALFORMED, id="not-a-list"),
        pytest.param(
            answering(200, json.dumps([{"id": "x", "status": {"state": "sleepy"}}])),
            Failure.MALFORMED,
            id="bad-silence",
        ),
        pytest.param(
            answering(200, b"[" + b" " * (MAX_BODY + 10) + b"]"), Failure.TOO_LARGE, id="huge"
        ),
    ],
)
def test_failures_are_categories(fake: FakeAlertmanager, failure: Failure) -> None:
    """What Alertmanager answers wrongly is one category, with at most a short excerpt."""
    error = failure_of(fake)
    assert error.failure is failure
    assert len(error.detail) <= 200


def test_refused_credentials_never_show() -> None:
    """401 even with the credentials read again: unauthorized, and no token in the message."""
    error = failure_of(FakeAlertmanager(), tokens=["wrong-one", "wrong-two"])
    assert error.failure is Failure.UNAUTHORIZED
    assert "wrong" not in str(error)


def test_a_slow_alertmanager_times_out() -> None:
    """An answer later than the timeout: `timed out`, and worth trying again."""
    error = failure_of(answering(200, "[]", delay=2.0), timeout=0.3)
    assert error.failure is Failure.TIMEOUT
    assert error.failure.transient


def test_nobody_listening_is_unreachable() -> None:
    """A closed port: unreachable."""

    async def main() -> AlertmanagerError:
        client = AlertmanagerClient("http://127.0.0.1:9")
        try:
            with pytest.raises(AlertmanagerError) as raised:
                await client.silences()
            return raised.value
        finally:
            await client.close()

    assert asyncio.run(main()).failure is Failure.UNREACHABLE


def test_expiring_an_unknown_silence_is_no_error() -> None:
    """404 on expiry: it is gone either way."""
    assert against(FakeAlertmanager(), lambda client: client.expire("never-was")) is None
