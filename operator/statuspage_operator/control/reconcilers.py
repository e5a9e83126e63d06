"""What to do for one object of each kind: compute the desired status, write what differs.

Events come from the same comparison that decides a write, so each transition has one Event.
Our finalizer sits only on windows and incidents that currently change components; it is removed
as soon as they stop, so deleting a completed window or a resolved incident never waits for us.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from statuspage_operator.api.conditions import Reason, Verdict, missing_message
from statuspage_operator.api.names import FINALIZER, Kind
from statuspage_operator.api.specs import (
    ComponentSpec,
    IncidentSpec,
    PageSpec,
    WindowSpec,
    check_zone,
)
from statuspage_operator.api.status import (
    component_status,
    incident_status,
    invalid_status,
    page_status,
    parse_timeline,
    window_status,
)
from statuspage_operator.api.times import format_time
from statuspage_operator.control import metrics
from statuspage_operator.control.engine import Engine, Reconciler
from statuspage_operator.control.store import Key, Record
from statuspage_operator.control.views import component_view, page_view
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import Impact, IncidentPhase, derive
from statuspage_operator.domain.maintenance import WindowPhase, WindowState, window_state


def _references(engine: Engine, record: Record, page: str, names: tuple[str, ...]) -> Verdict:
    """Ready unless the page or some listed components are missing (or on another page)."""
    namespace = record.key.namespace
    if engine.store.find(Kind.PAGE, namespace, page) is None:
        return Verdict(
            False,
            Reason.PAGE_NOT_FOUND,
            f"page {page} not found in namespace {namespace}; create it, or fix spec.page",
        )
    missing = []
    for name in names:
        component = engine.store.find(Kind.COMPONENT, namespace, name)
        if component is None or component.page != page:
            missing.append(name)
    if missing:
        kind = record.key.kind
        return Verdict(False, Reason.COMPONENT_NOT_FOUND, missing_message(kind, missing, page))
    return Verdict.ok()


async def _stalled(engine: Engine, record: Record, error: InvalidSpecError, now: datetime) -> None:
    verdict = Verdict(False, Reason.INVALID_SPEC, str(error), stalled=True)
    previous = record.status.get("conditions") or []
    was_stalled = any(
        c.get("type") == "Stalled" and c.get("message") == str(error) for c in previous
    )
    await engine.write_status(
        record, invalid_status(record.status, verdict, record.generation, now)
    )
    if not was_stalled:
        engine.event(record, Reason.INVALID_SPEC, str(error), warning=True)


def _components_of(record: Record) -> list[Key]:
    return [Key(Kind.COMPONENT, record.key.namespace, n) for n in record.component_names]


async def _release(engine: Engine, record: Record) -> None:
    """Deletion: take the object's effect off its components first, then let it go."""
    for key in _components_of(record):
        await engine.reconcile_now(key)
    if record.page:
        engine.enqueue_page(record.key.namespace, record.page)
    await engine.ensure_finalizer(record, wanted=False)


LATENESS_HORIZON = 60.0
FINALIZER_GRACE = timedelta(seconds=2)

_WINDOW_EVENTS = {
    WindowPhase.IN_PROGRESS: Reason.MAINTENANCE_STARTED,
    WindowPhase.COMPLETED: Reason.MAINTENANCE_COMPLETED,
    WindowPhase.CANCELLED: Reason.MAINTENANCE_CANCELLED,
}


async def reconcile_window(engine: Engine, record: Record, now: datetime) -> None:
    """Phase from spec and now; finalizer while it can change components; the next edge."""
    if record.deleting:
        await _release(engine, record)
        return
    if record.error is not None or record.window is None:
        engine.scheduler.schedule(record.key, None)
        await _stalled(engine, record, record.error or InvalidSpecError("spec", "missing"), now)
        # An invalid window changes nothing: its components are recomputed without it.
        engine.enqueue(_components_of(record))
        await engine.ensure_finalizer(record, wanted=False)
        return
    spec = record.spec
    assert isinstance(spec, WindowSpec)
    state = window_state(record.window, now)
    # The finalizer goes on while the window is still to come, so that the start edge costs one
    # write; it comes off when the window can no longer change a component.
    holds = bool(spec.auto_update_status and spec.components) and state.phase in (
        WindowPhase.SCHEDULED,
        WindowPhase.IN_PROGRESS,
    )
    if holds:
        record = await engine.ensure_finalizer(record, wanted=True)
    old_phase = record.status.get("phase")
    old_current = record.status.get("currentOccurrence")
    verdict = _references(engine, record, spec.page, spec.components)
    desired = window_status(state, record.status, verdict, record.generation, now)
    await engine.write_status(record, desired)
    moved = old_phase != desired["phase"] or old_current != desired["currentOccurrence"]
    if moved:
        engine.enqueue(_components_of(record))
        engine.enqueue_page(record.key.namespace, spec.page)
        _window_event(engine, record, spec, state.phase, old_phase)
        _observe_lateness(state, old_phase, now)
    if verdict.reason is not Reason.RECONCILED and _condition_changed(record, verdict):
        engine.event(record, verdict.reason, verdict.message, warning=True)
    next_check = state.next_edge
    if not holds and FINALIZER in record.finalizers:
        if moved:
            # At an edge the status goes first; the finalizer comes off a moment later, so a
            # thousand windows ending together cost one write each at the instant, not two.
            later = now + FINALIZER_GRACE
            next_check = later if next_check is None else min(next_check, later)
        else:
            current = engine.store.get(record.key) or record
            await engine.ensure_finalizer(current, wanted=False)
    engine.scheduler.schedule(record.key, next_check)


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


def _window_event(
    engine: Engine, record: Record, spec: WindowSpec, phase: WindowPhase, old_phase: object
) -> None:
    if phase is WindowPhase.SCHEDULED and old_phase == WindowPhase.IN_PROGRESS:
        reason = Reason.MAINTENANCE_COMPLETED
    elif phase is WindowPhase.IN_PROGRESS and old_phase == WindowPhase.IN_PROGRESS:
        reason = Reason.MAINTENANCE_STARTED
    else:
        found = _WINDOW_EVENTS.get(phase)
        if found is None:
            return
        reason = found
    names = ", ".join(spec.components) or "no components"
    messages = {
        Reason.MAINTENANCE_STARTED: f"Maintenance {spec.title!r} started ({names})",
        Reason.MAINTENANCE_COMPLETED: f"Maintenance {spec.title!r} completed ({names})",
        Reason.MAINTENANCE_CANCELLED: f"Maintenance {spec.title!r} cancelled ({names})",
    }
    engine.event(record, reason, messages[reason])


def _condition_changed(record: Record, verdict: Verdict) -> bool:
    """Whether the Ready condition we just wrote differs from the one before (for Events)."""
    before = record.status.get("conditions") or []
    ready = next((c for c in before if c.get("type") == "Ready"), None)
    return (
        ready is None
        or ready.get("reason") != verdict.reason
        or ready.get("message") != verdict.message
    )


async def reconcile_component(engine: Engine, record: Record, now: datetime) -> None:
    """The worst of manual status, maintenance and incidents; the page follows a change."""
    if record.deleting:
        return
    if record.error is not None or not isinstance(record.spec, ComponentSpec):
        await _stalled(engine, record, record.error or InvalidSpecError("spec", "missing"), now)
        return
    spec = record.spec
    namespace = record.key.namespace
    view = component_view(engine.store, record, now)
    if engine.store.find(Kind.PAGE, namespace, spec.page) is None:
        verdict = Verdict(
            False,
            Reason.PAGE_NOT_FOUND,
            f"page {spec.page} not found in namespace {namespace}; create it, or fix spec.page",
        )
    else:
        verdict = Verdict.ok()
    old_status = record.status.get("status")
    desired = component_status(
        view.status, view.windows, view.incidents, record.status, verdict, record.generation, now
    )
    changed_conditions = _condition_changed(record, verdict)
    if await engine.write_status(record, desired) and old_status != desired["status"]:
        engine.enqueue_page(namespace, spec.page)
        if old_status is not None:
            engine.event(
                record,
                Reason.COMPONENT_STATUS_CHANGED,
                f"{old_status} -> {desired['status']}",
            )
    if verdict.reason is not Reason.RECONCILED and changed_conditions:
        engine.event(record, verdict.reason, verdict.message, warning=True)


async def reconcile_page(engine: Engine, record: Record, now: datetime) -> None:
    """Statuspage's rollup of the page's components, and its counts."""
    if record.deleting:
        return
    if isinstance(record.spec, PageSpec):
        try:
            check_zone("spec.timeZone", record.spec.time_zone)
        except InvalidSpecError as error:
            await _stalled(engine, record, error, now)
            return
    elif record.error is not None:
        await _stalled(engine, record, record.error, now)
        return
    view = page_view(engine.store, record.key.namespace, record.key.name, now)
    desired = page_status(
        view.rollup,
        view.components,
        view.unresolved_incidents,
        view.active_maintenances,
        record.status,
        Verdict.ok(),
        record.generation,
        now,
    )
    await engine.write_status(record, desired)


async def reconcile_incident(engine: Engine, record: Record, now: datetime) -> None:
    """Stamp the timeline, derive the phase; finalizer while it changes components."""
    if record.deleting:
        await _release(engine, record)
        return
    if record.error is not None or not isinstance(record.spec, IncidentSpec):
        await _stalled(engine, record, record.error or InvalidSpecError("spec", "missing"), now)
        return
    spec = record.spec
    state = derive(record.updates, parse_timeline(record.status), now)
    affects = bool(spec.components) and spec.impact is not Impact.NONE
    if affects and state.phase is not IncidentPhase.RESOLVED:
        record = await engine.ensure_finalizer(record, wanted=True)
    old_phase = record.status.get("phase")
    old_length = len(record.status.get("timeline") or ())
    verdict = _references(engine, record, spec.page, tuple(c.name for c in spec.components))
    desired = incident_status(state, record.status, verdict, record.generation, now)
    changed_conditions = _condition_changed(record, verdict)
    if await engine.write_status(record, desired):
        engine.enqueue(_components_of(record))
        engine.enqueue_page(record.key.namespace, spec.page)
        for entry in state.timeline[old_length:]:
            engine.event(
                record,
                Reason.INCIDENT_UPDATED,
                f"{entry.status} at {format_time(entry.at)}: {entry.message}",
            )
        if state.phase is IncidentPhase.RESOLVED and old_phase != IncidentPhase.RESOLVED:
            engine.event(record, Reason.INCIDENT_RESOLVED, f"Incident {spec.title!r} resolved")
    if verdict.reason is not Reason.RECONCILED and changed_conditions:
        engine.event(record, verdict.reason, verdict.message, warning=True)
    if state.phase is IncidentPhase.RESOLVED or not affects:
        current = engine.store.get(record.key) or record
        await engine.ensure_finalizer(current, wanted=False)


RECONCILERS: dict[Kind, Reconciler] = {
    Kind.WINDOW: reconcile_window,
    Kind.COMPONENT: reconcile_component,
    Kind.PAGE: reconcile_page,
    Kind.INCIDENT: reconcile_incident,
}
