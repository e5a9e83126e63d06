"""Which pages offer the "Get updates" form, and its choices, from the watched objects.

A page offers the form only where the page server shows it: published (by path or on a hostname,
domain/publication.py's decision, made by server/cache.py as the page server makes it), and
`offers_form` (api/signup_form.py: visibility Public, `spec.subscriptions.byEmail` true). The
choices are `choices(shown_of(components))`, as the page server's form shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from statuspage_operator.api.names import Kind
from statuspage_operator.api.objects import ComponentObject, PageObject
from statuspage_operator.api.signup_form import Choice, choices, offers_form, shown_of
from statuspage_operator.api.specs import PageSubscriptionsSpec
from statuspage_operator.server.cache import Cache

# What the form's process watches: pages, their components, and the publication policies.
WATCHED = (Kind.PAGE, Kind.COMPONENT, Kind.POLICY)


@dataclass(frozen=True, slots=True)
class Offer:
    """A page that offers the form: what the form shows and the page's caps."""

    namespace: str
    page: str
    title: str
    options: tuple[Choice, ...]
    max_pending: int
    max_subscribers: int


def subscriptions_of(spec: Mapping[str, Any]) -> PageSubscriptionsSpec | None:
    """`spec.subscriptions`, read tolerantly (None when it cannot be read: no form)."""
    try:
        return PageSubscriptionsSpec.model_validate(spec.get("subscriptions") or {})
    except ValidationError:
        return None


def offer(cache: Cache, namespace: str, page: str) -> Offer | None:
    """What the page offers, or None: unknown, unpublished, not Public, or byEmail not true."""
    key = (namespace, page)
    raw = cache.page(key)
    if raw is None or not cache.outcome(key).published:
        return None
    spec = raw.get("spec") or {}
    subscriptions = subscriptions_of(spec)
    if not offers_form(spec) or subscriptions is None:
        return None
    components = [ComponentObject.read(obj) for obj in cache.members_of(key, Kind.COMPONENT)]
    return Offer(
        namespace=namespace,
        page=page,
        title=PageObject.read(raw).title,
        options=tuple(choices(shown_of(components))),
        max_pending=subscriptions.max_pending,
        max_subscribers=subscriptions.max_subscribers,
    )


def ready(cache: Cache) -> bool:
    """Whether every watched kind has been listed."""
    return cache.synced >= set(WATCHED)
