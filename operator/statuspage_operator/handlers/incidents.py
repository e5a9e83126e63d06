"""StatusIncident: the timeline and phase on every change; the finalizer only while it matters."""

from __future__ import annotations

from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, VERSION, Kind
from statuspage_operator.control.incidents import open_and_affecting
from statuspage_operator.control.runtime import Runtime

PLURAL = "statusincidents"


def changes_components(spec: kopf.Spec, **_: Any) -> bool:
    """Unresolved, with an impact, listing components: deleting it must restore them first."""
    return open_and_affecting(spec)


# Event handler, not on.create/update: no diff-base annotation per change, and a re-list replays
# every incident through it. Stamping is idempotent (a stamped time lives in status).
@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_incident_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Components first, then the incident's timeline, phase and conditions."""
    runtime: Runtime = memo.runtime
    raw = dict(body)
    runtime.reported(Kind.INCIDENT, type, raw)
    runtime.writer.replay(Kind.INCIDENT, raw, listed=type is None)
    runtime.drafts.observe_incident(type, raw)
    change = runtime.incidents.observe(type, raw)
    await runtime.components.apply(str(body.meta.namespace), change)
    if type != "DELETED" and not body.meta.deletion_timestamp:
        await runtime.incidents.settle(raw, runtime.clock())


# Mandatory only while the filter matches: kopf adds its finalizer then, and takes it off by
# itself once the incident is resolved, so a resolved incident can go without the operator.
@kopf.on.delete(GROUP, VERSION, PLURAL, when=changes_components)
async def on_incident_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Take the incident's effect off its components before kopf lets it go."""
    runtime: Runtime = memo.runtime
    await runtime.incidents.release(dict(body))
