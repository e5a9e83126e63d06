"""How long Series.around(now) and compile_series take, by the age and shape of the series.

Run with `.venv/bin/python bench/bench_recurrence.py`; prints median microseconds per call.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "operator"))

from statuspage_operator.domain.recurrence import compile_series

NOW = datetime(2026, 5, 13, 12, 34, 56, tzinfo=UTC)
CALLS = 2000
TEN_YEARS_AGO = datetime(2016, 5, 1, 1, 0, tzinfo=UTC)  # a Sunday, 03:00 in Berlin

# name: (first start, duration, rrule, time zone)
CASES = {
    "weekly, started 10 years ago (Berlin)": (
        TEN_YEARS_AGO,
        timedelta(hours=2),
        "FREQ=WEEKLY",
        "Europe/Berlin",
    ),
    "daily, started 10 years ago (New York)": (
        TEN_YEARS_AGO,
        timedelta(hours=1),
        "FREQ=DAILY",
        "America/New_York",
    ),
    "MINUTELY;INTERVAL=5 (the shortest allowed), started 30 days ago": (
        NOW - timedelta(days=30, seconds=3),
        timedelta(minutes=1),
        "FREQ=MINUTELY;INTERVAL=5",
        "UTC",
    ),
    "monthly last Friday, started 10 years ago": (
        datetime(2016, 5, 27, 20, 0, tzinfo=UTC),
        timedelta(hours=4),
        "FREQ=MONTHLY;BYDAY=-1FR",
        "Europe/Berlin",
    ),
    "weekly COUNT=10000, started 10 years ago": (
        TEN_YEARS_AGO,
        timedelta(hours=2),
        "FREQ=WEEKLY;COUNT=10000",
        "Europe/Berlin",
    ),
    "weekly, fresh (first start tomorrow)": (
        NOW + timedelta(days=1),
        timedelta(hours=2),
        "FREQ=WEEKLY",
        "Europe/Berlin",
    ),
}


def median_microseconds(call: Callable[[int], object], calls: int) -> float:
    """Median wall time of call(i) for i in range(calls)."""
    timings = []
    for i in range(calls):
        begin = time.perf_counter()
        call(i)
        timings.append(time.perf_counter() - begin)
    return statistics.median(timings) * 1e6


def bench(start: datetime, duration: timedelta, rrule: str, zone: str) -> tuple[float, float]:
    """around() over instants a minute apart, and compile_series repeated."""
    series = compile_series(start, start + duration, rrule, zone)
    around = median_microseconds(lambda i: series.around(NOW + timedelta(minutes=i)), CALLS)
    compiling = median_microseconds(
        lambda _: compile_series(start, start + duration, rrule, zone), 50
    )
    return around, compiling


def main() -> None:
    """Print one line per case."""
    print(f"{'around':>10} {'compile':>10}  (median microseconds per call)")
    for name, case in CASES.items():
        around, compiling = bench(*case)
        print(f"{around:10.1f} {compiling:10.1f}  {name}")


if __name__ == "__main__":
    main()
