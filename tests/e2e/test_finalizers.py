"""kopf's finalizer goes only where a deletion must wait: never on a page, a quiet window or a
Subscriber (handlers/kopf_workarounds.py clears kopf's flag on the daemon and timers that hold
nothing a deletion must undo), and on a window that changes components only while it is live.

Every change of the objects is watched from the start, so a finalizer added and removed in between
two reads is seen too.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from e2e.kube import KUBECTL, Kube, condition, wait_for
from e2e.objects import API_VERSION, in_seconds, make_component, make_page, make_window

FINALIZER = "statuspage.dev/finalizer"
KINDS = ("statuspages", "components", "maintenancewindows", "subscribers")


class Watch:
    """`kubectl get KIND --watch -o json` into a file: every version of every object."""

    def __init__(self, kube: Kube, namespace: str, plural: str, path: Any) -> None:
        self.path = path
        self._out = path.open("wb")
        self._process = subprocess.Popen(
            [
                KUBECTL,
                f"--kubeconfig={kube.kubeconfig}",
                f"--context={kube.context}",
                "get",
                plural,
                "-n",
                namespace,
                "--watch",
                "--output-watch-events",
                "-o",
                "json",
            ],
            stdout=self._out,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> list[dict[str, Any]]:
        """End the watch; every object version it saw."""
        self._process.terminate()
        self._process.wait(timeout=10)
        self._out.close()
        text = self.path.read_text()
        decoder = json.JSONDecoder()
        seen: list[dict[str, Any]] = []
        index = 0
        while index < len(text):
            if text[index].isspace():
                index += 1
                continue
            event, index = decoder.raw_decode(text, index)
            seen.append(event["object"])
        return seen


@pytest.fixture
def watches(kube: Kube, namespace: str, tmp_path: Any) -> Iterator[dict[str, Watch]]:
    """One watch per kind, started before anything is created."""
    running = {plural: Watch(kube, namespace, plural, tmp_path / plural) for plural in KINDS}
    # kubectl's watch begins with a list: wait until each has started (an empty list prints
    # nothing, so give the processes a moment by listing once ourselves).
    kube.run("get", ",".join(KINDS), "-n", namespace)
    yield running
    for watch in running.values():
        if watch._process.poll() is None:
            watch.stop()


def finalizers_by_name(versions: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each object's name, with every finalizer any of its versions carried."""
    found: dict[str, set[str]] = {}
    for obj in versions:
        meta = obj.get("metadata") or {}
        found.setdefault(meta["name"], set()).update(meta.get("finalizers") or ())
    return found


@pytest.mark.usefixtures("operator")
def test_only_windows_that_change_components_carry_the_finalizer_while_live(
    kube: Kube, namespace: str, watches: dict[str, Watch]
) -> None:
    """Page, components, quiet windows and a Subscriber: never. The live window: while live."""
    start, end = in_seconds(4), in_seconds(8)
    subscriber = {
        "apiVersion": API_VERSION,
        "kind": "Subscriber",
        "metadata": {"name": "later"},
        "spec": {"page": "example", "urlSecretRef": {"name": "later", "key": "url"}},
    }
    kube.apply(
        namespace,
        make_page(remindBefore="2s"),
        make_component("api"),
        make_window("live", start, end, ["api"]),
        make_window("no-components", start, end, [], notifySubscribers=True),
        make_window("not-shown", start, end, ["api"], autoUpdateStatus=False),
        subscriber,
    )

    def completed(name: str) -> bool:
        return kube.status("mw", name, namespace).get("phase") == "Completed"

    def unblocked(name: str) -> bool:
        found = kube.get("mw", name, namespace) or {}
        return not found.get("metadata", {}).get("finalizers")

    def secret_missing() -> bool:
        ready = condition(kube.status("subscriber", "later", namespace), "Ready")
        return ready.get("reason") == "SecretNotFound"

    # Waiting for its Secret, the Subscriber is what a recheck (a timer) would match.
    wait_for(secret_missing, what="the Subscriber reporting its missing Secret")
    for name in ("live", "no-components", "not-shown"):
        wait_for(partial(completed, name), timeout=40, what=f"{name} completed")
    wait_for(partial(unblocked, "live"), what="the live window's finalizer removed")
    seen = {plural: finalizers_by_name(watch.stop()) for plural, watch in watches.items()}

    assert seen["maintenancewindows"]["live"] == {FINALIZER}, "the watch saw the live finalizer"
    assert seen["maintenancewindows"]["no-components"] == set()
    assert seen["maintenancewindows"]["not-shown"] == set()
    assert seen["statuspages"] == {"example": set()}
    assert seen["components"] == {"api": set()}
    assert seen["subscribers"] == {"later": set()}
