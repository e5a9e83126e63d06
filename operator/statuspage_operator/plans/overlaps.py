"""Overlaps: other live windows of the page on one of a window's components at the same time.

A note for the people planning maintenance, not an index: the earliest few are listed in the
window's status and told once, in a Warning, when its spec is applied. At an edge only the ones
already listed are followed (their span moves on, or they drop out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statuspage_operator.api.conditions import Reason
from statuspage_operator.api.specs import WindowSpec
from statuspage_operator.api.times import format_time
from statuspage_operator.domain.maintenance import (
    OVERLAP_HORIZON,
    Window,
    first_overlap,
    upcoming,
)
from statuspage_operator.plans.conditions import Item

# The earliest three: a note to look, not an index (every listed entry is kept in memory twice,
# by kopf and by the writer, for every window; 100 windows sharing an instant would hold 10 each).
MAX_OVERLAPS = 3


@dataclass(frozen=True, slots=True)
class Neighbour:
    """Another live window that lists some of the same components."""

    name: str
    page: str
    components: tuple[str, ...]
    window: Window


def find_overlaps(
    name: str,
    spec: WindowSpec,
    window: Window,
    neighbours: Sequence[Neighbour],
    now: datetime,
    among: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Other live windows of the page on one of its components at the same time, earliest first.

    `among`: look only at these (at an edge, the ones already listed: their span moves on, or
    they drop out when they end or go). A window looks for new overlaps when its spec is applied;
    the windows it overlaps are not rewritten for it: that would cost a status write per
    neighbour (ten windows sharing a component and an hour would rewrite each other 45 times),
    against the budget of three writes in a window's life, and grow every edge's write.
    """
    candidates = [
        (other, sorted(set(other.components) & set(spec.components)))
        for other in neighbours
        if other.name != name and other.page == spec.page and (among is None or other.name in among)
    ]
    # A series' occurrences for a year are costly: only computed when there is someone to meet.
    candidates = [(other, shared) for other, shared in candidates if shared]
    ours = upcoming(window, now, now + OVERLAP_HORIZON) if candidates else []
    if not ours:
        return []
    found: list[dict[str, Any]] = []
    for other, shared in candidates:
        span = first_overlap(ours, upcoming(other.window, now, now + OVERLAP_HORIZON))
        if span is not None:
            found.append(
                {
                    "window": other.name,
                    "components": shared,
                    "start": format_time(span.start),
                    "end": format_time(span.end),
                }
            )
    found.sort(key=lambda item: (item["start"], item["window"]))
    return found


def overlap_warning(
    spec: WindowSpec,
    previous: Mapping[str, Any],
    listed: Sequence[Mapping[str, Any]],
    total: int,
) -> list[Item]:
    """A Warning Event naming the windows it newly overlaps (none if nothing is new)."""
    known = {item.get("window") for item in previous.get("overlaps") or ()}
    new = [item for item in listed if item["window"] not in known]
    if not new:
        return []
    described = "; ".join(
        f"maintenancewindow/{item['window']} on {', '.join(item['components'])}"
        f" from {item['start']} to {item['end']}"
        for item in new
    )
    more = f" (and {total - len(listed)} more)" if total > len(listed) else ""
    message = (
        f"Maintenance {spec.title!r} overlaps {described}{more}. Both apply; "
        "move one of them if that is not intended"
    )
    return [(Reason.MAINTENANCE_OVERLAPS, message, True)]
