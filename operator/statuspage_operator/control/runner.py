"""The operator's life: list and watch everything, then run the engine while we are the leader.

Standalone (one replica), the engine runs from the start. With leader election, every replica
keeps its informers and store warm; only the Lease holder runs the engine (workers, scheduler,
resync), so exactly one replica writes and a standby takes over with a full cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import logging

from kubernetes import client

from statuspage_operator.api.names import Kind
from statuspage_operator.control import metrics
from statuspage_operator.control.engine import Engine
from statuspage_operator.control.reconcilers import RECONCILERS
from statuspage_operator.k8s.client import Client
from statuspage_operator.k8s.informer import Informer
from statuspage_operator.k8s.lease import LeaderElector, LeaseConfig

logger = logging.getLogger(__name__)


def _release_free_memory() -> None:
    """Give the initial list's garbage back to the system (glibc keeps freed heap otherwise)."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


class Runner:
    """Owns the engine, its informers and (optionally) the leader election."""

    def __init__(self, api_client: client.ApiClient, lease: LeaseConfig | None = None) -> None:
        self.engine = Engine(Client(api_client), RECONCILERS)
        self._informers = [Informer(api_client, kind, self.engine.observe) for kind in Kind]
        self._elector = LeaderElector(api_client, lease) if lease is not None else None
        self._engine_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """List every kind into the store, start the watches, then the engine or the election."""
        for informer in self._informers:
            version = await informer.prime(functools.partial(self.engine.prime, informer.kind))
            informer.start(version)
        _release_free_memory()
        if self._elector is None:
            await self._lead()
        else:
            self._task = asyncio.create_task(
                self._elector.run(self._lead, self._stand_by), name="leader-election"
            )
        return ", ".join(f"{self.engine.store.count(kind)} {kind}" for kind in Kind)

    def check_health(self) -> None:
        """Raise if a part that should run forever has stopped (the liveness probe asks)."""
        dead = [str(informer.kind) for informer in self._informers if not informer.alive]
        if dead:
            raise RuntimeError(f"watch of {', '.join(dead)} stopped")
        for task in (self._task, self._engine_task):
            if task is not None and task.done():
                failure = None if task.cancelled() else task.exception()
                raise RuntimeError(f"{task.get_name()} stopped: {failure!r}")

    async def stop(self) -> None:
        """Stop electing (releasing the lease), the engine, the watches and the client."""
        for task in (self._task, self._engine_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for informer in self._informers:
            informer.stop()
        self.engine.client.close()

    async def _lead(self) -> None:
        metrics.LEADER.set(1)
        self._engine_task = asyncio.create_task(self.engine.run(), name="statuspage-engine")

    async def _stand_by(self) -> None:
        metrics.LEADER.set(0)
        if self._engine_task is not None:
            self._engine_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._engine_task
            self._engine_task = None
