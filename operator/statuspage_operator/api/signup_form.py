"""The "Get updates" form's choices: the page server shows them, `statuspage-signup` reads them.

A page's shown components, in page order, become choices: a group is one choice (all of its
components), a component outside a group is one. What a person ticks is kept as component names
(`Subscriber.spec.components`); ticking nothing, or every choice, is no narrowing (None): such a
subscriber hears of every component, new ones included (Statuspage's rule), while one who chose
hears only of what was chosen, a group expanded to its components at the time of the choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from statuspage_operator.domain.order import Placed, page_order
from statuspage_operator.domain.publication import Visibility

# A choice's form value: "c:<component>" or "g:<group>" (the field is repeated, one per tick).
FIELD = "components"
MAX_CHOICES = 100


@dataclass(frozen=True, slots=True)
class Shown:
    """A component as the public page shows it: name, label, group (None outside one)."""

    name: str
    label: str
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """One tick box: its form value, its label, the components it stands for."""

    value: str
    label: str
    components: tuple[str, ...]


def choices(shown: Sequence[Shown]) -> list[Choice]:
    """The choices, in page order: a group where its first component is, the others alone."""
    groups: dict[str, list[str]] = {}
    order: list[tuple[str, str]] = []
    for component in shown:
        if component.group is None:
            order.append(("c", component.name))
            continue
        if component.group not in groups:
            groups[component.group] = []
            order.append(("g", component.group))
        groups[component.group].append(component.name)
    labels = {c.name: c.label for c in shown}
    result = []
    for kind, name in order[:MAX_CHOICES]:
        if kind == "g":
            result.append(Choice(f"g:{name}", name, tuple(groups[name])))
        else:
            result.append(Choice(f"c:{name}", labels[name], (name,)))
    return result


def chosen(options: Sequence[Choice], values: Iterable[str]) -> tuple[str, ...] | None:
    """What ticked values keep (sorted names), None for no narrowing; unknown values are
    ignored (a form from before a component went, or forged)."""
    ticked = set(values)
    picked = [o for o in options if o.value in ticked]
    if not picked or len(picked) == len(options):
        return None
    return tuple(sorted({name for o in picked for name in o.components}))


def ticked(options: Sequence[Choice], components: Iterable[str] | None) -> frozenset[str]:
    """The values to show ticked for a subscription's components (a group when all of its
    components are kept); every choice for no narrowing."""
    if components is None:
        return frozenset(o.value for o in options)
    kept = set(components)
    return frozenset(o.value for o in options if set(o.components) <= kept)


def offers_form(spec: Mapping[str, Any]) -> bool:
    """Whether a page's spec asks for the form: `visibility: Public` and
    `subscriptions.byEmail: true`. Whether it is published where asked is the caller's part
    (the page server serves only what is; statuspage-signup asks the publication decision)."""
    subscriptions = spec.get("subscriptions")
    return (
        spec.get("visibility") == Visibility.PUBLIC
        and isinstance(subscriptions, Mapping)
        and subscriptions.get("byEmail") is True
    )


def shown_of(components: Iterable[Placed]) -> list[Shown]:
    """A page's components (read model objects or the server's views) as the form offers them,
    in page order (domain/order.py); an empty group name is no group."""
    return [
        Shown(c.name, c.display_name, c.group or None) for c in sorted(components, key=page_order)
    ]
