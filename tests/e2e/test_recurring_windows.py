"""Recurring maintenance against the real control plane: each occurrence moves on time."""

from __future__ import annotations

import time
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from e2e.kube import Kube, condition, wait_for
from e2e.objects import make_component, make_page, make_window

TOLERANCE = 2.5

pytestmark = pytest.mark.usefixtures("operator")


def whole_seconds_from_now(seconds: int) -> datetime:
    """A whole-second instant a few seconds ahead."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)


def test_short_series_moves_with_each_occurrence(kube: Kube, namespace: str) -> None:
    """FREQ=MINUTELY;INTERVAL=5;COUNT=3 begun 10 minutes ago: its last occurrence runs on time."""
    kube.apply(namespace, make_page(), make_component("api"))
    # The shortest series the bounds allow (5-minute period, 1-minute occurrences), begun so that
    # two occurrences are over and the third starts in a few seconds.
    start = whole_seconds_from_now(5) - timedelta(minutes=10)
    last = start + timedelta(minutes=10)
    kube.apply(
        namespace,
        make_window(
            "series",
            start,
            start + timedelta(minutes=1),
            ["api"],
            recurrence={"rrule": "FREQ=MINUTELY;INTERVAL=5;COUNT=3", "timeZone": "UTC"},
        ),
    )
    seen: list[tuple[float, str | None, str | None]] = []
    deadline = last.timestamp() + 60 + 5
    while time.time() < deadline:
        window = kube.status("mw", "series", namespace).get("phase")
        component = kube.status("comp", "api", namespace).get("status")
        if not seen or seen[-1][1:] != (window, component):
            seen.append((time.time(), window, component))
        if window == "Completed" and component == "Operational":
            break
        time.sleep(0.2)
    phases = [phase for _, phase, _ in seen]
    collapsed = [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]]
    assert collapsed[-3:] == ["Scheduled", "InProgress", "Completed"], seen
    started = next(t for t, phase, _ in seen if phase == "InProgress")
    ended = next(t for t, phase, _ in seen if phase == "Completed")
    assert abs(started - last.timestamp()) < TOLERANCE, seen
    assert abs(ended - (last.timestamp() + 60)) < TOLERANCE, seen
    during = {component for _, phase, component in seen if phase == "InProgress"}
    assert during <= {"UnderMaintenance", "Operational"}
    assert "UnderMaintenance" in during
    assert seen[-1][1:] == ("Completed", "Operational")
    status = kube.status("mw", "series", namespace)
    assert status["lastOccurrence"]["start"] == last.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("rrule", "seconds", "field", "message"),
    [
        pytest.param(
            "FREQ=SECONDLY;INTERVAL=2",
            60,
            "spec.recurrence.rrule",
            "FREQ=SECONDLY needs",
            id="secondly",
        ),
        pytest.param(
            "FREQ=MINUTELY;INTERVAL=4",
            60,
            "spec.recurrence.rrule",
            "FREQ=MINUTELY needs",
            id="minutely",
        ),
        pytest.param(
            "FREQ=HOURLY;BYMINUTE=0;BYSECOND=0,30",
            60,
            "spec.recurrence.rrule",
            "BYSECOND takes one value",
            id="bysecond-list",
        ),
        pytest.param("FREQ=DAILY", 30, "spec.endTime", "last at least 1m", id="short-occurrence"),
    ],
)
def test_too_frequent_series_is_rejected_at_admission(
    kube: Kube, namespace: str, rrule: str, seconds: int, field: str, message: str
) -> None:
    """The API server refuses a series that would start more than every 5 minutes or last <1m."""
    start = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    bad = make_window(
        "frantic", start, start + timedelta(seconds=seconds), recurrence={"rrule": rrule}
    )
    result = kube.run("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(bad), check=False)
    assert result.returncode != 0, result.stdout
    assert field in result.stderr
    assert message in result.stderr
    assert kube.get("mw", "frantic", namespace) is None


def test_recurring_window_reports_its_next_occurrence(kube: Kube, namespace: str) -> None:
    """A weekly window in Berlin shows its next occurrence in UTC, wall clock kept."""
    kube.apply(namespace, make_page())
    start = datetime(2026, 3, 22, 1, 0, tzinfo=UTC)  # Sunday 02:00 in Berlin, before DST
    kube.apply(
        namespace,
        make_window(
            "weekly",
            start,
            start + timedelta(hours=1),
            recurrence={"rrule": "FREQ=WEEKLY;BYDAY=SU", "timeZone": "Europe/Berlin"},
        ),
    )
    status = wait_for(lambda: kube.status("mw", "weekly", namespace).get("nextOccurrence"), 5)
    next_start = datetime.fromisoformat(status["start"].replace("Z", "+00:00"))
    local = next_start.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (local.weekday(), local.hour, local.minute) == (6, 2, 0)
    assert kube.status("mw", "weekly", namespace)["phase"] == "Scheduled"


@pytest.mark.parametrize(
    ("recurrence", "field"),
    [
        pytest.param(
            {"rrule": "FREQ=WEEKLY;BYDAY=SU", "timeZone": "Mars/Olympus"},
            "spec.recurrence.timeZone",
            id="unknown-zone",
        ),
        pytest.param({"rrule": "FREQ=HOURLY"}, "spec.endTime", id="overlapping-occurrences"),
        pytest.param(
            {"rrule": "FREQ=DAILY;UNTIL=20200101T000000Z"},
            "spec.recurrence.rrule",
            id="empty-series",
        ),
        pytest.param({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "spec.recurrence.rrule", id="bad-rrule"),
        # Beyond what CEL can see: two minutes between starts, found by the operator.
        pytest.param(
            {"rrule": "FREQ=HOURLY;BYMINUTE=0,2"},
            "spec.recurrence.rrule: occurrences start 2m apart",
            id="starts-too-close",
        ),
    ],
)
def test_invalid_recurrence_is_stalled(
    kube: Kube, namespace: str, recurrence: dict[str, str], field: str
) -> None:
    """A series that can never work: Stalled, reason InvalidSpec, the field named."""
    kube.apply(namespace, make_page())
    start = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    kube.apply(
        namespace, make_window("bad", start, start + timedelta(hours=3), recurrence=recurrence)
    )
    stalled = wait_for(lambda: condition(kube.status("mw", "bad", namespace), "Stalled") or None, 5)
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSpec")
    assert field in stalled["message"]
    ready = condition(kube.status("mw", "bad", namespace), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
