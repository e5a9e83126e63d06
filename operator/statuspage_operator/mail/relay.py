"""The relay Secret: `url` (smtp:// or smtps://, with credentials) and `from` (an address).

    url:  smtp://USER:PASSWORD@HOST:587            STARTTLS, required (the default)
          smtps://USER:PASSWORD@HOST:465           TLS from the first byte
          smtp://HOST:25?tls=none                  no TLS: only for a relay on a trusted network
    from: status@example.com                       the envelope and header sender

The relay is configuration of the cluster admin, not of a page's owner: a tenant chooses the
display name (its page's title), never the address mail is sent from.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from email_validator import EmailNotValidError, validate_email

Tls = Literal["starttls", "tls", "none"]


class RelayError(Exception):
    """The relay Secret cannot work; the message says what to fix (never its values)."""


@dataclass(frozen=True, slots=True)
class Relay:
    """Where mail goes, and as whom. Credentials stay out of repr."""

    host: str
    port: int
    tls: Tls
    sender: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str | bytes) or not value:
        raise RelayError(f"the relay Secret has no key {key!r}")
    try:
        return base64.b64decode(value, validate=True).decode("utf-8").strip()
    except (binascii.Error, ValueError) as error:
        raise RelayError(f"the relay Secret's key {key!r} is not UTF-8 text") from error


def relay_of(data: Mapping[str, Any] | None) -> Relay:
    """The relay of a Secret's base64 `data`; RelayError saying what is wrong."""
    data = data or {}
    url = urlsplit(_text(data, "url"))
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise RelayError("the relay Secret's url must be smtp://[user:password@]host[:port]")
    tls: Tls = "tls" if url.scheme == "smtps" else "starttls"
    option = parse_qs(url.query).get("tls", [None])[0]
    if option is not None:
        if option not in ("starttls", "tls", "none"):
            raise RelayError("the relay Secret's url: tls= must be starttls, tls or none")
        tls = option  # type: ignore[assignment]
    try:
        port = url.port or (465 if tls == "tls" else 587)
    except ValueError as error:
        raise RelayError("the relay Secret's url has a port that is not a number") from error
    try:
        sender = str(validate_email(_text(data, "from"), check_deliverability=False).normalized)
    except EmailNotValidError as error:
        raise RelayError("the relay Secret's from is not an email address") from error
    username = unquote(url.username) if url.username else None
    password = unquote(url.password) if url.password else None
    return Relay(url.hostname, port, tls, sender, username, password)
