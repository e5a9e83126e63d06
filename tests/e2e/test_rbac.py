"""What the operator's identity may do, asked of a real API server with the install base applied.

The `operator` context acts as the `statuspage-operator` user, bound to manifests/rbac's
ClusterRole by conftest, which also installs the spec-guard admission policy for the whole session
(so every e2e test proves the operator never writes spec). The module applies the whole base
(`kubectl apply -k manifests`) on top.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from e2e.conftest import ROOT
from e2e.kube import Kube, wait_for
from e2e.objects import in_seconds, make_window

DENIED = "the statuspage operator may not write spec; spec belongs to the user and to Git"
WINDOW = "rbac-window"


def operator_user(kube: Kube) -> Kube:
    """kubectl as the operator's identity."""
    return kube.as_user("operator")


def patch_spec(kube: Kube, namespace: str, name: str) -> subprocess.CompletedProcess[str]:
    """Change a window's title, as whoever `kube` is."""
    title = json.dumps({"spec": {"title": f"Changed {uuid.uuid4().hex[:6]}"}})
    return kube.run("patch", "mw", name, "-n", namespace, "--type=merge", "-p", title, check=False)


def can_i(kube: Kube, *args: str) -> bool:
    """`kubectl auth can-i` as the operator."""
    result = operator_user(kube).run("auth", "can-i", *args, check=False)
    return result.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def base(kube: Kube) -> subprocess.CompletedProcess[str]:
    """The install base applied, its admission policy in force."""
    applied = kube.run("apply", "-k", str(ROOT / "manifests"))
    canary = f"rbac-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", canary)
    kube.apply(canary, make_window("canary", in_seconds(3600), in_seconds(7200)))
    # The API server loads a new policy asynchronously: wait until it denies.
    wait_for(
        lambda: DENIED in patch_spec(operator_user(kube), canary, "canary").stderr,
        timeout=60,
        interval=0.5,
        what="the spec-guard policy to be in force",
    )
    kube.run("delete", "namespace", canary, "--wait=false")
    return applied


@pytest.fixture
def window(kube: Kube, namespace: str, base: subprocess.CompletedProcess[str]) -> str:
    """A window an hour ahead, in a fresh namespace, with the policy in force."""
    kube.apply(namespace, make_window(WINDOW, in_seconds(3600), in_seconds(7200)))
    return WINDOW


def test_base_applies_cleanly(base: subprocess.CompletedProcess[str]) -> None:
    """`kubectl apply -k manifests` succeeds without a warning (e.g. from Pod Security)."""
    assert "Warning" not in base.stderr
    assert "deployment.apps/statuspage-operator" in base.stdout


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        pytest.param(("get", "secrets", "-A"), True, id="get-secrets"),
        pytest.param(("list", "secrets", "-A"), False, id="list-secrets"),
        pytest.param(("watch", "secrets", "-A"), False, id="watch-secrets"),
        pytest.param(("create", "secrets", "-A"), False, id="create-secrets"),
        pytest.param(("create", "namespaces"), False, id="create-namespaces"),
        pytest.param(("create", "maintenancewindows.statuspage.dev", "-A"), False, id="create-mw"),
        pytest.param(("delete", "maintenancewindows.statuspage.dev", "-A"), False, id="delete-mw"),
        pytest.param(("watch", "maintenancewindows.statuspage.dev", "-A"), True, id="watch-mw"),
        pytest.param(
            ("patch", "maintenancewindows.statuspage.dev", "--subresource=status", "-A"),
            True,
            id="patch-mw-status",
        ),
        pytest.param(("create", "events", "-A"), True, id="create-events"),
        # An hour's ChangesCoalesced Event is read and raised in place (k8s/client.py fold_event).
        pytest.param(("get", "events", "-A"), True, id="get-events"),
        pytest.param(("patch", "events", "-A"), True, id="patch-events"),
        pytest.param(("list", "events", "-A"), False, id="list-events"),
    ],
)
def test_operator_permissions(kube: Kube, args: tuple[str, ...], allowed: bool) -> None:
    """`kubectl auth can-i` answers as the ClusterRole says, for the operator's identity."""
    assert can_i(kube, *args) is allowed


def test_operator_cannot_list_secrets(kube: Kube, namespace: str) -> None:
    """Listing Secrets as the operator is forbidden (it gets a Subscriber's by name only)."""
    result = operator_user(kube).run("get", "secrets", "-n", namespace, check=False)
    assert result.returncode != 0
    assert "Forbidden" in result.stderr


def test_operator_cannot_create_a_namespace(kube: Kube) -> None:
    """Creating a namespace as the operator is forbidden."""
    name = f"rbac-{uuid.uuid4().hex[:8]}"
    result = operator_user(kube).run("create", "namespace", name, check=False)
    assert result.returncode != 0
    assert "Forbidden" in result.stderr


def test_operator_can_patch_status(kube: Kube, namespace: str, window: str) -> None:
    """A status patch (the status subresource) as the operator succeeds."""
    body = json.dumps({"status": {"phase": "Scheduled"}})
    result = operator_user(kube).run(
        "patch", "mw", window, "-n", namespace, "--subresource=status", "--type=merge", "-p", body
    )
    assert result.returncode == 0


def test_operator_cannot_change_spec(kube: Kube, namespace: str, window: str) -> None:
    """A spec change by the operator is denied by the policy, and the spec stays as it was."""
    before = kube.get("mw", window, namespace)
    assert before is not None
    result = patch_spec(operator_user(kube), namespace, window)
    assert result.returncode != 0
    assert DENIED in result.stderr
    after = kube.get("mw", window, namespace)
    assert after is not None
    assert after["spec"] == before["spec"]


def test_users_can_still_change_spec(kube: Kube, namespace: str, window: str) -> None:
    """The policy is about the operator: a user's spec change goes through."""
    result = patch_spec(kube, namespace, window)
    assert result.returncode == 0, result.stderr


def test_operator_can_add_and_remove_its_finalizer(kube: Kube, namespace: str, window: str) -> None:
    """Metadata patches of the finalizer as the operator are allowed: the spec is unchanged."""
    operator = operator_user(kube)
    add = json.dumps({"metadata": {"finalizers": ["statuspage.dev/finalizer"]}})
    added = operator.run(
        "patch", "mw", window, "-n", namespace, "--type=merge", "-p", add, "-o", "json"
    )
    assert json.loads(added.stdout)["metadata"]["finalizers"] == ["statuspage.dev/finalizer"]
    remove = json.dumps({"metadata": {"finalizers": None}})
    removed = operator.run(
        "patch", "mw", window, "-n", namespace, "--type=merge", "-p", remove, "-o", "json"
    )
    assert "finalizers" not in json.loads(removed.stdout)["metadata"]
