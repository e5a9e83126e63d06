"""Subscriptions by the public: their signed tokens, their links and their names.

Three processes share these rules (docs/behaviour.md, "Subscriptions by the public"):
`statuspage-signup` signs confirmation tokens and verifies every token; the operator signs the
manage token of each message it mails; the page server links to the sign-up form.

A token is `<payload>.<mac>`: the payload is URL-safe base64 of compact JSON (kind, namespace,
page, subject, uid, expiry; never an address), the mac the HMAC-SHA256 of `PURPOSE` and the
payload under the key Secret's `key` (its `previous` is still accepted during a rotation). A
token that does not verify, has expired, or is of another kind is None, whatever the reason.

A public subscription's name is derived from its address under the Secret's `naming` key, so a
second confirmation of the same address finds the first subscription, and the name reveals
nothing to whoever lacks the key. `naming` is never rotated: a new one makes every address new.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email

from statuspage_operator.api.feed_tokens import MIN_KEY_BYTES, keys_of

PURPOSE = b"statuspage.dev/subscription-token/v1\x00"
NAMING_FIELD = "naming"
NAME_PREFIX = "public-"
# A token longer than this is refused before any HMAC is computed.
MAX_TOKEN = 512
# How long a confirmation link works, and a manage or unsubscribe link minted for one message.
CONFIRM_FOR = timedelta(hours=24)
MANAGE_FOR = timedelta(days=90)
MAX_ADDRESS = 254


class TokenKind(StrEnum):
    """What a token allows."""

    # Confirm one pending sign-up (subject: its id).
    CONFIRM = "c"
    # Change or end one subscription (subject: the Subscriber's name; uid: its uid).
    MANAGE = "m"


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    kind: TokenKind
    namespace: str
    page: str
    subject: str
    uid: str
    expires: datetime


@dataclass(frozen=True, slots=True)
class SubscriptionKeys:
    """The key Secret's keys: signing (`key` first, then `previous`) and naming."""

    signing: tuple[bytes, ...]
    naming: bytes | None

    @property
    def usable(self) -> bool:
        """Whether tokens can be signed and names derived."""
        return bool(self.signing) and self.naming is not None


def subscription_keys(data: Mapping[str, Any] | None) -> SubscriptionKeys:
    """The keys of the Secret's base64 `data`; a missing or short key (< 32 bytes) is left out."""
    naming = None
    value = (data or {}).get(NAMING_FIELD)
    if isinstance(value, str | bytes) and value:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        naming = raw if len(raw) >= MIN_KEY_BYTES else None
    return SubscriptionKeys(keys_of(data), naming)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, PURPOSE + payload.encode(), hashlib.sha256).digest())


def mint(
    keys: SubscriptionKeys,
    kind: TokenKind,
    namespace: str,
    page: str,
    subject: str,
    expires: datetime,
    uid: str = "",
) -> str:
    """A token signed with the current key; ValueError without one."""
    if not keys.signing:
        raise ValueError("no signing key")
    body = {"k": str(kind), "n": namespace, "p": page, "s": subject, "e": int(expires.timestamp())}
    if uid:
        body["u"] = uid
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(keys.signing[0], payload)}"


def verify(keys: SubscriptionKeys, kind: TokenKind, token: str, now: datetime) -> Claims | None:
    """The claims of a token of this kind that a held key signed and that has not expired."""
    if not keys.signing or not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        return None
    payload, mac = token.split(".")
    if not any(hmac.compare_digest(_mac(key, payload), mac) for key in keys.signing):
        return None
    try:
        body = json.loads(_unb64(payload))
        claims = Claims(
            TokenKind(body["k"]),
            str(body["n"]),
            str(body["p"]),
            str(body["s"]),
            str(body.get("u", "")),
            datetime.fromtimestamp(int(body["e"]), UTC),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if claims.kind is not kind or claims.expires <= now:
        return None
    return claims


def normalized_address(text: str) -> str | None:
    """An email address as mail is sent to it (domain in lower case, IDNA), or None when it
    is not one (syntax only: no DNS lookup, no deliverability check)."""
    text = text.strip()
    if not text or len(text) > MAX_ADDRESS or any(c in text for c in "\r\n\x00"):
        return None
    try:
        checked = validate_email(text, check_deliverability=False, allow_quoted_local=False)
    except EmailNotValidError:
        return None
    address = str(checked.normalized)
    return address if len(address) <= MAX_ADDRESS else None


def address_digest(naming: bytes, address: str) -> str:
    """A keyed digest of an address (for limits per address): 32 hex characters."""
    folded = address.casefold().encode()
    return hmac.new(naming, b"address\x00" + folded, hashlib.sha256).hexdigest()[:32]


def subscription_name(naming: bytes, namespace: str, page: str, address: str) -> str:
    """The name of the Subscriber (and of its mailbox Secret) for an address on a page."""
    text = f"subscription\x00{namespace}\x00{page}\x00{address.casefold()}".encode()
    digest = hmac.new(naming, text, hashlib.sha256).digest()
    return NAME_PREFIX + base64.b32encode(digest).decode().lower().rstrip("=")[:26]


@dataclass(frozen=True, slots=True)
class Links:
    """The sign-up process's public URLs, from its base (`--signup-url`)."""

    base: str

    def _at(self, *parts: str) -> str:
        return self.base.rstrip("/") + "/" + "/".join(quote(p, safe="") for p in parts)

    def subscribe(self, namespace: str, page: str) -> str:
        """The form's action (GET shows the form, POST signs up)."""
        return self._at("subscribe", namespace, page)

    def confirm(self, token: str) -> str:
        """A confirmation link (GET shows a button, POST confirms)."""
        return self._at("confirm", token)

    def manage(self, token: str) -> str:
        """The manage page (GET shows the choices, POST saves them)."""
        return self._at("manage", token)

    def unsubscribe(self, token: str) -> str:
        """The List-Unsubscribe URL: POST (RFC 8058 one-click) unsubscribes; GET asks first."""
        return self._at("unsubscribe", token)
