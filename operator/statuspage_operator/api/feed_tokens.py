"""Private feed tokens: feed readers cannot log in, so a feed URL carries one per audience.

A token is the HMAC-SHA256 of `<namespace>/<page>/<audience>` under a key the cluster admin keeps
in one Secret (`key`, and during a rotation the `previous` one, still accepted). The page server
checks tokens; `kubectl statuspage feed-url` makes them with the user's own right to read that
Secret (docs/server.md, "Private pages").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from statuspage_operator.domain.audience import Audience, Sight, audience_named

KEY_FIELDS = ("key", "previous")
MIN_KEY_BYTES = 32


def feed_token(key: bytes, namespace: str, page: str, audience: str) -> str:
    """The token of one audience of one page (43 URL-safe characters)."""
    digest = hmac.new(key, f"{namespace}/{page}/{audience}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def keys_of(data: Mapping[str, Any] | None) -> tuple[bytes, ...]:
    """The keys of a Secret's base64 `data`: `key` first; a missing or short key is left out."""
    keys = []
    for name in KEY_FIELDS:
        value = (data or {}).get(name)
        if not isinstance(value, str | bytes) or not value:
            continue
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if len(raw) >= MIN_KEY_BYTES:
            keys.append(raw)
    return tuple(keys)


def sight_of_token(
    keys: Sequence[bytes], namespace: str, page: str, audiences: Sequence[Audience], token: str
) -> Sight | None:
    """What a feed token shows of a page: its audience's sight; None if it is no token of it."""
    if not keys or not token or len(token) > 64:
        return None
    for audience in audiences:
        for key in keys:
            expected = feed_token(key, namespace, page, audience.name)
            if hmac.compare_digest(expected.encode(), token.encode()):
                return audience_named(audiences, audience.name)
    return None
