"""Fold one Alertmanager notification into what a component keeps of its alerts (pure).

Alertmanager sends a whole alert group each time (webhook payload version 4), so a notification
replaces its group's entry for the component: the alerts the component's matchers select, counted
by severity. The fold is deterministic in its inputs and `now`, and idempotent: the same
notification twice (a retry, or the second Alertmanager of an HA pair) gives the same result, so
the receiver writes nothing the second time.

- `since`: the earliest start of the group's firing alerts when its episode begins, kept while it
  fires.
- `seen`: `now`, except that a notification that changes nothing else keeps the stored `seen`
  while it is younger than a quarter of `expire_after`; Alertmanager repeats a firing group every
  `repeat_interval`, so this keeps a repeat from costing a write yet refreshes `seen` long before
  it expires (as long as `repeat_interval` is at most three quarters of `expireAfter`).
- `held`: a severity that stops firing in the group stays counted for `hold`; firing again drops
  its hold. An entry with nothing firing and no hold in force is removed.
- `ended`: the latest end of the alerts of a notification that resolved the whole group. A firing
  alert that started before it is a stale repeat (the other Alertmanager of an HA pair that has
  not seen the resolve yet) and is ignored. The other way round, a resolve whose alerts all ended
  before the firing episode began is the peer's late resolve of an earlier episode: ignored too.
- `truncatedAlerts` (Alertmanager's `max_alerts`) count as firing with the group's worst listed
  severity: they are not listed, so nothing better is known of them.
- Groups not seen for `expire_after` are dropped (a lost resolve), at most MAX_GROUPS are kept
  (the most severe, then the most recently seen), and `listed` holds at most MAX_LISTED firing
  alerts across groups, the most severe first, then the oldest.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from statuspage_operator.domain.alerting import (
    DEFAULT_SEVERITIES,
    MAX_GROUPS,
    MAX_LISTED,
    AlertGroup,
    ComponentAlerts,
    Held,
    ListedAlert,
)
from statuspage_operator.domain.matchers import Matcher, select
from statuspage_operator.domain.status import SEVERITY_ORDER, ComponentStatus

SEVERITY_LABEL = "severity"
FIRING = "firing"
RESOLVED = "resolved"
# status.alerts allows this many severities per group (and as many holds).
MAX_SEVERITIES = 16
NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a notification, as Alertmanager sent it (bounded by the payload parser)."""

    status: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    fingerprint: str = ""

    @property
    def severity(self) -> str:
        """Its severity label ("" when it has none)."""
        return self.labels.get(SEVERITY_LABEL, "")


@dataclass(frozen=True, slots=True)
class Notification:
    """One webhook notification: an alert group, whole."""

    group_key: str
    status: str
    alerts: tuple[Alert, ...] = ()
    group_labels: Mapping[str, str] = field(default_factory=dict)
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    truncated: int = 0


def group_key(raw: str) -> str:
    """The stored key of a group: the first 16 hex digits of sha256 of Alertmanager's groupKey."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _second(instant: datetime) -> datetime:
    # status.alerts stores whole seconds: folding in whole seconds makes a round trip an identity.
    return instant.replace(microsecond=0)


def _maybe_second(instant: datetime | None) -> datetime | None:
    return None if instant is None else _second(instant)


def rank(severities: Mapping[str, ComponentStatus]) -> dict[str, int]:
    """Sort keys for severity labels: the worst status first, unmapped ones after every mapped."""
    worst_first = sorted(
        severities, key=lambda s: (-SEVERITY_ORDER.index(severities[s]), list(severities).index(s))
    )
    return {severity: index for index, severity in enumerate(worst_first)}


def _rank_of(ranks: Mapping[str, int], severity: str) -> int:
    return ranks.get(severity, len(ranks))


def concerns(notification: Notification, matchers: Sequence[Matcher]) -> bool:
    """Whether the component's matchers select at least one alert of the notification."""
    return any(select(matchers, alert.labels) for alert in notification.alerts)


def _name(notification: Notification) -> str:
    labels = notification.group_labels or {
        k: v for k, v in notification.common_labels.items() if k == "alertname"
    }
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))[:NAME_LENGTH]


def _summary(notification: Notification, firing: Sequence[Alert]) -> str:
    common = notification.common_annotations.get("summary", "")
    if common or not firing:
        return common
    return firing[0].annotations.get("summary", "")


def _entry(
    old: AlertGroup | None,
    notification: Notification,
    key: str,
    selected: Sequence[Alert],
    ranks: Mapping[str, int],
    hold: timedelta,
    expire_after: timedelta,
    now: datetime,
) -> tuple[AlertGroup | None, tuple[Alert, ...]]:
    """The group's new entry (None: nothing to keep) and its firing alerts."""
    ended = old.ended if old is not None else None
    if notification.status == RESOLVED:
        ends = [a.ends_at for a in selected if a.ends_at is not None]
        ended = max([e for e in (ended, *map(_second, ends)) if e is not None], default=None)
    firing = tuple(
        sorted(
            (
                a
                for a in selected
                if a.status == FIRING
                and not (ended is not None and a.starts_at is not None and a.starts_at <= ended)
            ),
            key=lambda a: (_rank_of(ranks, a.severity), a.starts_at or now, a.fingerprint),
        )
    )
    counts: Counter[str] = Counter(a.severity for a in firing)
    if notification.truncated and firing and notification.status == FIRING:
        counts[firing[0].severity] += notification.truncated
    kept = sorted(counts, key=lambda s: (_rank_of(ranks, s), s))[:MAX_SEVERITIES]
    severities = {s: counts[s] for s in sorted(kept)}
    held = {h.severity: h for h in (old.held if old is not None else ()) if h.until > now}
    for severity in severities:
        held.pop(severity, None)
    for severity in old.severities if old is not None else ():
        if severity not in severities and severity not in held and hold > timedelta(0):
            held[severity] = Held(severity, now + hold)
    total = sum(severities.values())
    if not total and not held:
        return None, ()
    holds = tuple(sorted(held.values(), key=lambda h: (_rank_of(ranks, h.severity), h.severity)))
    if old is not None and old.firing:
        since = old.since
    elif firing:
        since = min((a.starts_at for a in firing if a.starts_at is not None), default=now)
        since = _second(since)
    else:
        since = old.since if old is not None else None
    entry = AlertGroup(
        key=key,
        seen=now,
        name=_name(notification),
        summary=_summary(notification, firing),
        external_url=notification.external_url,
        since=since,
        ended=ended,
        firing=total,
        severities=severities,
        held=holds[:MAX_SEVERITIES],
    )
    if old is not None and replace(old, seen=now) == entry and now - old.seen < expire_after / 4:
        entry = old
    return entry, firing


def _stale_resolve(
    old: AlertGroup | None, notification: Notification, selected: Sequence[Alert]
) -> bool:
    """A resolve of an earlier episode: every alert ended before the firing one began."""
    if notification.status != RESOLVED or old is None or not old.firing or old.since is None:
        return False
    # Strictly before: times are kept in whole seconds, and an alert that fired and resolved
    # within one second ends in the second its episode began: that resolve is this episode's.
    since = old.since
    return bool(selected) and all(
        a.ends_at is not None and _second(a.ends_at) < since for a in selected
    )


def _listed(key: str, firing: Iterable[Alert]) -> list[ListedAlert]:
    return [
        ListedAlert(
            fingerprint=a.fingerprint,
            group=key,
            since=_maybe_second(a.starts_at),
            severity=a.severity,
            summary=a.annotations.get("summary", ""),
            url=a.generator_url,
        )
        for a in firing
    ]


def _worst(group: AlertGroup, ranks: Mapping[str, int]) -> int:
    present = [*group.severities, *(h.severity for h in group.held)]
    return min((_rank_of(ranks, s) for s in present), default=len(ranks) + 1)


def prune(
    groups: Iterable[AlertGroup],
    listed: Iterable[ListedAlert],
    ranks: Mapping[str, int],
    expire_after: timedelta,
    now: datetime,
) -> ComponentAlerts:
    """Drop expired groups, keep at most MAX_GROUPS and MAX_LISTED, and count what fires."""
    fresh = [g for g in groups if now - g.seen < expire_after]
    fresh.sort(key=lambda g: (_worst(g, ranks), -g.seen.timestamp(), g.key))
    kept = sorted(fresh[:MAX_GROUPS], key=lambda g: (g.since or g.seen, g.key))
    keys = {g.key for g in kept}
    shown = sorted(
        (a for a in listed if a.group in keys),
        key=lambda a: (
            _rank_of(ranks, a.severity),
            a.since.timestamp() if a.since else float("inf"),
            a.group,
            a.fingerprint,
        ),
    )
    return ComponentAlerts(tuple(kept), tuple(shown[:MAX_LISTED]), sum(g.firing for g in kept))


def fold(
    current: ComponentAlerts,
    notification: Notification,
    matchers: Sequence[Matcher],
    hold: timedelta,
    expire_after: timedelta,
    now: datetime,
    severities: Mapping[str, ComponentStatus] = DEFAULT_SEVERITIES,
) -> ComponentAlerts:
    """The component's alerts after this notification of a group (see the module docstring)."""
    now = _second(now)
    ranks = rank(severities)
    key = group_key(notification.group_key)
    old = next((g for g in current.groups if g.key == key), None)
    selected = [a for a in notification.alerts if select(matchers, a.labels)]
    if _stale_resolve(old, notification, selected):
        return prune(current.groups, current.listed, ranks, expire_after, now)
    entry, firing = _entry(old, notification, key, selected, ranks, hold, expire_after, now)
    groups = [g for g in current.groups if g.key != key]
    listed = [a for a in current.listed if a.group != key]
    if entry is not None:
        groups.append(entry)
        listed.extend(_listed(key, firing))
    return prune(groups, listed, ranks, expire_after, now)


def holds_group(current: ComponentAlerts, notification: Notification) -> bool:
    """Whether the component already keeps the notification's group."""
    key = group_key(notification.group_key)
    return any(g.key == key for g in current.groups)
