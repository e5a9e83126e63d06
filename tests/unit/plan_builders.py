"""Builders for window plans: facts from a spec written as a user would, with a fixed NOW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from statuspage_operator.api.conditions import Reason, Verdict
from statuspage_operator.api.specs import WindowSpec, parse, window_of
from statuspage_operator.api.times import format_time
from statuspage_operator.plans.overlaps import Neighbour
from statuspage_operator.plans.windows import WindowFacts, WindowPlan, plan_window
from unit.fakes import merge_patch

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
START = NOW + timedelta(hours=1)
END = NOW + timedelta(hours=2)
MISSING_PAGE = Verdict(False, Reason.PAGE_NOT_FOUND, "page p not found in namespace ns")


def window_spec(start: datetime = START, end: datetime = END, **extra: Any) -> dict[str, Any]:
    """A one-off window on api of page p, from START to END unless told."""
    return {
        "page": "p",
        "title": "Upgrade",
        "components": ["api"],
        "startTime": format_time(start),
        "endTime": format_time(end),
        **extra,
    }


def make_facts(
    status: dict[str, Any] | None = None,
    *,
    generation: int = 1,
    name: str = "w",
    neighbours: tuple[Neighbour, ...] = (),
    verdict: Verdict | None = None,
    page_remind_before: timedelta | None = None,
    **spec: Any,
) -> WindowFacts:
    """The facts of a window with this spec and recorded status (references fine by default)."""
    parsed_spec = parse(WindowSpec, window_spec(**spec))
    return WindowFacts(
        name,
        f"uid-{name}",
        generation,
        status or {},
        (parsed_spec, window_of(parsed_spec)),
        verdict or Verdict.ok(),
        neighbours,
        page_remind_before,
    )


def neighbour(
    name: str,
    start: datetime,
    end: datetime,
    *,
    page: str = "p",
    components: tuple[str, ...] = ("api",),
) -> Neighbour:
    """Another live window, on api of page p unless told."""
    spec = parse(WindowSpec, window_spec(start, end, components=list(components), page=page))
    return Neighbour(name, page, components, window_of(spec))


def written(plan: WindowPlan, before: dict[str, Any] | None = None) -> dict[str, Any]:
    """The status after the plan's write (a merge patch, notices recorded)."""
    status: dict[str, Any] = merge_patch(before or {}, plan.status)
    return status


def reasons(plan: WindowPlan) -> list[str]:
    """The reasons of a plan's notices, in order."""
    return [notice.reason for notice in plan.notices]


def settled_at(when: datetime, **spec: Any) -> dict[str, Any]:
    """The status a window's plans leave when followed from NOW to `when`, edge by edge."""
    status: dict[str, Any] = {}
    now = NOW
    while True:
        plan = plan_window(make_facts(status, **spec), now)
        status = written(plan, status)
        if plan.edge is None or plan.edge > when:
            break
        now = plan.edge
    if now != when:
        status = written(plan_window(make_facts(status, **spec), when), status)
    return status
