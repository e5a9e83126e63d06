"""The receiver's calls to the API server: get a component, patch its status, get a Secret.

The kubernetes client is synchronous: each call runs in a thread of the loop's default pool. Its
own ApiClient (and connection pool), not the watches': a watch holds its connection for minutes.
Every call has a timeout, so a stalled API server turns into a 503 that Alertmanager retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from statuspage_operator.api.names import GROUP, PLURALS, VERSION, Kind

from .store import ConflictError, GoneError

logger = logging.getLogger(__name__)
TIMEOUT = (5.0, 10.0)  # connect, read (seconds)
PLURAL = PLURALS[Kind.COMPONENT]


class KubeStatusApi:
    """StatusApi over the kubernetes client."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)

    async def get(self, namespace: str, name: str) -> Mapping[str, Any]:
        """The component; raise GoneError."""
        try:
            found = await asyncio.to_thread(
                self._custom.get_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                _request_timeout=TIMEOUT,
            )
        except ApiException as error:
            if error.status == 404:
                raise GoneError(name) from None
            raise
        return cast(Mapping[str, Any], found)

    async def patch_status(
        self, namespace: str, name: str, body: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Merge-patch the component's /status; raise ConflictError or GoneError."""
        try:
            written = await asyncio.to_thread(
                self._custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                dict(body),
                _content_type="application/merge-patch+json",
                _request_timeout=TIMEOUT,
            )
        except ApiException as error:
            if error.status == 409:
                raise ConflictError(name) from None
            if error.status == 404:
                raise GoneError(name) from None
            raise
        return cast(Mapping[str, Any], written)

    async def read_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """A Secret as the API returns it (None when absent or not ours to read)."""
        try:
            secret = await asyncio.to_thread(
                self._core.read_namespaced_secret, name, namespace, _request_timeout=TIMEOUT
            )
        except ApiException as error:
            if error.status == 403:
                # Answered as any refusal (401), but an operator needs to see the missing grant.
                logger.warning("%s: no right to get the receiver Secret %s", namespace, name)
            if error.status in (403, 404):
                return None
            raise
        return cast(Mapping[str, Any], self._client.sanitize_for_serialization(secret))
