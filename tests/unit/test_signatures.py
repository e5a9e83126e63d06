"""Standard Webhooks signatures, verified by the `standardwebhooks` library a receiver would use;
the signing Secret's keys; and the headers of deliveries, retries included."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from statuspage_operator.api.names import Kind
from statuspage_operator.api.webhook import signing_keys, standard_headers
from unit.fake_time import eventually
from unit.test_notifier import CONSENT, INCIDENT, NS, incident_notices, make_harness, url

NEW = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD = "whsec_" + base64.b64encode(bytes(range(100, 124))).decode()
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()
PAYLOAD = b'{"meta":{"event":"incident.created"}}'


def now() -> int:
    # The library judges a timestamp against its own wall clock; so must the signer here.
    return int(time.time())


def test_a_receiver_verifies_with_either_key_during_a_rotation() -> None:
    """Two keys, two signatures: a receiver holding the old or the new key accepts."""
    headers = standard_headers("key-1", now(), PAYLOAD, signing_keys(f"{NEW}\n{OLD}".encode()))
    assert headers["webhook-id"] == "key-1"
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(NEW).verify(PAYLOAD, headers) == {"meta": {"event": "incident.created"}}
    assert Webhook(OLD).verify(PAYLOAD, headers) == {"meta": {"event": "incident.created"}}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(OTHER).verify(PAYLOAD, headers)


def test_a_changed_body_or_id_does_not_verify() -> None:
    """The signature covers id, timestamp and body."""
    headers = standard_headers("key-1", now(), PAYLOAD, signing_keys(NEW.encode()))
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(PAYLOAD + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(PAYLOAD, {**headers, "webhook-id": "key-2"})


def test_a_signature_older_than_the_tolerance_is_rejected() -> None:
    """Correctly signed ten minutes ago: rejected for its age (the replay window is bounded)."""
    headers = standard_headers("key-1", now() - 600, PAYLOAD, signing_keys(NEW.encode()))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(NEW).verify(PAYLOAD, headers)


def test_without_keys_there_is_no_signature_header() -> None:
    """No signing Secret: id and timestamp only."""
    headers = standard_headers("key-1", 1_700_000_000, PAYLOAD, [])
    assert headers == {"webhook-id": "key-1", "webhook-timestamp": "1700000000"}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        pytest.param(b"s3cr3t", "key 1 does not start with whsec_", id="raw"),
        pytest.param(
            f"{NEW} whsec_!!".encode(), "key 2 is not whsec_ followed by base64", id="b64"
        ),
        pytest.param(b"whsec_" + base64.b64encode(b"short"), "24 to 64 bytes", id="short"),
        pytest.param(b"  \n", "no key", id="empty"),
    ],
)
def test_bad_signing_keys_say_what_is_wrong_without_showing_them(value: bytes, says: str) -> None:
    """A key that is not whsec_<base64> of 24-64 bytes is refused; the message never shows it."""
    with pytest.raises(ValueError, match=says) as error:
        signing_keys(value)
    assert NEW not in str(error.value)


def test_a_retry_carries_the_same_webhook_id_and_a_fresh_signature() -> None:
    """The delivery key is the webhook-id of every attempt (a receiver deduplicates by it)."""

    async def scenario() -> list[dict[str, str]]:
        h = make_harness()
        h.api.add_secret(NS, "signing", {"key": NEW}, CONSENT)
        h.channels.failing.add(url("hook"))
        await h.subscribe("hook", signingSecretRef={"name": "signing", "key": "key"})
        h.notifier.offer(Kind.INCIDENT, INCIDENT, incident_notices()[:1])
        await eventually(lambda: h.ready("hook").get("reason") == "DeliveryFailed")
        return h.channels.tried

    tried = asyncio.run(scenario())
    assert len(tried) == 3
    assert len({headers["webhook-id"] for headers in tried}) == 1
    assert tried[0]["webhook-id"] == tried[0]["Idempotency-Key"]
    assert all(headers["webhook-signature"].startswith("v1,") for headers in tried)


@pytest.mark.parametrize(
    ("value", "signature", "reason", "says"),
    [
        pytest.param(None, None, "SecretNotFound", "(spec.signingSecretRef)", id="missing"),
        pytest.param("s3cr3t", None, "InvalidDestination", "key 1 does not start", id="raw"),
        pytest.param("s3cr3t", "Legacy", None, "", id="raw-legacy"),
        pytest.param(f"{NEW} {OLD}", None, None, "", id="rotation"),
    ],
)
def test_the_signing_secret_is_checked_with_the_subscriber(
    value: str | None, signature: str | None, reason: str | None, says: str
) -> None:
    """A Subscriber that cannot sign says so at once (never the key), not at its first news."""

    async def scenario() -> dict[str, object]:
        h = make_harness()
        if value is not None:
            h.api.add_secret(NS, "signing", {"key": value}, CONSENT)
        spec: dict[str, Any] = {"signingSecretRef": {"name": "signing", "key": "key"}}
        if signature is not None:
            spec["signature"] = signature
        await h.subscribe("hook", **spec)
        return h.ready("hook")

    ready = asyncio.run(scenario())
    if reason is None:
        assert ready["status"] == "True"
        return
    assert (ready["status"], ready["reason"]) == ("False", reason)
    assert says in str(ready["message"])
    assert "s3cr3t" not in str(ready["message"])
