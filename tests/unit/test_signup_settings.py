"""The two Secrets statuspage-signup reads (signup/settings.py) and which pages offer the form
(signup/offers.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from statuspage_operator.api.names import Kind
from statuspage_operator.server.cache import Cache
from statuspage_operator.signup.offers import offer
from statuspage_operator.signup.settings import read_settings, secret_ref

KEYS = ("statuspage-signups", "key")
MAIL = ("statuspage-signups", "mail")
SECRET_VALUE = "k" * 40


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Secret:
    def __init__(self, data: dict[str, str]) -> None:
        self.data = data


class FakeCore:
    """read_namespaced_secret over a dict; absent: 404."""

    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        self.secrets = secrets

    def read_namespaced_secret(self, name: str, namespace: str, **_: Any) -> Secret:
        if name not in self.secrets:
            raise ApiException(status=404, reason="Not Found")
        return Secret(self.secrets[name])


GOOD_KEYS = {"key": b64(SECRET_VALUE), "naming": b64(SECRET_VALUE)}
GOOD_MAIL = {"url": b64("smtp://user:hunter2@relay.example.com:587"), "from": b64("s@example.com")}


@pytest.mark.parametrize(
    ("secrets", "problem"),
    [
        pytest.param({"key": GOOD_KEYS, "mail": GOOD_MAIL}, None, id="usable"),
        pytest.param(
            {"mail": GOOD_MAIL},
            "statuspage-signups/key could not be read (HTTP 404)",
            id="no-key-secret",
        ),
        pytest.param(
            {"key": {"key": b64("short"), "naming": b64(SECRET_VALUE)}, "mail": GOOD_MAIL},
            "has no `key` of 32 bytes or more",
            id="short-key",
        ),
        pytest.param(
            {"key": {"key": b64(SECRET_VALUE)}, "mail": GOOD_MAIL}, "no `naming`", id="no-naming"
        ),
        pytest.param(
            {"key": GOOD_KEYS}, "statuspage-signups/mail could not be read", id="no-relay"
        ),
        pytest.param(
            {"key": GOOD_KEYS, "mail": {"url": GOOD_MAIL["url"]}}, "has no key 'from'", id="no-from"
        ),
    ],
)
def test_settings_say_what_to_fix_and_never_a_value(
    secrets: dict[str, dict[str, str]], problem: str | None
) -> None:
    """Usable, or not ready with a problem naming the Secret and the key, never their values."""
    settings = read_settings(FakeCore(secrets), KEYS, MAIL)  # type: ignore[arg-type]
    assert settings.usable is (problem is None)
    said = " ".join(settings.problems)
    if problem is not None:
        assert problem in said
    assert SECRET_VALUE not in said
    assert "hunter2" not in said


def test_secret_ref() -> None:
    """NAMESPACE/NAME, nothing else."""
    assert secret_ref("a/b") == ("a", "b")
    for text in ("a", "a/", "/b", "a/b/c"):
        with pytest.raises(ValueError, match="NAMESPACE/NAME"):
            secret_ref(text)


def cache_of(**spec: Any) -> Cache:
    cache = Cache()
    page = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"title": "P", "visibility": "Public", **spec},
    }
    cache.replace(Kind.PAGE, [page])
    components = [
        {"metadata": {"name": n, "namespace": "ns"}, "spec": {"page": "p", **extra}}
        for n, extra in (
            ("web", {"position": 2}),
            ("api", {"group": "Core", "position": 1}),
            ("db", {"group": "Core"}),
        )
    ]
    cache.replace(Kind.COMPONENT, components)
    cache.replace(Kind.POLICY, [{"metadata": {"name": "x"}, "spec": {"namespaces": ["ns"]}}])
    return cache


def test_an_offering_page_has_its_choices_in_page_order() -> None:
    """A group is one choice where its first member sits; the caps come from the spec."""
    offered = offer(cache_of(subscriptions={"byEmail": True, "maxPending": 7}), "ns", "p")
    assert offered is not None
    assert [(o.value, o.components) for o in offered.options] == [
        ("g:Core", ("api", "db")),
        ("c:web", ("web",)),
    ]
    assert (offered.max_pending, offered.max_subscribers) == (7, 10000)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({}, id="byEmail-unset"),
        pytest.param({"subscriptions": {"byEmail": False}}, id="byEmail-false"),
        pytest.param({"subscriptions": {"byEmail": True, "maxPending": 0}}, id="unreadable"),
        pytest.param({"subscriptions": {"byEmail": True}, "visibility": "Private"}, id="private"),
        pytest.param(
            {"subscriptions": {"byEmail": True}, "visibility": "Unpublished"}, id="unpublished"
        ),
    ],
)
def test_pages_that_offer_no_form(spec: dict[str, Any]) -> None:
    """No form: None, as for an unknown page."""
    assert offer(cache_of(**spec), "ns", "p") is None
    assert offer(cache_of(subscriptions={"byEmail": True}), "ns", "other") is None


def test_a_page_of_a_namespace_without_a_policy_offers_no_form() -> None:
    """Not published (no PublicationPolicy for its namespace): no form."""
    cache = cache_of(subscriptions={"byEmail": True})
    cache.replace(Kind.POLICY, [])
    assert offer(cache, "ns", "p") is None
