"""One occurrence of a maintenance window: a half-open interval of UTC instants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Occurrence:
    """From `start` (inclusive) to `end` (exclusive), both timezone-aware UTC."""

    start: datetime
    end: datetime

    def contains(self, now: datetime) -> bool:
        """Whether `now` falls inside the occurrence (start inclusive, end exclusive)."""
        return self.start <= now < self.end

    @property
    def duration(self) -> timedelta:
        """Elapsed time from start to end."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Around:
    """The occurrences around an instant: in progress, next to come, most recent ended."""

    current: Occurrence | None
    next: Occurrence | None
    last: Occurrence | None
