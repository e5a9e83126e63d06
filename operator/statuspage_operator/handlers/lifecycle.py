"""Operator start and stop: kopf's settings, the runtime every handler uses, liveness.

The sweep (control/sweep.py) runs beside kopf's handlers, not in them: it is started in
on.startup, once the start-up list is in memory, and stopped in on.cleanup. It lists the metadata
of our kinds after each listing of kopf's (start-up, and re-lists after `410 Gone`) and every
`--sweep-interval` seconds, and drops from memory what was deleted unseen. The watch of settled
windows (control/settled.py) runs from the same start to the same stop: kopf's own watch of
windows leaves the settled ones out.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import kopf

from statuspage_operator.api.names import FINALIZER, GROUP, PLURALS, Kind
from statuspage_operator.control.runtime import Runtime, release_free_memory
from statuspage_operator.control.settled import UNSETTLED, SettledWatch
from statuspage_operator.control.sweep import INTERVAL as SWEEP_INTERVAL
from statuspage_operator.k8s.client import Client, Credentials

WORKERS = 64


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff base at all: we have no on.create/on.update/on.resume handlers to feed one.

    kopf stores `last-handled-configuration` for any object an on.delete handler matches, which
    is an annotation patch per window and incident and per spec change, for nothing.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        """No essence either: kopf would deep-copy every body on every event to make one."""
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """Nothing was stored."""
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Store nothing."""


def login(settings: kopf.OperatorSettings, logger: kopf.Logger) -> kopf.ConnectionInfo:
    """The pod's service account, else the kubeconfig ($KUBECONFIG, read now).

    kopf's own minimal logins, so the official client (33 MB) is not even imported; it is used
    only for what they cannot do: kubeconfig users with an exec plugin or an auth provider.
    """
    info = kopf.login_with_service_account(settings=settings, logger=logger)
    if info is None:
        info = kopf.login_with_kubeconfig(settings=settings, logger=logger)
    if info is None or not (
        info.token or info.certificate_path or info.certificate_data or info.username
    ):
        if sys.modules.get("kubernetes", ...) is None:
            del sys.modules["kubernetes"]  # kept out by main.py until needed, as now
        info = kopf.login_via_client(settings=settings, logger=logger)
    if info is None:
        raise kopf.LoginError("no service account and no kubeconfig to log in with")
    return info


def credentials(info: kopf.ConnectionInfo) -> Credentials:
    """What our own client needs of kopf's login."""
    tls = info.as_ssl_context() if info.server.startswith("https:") else None
    return Credentials(info.server, tls, info.as_http_headers())


def make_client(settings: kopf.OperatorSettings, logger: kopf.Logger) -> Client:
    """Our client, logged in as kopf is; it logs in again if the API server says 401."""

    async def relogin() -> Credentials:
        return credentials(login(settings, logger))

    return Client(credentials(login(settings, logger)), relogin)


@kopf.on.login()
def on_login(settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> kopf.ConnectionInfo:
    """kopf logs in the same way as our client."""
    return login(settings, logger)


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
    # At most this many objects of a kind are handled at once: a start-up over 10,000 windows
    # otherwise runs 10,000 handlers together, and memory peaks with them. Daemons are not
    # counted: edges are never held up by it.
    settings.queueing.worker_limit = WORKERS
    # A worker whose object has no new event leaves at once, so the next object gets its slot
    # (kopf keeps it 5 s by default: with a limit, a start-up would crawl at 64 objects per 5 s).
    settings.queueing.idle_timeout = 0.1
    # A daemon stopped at its window's end may still be finishing that write: wait for it (its
    # exit is quick) rather than let kopf poll it back with an annotation patch (touch-dummy).
    settings.background.instant_exit_timeout = 1.0
    # A dead watch stream is noticed within a minute, not left hanging.
    settings.watching.client_timeout = 300
    settings.watching.server_timeout = 240
    # Windows settled for good stay out of kopf's watch: kopf would keep each one's body (with
    # its managedFields) for nothing, 9,000 of 10,000 windows in the bench (about 50 MB after a
    # restart, more after a cold start: docs/operations.md).
    settings.watching.label_selectors[GROUP, PLURALS[Kind.WINDOW]] = UNSETTLED
    runtime = Runtime(
        make_client(settings, logger),
        notify_retry_base=float(memo.get("notify_retry_base") or 30.0),
        egress=memo.get("egress"),
        alertmanager_url=memo.get("alertmanager_url"),
        alertmanager_secret=memo.get("alertmanager_secret"),
        mail_secret=memo.get("mail_secret"),
        subscription_key_secret=memo.get("subscription_key_secret"),
        signup_url=memo.get("signup_url"),
    )
    memo.runtime = runtime
    settled = SettledWatch(runtime.client, trim=release_free_memory)
    runtime.windows.unsettle = settled.unlabel
    memo.settled = settled
    namespaces = list(memo.get("namespaces") or [])
    listed = await runtime.prime(namespaces)
    settled.start(namespaces)
    logger.info("listed %s", listed)
    # The first sweep follows kopf's own listing: then the start-up garbage can go back.
    interval = memo.get("sweep_interval")
    runtime.sweeper.start(
        namespaces,
        SWEEP_INTERVAL if interval is None else float(interval),
        on_first=release_free_memory,
    )


@kopf.on.cleanup()
async def on_operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the sweep and the watch of settled windows; let pending Events go out; stop the
    client's threads."""
    settled: SettledWatch | None = getattr(memo, "settled", None)
    if settled is not None:
        await settled.stop()
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.sweeper.stop()
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
