"""The API's names: group, version, kinds, plurals and our bookkeeping keys."""

from __future__ import annotations

from enum import StrEnum

GROUP = "statuspage.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FINALIZER = f"{GROUP}/finalizer"


class Kind(StrEnum):
    """Our kinds: the four of a page, and Subscriber."""

    PAGE = "StatusPage"
    COMPONENT = "Component"
    WINDOW = "MaintenanceWindow"
    INCIDENT = "StatusIncident"


PLURALS: dict[Kind, str] = {
    Kind.PAGE: "statuspages",
    Kind.COMPONENT: "components",
    Kind.WINDOW: "maintenancewindows",
    Kind.INCIDENT: "statusincidents",
}
