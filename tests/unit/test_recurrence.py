"""Recurring windows: wall-clock expansion, DST, bounds and validation.

The rules are docs/behaviour.md's "Recurring maintenance".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.occurrence import Around, Occurrence
from statuspage_operator.domain.recurrence import Series, compile_series


def at(text: str) -> datetime:
    """An aware UTC instant from `2026-03-29T01:00:00Z`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def make_series(
    start: str = "2026-03-22T09:00:00Z",
    rrule: str = "FREQ=WEEKLY",
    zone: str = "Europe/Berlin",
    duration: timedelta = timedelta(hours=1),
) -> Series:
    """A compiled series whose first occurrence starts at `start`."""
    return compile_series(at(start), at(start) + duration, rrule, zone)


def starts(series: Series, after: str, before: str) -> list[str]:
    """Starts in [after, before) as RFC 3339 UTC strings."""
    found = series.occurrences_between(at(after), at(before))
    return [o.start.strftime("%Y-%m-%dT%H:%M:%SZ") for o in found]


@pytest.mark.parametrize(
    ("start", "zone", "after", "before", "expected"),
    [
        pytest.param(
            "2026-03-22T09:00:00Z",
            "Europe/Berlin",
            "2026-03-20T00:00:00Z",
            "2026-04-01T00:00:00Z",
            ["2026-03-22T09:00:00Z", "2026-03-29T08:00:00Z"],
            id="berlin-spring",
        ),
        pytest.param(
            "2026-03-22T09:00:00Z",
            "Europe/Berlin",
            "2026-10-15T00:00:00Z",
            "2026-10-27T00:00:00Z",
            ["2026-10-18T08:00:00Z", "2026-10-25T09:00:00Z"],
            id="berlin-autumn",
        ),
        pytest.param(
            "2026-03-01T15:00:00Z",
            "America/New_York",
            "2026-02-28T00:00:00Z",
            "2026-03-10T00:00:00Z",
            ["2026-03-01T15:00:00Z", "2026-03-08T14:00:00Z"],
            id="new-york-spring",
        ),
        pytest.param(
            "2026-03-01T15:00:00Z",
            "America/New_York",
            "2026-10-24T00:00:00Z",
            "2026-11-03T00:00:00Z",
            ["2026-10-25T14:00:00Z", "2026-11-01T15:00:00Z"],
            id="new-york-autumn",
        ),
        pytest.param(
            "2026-03-28T22:00:00Z",
            "Australia/Lord_Howe",
            "2026-03-28T00:00:00Z",
            "2026-04-06T00:00:00Z",
            ["2026-03-28T22:00:00Z", "2026-04-04T22:30:00Z"],
            id="lord-howe-half-hour-autumn",
        ),
        pytest.param(
            "2026-03-28T22:00:00Z",
            "Australia/Lord_Howe",
            "2026-09-26T00:00:00Z",
            "2026-10-05T00:00:00Z",
            ["2026-09-26T22:30:00Z", "2026-10-03T22:00:00Z"],
            id="lord-howe-half-hour-spring",
        ),
    ],
)
def test_weekly_keeps_the_wall_clock_across_dst(
    start: str, zone: str, after: str, before: str, expected: list[str]
) -> None:
    """A weekly window keeps its local time, so its UTC start moves with DST."""
    assert starts(make_series(start, "FREQ=WEEKLY", zone), after, before) == expected


def test_duration_is_elapsed_time_across_a_dst_change() -> None:
    """A window spanning the spring-forward change lasts endTime - startTime of real time."""
    series = make_series("2026-03-21T22:00:00Z", duration=timedelta(hours=5))
    crossing = series.around(at("2026-03-29T01:00:00Z")).current
    assert crossing == Occurrence(at("2026-03-28T22:00:00Z"), at("2026-03-29T03:00:00Z"))
    assert crossing.end.astimezone(ZoneInfo("Europe/Berlin")).hour == 5


def test_a_start_in_the_spring_gap_moves_to_the_end_of_the_gap() -> None:
    """Berlin 02:30 does not exist on 29 March: that day starts at 03:00 local, 01:00Z."""
    series = make_series("2026-03-27T01:30:00Z", "FREQ=DAILY")
    assert starts(series, "2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z") == [
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:30:00Z",
    ]


def test_a_start_in_the_lord_howe_gap_moves_to_the_end_of_the_gap() -> None:
    """Lord Howe skips 02:00-02:30 on 4 October: 02:15 starts at 02:30 local that day."""
    series = make_series("2026-10-02T15:45:00Z", "FREQ=DAILY", "Australia/Lord_Howe")
    assert starts(series, "2026-10-02T00:00:00Z", "2026-10-05T00:00:00Z") == [
        "2026-10-02T15:45:00Z",
        "2026-10-03T15:30:00Z",
        "2026-10-04T15:15:00Z",
    ]


def test_a_start_in_the_fall_back_overlap_runs_once_at_the_first_pass() -> None:
    """New York 01:30 happens twice on 1 November: the window runs once, at 01:30 EDT."""
    series = make_series("2026-10-30T05:30:00Z", "FREQ=DAILY", "America/New_York")
    assert starts(series, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z") == [
        "2026-10-31T05:30:00Z",
        "2026-11-01T05:30:00Z",
        "2026-11-02T06:30:00Z",
    ]
    assert series.around(at("2026-11-01T06:45:00Z")).current is None


def test_a_start_time_in_the_second_pass_is_kept() -> None:
    """startTime at 01:30 EST (the second pass) is the first occurrence, exactly as given."""
    series = make_series("2026-11-01T06:30:00Z", "FREQ=DAILY", "America/New_York")
    assert starts(series, "2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z") == [
        "2026-11-01T06:30:00Z",
        "2026-11-02T06:30:00Z",
    ]


def test_starts_in_one_gap_collapse_into_one() -> None:
    """Every-20-minutes starts inside the Berlin gap become one occurrence at 01:00Z."""
    series = make_series(
        "2026-03-29T00:00:00Z", "FREQ=MINUTELY;INTERVAL=20", "Europe/Berlin", timedelta(minutes=10)
    )
    assert starts(series, "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z") == [
        "2026-03-29T00:40:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-29T01:20:00Z",
    ]


@pytest.mark.parametrize(
    ("start", "rrule", "expected"),
    [
        pytest.param(
            "2026-01-31T22:00:00Z",
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            ["01-31", "02-28", "03-31", "04-30", "05-31", "06-30"],
            id="last-day-of-the-month",
        ),
        pytest.param(
            "2026-01-30T22:00:00Z",
            "FREQ=MONTHLY;BYDAY=-1FR",
            ["01-30", "02-27", "03-27", "04-24", "05-29", "06-26"],
            id="last-friday",
        ),
        pytest.param(
            "2026-01-30T22:00:00Z",
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            ["01-30", "02-27", "03-31", "04-30", "05-29", "06-30"],
            id="last-weekday-bysetpos",
        ),
    ],
)
def test_monthly_rules_pick_the_right_days(start: str, rrule: str, expected: list[str]) -> None:
    """BYMONTHDAY=-1, BYDAY=-1FR and BYSETPOS pick the days RFC 5545 says."""
    found = starts(make_series(start, rrule, "UTC"), "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z")
    assert [text[5:10] for text in found] == expected


def test_the_last_day_of_the_month_stays_right_years_later() -> None:
    """Re-anchored near a date ten years on, BYMONTHDAY=-1 still finds 29 February 2036."""
    series = make_series("2026-01-31T22:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=-1", "UTC")
    around = series.around(at("2036-03-05T00:00:00Z"))
    assert around.last is not None
    assert around.last.start == at("2036-02-29T22:00:00Z")
    assert around.next is not None
    assert around.next.start == at("2036-03-31T22:00:00Z")


def test_a_window_crossing_midnight_is_current_after_midnight() -> None:
    """A 23:00-01:00 Berlin window is in progress at 00:30 the next day."""
    series = make_series("2026-06-01T21:00:00Z", "FREQ=DAILY", duration=timedelta(hours=2))
    around = series.around(at("2026-06-10T22:30:00Z"))
    assert around.current == Occurrence(at("2026-06-10T21:00:00Z"), at("2026-06-10T23:00:00Z"))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param("2026-06-10T21:00:00Z", "2026-06-10T21:00:00Z", id="start-is-inside"),
        pytest.param("2026-06-10T23:00:00Z", None, id="end-is-outside"),
    ],
)
def test_start_is_inclusive_and_end_exclusive(now: str, expected: str | None) -> None:
    """An occurrence is current from its start up to, not including, its end."""
    series = make_series("2026-06-01T21:00:00Z", "FREQ=DAILY", duration=timedelta(hours=2))
    current = series.around(at(now)).current
    assert (current.start if current else None) == (at(expected) if expected else None)


def test_before_the_first_occurrence_only_next_is_set() -> None:
    """Before startTime the first occurrence is next and nothing is current or last."""
    series = make_series("2026-06-01T21:00:00Z", "FREQ=DAILY")
    first = Occurrence(at("2026-06-01T21:00:00Z"), at("2026-06-01T22:00:00Z"))
    assert series.around(at("2026-05-01T00:00:00Z")) == Around(None, first, None)


def test_count_ends_the_series() -> None:
    """COUNT=3 gives three occurrences; afterwards next is None and last is the final one."""
    series = make_series("2026-06-01T21:00:00Z", "FREQ=DAILY;COUNT=3")
    final = Occurrence(at("2026-06-03T21:00:00Z"), at("2026-06-03T22:00:00Z"))
    assert series.finite
    assert series.final() == final
    assert series.around(at("2027-01-01T00:00:00Z")) == Around(None, None, final)
    assert (
        len(series.occurrences_between(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))) == 3
    )


@pytest.mark.parametrize(
    ("until", "final"),
    [
        pytest.param("20260415T000000Z", "2026-04-12T08:00:00Z", id="utc"),
        pytest.param("20260412T100000", "2026-04-12T08:00:00Z", id="wall-clock-inclusive"),
        pytest.param("20260412T095959", "2026-04-05T08:00:00Z", id="wall-clock-just-before"),
        pytest.param("20260412", "2026-04-12T08:00:00Z", id="date-is-the-whole-day"),
        pytest.param("20260412T080000Z", "2026-04-12T08:00:00Z", id="utc-exactly-the-start"),
    ],
)
def test_until_ends_the_series(until: str, final: str) -> None:
    """UNTIL in UTC is an instant, without Z a wall-clock time, a date the whole day."""
    series = make_series("2026-03-22T09:00:00Z", f"FREQ=WEEKLY;UNTIL={until}")
    last = series.final()
    assert last is not None
    assert last.start == at(final)
    assert series.around(at("2026-06-01T00:00:00Z")) == Around(None, None, last)


def test_a_series_without_count_or_until_never_ends() -> None:
    """No COUNT and no UNTIL: not finite, and no final occurrence."""
    series = make_series()
    assert not series.finite
    assert series.final() is None


@pytest.mark.parametrize(
    ("now", "current", "following"),
    [
        pytest.param("2026-05-13T12:00:00Z", None, "2026-05-17T02:00:00Z", id="between"),
        pytest.param(
            "2026-05-10T03:00:00Z", "2026-05-10T02:00:00Z", "2026-05-17T02:00:00Z", id="in"
        ),
    ],
)
def test_a_series_started_ten_years_ago(now: str, current: str | None, following: str) -> None:
    """A weekly series from 2016 gives the right occurrences in 2026."""
    series = make_series("2016-01-03T02:00:00Z", "FREQ=WEEKLY", "UTC", timedelta(hours=2))
    around = series.around(at(now))
    assert (around.current.start if around.current else None) == (at(current) if current else None)
    assert around.next is not None
    assert around.next.start == at(following)
    assert around.last is not None
    assert around.last.start == at(following) - timedelta(weeks=2 if current else 1)


def test_a_seconds_series_started_a_year_ago() -> None:
    """Every 300 seconds since a year ago: the occurrence around now is on the 5-minute grid."""
    series = make_series(
        "2025-05-13T12:00:03Z", "FREQ=SECONDLY;INTERVAL=300", "UTC", timedelta(minutes=1)
    )
    around = series.around(at("2026-05-13T12:35:30Z"))
    assert around == Around(
        Occurrence(at("2026-05-13T12:35:03Z"), at("2026-05-13T12:36:03Z")),
        Occurrence(at("2026-05-13T12:40:03Z"), at("2026-05-13T12:41:03Z")),
        Occurrence(at("2026-05-13T12:30:03Z"), at("2026-05-13T12:31:03Z")),
    )


def test_the_shortest_series_like_the_e2e_tests() -> None:
    """FREQ=MINUTELY;INTERVAL=5;COUNT=3 has three 1-minute occurrences 5 minutes apart."""
    series = make_series(
        "2026-05-13T12:00:00Z", "FREQ=MINUTELY;INTERVAL=5;COUNT=3", "UTC", timedelta(minutes=1)
    )
    assert starts(series, "2026-05-13T00:00:00Z", "2026-05-14T00:00:00Z") == [
        "2026-05-13T12:00:00Z",
        "2026-05-13T12:05:00Z",
        "2026-05-13T12:10:00Z",
    ]


@pytest.mark.parametrize(
    ("rrule", "duration", "expected"),
    [
        pytest.param(
            "FREQ=SECONDLY;INTERVAL=2",
            timedelta(seconds=1),
            "spec.endTime: each occurrence of a recurring window lasts at least 1m "
            "(endTime - startTime is 1s)",
            id="issue-secondly-window",
        ),
        pytest.param(
            "FREQ=SECONDLY;INTERVAL=299",
            timedelta(minutes=1),
            "spec.recurrence.rrule: occurrences start 4m59s apart "
            "(2026-01-05T02:30:00Z and 2026-01-05T02:34:59Z)",
            id="secondly-just-under",
        ),
        pytest.param(
            "FREQ=MINUTELY;INTERVAL=4",
            timedelta(minutes=1),
            "spec.recurrence.rrule: occurrences start 4m apart",
            id="minutely-4",
        ),
        pytest.param(
            "FREQ=HOURLY;BYMINUTE=30,32",
            timedelta(minutes=1),
            "spec.recurrence.rrule: occurrences start 2m apart "
            "(2026-01-05T02:30:00Z and 2026-01-05T02:32:00Z)",
            id="byminute-close",
        ),
        pytest.param(
            "FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0,10",
            timedelta(minutes=1),
            "spec.recurrence.rrule: occurrences start 10s apart",
            id="bysecond-list",
        ),
    ],
)
def test_too_frequent_or_too_short_series_are_invalid(
    rrule: str, duration: timedelta, expected: str
) -> None:
    """Starts under 5 minutes apart or occurrences under 1 minute: InvalidSpec, what to fix."""
    with pytest.raises(InvalidSpecError) as caught:
        make_series("2026-01-05T02:30:00Z", rrule, "UTC", duration)
    assert str(caught.value).startswith(expected)
    assert "lengthen the period" in str(caught.value) or "move spec.endTime" in str(caught.value)


@pytest.mark.parametrize(
    ("start", "rrule", "zone"),
    [
        pytest.param("2026-01-05T02:30:00Z", "FREQ=MINUTELY;INTERVAL=5", "UTC", id="minutely-5"),
        pytest.param(
            "2026-01-05T02:30:00Z", "FREQ=SECONDLY;INTERVAL=300", "UTC", id="secondly-300"
        ),
        pytest.param("2026-01-05T02:30:00Z", "FREQ=HOURLY;BYMINUTE=30,35", "UTC", id="byminute-5"),
        # 01:58 and 02:58 local; the spring-forward gap moves 02:58 to 03:00, 2 minutes after
        # 01:58 CET in elapsed time: the rule's rhythm is hourly, not held against it.
        pytest.param(
            "2026-03-28T00:58:00Z", "FREQ=HOURLY;BYMINUTE=58", "Europe/Berlin", id="dst-gap"
        ),
    ],
)
def test_series_at_the_bounds_are_valid(start: str, rrule: str, zone: str) -> None:
    """Exactly 5 minutes between starts and 1-minute occurrences compile."""
    series = make_series(start, rrule, zone, timedelta(minutes=1))
    assert series.duration == timedelta(minutes=1)


def test_equal_specs_give_equal_series() -> None:
    """Compiling the same spec twice gives equal values (handlers compare them)."""
    assert make_series() == make_series()


RULE = "spec.recurrence.rrule: "


@pytest.mark.parametrize(
    ("rrule", "expected"),
    [
        pytest.param("FREQ=FORTNIGHTLY", RULE + "FREQ must be one of", id="bad-freq"),
        pytest.param("FREQ=WEEKLY;BYDAY=XX", RULE + "does not parse", id="bad-byday"),
        pytest.param("FREQ=WEEKLY;;", RULE + "'' is not NAME=VALUE", id="empty-part"),
        pytest.param("FREQ=WEEKLY;FOO=1", RULE + "FOO is unknown", id="unknown-part"),
        pytest.param("RRULE:FREQ=WEEKLY", RULE + 'remove the "RRULE:" prefix', id="prefix"),
        pytest.param(
            "FREQ=WEEKLY;DTSTART=20260101", RULE + "must not contain DTSTART", id="dtstart"
        ),
        pytest.param("FREQ=DAILY;UNTIL=20250101T000000Z", RULE + "the series is empty", id="empty"),
        pytest.param(
            "FREQ=DAILY;COUNT=10001", RULE + "COUNT=10001: each value", id="count-too-large"
        ),
        pytest.param("FREQ=DAILY;COUNT=0", RULE + "COUNT=0", id="count-zero"),
        pytest.param("FREQ=DAILY;INTERVAL=0", RULE + "INTERVAL=0", id="interval-zero"),
        pytest.param("FREQ=DAILY;COUNT=3;UNTIL=20270101", RULE + "use COUNT or UNTIL", id="both"),
        pytest.param("FREQ=DAILY;BYMONTH=13", RULE + "BYMONTH=13", id="bymonth-range"),
        pytest.param("FREQ=DAILY;UNTIL=TOMORROW", RULE + "UNTIL=TOMORROW", id="bad-until"),
        pytest.param("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", RULE + "matches no date", id="feb-30"),
        pytest.param("FREQ=YEARLY;INTERVAL=1000", RULE + "repeats less than once", id="too-rare"),
        pytest.param("FREQ=MINUTELY;BYHOUR=2", RULE + "FREQ=MINUTELY and", id="minutely-by"),
        pytest.param(
            "FREQ=WEEKLY;BYDAY=SU", "spec.startTime: 2026-01-05T02:30:00 in", id="off-rule"
        ),
        pytest.param(
            "FREQ=HOURLY", "spec.endTime: occurrences overlap: each lasts 3h", id="overlap"
        ),
    ],
)
def test_invalid_rules_name_the_field(rrule: str, expected: str) -> None:
    """An invalid rule is an InvalidSpecError whose message starts with the field path."""
    with pytest.raises(InvalidSpecError) as caught:
        make_series("2026-01-05T02:30:00Z", rrule, "UTC", timedelta(hours=3))
    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    ("zone", "hours", "expected"),
    [
        pytest.param("Mars/Olympus", 1, "spec.recurrence.timeZone: unknown", id="unknown-zone"),
        pytest.param("Europe", 1, "spec.recurrence.timeZone: unknown", id="zone-directory"),
        pytest.param("Europe/Berlin", 23.5, "spec.endTime: occurrences overlap", id="dst-day"),
    ],
)
def test_invalid_zones_and_durations_name_the_field(zone: str, hours: float, expected: str) -> None:
    """An unknown zone, or a daily window longer than the spring-forward day, is rejected."""
    with pytest.raises(InvalidSpecError) as caught:
        make_series("2026-01-05T02:30:00Z", "FREQ=DAILY", zone, timedelta(hours=hours))
    assert str(caught.value).startswith(expected)


def test_overlap_message_says_what_to_fix() -> None:
    """The overlap message gives both durations and points at endTime and the rule."""
    with pytest.raises(InvalidSpecError) as caught:
        make_series("2026-01-05T02:30:00Z", "FREQ=HOURLY", "UTC", timedelta(hours=3))
    assert str(caught.value) == (
        "spec.endTime: occurrences overlap: each lasts 3h but two start 1h apart "
        "(2026-01-05T02:30:00Z and 2026-01-05T03:30:00Z); shorten the window or lengthen the "
        "period in spec.recurrence.rrule"
    )


# The property test: around() agrees with a straightforward expansion from startTime.

CASES = {
    "weekly-berlin-in-gap": ("2026-01-04T01:30:00Z", "FREQ=WEEKLY;BYDAY=SU", "Europe/Berlin", 3),
    "daily-new-york-overlap": ("2026-01-01T06:30:00Z", "FREQ=DAILY", "America/New_York", 0.5),
    "hourly-lord-howe": (
        "2026-01-01T00:00:00Z",
        "FREQ=HOURLY;INTERVAL=5",
        "Australia/Lord_Howe",
        3,
    ),
    "minutely-berlin": ("2026-01-01T00:00:00Z", "FREQ=MINUTELY;INTERVAL=20", "Europe/Berlin", 0.25),
    "last-weekday-midnight": (
        "2026-01-30T22:00:00Z",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "Europe/Berlin",
        4,
    ),
    "every-3-days-count": (
        "2026-01-01T12:00:00Z",
        "FREQ=DAILY;INTERVAL=3;COUNT=100",
        "Australia/Sydney",
        6,
    ),
    "weekends-until": (
        "2026-01-03T15:00:00Z",
        "FREQ=WEEKLY;BYDAY=SA,SU;UNTIL=20260906T150000Z",
        "America/New_York",
        2,
    ),
    "three-weekly-since-2016": (
        "2016-01-02T09:00:00Z",
        "FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,SA",
        "Europe/Berlin",
        30,
    ),
    "start-in-second-pass": (
        "2026-11-01T06:30:00Z",
        "FREQ=MINUTELY;INTERVAL=10;COUNT=500",
        "America/New_York",
        0.1,
    ),
    "last-sunday-of-march-in-gap": (
        "2026-03-29T01:00:00Z",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "Europe/Berlin",
        1,
    ),
}
RANGE_START, RANGE_END = at("2026-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z")
EXPANSION_END = at("2029-01-01T00:00:00Z")


@cache
def brute_force(name: str) -> tuple[Occurrence, ...]:
    """Every occurrence up to EXPANSION_END, expanded from startTime one by one."""
    start_text, rrule, zone_name, hours = CASES[name]
    start, zone, duration = at(start_text), ZoneInfo(zone_name), timedelta(hours=hours)
    rule_text, _, until_text = rrule.partition(";UNTIL=")
    until = EXPANSION_END
    if until_text:
        until = datetime.strptime(until_text.replace("Z", "+0000"), "%Y%m%dT%H%M%S%z")
    found: list[Occurrence] = []
    for wall in rrulestr(rule_text, dtstart=start.astimezone(zone).replace(tzinfo=None)):
        instant = start if not found else wall.replace(tzinfo=zone).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) != wall:
            # Nonexistent wall time: walk back to the first instant after the gap.
            for step in (timedelta(minutes=1), timedelta(seconds=1)):
                while (instant - step).astimezone(zone).replace(tzinfo=None) > wall:
                    instant -= step
        if instant < start:  # the rest of a repeated hour whose second pass holds startTime
            instant = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if instant > min(until, EXPANSION_END):
            break
        if not found or instant != found[-1].start:
            found.append(Occurrence(instant, instant + duration))
    return tuple(found)


def expected_around(occurrences: tuple[Occurrence, ...], now: datetime) -> Around:
    """around() by definition, over a full list."""
    current = [o for o in occurrences if o.contains(now)]
    later = [o for o in occurrences if o.start > now]
    ended = [o for o in occurrences if o.end <= now]
    return Around(
        current[0] if current else None, later[0] if later else None, ended[-1] if ended else None
    )


@cache
def compiled(name: str) -> Series:
    """The case compiled once."""
    start, rrule, zone, hours = CASES[name]
    return make_series(start, rrule, zone, timedelta(hours=hours))


@st.composite
def instants(draw: st.DrawFn) -> tuple[str, datetime]:
    """A case and an instant: anywhere in the range, or just around an occurrence's edge."""
    name = draw(st.sampled_from(sorted(CASES)))
    occurrences = [o for o in brute_force(name) if o.start < RANGE_END]
    if draw(st.booleans()):
        seconds = draw(st.integers(0, int((RANGE_END - RANGE_START).total_seconds())))
        return name, RANGE_START + timedelta(seconds=seconds)
    occurrence = draw(st.sampled_from(occurrences))
    edge = draw(st.sampled_from([occurrence.start, occurrence.end]))
    return name, edge + timedelta(microseconds=draw(st.sampled_from([-1, 0, 1])))


@settings(max_examples=400, deadline=None)
@given(instants())
def test_around_agrees_with_a_brute_force_expansion(case: tuple[str, datetime]) -> None:
    """For any instant, around() equals the definition applied to the full expansion."""
    name, now = case
    assert compiled(name).around(now) == expected_around(brute_force(name), now)


@settings(max_examples=100, deadline=None)
@given(instants(), st.integers(0, 20 * 86_400))
def test_occurrences_between_agrees_with_a_brute_force_expansion(
    case: tuple[str, datetime], seconds: int
) -> None:
    """occurrences_between() lists exactly the occurrences starting in the range."""
    name, after = case
    before = after + timedelta(seconds=seconds)
    expected = [o for o in brute_force(name) if after <= o.start < before]
    assert compiled(name).occurrences_between(after, before) == expected


def test_occurrences_between_stops_at_the_limit() -> None:
    """A minutely rule over a year is cut at the limit, not enumerated to the end."""
    minutely = compile_series(
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2026, 12, 1, 0, 1, tzinfo=UTC),
        "FREQ=MINUTELY;INTERVAL=5",
        "UTC",
    )
    found = minutely.occurrences_between(
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 12, 1, tzinfo=UTC), limit=5
    )
    assert [o.start.minute for o in found] == [0, 5, 10, 15, 20]
