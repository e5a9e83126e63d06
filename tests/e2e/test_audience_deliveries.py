"""Subscribers of an audience, end to end: the operator as a subprocess, a real webhook receiver;
each hears only of the incidents that concern its audience, listing only its components."""

from __future__ import annotations

import time

import pytest

from e2e.kube import Kube, wait_for
from e2e.objects import make_component, make_incident, make_page
from e2e.test_notifications import Receiver, hook_to, secret, subscriber, wait_ready
from e2e.test_notifications import notifying as notifying
from e2e.test_notifications import receiver as receiver

AUDIENCES = [
    {"name": "core", "groups": ["core"], "components": ["api", "db"]},
    {"name": "web", "users": ["wendy"], "components": ["storefront"]},
]


@pytest.mark.usefixtures("notifying")
def test_a_subscriber_of_an_audience_hears_only_what_concerns_it(
    kube: Kube, namespace: str, receiver: Receiver
) -> None:
    """core hears of the incident on db and storefront, listing db; web of both, listing
    storefront; neither of the other's own incident; a Subscriber of no audience of everything."""
    kube.apply(
        namespace,
        make_page(visibility="Private", audiences=AUDIENCES),
        make_component("api"),
        make_component("db"),
        make_component("storefront"),
        *(secret(name, url=hook_to(receiver, namespace, name)) for name in ("core", "web", "all")),
        subscriber("core", "core", audience="core"),
        subscriber("web", "web", audience="web"),
        subscriber("all", "all"),
    )
    wait_ready(kube, namespace, "core", "web", "all")
    looking = [{"status": "Investigating", "message": "Looking."}]
    kube.apply(
        namespace,
        make_incident("db-down", [{"name": "db"}], updates=looking, title="Database down"),
        make_incident("shop-slow", [{"name": "storefront"}], updates=looking, title="Shop slow"),
        make_incident(
            "both", [{"name": "db"}, {"name": "storefront"}], updates=looking, title="Both"
        ),
    )
    everyone = f"/{namespace}/all"
    wait_for(lambda: len(receiver.to(everyone)) == 3, 20, what="three incidents to everyone")
    wait_for(lambda: len(receiver.to(f"/{namespace}/core")) == 2, 10, what="core's two")
    wait_for(lambda: len(receiver.to(f"/{namespace}/web")) == 2, 10, what="web's two")
    time.sleep(1.0)

    def heard(name: str) -> dict[str, list[str]]:
        return {
            hook.body["incident"]["name"]: [c["name"] for c in hook.body["incident"]["components"]]
            for hook in receiver.to(f"/{namespace}/{name}")
        }

    assert heard("core") == {"Database down": ["db"], "Both": ["db"]}
    assert heard("web") == {"Shop slow": ["storefront"], "Both": ["storefront"]}
    assert heard("all")["Both"] == ["db", "storefront"]
