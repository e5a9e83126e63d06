"""Maintenance windows: held in the view while they can change, moved at their edges.

`settle()` is the whole rule for one window: the phase from spec and now, components first when
it moves, then its own status with the transition's notices. A window's daemon calls it at every
edge; the watch handler calls it for windows no daemon runs for (completed while the operator was
down, cancelled, created in the past, invalid), so every window reaches its state either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from statuspage_operator.api.conditions import Reason
from statuspage_operator.api.names import Kind
from statuspage_operator.api.notices import make_notices
from statuspage_operator.api.specs import WindowSpec, parse, parse_duration, window_of
from statuspage_operator.api.status import window_status
from statuspage_operator.api.times import format_time, parse_time
from statuspage_operator.control import metrics
from statuspage_operator.control.components import Components, invalid, warnings
from statuspage_operator.control.edges import StopFlag, follow_edges
from statuspage_operator.control.view import Body, Change, Key, View, WindowEntry
from statuspage_operator.control.writer import Writer
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.maintenance import (
    OVERLAP_HORIZON,
    Window,
    WindowPhase,
    WindowState,
    first_overlap,
    next_reminder,
    upcoming,
    window_state,
)
from statuspage_operator.domain.notifications import (
    Moment,
    NotificationEvent,
    deadline,
    event_of,
)
from statuspage_operator.domain.occurrence import Occurrence

LIVE = (WindowPhase.SCHEDULED, WindowPhase.IN_PROGRESS)
TERMINAL = (str(WindowPhase.COMPLETED), str(WindowPhase.CANCELLED))
LATENESS_HORIZON = 60.0
PARSED_CACHE = 1024
# The earliest three: a note to look, not an index (every listed entry is kept in memory twice,
# by kopf and by the writer, for every window; 100 windows sharing an instant would hold 10 each).
MAX_OVERLAPS = 3

Parsed = tuple[WindowSpec, Window] | InvalidSpecError


def key_of(body: Body) -> Key:
    """(namespace, name) of an object."""
    meta = body.get("metadata", {})
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def settled_for_good(body: Body) -> bool:
    """Completed or Cancelled for the current spec: nothing can change it but a spec edit."""
    meta, status = body.get("metadata", {}), body.get("status") or {}
    return (
        status.get("phase") in TERMINAL
        and status.get("observedGeneration") == meta.get("generation")
        and not any(c.get("type") == "Stalled" for c in status.get("conditions") or ())
    )


def transition_reasons(phase: WindowPhase, old_phase: object) -> list[Reason]:
    """The Events of a move from `old_phase` (as written) to `phase`."""
    if phase is WindowPhase.SCHEDULED:
        return [Reason.MAINTENANCE_COMPLETED] if old_phase == WindowPhase.IN_PROGRESS else []
    if phase is WindowPhase.IN_PROGRESS:
        if old_phase == WindowPhase.IN_PROGRESS:
            # One occurrence ended as the next began.
            return [Reason.MAINTENANCE_COMPLETED, Reason.MAINTENANCE_STARTED]
        return [Reason.MAINTENANCE_STARTED]
    if phase is WindowPhase.COMPLETED:
        return [Reason.MAINTENANCE_COMPLETED]
    return [Reason.MAINTENANCE_CANCELLED]


def _message(reason: Reason, spec: WindowSpec, occurrence: Occurrence | None = None) -> str:
    names = ", ".join(spec.components) or "no components"
    verb = {
        Reason.MAINTENANCE_SCHEDULED: "scheduled",
        Reason.MAINTENANCE_STARTED: "started",
        Reason.MAINTENANCE_COMPLETED: "completed",
        Reason.MAINTENANCE_CANCELLED: "cancelled",
    }.get(reason)
    if verb is None and occurrence is not None:
        verb = f"starts at {format_time(occurrence.start)}"
    return f"Maintenance {spec.title!r} {verb} ({names})"


def _about(
    reason: str, state: WindowState, previous: dict[str, Any], now: datetime
) -> tuple[str, datetime]:
    """What a window's notice is about (its occurrence's start) and its catch-up deadline."""
    occurrence: Occurrence | None = None
    if reason in (Reason.MAINTENANCE_SCHEDULED, Reason.MAINTENANCE_REMINDER):
        occurrence = state.next
    elif reason == Reason.MAINTENANCE_STARTED:
        occurrence = state.current
    elif reason == Reason.MAINTENANCE_COMPLETED:
        occurrence = state.last
    elif reason == Reason.MAINTENANCE_CANCELLED:
        cut = previous.get("currentOccurrence") or {}
        if cut.get("start") and cut.get("end"):
            occurrence = Occurrence(parse_time(cut["start"]), now)
        else:
            occurrence = state.next or state.last
    event = event_of(reason)
    if event is None or occurrence is None:
        return "", now
    if event is NotificationEvent.MAINTENANCE_CANCELLED:
        moment = Moment(now, occurrence.start, None)
    else:
        moment = Moment(now, occurrence.start, occurrence.end)
    return format_time(occurrence.start), deadline(event, moment)


def _overlap_warning(
    spec: WindowSpec, previous: dict[str, Any], overlaps: list[dict[str, Any]] | None, total: int
) -> list[tuple[str, str, bool]]:
    """A Warning Event naming the windows it newly overlaps (none if nothing is new)."""
    known = {item.get("window") for item in previous.get("overlaps") or ()}
    new = [item for item in overlaps or () if item["window"] not in known]
    if not new:
        return []
    described = "; ".join(
        f"maintenancewindow/{item['window']} on {', '.join(item['components'])}"
        f" from {item['start']} to {item['end']}"
        for item in new
    )
    more = f" (and {total - len(overlaps or ())} more)" if total > len(overlaps or ()) else ""
    message = (
        f"Maintenance {spec.title!r} overlaps {described}{more}. Both apply; "
        "move one of them if that is not intended"
    )
    return [(Reason.MAINTENANCE_OVERLAPS, message, True)]


def _observe_lateness(state: WindowState, old_phase: object, now: datetime) -> None:
    """How late a start or end transition was, when it happened around its boundary."""
    if state.current is not None:
        boundary = state.current.start
    elif old_phase == WindowPhase.IN_PROGRESS and state.last is not None:
        boundary = state.last.end
    else:
        return
    late = (now - boundary).total_seconds()
    # A catch-up after downtime or a window created in the past is not lateness.
    if 0 <= late < LATENESS_HORIZON:
        metrics.LATENESS.observe(late)


class Windows:
    """The rules for MaintenanceWindows, over the view, the writer and the components."""

    def __init__(
        self,
        view: View,
        writer: Writer,
        components: Components,
        clock: Callable[[], datetime],
        page_remind_before: Callable[[str, str], timedelta | None] = lambda namespace, page: None,
    ) -> None:
        self.view = view
        self.writer = writer
        self.components = components
        self.clock = clock
        self.page_remind_before = page_remind_before
        self._parsed: OrderedDict[tuple[str, int], Parsed] = OrderedDict()

    def _remind_before(self, namespace: str, spec: WindowSpec) -> timedelta | None:
        """Its own remindBefore, else its page's; none if invalid or the window is silent."""
        if not spec.notify_subscribers:
            return None
        try:
            own = parse_duration("spec.remindBefore", spec.remind_before)
        except InvalidSpecError:
            return None
        return own if own is not None else self.page_remind_before(namespace, spec.page)

    def parse(self, body: Body) -> Parsed:
        """The spec as domain values, or why it cannot work (memoised per generation)."""
        meta = body.get("metadata", {})
        cache_key = (str(meta.get("uid", "")), int(meta.get("generation") or 0))
        held = self.view.windows.get(key_of(body))
        if held is not None and (held.uid, held.generation) == cache_key:
            return held.spec, held.window
        found = self._parsed.get(cache_key)
        if found is None:
            try:
                spec = parse(WindowSpec, body.get("spec"))
                found = (spec, window_of(spec))
            except InvalidSpecError as error:
                found = error
            self._parsed[cache_key] = found
            if len(self._parsed) > PARSED_CACHE:
                self._parsed.popitem(last=False)
        return found

    # -- the view ----------------------------------------------------------------------------

    def observe(self, event_type: str | None, body: Body, now: datetime) -> Change | None:
        """Hold the window while it can still change; return what that touches (None: nothing)."""
        key = key_of(body)
        if event_type == "DELETED":
            self.writer.forget((Kind.WINDOW, *key))
            self.view.waiting.pop((Kind.WINDOW, *key), None)
            return self.view.set_window(key, None) if key in self.view.windows else None
        waiting = self.view.waiting.get((Kind.WINDOW, *key))
        if waiting is not None:
            waiting.recorded.update(body)
        meta = body.get("metadata", {})
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        held = self.view.windows.get(key)
        entry: WindowEntry | None = None
        if held is not None and (held.uid, held.generation) == (uid, generation):
            entry = held
        elif not settled_for_good(body):
            parsed = self.parse(body)
            if not isinstance(parsed, InvalidSpecError):
                entry = WindowEntry(uid, generation, *parsed)
        if entry is not None and window_state(entry.window, now).phase not in LIVE:
            entry = None
        if entry is held:
            return None
        return self.view.set_window(key, entry)

    def behind(self, body: Body, now: datetime) -> bool:
        """Whether a start or an end passed unseen: the window is, or was, in progress.

        Windows that never ran (created in the past, or whose whole occurrence passed while the
        operator was down) change no component now: they wait their turn in kopf's list.
        """
        status = body.get("status") or {}
        if settled_for_good(body):
            return False
        parsed = self.parse(body)
        if isinstance(parsed, InvalidSpecError):
            return False
        state = window_state(parsed[1], now)
        was = status.get("phase") == WindowPhase.IN_PROGRESS
        if state.current is None:
            return was
        current = (status.get("currentOccurrence") or {}).get("start")
        return not was or current != format_time(state.current.start)

    def is_live(self, body: Body) -> bool:
        """Whether the window can still change: its daemon runs and it holds the finalizer."""
        held = self.view.windows.get(key_of(body))
        return held is not None and held.uid == body.get("metadata", {}).get("uid")

    def wake(self, key: Key) -> None:
        """Make the window's daemon settle now (its spec or what it shows changed)."""
        waker = self.view.wakers.get(key)
        if waker is not None:
            waker.set()

    # -- writing -----------------------------------------------------------------------------

    async def settle(self, body: Body, now: datetime) -> datetime | None:
        """Bring the window's status to what spec and `now` say; return its next edge."""
        namespace, name = key_of(body)
        meta = body.get("metadata", {})
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        async with self.writer.lock((Kind.WINDOW, namespace, name)):
            metrics.count_reconcile(Kind.WINDOW)
            current = self.writer.current((Kind.WINDOW, namespace, name), body)
            parsed = self.parse(body)
            if isinstance(parsed, InvalidSpecError):
                desired, notices = invalid(name, uid, current, parsed, generation, now)
                await self.writer.write(Kind.WINDOW, body, current, desired, notices, remember=True)
                return None
            spec, window = parsed
            state = window_state(window, now)
            verdict = self.view.references(Kind.WINDOW, namespace, spec.page, spec.components)
            old_phase = current.get("phase")
            desired = window_status(state, current, verdict, generation, now)
            if desired["occurrence"] is None:
                # Cancelled before any occurrence ran: the columns show the one it cancelled.
                desired["occurrence"] = {
                    "start": format_time(window.first.start),
                    "end": format_time(window.first.end),
                }
            applied = current.get("observedGeneration") != generation
            # Looked for when the spec is applied; at an edge only the ones listed are followed.
            among = None if applied else {o.get("window") for o in current.get("overlaps") or ()}
            found = self.overlaps(namespace, name, spec, window, now, among)
            desired["overlaps"] = found[:MAX_OVERLAPS] or None
            moved = old_phase != desired["phase"] or current.get(
                "currentOccurrence"
            ) != desired.get("currentOccurrence")
            if moved and spec.auto_update_status and spec.components:
                # At an edge the page's components go first: that is what people look at.
                await self.components.recompute(namespace, spec.components, now)
            items: list[tuple[str, str, bool]] = []
            # Scheduled and reminder notices exist for subscribers: a silent window has none.
            if (
                spec.notify_subscribers
                and old_phase is None
                and state.phase is WindowPhase.SCHEDULED
            ):
                items.append(
                    (
                        Reason.MAINTENANCE_SCHEDULED,
                        _message(Reason.MAINTENANCE_SCHEDULED, spec),
                        False,
                    )
                )
            if moved:
                reasons = transition_reasons(state.phase, old_phase)
                items += [(reason, _message(reason, spec), False) for reason in reasons]
            edge = state.next_edge
            reminder = next_reminder(state, self._remind_before(namespace, spec))
            if reminder is not None:
                occurrence, due_at = reminder
                if due_at > now:
                    edge = min(edge, due_at) if edge is not None else due_at
                elif current.get("lastReminder") != format_time(occurrence.start):
                    desired["lastReminder"] = format_time(occurrence.start)
                    items.append(
                        (
                            Reason.MAINTENANCE_REMINDER,
                            _message(Reason.MAINTENANCE_REMINDER, spec, occurrence),
                            False,
                        )
                    )
            about = [_about(reason, state, current, now) for reason, _, _ in items]
            items += warnings(current, verdict)
            if applied:
                # Told once, when this window's spec is applied: the planner is looking then.
                items += _overlap_warning(spec, current, desired["overlaps"], len(found))
            notices = [
                notice.about(*about[i]) if i < len(about) else notice
                for i, notice in enumerate(make_notices(name, uid, now, items))
            ]
            if moved:
                await self.writer.after_components()
            stored = await self.writer.write(
                Kind.WINDOW, body, current, desired, notices, remember=True
            )
            self.view.track(Kind.WINDOW, body, stored, spec.page, spec.components, verdict.ready)
        if moved:
            self.components.touch_page(namespace, spec.page)
            _observe_lateness(state, old_phase, now)
        return edge

    def overlaps(
        self,
        namespace: str,
        name: str,
        spec: WindowSpec,
        window: Window,
        now: datetime,
        among: set[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Other live windows of the page on one of its components at the same time, earliest first.

        Only windows the view holds (to come or in progress) can overlap from now on. `among`:
        look only at these (at an edge, the ones already listed: their span moves on, or they
        drop out when they end or go). A window looks for new overlaps when its spec is applied;
        the windows it overlaps are not rewritten for it: that would cost a status write per
        neighbour (ten windows sharing a component and an hour would rewrite each other 45 times),
        against the budget of three writes in a window's life, and grow every edge's write.
        """
        ours = upcoming(window, now, now + OVERLAP_HORIZON)
        if not ours:
            return []
        shared: dict[str, list[str]] = {}
        for component in spec.components:
            for kind, other in self.view.naming(namespace, component):
                if kind is Kind.WINDOW and other != name and (among is None or other in among):
                    shared.setdefault(other, []).append(component)
        found: list[dict[str, Any]] = []
        for other, components in shared.items():
            entry = self.view.windows.get((namespace, other))
            if entry is None or entry.spec.page != spec.page:
                continue
            span = first_overlap(ours, upcoming(entry.window, now, now + OVERLAP_HORIZON))
            if span is not None:
                found.append(
                    {
                        "window": other,
                        "components": sorted(components),
                        "start": format_time(span.start),
                        "end": format_time(span.end),
                    }
                )
        found.sort(key=lambda item: (item["start"], item["window"]))
        return found

    async def follow(self, body: Body, stopped: StopFlag) -> None:
        """The daemon: settle at each edge until kopf stops it (the window is done or deleted).

        kopf's stop wakes the sleep at once, so the daemon returns within kopf's instant-exit
        wait: never cancelled (no "will escalate"), and the stop holds up the window's next
        event for no longer than that.
        """
        key = key_of(body)
        wake = asyncio.Event()
        self.view.wakers[key] = wake
        # One task per daemon for its life: the stop flag's own wait, relayed to our wake-up.
        relay = asyncio.ensure_future(stopped.wait())
        relay.add_done_callback(lambda _: wake.set())

        async def settle(now: datetime) -> datetime | None:
            wake.clear()
            return await self.settle(body, now)

        async def sleep(seconds: float) -> None:
            if stopped:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), seconds)

        try:
            await follow_edges(settle, self.clock, sleep, lambda: bool(stopped))
        finally:
            relay.cancel()
            if self.view.wakers.get(key) is wake:
                del self.view.wakers[key]

    async def release(self, body: Body) -> None:
        """Deletion: take the window's effect off its components before kopf lets it go."""
        key = key_of(body)
        self.view.waiting.pop((Kind.WINDOW, *key), None)
        await self.components.apply(key[0], self.view.set_window(key, None))
