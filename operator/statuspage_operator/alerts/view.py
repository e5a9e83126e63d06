"""What the receiver knows of the cluster: each page's alert settings and its components' matchers.

Fed by the server's watch (server/watch.py: list, then watch, re-list on 410), on the event loop
only. Specs are parsed once, when an object arrives, not per notification: a component's matchers
(RE2 programs) and severities, a page's receiver Secret, hold and expiry. A component whose
`spec.alerts` does not parse is kept without matchers: it is skipped (the operator reports it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from statuspage_operator.api.alerts import alerts_of
from statuspage_operator.api.names import Kind
from statuspage_operator.api.specs import (
    ComponentAlertsSpec,
    PageAlertsSpec,
    parse,
    parse_duration,
)
from statuspage_operator.domain.alerting import DEFAULT_SEVERITIES, ComponentAlerts
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.matchers import Matcher, parse_matchers
from statuspage_operator.domain.status import ComponentStatus

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class PageSettings:
    """A page's `spec.alerts`, as the receiver uses it."""

    secret: str
    hold: timedelta
    expire_after: timedelta


@dataclass(frozen=True, slots=True)
class Target:
    """A component of a page that takes alerts, as last seen."""

    namespace: str
    name: str
    page: str
    matchers: tuple[Matcher, ...]
    severities: Mapping[str, ComponentStatus]
    alerts: ComponentAlerts
    resource_version: str


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def key_of(obj: Mapping[str, Any]) -> Key:
    """(namespace, name) of an object."""
    metadata = _meta(obj)
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def page_settings(spec: Mapping[str, Any] | None) -> PageSettings | None:
    """A page's receiver settings; None when it takes no alerts (or they do not parse)."""
    raw = (spec or {}).get("alerts")
    if not isinstance(raw, dict):
        return None
    try:
        alerts = parse(PageAlertsSpec, raw)
        hold = parse_duration("spec.alerts.hold", alerts.hold)
        expire = parse_duration("spec.alerts.expireAfter", alerts.expire_after)
    except InvalidSpecError:
        return None
    if alerts.receiver_secret_ref is None or hold is None or not expire:
        return None
    return PageSettings(alerts.receiver_secret_ref.name, hold, expire)


def target_of(obj: Mapping[str, Any]) -> Target | None:
    """A component as a target of alerts; None when it takes none or its spec does not parse."""
    spec = obj.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("page"), str):
        return None
    raw = spec.get("alerts")
    if not isinstance(raw, dict):
        return None
    try:
        alerts = parse(ComponentAlertsSpec, raw)
        matchers = parse_matchers("spec.alerts.matchers", alerts.matchers)
    except InvalidSpecError:
        return None
    if not matchers:
        return None  # selects nothing (the schema asks for one at least)
    namespace, name = key_of(obj)
    status = obj.get("status")
    return Target(
        namespace=namespace,
        name=name,
        page=spec["page"],
        matchers=matchers,
        severities=alerts.severities if alerts.severities is not None else DEFAULT_SEVERITIES,
        alerts=alerts_of(status if isinstance(status, Mapping) else None),
        resource_version=str(_meta(obj).get("resourceVersion", "")),
    )


@dataclass
class View:
    """Pages' settings and components' targets, by key; what has been listed."""

    pages: dict[Key, PageSettings | None] = field(default_factory=dict)
    targets: dict[Key, Target] = field(default_factory=dict)
    members: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    synced: set[Kind] = field(default_factory=set)

    def upsert(self, kind: Kind, obj: Mapping[str, Any]) -> None:
        """Add or replace an object."""
        key = key_of(obj)
        if kind is Kind.PAGE:
            spec = obj.get("spec")
            self.pages[key] = page_settings(spec if isinstance(spec, Mapping) else None)
        elif kind is Kind.COMPONENT:
            self._forget(key)
            target = target_of(obj)
            if target is not None:
                self.targets[key] = target
                self.members[(key[0], target.page)].add(key[1])

    def put(self, target: Target) -> None:
        """A component as just written by this replica (its watch event follows)."""
        key = (target.namespace, target.name)
        self._forget(key)
        self.targets[key] = target
        self.members[(key[0], target.page)].add(key[1])

    def delete(self, kind: Kind, key: Key) -> None:
        """Forget an object (no error if unknown)."""
        if kind is Kind.PAGE:
            self.pages.pop(key, None)
        elif kind is Kind.COMPONENT:
            self._forget(key)

    def replace(self, kind: Kind, objs: Iterable[Mapping[str, Any]]) -> None:
        """A fresh list of a kind: the objects not in it are gone."""
        fresh = {key_of(obj): obj for obj in objs}
        known = self.pages if kind is Kind.PAGE else self.targets
        for key in set(known) - set(fresh):
            self.delete(kind, key)
        for obj in fresh.values():
            self.upsert(kind, obj)
        self.synced.add(kind)

    def _forget(self, key: Key) -> None:
        old = self.targets.pop(key, None)
        if old is not None:
            names = self.members.get((key[0], old.page))
            if names is not None:
                names.discard(key[1])
                if not names:
                    del self.members[(key[0], old.page)]

    def page(self, namespace: str, name: str) -> PageSettings | None:
        """A page's settings (None: no such page, or it takes no alerts)."""
        return self.pages.get((namespace, name))

    def targets_of(self, namespace: str, page: str) -> list[Target]:
        """The page's components that take alerts, by name."""
        names = sorted(self.members.get((namespace, page), ()))
        return [self.targets[(namespace, n)] for n in names]

    def ready(self) -> bool:
        """Whether pages and components have both been listed."""
        return {Kind.PAGE, Kind.COMPONENT} <= self.synced
