"""`history.atom` and `history.rss`: incident updates and maintenance, newest first (feedgen).

One entry per incident update and per maintenance step (scheduled, started, completed) that has
happened; entries keep stable ids, so readers show each once. feedgen escapes every text.

Any title is served: characters XML 1.0 cannot carry (most C0 controls, lone surrogates, U+FFFE
and U+FFFF) and the C1 controls are dropped, never a 500. Texts are plain text in both formats:
Atom says so (`type="text"`); RSS readers render `<description>` as HTML, so the message is
HTML-escaped there (a `<b>` shows as `<b>`), and there is no `content:encoded`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime

from feedgen.feed import FeedGenerator

from statuspage_operator.server.shown import PageView

FEED_LIMIT = 100

# XML 1.0's Char production leaves these out (\t, \n, \r stay); C1 controls are allowed but mean
# nothing in a title; lone surrogates cannot even be encoded as UTF-8.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """`text` without the characters an XML 1.0 document cannot hold."""
    return _NOT_XML.sub("", text)


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


def _feed(view: PageView, for_rss: bool) -> FeedGenerator:
    feed = FeedGenerator()
    url = xml_text(view.url)
    feed.id(f"urn:statuspage:{view.id}")
    feed.title(xml_text(f"{view.title} status history"))
    feed.link(href=url, rel="alternate")
    feed.description(xml_text(view.description or f"Incidents and maintenance of {view.title}"))
    feed.updated(view.updated)
    feed.language("en")
    for entry in reversed(_entries(view)):  # feedgen puts each new entry first
        item = feed.add_entry()
        item.id(f"urn:statuspage:{view.id}:{entry.id}")
        item.guid(f"urn:statuspage:{view.id}:{entry.id}", permalink=False)
        item.title(xml_text(entry.title))
        item.link(href=url)
        body = xml_text(entry.body)
        if for_rss:
            item.description(html.escape(body, quote=False))
        else:
            item.content(body, type="text")
        item.published(entry.at)
        item.updated(entry.at)
    return feed


def atom(view: PageView) -> bytes:
    """The Atom feed."""
    result: bytes = _feed(view, for_rss=False).atom_str(pretty=False)
    return result


def rss(view: PageView) -> bytes:
    """The RSS 2.0 feed."""
    result: bytes = _feed(view, for_rss=True).rss_str(pretty=False)
    return result
