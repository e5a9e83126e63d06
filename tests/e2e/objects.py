"""Builders of our kinds for e2e tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

API_VERSION = "statuspage.dev/v1alpha1"


def stamp(instant: datetime) -> str:
    """RFC 3339 in UTC, whole seconds are not required."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def in_seconds(seconds: float) -> datetime:
    """The wall clock plus some seconds."""
    return datetime.now(UTC) + timedelta(seconds=seconds)


def make_page(name: str = "example", **spec: Any) -> dict[str, Any]:
    """A StatusPage."""
    return {
        "apiVersion": API_VERSION,
        "kind": "StatusPage",
        "metadata": {"name": name},
        "spec": {"title": name.title(), **spec},
    }


def make_policy(
    name: str, namespaces: list[str] | None = None, hostnames: dict[str, str] | None = None
) -> dict[str, Any]:
    """A cluster-scoped PublicationPolicy: namespaces that publish by path, hostname grants."""
    spec: dict[str, Any] = {}
    if namespaces:
        spec["namespaces"] = namespaces
    if hostnames:
        spec["hostnames"] = [{"hostname": h, "namespace": ns} for h, ns in hostnames.items()]
    return {
        "apiVersion": API_VERSION,
        "kind": "PublicationPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def make_component(name: str, page: str = "example", **spec: Any) -> dict[str, Any]:
    """A Component of a page."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Component",
        "metadata": {"name": name},
        "spec": {"page": page, **spec},
    }


def make_window(
    name: str,
    start: datetime,
    end: datetime,
    components: list[str] | None = None,
    page: str = "example",
    **spec: Any,
) -> dict[str, Any]:
    """A MaintenanceWindow from start to end."""
    return {
        "apiVersion": API_VERSION,
        "kind": "MaintenanceWindow",
        "metadata": {"name": name},
        "spec": {
            "page": page,
            "title": f"Maintenance {name}",
            "components": components or [],
            "startTime": stamp(start),
            "endTime": stamp(end),
            **spec,
        },
    }


def make_incident(
    name: str,
    components: list[dict[str, str]] | None = None,
    page: str = "example",
    updates: list[dict[str, str]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A StatusIncident."""
    return {
        "apiVersion": API_VERSION,
        "kind": "StatusIncident",
        "metadata": {"name": name},
        "spec": {
            "page": page,
            "title": f"Incident {name}",
            "components": components or [],
            "updates": updates or [],
            **spec,
        },
    }
