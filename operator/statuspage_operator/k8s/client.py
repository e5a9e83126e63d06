"""The API calls the operator makes itself, where kopf's timing is wrong for us.

kopf applies a handler's `patch` when the handler returns: a daemon sleeping until its window's
end, or a window's handler writing its components' status, needs its writes now. Events need
fixed names (posting twice must be harmless), which kopf's event poster does not give. These go
through the official client in a thread pool sized for bursts (1,000 windows starting at once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from statuspage_operator.api.names import API_VERSION, GROUP, PLURALS, VERSION, Kind
from statuspage_operator.api.times import format_time

logger = logging.getLogger(__name__)
T = TypeVar("T")
COMPONENT = "statuspage-operator"


class NotFoundError(Exception):
    """The object is gone (404): nothing left to write."""


class ConflictError(Exception):
    """The object changed under us (409): reconcile again from fresh state."""


def load_config(context: str | None = None) -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (honours KUBECONFIG)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config(context=context)
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


class Client:
    """Async facade over the synchronous client; every call runs in a dedicated pool."""

    def __init__(self, api_client: client.ApiClient, workers: int = 16) -> None:
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="k8s")

    def close(self) -> None:
        """Stop the thread pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, call)
        except ApiException as error:
            if error.status == 404:
                raise NotFoundError(str(error.reason)) from error
            if error.status == 409:
                raise ConflictError(str(error.reason)) from error
            raise

    async def patch_status(
        self, kind: Kind, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch `.status`; returns the object as stored."""
        body = {"status": status}

        def call() -> dict[str, Any]:
            return cast(
                dict[str, Any],
                self._custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURALS[kind], name, body
                ),
            )

        return await self._run(call)

    async def list_pages(
        self, kind: Kind, namespaces: list[str], limit: int = 500
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every object of a kind (in some namespaces, or all), a page of `limit` at a time."""
        scopes: list[str | None] = [*namespaces] or [None]
        for namespace in scopes:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"limit": limit}
                if token:
                    kwargs["_continue"] = token

                def call(kwargs: dict[str, Any] = kwargs, namespace: str | None = namespace) -> Any:
                    if namespace is None:
                        return self._custom.list_cluster_custom_object(
                            GROUP, VERSION, PLURALS[kind], **kwargs
                        )
                    return self._custom.list_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURALS[kind], **kwargs
                    )

                page = await self._run(call)
                yield list(page.get("items") or [])
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    break

    async def post_event(
        self,
        ref: dict[str, str],
        name: str,
        reason: str,
        message: str,
        at: datetime,
        *,
        warning: bool = False,
    ) -> bool:
        """Create a core/v1 Event with a fixed name; False if it already exists (posted before).

        Other failures are logged and swallowed: an Event is worth a retry, never a crash.
        """
        stamp = format_time(at)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=name, namespace=ref["namespace"]),
            involved_object=client.V1ObjectReference(
                api_version=API_VERSION,
                kind=ref["kind"],
                name=ref["name"],
                namespace=ref["namespace"],
                uid=ref.get("uid"),
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            first_timestamp=stamp,
            last_timestamp=stamp,
            count=1,
            source=client.V1EventSource(component=COMPONENT),
            reporting_component=COMPONENT,
            reporting_instance=COMPONENT,
        )
        try:
            await self._run(lambda: self._core.create_namespaced_event(ref["namespace"], event))
        except ConflictError:
            return False
        except ApiException as error:
            # A namespace being deleted refuses new Events; that is expected, not a problem.
            terminating = error.status == 403 and "being terminated" in str(error.body)
            if not terminating:
                raise
            logger.debug("namespace %s is terminating: Event %s dropped", ref["namespace"], name)
        return True
