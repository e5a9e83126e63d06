"""The HTML page: server-rendered with Jinja2 (autoescaped), no JavaScript, one inline style sheet.

The style sheet is inline so that the page is one request; the Content-Security-Policy allows
exactly that sheet by its hash and nothing else (no scripts, no style attributes, no frames).
A page with the "Get updates" form may post it to statuspage-signup's origin only
(`form-action <origin>`); every other page may post nowhere (`form-action 'none'`).
Uptime bars are inline SVG: one patterned rectangle draws the up days, and only the days with
trouble (or no data) get their own rectangle, with a tooltip; so a page of 100 components stays
small. Status is never told by colour alone: every status has a word and a symbol.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta
from importlib import resources

import jinja2
from markupsafe import Markup

from statuspage_operator.api.signup_form import FIELD
from statuspage_operator.api.subscription_tokens import MAX_ADDRESS
from statuspage_operator.domain.rollup import Indicator
from statuspage_operator.domain.status import ComponentStatus
from statuspage_operator.domain.uptime import DayBar, Uptime
from statuspage_operator.server.shown import ComponentView, MaintenanceStatus, PageView

HISTORY_DAYS = 14
_BAR = 5  # viewBox units per day: 4 of bar, 1 of gap

LABELS = {
    ComponentStatus.OPERATIONAL: ("\u2714", "Operational"),
    ComponentStatus.DEGRADED_PERFORMANCE: ("\u25b2", "Degraded performance"),
    ComponentStatus.PARTIAL_OUTAGE: ("\u25a0", "Partial outage"),
    ComponentStatus.MAJOR_OUTAGE: ("\u2716", "Major outage"),
    ComponentStatus.UNDER_MAINTENANCE: ("\u2692", "Under maintenance"),
}
INDICATOR_ICONS = {
    Indicator.NONE: "\u2714",
    Indicator.MINOR: "\u25b2",
    Indicator.MAJOR: "\u25a0",
    Indicator.CRITICAL: "\u2716",
    Indicator.MAINTENANCE: "\u2692",
}

_TEMPLATES = resources.files("statuspage_operator.server") / "templates"
CSS = (_TEMPLATES / "page.css").read_text(encoding="utf-8").strip()
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
_NETLOC = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?|\[[0-9a-f:.]+\])(:\d{1,5})?$")


def content_security_policy(form_action: str = "'none'") -> str:
    """The HTML page's policy; `form_action` is where a form may post (an origin, or 'none')."""
    return (
        f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; img-src 'self' data:; "
        f"base-uri 'none'; form-action {form_action}; frame-ancestors 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def form_origin(url: str) -> str:
    """The origin of statuspage-signup's public base URL (`--signup-url`), as a CSP source;
    ValueError unless it is an absolute http(s) URL without credentials, query or fragment."""
    scheme, _, rest = url.strip().partition("://")
    scheme = scheme.lower()
    netloc = rest.split("/", 1)[0].lower()
    if scheme not in ("http", "https") or "?" in rest or "#" in rest or not _NETLOC.match(netloc):
        raise ValueError(
            f"--signup-url {url!r}: expected an absolute http(s) URL, e.g. "
            "https://status.example.com/subscriptions"
        )
    return f"{scheme}://{netloc}"


# The patterns the bars use; defined once per document.
_DEFS = Markup(
    '<svg width="0" height="0" aria-hidden="true" focusable="false"><defs>'
    f'<pattern id="up" width="{_BAR}" height="34" patternUnits="userSpaceOnUse">'
    '<rect width="4" height="34" class="b-op"/></pattern>'
    f'<pattern id="nodata" width="{_BAR}" height="34" patternUnits="userSpaceOnUse">'
    '<rect width="4" height="34" class="b-none"/></pattern>'
    "</defs></svg>"
)


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    return f"{max(minutes, 1)} min"


def status_label(status: ComponentStatus) -> Markup:
    """A status as symbol and words, coloured by class."""
    icon, words = LABELS[status]
    return Markup('<span class="st s-{}"><span aria-hidden="true">{}</span> {}</span>').format(
        status.value, icon, words
    )


def _day_title(bar: DayBar) -> str:
    if bar.uptime is None:
        return f"{bar.day.isoformat()}: no data"
    parts = [
        f"{LABELS[status][1].lower()} {_duration(spent)}"
        for status, spent in sorted(bar.by_status.items(), key=lambda item: -item[1])
    ]
    return f"{bar.day.isoformat()}: {100 * bar.uptime:.2f}% up; " + ", ".join(parts)


def bars(component: ComponentView) -> Markup:
    """The daily uptime bars of a component as inline SVG."""
    days = component.uptime.days
    width = len(days) * _BAR
    percent = component.uptime.percent
    summary = "no data yet" if percent is None else f"{percent:.2f}% uptime over {len(days)} days"
    troubled = sum(1 for bar in days if bar.worst not in (None, ComponentStatus.OPERATIONAL))
    label = f"{component.display_name}: {summary}, {troubled} days with trouble"
    no_data = next((i for i, bar in enumerate(days) if bar.uptime is not None), len(days))
    parts = [
        Markup(
            '<svg class="bars" viewBox="0 0 {} 34" preserveAspectRatio="none" role="img" '
            'aria-label="{}"><rect x="{}" width="{}" height="34" fill="url(#up)"/>'
        ).format(width, label, no_data * _BAR, width - no_data * _BAR)
    ]
    if no_data:
        parts.append(
            Markup(
                '<rect width="{}" height="34" fill="url(#nodata)"><title>no data before {}'
                "</title></rect>"
            ).format(no_data * _BAR, days[min(no_data, len(days) - 1)].day.isoformat())
        )
    for index, bar in enumerate(days[no_data:], start=no_data):
        if bar.worst in (None, ComponentStatus.OPERATIONAL):
            continue
        assert bar.worst is not None
        parts.append(
            Markup(
                '<rect x="{}" width="4" height="34" class="b-{}"><title>{}</title></rect>'
            ).format(index * _BAR, bar.worst.value, _day_title(bar))
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


# A component's uptime is the same object from one rendering to the next while its history and
# the minute do not change (server/view.py memoises it): its row is built once per change.
_ROWS: dict[tuple[int, str, ComponentStatus, str | None], tuple[Uptime, Markup]] = {}
_ROWS_HELD = 2200


def row(component: ComponentView) -> Markup:
    """One component: name, status, description, uptime bars and percentage."""
    key = (id(component.uptime), component.display_name, component.status, component.description)
    held = _ROWS.get(key)
    if held is not None and held[0] is component.uptime:
        return held[1]
    found = _row(component)
    if len(_ROWS) >= _ROWS_HELD:
        _ROWS.clear()
    _ROWS[key] = (component.uptime, found)
    return found


def _row(component: ComponentView) -> Markup:
    percent = component.uptime.percent
    shown = "no data yet" if percent is None else f"{percent:.2f}% uptime"
    description = (
        Markup('<div class="meta">{}</div>').format(component.description)
        if component.description
        else Markup("")
    )
    return Markup(
        '<li class="comp"><div class="row"><span class="name">{}</span>{}</div>{}{}'
        '<div class="scale"><span>{} days ago</span><span>{}</span><span>Today</span></div></li>'
    ).format(
        component.display_name,
        status_label(component.status),
        description,
        bars(component),
        len(component.uptime.days),
        shown,
    )


def _local(view: PageView) -> object:
    def local(instant: datetime) -> str:
        return view.local(instant).strftime("%Y-%m-%d %H:%M %Z")

    return local


def _iso(instant: datetime) -> str:
    return instant.isoformat()


class Renderer:
    """The Jinja2 environment, loaded once."""

    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("statuspage_operator.server", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["iso"] = _iso
        self._template = self._env.get_template("page.html.j2")

    def page(self, view: PageView, base: str = "") -> str:
        """The whole page; links are relative to `base` (empty: the page's own directory)."""
        local = _local(view)
        days = len(view.components[0].uptime.days) if view.components else 90
        return self._template.render(
            page=view,
            base=base,
            css=Markup(CSS),
            defs=_DEFS,
            days=days,
            indicator_icon=INDICATOR_ICONS[view.indicator],
            unresolved=view.unresolved,
            active=view.maintenances_in(MaintenanceStatus.IN_PROGRESS),
            upcoming=view.maintenances_in(MaintenanceStatus.SCHEDULED),
            history=view.history(HISTORY_DAYS),
            row=row,
            status=status_label,
            choices_field=FIELD,
            max_address=MAX_ADDRESS,
            local=local,
        )
