"""Fold a notification into each component it concerns, and write `status.alerts` where it changed.

The receiver's only write: a JSON merge patch of the component's `/status` carrying the
resourceVersion it folded from and `status.alerts` whole. Any replica may write: when another
replica (or the other Alertmanager's notification) wrote first, the API server answers 409, and
the component is read again and folded again, a few times at most. A fold that changes nothing is
not written, so a repeated notification costs no write. One write per component per notification,
whatever the number of alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from statuspage_operator.api.alerts import FIELD, render_alerts
from statuspage_operator.domain.alertgroups import Notification, concerns, fold, holds_group
from statuspage_operator.domain.alerting import ComponentAlerts

from .view import PageSettings, Target, View, target_of

logger = logging.getLogger(__name__)
ATTEMPTS = 5


class ConflictError(Exception):
    """The object changed since the resourceVersion the patch carried (409)."""


class GoneError(Exception):
    """The object is gone (404)."""


class StatusApi(Protocol):
    """The two calls the receiver makes on components (the kubernetes client, or a fake)."""

    async def get(self, namespace: str, name: str) -> Mapping[str, Any]:
        """The component; raise GoneError."""
        ...

    async def patch_status(
        self, namespace: str, name: str, body: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Merge-patch its /status; the object written. Raise ConflictError or GoneError."""
        ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a notification did: components written, components folded with no change."""

    written: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    conflicts: int = 0


def status_patch(alerts: ComponentAlerts, resource_version: str) -> dict[str, Any]:
    """The merge patch of `/status` the receiver sends (nothing but `status.alerts`)."""
    return {
        "metadata": {"resourceVersion": resource_version},
        "status": {FIELD: render_alerts(alerts)},
    }


class Store:
    """Folds and writes, one component at a time per process (a lock each)."""

    def __init__(self, api: StatusApi, view: View) -> None:
        self._api = api
        self._view = view
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _lock(self, target: Target) -> asyncio.Lock:
        key = (target.namespace, target.name)
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 10_000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def deliver(
        self,
        settings: PageSettings,
        targets: list[Target],
        notification: Notification,
        now: datetime,
    ) -> Outcome:
        """Fold into every component concerned and write the changes; raise on a failed write."""
        concerned = [
            t
            for t in targets
            if concerns(notification, t.matchers) or holds_group(t.alerts, notification)
        ]
        # Components apart are written at once: each has its own lock and resourceVersion.
        results = await asyncio.gather(
            *(self._locked(settings, t, notification, now) for t in concerned)
        )
        written = tuple(t.name for t, (result, _) in zip(concerned, results, strict=True) if result)
        unchanged = tuple(
            t.name for t, (result, _) in zip(concerned, results, strict=True) if not result
        )
        return Outcome(written, unchanged, sum(tries for _, tries in results))

    async def _locked(
        self, settings: PageSettings, target: Target, notification: Notification, now: datetime
    ) -> tuple[Target | None, int]:
        async with self._lock(target):
            # What this replica wrote while this one waited for the lock, if anything.
            latest = self._view.targets.get((target.namespace, target.name), target)
            result, tries = await self._one(settings, latest, notification, now)
            if result is not None:
                self._view.put(result)
        return result, tries

    async def _one(
        self, settings: PageSettings, target: Target, notification: Notification, now: datetime
    ) -> tuple[Target | None, int]:
        current = target
        for attempt in range(ATTEMPTS):
            folded = fold(
                current.alerts,
                notification,
                current.matchers,
                settings.hold,
                settings.expire_after,
                now,
                current.severities,
            )
            if render_alerts(folded) == render_alerts(current.alerts):
                return None, attempt
            body = status_patch(folded, current.resource_version)
            try:
                written = await self._api.patch_status(current.namespace, current.name, body)
            except GoneError:
                return None, attempt
            except ConflictError:
                try:
                    obj = await self._api.get(current.namespace, current.name)
                except GoneError:
                    return None, attempt + 1
                again = target_of(obj)
                if again is None:
                    # Its spec.alerts went away or no longer parses: nothing to fold into.
                    return None, attempt + 1
                current = again
                continue
            return target_of(written) or current, attempt
        raise ConflictError(
            f"{current.namespace}/{current.name}: still conflicting after {ATTEMPTS}"
        )
