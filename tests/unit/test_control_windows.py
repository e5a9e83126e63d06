"""The window control layer over the fake API server: edges, catch-up, overlaps, reminders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.control import windows as windows_module
from statuspage_operator.control.edges import follow_edges
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.control.writer import TOGETHER
from statuspage_operator.k8s.client import ApiError
from unit.fake_time import FakeClock, FakeStop, eventually
from unit.fakes import FakeClient, resource
from unit.running import NS, add_window, body, feed, make_world, run

HOUR = timedelta(hours=1)


def phase(client: FakeClient, name: str = "w") -> object:
    return client.status(Kind.WINDOW, NS, name).get("phase")


def shown(client: FakeClient, component: str = "api") -> object:
    return client.status(Kind.COMPONENT, NS, component).get("status")


def window_reasons(client: FakeClient, name: str = "w") -> list[str]:
    return client.reasons(name)


async def follow_to_the_end(
    runtime: Runtime, client: FakeClient, clock: FakeClock, name: str = "w"
) -> list[tuple[datetime, object, object]]:
    """The daemon's loop with the fake clock's sleep: (now, phase, api's status) at each settle."""
    seen: list[tuple[datetime, object, object]] = []
    live = body(client, Kind.WINDOW, name)

    async def settle(now: datetime) -> datetime | None:
        edge = await runtime.windows.settle(live, now)
        seen.append((now, phase(client, name), shown(client)))
        return edge

    def stopped() -> bool:
        return phase(client, name) in ("Completed", "Cancelled") or len(seen) > 50

    await follow_edges(settle, clock, clock.sleep, stopped)
    return seen


def test_the_daemon_settles_at_the_start_and_the_end() -> None:
    """Edge by edge on a fake clock: Scheduled, InProgress at START, Completed at END."""
    client, clock = make_world()
    start = clock.now + timedelta(minutes=10)
    add_window(client, "w", start, HOUR)
    seen = run(client, clock, lambda rt: follow_to_the_end(rt, client, clock))
    # A new window moves too (to Scheduled): api gets its first status then.
    assert seen[0][1:] == ("Scheduled", "Operational")
    assert (start, "InProgress", "UnderMaintenance") in seen
    assert seen[-1] == (start + HOUR, "Completed", "Operational")
    assert window_reasons(client) == ["MaintenanceStarted", "MaintenanceCompleted"]


def test_components_are_written_before_the_window_at_its_edges() -> None:
    """At the start and at the end, api's status patch goes out before the window's own."""
    client, clock = make_world()
    start = clock.now + timedelta(minutes=10)
    add_window(client, "w", start, HOUR)
    run(client, clock, lambda rt: follow_to_the_end(rt, client, clock))
    patched = [p for p in client.patched() if p in ("components/api", "maintenancewindows/w")]
    # Scheduled, InProgress, Completed: each time api first, then the window.
    assert patched == ["components/api", "maintenancewindows/w"] * 3


def test_settling_again_posts_no_event_twice() -> None:
    """A second settle at the same instant writes nothing and posts nothing."""
    client, clock = make_world()
    add_window(client, "w", clock.now - timedelta(minutes=1), HOUR)

    async def scenario(runtime: Runtime) -> int:
        window = body(client, Kind.WINDOW, "w")
        await runtime.windows.settle(window, clock())
        patches = len(client.patched())
        await runtime.windows.settle(window, clock())
        return len(client.patched()) - patches

    assert run(client, clock, scenario) == 0
    assert window_reasons(client) == ["MaintenanceStarted"]


def test_a_restart_replays_a_notice_and_the_server_refuses_the_duplicate() -> None:
    """After a restart the recorded notice is posted again under its name: 409, still one Event."""
    client, clock = make_world()
    add_window(client, "w", clock.now - timedelta(minutes=1), HOUR)

    async def settle(runtime: Runtime) -> None:
        await runtime.windows.settle(body(client, Kind.WINDOW, "w"), clock())

    run(client, clock, settle)
    posts = client.count("POST", "/events")
    clock.advance(60)

    async def restart(runtime: Runtime) -> None:
        await feed(runtime, Kind.WINDOW, None, body(client, Kind.WINDOW, "w"))

    run(client, clock, restart)
    assert client.count("POST", "/events") == posts + 1
    assert window_reasons(client) == ["MaintenanceStarted"]


def test_follow_wakes_when_told_and_leaves_no_waker() -> None:
    """Windows.follow sleeps until woken, settles at the clock's now, and ends when stopped."""
    client, clock = make_world()
    start = clock.now + timedelta(minutes=10)
    add_window(client, "w", start, HOUR)

    async def scenario(runtime: Runtime) -> tuple[object, object, bool]:
        stop = FakeStop()
        daemon = asyncio.create_task(runtime.windows.follow(body(client, Kind.WINDOW, "w"), stop))
        await eventually(lambda: phase(client) == "Scheduled")
        clock.set(start)
        runtime.windows.wake((NS, "w"))
        await eventually(lambda: phase(client) == "InProgress")
        in_progress = shown(client)
        stop.set()
        runtime.windows.wake((NS, "w"))
        await asyncio.wait_for(daemon, 5)
        return in_progress, phase(client), (NS, "w") in runtime.view.wakers

    assert run(client, clock, scenario) == ("UnderMaintenance", "InProgress", False)


@pytest.mark.parametrize(
    ("recorded", "down_until", "expected_phase", "expected_api", "events"),
    [
        pytest.param(
            "Scheduled",
            timedelta(minutes=30),
            "InProgress",
            "UnderMaintenance",
            ["MaintenanceStarted"],
            id="started-while-down",
        ),
        pytest.param(
            "InProgress",
            timedelta(hours=2),
            "Completed",
            "Operational",
            ["MaintenanceStarted", "MaintenanceCompleted"],
            id="ended-while-down",
        ),
    ],
)
def test_catch_up_after_downtime_moves_windows_from_the_start_up_list(
    recorded: str,
    down_until: timedelta,
    expected_phase: str,
    expected_api: str,
    events: list[str],
) -> None:
    """Runtime.prime finds windows whose edge passed and moves them before kopf gets to them."""
    client, clock = make_world()
    start = clock.now + timedelta(minutes=10)
    add_window(client, "w", start, HOUR)
    before = clock.now if recorded == "Scheduled" else start

    async def settle(runtime: Runtime) -> None:
        await runtime.windows.settle(body(client, Kind.WINDOW, "w"), before)
        await runtime.components.recompute(NS, ["api"], before)

    clock.set(before)
    run(client, clock, settle)
    assert phase(client) == recorded
    clock.set(start + down_until)

    async def restart(runtime: Runtime) -> None:
        await eventually(lambda: phase(client) == expected_phase)

    run(client, clock, restart)
    assert shown(client) == expected_api
    assert window_reasons(client) == events


def test_a_whole_occurrence_missed_waits_for_kopf_and_says_completed_once() -> None:
    """Never ran: prime leaves it to the watch handler, which completes it with one notice."""
    client, clock = make_world()
    add_window(client, "w", clock.now + timedelta(minutes=10), HOUR)
    run(client, clock, lambda rt: rt.windows.settle(body(client, Kind.WINDOW, "w"), clock()))
    clock.advance(3 * 3600)

    async def restart(runtime: Runtime) -> object:
        await asyncio.sleep(0.05)
        untouched = phase(client)
        await feed(runtime, Kind.WINDOW, None, body(client, Kind.WINDOW, "w"))
        return untouched

    assert run(client, clock, restart) == "Scheduled"
    assert phase(client) == "Completed"
    assert window_reasons(client) == ["MaintenanceCompleted"]
    assert "UnderMaintenance" not in str([c.body for c in client.calls if "components" in c.path])


def test_overlaps_are_listed_and_the_warning_told_once() -> None:
    """The second window on api at the same time lists the first; its Warning is posted once."""
    client, clock = make_world()
    start = clock.now + timedelta(minutes=10)
    add_window(client, "first", start, HOUR)
    add_window(client, "second", start + timedelta(minutes=30), HOUR)

    async def scenario(runtime: Runtime) -> None:
        await feed(runtime, Kind.WINDOW, None, body(client, Kind.WINDOW, "first"))
        await runtime.windows.settle(body(client, Kind.WINDOW, "second"), clock())
        await runtime.windows.settle(body(client, Kind.WINDOW, "second"), clock())
        clock.set(start + timedelta(minutes=30))
        await runtime.windows.settle(body(client, Kind.WINDOW, "second"), clock())

    run(client, clock, scenario)
    [listed] = client.status(Kind.WINDOW, NS, "second")["overlaps"]
    assert (listed["window"], listed["components"]) == ("first", ["api"])
    assert window_reasons(client, "second") == ["MaintenanceOverlaps", "MaintenanceStarted"]


@pytest.mark.parametrize(
    ("own", "page", "before"),
    [
        pytest.param("30m", None, timedelta(minutes=30), id="own-remind-before"),
        pytest.param(None, "1h", HOUR, id="page-default"),
    ],
)
def test_the_reminder_comes_at_its_instant_once(
    own: str | None, page: str | None, before: timedelta
) -> None:
    """The daemon wakes at `start - remindBefore` and posts the reminder once, then the start."""
    client = FakeClient()
    clock = FakeClock()
    client.add(
        resource(Kind.PAGE, NS, "p", {"title": "P", **({"remindBefore": page} if page else {})})
    )
    client.add(resource(Kind.COMPONENT, NS, "api", {"page": "p"}))
    start = clock.now + 2 * HOUR
    extra = {"remindBefore": own} if own else {}
    add_window(client, "w", start, HOUR, notifySubscribers=True, **extra)
    seen = run(client, clock, lambda rt: follow_to_the_end(rt, client, clock))
    assert start - before in [now for now, _, _ in seen]
    assert window_reasons(client) == [
        "MaintenanceScheduled",
        "MaintenanceReminder",
        "MaintenanceStarted",
        "MaintenanceCompleted",
    ]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_transient_failure_of_the_status_patch_is_retried(status: int) -> None:
    """Throttled or failed once: the patch is tried again and the window moves."""
    client, clock = make_world()
    add_window(client, "w", clock.now - timedelta(minutes=1), HOUR)
    client.fail_next("PATCH", "/maintenancewindows/w/status", status=status)
    run(client, clock, lambda rt: rt.windows.settle(body(client, Kind.WINDOW, "w"), clock()))
    assert client.patched().count("maintenancewindows/w") == 2
    assert phase(client) == "InProgress"
    assert window_reasons(client) == ["MaintenanceStarted"]


def test_a_window_deleted_under_the_daemon_ends_quietly() -> None:
    """404 on its status: nothing raised, nothing announced, no retry."""
    client, clock = make_world()
    add_window(client, "w", clock.now - timedelta(minutes=1), HOUR)

    async def scenario(runtime: Runtime) -> None:
        window = body(client, Kind.WINDOW, "w")
        client.delete(Kind.WINDOW, NS, "w")
        await runtime.windows.settle(window, clock())

    run(client, clock, scenario)
    assert client.patched().count("maintenancewindows/w") == 1
    assert window_reasons(client) == []


def test_a_refused_status_patch_is_raised_for_kopf_to_retry() -> None:
    """403 is no transient failure: settle raises, and the notice is not announced."""
    client, clock = make_world()
    add_window(client, "w", clock.now - timedelta(minutes=1), HOUR)
    client.fail_next("PATCH", "/maintenancewindows/w/status", status=403)

    async def scenario(runtime: Runtime) -> None:
        with pytest.raises(ApiError):
            await runtime.windows.settle(body(client, Kind.WINDOW, "w"), clock())

    run(client, clock, scenario)
    assert phase(client) is None
    assert window_reasons(client) == []


def test_page_not_found_heals_when_the_page_and_its_component_appear() -> None:
    """PageNotFound and a Warning; the page comes (ComponentNotFound), then its component: Ready."""
    client, clock = make_world()
    add_window(client, "w", clock.now - timedelta(hours=3), HOUR, page="q", components=["cache"])

    def ready() -> tuple[object, object]:
        condition = client.status(Kind.WINDOW, NS, "w")["conditions"][0]
        return condition["status"], condition["reason"]

    async def scenario(runtime: Runtime) -> list[tuple[object, object]]:
        await feed(runtime, Kind.WINDOW, None, body(client, Kind.WINDOW, "w"))
        seen = [ready()]
        clock.advance(60)
        await runtime.page_event("ADDED", client.add(resource(Kind.PAGE, NS, "q", {"title": "Q"})))
        seen.append(ready())
        cache = client.add(resource(Kind.COMPONENT, NS, "cache", {"page": "q"}))
        await runtime.component_event("ADDED", cache)
        seen.append(ready())
        return seen

    assert run(client, clock, scenario) == [
        ("False", "PageNotFound"),
        ("False", "ComponentNotFound"),
        ("True", "Reconciled"),
    ]
    assert sorted(window_reasons(client)) == ["MaintenanceCompleted", "PageNotFound"]


def test_a_waiting_window_with_a_daemon_is_woken_rather_than_rewritten() -> None:
    """Heal leaves a window with a daemon to its daemon: it wakes it."""
    client, clock = make_world()
    add_window(client, "w", clock.now + HOUR, HOUR, page="q")

    async def scenario(runtime: Runtime) -> bool:
        await runtime.windows.settle(body(client, Kind.WINDOW, "w"), clock())
        waker = runtime.view.wakers[(NS, "w")] = asyncio.Event()
        patches = len(client.patched())
        await runtime.page_event("ADDED", client.add(resource(Kind.PAGE, NS, "q", {"title": "Q"})))
        assert "maintenancewindows/w" not in client.patched()[patches:]
        return waker.is_set()

    assert run(client, clock, scenario)


class SlowStatusWrites(FakeClient):
    """An API server that takes 20 ms to answer a status write; records each one's span, and
    in `log` when it began and when it was answered (beside what a test logs there itself)."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[tuple[str, float, float]] = []
        self.log: list[tuple[str, str]] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if method != "PATCH" or not path.endswith("/status"):
            return await super().request(method, path, **kwargs)
        # "components/api", "maintenancewindows/w" or "statuspages/p"
        what = "/".join(path.split("/")[-3:-1])
        loop = asyncio.get_running_loop()
        began = loop.time()
        self.log.append(("began", what))
        await asyncio.sleep(0.02)
        answer = await super().request(method, path, **kwargs)
        self.log.append(("answered", what))
        self.spans.append((what, began, loop.time()))
        return answer


def slow_world(windows: int, components: int) -> tuple[SlowStatusWrites, FakeClock]:
    client, clock = SlowStatusWrites(), FakeClock()
    client.add(resource(Kind.PAGE, NS, "p", {"title": "P"}))
    for c in range(components):
        client.add(resource(Kind.COMPONENT, NS, f"c{c}", {"page": "p"}))
    start = clock.now + timedelta(minutes=1)
    for w in range(windows):
        add_window(client, f"w{w}", start, HOUR, components=[f"c{w % components}"])
    return client, clock


async def at_the_start(
    runtime: Runtime, client: SlowStatusWrites, clock: FakeClock, n: int
) -> None:
    """Every window's daemon settles at the shared start (the same loop pass, as kopf's do)."""
    bodies = [body(client, Kind.WINDOW, f"w{w}") for w in range(n)]
    for live in bodies:
        await runtime.windows.settle(live, clock())  # Scheduled: their first status
    client.spans.clear()
    clock.advance(60)
    await asyncio.gather(*(runtime.windows.settle(live, clock()) for live in bodies))


def test_a_lone_edge_writes_its_components_and_itself_together() -> None:
    """One turn of the API server, not two: the window's write starts before api's is answered
    (api's is still sent first)."""
    client, clock = slow_world(windows=1, components=1)
    run(client, clock, lambda runtime: at_the_start(runtime, client, clock, 1))
    spans = {what: (began, ended) for what, began, ended in client.spans}
    component, window = spans["components/c0"], spans["maintenancewindows/w0"]
    assert component[0] <= window[0] < component[1]
    assert phase(client, "w0") == "InProgress"
    assert shown(client, "c0") == "UnderMaintenance"


def test_a_shared_edge_writes_the_components_before_most_windows() -> None:
    """40 windows on 10 components at one instant: up to TOGETHER of them go with their
    components; every other window's write starts once all 10 components are answered."""
    client, clock = slow_world(windows=40, components=10)
    run(client, clock, lambda runtime: at_the_start(runtime, client, clock, 40))
    components_done = max(e for what, _, e in client.spans if what.startswith("components/"))
    windows = sorted(b for what, b, _ in client.spans if what.startswith("maintenancewindows/"))
    assert len(windows) == 40
    early = [b for b in windows if b < components_done]
    assert 0 < len(early) <= TOGETHER
    assert all(phase(client, f"w{w}") == "InProgress" for w in range(40))


@dataclass
class AtTheStart:
    """What n daemons woken at one start did: how many windows were planned when each component
    write began, the most windows planned at once whose write was not yet answered, and what
    the components then show."""

    began: list[int]
    most_unanswered: int
    shows: list[str]

    @classmethod
    def of(cls, log: list[tuple[str, str]], shows: list[str]) -> AtTheStart:
        planned = answered = most = 0
        began: list[int] = []
        for step, what in log:
            if step == "planned":
                planned += 1
                most = max(most, planned - answered)
            elif step == "began" and what.startswith("components/"):
                began.append(planned)
            elif step == "answered" and what.startswith("maintenancewindows/"):
                answered += 1
        return cls(began, most, shows)


def daemons_at_the_start(n: int, components: int) -> AtTheStart:
    """n windows' daemons asleep until one start, woken in the same loop pass (as their timers
    fire)."""
    client, clock = slow_world(windows=n, components=components)

    async def scenario(runtime: Runtime) -> None:
        gather = runtime.windows.gather

        def planning(live: Any, current: dict[str, Any]) -> Any:
            client.log.append(("planned", "maintenancewindows/" + live["metadata"]["name"]))
            return gather(live, current)

        runtime.windows.gather = planning  # type: ignore[method-assign, assignment]
        stop = FakeStop()
        daemons = [
            asyncio.create_task(runtime.windows.follow(body(client, Kind.WINDOW, f"w{w}"), stop))
            for w in range(n)
        ]
        await eventually(lambda: all(phase(client, f"w{w}") == "Scheduled" for w in range(n)))
        client.log.clear()
        clock.advance(60)
        for w in range(n):
            runtime.windows.wake((NS, f"w{w}"))
        await eventually(lambda: all(phase(client, f"w{w}") == "InProgress" for w in range(n)))
        stop.set()
        for w in range(n):
            runtime.windows.wake((NS, f"w{w}"))
        await asyncio.wait_for(asyncio.gather(*daemons), 5)

    run(client, clock, scenario)
    return AtTheStart.of(client.log, [str(shown(client, f"c{c}")) for c in range(components)])


def test_at_a_shared_edge_every_component_write_begins_before_any_window_is_planned() -> None:
    """40 daemons wake at one start: the first recomputes all 10 components at once, and none
    of the 40 plans its window before those writes are on their way."""
    seen = daemons_at_the_start(40, 10)
    assert seen.began == [0] * 10
    assert seen.shows == ["UnderMaintenance"] * 10


def test_at_a_shared_edge_the_windows_plan_a_few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """40 daemons at one start, 4 slots: a window plans only once fewer than 4 of those
    planned before it wait for their answer, so the answers (and the next writes) are not held
    up until the last window has planned."""
    monkeypatch.setattr(windows_module, "EDGE_SLOTS", 4)
    seen = daemons_at_the_start(40, 10)
    assert seen.most_unanswered == 4
    assert seen.shows == ["UnderMaintenance"] * 10


def test_at_a_lone_edge_the_daemons_plan_first_and_write_with_their_components() -> None:
    """Three daemons at one start: no one waits for another; each plans, then writes its
    components with itself (the component writes begin once windows are planned)."""
    seen = daemons_at_the_start(3, 3)
    assert len(seen.began) == 3
    assert all(b >= 1 for b in seen.began)
    assert seen.shows == ["UnderMaintenance"] * 3
