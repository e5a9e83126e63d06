"""Publication by consent of both sides: which pages are served, by path and by which hostnames.

The cluster admin decides with PublicationPolicies which namespaces may publish by path and which
hostname each namespace may use; the page's owner decides with `spec.visibility` that a page is
published. One pure decision, used by the operator (the Published condition) and by the page
server (what it routes), so the two cannot disagree. The rules, written in docs/behaviour.md:

- Policies are a union. A hostname granted to two or more namespaces (by any policies) is granted
  to none: a conflict the cluster admin resolves; the pages claiming it are told.
- An Unpublished page is never served and holds nothing.
- A published page (Public or Private) is served by path when its namespace is listed.
- It holds a claimed hostname when the hostname is granted to its namespace and no other published
  page of that namespace claims it too; if another does, neither holds it (never by age).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

Key = tuple[str, str]  # (namespace, page)


class Visibility(StrEnum):
    """StatusPage.spec.visibility: who the page owner publishes the page to."""

    UNPUBLISHED = "Unpublished"
    PUBLIC = "Public"
    PRIVATE = "Private"


class Refusal(StrEnum):
    """Why a page is not served by path, or does not hold a hostname it claims."""

    UNPUBLISHED = "Unpublished"
    NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
    HOSTNAME_NOT_GRANTED = "HostnameNotGranted"
    HOSTNAME_CONFLICT = "HostnameConflict"


@dataclass(frozen=True, slots=True)
class Policy:
    """One PublicationPolicy: namespaces that may publish by path, hostname -> namespace grants."""

    name: str
    namespaces: frozenset[str] = frozenset()
    hostnames: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Claim:
    """What a page asks for: its visibility and the hostnames in its spec."""

    namespace: str
    name: str
    visibility: Visibility = Visibility.UNPUBLISHED
    hostnames: tuple[str, ...] = ()

    @property
    def key(self) -> Key:
        """(namespace, name)."""
        return self.namespace, self.name


@dataclass(frozen=True, slots=True)
class Refused:
    """A hostname a page claims but does not hold.

    What stands in the way is named only where the page's owner may know it: the conflicting
    policies (cluster-scoped, the admin's) or the other pages of the same namespace, never a
    page or namespace elsewhere.
    """

    hostname: str
    reason: Refusal
    policies: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the decision says of one page."""

    visibility: Visibility
    by_path: bool
    held: tuple[str, ...] = ()
    refused: tuple[Refused, ...] = ()

    @property
    def published(self) -> bool:
        """Whether the page is served anywhere (by path or on a hostname)."""
        return self.by_path or bool(self.held)

    @property
    def path_refusal(self) -> Refusal | None:
        """Why the page is not served by path; None when it is."""
        if self.by_path:
            return None
        if self.visibility is Visibility.UNPUBLISHED:
            return Refusal.UNPUBLISHED
        return Refusal.NAMESPACE_NOT_ALLOWED


UNKNOWN = Outcome(Visibility.UNPUBLISHED, by_path=False)


@dataclass(frozen=True, slots=True)
class Publication:
    """The decision for every page: outcomes by page, and which page holds each hostname."""

    outcomes: Mapping[Key, Outcome] = field(default_factory=dict)
    hostnames: Mapping[str, Key] = field(default_factory=dict)
    # Hostnames granted to more than one namespace -> the policies granting them.
    conflicts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def outcome(self, key: Key) -> Outcome:
        """A page's outcome; an unknown page is not published."""
        return self.outcomes.get(key, UNKNOWN)


def hostname_key(hostname: str) -> str:
    """A hostname as compared: lower case, without a trailing dot."""
    return hostname.lower().rstrip(".")


def _grants(policies: Iterable[Policy]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    granted: defaultdict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for policy in policies:
        for hostname, namespace in policy.hostnames.items():
            granted[hostname_key(hostname)][namespace].add(policy.name)
    grants: dict[str, str] = {}
    conflicts: dict[str, tuple[str, ...]] = {}
    for hostname, namespaces in granted.items():
        if len(namespaces) == 1:
            grants[hostname] = next(iter(namespaces))
        else:
            conflicts[hostname] = tuple(sorted(set().union(*namespaces.values())))
    return grants, conflicts


def decide(policies: Iterable[Policy], claims: Iterable[Claim]) -> Publication:
    """Who is served where, from every policy and every page's claim (order does not matter)."""
    policies = list(policies)
    allowed = frozenset().union(*(policy.namespaces for policy in policies))
    grants, conflicts = _grants(policies)
    pages = {claim.key: claim for claim in claims}
    # (namespace, hostname) -> the published pages of that namespace claiming it.
    claimants: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for claim in pages.values():
        if claim.visibility is not Visibility.UNPUBLISHED:
            for hostname in dict.fromkeys(map(hostname_key, claim.hostnames)):
                claimants[(claim.namespace, hostname)].append(claim.name)
    outcomes: dict[Key, Outcome] = {}
    held_by: dict[str, Key] = {}
    for key, claim in sorted(pages.items()):
        held: list[str] = []
        refused: list[Refused] = []
        for hostname in dict.fromkeys(map(hostname_key, claim.hostnames)):
            refusal = _refusal(claim, hostname, grants, conflicts, claimants)
            if refusal is None:
                held.append(hostname)
                held_by[hostname] = key
            else:
                refused.append(refusal)
        by_path = claim.visibility is not Visibility.UNPUBLISHED and claim.namespace in allowed
        outcomes[key] = Outcome(claim.visibility, by_path, tuple(held), tuple(refused))
    return Publication(outcomes, held_by, conflicts)


def _refusal(
    claim: Claim,
    hostname: str,
    grants: Mapping[str, str],
    conflicts: Mapping[str, tuple[str, ...]],
    claimants: Mapping[tuple[str, str], list[str]],
) -> Refused | None:
    if claim.visibility is Visibility.UNPUBLISHED:
        return Refused(hostname, Refusal.UNPUBLISHED)
    if hostname in conflicts:
        return Refused(hostname, Refusal.HOSTNAME_CONFLICT, policies=conflicts[hostname])
    if grants.get(hostname) != claim.namespace:
        return Refused(hostname, Refusal.HOSTNAME_NOT_GRANTED)
    others = sorted(n for n in claimants[(claim.namespace, hostname)] if n != claim.name)
    if others:
        return Refused(hostname, Refusal.HOSTNAME_CONFLICT, pages=tuple(others))
    return None
