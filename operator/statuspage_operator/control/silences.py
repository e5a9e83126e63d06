"""Maintenance silences its alerts: each window's silence in Alertmanager, beside its transitions.

The watch handler hands every window event to `observe`, which decides (plans/silences.py) at once
and without I/O whether the status already records the silence the window should have. Only when
it does not is the window given a lane: one task per window, which lists the window's silences in
Alertmanager, keeps, moves, makes or expires them (plans.silences.step), then writes
`status.silence` and the Silenced condition under the window's write lock. The window's daemon
and its edges never wait for Alertmanager: a lane holds the lock only for its own status write.

Alertmanager unreachable: the condition says so and the lane tries again, 1 s, 2 s, ... up to a
minute apart, or at once when the window changes. A deleted window's silence is expired by the
on.delete handler (for at most DELETE_PATIENCE seconds, then in the background for
DELETE_ATTEMPTS attempts) or by the DELETED event; if Alertmanager stays down the silence ends by
itself at the occurrence's end.

Crash safety: a lane always lists before it creates (control/silence_calls.py), and adopts the
silence whose comment carries the occurrence's key. Every AUDIT_INTERVAL seconds one listing
finds recorded silences that Alertmanager lost (or that someone expired): they are made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.silences import page_silences, record_of
from statuspage_operator.control.alertmanager import (
    AlertmanagerClient,
    AlertmanagerError,
    Failure,
    display,
)
from statuspage_operator.control.silence_calls import AUDIT_INTERVAL, in_alertmanager, missing
from statuspage_operator.control.view import Body, Key
from statuspage_operator.control.windows import Windows, key_of
from statuspage_operator.control.writer import Writer
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.maintenance import WindowPhase, window_state
from statuspage_operator.domain.silences import PageSilences
from statuspage_operator.plans.silences import (
    SilenceFacts,
    failed,
    render,
    settled,
    unavailable,
    wanted,
)

logger = logging.getLogger(__name__)

RETRY_BASE = 1.0
RETRY_CAP = 60.0
DELETE_PATIENCE = 5.0
DELETE_ATTEMPTS = 5
# Windows whose silence is worked on at once: turning silences on over thousands of windows must
# not open thousands of connections to Alertmanager.
CONCURRENCY = 8
# Deleted windows whose silences were expired, by uid: their DELETED event calls no more.
EXPIRED_MEMORY = 1024


def _deleting(event_type: str | None, body: Body) -> bool:
    return event_type == "DELETED" or bool(body.get("metadata", {}).get("deletionTimestamp"))


class Silences:
    """Every window's silence, one lane per window with work to do."""

    def __init__(
        self,
        api: AlertmanagerClient | None,
        writer: Writer,
        windows: Windows,
        clock: Callable[[], datetime],
        retry_base: float = RETRY_BASE,
    ) -> None:
        self.api = api
        self.writer = writer
        self.windows = windows
        self.clock = clock
        self.retry_base = retry_base
        self._pages: dict[Key, PageSilences] = {}
        # Live windows that take their page's matchers: judged again when the page changes.
        self._following: dict[Key, Body] = {}
        self._pending: dict[Key, tuple[Body, bool, bool]] = {}
        # Windows whose status should record a silence: the audit's to check.
        self._silenced: dict[Key, Body] = {}
        self._audit: asyncio.Task[None] | None = None
        self.audit_interval = AUDIT_INTERVAL
        self._lanes: dict[Key, asyncio.Task[None]] = {}
        self._wakes: dict[Key, asyncio.Event] = {}
        self._calls = asyncio.Semaphore(CONCURRENCY)
        self._expired: OrderedDict[str, None] = OrderedDict()

    # -- events ------------------------------------------------------------------------------

    def page_event(self, event_type: str | None, body: Body) -> None:
        """A page appeared, changed or went: windows taking its matchers are judged again."""
        namespace, name = key = key_of(body)
        found = None if _deleting(event_type, body) else page_silences(body)
        before = self._pages.get(key)
        if found is None:
            self._pages.pop(key, None)
        else:
            self._pages[key] = found
        if found == before:
            return
        for window, seen in list(self._following.items()):
            if window[0] == namespace and (seen.get("spec") or {}).get("page") == name:
                self.observe(None, seen)

    def _facts(self, body: Body, deleted: bool, current: Mapping[str, Any]) -> SilenceFacts:
        namespace, name = key_of(body)
        meta = body.get("metadata", {})
        parsed = self.windows.parse(body)
        page = None
        if not isinstance(parsed, InvalidSpecError):
            page = self._pages.get((namespace, parsed[0].page))
        return SilenceFacts(
            namespace,
            name,
            str(meta.get("uid", "")),
            int(meta.get("generation") or 0),
            current,
            parsed,
            page,
            self.api is not None,
            deleted,
        )

    def _follow(self, key: Key, body: Body, deleted: bool, now: datetime) -> None:
        parsed = self.windows.parse(body)
        if (
            deleted
            or isinstance(parsed, InvalidSpecError)
            or parsed[0].silence_matchers is not None
            or window_state(parsed[1], now).phase
            not in (WindowPhase.SCHEDULED, WindowPhase.IN_PROGRESS)
        ):
            self._following.pop(key, None)
        else:
            self._following[key] = body

    def observe(self, event_type: str | None, body: Body) -> None:
        """A window's event: give it a lane if its silence is not as it should be (no I/O).

        Never raises: the window's transitions come after it in the same handler.
        """
        try:
            self._observe(event_type, body)
        except Exception:
            logger.exception("silence of MaintenanceWindow %s/%s", *key_of(body))

    def _observe(self, event_type: str | None, body: Body) -> None:
        key = key_of(body)
        deleted = _deleting(event_type, body)
        if deleted and str(body.get("metadata", {}).get("uid", "")) in self._expired:
            return
        now = self.clock()
        self._follow(key, body, deleted, now)
        current = self.writer.current((Kind.WINDOW, *key), body)
        want = wanted(self._facts(body, deleted, current), now)
        if want.target is None:
            self._silenced.pop(key, None)
        elif self.api is not None:
            self._silenced[key] = body
            if self._audit is None:
                self._audit = asyncio.create_task(self._audits(), name="silence audit")
        if settled(want, current) and not (deleted and want.expire):
            return
        self._schedule(key, body, deleted)

    def _schedule(self, key: Key, body: Body, deleted: bool, force: bool = False) -> None:
        self._pending[key] = (body, deleted, force)
        wake = self._wakes.get(key)
        if wake is not None:
            wake.set()
        elif key not in self._lanes:
            self._wakes[key] = asyncio.Event()
            self._lanes[key] = asyncio.create_task(self._lane(key), name=f"silence {key}")

    async def release(self, body: Body, patience: float = DELETE_PATIENCE) -> None:
        """Deletion: expire the window's silence, waiting at most `patience` seconds for it."""
        self.observe("DELETED", body)
        lane = self._lanes.get(key_of(body))
        if lane is not None:
            await asyncio.wait({lane}, timeout=patience)

    async def close(self) -> None:
        """Stop every lane; close the connections."""
        if self._audit is not None:
            self._audit.cancel()
        for lane in list(self._lanes.values()):
            lane.cancel()
        await asyncio.gather(*self._lanes.values(), return_exceptions=True)
        if self.api is not None:
            await self.api.close()

    # -- a lane ------------------------------------------------------------------------------

    async def _lane(self, key: Key) -> None:
        attempt = 0
        wake = self._wakes[key]
        try:
            while key in self._pending:
                pending = self._pending[key]
                body, deleted, force = pending
                wake.clear()
                try:
                    await self._settle(body, deleted, force)
                    attempt = 0
                except AlertmanagerError as error:
                    attempt += 1
                    await self._failed(body, deleted, error)
                    gave_up = deleted and attempt >= DELETE_ATTEMPTS
                    if not gave_up and (
                        error.failure.transient or error.failure is Failure.UNAUTHORIZED
                    ):
                        delay = min(RETRY_CAP, self.retry_base * 2 ** (attempt - 1))
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(wake.wait(), delay)
                        continue
                except Exception:
                    # Not lost: the window's next event brings it back.
                    logger.exception("silence of MaintenanceWindow %s/%s", *key)
                if self._pending.get(key) is pending:
                    del self._pending[key]
        finally:
            self._lanes.pop(key, None)
            self._wakes.pop(key, None)

    async def audit(self) -> list[Key]:
        """Settle again the windows whose recorded silence Alertmanager no longer has."""
        if self.api is None:
            return []
        records = {}
        for key, held in self._silenced.items():
            record = record_of(self.writer.current((Kind.WINDOW, *key), held))
            if record is not None:
                records[key] = record
        gone = await missing(self.api, records, self.clock())
        for key in gone:
            seen = self._silenced.get(key)
            if seen is not None:
                self._schedule(key, seen, False, force=True)
        return gone

    async def _audits(self) -> None:
        while True:
            await asyncio.sleep(self.audit_interval)
            try:
                await self.audit()
            except Exception:
                logger.exception("auditing the silences")

    async def _settle(self, body: Body, deleted: bool, force: bool = False) -> None:
        key = key_of(body)
        now = self.clock()
        current = self.writer.current((Kind.WINDOW, *key), body)
        facts = self._facts(body, deleted, current)
        want = wanted(facts, now)
        if not force and settled(want, current) and not (deleted and want.expire):
            return
        silence_id = None
        if self.api is not None and (want.target is not None or want.expire):
            async with self._calls:
                silence_id = await in_alertmanager(self.api, facts, want, current, now)
        if deleted:
            self._expired[facts.uid] = None
            if len(self._expired) > EXPIRED_MEMORY:
                self._expired.popitem(last=False)
            return
        async with self.writer.lock((Kind.WINDOW, *key)):
            current = self.writer.current((Kind.WINDOW, *key), body)
            desired = render(want, silence_id, current, facts.generation, now)
            await self.writer.write(Kind.WINDOW, body, current, desired, remember=True)

    async def _failed(self, body: Body, deleted: bool, error: AlertmanagerError) -> None:
        namespace, name = key = key_of(body)
        where = display(self.api.url) if self.api is not None else "Alertmanager"
        logger.warning(
            "silence of MaintenanceWindow %s/%s: Alertmanager %s %s", namespace, name, where, error
        )
        if deleted:
            return
        now = self.clock()
        meta = body.get("metadata", {})
        async with self.writer.lock((Kind.WINDOW, *key)):
            current = self.writer.current((Kind.WINDOW, *key), body)
            said = unavailable(
                where, str(error), error.failure.transient, error.failure is Failure.UNAUTHORIZED
            )
            desired = failed(*said, current, int(meta.get("generation") or 0), now)
            await self.writer.write(Kind.WINDOW, body, current, desired, remember=True)
