"""What every kind's plan shares: the Warning for a new problem, invalid specs, healing.

An object's Ready condition says whether its references hold; a Warning Event goes with it only
when the problem is new or different, so a level-triggered reconciliation never repeats it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statuspage_operator.api.conditions import Reason, Verdict, render_conditions
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.api.status import Status, invalid_status

# (reason, message, warning): a notice before it is named (api.notices.make_notices).
Item = tuple[str, str, bool]

# What there is to say of an object with nothing wrong (and of one with no references to judge).
READY = Verdict.ok()


@dataclass(frozen=True, slots=True)
class StatusPlan:
    """The status fields to write (None removes one) and the notices they announce."""

    status: Status
    notices: tuple[Notice, ...] = ()


def ready_condition(previous: Mapping[str, Any]) -> Mapping[str, Any]:
    """The Ready condition of a recorded status ({} when there is none)."""
    conditions = previous.get("conditions") or ()
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), {})


def says(previous: Mapping[str, Any], verdict: Verdict) -> bool:
    """Whether the recorded Ready condition already tells the verdict's reason and message."""
    ready = ready_condition(previous)
    return (ready.get("reason"), ready.get("message")) == (verdict.reason, verdict.message)


def warnings(previous: Mapping[str, Any], verdict: Verdict) -> list[Item]:
    """A Warning Event when the object newly has a problem (or a different one)."""
    if verdict.ready or says(previous, verdict):
        return []
    return [(verdict.reason, verdict.message, True)]


def page_verdict(namespace: str, page: str, found: bool) -> Verdict:
    """Ready when the page exists; PageNotFound, saying what to do, when it does not."""
    if found:
        return Verdict.ok()
    return Verdict(
        False,
        Reason.PAGE_NOT_FOUND,
        f"page {page} not found in namespace {namespace}; create it, or fix spec.page",
    )


def plan_invalid(
    name: str,
    uid: str,
    current: Mapping[str, Any],
    error: Exception,
    generation: int,
    now: datetime,
) -> StatusPlan:
    """An object whose spec cannot work: Stalled, and a Warning when that is news."""
    verdict = Verdict(False, Reason.INVALID_SPEC, str(error), stalled=True)
    status = invalid_status(current, verdict, generation, now)
    return StatusPlan(status, tuple(make_notices(name, uid, now, warnings(current, verdict))))


def plan_heal(
    current: Mapping[str, Any], verdict: Verdict, generation: int, now: datetime
) -> Status | None:
    """The conditions of a window or incident whose page or components appeared or went.

    None when its Ready condition already says so: nothing to write.
    """
    if says(current, verdict):
        return None
    return {
        "conditions": render_conditions(verdict, generation, now, current.get("conditions")),
        "observedGeneration": generation,
    }
