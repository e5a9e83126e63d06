"""Draft incidents from alert groups, end to end: the operator, the page server, the plugin, a
webhook subscriber. `status.alerts` is written here with the admin client, as the alerts receiver
would write it (api/alerts.py render_alerts), so this module needs no Alertmanager.

A group opens one draft, silent and without effect; repeating it opens nothing more; publishing
it makes it public and notifies once; the group's end resolves it (or deletes it, unpublished); a
draft a person deleted is not opened again; a SIGKILL between a creation and its record opens no
second draft.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, component, wait_for
from e2e.objects import make_component, make_page
from e2e.test_notifications import Receiver, hook_to, secret, subscriber, wait_ready
from e2e.test_plugin import kubectl_plugin
from e2e.test_server import ServerProcess, make_server_kubeconfig
from statuspage_operator.api.alerts import render_alerts
from statuspage_operator.api.drafts import MANAGED_BY, draft_name
from statuspage_operator.domain.alerting import AlertGroup, ComponentAlerts
from statuspage_operator.plans.drafts import AskingComponent, DraftFacts, plan_drafts

PAGE_ALERTS = {"receiverSecretRef": {"name": "alerts"}, "draftIncidents": True}
API_ALERTS = {"matchers": ['service="api"']}
HOOK = "hook"


def group(key: str, since: datetime, firing: int = 2, severity: str = "critical") -> AlertGroup:
    """An alert group as the receiver keeps it, seen now."""
    return AlertGroup(
        key=key,
        seen=datetime.now(UTC),
        name=f"HighErrorRate {key}",
        summary="5xx above 5% on the API",
        external_url="http://alertmanager.example/#/alerts",
        since=since,
        firing=firing,
        severities={severity: firing} if firing else {},
    )


def write_alerts(kube: Kube, namespace: str, *groups: AlertGroup) -> None:
    """Write the api component's status.alerts as the receiver does."""
    firing = sum(g.firing for g in groups)
    alerts = render_alerts(ComponentAlerts(groups=groups, firing=firing))
    patch = json.dumps({"status": {"alerts": alerts}})
    kube.run(
        "patch", "comp", "api", "-n", namespace, "--subresource=status", "--type=merge", "-p", patch
    )


def owned(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    """The operator's own incidents in the namespace."""
    found = kube.run("get", "si", "-n", namespace, "-l", MANAGED_BY, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(found)["items"]
    return items


def records(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    """The page's status.alertIncidents."""
    return list(
        kube.status("statuspages.statuspage.dev", "example", namespace).get("alertIncidents") or []
    )


def stamped(kube: Kube, namespace: str, name: str, count: int) -> bool:
    """Whether the operator has stamped `count` updates of an incident."""
    return len(kube.status("si", name, namespace).get("timeline") or []) >= count


def since_ago(minutes: int) -> datetime:
    """A group's start, whole seconds (as the receiver stores it)."""
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(microsecond=0)


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    """The subscriber's webhook endpoint."""
    running = Receiver()
    running.start()
    return running


@pytest.fixture(scope="module")
def server(
    kube: Kube, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The page server, with its own read-only role."""
    directory: Path = tmp_path_factory.mktemp("drafts-server")
    running = ServerProcess(make_server_kubeconfig(kube, directory), directory / "server.log")
    yield running
    running.stop()


@pytest.fixture
def alerting(kube: Kube, published: str, receiver: Receiver) -> str:
    """A published page asking for drafts, api matched by alerts, db not, a webhook subscriber."""
    namespace = published
    kube.apply(
        namespace,
        make_page(alerts=PAGE_ALERTS, visibility="Public"),
        make_component("api", alerts=API_ALERTS),
        make_component("db"),
        secret(HOOK, url=hook_to(receiver, namespace, HOOK)),
        subscriber(HOOK, HOOK),
    )
    wait_for(lambda: component(kube, namespace, "db") == "Operational", what="components ready")
    wait_ready(kube, namespace, HOOK)
    return namespace


def test_a_group_s_draft_is_silent_until_published_then_resolved_by_the_group_s_end(
    kube: Kube, alerting: str, receiver: Receiver, server: ServerProcess
) -> None:
    """One draft per group, not shown, not notified; published: public, created once; ended:
    Resolved, resolved once."""
    namespace, path = alerting, f"/{alerting}/{HOOK}"
    since = since_ago(3)
    name = draft_name("k1", since)
    write_alerts(kube, namespace, group("k1", since))
    wait_for(lambda: len(owned(kube, namespace)) == 1, 15, what="the draft opened")
    [draft] = owned(kube, namespace)
    assert draft["metadata"]["name"] == name
    assert draft["spec"]["draft"] is True
    assert draft["spec"]["components"] == [{"name": "api", "status": "MajorOutage"}]
    assert draft["spec"]["incidentRef"] == "http://alertmanager.example/#/alerts"
    wait_for(lambda: stamped(kube, namespace, name, 1), 15, what="the draft's timeline")
    wait_for(lambda: len(records(kube, namespace)) == 1, 15, what="the draft recorded")
    assert records(kube, namespace)[0]["incident"] == name
    # Repeated (Alertmanager's repeat_interval): nothing more opens.
    write_alerts(kube, namespace, group("k1", since))
    time.sleep(2)
    assert [i["metadata"]["name"] for i in owned(kube, namespace)] == [name]
    summary = server.json(f"/{namespace}/example/api/v2/summary.json")
    assert summary["incidents"] == []
    assert server.json(f"/{namespace}/example/api/v2/incidents.json")["incidents"] == []
    # The draft takes no charge of the component: its alerts move it (docs/behaviour.md).
    api = kube.status("comp", "api", namespace)
    assert (api["status"], api["statusFrom"]) == ("MajorOutage", "Alerts")
    assert receiver.events(path) == []

    listed = kubectl_plugin(kube, "status", "example", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if f"statusincident/{name}" in line]
    assert "[DRAFT: not public" in line

    refused = kubectl_plugin(kube, "publish", "db", "-n", namespace)
    assert refused.returncode == 1
    published = kubectl_plugin(kube, "publish", name, "-n", namespace)
    assert published.returncode == 0, published.stderr
    assert f"statusincident/{name} published" in published.stdout
    again = kubectl_plugin(kube, "publish", name, "-n", namespace)
    assert again.returncode == 1
    assert "is not a draft" in again.stderr

    wait_for(lambda: receiver.events(path) == ["incident.created"], 15, what="created")
    [created] = receiver.to(path)
    assert "5xx above 5% on the API" in json.dumps(created.body)
    # Published, it names the component: a person has taken charge, the incident decides.
    wait_for(
        lambda: kube.status("comp", "api", namespace).get("statusFrom") == "Incident",
        10,
        what="api's status from the incident",
    )
    assert component(kube, namespace, "api") == "MajorOutage"

    def shown() -> bool:
        summary = server.json(f"/{namespace}/example/api/v2/summary.json")
        return [i["name"] for i in summary["incidents"]] == ["HighErrorRate k1"]

    wait_for(shown, 10, what="the published incident in summary.json")

    write_alerts(kube, namespace)

    def resolved() -> bool:
        updates = (kube.get("si", name, namespace) or {})["spec"]["updates"]
        return bool(updates[-1]["status"] == "Resolved")

    wait_for(resolved, 15, what="the Resolved update")
    wait_for(lambda: records(kube, namespace) == [], 15, what="the record dropped")
    wait_for(
        lambda: receiver.events(path) == ["incident.created", "incident.resolved"],
        15,
        what="resolved",
    )
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 10, what="api up")
    time.sleep(1)
    assert receiver.events(path) == ["incident.created", "incident.resolved"]
    assert len((kube.get("si", name, namespace) or {})["spec"]["updates"]) == 2


def test_an_unpublished_draft_goes_with_its_group_and_a_deleted_one_stays_gone(
    kube: Kube, alerting: str, receiver: Receiver
) -> None:
    """Ended unpublished: deleted. Deleted by a person: not opened again while the group fires."""
    namespace = alerting
    since = since_ago(5)
    write_alerts(kube, namespace, group("k2", since))
    wait_for(lambda: len(records(kube, namespace)) == 1, 15, what="k2's draft recorded")
    kube.run("delete", "si", draft_name("k2", since), "-n", namespace)
    write_alerts(kube, namespace, group("k2", since))
    time.sleep(2)
    assert owned(kube, namespace) == []
    assert [r["group"] for r in records(kube, namespace)] == ["k2"]

    later = since_ago(1)
    write_alerts(kube, namespace, group("k3", later))
    wait_for(
        lambda: (
            [i["metadata"]["name"] for i in owned(kube, namespace)] == [draft_name("k3", later)]
        ),
        15,
        what="k3's draft",
    )
    # k2 ended (gone from status.alerts); k3 ends too: its unpublished draft is deleted.
    write_alerts(kube, namespace)
    wait_for(lambda: owned(kube, namespace) == [], 15, what="k3's draft deleted")
    wait_for(lambda: records(kube, namespace) == [], 15, what="the records dropped")
    assert receiver.events(f"/{namespace}/{HOOK}") == []


def test_sigkill_between_the_creation_and_the_record_opens_no_second_draft(
    kube: Kube, alerting: str, operator: OperatorProcess, receiver: Receiver
) -> None:
    """The draft exists, unrecorded (the operator died in between): recorded, not made again.
    Published while the operator is down: announced once when it is back."""
    namespace, path = alerting, f"/{alerting}/{HOOK}"
    since = since_ago(2)
    firing = group("k4", since)
    name = draft_name("k4", since)
    operator.stop(signal.SIGKILL)
    try:
        write_alerts(kube, namespace, firing)
        # What the operator created just before it was killed: its own plan's body.
        facts = DraftFacts(
            "example",
            timedelta(hours=6),
            (AskingComponent("api", True, ComponentAlerts(groups=(firing,))),),
            (),
            {},
        )
        [body] = plan_drafts(facts, datetime.now(UTC)).create
        kube.apply(
            namespace, {"apiVersion": "statuspage.dev/v1alpha1", "kind": "StatusIncident", **body}
        )
        uid = (kube.get("si", name, namespace) or {})["metadata"]["uid"]
    finally:
        operator.start()
    wait_for(lambda: len(records(kube, namespace)) == 1, 30, what="the draft recorded")
    [incident] = owned(kube, namespace)
    assert incident["metadata"]["uid"] == uid
    assert records(kube, namespace)[0]["incident"] == name
    wait_for(lambda: stamped(kube, namespace, name, 1), 15, what="the draft's timeline")

    # And a real kill, the moment the next group's draft appears (before or after its record).
    later = since_ago(1)
    write_alerts(kube, namespace, firing, group("k5", later))
    wait_for(lambda: len(owned(kube, namespace)) == 2, 15, interval=0.02, what="k5's draft")
    operator.stop(signal.SIGKILL)
    uids = {i["metadata"]["name"]: i["metadata"]["uid"] for i in owned(kube, namespace)}
    operator.start()
    wait_for(lambda: len(records(kube, namespace)) == 2, 30, what="both drafts recorded")
    assert {i["metadata"]["name"]: i["metadata"]["uid"] for i in owned(kube, namespace)} == uids
    assert set(uids) == {name, draft_name("k5", later)}

    operator.stop(signal.SIGKILL)
    try:
        published = kubectl_plugin(kube, "publish", name, "-n", namespace)
        assert published.returncode == 0, published.stderr
    finally:
        operator.start()
    wait_for(lambda: receiver.events(path) == ["incident.created"], 30, what="created")
    time.sleep(1)
    assert receiver.events(path) == ["incident.created"]
