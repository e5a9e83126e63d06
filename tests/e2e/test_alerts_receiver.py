"""The alerts receiver against the real control plane, fed by a real Alertmanager.

Alerts are posted to Alertmanager's own API, as Prometheus posts them; Alertmanager groups them
and calls the receiver's webhook; the tests read `status.alerts` from the API server. The
operator does not run: what is asserted is what the receiver writes.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alertmanager import Alertmanager, stamp, webhook_config
from e2e.alerts_receiver import (
    AlertWrites,
    ReceiverProcess,
    make_alerts_kubeconfig,
    receiver_secret,
)
from e2e.conftest import ROOT
from e2e.kube import Kube, wait_for
from e2e.objects import make_component, make_page

pytestmark = pytest.mark.e2e
SECRET = "alertmanager"
API = {"alertname": "HighErrors", "service": "api", "severity": "critical"}


@pytest.fixture(scope="module")
def alerts_kubeconfig(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig bound only to the receiver's ClusterRoles."""
    return make_alerts_kubeconfig(kube, tmp_path_factory.mktemp("alerts"))


@pytest.fixture(scope="module")
def receivers(
    alerts_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ReceiverProcess, ReceiverProcess]]:
    """Two replicas of the receiver, as the Deployment runs them."""
    logs = tmp_path_factory.mktemp("receiver-logs")
    first = ReceiverProcess(alerts_kubeconfig, logs / "a.log")
    second = ReceiverProcess(alerts_kubeconfig, logs / "b.log")
    yield first, second
    for replica in (first, second):
        assert replica.stop() == 0
    print("\n--- receiver log (tail) ---\n" + first.tail())


@pytest.fixture
def token() -> str:
    """The receiver Secret's token of this test."""
    return uuid.uuid4().hex


@pytest.fixture
def alerting_page(kube: Kube, namespace: str, token: str) -> str:
    """A page taking alerts, with components api (service=api) and db (service=db)."""
    alerts = {"receiverSecretRef": {"name": SECRET}, "expireAfter": "1h", "hold": "5m"}
    kube.apply(
        namespace,
        receiver_secret(SECRET, token),
        make_page(alerts=alerts),
        make_component("api", alerts={"matchers": ['service="api"']}),
        make_component("db", alerts={"matchers": ['service="db"']}),
    )
    return "example"


def stored(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """A component's status.alerts ({} when none)."""
    return dict(kube.status("comp", name, namespace).get("alerts") or {})


def version(kube: Kube, namespace: str, name: str) -> str:
    """A component's resourceVersion."""
    found = kube.get("comp", name, namespace)
    assert found is not None
    return str(found["metadata"]["resourceVersion"])


def start_alertmanager(workdir: Path, url: str, token: str, **route: str) -> Alertmanager:
    """A real Alertmanager whose one receiver is our webhook."""
    return Alertmanager.start(webhook_config(url, token=token, **route), workdir)


def firing(kube: Kube, namespace: str, name: str, count: int) -> dict[str, Any] | None:
    """status.alerts once it counts `count` firing alerts (None before)."""
    alerts = stored(kube, namespace, name)
    return alerts if alerts and alerts.get("firing") == count else None


def declare_huge_body(replica: ReceiverProcess, path: str, token: str) -> int:
    """The status a 9 MiB notification gets before any of its body is sent."""
    with socket.create_connection(("127.0.0.1", replica.port), timeout=10) as connection:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: receiver\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {9 * 1024 * 1024}\r\n\r\n"
        )
        connection.sendall(head.encode())
        answer = connection.recv(4096).decode(errors="replace")
    return int(answer.split(" ", 2)[1])


def test_firing_then_resolved_moves_only_the_selected_component(
    kube: Kube,
    namespace: str,
    alerting_page: str,
    token: str,
    receivers: tuple[ReceiverProcess, ReceiverProcess],
    tmp_path: Path,
) -> None:
    """A firing alert is listed on api and db is untouched; its resolve leaves a hold."""
    manager = start_alertmanager(tmp_path, receivers[0].webhook(namespace, "example"), token)
    try:
        starts = datetime.now(UTC) - timedelta(minutes=1)
        manager.fire(API, {"summary": "5xx above 5%"}, starts=starts)
        alerts = wait_for(lambda: firing(kube, namespace, "api", 1), what="api firing")
        [group] = alerts["groups"]
        assert group["severities"] == {"critical": 1}
        assert group["since"] == stamp(starts.replace(microsecond=0))
        [listed] = alerts["listed"]
        assert listed["summary"] == "5xx above 5%"
        assert listed["severity"] == "critical"
        assert stored(kube, namespace, "db") == {}
        manager.resolve(API, starts)

        def held() -> dict[str, Any] | None:
            alerts = stored(kube, namespace, "api")
            groups = alerts.get("groups") or []
            return (
                alerts if alerts.get("firing") == 0 and groups and groups[0].get("held") else None
            )

        alerts = wait_for(held, what="api resolved and held")
        assert alerts["listed"] == []
        assert [h["severity"] for h in alerts["groups"][0]["held"]] == ["critical"]
        assert stored(kube, namespace, "db") == {}
    finally:
        manager.stop()


def test_two_groups_count_apart_and_a_repeat_writes_nothing(
    kube: Kube,
    namespace: str,
    alerting_page: str,
    token: str,
    receivers: tuple[ReceiverProcess, ReceiverProcess],
    tmp_path: Path,
) -> None:
    """Two alert groups on one component: two entries; Alertmanager's repeats cost no write."""
    replica = receivers[0]
    manager = start_alertmanager(
        tmp_path, replica.webhook(namespace, "example"), token, repeat_interval="2s"
    )
    try:
        manager.fire(API)
        manager.fire({**API, "alertname": "SlowRequests", "severity": "warning"})
        alerts = wait_for(lambda: firing(kube, namespace, "api", 2), what="two groups firing")
        assert sorted(g["name"] for g in alerts["groups"]) == [
            "alertname=HighErrors",
            "alertname=SlowRequests",
        ]
        before = version(kube, namespace, "api")
        answered = replica.metric("statuspage_alerts_requests_total", code="200")
        # Two repeat intervals: each group is sent again at least once.
        wait_for(
            lambda: replica.metric("statuspage_alerts_requests_total", code="200") >= answered + 2,
            timeout=15,
            what="Alertmanager to repeat both groups",
        )
        assert version(kube, namespace, "api") == before
    finally:
        manager.stop()


def test_an_ha_pair_through_two_replicas_counts_once(
    kube: Kube,
    namespace: str,
    alerting_page: str,
    token: str,
    receivers: tuple[ReceiverProcess, ReceiverProcess],
    tmp_path: Path,
) -> None:
    """Two Alertmanagers (no gossip), each posting to its own replica: one alert, once."""
    first = start_alertmanager(tmp_path / "a", receivers[0].webhook(namespace, "example"), token)
    second = start_alertmanager(tmp_path / "b", receivers[1].webhook(namespace, "example"), token)
    try:
        starts = datetime.now(UTC) - timedelta(seconds=30)
        for manager in (first, second):
            manager.fire(API, starts=starts)
        wait_for(lambda: firing(kube, namespace, "api", 1), what="api firing")
        wait_for(
            lambda: receivers[1].metric("statuspage_alerts_requests_total", code="200") >= 1,
            what="the second replica to take a notification",
        )
        alerts = stored(kube, namespace, "api")
        assert alerts["firing"] == 1
        assert len(alerts["groups"]) == 1
        for manager in (first, second):
            manager.resolve(API, starts)
        wait_for(lambda: firing(kube, namespace, "api", 0), what="api resolved")
    finally:
        first.stop()
        second.stop()


def test_a_webhook_sent_while_the_receiver_is_killed_arrives_after_its_restart(
    kube: Kube,
    namespace: str,
    alerting_page: str,
    token: str,
    alerts_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    """SIGKILL, an alert fires, a new process on the same port: Alertmanager's retry lands."""
    replica = ReceiverProcess(alerts_kubeconfig, tmp_path / "r1.log")
    manager = start_alertmanager(tmp_path / "am", replica.webhook(namespace, "example"), token)
    restarted: ReceiverProcess | None = None
    try:
        replica.stop(signal.SIGKILL)
        manager.fire(API)
        time.sleep(2)
        assert stored(kube, namespace, "api") == {}
        restarted = ReceiverProcess(alerts_kubeconfig, tmp_path / "r2.log", port=replica.port)
        wait_for(lambda: firing(kube, namespace, "api", 1), timeout=30, what="the retry to land")
    finally:
        manager.stop()
        if restarted is not None:
            assert restarted.stop() == 0


def test_a_lost_resolve_expires(
    kube: Kube,
    namespace: str,
    token: str,
    receivers: tuple[ReceiverProcess, ReceiverProcess],
    tmp_path: Path,
) -> None:
    """An Alertmanager that goes away mid-alert: its group is dropped after expireAfter."""
    alerts = {"receiverSecretRef": {"name": SECRET}, "expireAfter": "3s", "hold": "0s"}
    kube.apply(
        namespace,
        receiver_secret(SECRET, token),
        make_page(alerts=alerts),
        make_component("api", alerts={"matchers": ['service="api"']}),
    )
    url = receivers[0].webhook(namespace, "example")
    lost = start_alertmanager(tmp_path / "lost", url, token)
    lost.fire(API)
    wait_for(lambda: firing(kube, namespace, "api", 1), what="api firing")
    lost.stop()
    later = start_alertmanager(tmp_path / "later", url, token)
    try:
        # Past expireAfter since the lost group was last seen.
        time.sleep(3.5)
        later.fire({**API, "alertname": "Other"})

        def only_other() -> dict[str, Any] | None:
            alerts = stored(kube, namespace, "api")
            names = [g.get("name") for g in alerts.get("groups") or []]
            return alerts if names == ["alertname=Other"] else None

        assert wait_for(only_other, what="the lost group to expire")["firing"] == 1
    finally:
        later.stop()


def test_bad_requests_get_their_answers_and_other_pages_keep_working(
    kube: Kube,
    namespace: str,
    alerting_page: str,
    token: str,
    alerts_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    """401 whatever the reason, 400, 413, 429; a flooded page does not stop another one."""
    replica = ReceiverProcess(alerts_kubeconfig, tmp_path / "r.log", "--rate=0.1", "--burst=4")
    other_token = uuid.uuid4().hex
    alerts = {"receiverSecretRef": {"name": "other"}}
    kube.apply(
        namespace,
        receiver_secret("unlabelled", token, labelled=False),
        make_page("unlabelled", alerts={"receiverSecretRef": {"name": "unlabelled"}}),
        receiver_secret("other", other_token),
        make_page("other", alerts=alerts),
        make_component("web", page="other", alerts={"matchers": ['service="web"']}),
    )
    try:
        notification: dict[str, Any] = {
            "version": "4",
            "groupKey": '{}:{alertname="Web"}',
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "Web", "service": "web", "severity": "warning"},
                    "startsAt": stamp(datetime.now(UTC)),
                    "fingerprint": "0123456789abcdef",
                }
            ],
        }
        # The other page answering shows the receiver has seen both pages (listed in order).
        wait_for(
            lambda: replica.post(namespace, "other", notification, token=other_token)[0] == 200,
            interval=0.5,
            what="the receiver to see the other page",
        )
        assert stored(kube, namespace, "web")["firing"] == 1
        refusals = [
            replica.post(namespace, "example", notification),
            replica.post(namespace, "example", notification, token="wrong"),
            replica.post(namespace, "nosuchpage", notification, token=token),
            replica.post(namespace, "unlabelled", notification, token=token),
        ]
        assert [r[0] for r in refusals] == [401] * 4
        assert len({r[2] for r in refusals}) == 1
        status, _, body = replica.post(namespace, "example", b'{"version": "4"', token=token)
        assert status == 400
        assert "not JSON" in json.loads(body)["message"]
        status, _, body = replica.post(namespace, "example", {"version": "3"}, token=token)
        assert status == 400
        assert declare_huge_body(replica, f"/alerts/{namespace}/example", token) == 413
        answers = [
            replica.post(namespace, "example", {"version": "x"}, token=token)[0] for _ in range(4)
        ]
        # The two 400s above took two of the page's four tokens (the 413 was refused unread).
        assert answers == [400, 400, 429, 429]
        status, headers, _ = replica.post(namespace, "example", notification, token=token)
        assert status == 429
        assert int(headers["Retry-After"]) >= 1
        alert = {**notification["alerts"][0], "status": "resolved"}
        resolved = {**notification, "status": "resolved", "alerts": [alert]}
        status, _, body = replica.post(namespace, "other", resolved, token=other_token)
        assert status == 200, body
        assert json.loads(body)["written"] == ["web"]
        assert stored(kube, namespace, "web")["firing"] == 0
        assert stored(kube, namespace, "api") == {}
    finally:
        assert replica.stop() == 0


def test_a_thousand_alerts_in_one_group_cost_a_few_writes(
    kube: Kube,
    namespace: str,
    alerting_page: str,
    token: str,
    receivers: tuple[ReceiverProcess, ReceiverProcess],
    tmp_path: Path,
) -> None:
    """1,000 alerts posted at once: counted whole, 50 listed, a handful of writes."""
    replica = receivers[0]
    manager = start_alertmanager(
        tmp_path, replica.webhook(namespace, "example"), token, group_wait="2s"
    )
    writes = AlertWrites(kube, namespace, "api", tmp_path / "watch.json")
    try:
        before = replica.metric("statuspage_alerts_writes_total", result="written")
        now = datetime.now(UTC)
        manager.post_alerts(
            [
                {
                    "labels": {**API, "instance": f"pod-{i}", "pod": f"api-{i:04d}"},
                    "annotations": {"summary": f"pod {i} fails", "runbook": "http://r.invalid"},
                    "startsAt": stamp(now - timedelta(seconds=i)),
                    "endsAt": stamp(now + timedelta(hours=1)),
                    "generatorURL": "http://prometheus.invalid/graph?g0.expr=up",
                }
                for i in range(1000)
            ]
        )
        alerts = wait_for(lambda: firing(kube, namespace, "api", 1000), timeout=30, what="1,000")
        assert len(alerts["listed"]) == 50
        # The oldest first: pod 999 started 999 s ago.
        assert alerts["listed"][0]["summary"] == "pod 999 fails"
        # Alertmanager sends the group again as it changes: give a late repeat time to land.
        time.sleep(2)
        changes = writes.stop()
        counted = replica.metric("statuspage_alerts_writes_total", result="written") - before
        assert 1 <= changes <= 3
        assert changes == counted
    finally:
        writes.process.kill()
        manager.stop()


def test_the_documented_alertmanager_configuration_loads(tmp_path: Path) -> None:
    """docs/operations.md's webhook_configs sample is taken by the real Alertmanager."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text[text.index("**Alertmanager's side**") :]
    start = section.index("```yaml") + len("```yaml")
    sample = section[start : section.index("```", start)]
    token = tmp_path / "token"
    token.write_text("t0ken")
    sample = sample.replace("/etc/alertmanager/secrets/statuspage/token", str(token))
    # The sample is a fragment under an existing root route: give it one.
    config = sample.replace("route:\n", "route:\n  receiver: statuspage-my-status\n", 1)
    manager = Alertmanager.start(config, tmp_path / "am")
    try:
        loaded = manager.request("GET", "/api/v2/status")["config"]["original"]
        assert "name: statuspage-my-status" in loaded
        assert "send_resolved: true" in loaded
    finally:
        manager.stop()
