"""`history.atom` and `history.rss`: incident updates and maintenance, newest first (feedgen).

One entry per incident update and per maintenance step (scheduled, started, completed) that has
happened; entries keep stable ids, so readers show each once. feedgen escapes every text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feedgen.feed import FeedGenerator

from statuspage_operator.server.shown import PageView

FEED_LIMIT = 100


@dataclass(frozen=True, slots=True)
class _Entry:
    id: str
    title: str
    body: str
    at: datetime


def _entries(view: PageView) -> list[_Entry]:
    found: list[_Entry] = []
    for incident in view.incidents:
        for update in incident.updates:
            title = f"{incident.title}: {update.status}"
            found.append(_Entry(update.id, title, update.message, update.at))
    announced: set[str] = set()
    for maintenance in view.maintenances:
        for step in maintenance.updates:
            if step.at > view.now:
                continue
            # A recurring window is announced once, not once per occurrence shown.
            if step.status == "scheduled":
                if maintenance.name in announced:
                    continue
                announced.add(maintenance.name)
            label = step.status.replace("_", " ").capitalize()
            window = (
                f"{view.local(maintenance.start):%Y-%m-%d %H:%M} to "
                f"{view.local(maintenance.end):%Y-%m-%d %H:%M %Z}"
            )
            body = f"{step.message} ({window})"
            found.append(
                _Entry(step.id, f"Maintenance: {maintenance.title}: {label}", body, step.at)
            )
    found.sort(key=lambda entry: (entry.at, entry.id), reverse=True)
    return found[:FEED_LIMIT]


def _feed(view: PageView) -> FeedGenerator:
    feed = FeedGenerator()
    feed.id(f"urn:statuspage:{view.id}")
    feed.title(f"{view.title} status history")
    feed.link(href=view.url, rel="alternate")
    feed.description(view.description or f"Incidents and maintenance of {view.title}")
    feed.updated(view.updated)
    feed.language("en")
    for entry in reversed(_entries(view)):  # feedgen puts each new entry first
        item = feed.add_entry()
        item.id(f"urn:statuspage:{view.id}:{entry.id}")
        item.guid(f"urn:statuspage:{view.id}:{entry.id}", permalink=False)
        item.title(entry.title)
        item.link(href=view.url)
        item.description(entry.body)
        item.content(entry.body, type="text")
        item.published(entry.at)
        item.updated(entry.at)
    return feed


def atom(view: PageView) -> bytes:
    """The Atom feed."""
    result: bytes = _feed(view).atom_str(pretty=False)
    return result


def rss(view: PageView) -> bytes:
    """The RSS 2.0 feed."""
    result: bytes = _feed(view).rss_str(pretty=False)
    return result
