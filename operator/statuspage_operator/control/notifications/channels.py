"""Where notifications go: a destination URL from a Secret, and one attempt to send there.

`json://` and `jsons://` get a Statuspage-compatible webhook (api/webhook.py) posted with aiohttp,
carrying the delivery key and, with a signing Secret, a signature. Redirects are not followed (a
POST would become a GET, and a 3xx could point anywhere); a 3xx counts as a failure. The Apprise
schemes that schemes.py allows go through Apprise, imported only when a Subscriber uses one (it
costs about 25 MB). Every connection of both resolves under the egress policy (egress.py,
resolving.py).

What the far end answered reaches status, Events and logs only as a category (`Failure`), never
its body, reason phrase or address; a URL is a secret, and `redact` shows only its scheme.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from statuspage_operator.control.notifications.egress import REFUSED, EgressPolicy, RefusedError
from statuspage_operator.control.notifications.failures import (
    Failure,
    SendError,
    failure_of,
    failure_of_apprise,
    failure_of_status,
)
from statuspage_operator.control.notifications.resolving import (
    GuardedResolver,
    Lookup,
    SyncLookup,
    pinned,
)
from statuspage_operator.control.notifications.schemes import WEBHOOK_SCHEMES, scheme_problem

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
# Each subscriber has at most a few sends in flight (lanes.py): these bound them all, and
# are large enough that a few slow endpoints holding theirs leave room for everyone else.
CONNECTIONS = 512
APPRISE_THREADS = 16


class DestinationError(Exception):
    """The URL can never work as it is; the message says what to fix (and never shows it)."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A parsed destination; its URL is a secret and stays out of repr and logs."""

    scheme: str
    url: str

    def __repr__(self) -> str:
        return f"Destination({redact(self.url)})"

    @property
    def webhook(self) -> bool:
        """Whether we post our own Statuspage-compatible body."""
        return self.scheme in WEBHOOK_SCHEMES


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Per process: the same destination has the same tag in one run's logs, and a short URL cannot
# be found again by hashing guesses.
_TAG_KEY = secrets.token_bytes(16)


def redact(url: str) -> str:
    """A URL as logs may show it: its scheme and a tag of the whole (`slack://…#1a2b3c4d`);
    no host, user, password, path token or query."""
    found = _SCHEME.match(url.strip())
    scheme = found.group(1).lower() if found else "?"
    tag = hashlib.blake2s(url.encode(), key=_TAG_KEY, digest_size=4).hexdigest()
    return f"{scheme}://…#{tag}"


def _apprise() -> Any:
    # About 25 MB once its plugins load: imported only when a Subscriber needs it.
    import apprise
    import apprise.manager_plugins

    # Its lines name recipients and hosts ("Sent Email to ...", "... notification to <host>"),
    # parts of the secret URL: they go only to the capture of the send (its category), never to
    # the operator's log.
    log = logging.getLogger("apprise")
    log.setLevel(logging.WARNING)
    log.propagate = False
    if not log.handlers:
        # Else, between sends, logging's last resort would print them to stderr.
        log.addHandler(logging.NullHandler())
    return apprise


def parse_destination(url: str, policy: EgressPolicy | None = None) -> Destination:
    """Check a destination URL (and a webhook's host against the policy, without resolving);
    DestinationError saying what is wrong (not the URL itself)."""
    url = url.strip()
    found = _SCHEME.match(url)
    if found is None:
        raise DestinationError(
            "the URL has no scheme; write it as scheme://..., e.g. jsons://host/path, "
            "mailto://user:password@example.com or slack://..."
        )
    scheme = found.group(1).lower()
    problem = scheme_problem(scheme, url)
    if problem is not None:
        raise DestinationError(problem)
    if scheme in WEBHOOK_SCHEMES:
        try:
            parsed = URL(url)
        except ValueError as error:
            raise DestinationError(f"the {scheme}:// URL does not parse") from error
        if not parsed.host:
            raise DestinationError(f"the {scheme}:// URL has no host; write {scheme}://host/path")
        if policy is not None:
            try:
                policy.check_name(parsed.host)
            except RefusedError as refused:
                raise DestinationError(_refusal()) from refused
        return Destination(scheme, url)
    if _apprise().Apprise.instantiate(url) is None:
        raise DestinationError(
            f"the {scheme}:// URL is malformed; see Apprise's documentation of {scheme}:// "
            "for its form"
        )
    return Destination(scheme, url)


def _refusal() -> str:
    return (
        f"{REFUSED}: the operator does not send to cluster-internal names or addresses "
        "unless its administrator allows them (--egress-allow)"
    )


class _Capture(logging.Handler):
    """Apprise's warnings and errors for one send (its workers get a copy of our context): the
    channel's own words for a failure, read for a category and dropped."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _capturing.get() is self:
            self.lines.append(record.getMessage())


_capturing: ContextVar[_Capture | None] = ContextVar("apprise_capture", default=None)


class Channels:
    """Sends to destinations under the egress policy: aiohttp for webhooks, Apprise (in a few
    threads) for the rest. `lookup`/`sync_lookup` stand in for DNS in tests."""

    def __init__(
        self,
        policy: EgressPolicy | None = None,
        lookup: Lookup | None = None,
        sync_lookup: SyncLookup | None = None,
        timeout: aiohttp.ClientTimeout = TIMEOUT,
    ) -> None:
        self.policy = policy or EgressPolicy()
        self.timeout = timeout
        self._lookup = lookup
        self._sync_lookup = sync_lookup
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
        """One attempt; SendError with its category when it fails."""
        if destination.webhook:
            await self._post(destination, payload, headers)
        else:
            await self._apprise(destination, title, text)

    def _webhooks(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            resolver = GuardedResolver(self.policy, self._lookup)
            connector = aiohttp.TCPConnector(limit=CONNECTIONS, resolver=resolver)
            self._session = aiohttp.ClientSession(timeout=self.timeout, connector=connector)
        return self._session

    async def _post(
        self, destination: Destination, payload: bytes, headers: dict[str, str]
    ) -> None:
        parsed = URL(destination.url)
        try:
            # aiohttp does not ask its resolver about an address literal.
            self.policy.check_name(parsed.host or "")
        except RefusedError as refused:
            raise SendError(Failure.REFUSED) from refused
        target = parsed.with_scheme("https" if destination.scheme == "jsons" else "http")
        auth = None
        if parsed.user:
            auth = aiohttp.BasicAuth(parsed.user, parsed.password or "")
            target = target.with_user(None)
        try:
            async with self._webhooks().post(
                target,
                data=payload,
                headers={"Content-Type": "application/json", **headers},
                auth=auth,
                allow_redirects=False,
            ) as response:
                failure = failure_of_status(response.status)
        except aiohttp.ClientError as error:
            raise SendError(failure_of(error)) from None
        except TimeoutError:
            raise SendError(Failure.TIMEOUT) from None
        if failure is not None:
            raise SendError(failure)

    async def _apprise(self, destination: Destination, title: str, text: str) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(APPRISE_THREADS, thread_name_prefix="apprise")
        loop = asyncio.get_running_loop()
        ok, lines, refused = await loop.run_in_executor(
            self._pool, self._notify, destination.url, title, text
        )
        if not ok:
            raise SendError(Failure.REFUSED if refused else failure_of_apprise(lines))

    def _notify(self, url: str, title: str, text: str) -> tuple[bool, list[str], bool]:
        """In an Apprise thread: one notification, every connection pinned to the policy."""
        apprise = _apprise()
        capture = _Capture()
        log = logging.getLogger("apprise")
        log.addHandler(capture)
        token = _capturing.set(capture)
        try:
            with pinned(self.policy, self._sync_lookup) as pin:
                asset = apprise.AppriseAsset(async_mode=False)
                plugin = apprise.Apprise.instantiate(url, asset=asset)
                if plugin is None:
                    return False, [], False
                sender = apprise.Apprise(asset=asset)
                sender.add(plugin)
                ok = bool(sender.notify(body=text, title=title))
            return ok, capture.lines, pin.refused is not None
        finally:
            _capturing.reset(token)
            log.removeHandler(capture)
