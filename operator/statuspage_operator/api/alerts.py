"""`Component.status.alerts` on the wire: rendered by the receiver, parsed by every reader.

Parsing is tolerant, like api/tolerant.py: an entry that is not what the schema says is left out
(the API server's schema already refuses most), so a reader never fails on what another version
wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statuspage_operator.api.tolerant import instant
from statuspage_operator.domain.alerting import (
    NO_ALERTS,
    AlertGroup,
    ComponentAlerts,
    Held,
    ListedAlert,
)
from statuspage_operator.domain.timestamps import format_time

FIELD = "alerts"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _group(raw: Any) -> AlertGroup | None:
    if not isinstance(raw, Mapping):
        return None
    key, seen = _text(raw.get("key")), instant(raw.get("seen"))
    if not key or seen is None:
        return None
    severities = raw.get("severities")
    held = []
    for entry in raw.get("held") or ():
        until = instant(entry.get("until")) if isinstance(entry, Mapping) else None
        if until is not None:
            held.append(Held(_text(entry.get("severity")), until))
    return AlertGroup(
        key=key,
        seen=seen,
        name=_text(raw.get("name")),
        summary=_text(raw.get("summary")),
        external_url=_text(raw.get("externalURL")),
        since=instant(raw.get("since")),
        ended=instant(raw.get("ended")),
        firing=_count(raw.get("firing")),
        severities={str(k): _count(v) for k, v in severities.items() if _count(v)}
        if isinstance(severities, Mapping)
        else {},
        held=tuple(held),
    )


def _listed(raw: Any) -> ListedAlert | None:
    if not isinstance(raw, Mapping):
        return None
    fingerprint, group = _text(raw.get("fingerprint")), _text(raw.get("group"))
    if not fingerprint or not group:
        return None
    return ListedAlert(
        fingerprint=fingerprint,
        group=group,
        since=instant(raw.get("since")),
        severity=_text(raw.get("severity")),
        summary=_text(raw.get("summary")),
        url=_text(raw.get("url")),
    )


def alerts_of(status: Mapping[str, Any] | None) -> ComponentAlerts:
    """The alerts a component's status records (none when absent or unreadable)."""
    raw = (status or {}).get(FIELD)
    if not isinstance(raw, Mapping):
        return NO_ALERTS
    groups = tuple(g for g in map(_group, raw.get("groups") or ()) if g is not None)
    listed = tuple(a for a in map(_listed, raw.get("listed") or ()) if a is not None)
    return ComponentAlerts(groups, listed, _count(raw.get("firing")))


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, "", {}, (), []):
        out[key] = value


def render_alerts(alerts: ComponentAlerts) -> dict[str, Any]:
    """`status.alerts` as the receiver writes it (every key present, so a merge patch replaces)."""
    groups = []
    for group in alerts.groups:
        entry: dict[str, Any] = {"key": group.key, "seen": format_time(group.seen)}
        _put(entry, "name", group.name)
        _put(entry, "summary", group.summary)
        _put(entry, "externalURL", group.external_url)
        _put(entry, "since", group.since and format_time(group.since))
        _put(entry, "ended", group.ended and format_time(group.ended))
        entry["firing"] = group.firing
        _put(entry, "severities", dict(group.severities))
        _put(
            entry,
            "held",
            [{"severity": h.severity, "until": format_time(h.until)} for h in group.held],
        )
        groups.append(entry)
    listed = []
    for alert in alerts.listed:
        item: dict[str, Any] = {"fingerprint": alert.fingerprint, "group": alert.group}
        _put(item, "since", alert.since and format_time(alert.since))
        _put(item, "severity", alert.severity)
        _put(item, "summary", alert.summary)
        _put(item, "url", alert.url)
        listed.append(item)
    return {"firing": alerts.firing, "groups": groups, "listed": listed}
