"""The sweep: when it runs, what it drops, and that dropping recomputes what the object affected."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.api.specs import ComponentSpec, parse
from statuspage_operator.control import metrics
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.control.sweep import (
    DELAY,
    INTERVAL,
    QUIET,
    RETRY,
    RETRY_MAX,
    Plan,
    stale,
)
from statuspage_operator.control.view import ComponentEntry
from statuspage_operator.k8s.client import METADATA_LIST
from unit.fake_time import eventually
from unit.fakes import FakeClient, resource

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NS = "ns"


def stamp(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


# -- when -------------------------------------------------------------------------------------


def test_between_listings_only_the_interval_is_planned() -> None:
    """After a sweep, until kopf hands over a listed object again, the periodic sweep is next."""
    plan = Plan()
    plan.starting(0.0)
    plan.begin(plan.next())
    assert plan.next() == QUIET + INTERVAL


def test_start_up_listing_is_swept_once_it_is_quiet() -> None:
    """kopf's first listing is swept once no listed object came for QUIET seconds."""
    plan = Plan()
    plan.starting(0.0)
    for at in (1.0, 1.5, 2.0):
        assert not plan.listed(at), "no sooner than planned: the sweeper sleeps on"
    assert plan.next() == 2.0 + QUIET
    assert plan.begin(plan.next()) == "listing"
    assert plan.next() == 2.0 + QUIET + INTERVAL


def test_start_up_with_nothing_listed_is_swept_after_quiet() -> None:
    """Objects of the start-up list all deleted before kopf's: kopf lists nothing, still swept."""
    plan = Plan()
    plan.starting(100.0)
    assert plan.next() == 100.0 + QUIET
    assert plan.begin(plan.next()) == "listing"


def test_relist_after_the_first_sweep_is_swept_soon_after_it_begins() -> None:
    """A burst of listed objects after a sweep is a re-list: swept DELAY after it began."""
    plan = Plan(start=0.0)
    plan.listed(1.0)
    plan.begin(20.0)
    assert plan.listed(300.0)
    plan.listed(300.5)
    assert plan.next() == 300.0 + DELAY
    assert plan.begin(302.0) == "listing"
    assert plan.next() == 302.0 + INTERVAL


def test_a_listing_still_going_when_swept_is_swept_again_at_its_end() -> None:
    """Objects listed after a sweep began need one more sweep once the listing is over."""
    plan = Plan(start=0.0)
    plan.listed(1.0)
    plan.begin(20.0)
    plan.listed(300.0)
    plan.begin(302.0)
    assert plan.listed(303.0), "the sweeper must wake: a sooner sweep is due"
    assert not plan.listed(304.0)
    assert plan.next() == 304.0 + QUIET


def test_a_failed_sweep_is_retried_before_the_interval() -> None:
    """A sweep that failed (API server away) is tried again after RETRY seconds."""
    plan = Plan(start=0.0)
    plan.begin(700.0)
    assert plan.failed(701.0) == RETRY
    assert plan.next() == 701.0 + RETRY
    assert plan.begin(plan.next()) == "retry"


def test_failures_in_a_row_are_retried_later_and_later_up_to_a_ceiling() -> None:
    """2, 4, 8, 16, then RETRY_MAX (30) seconds; a sweep that goes through starts again at 2."""
    plan = Plan(start=0.0)
    now = 700.0
    waits = []
    for _ in range(7):
        plan.begin(now)
        waits.append(plan.failed(now))
        assert plan.next() == now + waits[-1]
        now = plan.next()
    assert waits == [RETRY, 2 * RETRY, 4 * RETRY, 8 * RETRY, RETRY_MAX, RETRY_MAX, RETRY_MAX]
    plan.begin(now)
    plan.succeeded()
    plan.begin(now + 600.0)
    assert plan.failed(now + 600.0) == RETRY


def test_interval_sweep_is_labelled_interval() -> None:
    """Without any listing the sweep says it came from the interval."""
    plan = Plan(start=0.0)
    assert plan.begin(plan.next()) == "interval"


# -- what -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "listed", "reported", "expected"),
    [
        pytest.param({(NS, "a"): "u1"}, {(NS, "a"): "u1"}, set(), [], id="still-there"),
        pytest.param({(NS, "a"): "u1"}, {}, set(), [((NS, "a"), "u1")], id="deleted"),
        pytest.param(
            {(NS, "a"): "u1"}, {(NS, "a"): "u2"}, set(), [((NS, "a"), "u1")], id="re-created"
        ),
        pytest.param({(NS, "a"): "u1"}, {}, {(NS, "a")}, [], id="reported-since-the-list"),
        pytest.param({}, {(NS, "b"): "u3"}, set(), [], id="listed-not-held-is-kopfs"),
    ],
)
def test_stale(
    held: dict[tuple[str, str], str],
    listed: dict[tuple[str, str], str],
    reported: set[tuple[str, str]],
    expected: list[tuple[tuple[str, str], str]],
) -> None:
    """Gone or re-created objects are stale, unless kopf reported them since the list began."""
    assert stale(held, listed, reported) == expected


# -- effects, against an API server in memory --------------------------------------------------


def page(name: str = "p") -> dict[str, Any]:
    return resource(Kind.PAGE, NS, name, {"title": name})


def component(name: str, page: str = "p", **spec: Any) -> dict[str, Any]:
    return resource(Kind.COMPONENT, NS, name, {"page": page, **spec})


def window(name: str, components: list[str], page: str = "p", **spec: Any) -> dict[str, Any]:
    return resource(
        Kind.WINDOW,
        NS,
        name,
        {
            "page": page,
            "title": name,
            "components": components,
            "startTime": stamp(NOW + timedelta(hours=1)),
            "endTime": stamp(NOW + timedelta(hours=2)),
            **spec,
        },
    )


def incident(name: str, components: list[str], impact: str) -> dict[str, Any]:
    return resource(
        Kind.INCIDENT,
        NS,
        name,
        {
            "page": "p",
            "title": name,
            "impact": impact,
            "components": [{"name": c} for c in components],
            "updates": [{"status": "Investigating", "message": "looking"}],
        },
    )


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test in a fresh event loop."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


async def started(api: FakeClient) -> Runtime:
    """A runtime primed from the fake, with every object's status settled as kopf would."""
    runtime = Runtime(api, lambda: NOW)
    await runtime.prime([])
    for ns, name in api.keys(Kind.PAGE):
        await runtime.components.recompute_page(ns, name, NOW)
    for ns, name in api.keys(Kind.COMPONENT):
        await runtime.components.recompute_one(ns, name, NOW)
    return runtime


def stored(api: FakeClient, kind: Kind, name: str) -> dict[str, Any]:
    """An object as the fake stores it now (it must be there)."""
    body = api.get(kind, NS, name)
    assert body is not None
    return body


def swept(kind: str) -> float:
    value = metrics.REGISTRY.get_sample_value("statuspage_swept_objects_total", {"kind": kind})
    return value or 0.0


@in_loop
async def test_deleted_component_leaves_its_page() -> None:
    """A component deleted unseen stops counting in its page's rollup and component count."""
    api = FakeClient()
    api.add(page())
    api.add(component("api"))
    api.add(component("broken", manualStatus="MajorOutage"))
    runtime = await started(api)
    assert api.status(Kind.PAGE, NS, "p")["indicator"] == "Major"
    before = swept(Kind.COMPONENT)
    api.delete(Kind.COMPONENT, NS, "broken")

    assert await runtime.sweeper.sweep([]) == 1

    assert (NS, "broken") not in runtime.view.components
    await eventually(lambda: api.status(Kind.PAGE, NS, "p").get("indicator") == "None")
    assert api.status(Kind.PAGE, NS, "p")["components"] == 1
    assert swept(Kind.COMPONENT) == before + 1


@in_loop
async def test_deleted_page_leaves_its_components_page_not_found() -> None:
    """A page deleted unseen: its components say PageNotFound, as after a DELETED event."""
    api = FakeClient()
    api.add(page())
    api.add(component("api"))
    runtime = await started(api)
    api.delete(Kind.PAGE, NS, "p")

    await runtime.sweeper.sweep([])

    assert (NS, "p") not in runtime.view.pages
    assert api.ready(Kind.COMPONENT, NS, "api")["reason"] == "PageNotFound"


@in_loop
async def test_deleted_window_is_no_longer_an_overlap() -> None:
    """A window deleted unseen is not named in the overlaps of a window applied afterwards."""
    api = FakeClient()
    api.add(page())
    api.add(component("db"))
    for name in ("keep", "gone"):
        api.add(window(name, ["db"], autoUpdateStatus=False))
    runtime = await started(api)
    api.delete(Kind.WINDOW, NS, "gone")

    await runtime.sweeper.sweep([])

    new = api.add(window("new", ["db"], autoUpdateStatus=False))
    runtime.windows.observe("ADDED", new, NOW)
    await runtime.windows.settle(new, NOW)
    overlaps = api.status(Kind.WINDOW, NS, "new")["overlaps"]
    assert [o["window"] for o in overlaps] == ["keep"]


@in_loop
async def test_deleted_open_incident_leaves_component_and_page() -> None:
    """An open incident of no impact (no finalizer) deleted unseen: not listed, not counted."""
    api = FakeClient()
    api.add(page())
    api.add(component("api"))
    body = api.add(incident("slow", ["api"], "None"))
    runtime = await started(api)
    await runtime.incidents.settle(body, NOW)
    await runtime.components.recompute_one(NS, "api", NOW)
    assert api.status(Kind.COMPONENT, NS, "api")["unresolvedIncidents"] == ["slow"]
    api.delete(Kind.INCIDENT, NS, "slow")

    await runtime.sweeper.sweep([])

    assert api.status(Kind.COMPONENT, NS, "api")["unresolvedIncidents"] == []
    await eventually(lambda: api.status(Kind.PAGE, NS, "p").get("unresolvedIncidents") == 0)


@in_loop
async def test_object_reported_during_the_list_is_kept() -> None:
    """An object created after the sweep's snapshot, and reported by kopf meanwhile, stays."""
    api = FakeClient()
    api.add(page())
    runtime = await started(api)

    def created_after_the_snapshot(plural: str) -> None:
        if plural != "components":
            return
        api.after_snapshot = None
        body = api.add(component("late"))
        # What kopf's handler does with it: report it, then take it into the view.
        runtime.reported(Kind.COMPONENT, "ADDED", body)
        spec = parse(ComponentSpec, body["spec"])
        entry = ComponentEntry(body["metadata"]["uid"], 1, spec, None)
        runtime.view.set_component((NS, "late"), entry)

    api.after_snapshot = created_after_the_snapshot
    assert await runtime.sweeper.sweep([]) == 0
    assert (NS, "late") in runtime.view.components


@in_loop
async def test_recreated_object_is_replaced_not_lost() -> None:
    """Deleted and created again unseen: the old uid goes; kopf's report of the new one adds it."""
    api = FakeClient()
    api.add(page())
    old = api.add(component("api"))
    runtime = await started(api)
    api.delete(Kind.COMPONENT, NS, "api")
    new = api.add(component("api"))

    assert await runtime.sweeper.sweep([]) == 1
    assert (NS, "api") not in runtime.view.components
    assert not await runtime.forget(Kind.COMPONENT, (NS, "api"), old["metadata"]["uid"])

    runtime.reported(Kind.COMPONENT, None, new)
    await runtime.component_event(None, new)
    assert runtime.view.components[(NS, "api")].uid == new["metadata"]["uid"]


@in_loop
async def test_forget_leaves_a_newer_uid_alone() -> None:
    """forget() drops nothing when the view already holds another uid under the name."""
    api = FakeClient()
    api.add(page())
    api.add(component("api"))
    runtime = await started(api)
    assert not await runtime.forget(Kind.COMPONENT, (NS, "api"), "some-older-uid")
    assert (NS, "api") in runtime.view.components


@in_loop
async def test_deleted_subscriber_is_forgotten() -> None:
    """A Subscriber deleted unseen gets no more deliveries: it leaves the notifier."""
    api = FakeClient()
    api.add(page())
    api.add(
        resource(
            "Subscriber", NS, "ops", {"page": "p", "urlSecretRef": {"name": "hook", "key": "url"}}
        )
    )
    runtime = await started(api)
    assert (NS, "ops") in runtime.notifier.subscribers.entries
    api.delete("subscribers", NS, "ops")

    assert await runtime.sweeper.sweep([]) == 1
    assert (NS, "ops") not in runtime.notifier.subscribers.entries


@in_loop
async def test_sweeper_sweeps_after_kopf_lists_and_releases_memory_once() -> None:
    """In the background: a listing is swept once quiet, and the start-up hook runs once."""
    api = FakeClient()
    api.add(page())
    runtime = await started(api)
    runtime.sweeper.plan = Plan(delay=0.01, quiet=0.05)
    firsts: list[float] = []
    runtime.sweeper.start([], 3600.0, on_first=lambda: firsts.append(time.monotonic()))
    try:
        body = stored(api, Kind.PAGE, "p")
        runtime.reported(Kind.PAGE, None, body)
        await eventually(lambda: api.lists(METADATA_LIST) >= len(runtime.sweeper.kinds))
        assert len(firsts) == 1
        lists = api.lists(METADATA_LIST)
        runtime.reported(Kind.PAGE, None, body)  # a re-list, later
        await eventually(lambda: api.lists(METADATA_LIST) >= lists + len(runtime.sweeper.kinds))
        assert len(firsts) == 1
    finally:
        await runtime.sweeper.stop()
        await runtime.close()


@in_loop
async def test_expired_continue_token_lists_again() -> None:
    """A list whose continue token expired (410) starts over, and the sweep still decides."""
    api = FakeClient()
    api.add(page())
    for i in range(3):
        api.add(component(f"c{i}"))
    runtime = await started(api)
    api.delete(Kind.COMPONENT, NS, "c1")
    # Pages of 500 would hold everything: the failure comes on a second page, so pages of one.
    runtime.sweeper.page_size = 1
    api.fail_next("GET", "", 410, later_pages=True)

    assert await runtime.sweeper.sweep([]) == 1
    assert sorted(name for _, name in runtime.view.components) == ["c0", "c2"]
    assert api.faults_left() == 0


@in_loop
async def test_failed_sweep_is_retried_in_the_background() -> None:
    """A sweep that fails (the API server away) is tried again; the start-up hook waits for it."""
    api = FakeClient()
    api.add(page())
    for name in ("a", "b", "c"):
        api.add(component(name))
    runtime = await started(api)
    api.delete(Kind.COMPONENT, NS, "b")
    runtime.sweeper.page_size = 1
    api.fail_next("GET", "", error=aiohttp.ClientConnectionError("refused"), later_pages=True)
    runtime.sweeper.plan = Plan(delay=0.01, quiet=0.02, retry=0.05)
    firsts: list[float] = []
    runtime.sweeper.start([], 3600.0, on_first=lambda: firsts.append(time.monotonic()))
    try:
        runtime.reported(Kind.PAGE, None, stored(api, Kind.PAGE, "p"))
        await eventually(lambda: bool(firsts))
        assert (NS, "b") not in runtime.view.components
        assert api.faults_left() == 0
    finally:
        await runtime.sweeper.stop()
        await runtime.close()


@in_loop
async def test_deleted_window_waiting_for_its_page_is_forgotten() -> None:
    """A window waiting for a missing page, deleted unseen, is not healed (written) later."""
    api = FakeClient()
    body = api.add(window("early", [], page="later"))
    runtime = await started(api)
    await runtime.windows.settle(body, NOW)
    assert (Kind.WINDOW, NS, "early") in runtime.view.waiting
    api.delete(Kind.WINDOW, NS, "early")

    assert await runtime.sweeper.sweep([]) == 1

    assert (Kind.WINDOW, NS, "early") not in runtime.view.waiting
