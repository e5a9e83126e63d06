"""Subscribers of an audience (Subscriber.spec.audience): only news that concerns it, listing
only its components, by the rule the page server shows (domain/audience.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.api.news import PageFacts, for_audience, page_facts
from statuspage_operator.api.webhook import News
from statuspage_operator.control.view import PageEntry
from statuspage_operator.domain.audience import Audience
from statuspage_operator.domain.notifications import NotificationEvent
from unit.fake_time import eventually
from unit.test_notifier import (
    INCIDENT,
    INCIDENT_SPEC,
    NOW,
    NS,
    Harness,
    incident_notices,
    make_harness,
    url,
)

AUDIENCES = (
    Audience("core", groups=frozenset({"core"}), components=frozenset({"api"})),
    Audience("web", users=frozenset({"wendy"}), components=frozenset({"website"})),
    Audience("all", groups=frozenset({"staff"})),
)
FACTS = PageFacts("Example", "UTC", None, None, AUDIENCES)


def news(*components: str) -> News:
    """An incident's news naming these components."""
    return News(
        NotificationEvent.INCIDENT_CREATED,
        page="example",
        page_title="Example",
        time_zone="UTC",
        page_url=None,
        object_uid="uid",
        name="boom",
        title="Boom",
        at=NOW,
        components=components,
    )


@pytest.mark.parametrize(
    ("audience", "listed", "expected"),
    [
        pytest.param(None, ("api", "website"), ("api", "website"), id="no-audience-hears-all"),
        pytest.param("core", ("api", "website"), ("api",), id="listed-only-its-own"),
        pytest.param("core", ("website",), None, id="not-its-components"),
        pytest.param("core", (), (), id="naming-none-concerns-everyone"),
        pytest.param("all", ("api", "website"), ("api", "website"), id="audience-of-all"),
        pytest.param("gone", ("api",), None, id="an-audience-the-page-lacks-hears-nothing"),
    ],
)
def test_for_audience(
    audience: str | None, listed: tuple[str, ...], expected: tuple[str, ...] | None
) -> None:
    """News concerns an audience as a page's incident does; it lists only what it sees."""
    told = for_audience(news(*listed), FACTS, audience)
    assert (None if told is None else told.components) == expected


def test_page_facts_carry_the_audiences() -> None:
    """A Private page's spec.audiences reach the facts notifications are decided with."""
    spec = {
        "title": "Example",
        "visibility": "Private",
        "audiences": [{"name": "core", "groups": ["core"], "components": ["api"]}],
    }
    assert page_facts(spec).audiences == (AUDIENCES[0],)


def test_a_subscriber_of_an_audience_hears_only_what_concerns_it() -> None:
    """An incident on api and website: core hears it listing api; an audience gone, nothing."""
    spec = {**INCIDENT_SPEC, "components": [{"name": "api"}, {"name": "website"}]}
    incident: dict[str, Any] = {**INCIDENT, "spec": spec}
    only_web: dict[str, Any] = {
        **INCIDENT,
        "metadata": {"namespace": NS, "name": "web", "uid": "uid-web"},
        "spec": {**INCIDENT_SPEC, "components": [{"name": "website"}]},
    }

    async def scenario() -> Harness:
        h = make_harness()
        h.view.set_page((NS, "example"), PageEntry("uid-page", 1, None, facts=FACTS))
        await h.subscribe("core-hook", audience="core")
        await h.subscribe("gone-hook", audience="gone")
        await h.subscribe("everyone")
        h.notifier.offer(Kind.INCIDENT, incident, incident_notices()[:1])
        h.notifier.offer(Kind.INCIDENT, only_web, incident_notices()[1:2])
        await eventually(lambda: h.status("everyone").get("sent") == 2)
        await eventually(lambda: h.status("core-hook").get("sent") == 1)
        await asyncio.sleep(0.02)
        return h

    h = asyncio.run(scenario())
    assert h.channels.to(url("core-hook")) == ["incident.created"]
    assert h.channels.to(url("gone-hook")) == []
    [body] = [json.loads(b) for sent, _, b in h.channels.sent if sent == url("core-hook")]
    assert body["incident"]["components"] == [{"name": "api"}]
