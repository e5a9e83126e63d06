"""Operator start and stop: kopf settings, then the runner (informers, engine, election)."""

from __future__ import annotations

from typing import Any

import kopf

from statuspage_operator.api.names import GROUP
from statuspage_operator.control.runner import Runner
from statuspage_operator.k8s.client import load_config


@kopf.on.startup()
async def on_operator_startup(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Keep kopf's bookkeeping under our group; list everything; start the engine or election."""
    settings.persistence.finalizer = f"{GROUP}/kopf-finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Our Events carry our reasons; kopf's own per-handler Events would only add noise.
    settings.posting.enabled = False
    runner = Runner(load_config(), memo.get("lease"))
    listed = await runner.start()
    logger.info("listed %s", listed)
    memo.runner = runner


@kopf.on.cleanup()
async def on_operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Release the lease, stop the engine, the watches and the thread pool."""
    runner: Runner | None = getattr(memo, "runner", None)
    if runner is not None:
        await runner.stop()


@kopf.on.probe(id="engine")
def engine_probe(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    """Liveness: fails (kopf answers 500) when the engine or a watch has died; else counters."""
    runner: Runner | None = getattr(memo, "runner", None)
    if runner is None:
        return {}
    runner.check_health()
    engine = runner.engine
    return {
        "queued": len(engine.queue),
        "scheduled": len(engine.scheduler),
        "reconciles": engine.reconciles,
        "errors": engine.errors,
    }
