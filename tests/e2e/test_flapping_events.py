"""A flapping component against the real control plane: its Events are coalesced, not dropped."""

from __future__ import annotations

import json
import time
from functools import partial

import pytest

from e2e.kube import Kube, wait_for
from e2e.objects import make_component, make_page

pytestmark = pytest.mark.usefixtures("operator")

FLAPS = 25


def shows(kube: Kube, namespace: str, status: str) -> bool:
    """Whether component api's status, as the operator wrote it, is `status`."""
    return kube.status("comp", "api", namespace).get("status") == status


def test_a_flapping_component_gets_ten_events_and_one_counted_digest(
    kube: Kube, namespace: str
) -> None:
    """25 status changes within minutes: 10 Events of their own, then one digest of count 15."""
    # The budget is per clock hour: keep the whole run within one.
    to_the_hour = 3600 - time.time() % 3600
    if to_the_hour < 90:
        time.sleep(to_the_hour + 1)
    kube.apply(namespace, make_page(), make_component("api"))
    wait_for(lambda: kube.status("comp", "api", namespace).get("status") == "Operational", 10)
    for i in range(FLAPS):
        status = "MajorOutage" if i % 2 == 0 else "Operational"
        patch = json.dumps({"spec": {"manualStatus": status}})
        kube.run("patch", "comp", "api", "-n", namespace, "--type=merge", "-p", patch)
        # One change at a time, as a flapping probe makes them.
        wait_for(partial(shows, kube, namespace, status), 10)

    def digest() -> dict[str, object] | None:
        found = [e for e in kube.events(namespace, "api") if e["reason"] == "ChangesCoalesced"]
        return found[0] if found and found[0].get("count") == FLAPS - 10 else None

    coalesced = wait_for(digest, 10, what="a digest counting 15 changes")
    events = kube.events(namespace, "api")
    reasons = [e["reason"] for e in events]
    assert reasons.count("ComponentStatusChanged") == 10, reasons
    assert reasons.count("ChangesCoalesced") == 1, reasons
    assert str(coalesced["message"]).startswith(f"{FLAPS - 10} more changes since ")
    assert str(coalesced["message"]).endswith("ComponentStatusChanged: Operational -> MajorOutage")
    tally = kube.status("comp", "api", namespace)["eventBudget"]
    assert (tally["posted"], tally["folded"]) == (10, FLAPS - 10)
