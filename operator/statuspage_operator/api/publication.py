"""PublicationPolicy and StatusPage publication on the wire: read them, and say the outcome.

Read tolerantly (the CRD schemas validate at admission): a page's claim is its spec's visibility
and hostnames, a policy its namespaces and hostname grants. The operator and the page server both
read them here and decide with domain/publication.py; the operator writes the outcome as the
page's `Published` condition, with a message that says what to fix and names nothing of another
namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statuspage_operator.api.conditions import Reason, render_condition
from statuspage_operator.domain.publication import (
    Claim,
    Outcome,
    Policy,
    Refusal,
    Refused,
    Visibility,
)

PUBLISHED = "Published"

_REASONS = {
    Refusal.UNPUBLISHED: Reason.UNPUBLISHED,
    Refusal.NAMESPACE_NOT_ALLOWED: Reason.NAMESPACE_NOT_ALLOWED,
    Refusal.HOSTNAME_NOT_GRANTED: Reason.HOSTNAME_NOT_GRANTED,
    Refusal.HOSTNAME_CONFLICT: Reason.HOSTNAME_CONFLICT,
}


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def claim_of(namespace: str, name: str, spec: Mapping[str, Any] | None) -> Claim:
    """A StatusPage's claim from its spec; anything unreadable claims nothing (Unpublished)."""
    spec = spec or {}
    try:
        visibility = Visibility(spec.get("visibility", Visibility.UNPUBLISHED))
    except ValueError:
        visibility = Visibility.UNPUBLISHED
    return Claim(namespace, name, visibility, _strings(spec.get("hostnames")))


def policy_of(body: Mapping[str, Any]) -> Policy:
    """A PublicationPolicy from its body; entries that do not read grant nothing."""
    name = str((body.get("metadata") or {}).get("name", ""))
    spec = body.get("spec") or {}
    grants: dict[str, str] = {}
    for grant in spec.get("hostnames") or ():
        if not isinstance(grant, Mapping):
            continue
        hostname, namespace = grant.get("hostname"), grant.get("namespace")
        if isinstance(hostname, str) and isinstance(namespace, str):
            grants[hostname] = namespace
    return Policy(name, frozenset(_strings(spec.get("namespaces"))), grants)


@dataclass(frozen=True, slots=True)
class Said:
    """The Published condition's status, reason and message."""

    published: bool
    reason: Reason
    message: str


def _hostname_problem(namespace: str, refused: Refused) -> str:
    hostname = refused.hostname
    if refused.reason is Refusal.HOSTNAME_NOT_GRANTED:
        return (
            f"hostname {hostname} is not granted to namespace {namespace} by any "
            "PublicationPolicy; ask a cluster admin for a grant in spec.hostnames of one"
        )
    if refused.policies:
        return (
            f"hostname {hostname} is granted to more than one namespace (PublicationPolicy "
            f"{', '.join(refused.policies)}), so to none; a cluster admin must keep one grant"
        )
    if refused.pages:
        return (
            f"hostname {hostname} is also claimed by page {', '.join(refused.pages)} of this "
            "namespace, so neither page is served on it; remove it from all pages but one"
        )
    return f"hostname {hostname} is not held"


def say(namespace: str, name: str, outcome: Outcome) -> Said:
    """What the Published condition says of a page's outcome: what is served, what to fix."""
    if outcome.visibility is Visibility.UNPUBLISHED:
        return Said(
            False,
            Reason.UNPUBLISHED,
            "spec.visibility is Unpublished: the page server does not serve the page; set "
            "spec.visibility: Public to publish it",
        )
    served: list[str] = []
    problems: list[str] = []
    if outcome.by_path:
        served.append(f"by path /{namespace}/{name}/")
    else:
        problems.append(
            f"namespace {namespace} may not publish by path: no PublicationPolicy lists it in "
            "spec.namespaces"
        )
    served.extend(f"on host {hostname}" for hostname in outcome.held)
    problems.extend(_hostname_problem(namespace, refused) for refused in outcome.refused)
    audience = " to authenticated audiences" if outcome.visibility is Visibility.PRIVATE else ""
    summary = f"served{audience} " + ", ".join(served) if served else "not served"
    if outcome.refused:
        reason = _REASONS[outcome.refused[0].reason]
        return Said(False, reason, f"{summary}; " + "; ".join(problems))
    if not outcome.published:
        return Said(False, Reason.NAMESPACE_NOT_ALLOWED, f"{summary}; " + "; ".join(problems))
    detail = f" ({problems[0]})" if problems else ""
    return Said(True, Reason.PUBLISHED, summary + detail)


def published_condition(
    said: Said, generation: int, now: datetime, existing: Any
) -> dict[str, Any]:
    """The `Published` condition, keeping lastTransitionTime while its status holds."""
    return render_condition(
        PUBLISHED, said.published, said.reason, said.message, generation, now, existing
    )
