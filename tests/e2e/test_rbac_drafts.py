"""The spec guard and the operator's own incidents, asked of a real API server.

The operator may create, delete and write the spec of StatusIncidents labelled
`app.kubernetes.io/managed-by: statuspage-operator` (its drafts for alert groups), and nothing
more: a person's incident stays out of its reach, and it can neither adopt one by labelling it nor
let go of its own. Requests are sent as the operator sends them (no GET first), as its user.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest
import yaml

from e2e.kube import Kube, wait_for
from e2e.objects import make_incident

MANAGED = {"app.kubernetes.io/managed-by": "statuspage-operator"}
SPEC_DENIED = "the statuspage operator may not write spec"
CREATE_DENIED = "the statuspage operator may create only its own incidents"
DELETE_DENIED = "the statuspage operator may delete only its own incidents"
LABEL_DENIED = "the statuspage operator may not change the label"
UPDATE = {"status": "Identified", "message": "Found it."}


def as_operator(
    kube: Kube, method: str, path: str, body: Any = None, merge: bool = False
) -> tuple[int, dict[str, Any]]:
    """One request as the operator's client-certificate user: status code and answer."""
    config = yaml.safe_load(kube.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    [user] = [u["user"] for u in config["users"] if u["name"] == "operator"]
    tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
    tls.load_cert_chain(user["client-certificate"], user["client-key"])
    kind = "application/merge-patch+json" if merge else "application/json"
    request = urllib.request.Request(
        cluster["server"] + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": kind},
    )
    try:
        with urllib.request.urlopen(request, context=tls, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def path(namespace: str, name: str = "") -> str:
    base = f"/apis/statuspage.dev/v1alpha1/namespaces/{namespace}/statusincidents"
    return f"{base}/{name}" if name else base


def incident(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    body = make_incident(name, updates=[{"status": "Investigating", "message": "Looking."}])
    if labels:
        body["metadata"]["labels"] = dict(labels)
    return body


def append(kube: Kube, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
    """The Resolved-style spec write the operator makes: the updates list, one longer."""
    current = kube.get("si", name, namespace)
    assert current is not None
    patch = {"spec": {"updates": [*current["spec"]["updates"], UPDATE]}}
    return as_operator(kube, "PATCH", path(namespace, name), patch, merge=True)


@pytest.fixture
def guarded(kube: Kube, namespace: str) -> str:
    """A namespace with a person's incident `theirs` and the operator's `ours`, guard in force."""
    kube.apply(namespace, incident("theirs"))

    def refused() -> bool:
        code, answer = as_operator(kube, "POST", path(namespace), incident("probe"))
        return code == 403 and CREATE_DENIED in str(answer.get("message"))

    wait_for(refused, timeout=60, interval=0.5, what="the spec guard refusing a create")
    code, answer = as_operator(kube, "POST", path(namespace), incident("ours", MANAGED))
    assert code == 201, answer
    return namespace


def test_create_without_the_label_is_refused(kube: Kube, guarded: str) -> None:
    """An incident the operator would create unlabelled: refused, and nothing was made."""
    code, answer = as_operator(kube, "POST", path(guarded), incident("unlabelled"))
    assert code == 403
    assert CREATE_DENIED in answer["message"]
    assert kube.get("si", "unlabelled", guarded) is None


def test_spec_write_on_a_person_s_incident_is_refused(kube: Kube, guarded: str) -> None:
    """The operator's spec write on an incident a person made: refused, the spec unchanged."""
    before = kube.get("si", "theirs", guarded)
    code, answer = append(kube, guarded, "theirs")
    assert code == 403
    assert SPEC_DENIED in answer["message"]
    after = kube.get("si", "theirs", guarded)
    assert before is not None
    assert after is not None
    assert after["spec"] == before["spec"]


def test_spec_write_on_its_own_draft_is_allowed(kube: Kube, guarded: str) -> None:
    """The operator's spec write on its own labelled incident goes through."""
    code, answer = append(kube, guarded, "ours")
    assert code == 200, answer
    assert answer["spec"]["updates"][-1] == UPDATE


def test_delete_of_a_person_s_incident_is_refused(kube: Kube, guarded: str) -> None:
    """Deleting an unlabelled incident as the operator: refused, it is still there."""
    code, answer = as_operator(kube, "DELETE", path(guarded, "theirs"))
    assert code == 403
    assert DELETE_DENIED in answer["message"]
    assert kube.get("si", "theirs", guarded) is not None


def test_delete_of_its_own_draft_is_allowed(kube: Kube, guarded: str) -> None:
    """Deleting its own labelled incident goes through."""
    code, answer = as_operator(kube, "DELETE", path(guarded, "ours"))
    assert code == 200, answer
    wait_for(lambda: kube.get("si", "ours", guarded) is None, 10, what="ours deleted")


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        pytest.param("theirs", {**MANAGED}, id="adopt-a-person-s-incident"),
        pytest.param("ours", {"app.kubernetes.io/managed-by": None}, id="let-go-of-its-own"),
        pytest.param("ours", {"app.kubernetes.io/managed-by": "someone"}, id="relabel-its-own"),
    ],
)
def test_the_label_cannot_be_changed(
    kube: Kube, guarded: str, name: str, labels: dict[str, str | None]
) -> None:
    """Setting, removing or changing the managed-by label as the operator: refused."""
    before = kube.get("si", name, guarded)
    patch = {"metadata": {"labels": labels}}
    code, answer = as_operator(kube, "PATCH", path(guarded, name), patch, merge=True)
    assert code == 403
    assert LABEL_DENIED in answer["message"]
    after = kube.get("si", name, guarded)
    assert before is not None
    assert after is not None
    assert after["metadata"].get("labels") == before["metadata"].get("labels")


def test_a_person_may_still_do_anything(kube: Kube, guarded: str) -> None:
    """The guard is about the operator: a person edits and deletes the operator's draft."""
    kube.run("label", "si", "ours", "-n", guarded, "app.kubernetes.io/managed-by-")
    kube.run("delete", "si", "ours", "-n", guarded)
    assert kube.get("si", "ours", guarded) is None
