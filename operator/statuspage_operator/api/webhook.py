"""What a subscriber receives: a short text for people (any Apprise channel), and a
Statuspage-compatible webhook body for `json://`/`jsons://` destinations, signed.

Signatures (`spec.signature`): `StandardWebhooks` (the default; www.standardwebhooks.com) sends
`webhook-id` (the delivery key, the same on every retry), `webhook-timestamp` (the attempt's Unix
time) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each key of
the signing Secret (`whsec_<base64>` keys separated by white space: several during a rotation).
`Legacy` sends `X-Statuspage-Signature: sha256=<hex HMAC-SHA256 of the body>` (replayable: the
body alone is signed).

The text is read on a phone: a title saying what happened to what, then when (in the page's time
zone), the affected components, the update's message and a link to the page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from statuspage_operator.api.times import format_time
from statuspage_operator.domain.notifications import NotificationEvent
from statuspage_operator.domain.zones import zone_of

KEY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Statuspage-Event"
SIGNATURE_HEADER = "X-Statuspage-Signature"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
KEY_PREFIX = "whsec_"
# The Standard Webhooks spec asks for keys of 24 to 64 random bytes.
KEY_BYTES = (24, 64)


class Signature(StrEnum):
    """How webhook requests are signed (Subscriber spec.signature)."""

    STANDARD_WEBHOOKS = "StandardWebhooks"
    LEGACY = "Legacy"


@dataclass(frozen=True, slots=True)
class News:
    """One piece of news for subscribers, with everything its text and webhook body show."""

    event: NotificationEvent
    page: str
    page_title: str
    time_zone: str
    page_url: str | None
    object_uid: str
    name: str
    title: str
    at: datetime
    components: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None
    old_status: str | None = None
    message: str | None = None
    impact: str | None = None
    description: str | None = None


_HEADLINE = {
    NotificationEvent.MAINTENANCE_SCHEDULED: "Maintenance scheduled",
    NotificationEvent.MAINTENANCE_REMINDER: "Maintenance soon",
    NotificationEvent.MAINTENANCE_STARTED: "Maintenance started",
    NotificationEvent.MAINTENANCE_COMPLETED: "Maintenance completed",
    NotificationEvent.MAINTENANCE_CANCELLED: "Maintenance cancelled",
    NotificationEvent.INCIDENT_CREATED: "Incident",
    NotificationEvent.INCIDENT_UPDATED: "Incident update",
    NotificationEvent.INCIDENT_RESOLVED: "Resolved",
    NotificationEvent.COMPONENT_STATUS_CHANGED: "Component status",
}


def local(instant: datetime, zone: str) -> str:
    """`2026-12-05 23:00 CET` in the page's time zone."""
    return instant.astimezone(zone_of(zone) or UTC).strftime("%Y-%m-%d %H:%M %Z")


def _span(news: News) -> str:
    assert news.start is not None
    start = local(news.start, news.time_zone)
    if news.end is None:
        return start
    end = local(news.end, news.time_zone)
    if end[:10] == start[:10]:
        end = end[11:]
    return f"{start} to {end}"


def _split_words(status: str) -> str:
    return "".join(f" {c}" if c.isupper() and i else c for i, c in enumerate(status))


def render_text(news: News) -> tuple[str, str]:
    """(title, body) of the message people read."""
    event = news.event
    title = f"[{news.page_title}] {_HEADLINE[event]}: {news.title}"
    if event in (NotificationEvent.INCIDENT_CREATED, NotificationEvent.INCIDENT_UPDATED):
        title = f"[{news.page_title}] {news.status or 'Update'}: {news.title}"
    lines: list[str] = []
    if news.message:
        lines.append(news.message)
    if news.start is not None:
        lines.append(f"When: {_span(news)} ({news.time_zone})")
    elif event is NotificationEvent.COMPONENT_STATUS_CHANGED:
        old = _split_words(news.old_status or "unknown")
        new = _split_words(news.status or "unknown")
        lines.append(f"{news.title}: {old} -> {new}")
        lines.append(f"At: {local(news.at, news.time_zone)}")
    else:
        lines.append(f"At: {local(news.at, news.time_zone)}")
    if news.impact and event in (
        NotificationEvent.INCIDENT_CREATED,
        NotificationEvent.INCIDENT_UPDATED,
    ):
        lines.append(f"Impact: {news.impact}")
    if news.components and event is not NotificationEvent.COMPONENT_STATUS_CHANGED:
        lines.append(f"Affects: {', '.join(news.components)}")
    if news.description and not news.message:
        lines.append(news.description)
    if news.page_url:
        lines.append(news.page_url)
    return title, "\n".join(lines)


def _snake(value: str | None) -> str | None:
    if value is None:
        return None
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(value))


_MAINTENANCE_STATUS = {
    NotificationEvent.MAINTENANCE_SCHEDULED: "scheduled",
    NotificationEvent.MAINTENANCE_REMINDER: "scheduled",
    NotificationEvent.MAINTENANCE_STARTED: "in_progress",
    NotificationEvent.MAINTENANCE_COMPLETED: "completed",
    NotificationEvent.MAINTENANCE_CANCELLED: "completed",
}


def render_webhook(news: News, key: str) -> dict[str, Any]:
    """Statuspage's webhook body (`page` plus `incident` or `component_update`), with `meta`
    saying which event it is and its delivery key."""
    title, text = render_text(news)
    body: dict[str, Any] = {
        "meta": {"event": str(news.event), "delivery": key, "title": title, "text": text},
        "page": {"id": news.page, "name": news.page_title, "url": news.page_url},
    }
    stamp = format_time(news.at)
    if news.event is NotificationEvent.COMPONENT_STATUS_CHANGED:
        body["component_update"] = {
            "created_at": stamp,
            "new_status": _snake(news.status),
            "old_status": _snake(news.old_status),
            "id": key,
            "component_id": news.object_uid,
        }
        body["component"] = {
            "id": news.object_uid,
            "name": news.title,
            "status": _snake(news.status),
            "updated_at": stamp,
        }
        return body
    maintenance = news.event in _MAINTENANCE_STATUS
    status = _MAINTENANCE_STATUS[news.event] if maintenance else _snake(news.status)
    incident: dict[str, Any] = {
        "id": news.object_uid,
        "name": news.title,
        "status": status,
        "impact": "maintenance" if maintenance else _snake(news.impact) or "none",
        "updated_at": stamp,
        "shortlink": news.page_url,
        "components": [{"name": name} for name in news.components],
        "incident_updates": [
            {
                "id": key,
                "incident_id": news.object_uid,
                "status": status,
                "body": news.message or text,
                "created_at": stamp,
            }
        ],
    }
    if news.start is not None:
        incident["scheduled_for"] = format_time(news.start)
    if news.end is not None:
        incident["scheduled_until"] = format_time(news.end)
    body["incident"] = incident
    return body


def encode(body: dict[str, Any]) -> bytes:
    """The request body exactly as sent (and signed)."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def sign(payload: bytes, secret: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the body with the signing secret."""
    return "sha256=" + hmac.new(secret, payload, hashlib.sha256).hexdigest()


def signing_keys(value: bytes) -> list[bytes]:
    """The Standard Webhooks keys of a signing Secret's value (`whsec_<base64>`, separated by
    white space); ValueError saying what is wrong (never showing a key)."""
    keys = []
    for number, word in enumerate(value.decode("ascii", "replace").split(), start=1):
        if not word.startswith(KEY_PREFIX):
            raise ValueError(f"key {number} does not start with {KEY_PREFIX}")
        try:
            key = base64.b64decode(word.removeprefix(KEY_PREFIX), validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"key {number} is not {KEY_PREFIX} followed by base64") from error
        if not KEY_BYTES[0] <= len(key) <= KEY_BYTES[1]:
            raise ValueError(f"key {number} is not {KEY_BYTES[0]} to {KEY_BYTES[1]} bytes long")
        keys.append(key)
    if not keys:
        raise ValueError(f"no key; write one or more {KEY_PREFIX}<base64> keys")
    return keys


def standard_headers(
    message_id: str, timestamp: int, payload: bytes, keys: list[bytes]
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and, with keys, `webhook-signature` (one `v1,<base64>`
    per key, separated by spaces)."""
    headers = {ID_HEADER: message_id, TIMESTAMP_HEADER: str(timestamp)}
    signed = f"{message_id}.{timestamp}.".encode() + payload
    signatures = [
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    ]
    if signatures:
        headers[STANDARD_SIGNATURE_HEADER] = " ".join(signatures)
    return headers
