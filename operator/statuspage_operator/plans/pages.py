"""A page's plan: Statuspage's rollup of its components, and its counts.

The rollup is the view's (one derivation for every reader); the plan renders it with the page's
conditions. A page has no references to judge: it is Ready unless its spec is invalid. Beside
Ready, its `Published` condition says what the page server serves of it (api/publication.py);
Ready does not depend on it, so a refused hostname never holds a GitOps rollout up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from statuspage_operator.api.conditions import Verdict
from statuspage_operator.api.publication import Said, published_condition
from statuspage_operator.api.status import page_status
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.rollup import Rollup
from statuspage_operator.plans.conditions import StatusPlan, plan_invalid


class Rolled(Protocol):
    """A page's rollup and counts (the view's page view)."""

    @property
    def rollup(self) -> Rollup: ...

    @property
    def components(self) -> int: ...

    @property
    def unresolved_incidents(self) -> int: ...

    @property
    def active_maintenances(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What a page's plan is made from: `rolled` is None only when its spec is invalid."""

    name: str
    uid: str
    generation: int
    current: Mapping[str, Any]
    error: InvalidSpecError | None = None
    rolled: Rolled | None = None
    said: Said | None = None


def plan_page(facts: PageFacts, now: datetime) -> StatusPlan:
    """The page's status at `now` (a page announces nothing but an invalid spec)."""
    plan = _plan(facts, now)
    if facts.said is None:
        return plan
    conditions = list(plan.status.get("conditions") or ())
    existing = facts.current.get("conditions")
    conditions.append(published_condition(facts.said, facts.generation, now, existing))
    return StatusPlan({**plan.status, "conditions": conditions}, plan.notices)


def _plan(facts: PageFacts, now: datetime) -> StatusPlan:
    if facts.error is not None or facts.rolled is None:
        error = facts.error or InvalidSpecError("spec", "missing")
        return plan_invalid(facts.name, facts.uid, facts.current, error, facts.generation, now)
    rolled = facts.rolled
    status = page_status(
        rolled.rollup,
        rolled.components,
        rolled.unresolved_incidents,
        rolled.active_maintenances,
        facts.current,
        Verdict.ok(),
        facts.generation,
        now,
    )
    return StatusPlan(status)
