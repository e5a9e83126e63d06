"""Egress end to end: what the operator refuses to send to (by its category, never inferred from
a failed lookup: there is no cluster DNS here), what it delivers to an allowed receiver, and
Standard Webhooks signatures checked by the `standardwebhooks` library in the receiver.

The suite's operator allows 127.0.0.0/8 and ::1 (conftest.py), as an in-cluster receiver would be
allowed; one test runs the default configuration and shows loopback refused. No test sends a
packet to a refused address: refusals happen before any connection.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks import webhooks as standard
from standardwebhooks.webhooks import WebhookVerificationError

from e2e.conftest import EGRESS_ALLOW_LOOPBACK, OperatorProcess
from e2e.kube import Kube, condition, wait_for
from e2e.objects import make_incident
from e2e.test_notifications import Receiver, hook_to, secret, setup_page, subscriber

NEW_KEY = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD_KEY = "whsec_" + base64.b64encode(bytes(range(64, 96))).decode()


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    """A webhook receiver on loopback."""
    running = Receiver()
    running.start()
    return running


QUICK = ["--notify-retry-base=0.2"]


def _restart(operator: OperatorProcess, egress: list[str], extra: list[str]) -> None:
    operator.stop()
    operator.egress_args = egress
    operator.extra_args = extra
    operator.start()


@pytest.fixture(scope="module")
def quick(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The suite's operator (loopback allowed) with quick retries (0.2 s, 0.4 s)."""
    _restart(operator, list(EGRESS_ALLOW_LOOPBACK), QUICK)
    yield operator
    _restart(operator, list(EGRESS_ALLOW_LOOPBACK), [])


def ready(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return condition(kube.status("subscriber", name, namespace), "Ready")


def wait_reason(kube: Kube, namespace: str, name: str, reason: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = ready(kube, namespace, name)
        return found if found.get("reason") == reason else None

    result: dict[str, Any] = wait_for(reached, 20, what=f"{name} {reason}")
    return result


def incident(kube: Kube, namespace: str) -> None:
    updates = [{"status": "Investigating", "message": "Errors."}]
    kube.apply(namespace, make_incident("boom", [{"name": "api"}], updates=updates))


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize(
    "url",
    [
        pytest.param("json://169.254.169.254/latest/meta-data/", id="link-local"),
        pytest.param("jsons://kubernetes.default.svc/api", id="svc"),
        pytest.param("json://hook.monitoring.svc.cluster.local:8080/x", id="svc-fqdn"),
        pytest.param("json://[fe80::1]/x", id="link-local-v6"),
    ],
)
def test_internal_destinations_are_refused_by_policy(
    kube: Kube, namespace: str, receiver: Receiver, url: str
) -> None:
    """Refused by the guard before any connection: the condition and Event say so; an allowed
    receiver of the same page keeps receiving."""
    setup_page(
        kube,
        namespace,
        secret("inside", url=url),
        secret("good", url=hook_to(receiver, namespace, "good")),
        subscriber("inside", "inside"),
        subscriber("good", "good"),
    )
    refused = wait_reason(kube, namespace, "inside", "InvalidDestination")
    assert "refused by policy" in refused["message"]
    for part in ("169.254", "kubernetes", "monitoring", "fe80"):
        assert part not in refused["message"]
    warnings = [e for e in kube.events(namespace, "inside") if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["InvalidDestination"]
    assert "refused by policy" in warnings[0]["message"]
    incident(kube, namespace)
    wait_for(lambda: receiver.events(f"/{namespace}/good") == ["incident.created"], 10, what="good")


@pytest.mark.usefixtures("quick")
def test_a_redirect_is_not_followed_by_a_webhook_and_refused_for_apprise(
    kube: Kube, namespace: str, receiver: Receiver
) -> None:
    """An allowed receiver redirects to `localhost`: json:// does not follow (3xx), form://
    (Apprise, pinned) is refused by policy; nothing lands."""
    port = receiver.port
    setup_page(
        kube,
        namespace,
        secret("json", url=f"json://127.0.0.1:{port}/redirect/{namespace}/json"),
        secret("form", url=f"form://127.0.0.1:{port}/redirect/{namespace}/form"),
        subscriber("json", "json"),
        subscriber("form", "form"),
    )
    wait_for(lambda: ready(kube, namespace, "json").get("status") == "True", what="json Ready")
    wait_for(lambda: ready(kube, namespace, "form").get("status") == "True", what="form Ready")
    incident(kube, namespace)
    webhook = wait_reason(kube, namespace, "json", "DeliveryFailed")
    assert webhook["message"].endswith(": 3xx: redirects are not followed")
    apprise = wait_reason(kube, namespace, "form", "DeliveryFailed")
    assert apprise["message"].endswith(": refused by policy")
    assert str(port) not in webhook["message"] + apprise["message"]
    assert [h.path for h in receiver.hooks if h.path.startswith("/landing")] == []
    assert [e["reason"] for e in kube.events(namespace, "json") if e["type"] == "Warning"] == [
        "DeliveryFailed"
    ]


def _verified(receiver: Receiver, path: str, key: str) -> list[Any]:
    return [Webhook(key).verify(h.raw, h.headers) for h in receiver.to(path)]


@pytest.mark.usefixtures("quick")
def test_standard_webhooks_are_verified_by_the_library_and_a_late_replay_is_not(
    kube: Kube, namespace: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default signature: a receiver holding either key of a rotation verifies; the same
    genuine request replayed after the tolerance is rejected for its age."""
    setup_page(
        kube,
        namespace,
        secret("hook", url=hook_to(receiver, namespace, "hook"), signing=f"{NEW_KEY}\n{OLD_KEY}"),
        subscriber("hook", "hook", signingSecretRef={"name": "hook", "key": "signing"}),
    )
    wait_for(lambda: ready(kube, namespace, "hook").get("status") == "True", what="hook Ready")
    incident(kube, namespace)
    path = f"/{namespace}/hook"
    wait_for(lambda: receiver.events(path) == ["incident.created"], 10, what="the webhook")
    [hook] = receiver.to(path)
    assert hook.headers["webhook-id"] == hook.headers["Idempotency-Key"]
    assert abs(int(hook.headers["webhook-timestamp"]) - time.time()) < 30
    assert "X-Statuspage-Signature" not in hook.headers
    for key in (NEW_KEY, OLD_KEY):
        [body] = _verified(receiver, path, key)
        assert body["meta"]["event"] == "incident.created"
    # The receiver's clock, ten minutes on: the same bytes and headers, correctly signed, are
    # too old to be trusted.
    later = datetime.now(tz=UTC) + timedelta(minutes=10)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Later:
            return cls.fromtimestamp(later.timestamp(), tz)

    monkeypatch.setattr(standard, "datetime", Later)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(NEW_KEY).verify(hook.raw, hook.headers)


def test_the_default_configuration_refuses_loopback(
    kube: Kube, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    """Without --egress-allow, a receiver on the operator's own loopback gets nothing: the
    Subscriber says refused by policy, with a Warning Event."""
    _restart(operator, [], QUICK)
    try:
        setup_page(
            kube,
            namespace,
            secret("hook", url=hook_to(receiver, namespace, "hook")),
            secret("local", url=f"json://localhost:{receiver.port}/{namespace}/local"),
            subscriber("hook", "hook"),
            subscriber("local", "local"),
        )
        for name in ("hook", "local"):
            refused = wait_reason(kube, namespace, name, "InvalidDestination")
            assert "refused by policy" in refused["message"]
            assert str(receiver.port) not in refused["message"]
            warnings = [e for e in kube.events(namespace, name) if e["type"] == "Warning"]
            assert [e["reason"] for e in warnings] == ["InvalidDestination"]
        incident(kube, namespace)
        time.sleep(3)
        assert [h for h in receiver.hooks if namespace in h.path] == []
    finally:
        _restart(operator, list(EGRESS_ALLOW_LOOPBACK), [])
