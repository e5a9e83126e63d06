"""Who may post a page's alerts: the credentials of its receiver Secret, compared in constant time.

A page's `spec.alerts.receiverSecretRef` names a Secret in the page's namespace. It counts only
when labelled `statuspage.dev/alerts-receiver: "true"` (so a page cannot point the receiver at
any Secret of its namespace and have it compared byte by byte), and holds either `token` (for
`Authorization: Bearer`) or `username` and `password` (for Basic). Every refusal looks the same to
the caller: no page, no receiver, no such Secret, an unlabelled one, a wrong token.

Secrets are read through a short cache (`ttl` seconds, failures included), so a rotation takes
effect within it and a flood of bad requests costs no API call each.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

RECEIVER_LABEL = "statuspage.dev/alerts-receiver"
MAX_SECRET_VALUE = 4096
MAX_HEADER = 8192
# Compared against when there is nothing to compare with, so a refusal takes the same time.
_DUMMY = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a receiver Secret accepts: a bearer token, or a username and password, or both."""

    token: bytes | None = None
    username: bytes | None = None
    password: bytes | None = None


def _value(data: Mapping[str, Any], key: str) -> bytes | None:
    encoded = data.get(key)
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    # Secrets are often written with a trailing newline (echo ... | base64).
    raw = raw.rstrip(b"\r\n")
    return raw if 0 < len(raw) <= MAX_SECRET_VALUE else None


def credentials_of(secret: Mapping[str, Any] | None) -> Credentials | None:
    """The credentials a Secret (as the API returns it) gives; None if it gives none."""
    if not secret:
        return None
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(RECEIVER_LABEL) != "true":
        return None
    data = secret.get("data") or {}
    if not isinstance(data, Mapping):
        return None
    token = _value(data, "token")
    username, password = _value(data, "username"), _value(data, "password")
    if username is None or password is None:
        username = password = None
    if token is None and username is None:
        return None
    return Credentials(token, username, password)


def _same(given: bytes, expected: bytes | None) -> bool:
    if expected is None:
        hmac.compare_digest(given, _DUMMY)
        return False
    return hmac.compare_digest(given, expected)


def authorized(header: str | None, credentials: Credentials | None) -> bool:
    """Whether an Authorization header carries the credentials (False for anything else)."""
    if not header or len(header) > MAX_HEADER:
        return False
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    known = credentials or Credentials()
    if scheme.lower() == "bearer":
        return _same(value.encode(), known.token) and credentials is not None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        if not sep:
            return False
        # Both compared, whatever the first answer: no early exit to time.
        user_ok = _same(user, known.username)
        password_ok = _same(password, known.password)
        return user_ok and password_ok and credentials is not None
    return False


Reader = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]


class SecretCache:
    """Receiver Secrets by (namespace, name), read at most once per `ttl` seconds each."""

    def __init__(
        self,
        read: Reader,
        ttl: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, Credentials | None]] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[Credentials | None]] = {}

    async def credentials(self, namespace: str, name: str) -> Credentials | None:
        """The Secret's credentials (None: it gives none), fresh within `ttl`."""
        key = (namespace, name)
        now = self._clock()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Credentials | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            found = credentials_of(await self._read(namespace, name))
        except Exception as error:
            future.set_exception(error)
            # Retrieved here so a future nobody else awaited is not reported as never retrieved.
            future.exception()
            raise
        finally:
            self._pending.pop(key, None)
        if len(self._entries) >= self._max:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self._max:
                self._entries.clear()
        self._entries[key] = (now + self._ttl, found)
        future.set_result(found)
        return found
