"""Leader election on a coordination.k8s.io Lease, as kube-controller-manager does.

Only the holder runs kopf (main.py); a standby takes over when the holder stops renewing, or at
once when it releases the Lease on a clean stop.

Expiry is judged by our own monotonic clock from the moment we last saw the record change, never
by comparing the holder's timestamps with ours (clock skew between nodes cannot elect two leaders).
A standby that could not read the Lease for a while (the API server stalled) starts that clock
again: the holder's silence it could not watch is not counted, so after a stall the leader gets the
first chance to renew (being slower to take over is always safe).

A leader that cannot renew within `renew_deadline` pauses (`on_paused`: main.py shuts every write)
before its lease can expire; each attempt is bounded by the time left, so a call that hangs cannot
hold it past that deadline. While paused it keeps trying: if it renews its own Lease, untaken (its
holder still itself), it resumes (`on_resumed`) with its view warm, instead of exiting and making
the next leader pay a cold start. If it reads another holder, or none, it has lost: `on_stopped`.
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
        self.paused = False
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self._read_at = 0.0
        # Whether the last read showed another holder (or none) while we led.
        self._taken = False

    async def run(
        self,
        on_started: Callable[[], Awaitable[None]],
        on_stopped: Callable[[], Awaitable[None]],
        on_paused: Callable[[], Awaitable[None]] | None = None,
        on_resumed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Forever: try to lead; while leading, renew; pause when renewing fails (or step down
        without `on_paused`), resume on renewing again, step down when the Lease is taken."""
        config = self.config
        last_renewal = time.monotonic()
        try:
            while True:
                # Bounded by what is left before the renew deadline while we act, so that a call
                # that hangs (a stalled API server) cannot keep us acting past it.
                left = config.renew_deadline - (time.monotonic() - last_renewal)
                timeout = max(0.1, left) if self.leading and not self.paused else None
                timeout = timeout or 2 * config.retry_period
                self._taken = False
                try:
                    held = await asyncio.wait_for(self._try_acquire_or_renew(), timeout)
                except Exception as error:
                    logger.warning("lease %s: %s", config.name, error or type(error).__name__)
                    held = False
                now = time.monotonic()
                if held:
                    last_renewal = now
                    if not self.leading:
                        self.leading = True
                        logger.info("became the leader (lease %s)", self._lease_ref())
                        await on_started()
                    elif self.paused:
                        self.paused = False
                        logger.warning("renewed the lease %s; acting again", self._lease_ref())
                        if on_resumed is not None:
                            await on_resumed()
                elif self.leading and (
                    self._taken
                    or (on_paused is None and now - last_renewal > config.renew_deadline)
                ):
                    self.leading = self.paused = False
                    logger.warning("lost the lease %s; standing by", self._lease_ref())
                    await on_stopped()
                elif (
                    self.leading and not self.paused and now - last_renewal > config.renew_deadline
                ):
                    assert on_paused is not None
                    self.paused = True
                    logger.warning(
                        "could not renew the lease %s in %.0fs; pausing until it is renewed",
                        self._lease_ref(),
                        config.renew_deadline,
                    )
                    await on_paused()
                await asyncio.sleep(config.retry_period)
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
        read_at = time.monotonic()
        # A gap in our reads (the API server did not answer) is not silence we watched: start
        # the expiry clock again, so a stall does not hand the Lease to whoever reads first.
        if record != self._observed or read_at - self._read_at > config.lease_duration / 2:
            self._observed, self._observed_at = record, read_at
        self._read_at = read_at
        if self.leading and holder != config.identity:
            # Taken (or released and free) while we could not renew: others may have acted, so
            # our view is no longer the truth; never take it back from here.
            self._taken = True
            return False
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
