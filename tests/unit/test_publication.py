"""The publication decision (policies and page claims -> what is served) and what Published says."""

from __future__ import annotations

from collections.abc import Mapping
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuspage_operator.api.publication import say
from statuspage_operator.domain.publication import (
    Claim,
    Outcome,
    Policy,
    Refusal,
    Refused,
    Visibility,
    decide,
)

PUBLIC = Visibility.PUBLIC
PRIVATE = Visibility.PRIVATE
UNPUBLISHED = Visibility.UNPUBLISHED
HOST = "status.example.com"


def policy(
    name: str = "p", namespaces: tuple[str, ...] = (), hostnames: Mapping[str, str] | None = None
) -> Policy:
    """A PublicationPolicy."""
    return Policy(name, frozenset(namespaces), dict(hostnames or {}))


def page(
    namespace: str = "a",
    name: str = "example",
    visibility: Visibility = PUBLIC,
    hostnames: tuple[str, ...] = (),
) -> Claim:
    """A page's claim."""
    return Claim(namespace, name, visibility, hostnames)


@pytest.mark.parametrize(
    ("policies", "claim", "expected"),
    [
        pytest.param(
            [policy(namespaces=("a",))], page(), Outcome(PUBLIC, True), id="allowed-by-path"
        ),
        pytest.param([], page(), Outcome(PUBLIC, False), id="no-policy-nothing-served"),
        pytest.param(
            [policy(namespaces=("b",))], page(), Outcome(PUBLIC, False), id="other-namespace-only"
        ),
        pytest.param(
            [policy(namespaces=("a",), hostnames={HOST: "a"})],
            page(visibility=UNPUBLISHED, hostnames=(HOST,)),
            Outcome(UNPUBLISHED, False, (), (Refused(HOST, Refusal.UNPUBLISHED),)),
            id="unpublished-holds-nothing",
        ),
        pytest.param(
            [policy(namespaces=("a",))],
            page(visibility=PRIVATE),
            Outcome(PRIVATE, True),
            id="private-follows-the-same-consent",
        ),
        pytest.param(
            [policy(hostnames={HOST: "a"})],
            page(hostnames=(HOST,)),
            Outcome(PUBLIC, False, (HOST,)),
            id="host-only-grant",
        ),
        pytest.param(
            [policy(namespaces=("a",), hostnames={HOST: "b"})],
            page(hostnames=(HOST,)),
            Outcome(PUBLIC, True, (), (Refused(HOST, Refusal.HOSTNAME_NOT_GRANTED),)),
            id="hostname-granted-elsewhere",
        ),
        pytest.param(
            [policy("p1", ("a",), {HOST: "a"}), policy("p2", (), {HOST: "b"})],
            page(hostnames=(HOST,)),
            Outcome(
                PUBLIC,
                True,
                (),
                (Refused(HOST, Refusal.HOSTNAME_CONFLICT, policies=("p1", "p2")),),
            ),
            id="grant-conflict-between-policies",
        ),
        pytest.param(
            [policy("p1", ("a",), {HOST: "a"}), policy("p2", (), {HOST: "a"})],
            page(hostnames=(HOST,)),
            Outcome(PUBLIC, True, (HOST,)),
            id="same-grant-twice-is-no-conflict",
        ),
        pytest.param(
            [policy(namespaces=("a",), hostnames={HOST: "a"})],
            page(hostnames=("Status.Example.com.",)),
            Outcome(PUBLIC, True, (HOST,)),
            id="hostname-case-and-trailing-dot",
        ),
    ],
)
def test_one_page(policies: list[Policy], claim: Claim, expected: Outcome) -> None:
    """A page's outcome from the policies alone (no other page)."""
    assert decide(policies, [claim]).outcome(claim.key) == expected


def test_two_pages_of_the_granted_namespace_claiming_one_hostname_get_neither() -> None:
    """Neither holds the hostname; each is told the other's name (same namespace)."""
    policies = [policy(namespaces=("a",), hostnames={HOST: "a"})]
    old, new = page(name="old", hostnames=(HOST,)), page(name="new", hostnames=(HOST,))
    decision = decide(policies, [old, new])
    assert decision.hostnames == {}
    assert decision.outcome(old.key).refused == (
        Refused(HOST, Refusal.HOSTNAME_CONFLICT, pages=("new",)),
    )
    assert decision.outcome(new.key).refused == (
        Refused(HOST, Refusal.HOSTNAME_CONFLICT, pages=("old",)),
    )


def test_an_unpublished_page_does_not_contest_a_hostname() -> None:
    """Only published pages claim: a draft page never takes a hostname from a live one."""
    policies = [policy(hostnames={HOST: "a"})]
    live, draft = page(name="live", hostnames=(HOST,)), page("a", "draft", UNPUBLISHED, (HOST,))
    assert decide(policies, [live, draft]).hostnames == {HOST: live.key}


def test_a_page_of_another_namespace_does_not_contest_a_granted_hostname() -> None:
    """A claim from a namespace without the grant is refused and leaves the holder alone."""
    policies = [policy(hostnames={HOST: "a"})]
    holder, intruder = page("a", hostnames=(HOST,)), page("b", hostnames=(HOST,))
    decision = decide(policies, [holder, intruder])
    assert decision.hostnames == {HOST: holder.key}
    assert decision.outcome(intruder.key).refused == (Refused(HOST, Refusal.HOSTNAME_NOT_GRANTED),)


def test_grant_conflicts_are_listed_with_their_policies() -> None:
    """The decision reports each conflicting hostname and the policies that grant it."""
    policies = [policy("x", (), {HOST: "a"}), policy("y", (), {HOST: "b"})]
    assert decide(policies, []).conflicts == {HOST: ("x", "y")}


def test_an_unknown_page_is_not_published() -> None:
    """A page the decision never saw is served nowhere."""
    outcome = decide([policy(namespaces=("a",))], []).outcome(("a", "ghost"))
    assert not outcome.published
    assert outcome.path_refusal is Refusal.UNPUBLISHED


# -- properties ---------------------------------------------------------------------------------

NAMESPACES = st.sampled_from(["a", "b", "c"])
HOSTNAMES = st.sampled_from(["h1.test", "h2.test", "H2.test.", "h3.test"])
VISIBILITIES = st.sampled_from(list(Visibility))

policies_st = st.lists(
    st.builds(
        policy,
        st.sampled_from(["p1", "p2", "p3"]),
        st.lists(NAMESPACES, max_size=2).map(tuple),
        st.dictionaries(HOSTNAMES.map(str.lower).map(lambda h: h.rstrip(".")), NAMESPACES),
    ),
    max_size=3,
)
claims_st = st.lists(
    st.builds(
        page,
        NAMESPACES,
        st.sampled_from(["x", "y", "z"]),
        VISIBILITIES,
        st.lists(HOSTNAMES, max_size=3).map(tuple),
    ),
    max_size=6,
)


def _granted(policies: list[Policy], hostname: str) -> set[str]:
    return {ns for p in policies for h, ns in p.hostnames.items() if h == hostname}


@settings(max_examples=300, deadline=None)
@given(policies_st, claims_st)
def test_a_hostname_is_held_by_one_page_at_most_and_only_with_a_grant(
    policies: list[Policy], claims: list[Claim]
) -> None:
    """Held hostnames: one page each, granted to exactly its namespace, published, claimed."""
    decision = decide(policies, claims)
    holders: dict[str, list[tuple[str, str]]] = {}
    for key, outcome in decision.outcomes.items():
        for hostname in outcome.held:
            holders.setdefault(hostname, []).append(key)
    for hostname, keys in holders.items():
        assert len(keys) == 1
        assert decision.hostnames[hostname] == keys[0]
        assert _granted(policies, hostname) == {keys[0][0]}
        assert decision.outcome(keys[0]).visibility is not UNPUBLISHED
    assert set(decision.hostnames) == set(holders)


@settings(max_examples=300, deadline=None)
@given(policies_st, claims_st)
def test_by_path_exactly_when_published_and_listed(
    policies: list[Policy], claims: list[Claim]
) -> None:
    """Served by path iff the page is not Unpublished and some policy lists its namespace."""
    decision = decide(policies, claims)
    listed = {ns for p in policies for ns in p.namespaces}
    for claim in {c.key: c for c in claims}.values():
        expected = claim.visibility is not UNPUBLISHED and claim.namespace in listed
        assert decision.outcome(claim.key).by_path == expected


@settings(max_examples=200, deadline=None)
@given(policies_st, claims_st, st.randoms())
def test_the_decision_does_not_depend_on_order(
    policies: list[Policy], claims: list[Claim], random: Random
) -> None:
    """Shuffled policies and pages decide the same: nothing goes by arrival or age."""
    unique = list({c.key: c for c in claims}.values())
    shuffled_policies, shuffled_claims = list(policies), list(unique)
    random.shuffle(shuffled_policies)
    random.shuffle(shuffled_claims)
    assert decide(policies, unique) == decide(shuffled_policies, shuffled_claims)


# -- what the Published condition says ----------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "published", "reason", "message"),
    [
        pytest.param(
            Outcome(PRIVATE, True),
            True,
            "Published",
            "served to authenticated audiences by path /a/example/",
            id="private",
        ),
        pytest.param(
            Outcome(PUBLIC, False, (HOST,)),
            True,
            "Published",
            f"served on host {HOST} (namespace a may not publish by path: no PublicationPolicy "
            "lists it in spec.namespaces)",
            id="host-only",
        ),
        pytest.param(
            Outcome(PUBLIC, False),
            False,
            "NamespaceNotAllowed",
            "not served; namespace a may not publish by path: no PublicationPolicy lists it in "
            "spec.namespaces",
            id="nowhere",
        ),
        pytest.param(
            Outcome(PUBLIC, False, (), (Refused(HOST, Refusal.HOSTNAME_NOT_GRANTED),)),
            False,
            "HostnameNotGranted",
            f"not served; namespace a may not publish by path: no PublicationPolicy lists it in "
            f"spec.namespaces; hostname {HOST} is not granted to namespace a by any "
            "PublicationPolicy; ask a cluster admin for a grant in spec.hostnames of one",
            id="nowhere-and-refused",
        ),
    ],
)
def test_what_the_condition_says(
    outcome: Outcome, published: bool, reason: str, message: str
) -> None:
    """Status, reason and message of the Published condition for an outcome."""
    said = say("a", "example", outcome)
    assert (said.published, str(said.reason), said.message) == (published, reason, message)
