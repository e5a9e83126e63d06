"""Every rule of the manifests is used: the API server's audit log of a compact full scenario.

The e2e suite runs the operator under its roles, so a rule it lacks fails some test; this module
shows the other direction. It starts a control plane of its own with an audit log of the operator's
and the server's ServiceAccounts, applies the install base (without the Deployments), runs both
processes as those ServiceAccounts (tokens) and walks through every feature once: the Lease with
`--leader-elect`, a page and its components, a window Scheduled -> InProgress -> Completed, an
incident deleted while it holds its finalizer, a Subscriber with its Secret and a delivery, an alert
group's draft incident opened and deleted, Events beyond an hour's budget (a digest created, raised,
and raised again after a restart), a subscription by the public mailed through a relay that refuses
it until the operator deletes it (the relay and key Secrets read by name), the server reading its
feed key; the alerts receiver (two replicas) reading a receiver Secret, writing a component's
status.alerts, and reading the component again after a conflict; statuspage-signup (its ledger, its
two Secrets by name) taking a sign-up, a confirmation, a change of choice and an unsubscribe. Then
every (group, resource, verb) that a Role or ClusterRole of the rendered base grants each identity
must appear among its allowed requests, and no request may have been forbidden. The grants are read
from the YAML (e2e/grants.py): a rule added later is checked too, and the scenario must then use it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.cluster import LocalCluster, build_binaries, free_port
from e2e.alerts_receiver import ReceiverProcess, receiver_secret
from e2e.conftest import CRD_NAMES, ROOT, OperatorProcess
from e2e.grants import Grant, Request, audit_policy, granted, requests, service_account, username
from e2e.kube import Kube, wait_for
from e2e.objects import (
    API_VERSION,
    in_seconds,
    make_component,
    make_incident,
    make_page,
    make_policy,
    make_window,
)
from e2e.signup_process import SignupProcess, form_body, install_signup, request
from smtp_server import SmtpServer
from statuspage_operator.api.alerts import render_alerts
from statuspage_operator.api.drafts import draft_name
from statuspage_operator.domain.alerting import AlertGroup, ComponentAlerts
from unit.crd_schema import kustomize

SYSTEM = "statuspage-system"
OPERATOR = service_account(SYSTEM, "statuspage-operator")
SERVER = service_account(SYSTEM, "statuspage-server")
SERVER_BIN = str(Path(sys.executable).parent / "statuspage-server")
ALERTS = service_account(SYSTEM, "statuspage-alerts")
SIGNUP = service_account("statuspage-signups", "statuspage-signup")
IDENTITIES = [
    pytest.param(OPERATOR, id="operator"),
    pytest.param(SERVER, id="server"),
    pytest.param(ALERTS, id="alerts"),
    pytest.param(SIGNUP, id="signup"),
]
NAMESPACE = "audited"
# Not applied: nothing would run them (no scheduler, no kubelet), and they grant nothing.
SKIPPED_KINDS = {"Deployment", "Service", "CustomResourceDefinition"}
FINALIZER = "statuspage.dev/finalizer"
FEED_KEY = "statuspage-feed-key"
CONSENT = {"statuspage.dev/subscriber": "true"}
# More changes of one object than an hour's Events take (api/event_budget.py: 10), so the rest
# fold into a ChangesCoalesced digest, created and then raised in place.
FLAPS = 25
# Mail (docs/operations.md, Mail relay): the Secrets the operator reads by name, and a mailbox
# the relay refuses (550), so that a subscription by the public is deleted after 3 bounces.
SIGNUPS = "statuspage-signups"
RELAY = "statuspage-mail-relay"
KEYS = "statuspage-subscription-key"
GONE = "gone@example.com"


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    """The install base as `kubectl kustomize manifests` renders it."""
    return kustomize(ROOT / "manifests")


class Receiver:
    """A webhook receiver on loopback: counts the POSTs it is sent."""

    def __init__(self) -> None:
        self.posts: list[str] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def token_kubeconfig(admin: Kube, subject: dict[str, str], path: Path) -> Kube:
    """kubectl (and a kubeconfig for the processes) as a ServiceAccount, by a token."""
    return admin.token_kubeconfig(
        subject["namespace"], subject["name"], path, duration="1h", context="operator"
    )


def secret(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    """A Secret with string values."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    metadata = {"name": name, "labels": labels or {}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": encoded}


def subscriber(name: str, url_secret: str) -> dict[str, Any]:
    """A Subscriber of the page `example`, its URL in a Secret."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Subscriber",
        "metadata": {"name": name},
        "spec": {"page": "example", "urlSecretRef": {"name": url_secret, "key": "url"}},
    }


def public_subscriber(name: str) -> dict[str, Any]:
    """A subscription by the public to the page `example`, its address in the Secret `name`."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Subscriber",
        "metadata": {"name": name},
        "spec": {
            "page": "example",
            "origin": "Public",
            "mailboxSecretRef": {"name": name, "key": "address"},
        },
    }


def start_server(kubeconfig: Path, log: Path) -> subprocess.Popen[bytes]:
    """statuspage-server as its ServiceAccount; returns once it has listed every kind."""
    port = free_port()
    process = subprocess.Popen(
        [
            SERVER_BIN,
            f"--port={port}",
            f"--metrics-port={free_port()}",
            "--host=127.0.0.1",
            f"--feed-key-secret={SYSTEM}/{FEED_KEY}",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"},
    )

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    wait_for(ready, 60, interval=0.2, what="the server to list every kind")
    return process


def run_scenario(admin: Kube, operator: OperatorProcess, receiver: Receiver) -> None:
    """Every feature once, as the operator and the server would meet them in a real cluster."""
    operator.start()
    wait_for(lambda: "became the leader" in operator.log.read_text(), 30, what="the lease")
    wait_for(lambda: "listed " in operator.log.read_text(), 60, what="the operator's lists")
    hook = f"json://127.0.0.1:{receiver.port}/{NAMESPACE}/hook"
    admin.apply(
        NAMESPACE,
        secret("hook", CONSENT, url=hook),
        make_page(),
        make_component("api"),
        make_component("db"),
        make_component("flap"),
        subscriber("ops", "hook"),
        secret("public-gone", CONSENT, address=GONE),
        public_subscriber("public-gone"),
        make_incident("outage", [{"name": "db"}], impact="Major"),
    )
    # Applied on its own, so that a slow apply above cannot eat its lead: the operator must see
    # it Scheduled, start its daemon and put the finalizer on.
    window = make_window("upgrade", in_seconds(5), in_seconds(9), ["api"], notifySubscribers=True)
    admin.apply(NAMESPACE, window)

    def phase() -> Any:
        return admin.status("mw", "upgrade", NAMESPACE).get("phase")

    def held() -> bool:
        incident = admin.get("statusincident", "outage", NAMESPACE) or {"metadata": {}}
        return FINALIZER in (incident["metadata"].get("finalizers") or [])

    wait_for(held, 30, what="the incident's finalizer")
    wait_for(lambda: phase() in ("InProgress", "Completed"), 30, what="the window started")
    admin.run("delete", "statusincident", "outage", "-n", NAMESPACE, "--timeout=30s")
    wait_for(lambda: phase() == "Completed", 30, what="the window completed")
    wait_for(lambda: receiver.posts, 30, what="a delivery to the subscriber's hook")
    # Scheduled, started, completed: three refusals in a row, and the operator deletes it.
    wait_for(
        lambda: admin.get("subscriber", "public-gone", NAMESPACE) is None,
        30,
        what="the bounced public subscriber deleted",
    )
    draft_for_an_alert_group(admin)
    count, flaps = flap_until_coalesced(admin)
    # After a restart the operator knows the hour's digest from status, not its resourceVersion:
    # it reads the Event before raising its count again.
    operator.stop()
    operator.start()
    wait_for(lambda: "became the leader" in operator.log.read_text(), 30, what="the lease again")
    flap(admin, flaps)
    wait_for(lambda: digest_count(admin) > count, 30, what="the digest raised after a restart")
    operator.stop()


def draft_for_an_alert_group(admin: Kube) -> None:
    """An alert group opens the operator's own draft (create); its end deletes it (delete)."""
    alerts = {"receiverSecretRef": {"name": "alerts"}, "draftIncidents": True}
    admin.apply(
        NAMESPACE,
        make_page(alerts=alerts),
        make_component("alerted", alerts={"matchers": ['service="api"']}),
    )
    now = datetime.now(UTC)
    firing = AlertGroup(
        key="audit", seen=now, name="Audit", since=now, firing=1, severities={"critical": 1}
    )
    write_alerts(admin, ComponentAlerts(groups=(firing,), firing=1))
    name = draft_name("audit", firing.since or now)
    wait_for(lambda: admin.get("si", name, NAMESPACE) is not None, 30, what="the draft opened")
    write_alerts(admin, ComponentAlerts())
    wait_for(lambda: admin.get("si", name, NAMESPACE) is None, 30, what="the draft deleted")


def write_alerts(admin: Kube, alerts: ComponentAlerts) -> None:
    """The `alerted` component's status.alerts, as the alerts receiver writes it."""
    patch = json.dumps({"status": {"alerts": render_alerts(alerts)}})
    admin.run(
        "patch",
        "comp",
        "alerted",
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
    )


def flap(admin: Kube, i: int) -> None:
    """Change the `flap` component's manual status, and wait until the operator wrote it."""
    status = "DegradedPerformance" if i % 2 == 0 else "Operational"
    patch = {"spec": {"manualStatus": status}}
    admin.run("patch", "comp", "flap", "-n", NAMESPACE, "--type=merge", "-p", json.dumps(patch))

    def shown() -> bool:
        return bool(admin.status("comp", "flap", NAMESPACE).get("status") == status)

    wait_for(shown, 30, interval=0.1, what=f"the component {status}")


def digest_count(admin: Kube) -> int:
    """The count of the `flap` component's ChangesCoalesced Event this hour (0: none yet)."""
    found = [e for e in admin.events(NAMESPACE, "flap") if e["reason"] == "ChangesCoalesced"]
    return max((int(e.get("count") or 0) for e in found), default=0)


def flap_until_coalesced(admin: Kube) -> tuple[int, int]:
    """Flap until the hour's digest exists and was raised once (a create, then a patch); the
    digest's count and the number of flaps made."""
    for i in range(FLAPS):
        flap(admin, i)
        if digest_count(admin) >= 2:
            return digest_count(admin), i + 1
    raise AssertionError(f"no ChangesCoalesced digest raised after {FLAPS} changes")


def notification(key: str) -> dict[str, Any]:
    """A webhook notification of one firing alert for the component `paged`."""
    return {
        "version": "4",
        "groupKey": key,
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": key, "service": "paged", "severity": "critical"},
                "startsAt": "2026-12-03T12:00:00Z",
                "fingerprint": key,
            }
        ],
    }


def run_alerts(admin: Kube, kubeconfig: Path, workdir: Path) -> None:
    """Two receiver replicas: a Secret read, status writes, and a conflict read again."""
    alerts = {"receiverSecretRef": {"name": "am"}}
    admin.apply(
        NAMESPACE,
        receiver_secret("am", "t0ken"),
        make_page("alerting", alerts=alerts),
        make_component("paged", page="alerting", alerts={"matchers": ['service="paged"']}),
    )
    replicas = [ReceiverProcess(kubeconfig, workdir / f"alerts-{i}.log") for i in range(2)]
    try:
        for replica in replicas:

            def warm(replica: ReceiverProcess = replica) -> bool:
                answer = replica.post(NAMESPACE, "alerting", notification("warm"), "t0ken")
                return answer[0] == 200

            wait_for(warm, 30, interval=0.5, what="a replica to take the page's webhook")

        def conflicts() -> float:
            return sum(
                r.metric("statuspage_alerts_writes_total", result="conflict") for r in replicas
            )

        # Both replicas fold the same group from the same resourceVersion: one of them meets
        # a 409 and reads the component again (racy by nature: tried until it happens).
        for attempt in range(30):
            body = notification(f"race-{attempt}")
            threads = [
                threading.Thread(target=r.post, args=(NAMESPACE, "alerting", body, "t0ken"))
                for r in replicas
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if conflicts():
                break
        assert conflicts() > 0, "no conflict in 30 tries"
    finally:
        for replica in replicas:
            replica.stop()


def run_signup(admin: Kube, workdir: Path) -> None:
    """statuspage-signup: a sign-up, its confirmation, a change of choice, an unsubscribe, and
    its upkeep (the ledger listed, swept) at a one-second interval."""
    admin.run("apply", "-f", "-", stdin=yaml.safe_dump(make_policy("signups", [NAMESPACE])))
    subscriptions = {"byEmail": True}
    admin.apply(
        NAMESPACE,
        make_page("public", visibility="Public", subscriptions=subscriptions),
        make_component("counter", page="public"),
        make_component("desk", page="public"),
    )
    with SmtpServer() as smtp:
        installed = install_signup(admin, smtp.url, workdir)
        process = SignupProcess(installed.kubeconfig, workdir / "signup.log", "--upkeep-interval=1")
        try:
            form = f"{process.base}/subscribe/{NAMESPACE}/public"
            wait_for(lambda: request(form)[0] == 200, 30, what="the form offered")
            assert process.subscribe(NAMESPACE, "public", "ann@example.org", "192.0.2.1")[0] == 200
            [mail] = smtp.wait_for(lambda m: m.to == ["ann@example.org"])
            confirm = re.findall(r"http://\S+/confirm/\S+", mail.body)[0]
            status, _, body = process.post(confirm)
            assert status == 200, body
            manage = body.decode().split('href="', 1)[1].split('"', 1)[0]
            saved = process.post(manage, form_body(("components", "c:desk"), ("action", "save")))
            assert saved[0] == 200
            assert process.post(manage.replace("/manage/", "/unsubscribe/"))[0] == 200
            # The upkeep lists the ledger every second once ready: let it run once more.
            time.sleep(1.5)
        finally:
            process.stop()


@pytest.fixture(scope="module")
def audit_log(
    base: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The audit log of the scenario, on a control plane of its own."""
    workdir = tmp_path_factory.mktemp("audited")
    policy, log = workdir / "audit-policy.yaml", workdir / "audit.log"
    users = {username(OPERATOR), username(SERVER), username(ALERTS), username(SIGNUP)}
    policy.write_text(yaml.safe_dump(audit_policy(users)))
    flags = [f"--audit-policy-file={policy}", f"--audit-log-path={log}"]
    receiver = Receiver()
    started = time.monotonic()
    with (
        SmtpServer(refuse=[GONE]) as smtp,
        LocalCluster(build_binaries(), apiserver_flags=flags) as cluster,
    ):
        print(f"\naudited control plane up in {time.monotonic() - started:.1f} s")
        admin = Kube(cluster.kubeconfig)
        admin.run("apply", "-k", str(ROOT / "crds"))
        admin.run("wait", "--for=condition=Established", "--timeout=60s", *CRD_NAMES)
        if not [d for d in base if d["kind"] == "Namespace" and d["metadata"]["name"] == SIGNUPS]:
            # Made by manifests/signup where the sign-up process is installed.
            admin.run("create", "namespace", SIGNUPS)
        install = [d for d in base if d["kind"] not in SKIPPED_KINDS]
        admin.run("apply", "-f", "-", stdin=yaml.safe_dump_all(install))
        admin.run("create", "namespace", NAMESPACE)
        admin.apply(SYSTEM, secret(FEED_KEY, key="k" * 32))
        relay = secret(RELAY, url=smtp.url)
        relay["data"]["from"] = base64.b64encode(b"status@example.com").decode()
        admin.apply(SIGNUPS, relay, secret(KEYS, key="k" * 32, naming="n" * 32))
        server = start_server(
            token_kubeconfig(admin, SERVER, workdir / "server.kubeconfig").kubeconfig,
            workdir / "server.log",
        )
        operator = OperatorProcess(
            token_kubeconfig(admin, OPERATOR, workdir / "operator.kubeconfig"),
            workdir / "operator.log",
        )
        operator.extra_args = [
            f"--namespace={NAMESPACE}",
            "--leader-elect",
            f"--leader-election-namespace={SYSTEM}",
            "--notify-retry-base=0.2",
            f"--mail-secret={SIGNUPS}/{RELAY}",
            f"--subscription-key-secret={SIGNUPS}/{KEYS}",
            "--signup-url=https://status.example.com/subscriptions",
        ]
        try:
            run_scenario(admin, operator, receiver)
            run_alerts(
                admin,
                token_kubeconfig(admin, ALERTS, workdir / "alerts.kubeconfig").kubeconfig,
                workdir,
            )
            run_signup(admin, workdir)
        finally:
            operator.stop()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            receiver.close()
            print(f"audited scenario done in {time.monotonic() - started:.1f} s")
        yield log


def unused(grants: set[Grant], made: list[Request]) -> list[str]:
    """The grants no request used."""
    return sorted(str(g) for g in grants if not any(r.uses(g) for r in made))


@pytest.mark.parametrize("subject", IDENTITIES)
def test_every_rule_is_used(
    base: list[dict[str, Any]], audit_log: Path, subject: dict[str, str]
) -> None:
    """Each verb on each resource the base grants the identity appears in its audit log."""
    grants = granted(base, subject)
    assert grants, "the base grants this identity nothing"
    assert unused(grants, requests(audit_log, {username(subject)})) == []


@pytest.mark.parametrize("subject", IDENTITIES)
def test_nothing_was_forbidden(audit_log: Path, subject: dict[str, str]) -> None:
    """No request of the identity was denied by RBAC: the roles are enough for the scenario."""
    made = requests(audit_log, {username(subject)})
    assert made, "no request of this identity was audited"
    assert [r for r in made if not r.allowed] == []


def test_lease_is_used_by_name(audit_log: Path) -> None:
    """Every Lease read and write names the operator's Lease: the `resourceNames` rule suffices."""
    made = requests(audit_log, {username(OPERATOR)})
    leases = [r for r in made if r.resource == "leases"]
    assert {r.verb for r in leases} == {"get", "create", "update"}
    assert {r.name for r in leases if r.verb != "create"} == {"statuspage-operator"}
