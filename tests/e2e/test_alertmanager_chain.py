"""The whole chain, every part real: Prometheus's alert posted to Alertmanager's own API, its
webhook to the alerts receiver (under its own ServiceAccount), the receiver's write of
status.alerts, the operator's derivation (component, page, draft incident), and the page server's
summary.json; then the resolve undoing all of it.

Each link is tested on its own elsewhere (test_alerts_receiver.py, test_alert_status.py,
test_drafts.py); this test proves they fit together as docs/behaviour.md and docs/operations.md
say, with the Alertmanager configuration the docs give.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertmanager import Alertmanager, webhook_config
from e2e.alerts_receiver import ReceiverProcess, make_alerts_kubeconfig, receiver_secret
from e2e.kube import Kube, component, wait_for
from e2e.objects import make_component, make_page
from e2e.test_server import ServerProcess, make_server_kubeconfig

pytestmark = pytest.mark.usefixtures("operator")

ALERT = {"alertname": "HighErrorRate", "service": "api", "severity": "critical"}


@pytest.fixture(scope="module")
def receiver(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReceiverProcess]:
    """One replica of the alerts receiver, bound only to its own ClusterRoles."""
    config = make_alerts_kubeconfig(kube, tmp_path_factory.mktemp("alerts"))
    running = ReceiverProcess(config, tmp_path_factory.mktemp("receiver-log") / "receiver.log")
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def server(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The page server, under its own read-only identity."""
    config = make_server_kubeconfig(kube, tmp_path_factory.mktemp("server"))
    running = ServerProcess(config, tmp_path_factory.mktemp("server-log") / "server.log")
    yield running
    running.stop()


def drafts(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    """The operator's own incidents (drafts opened from alert groups)."""
    out = kube.run(
        "get", "statusincidents", "-n", namespace, "-l", "statuspage.dev/alert-group", "-o", "json"
    ).stdout
    return list(json.loads(out)["items"])


def test_an_alert_moves_the_page_and_its_resolve_restores_it(
    kube: Kube,
    published: str,
    receiver: ReceiverProcess,
    server: ServerProcess,
    tmp_path: Path,
) -> None:
    """Fired: api MajorOutage from alerts, the page Major, summary.json major_outage, one draft
    (not on the page). Resolved: after the hold all is Operational and the draft is gone."""
    namespace = published
    token = uuid.uuid4().hex
    alerts = {"receiverSecretRef": {"name": "alerts"}, "hold": "2s", "draftIncidents": True}
    kube.apply(
        namespace,
        receiver_secret("alerts", token),
        make_page(alerts=alerts, visibility="Public"),
        make_component("api", alerts={"matchers": ['service="api"']}),
        make_component("db", alerts={"matchers": ['service="db"']}),
    )
    wait_for(lambda: component(kube, namespace, "db") == "Operational", what="components ready")
    manager = Alertmanager.start(
        webhook_config(receiver.webhook(namespace, "example"), token=token), tmp_path / "am"
    )
    summary = f"/{namespace}/example/api/v2/summary.json"

    def shown(name: str) -> str:
        found = server.json(summary)
        return str(next(c["status"] for c in found["components"] if c["name"] == name))

    try:
        started = datetime.now(UTC)
        manager.fire(ALERT, {"summary": "5xx above 5%"}, starts=started)
        wait_for(lambda: component(kube, namespace, "api") == "MajorOutage", 15, what="outage")
        status = kube.status("comp", "api", namespace)
        assert (status["statusFrom"], status["alertsFiring"]) == ("Alerts", 1)
        assert status["alerts"]["listed"][0]["summary"] == "5xx above 5%"
        assert component(kube, namespace, "db") == "Operational"
        wait_for(lambda: kube.status("sp", "example", namespace).get("indicator") == "Major", 5)
        wait_for(lambda: shown("api") == "major_outage", 5, what="summary.json in outage")
        wait_for(lambda: len(drafts(kube, namespace)) == 1, 10, what="one draft")
        draft = drafts(kube, namespace)[0]
        assert draft["spec"]["draft"] is True
        assert [c["name"] for c in draft["spec"]["components"]] == ["api"]
        assert server.json(summary)["incidents"] == []

        manager.resolve(ALERT, started)
        wait_for(lambda: component(kube, namespace, "api") == "Operational", 15, what="resolved")
        assert "statusFrom" not in kube.status("comp", "api", namespace)
        wait_for(lambda: shown("api") == "operational", 5, what="summary.json operational")
        wait_for(lambda: drafts(kube, namespace) == [], 10, what="the unpublished draft removed")
        wait_for(lambda: kube.status("sp", "example", namespace).get("indicator") == "None", 5)
    finally:
        manager.stop()
