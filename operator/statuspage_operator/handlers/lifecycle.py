"""Operator start and stop: kopf settings, then the engine primed with a full list."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, Kind
from statuspage_operator.control.engine import Engine
from statuspage_operator.control.reconcilers import RECONCILERS
from statuspage_operator.k8s.client import Client, load_config
from statuspage_operator.k8s.informer import Informer


@kopf.on.startup()
async def on_operator_startup(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Keep kopf's bookkeeping under our group; list everything; start the engine."""
    settings.persistence.finalizer = f"{GROUP}/kopf-finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Our Events carry our reasons; kopf's own per-handler Events would only add noise.
    settings.posting.enabled = False
    api_client = load_config()
    engine = Engine(Client(api_client), RECONCILERS)
    loop = asyncio.get_running_loop()
    informers = [Informer(api_client, kind, engine.observe) for kind in Kind]
    for informer in informers:
        items, version = await loop.run_in_executor(None, informer.prime)
        engine.prime(informer.kind, items)
        informer.start(version)
    logger.info(
        "listed %s",
        ", ".join(f"{engine.store.count(kind)} {kind}" for kind in Kind),
    )
    memo.engine = engine
    memo.informers = informers
    memo.engine_task = asyncio.create_task(engine.run(), name="statuspage-engine")


@kopf.on.cleanup()
async def on_operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the engine and its thread pool."""
    task: asyncio.Task[None] | None = getattr(memo, "engine_task", None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    for informer in getattr(memo, "informers", ()):
        informer.stop()
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
