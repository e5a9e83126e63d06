"""Notifications of one object are limited per hour per subscriber by coalescing: the real
notifier against fakes at the edge (in-memory API server, recording channel, a clock told when to
move)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.api.news import PageFacts, digest, news_of
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.control.notifications import Notifier
from statuspage_operator.control.notifications.lanes import Lanes
from statuspage_operator.control.view import PageEntry, View
from statuspage_operator.control.writer import Announcer, WritesInFlight
from statuspage_operator.domain.notifications import PER_OBJECT_HOURLY, budget_frees
from unit.fake_channels import FakeChannels
from unit.fake_time import FakeClock, eventually
from unit.fakes import FakeClient, resource

NS = "default"
URL = "json://hooks.example.com/hook"
CONSENT = {"statuspage.dev/subscriber": "true"}
UPDATES = 8
FACTS = PageFacts("Example", "UTC", None, None)


def make_notifier(api: FakeClient, clock: FakeClock) -> tuple[Notifier, FakeChannels]:
    """The notifier as the runtime wires it, a held object looked at again every 10 ms."""
    channels = FakeChannels()
    view = View()
    view.set_page((NS, "example"), PageEntry("uid-page", 1, None, facts=FACTS))
    in_flight = WritesInFlight()
    announcer = Announcer(api, clock, in_flight)
    notifier = Notifier(api, clock, view, announcer, in_flight, 0.001, channels=channels)
    deliveries = notifier.deliveries
    deliveries.lanes = Lanes(deliveries.attempt, clock, recheck=0.01)
    return notifier, channels


def incident(clock: FakeClock) -> tuple[dict[str, Any], list[Notice]]:
    """An incident with UPDATES updates a minute apart (the last resolves it), and their notices."""
    start = clock.now
    timeline = [
        {
            "status": "Resolved" if i == UPDATES - 1 else "Investigating",
            "message": f"Update {i}.",
            "at": (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for i in range(UPDATES)
    ]
    spec = {"page": "example", "title": "Errors", "components": [{"name": "api"}]}
    body = {
        "metadata": {"namespace": NS, "name": "boom", "uid": "uid-boom"},
        "spec": spec,
        "status": {"timeline": timeline},
    }
    notices = [
        make_notices("boom", "uid-boom", start + timedelta(minutes=i), [entry])[0].about(
            str(i), None
        )
        for i, entry in enumerate(("IncidentUpdated", u["message"], False) for u in timeline)
    ]
    return body, notices


async def subscribed(api: FakeClient, clock: FakeClock) -> tuple[Notifier, FakeChannels]:
    """A notifier with Subscriber hook of page example (created long ago) and its Secret."""
    api.add_secret(NS, "hook", {"url": URL}, CONSENT)
    spec = {"page": "example", "urlSecretRef": {"name": "hook", "key": "url"}}
    hook = resource("Subscriber", NS, "hook", spec)
    hook["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    notifier, channels = make_notifier(api, clock)
    await notifier.subscriber_event("ADDED", api.add(hook))
    return notifier, channels


async def offer_a_minute_apart(
    notifier: Notifier, clock: FakeClock, body: dict[str, Any], notices: list[Notice]
) -> None:
    """Each notice as its status write offers it, a minute after the one before."""
    for notice in notices:
        notifier.offer(Kind.INCIDENT, body, [notice])
        await asyncio.sleep(0.02)
        clock.advance(60)


def texts(channels: FakeChannels) -> list[str]:
    """The `meta.text` of each webhook sent, in order."""
    return [json.loads(payload)["meta"]["text"] for _, _, payload in channels.sent]


def test_news_beyond_the_budget_goes_as_one_digest_when_it_frees() -> None:
    """8 updates in 8 minutes: 5 sent, then one digest of the last standing for the other 2."""
    api, clock = FakeClient(), FakeClock()

    async def scenario() -> tuple[FakeChannels, FakeChannels, dict[str, Any]]:
        notifier, channels = await subscribed(api, clock)
        body, notices = incident(clock)
        await offer_a_minute_apart(notifier, clock, body, notices)
        await eventually(lambda: len(channels.sent) == PER_OBJECT_HOURLY)
        await asyncio.sleep(0.05)
        held = len(channels.sent)
        assert held == PER_OBJECT_HOURLY
        # Held news: only the latest notice must stay recorded in the incident's status.
        assert [notifier.owes(n.event) for n in notices[PER_OBJECT_HOURLY:]] == [False, False, True]
        clock.advance(3600)
        await eventually(lambda: api.status("subscribers", NS, "hook").get("sent") == 6)
        await notifier.close()
        # A restart: everything offered again, nothing sent again.
        again, resent = make_notifier(api, clock)
        again.prime(api.get("subscribers", NS, "hook") or {})
        again.offer(Kind.INCIDENT, body, notices)
        await asyncio.sleep(0.1)
        await again.close()
        return channels, resent, api.status("subscribers", NS, "hook")

    channels, resent, status = asyncio.run(scenario())
    assert channels.to(URL) == [
        "incident.created",
        "incident.updated",
        "incident.updated",
        "incident.updated",
        "incident.updated",
        "incident.resolved",
    ]
    digest = texts(channels)[-1]
    assert digest.startswith(
        "2 earlier updates about Errors since 2026-05-10 12:05 UTC were held back "
        "(at most 5 notifications an hour about one thing); this is the latest.\nUpdate 7."
    )
    assert len(status["delivered"]) == UPDATES
    assert resent.sent == []


NOW = FakeClock().now


@pytest.mark.parametrize(
    ("minutes_ago", "frees_in"),
    [
        pytest.param([], None, id="nothing-sent"),
        pytest.param([50, 40, 30, 20], None, id="four-in-the-hour"),
        pytest.param([50, 40, 30, 20, 10], timedelta(minutes=10), id="five-oldest-50-min-ago"),
        pytest.param([90, 40, 30, 20, 10], None, id="one-left-the-hour"),
        pytest.param([55, 50, 40, 30, 20, 10], timedelta(minutes=10), id="last-five-count"),
    ],
)
def test_the_budget_frees_when_the_fifth_latest_leaves_the_hour(
    minutes_ago: list[int], frees_in: timedelta | None
) -> None:
    """At most 5 an hour (sliding): the next may go when the 5th latest is an hour old."""
    sent = [NOW - timedelta(minutes=m) for m in minutes_ago]
    expected = None if frees_in is None else NOW + frees_in
    assert budget_frees(sent, NOW) == expected


def test_the_digest_of_one_held_update_says_update() -> None:
    """One held update: singular; none held: the news unchanged."""
    _, notices = incident(FakeClock())
    body, _ = incident(FakeClock())
    latest = news_of(Kind.INCIDENT, body, notices[-1], "example", FACTS)
    assert latest is not None
    assert digest(latest, 0, NOW) == latest
    assert str(digest(latest, 1, NOW).message).startswith("1 earlier update about Errors since")


def test_a_digest_that_fails_once_is_retried_and_still_stands_for_the_rest() -> None:
    """The digest's first attempt fails: its retry sends it once, and every key is recorded."""
    api, clock = FakeClient(), FakeClock()

    async def scenario() -> tuple[FakeChannels, dict[str, Any]]:
        notifier, channels = await subscribed(api, clock)
        body, notices = incident(clock)
        await offer_a_minute_apart(notifier, clock, body, notices)
        await eventually(lambda: len(channels.sent) == PER_OBJECT_HOURLY)
        channels.failing.add(URL)
        clock.advance(3600)
        await eventually(lambda: channels.attempts == PER_OBJECT_HOURLY + 1)
        channels.failing.clear()
        await eventually(lambda: api.status("subscribers", NS, "hook").get("sent") == 6)
        await notifier.close()
        return channels, api.status("subscribers", NS, "hook")

    channels, status = asyncio.run(scenario())
    assert len(channels.sent) == PER_OBJECT_HOURLY + 1
    assert texts(channels)[-1].startswith("2 earlier updates about Errors")
    assert len(status["delivered"]) == UPDATES
