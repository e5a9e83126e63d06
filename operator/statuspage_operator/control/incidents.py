"""Status incidents: held in the view while open, settled by gather -> plan -> write.

An open incident is held in the view, so its components show what it gives them; resolving it
drops it there, and its components are recomputed before its own status is written (the watch
handler applies the view's change first). The timeline, phase and notices are plans.incidents'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.specs import IncidentSpec, parse
from statuspage_operator.control import metrics
from statuspage_operator.control.components import Components
from statuspage_operator.control.view import Body, Change, IncidentEntry, View
from statuspage_operator.control.windows import key_of
from statuspage_operator.control.writer import Writer
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import IncidentPhase
from statuspage_operator.plans.incidents import IncidentFacts, plan_incident


def open_and_affecting(spec: Mapping[str, Any]) -> bool:
    """Whether an incident changes components now: published, unresolved, with an impact and
    components.

    Only such incidents carry the finalizer: deleting one must first restore its components.
    """
    updates = spec.get("updates") or []
    resolved = bool(updates) and updates[-1].get("status") == IncidentPhase.RESOLVED
    affecting = bool(spec.get("components")) and spec.get("impact") != "None"
    return affecting and not resolved and spec.get("draft") is not True


class Incidents:
    """StatusIncidents: held in the view while open, and settled (plans.incidents decides)."""

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
            # A draft changes no component: it is held only once published.
            if not spec.draft and (not updates or updates[-1].status is not IncidentPhase.RESOLVED):
                entry = IncidentEntry.of(uid, generation, spec)
        if held is None and entry is None:
            return None
        return self.view.set_incident(key, entry)

    def gather(self, body: Body, current: dict[str, Any]) -> IncidentFacts:
        """The spec, the status as recorded and the verdict on its page and components."""
        namespace, name = key_of(body)
        meta = body.get("metadata", {})
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        spec = self.parse(body)
        if isinstance(spec, InvalidSpecError):
            return IncidentFacts(name, uid, generation, current, spec)
        names = tuple(c.name for c in spec.components)
        verdict = self.view.references(Kind.INCIDENT, namespace, spec.page, names)
        return IncidentFacts(name, uid, generation, current, spec, verdict)

    async def settle(self, body: Body, now: datetime) -> None:
        """Stamp new updates into the timeline, derive the phase, announce what changed."""
        key = (Kind.INCIDENT, *key_of(body))
        async with self.writer.lock(key):
            metrics.count_reconcile(Kind.INCIDENT)
            current = self.writer.current(key, body)
            facts = self.gather(body, current)
            plan = plan_incident(facts, now)
            stored = await self.writer.write(
                Kind.INCIDENT, body, current, plan.status, plan.notices, remember=True
            )
            if isinstance(facts.spec, IncidentSpec):
                names = tuple(c.name for c in facts.spec.components)
                self.view.track(
                    Kind.INCIDENT, body, stored, facts.spec.page, names, facts.verdict.ready
                )

    async def release(self, body: Body) -> None:
        """Deletion: take the incident's effect off its components before kopf lets it go."""
        key = key_of(body)
        self.view.waiting.pop((Kind.INCIDENT, *key), None)
        await self.components.apply(key[0], self.view.set_incident(key, None))
