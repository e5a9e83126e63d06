"""The record of deliveries: what each subscriber was sent, written to its status in batches.

A delivered key is recorded in the Subscriber's `status.delivered` and kept while its notice can
still be sent, so a restart never sends it again. A write carries every key sent since the last
(at most one write per RECORD_INTERVAL per subscriber, sooner when sends wait for it): at most
UNRECORDED deliveries per subscriber are sent, or being sent, and not recorded. Only those can be
sent again after a crash, with the same key and body, and the `Idempotency-Key` header lets a
receiver drop them. (Recording an intent before each send would not spare one of them: a key
whose send may have happened has to be sent again.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from statuspage_operator.api.status import parse_delivered
from statuspage_operator.api.times import format_time
from statuspage_operator.control.view import Key
from statuspage_operator.domain.notifications import prune

logger = logging.getLogger(__name__)

# Deliveries and record writes wait at most this long for the status writes in flight.
PATIENCE = 30.0
# A subscriber's record is written at most once per interval: each write carries the whole record.
RECORD_INTERVAL = 0.25
# At most this many deliveries per subscriber sent and not yet recorded (in flight included): all
# that a crash can make it send again, under the same keys. Beyond that, sends wait for the record
# (unless it cannot be written). Not smaller: each write carries the whole record (90 KB for 1,000
# keys), and a bound that binds in a burst multiplies them (32 per subscriber: five times the
# writes, four times the API server's CPU, a third of the throughput; tests/bench/notify.py).
UNRECORDED = 256
# The record is level-triggered: while it cannot be written (each write already retried by
# control/retry.py), it is tried again at this pace, and sends do not wait for it.
RECORD_RETRY = 5.0
RECORD_LIMIT = 10_000


@dataclass(slots=True)
class Ledger:
    """One subscriber's deliveries: what was sent (until when it matters), counts, the last one,
    and how many are sent and not recorded yet."""

    delivered: dict[str, datetime] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    last: dict[str, str] | None = None
    # A mailbox's permanent refusals in a row (None until the status is read).
    bounces: int | None = None
    # Sent and not recorded yet; with those being sent (outstanding), at most UNRECORDED.
    unrecorded: int = 0
    outstanding: int = 0
    # Set when a send may go (outstanding below UNRECORDED), and when one waits for that.
    room: asyncio.Event = field(default_factory=asyncio.Event)
    full: asyncio.Event = field(default_factory=asyncio.Event)
    # Something changed since the last write; the last write failed.
    dirty: bool = False
    unwritable: bool = False

    def load(self, status: Mapping[str, Any]) -> None:
        """Take what a status records (after a restart, or a change by someone else)."""
        # Keys only ever grow here (pruned by deadline): our own later writes are kept.
        for key, until in parse_delivered(status).items():
            self.delivered.setdefault(key, until)
        if not self.counts:
            self.counts.update(
                sent=int(status.get("sent") or 0), failed=int(status.get("failed") or 0)
            )
        if self.bounces is None:
            self.bounces = int(status.get("bounces") or 0)

    def prune(self, now: datetime) -> dict[str, datetime]:
        """The keys still worth recording: deadline not passed, at most RECORD_LIMIT."""
        self.delivered = prune(self.delivered, now, RECORD_LIMIT)
        return self.delivered

    async def wait_for_room(self) -> None:
        """Wait while UNRECORDED deliveries are sent or being sent, and not recorded: what a
        crash can make the subscriber be sent twice. Then hold one place for a send."""
        while self.outstanding >= UNRECORDED and not self.unwritable:
            self.room.clear()
            self.full.set()
            await self.room.wait()
        self.full.clear()
        self.outstanding += 1

    def release(self, count: int) -> None:
        """Give back places: sends failed, or their keys were recorded."""
        self.outstanding -= count
        self.room.set()

    def sent(self, key: str, until: datetime) -> None:
        """A delivery went out: its key is kept until `until`, and is to be recorded."""
        self.delivered[key] = until
        self.unrecorded += 1

    def finish(self, result: str, at: datetime, event: str, name: str) -> None:
        """A delivery is done with: count it and remember it as the last."""
        if result in ("sent", "failed"):
            self.counts[result] += 1
        self.last = {"at": format_time(at), "event": event, "object": name, "result": result}


class Records:
    """Writes each subscriber's record soon after its deliveries, a few times a second at most."""

    def __init__(self, idle: Callable[[float], Awaitable[bool]]) -> None:
        self._idle = idle
        self._flushes: dict[Key, asyncio.Task[None]] = {}

    def flush_soon(self, key: Key, ledger: Ledger, write: Callable[[], Awaitable[None]]) -> None:
        """Write the subscriber's record soon (with `write`), unless a flush is on its way."""
        ledger.dirty = True
        if key not in self._flushes:
            self._flushes[key] = asyncio.create_task(
                self._flush(key, ledger, write), name=f"record {key[0]}/{key[1]}"
            )

    async def _flush(self, key: Key, ledger: Ledger, write: Callable[[], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while ledger.dirty:
                # Like the sends: the status writes of a burst first.
                await self._idle(PATIENCE)
                ledger.dirty = False
                taken = ledger.unrecorded
                began = loop.time()
                try:
                    await write()
                except Exception:
                    logger.exception("recording deliveries of Subscriber %s/%s failed", *key)
                    # Sends do not wait for a record that cannot be written: they go on.
                    ledger.unwritable = True
                    ledger.room.set()
                    ledger.dirty = True
                    await asyncio.sleep(RECORD_RETRY)
                    continue
                ledger.unwritable = False
                ledger.unrecorded -= taken
                ledger.release(taken)
                if ledger.outstanding < UNRECORDED:
                    # A burst's deliveries are recorded together, a few writes a second
                    # (sooner when the sends wait for the record).
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            ledger.full.wait(), RECORD_INTERVAL - (loop.time() - began)
                        )
        finally:
            del self._flushes[key]

    async def close(self, patience: float = 5.0) -> None:
        """Give the flushes on their way a moment to record what was sent."""
        if self._flushes:
            await asyncio.wait(set(self._flushes.values()), timeout=patience)
