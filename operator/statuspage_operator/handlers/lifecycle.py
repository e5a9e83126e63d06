"""Operator start and stop: kopf's settings, the runtime every handler uses, liveness."""

from __future__ import annotations

from typing import Any

import kopf

from statuspage_operator.api.names import FINALIZER, GROUP
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.k8s.client import Client, load_config

# kopf's own list follows ours within seconds; what it has not reported by then is gone.
CONFIRM_AFTER = 60.0


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff base at all: we have no on.create/on.update/on.resume handlers to feed one.

    kopf stores `last-handled-configuration` for any object an on.delete handler matches, which
    is an annotation patch per window and incident and per spec change, for nothing.
    """

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """Nothing was stored."""
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Store nothing."""


@kopf.on.startup()
async def on_operator_startup(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Keep kopf's bookkeeping under our group; make the runtime the handlers share."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = NoDiffBase()
    # Our Events carry our reasons and fixed names (control/writer.py); kopf's would be noise.
    settings.posting.enabled = False
    # A dead watch stream is noticed within a minute, not left hanging.
    settings.watching.client_timeout = 300
    settings.watching.server_timeout = 240
    runtime = Runtime(Client(load_config()))
    memo.runtime = runtime
    listed = await runtime.prime(list(memo.get("namespaces") or []))
    logger.info("listed %s", listed)
    runtime.start_confirming(CONFIRM_AFTER)


@kopf.on.cleanup()
async def on_operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Let pending Events go out; stop the client's threads."""
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.close()


@kopf.on.probe(id="view")
def view_probe(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    """Liveness (kopf answers 500 if this raises): what the operator holds in memory."""
    runtime: Runtime = memo.runtime
    view = runtime.view
    return {
        "pages": len(view.pages),
        "components": len(view.components),
        "liveWindows": len(view.windows),
        "openIncidents": len(view.incidents),
        "daemons": len(view.wakers),
    }
