"""What a Component's status says of its alerts: `statusFrom`, `alertsFiring`, `AlertsFiring`.

The operator writes them from the derivation (domain/page.py) so that `kubectl get components`
shows whether a status comes from alerts, how many fire, and, in the condition's reason, why
alerts that fire do not move the component (docs/behaviour.md, "Status from alerts").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from statuspage_operator.api.conditions import Reason, render_condition
from statuspage_operator.domain.alerting import AlertsAsk
from statuspage_operator.domain.page import SetAside, Source

CONDITION = "AlertsFiring"

_ASIDE = {
    SetAside.NO_RECEIVER: Reason.ALERTS_NO_RECEIVER,
    SetAside.PAUSED: Reason.ALERTS_PAUSED,
    SetAside.MAINTENANCE: Reason.ALERTS_UNDER_MAINTENANCE,
    SetAside.INCIDENT: Reason.ALERTS_INCIDENT_OPEN,
}
_WHY = {
    SetAside.PAUSED: "automation is paused (spec.alerts.paused): they do not move the status",
    SetAside.MAINTENANCE: "maintenance is in progress: expected, they do not move the status",
    SetAside.INCIDENT: "an unresolved incident lists the component: its status stands",
}


class Alerted(Protocol):
    """A component's derived state, as far as its alerts go (domain.page.ComponentState)."""

    @property
    def source(self) -> Source | None: ...

    @property
    def watched(self) -> bool: ...

    @property
    def alerts(self) -> AlertsAsk: ...

    @property
    def set_aside(self) -> SetAside | None: ...


def describe(ask: AlertsAsk) -> str:
    """`3 alerts fire (critical: 1, warning: 2), held: critical; they ask MajorOutage`."""
    noun = "alert fires" if ask.firing == 1 else "alerts fire"
    text = f"{ask.firing} {noun}"
    if ask.severities:
        text += " (" + ", ".join(f"{s or '(none)'}: {n}" for s, n in ask.severities.items()) + ")"
    if ask.held:
        text += ", held after they stopped: " + ", ".join(s or "(none)" for s in ask.held)
    if ask.status is None:
        return text + "; no severity of theirs maps to a status (spec.alerts.severities)"
    return f"{text}; they ask {ask.status}"


def verdict(state: Alerted, page: str) -> tuple[bool, Reason, str]:
    """The AlertsFiring condition's status, reason and message."""
    ask, aside = state.alerts, state.set_aside
    if aside is SetAside.NO_RECEIVER:
        return (
            False,
            Reason.ALERTS_NO_RECEIVER,
            f"page {page} has no spec.alerts.receiverSecretRef: no alert moves this component",
        )
    if aside is SetAside.PAUSED and not ask.active:
        return False, Reason.ALERTS_PAUSED, f"nothing fires; {_WHY[aside]}"
    if not ask.active:
        return False, Reason.ALERTS_QUIET, "no alert fires"
    if aside is not None:
        return True, _ASIDE[aside], f"{describe(ask)}; {_WHY[aside]}"
    if ask.status is None:
        return True, Reason.ALERTS_NOT_MAPPED, describe(ask)
    return True, Reason.ALERTS_MOVING, describe(ask)


def alert_fields(
    state: Alerted,
    page: str,
    generation: int,
    now: datetime,
    existing: Sequence[dict[str, Any]] | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`statusFrom` and `alertsFiring` (None: absent), and the AlertsFiring condition (None:
    the component has no `spec.alerts`)."""
    fields: dict[str, Any] = {
        "statusFrom": str(state.source) if state.source is not None else None,
        "alertsFiring": state.alerts.firing if state.watched else None,
    }
    if not state.watched:
        return fields, None
    status, reason, message = verdict(state, page)
    return fields, render_condition(CONDITION, status, reason, message, generation, now, existing)


def condition_of(previous: Mapping[str, Any]) -> Mapping[str, Any]:
    """The AlertsFiring condition of a recorded status ({} when there is none)."""
    conditions = previous.get("conditions") or ()
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == CONDITION), {})
