"""How long Series.around(now) takes, by the age and shape of the series.

Run with `.venv/bin/python bench/bench_recurrence.py`; prints the median microseconds per call.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "operator"))

from statuspage_operator.domain.recurrence import Series, compile_series

NOW = datetime(2026, 5, 13, 12, 34, 56, tzinfo=UTC)
CALLS = 2000


def series(start: datetime, duration: timedelta, rrule: str, zone: str = "UTC") -> Series:
    """A compiled series starting at `start`."""
    return compile_series(start, start + duration, rrule, zone)


CASES = {
    "weekly, started 10 years ago (Berlin)": series(
        datetime(2016, 5, 1, 1, 0, tzinfo=UTC), timedelta(hours=2), "FREQ=WEEKLY", "Europe/Berlin"
    ),
    "daily, started 10 years ago (New York)": series(
        datetime(2016, 5, 1, 6, 30, tzinfo=UTC),
        timedelta(hours=1),
        "FREQ=DAILY",
        "America/New_York",
    ),
    "SECONDLY;INTERVAL=10, started 30 days ago": series(
        NOW - timedelta(days=30, seconds=3), timedelta(seconds=5), "FREQ=SECONDLY;INTERVAL=10"
    ),
    "monthly last Friday, started 10 years ago": series(
        datetime(2016, 5, 27, 22, 0, tzinfo=UTC), timedelta(hours=4), "FREQ=MONTHLY;BYDAY=-1FR"
    ),
    "weekly COUNT=10000, started 10 years ago": series(
        datetime(2016, 5, 1, 1, 0, tzinfo=UTC), timedelta(hours=2), "FREQ=WEEKLY;COUNT=10000"
    ),
    "weekly, fresh (starts tomorrow)": series(
        NOW + timedelta(days=1),
        timedelta(hours=2),
        "FREQ=WEEKLY;BYDAY=" + "MTWTFSS"[0] + "O"
        if (NOW + timedelta(days=1)).weekday() == 0
        else "FREQ=WEEKLY",
    ),
}


def median_microseconds(target: Series) -> float:
    """Median wall time of one around() call, over CALLS calls at instants a minute apart."""
    timings = []
    for i in range(CALLS):
        now = NOW + timedelta(minutes=i)
        begin = time.perf_counter()
        target.around(now)
        timings.append(time.perf_counter() - begin)
    return statistics.median(timings) * 1e6


def main() -> None:
    """Print one line per case."""
    for name, target in CASES.items():
        print(f"{median_microseconds(target):9.1f} us  {name}")


if __name__ == "__main__":
    main()
