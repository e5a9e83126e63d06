"""Events of one object are limited per hour by coalescing, never by dropping.

An object gets at most EVENTS_PER_HOUR Events of its own in each hour (UTC clock hours). Every
further notice of that hour is folded into one Event, the hour's digest, updated in place: its
`count` is the number of changes folded so far and its message the latest one's. A window that
flaps every few seconds thus makes at most EVENTS_PER_HOUR + 1 Event objects an hour.

The decision is made when the notice is written (control/writer.py), in the same status patch:
each notice records its place (`fold`: 0 for its own Event, k for the k-th change folded into the
digest) and `status.eventBudget` the hour's tally. So a restart replays each notice the way it was
decided, and a digest update is idempotent: it applies only if the digest's count is lower.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from statuspage_operator.api.notices import MAX_MESSAGE, Notice
from statuspage_operator.api.times import format_time, parse_time

EVENTS_PER_HOUR = 10
FIELD = "eventBudget"
# The CRDs' bound on the counts: never reached (a status write per change), but never exceeded.
MAX_FOLDED = 100_000


@dataclass(frozen=True, slots=True)
class Tally:
    """One object's Events in one hour: its own Events posted, changes folded into the digest."""

    hour: datetime
    posted: int = 0
    folded: int = 0

    def to_status(self) -> dict[str, Any]:
        """`status.eventBudget`."""
        return {"hour": format_time(self.hour), "posted": self.posted, "folded": self.folded}


def hour_of(at: datetime) -> datetime:
    """The start of the UTC clock hour holding `at`."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def parse_tally(status: Mapping[str, Any]) -> Tally | None:
    """The tally a status records (None when absent or malformed)."""
    entry = status.get(FIELD)
    if not isinstance(entry, Mapping):
        return None
    try:
        return Tally(parse_time(str(entry["hour"])), int(entry["posted"]), int(entry["folded"]))
    except (KeyError, TypeError, ValueError):
        return None


def budget(tally: Tally | None, notices: Sequence[Notice]) -> tuple[list[Notice], Tally | None]:
    """The notices with their place decided (own Event or folded), and the tally after them."""
    placed = []
    for notice in notices:
        hour = hour_of(notice.at)
        if tally is None or tally.hour != hour:
            tally = Tally(hour)
        if tally.posted < EVENTS_PER_HOUR:
            tally = replace(tally, posted=tally.posted + 1)
            placed.append(replace(notice, fold=0))
        else:
            tally = replace(tally, folded=min(tally.folded + 1, MAX_FOLDED))
            placed.append(replace(notice, fold=tally.folded))
    return placed, tally


def digest_name(name: str, uid: str, at: datetime) -> str:
    """`<object>.<16 hex>`: the name of the digest Event of the hour holding `at`."""
    stamp = format_time(hour_of(at))
    digest = hashlib.sha256(f"{uid}/digest/{stamp}".encode()).hexdigest()
    return f"{name[:200]}.{digest[:16]}"


def digest_message(notice: Notice) -> str:
    """The digest's message once the notice is folded into it: the count and the latest state."""
    since = hour_of(notice.at).strftime("%H:%MZ")
    changes = "change" if notice.fold == 1 else "changes"
    head = (
        f"{notice.fold} more {changes} since {since} (each object gets {EVENTS_PER_HOUR} Events "
        f"an hour); latest at {format_time(notice.at)}: {notice.reason}: "
    )
    return (head + notice.message)[:MAX_MESSAGE]
