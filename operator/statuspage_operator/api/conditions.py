"""Conditions and reasons: Ready and Stalled with observedGeneration, as kstatus reads them.

Ready means "reconciled", never "operational". Stalled is only present while True.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from statuspage_operator.api.times import format_time


class Reason(StrEnum):
    """One vocabulary for condition reasons and Events: users grep for them."""

    RECONCILED = "Reconciled"
    COMPONENT_NOT_FOUND = "ComponentNotFound"
    PAGE_NOT_FOUND = "PageNotFound"
    INVALID_SPEC = "InvalidSpec"
    MAINTENANCE_STARTED = "MaintenanceStarted"
    MAINTENANCE_COMPLETED = "MaintenanceCompleted"
    MAINTENANCE_CANCELLED = "MaintenanceCancelled"
    COMPONENT_STATUS_CHANGED = "ComponentStatusChanged"
    INCIDENT_UPDATED = "IncidentUpdated"
    INCIDENT_RESOLVED = "IncidentResolved"
    INCIDENT_PUBLISHED = "IncidentPublished"
    MAINTENANCE_SCHEDULED = "MaintenanceScheduled"
    MAINTENANCE_REMINDER = "MaintenanceReminder"
    MAINTENANCE_OVERLAPS = "MaintenanceOverlaps"
    SECRET_NOT_FOUND = "SecretNotFound"
    INVALID_DESTINATION = "InvalidDestination"
    DELIVERY_FAILED = "DeliveryFailed"
    AUDIENCE_NOT_FOUND = "AudienceNotFound"
    PUBLISHED = "Published"
    UNPUBLISHED = "Unpublished"
    NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
    HOSTNAME_NOT_GRANTED = "HostnameNotGranted"
    HOSTNAME_CONFLICT = "HostnameConflict"
    CHANGES_COALESCED = "ChangesCoalesced"
    # The AlertsFiring condition of a Component (api/alert_status.py).
    ALERTS_MOVING = "Moving"
    ALERTS_NOT_MAPPED = "NotMapped"
    ALERTS_QUIET = "Quiet"
    ALERTS_PAUSED = "Paused"
    ALERTS_UNDER_MAINTENANCE = "UnderMaintenance"
    ALERTS_INCIDENT_OPEN = "IncidentOpen"
    ALERTS_NO_RECEIVER = "NoReceiver"
    SILENCED = "Silenced"
    SILENCE_EXPIRED = "SilenceExpired"
    NO_ALERTMANAGER = "NoAlertmanager"
    ALERTMANAGER_UNREACHABLE = "AlertmanagerUnreachable"
    ALERTMANAGER_REFUSED = "AlertmanagerRefused"
    NO_MATCHERS = "NoMatchers"
    INVALID_MATCHERS = "InvalidMatchers"
    # Mailbox subscribers (control/notifications/mailboxes.py).
    MAIL_NOT_CONFIGURED = "MailNotConfigured"
    MAILBOX_REMOVED = "MailboxRemoved"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one reconciliation, before it becomes conditions."""

    ready: bool
    reason: Reason
    message: str
    stalled: bool = False

    @classmethod
    def ok(cls, message: str = "Reconciled") -> Verdict:
        """Processed without a problem."""
        return cls(True, Reason.RECONCILED, message)


def _condition(
    kind: str,
    status: bool,
    reason: Reason,
    message: str,
    generation: int,
    now: datetime,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    text = "True" if status else "False"
    since = format_time(now)
    if (
        previous is not None
        and previous.get("status") == text
        and previous.get("lastTransitionTime")
    ):
        since = previous["lastTransitionTime"]
    return {
        "type": kind,
        "status": text,
        "reason": str(reason),
        "message": message,
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }


def render_condition(
    kind: str,
    status: bool,
    reason: Reason,
    message: str,
    generation: int,
    now: datetime,
    existing: Sequence[dict[str, Any]] | None,
) -> dict[str, Any]:
    """One condition of type `kind`, keeping its lastTransitionTime from `existing` if unchanged."""
    previous = next(
        (c for c in existing or () if isinstance(c, dict) and c.get("type") == kind), None
    )
    return _condition(kind, status, reason, message, generation, now, previous)


# Conditions another writer owns (control/silences.py writes Silenced beside the window's
# transitions): carried over untouched by every write of Ready and Stalled.
KEPT = frozenset({"Silenced"})


def render_conditions(
    verdict: Verdict, generation: int, now: datetime, existing: Sequence[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Ready (always) and Stalled (only when true), keeping lastTransitionTime when unchanged;
    the conditions of KEPT types as they are."""
    by_type = {c.get("type"): c for c in existing or () if isinstance(c, dict)}
    conditions = [
        _condition(
            "Ready",
            verdict.ready,
            verdict.reason,
            verdict.message,
            generation,
            now,
            by_type.get("Ready"),
        )
    ]
    if verdict.stalled:
        conditions.append(
            _condition(
                "Stalled",
                True,
                verdict.reason,
                verdict.message,
                generation,
                now,
                by_type.get("Stalled"),
            )
        )
    conditions += [c for kind, c in by_type.items() if kind in KEPT]
    return conditions


def missing_message(kind: str, names: Sequence[str], page: str) -> str:
    """`components api, db not found on page example; ...` for ComponentNotFound."""
    listed = ", ".join(sorted(names))
    noun = "component" if len(names) == 1 else "components"
    return (
        f"{noun} {listed} not found on page {page} (missing, or belonging to another page); "
        f"the {kind} applies to the others and heals when they appear"
    )
