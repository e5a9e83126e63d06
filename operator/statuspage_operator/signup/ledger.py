"""The sign-up ledger's rules: pending sign-ups, the limits, and what is stored (no I/O).

statuspage-signup keeps its state in Secrets of its namespace (ledger_store.py writes them), so a
restart or a second replica changes nothing (docs/behaviour.md, "Subscriptions by the public"):

- one Secret per page, `signup-page-<16 hex of sha256(ns/page)>`, data `pending`: compact JSON
  `{id: {"a": address, "c": components or null, "e": expiry (epoch seconds), "m": mailed,
  "r": when a replica took it up to resume its mail (absent: never)}}`;
- 16 limit shards `signup-limits-<0..f>`, data `limits`: compact JSON
  `{"a": {address digest: last confirmation mail}, "c": {client digest: [sign-up times]}}`;
  an entry lives in the shard of its digest's first hex digit; both digests are keyed HMACs, so
  no address and no client address is stored in clear there.

Every function here takes the decoded book and `now` and returns the book to write; expired
entries are dropped by every write. A book never grows beyond its byte bound (`Limits`): a new
entry that would cross it is refused (PAGE_FULL for a page, CLIENT_LIMITED for a shard: fail
closed).

The client limit is a sliding window: at most `client_burst` sign-ups in any `client_per`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from statuspage_operator.api.subscription_tokens import CONFIRM_FOR, address_digest

PAGE_PREFIX = "signup-page-"
SHARD_PREFIX = "signup-limits-"
SHARDS = "0123456789abcdef"
PENDING_FIELD = "pending"
LIMITS_FIELD = "limits"
LEDGER_LABEL = "statuspage.dev/signup-ledger"
PAGE_KIND = "page"
LIMITS_KIND = "limits"
NAMESPACE_ANNOTATION = "statuspage.dev/namespace"
PAGE_ANNOTATION = "statuspage.dev/page"


class Outcome(StrEnum):
    """What a sign-up comes to."""

    # A pending sign-up to confirm (new, or the same one again): mail it.
    MAIL = "mail"
    # This address was mailed less than `address_every` ago (any page): no mail.
    QUIET = "quiet"
    # This client address signed up too often (or its limit shard is full): 429.
    CLIENT_LIMITED = "client-limited"
    # The page has max_pending pending sign-ups (or its Secret is full): try again later.
    PAGE_FULL = "page-full"


@dataclass(frozen=True, slots=True)
class Limits:
    """The sign-up limits and the stored books' byte bounds."""

    # At most client_burst sign-ups per client address in any client_per (sliding window).
    client_burst: int = 5
    client_per: timedelta = timedelta(minutes=10)
    # At most one confirmation mail per address per address_every, across pages.
    address_every: timedelta = timedelta(hours=1)
    # The JSON of one page's pending sign-ups, at most (a Secret holds 1 MiB).
    page_bytes: int = 512 * 1024
    # The JSON of one limit shard, at most.
    shard_bytes: int = 256 * 1024
    # unmailed() leaves alone a sign-up younger than this: a live replica is mailing it.
    resume_after: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Pending:
    """A sign-up waiting for its confirmation."""

    id: str
    namespace: str
    page: str
    address: str
    components: tuple[str, ...] | None
    expires: datetime
    mailed: bool


@dataclass(frozen=True, slots=True)
class Entry:
    """A pending sign-up as one page's Secret stores it."""

    address: str
    components: tuple[str, ...] | None
    expires: int
    mailed: bool
    # When a replica last took it up to resume its mail (0: never); see unmailed().
    resumed: int = 0


@dataclass(frozen=True, slots=True)
class LimitBook:
    """One limit shard: last confirmation mail per address digest, sign-ups per client digest."""

    addresses: Mapping[str, int]
    clients: Mapping[str, tuple[int, ...]]


EMPTY_LIMITS = LimitBook({}, {})


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def page_secret_name(namespace: str, page: str) -> str:
    """The name of the Secret of one page's pending sign-ups."""
    return PAGE_PREFIX + hashlib.sha256(f"{namespace}/{page}".encode()).hexdigest()[:16]


def client_digest(naming: bytes, client: str) -> str:
    """A keyed digest of a client address: 32 hex characters."""
    return hmac.new(naming, b"client\x00" + client.encode(), hashlib.sha256).hexdigest()[:32]


def shard_of(digest: str) -> str:
    """The name of the limit shard an entry keyed by this digest lives in."""
    return SHARD_PREFIX + digest[0]


def shard_names() -> tuple[str, ...]:
    """Every limit shard's name."""
    return tuple(SHARD_PREFIX + digit for digit in SHARDS)


def keys_of(naming: bytes, address: str, client: str) -> tuple[str, str]:
    """The digests of an address and of a client address."""
    return address_digest(naming, address), client_digest(naming, client)


# ---- one page's pending sign-ups


def dump_pending(entries: Mapping[str, Entry]) -> bytes:
    """The stored form of a page's pending sign-ups."""
    body = {key: _entry_body(entry) for key, entry in sorted(entries.items())}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def _entry_body(entry: Entry) -> dict[str, Any]:
    body: dict[str, Any] = {
        "a": entry.address,
        "c": list(entry.components) if entry.components is not None else None,
        "e": entry.expires,
        "m": entry.mailed,
    }
    if entry.resumed:
        body["r"] = entry.resumed
    return body


def load_pending(raw: bytes | None) -> dict[str, Entry]:
    """A page's pending sign-ups from their stored form; what does not parse is left out."""
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    entries = {}
    for key, value in body.items():
        try:
            components = value["c"]
            entries[str(key)] = Entry(
                str(value["a"]),
                tuple(str(c) for c in components) if components is not None else None,
                int(value["e"]),
                bool(value["m"]),
                int(value.get("r", 0)),
            )
        except (KeyError, TypeError, ValueError):
            continue
    return entries


def unexpired(entries: Mapping[str, Entry], now: datetime) -> dict[str, Entry]:
    """The entries whose link still works."""
    at = _epoch(now)
    return {key: entry for key, entry in entries.items() if entry.expires > at}


def pending_of(namespace: str, page: str, key: str, entry: Entry) -> Pending:
    """The Pending an entry stands for."""
    return Pending(
        key,
        namespace,
        page,
        entry.address,
        entry.components,
        _moment(entry.expires),
        entry.mailed,
    )


def _holding(entries: Mapping[str, Entry], address: str) -> str | None:
    folded = address.casefold()
    return next((k for k, e in sorted(entries.items()) if e.address.casefold() == folded), None)


@dataclass(frozen=True, slots=True)
class PageChange:
    """A decision on one page's Secret: the outcome, the pending sign-up, what to store."""

    outcome: Outcome
    pending: Pending | None
    entries: dict[str, Entry]


def add_pending(
    entries: Mapping[str, Entry],
    namespace: str,
    page: str,
    address: str,
    components: tuple[str, ...] | None,
    new_id: str,
    now: datetime,
    max_pending: int,
    limits: Limits,
) -> PageChange:
    """Store a sign-up to mail: the address's pending one again (same id, new choice and expiry,
    not mailed yet), or a new one under `new_id` if the page has room (PAGE_FULL if not)."""
    kept = unexpired(entries, now)
    expires = _epoch(now + CONFIRM_FOR)
    key = _holding(kept, address)
    if key is None:
        if len(kept) >= max_pending:
            return PageChange(Outcome.PAGE_FULL, None, kept)
        key = new_id
    entry = Entry(address, components, expires, mailed=False)
    changed = {**kept, key: entry}
    if len(dump_pending(changed)) > limits.page_bytes:
        return PageChange(Outcome.PAGE_FULL, None, kept)
    return PageChange(Outcome.MAIL, pending_of(namespace, page, key, entry), changed)


def update_choice(
    entries: Mapping[str, Entry],
    namespace: str,
    page: str,
    address: str,
    components: tuple[str, ...] | None,
    now: datetime,
    limits: Limits,
) -> PageChange:
    """A QUIET sign-up: the address's pending one on this page (if any) takes the new choice;
    nothing is added."""
    kept = unexpired(entries, now)
    key = _holding(kept, address)
    if key is None:
        return PageChange(Outcome.QUIET, None, kept)
    entry = replace(kept[key], components=components)
    changed = {**kept, key: entry}
    if len(dump_pending(changed)) > limits.page_bytes:
        entry, changed = kept[key], kept
    return PageChange(Outcome.QUIET, pending_of(namespace, page, key, entry), changed)


def mark_mailed(entries: Mapping[str, Entry], key: str, now: datetime) -> dict[str, Entry]:
    """The entries with this one marked mailed."""
    kept = unexpired(entries, now)
    if key in kept:
        kept[key] = replace(kept[key], mailed=True)
    return kept


def remove(entries: Mapping[str, Entry], key: str) -> dict[str, Entry]:
    """The entries without this one (expired ones are kept for sweep to count)."""
    return {k: e for k, e in entries.items() if k != key}


def unmailed(
    entries: Mapping[str, Entry], namespace: str, page: str, now: datetime, limits: Limits
) -> tuple[list[Pending], dict[str, Entry]]:
    """The unexpired entries still not mailed `resume_after` after they were stored (or last
    resumed), and the entries with those marked resumed at `now`: written back first, so that
    of two replicas resuming at once only one mails them."""
    kept = unexpired(entries, now)
    at = _epoch(now)
    after = int(limits.resume_after.total_seconds())
    latest = at - after + int(CONFIRM_FOR.total_seconds())
    due = [
        key
        for key, entry in sorted(kept.items())
        if not entry.mailed and entry.expires <= latest and entry.resumed <= at - after
    ]
    for key in due:
        kept[key] = replace(kept[key], resumed=at)
    return [pending_of(namespace, page, key, kept[key]) for key in due], kept


# ---- the limit shards


def dump_limits(book: LimitBook) -> bytes:
    """The stored form of a limit shard."""
    body = {
        "a": dict(sorted(book.addresses.items())),
        "c": {k: list(v) for k, v in sorted(book.clients.items())},
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def load_limits(raw: bytes | None) -> LimitBook:
    """A limit shard from its stored form; what does not parse is left out."""
    if not raw:
        return EMPTY_LIMITS
    try:
        body = json.loads(raw)
    except ValueError:
        return EMPTY_LIMITS
    if not isinstance(body, dict):
        return EMPTY_LIMITS
    addresses: dict[str, int] = {}
    clients: dict[str, tuple[int, ...]] = {}
    for key, value in _mapping(body.get("a")).items():
        if isinstance(value, int):
            addresses[str(key)] = value
    for key, value in _mapping(body.get("c")).items():
        if isinstance(value, list) and all(isinstance(v, int) for v in value):
            clients[str(key)] = tuple(value)
    return LimitBook(addresses, clients)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def prune(book: LimitBook, now: datetime, limits: Limits) -> LimitBook:
    """The shard without what no longer limits anything."""
    at = _epoch(now)
    quiet_since = at - int(limits.address_every.total_seconds())
    window_since = at - int(limits.client_per.total_seconds())
    clients = {}
    for key, times in book.clients.items():
        recent = tuple(t for t in times if t > window_since)
        if recent:
            clients[key] = recent
    addresses = {k: t for k, t in book.addresses.items() if t > quiet_since}
    return LimitBook(addresses, clients)


def _fits(book: LimitBook, limits: Limits) -> bool:
    return len(dump_limits(book)) <= limits.shard_bytes


def admit_client(
    book: LimitBook, client: str, now: datetime, limits: Limits
) -> tuple[bool, LimitBook]:
    """Count a sign-up of this client digest: False (and the shard unchanged but pruned) when it
    had client_burst sign-ups in the last client_per, or the shard has no room left."""
    kept = prune(book, now, limits)
    times = kept.clients.get(client, ())
    if len(times) >= limits.client_burst:
        return False, kept
    changed = LimitBook(kept.addresses, {**kept.clients, client: (*times, _epoch(now))})
    if not _fits(changed, limits):
        return False, kept
    return True, changed


def reserve_address(
    book: LimitBook, address: str, now: datetime, limits: Limits
) -> tuple[Outcome, LimitBook]:
    """Take this address digest's confirmation mail for the next address_every: MAIL, or QUIET
    if it was mailed less than address_every ago, or CLIENT_LIMITED if the shard has no room."""
    kept = prune(book, now, limits)
    if address in kept.addresses:
        return Outcome.QUIET, kept
    changed = LimitBook({**kept.addresses, address: _epoch(now)}, kept.clients)
    if not _fits(changed, limits):
        return Outcome.CLIENT_LIMITED, kept
    return Outcome.MAIL, changed


def release_address(book: LimitBook, address: str, now: datetime, limits: Limits) -> LimitBook:
    """Give back a reservation made at `now` whose mail will not go out (the page was full)."""
    kept = prune(book, now, limits)
    if kept.addresses.get(address) != _epoch(now):
        return kept
    return LimitBook({k: t for k, t in kept.addresses.items() if k != address}, kept.clients)
