"""An incident's plan: the timeline stamped once, the phase from the latest update, its notices.

An update is stamped with its own `at`, else with the `now` at which it was first seen, and keeps
that time ever after (the stamp lives in status). Each new update is announced once, by its index
in the timeline, which is also what subscribers hear of it by.

A draft (`spec.draft`) is stamped the same way, but its notices are Events only: subscribers hear
nothing of it. Its publication (a draft seen before, `spec.draft` false now) is announced once,
as the incident's creation with the updates so far (subject "0": the key an incident's creation
always has), and the updates after it as updates of an incident already created. The status says
`draft` while it is one, so a restart still knows a publication when it sees one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statuspage_operator.api.conditions import Reason, Verdict
from statuspage_operator.api.notices import make_notices
from statuspage_operator.api.specs import IncidentSpec, updates_of
from statuspage_operator.api.status import incident_status, parse_timeline
from statuspage_operator.api.times import format_time
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import IncidentPhase, derive
from statuspage_operator.domain.notifications import INCIDENT_HORIZON
from statuspage_operator.plans.conditions import READY, Item, StatusPlan, plan_invalid, warnings

# The subject of an incident's creation: its first update's index.
CREATED = "0"


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What an incident's plan is made from (the verdict: on its page and components)."""

    name: str
    uid: str
    generation: int
    current: Mapping[str, Any]
    spec: IncidentSpec | InvalidSpecError
    verdict: Verdict = READY


def plan_incident(facts: IncidentFacts, now: datetime) -> StatusPlan:
    """The incident's status at `now`, and the notices of what is new since the one recorded."""
    current, spec = facts.current, facts.spec
    if isinstance(spec, InvalidSpecError):
        return plan_invalid(facts.name, facts.uid, current, spec, facts.generation, now)
    state = derive(updates_of(spec), parse_timeline(current), now)
    old_length = len(current.get("timeline") or ())
    new = state.timeline[old_length:]
    was_draft = current.get("draft") is True
    items: list[Item] = [
        (
            Reason.INCIDENT_UPDATED,
            f"{entry.status} at {format_time(entry.at)}: {entry.message}",
            False,
        )
        for entry in new
    ]
    # Subscribers hear of each update by its index in the timeline; of a draft's, nothing.
    about = (
        []
        if spec.draft
        else [(str(old_length + i), entry.at + INCIDENT_HORIZON) for i, entry in enumerate(new)]
    )
    if was_draft and not spec.draft and old_length:
        # Updates stamped while it was a draft were never announced: its publication is its
        # creation, with them.
        items.insert(0, (Reason.INCIDENT_PUBLISHED, f"Incident {spec.title!r} published", False))
        about.insert(0, (CREATED, now + INCIDENT_HORIZON))
    if state.phase is IncidentPhase.RESOLVED and current.get("phase") != IncidentPhase.RESOLVED:
        items.append((Reason.INCIDENT_RESOLVED, f"Incident {spec.title!r} resolved", False))
    items += warnings(current, facts.verdict)
    notices = tuple(
        notice.about(*about[i]) if i < len(about) else notice
        for i, notice in enumerate(make_notices(facts.name, facts.uid, now, items))
    )
    status = incident_status(state, current, facts.verdict, facts.generation, now)
    status["draft"] = True if spec.draft else None
    published = current.get("publishedAt")
    status["publishedAt"] = format_time(now) if was_draft and not spec.draft else published
    return StatusPlan(status, notices)
