"""`kubectl statuspage subscribers`: who hears of a page, and a person's data on request.

- `subscribers PAGE`: counts by origin (Cluster, Public), how many Public subscribers hear of each
  component (one who never narrowed hears of all), and how many are failing (a bounce in a row, or
  Ready False). `--list`: one line per Subscriber. Never an address: a public subscription is
  shown by its keyed name (`public-...`), which reveals nothing without the naming key.
- `subscribers remove NAME`: deletes a Subscriber of origin Public (a Cluster one belongs to its
  manifest, and GitOps would bring it back).
- `subscribers export|erase --address ADDR [-n NS | -A]`: a person's data (access and erasure
  requests): the address Secrets labelled `statuspage.dev/origin=public` whose address is that
  one (normalized, compared casefolded), read with the admin's own rights.

`subscribers PAGE` is short for `subscribers show PAGE` (`show` names a page called like an action).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.subscription_tokens import normalized_address
from statuspage_operator.cli.client import Api
from statuspage_operator.cli.errors import CliError, ExitCode
from statuspage_operator.cli.listing import Listing
from statuspage_operator.cli.model import Component, on_page
from statuspage_operator.domain.order import page_order

PUBLIC = "Public"
CLUSTER = "Cluster"
PUBLIC_SECRETS = "statuspage.dev/origin=public"
ADDRESS_KEY = "address"
ACTIONS = ("show", "remove", "export", "erase")
PENDING_NOTE = (
    "Sign-ups not confirmed yet are not subscriptions: they expire within 24 h by themselves."
)
CLUSTER_REFUSAL = (
    'subscriber "{name}" is of origin Cluster: it belongs to its manifest; delete it there'
)
# The global options that take a value: skipped when finding the subcommand in argv.
_VALUED = frozenset({"-n", "--namespace", "--context", "--kubeconfig"})


@dataclass(frozen=True, slots=True)
class Row:
    """One Subscriber as these commands show it: never its destination."""

    namespace: str
    name: str
    uid: str
    page: str
    origin: str
    components: tuple[str, ...] | None  # None: every component, new ones included
    sent: int
    bounces: int
    ready: str | None  # the Ready condition's status; None until the operator reports
    created: str | None
    last_delivery: Mapping[str, Any] | None

    @property
    def failing(self) -> bool:
        """A permanent mail failure in a row, or not Ready."""
        return self.bounces > 0 or self.ready == "False"

    @classmethod
    def read(cls, obj: Mapping[str, Any]) -> Row:
        """From a Subscriber as the API server returns it (tolerant: nothing raises)."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        components = spec.get("components")
        ready = next(
            (
                str(c.get("status"))
                for c in status.get("conditions") or []
                if isinstance(c, Mapping) and c.get("type") == "Ready"
            ),
            None,
        )
        last = status.get("lastDelivery")
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            page=str(spec.get("page") or ""),
            origin=PUBLIC if spec.get("origin") == PUBLIC else CLUSTER,
            components=(
                tuple(str(c) for c in components) if isinstance(components, list) else None
            ),
            sent=_count(status.get("sent")),
            bounces=_count(status.get("bounces")),
            ready=ready,
            created=meta.get("creationTimestamp"),
            last_delivery=last if isinstance(last, Mapping) else None,
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True, slots=True)
class Counts:
    """A page's subscribers in numbers."""

    cluster: int
    public: int
    failing: int
    # (component, how many Public subscribers hear of it), in page order.
    by_component: tuple[tuple[str, int], ...]


def count(rows: Iterable[Row], components: Sequence[str]) -> Counts:
    """The counts of a page's subscribers; `components` are the page's, in page order."""
    listed = list(rows)
    public = [row for row in listed if row.origin == PUBLIC]
    return Counts(
        cluster=len(listed) - len(public),
        public=len(public),
        failing=sum(1 for row in listed if row.failing),
        by_component=tuple(
            (name, sum(1 for r in public if r.components is None or name in r.components))
            for name in components
        ),
    )


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = [list(header), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return [
        ("".join(f"{cell:<{w}}   " for cell, w in zip(line[:-1], widths, strict=True)) + line[-1])
        for line in lines
    ]


def render_counts(namespace: str, page: str, counts: Counts) -> str:
    """The summary of `subscribers PAGE`."""
    lines = [
        f'Subscribers of statuspage "{page}" in namespace "{namespace}"',
        *_table(
            ["ORIGIN", "SUBSCRIBERS"],
            [[CLUSTER, str(counts.cluster)], [PUBLIC, str(counts.public)]],
        ),
        f"Failing: {counts.failing} (a permanent mail failure in a row, or Ready False)",
        "",
        "Public subscribers who hear of each component (one who chose none hears of all):",
    ]
    if counts.by_component:
        lines += _table(["COMPONENT", "PUBLIC"], [[n, str(c)] for n, c in counts.by_component])
    else:
        lines.append("(the page has no components)")
    return "\n".join(lines)


def render_list(rows: Sequence[Row]) -> str:
    """`subscribers PAGE --list`: one line per Subscriber, by origin then name."""
    if not rows:
        return "No subscribers."
    ordered = sorted(rows, key=lambda row: (row.origin, row.name))
    return "\n".join(
        _table(
            ["NAME", "ORIGIN", "COMPONENTS", "SENT", "BOUNCES", "READY"],
            [
                [
                    r.name,
                    r.origin,
                    "all" if r.components is None else ",".join(r.components),
                    str(r.sent),
                    str(r.bounces),
                    r.ready or "-",
                ]
                for r in ordered
            ],
        )
    )


def holds(data: Mapping[str, Any], address: str) -> bool:
    """Whether a Secret's base64 data holds this (normalized) address, compared casefolded."""
    value = data.get(ADDRESS_KEY)
    if not isinstance(value, str):
        return False
    try:
        stored = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        return False
    kept = normalized_address(stored) or stored.strip()
    return kept.casefold() == address.casefold()


def export_entry(namespace: str, name: str, row: Row | None) -> dict[str, Any]:
    """What is kept for the person in one namespace: the subscription, or an address Secret
    whose Subscriber is gone (an orphan: only the address is kept)."""
    if row is None:
        return {"namespace": namespace, "subscriber": None, "addressSecret": name}
    return {
        "namespace": namespace,
        "page": row.page,
        "subscriber": row.name,
        "addressSecret": name,
        "components": list(row.components) if row.components is not None else "all",
        "created": row.created,
        "sent": row.sent,
        "bounces": row.bounces,
        "lastDelivery": dict(row.last_delivery) if row.last_delivery is not None else None,
    }


def _address(text: str) -> str:
    found = normalized_address(text)
    if found is None:
        raise CliError("--address: not an email address", ExitCode.USAGE)
    return found


def _held(listing: Listing, address: str, namespace: str | None) -> list[tuple[Any, Row | None]]:
    """The person's address Secrets, each with its Subscriber's row (None: gone)."""
    found = []
    for secret in listing.secrets(PUBLIC_SECRETS, namespace):
        if holds(secret["data"], address):
            obj = listing.subscriber(secret["namespace"], secret["name"])
            found.append((secret, None if obj is None else Row.read(obj)))
    return sorted(found, key=lambda pair: (pair[0]["namespace"], pair[0]["name"]))


def show(api: Api, listing: Listing, page: str, as_list: bool) -> str:
    """Counts of a page's subscribers, or (`--list`) one line each."""
    api.get(Kind.PAGE, page)
    rows = [Row.read(obj) for obj in listing.subscribers(page)]
    if as_list:
        return render_list(rows)
    components = sorted(
        (Component.parse(c) for c in on_page(api.list(Kind.COMPONENT, page=page), page)),
        key=page_order,
    )
    return render_counts(api.namespace, page, count(rows, [c.name for c in components]))


def remove(listing: Listing, name: str) -> str:
    """Delete a Public Subscriber and its address Secret; refuse a Cluster one."""
    obj = listing.subscriber(listing.namespace, name)
    if obj is None:
        raise CliError(f'subscriber "{name}" not found in namespace "{listing.namespace}"')
    row = Row.read(obj)
    if row.origin != PUBLIC:
        raise CliError(CLUSTER_REFUSAL.format(name=name))
    listing.delete_subscriber(row.namespace, name, row.uid)
    # The garbage collector deletes the address Secret after its owner; do it now.
    for secret in listing.secrets(PUBLIC_SECRETS, row.namespace, name):
        listing.delete_secret(secret["namespace"], secret["name"], secret["uid"])
    return f"subscriber/{name} removed (page {row.page}), with its address Secret"


def export(listing: Listing, address: str, namespace: str | None) -> str:
    """The person's data as JSON: every subscription of the address, and what it received."""
    wanted = _address(address)
    held = _held(listing, wanted, namespace)
    document = {
        "address": wanted,
        "subscriptions": [export_entry(s["namespace"], s["name"], row) for s, row in held],
        "note": PENDING_NOTE,
    }
    return json.dumps(document, indent=2)


def erase(listing: Listing, address: str, namespace: str | None) -> str:
    """Delete every subscription of the address (Subscriber, then its address Secret)."""
    wanted = _address(address)
    subscribers = orphans = 0
    kept: list[str] = []
    for secret, row in _held(listing, wanted, namespace):
        if row is not None and row.origin != PUBLIC:
            # A Cluster Subscriber that points at a public address Secret: its manifest's.
            kept.append(f"{row.namespace}/{row.name}")
            continue
        if row is not None and listing.delete_subscriber(row.namespace, row.name, row.uid):
            subscribers += 1
        if listing.delete_secret(secret["namespace"], secret["name"], secret["uid"]) and not row:
            orphans += 1
    noun = "subscription" if subscribers == 1 else "subscriptions"
    lines = [f"erased {subscribers} {noun} of that address (and their address Secrets)"]
    if orphans:
        lines.append(f"deleted {orphans} address Secrets whose Subscriber was gone")
    if kept:
        lines.append("kept Subscribers of origin Cluster (delete them in their manifests): ")
        lines[-1] += ", ".join(kept)
    lines.append(PENDING_NOTE)
    return "\n".join(lines)


def _first_word(args: Sequence[str], start: int) -> int | None:
    """The index of the first argument from `start` that is neither an option nor its value."""
    index = start
    while index < len(args):
        if args[index] in _VALUED:
            index += 2
        elif args[index].startswith("-"):
            index += 1
        else:
            return index
    return None


def shorthand(argv: Sequence[str]) -> list[str]:
    """`subscribers PAGE ...` as `subscribers show PAGE ...` (options may come between)."""
    args = list(argv)
    command = _first_word(args, 0)
    if command is None or args[command] != "subscribers":
        return args
    action = _first_word(args, command + 1)
    if action is not None and args[action] not in ACTIONS:
        args.insert(command + 1, "show")
    return args


Command = Callable[..., argparse.ArgumentParser]


def add_parsers(sub: Any, command: Command, common: argparse.ArgumentParser) -> None:
    """The `subscribers` subcommands."""
    group = sub.add_parser(
        "subscribers", help="count, list or remove a page's subscribers", parents=[common]
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    shown = command(
        actions,
        "show",
        "count a page's subscribers (the default: subscribers PAGE)",
        "Subscribers of a page by origin, how many Public ones hear of each component, how many\n"
        "are failing; --list: one line per Subscriber. No address is ever shown.",
    )
    shown.add_argument("page", metavar="PAGE")
    shown.add_argument("--list", action="store_true", help="one line per Subscriber")
    removed = command(
        actions,
        "remove",
        "delete a Subscriber of origin Public",
        "Delete a Subscriber made by the public, and its address Secret.",
    )
    removed.add_argument("name", metavar="NAME")
    for name, summary in (
        ("export", "print a person's data as JSON (an access request)"),
        ("erase", "delete every subscription of an address (an erasure request)"),
    ):
        person = command(actions, name, summary)
        person.add_argument("--address", required=True, help="the person's email address")
        person.add_argument(
            "-A",
            "--all-namespaces",
            action="store_true",
            help="every namespace (default: the namespace of -n or the context)",
        )


def run(api: Api, listing: Listing, args: argparse.Namespace) -> str:
    """Run one `subscribers` action."""
    everywhere = None if getattr(args, "all_namespaces", False) else listing.namespace
    match args.action:
        case "show":
            return show(api, listing, args.page, args.list)
        case "remove":
            return remove(listing, args.name)
        case "export":
            return export(listing, args.address, everywhere)
        case "erase":
            return erase(listing, args.address, everywhere)
    raise AssertionError(f"unhandled action {args.action}")
