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

Crash safety: Alertmanager has no idempotency key, so a lane always lists before it creates,
and adopts the silence whose comment carries the occurrence's key. The failpoint
`STATUSPAGE_OPERATOR_FAILPOINT=silence-created` (read here, once, for tests/e2e/test_silences.py)
kills the process right after a creation, before its record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.silences import record_of
from statuspage_operator.control.alertmanager import (
    AlertmanagerClient,
    AlertmanagerError,
    Failure,
    SilenceNotFoundError,
    display,
)
from statuspage_operator.control.view import Body, Key
from statuspage_operator.control.windows import Windows, key_of
from statuspage_operator.control.writer import Writer
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.maintenance import WindowPhase, window_state
from statuspage_operator.domain.matchers import Matcher, parse_matchers
from statuspage_operator.domain.silences import CREATED_BY, Silence, window_mark
from statuspage_operator.plans.silences import (
    PageSilences,
    SilenceFacts,
    Wanted,
    failed,
    render,
    settled,
    step,
    unavailable,
    wanted,
)

logger = logging.getLogger(__name__)

FAILPOINT = os.environ.get("STATUSPAGE_OPERATOR_FAILPOINT", "")
RETRY_BASE = 1.0
RETRY_CAP = 60.0
DELETE_PATIENCE = 5.0
DELETE_ATTEMPTS = 5
# Windows whose silence is worked on at once: turning silences on over thousands of windows must
# not open thousands of connections to Alertmanager.
CONCURRENCY = 8
# Deleted windows whose silences were expired, by uid: their DELETED event calls no more.
EXPIRED_MEMORY = 1024


def page_silences(body: Body) -> PageSilences:
    """What a StatusPage's spec says of its windows' silences (tolerant: the page's own
    condition tells what is wrong with its spec)."""
    alerts = (body.get("spec") or {}).get("alerts")
    if not isinstance(alerts, dict):
        return PageSilences()
    matchers = alerts.get("silenceMatchers") or []
    texts = tuple(str(m) for m in matchers) if isinstance(matchers, list) else ()
    return PageSilences(True, texts)


def _deleting(event_type: str | None, body: Body) -> bool:
    return event_type == "DELETED" or bool(body.get("metadata", {}).get("deletionTimestamp"))


def ours(silence: Silence, mark: str) -> bool:
    """A live silence the operator made for the window with this mark (no one else's)."""
    return silence.live and silence.created_by == CREATED_BY and mark in silence.comment


def _matchers_of(texts: tuple[str, ...]) -> tuple[Matcher, ...]:
    try:
        return parse_matchers("silence", texts)
    except InvalidSpecError:
        return ()


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
        self._pending: dict[Key, tuple[Body, bool]] = {}
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
        if settled(want, current) and not (deleted and want.expire):
            return
        self._pending[key] = (body, deleted)
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
                body, deleted = pending
                wake.clear()
                try:
                    await self._settle(body, deleted)
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

    async def _settle(self, body: Body, deleted: bool) -> None:
        key = key_of(body)
        now = self.clock()
        current = self.writer.current((Kind.WINDOW, *key), body)
        facts = self._facts(body, deleted, current)
        want = wanted(facts, now)
        if settled(want, current) and not (deleted and want.expire):
            return
        silence_id = None
        if self.api is not None and (want.target is not None or want.expire):
            async with self._calls:
                silence_id = await self._in_alertmanager(facts, want, current, now)
        if deleted:
            self._expired[facts.uid] = None
            if len(self._expired) > EXPIRED_MEMORY:
                self._expired.popitem(last=False)
            return
        async with self.writer.lock((Kind.WINDOW, *key)):
            current = self.writer.current((Kind.WINDOW, *key), body)
            desired = render(want, silence_id, current, facts.generation, now)
            await self.writer.write(Kind.WINDOW, body, current, desired, remember=True)

    async def _in_alertmanager(
        self, facts: SilenceFacts, want: Wanted, current: Mapping[str, Any], now: datetime
    ) -> str | None:
        """Alertmanager as `want` asks; the id of the target's silence."""
        assert self.api is not None
        record = record_of(current)
        matchers = want.target.matchers if want.target is not None else ()
        if not matchers and record is not None:
            matchers = _matchers_of(record.matchers)
        mark = window_mark(facts.uid)
        live = [s for s in await self.api.silences(matchers) if ours(s, mark)]
        if record is not None and record.id not in {s.id for s in live}:
            with contextlib.suppress(SilenceNotFoundError):
                recorded = await self.api.silence(record.id)
                if ours(recorded, mark):
                    live.append(recorded)
        plan = step(want.target, live, record.id if record else None, now)
        where = f"MaintenanceWindow {facts.namespace}/{facts.name}"
        for expired in plan.expire:
            await self.api.expire(expired)
            logger.info("%s: silence %s expired", where, expired)
        if plan.keep is not None:
            return plan.keep
        if want.target is None:
            return None
        if plan.move is not None:
            made = await self.api.put(want.target, plan.move)
            logger.info("%s: silence %s moved (now %s)", where, plan.move, made)
            return made
        made = await self.api.put(want.target)
        logger.info("%s: silence %s created", where, made)
        if FAILPOINT == "silence-created":
            os.kill(os.getpid(), signal.SIGKILL)
        return made

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
