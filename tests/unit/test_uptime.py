"""A component's status history (record_change) and its uptime, with a fixed NOW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from statuspage_operator.domain.timestamps import format_time as format_instant
from statuspage_operator.domain.uptime import (
    MAX_INTERVALS,
    record_change,
    uptime,
)
from unit.crd_schema import validation_errors

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=400)
BERLIN = ZoneInfo("Europe/Berlin")


def at(hours_ago: float) -> str:
    """NOW minus some hours, as the history writes it."""
    return format_instant(NOW - timedelta(hours=hours_ago))


def interval(status: str, since: str, until: str | None = None) -> dict[str, Any]:
    """A history entry."""
    entry = {"status": status, "since": since}
    if until is not None:
        entry["until"] = until
    return entry


def test_first_status_operational_records_nothing() -> None:
    """A new Operational component has an empty history."""
    assert record_change([], None, "Operational", NOW) == []


def test_first_status_outage_opens_an_interval() -> None:
    """A component first seen in an outage opens an interval at now, without until."""
    assert record_change([], None, "MajorOutage", NOW) == [interval("MajorOutage", at(0))]


def test_back_to_operational_closes_the_interval() -> None:
    """Recovering closes the open interval at now."""
    history = [interval("PartialOutage", at(2))]
    assert record_change(history, "PartialOutage", "Operational", NOW) == [
        interval("PartialOutage", at(2), at(0))
    ]


def test_change_between_outages_closes_and_opens() -> None:
    """A change from one outage to another closes the first and opens the second."""
    history = [interval("DegradedPerformance", at(2))]
    assert record_change(history, "DegradedPerformance", "MajorOutage", NOW) == [
        interval("DegradedPerformance", at(2), at(0)),
        interval("MajorOutage", at(0)),
    ]


def test_same_status_is_unchanged() -> None:
    """Recording the current status again keeps the open interval as it is."""
    history = [interval("MajorOutage", at(5))]
    assert record_change(history, "MajorOutage", "MajorOutage", NOW) == history


def test_adjacent_same_status_is_merged() -> None:
    """Going back to a status that ended at this very instant reopens that interval."""
    history = [interval("MajorOutage", at(3), at(0))]
    assert record_change(history, "Operational", "MajorOutage", NOW) == [
        interval("MajorOutage", at(3))
    ]


def test_input_is_not_modified() -> None:
    """record_change is pure: the caller's list and dicts are left alone."""
    history = [interval("PartialOutage", at(2))]
    record_change(history, "PartialOutage", "Operational", NOW)
    assert history == [interval("PartialOutage", at(2))]


def test_old_intervals_are_dropped_and_straddling_kept() -> None:
    """Intervals that ended over 90 days ago go; one straddling the boundary stays whole."""
    history = [
        interval("MajorOutage", at(24 * 100), at(24 * 95)),
        interval("PartialOutage", at(24 * 91), at(24 * 89)),
        interval("DegradedPerformance", at(1)),
    ]
    assert record_change(history, "DegradedPerformance", "Operational", NOW) == [
        interval("PartialOutage", at(24 * 91), at(24 * 89)),
        interval("DegradedPerformance", at(1), at(0)),
    ]


def test_not_operational_before_history_was_kept_is_recorded_from_now() -> None:
    """A component already in an outage with no history starts its interval now."""
    assert record_change([], "MajorOutage", "MajorOutage", NOW) == [interval("MajorOutage", at(0))]


def test_history_is_bounded() -> None:
    """Flapping never grows the history beyond the CRD's maxItems; the newest are kept."""
    history: list[dict[str, Any]] = []
    instant = NOW - timedelta(days=10)
    statuses = ["Operational", "MajorOutage"]
    for step in range(2 * MAX_INTERVALS + 100):
        instant += timedelta(minutes=1)
        history = record_change(history, statuses[step % 2], statuses[(step + 1) % 2], instant)
    assert len(history) == MAX_INTERVALS
    assert history[-1]["since"] > history[0]["since"]


def test_unknown_status_is_rejected() -> None:
    """A status outside the five is a programming error, not silently recorded."""
    with pytest.raises(ValueError, match="Broken"):
        record_change([], None, "Broken", NOW)


def test_history_validates_against_the_crd() -> None:
    """The API server's schema accepts a history as record_change writes it."""
    history = record_change([], None, "PartialOutage", NOW - timedelta(hours=1))
    history = record_change(history, "PartialOutage", "UnderMaintenance", NOW)
    component = {
        "apiVersion": "statuspage.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "api"},
        "spec": {"page": "example"},
        "status": {"status": "UnderMaintenance", "history": history},
    }
    assert validation_errors(component) == []


def test_crd_rejects_operational_intervals() -> None:
    """Operational is never an interval: the schema's enum says so."""
    component = {
        "apiVersion": "statuspage.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "api"},
        "spec": {"page": "example"},
        "status": {"history": [interval("Operational", at(1))]},
    }
    assert validation_errors(component)


def test_all_up_is_100_percent() -> None:
    """No history: 90 full bars and 100%."""
    result = uptime([], LONG_AGO, NOW, UTC)
    assert len(result.days) == 90
    assert result.percent == 100.0
    assert all(bar.uptime == 1.0 for bar in result.days)
    assert result.days[-1].day == NOW.date()
    assert result.days[0].day == NOW.date() - timedelta(days=89)


@pytest.mark.parametrize(
    ("status", "down_share"),
    [
        pytest.param("MajorOutage", 1.0, id="major-counts-fully"),
        pytest.param("PartialOutage", 0.3, id="partial-counts-30-percent"),
        pytest.param("DegradedPerformance", 0.0, id="degraded-counts-as-up"),
        pytest.param("UnderMaintenance", 0.0, id="maintenance-counts-as-up"),
    ],
)
def test_weights(status: str, down_share: float) -> None:
    """Six hours of a status on one day weigh as Statuspage counts them."""
    yesterday_noon = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    history = [
        interval(
            status, format_instant(yesterday_noon), format_instant(yesterday_noon.replace(hour=18))
        )
    ]
    result = uptime(history, LONG_AGO, NOW, UTC)
    bar = result.days[-2]
    assert bar.uptime == pytest.approx(1 - 0.25 * down_share)
    assert bar.worst == status
    counted_hours = 89 * 24 + 12
    assert result.percent == pytest.approx(100 * (1 - 6 * down_share / counted_hours))


def test_open_interval_counts_until_now() -> None:
    """The current outage counts from its start to now, not beyond."""
    result = uptime([interval("MajorOutage", at(6))], LONG_AGO, NOW, UTC)
    today = result.days[-1]
    assert today.counted == timedelta(hours=12)
    assert today.uptime == pytest.approx(0.5)


def test_time_before_creation_is_not_counted() -> None:
    """A component created two days ago has bars with no data before, and counts only since."""
    created = NOW - timedelta(days=2)
    result = uptime([interval("MajorOutage", at(12), at(0))], created, NOW, UTC)
    assert result.days[-4].uptime is None
    assert result.days[-4].worst is None
    assert result.days[-3].counted == timedelta(hours=12)
    assert result.percent == pytest.approx(100 * (1 - 12 / 48))


def test_just_created_has_no_percentage() -> None:
    """Nothing counted yet: no percentage rather than a made-up one."""
    assert uptime([], NOW, NOW, UTC).percent is None


def test_days_are_in_the_page_time_zone() -> None:
    """An outage from 23:30 to 00:30 Berlin time falls on two Berlin days."""
    since = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)  # 23:30 CET
    until = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # 00:30 CET the next day
    history = [interval("MajorOutage", format_instant(since), format_instant(until))]
    result = uptime(history, LONG_AGO, NOW, BERLIN)
    by_day = {bar.day.isoformat(): bar for bar in result.days}
    assert by_day["2026-11-26"].by_status == {"MajorOutage": timedelta(minutes=30)}
    assert by_day["2026-11-27"].by_status == {"MajorOutage": timedelta(minutes=30)}
    assert result.days[-1].day.isoformat() == "2026-11-28"


def test_dst_day_counts_its_real_length() -> None:
    """The fall-back day in Berlin has 25 hours, all counted."""
    now = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    result = uptime([], LONG_AGO, now, BERLIN)
    by_day = {bar.day.isoformat(): bar for bar in result.days}
    assert by_day["2026-10-25"].counted == timedelta(hours=25)


def test_malformed_entries_are_ignored() -> None:
    """A hand-edited history with a broken entry still yields bars."""
    history = [{"status": "MajorOutage"}, {"status": "Nope", "since": at(1)}]
    assert uptime(history, LONG_AGO, NOW, UTC).percent == 100.0
