"""Subscriber notifications end to end: a real SMTP server (aiosmtpd) and a real aiohttp webhook
receiver in the test process, the operator as a subprocess. What arrives, when, and how often."""

from __future__ import annotations

import asyncio
import base64
import bisect
import email
import hashlib
import hmac
import json
import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from functools import partial
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from controlplane.cluster import free_port
from e2e.conftest import OperatorProcess
from e2e.kube import Kube, condition, wait_for
from e2e.objects import API_VERSION, in_seconds, make_component, make_incident, make_page
from e2e.objects import make_window as window
from statuspage_operator.control.notifications import RECHECK, UNRECORDED

SIGNING_KEY = "s3cr3t-signing-key"


@dataclass
class Hook:
    """One webhook request as received."""

    path: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]
    at: float


SLOW = 20.0


@dataclass
class Receiver:
    """An aiohttp server in a thread: records every POST; /fail/... answers 500, /slow/... only
    after SLOW seconds (longer than the operator waits), /redirect/... redirects to
    http://localhost:<port>/landing/redirect/...."""

    port: int = field(default_factory=free_port)
    hooks: list[Hook] = field(default_factory=list)
    slow: list[float] = field(default_factory=list)

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            if request.path.startswith("/redirect"):
                # Somewhere the operator must not go: `localhost` (refused by name, though the
                # suite allows 127.0.0.0/8); if followed, it would land here, recorded.
                landing = f"http://localhost:{self.port}/landing{request.path}"
                raise web.HTTPTemporaryRedirect(landing)
            if request.path.startswith("/fail"):
                return web.Response(status=500, text="receiver down")
            if request.path.startswith("/slow"):
                self.slow.append(time.time())
                await asyncio.sleep(SLOW)
                return web.Response(text="late")
            body = json.loads(raw) if raw.startswith(b"{") else {"form": raw.decode()}
            self.hooks.append(Hook(request.path, dict(request.headers), raw, body, time.time()))
            return web.Response(text="ok")

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/{tail:.*}", handle)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            started.set()

        def run() -> None:
            loop.run_until_complete(serve())
            loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        started.wait(10)

    def to(self, path: str) -> list[Hook]:
        return [h for h in self.hooks if h.path == path]

    def events(self, path: str) -> list[str]:
        return [h.body["meta"]["event"] for h in self.to(path)]


@dataclass
class Mail:
    """One mail as received."""

    to: list[str]
    message: Message
    at: float

    @property
    def text(self) -> str:
        for part in self.message.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode()
        return ""


class MailHandler:
    def __init__(self) -> None:
        self.mails: list[Mail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content)
        self.mails.append(Mail(list(envelope.rcpt_tos), message, time.time()))
        return "250 OK"


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    """The webhook receiver."""
    running = Receiver()
    running.start()
    return running


@pytest.fixture(scope="module")
def mailbox() -> Iterator[MailHandler]:
    """The SMTP server."""
    handler = MailHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


@pytest.fixture(scope="module")
def notifying(kube: Kube, operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The operator with quick retries (0.2 s, 0.4 s) so a failing endpoint shows in a second."""
    kube.run(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/subscribers.statuspage.dev"
    )
    operator.stop()
    operator.extra_args = ["--notify-retry-base=0.2"]
    operator.start()
    yield operator
    operator.stop()
    operator.extra_args = []
    operator.start()


def secret(name: str, **data: str) -> dict[str, Any]:
    """A Secret the operator may read: labelled for it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {"statuspage.dev/subscriber": "true"}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def subscriber(name: str, url_secret: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Subscriber",
        "metadata": {"name": name},
        "spec": {"page": "example", "urlSecretRef": {"name": url_secret, "key": "url"}, **spec},
    }


def hook_to(receiver: Receiver, namespace: str, name: str) -> str:
    return f"json://127.0.0.1:{receiver.port}/{namespace}/{name}"


def ready(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return condition(kube.status("subscriber", name, namespace), "Ready")


def is_ready(kube: Kube, namespace: str, name: str) -> bool:
    return ready(kube, namespace, name).get("status") == "True"


def wait_ready(kube: Kube, namespace: str, *names: str, timeout: float = 20) -> None:
    """Wait until each subscriber says Ready=True."""
    for name in names:
        wait_for(partial(is_ready, kube, namespace, name), timeout, what=f"{name} Ready")


def setup_page(kube: Kube, namespace: str, *extra: dict[str, Any]) -> None:
    kube.apply(
        namespace,
        make_page(timeZone="Europe/Berlin", url="https://status.example.com/"),
        make_component("api"),
        make_component("db"),
        *extra,
    )


@pytest.mark.usefixtures("notifying")
def test_window_mails_and_webhooks_arrive_at_their_instants(
    kube: Kube, namespace: str, receiver: Receiver, mailbox: MailHandler
) -> None:
    """Scheduled at once, reminder at start - remindBefore, started, completed: on time, once."""
    port = mailbox.port  # type: ignore[attr-defined]
    rcpt = f"{namespace}@example.com"
    setup_page(
        kube,
        namespace,
        secret("hook", url=hook_to(receiver, namespace, "hook"), signing=SIGNING_KEY),
        secret("mail", url=f"mailto://127.0.0.1:{port}?from=status@example.com&to={rcpt}"),
        secret("db-only", url=hook_to(receiver, namespace, "db-only")),
        subscriber(
            "hook",
            "hook",
            signature="Legacy",
            signingSecretRef={"name": "hook", "key": "signing"},
        ),
        subscriber("mail", "mail"),
        subscriber("db-only", "db-only", components=["db"]),
    )
    wait_for(lambda: ready(kube, namespace, "mail").get("status") == "True", what="mail Ready")
    wait_for(lambda: ready(kube, namespace, "hook").get("status") == "True", what="hook Ready")
    start, end = in_seconds(7), in_seconds(10)
    kube.apply(
        namespace,
        window("w", start, end, ["api"], notifySubscribers=True, remindBefore="3s"),
        window("silent", start, end, ["api"]),
    )
    path = f"/{namespace}/hook"
    wait_for(lambda: len(receiver.to(path)) >= 4, 20, what="four webhooks")
    time.sleep(1.0)
    hooks = receiver.to(path)
    assert [h.body["meta"]["event"] for h in hooks] == [
        "maintenance.scheduled",
        "maintenance.reminder",
        "maintenance.started",
        "maintenance.completed",
    ]
    instants = [None, start.timestamp() - 3, start.timestamp(), end.timestamp()]
    for hook, instant in zip(hooks, instants, strict=True):
        if instant is not None:
            assert instant <= hook.at < instant + 1.5, (
                hook.body["meta"]["event"],
                hook.at - instant,
            )
        expected = "sha256=" + hmac.new(SIGNING_KEY.encode(), hook.raw, hashlib.sha256).hexdigest()
        assert hook.headers["X-Statuspage-Signature"] == expected
        assert hook.headers["Idempotency-Key"] == hook.body["meta"]["delivery"]
        assert hook.body["incident"]["name"] == "Maintenance w"
        assert hook.body["incident"]["impact"] == "maintenance"
    assert len({h.headers["Idempotency-Key"] for h in hooks}) == 4
    started = hooks[2].body
    assert started["incident"]["status"] == "in_progress"
    assert "Affects: api" in started["meta"]["text"]
    assert "(Europe/Berlin)" in started["meta"]["text"]
    assert "https://status.example.com/" in started["meta"]["text"]
    # The silent window and the other component's subscriber: nothing.
    assert all(
        h.body["incident"]["name"] == "Maintenance w" for h in receiver.hooks if h.path == path
    )
    assert receiver.to(f"/{namespace}/db-only") == []
    wait_for(lambda: len([m for m in mailbox.mails if rcpt in m.to]) >= 4, 10, what="four mails")
    mails = [m for m in mailbox.mails if rcpt in m.to]
    subjects = [str(m.message["Subject"]) for m in mails]
    assert subjects == [
        "[Example] Maintenance scheduled: Maintenance w",
        "[Example] Maintenance soon: Maintenance w",
        "[Example] Maintenance started: Maintenance w",
        "[Example] Maintenance completed: Maintenance w",
    ]
    assert "Affects: api" in mails[2].text
    status = kube.status("subscriber", "hook", namespace)
    assert status["sent"] == 4
    # Bounded: only the completed notice can still be sent (an hour after the end).
    assert len(status["delivered"]) == 1


@pytest.mark.usefixtures("notifying")
def test_incident_updates_arrive_in_order(kube: Kube, namespace: str, receiver: Receiver) -> None:
    """Created, updated, resolved: each once, in order, with its message; filters hold."""
    setup_page(
        kube,
        namespace,
        secret("hook", url=hook_to(receiver, namespace, "hook")),
        secret("db-only", url=hook_to(receiver, namespace, "db-only")),
        secret("api-only", url=hook_to(receiver, namespace, "api-only")),
        subscriber("hook", "hook"),
        subscriber("db-only", "db-only", components=["db"]),
        subscriber("api-only", "api-only", components=["api"], events=["incident.resolved"]),
    )
    wait_for(lambda: ready(kube, namespace, "hook").get("status") == "True", what="hook Ready")
    updates = [{"status": "Investigating", "message": "Looking into errors."}]
    incident = make_incident("boom", [{"name": "api"}], updates=updates, impact="Major")
    kube.apply(namespace, incident)
    path = f"/{namespace}/hook"
    wait_for(lambda: receiver.events(path) == ["incident.created"], 10, what="created")
    updates.append({"status": "Identified", "message": "A bad deploy."})
    kube.apply(namespace, incident)
    wait_for(lambda: len(receiver.to(path)) == 2, 10, what="updated")
    updates.append({"status": "Resolved", "message": "Rolled back."})
    kube.apply(namespace, incident)
    wait_for(lambda: len(receiver.to(path)) == 3, 10, what="resolved")
    time.sleep(1.0)
    hooks = receiver.to(path)
    assert [h.body["meta"]["event"] for h in hooks] == [
        "incident.created",
        "incident.updated",
        "incident.resolved",
    ]
    assert [h.body["incident"]["incident_updates"][0]["body"] for h in hooks] == [
        "Looking into errors.",
        "A bad deploy.",
        "Rolled back.",
    ]
    assert hooks[1].body["incident"]["status"] == "identified"
    assert hooks[0].body["incident"]["impact"] == "major"
    assert receiver.to(f"/{namespace}/db-only") == []
    assert receiver.events(f"/{namespace}/api-only") == ["incident.resolved"]


def metric(url: str, name: str) -> float:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


@pytest.mark.usefixtures("notifying")
def test_failing_endpoint_reports_delivery_failed_and_others_still_receive(
    kube: Kube, namespace: str, receiver: Receiver, notifying: OperatorProcess
) -> None:
    """Three attempts, then Ready=False DeliveryFailed without the URL, a Warning, the metric."""
    failing_url = f"json://hook-user:hook-password@127.0.0.1:{receiver.port}/fail/{namespace}"
    setup_page(
        kube,
        namespace,
        secret("bad", url=failing_url),
        secret("good", url=hook_to(receiver, namespace, "good")),
        subscriber("bad", "bad"),
        subscriber("good", "good"),
    )
    wait_for(lambda: ready(kube, namespace, "bad").get("status") == "True", what="bad Ready")
    failed_before = metric(notifying.metrics_url, 'statuspage_notifications_total{result="failed"}')
    updates = [{"status": "Investigating", "message": "Errors."}]
    kube.apply(namespace, make_incident("boom", [{"name": "api"}], updates=updates))
    wait_for(lambda: receiver.events(f"/{namespace}/good") == ["incident.created"], 10, what="good")
    failed = wait_for(
        lambda: (c := ready(kube, namespace, "bad")).get("reason") == "DeliveryFailed" and c,
        10,
        what="DeliveryFailed",
    )
    assert failed["message"].endswith(": 5xx")
    assert "hook-password" not in failed["message"]
    assert str(receiver.port) not in failed["message"]
    events = kube.events(namespace, "bad")
    assert [e["reason"] for e in events if e["type"] == "Warning"] == ["DeliveryFailed"]
    after = metric(notifying.metrics_url, 'statuspage_notifications_total{result="failed"}')
    assert after == failed_before + 1
    assert kube.status("subscriber", "bad", namespace)["failed"] == 1


@pytest.mark.usefixtures("notifying")
@pytest.mark.parametrize(
    ("url", "reason", "says"),
    [
        pytest.param(None, "SecretNotFound", "Secret dest not found", id="missing-secret"),
        pytest.param("nosuch://x/y", "InvalidDestination", "unknown scheme nosuch://", id="scheme"),
        pytest.param(
            "mailto://", "InvalidDestination", "mailto:// URL is malformed", id="malformed"
        ),
        pytest.param("just words", "InvalidDestination", "has no scheme", id="not-a-url"),
    ],
)
def test_bad_destination_says_what_to_fix(
    kube: Kube, namespace: str, receiver: Receiver, url: str | None, reason: str, says: str
) -> None:
    """A bad destination: Ready=False with what to fix; another subscriber keeps receiving."""
    objects = [] if url is None else [secret("dest", url=url)]
    setup_page(
        kube,
        namespace,
        *objects,
        secret("good", url=hook_to(receiver, namespace, "good")),
        subscriber("broken", "dest"),
        subscriber("good", "good"),
    )
    found = wait_for(
        lambda: (c := ready(kube, namespace, "broken")).get("reason") == reason and c,
        10,
        what=reason,
    )
    assert says in found["message"]
    assert found["status"] == "False"
    wait_for(lambda: ready(kube, namespace, "good").get("status") == "True", what="good Ready")
    updates = [{"status": "Investigating", "message": "Errors."}]
    kube.apply(namespace, make_incident("boom", [{"name": "api"}], updates=updates))
    wait_for(lambda: receiver.events(f"/{namespace}/good") == ["incident.created"], 10, what="good")


@pytest.mark.usefixtures("notifying")
def test_what_subscribers_know_of_their_page_follows_the_page(
    kube: Kube, namespace: str, receiver: Receiver
) -> None:
    """Before its page: PageNotFound; with it: Ready. A window without its own remindBefore is
    reminded at the page's, and a change of the page's moves the reminder; its text is in the
    page's words."""
    kube.apply(
        namespace,
        secret("hook", url=hook_to(receiver, namespace, "hook")),
        subscriber("hook", "hook", events=["maintenance.reminder"]),
    )
    wait_for(
        lambda: ready(kube, namespace, "hook").get("reason") == "PageNotFound", 10, what="missing"
    )
    page = make_page(title="Example", timeZone="Europe/Berlin", remindBefore="2s")
    kube.apply(namespace, page, make_component("api"))
    wait_ready(kube, namespace, "hook")
    start, end = in_seconds(12), in_seconds(20)
    kube.apply(namespace, window("w", start, end, ["api"], notifySubscribers=True))
    page["spec"]["remindBefore"] = "6s"
    kube.apply(namespace, page)
    path = f"/{namespace}/hook"
    wait_for(lambda: receiver.to(path), 15, what="the reminder")
    [hook] = receiver.to(path)
    instant = start.timestamp() - 6
    assert instant <= hook.at < instant + 1.5, hook.at - instant
    assert hook.body["meta"]["title"] == "[Example] Maintenance soon: Maintenance w"
    assert "(Europe/Berlin)" in hook.body["meta"]["text"]


def written_only_status(body: dict[str, Any]) -> bool:
    """Whether every write to the object other than kubectl's went to its status subresource."""
    return all(
        entry["manager"].startswith("kubectl") or entry.get("subresource") == "status"
        for entry in body["metadata"].get("managedFields", ())
    )


@pytest.mark.usefixtures("notifying")
def test_a_secret_that_comes_later_is_found_without_a_write_to_the_subscriber(
    kube: Kube, namespace: str, receiver: Receiver, notifying: OperatorProcess
) -> None:
    """SecretNotFound; the Secret appears: Ready within the recheck (kopf's timer) and receiving.
    The Subscribers never carry a finalizer nor any metadata write (the operator's role has no
    patch on them: kopf would fail loudly), one waiting is deleted at once, and the operator logs
    no error about any of them."""
    logged = len(notifying.log.read_text(errors="replace"))
    setup_page(kube, namespace, subscriber("late", "late"), subscriber("never", "never"))
    for name in ("late", "never"):
        wait_for(
            lambda n=name: ready(kube, namespace, n).get("reason") == "SecretNotFound",  # type: ignore[misc]
            10,
            what=f"{name} SecretNotFound",
        )
    kube.apply(namespace, secret("late", url=hook_to(receiver, namespace, "late")))
    wait_for(
        partial(is_ready, kube, namespace, "late"), RECHECK + 20, what="late Ready after a recheck"
    )
    updates = [{"status": "Investigating", "message": "Errors."}]
    kube.apply(namespace, make_incident("boom", [{"name": "api"}], updates=updates))
    path = f"/{namespace}/late"
    wait_for(lambda: receiver.events(path) == ["incident.created"], 10, what="late receives")
    # "never" has waited through a recheck or more; deleting it waits for nothing.
    kube.run("delete", "subscriber", "never", "-n", namespace, "--timeout=10s")
    assert kube.get("subscriber", "never", namespace) is None
    late = kube.get("subscriber", "late", namespace)
    assert late is not None
    assert "finalizers" not in late["metadata"]
    assert not [a for a in late["metadata"].get("annotations", {}) if "statuspage.dev" in a]
    assert written_only_status(late)
    time.sleep(1.0)
    log = notifying.log.read_text(errors="replace")[logged:]
    troubles = [
        line
        for line in log.splitlines()
        if namespace in line and ("ERROR" in line or "Forbidden" in line or " 403" in line)
    ]
    assert troubles == []


@pytest.mark.usefixtures("notifying")
def test_slow_endpoint_delays_no_transition_and_no_other_subscriber(
    kube: Kube, namespace: str, receiver: Receiver
) -> None:
    """100 windows share a start; one subscriber's endpoint answers only after the operator gave
    up waiting (15 s): the windows move on time and the other subscriber hears of all of them
    at once."""
    windows = 100
    slow_url = f"json://127.0.0.1:{receiver.port}/slow/{namespace}"
    setup_page(
        kube,
        namespace,
        secret("slow", url=slow_url),
        secret("good", url=hook_to(receiver, namespace, "good")),
        subscriber("slow", "slow", events=["maintenance.started"]),
        subscriber("good", "good", events=["maintenance.started"]),
    )
    wait_ready(kube, namespace, "slow", "good")
    start = in_seconds(8)
    kube.apply(
        namespace,
        *[
            window(
                f"w{i}", start, in_seconds(600), ["api" if i % 2 else "db"], notifySubscribers=True
            )
            for i in range(windows)
        ],
    )
    path = f"/{namespace}/good"
    wait_for(lambda: len(receiver.to(path)) >= windows, 30, what="the good subscriber's webhooks")
    good = [h.at - start.timestamp() for h in receiver.to(path)]
    phases = json.loads(kube.run("get", "mw", "-n", namespace, "-o", "json").stdout)["items"]
    assert {(w.get("status") or {}).get("phase") for w in phases} == {"InProgress"}
    # Before the slow endpoint's first attempts could have given up (15 s): not behind them.
    assert max(good) < 10, max(good)
    assert len({h.headers["Idempotency-Key"] for h in receiver.to(path)}) == windows
    # The slow endpoint was being tried meanwhile, a few requests at a time.
    assert receiver.slow


WINDOWS = 200
SUBSCRIBERS = 5


@pytest.mark.usefixtures("notifying")
def test_sigkill_loses_no_delivery_and_repeats_only_under_the_same_key(
    kube: Kube, namespace: str, receiver: Receiver, notifying: OperatorProcess
) -> None:
    """200 windows x 5 subscribers share a start and an end: SIGKILL as the start's deliveries
    begin (the transitions written, their deliveries not made), in the middle of their replay,
    and in the middle of the end's deliveries. The receiver drops a request whose key it has
    seen, as a real one would: every (subscriber, window, event) arrives under one key, with one
    body, at least once."""
    names = [f"s{i}" for i in range(SUBSCRIBERS)]
    setup_page(
        kube,
        namespace,
        *[secret(n, url=hook_to(receiver, namespace, n)) for n in names],
        *[subscriber(n, n, events=["maintenance.started", "maintenance.completed"]) for n in names],
    )
    wait_ready(kube, namespace, *names)
    start, end = in_seconds(12), in_seconds(37)
    kube.apply(
        namespace,
        *[
            window(f"w{i}", start, end, ["api" if i % 2 else "db"], notifySubscribers=True)
            for i in range(WINDOWS)
        ],
    )
    per_edge = WINDOWS * SUBSCRIBERS
    prefix = f"/{namespace}/"

    def received() -> list[Hook]:
        return [h for h in receiver.hooks if h.path.startswith(prefix)]

    def keys(event: str) -> int:
        return len(
            {h.headers["Idempotency-Key"] for h in received() if h.body["meta"]["event"] == event}
        )

    def kill_when(event: str, count: int, what: str) -> None:
        wait_for(lambda: keys(event) >= count, 30, interval=0.02, what=what)
        notifying.stop(signal.SIGKILL)
        killed.append(time.time())
        kills.append(f"{what} ({keys(event)} of {per_edge} received)")
        listed = json.loads(kube.run("get", "subscribers", "-n", namespace, "-o", "json").stdout)
        recorded.append(
            {
                d["key"]
                for s in listed["items"]
                for d in (s.get("status") or {}).get("delivered", ())
            }
        )
        notifying.start()

    kills: list[str] = []
    killed: list[float] = []
    # The keys each Subscriber's status recorded as delivered when the operator was killed.
    recorded: list[set[str]] = []
    kill_when("maintenance.started", 1, "the first start delivery")
    kill_when("maintenance.started", per_edge // 2, "half the start deliveries")
    # The start notices are due until the end: all of them before it.
    wait_for(
        lambda: keys("maintenance.started") >= per_edge,
        end.timestamp() - time.time(),
        what="every start delivery before the end",
    )
    kill_when("maintenance.completed", per_edge // 4, "a quarter of the end deliveries")
    wait_for(lambda: keys("maintenance.completed") >= per_edge, 30, what="every end delivery")
    time.sleep(2.0)
    hooks = received()
    bodies: dict[str, set[bytes]] = {}
    news: dict[tuple[str, str, str], set[str]] = {}
    for hook in hooks:
        key = hook.headers["Idempotency-Key"]
        bodies.setdefault(key, set()).add(hook.raw)
        about = (hook.path, hook.body["incident"]["name"], hook.body["meta"]["event"])
        news.setdefault(about, set()).add(key)
    expected = 2 * per_edge
    assert len(news) == expected
    assert all(len(k) == 1 for k in news.values()), "one news under two keys"
    assert len(bodies) == expected
    assert all(len(b) == 1 for b in bodies.values()), "one key with two bodies"
    per_key = Counter(h.headers["Idempotency-Key"] for h in hooks)
    repeated = len(hooks) - expected
    # Each repeat is owed to the kill before it.
    seen: set[str] = set()
    by_kill = Counter[int]()
    for hook in sorted(hooks, key=lambda h: h.at):
        key = hook.headers["Idempotency-Key"]
        if key in seen:
            by_kill[bisect.bisect(killed, hook.at) - 1] += 1
        seen.add(key)
    print(
        f"\nSIGKILL x3: {len(hooks)} requests for {expected} keys, {repeated} repeated under "
        f"their key (at most {max(per_key.values())} of one); by kill: "
        + "; ".join(
            f"{what}, {len(keys_then)} recorded: {by_kill[i]} repeated"
            for i, (what, keys_then) in enumerate(zip(kills, recorded, strict=True))
        )
    )
    # A key recorded as delivered is never sent again; only what was sent, or being sent, and not
    # yet recorded when the operator died goes again: at most UNRECORDED per subscriber and kill.
    for at, keys_then in zip(killed, recorded, strict=True):
        assert not [h for h in hooks if h.at > at and h.headers["Idempotency-Key"] in keys_then]
    assert repeated <= len(killed) * SUBSCRIBERS * UNRECORDED
