"""Recurring maintenance windows: an RRULE expanded in wall-clock time, always bounded.

Wall clock and DST (docs/behaviour.md, "Recurring maintenance"):
- dateutil expands the rule in the zone's naive wall-clock time from startTime's wall-clock time;
  each start is then converted to UTC, and every occurrence lasts endTime - startTime of elapsed
  time, across DST changes too.
- A start inside a spring-forward gap begins at the end of the gap (Europe/Berlin 02:30 -> 03:00,
  01:00Z; zoneinfo alone would say 03:30). Several starts inside one gap collapse into one.
- A start inside a fall-back overlap begins at its first pass (fold=0) and runs once. startTime
  itself is kept as given, even in a second pass (then the rest of that hour follows it).
- startTime must be the rule's first occurrence (RFC 5545 leaves other cases undefined).
- UNTIL ending in Z is an instant; without Z it is wall-clock time in the zone; a date alone
  includes that whole day. COUNT counts startTime, is at most 10000 and excludes UNTIL.

Bounded expansion: dateutil iterates from DTSTART, so a query re-anchors the rule at the start of
the period (INTERVAL x FREQ) holding the instant asked about. The BYxxx parts that dateutil would
take from DTSTART are written out first, so the periods after the anchor expand exactly as from
startTime (BYSETPOS, BYDAY=-1FR, BYMONTHDAY=-1 included). Looking back doubles the periods until
an occurrence that started before the instant shows up, so around() costs a few periods whatever
the age of the series. COUNT becomes an UNTIL at its last start, found once (memoised).

dateutil stops only at a matching candidate or at year 9999, so a rule matching nothing for
centuries would spin until 9999. Every expansion runs on a copy shifted by whole 400-year
Gregorian cycles (same calendar, same weekdays) to end 400 to 800 years before 9999, which bounds
that scan (a rule matching no date at all is rejected in about 0.5 s at worst). For the same
reason FREQ=MINUTELY and FREQ=SECONDLY take no BYxxx part: dateutil would step through every
minute or second they skip.

Checked when compiled: the rule parses and startTime is its first occurrence; the series is not
empty; an endless series has a second occurrence within 400 years; no two occurrences overlap
among the first 400 (or the first year's, if fewer) nor across each DST change of the first year.

Bounded work (docs/behaviour.md, "Bounded schedules"): a status page means maintenance of minutes
to hours, and every occurrence costs two edges, two status writes and their notices. So every
occurrence lasts at least MIN_DURATION (1 minute) and no two start closer than MIN_PERIOD
(5 minutes) of wall-clock time, checked over the same sample as overlaps: the rule's own rhythm,
so a DST change that brings two starts closer once a year (a start in a spring-forward gap moved
to its end) is not held against it. The API server refuses the plain cases first (the CRD's CEL
rules: FREQ=SECONDLY or MINUTELY with too small an INTERVAL, several BYSECOND values, a short
duration); this check catches the rest (FREQ=HOURLY;BYMINUTE=0,2).
Limits: a range or a COUNT series longer than 400 years is cut short; a sub-daily rule whose times
drift from day to day (FREQ=HOURLY;INTERVAL=5) is checked against the first year's DST changes.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from dateutil import rrule as du

from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.occurrence import Around, Occurrence
from statuspage_operator.domain.zones import check_zone

MAX_COUNT = 10_000
MIN_PERIOD = timedelta(minutes=5)
MIN_DURATION = timedelta(minutes=1)
RULE_FIELD = "spec.recurrence.rrule"
ZONE_FIELD = "spec.recurrence.timeZone"

_SAMPLE = 400
_CYCLE = timedelta(days=146_097)  # 400 Gregorian years: the calendar and the weekdays repeat
_RUNWAY_YEAR = 9_599  # shifted queries start before this year, 400+ years before dateutil stops
_TICK = timedelta(microseconds=1)
_YEAR = timedelta(days=366)
_FREQS = {"YEARLY": du.YEARLY, "MONTHLY": du.MONTHLY, "WEEKLY": du.WEEKLY, "DAILY": du.DAILY}
_FREQS |= {"HOURLY": du.HOURLY, "MINUTELY": du.MINUTELY, "SECONDLY": du.SECONDLY}
_STEPS = {du.WEEKLY: timedelta(weeks=1), du.DAILY: timedelta(days=1)}
_STEPS |= {du.HOURLY: timedelta(hours=1), du.MINUTELY: timedelta(minutes=1)}
_STEPS |= {du.SECONDLY: timedelta(seconds=1)}
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_PARTS = {"FREQ", "UNTIL", "COUNT", "INTERVAL", "WKST", "BYSETPOS", "BYMONTH", "BYWEEKNO"}
_PARTS |= {"BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND"}
_RANGES = {"BYMONTH": (1, 12), "BYMONTHDAY": (-31, 31), "BYYEARDAY": (-366, 366)}
_RANGES |= {"BYWEEKNO": (-53, 53)}
_PART = re.compile(r"([A-Z]+)=([A-Z0-9+,-]+)")
_NUMBER = re.compile(r"[+-]?[0-9]{1,9}")
_UNTIL = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:T([0-9]{2})([0-9]{2})([0-9]{2})(Z?))?")


@dataclass(frozen=True, slots=True)
class _Plan:
    """How a series expands: a rule in wall-clock time, its periods and its bounds."""

    zone: ZoneInfo
    rule: du.rrule  # BYxxx defaults written out; DTSTART is startTime's wall clock, to the second
    first_wall: datetime  # startTime's wall clock, to the microsecond
    freq: int
    interval: int
    base: datetime  # wall-clock start of the first period
    until_wall: datetime | None  # no wall-clock start later than this (maybe loosely)
    until: datetime | None  # no start later than this instant


@dataclass(frozen=True)
class Series:
    """A recurring window: first start, duration, an RRULE and an IANA zone, already validated."""

    first: Occurrence
    rrule: str
    time_zone: str
    _plan: _Plan = field(repr=False, compare=False)
    _final: Occurrence | None = field(default=None, repr=False, compare=False)

    @property
    def duration(self) -> timedelta:
        """Elapsed time of every occurrence."""
        return self.first.duration

    @property
    def finite(self) -> bool:
        """Whether the series ends (COUNT or UNTIL present)."""
        return self._plan.until is not None

    def final(self) -> Occurrence | None:
        """The last occurrence of a finite series; None if it never ends."""
        return self._final

    def around(self, now: datetime) -> Around:
        """The occurrence in progress at `now`, the next to start after it, the last that ended."""
        cut = now - self.duration
        current = following = last = None
        for start in self._from(cut):
            if start > now:
                following = start
                break
            if start <= cut:
                last = start
            else:
                current = start
        return Around(self._at(current), self._at(following), self._at(last))

    def occurrences_between(
        self, after: datetime, before: datetime, limit: int | None = None
    ) -> list[Occurrence]:
        """Every occurrence starting in [after, before), at most `limit` of them.

        The cost grows with their number: pass a limit when the rule may be minutely.
        """
        found: list[Occurrence] = []
        for start in self._from(after):
            if start >= before or (limit is not None and len(found) >= limit):
                break
            if start >= after:
                found.append(Occurrence(start, start + self.duration))
        return found

    def _at(self, start: datetime | None) -> Occurrence | None:
        return None if start is None else Occurrence(start, start + self.duration)

    def _wall(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            raise ValueError(f"{instant} is naive; pass an aware UTC datetime")
        return instant.astimezone(self._plan.zone).replace(tzinfo=None, fold=0)

    def _localise(self, wall: datetime) -> datetime:
        """The UTC start of a wall-clock start, by the DST rules of the module docstring."""
        zone, first = self._plan.zone, self.first.start
        if wall == self._plan.first_wall:
            return first
        utc = wall.replace(tzinfo=zone).astimezone(UTC)
        if self._wall(utc) != wall:  # in a gap: fold=0 kept the old offset, past the gap's end
            earlier = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
            return _bisect(earlier, utc, lambda instant: self._wall(instant) > wall)
        if utc < first:  # the rest of a repeated hour whose second pass holds startTime
            return wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        return utc

    def _anchor(self, wall: datetime, back: int) -> datetime | None:
        """Start of the period `back` periods before the one holding `wall`; None: startTime."""
        plan = self._plan
        if plan.freq in (du.YEARLY, du.MONTHLY):
            months = (12 if plan.freq == du.YEARLY else 1) * plan.interval
            first = plan.base.year * 12 + plan.base.month - 1
            k = (wall.year * 12 + wall.month - 1 - first) // months - back
            year, month = divmod(first + k * months, 12)
            return plan.base.replace(year=year, month=month + 1) if k > 0 else None
        step = _STEPS[plan.freq] * plan.interval
        k = (wall - plan.base) // step - back
        return plan.base + k * step if k > 0 else None

    def _starts(self, anchor: datetime | None, horizon: datetime) -> Iterator[datetime]:
        """UTC starts from the period at `anchor` (None: from startTime) onwards, in order."""
        plan = self._plan
        shift = _CYCLE * max(0, (_RUNWAY_YEAR - horizon.year) // 400)
        try:
            until = None if plan.until_wall is None else plan.until_wall + shift
        except OverflowError:  # past 9999, where dateutil stops anyway
            until = None
        dtstart = plan.first_wall.replace(microsecond=0) if anchor is None else anchor
        rule = plan.rule.replace(dtstart=dtstart + shift, until=until)
        offset = timedelta(microseconds=plan.first_wall.microsecond)
        previous = None
        for wall in rule:
            start = self._localise(wall - shift + offset)
            if plan.until is not None and start > plan.until:
                return
            if start != previous:
                yield start
            previous = start

    def _from(self, instant: datetime) -> Iterator[datetime]:
        """The latest start at or before `instant` (if any), then every start after it."""
        wall = self._wall(instant)
        if self._plan.until_wall is not None:
            wall = min(wall, self._plan.until_wall)
        back = 0
        while True:
            anchor = self._anchor(wall, back)
            starts = self._starts(anchor, wall)
            latest = following = None
            for start in starts:
                if start > instant:
                    following = start
                    break
                latest = start
            # Starts never go back in time, so one at or before `instant` means none is missed.
            if latest is not None or anchor is None:
                break
            back = max(1, 2 * back)
        if latest is not None:
            yield latest
        if following is not None:
            yield following
            yield from starts


def compile_series(
    first_start: datetime, first_end: datetime, rrule: str, time_zone: str
) -> Series:
    """Parse and validate; raise InvalidSpecError naming the field to fix."""
    if first_start.tzinfo is None or first_end.tzinfo is None:
        raise ValueError("startTime and endTime must be aware datetimes")
    start, end = first_start.astimezone(UTC), first_end.astimezone(UTC)
    if end <= start:
        raise InvalidSpecError("spec.endTime", "must be later than spec.startTime")
    if end - start < MIN_DURATION:
        problem = (
            f"each occurrence of a recurring window lasts at least {_span(MIN_DURATION)} "
            f"(endTime - startTime is {_span(end - start)}); move spec.endTime later"
        )
        raise InvalidSpecError("spec.endTime", problem)
    zone = check_zone(ZONE_FIELD, time_zone)
    parts = _parse(rrule)
    wall = start.astimezone(zone).replace(tzinfo=None, fold=0)
    text = _written_out(parts, wall)
    rule = _rule(text, wall.replace(microsecond=0))
    freq, interval = _FREQS[parts["FREQ"]], int(parts.get("INTERVAL", "1"))
    base = _base(freq, wall, _DAYS.index(parts.get("WKST", "MO")))
    until_wall, until = _until(parts["UNTIL"], zone) if "UNTIL" in parts else (None, None)
    plan = _Plan(zone, rule, wall, freq, interval, base, until_wall, until)
    series = Series(Occurrence(start, end), rrule, time_zone, plan)
    first = next(series._starts(None, wall), None)
    if first is None and until_wall is not None:
        raise InvalidSpecError(RULE_FIELD, "the series is empty: UNTIL is before its first start")
    if first is None:
        raise InvalidSpecError(RULE_FIELD, "matches no date from spec.startTime on (February 30?)")
    if first != start:
        problem = (
            f"{wall.isoformat()} in {time_zone} is not an occurrence of {RULE_FIELD}, whose first "
            f"from then on is {first.astimezone(zone).replace(tzinfo=None).isoformat()}; "
            "start there or change the rule"
        )
        raise InvalidSpecError("spec.startTime", problem)
    if "COUNT" in parts:
        until_wall = _last_counted(text, wall.replace(microsecond=0), int(parts["COUNT"]))
        series = replace(series, _plan=replace(plan, until_wall=until_wall))
    if until_wall is not None and until is None:
        offset = timedelta(microseconds=start.microsecond)
        plan = replace(series._plan, until=series._localise(until_wall + offset))
        series = replace(series, _plan=plan)
    _check_overlap(series)
    if series._plan.until is not None:
        series = replace(series, _final=series._at(next(series._from(series._plan.until))))
    return series


def _parse(rrule: str) -> dict[str, str]:
    """The rule's parts by name, checked where dateutil is lenient."""
    text = rrule.strip().upper()
    if text.startswith("RRULE:"):
        raise InvalidSpecError(RULE_FIELD, 'remove the "RRULE:" prefix, e.g. FREQ=WEEKLY;BYDAY=SU')
    if "DTSTART" in text:
        raise InvalidSpecError(RULE_FIELD, "must not contain DTSTART: it is spec.startTime")
    parts: dict[str, str] = {}
    for item in text.split(";"):
        match = _PART.fullmatch(item)
        if match is None:
            problem = f"{item!r} is not NAME=VALUE; write e.g. FREQ=WEEKLY;BYDAY=SU"
            raise InvalidSpecError(RULE_FIELD, problem)
        name, value = match.groups()
        if name not in _PARTS or name in parts:
            raise InvalidSpecError(RULE_FIELD, f"{name} is unknown or repeated")
        parts[name] = value
    if parts.get("FREQ") not in _FREQS:
        raise InvalidSpecError(RULE_FIELD, f"FREQ must be one of {', '.join(_FREQS)}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidSpecError(RULE_FIELD, "use COUNT or UNTIL, not both")
    if _FREQS[parts["FREQ"]] > du.HOURLY and any(name.startswith("BY") for name in parts):
        problem = "FREQ=MINUTELY and FREQ=SECONDLY take no BYxxx part; use FREQ=HOURLY or longer"
        raise InvalidSpecError(RULE_FIELD, problem)
    bounds = {"INTERVAL": (1, 1_000_000), "COUNT": (1, MAX_COUNT), **_RANGES}
    for name, (low, high) in bounds.items():
        for value in parts[name].split(",") if name in parts else ():
            number = int(value) if _NUMBER.fullmatch(value) else 0
            if number == 0 or not low <= number <= high:
                problem = f"{name}={value}: each value must be a whole number from {low} to {high}"
                raise InvalidSpecError(RULE_FIELD, problem + (", not 0" if low < 0 else ""))
    return parts


def _written_out(parts: dict[str, str], wall: datetime) -> str:
    """The rule without COUNT and UNTIL, with the parts dateutil would take from DTSTART."""
    freq = _FREQS[parts["FREQ"]]
    written = {name: value for name, value in parts.items() if name not in ("COUNT", "UNTIL")}
    written.setdefault("WKST", "MO")
    if not written.keys() & {"BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY"}:
        if freq == du.YEARLY:
            written.setdefault("BYMONTH", str(wall.month))
        if freq in (du.YEARLY, du.MONTHLY):
            written["BYMONTHDAY"] = str(wall.day)
        if freq == du.WEEKLY:
            written["BYDAY"] = _DAYS[wall.weekday()]
    for name, value, finer in (
        ("BYHOUR", wall.hour, du.HOURLY),
        ("BYMINUTE", wall.minute, du.MINUTELY),
        ("BYSECOND", wall.second, du.SECONDLY),
    ):
        if freq < finer:
            written.setdefault(name, str(value))
    return ";".join(f"{name}={value}" for name, value in written.items())


def _rule(text: str, dtstart: datetime) -> du.rrule:
    try:
        rule = du.rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise InvalidSpecError(RULE_FIELD, f"does not parse: {error}") from error
    if not isinstance(rule, du.rrule):
        raise InvalidSpecError(RULE_FIELD, "must be a single RRULE value")
    return rule


def _base(freq: int, wall: datetime, week_start: int) -> datetime:
    """Wall-clock start of the period holding `wall`, as dateutil counts periods."""
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        du.YEARLY: midnight.replace(month=1, day=1),
        du.MONTHLY: midnight.replace(day=1),
        du.WEEKLY: midnight - timedelta(days=(wall.weekday() - week_start) % 7),
        du.DAILY: midnight,
        du.HOURLY: wall.replace(minute=0, second=0, microsecond=0),
        du.MINUTELY: wall.replace(second=0, microsecond=0),
    }.get(freq, wall.replace(microsecond=0))


def _until(value: str, zone: ZoneInfo) -> tuple[datetime, datetime | None]:
    """UNTIL as a wall-clock bound for dateutil, and as an instant if it was given in UTC."""
    match = _UNTIL.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        year, month, day, hour, minute, second, utc = match.groups()
        whole_day = hour is None
        clock = (23, 59, 59, 999_999) if whole_day else (int(hour), int(minute), int(second), 0)
        moment = datetime(int(year), int(month), int(day), *clock, tzinfo=UTC)
    except ValueError as error:
        problem = f"UNTIL={value}: write a UTC time such as 20261231T235959Z"
        raise InvalidSpecError(RULE_FIELD, problem) from error
    if not utc:
        return moment.replace(tzinfo=None), None
    local = moment.astimezone(zone)
    # In a second pass, later wall-clock times of the first pass started earlier: keep them.
    loose = timedelta(days=1) if local.fold else timedelta(0)
    return local.replace(tzinfo=None, fold=0) + loose, moment


@lru_cache(maxsize=256)
def _last_counted(text: str, dtstart: datetime, count: int) -> datetime:
    """Wall-clock start of the COUNT-th occurrence, or of the last within the 400-year runway."""
    shift = _CYCLE * max(0, (_RUNWAY_YEAR - dtstart.year) // 400)
    rule = du.rrulestr(f"{text};COUNT={count}", dtstart=dtstart + shift)
    return deque(rule, maxlen=1)[0] - shift


def _check_overlap(series: Series) -> None:
    """Reject occurrences that overlap, or too rare to check, as the module docstring says."""
    start = series.first.start
    sample: list[datetime] = []
    for instant in series._starts(None, series._wall(start)):
        if len(sample) >= _SAMPLE or (len(sample) >= 2 and instant - start > _YEAR):
            break
        sample.append(instant)
    if len(sample) < 2 and not series.finite:
        raise InvalidSpecError(RULE_FIELD, "repeats less than once in 400 years")
    pairs = list(pairwise(sample))
    _check_period(series, pairs)
    for change in _spring_forwards(series._plan.zone, start, start + _YEAR):
        starts = series._from(change - _TICK)
        before, after = next(starts, None), next(starts, None)
        if before is not None and after is not None and before < change:
            pairs.append((before, after))
    for before, after in pairs:
        if after - before < series.duration:
            problem = (
                f"occurrences overlap: each lasts {_span(series.duration)} but two start "
                f"{_span(after - before)} apart ({before:%Y-%m-%dT%H:%M:%SZ} and "
                f"{after:%Y-%m-%dT%H:%M:%SZ}); shorten the window or lengthen the period in "
                f"{RULE_FIELD}"
            )
            raise InvalidSpecError("spec.endTime", problem)


def _check_period(series: Series, pairs: list[tuple[datetime, datetime]]) -> None:
    """Reject starts closer than MIN_PERIOD in wall-clock time (module docstring)."""
    gaps = [(series._wall(after) - series._wall(before), before, after) for before, after in pairs]
    if not gaps:
        return
    gap, before, after = min(gaps)
    if gap < MIN_PERIOD:
        problem = (
            f"occurrences start {_span(gap)} apart ({before:%Y-%m-%dT%H:%M:%SZ} and "
            f"{after:%Y-%m-%dT%H:%M:%SZ}); a status page's maintenance starts at most every "
            f"{_span(MIN_PERIOD)}: lengthen the period or drop the close BYxxx values"
        )
        raise InvalidSpecError(RULE_FIELD, problem)


def _spring_forwards(zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """Instants in [start, end) at which the zone's UTC offset grows."""
    day = timedelta(days=1)
    instant = start
    while instant < end:
        if _offset(zone, instant + day) > _offset(zone, instant):
            yield _change(zone, instant, instant + day)
        instant += day


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _change(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The instant in (low, high] at which the zone's offset changes."""
    before = _offset(zone, low)
    return _bisect(low, high, lambda instant: _offset(zone, instant) != before)


def _bisect(low: datetime, high: datetime, past: Callable[[datetime], bool]) -> datetime:
    """The first instant in (low, high] where `past` holds; false at `low`, true at `high`."""
    while high - low > _TICK:
        middle = low + (high - low) / 2
        if past(middle):
            high = middle
        else:
            low = middle
    return high


def _span(delta: timedelta) -> str:
    """A duration as people write it: 1d2h, 3h, 45m, 10s."""
    seconds = int(delta.total_seconds())
    units = ((seconds // 86_400, "d"), (seconds // 3_600 % 24, "h"), (seconds // 60 % 60, "m"))
    text = "".join(f"{value}{unit}" for value, unit in (*units, (seconds % 60, "s")) if value)
    return text or f"{delta.total_seconds()}s"
