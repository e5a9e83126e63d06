"""The operator's Prometheus endpoint, scraped for real after real transitions."""

from __future__ import annotations

import re
import urllib.request

import pytest

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, wait_for
from e2e.objects import in_seconds, make_component, make_page, make_window

pytestmark = pytest.mark.usefixtures("operator")


def scrape(operator: OperatorProcess) -> str:
    """The metrics page as text."""
    with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
        text: str = response.read().decode()
        return text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_transitions_lateness_and_components(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    """A window that starts counts a transition, a lateness sample and a component status."""
    before = scrape(operator)
    started_before = sample(
        before,
        "statuspage_transitions_total",
        kind="MaintenanceWindow",
        reason="MaintenanceStarted",
    )
    late_before = sample(before, "statuspage_transition_lateness_seconds_count")
    kube.apply(namespace, make_page(), make_component("api"))
    kube.apply(namespace, make_window("metered", in_seconds(2), in_seconds(60), ["api"]))
    wait_for(lambda: kube.status("comp", "api", namespace).get("status") == "UnderMaintenance", 10)
    text: str = wait_for(
        lambda: (
            (
                (t := scrape(operator))
                and sample(
                    t,
                    "statuspage_transitions_total",
                    kind="MaintenanceWindow",
                    reason="MaintenanceStarted",
                )
                > started_before
                and t
            )
            or None
        ),
        5,
    )
    assert sample(text, "statuspage_transition_lateness_seconds_count") > late_before
    assert sample(text, "statuspage_components", status="UnderMaintenance") >= 1
    assert "statuspage_reconcile_errors_total" in text
    assert sample(text, "statuspage_reconciles_total", kind="Component") >= 1


def test_event_loop_lag_is_measured(operator: OperatorProcess) -> None:
    """The loop's lag is sampled ten times a second, and an idle operator's is small."""
    before = sample(scrape(operator), "statuspage_event_loop_lag_seconds_count")
    text: str = wait_for(
        lambda: (
            (
                (t := scrape(operator))
                and sample(t, "statuspage_event_loop_lag_seconds_count") >= before + 10
                and t
            )
            or None
        ),
        10,
    )
    count = sample(text, "statuspage_event_loop_lag_seconds_count")
    # Idle (nothing else in this test): most samples wake within a quarter of a second.
    assert sample(text, "statuspage_event_loop_lag_seconds_bucket", le="0.25") >= 0.9 * count
