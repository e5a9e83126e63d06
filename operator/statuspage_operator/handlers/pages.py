"""StatusPage: held in the view; rolled up from its components; a periodic safety net."""

from __future__ import annotations

import dataclasses
from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, VERSION, Kind
from statuspage_operator.control.runtime import Runtime

PLURAL = "statuspages"
RESYNC = 600.0


@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_page_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A page appeared, changed or went: its rollup, and its members' PageNotFound."""
    runtime: Runtime = memo.runtime
    raw = dict(body)
    runtime.writer.announcer.replay(Kind.PAGE, raw)
    await runtime.page_event(type, raw)


# A timer, level-triggered: everything is also recomputed on events; this catches what a failed
# write or a lost event left behind. `idle` keeps it away from pages being edited.
@kopf.timer(GROUP, VERSION, PLURAL, id="resync", interval=RESYNC, initial_delay=RESYNC, idle=60)
async def resync_page(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every component of the page, then the page, from scratch (writes only what differs)."""
    runtime: Runtime = memo.runtime
    await runtime.components.resync_page(str(body.meta.namespace), str(body.meta.name))


def _without_finalizer(handler_id: str) -> None:
    # kopf puts its finalizer on every object a timer matches (kopf issues 833, 1001, 1074) so it
    # can stop the timer before deletion; this timer holds nothing a deletion must wait for, and a
    # page with a finalizer could not be deleted while the operator is down. This one spot clears
    # the flag on the handler kopf registered above.
    spawning = kopf.get_default_registry()._spawning
    handlers = spawning._handlers
    for index, handler in enumerate(handlers):
        if handler.id == handler_id:
            handlers[index] = dataclasses.replace(handler, requires_finalizer=False)


_without_finalizer("resync")
