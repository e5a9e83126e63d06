"""How the specs ask alerts to move a component: the rules every reader applies to `status.alerts`.

The page says whether it receives alerts at all (`spec.alerts.receiverSecretRef`) and when a
group Alertmanager stopped repeating is forgotten (`expireAfter`); the component says which
alerts concern it (`spec.alerts.matchers`, checked here so that a matcher that does not parse
makes the component InvalidSpec for every reader alike), what each severity gives and whether
its automation is paused. The operator (control/view.py) and the tolerant readers
(api/objects.py) both build the derivation's `ComponentInput` through `component_input`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from statuspage_operator.api.specs import ComponentSpec, PageAlertsSpec, parse, parse_duration
from statuspage_operator.domain.alerting import (
    DEFAULT_SEVERITIES,
    AlertRules,
    ComponentAlerts,
)
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.matchers import parse_matchers
from statuspage_operator.domain.page import ComponentInput

DEFAULT_EXPIRE_AFTER = timedelta(hours=6)
# Longer would keep a lost resolve for a month; and far longer would overflow a time.
MAX_DURATION = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class PageAlerts:
    """What a page says of its components' alerts."""

    receiving: bool = False
    expire_after: timedelta = DEFAULT_EXPIRE_AFTER


NOT_RECEIVING = PageAlerts()


def _bounded(field: str, text: str) -> timedelta:
    try:
        duration = parse_duration(field, text)
    except OverflowError:
        duration = MAX_DURATION + MAX_DURATION
    if duration is None or duration > MAX_DURATION:
        raise InvalidSpecError(field, f"at most {MAX_DURATION.days * 24}h")
    return duration


def page_alerts(spec: PageAlertsSpec | None) -> PageAlerts:
    """The page's alert settings; raise InvalidSpecError for a duration that cannot work."""
    if spec is None:
        return NOT_RECEIVING
    expire = _bounded("spec.alerts.expireAfter", spec.expire_after)
    _bounded("spec.alerts.hold", spec.hold)
    if not expire:
        raise InvalidSpecError("spec.alerts.expireAfter", "must be longer than 0s")
    return PageAlerts(spec.receiver_secret_ref is not None, expire)


def page_alerts_of(raw_spec: Any) -> PageAlerts:
    """A page's alert settings as a tolerant reader sees them: unusable ones receive nothing,
    as the operator then reports the page InvalidSpec and moves no component by alerts."""
    alerts = raw_spec.get("alerts") if isinstance(raw_spec, Mapping) else None
    if not isinstance(alerts, Mapping):
        return NOT_RECEIVING
    try:
        return page_alerts(parse(PageAlertsSpec, dict(alerts)))
    except InvalidSpecError:
        return NOT_RECEIVING


def parse_component(raw_spec: Mapping[str, Any] | None) -> ComponentSpec:
    """A Component's spec, its matchers included; raise InvalidSpecError naming the bad field."""
    spec = parse(ComponentSpec, dict(raw_spec or {}))
    if spec.alerts is not None:
        if not spec.alerts.matchers:
            raise InvalidSpecError("spec.alerts.matchers", "at least one matcher is required")
        parse_matchers("spec.alerts.matchers", spec.alerts.matchers)
    return spec


def component_input(
    name: str, spec: ComponentSpec, alerts: ComponentAlerts, page: PageAlerts | None
) -> ComponentInput:
    """What the derivation takes of a component (`page` None: its page is missing)."""
    settings = spec.alerts
    if settings is None:
        return ComponentInput(name, spec.manual_status)
    page = page or NOT_RECEIVING
    severities = DEFAULT_SEVERITIES if settings.severities is None else settings.severities
    return ComponentInput(
        name,
        spec.manual_status,
        alerts,
        AlertRules(page.expire_after, severities),
        settings.paused,
        page.receiving,
    )
