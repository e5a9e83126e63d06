"""Pages and components against the real control plane: rollup, manual status, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.kube import Kube, condition, wait_for
from e2e.objects import in_seconds, make_component, make_page, make_window

pytestmark = pytest.mark.usefixtures("operator")


def page_status(kube: Kube, namespace: str) -> dict[str, Any]:
    """The example page's status."""
    return kube.status("sp", "example", namespace)


def test_rollup_follows_manual_statuses(kube: Kube, namespace: str) -> None:
    """Two components, one with a manual partial outage: Minor, 'Minor Service Outage'."""
    kube.apply(
        namespace,
        make_page(),
        make_component("api", manualStatus="PartialOutage"),
        make_component("db"),
    )
    status = wait_for(lambda: (s := page_status(kube, namespace)).get("components") == 2 and s, 5)
    assert (status["indicator"], status["description"]) == ("Minor", "Minor Service Outage")
    kube.run(
        "patch",
        "comp",
        "api",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"manualStatus":"MajorOutage"}}',
    )
    wait_for(lambda: page_status(kube, namespace).get("indicator") == "Major", 5)
    assert page_status(kube, namespace)["description"] == "Partial System Outage"


def test_deleted_component_leaves_the_rollup(kube: Kube, namespace: str) -> None:
    """Deleting a component removes it from its page's count and indicator."""
    kube.apply(
        namespace,
        make_page(),
        make_component("api", manualStatus="MajorOutage"),
        make_component("db"),
    )
    wait_for(lambda: page_status(kube, namespace).get("indicator") == "Major", 5)
    kube.run("delete", "comp", "api", "-n", namespace)
    status = wait_for(lambda: (s := page_status(kube, namespace)).get("components") == 1 and s, 5)
    assert (status["indicator"], status["description"]) == ("None", "All Systems Operational")


def test_window_without_auto_update_leaves_components_alone(kube: Kube, namespace: str) -> None:
    """autoUpdateStatus: false shows the window in progress but changes no component."""
    kube.apply(namespace, make_page(), make_component("api"))
    kube.apply(
        namespace,
        make_window("quiet", in_seconds(-5), in_seconds(600), ["api"], autoUpdateStatus=False),
    )
    wait_for(lambda: kube.status("mw", "quiet", namespace).get("phase") == "InProgress", 5)
    assert kube.status("comp", "api", namespace)["status"] == "Operational"
    window = kube.get("mw", "quiet", namespace)
    assert window is not None
    assert not window["metadata"].get("finalizers")


def test_page_with_unknown_time_zone_is_stalled(kube: Kube, namespace: str) -> None:
    """A page whose zone does not exist says so: Stalled, InvalidSpec, the field named."""
    kube.apply(namespace, make_page(timeZone="Mars/Olympus"))
    stalled = wait_for(lambda: condition(page_status(kube, namespace), "Stalled") or None, 5)
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSpec")
    assert "spec.timeZone" in stalled["message"]


def test_component_of_a_missing_page(kube: Kube, namespace: str) -> None:
    """A component naming a page that does not exist: Ready False, PageNotFound; heals."""
    kube.apply(namespace, make_component("api", page="later"))
    ready = wait_for(lambda: condition(kube.status("comp", "api", namespace), "Ready") or None, 5)
    assert (ready["status"], ready["reason"]) == ("False", "PageNotFound")
    kube.apply(namespace, make_page("later"))
    wait_for(
        lambda: condition(kube.status("comp", "api", namespace), "Ready").get("status") == "True",
        5,
    )


def test_bad_manual_status_is_rejected_at_admission(kube: Kube, namespace: str) -> None:
    """An unknown manualStatus never reaches the operator: the API server lists the values."""
    result = kube.run(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        check=False,
        stdin=(
            "apiVersion: statuspage.dev/v1alpha1\nkind: Component\nmetadata: {name: bad}\n"
            "spec: {page: example, manualStatus: Broken}\n"
        ),
    )
    assert result.returncode != 0
    assert "Unsupported value" in result.stderr
    assert "MajorOutage" in result.stderr
