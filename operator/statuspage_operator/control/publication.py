"""The operator's copy of what publication is decided from: every policy and every page's claim.

Fed by the page and PublicationPolicy event handlers. The decision (domain/publication.py) is made
again after each change that can alter it, and the pages whose outcome changed are returned so
their status (the Published condition) is written anew: a policy change re-evaluates every page,
a page's change its namespace's hostname claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from statuspage_operator.domain.publication import (
    Claim,
    Key,
    Outcome,
    Policy,
    Publication,
    decide,
)


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """A policy held, by uid: what the sweep compares with what exists."""

    uid: str


@dataclass
class Publications:
    """Policies by name, claims by page, and the decision they make (kept up to date)."""

    policies: dict[str, Policy] = field(default_factory=dict)
    # ("", name) -> uid of each policy held, for the sweep (control/sweep.py).
    entries: dict[Key, PolicyEntry] = field(default_factory=dict)
    claims: dict[Key, Claim] = field(default_factory=dict)
    decision: Publication = field(default_factory=Publication)

    def outcome(self, key: Key) -> Outcome:
        """What the decision says of a page."""
        return self.decision.outcome(key)

    def set_policy(self, name: str, policy: Policy | None, uid: str = "") -> set[Key]:
        """A policy appeared, changed or went (None); returns the pages whose outcome changed."""
        if policy is None:
            self.entries.pop(("", name), None)
        else:
            self.entries[("", name)] = PolicyEntry(uid)
        if self.policies.get(name) == policy:
            return set()
        if policy is None:
            self.policies.pop(name, None)
        else:
            self.policies[name] = policy
        return self._decide()

    def set_claim(self, key: Key, claim: Claim | None) -> set[Key]:
        """A page appeared, changed or went (None); returns the pages whose outcome changed."""
        if self.claims.get(key) == claim:
            return set()
        if claim is None:
            self.claims.pop(key, None)
        else:
            self.claims[key] = claim
        return self._decide()

    def refresh(self) -> None:
        """Decide from what was put into `policies` and `claims` directly (at start-up)."""
        self._decide()

    def _decide(self) -> set[Key]:
        old = self.decision
        self.decision = decide(self.policies.values(), self.claims.values())
        keys = set(old.outcomes) | set(self.decision.outcomes)
        return {key for key in keys if old.outcome(key) != self.decision.outcome(key)}
