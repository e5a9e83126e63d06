"""Audiences of a Private page: who sees which components, and what concerns them.

A Private page is shown only to authenticated requests. Its `spec.audiences` say which of them
see what (docs/behaviour.md, "Audiences"):

- a request matches an audience when its user is one of the audience's users or one of its
  groups is one of the audience's groups;
- a page with no audiences shows everything to any authenticated user; with audiences, a request
  matching none sees nothing (the page is not there for it);
- a request matching several audiences sees the union; an audience that names no components
  sees them all;
- an incident or window that names no component concerns everyone; one that names components
  concerns an audience that sees at least one of them, and is shown listing only those.

The same rule serves the page server (HTML, JSON, feeds, badge), the derivation
(domain/page.py) and subscriber notifications.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    """Who asks, as the trusted proxy in front says: a user and groups (None: anonymous)."""

    user: str | None = None
    groups: frozenset[str] = frozenset()

    @property
    def authenticated(self) -> bool:
        """Whether a trusted proxy named a user or a group."""
        return bool(self.user) or bool(self.groups)


ANONYMOUS = Identity()


@dataclass(frozen=True, slots=True)
class Audience:
    """One entry of StatusPage.spec.audiences."""

    name: str
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    components: frozenset[str] | None = None  # None: all of the page's components

    def matches(self, identity: Identity) -> bool:
        """Whether the identity belongs to this audience."""
        if identity.user and identity.user in self.users:
            return True
        return not self.groups.isdisjoint(identity.groups)


@dataclass(frozen=True, slots=True)
class Sight:
    """What one request may see of a page: the audiences it matched and their components.

    `components` None means every component. `audiences` names what was matched (empty for a
    page without audiences, or a public one): it is what renderings are cached under.
    """

    audiences: tuple[str, ...] = ()
    components: frozenset[str] | None = None

    @property
    def everything(self) -> bool:
        """Whether nothing is filtered."""
        return self.components is None

    def sees(self, component: str) -> bool:
        """Whether the component is shown."""
        return self.components is None or component in self.components

    def concerns(self, listed: Iterable[str]) -> bool:
        """Whether an incident or window listing these components is shown (none: everyone)."""
        if self.components is None:
            return True
        names = tuple(listed)
        return not names or not self.components.isdisjoint(names)

    def shown(self, listed: Iterable[str]) -> tuple[str, ...]:
        """The listed components that are shown, in their order."""
        return tuple(name for name in listed if self.sees(name))


EVERYTHING = Sight()


def sight_of(audiences: Sequence[Audience], identity: Identity) -> Sight | None:
    """What an identity sees of a Private page with these audiences; None: nothing at all."""
    if not identity.authenticated:
        return None
    if not audiences:
        return EVERYTHING
    matched = [audience for audience in audiences if audience.matches(identity)]
    return union(matched)


def union(matched: Sequence[Audience]) -> Sight | None:
    """What the matched audiences see together; None when none matched."""
    if not matched:
        return None
    names = tuple(sorted({audience.name for audience in matched}))
    if any(audience.components is None for audience in matched):
        return Sight(names, None)
    seen: frozenset[str] = frozenset().union(*(audience.components or () for audience in matched))
    return Sight(names, seen)


def audience_named(audiences: Sequence[Audience], name: str) -> Sight | None:
    """What the audience called `name` sees (for a feed token); None if there is no such one."""
    return union([audience for audience in audiences if audience.name == name])
