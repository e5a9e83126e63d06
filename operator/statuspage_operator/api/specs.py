"""Our kinds' specs: parsed at the boundary into typed values, errors with field paths.

The CRD schemas reject most bad input at admission; this is the second line, for what a schema
cannot say (a real time zone, an RRULE that parses) and for objects written before a schema change.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from statuspage_operator.api.webhook import Signature
from statuspage_operator.domain.audience import Audience
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import Impact, IncidentPhase, Update
from statuspage_operator.domain.maintenance import Window
from statuspage_operator.domain.notifications import DEFAULT_EVENTS, Interest, NotificationEvent
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.publication import Visibility
from statuspage_operator.domain.recurrence import compile_series
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.domain.zones import check_zone as check_zone


class _Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class AudienceSpec(_Spec):
    """One entry of StatusPage.spec.audiences."""

    name: str
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    components: tuple[str, ...] | None = None

    def audience(self) -> Audience:
        """As the domain rules take it."""
        components = None if self.components is None else frozenset(self.components)
        return Audience(self.name, frozenset(self.users), frozenset(self.groups), components)


class SecretNameRef(_Spec):
    """A Secret in the object's namespace, by name."""

    name: str


class PageAlertsSpec(_Spec):
    """StatusPage.spec.alerts: status from Alertmanager, for the page's components and windows."""

    receiver_secret_ref: SecretNameRef | None = None
    expire_after: str = "6h"
    hold: str = "5m"
    draft_incidents: bool = False
    silence_matchers: tuple[str, ...] = ()


class PageSubscriptionsSpec(_Spec):
    """StatusPage.spec.subscriptions: subscriptions by the public, through the page's form."""

    by_email: bool = False
    max_pending: int = Field(default=100, ge=1, le=1000)
    max_subscribers: int = Field(default=10000, ge=1, le=100000)


class PageSpec(_Spec):
    """StatusPage.spec."""

    title: str
    description: str | None = None
    time_zone: str = "UTC"
    url: str | None = None
    remind_before: str | None = None
    visibility: Visibility = Visibility.UNPUBLISHED
    audiences: tuple[AudienceSpec, ...] = ()
    alerts: PageAlertsSpec | None = None
    subscriptions: PageSubscriptionsSpec = PageSubscriptionsSpec()


class ComponentAlertsSpec(_Spec):
    """Component.spec.alerts: which alerts concern it and the status each severity gives."""

    matchers: tuple[str, ...]
    severities: dict[str, ComponentStatus] | None = None
    paused: bool = False
    draft_incidents: bool | None = None


class ComponentSpec(_Spec):
    """Component.spec."""

    page: str
    display_name: str | None = None
    description: str | None = None
    group: str | None = None
    position: int | None = None
    manual_status: ComponentStatus | None = None
    alerts: ComponentAlertsSpec | None = None


class RecurrenceSpec(_Spec):
    """MaintenanceWindow.spec.recurrence."""

    rrule: str
    time_zone: str = "UTC"


class WindowSpec(_Spec):
    """MaintenanceWindow.spec."""

    page: str
    title: str
    description: str | None = None
    components: tuple[str, ...] = ()
    start_time: AwareDatetime
    end_time: AwareDatetime
    recurrence: RecurrenceSpec | None = None
    auto_update_status: bool = True
    notify_subscribers: bool = False
    remind_before: str | None = None
    cancelled: bool = False
    silence_matchers: tuple[str, ...] | None = None


class AffectedComponent(_Spec):
    """One entry of StatusIncident.spec.components."""

    name: str
    status: ComponentStatus | None = None


class UpdateSpec(_Spec):
    """One entry of StatusIncident.spec.updates."""

    status: IncidentPhase
    message: str
    at: AwareDatetime | None = None


class IncidentSpec(_Spec):
    """StatusIncident.spec."""

    page: str
    title: str
    impact: Impact = Impact.MINOR
    components: tuple[AffectedComponent, ...] = ()
    incident_ref: str | None = None
    notify_subscribers: bool = True
    draft: bool = False
    updates: tuple[UpdateSpec, ...] = Field(default=())


class SecretKeyRef(_Spec):
    """A key of a Secret in the Subscriber's namespace."""

    name: str
    key: str


class Origin(StrEnum):
    """Who made a Subscriber: a cluster user, or a person through a page's form."""

    CLUSTER = "Cluster"
    PUBLIC = "Public"


class SubscriberSpec(_Spec):
    """Subscriber.spec: a URL (`url_secret_ref`) or a mailbox (`mailbox_secret_ref`)."""

    page: str
    origin: Origin = Origin.CLUSTER
    audience: str | None = None
    components: tuple[str, ...] | None = None
    events: tuple[NotificationEvent, ...] = tuple(sorted(DEFAULT_EVENTS))
    url_secret_ref: SecretKeyRef | None = None
    mailbox_secret_ref: SecretKeyRef | None = None
    signing_secret_ref: SecretKeyRef | None = None
    signature: Signature = Signature.STANDARD_WEBHOOKS

    @model_validator(mode="after")
    def _one_destination(self) -> SubscriberSpec:
        # The CRD says the same at admission; objects from before it are checked here.
        if (self.url_secret_ref is None) == (self.mailbox_secret_ref is None):
            raise ValueError("set exactly one of urlSecretRef and mailboxSecretRef")
        if self.origin is Origin.PUBLIC and self.mailbox_secret_ref is None:
            raise ValueError("origin Public needs mailboxSecretRef")
        return self

    def interest(self, since: datetime | None) -> Interest:
        """What the subscriber wants, as the domain rules take it."""
        components = None if self.components is None else frozenset(self.components)
        return Interest(frozenset(self.events), components, since)


SpecT = TypeVar("SpecT", bound=_Spec)


def _path(location: tuple[int | str, ...]) -> str:
    path = "spec"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse(model: type[SpecT], spec: dict[str, Any] | None) -> SpecT:
    """Validate a raw spec; raise InvalidSpecError naming the first bad field."""
    try:
        return model.model_validate(spec or {})
    except ValidationError as error:
        first = error.errors()[0]
        raise InvalidSpecError(_path(tuple(first["loc"])), first["msg"]) from error


def window_of(spec: WindowSpec) -> Window:
    """The domain window of a spec; raise InvalidSpecError if it can never work."""
    start: datetime = spec.start_time.astimezone(UTC)
    end: datetime = spec.end_time.astimezone(UTC)
    if end <= start:
        raise InvalidSpecError("spec.endTime", "must be later than spec.startTime")
    series = None
    if spec.recurrence is not None:
        series = compile_series(start, end, spec.recurrence.rrule, spec.recurrence.time_zone)
    return Window(first=Occurrence(start, end), cancelled=spec.cancelled, series=series)


_DURATION = re.compile(r"([0-9]+)(h|m|s)")
_UNIT = {"h": 3600, "m": 60, "s": 1}


def parse_duration(field: str, text: str | None) -> timedelta | None:
    """`1h30m` as a timedelta (None when unset); raise InvalidSpecError if it is not one."""
    if text is None:
        return None
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidSpecError(field, f"{text!r} is not a duration such as 1h, 30m or 1h30m")
    return timedelta(seconds=sum(int(n) * _UNIT[u] for n, u in parts))


def updates_of(spec: IncidentSpec) -> tuple[Update, ...]:
    """The incident's updates as domain values."""
    return tuple(Update(u.status, u.message, u.at) for u in spec.updates)
