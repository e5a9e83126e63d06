"""Alertmanager's webhook payload (version 4), parsed with bounds into a domain Notification.

Everything here comes from the network, so every part is bounded: labels (what matchers read)
are refused beyond their bounds rather than cut, since a cut value could match what the whole
would not; the texts only shown (summary, URLs) are cut or dropped; alerts beyond `max_alerts`
are not parsed one by one but counted as truncated, as Alertmanager's own `max_alerts` does.
The body's size is bounded before this (alerts/app.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from statuspage_operator.domain.alertgroups import Alert, Notification

MAX_LABELS = 64
MAX_LABEL_NAME = 256
MAX_LABEL_VALUE = 4096
MAX_GROUP_KEY = 8192
MAX_SUMMARY = 1024
MAX_URL = 2048
MAX_FINGERPRINT = 64
MAX_SEVERITY = 63
# Alerts parsed per notification; beyond, they count as truncated (docs/operations.md).
MAX_ALERTS = 2000
# JSON objects and arrays per alert read: an alert has three objects (itself, labels,
# annotations). Counted before parsing: 8 MiB of `{},` would take some 200 MB as Python objects.
CONTAINERS_PER_ALERT = 16
# Go's zero time, which Alertmanager sends as the endsAt of an alert with no end.
_YEAR_ZERO = 1


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook notification we accept."""


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("must be an object of strings")
    if len(value) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(text, str):
            raise ValueError(f"label {str(name)[:64]!r} is not a string")
        if len(name) > MAX_LABEL_NAME or len(text) > MAX_LABEL_VALUE:
            raise ValueError(
                f"a label name is at most {MAX_LABEL_NAME} characters, a value {MAX_LABEL_VALUE}"
            )
        out[name] = text
    return out


def _shown(value: Any, limit: int) -> str:
    """A text only shown: cut to its bound."""
    return value[:limit] if isinstance(value, str) else ""


def _url(value: Any) -> str:
    """A link: dropped when too long (a cut link is a broken one) or not http(s)."""
    if not isinstance(value, str) or len(value) > MAX_URL:
        return ""
    return value if value.startswith(("http://", "https://")) else ""


def _summary_only(value: Any) -> dict[str, str]:
    # Only the summary is ever shown; the other annotations are not kept at all.
    if not isinstance(value, Mapping) or "summary" not in value:
        return {}
    return {"summary": _shown(value.get("summary"), MAX_SUMMARY)}


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("must be an RFC 3339 time")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("must carry a time zone")
    return None if parsed.year == _YEAR_ZERO else parsed.astimezone(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AlertPayload(_Model):
    """One alert of the notification."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime | None = None  # noqa: N815 (the wire name)
    endsAt: datetime | None = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = ""

    @field_validator("labels", mode="before")
    @classmethod
    def _bounded_labels(cls, value: Any) -> dict[str, str]:
        return _labels(value)

    @field_validator("annotations", mode="before")
    @classmethod
    def _only_summary(cls, value: Any) -> dict[str, str]:
        return _summary_only(value)

    @field_validator("startsAt", "endsAt", mode="before")
    @classmethod
    def _times(cls, value: Any) -> datetime | None:
        return _time(value)

    @field_validator("generatorURL", mode="before")
    @classmethod
    def _link(cls, value: Any) -> str:
        return _url(value)

    @field_validator("fingerprint", mode="before")
    @classmethod
    def _fingerprint(cls, value: Any) -> str:
        return _shown(value, MAX_FINGERPRINT)

    def to_domain(self) -> Alert:
        """As the fold takes it (the severity label bounded as status.alerts stores it)."""
        labels = dict(self.labels)
        if "severity" in labels:
            labels["severity"] = labels["severity"][:MAX_SEVERITY]
        return Alert(
            status=self.status,
            labels=labels,
            annotations=self.annotations,
            starts_at=self.startsAt,
            ends_at=self.endsAt,
            generator_url=self.generatorURL,
            fingerprint=self.fingerprint,
        )


class WebhookPayload(_Model):
    """Alertmanager's webhook notification, version 4."""

    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=MAX_GROUP_KEY)  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    externalURL: str = ""  # noqa: N815
    truncatedAlerts: int = Field(default=0, ge=0, le=10_000_000)  # noqa: N815
    alerts: list[AlertPayload] = Field(default_factory=list)

    @field_validator("receiver", mode="before")
    @classmethod
    def _receiver(cls, value: Any) -> str:
        return _shown(value, 256)

    @field_validator("groupLabels", "commonLabels", mode="before")
    @classmethod
    def _bounded_labels(cls, value: Any) -> dict[str, str]:
        return _labels(value)

    @field_validator("commonAnnotations", mode="before")
    @classmethod
    def _only_summary(cls, value: Any) -> dict[str, str]:
        return _summary_only(value)

    @field_validator("externalURL", mode="before")
    @classmethod
    def _link(cls, value: Any) -> str:
        return _url(value)

    def to_domain(self, extra_truncated: int = 0) -> Notification:
        """As the fold takes it."""
        return Notification(
            group_key=self.groupKey,
            status=self.status,
            alerts=tuple(a.to_domain() for a in self.alerts),
            group_labels=self.groupLabels,
            common_labels=self.commonLabels,
            common_annotations=self.commonAnnotations,
            external_url=self.externalURL,
            truncated=self.truncatedAlerts + extra_truncated,
        )


def _error_text(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[:3]
    parts = []
    for item in first:
        where = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else item.get("msg", ""))
    more = error.error_count() - len(first)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse_notification(body: bytes, max_alerts: int = MAX_ALERTS) -> Notification:
    """The notification in a request body; raise PayloadError saying what is wrong."""
    containers = body.count(b"{") + body.count(b"[")
    if containers > CONTAINERS_PER_ALERT * max_alerts + 64:
        raise PayloadError(
            f"{containers} JSON objects and arrays: too many for {max_alerts} alerts"
        )
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError(f"not JSON: {str(error)[:200]}") from None
    except RecursionError:
        raise PayloadError("nested too deep") from None
    if not isinstance(raw, dict):
        raise PayloadError("not a JSON object")
    alerts = raw.get("alerts")
    extra = 0
    if isinstance(alerts, list) and len(alerts) > max_alerts:
        # Counted as Alertmanager's truncatedAlerts are, but only those said to be firing.
        extra = sum(
            1 for a in alerts[max_alerts:] if isinstance(a, dict) and a.get("status") == "firing"
        )
        raw["alerts"] = alerts[:max_alerts]
    try:
        payload = WebhookPayload.model_validate(raw)
    except ValidationError as error:
        raise PayloadError(_error_text(error)) from None
    except ValueError as error:
        raise PayloadError(str(error)[:300]) from None
    # A resolved group has nothing more to count: its truncated alerts are resolved too.
    return payload.to_domain(extra)
