"""PublicationPolicy: the cluster admin's grants; a change re-decides which pages are published."""

from __future__ import annotations

from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, PLURALS, VERSION, Kind
from statuspage_operator.control.runtime import Runtime


# An event handler: a policy has no status and no finalizer; a re-list replays every policy, and
# the sweep drops one deleted during a watch gap (control/sweep.py).
@kopf.on.event(GROUP, VERSION, PLURALS[Kind.POLICY])
async def on_policy_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Pages whose Published condition the change alters are written again."""
    runtime: Runtime = memo.runtime
    raw = dict(body)
    runtime.reported(Kind.POLICY, type, raw)
    runtime.policy_event(type, raw)
