"""What the operator's identity may do, asked of a real API server with the install base applied.

The `operator` context acts as the `statuspage-operator` user, bound to manifests/rbac's
ClusterRole by conftest, which also installs the spec-guard admission policy for the whole session
(so every e2e test proves the operator never writes spec). The module applies the whole base
(`kubectl apply -k manifests`) on top.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from e2e.conftest import ROOT
from e2e.kube import Kube, wait_for
from e2e.objects import in_seconds, make_window

DENIED = "the statuspage operator may not write spec; spec belongs to the user and to Git"
WINDOW = "rbac-window"
SERVICE_ACCOUNT = "system:serviceaccount:statuspage-system:statuspage-operator"
OVERLAY = ROOT / "overlays" / "secrets-by-namespace"


def operator_user(kube: Kube) -> Kube:
    """kubectl as the operator's identity."""
    return kube.as_user("operator")


def patch_spec(kube: Kube, namespace: str, name: str) -> subprocess.CompletedProcess[str]:
    """Change a window's title with kubectl, as whoever `kube` is."""
    title = json.dumps({"spec": {"title": f"Changed {uuid.uuid4().hex[:6]}"}})
    return kube.run("patch", "mw", name, "-n", namespace, "--type=merge", "-p", title, check=False)


def operator_patch(
    kube: Kube, namespace: str, name: str, body: dict[str, Any], sub: str = ""
) -> tuple[int, dict[str, Any]]:
    """A merge patch of a window (or its subresource) as the operator's user, sent as the
    operator sends it: `kubectl patch` would GET the object first, which the role does not allow.
    Returns the status code and the object (or the API server's Status) it answered."""
    config = yaml.safe_load(kube.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    [user] = [u["user"] for u in config["users"] if u["name"] == "operator"]
    tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
    tls.load_cert_chain(user["client-certificate"], user["client-key"])
    path = f"/apis/statuspage.dev/v1alpha1/namespaces/{namespace}/maintenancewindows/{name}"
    request = urllib.request.Request(
        cluster["server"] + path + (f"/{sub}" if sub else ""),
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json"},
    )
    try:
        with urllib.request.urlopen(request, context=tls, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def operator_patch_spec(kube: Kube, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
    """Change a window's title as the operator's user."""
    title = {"spec": {"title": f"Changed {uuid.uuid4().hex[:6]}"}}
    return operator_patch(kube, namespace, name, title)


def can_i(kube: Kube, *args: str) -> bool:
    """`kubectl auth can-i` as the operator."""
    result = operator_user(kube).run("auth", "can-i", *args, check=False)
    return result.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def base(kube: Kube) -> subprocess.CompletedProcess[str]:
    """The install base applied, its admission policy in force."""
    # The operator's mail Role lives in statuspage-signups, which manifests/signup makes where
    # the sign-up process is installed: made here when the base lacks it.
    if kube.run("get", "namespace", "statuspage-signups", check=False).returncode != 0:
        kube.run("create", "namespace", "statuspage-signups")
    applied = kube.run("apply", "-k", str(ROOT / "manifests"))
    canary = f"rbac-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", canary)
    kube.apply(canary, make_window("canary", in_seconds(3600), in_seconds(7200)))
    # The API server loads a new policy asynchronously: wait until it denies.
    wait_for(
        lambda: DENIED in str(operator_patch_spec(kube, canary, "canary")[1].get("message")),
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
        # Its own drafts only: the spec guard refuses any incident without its label
        # (tests/e2e/test_rbac_drafts.py).
        pytest.param(("create", "statusincidents.statuspage.dev", "-A"), True, id="create-si"),
        pytest.param(("delete", "statusincidents.statuspage.dev", "-A"), True, id="delete-si"),
        # Only the public's, bounced: the spec guard refuses others (e2e/test_mailboxes.py).
        pytest.param(("delete", "subscribers.statuspage.dev", "-A"), True, id="delete-sub"),
        pytest.param(("create", "subscribers.statuspage.dev", "-A"), False, id="create-sub"),
        pytest.param(("create", "components.statuspage.dev", "-A"), False, id="create-comp"),
        pytest.param(("delete", "statuspages.statuspage.dev", "-A"), False, id="delete-page"),
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
        pytest.param(("create", "events.events.k8s.io", "-A"), False, id="create-new-events"),
        pytest.param(("get", "maintenancewindows.statuspage.dev", "-A"), False, id="get-mw"),
        pytest.param(("patch", "statuspages.statuspage.dev", "-A"), False, id="patch-page"),
        pytest.param(
            ("update", "maintenancewindows.statuspage.dev", "--subresource=status", "-A"),
            False,
            id="update-mw-status",
        ),
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
    code, _ = operator_patch(kube, namespace, window, {"status": {"phase": "Scheduled"}}, "status")
    assert code == 200
    assert kube.status("mw", window, namespace)["phase"] == "Scheduled"


def test_operator_cannot_read_one_object(kube: Kube, namespace: str, window: str) -> None:
    """The operator never reads an object by name (it lists and watches): no `get`."""
    result = operator_user(kube).run("get", "mw", window, "-n", namespace, check=False)
    assert result.returncode != 0
    assert "Forbidden" in result.stderr


def test_operator_cannot_change_spec(kube: Kube, namespace: str, window: str) -> None:
    """A spec change by the operator is denied by the policy, and the spec stays as it was."""
    before = kube.get("mw", window, namespace)
    assert before is not None
    code, answer = operator_patch_spec(kube, namespace, window)
    assert code == 403
    assert DENIED in answer["message"]
    after = kube.get("mw", window, namespace)
    assert after is not None
    assert after["spec"] == before["spec"]


def test_users_can_still_change_spec(kube: Kube, namespace: str, window: str) -> None:
    """The policy is about the operator: a user's spec change goes through."""
    result = patch_spec(kube, namespace, window)
    assert result.returncode == 0, result.stderr


def test_operator_can_add_and_remove_its_finalizer(kube: Kube, namespace: str, window: str) -> None:
    """Metadata patches of the finalizer as the operator are allowed: the spec is unchanged."""
    add = {"metadata": {"finalizers": ["statuspage.dev/finalizer"]}}
    code, added = operator_patch(kube, namespace, window, add)
    assert code == 200
    assert added["metadata"]["finalizers"] == ["statuspage.dev/finalizer"]
    code, removed = operator_patch(kube, namespace, window, {"metadata": {"finalizers": None}})
    assert code == 200
    assert "finalizers" not in removed["metadata"]


SETTLED = "statuspage.dev/settled"
LABELS_DENIED = "the statuspage operator may not change labels but its own statuspage.dev/settled"


def test_operator_can_set_and_remove_its_settled_label(
    kube: Kube, namespace: str, window: str
) -> None:
    """Its own label on a window (control/settled.py) is allowed, on and off."""
    code, added = operator_patch(kube, namespace, window, {"metadata": {"labels": {SETTLED: "1"}}})
    assert code == 200, added
    code, removed = operator_patch(
        kube, namespace, window, {"metadata": {"labels": {SETTLED: None}}}
    )
    assert code == 200, removed
    assert SETTLED not in (removed["metadata"].get("labels") or {})


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param({"team": "sre"}, id="add-a-label"),
        pytest.param({"owner": "someone-else"}, id="change-a-users-label"),
        pytest.param({"owner": None}, id="remove-a-users-label"),
        pytest.param({"owner": None, SETTLED: "1"}, id="with-its-own"),
    ],
)
def test_operator_cannot_touch_a_users_labels(
    kube: Kube, namespace: str, window: str, labels: dict[str, str | None]
) -> None:
    """Any other label is the user's: adding, changing or removing one is denied."""
    kube.run("label", "mw", window, "-n", namespace, "owner=me")
    code, answer = operator_patch(kube, namespace, window, {"metadata": {"labels": labels}})
    assert code == 403, answer
    assert LABELS_DENIED in answer["message"]
    after = kube.get("mw", window, namespace)
    assert after is not None
    assert after["metadata"]["labels"].get("owner") == "me"


def sa_can_i(kube: Kube, *args: str) -> bool:
    """`kubectl auth can-i` as the base's ServiceAccount (the admin impersonates it)."""
    result = kube.run("auth", "can-i", *args, f"--as={SERVICE_ACCOUNT}", check=False)
    return result.stdout.strip() == "yes"


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        pytest.param(("get", "leases/statuspage-operator"), True, id="get-its-lease"),
        pytest.param(("update", "leases/statuspage-operator"), True, id="update-its-lease"),
        pytest.param(("create", "leases"), True, id="create-a-lease"),
        pytest.param(("get", "leases/someone-else"), False, id="get-another-lease"),
        pytest.param(("update", "leases/someone-else"), False, id="update-another-lease"),
        pytest.param(("delete", "leases/statuspage-operator"), False, id="delete-its-lease"),
        pytest.param(("list", "leases"), False, id="list-leases"),
    ],
)
def test_lease_role_names_its_lease(
    kube: Kube, base: subprocess.CompletedProcess[str], args: tuple[str, ...], allowed: bool
) -> None:
    """In statuspage-system the ServiceAccount reads and renews only its own Lease."""
    assert sa_can_i(kube, *args, "-n", "statuspage-system") is allowed


@pytest.fixture
def narrowed(kube: Kube, base: subprocess.CompletedProcess[str]) -> Iterator[None]:
    """The Secrets overlay's bindings in place of the base's ClusterRoleBinding; restored after."""
    for name in ("team-a", "team-b"):
        kube.run("create", "namespace", name, check=False)
    kube.run("delete", "clusterrolebinding", "statuspage-operator-secrets")
    kube.run("apply", "-f", str(OVERLAY / "rolebindings.yaml"))
    try:
        yield
    finally:
        kube.run("delete", "-f", str(OVERLAY / "rolebindings.yaml"), check=False)
        kube.run("apply", "-f", str(ROOT / "manifests" / "rbac" / "secrets.yaml"))


@pytest.mark.usefixtures("narrowed")
def test_overlay_limits_secrets_to_the_listed_namespaces(kube: Kube, namespace: str) -> None:
    """With the overlay's RoleBindings, the ServiceAccount gets Secrets in team-a and team-b
    only; it still lists none there."""
    assert sa_can_i(kube, "get", "secrets", "-n", "team-a")
    assert sa_can_i(kube, "get", "secrets", "-n", "team-b")
    assert not sa_can_i(kube, "get", "secrets", "-n", namespace)
    assert not sa_can_i(kube, "list", "secrets", "-n", "team-a")


def test_base_gets_secrets_everywhere(kube: Kube, namespace: str, base: object) -> None:
    """The base's default: the ServiceAccount may get (never list) Secrets in any namespace."""
    assert sa_can_i(kube, "get", "secrets", "-n", namespace)
    assert not sa_can_i(kube, "list", "secrets", "-n", namespace)
