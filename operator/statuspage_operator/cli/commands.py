"""The plugin's commands: each reads or writes through an Api and returns the text to print.

The clock is read once per command, here at the edge; everything below takes `now`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from statuspage_operator.api.feed_tokens import MIN_KEY_BYTES, feed_token, keys_of
from statuspage_operator.api.names import Kind
from statuspage_operator.api.objects import audiences_of
from statuspage_operator.api.times import format_time
from statuspage_operator.cli.client import MERGE_PATCH, Api, Object
from statuspage_operator.cli.errors import CliError
from statuspage_operator.cli.forecast import forecast
from statuspage_operator.cli.history import history_start, past_events, unresolved
from statuspage_operator.cli.model import Component, Incident, Page, Window, on_page
from statuspage_operator.cli.render import render_history, render_status
from statuspage_operator.domain.incidents import IncidentPhase

RESOLVED_MESSAGE = "This incident has been resolved."


def incident_update(
    api: Api, name: str, status: IncidentPhase, message: str, at: datetime | None
) -> str:
    """Append an update to an incident (atomically; the operator derives its phase)."""
    update = {"status": str(status), "message": message}
    if at is not None:
        update["at"] = format_time(at)
    api.append_update(name, update)
    return f"statusincident/{name} updated: {status}"


def incident_resolve(api: Api, name: str, message: str | None) -> str:
    """Append a Resolved update, unless the latest update already is one (a retried command)."""
    incident = Incident.parse(api.get(Kind.INCIDENT, name))
    if incident.latest_spec_status == IncidentPhase.RESOLVED and message is None:
        return f"statusincident/{name} already resolved"
    api.append_update(
        name, {"status": IncidentPhase.RESOLVED, "message": message or RESOLVED_MESSAGE}
    )
    return f"statusincident/{name} resolved"


def publish(api: Api, name: str) -> str:
    """Publish a draft incident: spec.draft false (the operator announces it as created, once)."""
    incident = api.get(Kind.INCIDENT, name)
    if (incident.get("spec") or {}).get("draft") is not True:
        raise CliError(f"statusincident/{name} is not a draft: it is public already")
    api.patch(Kind.INCIDENT, name, {"spec": {"draft": False}}, MERGE_PATCH)
    return f"statusincident/{name} published"


def maintenance_cancel(api: Api, name: str) -> str:
    """Set spec.cancelled: the operator ends a window in progress and restores its components."""
    window = api.get(Kind.WINDOW, name)
    if (window.get("spec") or {}).get("cancelled") is True:
        return f"maintenancewindow/{name} already cancelled"
    if (window.get("status") or {}).get("phase") == "Completed":
        raise CliError(
            f"maintenancewindow/{name} has already completed; there is nothing to cancel"
        )
    api.patch(Kind.WINDOW, name, {"spec": {"cancelled": True}}, MERGE_PATCH)
    return f"maintenancewindow/{name} cancelled"


def _page_objects(api: Api, name: str, *kinds: Kind) -> tuple[Page, list[list[Object]]]:
    """The page and its objects of each kind: listed by spec.page, on the server when it can."""
    page = Page.parse(api.get(Kind.PAGE, name))
    return page, [on_page(api.list(kind, page=name), name) for kind in kinds]


def feed_url(api: Api, name: str, audience: str, secret: str, public_url: str | None) -> str:
    """The private Atom feed URL of one audience of a page (docs/server.md, Private pages)."""
    page = api.get(Kind.PAGE, name)
    spec = page.get("spec") or {}
    if audience not in {a.name for a in audiences_of(spec.get("audiences"))}:
        raise CliError(f'statuspage "{name}" has no audience "{audience}"')
    namespace, _, secret_name = secret.partition("/")
    keys = keys_of(api.secret_data(namespace, secret_name))
    if not keys:
        raise CliError(f"secret {secret} holds no key of {MIN_KEY_BYTES} bytes or more")
    base = spec.get("url") or f"{(public_url or '').rstrip('/')}/{api.namespace}/{name}/"
    token = feed_token(keys[0], api.namespace, name, audience)
    return f"{base if base.endswith('/') else base + '/'}history.atom?token={token}"


def status(api: Api, name: str, at: datetime | None = None) -> str:
    """The page as text: now, or as it will be `at` from the maintenance planned."""
    page, (components, incidents, windows) = _page_objects(
        api, name, Kind.COMPONENT, Kind.INCIDENT, Kind.WINDOW
    )
    parsed = [Incident.parse(i) for i in incidents]
    if at is None:
        return render_status(
            page,
            [Component.parse(c) for c in components],
            parsed,
            [Window.parse(w) for w in windows],
            datetime.now(UTC),
        )
    open_now = [
        raw for raw, incident in zip(incidents, parsed, strict=True) if not incident.resolved
    ]
    planned_page, planned_components, planned_windows = forecast(
        page, components, open_now, windows, at
    )
    return render_status(
        planned_page, planned_components, parsed, planned_windows, at, planned=True
    )


def history(api: Api, name: str, days: int) -> str:
    """Open incidents, and what was resolved or ended in the last `days` days."""
    page, (incidents, windows) = _page_objects(api, name, Kind.INCIDENT, Kind.WINDOW)
    now = datetime.now(UTC)
    since = history_start(now, page.zone, days)
    parsed = [Incident.parse(i) for i in incidents]
    events = past_events(parsed, [Window.parse(w) for w in windows], since)
    return render_history(page, days, since, unresolved(parsed), events, now)
