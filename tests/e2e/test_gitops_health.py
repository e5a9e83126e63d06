"""The GitOps health snippets in manifests/gitops, run on real objects from the running operator.

The Argo CD script runs in Lua 5.1 (Argo CD's gopher-lua implements 5.1) through lupa, with `obj`
set as Argo CD sets it. The Flux expressions run in cel-python, in the order Flux evaluates them
(RFC 0009, fluxcd/pkg runtime/cel/status_evaluator.go).
"""

from __future__ import annotations

import copy
import functools
from datetime import timedelta
from typing import Any

import celpy
import pytest
import yaml
from celpy.adapter import json_to_cel
from lupa import lua51

from e2e.conftest import ROOT
from e2e.kube import Kube, condition, wait_for
from e2e.objects import in_seconds, make_component, make_page, make_window

GITOPS = ROOT / "manifests" / "gitops"
RESOURCES = {"StatusPage": "sp", "Component": "comp", "MaintenanceWindow": "mw"}
HOLD = '{"metadata":{"finalizers":["example.com/hold"]}}'
RELEASE = '{"metadata":{"finalizers":null}}'
# The order Flux evaluates the expressions in; the first true one decides.
FLUX_ORDER = (("inProgress", "InProgress"), ("failed", "Failed"), ("current", "Current"))

pytestmark = pytest.mark.usefixtures("operator")


# --- Argo CD ------------------------------------------------------------------------------------


def to_lua(runtime: Any, value: Any) -> Any:
    """A JSON value as Argo CD hands it to Lua: objects and arrays become tables (1-based)."""
    if isinstance(value, dict):
        table = runtime.table()
        for key, item in value.items():
            if item is not None:
                table[key] = to_lua(runtime, item)
        return table
    if isinstance(value, list):
        table = runtime.table()
        for index, item in enumerate(value, start=1):
            table[index] = to_lua(runtime, item)
        return table
    return value


def argo_health(obj: dict[str, Any]) -> tuple[str, str]:
    """Run argocd-health.lua on an object; return its status and message."""
    runtime = lua51.LuaRuntime()
    runtime.globals().obj = to_lua(runtime, obj)
    health = runtime.execute((GITOPS / "argocd-health.lua").read_text())
    return str(health["status"]), str(health["message"])


# --- Flux ---------------------------------------------------------------------------------------


@functools.cache
def flux_exprs() -> dict[str, dict[str, str]]:
    """The healthCheckExprs of flux-health.yaml, by kind."""
    kustomization = yaml.safe_load((GITOPS / "flux-health.yaml").read_text())
    return {entry["kind"]: entry for entry in kustomization["spec"]["healthCheckExprs"]}


def cel(expression: str, obj: dict[str, Any]) -> bool:
    """Evaluate a CEL expression with the object's top-level fields as variables, as Flux does."""
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    result = program.evaluate({key: json_to_cel(value) for key, value in obj.items()})
    assert isinstance(result, celpy.celtypes.BoolType), f"{expression!r} gave {result!r}"
    return bool(result)


def flux_health(obj: dict[str, Any]) -> str:
    """Flux's verdict: a stale observedGeneration first, then inProgress, failed, current."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    if observed is not None and observed != obj["metadata"].get("generation"):
        return "InProgress"
    exprs = flux_exprs()[obj["kind"]]
    for field, verdict in FLUX_ORDER:
        if field in exprs and cel(exprs[field], obj):
            return verdict
    return "InProgress"


# --- real objects -------------------------------------------------------------------------------


def wait_condition(
    kube: Kube, resource: str, namespace: str, name: str, kind: str
) -> dict[str, Any]:
    """Wait until a condition is True on the current generation; return the object."""

    def probe() -> dict[str, Any] | None:
        found = kube.get(resource, name, namespace)
        if found is None:
            return None
        status = found.get("status") or {}
        observed = status.get("observedGeneration") == found["metadata"]["generation"]
        return found if observed and condition(status, kind).get("status") == "True" else None

    return wait_for(probe, timeout=30, what=f"{resource}/{name} {kind}")


@pytest.fixture
def reconciled(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    """A page, a component and a window an hour ahead, all Ready; by kind."""
    kube.apply(
        namespace,
        make_page(),
        make_component("api"),
        make_window("upgrade", in_seconds(3600), in_seconds(7200), ["api"]),
    )
    names = {"StatusPage": "example", "Component": "api", "MaintenanceWindow": "upgrade"}
    return {
        kind: wait_condition(kube, RESOURCES[kind], namespace, name, "Ready")
        for kind, name in names.items()
    }


@pytest.mark.parametrize("kind", ["StatusPage", "Component", "MaintenanceWindow"])
def test_reconciled_object_is_healthy(reconciled: dict[str, dict[str, Any]], kind: str) -> None:
    """Ready=True on the current generation: Argo CD Healthy, Flux Current."""
    assert argo_health(reconciled[kind])[0] == "Healthy"
    assert flux_health(reconciled[kind]) == "Current"


def test_unobserved_generation_is_progressing(reconciled: dict[str, dict[str, Any]]) -> None:
    """A generation the operator has not observed yet (a new spec) is in progress, not Healthy."""
    changed = copy.deepcopy(reconciled["MaintenanceWindow"])
    changed["metadata"]["generation"] += 1
    status, message = argo_health(changed)
    assert status == "Progressing"
    assert "Waiting for the operator" in message
    assert flux_health(changed) == "InProgress"
    # The expressions say so themselves, not only Flux's own generation check before them.
    exprs = flux_exprs()["MaintenanceWindow"]
    assert cel(exprs["inProgress"], changed)
    assert not cel(exprs["current"], changed)


def test_stalled_window_is_degraded(kube: Kube, namespace: str) -> None:
    """Stalled=True (an unknown time zone): Argo CD Degraded with the reason, Flux Failed."""
    start = in_seconds(3600)
    recurrence = {"rrule": "FREQ=WEEKLY;BYDAY=SU", "timeZone": "Mars/Olympus"}
    kube.apply(
        namespace,
        make_page(),
        make_window("mars", start, start + timedelta(hours=1), recurrence=recurrence),
    )
    stalled = wait_condition(kube, "mw", namespace, "mars", "Stalled")
    status, message = argo_health(stalled)
    assert status == "Degraded"
    assert message.startswith("InvalidSpec: ")
    assert "Mars/Olympus" in message
    assert flux_health(stalled) == "Failed"


def test_missing_component_is_progressing(kube: Kube, namespace: str) -> None:
    """Ready=False, ComponentNotFound (heals when applied): in progress for both, never failed."""
    kube.apply(
        namespace,
        make_page(),
        make_window("ghostly", in_seconds(3600), in_seconds(7200), ["ghost"]),
    )

    def not_found() -> dict[str, Any] | None:
        found = kube.get("mw", "ghostly", namespace)
        ready = condition((found or {}).get("status") or {}, "Ready")
        return found if ready.get("reason") == "ComponentNotFound" else None

    waiting = wait_for(not_found, timeout=30, what="ComponentNotFound")
    status, message = argo_health(waiting)
    assert status == "Progressing"
    assert message.startswith("ComponentNotFound: ")
    assert flux_health(waiting) == "InProgress"
    assert not cel(flux_exprs()["MaintenanceWindow"]["failed"], waiting)


def test_object_being_deleted_is_progressing(
    kube: Kube, namespace: str, reconciled: dict[str, dict[str, Any]]
) -> None:
    """An object held by a finalizer while being deleted is in progress, even if Ready."""
    kube.run("patch", "comp", "api", "-n", namespace, "--type=merge", "-p", HOLD)
    kube.run("delete", "comp", "api", "-n", namespace, "--wait=false")

    def being_deleted() -> dict[str, Any] | None:
        found = kube.get("comp", "api", namespace)
        return found if found and "deletionTimestamp" in found["metadata"] else None

    deleting = wait_for(being_deleted, what="api being deleted")
    try:
        assert argo_health(deleting)[0] == "Progressing"
        assert flux_health(deleting) == "InProgress"
    finally:
        kube.run("patch", "comp", "api", "-n", namespace, "--type=merge", "-p", RELEASE)
