"""plan_drafts: one draft per alert group episode on asking components; when it ends, its draft
goes or is resolved."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statuspage_operator.api.drafts import (
    ALERT_GROUP,
    MANAGED_BY,
    Opened,
    draft_name,
    parse_opened,
    render_opened,
)
from statuspage_operator.api.specs import IncidentSpec, parse
from statuspage_operator.domain.alerting import AlertGroup, ComponentAlerts
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.plans.drafts import (
    AskingComponent,
    DraftFacts,
    OwnedIncident,
    plan_drafts,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(minutes=10)
EXPIRE = timedelta(hours=1)
KEY = "3f2a9c01de77b0c4"


def group(
    key: str = KEY,
    since: datetime = SINCE,
    seen: datetime = NOW - timedelta(minutes=1),
    firing: int = 2,
    severity: str = "critical",
) -> AlertGroup:
    return AlertGroup(
        key=key,
        seen=seen,
        name="HighErrorRate",
        summary="5xx above 5% on the API",
        external_url="http://alertmanager.example/#/alerts",
        since=since,
        firing=firing,
        severities={severity: firing} if firing else {},
    )


def component(name: str, *groups: AlertGroup, asks: bool = True) -> AskingComponent:
    return AskingComponent(name, asks, ComponentAlerts(groups=groups))


def facts(
    *components: AskingComponent,
    opened: tuple[Opened, ...] = (),
    owned: dict[str, OwnedIncident] | None = None,
) -> DraftFacts:
    return DraftFacts("example", EXPIRE, components, opened, owned or {})


def record(key: str = KEY, since: datetime = SINCE) -> Opened:
    return Opened(key, since, draft_name(key, since))


def test_a_firing_group_opens_one_draft_for_the_components_that_ask() -> None:
    """Two asking components share the group: one draft listing both; the third does not ask."""
    plan = plan_drafts(
        facts(
            component("api", group()),
            component("db", group()),
            component("web", group(), asks=False),
        ),
        NOW,
    )
    [body] = plan.create
    spec = parse(IncidentSpec, body["spec"])
    assert body["metadata"]["name"] == draft_name(KEY, SINCE)
    assert body["metadata"]["labels"] == {MANAGED_BY: "statuspage-operator", ALERT_GROUP: KEY}
    assert spec.draft
    assert spec.title == "HighErrorRate"
    assert [c.name for c in spec.components] == ["api", "db"]
    assert {c.status for c in spec.components} == {ComponentStatus.MAJOR_OUTAGE}
    assert str(spec.impact) == "Major"
    assert spec.incident_ref == "http://alertmanager.example/#/alerts"
    [update] = spec.updates
    assert (str(update.status), update.message, update.at) == (
        "Investigating",
        "5xx above 5% on the API",
        SINCE,
    )
    assert plan.records == (record(),)
    assert plan.wake == NOW - timedelta(minutes=1) + EXPIRE


def test_the_name_is_dns_1123_and_the_same_for_the_same_episode() -> None:
    """Deterministic, so a second creation is an AlreadyExists; another episode, another name."""
    name = draft_name("AB/cd+ef=0123456789", SINCE)
    assert name == draft_name("AB/cd+ef=0123456789", SINCE)
    assert name.startswith("alert-abcdef0123-")
    assert name != draft_name("AB/cd+ef=0123456789", SINCE + timedelta(seconds=1))
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name)


@pytest.mark.parametrize(
    ("severity", "impact"),
    [
        pytest.param("critical", "Major", id="critical-major"),
        pytest.param("warning", "Minor", id="warning-minor"),
    ],
)
def test_impact_follows_the_worst_severity(severity: str, impact: str) -> None:
    """critical -> Major, warning -> Minor (through the component's severities)."""
    [body] = plan_drafts(facts(component("api", group(severity=severity))), NOW).create
    assert body["spec"]["impact"] == impact


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(component("api", group(), asks=False), id="no-component-asks"),
        pytest.param(component("api", group(firing=0)), id="nothing-firing"),
        pytest.param(
            component("api", group(seen=NOW - EXPIRE - timedelta(seconds=1))), id="expired"
        ),
        pytest.param(component("api", group(severity="info")), id="unmapped-severity"),
    ],
)
def test_what_opens_nothing(given: AskingComponent) -> None:
    """Not asked, not firing, expired, or a severity that moves nothing: no draft."""
    plan = plan_drafts(facts(given), NOW)
    assert plan.create == ()
    assert plan.records == ()


def test_a_repeated_group_opens_nothing_more() -> None:
    """Recorded already (however often Alertmanager repeats it): nothing to create."""
    plan = plan_drafts(facts(component("api", group()), opened=(record(),)), NOW)
    assert plan.create == ()
    assert plan.records == (record(),)


def test_a_draft_a_person_deleted_is_not_opened_again() -> None:
    """The record stands while the episode fires, whether or not its incident exists."""
    plan = plan_drafts(facts(component("api", group()), opened=(record(),), owned={}), NOW)
    assert (plan.create, plan.delete, plan.resolve) == ((), (), ())
    assert plan.records == (record(),)


@pytest.mark.parametrize(
    ("incident", "delete", "resolve"),
    [
        pytest.param(OwnedIncident(draft=True, resolved=False), 1, 0, id="unpublished-deleted"),
        pytest.param(OwnedIncident(draft=False, resolved=False), 0, 1, id="published-resolved"),
        pytest.param(OwnedIncident(draft=False, resolved=True), 0, 0, id="resolved-already"),
        pytest.param(None, 0, 0, id="deleted-by-a-person"),
    ],
)
def test_an_ended_episode(incident: OwnedIncident | None, delete: int, resolve: int) -> None:
    """The group stopped firing: delete a draft, resolve a published one; the record goes."""
    owned = {} if incident is None else {record().incident: incident}
    plan = plan_drafts(
        facts(component("api", group(firing=0)), opened=(record(),), owned=owned), NOW
    )
    assert (len(plan.delete), len(plan.resolve)) == (delete, resolve)
    assert plan.create == ()
    assert plan.records == ()


def test_an_expired_group_ends_its_episode() -> None:
    """Not seen for expireAfter (a lost resolve): the episode has ended."""
    stale = group(seen=NOW - EXPIRE)
    owned = {record().incident: OwnedIncident(draft=True, resolved=False)}
    plan = plan_drafts(facts(component("api", stale), opened=(record(),), owned=owned), NOW)
    assert plan.delete == (record().incident,)


def test_a_new_episode_of_the_same_group_is_a_new_draft() -> None:
    """The group fired again with a later since: the old episode ends, the new one opens."""
    later = SINCE + timedelta(minutes=5)
    owned = {record().incident: OwnedIncident(draft=False, resolved=False)}
    plan = plan_drafts(
        facts(component("api", group(since=later)), opened=(record(),), owned=owned), NOW
    )
    assert plan.resolve == (record().incident,)
    assert [b["metadata"]["name"] for b in plan.create] == [draft_name(KEY, later)]
    assert plan.records == (record(since=later),)


def test_two_groups_two_drafts() -> None:
    """Each group is its own incident."""
    plan = plan_drafts(facts(component("api", group(), group(key="ffee0011"))), NOW)
    assert len(plan.create) == 2
    assert {r.group for r in plan.records} == {KEY, "ffee0011"}


def test_records_round_trip_through_the_status() -> None:
    """status.alertIncidents renders and parses back; none renders as removal."""
    records = (record(), record(key="ffee0011"))
    status: dict[str, Any] = {"alertIncidents": render_opened(records)}
    assert parse_opened(status) == records
    assert render_opened(()) is None
    assert parse_opened({"alertIncidents": [{"group": "x"}, "junk"]}) == ()


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        pytest.param("https://am.example/#/alerts", True, id="https"),
        pytest.param("javascript:alert(1)", False, id="javascript"),
        pytest.param("https://am.example/" + "x" * 2100, False, id="too-long"),
        pytest.param("", False, id="none"),
    ],
)
def test_only_a_plain_link_becomes_the_incident_ref(url: str, kept: bool) -> None:
    """Alertmanager's externalURL comes from the network: only http(s), within the CRD's bound."""
    linked = replace(group(), external_url=url)
    [body] = plan_drafts(facts(component("api", linked)), NOW).create
    assert ("incidentRef" in body["spec"]) is kept
