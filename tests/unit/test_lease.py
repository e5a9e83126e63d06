"""The Lease elector through a stall: an in-memory Lease whose calls hang while it is 'stopped'.

Short timings (lease 0.6 s, renew deadline 0.4 s, retry 0.05 s) on the real event loop clock.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any, cast

from statuspage_operator.k8s.client import Client, ConflictError
from statuspage_operator.k8s.lease import LeaderElector, LeaseConfig

LEASE, DEADLINE, RETRY = 0.6, 0.4, 0.05


class Leases:
    """One Lease with resourceVersions; every call waits while the server is stopped."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.answering = asyncio.Event()
        self.answering.set()

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        await self.answering.wait()
        return copy.deepcopy(self.lease)

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        await self.answering.wait()
        if self.lease is not None:
            raise ConflictError(409, "exists")
        return self._store(body)

    async def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> Any:
        await self.answering.wait()
        if self.lease is None or body["metadata"].get("resourceVersion") != str(self.version):
            raise ConflictError(409, "moved")
        return self._store(body)

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    def holder(self) -> str:
        return str(((self.lease or {}).get("spec") or {}).get("holderIdentity") or "")

    def give_to(self, identity: str) -> None:
        """Another replica took the Lease (as a standby would, with its own write)."""
        assert self.lease is not None
        body = copy.deepcopy(self.lease)
        body["spec"]["holderIdentity"] = identity
        body["spec"]["renewTime"] = f"{time.time()}"
        self._store(body)


class Calls:
    """What the elector called back, with the instants (monotonic)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]

    def at(self, name: str) -> float:
        return next(when for seen, when in self.seen if seen == name)

    def callback(self, name: str) -> Any:
        async def record() -> None:
            self.seen.append((name, time.monotonic()))

        return record


def elector(leases: Leases, identity: str) -> LeaderElector:
    config = LeaseConfig("ns", "lease", identity, LEASE, DEADLINE, RETRY)
    return LeaderElector(cast(Client, leases), config)


def start(one: LeaderElector, calls: Calls) -> asyncio.Task[None]:
    on = calls.callback
    return asyncio.create_task(one.run(on("started"), on("stopped"), on("paused"), on("resumed")))


async def until(probe: Any, within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_leader_that_cannot_renew_pauses_in_time_and_resumes_its_own_lease() -> None:
    """Calls hang: the leader pauses before its lease could expire, never stops, and acts
    again once it renews the Lease that nobody took."""

    async def scenario() -> list[str]:
        leases, calls = Leases(), Calls()
        task = start(elector(leases, "a"), calls)
        await until(lambda: calls.names() == ["started"])
        leases.answering.clear()
        stalled = time.monotonic()
        await until(lambda: "paused" in calls.names())
        # Paused while a standby still waits out the lease: never two actors.
        assert calls.at("paused") - stalled < LEASE
        await asyncio.sleep(2 * LEASE)
        leases.answering.set()
        resumed = time.monotonic()
        await until(lambda: "resumed" in calls.names())
        assert calls.at("resumed") - resumed < 2 * RETRY + 0.1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return calls.names()

    assert asyncio.run(scenario()) == ["started", "paused", "resumed", "stopped"]


def test_a_paused_leader_whose_lease_was_taken_steps_down_and_never_resumes() -> None:
    """The Lease moved to another holder meanwhile: the paused leader stops for good."""

    async def scenario() -> list[str]:
        leases, calls = Leases(), Calls()
        task = start(elector(leases, "a"), calls)
        await until(lambda: calls.names() == ["started"])
        leases.answering.clear()
        await until(lambda: "paused" in calls.names())
        leases.give_to("b")
        leases.answering.set()
        await until(lambda: "stopped" in calls.names())
        await asyncio.sleep(5 * RETRY)
        assert leases.holder() == "b"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return calls.names()

    assert asyncio.run(scenario()) == ["started", "paused", "stopped"]


def test_a_standby_does_not_count_a_stall_it_could_not_watch_as_the_holders_silence() -> None:
    """A holder silent since before a stall longer than its lease: after the stall the standby
    still watches it for a full lease before taking over (the leader gets the first chance to
    renew), rather than taking over at once."""

    async def scenario() -> float:
        leases, calls = Leases(), Calls()
        leases._store(
            {
                "metadata": {"name": "lease", "namespace": "ns"},
                "spec": {"holderIdentity": "x", "leaseDurationSeconds": 1, "renewTime": "t"},
            }
        )
        standby = start(elector(leases, "b"), calls)
        await asyncio.sleep(0.2)
        leases.answering.clear()
        await asyncio.sleep(1.5)
        leases.answering.set()
        resumed = time.monotonic()
        await until(lambda: calls.names() == ["started"])
        standby.cancel()
        await asyncio.gather(standby, return_exceptions=True)
        return calls.at("started") - resumed

    # leaseDurationSeconds is 1: a full second of watching after the stall.
    assert 1.0 <= asyncio.run(scenario()) < 1.5
