"""Alertmanager's API v2, as maintenance silences use it: list, create or move, expire.

Kubernetes-free. The URL is the cluster administrator's (`--alertmanager-url`), so it is not put
through the subscribers' egress policy. Each call is bounded (a total timeout, an answer of at
most MAX_BODY bytes and MAX_SILENCES silences) and its failure is one of a few categories
(`Failure`), which is what logs and conditions say: never the credentials, and of Alertmanager's
own words only a bounded excerpt. Credentials (a bearer token, or basic auth) come from a
callable that reads them; it is called again after a 401, so a rotated Secret is picked up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from statuspage_operator.api.silences import render_silence, silence_of
from statuspage_operator.domain.matchers import Matcher
from statuspage_operator.domain.silences import Silence, Target
from statuspage_operator.k8s.alertmanager import CredentialsError, read_auth
from statuspage_operator.k8s.client import Client

TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3)
MAX_BODY = 8 << 20
MAX_SILENCES = 10_000
MAX_EXCERPT = 200
USER_AGENT = "statuspage-operator"

# Headers to send (an Authorization header, or none), read when needed and after a 401.
Auth = Callable[[], Awaitable[dict[str, str]]]
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Failure(StrEnum):
    """Why a call failed, as logs and conditions say it."""

    UNREACHABLE = "unreachable"
    TIMEOUT = "timed out"
    SERVER_ERROR = "server error"
    UNAUTHORIZED = "unauthorized"
    REFUSED = "refused"
    MALFORMED = "malformed answer"
    TOO_LARGE = "answer too large"

    @property
    def transient(self) -> bool:
        """Worth trying again without any change on our side."""
        return self in (Failure.UNREACHABLE, Failure.TIMEOUT, Failure.SERVER_ERROR)


class AlertmanagerError(Exception):
    """A call to Alertmanager failed; `failure` is the category, `detail` a bounded excerpt."""

    def __init__(self, failure: Failure, detail: str = "") -> None:
        self.failure = failure
        self.detail = detail[:MAX_EXCERPT]
        super().__init__(f"{failure}: {self.detail}" if self.detail else str(failure))


class SilenceNotFoundError(AlertmanagerError):
    """The silence is not known to Alertmanager."""

    def __init__(self) -> None:
        super().__init__(Failure.REFUSED, "no such silence")


def _filter(matcher: Matcher) -> str:
    name = matcher.name if _PLAIN_NAME.fullmatch(matcher.name) else json.dumps(matcher.name)
    return f"{name}={json.dumps(matcher.value)}"


def display(url: str) -> str:
    """A URL as logs and conditions show it: without any user or password in it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def secret_auth(client: Client, reference: str) -> Auth:
    """Credentials read from the Secret `NAMESPACE/NAME` (at start and after a 401)."""
    namespace, _, name = reference.partition("/")

    async def read() -> dict[str, str]:
        try:
            return await read_auth(client, namespace, name)
        except CredentialsError as error:
            raise AlertmanagerError(Failure.UNAUTHORIZED, str(error)) from None

    return read


async def no_auth() -> dict[str, str]:
    """No credentials."""
    return {}


class AlertmanagerClient:
    """One Alertmanager (or an HA pair's Service): its silences."""

    def __init__(self, url: str, auth: Auth = no_auth, timeout: aiohttp.ClientTimeout = TIMEOUT):
        self.url = url.rstrip("/")
        self._auth = auth
        self._headers: dict[str, str] | None = None
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": USER_AGENT}
            )
        return self._session

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in (1, 2):
            if self._headers is None:
                self._headers = await self._auth()
            try:
                async with self._open().request(
                    method, self.url + path, json=body, headers=self._headers
                ) as response:
                    if response.status == 401 and attempt == 1:
                        # Rotated credentials: read them again, once.
                        self._headers = None
                        continue
                    text = await self._read(response)
            except TimeoutError:
                raise AlertmanagerError(Failure.TIMEOUT) from None
            except aiohttp.ClientError as error:
                raise AlertmanagerError(Failure.UNREACHABLE, type(error).__name__) from None
            return self._answer(response.status, text)
        raise AlertmanagerError(Failure.UNAUTHORIZED, "401 with the credentials read again")

    @staticmethod
    async def _read(response: aiohttp.ClientResponse) -> bytes:
        declared = response.content_length
        if declared is not None and declared > MAX_BODY:
            raise AlertmanagerError(Failure.TOO_LARGE, f"{declared} bytes")
        data = await response.content.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            raise AlertmanagerError(Failure.TOO_LARGE, f"over {MAX_BODY} bytes")
        return data

    @staticmethod
    def _answer(status: int, data: bytes) -> Any:
        excerpt = data[:MAX_EXCERPT].decode("utf-8", "replace").strip()
        if status == 404:
            raise SilenceNotFoundError
        if status in (401, 403):
            raise AlertmanagerError(Failure.UNAUTHORIZED, f"HTTP {status}")
        if status >= 500:
            raise AlertmanagerError(Failure.SERVER_ERROR, f"HTTP {status}: {excerpt}")
        if status >= 400:
            raise AlertmanagerError(Failure.REFUSED, f"HTTP {status}: {excerpt}")
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise AlertmanagerError(Failure.MALFORMED, "not JSON") from None

    async def silences(self, matchers: tuple[Matcher, ...] = ()) -> list[Silence]:
        """The silences whose matchers include these equality matchers (all, when none)."""
        filters = "&".join(
            "filter=" + quote(_filter(m), safe="")
            for m in matchers
            if m.is_equal and not m.is_regex
        )
        found = await self._call("GET", "/api/v2/silences" + (f"?{filters}" if filters else ""))
        if not isinstance(found, list) or len(found) > MAX_SILENCES:
            raise AlertmanagerError(Failure.MALFORMED, "not a list of silences (or too many)")
        try:
            return [silence_of(raw) for raw in found]
        except ValueError as error:
            raise AlertmanagerError(Failure.MALFORMED, str(error)) from None

    async def silence(self, silence_id: str) -> Silence:
        """One silence by id (SilenceNotFoundError when Alertmanager does not know it)."""
        found = await self._call("GET", f"/api/v2/silence/{quote(silence_id, safe='')}")
        try:
            return silence_of(found)
        except ValueError as error:
            raise AlertmanagerError(Failure.MALFORMED, str(error)) from None

    async def put(self, target: Target, silence_id: str | None = None) -> str:
        """Create the target's silence, or move `silence_id` to it; the id Alertmanager answers
        (a new one when it replaced an active silence rather than change its times)."""
        answer = await self._call("POST", "/api/v2/silences", render_silence(target, silence_id))
        made = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(made, str) or not 0 < len(made) <= 64:
            raise AlertmanagerError(Failure.MALFORMED, "no silenceID")
        return made

    async def expire(self, silence_id: str) -> None:
        """Expire a silence (one already expired, or unknown, is no error)."""
        try:
            await self._call("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")
        except SilenceNotFoundError:
            return
