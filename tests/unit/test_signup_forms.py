"""The forms' bodies (signup/forms.py) and the client address behind a trusted proxy."""

from __future__ import annotations

import pytest

from statuspage_operator.server.identity import Trust
from statuspage_operator.signup.forms import (
    MAX_BODY,
    Action,
    FormError,
    ManageForm,
    manage_form,
    sign_up_form,
)


@pytest.mark.parametrize(
    ("body", "address", "ticked"),
    [
        pytest.param(b"email=ann%40example.org", "ann@example.org", (), id="plain"),
        pytest.param(
            b"email=Ann@EXAMPLE.org&components=c:api&components=g:Core",
            "Ann@example.org",
            ("c:api", "g:Core"),
            id="domain-lowered-choices-kept",
        ),
        pytest.param(b"email=+ann@example.org+", "ann@example.org", (), id="spaces-trimmed"),
        pytest.param(b"email=nobody", None, (), id="not-an-address"),
        pytest.param(b"email=a%0d%0aBcc:b@example.org", None, (), id="line-break"),
        pytest.param(b"components=c:api", None, ("c:api",), id="no-email"),
        pytest.param(b"email=" + b"a" * 250 + b"@example.org", None, (), id="too-long"),
    ],
)
def test_sign_up_form(body: bytes, address: str | None, ticked: tuple[str, ...]) -> None:
    """The address normalized (None when it is not one) and the ticked values."""
    sent = sign_up_form(body)
    assert sent.address == address
    assert sent.ticked == ticked


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"email=" + b"a" * MAX_BODY, id="too-large"),
        pytest.param("email=änn@example.org".encode(), id="not-urlencoded"),
        pytest.param(b"&".join([b"components=c:x"] * 200), id="too-many-fields"),
    ],
)
def test_bodies_that_are_not_our_form(body: bytes) -> None:
    """FormError: a 400, not a crash."""
    with pytest.raises(FormError):
        sign_up_form(body)


def test_manage_form() -> None:
    """Which button, and what is ticked; no known action is an error."""
    assert manage_form(b"components=c:db&action=save") == ManageForm(Action.SAVE, ("c:db",))
    assert manage_form(b"action=unsubscribe").action is Action.UNSUBSCRIBE
    with pytest.raises(FormError):
        manage_form(b"action=delete-everything")


PROXIES = Trust.of(["10.0.0.0/8", "127.0.0.1/32"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        pytest.param("203.0.113.9", ["198.51.100.1"], "203.0.113.9", id="untrusted-peer-ignored"),
        pytest.param("10.0.0.5", ["198.51.100.1"], "198.51.100.1", id="proxy-names-the-client"),
        pytest.param(
            "10.0.0.5", ["6.6.6.6, 198.51.100.1, 10.0.3.4"], "198.51.100.1", id="proxy-chain"
        ),
        pytest.param(
            "10.0.0.5", ["6.6.6.6", "198.51.100.1"], "198.51.100.1", id="several-header-lines"
        ),
        pytest.param("10.0.0.5", ["10.0.9.9, 10.0.3.4"], "10.0.9.9", id="all-trusted"),
        pytest.param("10.0.0.5", [], "10.0.0.5", id="no-header"),
        pytest.param("10.0.0.5", ["::ffff:198.51.100.1"], "198.51.100.1", id="ipv4-mapped"),
        pytest.param("::ffff:127.0.0.1", ["2001:db8::1"], "2001:db8::1", id="ipv6-client"),
        pytest.param(None, ["198.51.100.1"], "", id="unknown-peer"),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], client: str) -> None:
    """The right-most X-Forwarded-For entry that is not a trusted proxy, from a proxy only."""
    assert PROXIES.client(peer, forwarded) == client


def test_a_client_cannot_choose_its_address_by_writing_the_header() -> None:
    """What a client writes left of the proxy's own entry never counts."""
    spoofed = [f"{n}.{n}.{n}.{n}, 198.51.100.7" for n in range(1, 50)]
    assert {PROXIES.client("10.0.0.5", [line]) for line in spoofed} == {"198.51.100.7"}
