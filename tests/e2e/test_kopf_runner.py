"""The handlers in-process under kopf's own test runner, against the real API server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kopf.testing import KopfRunner

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, component, wait_for
from e2e.objects import in_seconds, make_component, make_page, make_window


@pytest.fixture
def in_process(operator: OperatorProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kube]:
    """The session's operator steps aside; kopf runs our handlers in this process instead."""
    operator.stop()
    # The client reads $KUBECONFIG when it is imported, long before this test: point it here.
    monkeypatch.setattr(
        "kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(operator.kube.kubeconfig)
    )
    try:
        yield operator.kube
    finally:
        operator.start()


def test_window_moves_with_the_handlers_run_by_kopf_runner(
    kube: Kube, namespace: str, in_process: Kube
) -> None:
    """`kopf run -m statuspage_operator.handlers`: a window starts and ends, kopf exits cleanly."""
    args = ["run", "--standalone", "--all-namespaces", "-m", "statuspage_operator.handlers"]
    with KopfRunner(args, timeout=60) as runner:
        kube.apply(namespace, make_page(), make_component("api"))
        kube.apply(namespace, make_window("inproc", in_seconds(3), in_seconds(6), ["api"]))
        wait_for(lambda: component(kube, namespace, "api") == "UnderMaintenance", 10)
        wait_for(lambda: kube.status("mw", "inproc", namespace).get("phase") == "Completed", 10)
        wait_for(lambda: component(kube, namespace, "api") == "Operational", 5)
        # kopf takes its finalizer off once the daemon has stopped (the window is done).
        wait_for(
            lambda: not (kube.get("mw", "inproc", namespace) or {})["metadata"].get("finalizers"),
            5,
            what="no finalizer",
        )
    assert runner.exception is None
    assert runner.exit_code == 0
    assert "MaintenanceStarted" in runner.output
    assert "MaintenanceCompleted" in runner.output
