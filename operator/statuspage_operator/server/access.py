"""Who may see what of a page: everyone all of a public page; of a Private page, what the
audiences a request matches see (domain/audience.py), or a feed token's audience.

The identity comes from a trusted proxy only (server/identity.py). What a request may see is also
what its renderings are cached under, so nothing rendered for one audience set reaches another;
private responses are marked for no shared cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from statuspage_operator.api.feed_tokens import sight_of_token
from statuspage_operator.api.objects import audiences_of
from statuspage_operator.domain.audience import EVERYTHING, Audience, Identity, Sight, sight_of
from statuspage_operator.domain.publication import Visibility
from statuspage_operator.server.cache import Key

FEEDS = frozenset({"history.atom", "history.rss"})
PRIVATE_CACHE_CONTROL = "private, max-age=10"
PRIVATE_FEED_CACHE_CONTROL = "private, max-age=60"
MAX_HELD = 10_000

Page = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Access:
    """What one request may see of a page, and whether the page is private."""

    sight: Sight = EVERYTHING
    private: bool = False

    @property
    def cache_key(self) -> tuple[str, ...]:
        """What renderings for this access are cached under: never shared across audiences."""
        return ("private", *self.sight.audiences) if self.private else ("public",)


PUBLIC = Access()


def private_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """A response's headers for a private page: no shared cache, no cross-origin reader."""
    kept = {k: v for k, v in headers.items() if not k.startswith("Access-Control-")}
    feed = headers.get("Content-Type", "").startswith(("application/atom", "application/rss"))
    kept["Cache-Control"] = PRIVATE_FEED_CACHE_CONTROL if feed else PRIVATE_CACHE_CONTROL
    return kept


@dataclass
class Gate:
    """Decides access; holds each page's parsed audiences and each identity's sight of it, for
    as long as the page object they were computed from is the one stored."""

    _audiences: dict[Key, tuple[Page, tuple[Audience, ...]]] = field(default_factory=dict)
    _sights: dict[tuple[Key, Identity], tuple[Page, Sight | None]] = field(default_factory=dict)

    def access(
        self,
        key: Key,
        page: Page | None,
        identity: Identity,
        token: str | None,
        feed_keys: tuple[bytes, ...],
    ) -> Access | None:
        """What a request may see of the page `key`; None: nothing (no page, or not for it).

        `token` is a private feed's token (given only for feeds): when present, it alone decides.
        """
        if page is None:
            return None
        if page["spec"].get("visibility") != Visibility.PRIVATE:
            return PUBLIC
        audiences = self._audiences_of(key, page)
        if token is not None:
            sight = sight_of_token(feed_keys, key[0], key[1], audiences, token)
        else:
            sight = self._sight(key, page, audiences, identity)
        return None if sight is None else Access(sight, private=True)

    def _audiences_of(self, key: Key, page: Page) -> tuple[Audience, ...]:
        # The cache replaces a page's object when it changes: identity says it is the same.
        held = self._audiences.get(key)
        if held is None or held[0] is not page:
            held = (page, audiences_of(page["spec"].get("audiences")))
            self._audiences[key] = held
        return held[1]

    def _sight(
        self, key: Key, page: Page, audiences: tuple[Audience, ...], who: Identity
    ) -> Sight | None:
        # A union of large audiences is worth computing once per page object and identity.
        held = self._sights.get((key, who))
        if held is not None and held[0] is page:
            return held[1]
        if len(self._sights) >= MAX_HELD:
            self._sights.clear()
        sight = sight_of(audiences, who)
        self._sights[(key, who)] = (page, sight)
        return sight
