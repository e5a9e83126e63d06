"""Operator start and stop: kopf settings, then the engine primed with a full list."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, Kind
from statuspage_operator.control.engine import Engine
from statuspage_operator.control.reconcilers import RECONCILERS
from statuspage_operator.k8s.client import Client, load_config


@kopf.on.startup()
async def on_operator_startup(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_: Any
) -> None:
    """Keep kopf's bookkeeping under our group; list everything; start the engine."""
    settings.persistence.finalizer = f"{GROUP}/kopf-finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.watching.inactivity_timeout = 330
    settings.networking.request_timeout = 60
    client = Client(load_config())
    engine = Engine(client, RECONCILERS)
    for kind in Kind:
        engine.prime(kind, await client.list_all(kind))
    logger.info(
        "listed %s",
        ", ".join(f"{engine.store.count(kind)} {kind}" for kind in Kind),
    )
    memo.engine = engine
    memo.engine_task = asyncio.create_task(engine.run(), name="statuspage-engine")


@kopf.on.cleanup()
async def on_operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the engine and its thread pool."""
    task: asyncio.Task[None] | None = getattr(memo, "engine_task", None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    engine: Engine | None = getattr(memo, "engine", None)
    if engine is not None:
        engine.client.close()


@kopf.on.probe(id="engine")
def engine_probe(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    """Liveness detail: the engine's queue and counters."""
    engine: Engine | None = getattr(memo, "engine", None)
    if engine is None:
        return {}
    return {
        "queued": len(engine.queue),
        "scheduled": len(engine.scheduler),
        "reconciles": engine.reconciles,
        "errors": engine.errors,
    }
