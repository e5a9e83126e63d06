"""A window's silence in Alertmanager: the calls of one settling, and the safety net.

`in_alertmanager` always lists before it creates: Alertmanager has no idempotency key, and the
occurrence's key in the comment is how a silence made before a crash is found and adopted. The
failpoint `STATUSPAGE_OPERATOR_FAILPOINT=silence-created` (read here, once, for
tests/e2e/test_silences.py) kills the process right after a creation, before its record.

The safety net (`missing`): a recorded silence that Alertmanager no longer has.

Alertmanager forgets silences when all its replicas restart without storage, and a person may
expire one by hand. The status then still records the silence as in place, and no event says
otherwise. So every AUDIT_INTERVAL seconds, while some window records a silence, one listing of
Alertmanager's silences is compared with the records: a window whose silence is gone, or
expired before its occurrence's end, is settled again (the silence is made anew). One call per
interval, whatever the number of windows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from statuspage_operator.api.silences import Record, record_of
from statuspage_operator.control.alertmanager import (
    AlertmanagerClient,
    AlertmanagerError,
    SilenceNotFoundError,
)
from statuspage_operator.control.view import Key
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.matchers import Matcher, parse_matchers
from statuspage_operator.domain.silences import CREATED_BY, ours, window_mark
from statuspage_operator.plans.silences import SilenceFacts, Wanted, step

logger = logging.getLogger(__name__)

AUDIT_INTERVAL = 600.0
FAILPOINT = os.environ.get("STATUSPAGE_OPERATOR_FAILPOINT", "")


def _matchers_of(texts: tuple[str, ...]) -> tuple[Matcher, ...]:
    try:
        return parse_matchers("silence", texts)
    except InvalidSpecError:
        return ()


async def in_alertmanager(
    api: AlertmanagerClient,
    facts: SilenceFacts,
    want: Wanted,
    current: Mapping[str, Any],
    now: datetime,
) -> str | None:
    """Alertmanager as `want` asks: the window's silences listed (its own: the comment's mark and
    createdBy), then kept, moved, made or expired as plans.silences.step says; the id of the
    target's silence."""
    record = record_of(current)
    matchers = want.target.matchers if want.target is not None else ()
    if not matchers and record is not None:
        matchers = _matchers_of(record.matchers)
    mark = window_mark(facts.uid)
    live = [s for s in await api.silences(matchers) if ours(s, mark)]
    if record is not None and record.id not in {s.id for s in live}:
        with contextlib.suppress(SilenceNotFoundError):
            recorded = await api.silence(record.id)
            if ours(recorded, mark):
                live.append(recorded)
    plan = step(want.target, live, record.id if record else None, now)
    where = f"MaintenanceWindow {facts.namespace}/{facts.name}"
    for expired in plan.expire:
        await api.expire(expired)
        logger.info("%s: silence %s expired", where, expired)
    if plan.keep is not None:
        return plan.keep
    if want.target is None:
        return None
    if plan.move is not None:
        made = await api.put(want.target, plan.move)
        logger.info("%s: silence %s moved (now %s)", where, plan.move, made)
        return made
    made = await api.put(want.target)
    logger.info("%s: silence %s created", where, made)
    if FAILPOINT == "silence-created":
        os.kill(os.getpid(), signal.SIGKILL)
    return made


async def missing(
    api: AlertmanagerClient, records: Mapping[Key, Record], now: datetime
) -> list[Key]:
    """The windows whose recorded silence, still due, is not live in Alertmanager."""
    due = {key: record for key, record in records.items() if record.end > now}
    if not due:
        return []
    try:
        found = await api.silences()
    except AlertmanagerError as error:
        # The lanes say so when they call; the audit tries again at the next interval.
        logger.warning("auditing the silences: Alertmanager %s", error)
        return []
    live = {s.id for s in found if s.live and s.created_by == CREATED_BY}
    gone = sorted(key for key, record in due.items() if record.id not in live)
    for namespace, name in gone:
        logger.warning(
            "MaintenanceWindow %s/%s: its silence %s is gone from Alertmanager: made again",
            namespace,
            name,
            due[(namespace, name)].id,
        )
    return gone
