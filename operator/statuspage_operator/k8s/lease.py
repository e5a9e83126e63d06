"""Leader election on a coordination.k8s.io Lease, as kube-controller-manager does.

Why not kopf's peering: it pauses kopf's own watchers and handlers, but our engine is not a kopf
handler (k8s/informer.py says why), so it would keep writing in every replica. A Lease gives one
active replica; standbys keep their informers warm and take over when the holder stops renewing.

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

from kubernetes import client
from kubernetes.client.exceptions import ApiException

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

    def __init__(self, api_client: client.ApiClient, config: LeaseConfig) -> None:
        self._api = client.CoordinationV1Api(api_client)
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
        loop = asyncio.get_running_loop()
        last_renewal = time.monotonic()
        try:
            while True:
                try:
                    held = await loop.run_in_executor(None, self._try_acquire_or_renew)
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
                await loop.run_in_executor(None, self._release)

    def _lease_ref(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"

    def _try_acquire_or_renew(self) -> bool:
        config = self.config
        now = datetime.now(UTC)
        try:
            lease = self._api.read_namespaced_lease(config.name, config.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=config.name, namespace=config.namespace),
                spec=self._spec(now, now, transitions=0),
            )
            try:
                self._api.create_namespaced_lease(config.namespace, body)
            except ApiException as conflict:
                if conflict.status == 409:
                    return False
                raise
            return True
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        record = (holder, str(spec.renew_time))
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        duration = spec.lease_duration_seconds or config.lease_duration
        expired = time.monotonic() - self._observed_at > duration
        if holder and holder != config.identity and not expired:
            return False
        transitions = (spec.lease_transitions or 0) + (0 if holder == config.identity else 1)
        acquired = spec.acquire_time if holder == config.identity else now
        lease.spec = self._spec(acquired or now, now, transitions)
        try:
            self._api.replace_namespaced_lease(config.name, config.namespace, lease)
        except ApiException as conflict:
            if conflict.status == 409:
                return False
            raise
        self._observed, self._observed_at = (config.identity, str(now)), time.monotonic()
        return True

    def _spec(self, acquired: datetime, renewed: datetime, transitions: int) -> client.V1LeaseSpec:
        return client.V1LeaseSpec(
            holder_identity=self.config.identity,
            lease_duration_seconds=max(1, round(self.config.lease_duration)),
            acquire_time=acquired,
            renew_time=renewed,
            lease_transitions=transitions,
        )

    def _release(self) -> None:
        """Give the lease up on a clean stop, so a standby takes over at once."""
        try:
            lease = self._api.read_namespaced_lease(self.config.name, self.config.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.config.identity:
                return
            lease.spec.holder_identity = ""
            lease.spec.lease_duration_seconds = 1
            self._api.replace_namespaced_lease(self.config.name, self.config.namespace, lease)
            logger.info("released the lease %s", self._lease_ref())
        except ApiException as error:
            logger.warning("could not release the lease %s: %s", self._lease_ref(), error.reason)
