"""What the receiver accepts from the network: the payload's bounds, credentials, the rate."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from statuspage_operator.alerts.auth import authorized, credentials_of
from statuspage_operator.alerts.payload import (
    MAX_LABELS,
    MAX_SUMMARY,
    PayloadError,
    parse_notification,
)
from statuspage_operator.alerts.ratelimit import RateLimiter
from unit.alerts_fakes import make_secret


def payload(*alerts: dict[str, Any], **fields: Any) -> bytes:
    body = {"version": "4", "groupKey": "g", "status": "firing", "alerts": list(alerts)}
    return json.dumps({**body, **fields}).encode()


def alert(**fields: Any) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "A"}, **fields}


def test_go_times_are_read_and_the_zero_time_is_none() -> None:
    """Nanoseconds and Go's zero time (no end) parse."""
    body = payload(alert(startsAt="2026-12-03T11:50:00.123456789Z", endsAt="0001-01-01T00:00:00Z"))
    [parsed] = parse_notification(body).alerts
    assert parsed.starts_at is not None
    assert parsed.starts_at.isoformat() == "2026-12-03T11:50:00.123456+00:00"
    assert parsed.ends_at is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"[]", "not a JSON object", id="not-an-object"),
        pytest.param(b"\xff", "not JSON", id="not-utf8"),
        pytest.param(payload(version="3"), "version", id="version-3"),
        pytest.param(payload(groupKey=""), "groupKey", id="empty-group-key"),
        pytest.param(payload(status="pending"), "status", id="unknown-status"),
        pytest.param(
            payload(alert(labels={f"l{i}": "v" for i in range(MAX_LABELS + 1)})),
            "labels",
            id="too-many-labels",
        ),
        pytest.param(payload(alert(labels={"a": "v" * 5000})), "labels", id="label-too-long"),
        pytest.param(payload(alert(labels={"a": 1})), "labels", id="label-not-a-string"),
        pytest.param(payload(alert(startsAt="yesterday")), "startsAt", id="bad-time"),
        pytest.param(payload(truncatedAlerts=-1), "truncatedAlerts", id="negative-truncated"),
    ],
)
def test_malformed_payloads_are_refused_with_the_field(body: bytes, reason: str) -> None:
    """Each refusal names what is wrong."""
    with pytest.raises(PayloadError, match=reason):
        parse_notification(body)


def test_a_body_of_empty_objects_is_refused_before_parsing() -> None:
    """Thousands of `{}` (cheap to send, costly to hold) or deep nesting: refused, not parsed."""
    spam = b'{"version": "4", "alerts": [' + b"{}," * 40_000 + b"{}]}"
    with pytest.raises(PayloadError, match="too many"):
        parse_notification(spam)
    deep = b"[" * 5000 + b"]" * 5000
    with pytest.raises(PayloadError, match="nested too deep"):
        parse_notification(deep)


def test_shown_texts_are_cut_and_other_annotations_dropped() -> None:
    """A long summary is cut; a description is not kept; a non-http link is dropped."""
    body = payload(
        alert(
            annotations={"summary": "s" * 5000, "description": "secret runbook"},
            generatorURL="javascript:alert(1)",
        )
    )
    [parsed] = parse_notification(body).alerts
    assert parsed.annotations == {"summary": "s" * MAX_SUMMARY}
    assert parsed.generator_url == ""


def test_alerts_beyond_max_alerts_are_counted_as_truncated() -> None:
    """Five alerts, three read: the two firing ones beyond count as truncated."""
    alerts = [alert(), alert(), alert(), alert(), alert(status="resolved")]
    parsed = parse_notification(payload(*alerts, truncatedAlerts=4), max_alerts=3)
    assert len(parsed.alerts) == 3
    assert parsed.truncated == 4 + 1


SECRET_TOKEN = make_secret(token="tok\n")
SECRET_BASIC = make_secret(username="am", password="pw")


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("secret", "header", "allowed"),
    [
        pytest.param(SECRET_TOKEN, "Bearer tok", True, id="bearer"),
        pytest.param(SECRET_TOKEN, "bearer  tok ", True, id="bearer-any-case"),
        pytest.param(SECRET_TOKEN, "Bearer tok2", False, id="bearer-wrong"),
        pytest.param(SECRET_TOKEN, "Bearer ", False, id="bearer-empty"),
        pytest.param(SECRET_TOKEN, None, False, id="no-header"),
        pytest.param(SECRET_TOKEN, basic("x:tok"), False, id="basic-against-a-token"),
        pytest.param(SECRET_BASIC, basic("am:pw"), True, id="basic"),
        pytest.param(SECRET_BASIC, basic("am:px"), False, id="basic-wrong-password"),
        pytest.param(SECRET_BASIC, basic("xx:pw"), False, id="basic-wrong-user"),
        pytest.param(SECRET_BASIC, "Basic !!!", False, id="basic-not-base64"),
        pytest.param(SECRET_BASIC, "Bearer pw", False, id="bearer-against-basic"),
        pytest.param(make_secret(False, token="tok"), "Bearer tok", False, id="unlabelled"),
        pytest.param(make_secret(token=""), "Bearer ", False, id="empty-token"),
        pytest.param(make_secret(username="am"), basic("am:"), False, id="no-password"),
        pytest.param(None, "Bearer tok", False, id="no-secret"),
    ],
)
def test_authorization(secret: dict[str, Any] | None, header: str | None, allowed: bool) -> None:
    """Only the labelled Secret's own credentials pass."""
    assert authorized(header, credentials_of(secret)) is allowed


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_is_a_token_bucket_per_page() -> None:
    """A burst of 3, then one every 2 s; another page has its own bucket."""
    clock = Clock()
    limiter = RateLimiter(0.5, 3, clock)
    page, other = ("team", "a"), ("team", "b")
    assert [limiter.take(page) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(page) == pytest.approx(2.0)
    assert limiter.take(other) == 0.0
    clock.now = 2.0
    assert limiter.take(page) == 0.0
    assert limiter.retry_after(0.1) == "1"
