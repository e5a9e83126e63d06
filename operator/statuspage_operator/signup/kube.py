"""The process's calls to the API server for subscriptions: Subscribers and their address Secrets.

The kubernetes client is synchronous: each call runs in a thread of the loop's default pool, on
its own ApiClient (the watches hold theirs for minutes), with a timeout. What may be written is
narrow, and the API server holds it so (manifests/signup/, ValidatingAdmissionPolicy
`statuspage-signup-guard`): only Subscribers of origin Public whose mailbox Secret has their own
name, and address Secrets labelled as the public's. Writes of an existing Subscriber carry its uid
as a precondition, so a link never changes a later subscription of the same name.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from statuspage_operator.api.names import GROUP, VERSION

TIMEOUT = (5.0, 10.0)
PLURAL = "subscribers"
PAGE_SIZE = 500
ORIGIN_LABEL = "statuspage.dev/origin"
PAGE_LABEL = "statuspage.dev/page"
SUBSCRIBER_LABEL = "statuspage.dev/subscriber"
ADDRESS_KEY = "address"
PUBLIC = "Public"


class ExistsError(Exception):
    """A create met an object of that name."""


def subscriber_body(name: str, page: str, components: tuple[str, ...] | None) -> dict[str, Any]:
    """A public Subscriber: no address anywhere in it, only its Secret's name (its own)."""
    spec: dict[str, Any] = {
        "origin": PUBLIC,
        "page": page,
        "mailboxSecretRef": {"name": name, "key": ADDRESS_KEY},
    }
    if components is not None:
        spec["components"] = list(components)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Subscriber",
        "metadata": {"name": name, "labels": {ORIGIN_LABEL: "public", PAGE_LABEL: page}},
        "spec": spec,
    }


def address_secret_body(name: str, address: str, owner_uid: str) -> dict[str, Any]:
    """The address Secret of a public Subscriber, owned by it (deleting it collects the Secret)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "labels": {SUBSCRIBER_LABEL: "true", ORIGIN_LABEL: "public"},
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "Subscriber",
                    "name": name,
                    "uid": owner_uid,
                }
            ],
        },
        "data": {ADDRESS_KEY: base64.b64encode(address.encode()).decode()},
    }


class SubscriberApi:
    """Subscribers and address Secrets over the kubernetes client."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)

    async def count_public(self, namespace: str, page: str, at_most: int) -> int:
        """Public Subscribers of the page, counted up to `at_most` (then it stops listing)."""
        selector = f"{ORIGIN_LABEL}=public,{PAGE_LABEL}={page}"
        count, token = 0, None
        while count < at_most:
            kwargs: dict[str, Any] = {"label_selector": selector, "limit": PAGE_SIZE}
            if token:
                kwargs["_continue"] = token
            listed = await asyncio.to_thread(
                self._custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                _request_timeout=TIMEOUT,
                **kwargs,
            )
            page_of = cast(Mapping[str, Any], listed)
            count += len(page_of.get("items") or [])
            token = (page_of.get("metadata") or {}).get("continue")
            if not token:
                break
        return count

    async def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """A Subscriber, or None."""
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
                return None
            raise
        return cast(Mapping[str, Any], found)

    async def create(self, namespace: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Create a Subscriber; ExistsError on 409."""
        try:
            created = await asyncio.to_thread(
                self._custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                dict(body),
                _request_timeout=TIMEOUT,
            )
        except ApiException as error:
            if error.status == 409:
                raise ExistsError(body["metadata"]["name"]) from None
            raise
        return cast(Mapping[str, Any], created)

    async def set_components(
        self, namespace: str, name: str, uid: str, components: tuple[str, ...] | None
    ) -> bool:
        """Merge-patch spec.components (None removes it) of the Subscriber with this uid;
        False when it is gone or another of that name stands there (the uid precondition)."""
        patch = {
            "metadata": {"uid": uid},
            "spec": {"components": None if components is None else list(components)},
        }
        try:
            await asyncio.to_thread(
                self._custom.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                patch,
                _content_type="application/merge-patch+json",
                _request_timeout=TIMEOUT,
            )
        except ApiException as error:
            # A uid in a merge patch is a precondition: another uid is refused as an invalid
            # change of an immutable field (422), never written.
            if error.status in (404, 409) or (
                error.status == 422 and "metadata.uid" in str(error.body or "")
            ):
                return False
            raise
        return True

    async def delete(self, namespace: str, name: str, uid: str) -> None:
        """Delete the Subscriber with this uid; nothing when it is gone or another stands there."""
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        try:
            await asyncio.to_thread(
                self._custom.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                body=options,
                _request_timeout=TIMEOUT,
            )
        except ApiException as error:
            if error.status in (404, 409):
                return
            raise

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Create an address Secret; one of that name already there is fine (it was ours)."""
        try:
            await asyncio.to_thread(
                self._core.create_namespaced_secret,
                namespace,
                cast(client.V1Secret, body),
                _request_timeout=TIMEOUT,
            )
        except ApiException as error:
            if error.status == 409:
                return
            raise
