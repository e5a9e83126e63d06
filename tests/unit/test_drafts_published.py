"""Draft incidents: silent and without effect until published; publication is their creation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statuspage_operator.api.conditions import Reason
from statuspage_operator.api.names import Kind
from statuspage_operator.api.news import PageFacts, news_of
from statuspage_operator.api.objects import ComponentObject, IncidentObject, derive_page
from statuspage_operator.api.specs import IncidentSpec, parse
from statuspage_operator.domain.incidents import Impact
from statuspage_operator.domain.notifications import NotificationEvent
from statuspage_operator.domain.page import ComponentInput, IncidentInput, page_at
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.plans.conditions import StatusPlan
from statuspage_operator.plans.incidents import IncidentFacts, plan_incident
from unit.fakes import merge_patch

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=20)
FACTS = PageFacts("Example", "UTC", None, None)


def make_spec(draft: bool, updates: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "page": "example",
        "title": "API errors",
        "impact": "Major",
        "components": [{"name": "api"}],
        "draft": draft,
        "updates": updates,
    }


def facts(spec: dict[str, Any], status: dict[str, Any]) -> IncidentFacts:
    return IncidentFacts("boom", "uid-boom", 1, status, parse(IncidentSpec, spec))


def written(plan: StatusPlan, before: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = merge_patch(before, plan.status)
    status["notices"] = [n.to_status() for n in plan.notices]
    return status


def body(spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    meta = {"namespace": "default", "name": "boom", "uid": "uid-boom"}
    return {"metadata": meta, "spec": spec, "status": status}


def subscriber_news(spec: dict[str, Any], plan: StatusPlan, status: dict[str, Any]) -> list[Any]:
    """What subscribers would hear of a plan's notices, as the notifier reads them."""
    found = [news_of(Kind.INCIDENT, body(spec, status), n, "example", FACTS) for n in plan.notices]
    return [news for news in found if news is not None]


INVESTIGATING = {"status": "Investigating", "message": "Alert HighErrorRate fires."}
IDENTIFIED = {"status": "Identified", "message": "A bad deploy."}


def test_a_draft_is_stamped_but_no_one_hears_of_it() -> None:
    """A draft's updates are stamped and posted as Events; no notice is news to subscribers."""
    spec = make_spec(True, [INVESTIGATING])
    plan = plan_incident(facts(spec, {}), NOW)
    status = written(plan, {})
    assert [e["status"] for e in status["timeline"]] == ["Investigating"]
    assert status["draft"] is True
    assert [n.reason for n in plan.notices] == [Reason.INCIDENT_UPDATED]
    assert all(not n.subject for n in plan.notices)
    assert subscriber_news(spec, plan, status) == []


def test_publication_is_announced_once_as_the_creation_with_the_updates_so_far() -> None:
    """Published after two draft updates: one incident.created carrying both, keyed as creation."""
    draft = make_spec(True, [INVESTIGATING, IDENTIFIED])
    status = written(plan_incident(facts(draft, {}), NOW), {})
    public = make_spec(False, [INVESTIGATING, IDENTIFIED])
    plan = plan_incident(facts(public, status), LATER)
    after = written(plan, status)
    [news] = subscriber_news(public, plan, after)
    assert news.event is NotificationEvent.INCIDENT_CREATED
    assert news.status == "Identified"
    assert news.message == "Investigating: Alert HighErrorRate fires.\nIdentified: A bad deploy."
    assert "draft" not in after
    assert after["publishedAt"] == "2026-12-01T12:20:00Z"
    # Planned again (a restart, a later event): nothing more is announced.
    again = plan_incident(facts(public, after), LATER + timedelta(minutes=1))
    assert again.notices == ()
    assert again.status["publishedAt"] == after["publishedAt"]
    # The creation has the key any incident's creation has: never delivered twice.
    [notice] = plan.notices[:1]
    assert notice.subject == "0"


def test_an_update_after_publication_is_an_update() -> None:
    """The update appended after publishing is incident.updated, by its index."""
    draft = make_spec(True, [INVESTIGATING])
    status = written(plan_incident(facts(draft, {}), NOW), {})
    public = make_spec(False, [INVESTIGATING])
    status = written(plan_incident(facts(public, status), NOW), status)
    more = make_spec(False, [INVESTIGATING, IDENTIFIED])
    plan = plan_incident(facts(more, status), LATER)
    [news] = subscriber_news(more, plan, written(plan, status))
    assert news.event is NotificationEvent.INCIDENT_UPDATED
    assert plan.notices[0].subject == "1"


def test_a_draft_published_before_any_update_is_created_by_its_first() -> None:
    """No update while a draft: the first update after publication creates it, as always."""
    status = written(plan_incident(facts(make_spec(True, []), {}), NOW), {})
    public = make_spec(False, [INVESTIGATING])
    plan = plan_incident(facts(public, status), LATER)
    [news] = subscriber_news(public, plan, written(plan, status))
    assert news.event is NotificationEvent.INCIDENT_CREATED
    assert [n.reason for n in plan.notices] == [Reason.INCIDENT_UPDATED]


def test_a_silent_incident_s_publication_is_no_news() -> None:
    """notifySubscribers false: publishing tells no one either."""
    draft = {**make_spec(True, [INVESTIGATING]), "notifySubscribers": False}
    status = written(plan_incident(facts(draft, {}), NOW), {})
    public = {**draft, "draft": False}
    plan = plan_incident(facts(public, status), LATER)
    assert [n.reason for n in plan.notices] == [Reason.INCIDENT_PUBLISHED]
    assert subscriber_news(public, plan, written(plan, status)) == []


def test_a_notice_recorded_before_the_object_became_a_draft_again_is_no_news() -> None:
    """The notifier reads the object as it is: while it is a draft, no incident notice is news."""
    spec = make_spec(False, [INVESTIGATING])
    plan = plan_incident(facts(spec, {}), NOW)
    status = written(plan, {})
    assert len(subscriber_news(spec, plan, status)) == 1
    assert subscriber_news({**spec, "draft": True}, plan, status) == []


@pytest.mark.parametrize(
    ("draft", "status", "incidents"),
    [
        pytest.param(True, ComponentStatus.OPERATIONAL, 0, id="draft-changes-nothing"),
        pytest.param(False, ComponentStatus.PARTIAL_OUTAGE, 1, id="published-counts"),
    ],
)
def test_the_derivation_ignores_drafts(
    draft: bool, status: ComponentStatus, incidents: int
) -> None:
    """A draft names no component and is not counted; published, it is an incident."""
    incident = IncidentInput.of("boom", Impact.MAJOR, [("api", None)], draft=draft)
    page = page_at([ComponentInput("api")], [], [incident], NOW)
    assert page.states["api"].status is status
    assert page.unresolved_incidents == incidents
    assert page.states["api"].incidents == (("boom",) if incidents else ())


def test_readers_see_a_draft_as_the_operator_does() -> None:
    """The read model takes spec.draft: the page server's derivation ignores it too."""
    component = ComponentObject.read(
        {"metadata": {"name": "api", "namespace": "default"}, "spec": {"page": "example"}}
    )
    raw = body(make_spec(True, [INVESTIGATING]), {})
    incident = IncidentObject.read(raw)
    assert incident.draft
    page = derive_page([component], [], [incident], NOW)
    assert page.states["api"].status is ComponentStatus.OPERATIONAL
    assert page.rollup.indicator == "None"


def test_published_again_after_a_return_to_draft_is_the_same_creation() -> None:
    """Hidden again and republished: the announcement has the creation's subject and event, so
    the notifier's key for it is the one already delivered (nobody hears it twice)."""
    draft = make_spec(True, [INVESTIGATING])
    public = make_spec(False, [INVESTIGATING])
    status = written(plan_incident(facts(draft, {}), NOW), {})
    first = plan_incident(facts(public, status), NOW)
    status = written(first, status)
    status = written(plan_incident(facts(draft, status), LATER), status)
    assert status["draft"] is True
    again = plan_incident(facts(public, status), LATER)
    [one] = [n for n in first.notices if n.reason == Reason.INCIDENT_PUBLISHED]
    [two] = [n for n in again.notices if n.reason == Reason.INCIDENT_PUBLISHED]
    assert one.subject == two.subject == "0"
    news = [
        news_of(Kind.INCIDENT, body(public, written(plan, status)), n, "example", FACTS)
        for plan, n in ((first, one), (again, two))
    ]
    assert [n.event for n in news if n is not None] == [NotificationEvent.INCIDENT_CREATED] * 2
