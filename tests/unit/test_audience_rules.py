"""Audiences of a Private page (domain/audience.py) and the derivation as an audience sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statuspage_operator.domain.audience import (
    EVERYTHING,
    Audience,
    Identity,
    Sight,
    audience_named,
    sight_of,
)
from statuspage_operator.domain.incidents import Impact
from statuspage_operator.domain.maintenance import Window
from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.page import ComponentInput, IncidentInput, WindowInput, page_at
from statuspage_operator.domain.rollup import Indicator
from statuspage_operator.domain.status import ComponentStatus

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
MO = ComponentStatus.MAJOR_OUTAGE
OPS = Audience("ops", groups=frozenset({"sre"}))
BILLING = Audience("billing", users=frozenset({"ann"}), components=frozenset({"invoices"}))
SEARCH = Audience("search", groups=frozenset({"search"}), components=frozenset({"index", "api"}))
AUDIENCES = [OPS, BILLING, SEARCH]


def who(user: str | None = None, *groups: str) -> Identity:
    """An identity as a trusted proxy names it."""
    return Identity(user, frozenset(groups))


@pytest.mark.parametrize(
    ("audiences", "identity", "expected"),
    [
        pytest.param(AUDIENCES, who(), None, id="anonymous-sees-nothing"),
        pytest.param([], who(), None, id="anonymous-sees-nothing-without-audiences"),
        pytest.param([], who("bob"), EVERYTHING, id="no-audiences-any-user-sees-all"),
        pytest.param(AUDIENCES, who("bob", "hr"), None, id="matching-none-sees-nothing"),
        pytest.param(
            AUDIENCES, who("ann"), Sight(("billing",), frozenset({"invoices"})), id="by-user"
        ),
        pytest.param(AUDIENCES, who("x", "sre"), Sight(("ops",), None), id="all-components"),
        pytest.param(
            AUDIENCES,
            who("ann", "search"),
            Sight(("billing", "search"), frozenset({"invoices", "index", "api"})),
            id="several-see-the-union",
        ),
        pytest.param(
            AUDIENCES, who("ann", "sre"), Sight(("billing", "ops"), None), id="union-with-all"
        ),
        pytest.param(
            AUDIENCES,
            who(None, "search"),
            SEARCH and Sight(("search",), SEARCH.components),
            id="groups-only",
        ),
    ],
)
def test_sight_of(audiences: list[Audience], identity: Identity, expected: Sight | None) -> None:
    """What an identity sees of a Private page follows its audiences."""
    assert sight_of(audiences, identity) == expected


def test_a_user_name_is_not_a_group() -> None:
    """A group called like an audience's user does not match it, nor the reverse."""
    assert sight_of([BILLING], who(None, "ann")) is None
    assert sight_of([OPS], who("sre")) is None


def test_audience_named() -> None:
    """A feed token's audience sees what that audience sees; an unknown name sees nothing."""
    assert audience_named(AUDIENCES, "billing") == Sight(("billing",), frozenset({"invoices"}))
    assert audience_named(AUDIENCES, "nobody") is None


def window(name: str, *components: str) -> WindowInput:
    """A window in progress at NOW."""
    return WindowInput(
        name, Window(Occurrence(NOW - timedelta(hours=1), NOW + timedelta(hours=1))), components
    )


COMPONENTS = [ComponentInput(n) for n in ("api", "index", "invoices", "db")]
WINDOWS = [window("db-patch", "db"), window("index-move", "index", "db"), window("notice")]
INCIDENTS = [
    IncidentInput.of("db-down", Impact.CRITICAL, [("db", MO)]),
    IncidentInput.of("slow", Impact.MINOR, [("api", None), ("db", MO)]),
    IncidentInput.of("everyone", Impact.NONE, []),
]


def test_audience_sees_its_components_and_what_concerns_them() -> None:
    """Its components; incidents and windows naming one of them (or none), listing only those."""
    page = page_at(COMPONENTS, WINDOWS, INCIDENTS, NOW, Sight(("search",), SEARCH.components))
    assert set(page.states) == {"api", "index"}
    assert set(page.windows) == {"index-move", "notice"}
    assert page.states["index"].windows == ("index-move",)
    assert page.states["api"].incidents == ("slow",)
    assert page.unresolved_incidents == 2
    assert page.active_maintenances == 2


def test_rollup_is_of_what_is_visible() -> None:
    """An outage of a hidden component does not reach an audience's indicator."""
    whole = page_at(COMPONENTS, WINDOWS, INCIDENTS, NOW)
    billing = page_at(COMPONENTS, WINDOWS, INCIDENTS, NOW, Sight(("billing",), BILLING.components))
    assert whole.rollup.indicator is Indicator.MAJOR
    assert billing.rollup.indicator is Indicator.NONE
    assert set(billing.states) == {"invoices"}


names = st.sampled_from(["a", "b", "c", "d", "e"])


@given(
    components=st.sets(names, min_size=1),
    visible=st.frozensets(names),
    incidents=st.lists(
        st.tuples(
            st.sampled_from(list(Impact)),
            st.lists(st.tuples(names, st.sampled_from([None, *ComponentStatus])), max_size=3),
        ),
        max_size=4,
    ),
    windows=st.lists(st.lists(names, max_size=3), max_size=3),
)
def test_a_shown_component_keeps_its_status(
    components: set[str],
    visible: frozenset[str],
    incidents: list[tuple[Impact, list[tuple[str, ComponentStatus | None]]]],
    windows: list[list[str]],
) -> None:
    """Filtering never changes a shown component's status, and shows only visible components."""
    inputs = [ComponentInput(name) for name in sorted(components)]
    made_windows = [window(f"w{i}", *listed) for i, listed in enumerate(windows)]
    made_incidents = [
        IncidentInput.of(f"i{i}", impact, listed) for i, (impact, listed) in enumerate(incidents)
    ]
    whole = page_at(inputs, made_windows, made_incidents, NOW)
    seen = page_at(inputs, made_windows, made_incidents, NOW, Sight(("x",), visible))
    assert set(seen.states) == components & visible
    for name, state in seen.states.items():
        assert state.status is whole.states[name].status
    assert seen.unresolved_incidents <= whole.unresolved_incidents
