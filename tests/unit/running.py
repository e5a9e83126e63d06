"""The operator's control layer over the fakes: a Runtime primed from the fake API server.

`run()` builds the Runtime as the operator does at start-up (prime: one list of every kind, then
the catch-up of windows whose edge passed), runs a scenario in one event loop, and closes it so
pending Events go out before the test looks at the fake. `feed()` is what the watch handlers do
with an event, without kopf.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from statuspage_operator.api.names import Kind
from statuspage_operator.control.runtime import Runtime
from unit.fake_time import FakeClock
from unit.fakes import FakeClient, resource
from unit.plan_builders import window_spec

NS = "ns"
T = TypeVar("T")


def make_world(*components: str) -> tuple[FakeClient, FakeClock]:
    """A page `p` with its components (`api` and `db` unless named) on a fresh fake."""
    client, clock = FakeClient(), FakeClock()
    client.add(resource(Kind.PAGE, NS, "p", {"title": "P"}))
    for name in components or ("api", "db"):
        client.add(resource(Kind.COMPONENT, NS, name, {"page": "p"}))
    return client, clock


def add_window(
    client: FakeClient, name: str, start: datetime, duration: timedelta, **extra: Any
) -> dict[str, Any]:
    """Apply a window; returns it as stored."""
    return client.add(
        resource(Kind.WINDOW, NS, name, window_spec(start, start + duration, **extra))
    )


def body(client: FakeClient, kind: Kind, name: str) -> dict[str, Any]:
    """An object as stored now (it must exist)."""
    found = client.get(kind, NS, name)
    assert found is not None, f"{kind} {name} is gone"
    return found


def run(client: FakeClient, clock: FakeClock, scenario: Callable[[Runtime], Awaitable[T]]) -> T:
    """Start the operator's runtime on the fake, run the scenario, then close it."""

    async def main() -> T:
        runtime = Runtime(client, clock)
        await runtime.prime([])
        try:
            return await scenario(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


async def feed(runtime: Runtime, kind: Kind, event_type: str | None, obj: dict[str, Any]) -> None:
    """What a watch handler does with one event of a window or incident."""
    runtime.reported(kind, event_type, obj)
    runtime.writer.replay(kind, obj)
    if kind is Kind.WINDOW:
        change = runtime.windows.observe(event_type, obj, runtime.clock())
    else:
        change = runtime.incidents.observe(event_type, obj)
    await runtime.components.apply(NS, change)
    if event_type == "DELETED":
        return
    if kind is Kind.INCIDENT:
        await runtime.incidents.settle(obj, runtime.clock())
    elif not runtime.windows.is_live(obj):
        await runtime.windows.settle(obj, runtime.clock())
    elif change is not None:
        runtime.windows.wake((NS, str(obj["metadata"]["name"])))
