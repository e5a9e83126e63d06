"""The Subscriber reconciler: each Subscriber held, its destination checked, its status written.

A Subscriber is ready when its spec parses, its page exists (in the operator's view) and its
destination works: the URL in its Secret parses, for a scheme we send to, and a webhook's host is
not refused by the egress policy (by name or address literal: resolving waits for a delivery).
Secrets are read by name where a Subscriber references them, in its namespace, only if labelled
for the operator (k8s/subscribers.py; the operator may not list or watch them), cached a few
seconds for deliveries and read afresh for a check. Secrets are not watched, so a Subscriber
waiting for its Secret (`waits_for_destination`) is checked again every RECHECK seconds, by a kopf
timer (handlers/subscribers.py).

A mailbox Subscriber (`spec.mailboxSecretRef`) is ready when its Secret holds an email address
and the operator has a mail relay (and, for one made by the public, the keys and sign-up URL of
its links: mailboxes.py); else MailNotConfigured says which flag to fix. Its status also counts
the relay's permanent refusals in a row (`bounces`); at BOUNCE_LIMIT one made by the public is
deleted (its address Secret goes with it: an ownerReference), with a MailboxRemoved Event on its
page.

The status carries the conditions and the record of deliveries (record.py); it is written with
only what differs, one write per Subscriber at a time, with a Warning Event for a new problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from statuspage_operator.api.conditions import Reason, Verdict
from statuspage_operator.api.mailbox import BOUNCE_LIMIT, bounced
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.api.specs import Origin, SubscriberSpec, parse
from statuspage_operator.api.status import subscriber_status
from statuspage_operator.api.subscription_tokens import normalized_address
from statuspage_operator.api.times import parse_time
from statuspage_operator.api.webhook import Signature, signing_keys
from statuspage_operator.control.notifications.channels import (
    Destination,
    DestinationError,
    parse_destination,
)
from statuspage_operator.control.notifications.egress import EgressPolicy
from statuspage_operator.control.notifications.lanes import Lane
from statuspage_operator.control.notifications.mailboxes import (
    Mailboxes,
    MailNotConfiguredError,
    Signing,
)
from statuspage_operator.control.notifications.record import Ledger
from statuspage_operator.control.retry import SUBSCRIBER_WRITES, retrying
from statuspage_operator.control.view import Body, Key, Recorded, View, version_of
from statuspage_operator.control.writer import Announcer
from statuspage_operator.domain.audience import audience_named
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.notifications import Interest
from statuspage_operator.k8s import subscribers as api
from statuspage_operator.k8s.client import Client, NotFoundError
from statuspage_operator.mail import Relay

logger = logging.getLogger(__name__)

SECRET_TTL = 10.0
RECHECK = 30.0
# Ready reasons that only a change outside our watch (a Secret) can fix: checked again.
RECHECKED = frozenset(
    {Reason.SECRET_NOT_FOUND, Reason.INVALID_DESTINATION, Reason.MAIL_NOT_CONFIGURED}
)
MAILBOX = "mailbox"
# A subscription by the public is made as its Subscriber, then its address Secret (owned by it,
# so it cannot come first): for a moment the Secret is missing. A Subscriber that young is
# checked again after each of ADDRESS_RETRIES seconds, and its SecretNotFound is a Warning only
# if the Secret is still missing after them.
ADDRESS_GRACE = timedelta(seconds=30)
ADDRESS_RETRIES = (0.5, 1.0, 2.0, 4.0)


def waits_for_destination(status: Mapping[str, Any]) -> bool:
    """Whether a Subscriber's status says its Secret, or the URL in it, is missing or wrong."""
    conditions = status.get("conditions") or ()
    ready: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    return ready.get("status") == "False" and ready.get("reason") in RECHECKED


@dataclass(slots=True)
class Subscriber:
    """One Subscriber: its spec, whether it can be delivered to, its lane and its record."""

    uid: str
    namespace: str
    name: str
    generation: int
    created: datetime | None
    spec: SubscriberSpec | None = None
    error: InvalidSpecError | None = None
    interest: Interest | None = None
    recorded: Recorded = field(default_factory=Recorded)
    # The latest problem: a destination that cannot work, or a delivery that failed for good.
    problem: Verdict | None = None
    # The generation whose destination was last checked.
    checked: int = -1
    lane: Lane = field(default_factory=Lane)
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def key(self) -> Key:
        """Namespace and name."""
        return self.namespace, self.name

    @property
    def ref(self) -> dict[str, str]:
        """An object reference for Events."""
        return {"kind": api.KIND, "namespace": self.namespace, "name": self.name, "uid": self.uid}

    def clear_problem(self) -> None:
        """The destination works: only a failed delivery stays (until the next success)."""
        if self.problem is not None and self.problem.reason != Reason.DELIVERY_FAILED:
            self.problem = None


@dataclass(frozen=True, slots=True)
class Mailbox:
    """Where a mailbox subscriber's mail goes (the address is a secret: not in repr), and how."""

    address: str = field(repr=False)
    relay: Relay
    signing: Signing | None


def _key(body: Body) -> Key:
    meta = body.get("metadata", {})
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _created(body: Body) -> datetime | None:
    stamp = body.get("metadata", {}).get("creationTimestamp")
    try:
        return parse_time(str(stamp)) if stamp else None
    except ValueError:
        return None


class Subscribers:
    """Every Subscriber of every page, checked and written."""

    def __init__(
        self,
        client: Client,
        clock: Callable[[], datetime],
        view: View,
        announcer: Announcer,
        policy: EgressPolicy | None = None,
        mailboxes: Mailboxes | None = None,
    ) -> None:
        self.client = client
        self.mailboxes = mailboxes or Mailboxes(client)
        self.policy = policy or EgressPolicy()
        self.clock = clock
        self.view = view
        self.announcer = announcer
        self.entries: dict[Key, Subscriber] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self._secrets: dict[tuple[str, str, str], tuple[float, bytes]] = {}
        self._destinations: dict[str, Destination] = {}
        # Young public subscriptions waiting for their address Secret, checked again soon.
        self._soon: dict[Key, asyncio.Task[None]] = {}

    def of_page(self, namespace: str, page: str) -> list[Subscriber]:
        """The valid Subscribers of a page."""
        return [
            s
            for s in self.entries.values()
            if s.namespace == namespace and s.spec is not None and s.spec.page == page
        ]

    def holds(self, entry: Subscriber) -> bool:
        """Whether the entry is still the one held (not deleted nor replaced since)."""
        return self.entries.get(entry.key) is entry

    def observe(self, body: Body) -> Subscriber:
        """Hold a Subscriber as its body says (parsed again only for a new generation)."""
        namespace, name = key = _key(body)
        meta = body.get("metadata", {})
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        entry = self.entries.get(key)
        if entry is None or entry.uid != uid:
            entry = Subscriber(uid, namespace, name, 0, _created(body))
            self.entries[key] = entry
        if entry.generation != generation or (entry.spec is None and entry.error is None):
            entry.generation = generation
            entry.spec, entry.error, entry.interest = None, None, None
            try:
                entry.spec = parse(SubscriberSpec, body.get("spec"))
                entry.interest = entry.spec.interest(entry.created)
            except InvalidSpecError as error:
                entry.error = error
            entry.clear_problem()
        entry.recorded.update(body)
        entry.ledger.load(entry.recorded.status)
        return entry

    async def event(self, event_type: str | None, body: Body) -> None:
        """A Subscriber appeared, changed or went: check its page and destination, write status."""
        key = _key(body)
        meta = body.get("metadata", {})
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            self.entries.pop(key, None)
            return
        known = self.entries.get(key)
        if (
            known is not None
            and known.uid == meta.get("uid")
            and known.generation == int(meta.get("generation") or 0) == known.checked
            and version_of(body) <= known.recorded.version
        ):
            # Our own record write coming back (or an older event): nothing new to read.
            return
        await self.check(self.observe(body))

    async def check(self, entry: Subscriber) -> None:
        """Can the subscriber be delivered to? Say so in its conditions (only what differs)."""
        failed = entry.problem is not None and entry.problem.reason == Reason.DELIVERY_FAILED
        # Our own record writes come back as events too: the Secret is read again only for a
        # new generation or while the destination has a problem.
        stale = entry.checked != entry.generation or entry.problem is not None
        if entry.spec is not None and not failed and stale:
            with contextlib.suppress(DestinationError):
                await self.destination(entry, fresh=True)
                await self.signing(entry, fresh=True)
            entry.checked = entry.generation
            if self._missing_address(entry) and entry.key not in self._soon:
                created = entry.created
                if created is not None and self.clock() - created < ADDRESS_GRACE:
                    self._soon[entry.key] = asyncio.create_task(
                        self._address_soon(entry),
                        name=f"address of {entry.namespace}/{entry.name}",
                    )
        await self.write(entry)

    @staticmethod
    def _missing_address(entry: Subscriber) -> bool:
        """A subscription by the public whose address Secret was not found."""
        return (
            entry.spec is not None
            and entry.spec.origin is Origin.PUBLIC
            and entry.problem is not None
            and entry.problem.reason == Reason.SECRET_NOT_FOUND
        )

    async def _address_soon(self, entry: Subscriber) -> None:
        """Check a young public subscription again a few times, until its Secret is found;
        the Warning only if it is still missing then."""
        try:
            for delay in ADDRESS_RETRIES:
                await asyncio.sleep(delay)
                if not self.holds(entry) or not self._missing_address(entry):
                    return
                await self.check(entry)
            if self.holds(entry) and self._missing_address(entry) and entry.problem is not None:
                problem = entry.problem
                notices = make_notices(
                    entry.name, entry.uid, self.clock(), [(problem.reason, problem.message, True)]
                )
                self.announcer.announce(entry.ref, notices)
        except Exception as error:
            # The recheck timer (every RECHECK seconds) goes on from here.
            logger.warning("checking Subscriber %s/%s again failed: %s", *entry.key, error)
        finally:
            self._soon.pop(entry.key, None)

    def close(self) -> None:
        """Stop the checks of young public subscriptions."""
        for task in self._soon.values():
            task.cancel()

    async def recheck(self, namespace: str, name: str) -> None:
        """Check a Subscriber waiting for its destination again (its Secret may exist now)."""
        entry = self.entries.get((namespace, name))
        if entry is not None:
            await self.check(entry)

    async def heal(self, namespace: str, page: str) -> None:
        """A page appeared, changed or went: its subscribers' PageNotFound follows."""
        for entry in self.of_page(namespace, page):
            await self.write(entry)

    def verdict(self, entry: Subscriber) -> Verdict:
        """Ready, or what to fix."""
        if entry.spec is None:
            return Verdict(False, Reason.INVALID_SPEC, str(entry.error), stalled=True)
        page = self.view.pages.get((entry.namespace, entry.spec.page))
        if page is None or page.facts is None:
            return Verdict(
                False,
                Reason.PAGE_NOT_FOUND,
                f"page {entry.spec.page} not found in namespace {entry.namespace}; create it, "
                "or fix spec.page",
            )
        audience = entry.spec.audience
        if audience is not None and audience_named(page.facts.audiences, audience) is None:
            # Without this it would hear nothing, and nobody would know why.
            return Verdict(
                False,
                Reason.AUDIENCE_NOT_FOUND,
                f"page {entry.spec.page} has no audience {audience} in spec.audiences; add it "
                "to the page (a Private page), or fix spec.audience",
            )
        return entry.problem or Verdict.ok()

    async def destination(self, entry: Subscriber, fresh: bool = False) -> Destination:
        """The subscriber's destination, from its Secret; DestinationError (and the entry's
        problem says what to fix) if it cannot work."""
        assert entry.spec is not None
        ref = entry.spec.url_secret_ref
        if ref is None:
            mailbox = await self.mailbox(entry, fresh)
            return Destination(MAILBOX, mailbox.address)
        try:
            url = (await self.secret(entry.namespace, ref.name, ref.key, fresh)).decode("utf-8")
        except api.SecretError as problem:
            entry.problem = Verdict(
                False,
                Reason.SECRET_NOT_FOUND,
                f"{problem}: create it with the destination URL under that key, or fix "
                "spec.urlSecretRef",
            )
            raise DestinationError(str(problem)) from problem
        except UnicodeDecodeError as error:
            entry.problem = Verdict(
                False, Reason.INVALID_DESTINATION, f"Secret {ref.name} key {ref.key!r} is not text"
            )
            raise DestinationError("not text") from error
        try:
            destination = self._destinations.get(url) or parse_destination(url, self.policy)
        except DestinationError as error:
            entry.problem = Verdict(
                False, Reason.INVALID_DESTINATION, f"Secret {ref.name} key {ref.key!r}: {error}"
            )
            raise
        if len(self._destinations) > 1024:
            self._destinations.clear()
        self._destinations[url] = destination
        entry.clear_problem()
        return destination

    async def mailbox(self, entry: Subscriber, fresh: bool = False) -> Mailbox:
        """A mailbox subscriber's address (from its Secret), relay and links; DestinationError
        (and the entry's problem says what to fix) if it cannot be mailed."""
        assert entry.spec is not None
        ref = entry.spec.mailbox_secret_ref
        assert ref is not None
        # The operator's own settings first: without them no address can be mailed. Shared by
        # every mailbox, they are read again only after their time (never once per check).
        try:
            relay = await self.mailboxes.relay()
            signing = await self.mailboxes.signing(entry.spec.origin)
        except MailNotConfiguredError as problem:
            entry.problem = Verdict(False, Reason.MAIL_NOT_CONFIGURED, str(problem))
            raise DestinationError(str(problem)) from None
        try:
            raw = await self.secret(entry.namespace, ref.name, ref.key, fresh)
        except api.SecretError as problem:
            entry.problem = Verdict(
                False,
                Reason.SECRET_NOT_FOUND,
                f"{problem}: create it with the email address under that key, or fix "
                "spec.mailboxSecretRef",
            )
            raise DestinationError(str(problem)) from problem
        try:
            address = normalized_address(raw.decode("utf-8"))
        except UnicodeDecodeError:
            address = None
        if address is None:
            entry.problem = Verdict(
                False,
                Reason.INVALID_DESTINATION,
                f"Secret {ref.name} key {ref.key!r} does not hold one email address "
                "(name@example.com); put one there, or fix spec.mailboxSecretRef",
            )
            raise DestinationError("not an address")
        entry.clear_problem()
        return Mailbox(address, relay, signing)

    async def signing(self, entry: Subscriber, fresh: bool = False) -> bytes | None:
        """The signing Secret's value (None without spec.signingSecretRef), checked to hold
        Standard Webhooks keys when the spec asks for them; DestinationError (and the entry's
        problem says what to fix) if it cannot sign."""
        assert entry.spec is not None
        ref = entry.spec.signing_secret_ref
        if ref is None:
            return None
        try:
            value = await self.secret(entry.namespace, ref.name, ref.key, fresh)
        except api.SecretError as problem:
            entry.problem = Verdict(
                False, Reason.SECRET_NOT_FOUND, f"{problem} (spec.signingSecretRef)"
            )
            raise DestinationError(str(problem)) from problem
        if entry.spec.signature is Signature.STANDARD_WEBHOOKS:
            try:
                signing_keys(value)
            except ValueError as error:
                entry.problem = Verdict(
                    False,
                    Reason.INVALID_DESTINATION,
                    f"Secret {ref.name} key {ref.key!r} (spec.signingSecretRef): {error}; "
                    "spec.signature StandardWebhooks wants whsec_<base64> keys (or set it to "
                    "Legacy)",
                )
                raise DestinationError(str(error)) from None
        return value

    async def secret(self, namespace: str, name: str, key: str, fresh: bool = False) -> bytes:
        """One key of a Secret (cached SECRET_TTL seconds unless `fresh`); SecretError if none."""
        loop = asyncio.get_running_loop()
        cached = self._secrets.get((namespace, name, key))
        if cached is not None and not fresh and loop.time() - cached[0] < SECRET_TTL:
            return cached[1]
        value = await api.read_secret_key(self.client, namespace, name, key)
        self._secrets[(namespace, name, key)] = (loop.time(), value)
        return value

    async def write(self, entry: Subscriber) -> None:
        """Write the subscriber's status: what differs, with a Warning Event for a new problem."""
        lock = self._locks.setdefault(entry.key, asyncio.Lock())
        async with lock:
            if not self.holds(entry):
                return
            now = self.clock()
            ledger = entry.ledger
            current = entry.recorded.status
            verdict = self.verdict(entry)
            mailbox = entry.spec is not None and entry.spec.mailbox_secret_ref is not None
            desired = subscriber_status(
                ledger.prune(now),
                ledger.counts,
                ledger.last,
                current,
                verdict,
                entry.generation,
                now,
                bounces=ledger.bounces or 0 if mailbox else None,
            )
            patch = {k: v for k, v in desired.items() if current.get(k) != v}
            if not patch:
                return
            # A young public subscription's missing address: not yet a problem to announce.
            quiet = entry.key in self._soon
            notices = [] if quiet else _new_problem(entry, current, verdict, now)
            try:
                stored = await retrying(
                    SUBSCRIBER_WRITES,
                    partial(api.patch_status, self.client, entry.namespace, entry.name, patch),
                    what=f"writing the status of Subscriber {entry.namespace}/{entry.name}",
                )
            except NotFoundError:
                return
            entry.recorded.update(stored)
        if entry.spec is not None and bounced(
            int((stored.get("status") or {}).get("bounces") or 0), entry.spec.origin
        ):
            await self.remove(entry)
        for notice in notices:
            logger.warning(
                "Subscriber %s/%s: %s: %s",
                entry.namespace,
                entry.name,
                notice.reason,
                notice.message,
            )
        self.announcer.announce(entry.ref, notices)

    async def remove(self, entry: Subscriber) -> None:
        """Delete a Subscriber made by the public whose mailbox bounced BOUNCE_LIMIT times in a
        row (this very one: a precondition on its uid); a Normal Event on its page says so."""
        assert entry.spec is not None
        page = entry.spec.page
        try:
            removed = await api.delete_subscriber(
                self.client, entry.namespace, entry.name, entry.uid
            )
        except Exception:
            # Its next bounce (or the next write) tries again.
            logger.exception("removing Subscriber %s/%s failed", entry.namespace, entry.name)
            return
        if self.entries.get(entry.key) is entry:
            del self.entries[entry.key]
        if not removed:
            return
        message = (
            f"Subscriber {entry.name} removed: the relay refused its mailbox {BOUNCE_LIMIT} times "
            "in a row"
        )
        logger.info("page %s/%s: %s", entry.namespace, page, message)
        held = self.view.pages.get((entry.namespace, page))
        uid = held.uid if held is not None else entry.uid
        ref = {"kind": "StatusPage", "namespace": entry.namespace, "name": page, "uid": uid}
        notices = make_notices(page, uid, self.clock(), [(Reason.MAILBOX_REMOVED, message, False)])
        self.announcer.announce(ref, notices)


def _new_problem(
    entry: Subscriber, current: Mapping[str, Any], verdict: Verdict, now: datetime
) -> list[Notice]:
    """A Warning for a problem the status does not show yet (a new reason or message)."""
    conditions = current.get("conditions") or ()
    old: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    if verdict.ready or (old.get("reason"), old.get("message")) == (
        str(verdict.reason),
        verdict.message,
    ):
        return []
    return make_notices(entry.name, entry.uid, now, [(verdict.reason, verdict.message, True)])
