"""Where notifications go: a destination URL from a Secret, and one attempt to send there.

`json://` and `jsons://` get a Statuspage-compatible webhook (api/webhook.py) posted with aiohttp,
carrying the delivery key as `Idempotency-Key` and, with a signing secret, an HMAC-SHA256
signature. Every other scheme goes through Apprise (Slack, Teams, Discord, mailto, Telegram, ntfy,
...), imported only when a Subscriber uses one (it costs about 25 MB). Errors never carry the URL
or any part of it: it is a secret.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import aiohttp
from yarl import URL

WEBHOOK_SCHEMES = ("json", "jsons")
TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
# Each subscriber has at most a few sends in flight (lanes.py): these bound them all, and
# are large enough that a few slow endpoints holding theirs leave room for everyone else.
CONNECTIONS = 512
APPRISE_THREADS = 16


class DestinationError(Exception):
    """The URL can never work as it is; the message says what to fix (and never shows it)."""


class SendError(Exception):
    """One attempt failed; the message is the channel's error, without the URL."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A parsed destination; its URL is a secret and stays out of repr and logs."""

    scheme: str
    url: str

    def __repr__(self) -> str:
        return f"Destination({self.scheme}://...)"

    @property
    def webhook(self) -> bool:
        """Whether we post our own Statuspage-compatible body."""
        return self.scheme in WEBHOOK_SCHEMES


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _apprise() -> Any:
    # About 25 MB once its plugins load: imported only when a Subscriber needs it.
    import apprise
    import apprise.manager_plugins

    # Its INFO lines name recipients ("Sent Email to ..."), which are part of the secret URL.
    logging.getLogger("apprise").setLevel(logging.WARNING)
    return apprise


def parse_destination(url: str) -> Destination:
    """Check a destination URL; DestinationError saying what is wrong (not the URL itself)."""
    url = url.strip()
    found = _SCHEME.match(url)
    if found is None:
        raise DestinationError(
            "the URL has no scheme; write it as scheme://..., e.g. jsons://host/path, "
            "mailto://user:password@example.com or slack://..."
        )
    scheme = found.group(1).lower()
    if scheme in WEBHOOK_SCHEMES:
        try:
            parsed = URL(url)
        except ValueError as error:
            raise DestinationError(f"the {scheme}:// URL does not parse") from error
        if not parsed.host:
            raise DestinationError(f"the {scheme}:// URL has no host; write {scheme}://host/path")
        return Destination(scheme, url)
    apprise = _apprise()
    if scheme not in apprise.manager_plugins.NotificationManager():
        raise DestinationError(
            f"unknown scheme {scheme}://; use json:// or jsons:// for a webhook, or a scheme "
            "Apprise supports (mailto://, slack://, msteams://, discord://, tgram://, ntfy://, ...)"
        )
    if apprise.Apprise.instantiate(url) is None:
        raise DestinationError(
            f"the {scheme}:// URL is malformed; see Apprise's documentation of {scheme}:// "
            "for its form"
        )
    return Destination(scheme, url)


def redact(text: str, url: str) -> str:
    """The text without the URL or any of its parts (tokens, passwords, user names, hosts)."""
    parts = {url, unquote(url)}
    try:
        parsed = URL(url)
        parts.update(p for p in (parsed.user, parsed.password, parsed.raw_password) if p)
        parts.update(s for s in parsed.path.split("/") if len(s) >= 4)
        parts.update(v for v in parsed.query.values() if len(v) >= 4)
    except ValueError:
        pass
    for part in sorted(parts, key=len, reverse=True):
        text = text.replace(part, "***")
    return text


class _ThreadLog(logging.Handler):
    """Apprise's warnings and errors from one thread: the channel's own words for a failure."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


class Channels:
    """Sends to destinations: aiohttp for webhooks, Apprise (in a few threads) for the rest."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._pool: ThreadPoolExecutor | None = None

    async def close(self) -> None:
        """Close connections and threads."""
        if self._session is not None:
            await self._session.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def send(
        self,
        destination: Destination,
        title: str,
        text: str,
        payload: bytes,
        headers: dict[str, str],
    ) -> None:
        """One attempt; SendError with the channel's error when it fails."""
        if destination.webhook:
            await self._post(destination, payload, headers)
        else:
            await self._apprise(destination, title, text)

    async def _post(
        self, destination: Destination, payload: bytes, headers: dict[str, str]
    ) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=TIMEOUT, connector=aiohttp.TCPConnector(limit=CONNECTIONS)
            )
        parsed = URL(destination.url)
        target = parsed.with_scheme("https" if destination.scheme == "jsons" else "http")
        auth = None
        if parsed.user:
            auth = aiohttp.BasicAuth(parsed.user, parsed.password or "")
            target = target.with_user(None)
        try:
            async with self._session.post(
                target,
                data=payload,
                headers={"Content-Type": "application/json", **headers},
                auth=auth,
            ) as response:
                if response.status >= 300:
                    raise SendError(
                        f"the webhook answered HTTP {response.status} {response.reason}"
                    )
        except aiohttp.ClientError as error:
            message = redact(f"{type(error).__name__}: {error}", destination.url)
            raise SendError(f"the webhook could not be reached ({message})") from error
        except TimeoutError as error:
            raise SendError(f"the webhook did not answer within {TIMEOUT.total:.0f} s") from error

    async def _apprise(self, destination: Destination, title: str, text: str) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(APPRISE_THREADS, thread_name_prefix="apprise")
        loop = asyncio.get_running_loop()
        ok, lines = await loop.run_in_executor(self._pool, _notify, destination.url, title, text)
        if not ok:
            said = "; ".join(dict.fromkeys(lines)) or "the channel refused the notification"
            raise SendError(f"{destination.scheme}:// failed: {redact(said, destination.url)}")


def _notify(url: str, title: str, text: str) -> tuple[bool, list[str]]:
    apprise = _apprise()
    capture = _ThreadLog()
    log = logging.getLogger("apprise")
    log.addHandler(capture)
    try:
        sender = apprise.Apprise()
        if not sender.add(url):
            return False, ["the URL was refused"]
        return bool(sender.notify(body=text, title=title)), capture.lines
    finally:
        log.removeHandler(capture)
