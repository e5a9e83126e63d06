"""The page server shows no draft: not in the HTML, any JSON endpoint, the feeds or the badge."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from statuspage_operator.api.names import Kind
from statuspage_operator.server.app import Server
from unit.test_server_app import BASE, make, make_cache, serve

SECRET_TITLE = "Draft: database on fire"


def with_draft(draft: bool) -> Any:
    """The sample page plus an incident on `database` (a draft, or published)."""
    cache = make_cache()
    cache.upsert(
        Kind.INCIDENT,
        make(
            "alert-k1",
            {
                "page": "example",
                "title": SECRET_TITLE,
                "impact": "Critical",
                "draft": draft,
                "components": [{"name": "database", "status": "MajorOutage"}],
                "updates": [{"status": "Investigating", "message": "HighErrorRate fires."}],
            },
            {
                "timeline": [
                    {
                        "status": "Investigating",
                        "message": "HighErrorRate fires.",
                        "at": "2026-11-28T11:50:00Z",
                    }
                ]
            },
        ),
    )
    return cache


PATHS = [
    "",
    "api/v2/summary.json",
    "api/v2/incidents.json",
    "api/v2/incidents/unresolved.json",
    "api/v2/components.json",
    "api/v2/status.json",
    "history.atom",
    "history.rss",
    "badge.svg",
]


@pytest.mark.parametrize(
    "draft", [pytest.param(True, id="draft"), pytest.param(False, id="published")]
)
def test_a_draft_is_shown_nowhere_until_published(draft: bool) -> None:
    """Every endpoint without the draft; published, the same incident shows and moves the page."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        bodies = {path: await (await client.get(f"{BASE}{path}")).text() for path in PATHS}
        shown = {path for path, text in bodies.items() if "Draft: database on fire" in text}
        if draft:
            assert shown == set()
        else:
            assert {"", "api/v2/summary.json", "api/v2/incidents.json"} <= shown
        summary = await (await client.get(f"{BASE}api/v2/summary.json")).json()
        statuses = {c["name"]: c["status"] for c in summary["components"]}
        assert statuses["database"] == ("operational" if draft else "major_outage")
        badge = bodies["badge.svg"]
        assert ("Partially Degraded Service" in badge) is draft

    serve(check, with_draft(draft))
