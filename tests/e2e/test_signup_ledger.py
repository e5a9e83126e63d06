"""The sign-up ledger against the real kube-apiserver: two replicas, races, limits, recovery.

Each Ledger talks as a user holding only the Role the sign-up process gets in its namespace
(Secrets: get, create, update, delete, list), so these tests also prove that Role is enough.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client, config

from controlplane.cluster import LocalCluster
from e2e.kube import Kube
from statuspage_operator.api.subscription_tokens import CONFIRM_FOR
from statuspage_operator.signup.ledger import Limits, Outcome, page_secret_name
from statuspage_operator.signup.ledger_store import Ledger

NOW = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
NAMING = b"k" * 32
USER = "statuspage-signup-test"
ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "statuspage-signup-ledger"},
    "rules": [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["get", "create", "update", "delete", "list"],
        }
    ],
}
BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "RoleBinding",
    "metadata": {"name": "statuspage-signup-ledger"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "statuspage-signup-ledger",
    },
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
}

Replica = Callable[..., Ledger]
# Typed once: the kubernetes package leaves it untyped.
load_kube_config: Callable[..., None] = config.load_kube_config


@pytest.fixture
def replica(cluster: LocalCluster, kube: Kube, namespace: str) -> Iterator[Replica]:
    """Make Ledgers (replicas) on the test's namespace, each with its own client, acting as a
    user that holds only the sign-up process's Role."""
    kube.apply(namespace, ROLE, BINDING)
    clients: list[client.ApiClient] = []

    def make(kind: type[Ledger] = Ledger) -> Ledger:
        configuration = client.Configuration()
        load_kube_config(
            config_file=str(cluster.kubeconfig),
            context="admin",
            client_configuration=configuration,
        )
        api = client.ApiClient(configuration)
        api.default_headers["Impersonate-User"] = USER
        clients.append(api)
        return kind(api, NAMING, namespace)

    yield make
    for api in clients:
        api.rest_client.pool_manager.clear()


def stored(kube: Kube, namespace: str, name: str, field: str) -> dict[str, object] | None:
    """The decoded JSON of a ledger Secret's field, None when the Secret is absent."""
    secret = kube.get("secret", name, namespace)
    if secret is None:
        return None
    loaded: dict[str, object] = json.loads(base64.b64decode(secret["data"][field]))
    return loaded


def test_two_replicas_racing_store_exactly_the_cap(
    replica: Replica, kube: Kube, namespace: str
) -> None:
    """20 concurrent sign-ups on one page through two replicas with max_pending=10: 10 stored."""
    first, second = replica(), replica()

    async def scenario() -> list[tuple[Outcome, object]]:
        return await asyncio.gather(
            *(
                (first if n % 2 else second).sign_up(
                    "shop", "web", f"p{n}@example.com", None, f"10.0.0.{n}", NOW, 10
                )
                for n in range(20)
            )
        )

    results = asyncio.run(scenario())
    outcomes = [outcome for outcome, _ in results]
    assert outcomes.count(Outcome.MAIL) == 10
    assert outcomes.count(Outcome.PAGE_FULL) == 10
    pending = stored(kube, namespace, page_secret_name("shop", "web"), "pending")
    assert pending is not None
    assert len(pending) == 10
    # A page-full answer gave its address's hour back: the address can sign up elsewhere.
    refused = next(n for n, (o, _) in enumerate(results) if o is Outcome.PAGE_FULL)
    again = asyncio.run(
        first.sign_up("shop", "api", f"p{refused}@example.com", None, "10.1.0.1", NOW, 10)
    )
    assert again[0] is Outcome.MAIL
    # No address and no client address in clear: not in a shard, not in any Secret's metadata.
    secrets = json.loads(kube.run("get", "secrets", "-n", namespace, "-o", "json").stdout)
    shards = [s for s in secrets["items"] if s["metadata"]["name"].startswith("signup-limits-")]
    assert shards
    for secret in secrets["items"]:
        assert "@" not in json.dumps(secret["metadata"])
    for shard in shards:
        text = base64.b64decode(shard["data"]["limits"]).decode()
        assert "@" not in text
        assert "10.0.0." not in text


def test_a_flooding_client_is_limited_after_five(
    replica: Replica, kube: Kube, namespace: str
) -> None:
    """One client signing up eight addresses: five MAIL, then CLIENT_LIMITED, five stored."""
    ledger = replica()

    async def scenario() -> list[Outcome]:
        return [
            (await ledger.sign_up("shop", "web", f"f{n}@example.com", None, "192.0.2.9", NOW, 100))[
                0
            ]
            for n in range(8)
        ]

    outcomes = asyncio.run(scenario())
    assert outcomes == [Outcome.MAIL] * 5 + [Outcome.CLIENT_LIMITED] * 3
    pending = stored(kube, namespace, page_secret_name("shop", "web"), "pending")
    assert pending is not None
    assert len(pending) == 5


def test_same_address_on_two_pages_within_the_hour_mails_once(
    replica: Replica, kube: Kube, namespace: str
) -> None:
    """The second page gets QUIET and stores nothing; the same page again updates the choice."""
    first, second = replica(), replica()

    async def scenario() -> None:
        outcome, pending = await first.sign_up(
            "shop", "web", "ada@example.com", ("api",), "198.51.100.1", NOW, 10
        )
        assert outcome is Outcome.MAIL
        assert pending is not None
        later = NOW + timedelta(minutes=30)
        other = await second.sign_up(
            "shop", "docs", "Ada@Example.com", None, "198.51.100.2", later, 10
        )
        assert other == (Outcome.QUIET, None)
        outcome, again = await second.sign_up(
            "shop", "web", "ada@example.com", ("db",), "198.51.100.2", later, 10
        )
        assert outcome is Outcome.QUIET
        assert again is not None
        assert again.id == pending.id
        assert again.components == ("db",)
        # After the hour the same page mails again, under the same id.
        outcome, resent = await first.sign_up(
            "shop", "web", "ada@example.com", None, "198.51.100.1", NOW + timedelta(hours=1), 10
        )
        assert outcome is Outcome.MAIL
        assert resent is not None
        assert resent.id == pending.id

    asyncio.run(scenario())
    assert kube.get("secret", page_secret_name("shop", "docs"), namespace) is None


def test_find_done_and_replay(replica: Replica, kube: Kube, namespace: str) -> None:
    """find sees a pending sign-up; done removes it (twice is once); find after done is None;
    the page's Secret, left empty, is deleted."""
    ledger = replica()

    async def scenario() -> None:
        _, pending = await ledger.sign_up(
            "shop", "web", "ada@example.com", None, "198.51.100.1", NOW, 10
        )
        assert pending is not None
        assert await ledger.find("shop", "web", pending.id, NOW) == pending
        assert await ledger.find("shop", "other", pending.id, NOW) is None
        assert await ledger.find("shop", "web", pending.id, pending.expires) is None
        await ledger.done("shop", "web", pending.id)
        await ledger.done("shop", "web", pending.id)
        assert await ledger.find("shop", "web", pending.id, NOW) is None

    asyncio.run(scenario())
    assert kube.get("secret", page_secret_name("shop", "web"), namespace) is None


def test_unmailed_resumes_after_a_crash(replica: Replica) -> None:
    """A sign-up stored but never marked mailed is found by one of two replicas resuming at
    once, then by none once mailed."""
    crashed, restarted, other = replica(), replica(), replica()

    async def scenario() -> None:
        _, pending = await crashed.sign_up(
            "shop", "web", "ada@example.com", None, "198.51.100.1", NOW, 10
        )
        _, mailed = await crashed.sign_up(
            "shop", "web", "bob@example.com", None, "198.51.100.1", NOW, 10
        )
        assert pending is not None
        assert mailed is not None
        await crashed.mailed(mailed, NOW)
        assert await restarted.unmailed(NOW) == []
        later = NOW + Limits().resume_after
        found = await asyncio.gather(restarted.unmailed(later), other.unmailed(later))
        assert sorted(len(f) for f in found) == [0, 1]
        resumed = found[0][0] if found[0] else found[1][0]
        assert resumed.id == pending.id
        await restarted.mailed(resumed, later)
        assert await other.unmailed(later + Limits().resume_after) == []

    asyncio.run(scenario())


def test_sweep_drops_expired_sign_ups(replica: Replica, kube: Kube, namespace: str) -> None:
    """sweep drops what expired, deletes a page's Secret left empty, prunes the limit shards."""
    ledger = replica()

    async def scenario() -> tuple[int, int, int]:
        for n in range(3):
            await ledger.sign_up("shop", "web", f"s{n}@example.com", None, "192.0.2.1", NOW, 10)
        later = NOW + timedelta(hours=2)
        await ledger.sign_up("shop", "api", "late@example.com", None, "192.0.2.2", later, 10)
        early = await ledger.sweep(NOW + timedelta(hours=1))
        return early, await ledger.sweep(NOW + CONFIRM_FOR), await ledger.sweep(later + CONFIRM_FOR)

    assert asyncio.run(scenario()) == (0, 3, 1)
    assert kube.get("secret", page_secret_name("shop", "web"), namespace) is None
    assert kube.get("secret", page_secret_name("shop", "api"), namespace) is None
    for secret in kube.run("get", "secrets", "-n", namespace, "-o", "name").stdout.split():
        name = secret.removeprefix("secret/")
        assert name.startswith("signup-limits-")
        assert stored(kube, namespace, name, "limits") == {"a": {}, "c": {}}


def test_a_conflicting_write_is_decided_again(replica: Replica, kube: Kube, namespace: str) -> None:
    """A replica whose read is overtaken by another's write gets a 409, reads again and keeps
    both sign-ups."""
    fast = replica()
    name = page_secret_name("shop", "web")

    class Overtaken(Ledger):
        """A replica whose first read of the page is followed by another replica's write."""

        overtaken = False

        async def _read(self, secret_name: str) -> client.V1Secret | None:
            found = await super()._read(secret_name)
            if secret_name == name and found is not None and not self.overtaken:
                self.overtaken = True
                await fast.sign_up("shop", "web", "fast@example.com", None, "192.0.2.2", NOW, 10)
            return found

    slow = replica(Overtaken)

    async def scenario() -> Outcome:
        await fast.sign_up("shop", "web", "first@example.com", None, "192.0.2.3", NOW, 10)
        outcome, _ = await slow.sign_up(
            "shop", "web", "slow@example.com", None, "192.0.2.1", NOW, 10
        )
        return outcome

    assert asyncio.run(scenario()) is Outcome.MAIL
    assert isinstance(slow, Overtaken)
    assert slow.overtaken
    assert slow.conflicts >= 1
    pending = stored(kube, namespace, name, "pending")
    assert pending is not None
    addresses = sorted(str(entry["a"]) for entry in pending.values())  # type: ignore[index]
    assert addresses == ["fast@example.com", "first@example.com", "slow@example.com"]
