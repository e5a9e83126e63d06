"""News: what a notice recorded in an object's status tells its page's subscribers.

A notice (api/notices.py) says what changed in the words of an Event; news (api/webhook.py's
`News`) is the same change as subscribers read it: the window's title and occurrence, the
incident's update and impact, the component's old and new status, in the page's own words (its
title, time zone and link: `PageFacts`). Pure: the object's body, the notice and the page's facts
in, news or None (the notice is for Events only, or its source keeps subscribers out of it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from statuspage_operator.api.conditions import Reason
from statuspage_operator.api.names import Kind
from statuspage_operator.api.notices import Notice
from statuspage_operator.api.specs import PageSpec, parse, parse_duration
from statuspage_operator.api.times import parse_time
from statuspage_operator.api.webhook import News, local
from statuspage_operator.domain.audience import Audience, audience_named
from statuspage_operator.domain.notifications import (
    PER_OBJECT_HOURLY,
    NotificationEvent,
    allowed_by_source,
    event_of,
)


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What a page says of itself to subscribers, and its windows' default reminder."""

    title: str
    time_zone: str
    url: str | None
    remind_before: timedelta | None
    audiences: tuple[Audience, ...] = ()

    @classmethod
    def unknown(cls, page: str) -> PageFacts:
        """A page not known (yet): its name, in UTC."""
        return cls(page, "UTC", None, None)


def page_facts(spec: Mapping[str, Any] | None) -> PageFacts:
    """A StatusPage's facts from its spec; InvalidSpecError naming the field that is wrong."""
    parsed = parse(PageSpec, dict(spec or {}))
    remind = parse_duration("spec.remindBefore", parsed.remind_before)
    audiences = tuple(a.audience() for a in parsed.audiences)
    return PageFacts(parsed.title, parsed.time_zone, parsed.url, remind, audiences)


def for_audience(news: News, facts: PageFacts, audience: str | None) -> News | None:
    """The news as a subscriber of an audience hears it (domain/audience.py); None: nothing."""
    if audience is None:
        return news
    sight = audience_named(facts.audiences, audience)
    if sight is None or not sight.concerns(news.components):
        return None
    return replace(news, components=sight.shown(news.components))


def news_of(
    kind: Kind, body: Mapping[str, Any], notice: Notice, page: str, facts: PageFacts
) -> News | None:
    """The news a notice of a window, incident or component is; None if it is none."""
    meta = body.get("metadata", {})
    spec: Mapping[str, Any] = body.get("spec") or {}
    common: dict[str, Any] = {
        "page": page,
        "page_title": facts.title,
        "time_zone": facts.time_zone,
        "page_url": facts.url,
        "object_uid": str(meta.get("uid", "")),
        "name": str(meta.get("name", "")),
    }
    if kind is Kind.WINDOW:
        return _window_news(spec, notice, common)
    if kind is Kind.INCIDENT:
        return _incident_news(spec, body.get("status") or {}, notice, common)
    if kind is Kind.COMPONENT and notice.reason == Reason.COMPONENT_STATUS_CHANGED:
        old, _, new = notice.message.partition(" -> ")
        return News(
            NotificationEvent.COMPONENT_STATUS_CHANGED,
            title=str(spec.get("displayName") or common["name"]),
            at=notice.at,
            components=(str(common["name"]),),
            status=new or None,
            old_status=old or None,
            **common,
        )
    return None


def _window_news(spec: Mapping[str, Any], notice: Notice, common: dict[str, Any]) -> News | None:
    event = event_of(notice.reason)
    if event is None or not allowed_by_source(event, bool(spec.get("notifySubscribers"))):
        return None
    start = end = None
    # The occurrence is the notice's subject (recurring windows); its length is the first's.
    with contextlib.suppress(KeyError, ValueError, TypeError):
        first_start = parse_time(str(spec["startTime"]))
        duration = parse_time(str(spec["endTime"])) - first_start
        start = parse_time(notice.subject) if notice.subject else first_start
        end = start + duration
    return News(
        event,
        title=str(spec.get("title", common["name"])),
        at=notice.at,
        components=tuple(spec.get("components") or ()),
        start=start,
        end=end,
        description=spec.get("description"),
        **common,
    )


def _incident_news(
    spec: Mapping[str, Any], status: Mapping[str, Any], notice: Notice, common: dict[str, Any]
) -> News | None:
    if spec.get("draft") is True:
        # A draft is no one's news (plans/incidents.py records none; this is the second line).
        return None
    if notice.reason == Reason.INCIDENT_PUBLISHED:
        return _published_news(spec, status, notice, common)
    # The notice's subject is the index of the update it announces, in the stamped timeline.
    timeline = status.get("timeline") or []
    index = int(notice.subject) if notice.subject.isdigit() else None
    entry = timeline[index] if index is not None and index < len(timeline) else None
    if notice.reason == Reason.INCIDENT_UPDATED and entry is None:
        return None
    update_status = str(entry.get("status")) if entry else None
    event = event_of(notice.reason, index, update_status)
    on = spec.get("notifySubscribers", True) is not False
    if event is None or entry is None or not allowed_by_source(event, on):
        return None
    return News(
        event,
        title=str(spec.get("title", common["name"])),
        at=parse_time(str(entry.get("at"))) if entry.get("at") else notice.at,
        components=tuple(str(c.get("name")) for c in spec.get("components") or ()),
        status=update_status,
        message=str(entry.get("message") or ""),
        impact=str(spec.get("impact") or "Minor"),
        **common,
    )


def _published_news(
    spec: Mapping[str, Any], status: Mapping[str, Any], notice: Notice, common: dict[str, Any]
) -> News | None:
    """A draft published: its creation, with the updates stamped until then."""
    if spec.get("notifySubscribers", True) is False:
        return None
    so_far = []
    for entry in status.get("timeline") or ():
        with contextlib.suppress(KeyError, ValueError, TypeError):
            if parse_time(str(entry["at"])) <= notice.at:
                so_far.append((str(entry.get("status")), str(entry.get("message") or "")))
    if not so_far:
        return None
    message = (
        so_far[0][1]
        if len(so_far) == 1
        else "\n".join(f"{phase}: {text}" for phase, text in so_far)
    )
    return News(
        NotificationEvent.INCIDENT_CREATED,
        title=str(spec.get("title", common["name"])),
        at=notice.at,
        components=tuple(str(c.get("name")) for c in spec.get("components") or ()),
        status=so_far[-1][0],
        message=message,
        impact=str(spec.get("impact") or "Minor"),
        **common,
    )


def digest(latest: News, held: int, since: datetime) -> News:
    """The latest news standing for `held` earlier ones about the same object since `since`."""
    if held <= 0:
        return latest
    updates = "update" if held == 1 else "updates"
    note = (
        f"{held} earlier {updates} about {latest.title} since "
        f"{local(since, latest.time_zone)} were held back (at most {PER_OBJECT_HOURLY} "
        "notifications an hour about one thing); this is the latest."
    )
    return replace(latest, message=f"{note}\n{latest.message}" if latest.message else note)
