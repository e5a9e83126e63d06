"""history.atom and history.rss carry any title and message as plain text (issue 18 part 7)."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuspage_operator.api.names import Kind
from statuspage_operator.server.cache import Cache
from statuspage_operator.server.feeds import atom, rss, xml_text
from statuspage_operator.server.shown import PageView
from statuspage_operator.server.view import WindowMemo, build

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ATOM = {"a": "http://www.w3.org/2005/Atom"}
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"


def make(name: str, spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object as the server's cache holds it."""
    metadata = {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": 1}
    metadata["creationTimestamp"] = "2026-06-01T00:00:00Z"
    return {"metadata": metadata, "spec": spec, "status": status or {}}


def page_with(page_title: str, title: str, message: str) -> PageView:
    """A page whose one incident has `title` and one update saying `message`."""
    cache = Cache()
    cache.upsert(Kind.PAGE, make("example", {"title": page_title}))
    cache.upsert(Kind.COMPONENT, make("api", {"page": "example"}))
    update = {"status": "Investigating", "message": message}
    spec = {"page": "example", "title": title, "components": [{"name": "api"}]}
    timeline = [{**update, "at": "2026-11-28T10:00:00Z"}]
    cache.upsert(Kind.INCIDENT, make("i", spec | {"updates": [update]}, {"timeline": timeline}))
    return build(cache, ("default", "example"), NOW, WindowMemo(), "")


def atom_entry(view: PageView) -> tuple[str, str]:
    """(title, content) of the Atom feed's one entry."""
    entry = ET.fromstring(atom(view)).find("a:entry", ATOM)
    assert entry is not None
    content = entry.find("a:content", ATOM)
    assert content is not None
    assert content.get("type") == "text"
    return entry.findtext("a:title", "", ATOM), content.text or ""


def rss_item(view: PageView) -> ET.Element:
    """The RSS feed's one item."""
    item = ET.fromstring(rss(view)).find("channel/item")
    assert item is not None
    return item


@pytest.mark.parametrize(
    "title",
    [
        pytest.param("Disk full\x00", id="nul"),
        pytest.param("Bell\x07 and escape\x1b[31m", id="bell-and-ansi-escape"),
        pytest.param("C1 \x85 next line", id="c1"),
        pytest.param("lone \ud800 surrogate", id="surrogate"),
        pytest.param("not a character \ufffe\uffff", id="non-characters"),
    ],
)
def test_a_control_character_is_dropped_not_a_500(title: str) -> None:
    """Both feeds are well-formed XML and the title keeps everything but the control character."""
    view = page_with("Example", title, "message")
    shown, _ = atom_entry(view)
    assert shown == f"{xml_text(title)}: Investigating"
    assert rss_item(view).findtext("title") == f"{xml_text(title)}: Investigating"
    assert xml_text(title) != title


def test_tab_newline_and_any_script_survive() -> None:
    """Tabs, newlines and non-Latin scripts are text XML carries: kept as they are."""
    title = "Ausfall\tÜberlast — 障害\n🚒 ‮"
    view = page_with("Página", title, "message")
    shown, _ = atom_entry(view)
    assert shown == f"{title}: Investigating"


def test_rss_description_is_text_that_readers_do_not_render_as_html() -> None:
    """A message with markup reaches an RSS reader as text: the HTML it decodes shows the tags."""
    message = '<b>bold</b> & <img src=x onerror="alert(1)">'
    item = rss_item(page_with("Example", "Outage", message))
    # The reader parses <description> as HTML: it must find entities, not elements.
    assert item.findtext("description") == (
        '&lt;b&gt;bold&lt;/b&gt; &amp; &lt;img src=x onerror="alert(1)"&gt;'
    )
    assert item.find(CONTENT) is None


def test_atom_content_is_the_message_as_text() -> None:
    """Atom says type="text": the message is there as it was written."""
    message = "<b>bold</b> & more"
    _, content = atom_entry(page_with("Example", "Outage", message))
    assert content == message


@settings(max_examples=60, deadline=None)
@given(page_title=st.text(max_size=40), title=st.text(max_size=40), message=st.text(max_size=80))
def test_any_text_makes_well_formed_feeds(page_title: str, title: str, message: str) -> None:
    """Whatever the titles and message, both feeds parse and keep every character XML can hold."""
    view = page_with(page_title or "p", title or "t", message or "m")
    shown_title, content = atom_entry(view)
    assert shown_title == f"{xml_text(title or 't')}: Investigating"
    assert content == xml_text(message or "m")
    description = rss_item(view).findtext("description") or ""
    assert description == html.escape(xml_text(message or "m"), quote=False)
