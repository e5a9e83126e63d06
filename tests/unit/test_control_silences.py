"""Silences in the control layer: the fake API server and a fake Alertmanager on loopback at the
edges, the runtime unchanged between them."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestServer

from statuspage_operator.api.names import Kind
from statuspage_operator.api.times import format_time
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.domain.matchers import parse_matchers
from statuspage_operator.domain.silences import Target
from statuspage_operator.k8s.alertmanager import CredentialsError, read_auth
from unit.fake_time import FakeClock, eventually
from unit.fakes import FakeClient, resource
from unit.plan_builders import window_spec
from unit.running import NS, add_window, body, feed, make_world
from unit.test_alertmanager_client import FakeAlertmanager

T = TypeVar("T")
HOUR = timedelta(hours=1)
MATCHERS = ['team="db"']


def silenced(client: FakeClient, name: str = "w") -> dict[str, Any]:
    for condition in client.status(Kind.WINDOW, NS, name).get("conditions") or ():
        if condition.get("type") == "Silenced":
            return dict(condition)
    return {}


def with_alertmanager(
    client: FakeClient,
    clock: FakeClock,
    fake: FakeAlertmanager | None,
    scenario: Callable[[Runtime], Awaitable[T]],
) -> T:
    """The runtime with `--alertmanager-url` at the fake (None: a port nobody listens on)."""

    async def main() -> T:
        server = None
        url = "http://127.0.0.1:9"
        if fake is not None:
            fake.token = None
            server = TestServer(fake.app(), host="127.0.0.1")
            await server.start_server()
            url = str(server.make_url("/"))
        runtime = Runtime(client, clock, alertmanager_url=url)
        runtime.silences.retry_base = 0.01
        await runtime.prime([])
        try:
            return await scenario(runtime)
        finally:
            await runtime.close()
            if server is not None:
                await server.close()

    return asyncio.run(main())


async def event(runtime: Runtime, client: FakeClient, name: str = "w") -> None:
    """What the window's watch handler does with its current body."""
    found = body(client, Kind.WINDOW, name)
    await feed(runtime, Kind.WINDOW, None, found)
    runtime.silences.observe(None, found)


def test_a_window_gets_its_silence_once() -> None:
    """The silence is made and recorded; the events that follow call Alertmanager no more."""
    client, clock = make_world()
    add_window(client, "w", clock.now + HOUR, HOUR, silenceMatchers=MATCHERS)
    fake = FakeAlertmanager()

    async def scenario(runtime: Runtime) -> int:
        await event(runtime, client)
        await eventually(lambda: silenced(client).get("reason") == "Silenced")
        calls = len(fake.seen)
        for _ in range(3):
            await event(runtime, client)
        await asyncio.sleep(0.05)
        return len(fake.seen) - calls

    assert with_alertmanager(client, clock, fake, scenario) == 0
    [made] = fake.silences.values()
    assert client.status(Kind.WINDOW, NS, "w")["silence"]["id"] == made["id"]


def test_alertmanager_down_holds_up_no_transition() -> None:
    """Alertmanager unreachable: the condition says so, the window still starts at its edge."""
    client, clock = make_world()
    add_window(client, "w", clock.now + timedelta(minutes=1), HOUR, silenceMatchers=MATCHERS)

    async def scenario(runtime: Runtime) -> None:
        await event(runtime, client)
        await eventually(lambda: silenced(client).get("reason") == "AlertmanagerUnreachable")
        clock.advance(60)
        await asyncio.wait_for(runtime.windows.settle(body(client, Kind.WINDOW, "w"), clock()), 1)

    with_alertmanager(client, clock, None, scenario)
    assert client.status(Kind.WINDOW, NS, "w")["phase"] == "InProgress"
    assert "not held up" in silenced(client)["message"]


def prepared(created_by: str) -> tuple[FakeClient, FakeClock, FakeAlertmanager]:
    """A window whose occurrence's silence is already in Alertmanager, unrecorded."""
    client, clock = make_world()
    start = clock.now + HOUR
    stored = add_window(client, "w", start, HOUR, silenceMatchers=MATCHERS)
    fake = FakeAlertmanager()
    uid = stored["metadata"]["uid"]
    target = Target.of(NS, "w", uid, "Upgrade", parse_matchers("m", MATCHERS), start, start + HOUR)
    fake.silences["made-before"] = {
        "id": "made-before",
        "status": {"state": "pending"},
        "matchers": [m.to_api() for m in target.matchers],
        "startsAt": start.isoformat(),
        "endsAt": (start + HOUR).isoformat(),
        "createdBy": created_by,
        "comment": target.comment,
    }
    return client, clock, fake


async def in_place(runtime: Runtime, client: FakeClient) -> None:
    await event(runtime, client)
    await eventually(lambda: silenced(client).get("reason") == "Silenced")


def test_the_silence_made_before_a_crash_is_adopted() -> None:
    """The occurrence's silence exists but was never recorded: adopted, none made."""
    client, clock, fake = prepared("statuspage-operator")
    with_alertmanager(client, clock, fake, lambda runtime: in_place(runtime, client))
    assert client.status(Kind.WINDOW, NS, "w")["silence"]["id"] == "made-before"
    assert [r.method for r in fake.seen if r.method == "POST"] == []


def test_a_person_s_silence_is_left_alone() -> None:
    """The same comment written by someone else: not adopted, not expired; the window gets its
    own."""
    client, clock, fake = prepared("alice")
    with_alertmanager(client, clock, fake, lambda runtime: in_place(runtime, client))
    assert client.status(Kind.WINDOW, NS, "w")["silence"]["id"] != "made-before"
    assert fake.silences["made-before"]["status"] == {"state": "pending"}


def test_cancelling_expires_the_silence() -> None:
    """Cancelled: the silence is expired and the record dropped."""
    client, clock = make_world()
    add_window(client, "w", clock.now + HOUR, HOUR, silenceMatchers=MATCHERS)
    fake = FakeAlertmanager()

    async def scenario(runtime: Runtime) -> None:
        await event(runtime, client)
        await eventually(lambda: silenced(client).get("reason") == "Silenced")
        spec = dict(body(client, Kind.WINDOW, "w")["spec"], cancelled=True)
        client.edit(Kind.WINDOW, NS, "w", spec)
        await event(runtime, client)
        await eventually(lambda: silenced(client).get("reason") == "SilenceExpired")

    with_alertmanager(client, clock, fake, scenario)
    assert [s["status"]["state"] for s in fake.silences.values()] == ["expired"]
    assert "silence" not in client.status(Kind.WINDOW, NS, "w")


def test_the_silenced_condition_outlives_the_window_s_own_writes() -> None:
    """The window's transitions rewrite Ready; Silenced stays."""
    client, clock = make_world()
    add_window(client, "w", clock.now + timedelta(minutes=1), HOUR, silenceMatchers=MATCHERS)
    fake = FakeAlertmanager()

    async def scenario(runtime: Runtime) -> None:
        await event(runtime, client)
        await eventually(lambda: silenced(client).get("reason") == "Silenced")
        clock.advance(60)
        await runtime.windows.settle(body(client, Kind.WINDOW, "w"), clock())

    with_alertmanager(client, clock, fake, scenario)
    assert client.status(Kind.WINDOW, NS, "w")["phase"] == "InProgress"
    assert silenced(client)["status"] == "True"


def test_the_page_s_matchers_changed_move_the_silence() -> None:
    """A window taking its page's matchers follows them when the page changes."""
    client, clock = make_world()
    page = body(client, Kind.PAGE, "p")
    page_spec = {"title": "P", "alerts": {"silenceMatchers": ['service="shop"']}}
    client.edit(Kind.PAGE, NS, "p", page_spec)
    add_window(client, "w", clock.now + HOUR, HOUR)
    fake = FakeAlertmanager()

    def matchers() -> list[str]:
        return list(client.status(Kind.WINDOW, NS, "w").get("silence", {}).get("matchers", []))

    async def scenario(runtime: Runtime) -> None:
        await event(runtime, client)
        await eventually(lambda: matchers() == ['service="shop"'])
        client.edit(Kind.PAGE, NS, "p", {**page_spec, "alerts": {"silenceMatchers": ['a="b"']}})
        await runtime.page_event(None, body(client, Kind.PAGE, "p"))
        await eventually(lambda: matchers() == ['a="b"'])

    assert page["metadata"]["name"] == "p"
    with_alertmanager(client, clock, fake, scenario)
    assert sorted(s["status"]["state"] for s in fake.silences.values()) == ["pending"]


def test_credentials_come_from_the_secret() -> None:
    """A token gives a bearer header; username and password, basic auth; neither, an error that
    shows no value."""
    client = FakeClient()
    client.add_secret("mon", "token", {"token": "t0ken\n"})
    client.add_secret("mon", "basic", {"username": "u", "password": "p4ss"})
    client.add_secret("mon", "empty", {"other": "s3cret"})

    async def main() -> tuple[dict[str, str], dict[str, str], str]:
        bearer = await read_auth(client, "mon", "token")
        basic = await read_auth(client, "mon", "basic")
        try:
            await read_auth(client, "mon", "empty")
        except CredentialsError as error:
            return bearer, basic, str(error)
        raise AssertionError("no error")

    bearer, basic, problem = asyncio.run(main())
    assert bearer == {"Authorization": "Bearer t0ken"}
    assert basic == {"Authorization": "Basic " + base64.b64encode(b"u:p4ss").decode()}
    assert "s3cret" not in problem
    assert "neither token nor username and password" in problem


def refusal(argv: list[str]) -> str:
    """What the operator says when it refuses to start with these flags (exit status 2)."""
    done = subprocess.run(
        [sys.executable, "-m", "statuspage_operator.main", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    return done.stderr


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        pytest.param(["--alertmanager-url=ftp://x"], "http:// or https://", id="scheme"),
        pytest.param(["--alertmanager-url=http://u:p@am:9093"], "not in the URL", id="userinfo"),
        pytest.param(["--alertmanager-secret=mon/creds"], "needs --alertmanager-url", id="alone"),
        pytest.param(
            ["--alertmanager-url=http://am:9093", "--alertmanager-secret=creds"],
            "NAMESPACE/NAME",
            id="no-namespace",
        ),
    ],
)
def test_alertmanager_flags_are_checked_at_start(argv: list[str], problem: str) -> None:
    """A wrong flag stops the operator at start, saying what is wrong (and no password)."""
    said = refusal(argv)
    assert problem in said
    assert ":p@" not in said


def test_deletion_waits_a_bounded_time_for_a_down_alertmanager() -> None:
    """Deleting a window whose silence cannot be expired (Alertmanager down) is held up for the
    patience given, no longer: the silence then ends by itself with its occurrence."""
    client, clock = make_world()
    start = clock.now + HOUR
    window = resource(
        Kind.WINDOW, NS, "w", window_spec(start, start + HOUR, silenceMatchers=MATCHERS)
    )
    window["status"] = {
        "silence": {"id": "s1", "start": format_time(start), "end": format_time(start + HOUR)}
    }
    client.add(window)

    async def scenario(runtime: Runtime) -> float:
        began = asyncio.get_running_loop().time()
        await runtime.silences.release(body(client, Kind.WINDOW, "w"), patience=0.2)
        return asyncio.get_running_loop().time() - began

    assert with_alertmanager(client, clock, None, scenario) < 1.0


def test_a_silence_alertmanager_lost_is_made_again() -> None:
    """The audit: Alertmanager forgot the recorded silence (a restart without storage); one
    listing finds it, and the window gets a new one."""
    client, clock = make_world()
    add_window(client, "w", clock.now + HOUR, HOUR, silenceMatchers=MATCHERS)
    fake = FakeAlertmanager()

    def recorded() -> str:
        return str(client.status(Kind.WINDOW, NS, "w").get("silence", {}).get("id", ""))

    async def scenario(runtime: Runtime) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        await event(runtime, client)
        await eventually(lambda: recorded() != "")
        first = recorded()
        kept = await runtime.silences.audit()
        fake.silences.clear()
        redone = await runtime.silences.audit()
        await eventually(lambda: recorded() not in ("", first))
        return kept, redone

    kept, redone = with_alertmanager(client, clock, fake, scenario)
    assert (kept, redone) == ([], [(NS, "w")])
    assert list(fake.silences) == [client.status(Kind.WINDOW, NS, "w")["silence"]["id"]]
