"""Trusted client addresses (server/identity.py) and private feed tokens (api/feed_tokens.py)."""

from __future__ import annotations

import base64

import pytest

from statuspage_operator.api.feed_tokens import feed_token, keys_of, sight_of_token
from statuspage_operator.domain.audience import ANONYMOUS, Audience, Identity, Sight
from statuspage_operator.server.identity import Trust

PROXY = Trust.of(["127.0.0.2/32", "10.1.0.0/16", "fd00::/8"])
HEADERS = {"X-Forwarded-User": "ann", "X-Forwarded-Groups": "sre, ,dev"}


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        pytest.param("127.0.0.2", True, id="the-proxy"),
        pytest.param("10.1.200.3", True, id="in-a-network"),
        pytest.param("::ffff:127.0.0.2", True, id="ipv4-mapped"),
        pytest.param("fd00::5", True, id="ipv6"),
        pytest.param("127.0.0.1", False, id="another-loopback"),
        pytest.param("10.2.0.1", False, id="outside"),
        pytest.param("not-an-address", False, id="garbage"),
        pytest.param(None, False, id="unknown-peer"),
    ],
)
def test_identity_only_from_trusted_peers(peer: str | None, trusted: bool) -> None:
    """The identity headers are believed only from a trusted proxy; else anonymous."""
    expected = Identity("ann", frozenset({"sre", "dev"})) if trusted else ANONYMOUS
    assert PROXY.identity(peer, HEADERS) == expected


def test_no_trusted_proxy_by_default() -> None:
    """Without --trusted-proxy, nobody can name a user."""
    assert Trust().identity("127.0.0.1", HEADERS) == ANONYMOUS


def test_custom_headers() -> None:
    """--user-header and --groups-header choose the headers; the defaults are then ignored."""
    trust = Trust.of(["127.0.0.2"], "X-Auth-Request-User", "X-Auth-Request-Groups")
    assert trust.identity("127.0.0.2", HEADERS) == ANONYMOUS
    found = trust.identity("127.0.0.2", {"X-Auth-Request-Groups": "a,b"})
    assert found == Identity(None, frozenset({"a", "b"}))


def test_oversized_names_are_dropped() -> None:
    """A user or group name longer than 256 characters names nobody."""
    found = PROXY.identity(
        "127.0.0.2", {"X-Forwarded-User": "u" * 300, "X-Forwarded-Groups": "g" * 300}
    )
    assert not found.authenticated


def test_bad_cidr_is_refused() -> None:
    """A flag that is not a network is an error, not a silent trust-nothing."""
    with pytest.raises(ValueError, match="does not appear to be"):
        Trust.of(["not/a/cidr"])


KEY = bytes(range(32))
AUDIENCES = [
    Audience("a", frozenset({"u"}), components=frozenset({"x"})),
    Audience("b", frozenset({"v"})),
]


def test_tokens_differ_by_page_audience_and_key() -> None:
    """Each (namespace, page, audience, key) has its own token."""
    tokens = {
        feed_token(KEY, "ns", "page", "a"),
        feed_token(KEY, "ns", "page", "b"),
        feed_token(KEY, "ns", "other", "a"),
        feed_token(KEY, "other", "page", "a"),
        feed_token(b"\x01" * 32, "ns", "page", "a"),
    }
    assert len(tokens) == 5


def test_a_previous_key_still_opens_during_rotation() -> None:
    """Tokens made with `previous` work while the Secret still holds it; `key` signs new ones."""
    new, old = b"n" * 32, b"o" * 32
    data = {"key": base64.b64encode(new).decode(), "previous": base64.b64encode(old).decode()}
    keys = keys_of(data)
    assert keys == (new, old)
    token = feed_token(old, "ns", "page", "a")
    assert sight_of_token(keys, "ns", "page", AUDIENCES, token) == Sight(("a",), frozenset({"x"}))
    assert sight_of_token(keys[:1], "ns", "page", AUDIENCES, token) is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="no-data"),
        pytest.param({"key": base64.b64encode(b"short").decode()}, id="short-key"),
        pytest.param({"key": "%%%"}, id="not-base64"),
        pytest.param({"other": base64.b64encode(KEY).decode()}, id="wrong-field"),
    ],
)
def test_no_usable_key_opens_nothing(data: dict[str, str] | None) -> None:
    """A Secret without a key of 32 bytes or more gives no keys, so no token works."""
    assert keys_of(data) == ()
    token = feed_token(KEY, "ns", "page", "a")
    assert sight_of_token(keys_of(data), "ns", "page", AUDIENCES, token) is None
