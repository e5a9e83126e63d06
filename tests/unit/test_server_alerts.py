"""The page server and status.alerts: the same status as the operator, no alert shown, caches
that expire when the alerts' answer changes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from statuspage_operator.api.alerts import render_alerts
from statuspage_operator.api.names import Kind
from statuspage_operator.domain.alerting import AlertGroup, ComponentAlerts, Held, ListedAlert
from statuspage_operator.server.app import RENDER_TTL, Server
from statuspage_operator.server.cache import Cache
from unit.test_server_app import NOW, make, make_cache

SUMMARY = "api/v2/summary.json"
KEY = ("default", "example")
RECEIVING = {"receiverSecretRef": {"name": "alerts"}, "expireAfter": "1h"}


def held_database(
    cache: Cache, hold: timedelta, *, receiving: bool = True, firing: int = 0
) -> None:
    """`database` watches alerts; its critical alert stopped and is held for `hold` from NOW
    (`firing`: how many still fire)."""
    page = cache.page(KEY)
    assert page is not None
    spec = {**page["spec"], **({"alerts": RECEIVING} if receiving else {})}
    cache.upsert(Kind.PAGE, make("example", spec))
    group = AlertGroup(
        "g1",
        NOW - timedelta(minutes=1),
        name="DiskFull",
        summary="disk /var full on db-0",
        held=(Held("critical", NOW + hold),),
        firing=firing,
        severities={"critical": firing} if firing else {},
    )
    listed = ListedAlert("fp-secret", "g1", NOW, "critical", "disk /var full", "http://prom/x")
    alerts = render_alerts(ComponentAlerts((group,), (listed,) if firing else (), firing))
    spec = {"page": "example", "group": "Core", "position": 2, "alerts": {"matchers": ["a=b"]}}
    cache.upsert(
        Kind.COMPONENT, make("database", spec, {"status": "Operational", "alerts": alerts})
    )


class Clocks:
    """A wall clock and a monotonic one that move together."""

    def __init__(self) -> None:
        self.now = NOW
        self.seconds = 1000.0

    def wall(self) -> Any:
        return self.now

    def mono(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.seconds += seconds


def database_status(server: Server) -> str:
    rendered = server.rendering(KEY, SUMMARY)
    assert rendered is not None
    summary = json.loads(rendered.body)
    return str(next(c["status"] for c in summary["components"] if c["name"] == "database"))


def test_the_server_derives_the_alerts_and_shows_none_of_them() -> None:
    """summary.json shows the status the alerts ask, and not one alert's name, text or link."""
    cache = make_cache()
    held_database(cache, timedelta(minutes=5), firing=1)
    server = Server(cache, clock=lambda: NOW)
    assert database_status(server) == "major_outage"
    for representation in (SUMMARY, "", "history.atom", "api/v2/components.json"):
        rendered = server.rendering(KEY, representation)
        assert rendered is not None
        for secret in (b"fp-secret", b"disk /var full", b"http://prom/x", b"DiskFull"):
            assert secret not in rendered.body, (representation, secret)


def test_without_a_receiver_the_server_ignores_them() -> None:
    """A page without receiverSecretRef: alerts left in status move nothing, as in the operator."""
    cache = make_cache()
    held_database(cache, timedelta(minutes=5), receiving=False)
    assert database_status(Server(cache, clock=lambda: NOW)) == "operational"


def test_a_rendering_expires_when_a_hold_ends() -> None:
    """Kept until the hold ends (sooner than RENDER_TTL), then derived again with no event."""
    cache = make_cache()
    held_database(cache, timedelta(seconds=10))
    clocks = Clocks()
    server = Server(cache, clock=clocks.wall, monotonic=clocks.mono)
    first = server.rendering(KEY, SUMMARY)
    assert first is not None
    assert first.expires == clocks.seconds + 10
    clocks.advance(9)
    assert server.rendering(KEY, SUMMARY) is first
    clocks.advance(1)
    assert database_status(server) == "operational"
    again = server.rendering(KEY, SUMMARY)
    assert again is not None
    assert again.expires == clocks.seconds + RENDER_TTL


def test_the_cache_does_not_keep_listed_alerts() -> None:
    """The server never shows listed alerts, so it does not hold them in memory either."""
    cache = make_cache()
    held_database(cache, timedelta(minutes=5), firing=1)
    kept = cache.objects[Kind.COMPONENT][("default", "database")]
    assert "listed" not in kept["status"]["alerts"]
    assert kept["status"]["alerts"]["groups"][0]["key"] == "g1"
