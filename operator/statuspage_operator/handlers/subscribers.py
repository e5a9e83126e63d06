"""Subscriber: who is told of a page's news, and where; checked on every change and, while it
waits for its Secret, every 30 seconds."""

from __future__ import annotations

from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, VERSION
from statuspage_operator.control.notifications import RECHECK, waits_for_destination
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.handlers.kopf_workarounds import without_finalizer
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


def waits_for_its_secret(status: kopf.Status, **_: Any) -> bool:
    """Ready=False because its Secret, or the URL in it, is missing or wrong."""
    return waits_for_destination(status)


# A timer: Secrets are not watched (the operator may only get them by name), so a Subscriber whose
# status says its Secret is missing or wrong is checked again now and then; kopf stops the timer
# when the status says otherwise. Subscribers carry no finalizer (the ClusterRole gives no patch on
# them), and the timer holds nothing a deletion must wait for: see without_finalizer.
@kopf.timer(
    GROUP,
    VERSION,
    PLURAL,
    id="recheck",
    interval=RECHECK,
    initial_delay=RECHECK,
    when=waits_for_its_secret,
)
async def recheck_destination(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Read its Secret again; write its conditions if they change."""
    runtime: Runtime = memo.runtime
    await runtime.notifier.recheck(str(body.meta.namespace), str(body.meta.name))


without_finalizer("recheck")
