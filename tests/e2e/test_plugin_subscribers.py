"""`kubectl statuspage subscribers` on the real API server: counts, list, remove, export, erase.

The public's subscriptions are made here as statuspage-signup makes them (docs/server.md): a
Subscriber named `subscription_name(...)`, origin Public, and its address Secret of the same
name, owned by it. The test's admin creates them directly; the operator may be running, so only
what follows from the specs is asserted (status is the operator's).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.kube import KUBECTL, Kube, wait_for
from e2e.objects import API_VERSION, make_component, make_page
from e2e.test_plugin import kubectl_plugin, plugin
from statuspage_operator.api.subscription_tokens import subscription_name

ROOT = Path(__file__).resolve().parents[2]
NAMING = b"n" * 32
JANE = "Jane.Doe@Example.com"


def subscribe(kube: Kube, namespace: str, address: str, components: list[str] | None = None) -> str:
    """A public subscription of `address` to page `example`: Subscriber, then its Secret."""
    name = subscription_name(NAMING, namespace, "example", address)
    spec: dict[str, Any] = {
        "page": "example",
        "origin": "Public",
        "mailboxSecretRef": {"name": name, "key": "address"},
    }
    if components is not None:
        spec["components"] = components
    labels = {"statuspage.dev/origin": "public", "statuspage.dev/page": "example"}
    kube.apply(
        namespace,
        {
            "apiVersion": API_VERSION,
            "kind": "Subscriber",
            "metadata": {"name": name, "labels": labels},
            "spec": spec,
        },
    )
    subscriber = kube.get("subscriber", name, namespace)
    assert subscriber is not None
    owner = {
        "apiVersion": API_VERSION,
        "kind": "Subscriber",
        "name": name,
        "uid": subscriber["metadata"]["uid"],
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "labels": {"statuspage.dev/subscriber": "true", "statuspage.dev/origin": "public"},
            "ownerReferences": [owner],
        },
        "data": {"address": base64.b64encode(address.encode()).decode()},
    }
    kube.apply(namespace, secret)
    return name


def cluster_subscriber(kube: Kube, namespace: str, name: str = "ops-hook") -> None:
    """A Subscriber of origin Cluster, as a manifest makes it."""
    kube.apply(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hook", "labels": {"statuspage.dev/subscriber": "true"}},
            "stringData": {"url": "json://127.0.0.1:9/hook"},
        },
        {
            "apiVersion": API_VERSION,
            "kind": "Subscriber",
            "metadata": {"name": name},
            "spec": {"page": "example", "urlSecretRef": {"name": "hook", "key": "url"}},
        },
    )


def site(kube: Kube, namespace: str) -> None:
    """Page `example` with components api, db (group Core) and cdn."""
    kube.apply(
        namespace,
        make_page(),
        make_component("api", group="Core", position=1),
        make_component("db", group="Core", position=2),
        make_component("cdn", position=3),
    )


@pytest.fixture
def other_namespace(kube: Kube) -> Iterator[str]:
    """A second namespace, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


def run_ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a run that must succeed."""
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_counts_and_list_show_no_address(kube: Kube, namespace: str) -> None:
    """Counts by origin and per component; --list a line each; no address anywhere."""
    site(kube, namespace)
    everything = subscribe(kube, namespace, "a@example.com")
    subscribe(kube, namespace, "b@example.com", ["api"])
    subscribe(kube, namespace, "c@example.com", ["api", "db"])
    cluster_subscriber(kube, namespace)

    text = run_ok(kubectl_plugin(kube, "subscribers", "example", "-n", namespace))
    lines = [line.split() for line in text.splitlines()]
    assert ["Cluster", "1"] in lines
    assert ["Public", "3"] in lines
    assert lines[-3:] == [["api", "3"], ["db", "2"], ["cdn", "1"]]
    assert any(line[:1] == ["Failing:"] for line in lines)

    listed = run_ok(plugin(kube, "-n", namespace, "subscribers", "example", "--list"))
    rows = {line.split()[0]: line.split()[1:4] for line in listed.splitlines()[1:]}
    assert rows["ops-hook"] == ["Cluster", "all", rows["ops-hook"][2]]
    assert rows[everything] == ["Public", "all", rows[everything][2]]
    assert sorted(v[1] for k, v in rows.items() if k.startswith("public-")) == [
        "all",
        "api",
        "api,db",
    ]
    for output in (text, listed):
        assert "@" not in output
        assert "example.com" not in output


def test_remove_deletes_a_public_subscriber_and_refuses_a_cluster_one(
    kube: Kube, namespace: str
) -> None:
    """remove: a Public Subscriber and its Secret go; a Cluster one stays, with the reason."""
    site(kube, namespace)
    name = subscribe(kube, namespace, "a@example.com")
    cluster_subscriber(kube, namespace)

    output = run_ok(plugin(kube, "-n", namespace, "subscribers", "remove", name))
    assert f"subscriber/{name} removed" in output
    assert kube.get("subscriber", name, namespace) is None
    assert kube.get("secret", name, namespace) is None

    refused = plugin(kube, "-n", namespace, "subscribers", "remove", "ops-hook")
    assert refused.returncode == 1
    assert "it belongs to its manifest; delete it there" in refused.stderr
    assert kube.get("subscriber", "ops-hook", namespace) is not None

    missing = plugin(kube, "-n", namespace, "subscribers", "remove", name)
    assert missing.returncode == 1
    assert "not found" in missing.stderr


def test_export_then_erase_a_persons_data(kube: Kube, namespace: str, other_namespace: str) -> None:
    """export finds the address in every namespace (case aside); erase deletes only its own."""
    for ns in (namespace, other_namespace):
        site(kube, ns)
    first = subscribe(kube, namespace, JANE, ["api"])
    second = subscribe(kube, other_namespace, "jane.doe@example.com")
    someone = subscribe(kube, namespace, "someone@example.com")
    # An address Secret left without its Subscriber (e.g. restored from a backup).
    kube.apply(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "public-orphan", "labels": {"statuspage.dev/origin": "public"}},
            "stringData": {"address": "JANE.doe@example.com"},
        },
    )

    exported = json.loads(
        run_ok(plugin(kube, "subscribers", "export", "--address", "JANE.DOE@example.COM", "-A"))
    )
    entries = {(e["namespace"], e["subscriber"]): e for e in exported["subscriptions"]}
    assert set(entries) == {(namespace, first), (other_namespace, second), (namespace, None)}
    assert entries[(namespace, None)]["addressSecret"] == "public-orphan"
    assert entries[(namespace, first)]["components"] == ["api"]
    assert entries[(other_namespace, second)]["components"] == "all"
    assert entries[(namespace, first)]["page"] == "example"
    assert entries[(namespace, first)]["created"]
    assert {"sent", "bounces", "lastDelivery"} <= set(entries[(namespace, first)])
    assert "someone" not in json.dumps(exported)
    assert "24 h" in exported["note"]

    one = json.loads(
        run_ok(plugin(kube, "-n", namespace, "subscribers", "export", "--address", JANE))
    )
    assert sorted(str(e["subscriber"]) for e in one["subscriptions"]) == sorted(["None", first])

    erased = run_ok(plugin(kube, "subscribers", "erase", "--address", JANE, "-A"))
    assert "erased 2 subscriptions" in erased
    assert "deleted 1 address Secrets whose Subscriber was gone" in erased
    assert kube.get("secret", "public-orphan", namespace) is None
    assert "expire within 24 h" in erased
    for ns, name in ((namespace, first), (other_namespace, second)):
        assert kube.get("subscriber", name, ns) is None
        assert kube.get("secret", name, ns) is None
    assert kube.get("subscriber", someone, namespace) is not None
    assert kube.get("secret", someone, namespace) is not None
    again = json.loads(run_ok(plugin(kube, "subscribers", "export", "--address", JANE, "-A")))
    assert again["subscriptions"] == []

    bad = plugin(kube, "subscribers", "erase", "--address", "not-an-address", "-A")
    assert bad.returncode == 2
    assert "not an email address" in bad.stderr


def backup_one_liners() -> tuple[str, str]:
    """The delete and re-link one-liners of docs/operations.md, "Backups"."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text[text.index("## Backups") :]
    blocks = re.findall(r"```console\n\$ (.*?)\n```", section, re.DOTALL)
    delete, relink = blocks[0], blocks[1]
    return delete, relink


def test_the_backup_one_liners_relink_and_delete_orphans(kube: Kube, namespace: str) -> None:
    """After a restore without owners: re-link keeps a subscription, delete drops orphans."""
    site(kube, namespace)
    kept = subscribe(kube, namespace, "a@example.com")
    orphan = subscribe(kube, namespace, "b@example.com")
    # As a restore leaves them: no owner on one Secret, no Subscriber for the other.
    kube.run(
        "patch",
        "secret",
        kept,
        "-n",
        namespace,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/metadata/ownerReferences"}]',
    )
    kube.run("delete", "subscriber", orphan, "-n", namespace, "--cascade=orphan")
    delete, relink = (
        line.replace("get secret -A", f"get secret -n {namespace}") for line in backup_one_liners()
    )
    environment = {**kube.env(), "PATH": f"{Path(KUBECTL).parent}:{os.environ['PATH']}"}
    for line in (relink, delete):
        subprocess.run(["bash", "-c", line], env=environment, check=True, timeout=60)
    uid = (kube.get("subscriber", kept, namespace) or {})["metadata"]["uid"]
    owners = (kube.get("secret", kept, namespace) or {})["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [("Subscriber", kept, uid)]
    assert kube.get("secret", orphan, namespace) is None
    kube.run("delete", "subscriber", kept, "-n", namespace)
    wait_for(lambda: kube.get("secret", kept, namespace) is None, what="the GC to follow the owner")
