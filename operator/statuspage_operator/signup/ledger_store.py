"""The sign-up ledger in the API server: pending sign-ups and limits in Secrets (ledger.py says
which and how they are laid out).

Every change is an optimistic write: read the Secret, decide with a pure rule of ledger.py, write
it back with the resourceVersion read (create it when absent, delete it with a resourceVersion
precondition when a page has no pending sign-up left); a 409 (another replica wrote first)
means read again and decide again, at most MAX_ATTEMPTS times, then LedgerBusyError. Within one
process, writes to one Secret also take turns (a lock per Secret name), so conflicts come only
from other replicas.

The kubernetes client is synchronous: each call runs in a thread of the loop's default pool,
with a timeout, as the alerts receiver does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .ledger import (
    LEDGER_LABEL,
    LIMITS_FIELD,
    LIMITS_KIND,
    NAMESPACE_ANNOTATION,
    PAGE_ANNOTATION,
    PAGE_KIND,
    PENDING_FIELD,
    Entry,
    Limits,
    Outcome,
    Pending,
    add_pending,
    admit_client,
    dump_limits,
    dump_pending,
    keys_of,
    load_limits,
    load_pending,
    mark_mailed,
    page_secret_name,
    pending_of,
    prune,
    release_address,
    remove,
    reserve_address,
    shard_of,
    unexpired,
    update_choice,
)
from .ledger import unmailed as unmailed_of

logger = logging.getLogger(__name__)
TIMEOUT = (5.0, 10.0)  # connect, read (seconds)
MAX_ATTEMPTS = 16
DEFAULT_NAMESPACE = "statuspage-signups"
T = TypeVar("T")
# What a decision asks of a Secret: new data for its field, or DELETE (or None: nothing to write).
DELETE = b"\x00delete"


class LedgerBusyError(Exception):
    """A Secret of the ledger kept changing under our writes (MAX_ATTEMPTS conflicts)."""


def _decode(secret: client.V1Secret | None, field: str) -> bytes | None:
    if secret is None:
        return None
    value = (secret.data or {}).get(field)
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


class Ledger:
    """Pending sign-ups and limits, shared by every replica of statuspage-signup."""

    def __init__(
        self,
        api_client: client.ApiClient,
        naming: bytes,
        namespace: str = DEFAULT_NAMESPACE,
        limits: Limits = Limits(),  # noqa: B008 (frozen)
    ) -> None:
        self._core = client.CoreV1Api(api_client)
        self._naming = naming
        self._namespace = namespace
        self._limits = limits
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # Writes that met another's write first (a 409) and were decided again.
        self.conflicts = 0

    # ---- the sign-up process's questions

    async def sign_up(
        self,
        namespace: str,
        page: str,
        address: str,
        components: tuple[str, ...] | None,
        client: str,
        now: datetime,
        max_pending: int,
    ) -> tuple[Outcome, Pending | None]:
        """Count the sign-up against its client, take the address's mail for the hour, store it
        on the page: MAIL with the pending sign-up to mail; QUIET (with the address's pending
        sign-up on this page, its choice updated, if any); CLIENT_LIMITED; PAGE_FULL."""
        limits = self._limits
        address_key, client_key = keys_of(self._naming, address, client)

        def count(raw: bytes | None) -> tuple[bool, bytes | None]:
            admitted, book = admit_client(load_limits(raw), client_key, now, limits)
            return admitted, dump_limits(book)

        if not await self._update(shard_of(client_key), LIMITS_FIELD, count, LIMITS_KIND):
            return Outcome.CLIENT_LIMITED, None

        def reserve(raw: bytes | None) -> tuple[Outcome, bytes | None]:
            outcome, book = reserve_address(load_limits(raw), address_key, now, limits)
            return outcome, dump_limits(book)

        taken = await self._update(shard_of(address_key), LIMITS_FIELD, reserve, LIMITS_KIND)
        if taken is Outcome.CLIENT_LIMITED:
            return taken, None
        name = page_secret_name(namespace, page)
        if taken is Outcome.QUIET:

            def choose(raw: bytes | None) -> tuple[Pending | None, bytes | None]:
                change = update_choice(
                    load_pending(raw), namespace, page, address, components, now, limits
                )
                return change.pending, _pending_data(change.entries)

            return Outcome.QUIET, await self._update(
                name, PENDING_FIELD, choose, PAGE_KIND, namespace, page
            )
        new_id = secrets.token_urlsafe(16)

        def add(raw: bytes | None) -> tuple[tuple[Outcome, Pending | None], bytes | None]:
            change = add_pending(
                load_pending(raw),
                namespace,
                page,
                address,
                components,
                new_id,
                now,
                max_pending,
                limits,
            )
            return (change.outcome, change.pending), _pending_data(change.entries)

        outcome, pending = await self._update(name, PENDING_FIELD, add, PAGE_KIND, namespace, page)
        if outcome is Outcome.PAGE_FULL:

            def release(raw: bytes | None) -> tuple[None, bytes | None]:
                return None, dump_limits(
                    release_address(load_limits(raw), address_key, now, limits)
                )

            await self._update(shard_of(address_key), LIMITS_FIELD, release, LIMITS_KIND)
        return outcome, pending

    async def mailed(self, pending: Pending, now: datetime) -> None:
        """Mark the pending sign-up mailed (gone or expired: nothing to do)."""

        def mark(raw: bytes | None) -> tuple[None, bytes | None]:
            return None, _pending_data(mark_mailed(load_pending(raw), pending.id, now))

        name = page_secret_name(pending.namespace, pending.page)
        await self._update(name, PENDING_FIELD, mark, PAGE_KIND, pending.namespace, pending.page)

    async def find(self, namespace: str, page: str, id: str, now: datetime) -> Pending | None:
        """The unexpired pending sign-up of this id on this page, or None."""
        secret = await self._read(page_secret_name(namespace, page))
        entry = unexpired(load_pending(_decode(secret, PENDING_FIELD)), now).get(id)
        return pending_of(namespace, page, id, entry) if entry is not None else None

    async def done(self, namespace: str, page: str, id: str) -> None:
        """Forget a confirmed sign-up (already gone: nothing to do)."""

        def forget(raw: bytes | None) -> tuple[None, bytes | None]:
            return None, _pending_data(remove(load_pending(raw), id))

        name = page_secret_name(namespace, page)
        await self._update(name, PENDING_FIELD, forget, PAGE_KIND, namespace, page)

    async def unmailed(self, now: datetime) -> list[Pending]:
        """Unexpired sign-ups whose mail has not gone out Limits.resume_after after they were
        stored (a replica stopped between sign_up and mailed): to mail now. Each is taken up
        (written back as resumed) before it is returned, so a replica resuming at the same
        time gets the others, and the same one comes back only resume_after later if still
        not mailed."""
        limits = self._limits

        def resume(where: tuple[str, str]) -> Callable[[bytes | None], tuple[list[Pending], bytes]]:
            def decide(raw: bytes | None) -> tuple[list[Pending], bytes]:
                due, entries = unmailed_of(load_pending(raw), *where, now, limits)
                return due, _pending_data(entries)

            return decide

        found: list[Pending] = []
        for secret in await self._list(PAGE_KIND):
            where = _where(secret)
            entries = load_pending(_decode(secret, PENDING_FIELD))
            if where is None or not unmailed_of(entries, *where, now, limits)[0]:
                continue
            name = _meta(secret).name or ""
            found += await self._update(name, PENDING_FIELD, resume(where), PAGE_KIND, *where)
        return found

    async def sweep(self, now: datetime) -> int:
        """Drop expired sign-ups (deleting a page's Secret left empty) and prune the limit
        shards; return how many sign-ups were dropped."""

        def expire(raw: bytes | None) -> tuple[int, bytes]:
            entries = load_pending(raw)
            kept = unexpired(entries, now)
            return len(entries) - len(kept), _pending_data(kept)

        dropped = 0
        for secret in await self._list(PAGE_KIND):
            where = _where(secret)
            entries = load_pending(_decode(secret, PENDING_FIELD))
            if where is None or len(unexpired(entries, now)) == len(entries):
                continue
            name = _meta(secret).name or ""
            dropped += await self._update(name, PENDING_FIELD, expire, PAGE_KIND, *where)
        limits = self._limits

        def tidy(raw: bytes | None) -> tuple[None, bytes | None]:
            return None, dump_limits(prune(load_limits(raw), now, limits)) if raw else None

        for secret in await self._list(LIMITS_KIND):
            await self._update(_meta(secret).name or "", LIMITS_FIELD, tidy, LIMITS_KIND)
        return dropped

    # ---- reads and optimistic writes

    async def _update(
        self,
        name: str,
        field: str,
        decide: Callable[[bytes | None], tuple[T, bytes | None]],
        kind: str,
        namespace: str = "",
        page: str = "",
    ) -> T:
        """Read the Secret, decide, write the decision back; again on a conflict."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A lock belongs to one event loop (tests run one loop after another).
            self._locks, self._loop = {}, loop
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            for attempt in range(MAX_ATTEMPTS):
                secret = await self._read(name)
                raw = _decode(secret, field)
                result, data = decide(raw)
                try:
                    await self._write(name, field, secret, raw, data, kind, namespace, page)
                except ApiException as error:
                    # 409: written or created meanwhile; 404: deleted meanwhile.
                    if error.status not in (404, 409):
                        raise
                    self.conflicts += 1
                    await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                    continue
                return result
        logger.warning("ledger Secret %s: still conflicting after %d attempts", name, MAX_ATTEMPTS)
        raise LedgerBusyError(name)

    async def _write(
        self,
        name: str,
        field: str,
        secret: client.V1Secret | None,
        raw: bytes | None,
        data: bytes | None,
        kind: str,
        namespace: str,
        page: str,
    ) -> None:
        if data is None or data == raw:
            return
        if data == DELETE:
            if secret is None:
                return
            options = client.V1DeleteOptions(
                preconditions=client.V1Preconditions(
                    resource_version=_meta(secret).resource_version
                )
            )
            await self._call(
                self._core.delete_namespaced_secret, name, self._namespace, body=options
            )
            return
        annotations = {NAMESPACE_ANNOTATION: namespace, PAGE_ANNOTATION: page} if page else None
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=name,
                namespace=self._namespace,
                labels={LEDGER_LABEL: kind},
                annotations=annotations,
                resource_version=_meta(secret).resource_version if secret else None,
            ),
            type="Opaque",
            data={field: base64.b64encode(data).decode()},
        )
        if secret is None:
            await self._call(self._core.create_namespaced_secret, self._namespace, body)
        else:
            await self._call(self._core.replace_namespaced_secret, name, self._namespace, body)

    async def _read(self, name: str) -> client.V1Secret | None:
        try:
            secret: client.V1Secret = await self._call(
                self._core.read_namespaced_secret, name, self._namespace
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return secret

    async def _list(self, kind: str) -> list[client.V1Secret]:
        found = await self._call(
            self._core.list_namespaced_secret,
            self._namespace,
            label_selector=f"{LEDGER_LABEL}={kind}",
        )
        return list(found.items)

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(method, *args, _request_timeout=TIMEOUT, **kwargs)


def _pending_data(entries: Mapping[str, Entry]) -> bytes:
    """A page's Secret data, or DELETE when no sign-up is left on it."""
    return dump_pending(entries) if entries else DELETE


def _where(secret: client.V1Secret) -> tuple[str, str] | None:
    annotations = _meta(secret).annotations or {}
    namespace = annotations.get(NAMESPACE_ANNOTATION)
    page = annotations.get(PAGE_ANNOTATION)
    if not namespace or not page:
        return None
    return namespace, page


def _meta(secret: client.V1Secret) -> client.V1ObjectMeta:
    return secret.metadata or client.V1ObjectMeta()
