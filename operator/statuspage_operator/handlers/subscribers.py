"""Subscriber: who is told of a page's news, and where; checked on every change."""

from __future__ import annotations

from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, VERSION
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.k8s.subscribers import KIND, PLURAL


# An event handler: a Subscriber needs no finalizer (nothing to undo), no daemon (deliveries are
# driven by the notices of the other kinds), no diff base; a re-list replays it.
@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_subscriber_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Hold the subscriber and its record of deliveries; say whether its destination works."""
    runtime: Runtime = memo.runtime
    raw = dict(body)
    runtime.reported(KIND, type, raw)
    await runtime.subscriber_event(type, raw)
