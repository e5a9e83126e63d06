"""A token bucket per page: how many notifications a page may post, in this replica.

Each replica keeps its own buckets in memory (behind a Service, a page's notifications spread over
the replicas, so the cluster-wide rate is up to `replicas` times this). Refused requests get 429
with Retry-After, which Alertmanager treats as a failure to retry later. Only authenticated
requests take a token: an unauthenticated flood cannot spend a page's budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_BUCKETS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate` notifications a second per key, in bursts of at most `burst`."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def take(self, key: tuple[str, str]) -> float:
        """Take a token: 0 when granted, else the seconds until one is there."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def retry_after(self, wait: float) -> str:
        """The Retry-After header for a wait: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))

    def _forget_full(self, now: float) -> None:
        # A bucket that would be full again is the same as no bucket.
        self._buckets = {
            k: b
            for k, b in self._buckets.items()
            if b.tokens + (now - b.at) * self.rate < self.burst
        }
        if len(self._buckets) >= MAX_BUCKETS:
            self._buckets.clear()
