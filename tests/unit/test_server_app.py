"""The public page server's HTTP behaviour, on an in-memory cache and a fixed NOW (no cluster)."""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from statuspage_operator.api.names import Kind
from statuspage_operator.server.app import Server, make_app, make_metrics_app
from statuspage_operator.server.cache import Cache
from statuspage_operator.server.statuspage_v2 import ENDPOINTS
from unit.statuspage_v2_schema import schema_errors

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
XSS = "<script>alert('pwned')</script>"
BASE = "/default/example/"


def make(name: str, spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object as the API server returns it (with fields the cache must drop)."""
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-06-01T00:00:00Z",
            "generation": 1,
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": spec,
        "status": {"conditions": [{"type": "Ready"}], **(status or {})},
    }


# The cluster admin's consent: namespace default publishes by path and holds status.example.com.
POLICY = {
    "metadata": {"name": "default-publishes"},
    "spec": {
        "namespaces": ["default"],
        "hostnames": [{"hostname": "status.example.com", "namespace": "default"}],
    },
}


def make_cache() -> Cache:
    """A page with groups, an open and a resolved incident, maintenance in progress and weekly."""
    cache = Cache()
    cache.upsert(
        Kind.PAGE,
        make(
            "example",
            {
                "title": "Example Inc.",
                "timeZone": "Europe/Berlin",
                "visibility": "Public",
                "hostnames": ["status.example.com"],
            },
        ),
    )
    cache.upsert(Kind.POLICY, POLICY)
    components = [
        ("api", {"group": "Core", "position": 1, "displayName": "API"}, "DegradedPerformance"),
        ("database", {"group": "Core", "position": 2}, "Operational"),
        ("website", {"group": "Frontend", "position": 3}, "UnderMaintenance"),
        ("cdn", {"position": 4, "displayName": "CDN <edge>"}, "Operational"),
    ]
    for name, spec, status in components:
        history = [
            {
                "status": "MajorOutage",
                "since": "2026-11-20T10:00:00Z",
                "until": "2026-11-20T12:00:00Z",
            }
        ]
        cache.upsert(
            Kind.COMPONENT,
            make(name, {"page": "example", **spec}, {"status": status, "history": history}),
        )
    cache.upsert(
        Kind.INCIDENT,
        make(
            "api-errors",
            {
                "page": "example",
                "title": "API errors",
                "components": [{"name": "api"}],
                "updates": [
                    {"status": "Investigating", "message": XSS},
                    {"status": "Identified", "message": "A bad replica."},
                ],
            },
            {
                "phase": "Identified",
                "timeline": [
                    {"status": "Investigating", "message": XSS, "at": "2026-11-28T10:00:00Z"},
                    {
                        "status": "Identified",
                        "message": "A bad replica.",
                        "at": "2026-11-28T11:00:00Z",
                    },
                ],
            },
        ),
    )
    cache.upsert(
        Kind.INCIDENT,
        make(
            "old",
            {
                "page": "example",
                "title": "Old outage",
                "impact": "Critical",
                "updates": [
                    {"status": "Investigating", "message": "Down."},
                    {"status": "Resolved", "message": "Up."},
                ],
            },
            {
                "phase": "Resolved",
                "resolvedAt": "2026-11-27T09:00:00Z",
                "timeline": [
                    {"status": "Investigating", "message": "Down.", "at": "2026-11-27T08:00:00Z"},
                    {"status": "Resolved", "message": "Up.", "at": "2026-11-27T09:00:00Z"},
                ],
            },
        ),
    )
    cache.upsert(
        Kind.WINDOW,
        make(
            "deploy",
            {
                "page": "example",
                "title": "Website deploy",
                "components": ["website"],
                "startTime": "2026-11-28T11:30:00Z",
                "endTime": "2026-11-28T12:30:00Z",
            },
            {
                "phase": "InProgress",
                "currentOccurrence": {
                    "start": "2026-11-28T11:30:00Z",
                    "end": "2026-11-28T12:30:00Z",
                },
            },
        ),
    )
    cache.upsert(
        Kind.WINDOW,
        make(
            "weekly",
            {
                "page": "example",
                "title": "Weekly patching",
                "components": ["cdn"],
                "startTime": "2026-11-22T01:00:00Z",
                "endTime": "2026-11-22T02:00:00Z",
                "recurrence": {"rrule": "FREQ=WEEKLY;BYDAY=SU", "timeZone": "Europe/Berlin"},
            },
            {
                "phase": "Scheduled",
                "nextOccurrence": {"start": "2026-11-29T01:00:00Z", "end": "2026-11-29T02:00:00Z"},
                "lastOccurrence": {"start": "2026-11-22T01:00:00Z", "end": "2026-11-22T02:00:00Z"},
            },
        ),
    )
    for kind in Kind:
        cache.synced.add(kind)
    return cache


Check = Callable[[TestClient[Any, Any], Server], Awaitable[None]]


def serve(check: Check, cache: Cache | None = None) -> None:
    """Run `check` against the app on a real socket."""
    server = Server(cache or make_cache(), clock=lambda: NOW)

    async def run() -> None:
        async with TestClient(TestServer(make_app(server))) as client:
            await check(client, server)

    asyncio.run(run())


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_json_endpoints_have_the_v2_shape(endpoint: str) -> None:
    """Every v2 endpoint validates against the schema of Statuspage's shapes, with CORS."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        response = await client.get(f"{BASE}api/v2/{endpoint}")
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.content_type == "application/json"
        assert schema_errors(endpoint, await response.json()) == []

    serve(check)


def test_summary_content() -> None:
    """summary.json holds the rollup, groups, the open incident, maintenance in progress."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        summary = await (await client.get(f"{BASE}api/v2/summary.json")).json()
        assert summary["status"] == {
            "indicator": "minor",
            "description": "Partially Degraded Service",
        }
        names = [(c["name"], c["status"], c["group"]) for c in summary["components"]]
        assert names == [
            ("Core", "degraded_performance", True),
            ("API", "degraded_performance", False),
            ("database", "operational", False),
            ("Frontend", "under_maintenance", True),
            ("website", "under_maintenance", False),
            ("CDN <edge>", "operational", False),
        ]
        assert [i["name"] for i in summary["incidents"]] == ["API errors"]
        updates = summary["incidents"][0]["incident_updates"]
        assert [u["status"] for u in updates] == ["identified", "investigating"]
        states = [(m["name"], m["status"]) for m in summary["scheduled_maintenances"]]
        assert states[0] == ("Website deploy", "in_progress")
        assert states[1:] == [("Weekly patching", "scheduled")] * 3

    serve(check)


def test_recurring_occurrences_have_stable_distinct_ids() -> None:
    """Each occurrence of a weekly window is its own entry, with an id that does not change."""

    async def check(client: TestClient[Any, Any], server: Server) -> None:
        first = await (await client.get(f"{BASE}api/v2/scheduled-maintenances.json")).json()
        server.cache.upsert(
            Kind.COMPONENT, make("new", {"page": "example"}, {"status": "Operational"})
        )
        second = await (await client.get(f"{BASE}api/v2/scheduled-maintenances.json")).json()
        ids = [m["id"] for m in first["scheduled_maintenances"]]
        assert len(set(ids)) == len(ids) == 5  # in progress, 3 upcoming, 1 completed
        assert ids == [m["id"] for m in second["scheduled_maintenances"]]
        starts = [
            m["scheduled_for"]
            for m in first["scheduled_maintenances"]
            if m["name"] == "Weekly patching"
        ]
        assert starts == [
            "2026-12-13T01:00:00.000Z",
            "2026-12-06T01:00:00.000Z",
            "2026-11-29T01:00:00.000Z",
            "2026-11-22T01:00:00.000Z",
        ]

    serve(check)


def test_components_json_has_uptime() -> None:
    """components.json carries the non-standard uptime: 2 h of major outage in 90 days."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        found = await (await client.get(f"{BASE}api/v2/components.json")).json()
        api = next(c for c in found["components"] if c["name"] == "API")
        assert len(api["uptime"]["days"]) == 90
        day = next(d for d in api["uptime"]["days"] if d["date"] == "2026-11-20")
        assert day["status"] == "major_outage"
        assert day["percent"] == pytest.approx(100 * 22 / 24)

    serve(check)


def test_html_escapes_user_strings_and_has_a_strict_csp() -> None:
    """An incident message with <script> is text; the CSP allows no script at all."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        response = await client.get(BASE)
        body = await response.text()
        assert response.status == 200
        assert "<script" not in body
        assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in body
        assert "CDN &lt;edge&gt;" in body
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp
        assert "script-src" not in csp
        assert "unsafe-inline" not in csp
        assert "Partially Degraded Service" in body
        assert "Weekly patching" in body
        assert "Old outage" in body  # history of the last days

    serve(check)


def test_etag_and_if_none_match() -> None:
    """A repeated request with the ETag gets 304 and no body; a change gives a new ETag."""

    async def check(client: TestClient[Any, Any], server: Server) -> None:
        first = await client.get(f"{BASE}api/v2/status.json")
        etag = first.headers["ETag"]
        assert first.headers["Cache-Control"].startswith("public, max-age=")
        again = await client.get(f"{BASE}api/v2/status.json", headers={"If-None-Match": etag})
        assert again.status == 304
        assert await again.read() == b""
        server.cache.upsert(
            Kind.COMPONENT, make("cdn", {"page": "example", "manualStatus": "MajorOutage"})
        )
        changed = await client.get(f"{BASE}api/v2/status.json", headers={"If-None-Match": etag})
        assert changed.status == 200
        assert changed.headers["ETag"] != etag
        assert (await changed.json())["status"]["indicator"] == "major"

    serve(check)


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        pytest.param("/default/nope/", {}, 404, id="unknown-page"),
        pytest.param("/nope/example/api/v2/summary.json", {}, 404, id="unknown-namespace"),
        pytest.param(f"{BASE}api/v2/secrets.json", {}, 404, id="unknown-endpoint"),
        pytest.param("/", {}, 404, id="root-without-hostname"),
        pytest.param("/" + "a" * 600, {}, 414, id="long-path"),
        # Normalised to /etc/passwd: redirected like any /<a>/<b>, existing or not.
        pytest.param("/Default/../etc/passwd", {}, 308, id="traversal"),
        pytest.param(BASE, {"Host": "evil.example<script>"}, 400, id="hostile-host"),
        pytest.param(BASE, {"Host": "a" * 300}, 400, id="long-host"),
        pytest.param("/default/example", {}, 308, id="slash-redirect"),
    ],
)
def test_bad_requests_get_clean_4xx(path: str, headers: dict[str, str], status: int) -> None:
    """Unknown pages, long paths and hostile Host headers get a short 4xx, never a 500."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        response = await client.get(path, headers=headers, allow_redirects=False)
        assert response.status == status
        assert len(await response.read()) < 100

    serve(check)


def test_host_header_serves_the_page_at_root() -> None:
    """A Host that the page lists in spec.hostnames serves it at /, with any port and case."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        for host in ("status.example.com", "Status.Example.com:8443"):
            response = await client.get("/api/v2/status.json", headers={"Host": host})
            assert response.status == 200
            assert (await response.json())["page"]["name"] == "Example Inc."
        other = await client.get("/", headers={"Host": "other.example.com"})
        assert other.status == 404

    serve(check)


def test_cors_preflight() -> None:
    """OPTIONS on a JSON endpoint answers the CORS preflight."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        response = await client.options(f"{BASE}api/v2/summary.json")
        assert response.status == 204
        assert "GET" in response.headers["Access-Control-Allow-Methods"]
        post = await client.post(f"{BASE}api/v2/summary.json")
        assert post.status == 405

    serve(check)


def test_feeds_are_valid_and_newest_first() -> None:
    """Atom and RSS parse as XML, list entries newest first, and escape messages."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        atom = await client.get(f"{BASE}history.atom")
        assert atom.content_type == "application/atom+xml"
        root = ET.fromstring(await atom.read())
        ns = {"a": "http://www.w3.org/2005/Atom"}
        updated = [
            e.findtext("a:updated", namespaces=ns) or "" for e in root.findall("a:entry", ns)
        ]
        assert updated == sorted(updated, reverse=True)
        titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
        assert "API errors: Identified" in titles
        assert any(
            e.findtext("a:content", namespaces=ns) == XSS for e in root.findall("a:entry", ns)
        )
        rss = await client.get(f"{BASE}history.rss")
        channel = ET.fromstring(await rss.read()).find("channel")
        assert channel is not None
        assert len(channel.findall("item")) == len(titles)

    serve(check)


def test_badge_is_svg_of_the_indicator() -> None:
    """The badge is well-formed SVG naming the page's description."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        response = await client.get(f"{BASE}badge.svg")
        assert response.content_type == "image/svg+xml"
        root = ET.fromstring(await response.read())
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "Partially Degraded Service" in "".join(root.itertext())

    serve(check)


def test_health_and_readiness() -> None:
    """healthz is always 200; readyz is 503 until every kind is listed and while shutting down."""
    cache = make_cache()
    cache.synced.discard(Kind.WINDOW)

    async def check(client: TestClient[Any, Any], server: Server) -> None:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 503
        server.cache.synced.add(Kind.WINDOW)
        assert (await client.get("/readyz")).status == 200
        server.shutting_down = True
        assert (await client.get("/readyz")).status == 503

    serve(check, cache)


def test_metrics_count_requests() -> None:
    """Requests are counted by route and code; objects held by kind."""
    server = Server(make_cache(), clock=lambda: NOW)

    async def run() -> str:
        async with TestClient(TestServer(make_app(server))) as client:
            await client.get(BASE)
            await client.get("/default/nope/")
        async with TestClient(TestServer(make_metrics_app(server))) as client:
            return await (await client.get("/metrics")).text()

    text = asyncio.run(run())
    assert 'statuspage_server_requests_total{code="200",route="html"} 1.0' in text
    assert 'statuspage_server_requests_total{code="404",route="html"} 1.0' in text
    assert 'statuspage_server_objects{kind="Component"} 4.0' in text


def test_cache_keeps_objects_compact() -> None:
    """managedFields and conditions are not held in memory."""
    cache = make_cache()
    held = cache.objects[Kind.COMPONENT][("default", "api")]
    assert "managedFields" not in held["metadata"]
    assert "conditions" not in held["status"]


def test_deleting_a_component_removes_it_from_the_page() -> None:
    """A deleted object leaves its page's members."""
    cache = make_cache()
    cache.delete(Kind.COMPONENT, ("default", "cdn"))
    names = {
        c["metadata"]["name"] for c in cache.members_of(("default", "example"), Kind.COMPONENT)
    }
    assert names == {"api", "database", "website"}


def test_a_page_of_1000_components() -> None:
    """A page of 1,000 components renders every representation, HTML in well under a second."""
    cache = make_cache()
    for index in range(1000):
        spec = {"page": "example", "group": f"Group {index % 10}", "position": index}
        cache.upsert(Kind.COMPONENT, make(f"c{index:04d}", spec, {"status": "Operational"}))
    server = Server(cache, clock=lambda: NOW)
    started = time.perf_counter()
    html = server.rendering(("default", "example"), "")
    elapsed = time.perf_counter() - started
    assert html is not None
    assert elapsed < 2.0
    for endpoint in ENDPOINTS:
        rendered = server.rendering(("default", "example"), f"api/v2/{endpoint}")
        assert rendered is not None
        assert schema_errors(endpoint, json.loads(rendered.body)) == []


def test_the_page_is_derived_when_the_operator_lags() -> None:
    """Written status that the specs no longer give is not shown: the page is derived at NOW."""
    cache = make_cache()
    # The operator last wrote api degraded and cdn fine; since then (it is down) the incident was
    # resolved and a window on cdn started.
    cache.upsert(
        Kind.INCIDENT,
        make(
            "api-errors",
            {
                "page": "example",
                "title": "API errors",
                "components": [{"name": "api"}],
                "updates": [
                    {"status": "Investigating", "message": "Looking."},
                    {"status": "Resolved", "message": "Fixed.", "at": "2026-11-28T11:50:00Z"},
                ],
            },
            {
                "phase": "Investigating",
                "timeline": [
                    {"status": "Investigating", "message": "Looking.", "at": "2026-11-28T10:00:00Z"}
                ],
            },
        ),
    )
    cache.upsert(
        Kind.WINDOW,
        make(
            "cdn-flush",
            {
                "page": "example",
                "title": "CDN flush",
                "components": ["cdn"],
                "startTime": "2026-11-28T11:55:00Z",
                "endTime": "2026-11-28T12:05:00Z",
            },
            {"phase": "Scheduled"},
        ),
    )

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        summary = await (await client.get(f"{BASE}api/v2/summary.json")).json()
        statuses = {c["name"]: c["status"] for c in summary["components"]}
        assert statuses["API"] == "operational"
        assert statuses["CDN <edge>"] == "under_maintenance"
        assert summary["incidents"] == []
        active = [
            m["name"] for m in summary["scheduled_maintenances"] if m["status"] == "in_progress"
        ]
        assert sorted(active) == ["CDN flush", "Website deploy"]
        incidents = await (await client.get(f"{BASE}api/v2/incidents.json")).json()
        resolved = next(i for i in incidents["incidents"] if i["name"] == "API errors")
        # Stamped times as written; the update not stamped yet at its own `at`.
        assert (resolved["status"], resolved["resolved_at"]) == (
            "resolved",
            "2026-11-28T11:50:00.000Z",
        )
        assert [u["created_at"] for u in resolved["incident_updates"]] == [
            "2026-11-28T11:50:00.000Z",
            "2026-11-28T10:00:00.000Z",
        ]

    serve(check, cache)


def test_an_incident_of_impact_none_affects_no_component() -> None:
    """Impact None: the incident shows, lists its components, and changes none of them."""
    cache = make_cache()
    cache.upsert(
        Kind.INCIDENT,
        make(
            "notice",
            {
                "page": "example",
                "title": "Heads-up",
                "impact": "None",
                "components": [{"name": "database", "status": "MajorOutage"}],
                "updates": [{"status": "Investigating", "message": "Just so you know."}],
            },
        ),
    )

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        summary = await (await client.get(f"{BASE}api/v2/summary.json")).json()
        notice = next(i for i in summary["incidents"] if i["name"] == "Heads-up")
        assert [c["name"] for c in notice["components"]] == ["database"]
        assert notice["incident_updates"][-1]["affected_components"] == []
        statuses = {c["name"]: c["status"] for c in summary["components"]}
        assert statuses["database"] == "operational"

    serve(check, cache)
