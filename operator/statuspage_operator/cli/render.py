"""Plain-text output of `status` and `history`: pure functions of parsed objects and `now`.

Times are shown in the page's time zone with the zone's abbreviation (`2026-05-10 14:00 CEST`),
to the minute. The output is stable (everything is sorted) so that people can diff it and scripts
can grep it; it is ASCII apart from what users wrote themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo

from statuspage_operator.cli.history import Event, unresolved
from statuspage_operator.cli.model import Component, Incident, Page, Span, Window
from statuspage_operator.domain.order import layout

INDENT = "  "
NONE = f"{INDENT}none"


def humanize(value: str) -> str:
    """`DegradedPerformance` -> `Degraded Performance`."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", value)


def format_instant(instant: datetime, zone: tzinfo) -> str:
    """`2026-05-10 14:00 CEST`: local date and time, to the minute, with the abbreviation."""
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def format_span(span: Span, zone: tzinfo) -> str:
    """`2026-05-10 14:00 to 16:00 CEST`, or both ends in full across days or a DST change."""
    start, end = span.start.astimezone(zone), span.end.astimezone(zone)
    if (start.date(), start.tzname()) == (end.date(), end.tzname()):
        return f"{start:%Y-%m-%d %H:%M} to {end:%H:%M %Z}"
    return f"{format_instant(start, zone)} to {format_instant(end, zone)}"


def _status_text(status: str | None, source: str | None = None) -> str:
    if not status:
        return "Unknown (not reconciled yet)"
    return humanize(status) + (" (from alerts)" if source == "Alerts" else "")


def _uptime_text(component: Component, now: datetime, zone: tzinfo) -> str:
    percent = component.uptime(now, zone)
    return "" if percent is None else f"{percent:6.2f}% uptime (90 days)"


def _component_lines(components: Sequence[Component], now: datetime, zone: tzinfo) -> list[str]:
    rows: list[tuple[str, str, str]] = []
    for group, members in layout(components):
        if group is not None:
            rows.append((f"{INDENT}{group}", "", ""))
        prefix = INDENT * (2 if group is not None else 1)
        rows.extend(
            (
                f"{prefix}{c.display_name}",
                _status_text(c.status, c.status_from),
                _uptime_text(c, now, zone),
            )
            for c in members
        )
    width = max((len(label) for label, status, _ in rows if status), default=0)
    status_width = max((len(status) for _, status, up in rows if up), default=0)
    return [
        f"{label:<{width}}  {status:<{status_width}}  {up}".rstrip() for label, status, up in rows
    ] or [NONE]


def alert_lines(component: Component, zone: tzinfo) -> list[str]:
    """A component's firing alerts: how many, what they do (the condition), each one listed."""
    count = component.alerts_firing or 0
    said = f": {component.alerts_reason}" if component.alerts_reason else ""
    if component.alerts_message:
        said += f": {_message(component.alerts_message)}"
    lines = [f"{INDENT}{component.display_name}: {count} firing{said}"]
    for alert in component.listed:
        since = f", since {format_instant(alert.since, zone)}" if alert.since else ""
        link = f" {alert.url}" if alert.url else ""
        what = _message(alert.summary) or f"alert {alert.fingerprint}"
        lines.append(f"{INDENT * 2}{alert.severity or 'no severity'}{since}: {what}{link}")
    return lines


def _affects(names: Sequence[str], shown: Mapping[str, str]) -> str:
    return ", affects " + ", ".join(shown.get(n, n) for n in names) if names else ""


def _message(text: str) -> str:
    """A user's message on one line (a responder's terminal, not a web page)."""
    return " ".join(text.split())


def incident_lines(incident: Incident, zone: tzinfo, shown: Mapping[str, str]) -> list[str]:
    """An open incident: title, phase, impact, since when, what it affects, its latest update."""
    since = f", since {format_instant(incident.opened, zone)}" if incident.opened else ""
    draft = " [DRAFT: not public; kubectl statuspage publish]" if incident.draft else ""
    lines = [
        f"{INDENT}{incident.title} (statusincident/{incident.name}){draft}",
        f"{INDENT * 2}{incident.phase}, impact {incident.impact}{since}"
        + _affects(incident.components, shown),
    ]
    latest = incident.latest
    if latest is not None:
        at = f" at {format_instant(latest.at, zone)}" if latest.at else ""
        lines.append(f"{INDENT * 2}Latest update: {latest.status}{at}: {_message(latest.message)}")
    return lines


def _window_lines(window: Window, span: Span, zone: tzinfo, shown: Mapping[str, str]) -> list[str]:
    return [
        f"{INDENT}{window.title} (maintenancewindow/{window.name})",
        f"{INDENT * 2}{format_span(span, zone)}" + _affects(window.components, shown),
    ]


def _section(title: str, blocks: Iterable[list[str]]) -> list[str]:
    lines = [line for block in blocks for line in block]
    return ["", f"{title}:", *(lines or [NONE])]


def _alerts_section(components: Sequence[Component], zone: tzinfo) -> list[str]:
    """Firing alerts, only when some component has some (a page without alerts is unchanged)."""
    firing = sorted((c for c in components if c.alerts_firing or c.listed), key=lambda c: c.name)
    return _section("Firing alerts", (alert_lines(c, zone) for c in firing)) if firing else []


PLANNED = (
    "Planned: maintenance as scheduled now (exact unless windows change before then);"
    " incidents as they are now."
)


def _as_of(page: Page, now: datetime, label: str = "As of") -> str:
    zone = page.zone_name if page.zone_known else f"{page.zone_name} is unknown here, times in UTC"
    return f"{label} {format_instant(now, page.zone)} ({zone})"


def render_status(
    page: Page,
    components: Sequence[Component],
    incidents: Sequence[Incident],
    windows: Sequence[Window],
    now: datetime,
    planned: bool = False,
) -> str:
    """The page as text: rollup, components by group, open incidents and maintenance.

    Open incidents come newest first; maintenance in progress and upcoming by start time.
    `planned`: the page as it will be at `now`, a time to come (`status --at`).
    """
    zone = page.zone
    shown = {c.name: c.display_name for c in components}
    if page.description is None:
        rollup = "Status: unknown (the operator has not reported yet)"
    else:
        rollup = f"Status: {page.description} (indicator: {page.indicator})"
    header = [_as_of(page, now, "At"), PLANNED] if planned else [_as_of(page, now)]
    in_progress = sorted(
        ((w, w.current) for w in windows if w.phase == "InProgress" and w.current),
        key=lambda pair: (pair[1].start, pair[1].end, pair[0].name),
    )
    upcoming = sorted(
        ((w, w.next) for w in windows if w.phase != "Cancelled" and w.next),
        key=lambda pair: (pair[1].start, pair[1].end, pair[0].name),
    )
    lines = [
        page.title,
        rollup,
        *header,
        "",
        "Components:",
        *_component_lines(components, now, zone),
        *_alerts_section(components, zone),
        *_section(
            "Open incidents", (incident_lines(i, zone, shown) for i in unresolved(incidents))
        ),
        *_section(
            "Maintenance in progress",
            (_window_lines(w, span, zone, shown) for w, span in in_progress),
        ),
        *_section(
            "Upcoming maintenance", (_window_lines(w, span, zone, shown) for w, span in upcoming)
        ),
    ]
    return "\n".join(lines) + "\n"


def _event_row(event: Event, zone: tzinfo) -> tuple[str, str, str, str]:
    if event.span is not None:
        detail = f" ({format_span(event.span, zone)})"
    elif event.impact is not None:
        detail = f" (impact {event.impact})"
    else:
        detail = ""
    return (
        format_instant(event.at, zone),
        event.outcome,
        f"{event.kind}/{event.name}",
        f"{event.title}{detail}",
    )


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return [NONE]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    # Every column padded but the last, which is free text.
    return [
        INDENT
        + "".join(f"{cell:<{w}}  " for cell, w in zip(row[:-1], widths, strict=True))
        + row[-1]
        for row in rows
    ]


def render_history(
    page: Page,
    days: int,
    since: datetime,
    open_incidents: Sequence[Incident],
    events: Sequence[Event],
    now: datetime,
) -> str:
    """Open incidents (however old), then what was resolved or ended since `since`."""
    zone = page.zone
    span = "today" if days == 1 else f"the last {days} days"
    lines = [
        page.title,
        f"History of {span}: since {format_instant(since, zone)}",
        _as_of(page, now),
        *_section("Unresolved incidents", (incident_lines(i, zone, {}) for i in open_incidents)),
        "",
        "Resolved incidents and completed or cancelled maintenance, newest first:",
        *_table([_event_row(event, zone) for event in events]),
    ]
    return "\n".join(lines) + "\n"
