"""The one retry policy: every call the operator tries again waits the same way.

After failed attempt n (1, 2, ...), if attempts remain, the next comes base * 2**(n-1) seconds
later, stretched by up to a tenth at random so that a burst of failures does not come back in
lockstep. What differs per use is only the base, the number of attempts and which errors are worth
another attempt:

- STATUS_WRITES: a kind's status patch (control/writer.py): first again after 0.5 s, 15.5 s in
  all, so what a page shows outlives a short API server outage.
- EVENTS: an Event's post (control/writer.py, Announcer): 7.5 s in all; one left unposted is
  carried by the object's next status write.
- SUBSCRIBER_WRITES: a Subscriber's status, its record of deliveries included
  (control/notifications/subscribers.py): 3 s in all; the record's flush tries again later.
- deliveries: `--notify-retry-base` (30 s), 3 attempts (control/notifications/deliveries.py). A
  delivery waits on a timer of its lane, not in a task, so it uses `RetryPolicy` without
  `retrying`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from statuspage_operator.k8s.client import transient

logger = logging.getLogger(__name__)

T = TypeVar("T")

JITTER = 0.1


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a call is tried, and how long it waits in between (doubling from `base`)."""

    base: float
    attempts: int = 5

    def delay(self, attempt: int, spread: float = 0.0) -> float:
        """Seconds to wait after failed attempt `attempt` (1, 2, ...); `spread` in [0, 1)
        stretches it by up to JITTER."""
        return float(self.base * 2 ** (attempt - 1) * (1 + JITTER * spread))

    def again(self, attempt: int) -> bool:
        """Whether failed attempt `attempt` is followed by another."""
        return attempt < self.attempts


STATUS_WRITES = RetryPolicy(base=0.5, attempts=6)
EVENTS = RetryPolicy(base=0.5)
SUBSCRIBER_WRITES = RetryPolicy(base=0.2)


async def retrying(
    policy: RetryPolicy,
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    retryable: Callable[[Exception], bool] = transient,
    on_retry: Callable[[Exception], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    spread: Callable[[], float] = random.random,
) -> T:
    """The call's result; its last error once the policy gives up or an error is not retryable.

    `what` names the call in the warning logged before each wait ("writing the status of ...").
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as error:
            if not retryable(error) or not policy.again(attempt):
                raise
            delay = policy.delay(attempt, spread())
            if on_retry is not None:
                on_retry(error)
            logger.warning("%s failed (%s); retrying in %.1fs", what, error, delay)
            await sleep(delay)
