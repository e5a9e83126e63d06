"""Leader election on a coordination.k8s.io Lease, as kube-controller-manager does.

Only the holder runs kopf (main.py); a standby takes over when the holder stops renewing, or at
once when it releases the Lease on a clean stop.

Expiry is judged by our own monotonic clock from the moment we last saw the record change, never
by comparing the holder's timestamps with ours (clock skew between nodes cannot elect two leaders).
A leader that cannot renew within `renew_deadline` steps down before its lease can expire.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from statuspage_operator.api.times import parse_time
from statuspage_operator.k8s.client import Client, ConflictError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseConfig:
    """Where the lease lives, who we are, and the timings (seconds)."""

    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class LeaderElector:
    """Acquire, renew and release one Lease; call back when leadership starts and stops."""

    def __init__(self, client: Client, config: LeaseConfig) -> None:
        self._client = client
        self.config = config
        self.leading = False
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0

    async def run(
        self,
        on_started: Callable[[], Awaitable[None]],
        on_stopped: Callable[[], Awaitable[None]],
    ) -> None:
        """Forever: try to lead; while leading, renew; step down when renewing fails."""
        last_renewal = time.monotonic()
        try:
            while True:
                try:
                    held = await self._try_acquire_or_renew()
                except Exception as error:
                    logger.warning("lease %s: %s", self.config.name, error)
                    held = False
                now = time.monotonic()
                if held:
                    last_renewal = now
                    if not self.leading:
                        self.leading = True
                        logger.info("became the leader (lease %s)", self._lease_ref())
                        await on_started()
                elif self.leading and now - last_renewal > self.config.renew_deadline:
                    self.leading = False
                    logger.warning("lost the lease %s; standing by", self._lease_ref())
                    await on_stopped()
                await asyncio.sleep(self.config.retry_period)
        finally:
            if self.leading:
                self.leading = False
                await on_stopped()
                await self._release()

    def _lease_ref(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"

    async def _try_acquire_or_renew(self) -> bool:
        config = self.config
        now = datetime.now(UTC)
        lease = await self._client.read_lease(config.namespace, config.name)
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": config.name, "namespace": config.namespace},
                "spec": self._spec(now, now, transitions=0),
            }
            try:
                await self._client.create_lease(config.namespace, body)
            except ConflictError:
                return False
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, str(spec.get("renewTime")))
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        duration = spec.get("leaseDurationSeconds") or config.lease_duration
        expired = time.monotonic() - self._observed_at > duration
        if holder and holder != config.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (holder != config.identity)
        acquired = now
        if holder == config.identity and spec.get("acquireTime"):
            acquired = parse_time(spec["acquireTime"])
        lease["spec"] = self._spec(acquired, now, transitions)
        try:
            await self._client.replace_lease(config.namespace, config.name, lease)
        except ConflictError:
            return False
        self._observed, self._observed_at = (config.identity, str(now)), time.monotonic()
        return True

    def _spec(self, acquired: datetime, renewed: datetime, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, round(self.config.lease_duration)),
            "acquireTime": _micro(acquired),
            "renewTime": _micro(renewed),
            "leaseTransitions": transitions,
        }

    async def _release(self) -> None:
        """Give the lease up on a clean stop, so a standby takes over at once."""
        try:
            lease = await self._client.read_lease(self.config.namespace, self.config.name)
            spec = (lease or {}).get("spec") or {}
            if lease is None or spec.get("holderIdentity") != self.config.identity:
                return
            spec["holderIdentity"] = ""
            spec["leaseDurationSeconds"] = 1
            lease["spec"] = spec
            await self._client.replace_lease(self.config.namespace, self.config.name, lease)
            logger.info("released the lease %s", self._lease_ref())
        except Exception as error:
            logger.warning("could not release the lease %s: %s", self._lease_ref(), error)


def _micro(instant: datetime) -> str:
    """MicroTime as the Lease API wants it: RFC 3339 with microseconds."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
