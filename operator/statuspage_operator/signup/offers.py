"""Which pages offer the "Get updates" form, and its choices, from the watched objects.

A page offers the form only where the page server would show it to anyone: published (by path
or on a hostname, domain/publication.py's decision, made by server/cache.py as the page server
makes it), visibility Public, and `spec.subscriptions.byEmail` true. The choices are the page's
components in page order (domain/order.py), a group as one choice (api/signup_form.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from statuspage_operator.api.names import Kind
from statuspage_operator.api.objects import ComponentObject, PageObject
from statuspage_operator.api.signup_form import Choice, Shown, choices
from statuspage_operator.api.specs import PageSubscriptionsSpec
from statuspage_operator.domain.order import page_order
from statuspage_operator.domain.publication import Visibility
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
    if spec.get("visibility") != Visibility.PUBLIC:
        return None
    subscriptions = subscriptions_of(spec)
    if subscriptions is None or not subscriptions.by_email:
        return None
    components = sorted(
        (ComponentObject.read(obj) for obj in cache.members_of(key, Kind.COMPONENT)),
        key=page_order,
    )
    shown = [Shown(c.name, c.display_name, c.group) for c in components]
    return Offer(
        namespace=namespace,
        page=page,
        title=PageObject.read(raw).title,
        options=tuple(choices(shown)),
        max_pending=subscriptions.max_pending,
        max_subscribers=subscriptions.max_subscribers,
    )


def ready(cache: Cache) -> bool:
    """Whether every watched kind has been listed."""
    return cache.synced >= set(WATCHED)
