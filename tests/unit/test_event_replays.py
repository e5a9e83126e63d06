"""Notices replayed from a listing wait their turn: a few at a time, behind fresh ones.

After a restart the start-up list holds thousands of recorded notices whose Events most likely
exist already. Posted all at once they held up the windows due at that moment (a restart with
1,000 due took 37.7 s, 19.0 s with this queue: docs/operations.md).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from statuspage_operator.api.notices import Notice
from statuspage_operator.control.writer import REPLAY_SLOTS, Announcer, WritesInFlight
from statuspage_operator.k8s.client import Client

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
REF = {"kind": "MaintenanceWindow", "namespace": "ns", "name": "w", "uid": "u1"}


class SlowEvents:
    """Takes Event posts that stay open until released, and counts how many are open at once."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0
        self.posted: list[str] = []
        self.release = asyncio.Event()

    async def post_event(self, ref: dict[str, str], name: str, *_: Any, **__: Any) -> None:
        self.open += 1
        self.most = max(self.most, self.open)
        try:
            await self.release.wait()
        finally:
            self.open -= 1
        self.posted.append(name)


def notice(name: str) -> Notice:
    return Notice("MaintenanceCompleted", "done", NOW, name)


async def settle_loop() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_replayed_notices_are_posted_a_few_at_a_time_and_all_of_them() -> None:
    async def scenario() -> SlowEvents:
        events = SlowEvents()
        announcer = Announcer(cast(Client, events), lambda: NOW, WritesInFlight())
        announcer.announce(REF, [notice(f"e{i}") for i in range(40)], recorded=True, later=True)
        await settle_loop()
        assert events.open == REPLAY_SLOTS
        events.release.set()
        await announcer.drain()
        return events

    events = asyncio.run(scenario())
    assert events.most == REPLAY_SLOTS
    assert sorted(events.posted) == sorted(f"e{i}" for i in range(40))
    assert len(events.posted) == 40


def test_a_fresh_notice_does_not_wait_behind_the_replays() -> None:
    async def scenario() -> list[str]:
        events = SlowEvents()
        announcer = Announcer(cast(Client, events), lambda: NOW, WritesInFlight())
        announcer.announce(REF, [notice(f"old{i}") for i in range(40)], recorded=True, later=True)
        await settle_loop()
        announcer.announce(REF, [notice("fresh")], recorded=True)
        await settle_loop()
        # The fresh Event is on its way beside the replays' slots, not queued after 40 of them.
        assert events.open == REPLAY_SLOTS + 1
        events.release.set()
        await announcer.drain()
        return events.posted

    posted = asyncio.run(scenario())
    assert len(posted) == 41
    assert "fresh" in posted


def test_a_replayed_notice_already_confirmed_is_not_posted_again() -> None:
    async def scenario() -> list[str]:
        events = SlowEvents()
        events.release.set()
        announcer = Announcer(cast(Client, events), lambda: NOW, WritesInFlight())
        announcer.announce(REF, [notice("once")], recorded=True)
        await announcer.drain()
        again = announcer.unconfirmed([notice("once")], NOW)
        announcer.announce(REF, again, recorded=True, later=True)
        await announcer.drain()
        return events.posted

    assert asyncio.run(scenario()) == ["once"]
