"""Component: held in the view; recomputed (and its page) when it or what affects it changes."""

from __future__ import annotations

from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, VERSION, Kind
from statuspage_operator.control.runtime import Runtime


# An event handler: components carry no finalizer, need no diff base, and a re-list replays them.
@kopf.on.event(GROUP, VERSION, "components")
async def on_component_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """The worst of manual status, maintenance, incidents and alerts; the page follows a change."""
    runtime: Runtime = memo.runtime
    raw = dict(body)
    runtime.reported(Kind.COMPONENT, type, raw)
    runtime.writer.replay(Kind.COMPONENT, raw, listed=type is None)
    await runtime.component_event(type, raw)
