"""Status incidents: the timeline stamped once, the phase from the latest update, the effect.

An open incident is held in the view, so its components show what it gives them; resolving it
drops it there, and its components are recomputed before its own status is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from statuspage_operator.api.conditions import Reason
from statuspage_operator.api.names import Kind
from statuspage_operator.api.notices import make_notices
from statuspage_operator.api.specs import IncidentSpec, parse, updates_of
from statuspage_operator.api.status import incident_status, parse_timeline
from statuspage_operator.api.times import format_time
from statuspage_operator.control import metrics
from statuspage_operator.control.components import Components, invalid, warnings
from statuspage_operator.control.view import Body, Change, IncidentEntry, View
from statuspage_operator.control.windows import key_of
from statuspage_operator.control.writer import Writer
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import IncidentPhase, derive
from statuspage_operator.domain.notifications import INCIDENT_HORIZON


def open_and_affecting(spec: Mapping[str, Any]) -> bool:
    """Whether an incident changes components now: unresolved, with an impact and components.

    Only such incidents carry the finalizer: deleting one must first restore its components.
    """
    updates = spec.get("updates") or []
    resolved = bool(updates) and updates[-1].get("status") == IncidentPhase.RESOLVED
    return bool(spec.get("components")) and spec.get("impact") != "None" and not resolved


class Incidents:
    """The rules for StatusIncidents, over the view, the writer and the components."""

    def __init__(
        self, view: View, writer: Writer, components: Components, clock: Callable[[], datetime]
    ) -> None:
        self.view = view
        self.writer = writer
        self.components = components
        self.clock = clock

    @staticmethod
    def parse(body: Body) -> IncidentSpec | InvalidSpecError:
        """The spec, or why it cannot work."""
        try:
            return parse(IncidentSpec, body.get("spec"))
        except InvalidSpecError as error:
            return error

    def observe(self, event_type: str | None, body: Body) -> Change | None:
        """Hold the incident while it is open; return what that touches (None: nothing)."""
        key = key_of(body)
        meta = body.get("metadata", {})
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        if event_type == "DELETED":
            self.writer.forget((Kind.INCIDENT, *key))
            self.view.waiting.pop((Kind.INCIDENT, *key), None)
            return self.view.set_incident(key, None) if key in self.view.incidents else None
        waiting = self.view.waiting.get((Kind.INCIDENT, *key))
        if waiting is not None:
            waiting.recorded.update(body)
        held = self.view.incidents.get(key)
        if held is not None and (held.uid, held.generation) == (uid, generation):
            return None
        spec = self.parse(body)
        entry = None
        if isinstance(spec, IncidentSpec):
            updates = spec.updates
            if not updates or updates[-1].status is not IncidentPhase.RESOLVED:
                entry = IncidentEntry.of(uid, generation, spec)
        if held is None and entry is None:
            return None
        return self.view.set_incident(key, entry)

    async def settle(self, body: Body, now: datetime) -> None:
        """Stamp new updates into the timeline, derive the phase, announce what changed."""
        namespace, name = key_of(body)
        meta = body.get("metadata", {})
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        async with self.writer.lock((Kind.INCIDENT, namespace, name)):
            metrics.count_reconcile(Kind.INCIDENT)
            current = self.writer.current((Kind.INCIDENT, namespace, name), body)
            spec = self.parse(body)
            if isinstance(spec, InvalidSpecError):
                desired, notices = invalid(name, uid, current, spec, generation, now)
                await self.writer.write(
                    Kind.INCIDENT, body, current, desired, notices, remember=True
                )
                return
            state = derive(updates_of(spec), parse_timeline(current), now)
            names = tuple(c.name for c in spec.components)
            verdict = self.view.references(Kind.INCIDENT, namespace, spec.page, names)
            old_phase = current.get("phase")
            old_length = len(current.get("timeline") or ())
            desired = incident_status(state, current, verdict, generation, now)
            items: list[tuple[str, str, bool]] = [
                (
                    Reason.INCIDENT_UPDATED,
                    f"{entry.status} at {format_time(entry.at)}: {entry.message}",
                    False,
                )
                for entry in state.timeline[old_length:]
            ]
            if state.phase is IncidentPhase.RESOLVED and old_phase != IncidentPhase.RESOLVED:
                items.append((Reason.INCIDENT_RESOLVED, f"Incident {spec.title!r} resolved", False))
            # Subscribers hear of each update by its index in the timeline.
            about = [
                (str(old_length + i), entry.at + INCIDENT_HORIZON)
                for i, entry in enumerate(state.timeline[old_length:])
            ]
            items += warnings(current, verdict)
            notices = [
                notice.about(*about[i]) if i < len(about) else notice
                for i, notice in enumerate(make_notices(name, uid, now, items))
            ]
            stored = await self.writer.write(
                Kind.INCIDENT, body, current, desired, notices, remember=True
            )
            self.view.track(Kind.INCIDENT, body, stored, spec.page, names, verdict.ready)

    async def release(self, body: Body) -> None:
        """Deletion: take the incident's effect off its components before kopf lets it go."""
        key = key_of(body)
        self.view.waiting.pop((Kind.INCIDENT, *key), None)
        await self.components.apply(key[0], self.view.set_incident(key, None))
