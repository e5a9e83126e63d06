"""StatusPage: held in the view; rolled up from its components; a periodic safety net."""

from __future__ import annotations

from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, VERSION, Kind
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.handlers.kopf_workarounds import without_finalizer

PLURAL = "statuspages"
RESYNC = 600.0


@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_page_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A page appeared, changed or went: its rollup, and its members' PageNotFound."""
    runtime: Runtime = memo.runtime
    raw = dict(body)
    runtime.reported(Kind.PAGE, type, raw)
    runtime.writer.replay(Kind.PAGE, raw, listed=type is None)
    await runtime.page_event(type, raw)


# A timer, level-triggered: everything is also recomputed on events; this catches what a failed
# write or a lost event left behind. `idle` keeps it away from pages being edited. It holds
# nothing a page's deletion must wait for: no finalizer (see without_finalizer).
@kopf.timer(GROUP, VERSION, PLURAL, id="resync", interval=RESYNC, initial_delay=RESYNC, idle=60)
async def resync_page(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every component of the page, then the page, from scratch (writes only what differs);
    its drafts planned again."""
    runtime: Runtime = memo.runtime
    await runtime.components.resync_page(str(body.meta.namespace), str(body.meta.name))
    runtime.drafts.touch(str(body.meta.namespace), str(body.meta.name))


without_finalizer("resync")
