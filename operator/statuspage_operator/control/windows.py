"""Maintenance windows: held in the view while they can change, moved at their edges.

`settle()` is gather -> plan -> write: it gathers the spec, the status as recorded, the verdict on
its references and its live neighbours, lets plans.windows decide (phase, notices, overlaps,
reminder, next edge), then moves the components with the window's own status when the phase
changes (the components first at a shared edge). A window's daemon calls it at every edge; the
watch handler calls it for windows no daemon runs for (completed while the operator was down,
cancelled, created in the past, invalid), so every window reaches its state either way.

A window settled for good leaves kopf's watch (control/settled.py): only the start-up list
(Runtime.prime) still shows it here.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.specs import WindowSpec, parse, window_of
from statuspage_operator.api.times import format_time
from statuspage_operator.control import metrics
from statuspage_operator.control.components import Components
from statuspage_operator.control.edges import StopFlag, follow_edges
from statuspage_operator.control.view import Body, Change, Key, View, WindowEntry
from statuspage_operator.control.writer import COMPONENTS_PATIENCE, TOGETHER, Writer
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.maintenance import WindowPhase, window_state
from statuspage_operator.k8s.client import CONNECTIONS
from statuspage_operator.plans.overlaps import Neighbour
from statuspage_operator.plans.settled import label_of, mislabelled, settled_for_good
from statuspage_operator.plans.windows import Parsed, WindowFacts, plan_window

LIVE = (WindowPhase.SCHEDULED, WindowPhase.IN_PROGRESS)
LATENESS_HORIZON = 60.0
PARSED_CACHE = 1024
# A shared edge's windows plan and write this many at a time: the client's connections.
EDGE_SLOTS = CONNECTIONS

__all__ = ["Windows", "key_of", "settled_for_good"]


def key_of(body: Body) -> Key:
    """(namespace, name) of an object."""
    meta = body.get("metadata", {})
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _observe_lateness(boundary: datetime, now: datetime) -> None:
    """How late a start or end transition was, when it happened around its boundary."""
    late = (now - boundary).total_seconds()
    # A catch-up after downtime or a window created in the past is not lateness.
    if 0 <= late < LATENESS_HORIZON:
        metrics.LATENESS.observe(late)


class Windows:
    """MaintenanceWindows: held in the view while live, and settled (plans.windows decides)."""

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
        # The daemons asleep until the same instant, by instant: each window's components.
        # At a shared edge (more than TOGETHER windows) the first to wake recomputes all of
        # them at once, and the others wait for that before they plan: otherwise each of a
        # thousand daemons plans in the loop's pass before the first component write is sent.
        self._asleep: dict[datetime, dict[Key, tuple[str, ...]]] = {}
        self._edge_of: dict[Key, datetime] = {}
        self._edge_work: dict[Key, asyncio.Task[None]] = {}
        # After those components, a shared edge's windows plan and write EDGE_SLOTS at a time.
        self._edge_slots = asyncio.Semaphore(EDGE_SLOTS)
        # Takes the settled label off a window (control/settled.py; set at start-up).
        self.unsettle: Callable[[Key], None] = lambda key: None

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
        """Hold the window while it can still change; return what that touches (None: nothing).

        A labelled window comes here only from the start-up list (kopf's watch leaves it out):
        its recorded notices are replayed, as kopf's listing does for the others, and a label
        that is not true (edited while the operator was down) comes off.
        """
        key = key_of(body)
        if event_type == "DELETED":
            self.writer.forget((Kind.WINDOW, *key))
            self.view.waiting.pop((Kind.WINDOW, *key), None)
            return self.view.set_window(key, None) if key in self.view.windows else None
        if label_of(body) is not None:
            self.writer.replay(Kind.WINDOW, body, listed=True)
            if mislabelled(body):
                self.unsettle(key)
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

    def gather(self, body: Body, current: dict[str, Any]) -> WindowFacts:
        """Spec, status as recorded, references, neighbours, the page's reminder default."""
        namespace, name = key_of(body)
        meta = body.get("metadata", {})
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        parsed = self.parse(body)
        if isinstance(parsed, InvalidSpecError):
            return WindowFacts(name, uid, generation, current, parsed)
        spec = parsed[0]
        return WindowFacts(
            name,
            uid,
            generation,
            current,
            parsed,
            verdict=self.view.references(Kind.WINDOW, namespace, spec.page, spec.components),
            neighbours=self.neighbours(namespace, name, spec),
            page_remind_before=self.page_remind_before(namespace, spec.page),
        )

    def neighbours(self, namespace: str, name: str, spec: WindowSpec) -> tuple[Neighbour, ...]:
        """The other live windows that list one of its components (the view holds only those)."""
        others = {
            other
            for component in spec.components
            for kind, other in self.view.naming(namespace, component)
            if kind is Kind.WINDOW and other != name
        }
        found = []
        for other in sorted(others):
            entry = self.view.windows.get((namespace, other))
            if entry is not None:
                found.append(Neighbour(other, entry.spec.page, entry.spec.components, entry.window))
        return tuple(found)

    async def settle(self, body: Body, now: datetime) -> datetime | None:
        """Bring the window's status to what spec and `now` say; return its next edge."""
        namespace, name = key_of(body)
        key = (Kind.WINDOW, namespace, name)
        async with self.writer.lock(key):
            metrics.count_reconcile(Kind.WINDOW)
            current = self.writer.current(key, body)
            facts = self.gather(body, current)
            plan = plan_window(facts, now)
            if isinstance(facts.parsed, InvalidSpecError):
                await self.writer.write(
                    Kind.WINDOW, body, current, plan.status, plan.notices, remember=True
                )
                return None
            spec = facts.parsed[0]
            write = self.writer.write(
                Kind.WINDOW, body, current, plan.status, plan.notices, remember=True
            )
            if plan.components_first:
                with self.writer.edge() as together:
                    recompute = self.components.recompute(
                        namespace, spec.components, now, at_edge=True
                    )
                    if together:
                        # Few windows at an edge: its components and its own status go out
                        # together (components sent first, in the same loop pass). Under a busy
                        # API server each write waits its turn there: one after the other, an
                        # edge cost two turns.
                        _, stored = await asyncio.gather(recompute, write)
                    else:
                        # A shared edge: the page's components first, that is what people look
                        # at; the windows' own writes would take their connections.
                        await recompute
                        await self.writer.after_components()
                        stored = await write
            else:
                if plan.moved:
                    await self.writer.after_components()
                stored = await write
            self.view.track(
                Kind.WINDOW, body, stored, spec.page, spec.components, facts.verdict.ready
            )
            moves = spec.components if spec.auto_update_status else ()
            self._sleep_until((namespace, name), plan.edge, moves)
        if plan.moved:
            self.components.touch_page(namespace, spec.page)
        if plan.boundary is not None:
            # Once the writes are answered: the wake-up's lateness, the components' write and
            # the window's own (its help text says "to the status write that made it so").
            _observe_lateness(plan.boundary, self.clock())
        return plan.edge

    async def follow(self, body: Body, stopped: StopFlag) -> None:
        """The daemon: settle at each edge until kopf stops it (the window is done or deleted).

        kopf's stop wakes the sleep at once, so the daemon returns within kopf's instant-exit
        wait: never cancelled (no "will escalate"), and the stop holds up the window's next
        event for no longer than that.
        """
        key = key_of(body)
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        self.view.wakers[key] = wake
        # One task per daemon for its life: the stop flag's own wait, relayed to our wake-up.
        relay = asyncio.ensure_future(stopped.wait())
        relay.add_done_callback(lambda _: wake.set())

        async def settle(now: datetime) -> datetime | None:
            wake.clear()
            work = self._at_edge(key, now)
            if work is None:
                return await self.settle(body, now)
            await asyncio.wait([work], timeout=COMPONENTS_PATIENCE)
            # A thousand daemons planning in one pass of the loop would hold every answer
            # (and so the next writes) until the last had planned: the API server waits idle.
            # A few at a time, each plans while the writes before it are on their way.
            async with self._edge_slots:
                return await self.settle(body, now)

        async def sleep(seconds: float) -> None:
            if stopped:
                return
            # The edge's timer sets the same event a change or the stop sets: the daemon runs
            # in the loop's next pass. (wait_for's timeout cancels a task, which takes passes
            # more, each behind whatever else the loop has queued meanwhile.)
            timer = loop.call_later(seconds, wake.set)
            try:
                await wake.wait()
            finally:
                timer.cancel()

        try:
            await follow_edges(settle, self.clock, sleep, lambda: bool(stopped))
        finally:
            relay.cancel()
            self._sleep_until(key, None, ())
            self._edge_work.pop(key, None)
            if self.view.wakers.get(key) is wake:
                del self.view.wakers[key]

    def _sleep_until(self, key: Key, edge: datetime | None, components: tuple[str, ...]) -> None:
        """Where the window's daemon sleeps until: its next edge, with what that edge moves."""
        before = self._edge_of.pop(key, None)
        if before is not None:
            group = self._asleep.get(before, {})
            group.pop(key, None)
            if not group:
                self._asleep.pop(before, None)
        if edge is not None and components:
            self._edge_of[key] = edge
            self._asleep.setdefault(edge, {})[key] = components

    def _at_edge(self, key: Key, now: datetime) -> asyncio.Task[None] | None:
        """What a daemon waking at `now` waits for before it plans: the components of every
        window at its edge, recomputed at once by the first to wake (a shared edge only)."""
        work = self._edge_work.pop(key, None)
        if work is not None:
            return work
        edge = self._edge_of.get(key)
        if edge is None or edge > now:
            return None
        group = self._asleep.pop(edge, {})
        for other in group:
            del self._edge_of[other]
        if len(group) <= TOGETHER:
            # A lone edge writes its components and itself together (settle).
            return None
        names = {(other[0], component) for other, moves in group.items() for component in moves}
        work = asyncio.create_task(self._recompute_edge(sorted(names), now), name=f"edge {now}")
        for other in group:
            if other != key:
                self._edge_work[other] = work
        return work

    async def _recompute_edge(self, names: list[tuple[str, str]], now: datetime) -> None:
        # Errors are left to each window's own recompute in settle(), which raises them.
        await asyncio.gather(
            *(
                self.components.recompute_one(namespace, name, now, at_edge=True)
                for namespace, name in names
            ),
            return_exceptions=True,
        )

    async def release(self, body: Body) -> None:
        """Deletion: take the window's effect off its components before kopf lets it go."""
        key = key_of(body)
        self.view.waiting.pop((Kind.WINDOW, *key), None)
        await self.components.apply(key[0], self.view.set_window(key, None))
