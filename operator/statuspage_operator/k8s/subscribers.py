"""The API calls of subscriber notifications: Subscribers' status, and the Secrets they name.

A Secret is read by name only where a Subscriber references it, in the Subscriber's own namespace
(the operator may `get` Secrets, never list or watch them), and only if its owner consented: it
carries the label `statuspage.dev/subscriber: "true"`. An unlabelled Secret and a missing one give
the same error, word for word, so a Subscriber cannot learn whether some other Secret exists. A
403 (a namespace the operator's RBAC does not cover) says so: it tells nothing of any Secret. A
value is never logged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

from statuspage_operator.api.names import GROUP
from statuspage_operator.k8s.client import MERGE_PATCH, ApiError, Client, NotFoundError, custom_path

KIND = "Subscriber"
PLURAL = "subscribers"
CONSENT_LABEL = f"{GROUP}/subscriber"


class SecretError(Exception):
    """A referenced Secret or key is missing or unreadable; the message says what to fix."""


async def patch_status(
    client: Client, namespace: str, name: str, status: dict[str, Any]
) -> dict[str, Any]:
    """Merge-patch a Subscriber's `.status`; returns the object as stored."""
    return await client.request(
        "PATCH",
        custom_path(PLURAL, namespace, name, "status"),
        body={"status": status},
        content_type=MERGE_PATCH,
    )


async def list_subscribers(
    client: Client, namespaces: list[str], limit: int = 500
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every Subscriber (in some namespaces, or all), a page at a time."""
    async for items in client.list_plural(PLURAL, namespaces, limit):
        yield items


async def read_secret_key(client: Client, namespace: str, name: str, key: str) -> bytes:
    """The value of one key of a Secret marked for the operator; SecretError saying what is
    missing."""
    unusable = (
        f'Secret {name} not found in namespace {namespace}, or not labelled {CONSENT_LABEL}: "true"'
    )
    try:
        secret = await client.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except NotFoundError:
        raise SecretError(unusable) from None
    except ApiError as error:
        if error.status != 403:
            raise
        # RBAC narrowed to the namespaces that have Subscribers: this one is not bound. Said as
        # such (it reveals nothing of any Secret), and checked again until it is.
        raise SecretError(
            f"the operator may not read Secrets in namespace {namespace}: its administrator "
            "has not bound it there (docs/operations.md, RBAC)"
        ) from None
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(CONSENT_LABEL) != "true":
        raise SecretError(unusable)
    data = secret.get("data") or {}
    if key not in data:
        raise SecretError(f"Secret {name} has no key {key!r}")
    try:
        return base64.b64decode(str(data[key]), validate=True)
    except (binascii.Error, ValueError) as error:
        raise SecretError(f"Secret {name} key {key!r} is not valid base64") from error


async def read_named_secret(client: Client, reference: str) -> dict[str, Any] | None:
    """The base64 `data` of a Secret named by the operator's administrator (a flag's
    `NAMESPACE/NAME`: the mail relay, the subscription keys); None when it does not exist or
    the operator may not read it (its Role names it: `resourceNames`)."""
    namespace, _, name = reference.partition("/")
    try:
        secret = await client.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except NotFoundError:
        return None
    except ApiError as error:
        if error.status != 403:
            raise
        return None
    data = secret.get("data") or {}
    return dict(data) if isinstance(data, dict) else {}


async def delete_subscriber(client: Client, namespace: str, name: str, uid: str) -> bool:
    """Delete this very Subscriber (a precondition on its uid: never a namesake made since);
    False when it is gone or was replaced."""
    try:
        await client.request(
            "DELETE",
            custom_path(PLURAL, namespace, name),
            body={
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"uid": uid},
                "propagationPolicy": "Background",
            },
        )
    except NotFoundError:
        return False
    except ApiError as error:
        if error.status == 409:
            return False
        raise
    return True
