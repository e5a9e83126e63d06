"""The operator's own draft incidents on the wire: their names, labels, bodies and records.

A draft opened for an alert group episode (plans/drafts.py) is a StatusIncident named from the
episode, so that creating it twice is an AlreadyExists, and labelled as the operator's: the
spec-guard admission policy lets the operator create, delete and write the spec of exactly the
incidents with `MANAGED_BY`, and no other. The page records each episode it opened a draft for in
`status.alertIncidents`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statuspage_operator.api.times import format_time, parse_time
from statuspage_operator.domain.incidents import Impact, IncidentPhase
from statuspage_operator.domain.status import ComponentStatus

FIELD = "alertIncidents"
MANAGED_BY = "app.kubernetes.io/managed-by"
OPERATOR = "statuspage-operator"
ALERT_GROUP = "statuspage.dev/alert-group"
ALERT_SINCE = "statuspage.dev/alert-since"
# The CRD's bounds: spec.updates[].message, spec.title (as the page shows it), incidentRef.
MAX_MESSAGE = 2000
MAX_TITLE = 200
MAX_REF = 2048
MAX_COMPONENTS = 100
RESOLVED_MESSAGE = "The alerts of this group have stopped firing."

_NOT_NAME = re.compile(r"[^a-z0-9]")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Opened:
    """One record of `status.alertIncidents`: the episode (group, since) and its incident."""

    group: str
    since: datetime
    incident: str


def base36(number: int) -> str:
    """A non-negative number in base 36 (lower case)."""
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if not number:
            return digits


def group_label(key: str) -> str:
    """The group key as a label value (at most 63 characters of [a-z0-9])."""
    return _NOT_NAME.sub("", key.lower())[:63]


def draft_name(key: str, since: datetime) -> str:
    """The episode's incident name: `alert-<key[:10]>-<since in base 36>` (DNS-1123)."""
    stamp = base36(max(0, int(since.timestamp())))
    return f"alert-{group_label(key)[:10] or 'group'}-{stamp}"


def owned(metadata: Mapping[str, Any]) -> bool:
    """Whether an object's labels mark it as the operator's own."""
    labels = metadata.get("labels")
    return isinstance(labels, Mapping) and labels.get(MANAGED_BY) == OPERATOR


def incident_body(
    page: str,
    key: str,
    since: datetime,
    title: str,
    summary: str,
    external_url: str,
    impact: Impact,
    components: Mapping[str, ComponentStatus | None],
) -> dict[str, Any]:
    """The draft StatusIncident of an episode, as it is created."""
    message = (summary or f"Alertmanager reports {title} firing.")[:MAX_MESSAGE]
    spec: dict[str, Any] = {
        "page": page,
        "title": title[:MAX_TITLE],
        "impact": str(impact),
        "draft": True,
        "components": [
            {"name": name, **({"status": str(status)} if status is not None else {})}
            for name, status in sorted(components.items())[:MAX_COMPONENTS]
        ],
        "updates": [
            {
                "status": str(IncidentPhase.INVESTIGATING),
                "message": message,
                "at": format_time(since),
            }
        ],
    }
    # From the network: only a plain http(s) link is kept (no `javascript:` for a later reader).
    if external_url.startswith(("https://", "http://")) and len(external_url) <= MAX_REF:
        spec["incidentRef"] = external_url
    return {
        "metadata": {
            "name": draft_name(key, since),
            "labels": {MANAGED_BY: OPERATOR, ALERT_GROUP: group_label(key)},
            "annotations": {ALERT_SINCE: format_time(since)},
        },
        "spec": spec,
    }


def resolved_update() -> dict[str, str]:
    """The update that resolves a published draft when its episode ends."""
    return {"status": str(IncidentPhase.RESOLVED), "message": RESOLVED_MESSAGE}


def parse_opened(status: Mapping[str, Any] | None) -> tuple[Opened, ...]:
    """The records of a page's status (malformed entries are left out)."""
    found = []
    for entry in (status or {}).get(FIELD) or ():
        try:
            found.append(
                Opened(str(entry["group"]), parse_time(str(entry["since"])), str(entry["incident"]))
            )
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(found)


def render_opened(records: tuple[Opened, ...]) -> list[dict[str, str]] | None:
    """`status.alertIncidents` (None: no record, the field goes)."""
    if not records:
        return None
    return [
        {"group": r.group, "since": format_time(r.since), "incident": r.incident} for r in records
    ]
