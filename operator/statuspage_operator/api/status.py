"""Render the desired `.status` of each kind from domain values (None means: field absent).

Everything here is a pure function of its arguments; fields that record when the operator did
something (startedAt, completedAt, lastStatusChangeTime, timeline times) are carried over from the
previous status unless this very reconciliation makes the change, so rendering twice is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from statuspage_operator.api.conditions import Verdict, render_conditions
from statuspage_operator.api.times import format_time, parse_time
from statuspage_operator.domain.incidents import IncidentPhase, IncidentState, Stamped
from statuspage_operator.domain.maintenance import WindowPhase, WindowState
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.rollup import Rollup
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.domain.uptime import record_change

Status = dict[str, Any]


def _occurrence(occurrence: Occurrence | None) -> dict[str, str] | None:
    if occurrence is None:
        return None
    return {"start": format_time(occurrence.start), "end": format_time(occurrence.end)}


def _conditions(
    verdict: Verdict, generation: int, now: datetime, previous: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "conditions": render_conditions(verdict, generation, now, previous.get("conditions")),
        "observedGeneration": generation,
    }


def window_status(
    state: WindowState,
    previous: Mapping[str, Any],
    verdict: Verdict,
    generation: int,
    now: datetime,
) -> Status:
    """A MaintenanceWindow's status; startedAt/completedAt are stamped at the transition."""
    old_phase = previous.get("phase")
    phase = state.phase
    started_at = previous.get("startedAt")
    completed_at = previous.get("completedAt")
    started = False
    if state.current is not None:
        previous_start = (previous.get("currentOccurrence") or {}).get("start")
        started = old_phase != phase or previous_start != format_time(state.current.start)
    if started:
        started_at = format_time(now)
    ended = old_phase == WindowPhase.IN_PROGRESS and phase is not WindowPhase.IN_PROGRESS
    if ended or (phase in (WindowPhase.COMPLETED, WindowPhase.CANCELLED) and old_phase != phase):
        completed_at = format_time(now)
    last: dict[str, Any] | None = _occurrence(state.last)
    if phase is WindowPhase.CANCELLED and old_phase == WindowPhase.IN_PROGRESS:
        # Cut short: the occurrence that was running ends now, and history should say so.
        cut = previous.get("currentOccurrence") or {}
        last = {"start": cut.get("start", started_at or completed_at), "end": completed_at}
    elif phase is WindowPhase.CANCELLED and old_phase == phase:
        last = previous.get("lastOccurrence")
    # What the Start and End columns show: for a cancelled window, the occurrence it cut short,
    # else the one it showed when it was cancelled.
    shown = _occurrence(state.current or state.next or state.last)
    if phase is WindowPhase.CANCELLED:
        if old_phase == WindowPhase.IN_PROGRESS:
            shown = last
        elif old_phase is not None:
            shown = previous.get("occurrence") or shown
    return {
        "phase": str(phase),
        "occurrence": shown,
        "currentOccurrence": _occurrence(state.current),
        "nextOccurrence": _occurrence(state.next),
        "lastOccurrence": last,
        "startedAt": started_at,
        "completedAt": completed_at,
        **_conditions(verdict, generation, now, previous),
    }


def invalid_status(
    previous: Mapping[str, Any], verdict: Verdict, generation: int, now: datetime
) -> Status:
    """Status of an object whose spec cannot work: only the conditions change."""
    return _conditions(verdict, generation, now, previous)


def component_status(
    status: ComponentStatus,
    windows: tuple[str, ...],
    incidents: tuple[str, ...],
    previous: Mapping[str, Any],
    verdict: Verdict,
    generation: int,
    now: datetime,
    alerted: tuple[Mapping[str, Any], Mapping[str, Any] | None] = ({}, None),
) -> Status:
    """A Component's status; lastStatusChangeTime and the history move only when the status does.

    The history (for uptime) is written in the same patch as the change it records. `alerted`:
    what it says of its alerts (api/alert_status.py): fields, and a condition after Ready's.
    """
    changed_at = previous.get("lastStatusChangeTime")
    history = previous.get("history")
    old = previous.get("status")
    if old != str(status) or changed_at is None:
        changed_at = format_time(now)
        history = record_change(history or [], old, str(status), now) or None
    fields, condition = alerted
    rendered = _conditions(verdict, generation, now, previous)
    if condition is not None:
        rendered["conditions"].append(dict(condition))
    return {
        "status": str(status),
        "history": history,
        "activeMaintenanceWindows": list(windows),
        "unresolvedIncidents": list(incidents),
        "lastStatusChangeTime": changed_at,
        **fields,
        **rendered,
    }


def page_status(
    rollup: Rollup,
    components: int,
    unresolved: int,
    maintenances: int,
    previous: Mapping[str, Any],
    verdict: Verdict,
    generation: int,
    now: datetime,
) -> Status:
    """A StatusPage's status: Statuspage's indicator and description, and counts."""
    return {
        "indicator": str(rollup.indicator),
        "description": rollup.description,
        "components": components,
        "unresolvedIncidents": unresolved,
        "activeMaintenances": maintenances,
        **_conditions(verdict, generation, now, previous),
    }


def parse_timeline(previous: Mapping[str, Any]) -> tuple[Stamped, ...]:
    """The timeline already written, as domain values (malformed entries end it)."""
    stamped: list[Stamped] = []
    for entry in previous.get("timeline") or ():
        try:
            stamped.append(
                Stamped(
                    IncidentPhase(entry["status"]), str(entry["message"]), parse_time(entry["at"])
                )
            )
        except (KeyError, TypeError, ValueError):
            break
    return tuple(stamped)


def incident_status(
    state: IncidentState,
    previous: Mapping[str, Any],
    verdict: Verdict,
    generation: int,
    now: datetime,
) -> Status:
    """A StatusIncident's status: phase, the stamped timeline, resolvedAt, lastUpdateTime."""
    return {
        "phase": str(state.phase),
        "timeline": [
            {"status": str(e.status), "message": e.message, "at": format_time(e.at)}
            for e in state.timeline
        ],
        "resolvedAt": format_time(state.resolved_at) if state.resolved_at else None,
        "lastUpdateTime": format_time(state.last_update_time) if state.last_update_time else None,
        **_conditions(verdict, generation, now, previous),
    }


def render_delivered(record: Mapping[str, datetime]) -> list[dict[str, str]]:
    """`status.delivered`: delivery keys with the deadline until which they can matter."""
    ordered = sorted(record.items(), key=lambda item: (item[1], item[0]))
    return [{"key": key, "until": format_time(until)} for key, until in ordered]


def parse_delivered(previous: Mapping[str, Any]) -> dict[str, datetime]:
    """The delivery keys recorded in a Subscriber's status (malformed entries are skipped)."""
    record: dict[str, datetime] = {}
    for entry in previous.get("delivered") or ():
        try:
            record[str(entry["key"])] = parse_time(str(entry["until"]))
        except (KeyError, TypeError, ValueError):
            continue
    return record


def subscriber_status(
    record: Mapping[str, datetime],
    counts: Mapping[str, int],
    last: Mapping[str, str] | None,
    previous: Mapping[str, Any],
    verdict: Verdict,
    generation: int,
    now: datetime,
    bounces: int | None = None,
) -> Status:
    """A Subscriber's status: what was delivered (bounded), counts, the last delivery; for a
    mailbox, its permanent refusals in a row."""
    status = {
        "delivered": render_delivered(record),
        "sent": counts.get("sent", 0),
        "failed": counts.get("failed", 0),
        "lastDelivery": dict(last) if last else previous.get("lastDelivery"),
        **_conditions(verdict, generation, now, previous),
    }
    if bounces is not None:
        status["bounces"] = bounces
    return status
