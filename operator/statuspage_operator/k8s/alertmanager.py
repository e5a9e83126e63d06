"""The credentials of Alertmanager (`--alertmanager-secret NAMESPACE/NAME`), read from their Secret.

The Secret is the cluster administrator's, named on the operator's command line, so it needs no
consent label. Its key `token` gives a bearer token; else `username` and `password` give basic
auth. Read at first use and again after a 401 (a rotated Secret). A value is never logged:
errors say which key is missing or malformed, never what a key holds.
"""

from __future__ import annotations

import base64
import binascii

from statuspage_operator.k8s.client import ApiError, Client, NotFoundError


class CredentialsError(Exception):
    """The Secret is missing, unreadable or holds no usable credentials; says what to fix."""


def _value(data: dict[str, object], name: str, key: str) -> str | None:
    raw = data.get(key)
    if raw is None:
        return None
    try:
        return base64.b64decode(str(raw), validate=True).decode("utf-8").strip()
    except (binascii.Error, ValueError):
        raise CredentialsError(f"Secret {name} key {key!r} is not base64 of UTF-8") from None


async def read_auth(client: Client, namespace: str, name: str) -> dict[str, str]:
    """The Authorization header the Secret gives."""
    try:
        secret = await client.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except NotFoundError:
        raise CredentialsError(f"Secret {namespace}/{name} not found") from None
    except ApiError as error:
        raise CredentialsError(
            f"Secret {namespace}/{name} could not be read (HTTP {error.status})"
        ) from None
    data = secret.get("data") or {}
    token = _value(data, name, "token")
    if token:
        return {"Authorization": f"Bearer {token}"}
    username, password = _value(data, name, "username"), _value(data, name, "password")
    if username and password is not None:
        pair = base64.b64encode(f"{username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    raise CredentialsError(f"Secret {namespace}/{name} has neither token nor username and password")
