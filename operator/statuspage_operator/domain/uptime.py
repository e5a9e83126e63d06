"""A component's status history and its uptime, as Statuspage shows it.

The history lives in the component's `status.history`, written in the same patch as a status
change: a list, oldest first, of intervals of non-Operational statuses,
`{"status": ..., "since": RFC3339, "until": RFC3339}`. The current interval (the component is not
Operational now) has no `until`. Adjacent intervals with the same status are merged. Intervals
that ended more than `RETENTION` (90 days) before now are dropped; one straddling the boundary is
kept whole. At most `MAX_INTERVALS` are kept (the CRD's `maxItems`), the newest.

Uptime (Statuspage's rule): over the last 90 calendar days in the page's time zone, today
included, MajorOutage counts fully as down, PartialOutage as 30% down, DegradedPerformance and
UnderMaintenance as up. Time before the component existed (its creationTimestamp) and after now
is not counted.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from statuspage_operator.domain.status import SEVERITY_ORDER, ComponentStatus
from statuspage_operator.domain.timestamps import format_time as format_instant
from statuspage_operator.domain.timestamps import parse_time as parse_instant

RETENTION = timedelta(days=90)
DAYS = 90
MAX_INTERVALS = 500

# The share of an interval that counts as down.
DOWN_WEIGHT: Mapping[ComponentStatus, float] = {
    ComponentStatus.OPERATIONAL: 0.0,
    ComponentStatus.UNDER_MAINTENANCE: 0.0,
    ComponentStatus.DEGRADED_PERFORMANCE: 0.0,
    ComponentStatus.PARTIAL_OUTAGE: 0.3,
    ComponentStatus.MAJOR_OUTAGE: 1.0,
}

History = list[dict[str, Any]]


def prune(history: Sequence[Mapping[str, Any]], now: datetime) -> History:
    """Drop intervals that ended more than RETENTION ago; keep the newest MAX_INTERVALS."""
    horizon = now - RETENTION
    kept = [
        dict(entry)
        for entry in history
        if "until" not in entry or parse_instant(entry["until"]) >= horizon
    ]
    return kept[-MAX_INTERVALS:]


def record_change(
    history: Sequence[Mapping[str, Any]], old: str | None, new: str, now: datetime
) -> History:
    """Return the history after the status changed from `old` to `new` at `now`.

    Pure: the input is not modified. `old` None means `new` is the first status. The history's
    open interval is the record of the current status: it is closed at `now` when `new` differs,
    and one is opened for a non-Operational `new`. A component that was not Operational before its
    history was kept (`old` set, no open interval) is recorded from `now`, the earliest instant
    known. Calling it again with the same `new` changes nothing but the pruning.
    """
    status = ComponentStatus(new)
    if old is not None:
        ComponentStatus(old)
    stamp = format_instant(now)
    entries = prune(history, now)
    last = entries[-1] if entries else None
    if last is not None and "until" not in last:
        if last["status"] == status:
            return entries
        last["until"] = stamp
    if status is ComponentStatus.OPERATIONAL:
        return entries
    if last is not None and last["status"] == status and last.get("until") == stamp:
        del last["until"]
        return entries
    entries.append({"status": str(status), "since": stamp})
    return entries[-MAX_INTERVALS:]


@dataclass(frozen=True, slots=True)
class Interval:
    """A parsed history interval; `until` is now for the current one."""

    status: ComponentStatus
    since: datetime
    until: datetime


def intervals(history: Sequence[Mapping[str, Any]], now: datetime) -> list[Interval]:
    """Parse a history, closing the current interval at `now`; malformed entries are skipped."""
    parsed: list[Interval] = []
    for entry in history:
        try:
            status = ComponentStatus(entry["status"])
            since = parse_instant(entry["since"])
            until = parse_instant(entry["until"]) if "until" in entry else now
        except (KeyError, ValueError, TypeError):
            continue
        if until > since and status is not ComponentStatus.OPERATIONAL:
            parsed.append(Interval(status, since, min(until, now)))
    return parsed


@dataclass(slots=True)
class DayBar:
    """One of the daily bars: a calendar day in the page's time zone."""

    day: date
    counted: timedelta  # time the component existed that day, up to now
    down: timedelta  # weighted down time
    worst: ComponentStatus | None  # the worst status that day; None when there is no data
    by_status: Mapping[ComponentStatus, timedelta]

    @property
    def uptime(self) -> float | None:
        """The share of counted time up, from 0 to 1; None when nothing was counted."""
        if self.counted <= timedelta(0):
            return None
        return 1.0 - self.down / self.counted


@dataclass(frozen=True, slots=True)
class Uptime:
    """The daily bars, oldest first, and the percentage over all of them."""

    days: tuple[DayBar, ...]
    percent: float | None  # None when no time was counted (a component created just now)


def _overlap(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> timedelta:
    return max(timedelta(0), min(a1, b1) - max(a0, b0))


def _day_start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@functools.lru_cache(maxsize=64)
def day_bounds(today: date, zone: tzinfo, days: int) -> tuple[tuple[date, datetime, datetime], ...]:
    """The last `days` calendar days up to `today` in `zone`: (day, start, end) in UTC."""
    found = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        found.append((day, _day_start(day, zone), _day_start(day + timedelta(days=1), zone)))
    return tuple(found)


def uptime(
    history: Sequence[Mapping[str, Any]],
    created: datetime,
    now: datetime,
    zone: tzinfo,
    days: int = DAYS,
) -> Uptime:
    """The uptime of the last `days` calendar days in `zone`, today included."""
    spans = intervals(history, now)
    today = now.astimezone(zone).date()
    bars: list[DayBar] = []
    total_counted = timedelta(0)
    total_down = timedelta(0)
    zero = timedelta(0)
    for day, day_start, day_end in day_bounds(today, zone, days):
        start = max(day_start, created)
        end = min(day_end, now)
        counted = max(zero, end - start)
        by_status: dict[ComponentStatus, timedelta] = {}
        down = zero
        worst: ComponentStatus | None = None
        if counted:
            worst = ComponentStatus.OPERATIONAL
            for span in spans:
                share = _overlap(span.since, span.until, start, end)
                if share:
                    by_status[span.status] = by_status.get(span.status, zero) + share
                    down += share * DOWN_WEIGHT[span.status]
            if by_status:
                worst = max([worst, *by_status], key=SEVERITY_ORDER.index)
        bars.append(DayBar(day, counted, down, worst, by_status))
        total_counted += counted
        total_down += down
    percent = None
    if total_counted > timedelta(0):
        percent = 100.0 * (1.0 - total_down / total_counted)
    return Uptime(tuple(bars), percent)
