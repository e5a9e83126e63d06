"""The one order of a page's components, and where groups sit among them.

Components are listed by `spec.position` (those without one last), then by the name shown
(casefolded, so `api` and `API` sort together in every language), then by name, which is
unique. A group is only a label: it sits where its first member would, and its members follow
in the same order. Groups and ungrouped components interleave, as on a Statuspage page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar


class Placed(Protocol):
    """What the order reads of a component."""

    @property
    def name(self) -> str:
        """The object's name, unique on the page."""
        ...

    @property
    def display_name(self) -> str:
        """The name shown."""
        ...

    @property
    def position(self) -> int | None:
        """`spec.position`, if set."""
        ...

    @property
    def group(self) -> str | None:
        """`spec.group`, if set."""
        ...


P = TypeVar("P", bound=Placed)


def page_order(component: Placed) -> tuple[bool, int, str, str]:
    """The sort key: position (missing last), then the name shown casefolded, then the name."""
    position = component.position
    return position is None, position or 0, component.display_name.casefold(), component.name


def layout(components: Iterable[P]) -> list[tuple[str | None, list[P]]]:
    """Blocks in page order: an ungrouped component alone (None), or a group with its members."""
    blocks: list[tuple[str | None, list[P]]] = []
    groups: dict[str, list[P]] = {}
    for component in sorted(components, key=page_order):
        group = component.group
        if not group:
            blocks.append((None, [component]))
        elif group in groups:
            groups[group].append(component)
        else:
            groups[group] = [component]
            blocks.append((group, groups[group]))
    return blocks
