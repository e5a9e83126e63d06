"""The API's names: group, version, kinds, plurals and our bookkeeping keys."""

from __future__ import annotations

from enum import StrEnum

GROUP = "statuspage.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FINALIZER = f"{GROUP}/finalizer"
# On a MaintenanceWindow settled for good (Completed or Cancelled for its generation), its value
# that generation: kopf's watch leaves such windows out (handlers/lifecycle.py, control/settled.py).
SETTLED_LABEL = f"{GROUP}/settled"


class Kind(StrEnum):
    """Our kinds the page server reads: the four of a page, and the cluster's PublicationPolicy.

    Subscriber is the operator's alone (k8s/subscribers.py).
    """

    PAGE = "StatusPage"
    COMPONENT = "Component"
    WINDOW = "MaintenanceWindow"
    INCIDENT = "StatusIncident"
    POLICY = "PublicationPolicy"


PLURALS: dict[Kind, str] = {
    Kind.PAGE: "statuspages",
    Kind.COMPONENT: "components",
    Kind.WINDOW: "maintenancewindows",
    Kind.INCIDENT: "statusincidents",
    Kind.POLICY: "publicationpolicies",
}

# Kinds without a namespace: listed and watched cluster-wide even by a server of one namespace.
CLUSTER_SCOPED = frozenset({Kind.POLICY})
