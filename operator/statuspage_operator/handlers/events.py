"""Watch events of our four kinds go to the engine's store; nothing else happens here."""

from __future__ import annotations

from typing import Any

import kopf

from statuspage_operator.api.names import GROUP, PLURALS, VERSION, Kind


def _observe(kind: Kind, event: dict[str, Any], memo: kopf.Memo) -> None:
    engine = getattr(memo, "engine", None)
    if engine is not None:
        engine.observe(kind, event.get("type"), event["object"])


@kopf.on.event(GROUP, VERSION, PLURALS[Kind.PAGE])
async def on_page_event(event: dict[str, Any], memo: kopf.Memo, **_: Any) -> None:
    """A StatusPage changed."""
    _observe(Kind.PAGE, event, memo)


@kopf.on.event(GROUP, VERSION, PLURALS[Kind.COMPONENT])
async def on_component_event(event: dict[str, Any], memo: kopf.Memo, **_: Any) -> None:
    """A Component changed."""
    _observe(Kind.COMPONENT, event, memo)


@kopf.on.event(GROUP, VERSION, PLURALS[Kind.WINDOW])
async def on_window_event(event: dict[str, Any], memo: kopf.Memo, **_: Any) -> None:
    """A MaintenanceWindow changed."""
    _observe(Kind.WINDOW, event, memo)


@kopf.on.event(GROUP, VERSION, PLURALS[Kind.INCIDENT])
async def on_incident_event(event: dict[str, Any], memo: kopf.Memo, **_: Any) -> None:
    """A StatusIncident changed."""
    _observe(Kind.INCIDENT, event, memo)
